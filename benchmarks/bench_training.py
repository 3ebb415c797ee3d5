"""Benchmark: training throughput of the original CNN (batch 32, in-memory data) on this machine.

1. Loop overhead: `fmnist_cnn.training.fit` against a plain PyTorch loop (same model, optimizer, data,
   fp32), alternated in the same run; the ratio is fit's throughput over the plain loop's.
2. Speed options of `fit`, each as a ratio to the plain fp32 loop: channels-last layout, bfloat16
   autocast (AMX on this CPU), both, and thread counts.  `torch.compile` of the plain loop is measured too.
3. With --acc-epochs N: each option trains N epochs on the full data from the same seed, and its test
   accuracy is printed, so a speed-up that costs accuracy shows.
Appends one record per configuration (fmnist_cnn.book.records) to results/bench_training.jsonl.
Usage: python benchmarks/bench_training.py [--batches 300] [--rounds 2] [--acc-epochs 0] [--out FILE]
"""
import argparse, logging, time
import torch, torch.nn.functional as F
# torch.compile on a CPU-only machine: a note about CUDA_HOME, not a result
logging.getLogger('torch.utils.cpp_extension').setLevel(logging.ERROR)
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import OriginalCNN
from fmnist_cnn.training import fit, set_seed, cosine_sched, bf16_native
from fmnist_cnn.book.records import make_record, append_record, machine, study_path

def plain_loop(dls, compile=False) -> float:
    "Images per second of the simplest PyTorch loop: fp32, Adam, cosine schedule."
    set_seed(0); model = OriginalCNN(); model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3); sched = cosine_sched(opt, len(dls.train))
    step_model = torch.compile(model) if compile else model
    if compile:  # compile outside the timed region
        xb, yb = next(iter(dls.train)); F.cross_entropy(step_model(xb), yb).backward(); opt.zero_grad()
    t, n = time.perf_counter(), 0
    for xb, yb in dls.train:
        loss = F.cross_entropy(step_model(xb), yb)
        loss.backward(); opt.step(); opt.zero_grad(); sched.step()
        n += len(yb)
    return n/(time.perf_counter() - t)

def fit_speed(dls, **kw) -> float:
    "Images per second of `fit`'s training phase (one epoch, no progress bar)."
    set_seed(0); model = OriginalCNN()
    h = fit(model, dls, epochs=1, progress=False, **kw)
    return len(dls.train.dataset)/h[-1]['train_time']

OPTIONS = {  # name: keyword arguments of fit
    'fit, fp32': {},
    'fit, channels_last': dict(channels_last=True),
    'fit, bf16 autocast': dict(bf16=True),
    'fit, bf16 + channels_last': dict(bf16=True, channels_last=True),
}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batches', type=int, default=300, help='batches of 32 per timed epoch')
    ap.add_argument('--rounds', type=int, default=2, help='repeat everything; the best round counts')
    ap.add_argument('--acc-epochs', type=int, default=0, help='also train each option this many full epochs')
    ap.add_argument('--no-compile', action='store_true', help='skip torch.compile')
    ap.add_argument('--out', help='default: results/bench_training.jsonl')
    a = ap.parse_args()
    dls = get_dls(bs=32, n_train=32*a.batches, n_test=32)
    n_threads = torch.get_num_threads()
    mach = machine('cpu')
    print(f'{mach["cpu"]} (native bf16: {bf16_native(torch.device("cpu"))}), {n_threads} threads, '
          f'torch {torch.__version__}; '
          f'{a.batches} batches of 32, best of {a.rounds} rounds')
    res = {}
    def rec(name, v): res.setdefault(name, []).append(v)
    for r in range(a.rounds):
        rec('plain loop, fp32 (baseline)', plain_loop(dls))
        for name, kw in OPTIONS.items(): rec(name, fit_speed(dls, **kw))
        torch.set_num_threads(1)
        rec('fit, bf16 + channels_last, 1 thread', fit_speed(dls, bf16=True, channels_last=True))
        torch.set_num_threads(n_threads)
        if not a.no_compile and r == 0:   # compiling takes minutes: measured once, after a warm-up epoch
            try:
                rec('plain loop, fp32, torch.compile', plain_loop(dls, compile=True))
                set_seed(0); m = OriginalCNN(); kw = dict(bf16=True, channels_last=True, compile=True)
                fit(m, dls, epochs=1, progress=False, **kw)                        # compiles
                h = fit(m, dls, epochs=1, progress=False, **kw)                    # timed (recompiles nothing)
                rec('fit, bf16 + channels_last + compile', len(dls.train.dataset)/h[-1]['train_time'])
            except Exception as e: print(f'torch.compile failed: {type(e).__name__}: {str(e)[:200]}')
    full_data = {}
    if a.acc_epochs:
        full = get_dls(bs=32)
        for name, kw in OPTIONS.items():
            set_seed(42); m = OriginalCNN(); t = time.perf_counter()
            h = fit(m, full, epochs=a.acc_epochs, progress=False, **kw)
            full_data[name] = dict(epochs=a.acc_epochs, seed=42, test_acc=round(1 - h[-1]['test_err'], 4),
                                   seconds=round(time.perf_counter() - t))
    recs = [make_record('bench_training', name, None, None, [], dict(n_train=32*a.batches, n_valid=0, n_test=None),
                        what=f'training throughput of the original CNN: {name}',
                        machine=dict(mach, threads=1 if name.endswith('1 thread') else n_threads),
                        extra=dict(bs=32, batches=a.batches, rounds=a.rounds, images_per_s=round(max(v), 1),
                                   **({'full_data': full_data[name]} if name in full_data else {})))
            for name, v in res.items()]
    for rec in recs: append_record(rec, a.out or study_path('bench_training'))
    print(report(recs))

def report(recs:list) -> str:
    "The records of one run as text: images per second of each configuration, as a ratio to the plain loop."
    base = recs[0]['extra']['images_per_s']
    ratio = lambda r: r['extra'].get('ratio', r['extra']['images_per_s']/base)   # converted records kept theirs
    m, e = recs[0]['machine'], recs[0]['extra']
    lines = [f"{m['cpu']}, {m['threads']} threads, torch {m['torch']}; {e['batches']} batches of {e['bs']}, "
             f"best of {e['rounds']} rounds", '', f"{'configuration':<40} {'images/s':>9} {'ratio':>6}"]
    lines += [f"{r['variant']:<40} {r['extra']['images_per_s']:>9.0f} {ratio(r):>6.2f}"
              for r in recs]
    fit32 = next(r for r in recs if r['variant'] == 'fit, fp32')
    over = fit32['extra'].get('overhead', fit32['extra']['images_per_s']/base)
    lines += ['', f"loop overhead: fit / plain loop = {over:.3f} (1.0 = none)"]
    acc = [r for r in recs if 'full_data' in r['extra']]
    if acc:
        f = acc[0]['extra']['full_data']
        lines += ['', f"test accuracy after {f['epochs']} epochs on the full data (seed {f['seed']}, cosine over "
                      f"{f['epochs']} epochs):"]
        lines += [f"  {r['variant']:<32} {100*r['extra']['full_data']['test_acc']:.2f}%  "
                  f"({r['extra']['full_data']['seconds']} s)" for r in acc]
    return '\n'.join(lines)

if __name__ == '__main__': main()
