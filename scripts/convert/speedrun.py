"""One-off conversion of the CPU speedrun's records to the book's one record shape (`fmnist_cnn.book.records`).

  results/speedrun.json           -> results/speedrun.jsonl (study `speedrun`: the search on the validation split)
  results/bench_cpu*.json         -> results/speedrun-bench-MACHINE.jsonl, one file per run of the benchmark (study
                                     `speedrun-bench`: the record recipes timed on all 60,000 training images), and
                                     results/speedrun-machines.jsonl (each run's matmul rates, compile warm-up and
                                     one epoch run each way: measurements `benchmarks/bench_cpu.py` makes)
  results/profile_step_xeon.json  -> results/speedrun-profile.jsonl (`benchmarks/profile_step.py`)

Every converted training record's recipe is rebuilt from its study (`studies/speedrun.json`,
`studies/speedrun-bench.json`) and must equal the recipe the old record ran or names (`recipe_diff` empty); every
figure the old files held is either kept (history, `extra`) or derived from what is kept, and checked here against
the stored value (TFLOP, parameters, MFLOPs, final and reached accuracy, GFLOP/s, shares of the matmul rate).
Idempotent: the new files are rewritten whole from the old ones; with the old files gone it does nothing.
Kept for provenance. Usage: python scripts/convert/speedrun.py
"""
import json, math, statistics, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT/'results'
sys.path.insert(0, str(ROOT/'scripts'))
from run import load_study, resolve                                           # scripts/run.py: the one runner
from fmnist_cnn.book.records import check_record, HISTORY_KEYS, FLAGS, acc, tflop, epoch_tflops, gflops, reached
from fmnist_cnn.book.speedrun import profile_rate
from fmnist_cnn.model import build_model, mflops, n_params
from fmnist_cnn.training import RECIPES, merge, recipe_diff

SEARCH = 'speedrun.json'
BENCH = {'bench_cpu': 'epyc-avx2', 'bench_cpu_avx512': 'epyc-avx512', 'bench_cpu_zen5': 'epyc-zen5',
         'bench_cpu_xeon': 'xeon', 'bench_cpu_xeon_avx2': 'xeon-avx2', 'bench_cpu_xeon_3': 'xeon-3',
         'bench_cpu_xeon_4': 'xeon-4', 'bench_cpu_xeon_avx2_4': 'xeon-avx2-4'}    # old file -> machine's file name
PROFILE = 'profile_step_xeon.json'
NO_CODE = dict(commit=None, dirty=None)                                       # the old records kept no commit
EXEC = {'as recipe': {}, 'channels_first': {'precision.channels_last': False}, 'one thread': {},
        'torch.compile': {'precision.compile': True}, 'bf16 autocast': {'precision.bf16': True}}

def _need(ok:bool, msg:str):
    if not ok: raise AssertionError(msg)

def history(errs:list, split:str, times:list) -> list:
    "History rebuilt from what an old record kept: each epoch's accuracy on `split` and training seconds."
    return [{k: None for k in HISTORY_KEYS} | {'epoch': i + 1, f'{split}_err': round(1 - a, 4), 'train_time': t}
            for i, (a, t) in enumerate(zip(errs, times))]

def record(study, variant, seed, what, recipe, machine, date, data, hist, extra) -> dict:
    return check_record(json.loads(json.dumps(dict(
        schema=1, study=study, variant=variant, seed=seed, what=what, recipe=recipe, machine=machine, code=NO_CODE,
        date=date, data=data, history=hist, extra=extra))))

def variant_recipe(study:dict, variant:str, seed:int) -> dict:
    return merge(resolve(study, variant), seed=seed)

def check_model(r:dict, old:dict, where:str):
    m = build_model(r['model'])
    _need(n_params(m) == old['params'], f"{where}: parameters {n_params(m)} != {old['params']}")
    _need(abs(mflops(m) - old['mflops']) < 0.006, f"{where}: MFLOPs {mflops(m)} != {old['mflops']}")

