"""Time to the original's accuracy on this CPU: the fast recipe from several seeds, then the original recipe, in one run.

Trains `RECIPES['fast']` (a narrow ModernCNN, a short one-cycle schedule, no augmentation) on all 60,000 training
images from each of --seeds, then the original recipe (OriginalCNN, Adam 1e-3, cosine over 30 epochs, batch 32)
capped at --cap-minutes of training. For each run it records when the test accuracy first reaches --target
(92.03%, the original write-up's figure): the training time to the end of that epoch (evaluation excluded, as
in scripts/bench_gpu.py) and the wall time including the per-epoch evaluation. Run it on an otherwise idle machine.
Usage: python scripts/bench_time_to_acc.py [--seeds 0,1,2] [--cap-minutes 15] [--target 0.9203] [--out results/time_to_acc.json]
"""
import argparse, json, os, platform
import torch
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
    ap.add_argument('--out', default='results/time_to_acc.json')
    a = ap.parse_args()
    res = dict(target=a.target, cpu=platform.processor() or platform.machine(), cores=os.cpu_count(), threads=torch.get_num_threads(),
               bf16=bf16_native('cpu'), torch=torch.__version__, fast=[], original=None)
    for seed in map(int, a.seeds.split(',')):
        m, h = train(RECIPES['fast'], device='cpu', progress=False, seed=seed, data=dict(valid=0))
        r = first_reach(h, a.target)
        res['fast'].append(dict(seed=seed, params=n_params(m), mflops=round(mflops(m), 1), epochs=len(h), reached=r,
                                final_test_acc=round(1 - h[-1]['test_err'], 4), train_time_s=round(sum(x['train_time'] for x in h), 1),
                                history=h))
        print(f"fast recipe, seed {seed}: " + ', '.join(f"{100*(1-x['test_err']):.2f}% at {x['elapsed']:.0f}s" for x in h)
              + f"; {a.target:.2%} reached: {r}", flush=True)
        write_json(res, a.out)
    if not a.no_original:
        m, h = train(RECIPES['original'], device='cpu', progress=False, data=dict(valid=0), max_minutes=a.cap_minutes)
        res['original'] = dict(epochs=len(h), reached=first_reach(h, a.target), final_test_acc=round(1 - h[-1]['test_err'], 4), history=h)
        print(f"original recipe (capped at {a.cap_minutes} min): reached {res['original']['reached']} after {len(h)} epochs", flush=True)
        write_json(res, a.out)

if __name__ == '__main__': main()
