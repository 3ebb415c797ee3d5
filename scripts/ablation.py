"""Ablation of the modern recipe at a fixed budget: remove one ingredient at a time (each a recipe plus overrides).

Each configuration trains `RECIPES['modern']` with its overrides, from the same seed, for the same number of epochs,
on all 60,000 training images, and is evaluated on the full test set. Results go to a JSON file and print as a
Markdown table. (`scripts/experiments.py` is the fuller successor: the 2x2, one ablation per retrospective idea,
several seeds, choices on a validation split.)
Usage: python scripts/ablation.py [--epochs 4] [--seeds 42] [--only full,no-aug] [--out results/ablation.json]
"""
import argparse, json
from pathlib import Path
from fmnist_cnn.model import n_params
from fmnist_cnn.training import RECIPES, train

CONFIGS = {  # name: (what changes, overrides of RECIPES['modern'])
    'full':          ('the modern recipe, everything on', {}),
    'original-arch': ('architecture: the original CNN instead of ModernCNN', {'model': dict(arch='OriginalCNN', args={})}),
    'fc-head':       ('head: flatten + 2-layer MLP instead of global average pooling', {'model.args': dict(head='fc')}),
    'no-aug':        ('no augmentation (flip, shift, erasing)', {'data.aug': None}),
    'no-ls':         ('no label smoothing', {'loss.label_smoothing': 0.}),
    'const-lr':      ('constant learning rate 0.025 instead of one-cycle (peak 0.1)', {'sched.name': 'const', 'opt.lr': 0.025}),
    'fp32':          ('float32 instead of bfloat16 autocast', {'precision.bf16': False}),
}

def run(name, epochs, seed, n_train=None, n_test=None):
    desc, ov = CONFIGS[name]
    model, hist = train(RECIPES['modern'], progress=False, epochs=epochs, seed=seed, data=dict(valid=0), n_train=n_train,
                        n_test=n_test, **ov)
    return dict(config=name, change=desc, seed=seed, epochs=epochs, params=n_params(model), test_acc=1 - hist[-1]['test_err'],
                train_time_s=sum(h['train_time'] for h in hist), wall_s=hist[-1]['elapsed'])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=4); ap.add_argument('--seeds', default='42')
    ap.add_argument('--only', default=','.join(CONFIGS)); ap.add_argument('--out', default='results/ablation.json')
    ap.add_argument('--n-train', type=int, default=None); ap.add_argument('--n-test', type=int, default=None)  # quick runs (tests)
    a = ap.parse_args()
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    res = json.loads(out.read_text()) if out.exists() else []
    for name in a.only.split(','):
        for seed in map(int, a.seeds.split(',')):
            r = run(name, a.epochs, seed, a.n_train, a.n_test); res.append(r)
            print(f"{name:<14} seed {seed}: {100*r['test_acc']:.2f}% in {r['train_time_s']:.0f} s", flush=True)
            out.write_text(json.dumps(res, indent=1))
    print(f"\n| configuration | change | params | test acc. ({a.epochs} epochs) | train time |\n|---|---|---|---|---|")
    for r in res:
        if r['epochs'] == a.epochs:
            print(f"| {r['config']} | {r['change']} | {r['params']:,} | {100*r['test_acc']:.2f}% | {r['train_time_s']:.0f} s |")

if __name__ == '__main__': main()
