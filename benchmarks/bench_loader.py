"""Benchmark: one epoch of batches of 32 through the in-memory loader vs torchvision's ToTensor pipeline.

Both run in this process, one after the other, twice (the better time of each counts), over the
60,000 training images with shuffling, doing nothing with the batches but touching them. Appends one record per
loader (fmnist_cnn.book.records) to results/bench_loader.jsonl.
Usage: python benchmarks/bench_loader.py [--bs 32] [--out FILE]
"""
import argparse, time
import torch
from torch.utils.data import DataLoader
from torchvision.datasets import FashionMNIST
from torchvision.transforms import ToTensor
from fmnist_cnn.data import find_data, get_dls
from fmnist_cnn.book.records import make_record, append_record, machine, study_path

def epoch_time(dl) -> tuple:
    t, n, s = time.perf_counter(), 0, 0.
    for xb, yb in dl: n += len(yb); s += float(xb[0, 0, 14, 14])   # touch each batch
    return time.perf_counter() - t, n

def report(recs:list) -> str:
    "The two records of one run as text: loading, each loader's epoch, and the speed-up of the in-memory one."
    mem, tv = recs
    lines = [f"one epoch of {mem['data']['n_train']:,} training images, batch size {mem['extra']['bs']}, "
             f"torch {mem['machine']['torch']}, {mem['machine']['threads']} threads",
             f"  loading both splits into memory once (get_dls): {mem['extra']['load_s']:.2f} s"]
    lines += [f"  {r['variant']:<36} {r['extra']['epoch_s']:6.2f} s/epoch  ({r['extra']['images_per_s']:,} images/s)"
              for r in recs]
    return '\n'.join(lines + [f"  speed-up of the in-memory loader: "
                              f"{mem['extra']['images_per_s']/tv['extra']['images_per_s']:.1f}x"])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0]); ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--out', help='default: results/bench_loader.jsonl')
    a = ap.parse_args(); bs = a.bs
    root = find_data()
    t = time.perf_counter(); dls = get_dls(bs=bs); t_load = time.perf_counter() - t
    tv = DataLoader(FashionMNIST(root, train=True, transform=ToTensor()), batch_size=bs, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
    res = {'in-memory (fmnist_cnn.get_dls)': [], 'torchvision ToTensor + DataLoader': []}
    for _ in range(2):
        for name, dl in zip(res, [dls.train, tv]): res[name].append(epoch_time(dl))
    recs = []
    for i, (name, v) in enumerate(res.items()):
        best, n = min(t for t, _ in v), v[0][1]
        recs.append(make_record('bench_loader', name, None, None, [], dict(n_train=n, n_valid=0, n_test=None),
                                what=f'one shuffled epoch of batches of {bs} through {name}', machine=machine('cpu'),
                                extra=dict(bs=bs, epoch_s=round(best, 2), images_per_s=round(n/best),
                                           **({'load_s': round(t_load, 2)} if i == 0 else {}))))
    for rec in recs: append_record(rec, a.out or study_path('bench_loader'))
    print(report(recs))

if __name__ == '__main__': main()
