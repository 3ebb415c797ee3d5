"""Benchmark: training throughput of the original CNN (batch 32, in-memory data) on this machine.

1. Loop overhead: `fmnist_cnn.training.fit` against a plain PyTorch loop (same model, optimizer, data,
   fp32), alternated in the same run; the ratio is fit's throughput over the plain loop's.
2. Speed options of `fit`, each as a ratio to the plain fp32 loop: channels-last layout, bfloat16
   autocast (AMX on this CPU), both, and thread counts.  `torch.compile` of the plain loop is measured too.
3. With --acc-epochs N: each option trains N epochs on the full data from the same seed, and its test
   accuracy is printed, so a speed-up that costs accuracy shows.
Usage: python scripts/bench_training.py [--batches 300] [--rounds 2] [--acc-epochs 0]
"""
import argparse, logging, time, platform
import torch, torch.nn.functional as F
logging.getLogger('torch.utils.cpp_extension').setLevel(logging.ERROR)   # torch.compile on a CPU-only machine: a note about CUDA_HOME, not a result
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import OriginalCNN
from fmnist_cnn.training import fit, set_seed, cosine_sched, bf16_native

def cpu_name() -> str:
    "The CPU's model name (Linux), else the machine type."
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor() or platform.machine()

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
    a = ap.parse_args()
    dls = get_dls(bs=32, n_train=32*a.batches, n_test=32)
    n_threads = torch.get_num_threads()
    print(f'{cpu_name()} (native bf16: {bf16_native(torch.device("cpu"))}), {n_threads} threads, torch {torch.__version__}; '
          f'{a.batches} batches of 32, best of {a.rounds} rounds')
    res = {}
    def rec(name, v): res.setdefault(name, []).append(v)
    for r in range(a.rounds):
        rec('plain loop, fp32 (baseline)', plain_loop(dls))
        for name, kw in OPTIONS.items(): rec(name, fit_speed(dls, **kw))
        torch.set_num_threads(1); rec('fit, bf16 + channels_last, 1 thread', fit_speed(dls, bf16=True, channels_last=True))
        torch.set_num_threads(n_threads)
        if not a.no_compile and r == 0:   # compiling takes minutes: measured once, after a warm-up epoch
            try:
                rec('plain loop, fp32, torch.compile', plain_loop(dls, compile=True))
                set_seed(0); m = OriginalCNN(); kw = dict(bf16=True, channels_last=True, compile=True)
                fit(m, dls, epochs=1, progress=False, **kw)                        # compiles
                h = fit(m, dls, epochs=1, progress=False, **kw)                    # timed (recompiles nothing)
                rec('fit, bf16 + channels_last + compile', len(dls.train.dataset)/h[-1]['train_time'])
            except Exception as e: print(f'torch.compile failed: {type(e).__name__}: {str(e)[:200]}')
    base = max(res['plain loop, fp32 (baseline)'])
    print(f"\n{'configuration':<40} {'images/s':>9} {'ratio':>6}")
    for name, v in res.items(): print(f'{name:<40} {max(v):>9.0f} {max(v)/base:>6.2f}')
    print(f"\nloop overhead: fit / plain loop = {max(res['fit, fp32'])/base:.3f} (1.0 = none)")
    if a.acc_epochs:
        full = get_dls(bs=32)
        print(f'\ntest accuracy after {a.acc_epochs} epochs on the full data (seed 42, cosine over {a.acc_epochs} epochs):')
        for name, kw in OPTIONS.items():
            set_seed(42); m = OriginalCNN(); t = time.perf_counter()
            h = fit(m, full, epochs=a.acc_epochs, progress=False, **kw)
            print(f'  {name:<32} {100*(1-h[-1]["test_err"]):.2f}%  ({time.perf_counter()-t:.0f} s)', flush=True)

if __name__ == '__main__': main()
