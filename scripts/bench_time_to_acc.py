"""Time to the original's accuracy: the original recipe against the modern recipe, in one run.

Trains the modern recipe (a short one-cycle schedule, --modern-epochs), then the original recipe
(OriginalCNN, Adam 1e-3, cosine over 30 epochs, batch 32, fp32 + channels-last, as shipped) capped at
--cap-minutes of training. Records the wall time (training + per-epoch test evaluation) at which each first
reaches the target test accuracy (92.03%, the original write-up's result) and prints the ratio.
Usage: python scripts/bench_time_to_acc.py [--modern-epochs 3] [--cap-minutes 15] [--target 0.9203]
"""
import argparse, json
from pathlib import Path
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import OriginalCNN
from fmnist_cnn.training import fit, set_seed, RECIPE
from fmnist_cnn.retrospective import ModernCNN, MODERN_RECIPE, modern_fit_kwargs

def first_reach(hist, target):
    "(epoch, seconds) when test accuracy first reaches `target`, or None."
    return next(((h['epoch'], h['elapsed']) for h in hist if 1 - h['test_err'] >= target), None)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--modern-epochs', type=int, default=3); ap.add_argument('--cap-minutes', type=float, default=15)
    ap.add_argument('--target', type=float, default=0.9203); ap.add_argument('--out', default='results/time_to_acc.json')
    a = ap.parse_args()
    R = MODERN_RECIPE
    set_seed(R['seed']); m = ModernCNN()
    h_mod = fit(m, get_dls(bs=R['bs']), n_epochs=a.modern_epochs, lr=R['lr'], bf16=R['bf16'],
                channels_last=R['channels_last'], seed=R['seed'], progress=False, **modern_fit_kwargs())
    print(f"modern ({a.modern_epochs}-epoch one-cycle): " + ', '.join(f"{100*(1-h['test_err']):.2f}% at {h['elapsed']:.0f}s" for h in h_mod), flush=True)
    set_seed(RECIPE['seed']); m = OriginalCNN()
    h_orig = fit(m, get_dls(bs=RECIPE['bs']), n_epochs=RECIPE['n_epochs'], lr=RECIPE['lr'], channels_last=True,
                 seed=RECIPE['seed'], progress=False, max_minutes=a.cap_minutes)
    print(f"original (capped at {a.cap_minutes} min of training): " + ', '.join(f"{100*(1-h['test_err']):.2f}%" for h in h_orig), flush=True)
    rm, ro = first_reach(h_mod, a.target), first_reach(h_orig, a.target)
    print(f"\ntarget: {100*a.target:.2f}% test accuracy")
    print(f"  modern recipe:   " + (f"epoch {rm[0]}, {rm[1]:.0f} s" if rm else f"not reached in {a.modern_epochs} epochs"))
    print(f"  original recipe: " + (f"epoch {ro[0]}, {ro[1]:.0f} s" if ro else f"not reached within the {a.cap_minutes}-minute cap ({h_orig[-1]['elapsed']:.0f} s, {len(h_orig)} epochs)"))
    if rm and ro: print(f"  speed-up (original time / modern time): {ro[1]/rm[1]:.1f}x")
    elif rm: print(f"  speed-up: more than {h_orig[-1]['elapsed']/rm[1]:.1f}x (the original did not reach the target before the cap)")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(dict(target=a.target, modern=h_mod, original=h_orig), indent=1))

if __name__ == '__main__': main()
