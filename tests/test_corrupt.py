"""The corruption suite (`fmnist_cnn.corrupt`) on a subset, the benchmark script end to end, and the records the
robustness chapter (11) reads: results/corruptions.jsonl and results/robust.jsonl (fmnist_cnn.book.records).
About half a minute on 2 cores."""
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from fmnist_cnn.data import load_tensors
from fmnist_cnn.model import shipped_weights
from fmnist_cnn.corrupt import (CORRUPTIONS, SEVERITIES, corrupt, corruption_benchmark, raw_model, model_logits, score,
                                model_temperature, summarize)
from fmnist_cnn.book.records import read_records

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def test_set():
    x, y = load_tensors(train=False)
    return x, y                                                                       # (10000, 1, 28, 28), (10000,)

def records(name):
    p = ROOT/'results'/f'{name}.jsonl'
    if not p.is_file(): pytest.skip(f'results/{name}.jsonl not written yet')
    return read_records(p)                                                            # checked: the record shape

def by_model(recs): return {r['variant']: r['extra']['rows'] for r in recs}

def test_suite_on_tiny(test_set):
    "Every type at severities 1 and 5 on 200 test images: shape, range, determinism, and tiny loses accuracy."
    x, y = test_set[0][:200], test_set[1][:200]
    for n in CORRUPTIONS:
        for s in (1, 5):
            a = corrupt(x, n, s)
            assert a.shape == x.shape and a.dtype == x.dtype and 0 <= a.min() and a.max() <= 1, (n, s)
            assert torch.equal(a, corrupt(x, n, s)), (n, s)
        d1, d5 = ((corrupt(x, n, s) - x).abs().mean() for s in (1, 5))
        assert d5 > d1 > 0, n
    rows = corruption_benchmark(raw_model('tiny'), x, y, severities=(1, 5), temperature=2.)
    assert len(rows) == 1 + 2*len(CORRUPTIONS) and rows[0]['corruption'] == 'clean' and rows[0]['acc'] > 0.85
    s1 = sum(r['acc'] for r in rows if r['severity'] == 1)/len(CORRUPTIONS)
    s5 = sum(r['acc'] for r in rows if r['severity'] == 5)/len(CORRUPTIONS)
    assert s5 < s1 < rows[0]['acc']
    assert all(0 <= r['ece'] <= 1 and 0 <= r['ece_cal'] <= 1 and r['nll'] > 0 for r in rows)

def test_bad_input(test_set):
    x = test_set[0][:4]
    for f, msg in [(lambda: corrupt(x, 'fog', 1), 'choose one of'), (lambda: corrupt(x, 'rotation', 6), '1 to 5'),
                   (lambda: corrupt(x[0], 'rotation', 1), 'x[None]'), (lambda: corrupt(255*x, 'rotation', 1), '[0, 1]'),
                   (lambda: corruption_benchmark(raw_model('tiny'), x, test_set[1][:3]), 'labels must be'),
                   (lambda: corruption_benchmark(raw_model('tiny'), x, test_set[1][:4], temperature=0), 'temperature'),
                   (lambda: raw_model('nope'), 'no shipped model')]:
        with pytest.raises((ValueError, TypeError), match=None) as e: f()
        assert msg in str(e.value) and '\n' not in str(e.value), str(e.value)

def test_record_schema():
    "Every line has the record's keys; every shipped model x type x severity and its clean row are there, once."
    recs = records('corruptions')
    for r in recs:
        assert r['study'] == 'corruptions' and r['recipe'] is None and r['history'] == [] and r['seed'] == 0
        assert r['data']['n_test'] >= 1000 and {'arch', 'n_params'} <= set(r['extra']['model'])
        for q in r['extra']['rows']:
            assert {'acc', 'ece', 'nll', 'corruption', 'severity'} <= set(q)
            assert (r['extra']['temperature'] is None) == ('ece_cal' not in q)
    assert len({(r['variant'], r['seed'], r['data']['n_test']) for r in recs}) == len(recs)   # one record per model
    temps = {r['variant']: r['extra']['temperature'] for r in recs}
    models = by_model(recs)
    assert set(models) == set(shipped_weights()), sorted(models)
    want = {('clean', 0)} | {(n, s) for n in CORRUPTIONS for s in SEVERITIES}
    for m, rs in models.items():
        got = [(r['corruption'], r['severity']) for r in rs]
        assert sorted(got) == sorted(want), m
        assert temps[m] == model_temperature(m), f'{m}: scored with another temperature than it ships'

def test_record_reproduces(test_set):
    "Two rows of the record, recomputed now by the library: the same accuracy (the record came from this code)."
    recs = records('corruptions')
    tiny = {(r['corruption'], r['severity']): r for r in by_model(recs)['tiny']}
    n = next(r for r in recs if r['variant'] == 'tiny')['data']['n_test']
    x, y = test_set[0][:n], test_set[1][:n]
    net = raw_model('tiny')
    for c, s in [('rotation', 3), ('occlusion', 5)]:
        got = score(model_logits(net, corrupt(x, c, s)), y)
        assert abs(got['acc'] - tiny[c, s]['acc']) <= 2/n, (c, s, got, tiny[c, s]['acc'])

def test_robust_record():
    recs = records('robust')
    for r in recs:
        assert r['study'] == 'robust' and r['variant'] in ('baseline', 'robust')
        assert {'clean_test_acc', 'heldout_test_acc', 'train_types_test_acc', 'train_types_valid_acc'} <= set(
            r['extra']['metrics'])
        assert len(r['history']) == r['recipe']['epochs']
        assert (r['extra']['augment'] is None) == (r['variant'] == 'baseline')
        assert set(r['extra']['held_out']).isdisjoint(r['extra']['train_types'])
    seeds = lambda v: {r['seed'] for r in recs if r['variant'] == v}
    assert seeds('baseline') == seeds('robust') and len(seeds('robust')) >= 3

def test_script_resumes(tmp_path):
    "The benchmark script writes a row per condition, and a second run has nothing left to do."
    out = tmp_path/'c.jsonl'
    args = [sys.executable, 'benchmarks/bench_corruptions.py', '--models', 'tiny', '--n', '100', '--names', 'rotation',
            '--out', str(out), '--cache', str(tmp_path/'cache'), '--threads', '1']
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True)
    (rec,) = read_records(out)
    rows = rec['extra']['rows']
    assert rec['variant'] == 'tiny' and rec['data']['n_test'] == 100
    assert [(r['corruption'], r['severity']) for r in rows] == [('clean', 0)] + [('rotation', s) for s in SEVERITIES]
    before = out.read_text()
    r = subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert out.read_text() == before and '1 records (6 rows) recorded' in r.stdout
    assert summarize(rows)['n'] == 5
