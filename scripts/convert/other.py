"""One-off conversion of the measurement records to the book's one record shape (`fmnist_cnn.book.records`).

Converts results/photos.json, photo_prep.json, corruptions.jsonl, robust.jsonl, chapter_times.jsonl and the
stdout captures bench_bf16.txt, bench_ddp.txt, bench_loader.txt and bench_training.txt into one JSON Lines file
per study, checks that every figure the old file held is in the new one (or is derived from it exactly), and
removes the old file. Idempotent: a study already in the new shape is left alone. Kept for provenance.

Usage: python scripts/convert/other.py
"""
import json, re, subprocess
from pathlib import Path
from fmnist_cnn.book.records import make_record, read_records, check_record, MACHINE_KEYS, FLAGS

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT/'results'

def code(commit) -> dict:
    "{'commit', 'dirty'} from an old record's commit string ('-dirty' suffix: dirty)."
    if not commit or commit == 'unknown': return dict(commit=None, dirty=None)
    return dict(commit=commit.removesuffix('-dirty'), dirty=commit.endswith('-dirty'))

def machine(old:dict=None, **kw) -> dict:
    "The record's machine from what an old record kept; fields it did not keep are null."
    m = {k: None for k in MACHINE_KEYS} | {'flags': []}
    for k, v in {**(old or {}), **kw}.items():
        if k == 'flags': v = [f for f in FLAGS if f in v and (not isinstance(v, dict) or v[f])]
        m[k] = v
    return m

def stored_date(name:str) -> str:
    "The date of the commit that stored results/NAME (the old file kept no date of its own)."
    r = subprocess.run(['git', '-C', str(ROOT), 'log', '-1', '--format=%cI', '--', f'results/{name}'],
                       capture_output=True, text=True)
    return r.stdout.strip()[:19] or 'unknown'

NO_DATA = dict(n_train=None, n_valid=None, n_test=None)

def _rec(study, variant, seed=None, what='', data=NO_DATA, mach=None, code_=None, date=None, extra=None) -> dict:
    rec = make_record(study, variant, seed, None, [], data, what=what, machine=mach or machine(),
                      code=code_ or code(None), extra=extra)
    rec['date'] = date
    return check_record(rec)

def _write(study:str, recs:list, old:Path):
    "Write `recs` as results/STUDY.jsonl (replacing it), read it back, and remove `old` if it is another file."
    new = RES/f'{study}.jsonl'
    new.write_text(''.join(json.dumps(r, separators=(',', ':')) + '\n' for r in recs))
    assert read_records(new) == recs
    if old != new: old.unlink()
    print(f'{old.name} -> {new.name}: {len(recs)} records')

def _new_shape(p:Path) -> bool:
    "True if `p` is gone or already holds records of the new shape."
    if not p.exists(): return True
    if p.suffix != '.jsonl': return False
    first = next((l for l in p.read_text().splitlines() if l.strip()), None)
    return first is None or 'schema' in json.loads(first)

# photos.json: one measurement of every shipped model -> one record per model
def photos():
    p = RES/'photos.json'
    if _new_shape(p): return
    old = json.loads(p.read_text())
    date = stored_date(p.name)
    recs = [_rec('photos', m, what=f'the shipped model {m!r} on synthetic photos of the first {old["n"]:,} test images '
                 'on each background, prepared by prepare_image, by prepare_image ending in one resize, and by the '
                 'simple preprocessing; and on the same images at 28x28',
                 data=dict(NO_DATA, n_test=old['n']), date=date,
                 extra=dict(model=None, kinds=old['kinds'], photo_seeds=old['seeds'], acc_28x28=a,
                            **{k: {kind: old[k][kind][m] for kind in old['kinds']}
                               for k in ('photo', 'resize', 'simple', 'check')},
                            run_s=old['time_s'], date_is='the date of the commit that stored the old record'))
            for m, a in old['acc_28x28'].items()]
    for r in recs:                                                               # nothing lost
        m = r['variant']
        assert all(r['extra'][k][kind] == old[k][kind][m] for k in ('photo', 'resize', 'simple', 'check')
                   for kind in old['kinds'])
    assert set(old) == {'n', 'seeds', 'kinds', 'acc_28x28', 'photo', 'resize', 'simple', 'check', 'time_s'}
    _write('photos', recs, p)

def prep_choice(gaps:dict) -> tuple:
    "Mean and worst gap of each candidate over the backgrounds and models, and the chosen one (the smallest mean)."
    import numpy as np
    models = list(gaps); cands = list(gaps[models[0]]); kinds = list(gaps[models[0]][cands[0]])
    vals = {c: [gaps[m][c][k] for k in kinds for m in models] for c in cands}     # as choose_photo_prep.py averages
    mean = {c: round(float(np.mean(v)), 2) for c, v in vals.items()}
    worst = {c: max(v) for c, v in vals.items()}
    return mean, worst, min(mean, key=mean.get)

