"""Convert the retrospective's and the frontier's result files (chapters 04 and 10) into records of the book's one
shape (fmnist_cnn.book.records), one JSON Lines file per study in studies/.

Old file -> study (results/STUDY.jsonl):
  experiments.json      -> grid (the `cpu` budget: 3 epochs), grid-6ep (the `cpu2x` budget: the 2x2 at 6 epochs)
  experiments_gpu.json  -> grid-full (group `retro`), frontier (groups `frontier` and `best`)
  best_cpu.json         -> best-cpu;  best_spread_cpu.json -> best-spread-cpu
  original_history.json, modern_history.json (the shipped runs, seed 42), seeds.json -> full-runs
  time_to_acc.json      -> time-to-acc;  fast_recipe_cpu.json -> fast-cpu

Each record's recipe is rebuilt from what its file says ran (a recipe of RECIPES plus overrides) and must equal its
study variant's recipe (base + set, resolved as scripts/run.py resolves it) with its seed: `recipe_diff` empty.
Figures that records derive (parameters, MFLOPs, training TFLOP, images seen, reached-at epochs) are checked against
the old file's and not stored; everything else the old files held goes into `extra`. The output files are written
afresh, so running it twice gives the same files.
Usage: python scripts/convert/retrospective.py [--rev GIT_REVISION] [--src DIR] [--dst DIR]
  --rev  read the old files from this git revision of results/ (when they are no longer in the checkout)
"""
import argparse, importlib.util, json, subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OLD = ['experiments', 'experiments_gpu', 'best_cpu', 'best_spread_cpu', 'seeds', 'time_to_acc', 'modern_history',
       'original_history', 'fast_recipe_cpu']
STUDIES = ['grid', 'grid-6ep', 'grid-full', 'frontier', 'best-cpu', 'best-spread-cpu', 'full-runs', 'time-to-acc',
           'fast-cpu']
# files whose runs recorded no date: the date of the commit that added the file
DATES = {'seeds': ('2026-11-28', '9ec66f3'), 'time_to_acc': ('2026-11-28', 'b0b31bb'),
         'fast_recipe_cpu': ('2026-11-28', 'dece398')}

