"""Every shipped model on the corrupted test set: `fmnist_cnn.corrupt`'s suite (every corruption x severities 1-5,
plus the clean images) on the 10,000 test images, float32 inference. One record (fmnist_cnn.book.records) per
(model, seed, images) in results/corruptions.jsonl: the model's metadata and temperature, and under `extra['rows']`
one row per (corruption, severity): accuracy, ECE (15 bins) and NLL of the raw logits and, for models whose metadata
has a `calibration.temperature`, of the logits divided by it (the model as `load_model` gives it).

Resumable: a model already recorded with its current temperature is skipped. The logits are cached (--cache, keyed by
the weights file's digest), so a model whose temperature changed is re-scored without running it again, and a killed
run goes on where it stopped.

    nice -n 10 .venv/bin/python benchmarks/bench_corruptions.py            # about 50 minutes on 2 cores
    .venv/bin/python benchmarks/bench_corruptions.py --models tiny --n 200 --names rotation --out /tmp/c.jsonl
"""
import argparse, hashlib, json, os, sys, time
from pathlib import Path
import torch
from fmnist_cnn.data import load_tensors, atomic_write, cache_dir
from fmnist_cnn.model import WEIGHTS_DIR, read_meta
from fmnist_cnn.corrupt import (CORRUPTIONS, SEVERITIES, corrupt, model_logits, score, summarize, model_temperature,
                                check_corruption, raw_model)
from fmnist_cnn.book.records import make_record, append_record, check_record, read_records, machine, study_path

MODELS = ('tiny', 'small', 'original', 'modern', 'best')      # cheapest first: a cut-short run has whole models

def model_meta(name:str) -> dict:
    "What the record keeps of a model: the metadata that identify it."
    meta = read_meta(WEIGHTS_DIR/f'{name}.pt')
    return dict(arch=meta.get('arch'), n_params=meta.get('n_params'), test_acc=meta.get('test_acc'),
                weights_commit=meta.get('commit'), calibration=meta.get('calibration'))

def weights_digest(name:str) -> str:
    return hashlib.sha256((WEIGHTS_DIR/f'{name}.pt').read_bytes()).hexdigest()[:12]

def save(out:Path, recs:list, rec:dict):
    "Append `rec`, or put it in place of the record of the same (model, seed, images)."
    key = lambda r: (r['variant'], r['seed'], r['data']['n_test'])
    if not any(key(r) == key(rec) for r in recs): append_record(rec, out); recs.append(rec); return
    recs[:] = [rec if key(r) == key(rec) else r for r in recs]
    atomic_write(out, lambda fh: fh.write(''.join(json.dumps(check_record(r), separators=(',', ':')) + '\n'
                                                  for r in recs).encode()))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--models', default=','.join(MODELS), help='shipped models, comma-separated')
    ap.add_argument('--names', default=None, help='corruptions, comma-separated (default: all)')
    ap.add_argument('--n', type=int, default=10_000, help='the first N test images')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--bs', type=int, default=500)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', type=Path, default=None, help='default: results/corruptions.jsonl')
    ap.add_argument('--cache', type=Path, default=None, help='where logits are kept (default: in the data cache)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    a.out = a.out or study_path('corruptions')
    models = a.models.split(',')
    names = a.names.split(',') if a.names else list(CORRUPTIONS)
    for n in names: check_corruption(n, 1)
    if unknown := [m for m in models if not (WEIGHTS_DIR/f'{m}.pt').is_file()]:
        sys.exit(f"unknown models {unknown}: shipped ones are {sorted(p.stem for p in WEIGHTS_DIR.glob('*.pt'))}")
    cache = a.cache or cache_dir()/'corruption_logits'; cache.mkdir(parents=True, exist_ok=True)
    x, y = load_tensors(train=False)
    x, y = x[:a.n], y[:a.n]                                                            # (N, 1, 28, 28), (N,)
    recs = read_records(a.out) if a.out.exists() else []
    todo = [('clean', 0)] + [(n, s) for n in names for s in SEVERITIES]
    print(f"{len(models)} models x {len(todo)} conditions on {a.n:,} test images; {len(recs)} records "
          f"({sum(len(r['extra']['rows']) for r in recs)} rows) recorded")
    for m in models:
        T, net, digest = model_temperature(m), None, weights_digest(m)
        old = next((r for r in recs if (r['variant'], r['seed'], r['data']['n_test']) == (m, a.seed, a.n)), None)
        have = {(q['corruption'], q['severity']): q for q in old['extra']['rows']} if old else {}
        if old and old['extra']['temperature'] == T and all(c in have for c in todo): continue   # done
        rows = []
        for cname, sev in dict.fromkeys(todo + list(have)):
            f = cache/f'{m}-{digest}-{cname}-{sev}-seed{a.seed}-n{a.n}.pt'
            t0 = time.perf_counter(); t_corrupt = 0.
            if f.exists(): z = torch.load(f, weights_only=True); cached = True
            else:
                net = net or raw_model(m).to(memory_format=torch.channels_last)
                xc = x if cname == 'clean' else corrupt(x, cname, sev, a.seed)
                t_corrupt = time.perf_counter() - t0
                z = model_logits(net, xc, a.bs); torch.save(z, f); cached = False
            r = dict(corruption=cname, severity=sev, **score(z, y))
            if T: r |= {f'{k2}_cal': v for k2, v in score(z, y, T).items() if k2 != 'acc'}
            r |= dict(level=None if cname == 'clean' else CORRUPTIONS[cname][1][sev - 1],
                      corrupt_s=round(t_corrupt, 2), seconds=round(time.perf_counter() - t0, 2), from_cache=cached,
                      load=os.getloadavg()[0])
            rows.append(r)
            print(f"{m:>8} {cname:>15} {sev} acc {100*r['acc']:6.2f} ece {r['ece']:.3f}"
                  + (f" (T={T:.3f}: ece {r['ece_cal']:.3f})" if T else '') + f"  {r['seconds']:.1f}s", flush=True)
        rec = make_record('corruptions', m, a.seed, None, [], dict(n_train=None, n_valid=None, n_test=a.n),
                          what=f'the shipped model {m!r} on the first {a.n:,} test images, clean and under every '
                               'corruption x severity, raw and with its temperature',
                          machine=machine('cpu'), extra=dict(model=model_meta(m), temperature=T, rows=rows))
        save(a.out, recs, rec)
        s = summarize([r for r in rows if r['corruption'] in ['clean', *names]])
        print(f"== {m}: clean {100*s['clean_acc']:.2f}, corrupted {100*s['mean_acc']:.2f} (x{s['ratio']:.3f}), "
              f"worst {s['worst'][0]} {s['worst'][1]} ({100*s['worst'][2]:.1f}), "
              f"ECE {s['ece_clean']:.3f} -> {s['ece_corrupted']:.3f}", flush=True)

if __name__ == '__main__': main()
