"""Time to the original's accuracy on this CPU: the fast recipe from several seeds, then the original recipe, in one run.

Trains `RECIPES['fast']` (a narrow ModernCNN, a short one-cycle schedule, no augmentation) on all 60,000 training
images from each of --seeds, then the original recipe (OriginalCNN, Adam 1e-3, cosine over 30 epochs, batch 32)
capped at --cap-minutes of training. For each run it records when the test accuracy first reaches --target
(92.03%, the original write-up's figure): the training time to the end of that epoch (evaluation excluded, as
in scripts/bench_gpu.py) and the wall time including the per-epoch evaluation. Run it on an otherwise idle machine.
Chapter 04 reads the record with `read_time_to_acc` (which also reads the record's first format).
Usage: python scripts/bench_time_to_acc.py [--seeds 0,1,2] [--cap-minutes 15] [--target 0.9203] [--out results/time_to_acc.json]
       (--n-train N --n-test N: a quick run on subsets, for the tests of the record's format only)
"""
import argparse, json, os, platform
import torch

def _cpu_name() -> str:
    "The processor's model name (Linux), else what `platform` says."
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor() or platform.machine()
from fmnist_cnn.data import write_json
from fmnist_cnn.model import n_params, mflops
from fmnist_cnn.training import RECIPES, train, bf16_native

def first_reach(hist, target):
    "(epoch, training seconds, elapsed seconds) when the test accuracy first reaches `target`, or None."
    t = 0.
    for h in hist:
        t += h['train_time']
        if 1 - h['test_err'] >= target: return h['epoch'], round(t, 1), round(h['elapsed'], 1)
    return None

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seeds', default='0,1,2'); ap.add_argument('--cap-minutes', type=float, default=15)
    ap.add_argument('--no-original', action='store_true'); ap.add_argument('--target', type=float, default=0.9203)
    ap.add_argument('--n-train', type=int, default=None); ap.add_argument('--n-test', type=int, default=None)
    ap.add_argument('--out', default='results/time_to_acc.json')
    a = ap.parse_args()
    quick = dict(n_train=a.n_train, n_test=a.n_test)
    res = dict(target=a.target, cap_minutes=a.cap_minutes, cpu=_cpu_name(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
               cores=os.cpu_count(), threads=torch.get_num_threads(), bf16=bf16_native('cpu'), torch=torch.__version__,
               n_train=a.n_train, n_test=a.n_test, fast=[], original=None)
    for seed in map(int, a.seeds.split(',')):
        m, h = train(RECIPES['fast'], device='cpu', progress=False, seed=seed, data=dict(valid=0), **quick)
        r = first_reach(h, a.target)
        res['fast'].append(dict(seed=seed, model=RECIPES['fast']['model']['args'], params=n_params(m), mflops=round(mflops(m), 1), epochs=len(h), reached=r,
                                final_test_acc=round(1 - h[-1]['test_err'], 4), train_time_s=round(sum(x['train_time'] for x in h), 1),
                                history=h))
        print(f"fast recipe, seed {seed}: " + ', '.join(f"{100*(1-x['test_err']):.2f}% at {x['elapsed']:.0f}s" for x in h)
              + f"; {a.target:.2%} reached: {r}", flush=True)
        write_json(res, a.out)
    if not a.no_original:
        m, h = train(RECIPES['original'], device='cpu', progress=False, data=dict(valid=0), max_minutes=a.cap_minutes, **quick)
        res['original'] = dict(epochs=len(h), reached=first_reach(h, a.target), final_test_acc=round(1 - h[-1]['test_err'], 4), history=h)
        print(f"original recipe (capped at {a.cap_minutes} min): reached {res['original']['reached']} after {len(h)} epochs", flush=True)
        write_json(res, a.out)

if __name__ == '__main__': main()
