"""Ablation of the modern recipe at a fixed budget: remove one ingredient at a time.

Each configuration trains from the same seed for the same number of epochs on the full training set
and is evaluated on the full test set. Results go to a JSON file and print as a Markdown table.
Usage: python scripts/ablation.py [--epochs 4] [--seeds 42] [--only full,no-aug] [--out results/ablation.json]
"""
import argparse, json, time
from pathlib import Path
import torch
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import OriginalCNN, n_params
from fmnist_cnn.training import fit, set_seed
from fmnist_cnn.retrospective import ModernCNN, MODERN_RECIPE, modern_fit_kwargs

R = MODERN_RECIPE
CONFIGS = {  # name: (what changes, model factory, modern_fit_kwargs overrides, fit overrides)
    'full':          ('the modern recipe, everything on', ModernCNN, {}, {}),
    'original-arch': ('architecture: the original CNN instead of ModernCNN', OriginalCNN, {}, {}),
    'fc-head':       ('head: flatten + 2-layer MLP instead of global average pooling', lambda: ModernCNN(head='fc'), {}, {}),
    'no-aug':        ('no augmentation (flip, shift, erasing)', ModernCNN, dict(aug=False), {}),
    'no-ls':         ('no label smoothing', ModernCNN, dict(label_smoothing=0.), {}),
    'const-lr':      ('constant learning rate instead of one-cycle', ModernCNN, dict(sched='none'), dict(lr=R['lr']/4)),
    'fp32':          ('float32 instead of bfloat16 autocast', ModernCNN, {}, dict(bf16=False)),
}

def run(name, epochs, seed, dls):
    desc, make, kw, fkw = CONFIGS[name]
    set_seed(seed); model = make()
    fargs = dict(n_epochs=epochs, lr=R['lr'], seed=seed, bf16=R['bf16'], channels_last=R['channels_last'], progress=False) | fkw
    t = time.time()
    hist = fit(model, dls, **fargs, **modern_fit_kwargs(**kw))
    return dict(config=name, change=desc, seed=seed, epochs=epochs, params=n_params(model),
                test_acc=1 - hist[-1]['test_err'], train_time_s=sum(h['train_time'] for h in hist), wall_s=time.time() - t)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=4); ap.add_argument('--seeds', default='42')
    ap.add_argument('--only', default=','.join(CONFIGS)); ap.add_argument('--out', default='results/ablation.json')
    a = ap.parse_args()
    dls = get_dls(bs=R['bs'], seed=42)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    res = json.loads(out.read_text()) if out.exists() else []
    for name in a.only.split(','):
        for seed in map(int, a.seeds.split(',')):
            r = run(name, a.epochs, seed, dls); res.append(r)
            print(f"{name:<14} seed {seed}: {100*r['test_acc']:.2f}% in {r['train_time_s']:.0f} s", flush=True)
            out.write_text(json.dumps(res, indent=1))
    print(f"\n| configuration | change | params | test acc. ({a.epochs} epochs) | train time |\n|---|---|---|---|---|")
    for r in res:
        if r['epochs'] == a.epochs:
            print(f"| {r['config']} | {r['change']} | {r['params']:,} | {100*r['test_acc']:.2f}% | {r['train_time_s']:.0f} s |")

if __name__ == '__main__': main()
