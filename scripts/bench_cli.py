"""How long `fmnist-cnn --help` takes: this checkout against another (e.g. the commit before lazy imports), in one run.

    git worktree add /tmp/before <commit>; python scripts/bench_cli.py --before /tmp/before [--n 7]

Each round starts a fresh Python for each checkout in turn (alternating, so a busy machine slows both alike) and
times the whole command; the record is the median over the rounds, and which heavy modules each one imported.
"""
import argparse, os, platform, statistics, subprocess, sys, time
from pathlib import Path

PROBE = ("import sys; from fmnist_cnn.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n"
         "print('LOADED', sorted(m for m in ('torch', 'matplotlib', 'sklearn', 'PIL', 'fastprogress') if m in sys.modules))")

def once(root:Path) -> tuple:
    env = os.environ | {'PYTHONPATH': str(root)}
    t0 = time.perf_counter(); r = subprocess.run([sys.executable, '-c', PROBE], env=env, cwd=root, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    return dt, next(l for l in r.stdout.splitlines() if l.startswith('LOADED'))[7:]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--before', required=True, help='a checkout of the code to compare with')
    ap.add_argument('--n', type=int, default=7)
    a = ap.parse_args()
    roots = {'before': Path(a.before).resolve(), 'now': Path(__file__).resolve().parents[1]}
    times = {k: [] for k in roots}; loaded = {}
    for _ in range(a.n):
        for k, root in roots.items(): dt, loaded[k] = once(root); times[k].append(dt)
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    print(f'fmnist-cnn --help, median of {a.n} fresh processes each, alternating; {cpu}, {os.cpu_count()} cores')
    for k in roots: print(f'{k:>7}: {statistics.median(times[k]):.2f} s   imports {loaded[k]}')
    print(f'  ratio: {statistics.median(times["before"])/statistics.median(times["now"]):.1f}x faster')

if __name__ == '__main__': main()