def convert_search(study:dict) -> list:
    "results/speedrun.json: one record per (candidate, seed), the validation curve as history."
    recs = []
    for o in json.loads((RES/SEARCH).read_text()):
        v, where = study['variants'][o['name']], f"speedrun {o['name']} seed {o['seed']}"
        r = merge(o['recipe'])                                            # fields added since: their 'off' value
        _need(recipe_diff(variant_recipe(study, o['name'], o['seed']), r) == [], f"{where}: recipe differs")
        _need(o['parent'] == (v['base'] if v['base'] != o['name'] else None), f"{where}: parent")
        _need(o['n_train'] == 50_000 and o['epochs'] == len(o['valid_curve']) == len(o['epoch_train_s']), where)
        check_model(r, o, where)
        _need(abs(mflops(build_model(r['model']), 14) - o['mflops_14']) < 0.006, f"{where}: MFLOPs at 14x14")
        m = dict(cpu=o['cpu'], flags=[], kernels=o['cpu_capability'], cores=None, threads=o['threads'],
                 jobs=o['jobs'], device='cpu', torch=o['torch'], load=o['load'][1])
        extra = dict(bf16=o['bf16'], load_start=o['load'][0], train_s=o['train_s'])
        if o['what'] != v['what']: extra['recorded_what'] = o['what']
        rec = record('speedrun', o['name'], o['seed'], v['what'], r, m, o['date'],
                     dict(n_train=50_000, n_valid=10_000, n_test=100),
                     history(o['valid_curve'], 'valid', o['epoch_train_s']), extra)
        _need(abs(tflop(rec) - o['train_tflop']) < 1e-3, f"{where}: TFLOP {tflop(rec)} != {o['train_tflop']}")
        _need(all(abs(a - b) < 1e-4 for a, b in zip(epoch_tflops(rec), o['epoch_tflop'])), f"{where}: epoch TFLOP")
        _need(round(acc(rec), 4) == o['valid_acc'], f"{where}: valid accuracy")
        _need(abs(gflops(rec)/o['train_gflops'] - 1) < 3e-3, f"{where}: GFLOP/s {gflops(rec)} != {o['train_gflops']}")
        recs.append(rec)
    return recs

def machine_of(old:dict, load, threads=None) -> dict:
    "A benchmark's machine in the record's shape; what the shape has no field for goes to its `matmul` record."
    m = old['machine']
    return dict(cpu=m['cpu'], flags=[f for f in FLAGS if m['flags'].get(f)], kernels=m['cpu_capability'],
                cores=m['cores'], threads=threads or m['threads'], jobs=1, device='cpu', torch=m['torch'], load=load)

