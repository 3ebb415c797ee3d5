"""Benchmark: one epoch of batches of 32 through the in-memory loader vs torchvision's ToTensor pipeline.

Both run in this process, one after the other, twice (the better time of each counts), over the
60,000 training images with shuffling, doing nothing with the batches but touching them.
Usage: python scripts/bench_loader.py [--bs 32]
"""
import argparse, time
import torch
from torch.utils.data import DataLoader
from torchvision.datasets import FashionMNIST
from torchvision.transforms import ToTensor
from fmnist_cnn.data import find_data, get_dls

def epoch_time(dl) -> tuple:
    t, n, s = time.perf_counter(), 0, 0.
    for xb, yb in dl: n += len(yb); s += float(xb[0, 0, 14, 14])   # touch each batch
    return time.perf_counter() - t, n

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0]); ap.add_argument('--bs', type=int, default=32)
    bs = ap.parse_args().bs
    root = find_data()
    t = time.perf_counter(); dls = get_dls(bs=bs); t_load = time.perf_counter() - t
    tv = DataLoader(FashionMNIST(root, train=True, transform=ToTensor()), batch_size=bs, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
    res = {'in-memory (fmnist_cnn.get_dls)': [], 'torchvision ToTensor + DataLoader': []}
    for _ in range(2):
        for name, dl in zip(res, [dls.train, tv]): res[name].append(epoch_time(dl))
    print(f'one epoch of {res[next(iter(res))][0][1]:,} training images, batch size {bs}, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    print(f'  loading both splits into memory once (get_dls): {t_load:.2f} s')
    best = {k: min(t for t, _ in v) for k, v in res.items()}
    for k, v in best.items(): print(f'  {k:<36} {v:6.2f} s/epoch  ({res[k][0][1]/v:,.0f} images/s)')
    a, b = best.values()
    print(f'  speed-up of the in-memory loader: {b/a:.1f}x')

if __name__ == '__main__': main()
