"""The one experiment runner: train the variants of a study with several seeds, one record per (variant, seed).

A study is a data file, `studies/STUDY.json`:

    {"what": "what the study asks",
     "seeds": [0, 1, 2],                        # default seeds
     "run": {"n_train": null, "n_test": 100},   # images per run: null = all (training: all but the validation split)
     "variants": {"NAME": {"base": "a RECIPES name or another variant", "set": {"dotted.field": value, ...},
                           "what": "what this variant tests"}, ...}}

Each run trains `merge(base, **set, seed=SEED)` with `train` and appends one record (fmnist_cnn.book.records) to
`results/STUDY.jsonl`: the merged recipe, the machine, the commit, the data sizes, the history, and under `extra`
the training steps' timing: their number and median seconds, the first step's seconds and every step over 20 times
the median (torch.compile compiles in the first step, and again at each new input shape), so that the reader can
state a run's seconds with and without its compile. A (variant, seed) already recorded with the same data sizes is skipped, so a killed run resumes.
Usage: python scripts/run.py STUDY [--only NAME,...] [--seeds 0,1,2] [--jobs N] [--device D] [--out FILE]
                             [--n-train N] [--n-test N] [--epochs N] [--cold-cache] [--keep DIR] [--list]
  --jobs N        runs at once, each with cores/N threads (timed studies: 1)
  --cold-cache    each run compiles from an empty torch.compile cache, as a user's first run does
  --n-train N     a quick run on a subset (tests of the runner); records then go to --out only
  --epochs N      every run this many epochs (tests of the runner), with --out
  --keep DIR      keep each run's folder, DIR/VARIANT-sSEED: checkpoint, history, weights (model.pt) and metadata
"""
import argparse, json, multiprocessing as mp, os, shutil, signal, statistics, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT/'studies'

def error(msg:str):
    "Bad input: one line on stderr, exit status 2 (as argparse does)."
    print(f"run.py: error: {msg}", file=sys.stderr); sys.exit(2)

def load_study(name:str) -> dict:
    "The study file `name` (a name in studies/ or a path), checked: every variant resolves to a valid recipe."
    p = Path(name) if name.endswith('.json') else STUDIES/f'{name}.json'
    if not p.exists():
        known = sorted(f.stem for f in STUDIES.glob('*.json'))
        error(f"no study {name!r} ({p}); the studies are {known}")
    study = json.loads(p.read_text())
    bad = set(study) - {'what', 'seeds', 'run', 'variants'}
    if bad or "variants" not in study: error(f"{p}: unknown fields {sorted(bad)}, "
                                                        f"or no 'variants'")
    study['name'] = p.stem
    for v in study['variants']: resolve(study, v)                     # every variant's recipe is valid
    return study

def resolve(study:dict, name:str, seen=()) -> dict:
    "The full recipe of variant `name`: its base (a recipe or a variant) with its `set` applied, checked."
    from fmnist_cnn.training import RECIPES, merge, check_recipe
    vs = study['variants']
    if name not in vs: error(f"study {study['name']!r} has no variant {name!r}")
    v = vs[name]
    if set(v) - {'base', 'set', 'what'}: error(f"variant {name!r}: fields are base, set, what")
    base = v['base']
    if base in vs and base != name:
        if base in seen: error(f"variants {name!r} and {base!r} are each other's base")
        r = resolve(study, base, (*seen, name))
    elif base in RECIPES: r = RECIPES[base]
    else: error(f"variant {name!r}: base {base!r} is neither a recipe nor a variant")
    try: return check_recipe(merge(r, **v.get('set', {})))
    except ValueError as e: error(f"variant {name!r}: {e}")

def sizes(r:dict, n_train, n_test) -> dict:
    "The images a run of recipe `r` uses."
    return dict(n_train=n_train or 60_000 - r['data']['valid'], n_valid=r['data']['valid'], n_test=n_test or 10_000)