# photo_prep.json: the choice of like_fmnist's last step, on validation photos -> one record per model
def photo_prep():
    p = RES/'photo_prep.json'
    if _new_shape(p): return
    old = json.loads(p.read_text())
    models = list(old['acc_28x28'])
    gaps = {m: {c: {k: g[k][m] for k in g} for c, g in old['gap_points'].items()} for m in models}
    mean, worst, chosen = prep_choice(gaps)                                       # derived, so not stored
    assert (mean, worst, chosen) == (old['mean_gap'], old['worst_gap'], old['chosen'])
    date = stored_date(p.name)
    recs = [_rec('photo_prep', m, what=f'points the shipped model {m!r} loses on synthetic photos of the first '
                 f'{old["n"]:,} validation images against the same images at 28x28, for each candidate last step '
                 'of like_fmnist', data=dict(NO_DATA, n_valid=old['n']), date=date,
                 extra=dict(model=None, split=old['split'], photo_seeds=old['seeds'], acc_28x28=old['acc_28x28'][m],
                            gap_points=gaps[m], run_s=old['time_s'],
                            date_is='the date of the commit that stored the old record'))
            for m in models]
    _write('photo_prep', recs, p)

# corruptions.jsonl: one line per (model, corruption, severity) -> one record per (model, seed) with its rows
ROW_KEYS = ('corruption', 'severity', 'acc', 'ece', 'nll', 'ece_cal', 'nll_cal')

def corruptions():
    p = RES/'corruptions.jsonl'
    if _new_shape(p): return
    old = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
    recs = []
    for key in dict.fromkeys((r['name'], r['seed'], r['data']['test']) for r in old):
        rows = [r for r in old if (r['name'], r['seed'], r['data']['test']) == key]
        r0 = rows[0]
        for k in ('recipe', 'machine', 'commit', 'date', 'data', 'temperature', 'study'):
            assert all(r[k] == r0[k] for r in rows), (key, k)                   # one value per model: kept once
        assert r0['data']['split'] == 'test'
        meta = r0['recipe']
        recs.append(_rec('corruptions', r0['name'], r0['seed'],
                         what=f"the shipped model {r0['name']!r} on the first {r0['data']['test']:,} test images, "
                              'clean and under every corruption x severity, raw and with its temperature',
                         data=dict(NO_DATA, n_test=r0['data']['test']), mach=machine(r0['machine']),
                         code_=code(r0['commit']), date=r0['date'],
                         extra=dict(model={k: v for k, v in meta.items() if k != 'model'},
                                    temperature=r0['temperature'],
                                    rows=[{k: r[k] for k in ROW_KEYS if k in r} | r['extra'] for r in rows])))
        assert meta['model'] == r0['name']
        for r, q in zip(rows, recs[-1]['extra']['rows']):                        # nothing lost
            assert set(r) - {'study', 'name', 'seed', 'recipe', 'machine', 'commit', 'date', 'data', 'temperature',
                             'extra'} | set(r['extra']) == set(q)
    assert sum(len(r['extra']['rows']) for r in recs) == len(old)
    _write('corruptions', recs, p)

# robust.jsonl: one training run per line -> the same, in the record shape
def robust():
    p = RES/'robust.jsonl'
    if _new_shape(p): return
    from fmnist_cnn.model import build_model, n_params
    from fmnist_cnn.training import RECIPES, merge
    old = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
    recs = []
    for r in old:
        recipe = {k: v for k, v in r['recipe'].items() if k not in ('name', 'augment')}
        assert recipe == json.loads(json.dumps(merge(RECIPES[r['recipe']['name']], seed=r['seed'])))  # the recipe ran
        assert r['params'] == n_params(build_model(recipe['model'])) and r['bf16'] == recipe['precision']['bf16']
        d = r['data']
        aug = r['recipe']['augment']
        what = ('speedrun-cpu as it is' if aug is None else
                'speedrun-cpu with half of each training batch corrupted by a training type (RandomCorruption)')
        ex = dict(r['extra']); load = ex.pop('load')
        recs.append(check_record(dict(
            make_record('robust', r['name'], r['seed'], recipe, r['history'],
                        dict(n_train=d['train'], n_valid=recipe['data']['valid'], n_test=10_000), what=what,
                        machine=machine(r['machine'], load=load), code=code(r['commit']),
                        extra=dict(base=r['recipe']['name'], augment=aug, fit_s=r['train_s'], eval_s=r['eval_s'],
                                   n_eval=d['test'], split_seed=d['split_seed'], metrics=r['metrics'],
                                   valid_rows=r['valid_rows'], test_rows=r['test_rows'], **ex)),
            date=r['date'])))
        assert d['valid'] == d['test'] and set(r) == {'study', 'name', 'seed', 'recipe', 'machine', 'commit', 'date',
                                                      'data', 'history', 'train_s', 'eval_s', 'bf16', 'params',
                                                      'metrics', 'valid_rows', 'test_rows', 'extra'}
    _write('robust', recs, p)

