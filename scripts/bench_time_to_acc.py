"""Time to the original's accuracy: the original recipe against the fast modern recipe, in one run.

Trains the retrospective's fast recipe (`FAST_RECIPE`: a narrow ModernCNN, a short one-cycle schedule, no
augmentation), then the original recipe (OriginalCNN, Adam 1e-3, cosine over 30 epochs, batch 32, fp32 +
channels-last, as shipped) capped at --cap-minutes of training. Records the time (training plus the per-epoch
test evaluation) at which each first reaches the target test accuracy (92.03%, the original write-up's
result) and prints the ratio. `--recipe modern` times the full-size modern recipe instead.
Usage: python scripts/bench_time_to_acc.py [--recipe fast|modern] [--epochs N] [--cap-minutes 15] [--target 0.9203]
"""
import argparse, json
from pathlib import Path
import torch
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import OriginalCNN, n_params
from fmnist_cnn.training import fit, set_seed, RECIPE
from fmnist_cnn.retrospective import ModernCNN, MODERN_RECIPE, FAST_RECIPE, modern_fit_kwargs, mflops

def first_reach(hist, target):
    "(epoch, seconds) when test accuracy first reaches `target`, or None."
    return next(((h['epoch'], h['elapsed']) for h in hist if 1 - h['test_err'] >= target), None)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--recipe', choices=['fast', 'modern'], default='fast')
    ap.add_argument('--epochs', type=int, default=None, help="epochs of the modern side (default: the recipe's)")
    ap.add_argument('--cap-minutes', type=float, default=15)
    ap.add_argument('--target', type=float, default=0.9203); ap.add_argument('--out', default='results/time_to_acc.json')
    a = ap.parse_args()
    R = FAST_RECIPE if a.recipe == 'fast' else MODERN_RECIPE
    n_epochs = a.epochs or R['n_epochs']
    set_seed(R['seed']); m = ModernCNN(**R.get('model', {}))
    info = dict(recipe=a.recipe, params=n_params(m), mflops=round(mflops(m), 1), model=R.get('model', {}))
    h_mod = fit(m, get_dls(bs=R['bs']), n_epochs=n_epochs, lr=R['lr'], bf16=R['bf16'], channels_last=R['channels_last'],
                seed=R['seed'], progress=False, **modern_fit_kwargs(label_smoothing=R['label_smoothing'], aug=R['aug']))
    print(f"{a.recipe} recipe ({info['params']:,} parameters, {info['mflops']} MFLOPs/image, {n_epochs}-epoch one-cycle): "
          + ', '.join(f"{100*(1-h['test_err']):.2f}% at {h['elapsed']:.0f}s" for h in h_mod), flush=True)
    set_seed(RECIPE['seed']); o = OriginalCNN()
    h_orig = fit(o, get_dls(bs=RECIPE['bs']), n_epochs=RECIPE['n_epochs'], lr=RECIPE['lr'], channels_last=True,
                 seed=RECIPE['seed'], progress=False, max_minutes=a.cap_minutes)
    print(f"original (capped at {a.cap_minutes} min of training): "
          + ', '.join(f"{100*(1-h['test_err']):.2f}% at {h['elapsed']:.0f}s" for h in h_orig), flush=True)
    rm, ro = first_reach(h_mod, a.target), first_reach(h_orig, a.target)
    print(f"\ntarget: {100*a.target:.2f}% test accuracy (times include the test evaluation after each epoch)")
    print(f"  {a.recipe} recipe:   " + (f"epoch {rm[0]}, {rm[1]:.0f} s" if rm else f"not reached in {n_epochs} epochs"))
    print(f"  original recipe: " + (f"epoch {ro[0]}, {ro[1]:.0f} s" if ro else f"not reached within the {a.cap_minutes}-minute cap ({h_orig[-1]['elapsed']:.0f} s, {len(h_orig)} epochs)"))
    if rm and ro: print(f"  speed-up (original time / {a.recipe} time): {ro[1]/rm[1]:.1f}x")
    elif rm: print(f"  speed-up: more than {h_orig[-1]['elapsed']/rm[1]:.1f}x (the original did not reach the target before the cap)")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(dict(target=a.target, cap_minutes=a.cap_minutes, threads=torch.get_num_threads(),
                                           modern_info=info, modern=h_mod, original=h_orig), indent=1))

if __name__ == '__main__': main()
