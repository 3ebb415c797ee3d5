"""Every script's record is one its reader can read: each script runs for real, on small subsets, into a temporary
folder, and the functions the book reads that record with are fed what it wrote.

The committed records are read by the same functions whenever the chapters run; this test catches the other half:
a script whose output changed shape while its reader did not (`KeyError` in the book after a re-run).
"""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def run_script(script:str, *args, tmp:Path):
    env = {**os.environ, 'FMNIST_PROGRESS': '0', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, f'scripts/{script}', *map(str, args)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f'{script} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}'
    return r.stdout

@pytest.fixture
def results(tmp_path, monkeypatch):
    "A results folder the book's readers look into instead of results/."
    from fmnist_cnn.book.retrospective import RESULTS_VAR
    monkeypatch.setenv(RESULTS_VAR, str(tmp_path))
    return tmp_path

def test_time_to_acc(results):
    from fmnist_cnn.book.retrospective import load_results, read_time_to_acc, comparison_table
    run_script('bench_time_to_acc.py', '--seeds', '0,1', '--n-train', 256, '--n-test', 200, '--cap-minutes', 0.001,
               '--out', results/'time_to_acc.json', tmp=results)
    tta = read_time_to_acc(load_results('time_to_acc'))
    assert [r['seed'] for r in tta['fast']] == [0, 1] and tta['original'] is not None
    assert all(len(r['history']) == 3 and 0 <= r['test_acc'] <= 1 for r in tta['fast'])
    row = next(l for l in comparison_table().splitlines() if 'fast recipe' in l)
    assert 'mean of 2 seeds' in row, row

def test_time_to_acc_committed_record():
    "The committed record (the first format) still reads."
    from fmnist_cnn.book.retrospective import load_results, read_time_to_acc
    tta = read_time_to_acc(load_results('time_to_acc'))
    assert tta['fast'] and tta['fast'][0]['reached'] is not None

def test_experiments(results):
    from fmnist_cnn.book.retrospective import (load_results, grid_status, grid_table, paired_diff, plot_cost, plot_curves,
                                          TWO_BY_TWO)
    out = results/'experiments.json'
    run_script('experiments.py', '--budget', 'cpu', '--only', 'modern-cnn/modern-recipe,head-fc', '--seeds', '0,1',
               '--epochs', 1, '--n-train', 640, '--n-test', 200, '--jobs', 1, '--out', out, tmp=results)
    recs = load_results('experiments')
    assert len(recs) == 4 and {r['name'] for r in recs} == {'modern-cnn/modern-recipe', 'head-fc'}
    for r in recs:
        assert r['train_tflop'] > 0 and r['cpu'] and r['threads'] >= 1 and r['cpu_capability'] and len(r['load']) == 2
        assert isinstance(r['bf16'], bool) and set(r['cpu_flags']) <= {'avx2', 'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16'}
    assert 'cpu: 4 of 27 runs' in grid_status(recs)
    t = grid_table(recs, ['modern-cnn/modern-recipe', 'head-fc'], 'cpu')
    assert '| head-fc |' in t and '(base)' in t, t
    assert paired_diff(recs, 'modern-cnn/modern-recipe', 'head-fc', 'cpu')['n'] == 2
    plot_cost(recs); plot_curves(recs, TWO_BY_TWO, 'cpu')
    before = out.read_text()                                             # resumable: a second run has nothing to do
    assert '0 runs to do (4 recorded)' in run_script('experiments.py', '--budget', 'cpu', '--only',
        'modern-cnn/modern-recipe,head-fc', '--seeds', '0,1', '--epochs', 1, '--n-train', 640, '--n-test', 200, '--out', out,
        tmp=results)
    assert out.read_text() == before
    assert '4 runs to do (4 recorded)' in run_script('experiments.py', '--budget', 'cpu', '--only', 'modern-cnn/modern-recipe,head-fc',
        '--seeds', '0,1', '--epochs', 1, '--n-train', 640, '--n-test', 100, '--jobs', 1, '--deadline-min', 0, '--out', out, tmp=results)
    assert out.read_text() == before

def test_experiments_resume(results):
    "A long run (groups best and frontier) with --weights-dir goes on from its checkpoint: here, from its last epoch."
    out, w = results/'experiments.json', results/'weights'
    args = ['--budget', 'full', '--only', 'tiny-a', '--seeds', '0', '--epochs', 2, '--n-train', 640, '--n-test', 200,
            '--weights-dir', w, '--out', out]
    run_script('experiments.py', *args, tmp=results)
    (first,) = json.loads(out.read_text())
    assert first['resumed_after_epochs'] == 0 and (w/'tiny-a-s0'/'checkpoint.pt').exists()
    out.unlink()                                                          # the record lost, the run folder kept
    run_script('experiments.py', *args, tmp=results)
    (again,) = json.loads(out.read_text())
    assert again['resumed_after_epochs'] == 2 and again['epochs'] == 2
    same = ['valid_acc', 'test_acc', 'valid_curve', 'train_time_s', 'eval_time_s', 'train_tflop', 'images_seen', 'params']
    assert {k: again[k] for k in same} == {k: first[k] for k in same}

def test_seeds(results):
    "scripts/ablation.py's records (results/seeds.json) as the comparison table and the frontier read them."
    from fmnist_cnn.book.retrospective import load_results
    run_script('ablation.py', '--only', 'full', '--seeds', '0', '--epochs', 1, '--n-train', 640, '--n-test', 200,
               '--out', results/'seeds.json', tmp=results)
    (r,) = load_results('seeds')
    assert r['epochs'] == 1 and 0 <= r['test_acc'] <= 1 and r['seed'] == 0

def test_photos(tmp_path):
    from fmnist_cnn.evaluation import photo_table, photo_prep_compare, photo_prep_table
    from fmnist_cnn.model import shipped_weights
    run_script('bench_photos.py', '--n', 3, '--out', tmp_path/'photos.json', tmp=tmp_path)
    res = json.loads((tmp_path/'photos.json').read_text())
    t = photo_table(res)
    assert all(f'| {m} |' in t for m in shipped_weights()), t
    assert photo_prep_compare(res).count('\n| ') == len(res['kinds']) + 1
    run_script('choose_photo_prep.py', '--n', 3, '--out', tmp_path/'photo_prep.json', tmp=tmp_path)
    t = photo_prep_table(json.loads((tmp_path/'photo_prep.json').read_text()))
    assert '(chosen)' in t, t

def test_bench_cpu(tmp_path):
    "scripts/bench_cpu.py's record: the machine, its matmul rate, and per recipe and seed when the target was reached."
    run_script('bench_cpu.py', '--recipes', 'fast', '--seeds', '0,1', '--n-train', 640, '--n-test', 200, '--target', 0.1,
               '--exec', '--out', tmp_path/'bench_cpu.json', tmp=tmp_path)
    res = json.loads((tmp_path/'bench_cpu.json').read_text())
    assert res['matmul_gflops'] > 0 and res['machine']['cpu'] and set(res['machine']['flags']) >= {'avx2', 'amx_tile'}
    runs = res['runs']['fast']
    assert [r['seed'] for r in runs] == [0, 1] and all(r['reached'] and r['reached']['epoch'] >= 1 for r in runs)
    r = runs[0]
    assert abs(r['train_tflop'] - r['mflops']*1e6*640*r['epochs']*3/1e12) < 1e-3      # the FLOP count's definition
    assert abs(r['efficiency'] - r['train_gflops']/res['matmul_gflops']) < 1e-2
    each = res['matmul_each']                        # measured at the start and after each seed's round: the median
    assert len(each) == 3 and abs(res['matmul_gflops'] - sorted(each)[1]) < 0.1
    s = res['summary']['fast']
    assert s['seeds'] == 2 and s['every_seed_reached'] and s['train_tflop_to_target']['sd'] is not None
    ex = res['exec']['fast']                                   # --exec: one epoch of the last recipe, each way
    assert set(ex) == {'as recipe', 'channels_first', 'one thread', 'torch.compile', 'bf16 autocast'}
    assert all(v['train_s'] > 0 and v['train_gflops'] > 0 for v in ex.values() if v is not None)
    assert (ex['bf16 autocast'] is None) == (not res['machine']['bf16_native'])
    from fmnist_cnn.book.speedrun import bench_table, bench_ratio, machine_line
    assert '| fast | 165,626 |' in bench_table(res) and bench_ratio(res, 'fast')['tflop'] == 1
    assert res['machine']['cpu'] in machine_line(res)
    if Path('/proc/cpuinfo').exists():                           # Linux: the generation beside the vendor's name
        assert res['machine']['cpu_family'] and f"family {res['machine']['cpu_family']}" in machine_line(res)

def test_bench_cpu_as_recipe(tmp_path):
    "--as-recipe: each recipe in its own precision; a compiling one's compile timed apart, bf16 rated against bf16 too."
    from fmnist_cnn.training import bf16_native
    from fmnist_cnn.training import RECIPES
    assert RECIPES['speedrun-cpu-4']['precision']['compile'] and not RECIPES['fast']['precision']['compile']
    import tempfile
    caches = lambda: set(Path(tempfile.gettempdir()).glob('bench_cpu_inductor_*'))
    before = caches()
    run_script('bench_cpu.py', '--as-recipe', '--recipes', 'fast,speedrun-cpu-4', '--seeds', '0', '--n-train', 512,
               '--n-test', 200, '--target', 0.1, '--out', tmp_path/'bench.json', tmp=tmp_path)
    res = json.loads((tmp_path/'bench.json').read_text())
    assert res['precision'] == 'as recipe' and list(res['compile_warmup']) == ['speedrun-cpu-4']   # fast: no compile
    assert res['compile_warmup']['speedrun-cpu-4']['total_s'] > 0
    native = bf16_native('cpu')
    assert res['machine']['bf16_native'] == native and ('matmul_bf16_gflops' in res) == native
    for name in ('fast', 'speedrun-cpu-4'):
        (r,) = res['runs'][name]
        assert r['compile'] == RECIPES[name]['precision']['compile']
        want = RECIPES[name]['precision']['bf16']
        assert r['bf16'] == (native if want == 'auto' else want)
        assert abs(r['efficiency'] - r['train_gflops']/res['matmul_gflops']) < 2e-3
        if r['bf16']: assert abs(r['efficiency_bf16'] - r['train_gflops']/res['matmul_bf16_gflops']) < 2e-3
        else: assert 'efficiency_bf16' not in r
    assert caches() <= before                                       # its own compile cache, removed at exit

def test_profile_step(tmp_path):
    "scripts/profile_step.py's record: a step's time by kind of operation, its FLOPs against a count by hand."
    from fmnist_cnn.training import RECIPES
    from fmnist_cnn.model import build_model, flops_by_resolution
    out = tmp_path/'profile.json'
    run_script('profile_step.py', '--recipes', 'fast,speedrun-cpu-2', '--warmup', 1, '--steps', 3, '--out', out,
               '--set', 'data.bs=64', tmp=tmp_path)
    res = json.loads(out.read_text())
    assert res['matmul_gflops'] > 0 and [r['recipe'] for r in res['recipes']] == ['fast', 'speedrun-cpu-2']
    assert len(res['matmul_each']) == 3 and abs(res['matmul_gflops'] - sorted(res['matmul_each'])[1]) < 0.1
    for r in res['recipes']:
        assert r['steps'] == 3 and r['step_ms'] > 0 and r['profiled_step_ms'] > 0 and 0.3 < r['covered'] <= 1.05
        assert r['bs'] == 64 and r['overrides'] == {'data.bs': 64}                      # --set reached the recipe
        assert abs(sum(v['time_share'] for v in r['kinds'].values()) - 1) < 2e-3
        assert r['kinds']['convolution']['time_share'] > 0.2 and r['kinds']['batch norm']['time_share'] > 0.02
        assert abs(r['gflops']/(r['gflop_per_step']/r['step_ms']*1e3) - 1) < 1e-2
        assert abs(r['of_matmul'] - r['gflops']/res['matmul_gflops']) < 2e-3
        # by hand: every convolution's forward, weight gradient and input gradient, less the stem's input gradient
        # (the images need none) and, when the stem is whitened and frozen, its weight gradient
        fl = flops_by_resolution(build_model(RECIPES[r['recipe']]['model']))
        conv, stem = sum(v for k, v in fl.items() if k != 'head'), fl['28x28']
        frozen = RECIPES[r['recipe']]['tricks']['whiten']
        want = r['bs']*(3*conv - (2 if frozen else 1)*stem)/1e3                  # GFLOP per step
        assert abs(r['kinds']['convolution']['gflop_per_step'] - want) < 1e-3, (r['recipe'], want)
    assert res['recipes'][1]['kinds']['optimizer']['time_share'] > 0               # the optimizer's scope is found
    # a bad override: one line and exit code 2, nothing written
    bad = subprocess.run([sys.executable, 'scripts/profile_step.py', '--set', 'opt.nope=1', '--out', tmp_path/'x.json'],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert bad.returncode == 2 and "unknown recipe field 'opt.nope'" in bad.stderr and not (tmp_path/'x.json').exists()

def test_profile_step_record():
    "Chapter 09's profile: fast and both speed recipes, 40 steps each after 10 of warm-up, on one 2-thread machine."
    from fmnist_cnn.training import RECIPES
    from fmnist_cnn.model import build_model, mflops
    res = json.loads((ROOT/'results'/'profile_step_xeon.json').read_text())
    assert [r['recipe'] for r in res['recipes']] == ['fast', 'speedrun-cpu', 'speedrun-cpu-2']
    assert res['machine']['threads'] == 2 and res['machine']['isa_limits'] == {}
    for r in res['recipes']:
        assert (r['steps'], r['warmup'], r['bs']) == (40, 10, RECIPES[r['recipe']]['data']['bs'])
        assert abs(r['mflops'] - mflops(build_model(RECIPES[r['recipe']]['model']))) < 0.01       # today's recipe

def test_bench_cpu_isa_limits(monkeypatch):
    "A CPU timed as an older one (its kernels limited by environment variables) says so in the record and its line."
    import importlib.util, sys
    sys.path.insert(0, str(ROOT/'scripts'))
    try:
        spec = importlib.util.spec_from_file_location('bench_cpu_script', ROOT/'scripts'/'bench_cpu.py')
        bc = importlib.util.module_from_spec(spec); spec.loader.exec_module(bc)
    finally: sys.path.remove(str(ROOT/'scripts'))
    for k in bc.ISA_LIMITS: monkeypatch.delenv(k, raising=False)
    assert bc.machine()['isa_limits'] == {}
    monkeypatch.setenv('ONEDNN_MAX_CPU_ISA', 'AVX2'); monkeypatch.setenv('MKL_ENABLE_INSTRUCTIONS', 'AVX2')
    m = bc.machine(); assert m['isa_limits'] == {'ONEDNN_MAX_CPU_ISA': 'AVX2', 'MKL_ENABLE_INSTRUCTIONS': 'AVX2'}
    from fmnist_cnn.book.speedrun import machine_line
    line = machine_line(dict(machine=m, matmul_gflops=100.))
    assert 'limited to ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2' in line, line

def test_bf16_native_isa_limit():
    "A CPU whose PyTorch kernels are limited to AVX2 (timed as an AVX2 machine) has no native bfloat16 either."
    code = ("from fmnist_cnn.training import bf16_native; import torch; "
            "print(bf16_native('cpu'), torch.cpu._is_amx_tile_supported())")
    run = lambda **env: subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                                       check=True, env={**os.environ, 'PYTHONPATH': str(ROOT), **env}).stdout.split()
    native, amx = run(ATEN_CPU_CAPABILITY='')
    assert run(ATEN_CPU_CAPABILITY='avx2')[0] == 'False'
    if amx == 'True': assert native == 'True'              # AMX and the full kernel set: native

def test_bench_xeon_records():
    "Chapter 09's second record: fast and both speed recipes, 5 seeds each, on one machine, natively and as AVX2."
    from fmnist_cnn.training import RECIPES
    from fmnist_cnn.model import build_model, mflops
    nat, avx2 = (json.loads((ROOT/'results'/f'bench_cpu_xeon{x}.json').read_text()) for x in ('', '_avx2'))
    for res in (nat, avx2):
        assert list(res['runs']) == ['fast', 'speedrun-cpu', 'speedrun-cpu-2'] and res['baseline'] == 'fast'
        for name, runs in res['runs'].items():
            assert [r['seed'] for r in runs] == [0, 1, 2, 3, 4] and res['summary'][name]['seeds'] == 5
            assert abs(runs[0]['mflops'] - mflops(build_model(RECIPES[name]['model']))) < 0.01      # today's recipe
            assert all(r['epochs'] == RECIPES[name]['epochs'] and r['bf16'] is False for r in runs)
        assert res['summary']['speedrun-cpu-2']['every_seed_reached'] and res['n_train'] is None
        assert res['machine']['cpu_family'] == nat['machine']['cpu_family'] and res['machine']['threads'] == 2
    assert nat['machine']['isa_limits'] == {} and nat['machine']['cpu_capability'] == 'AVX512'
    assert avx2['machine']['isa_limits'] == dict(ATEN_CPU_CAPABILITY='avx2', ONEDNN_MAX_CPU_ISA='AVX2',
                                                 MKL_ENABLE_INSTRUCTIONS='AVX2')
    assert avx2['machine']['cpu_capability'] == 'AVX2' and avx2['matmul_gflops'] < nat['matmul_gflops']
    assert set(nat['exec']) == {'speedrun-cpu-2'} and 'exec' not in avx2

def test_bench_xeon_3_record():
    "Chapter 09's third record: fast and the last two speed recipes, 5 seeds each, the matmul rate measured 6 times."
    from fmnist_cnn.training import RECIPES
    from fmnist_cnn.model import build_model, mflops
    res = json.loads((ROOT/'results'/'bench_cpu_xeon_3.json').read_text())
    assert list(res['runs']) == ['fast', 'speedrun-cpu-2', 'speedrun-cpu-3'] and res['baseline'] == 'fast'
    for name, runs in res['runs'].items():
        assert [r['seed'] for r in runs] == [0, 1, 2, 3, 4] and res['summary'][name]['seeds'] == 5
        assert abs(runs[0]['mflops'] - mflops(build_model(RECIPES[name]['model']))) < 0.01          # today's recipe
        assert all(r['epochs'] == RECIPES[name]['epochs'] and r['bf16'] is False for r in runs)
        assert all(r['low_res'] == RECIPES[name]['tricks']['low_res'] for r in runs)
        assert all(abs(r['efficiency'] - r['train_gflops']/res['matmul_gflops']) < 2e-3 for r in runs)
    assert len(res['matmul_each']) == 6 and res['n_train'] is None and res['machine']['threads'] == 2
    import statistics
    assert abs(res['matmul_gflops'] - statistics.median(res['matmul_each'])) < 0.051                   # the median

def test_speedrun(tmp_path):
    "scripts/speedrun.py's record: per candidate and seed, the validation curve and the TFLOP of every epoch."
    out = tmp_path/'speedrun.json'
    run_script('speedrun.py', '--only', 'fast-2ep', '--seeds', '0,1,2', '--jobs', 1, '--n-train', 640, '--out', out,
               tmp=tmp_path)
    recs = json.loads(out.read_text())
    assert sorted(r['seed'] for r in recs) == [0, 1, 2] and {r['name'] for r in recs} == {'fast-2ep'}
    r = recs[0]
    assert r['parent'] == 'fast' and r['recipe']['epochs'] == 2 and r['recipe']['precision']['bf16'] is False
    assert len(r['valid_curve']) == 2 and r['valid_acc'] == r['valid_curve'][-1]
    assert abs(r['train_tflop'] - r['mflops']*1e6*640*2*3/1e12) < 1e-3             # no halved images: MFLOPs x images x 3
    from fmnist_cnn.book.speedrun import speed_table
    assert '| fast-2ep | fast |' in speed_table(recs)
    run_script('speedrun.py', '--only', 'fast-2ep', '--seeds', '0,1,2', '--jobs', 1, '--n-train', 640, '--out', out,
               tmp=tmp_path)                                                      # resumable: nothing left to do
    assert len(json.loads(out.read_text())) == 3

def test_speedrun_candidates():
    "Every candidate of the search, from its chain of overrides, is a valid recipe whose network builds and runs."
    import importlib.util, torch
    from fmnist_cnn.training import RECIPES, merge, check_recipe, recipe_diff
    from fmnist_cnn.model import build_model, mflops
    spec = importlib.util.spec_from_file_location('speedrun_script', ROOT/'scripts'/'speedrun.py')
    sr = importlib.util.module_from_spec(spec); spec.loader.exec_module(sr)
    recs = {r['name']: r for r in json.loads((ROOT/'results'/'speedrun.json').read_text())}
    for name in sr.CANDIDATES:
        root, ov = sr.resolve(name)
        r = check_recipe(merge(RECIPES[root], **ov))
        m = build_model(r['model']).eval()
        assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10) and m(torch.zeros(2, 1, 14, 14)).shape == (2, 10)
        if name in recs:                                        # the committed record ran this very recipe
            assert recipe_diff(r, recs[name]['recipe'] | {'seed': r['seed']}) == [], name   # fields added since: off
            assert abs(mflops(m) - recs[name]['mflops']) < 0.01, name
    assert sr.resolve('patch2')[1]['model']['args']['patch'] == 2

