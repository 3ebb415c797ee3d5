"""Accuracy of the shipped models on synthetic photos of Fashion-MNIST test images, per background type.

For each background type of `synth_photo` and the first N test images (seed = 10,000 x type index + image
index), the photo goes through `prepare_image`, through `prepare_image` with the previous last step (one
antialiased resize to 28x28 and sharpening 1 instead of thumbnail, subsampling and sharpening 0.25; see
scripts/choose_photo_prep.py), and through the simple preprocessing of the first version (threshold crop, no
background model); every shipped model classifies the results, and the same images at 28x28 give the reference.
Writes results/photos.json (read by chapter 03's `photo_table` and `photo_prep_compare`).

    python scripts/bench_photos.py            # N=1000: about 10 minutes on one CPU thread
"""
import argparse, json, time
from pathlib import Path
import numpy as np, torch
import torch.nn.functional as F
from fmnist_cnn.data import load_tensors, CLASSES
from fmnist_cnn.model import load_model, shipped_weights
from fmnist_cnn.evaluation import PHOTO_KINDS, synth_photo, prepare_steps, like_fmnist, load_gray

def prepare_simple(img, thresh=0.1) -> torch.Tensor:
    "The preprocessing before the background model: invert a light border, crop to pixels above `thresh`, resize."
    g = load_gray(img)
    if np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]]).mean() > 0.5: g = 1 - g
    rows, cols = np.nonzero(g > thresh)
    if len(rows): g = g[rows.min():rows.max()+1, cols.min():cols.max()+1]
    h, w = g.shape; s = max(h, w)
    sq = np.zeros((s, s), np.float32); sq[(s-h)//2:(s-h)//2+h, (s-w)//2:(s-w)//2+w] = g
    return F.interpolate(torch.from_numpy(sq)[None, None], size=(28, 28), mode='bilinear', antialias=True, align_corners=False)[0].clamp(0, 1)

def photo_seed(kind:str, i:int) -> int: return 10_000*PHOTO_KINDS.index(kind) + i

def main(n=1000, n_check=50, out='results/photos.json'):
    torch.set_num_threads(1); t0 = time.time()
    x, y = load_tensors(train=False); x, y = x[:n], y[:n]
    order = ['original', 'modern', 'tiny', 'small', 'best']
    names = order + [m for m in shipped_weights() if m not in order]
    models = {name: load_model(name).float() for name in names}                 # every shipped model, in float32
    with torch.no_grad(): ref = {name: m(x).argmax(1) for name, m in models.items()}
    res = dict(n=n, seeds='10,000 x background index + test image index', kinds=list(PHOTO_KINDS),
               acc_28x28={name: round((p == y).float().mean().item(), 4) for name, p in ref.items()}, photo={}, resize={}, simple={}, check={})
    for kind in PHOTO_KINDS:
        photos = [synth_photo(x[i], kind, photo_seed(kind, i)) for i in range(n)]
        steps = [prepare_steps(p) for p in photos]
        xb, xs = torch.stack([st['x'] for st in steps]), torch.stack([prepare_simple(p) for p in photos])
        xr = torch.stack([like_fmnist(st['crop'], sharpen=1., thumb=None) for st in steps])    # the previous last step
        with torch.no_grad():
            for name, m in models.items():
                preds = {key: m(xx).argmax(1) for key, xx in (('photo', xb), ('resize', xr), ('simple', xs))}
                for key, p in preds.items(): res[key].setdefault(kind, {})[name] = round((p == y).float().mean().item(), 4)
                res['check'].setdefault(kind, {})[name] = preds['photo'][:n_check].tolist()     # the notebook recomputes these
        print(kind, res['photo'][kind], 'resize:', res['resize'][kind], 'simple:', res['simple'][kind], f'{time.time() - t0:.0f}s', flush=True)
    res['time_s'] = round(time.time() - t0)
    Path(out).parent.mkdir(parents=True, exist_ok=True); Path(out).write_text(json.dumps(res, indent=1) + '\n')
    return res

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1000); ap.add_argument('--out', default='results/photos.json')
    a = ap.parse_args(); main(a.n, out=a.out)