def convert_bench(old_name:str, study:dict) -> tuple:
    "One run of bench_cpu.py: its timed training records, and its measurements (matmul, one epoch each way)."
    old = json.loads((RES/f'{old_name}.json').read_text())
    bench = f"speedrun-bench-{BENCH[old_name]}"
    as_recipe = old.get('precision', 'float32') == 'as recipe'
    name_of = lambda n: 'fast-float32' if n == 'fast' and not as_recipe else n
    date, data = old['date'], dict(n_train=60_000, n_valid=0, n_test=10_000)
    _need(old['n_train'] is None and old['n_test'] is None and old['target'] == 0.9203, bench)
    f32 = old.get('matmul_each') or [old['matmul_gflops']]
    _need(round(statistics.median(f32), 1) == old['matmul_gflops'], f"{bench}: matmul median")
    bf = old.get('matmul_bf16_each')
    if bf: _need(round(statistics.median(bf), 1) == old['matmul_bf16_gflops'], f"{bench}: bf16 matmul median")
    mm, mmb = old['matmul_gflops'], old.get('matmul_bf16_gflops')
    m = old['machine']
    rate = record('speedrun-machines', 'matmul', None,
                  "torch.mm's rate on 2048x2048 matrices with the threads training uses (GFLOP/s, the median of 5 "
                  "timed rounds), in float32 and, where the runs used it, bfloat16: every measurement (at the start, "
                  "and in the later "
                  "runs after each seed's round too)",
                  None, machine_of(old, old['load'][-1]), date, dict(n_train=None, n_valid=None, n_test=None), [],
                  dict(bench=bench, matmul_float32=f32, **({'matmul_bfloat16': bf} if bf else {}),
                       cpu_family=m.get('cpu_family'), cpu_model=m.get('cpu_model'), isa_limits=m.get('isa_limits'),
                       bf16_native=m['bf16_native'], precision='as recipe' if as_recipe else 'float32',
                       baseline=name_of(old['baseline']), target=old['target'], load=old['load'],
                       compile_warmup={name_of(k): v for k, v in old.get('compile_warmup', {}).items()}))
    runs = []
    for name, rs in old['runs'].items():
        for o in rs:
            v, where = name_of(name), f"{bench} {name} seed {o['seed']}"
            r = merge(RECIPES[name], seed=o['seed'], data=dict(valid=0),
                      **({} if as_recipe else {'precision.bf16': False}))
            _need(recipe_diff(variant_recipe(study, v, o['seed']), r) == [], f"{where}: recipe differs")
            check_model(r, o, where)
            _need(o['epochs'] == r['epochs'] == len(o['test_curve']) == len(o['epoch_train_s']), f"{where}: epochs")
            _need(o['low_res'] == r['tricks']['low_res'], where)
            _need(o.get('compile', False) == r['precision']['compile'], where)
            _need(o['bf16'] is False if r['precision']['bf16'] is False else True, f"{where}: bf16")
            _need(o['infer_mflops'] == round(o['mflops']*(2 if r['tricks']['tta_flip'] else 1), 2), where)
            rec = record('speedrun-bench', v, o['seed'], study['variants'][v]['what'], r,
                         machine_of(old, o['load'][1]), date, data,
                         history(o['test_curve'], 'test', o['epoch_train_s']),
                         dict(bf16=o['bf16'], load_start=o['load'][0], train_s=o['train_s']))
            _need(abs(tflop(rec) - o['train_tflop']) < 1e-3, f"{where}: TFLOP")
            _need(round(acc(rec, 'test'), 4) == o['final_test_acc'], f"{where}: final accuracy")
            e = reached(rec, old['target'], 'test')
            _need((e is None) == (o['reached'] is None), f"{where}: reached")
            if e is not None:
                _need(e == len(o['test_curve']) and o['reached']['train_s'] == o['train_s'],
                      f"{where}: reached before the last epoch")       # so its seconds to the target: train_s
                _need(e == o['reached']['epoch'] and
                      abs(sum(epoch_tflops(rec)[:e]) - o['reached']['train_tflop']) < 1e-3,
                      f"{where}: reached at")
            _need(abs(gflops(rec)/o['train_gflops'] - 1) < 3e-3, f"{where}: GFLOP/s")
            _need(abs(gflops(rec)/mm - o['efficiency']) < 2e-3, f"{where}: efficiency")
            if 'efficiency_bf16' in o: _need(abs(gflops(rec)/mmb - o['efficiency_bf16']) < 7e-4, f"{where}: bf16 share")
            runs.append(rec)
    measures = [rate]
    for name, ways in old.get('exec', {}).items():
        for way, x in ways.items():
            where = f"{bench} one epoch of {name}, {way}"
            if x is None:                                      # bf16 autocast where it is not native: not run
                _need(way == 'bf16 autocast' and not m['bf16_native'], where)
                measures.append(record('speedrun-machines', way, None, 'one full-size epoch in bfloat16 autocast: not '
                                       'run, bfloat16 is not native on this CPU', None, machine_of(old, None), date,
                                       dict(n_train=None, n_valid=None, n_test=None), [],
                                       dict(bench=bench, exec_of=name, skipped='bfloat16 is not native on this CPU')))
                continue
            r = merge(RECIPES[name], epochs=1, seed=0, data=dict(valid=0), **{'tricks.low_res': 0.}, **EXEC[way])
            rec = record('speedrun-machines', way, 0, f"one full-size epoch of {name}, run this way: {way}", r,
                         machine_of(old, None, threads=1 if way == 'one thread' else None), date, data,
                         history([x['test_acc']], 'test', [x['train_s']]), dict(bench=bench, exec_of=name))
            _need(abs(gflops(rec)/x['train_gflops'] - 1) < 5e-3, f"{where}: GFLOP/s {gflops(rec)}")
            _need(abs(gflops(rec)/mm - x['efficiency']) < 2e-3, f"{where}: efficiency")
            measures.append(rec)
    _need(len(runs) == sum(map(len, old['runs'].values())), bench)
    return bench, runs, measures

