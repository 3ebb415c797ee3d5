"""Data parallelism on this machine: one process with N threads against N processes (torchrun, gloo) with one thread.

Trains the fast recipe for one epoch on --n-train images both ways, in one run, and prints the training time and
images per second of each (times from the runs' own history, evaluation excluded). Writes results/bench_ddp.txt.
Usage: python scripts/bench_ddp.py [--n 2] [--n-train 20000] [--out results/bench_ddp.txt]
"""
import argparse, json, os, platform, subprocess, sys, tempfile
from pathlib import Path

def run(cmd, threads, out):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    r = subprocess.run(cmd + ['--out', str(out)], capture_output=True, text=True, env=env)
    if r.returncode: sys.exit(r.stderr[-3000:])
    h = json.loads((out/'history.json').read_text())
    return sum(x['train_time'] for x in h), 1 - h[-1]['test_err']

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=2); ap.add_argument('--n-train', type=int, default=20_000)
    ap.add_argument('--out', default='results/bench_ddp.txt')
    a = ap.parse_args()
    train = ['-m', 'fmnist_cnn', 'train', '--recipe', 'fast', '--epochs', '1', '--n-train', str(a.n_train), '--valid', '0']
    lines = [f'{platform.machine()}, {os.cpu_count()} cores; fast recipe, 1 epoch on {a.n_train:,} images (global batch 128)']
    with tempfile.TemporaryDirectory() as d:
        t1, acc1 = run([sys.executable] + train, a.n, Path(d)/'one')
        tn, accn = run([sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={a.n}'] + train, 1, Path(d)/'ddp')
    lines += [f'1 process x {a.n} threads : {t1:6.1f} s, {a.n_train/t1:6.0f} images/s, test accuracy {100*acc1:.2f}%',
              f'{a.n} processes x 1 thread : {tn:6.1f} s, {a.n_train/tn:6.0f} images/s, test accuracy {100*accn:.2f}%',
              f'speed-up of the {a.n} processes: {t1/tn:.2f}x']
    print('\n'.join(lines)); Path(a.out).write_text('\n'.join(lines) + '\n')

if __name__ == '__main__': main()
