"""How long a chapter's Run All takes on 2 CPU cores: measured, stated in the chapter, and checked by CI.

--measure NB ...  runs each notebook alone, top to bottom, as Run All would (execnb, as tools/test_anywhere.py runs
                  them, PyTorch on 2 threads), and appends one record per notebook (fmnist_cnn.book.records) to
                  results/chapter_times.jsonl: the notebook as `variant`, machine, code version, date, and the
                  seconds in `extra['seconds']`;
--record FILE     appends to results/chapter_times.jsonl the per-notebook seconds of a tools/test_anywhere.py run
                  (its --times FILE), with this machine and the conditions of that run, which are CI's: two notebooks
                  at once, one PyTorch thread each, under ATEN_CPU_CAPABILITY as set here (what --check compares);
--write [NB ...]  puts the latest measured time into each chapter (default: every chapter measured), as the first line
                  of its first markdown cell after the title cell (the title cell becomes the docs page's front matter,
                  so a line there would not reach the site), replacing a line it wrote before:
                  `*Run All: about 3 minutes on 2 CPU cores (measured; see results/chapter_times.jsonl)*`;
--check FILE      CI: FILE holds the per-notebook seconds that tools/test_anywhere.py measured (its --times option,
                  JSON Lines {name, seconds}); exit 1, one line per chapter, if a chapter took more than twice its
                  stated time or (stated at a minute or more) less than half of it. Chapters without a stated
                  time are listed, not failed.
Usage: python tools/chapter_times.py --measure nbs/00_data.ipynb ... | --record FILE | --write | --check FILE
"""
import argparse, json, math, os, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT/'results'/'chapter_times.jsonl'
LINE = re.compile(r'^\*Run All: about (\d+) (seconds|minutes?) on 2 CPU cores '
                  r'\(measured; see results/chapter_times\.jsonl\)\*$', re.M)

RUNNER = r'''
import os, sys, time
from pathlib import Path
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
p = Path(sys.argv[1]); os.chdir(p.parent)
t = time.time()
CaptureShell(p).run_all(read_nb(p), exc_stop=True)
print(f'SECONDS {time.time() - t:.1f}')
'''

def stated_line(seconds:float) -> str:
    "The line a chapter states: seconds rounded up to 10 under two minutes, else minutes rounded up."
    if seconds < 120: return (f'*Run All: about {max(10, 10*math.ceil(seconds/10))} seconds on 2 CPU cores '
                              f'(measured; see results/chapter_times.jsonl)*')
    m = math.ceil(seconds/60)
    return f'*Run All: about {m} minutes on 2 CPU cores (measured; see results/chapter_times.jsonl)*'

def stated_seconds(text:str):
    "The seconds a chapter's stated line says, or None without one."
    m = LINE.search(text)
    return None if m is None else int(m[1])*(1 if m[2] == 'seconds' else 60)

def _target(nb:dict) -> dict:
    "The chapter's first markdown cell after its title cell."
    return next(c for c in nb['cells'][1:] if c['cell_type'] == 'markdown')

def write_time(path:Path, seconds:float) -> bool:
    "Put (or replace) the stated time in notebook `path`; True if the file changed. One read-modify-write."
    nb = json.loads(Path(path).read_text())
    c = _target(nb); s = ''.join(c['source'])
    new = stated_line(seconds)
    s2 = LINE.sub(new, s, count=1) if LINE.search(s) else new + '\n\n' + s
    if s2 == s: return False
    c['source'] = s2.splitlines(True)
    Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return True

def chapter_stated(path:Path):
    "The stated seconds of notebook `path` (None if it states none)."
    nb = json.loads(Path(path).read_text())
    return stated_seconds(''.join(_target(nb)['source']))

def check_times(measured:dict, chapters:list) -> list:
    "One line per chapter whose measured seconds are over 2x or under half its stated time; `measured`: name -> s."
    bad = []
    for p in chapters:
        want, got = chapter_stated(p), measured.get(Path(p).stem)
        if want is None or got is None: continue
        # under a minute the stated line's rounding (up to 10 s) outweighs the run, so only running over 2x fails
        if got > 2*want or (want >= 60 and got < want/2):
            bad.append(f'{Path(p).stem}: Run All took {got:.0f} s here, the chapter states about {want} s '
                       f'(run tools/chapter_times.py --measure and --write)')
    return bad

