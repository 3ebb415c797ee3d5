"""A robust recipe against its baseline: the same network, budget and seeds, trained with and without corruptions
from `fmnist_cnn.corrupt` as a batch augmentation (`RandomCorruption`, half of each batch), on the TRAIN types only;
judged on the test set under the HELD-OUT types, which training never sees.

Both variants follow `RECIPES['speedrun-cpu']` (chapter 09's first CPU record: 5 epochs on the 50,000 training images,
10,000 held out for validation; a 78,042-parameter network at 5.4 MFLOPs per image) with chapter 02's `fit`, the baseline and the robust run of a seed back to back (paired: the same initial weights and the
same batches). After training, each model is scored in float32 on the validation images under the TRAIN types (what
a search would choose on) and on the test images, clean and under every type. One JSON line per (variant, seed) in
results/robust.jsonl; runs already there are skipped.

    nice -n 10 .venv/bin/python scripts/robust_recipe.py                # 6 runs, a few minutes each on 2 cores
    .venv/bin/python scripts/robust_recipe.py --seeds 0 --n-train 2000 --n-eval 500 --epochs 1 --out /tmp/r.jsonl
"""
import argparse, json, os, sys, time
from pathlib import Path
import torch
from torch import nn
from fmnist_cnn.data import get_dls, atomic_write
from fmnist_cnn.model import build_model, git_commit, n_params
from fmnist_cnn.training import RECIPES, merge
from fmnist_cnn.training import set_seed, bf16_native
from fmnist_cnn.training import fit, make_opt, make_sched, make_cbs
from fmnist_cnn.corrupt import CORRUPTIONS, RandomCorruption, corruption_benchmark, summarize

sys.path.insert(0, str(Path(__file__).parent))
from bench_corruptions import machine, read_rows, ROOT

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
    set_seed(seed); model = build_model(r['model'])
    bf16 = bf16_native('cpu') if r['precision']['bf16'] == 'auto' else r['precision']['bf16']
    tfm = RandomCorruption(TRAIN_TYPES, p=a.p) if variant == 'robust' else None
    t0 = time.perf_counter()
    hist = fit(model, dls, epochs=r['epochs'], lr=r['opt']['lr'], opt_func=make_opt(r['opt']),
               sched_func=make_sched(r['sched']), loss_func=nn.CrossEntropyLoss(label_smoothing=r['loss']['label_smoothing']),
               batch_tfm=tfm, cbs=make_cbs(r), seed=seed, device='cpu', bf16=bf16,
               channels_last=r['precision']['channels_last'], progress=False, recipe=r)
    train_s = time.perf_counter() - t0
    model = model.float().eval()
    n = a.n_eval
    xv, yv = dls.valid.x[:n], dls.valid.y[:n]                                          # (n, 1, 28, 28), (n,)
    from fmnist_cnn.data import load_tensors
    xt, yt = load_tensors(train=False); xt, yt = xt[:n], yt[:n]
    t1 = time.perf_counter()
    valid = corruption_benchmark(model, xv, yv, names=TRAIN_TYPES)
    test = corruption_benchmark(model, xt, yt, names=list(CORRUPTIONS))
    sub = lambda rows, names: [q for q in rows if q['corruption'] in ('clean', *names)]
    m = dict(clean_valid_acc=valid[0]['acc'], train_types_valid_acc=summarize(valid)['mean_acc'],
             clean_test_acc=test[0]['acc'], heldout_test_acc=summarize(sub(test, HELD_OUT))['mean_acc'],
             train_types_test_acc=summarize(sub(test, TRAIN_TYPES))['mean_acc'],
             all_types_test_acc=summarize(test)['mean_acc'])
    return dict(study='robust', name=variant, seed=seed,
                recipe=dict(r, name=a.recipe, augment=None if tfm is None else dict(RandomCorruption=dict(names=list(TRAIN_TYPES), p=a.p,
                                                                                          severities=[1, 2, 3, 4, 5]))),
                machine=machine(), commit=git_commit(), date=time.strftime('%Y-%m-%d'),
                data=dict(train=len(dls.train.x), valid=len(xv), test=len(xt), split_seed=42),
                history=hist, train_s=round(train_s, 1), eval_s=round(time.perf_counter() - t1, 1), bf16=bf16,
                params=n_params(model), metrics=m, valid_rows=valid, test_rows=test,
                extra=dict(train_types=list(TRAIN_TYPES), held_out=list(HELD_OUT), corruption_seed=0,
                           load=os.getloadavg()[0]))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--recipe', default='speedrun-cpu', help='a name in RECIPES')
    ap.add_argument('--epochs', type=int, default=None, help="instead of the recipe's")
    ap.add_argument('--p', type=float, default=0.5, help='share of each training batch corrupted')
    ap.add_argument('--n-train', type=int, default=None, help='a subset of the training images (quick runs)')
    ap.add_argument('--n-eval', type=int, default=10_000, help='validation and test images scored')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', type=Path, default=ROOT/'results'/'robust.jsonl')
    a = ap.parse_args()
    if a.recipe not in RECIPES: sys.exit(f"unknown recipe {a.recipe!r}: choose one of {list(RECIPES)}")
    torch.set_num_threads(a.threads)
    rows = read_rows(a.out)
    for seed in map(int, a.seeds.split(',')):
        for v in VARIANTS:
            if any(q['name'] == v and q['seed'] == seed and q['recipe'].get('name') == a.recipe
                   and q['recipe']['epochs'] == (a.epochs or RECIPES[a.recipe]['epochs'])
                   and q['data']['test'] == a.n_eval and (a.n_train is None or q['data']['train'] == a.n_train)
                   for q in rows): print(f'{v} seed {seed}: recorded'); continue
            q = run(v, seed, a); rows.append(q)
            atomic_write(a.out, lambda f: f.write(''.join(json.dumps(x) + '\n' for x in rows).encode()))
            m = q['metrics']
            print(f"{v:>8} seed {seed}: {q['train_s']:.0f} s training, {q['eval_s']:.0f} s scoring; test clean "
                  f"{100*m['clean_test_acc']:.2f}, held-out {100*m['heldout_test_acc']:.2f}, train types "
                  f"{100*m['train_types_test_acc']:.2f}; valid train types {100*m['train_types_valid_acc']:.2f}", flush=True)

if __name__ == '__main__': main()
