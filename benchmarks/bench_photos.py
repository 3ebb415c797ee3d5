"""Accuracy of the shipped models on synthetic photos of Fashion-MNIST test images, per background type.

For each background type of `synth_photo` and the first N test images (seed = 10,000 x type index + image
index), the photo goes through `prepare_image`, through `prepare_image` with the previous last step (one
antialiased resize to 28x28 and sharpening 1 instead of thumbnail, subsampling and sharpening 0.25; see
benchmarks/choose_photo_prep.py), and through the simple preprocessing of the first version (threshold crop, no
background model); every shipped model classifies the results, and the same images at 28x28 give the reference.
Writes one record per model (fmnist_cnn.book.records) to results/photos.jsonl, replacing the file (read by chapter
03's `photo_table` and `photo_prep_compare`).

    python benchmarks/bench_photos.py            # N=1000: about a quarter of an hour on one CPU thread
"""
import argparse, time
from pathlib import Path
import numpy as np, torch
import torch.nn.functional as F
from fmnist_cnn.data import load_tensors, CLASSES
from fmnist_cnn.model import load_model, shipped_weights, weights_path, read_meta
from fmnist_cnn.book.records import make_record, append_record, machine, study_path
from fmnist_cnn.evaluation import PHOTO_KINDS, synth_photo, prepare_steps, like_fmnist, load_gray

def prepare_simple(img, thresh=0.1) -> torch.Tensor:
    "The preprocessing before the background model: invert a light border, crop to pixels above `thresh`, resize."
    g = load_gray(img)
    if np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]]).mean() > 0.5: g = 1 - g
    rows, cols = np.nonzero(g > thresh)
    if len(rows): g = g[rows.min():rows.max()+1, cols.min():cols.max()+1]
    h, w = g.shape; s = max(h, w)
    sq = np.zeros((s, s), np.float32); sq[(s-h)//2:(s-h)//2+h, (s-w)//2:(s-w)//2+w] = g
    return F.interpolate(torch.from_numpy(sq)[None, None], size=(28, 28), mode='bilinear', antialias=True,
                         align_corners=False)[0].clamp(0, 1)

def photo_seed(kind:str, i:int) -> int: return 10_000*PHOTO_KINDS.index(kind) + i

def model_meta(name:str) -> dict:
    "What a record keeps of a shipped model: the metadata that identify its weights."
    meta = read_meta(weights_path(name))
    return {k: meta.get(k) for k in ('arch', 'n_params', 'test_acc', 'commit', 'recipe')}

def main(n=1000, n_check=50, out=None):
    torch.set_num_threads(1); t0 = time.time()
    x, y = load_tensors(train=False); x, y = x[:n], y[:n]
    order = ['original', 'modern', 'tiny', 'small', 'best']
    names = order + [m for m in shipped_weights() if m not in order]
    models = {name: load_model(name).float() for name in names}                 # every shipped model, in float32
    with torch.no_grad(): ref = {name: m(x).argmax(1) for name, m in models.items()}
    res = dict(n=n, seeds='10,000 x background index + test image index', kinds=list(PHOTO_KINDS),
               acc_28x28={name: round((p == y).float().mean().item(), 4) for name, p in ref.items()},
               photo={}, resize={}, simple={}, check={})
    for kind in PHOTO_KINDS:
        photos = [synth_photo(x[i], kind, photo_seed(kind, i)) for i in range(n)]
        steps = [prepare_steps(p) for p in photos]
        xb, xs = torch.stack([st['x'] for st in steps]), torch.stack([prepare_simple(p) for p in photos])
        xr = torch.stack([like_fmnist(st['crop'], sharpen=1., thumb=None) for st in steps])    # the previous last step
        with torch.no_grad():
            for name, m in models.items():
                preds = {key: m(xx).argmax(1) for key, xx in (('photo', xb), ('resize', xr), ('simple', xs))}
                for key, p in preds.items():
                    res[key].setdefault(kind, {})[name] = round((p == y).float().mean().item(), 4)
                res['check'].setdefault(kind, {})[name] = preds['photo'][:n_check].tolist()   # chapter 03 recomputes
        print(kind, res['photo'][kind], 'resize:', res['resize'][kind], 'simple:', res['simple'][kind],
              f'{time.time() - t0:.0f}s', flush=True)
    run_s = round(time.time() - t0)
    out = Path(out) if out else study_path('photos')
    out.unlink(missing_ok=True)                                   # one measurement: the file holds its records only
    recs = [make_record('photos', name, None, None, [], dict(n_train=None, n_valid=None, n_test=n),
                        what=f'the shipped model {name!r} on synthetic photos of the first {n:,} test images on each '
                             'background, prepared by prepare_image, by prepare_image ending in one resize, and by '
                             'the simple preprocessing; and on the same images at 28x28',
                        machine=machine('cpu'),
                        extra=dict(model=model_meta(name), kinds=res['kinds'], photo_seeds=res['seeds'],
                                   acc_28x28=res['acc_28x28'][name],
                                   **{k: {kind: res[k][kind][name] for kind in PHOTO_KINDS}
                                      for k in ('photo', 'resize', 'simple', 'check')}, run_s=run_s))
            for name in names]
    for rec in recs: append_record(rec, out)
    return recs

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1000); ap.add_argument('--out', help='default: results/photos.jsonl')
    a = ap.parse_args(); main(a.n, out=a.out)