def run_one(job:dict) -> dict:
    "Train one (variant, seed) of a study; its record."
    import torch
    torch.set_num_threads(job['threads'])
    from fmnist_cnn.training import Callback, merge, train
    from fmnist_cnn.book.records import machine, make_record
    class StepTimer(Callback):
        "Seconds of every training step: the median, and the slow ones (a compile: the first step, a new shape)."
        def before_fit(self, run): self.secs = []
        def before_batch(self, run):
            if run.training: self.t0 = time.perf_counter()
        def after_step(self, run): self.secs.append(time.perf_counter() - self.t0)
    r = merge(job['recipe'], seed=job['seed'])
    cache = None
    if job['cold_cache']:
        cache = tempfile.mkdtemp(prefix='inductor-cold-'); os.environ['TORCHINDUCTOR_CACHE_DIR'] = cache
    torch._dynamo.reset()             # each run compiles afresh (from the disk cache unless --cold-cache)
    timer = StepTimer()
    out = Path(job['keep'])/f"{job['variant']}-s{job['seed']}" if job['keep'] else None
    if out is not None and out.exists(): shutil.rmtree(out)          # a killed run's folder: this run starts afresh
    _, hist = train(r, out, device=job['device'], progress=False, n_train=job['n_train'], n_test=job['n_test'],
                    cbs=[timer])
    med = statistics.median(timer.secs)
    slow = [[i, round(t, 3)] for i, t in enumerate(timer.secs) if t > 20*med]   # steps that compiled
    extra = dict(first_step_s=round(timer.secs[0], 3), steps=len(timer.secs), step_median_s=round(med, 5),
                 slow_steps=slow, compile_cache=('cold' if cache else 'warm') if r['precision']['compile'] else None)
    return make_record(job['study'], job['variant'], job['seed'], r, hist, sizes(r, job['n_train'], job['n_test']),
                       what=job['what'], machine=machine(job['device'], jobs=job['jobs']), extra=extra)

