"""Choose how `like_fmnist` brings a photo's garment down to 28x28, on the validation split.

Fashion-MNIST was made by "resizing the longest edge of the image to 28 by subsampling the pixels, i.e. some
rows and columns are skipped over" (Xiao et al., 2017), then sharpening. This script compares, on synthetic
photos of the validation images (the 10,000 training images every recipe holds out; photo seeds 500,000 +
10,000 x background index + image index, disjoint from the test photos' seeds), ways of doing that step:

- one antialiased (bilinear) resize to 28x28, then sharpening of amount s  (the previous `like_fmnist`: s = 1);
- an antialiased resize to a thumbnail of T pixels, then subsampling to 28x28 (nearest pixel), then sharpening.

Everything before this step (background model, mask, crop, upright turn) is `prepare_steps`, computed once per
photo. Both shipped models classify the results; the gap is accuracy on the same images at 28x28 minus
accuracy on the photos. The choice: the smallest mean gap over both models and all background types. The
test set is not touched. Writes one record per model (fmnist_cnn.book.records) to results/photo_prep.jsonl,
replacing the file (read by chapter 03, which derives the mean and worst gaps and the choice from them).

    python benchmarks/choose_photo_prep.py            # --n 1000: about 20 minutes on one CPU thread
"""
import argparse, time
from pathlib import Path
import numpy as np, torch
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import load_model, weights_path, read_meta
from fmnist_cnn.book.records import make_record, append_record, machine, study_path
from fmnist_cnn.evaluation import PHOTO_KINDS, synth_photo, prepare_steps, like_fmnist

CANDIDATES = [(None, s) for s in (0.5, 1., 1.5)] + [(t, s) for t in (56, 84, 112, 140) for s in (0., 0.25, 0.5, 1.)]

def photo_seed(kind:str, i:int) -> int: return 500_000 + 10_000*PHOTO_KINDS.index(kind) + i

def name(t, s) -> str: return f"resize, sharpen {s:g}" if t is None else f"thumbnail {t}, subsample, sharpen {s:g}"

def main(n=1000, out=None):
    torch.set_num_threads(1); t0 = time.time()
    x, y = next(iter(get_dls(bs=n, valid=10_000).valid))        # the first n validation images
    models = {m: load_model(m) for m in ('original', 'modern')}
    with torch.no_grad(): acc28 = {m: (net(x).argmax(1) == y).float().mean().item() for m, net in models.items()}
    gaps = {name(*c): {} for c in CANDIDATES}
    for kind in PHOTO_KINDS:
        crops = [prepare_steps(synth_photo(x[i], kind, photo_seed(kind, i)))['crop'] for i in range(n)]
        for t, s in CANDIDATES:
            xb = torch.stack([like_fmnist(c, s, t) for c in crops])
            with torch.no_grad():
                gaps[name(t, s)][kind] = {m: round(100*(acc28[m] - (net(xb).argmax(1) == y).float().mean().item()), 2)
                                          for m, net in models.items()}
        print(kind, f'{time.time() - t0:.0f}s', flush=True)
    mean = {c: round(float(np.mean([g[m] for g in gk.values() for m in models])), 2) for c, gk in gaps.items()}
    worst = {c: max(g[m] for g in gk.values() for m in models) for c, gk in gaps.items()}
    best = min(mean, key=mean.get)
    for c in gaps: print(f"{c:40s} mean gap {mean[c]:5.2f}  worst {worst[c]:5.2f}  " +
                         ' '.join(f"{k}:{g['original']:.1f}/{g['modern']:.1f}" for k, g in gaps[c].items()))
    print('chosen:', best)
    out = Path(out) if out else study_path('photo_prep')
    out.unlink(missing_ok=True)                                   # one measurement: the file holds its records only
    recs = [make_record('photo_prep', m, None, None, [], dict(n_train=None, n_valid=n, n_test=None),
                        what=f'points the shipped model {m!r} loses on synthetic photos of the first {n:,} validation '
                             'images against the same images at 28x28, for each candidate last step of like_fmnist',
                        machine=machine('cpu'),
                        extra=dict(model={k: read_meta(weights_path(m)).get(k) for k in ('arch', 'n_params', 'commit')},
                                   split='validation (the 10,000 held-out training images)',
                                   photo_seeds='500,000 + 10,000 x background index + image index',
                                   acc_28x28=round(acc28[m], 4), gap_points={c: {k: g[m] for k, g in gk.items()}
                                                                              for c, gk in gaps.items()},
                                   run_s=round(time.time() - t0)))
            for m in models]
    for rec in recs: append_record(rec, out)
    return recs

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1000); ap.add_argument('--out', help='default: results/photo_prep.jsonl')
    a = ap.parse_args(); main(a.n, a.out)
