"""The one record shape and the one runner: every file in results/ passes the schema, every study runs.

Each study in studies/ runs its first variant for one seed on a tiny subset (the runner end to end: resolve the
recipe, train, write a record, skip it when asked again), then the reader checks what came back. Every file in
results/ is read back through `read_records`, which checks every line against the record shape.
"""
import importlib.util, json, subprocess, sys
from pathlib import Path
import pytest
from fmnist_cnn.book.records import (read_records, check_record, acc, train_s, tflop, reached, summary, RECORD_KEYS,
                                     SCHEMA)
from fmnist_cnn.training import recipe_diff, merge, RECIPES

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted(p.stem for p in (ROOT/'studies').glob('*.json'))
_spec = importlib.util.spec_from_file_location('run', ROOT/'scripts'/'run.py')
RUNNER = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(RUNNER)
RESULTS = sorted((ROOT/'results').glob('*'))

def run(*args, **kw):
    return subprocess.run([sys.executable, str(ROOT/'scripts'/'run.py'), *args], capture_output=True, text=True,
                          cwd=ROOT, **kw)

def test_results_hold_only_records():
    "results/ holds JSON Lines files of records and nothing else."
    assert RESULTS, 'results/ is empty'
    assert [p.name for p in RESULTS if p.suffix != '.jsonl'] == []

@pytest.mark.parametrize('path', [p for p in RESULTS if p.suffix == '.jsonl'], ids=lambda p: p.name)
def test_every_record_has_the_shape(path):
    "Every line checks: a recipe (or none: a measurement), the machine (null where it went unrecorded), the code."
    recs = read_records(path)
    assert recs, f'{path.name} holds no records'
    for r in recs:
        assert list(r) == list(RECORD_KEYS) or set(r) == set(RECORD_KEYS)
        # one file per study; a study timed on several machines keeps one file per machine: STUDY-MACHINE.jsonl
        assert r['schema'] == SCHEMA and (path.stem == r['study'] or path.stem.startswith(r['study'] + '-')), (
            path.name, r['study'])
        assert set(r['machine']) >= {'cpu', 'flags', 'kernels', 'threads', 'jobs', 'device', 'torch', 'load'}
        assert set(r['code']) == {'commit', 'dirty'}
        assert (r['recipe'] is None) == (r['history'] == []), 'a training record has both, a measurement neither'

@pytest.mark.parametrize('study', STUDIES)
def test_study_runs_and_reads_back(study, tmp_path):
    "A study's first variant, one seed, on a tiny subset: one record; asked again, nothing to do."
    spec = json.loads((ROOT/'studies'/f'{study}.json').read_text())
    name = next(iter(spec['variants']))
    bs = RUNNER.resolve(RUNNER.load_study(study), name)['data']['bs']
    n = max(600, 4*bs)                                   # one epoch of at least 4 steps: a one-cycle schedule's least
    out = tmp_path/f'{study}.jsonl'
    args = [study, '--only', name, '--seeds', '0', '--n-train', str(n), '--n-test', '200', '--epochs', '1',
            '--out', str(out)]
    res = run(*args)
    assert res.returncode == 0, res.stderr[-2000:]
    (rec,) = read_records(out)
    assert (rec['study'], rec['variant'], rec['seed']) == (study, name, 0)
    assert rec['data']['n_train'] == n and rec['data']['n_test'] == 200
    assert len(rec['history']) == rec['recipe']['epochs'] == 1 and rec['code']['commit'] is not None
    assert 0 <= acc(rec, 'test') <= 1 and train_s(rec) > 0 and tflop(rec) > 0
    bs, compiled = rec['recipe']['data']['bs'], rec['recipe']['precision']['compile']
    per_epoch = n//bs if compiled else -(-n//bs)                     # a compiled run drops the last, smaller batch
    assert rec['extra']['steps'] == rec['recipe']['epochs']*per_epoch and rec['extra']['step_median_s'] > 0
    again = run(*args)
    assert again.returncode == 0 and '0 runs to do' in again.stdout, again.stdout
    assert len(read_records(out)) == 1