def _worker(q_in, q_out):
    while (job := q_in.get()) is not None:
        try: q_out.put(('ok', run_one(job)))
        except Exception as e: q_out.put(('error', dict(job={k: job[k] for k in ('variant', 'seed')},
                                                         error=f'{type(e).__name__}: {e}')))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('study', help='a study in studies/ (its name) or a .json path')
    ap.add_argument('--only', help='comma-separated variants (default: all)')
    ap.add_argument('--seeds', help="comma-separated seeds (default: the study's)")
    ap.add_argument('--jobs', type=int, default=1, help='runs at once (default 1: timed alone)')
    ap.add_argument('--device', default='cpu', help="where to train: cpu (default), cuda, cuda:1, mps")
    ap.add_argument('--out', help='the records file (default: results/STUDY.jsonl)')
    ap.add_argument('--n-train', type=int, help='train on a subset of this many images (tests)')
    ap.add_argument('--n-test', type=int, help="evaluate on this many test images (default: the study's)")
    ap.add_argument('--epochs', type=int, help='train every run this many epochs instead (tests; needs --out)')
    ap.add_argument('--cold-cache', action='store_true', help='compile from an empty cache in every run')
    ap.add_argument('--keep', help="keep each run's checkpoint, history and weights in KEEP/VARIANT-sSEED")
    ap.add_argument('--list', action='store_true', help='list the variants and their records, then stop')
    a = ap.parse_args(argv)
    study = load_study(a.study)
    names = a.only.split(',') if a.only else list(study['variants'])
    bad = [n for n in names if n not in study['variants']]
    if bad: ap.error(f"unknown variants {bad}; study {study['name']!r} has {list(study['variants'])}")
    try: seeds = [int(s) for s in a.seeds.split(',')] if a.seeds else study.get('seeds', [0, 1, 2])
    except ValueError: ap.error(f'--seeds takes comma-separated integers, got {a.seeds!r}')
    if a.jobs < 1: ap.error(f'--jobs must be at least 1, got {a.jobs}')
    import torch
    try: dev = torch.device(a.device)
    except RuntimeError: ap.error(f"--device must be a PyTorch device such as cpu or cuda, got {a.device!r}")
    if dev.type == 'cuda' and not torch.cuda.is_available(): ap.error('--device cuda: this machine has no CUDA GPU')
    if a.n_train is not None and a.n_train < 1: ap.error(f'--n-train must be at least 1, got {a.n_train}')
    if a.n_train and not a.out: ap.error('--n-train is for quick runs: give --out, so results/ keeps full runs only')
    if a.epochs is not None and (a.epochs < 1 or not a.out):
        ap.error(f'--epochs is for quick runs: at least 1, with --out (got {a.epochs})')
    if a.keep:
        try: Path(a.keep).mkdir(parents=True, exist_ok=True)
        except OSError as e: ap.error(f'--keep {a.keep!r}: cannot create the folder ({e.strerror})')
    from fmnist_cnn.book.records import read_records, append_record, study_path
    from fmnist_cnn.training import merge
    out = Path(a.out) if a.out else study_path(study['name'])
    n_test = a.n_test if a.n_test is not None else study.get('run', {}).get('n_test')
    n_train = a.n_train if a.n_train is not None else study.get('run', {}).get('n_train')
    recs = read_records(out) if out.exists() else []
    done = {(r['variant'], r['seed']) for r in recs                  # measurements without a recipe: not runs
            if r['recipe'] is not None and r['data'] == sizes(r['recipe'], n_train, n_test)
            and (not a.cold_cache or r['extra'].get('compile_cache') == 'cold')}
    if a.list:
        for n in study['variants']:
            got = sorted(s for v, s in done if v == n)
            print(f"{n:<28} {study['variants'][n].get('what', '')[:70]:<70} seeds done: {got}")
        return
    threads = max(1, (os.cpu_count() or 1)//a.jobs)
    shorten = (lambda r: r) if a.epochs is None else (lambda r: merge(r, epochs=a.epochs))
    jobs = [dict(study=study['name'], variant=n, seed=s, recipe=shorten(resolve(study, n)), what=study['variants'][n]['what'],
                 n_train=n_train, n_test=n_test, threads=threads, jobs=a.jobs, cold_cache=a.cold_cache,
                 device=a.device, keep=a.keep)
            for s in seeds for n in names if (n, s) not in done]
    print(f"{study['name']}: {len(jobs)} runs to do ({len(names)} variants x {len(seeds)} seeds, "
          f"{len(names)*len(seeds) - len(jobs)} recorded), {a.jobs} at a time with {threads} threads each", flush=True)
    if not jobs: return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # stopped: exit, and the workers (daemons) stop too
    ctx = mp.get_context('spawn'); q_in, q_out = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(q_in, q_out), daemon=True) for _ in range(min(a.jobs, len(jobs)))]
    for p in procs: p.start()
    for j in jobs: q_in.put(j)
    for _ in procs: q_in.put(None)
    from fmnist_cnn.book.records import acc, train_s, tflop
    failed, t0 = [], time.time()
    for i in range(len(jobs)):
        status, res = q_out.get()
        if status == 'error': failed.append(res); print(f"FAILED {res['job']}: {res['error']}", flush=True); continue
        append_record(res, out)
        v = acc(res, 'valid'); te = acc(res, 'test')
        print(f"[{time.time() - t0:6.0f}s] {res['variant']:<28} seed {res['seed']:>2}: "
              f"valid {'-' if v is None else f'{100*v:.2f}%'}, test {100*te:.2f}%, {tflop(res):.2f} TFLOP, "
              f"{train_s(res):.1f} s", flush=True)
    for p in procs: p.join()
    if failed: sys.exit(f"{len(failed)} runs failed: {failed}")

if __name__ == '__main__': main()