KIND_KEYS = ('time_share', 'gflop_per_step')

def convert_profile() -> list:
    "results/profile_step_xeon.json: a matmul record and one record per profiled recipe."
    old = json.loads((RES/PROFILE).read_text())
    m, mm = old['machine'], statistics.median(old['matmul_each'])
    _need(abs(mm - old['matmul_gflops']) < 0.06, 'profile: matmul median')
    rate = record('speedrun-profile', 'matmul', None,
                  "torch.mm's rate on 2048x2048 float32 matrices with the threads training uses (GFLOP/s, the median "
                  "of 5 timed rounds): before the first recipe and after each", None, machine_of(old, None),
                  old['date'], dict(n_train=None, n_valid=None, n_test=None), [],
                  dict(matmul_float32=old['matmul_each'], cpu_family=m.get('cpu_family'),
                       cpu_model=m.get('cpu_model'), isa_limits=m.get('isa_limits'), bf16_native=m['bf16_native']))
    recs = [rate]
    for o in old['recipes']:
        where = f"profile {o['recipe']}"
        r = merge(RECIPES[o['recipe']], **o['overrides'], **{'tricks.low_res': 0., 'precision.bf16': False,
                                                           'precision.compile': False, 'epochs': 1, 'data.valid': 0})
        _need(r['data']['bs'] == o['bs'], where)
        check_model(r, dict(o, params=n_params(build_model(r['model']))), where)
        p = dict(profiled=o['recipe'], overrides=o['overrides'], profiled_recipe=r, bs=o['bs'], steps=o['steps'],
                 warmup=o['warmup'], gflop_per_step=o['gflop_per_step'], step_ms=o['step_ms'],
                 profiled_step_ms=o['profiled_step_ms'], covered=o['covered'],
                 kinds={k: {f: v[f] for f in KIND_KEYS} for k, v in o['kinds'].items()}, top_ops=o['top_ops'])
        _need(abs(profile_rate(p)/o['gflops'] - 1) < 2e-3 and abs(profile_rate(p)/mm - o['of_matmul']) < 2e-3, where)
        for k, v in o['kinds'].items():
            g = profile_rate(p, k)
            _need((g is None) == (v['gflops'] is None), f"{where}: {k} rated")
            if g is not None: _need(abs(g/v['gflops'] - 1) < 5e-3 and abs(g/mm - v['of_matmul']) < 3e-3, f"{where} {k}")
        recs.append(record('speedrun-profile', o['recipe'], r['seed'],
                           f"where a full-size training step of {o['recipe']} spends its time, by kind of operation",
                           None, machine_of(old, None), old['date'],
                           dict(n_train=o['bs']*(o['warmup'] + o['steps'] + 1), n_valid=0, n_test=o['bs']), [], p))
    return recs

def write(name:str, recs:list) -> Path:
    p = RES/f'{name}.jsonl'
    p.write_text(''.join(json.dumps(r, separators=(',', ':')) + '\n' for r in recs))
    return p

def convert() -> dict:
    "Write the new files from the old ones that are still there; {new file: records written}."
    out = {}
    if (RES/SEARCH).exists():
        recs = convert_search(load_study('speedrun'))
        _need(len(recs) == len(json.loads((RES/SEARCH).read_text())), 'speedrun: records lost')
        out[write('speedrun', recs).name] = len(recs)
    olds = [n for n in BENCH if (RES/f'{n}.json').exists()]
    if olds:
        _need(len(olds) == len(BENCH), f"bench: some old files are gone already, the others are {olds}")
        study, machines = load_study('speedrun-bench'), []
        for n in olds:
            bench, runs, measures = convert_bench(n, study)
            out[write(bench, runs).name] = len(runs); machines += measures
        out[write('speedrun-machines', machines).name] = len(machines)
    if (RES/PROFILE).exists():
        recs = convert_profile(); out[write('speedrun-profile', recs).name] = len(recs)
    return out

if __name__ == '__main__':
    done = convert()
    print('\n'.join(f'{k}: {v} records' for k, v in done.items()) or 'nothing to convert: the old files are gone')