# chapter_times.jsonl: one line per notebook measured -> the same, in the record shape
def chapter_times():
    p = RES/'chapter_times.jsonl'
    if _new_shape(p): return
    old = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
    recs = []
    for r in old:
        assert set(r) <= {'study', 'name', 'seed', 'recipe', 'seconds', 'machine', 'conditions', 'commit', 'date',
                          'data'} and r['recipe'] is None and r['seed'] is None and r['data'] == 'full'
        cond = r.get('conditions')
        recs.append(_rec('chapter_times', r['name'], what=f"Run All of {r['name']}.ipynb",
                         mach=machine(r['machine'], jobs=cond['jobs'] if cond else 1), code_=code(r['commit']),
                         date=r['date'], extra=dict(seconds=r['seconds'], data=r['data'],
                                                    **({'conditions': cond} if cond else {}))))
    _write('chapter_times', recs, p)

# the stdout captures of four benchmarks -> one record per configuration measured
def _txt(name:str):
    p = RES/name
    return (None, None) if not p.exists() else (p, p.read_text())

def bench_bf16():
    p, t = _txt('bench_bf16.txt')
    if p is None: return
    m = re.fullmatch(r"(?P<cpu>.+), (?P<th>\d+) threads, torch (?P<torch>\S+); bf16_native: (?P<nat>True|False)\n"
                     r"a training step of the fast recipe's network, batch (?P<bs>\d+), channels-last "
                     r"\(best of (?P<rounds>\d+) rounds of (?P<steps>\d+) steps\):\n"
                     r"  float32 +(?P<f>[\d.]+) ms\n  bfloat16 autocast +(?P<b>[\d.]+) ms\n"
                     r"  bfloat16 / float32 +(?P<ratio>[\d.]+)x the time\n", t)
    mach = machine(cpu=m['cpu'], threads=int(m['th']), torch=m['torch'], device='cpu')
    common = dict(network='fast', bs=int(m['bs']), rounds=int(m['rounds']), steps=int(m['steps']),
                  bf16_native=m['nat'] == 'True', channels_last=True, date_is='the date of the commit that stored it')
    recs = [_rec('bench_bf16', v, what=f"seconds of one training step of the fast recipe's network in {v}",
                 mach=mach, date=stored_date(p.name), extra=dict(common, step_ms=float(ms)))
            for v, ms in (('float32', m['f']), ('bfloat16 autocast', m['b']))]
    assert f"{recs[1]['extra']['step_ms']/recs[0]['extra']['step_ms']:.2f}" == m['ratio']     # derived
    _write('bench_bf16', recs, p)

def bench_ddp():
    p, t = _txt('bench_ddp.txt')
    if p is None: return
    lines = t.splitlines()
    h = re.fullmatch(r'(?P<cpu>\S+), (?P<cores>\d+) cores; fast recipe, 1 epoch on (?P<n>[\d,]+) images '
                     r'\(global batch (?P<bs>\d+)\)', lines[0])
    n = int(h['n'].replace(',', ''))
    rows = [re.fullmatch(r'(?P<v>\d+ process(?:es)? x \d+ threads?) : +(?P<s>[\d.]+) s, +(?P<ips>\d+) images/s, '
                         r'test accuracy (?P<acc>[\d.]+)%', l) for l in lines[1:3]]
    sp = re.fullmatch(r'speed-up of the (\d+) processes: ([\d.]+)x', lines[3])
    recs = []
    for r in rows:
        procs, threads = (int(x) for x in re.findall(r'\d+', r['v']))
        recs.append(_rec('bench_ddp', r['v'], what=f"the fast recipe for 1 epoch on {n:,} training images in "
                         f"{r['v']} (global batch {h['bs']})", data=dict(n_train=n, n_valid=0, n_test=10_000),
                         mach=machine(cpu=h['cpu'], cores=int(h['cores']), threads=threads, jobs=procs, device='cpu'),
                         date=stored_date(p.name),
                         extra=dict(recipe='fast', epochs=1, bs=int(h['bs']), processes=procs, train_s=float(r['s']),
                                    images_per_s=int(r['ips']), test_acc=round(float(r['acc'])/100, 4),
                                    date_is='the date of the commit that stored it')))
    assert f"{recs[0]['extra']['train_s']/recs[1]['extra']['train_s']:.2f}" == sp[2]                 # derived
    assert len(lines) == 4
    _write('bench_ddp', recs, p)

