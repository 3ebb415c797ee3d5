"""Every shipped model on the corrupted test set: `fmnist_cnn.corrupt`'s suite (every corruption x severities 1-5,
plus the clean images) on the 10,000 test images, float32 inference. One JSON line per (model, corruption, severity)
in results/corruptions.jsonl: accuracy, ECE (15 bins) and NLL of the raw logits and, for models whose metadata has a
`calibration.temperature`, of the logits divided by it (the model as `load_model` gives it).

Resumable: rows already in the record are skipped. The logits are cached (--cache), so a row whose model gained or
changed its temperature since it was written is re-scored from the cache without running the model again.

    nice -n 10 .venv/bin/python scripts/bench_corruptions.py            # about 50 minutes on 2 cores
    .venv/bin/python scripts/bench_corruptions.py --models tiny --n 200 --names rotation --out /tmp/c.jsonl
"""
import argparse, json, os, platform, sys, time
from pathlib import Path
import torch
from fmnist_cnn.data import load_tensors, atomic_write, cache_dir
from fmnist_cnn.model import WEIGHTS_DIR, read_meta, git_commit
from fmnist_cnn.corrupt import (CORRUPTIONS, SEVERITIES, corrupt, model_logits, score, summarize, model_temperature,
                                check_corruption, raw_model)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ('tiny', 'small', 'original', 'modern', 'best')      # cheapest first: a cut-short run has whole models
FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16')

def machine() -> dict:
    "The CPU's model name and a subset of its flags (Linux), threads, PyTorch's version and the device."
    try: info = open('/proc/cpuinfo').read()
    except OSError: info = ''
    name = next((l.split(':', 1)[1].strip() for l in info.splitlines() if l.startswith('model name')),
                platform.processor() or platform.machine())
    flags = set(next((l.split(':', 1)[1].split() for l in info.splitlines() if l.startswith('flags')), []))
    return dict(cpu=name, flags=[f for f in FLAGS if f in flags], cores=os.cpu_count(), threads=torch.get_num_threads(),
                torch=torch.__version__, device='cpu')

def model_recipe(name:str) -> dict:
    "What the record keeps of a model: its name and the metadata that identify it."
    meta = read_meta(WEIGHTS_DIR/f'{name}.pt')
    return dict(model=name, arch=meta.get('arch'), n_params=meta.get('n_params'), test_acc=meta.get('test_acc'),
                weights_commit=meta.get('commit'), calibration=meta.get('calibration'))

def read_rows(out:Path) -> list:
    return [json.loads(l) for l in out.read_text().splitlines() if l.strip()] if out.exists() else []

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--models', default=','.join(MODELS), help='shipped models, comma-separated')
    ap.add_argument('--names', default=None, help='corruptions, comma-separated (default: all)')
    ap.add_argument('--n', type=int, default=10_000, help='the first N test images')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--bs', type=int, default=500)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', type=Path, default=ROOT/'results'/'corruptions.jsonl')
    ap.add_argument('--cache', type=Path, default=None, help='where logits are kept (default: in the data cache)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = a.models.split(',')
    names = a.names.split(',') if a.names else list(CORRUPTIONS)
    for n in names: check_corruption(n, 1)
    if unknown := [m for m in models if not (WEIGHTS_DIR/f'{m}.pt').is_file()]:
        sys.exit(f"unknown models {unknown}: shipped ones are {sorted(p.stem for p in WEIGHTS_DIR.glob('*.pt'))}")
    cache = a.cache or cache_dir()/'corruption_logits'; cache.mkdir(parents=True, exist_ok=True)
    x, y = load_tensors(train=False)
    x, y = x[:a.n], y[:a.n]                                                            # (N, 1, 28, 28), (N,)
    rows = read_rows(a.out)
    key = lambda r: (r['name'], r['corruption'], r['severity'], r['seed'], r['data']['test'])
    have = {key(r): i for i, r in enumerate(rows)}
    mach, commit = machine(), git_commit()
    todo = [('clean', 0)] + [(n, s) for n in names for s in SEVERITIES]
    print(f"{len(models)} models x {len(todo)} conditions on {a.n:,} test images; {len(rows)} rows recorded")
    for m in models:
        T, net = model_temperature(m), None
        for cname, sev in todo:
            k = (m, cname, sev, a.seed, a.n); i = have.get(k)
            if i is not None and rows[i].get('temperature') == T: continue              # done, with today's temperature
            f = cache/f'{m}-{cname}-{sev}-seed{a.seed}-n{a.n}.pt'
            t0 = time.perf_counter(); t_corrupt = 0.
            if f.exists() and i is not None: z = torch.load(f, weights_only=True); cached = True
            else:
                net = net or raw_model(m).to(memory_format=torch.channels_last)
                xc = x if cname == 'clean' else corrupt(x, cname, sev, a.seed)
                t_corrupt = time.perf_counter() - t0
                z = model_logits(net, xc, a.bs); torch.save(z, f); cached = False
            r = dict(study='corruptions', name=m, seed=a.seed, recipe=model_recipe(m), machine=mach, commit=commit,
                     date=time.strftime('%Y-%m-%d'), data=dict(test=a.n, split='test'),
                     corruption=cname, severity=sev, temperature=T, **score(z, y))
            if T: r |= {f'{k2}_cal': v for k2, v in score(z, y, T).items() if k2 != 'acc'}
            r['extra'] = dict(level=None if cname == 'clean' else CORRUPTIONS[cname][1][sev - 1],
                              corrupt_s=round(t_corrupt, 2), seconds=round(time.perf_counter() - t0, 2),
                              from_cache=cached, load=os.getloadavg()[0])
            if i is None: have[k] = len(rows); rows.append(r)
            else: rows[i] = r
            atomic_write(a.out, lambda fh: fh.write(''.join(json.dumps(q) + '\n' for q in rows).encode()))
            print(f"{m:>8} {cname:>15} {sev} acc {100*r['acc']:6.2f} ece {r['ece']:.3f}"
                  + (f" (T={T:.3f}: ece {r['ece_cal']:.3f})" if T else '') + f"  {r['extra']['seconds']:.1f}s", flush=True)
        mine = [r for r in rows if r['name'] == m and r['seed'] == a.seed and r['data']['test'] == a.n
                and r['corruption'] in ['clean', *names]]
        s = summarize(mine)
        print(f"== {m}: clean {100*s['clean_acc']:.2f}, corrupted {100*s['mean_acc']:.2f} (x{s['ratio']:.3f}), "
              f"worst {s['worst'][0]} {s['worst'][1]} ({100*s['worst'][2]:.1f}), "
              f"ECE {s['ece_clean']:.3f} -> {s['ece_corrupted']:.3f}", flush=True)

if __name__ == '__main__': main()