def _grid() -> dict:
    "scripts/experiments.py's grid."
    import importlib.util
    spec = importlib.util.spec_from_file_location('experiments_script', ROOT/'scripts'/'experiments.py')
    ex = importlib.util.module_from_spec(spec); spec.loader.exec_module(ex)
    return ex._grid()

def test_best_cpu_record():
    "The CPU run of a best candidate (chapter 04): the grid's recipe for its whole budget, trained and recorded on a CPU."
    group, arch, recipe, _, ov = _grid()['best-a']
    (r,) = json.loads((ROOT/'results'/'best_cpu.json').read_text())
    assert (r['name'], r['group'], r['arch'], r['recipe'], r['budget']) == ('best-a', group, arch, recipe, 'full')
    assert r['overrides'] == json.loads(json.dumps(ov | {'seed': r['seed']}))      # the grid's recipe, nothing else
    assert r['device'].startswith('cpu') and r['threads'] == 2 and r['bf16'] is True
    assert r['epochs'] == ov['epochs'] == len(r['valid_curve']) and r['resumed_after_epochs'] <= r['epochs']
    assert r['params'] < 1_000_000 and r['test_acc'] >= 0.95 and r['n_train'] is None and r['n_test'] is None
    assert r['train_time_s'] > 0 and r['eval_time_s'] > 0

def test_best_spread_record():
    "The committed seed spread of best's recipe (chapter 04): its grid entry, and runs of the shipped network's recipe."
    from fmnist_cnn.model import read_meta, WEIGHTS_DIR
    group, arch, recipe, _, ov = _grid()['best-c/5-epochs']
    assert (group, arch, recipe, ov['epochs']) == ('spread', 'ModernCNN', 'modern', 5)
    best = read_meta(WEIGHTS_DIR/'best.pt')
    assert ov['model.args'] == {k: best['model']['args'][k] for k in ov['model.args']}
    assert (ov['data']['bs'], ov['opt']['lr']) == (best['recipe']['data']['bs'], best['recipe']['opt']['lr'])
    recs = json.loads((ROOT/'results'/'best_spread_cpu.json').read_text())
    assert sorted(r['seed'] for r in recs) == [0, 1, 2]
    for r in recs:
        assert r['name'] == 'best-c/5-epochs' and r['budget'] == 'full' and r['epochs'] == 5 == len(r['valid_curve'])
        assert r['params'] == best['n_params'] and 0.9 < r['test_acc'] < best['test_acc']