def test_runner_keeps_each_run(tmp_path):
    "--keep DIR: each run's weights and metadata in DIR/VARIANT-sSEED, the same run as its record."
    from fmnist_cnn.model import load_model, read_meta
    out, keep = tmp_path/'r.jsonl', tmp_path/'keep'
    res = run('cpu94-test', '--only', 'sr4-25ep', '--seeds', '3', '--n-train', '1200', '--n-test', '200',
              '--epochs', '1', '--out', str(out), '--keep', str(keep))
    assert res.returncode == 0, res.stderr[-2000:]
    (rec,) = read_records(out)
    meta = read_meta(keep/f"{rec['variant']}-s3"/'model.pt')
    assert recipe_diff(meta['recipe'], rec['recipe']) == [] and meta['recipe']['seed'] == 3
    assert meta['test_acc'] == round(acc(rec, 'test'), 4) and meta['valid_acc'] == round(acc(rec), 4)
    assert meta['history'] == rec['history']
    load_model(keep/f"{rec['variant']}-s3"/'model.pt')                           # the weights load as shipped ones do

def test_reader_figures_by_hand(tmp_path):
    "acc, train_s, tflop, reached and summary against figures computed by hand from a record's fields."
    from fmnist_cnn.book.records import make_record
    from fmnist_cnn.model import build_model, mflops
    r = merge(RECIPES['fast'], epochs=2)
    hist = [dict(epoch=e, train_loss=1., train_err=.3, valid_loss=1., valid_err=v, test_loss=1., test_err=t, time=3.,
                 train_time=2.5, elapsed=3.*e) for e, v, t in [(1, .2, .25), (2, .1, .12)]]
    recs = [make_record('t', 'a', s, merge(r, seed=s), hist, dict(n_train=1000, n_valid=10_000, n_test=500))
            for s in (0, 1)]
    assert acc(recs[0]) == pytest.approx(.9) and acc(recs[0], 'test', 1) == pytest.approx(.75)
    assert train_s(recs[0]) == 5. and reached(recs[0], .85) == 2 and reached(recs[0], .95) is None
    assert tflop(recs[0]) == pytest.approx(2*3*1000*mflops(build_model(r['model']))/1e6)
    s = summary(recs, 'a')
    assert s['n'] == 2 and s['mean'] == pytest.approx(.9) and s['sd'] == 0 and s['train_s'] == 5.
    assert summary(recs[:1], 'a')['sd'] is None                        # one seed: no sample sd

@pytest.mark.parametrize('args, msg', [(['nope'], "no study 'nope'"),
                                       (['speedrun-records', '--only', 'nope'], "unknown variants ['nope']"),
                                       (['speedrun-records', '--seeds', 'a'], '--seeds takes comma-separated'),
                                       (['speedrun-records', '--jobs', '0'], '--jobs must be at least 1'),
                                       (['speedrun-records', '--n-train', '10'], 'give --out'),
                                       (['speedrun-records', '--keep', '/proc/no/such'], 'cannot create the folder')])
def test_runner_bad_input(args, msg):
    "Bad input: exit status 2 and one line naming the problem, before any training."
    res = run(*args, timeout=120)
    assert res.returncode == 2 and msg in res.stderr, (res.returncode, res.stderr)
    assert 'Traceback' not in res.stderr

def test_bad_study_file(tmp_path):
    "A study whose variant names an unknown base or field is refused in one line, exit status 2."
    p = tmp_path/'s.json'
    for spec, msg in [({'variants': {'a': {'base': 'nope', 'what': ''}}}, "base 'nope' is neither"),
                      ({'variants': {'a': {'base': 'fast', 'set': {'opt.lr': -1}, 'what': ''}}}, 'opt.lr must be'),
                      ({'variants': {'a': {'base': 'b', 'what': ''}, 'b': {'base': 'a', 'what': ''}}}, "each other's"),
                      ({'variant': {}}, 'unknown fields')]:
        p.write_text(json.dumps(spec))
        res = run(str(p), '--list', timeout=120)
        assert res.returncode == 2 and msg in res.stderr, (spec, res.stderr)


def test_cpu94_is_the_recipe_scored_on_the_test_set():
    "RECIPES['cpu-94'] is, field for field, the recipe chapter 09 chose on validation and scored on the test set."
    from fmnist_cnn.book.speedrun import read_study, study_recipe
    pick = study_recipe(read_study('cpu94-test'), 'sr4-29ep-muon')
    assert recipe_diff(pick, RECIPES['cpu-94']) == []
    assert recipe_diff(study_recipe(read_study('cpu94'), 'sr4-29ep-muon'), pick) == []
    assert RECIPES['cpu-94']['epochs'] == 29 and RECIPES['cpu-94']['opt']['name'] == 'muon'