def record(name:str, seconds:float, threads:int, jobs:int, **extra) -> dict:
    "One notebook's Run All seconds as a record (fmnist_cnn.book.records), with this machine and code version."
    from fmnist_cnn.book.records import make_record, machine
    return make_record('chapter_times', name, None, None, [], dict(n_train=None, n_valid=None, n_test=None),
                       what=f'Run All of {name}.ipynb', machine=dict(machine('cpu', jobs=jobs), threads=threads),
                       extra=dict(seconds=round(seconds, 1), data='full', **extra))

def measure(paths:list):
    env = dict(os.environ, OMP_NUM_THREADS='2', MPLBACKEND='Agg', FMNIST_PROGRESS='0')
    for p in map(Path, paths):
        t = time.time()
        r = subprocess.run([sys.executable, '-c', RUNNER, str(p.resolve())], env=env, capture_output=True, text=True)
        if r.returncode: sys.exit(f'{p.name} failed:\n{r.stderr[-3000:]}')
        secs = float(re.search(r'SECONDS ([\d.]+)', r.stdout)[1])
        from fmnist_cnn.book.records import append_record
        append_record(record(p.stem, secs, threads=2, jobs=1), RECORD)
        print(f'{p.name}: {secs:.0f} s (process {time.time() - t:.0f} s)', flush=True)

def record_times(times_file:Path):
    "Append the seconds test_anywhere.py measured (JSON Lines {name, seconds}) to the record, as CI's conditions."
    lines = [json.loads(l) for l in Path(times_file).read_text().splitlines() if l.strip()]
    if not lines: sys.exit(f'{times_file}: no measured notebooks in it (run tools/test_anywhere.py --times FILE)')
    cond = dict(runner='tools/test_anywhere.py', jobs=2, threads_per_notebook=1,
                aten_cpu_capability=os.environ.get('ATEN_CPU_CAPABILITY', 'default of this CPU'))
    from fmnist_cnn.book.records import append_record
    for r in lines: append_record(record(r['name'], r['seconds'], threads=1, jobs=2, conditions=cond), RECORD)
    print(f'{len(lines)} notebooks recorded in {RECORD.relative_to(ROOT)}')

def latest(record:Path=RECORD) -> dict:
    "name -> seconds of the latest measurement of each notebook in `record`."
    from fmnist_cnn.book.records import read_records
    return {r['variant']: r['extra']['seconds'] for r in read_records(Path(record))}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--measure', nargs='+', metavar='NB'); g.add_argument('--write', nargs='*', metavar='NB')
    g.add_argument('--check', metavar='FILE'); g.add_argument('--record', metavar='FILE')
    a = ap.parse_args()
    chapters = sorted((ROOT/'nbs').glob('[0-9][0-9]_*.ipynb'))
    if a.measure: return measure(a.measure)
    if a.record: return record_times(a.record)
    if a.write is not None:
        times = latest()
        for p in (map(Path, a.write) if a.write else [c for c in chapters if c.stem in times]):
            if p.stem not in times: sys.exit(f'{p.name}: not measured yet (run --measure {p} first)')
            print(f"{p.name}: {'updated' if write_time(p, times[p.stem]) else 'unchanged'} ({times[p.stem]:.0f} s)")
        return
    measured = {}
    for l in Path(a.check).read_text().splitlines():
        if l.strip(): r = json.loads(l); measured[r['name']] = r['seconds']
    unstated = [p.stem for p in chapters if chapter_stated(p) is None]
    if unstated: print('no stated Run All time (not checked):', ', '.join(unstated))
    bad = check_times(measured, chapters)
    for b in bad: print('FAIL', b)
    if bad: sys.exit(1)
    print(f'{len(chapters) - len(unstated)} chapters within a factor of 2 of their stated Run All time')

if __name__ == '__main__': main()
