"""Run every chapter top to bottom as a reader would, somewhere without a local copy of the data.

What it sets up, then checks:
- a fresh virtual environment that sees the project's dependencies but not the project itself, nor its optional
  extras (Gradio, Captum, Selenium), so each chapter's install cell (the one Colab runs) installs `fmnist_cnn`
  for real, from this checkout, without extras (the demo chapter installs `[demo]` itself, as it does on Colab);
- no system copy of Fashion-MNIST (`FMNIST_SYSTEM_DIRS=`), no `FMNIST_DATA`, an empty cache, and a
  download mirror on 127.0.0.1 that this script starts and feeds from the local files: the download,
  verification and preparation path runs for real;
- every cell of every notebook runs, in `nbs/`, in order, as Jupyter's Run All would (`#| slow` cells too,
  with the chapters' switches at their defaults); the notebooks themselves are not saved;
- afterwards `git status` must be what it was before: no tracked file changed, no file appeared.

Usage: python tools/test_anywhere.py [NOTEBOOK ...] [--keep] [--times FILE]   (default: every notebook in nbs/)
Exit 1 on the first failing cell (with its traceback) or on a changed working tree.
"""
import argparse, gzip, os, shutil, subprocess, sys, sysconfig, tempfile, time, venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUNNER = r'''
import os, sys, time
from pathlib import Path
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
for p in map(Path, sys.argv[1:]):
    t = time.time(); os.chdir(p.parent)
    nb = read_nb(p)
    sh = CaptureShell(p)
    try: sh.run_all(nb, exc_stop=True)          # every code cell, like Run All; outputs are kept in memory only
    except Exception as e:
        print(f'FAILED: {p.name}', flush=True); raise
    print(f'{p.name}: every cell ran in {time.time()-t:.0f} s', flush=True)
    if os.environ.get('FMNIST_NB_TIMES'):                 # --times: one JSON line per notebook (appended, O_APPEND)
        with open(os.environ['FMNIST_NB_TIMES'], 'a') as f:
            f.write('{"name": "%s", "seconds": %.1f}\n' % (p.stem, time.time() - t))
'''