def _run_py():
    "scripts/run.py as a module: its `load_study` and `resolve` are the runner's own."
    spec = importlib.util.spec_from_file_location('run_script', ROOT/'scripts'/'run.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def _reader(src=None, rev=None):
    "A function name -> the old file's JSON, from folder `src` or git revision `rev`."
    def read(name):
        if rev: return json.loads(subprocess.run(['git', '-C', str(ROOT), 'show', f'{rev}:results/{name}.json'],
                                                 capture_output=True, text=True, check=True).stdout)
        return json.loads((Path(src or ROOT/'results')/f'{name}.json').read_text())
    return read

def _machine(cpu=None, flags=(), kernels=None, cores=None, threads=None, jobs=None, device=None, torch=None, load=None):
    from fmnist_cnn.book.records import FLAGS
    return dict(cpu=cpu, flags=[f for f in FLAGS if f in flags], kernels=kernels, cores=cores, threads=threads,
                jobs=jobs, device=device, torch=torch, load=load)

def _curve_history(curve:list, test_acc:float) -> list:
    "Epochs rebuilt from a validation curve and the final test accuracy (10,000 images each: 4 decimals are exact)."
    h = [dict(epoch=i + 1, valid_err=round(1 - a, 4)) for i, a in enumerate(curve)]
    h[-1]['test_err'] = round(1 - test_acc, 4)
    return h

def _final_history(epochs:int, test_acc:float) -> list:
    "Epochs of a run that kept only its final test accuracy."
    return [dict(epoch=i + 1) for i in range(epochs - 1)] + [dict(epoch=epochs, test_err=round(1 - test_acc, 4))]

class Converter:
    def __init__(self, read):
        from fmnist_cnn.training import RECIPES, merge
        self.read, self.RECIPES, self.merge, self.rp = read, RECIPES, merge, _run_py()
        self.studies = {s: self.rp.load_study(s) for s in STUDIES}
        self.out = {s: [] for s in STUDIES}

    def add(self, study, variant, seed, recipe, hist, data, machine, extra, date, old=None, code=None):
        "Check `recipe` against the study's variant and the old record's derivable figures; keep the record."
        from fmnist_cnn.book.records import make_record, check_record
        from fmnist_cnn.model import build_model, n_params, mflops
        from fmnist_cnn.training import recipe_diff
        st = self.studies[study]
        want = self.merge(self.rp.resolve(st, variant), seed=seed)
        diff = recipe_diff(want, recipe)
        assert not diff, f'{study}/{variant} seed {seed}: the study variant differs from the recipe that ran: {diff}'
        rec = make_record(study, variant, seed, recipe, hist, data, what=st['variants'][variant]['what'],
                          machine=machine, extra=extra, code=code or dict(commit=None, dirty=None))
        rec['date'] = date
        if old:                                          # what the old file stored, derived from the record instead
            m = build_model(recipe['model'])
            if 'params' in old: assert n_params(m) == old['params'], (study, variant, old['params'])
            if 'mflops' in old: assert round(mflops(m), 1) == old['mflops'], (study, variant, old['mflops'])
            if 'train_tflop' in old:                     # no progressive resizing here: MFLOPs x images x 3
                assert recipe['tricks']['low_res'] == 0, (study, variant)
                t = 3*rec['data']['n_train']*len(hist)*mflops(m)/1e6
                assert abs(t - old['train_tflop']) < 2e-3, (study, variant, t, old['train_tflop'])
            if 'images_seen' in old: assert old['images_seen'] == rec['data']['n_train']*len(hist), (study, variant)
        self.out[study].append(check_record(rec))

    def experiments(self, name):
        "scripts/experiments.py's records: grid, grid-6ep, grid-full, frontier, best-cpu, best-spread-cpu."
        for r in self.read(name):
            study = {('cpu', 'retro'): 'grid', ('cpu2x', 'retro'): 'grid-6ep', ('full', 'retro'): 'grid-full',
                     ('full', 'frontier'): 'frontier', ('full', 'best'): 'frontier',
                     ('full', 'spread'): 'best-spread-cpu'}[r['budget'], r['group']]
            if name == 'best_cpu': study = 'best-cpu'
            ov = {k: v for k, v in r['overrides'].items() if k != 'seed'}
            extra = dict(train_s=r['train_time_s'], wall_s=r['wall_s'])
            if 'eval_time_s' in r: extra['eval_s'] = r['eval_time_s']
            recipe = self.merge(self.RECIPES[r['recipe']], **ov)
            if recipe['precision']['bf16'] == 'auto' and study in ('grid', 'grid-6ep'):
                # the grid's first runs asked for 'auto', which trained in float32 on their CPU (AVX2, no native
                # bfloat16); the later ones pinned float32, as the grid's study does
                assert r['bf16'] is False, r
                recipe = self.merge(recipe, **{'precision.bf16': False}); extra['bf16_asked'] = 'auto'
            elif recipe['precision']['bf16'] == 'auto' and 'bf16' in r: extra['bf16'] = r['bf16']   # what 'auto' chose
            recipe = self.merge(recipe, seed=r['seed'])
            load = r.get('load')
            if load: extra['load_at_start'] = load[0]
            for k in ('resumed_after_epochs', 'cpu_family', 'cpu_model'):
                if k in r: extra[k] = r[k]
            on_cpu = r['device'].startswith('cpu')
            machine = _machine(cpu=r['cpu'], flags=r.get('cpu_flags', ()), kernels=r.get('cpu_capability'),
                               cores=int(r['device'].split('(')[1].split()[0]) if on_cpu else None,
                               threads=r['threads'], jobs=r['concurrent_jobs'], device='cpu' if on_cpu else r['device'],
                               torch=r['torch'], load=load[1] if load else None)
            assert len(r['valid_curve']) == r['epochs'] and r['valid_curve'][-1] == r['valid_acc'], r['name']
            n_valid = recipe['data']['valid']
            data = dict(n_train=r['n_train'] or 60_000 - n_valid, n_valid=n_valid, n_test=r.get('n_test') or 10_000)
            hist = _curve_history(r['valid_curve'], r['test_acc'])
            self.add(study, r['name'], r['seed'], recipe, hist, data, machine, extra, r['date'], old=r)

    def full_runs(self):
        "The shipped runs' histories (seed 42) and scripts/ablation.py's other seeds of the modern recipe."
        from fmnist_cnn.model import read_meta, WEIGHTS_DIR
        full = dict(n_train=60_000, n_valid=0, n_test=10_000)
        for name in ('original', 'modern'):
            hist, meta = self.read(f'{name}_history'), read_meta(WEIGHTS_DIR/f'{name}.pt')
            assert hist == meta['history'], name                       # the run behind the shipped weights
            recipe = self.merge(self.RECIPES[name], **{'data.valid': 0, 'seed': 42},
                                **({'precision.bf16': True} if name == 'modern' else {}))
            commit = meta['commit']
            code = dict(commit=commit.removesuffix('-dirty'), dirty=commit.endswith('-dirty'))
            extra = dict(wall_s=meta['wall_time_s'])
            if meta.get('date_note'): extra['date_note'] = meta['date_note']
            machine = _machine(threads=meta['cpu_threads'], jobs=1, device='cpu', torch=meta['torch'])
            self.add('full-runs', name, 42, recipe, hist, full, machine, extra, meta['date'],
                     old=dict(params=meta['n_params']), code=code)
        date, commit = DATES['seeds']
        for r in self.read('seeds'):
            assert r['config'] == 'full' and r['epochs'] == 18, r
            recipe = self.merge(self.RECIPES['modern'], **{'data.valid': 0, 'precision.bf16': True, 'seed': r['seed']})
            self.add('full-runs', 'modern', r['seed'], recipe, _final_history(r['epochs'], r['test_acc']), full,
                     _machine(device='cpu'), dict(train_s=r['train_time_s'], wall_s=r['wall_s'],
                                                  date_note=f'the date of the commit that added results/seeds.json '
                                                            f'({commit}); the runs recorded none'),
                     date, old=dict(params=r['params']))

    def time_to_acc(self):
        "scripts/bench_time_to_acc.py's record (its first format): the fast recipe, then the original, capped."
        t = self.read('time_to_acc'); date, commit = DATES['time_to_acc']
        assert 'modern_info' in t and t['modern_info']['recipe'] == 'fast', sorted(t)
        full = dict(n_train=60_000, n_valid=0, n_test=10_000)
        note = f"the date of the commit that wrote results/time_to_acc.json ({commit}); the runs recorded none"
        machine = _machine(threads=t['threads'], jobs=1, device='cpu')
        fast = self.merge(self.RECIPES['fast'], **{'data.valid': 0, 'precision.bf16': True, 'seed': 42})
        assert json.loads(json.dumps(fast['model']['args'])) == t['modern_info']['model'], t['modern_info']
        self.add('time-to-acc', 'fast', 42, fast, t['modern'], full, machine, dict(target=t['target'], date_note=note),
                 date, old={k: t['modern_info'][k] for k in ('params', 'mflops')})
        orig = self.merge(self.RECIPES['original'], **{'data.valid': 0, 'seed': 42})
        self.add('time-to-acc', 'original', 42, orig, t['original'], full, machine,
                 dict(target=t['target'], cap_minutes=t['cap_minutes'], date_note=note), date)

    def fast_cpu(self):
        "The fast recipe from three seeds on an AVX2 CPU (bfloat16 'auto': float32 there)."
        t = self.read('fast_recipe_cpu'); date, commit = DATES['fast_recipe_cpu']
        from fmnist_cnn.book.records import reached, train_s
        for r in t['fast']:
            recipe = self.merge(self.RECIPES['fast'], **{'data.valid': 0, 'seed': r['seed']})
            machine = _machine(cpu=t['cpu'], cores=t['cores'], threads=t['threads'], jobs=1, device='cpu',
                               torch=t['torch'])
            full = dict(n_train=60_000, n_valid=0, n_test=10_000)
            self.add('fast-cpu', 'fast', r['seed'], recipe, r['history'], full, machine,
                     dict(bf16=t['bf16'], target=t['target'],
                          date_note=f'the date of the commit that added results/fast_recipe_cpu.json ({commit}); '
                                    f'the runs recorded none'),
                     date, old={k: r[k] for k in ('params', 'mflops')})
            rec = self.out['fast-cpu'][-1]                         # the old file's derived figures, from the record
            e = reached(rec, t['target'], 'test'); h = rec['history']
            assert [e, round(sum(x['train_time'] for x in h[:e]), 1), round(h[e - 1]['elapsed'], 1)] == r['reached']
            assert round(train_s(rec), 1) == r['train_time_s']
            assert round(1 - h[-1]['test_err'], 4) == r['final_test_acc']

def convert(src=None, # folder of the old files (default results/)
            dst=None, # where the studies' .jsonl files go (default results/)
            rev:str=None, # read the old files from this git revision instead
           ) -> dict:
    "Write every study's records afresh from the old files; {study: records written}."
    c = Converter(_reader(src, rev))
    for name in ('experiments', 'experiments_gpu', 'best_cpu', 'best_spread_cpu'): c.experiments(name)
    c.full_runs(); c.time_to_acc(); c.fast_cpu()
    dst = Path(dst or ROOT/'results'); dst.mkdir(parents=True, exist_ok=True)
    for study, recs in c.out.items():
        keys = [(r['variant'], r['seed']) for r in recs]
        assert len(set(keys)) == len(keys), f'{study}: a (variant, seed) twice'
        (dst/f'{study}.jsonl').write_text(''.join(json.dumps(r, separators=(',', ':')) + '\n' for r in recs))
    return {s: len(r) for s, r in c.out.items()}

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rev'); ap.add_argument('--src'); ap.add_argument('--dst')
    a = ap.parse_args()
    print(convert(a.src, a.dst, a.rev))
