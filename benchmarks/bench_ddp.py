"""Data parallelism on this machine: one process with N threads against N processes (torchrun, gloo) with one thread.

Trains the fast recipe for one epoch on --n-train images both ways, in one run, and prints the training time and
images per second of each (times from the runs' own history, evaluation excluded). Appends one record per way
(fmnist_cnn.book.records) to results/bench_ddp.jsonl.
Usage: python benchmarks/bench_ddp.py [--n 2] [--n-train 20000] [--out FILE]
"""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path
from fmnist_cnn.book.records import make_record, append_record, machine, study_path

def run(cmd, threads, out):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    r = subprocess.run(cmd + ['--out', str(out)], capture_output=True, text=True, env=env)
    if r.returncode: sys.exit(r.stderr[-3000:])
    h = json.loads((out/'history.json').read_text())
    return sum(x['train_time'] for x in h), 1 - h[-1]['test_err']

def report(recs:list) -> str:
    "The two records of one run as text: each way's training time, images per second and accuracy, the speed-up."
    one, ddp = recs
    m, e = one['machine'], one['extra']
    lines = [f"{m['cpu']}, {m['cores']} cores; fast recipe, 1 epoch on {one['data']['n_train']:,} images "
             f"(global batch {e['bs']})"]
    lines += [f"{r['variant']} : {r['extra']['train_s']:6.1f} s, {r['extra']['images_per_s']:6.0f} images/s, "
              f"test accuracy {100*r['extra']['test_acc']:.2f}%" for r in recs]
    return '\n'.join(lines + [f"speed-up of the {ddp['extra']['processes']} processes: "
                              f"{one['extra']['train_s']/ddp['extra']['train_s']:.2f}x"])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=2); ap.add_argument('--n-train', type=int, default=20_000)
    ap.add_argument('--out', help='default: results/bench_ddp.jsonl')
    a = ap.parse_args()
    train = ['-m', 'fmnist_cnn', 'train', '--recipe', 'fast', '--epochs', '1', '--n-train', str(a.n_train),
             '--valid', '0']
    with tempfile.TemporaryDirectory() as d:
        t1, acc1 = run([sys.executable] + train, a.n, Path(d)/'one')
        tn, accn = run([sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={a.n}']
                       + train, 1, Path(d)/'ddp')
    recs = []
    for v, procs, threads, t, acc in ((f'1 process x {a.n} threads', 1, a.n, t1, acc1),
                                      (f'{a.n} processes x 1 thread', a.n, 1, tn, accn)):
        recs.append(make_record('bench_ddp', v, None, None, [], dict(n_train=a.n_train, n_valid=0, n_test=10_000),
                                what=f'the fast recipe for 1 epoch on {a.n_train:,} training images in {v} '
                                     '(global batch 128)',
                                machine=dict(machine('cpu', jobs=procs), threads=threads),
                                extra=dict(recipe='fast', epochs=1, bs=128, processes=procs, train_s=round(t, 1),
                                           images_per_s=round(a.n_train/t), test_acc=round(acc, 4))))
    for rec in recs: append_record(rec, a.out or study_path('bench_ddp'))
    print(report(recs))

if __name__ == '__main__': main()