def git_state() -> str:
    "Tracked changes and untracked files of the checkout (ignored files excluded)."
    return subprocess.run(['git', 'status', '--porcelain', '--untracked-files=all'], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout

EXTRAS = ('gradio', 'captum', 'selenium')   # the optional extras' packages: a learner's install has none of them

def make_venv(d:Path) -> Path:
    "A virtual environment with pip that sees this interpreter's packages (torch, execnb, ...) but not fmnist_cnn."
    venv.EnvBuilder(with_pip=True).create(d)
    py = d/'bin'/'python'
    site = subprocess.run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the outer packages as a plain path entry (its .pth files, the editable install of this checkout among them,
    # are not processed, so `import fmnist_cnn` fails until the install cell runs), without the optional extras:
    # the library installed as on Colab, without `[demo]` or `[dev]` (a chapter that needs one installs it)
    outer, view = Path(sysconfig.get_paths()['purelib']), d/'outer'
    view.mkdir()
    for e in outer.iterdir():
        if e.suffix != '.pth' and not e.name.lower().startswith(EXTRAS): (view/e.name).symlink_to(e)
    Path(site, '_outer.pth').write_text(f'{view}\n')
    probe = ('import importlib.util as u; print(u.find_spec("fmnist_cnn") is None, u.find_spec("torch") is not None, '
             f'all(u.find_spec(m) is None for m in {EXTRAS!r}))')
    check = subprocess.run([py, '-c', probe], capture_output=True, text=True, cwd=d).stdout.split()
    if check != ['True', 'True', 'True']:
        sys.exit(f'test_anywhere: the fresh environment is not what it should be: {check}')
    return py

def mirror_files(d:Path):
    "The four .gz files for the loopback mirror, from the local copy (recompressed from the verified data)."
    from fmnist_cnn.data import find_data, IDX_FILES
    raw = find_data()/'FashionMNIST'/'raw'
    for n in IDX_FILES: (d/f'{n}.gz').write_bytes(gzip.compress((raw/n).read_bytes(), compresslevel=1, mtime=0))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*'); ap.add_argument('--keep', action='store_true', help='keep the temporary folder')
    ap.add_argument('--jobs', type=int, default=2, help='notebooks run in this many processes at once (after the first)')
    ap.add_argument('--times', help='append each notebook\'s seconds to this file, one JSON line {name, seconds} each '
                                    '(tools/chapter_times.py --check reads it); keep it outside the checkout')
    a = ap.parse_args()
    nbs = [Path(p).resolve() for p in a.notebooks] or sorted(ROOT.glob('nbs/*.ipynb'))
    before, t0 = git_state(), time.time()
    tmp = Path(tempfile.mkdtemp(prefix='fmnist-anywhere-'))
    try:
        (tmp/'mirror').mkdir(); mirror_files(tmp/'mirror')
        py = make_venv(tmp/'venv')
        print(f'fresh environment without fmnist_cnn, mirror ready ({time.time()-t0:.0f} s)', flush=True)
        from fmnist_cnn.data import local_mirror
        env = {k: v for k, v in os.environ.items() if k not in ('FMNIST_DATA', 'FMNIST_UPDATE_FIGURES', 'VIRTUAL_ENV', 'PYTHONPATH')}
        if a.times: env['FMNIST_NB_TIMES'] = str(Path(a.times).resolve())
        env.update(FMNIST_SYSTEM_DIRS='', XDG_CACHE_HOME=str(tmp/'cache'), FMNIST_PIP_SPEC=ROOT.as_uri(), FMNIST_PROGRESS='0',
                   MPLBACKEND='Agg', PATH=f"{py.parent}{os.pathsep}{env.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK='1')
        with local_mirror(tmp/'mirror') as url:
            env['FMNIST_MIRROR'] = url
            # the first notebook alone: its install cell installs the package and its cells download the data;
            # the others then share both, in `--jobs` processes (the biggest notebooks spread first)
            first, rest = nbs[0], sorted(nbs[1:], key=lambda p: -p.stat().st_size)
            groups = [[first]] + ([rest[i::a.jobs] for i in range(a.jobs)] if rest else [])
            procs = [subprocess.Popen([py, '-c', RUNNER, *map(str, groups[0])], env=env, cwd=tmp)]
            if procs[0].wait(): sys.exit('test_anywhere: a notebook failed (see above)')
            # the cores shared out between the processes: PyTorch's threads, more than the cores, wait on each other
            env.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1)//a.jobs)))
            procs = [subprocess.Popen([py, '-c', RUNNER, *map(str, g)], env=env, cwd=tmp) for g in groups[1:] if g]
            if any([p.wait() for p in procs]): sys.exit('test_anywhere: a notebook failed (see above)')
        where = subprocess.run([py, '-c', 'import fmnist_cnn; print(fmnist_cnn.__file__)'], capture_output=True, text=True, cwd=tmp).stdout
        if not where.startswith(str(tmp/'venv')): sys.exit(f'test_anywhere: fmnist_cnn was not installed by the install cell: {where!r}')
        cached = sorted(p.name for p in (tmp/'cache'/'fmnist_cnn'/'FashionMNIST'/'raw').glob('*-ubyte'))
        if not a.notebooks and len(cached) != 4: sys.exit(f'test_anywhere: the data did not come through the download: {cached}')
    finally:
        if not a.keep: shutil.rmtree(tmp, ignore_errors=True)
    after = git_state()
    if after != before:
        sys.exit('test_anywhere: running the notebooks changed the checkout:\n' +
                 '\n'.join(sorted(set(after.splitlines()) ^ set(before.splitlines()))))
    print(f'{len(nbs)} notebooks ran top to bottom without local data, installed from the checkout; '
          f'the checkout is unchanged ({time.time()-t0:.0f} s)')

if __name__ == '__main__': main()