def bench_loader():
    p, t = _txt('bench_loader.txt')
    if p is None: return
    lines = t.splitlines()
    h = re.fullmatch(r'one epoch of (?P<n>[\d,]+) training images, batch size (?P<bs>\d+), torch (?P<torch>\S+), '
                     r'(?P<th>\d+) threads', lines[0])
    load = re.fullmatch(r'  loading both splits into memory once \(get_dls\): ([\d.]+) s', lines[1])
    rows = [re.fullmatch(r'  (?P<v>.+?) +(?P<s>[\d.]+) s/epoch  \((?P<ips>[\d,]+) images/s\)', l) for l in lines[2:4]]
    sp = re.fullmatch(r'  speed-up of the in-memory loader: ([\d.]+)x', lines[4])
    n = int(h['n'].replace(',', ''))
    mach = machine(threads=int(h['th']), torch=h['torch'], device='cpu')
    recs = [_rec('bench_loader', r['v'], what=f"one shuffled epoch of batches of {h['bs']} through {r['v']}",
                 data=dict(n_train=n, n_valid=0, n_test=None), mach=mach, date=stored_date(p.name),
                 extra=dict(bs=int(h['bs']), epoch_s=float(r['s']), images_per_s=int(r['ips'].replace(',', '')),
                            **({'load_s': float(load[1])} if i == 0 else {}),
                            date_is='the date of the commit that stored it'))
            for i, r in enumerate(rows)]
    assert f"{recs[0]['extra']['images_per_s']/recs[1]['extra']['images_per_s']:.1f}" == sp[1]        # derived
    assert len(lines) == 5
    _write('bench_loader', recs, p)

def bench_training():
    p, t = _txt('bench_training.txt')
    if p is None: return
    lines = t.splitlines()
    h = re.fullmatch(r'(?P<cpu>\S+), (?P<th>\d+) threads, torch (?P<torch>\S+); (?P<b>\d+) batches of (?P<bs>\d+), '
                     r'best of (?P<r>\d+) rounds', lines[0])
    assert lines[1] == '' and lines[2].split() == ['configuration', 'images/s', 'ratio']
    rows, i = [], 3
    while lines[i]:
        m = re.fullmatch(r'(?P<v>.+?) +(?P<ips>\d+) +(?P<ratio>[\d.]+)', lines[i]); rows.append(m); i += 1
    over = re.fullmatch(r'loop overhead: fit / plain loop = ([\d.]+) \(1.0 = none\)', lines[i + 1])
    acc_h = re.fullmatch(r'test accuracy after (?P<e>\d+) epochs on the full data \(seed (?P<seed>\d+), cosine over '
                         r'\d+ epochs\):', lines[i + 3])
    accs = {m['v']: m for m in (re.fullmatch(r'  (?P<v>.+?) +(?P<acc>[\d.]+)%  \((?P<s>\d+) s\)', l)
                                for l in lines[i + 4:])}
    base = int(rows[0]['ips'])
    recs = []
    for m in rows:
        v = m['v']
        threads = 1 if v.endswith('1 thread') else int(h['th'])
        a = accs.get(v)
        recs.append(_rec('bench_training', v, what=f'training throughput of the original CNN: {v}',
                         data=dict(n_train=int(h['b'])*int(h['bs']), n_valid=0, n_test=None),
                         mach=machine(cpu=h['cpu'], threads=threads, torch=h['torch'], device='cpu'),
                         date=stored_date(p.name),
                         extra=dict(bs=int(h['bs']), batches=int(h['b']), rounds=int(h['r']),
                                    images_per_s=int(m['ips']), ratio=float(m['ratio']),   # from unrounded rates
                                    **({'overhead': float(over[1])} if v == 'fit, fp32' else {}),
                                    **({'full_data': dict(epochs=int(acc_h['e']), seed=int(acc_h['seed']),
                                                          test_acc=round(float(a['acc'])/100, 4),
                                                          seconds=int(a['s']))} if a else {}),
                                    date_is='the date of the commit that stored it')))
        assert abs(int(m['ips'])/base - float(m['ratio'])) <= 0.006, m[0]      # derived (from unrounded rates)
    assert abs(int(rows[1]['ips'])/base - float(over[1])) <= 0.0015 and set(accs) <= {m['v'] for m in rows}
    assert sum('full_data' in r['extra'] for r in recs) == len(accs) == len(lines) - i - 4
    _write('bench_training', recs, p)

def convert():
    "Convert every old file that is still there; leave the converted ones alone."
    for f in (photos, photo_prep, corruptions, robust, chapter_times, bench_bf16, bench_ddp, bench_loader,
              bench_training): f()

if __name__ == '__main__': convert()
