"""A robust recipe against its baseline: the same network, budget and seeds, trained with and without corruptions
from `fmnist_cnn.corrupt` as a batch augmentation (`RandomCorruption`, half of each batch), on the TRAIN types only;
judged on the test set under the HELD-OUT types, which training never sees.

Both variants follow `RECIPES['speedrun-cpu']` (chapter 09's first CPU record: 5 epochs on the 50,000 training images,
10,000 held out for validation; a 78,042-parameter network at 5.4 MFLOPs per image) with chapter 02's `train`, the
baseline and the robust run of a seed back to back (paired: the same initial weights and the
same batches). After training, each model is scored in float32 on the validation images under the TRAIN types (what
a search would choose on) and on the test images, clean and under every type. One record (fmnist_cnn.book.records)
per (variant, seed) in results/robust.jsonl: the merged recipe trained, its history, and under `extra` the base
recipe's name, the augmentation (None for the baseline), the scores and their rows; runs already there are skipped.

    nice -n 10 .venv/bin/python scripts/robust_recipe.py                # 6 runs, a few minutes each on 2 cores
    .venv/bin/python scripts/robust_recipe.py --seeds 0 --n-train 2000 --n-eval 500 --epochs 1 --out /tmp/r.jsonl
"""
import argparse, sys, time
from pathlib import Path
import torch
from fmnist_cnn.data import get_dls, load_tensors
from fmnist_cnn.training import RECIPES, merge, train, BatchTransformCB
from fmnist_cnn.corrupt import CORRUPTIONS, RandomCorruption, corruption_benchmark, summarize
from fmnist_cnn.book.records import make_record, append_record, read_records, machine, study_path

# Chosen before any run: each held-out type has a relative among the training types (brightness and contrast both
# move the background off black; shear and elastic warp as rotation and translation do), except occlusion and
# inversion, which have none. So the held-out mean asks whether robustness carries over to kinds never trained on.
TRAIN_TYPES = ('gaussian_noise', 'gaussian_blur', 'contrast', 'rotation', 'translation')
HELD_OUT = ('brightness', 'inversion', 'shear', 'elastic', 'occlusion')
VARIANTS = ('baseline', 'robust')

def run(variant:str, seed:int, a) -> dict:
    "Train one variant from one seed; score it; its record line."
    r = merge(RECIPES[a.recipe], seed=seed, **({'epochs': a.epochs} if a.epochs else {}))
    dls = get_dls(r['data']['bs'], r['data']['valid'], a.n_train, seed=r['seed'])
    tfm = RandomCorruption(TRAIN_TYPES, p=a.p) if variant == 'robust' else None
    t0 = time.perf_counter()                  # the corruption runs first among the batch's callbacks (order -10)
    model, hist = train(r, dls=dls, device='cpu', progress=False, cbs=[BatchTransformCB(tfm)] if tfm else [])
    train_s = time.perf_counter() - t0
    model = model.float().eval()
    n = a.n_eval
    xv, yv = dls.valid.x[:n], dls.valid.y[:n]                                          # (n, 1, 28, 28), (n,)
    xt, yt = load_tensors(train=False); xt, yt = xt[:n], yt[:n]
    t1 = time.perf_counter()
    valid = corruption_benchmark(model, xv, yv, names=TRAIN_TYPES)
    test = corruption_benchmark(model, xt, yt, names=list(CORRUPTIONS))
    sub = lambda rows, names: [q for q in rows if q['corruption'] in ('clean', *names)]
    m = dict(clean_valid_acc=valid[0]['acc'], train_types_valid_acc=summarize(valid)['mean_acc'],
             clean_test_acc=test[0]['acc'], heldout_test_acc=summarize(sub(test, HELD_OUT))['mean_acc'],
             train_types_test_acc=summarize(sub(test, TRAIN_TYPES))['mean_acc'],
             all_types_test_acc=summarize(test)['mean_acc'])
    aug = (None if tfm is None
           else dict(RandomCorruption=dict(names=list(TRAIN_TYPES), p=a.p, severities=[1, 2, 3, 4, 5])))
    what = (f'{a.recipe} as it is' if aug is None else
            f'{a.recipe} with half of each training batch corrupted by a training type (RandomCorruption)')
    return make_record('robust', variant, seed, r, hist,
                       dict(n_train=len(dls.train.x), n_valid=len(dls.valid.x), n_test=len(dls.test.x)), what=what,
                       machine=machine('cpu'),
                       extra=dict(base=a.recipe, augment=aug, fit_s=round(train_s, 1),
                                  eval_s=round(time.perf_counter() - t1, 1), n_eval=n, split_seed=42, metrics=m,
                                  valid_rows=valid, test_rows=test, train_types=list(TRAIN_TYPES),
                                  held_out=list(HELD_OUT), corruption_seed=0))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--recipe', default='speedrun-cpu', help='a name in RECIPES')
    ap.add_argument('--epochs', type=int, default=None, help="instead of the recipe's")
    ap.add_argument('--p', type=float, default=0.5, help='share of each training batch corrupted')
    ap.add_argument('--n-train', type=int, default=None, help='a subset of the training images (quick runs)')
    ap.add_argument('--n-eval', type=int, default=10_000, help='validation and test images scored')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', type=Path, default=None, help='default: results/robust.jsonl')
    a = ap.parse_args()
    if a.recipe not in RECIPES: sys.exit(f"unknown recipe {a.recipe!r}: choose one of {list(RECIPES)}")
    torch.set_num_threads(a.threads)
    out = a.out or study_path('robust')
    recs = read_records(out) if out.exists() else []
    for seed in map(int, a.seeds.split(',')):
        for v in VARIANTS:
            if any(q['variant'] == v and q['seed'] == seed and q['extra']['base'] == a.recipe
                   and q['recipe']['epochs'] == (a.epochs or RECIPES[a.recipe]['epochs'])
                   and q['extra']['n_eval'] == a.n_eval and (a.n_train is None or q['data']['n_train'] == a.n_train)
                   for q in recs): print(f'{v} seed {seed}: recorded'); continue
            q = run(v, seed, a); recs.append(q); append_record(q, out)
            m = q['extra']['metrics']
            print(f"{v:>8} seed {seed}: {q['extra']['fit_s']:.0f} s training, {q['extra']['eval_s']:.0f} s scoring; "
                  f"test clean {100*m['clean_test_acc']:.2f}, held-out {100*m['heldout_test_acc']:.2f}, train types "
                  f"{100*m['train_types_test_acc']:.2f}; valid train types {100*m['train_types_valid_acc']:.2f}",
                  flush=True)

if __name__ == '__main__': main()
