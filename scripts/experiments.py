"""The retrospective as experiments: the 2x2 (architecture x recipe) and one ablation per retrospective idea.

Every run trains a recipe of `RECIPES` plus overrides through `train`, holding out the same 10,000 training
images for validation, and is a record in a JSON list (default `results/experiments.json`): name, arch,
recipe, variant, seed, params, mflops, epochs, budget, device, train_time_s, valid_acc, test_acc, ... (test
accuracy in float32 on the full test set, after the last epoch). Runs already recorded are skipped, so the
command can be stopped and run again. Choices are made on `valid_acc`; `test_acc` is only reported.

Budgets: `cpu` is the grid sized for a 2-core CPU (chapter 04): every run trains for `CPU_EPOCHS` epochs, and every
ModernCNN is narrowed to `CPU_ARGS` (widths 16, 32, 64: 33 MFLOPs per image, against the original CNN's 27), so
the 2x2 compares networks of comparable cost and the five ablations start from that network; every run trains in
float32, so that machines with native bfloat16 (where the recipes' `bf16='auto'` would switch it on, for the modern
recipe but not the original) do the same arithmetic as those without. `cpu2x` repeats the
2x2 at twice the epochs, so that the budget does not decide the answer. `full` trains each recipe for its own
number of epochs at full width (30 for the original recipe, 18 for the modern one): a GPU's grid. `--jobs N`
runs N processes at once (on a CPU each gets cores/N threads; on one GPU they fill each other's idle time;
`--devices cuda:0,cuda:1` spreads them over several). Every record has `train_tflop` (MFLOPs per image x images
seen x 3: the same on every machine), the CPU model (name, family, model number, flags), its kernel set, the
training precision, the thread count and the load average around the run (a busy machine makes its seconds an upper
bound). With `--weights-dir`, the long runs (groups `best` and `frontier`) keep a checkpoint there after every epoch
and go on from it when the command is run again; their record says after how many epochs this sitting took over
(`resumed_after_epochs`); `train_time_s` and `eval_time_s` sum every epoch's, `wall_s` and `load` are this sitting's.
Usage: python scripts/experiments.py --budget cpu|cpu2x|full [--device cuda] [--seeds 0,1,2] [--jobs 1]
       [--group retro|best|frontier|spread|all] [--only NAME,...] [--deadline-min M] [--out results/experiments.json]
"""
import argparse, json, math, multiprocessing as mp, os, sys, time
from pathlib import Path

CPU_EPOCHS = 3                                              # the `cpu` budget's epochs (`cpu2x`: twice as many)
CPU_ARGS = dict(widths=[16, 32, 64], stem=16)               # the `cpu` budgets' ModernCNN: 0.17M parameters, 33 MFLOPs
TWO_BY_TWO = ['original-cnn/original-recipe', 'original-cnn/modern-recipe', 'modern-cnn/original-recipe',
              'modern-cnn/modern-recipe']

def _grid():
    "name: (group, arch, recipe, variant (what changes), overrides)."
    from fmnist_cnn.training import RECIPES
    modern_model = RECIPES['modern']['model']
    g = {
        'original-cnn/original-recipe': ('retro', 'OriginalCNN', 'original', '2x2: the original network and recipe', {}),
        'original-cnn/modern-recipe': ('retro', 'OriginalCNN', 'modern', '2x2: the original network, modern recipe',
                                       {'model': dict(arch='OriginalCNN', args={})}),
        'modern-cnn/original-recipe': ('retro', 'ModernCNN', 'original', '2x2: the modern network, original recipe',
                                       {'model': modern_model}),
        'modern-cnn/modern-recipe': ('retro', 'ModernCNN', 'modern', '2x2: the modern network and recipe (the ablations\' base)', {}),
        'head-fc': ('retro', 'ModernCNN', 'modern', '(a) head: flatten + 2-layer MLP instead of global average pooling + linear',
                    {'model.args': dict(head='fc')}),
        'one-block-per-stage': ('retro', 'ModernCNN', 'modern', '(b) stacking: 1 block per stage (1, 1, 1) instead of (1, 2, 2)',
                                {'model.args': dict(depths=[1, 1, 1])}),
        'early-downsampling': ('retro', 'ModernCNN', 'modern', '(c) pooling: leave 28x28 at once, strides (2, 2, 1): stages at 14, 7, 7 px',
                               {'model.args': dict(strides=[2, 2, 1])}),
        'plain-blocks': ('retro', 'ModernCNN', 'modern', '(d) residual vs plain: the same convolutions without shortcuts',
                         {'model.args': dict(block='plain')}),
        'mbconv-blocks': ('retro', 'ModernCNN', 'modern', '(e) inverted residual blocks (depth-wise 3x3) instead of standard 3x3 blocks',
                          {'model.args': dict(block='mbconv')}),
    }
    long = dict(epochs=100, data=dict(bs=512), opt=dict(lr=0.4))
    g |= {
        'best-a': ('best', 'ModernCNN', 'modern', 'candidate: the modern network, 100 epochs at batch 512, peak lr 0.4', long),
        'best-b': ('best', 'ModernCNN', 'modern', 'candidate: 3 blocks in the last stage (0.97M parameters), 100 epochs at batch 512',
                   long | {'model.args': dict(depths=[1, 2, 3])}),
    }
    # the frontier (issue 24): tiny (<= 25k parameters) and small (<= 100k) candidates, 3 seeds each, chosen on validation
    fr = dict(epochs=60, data=dict(bs=512), opt=dict(lr=0.4))
    for name, args in [('tiny-a', dict(widths=[8, 16, 32], depths=[1, 1, 1], stem=8)),
                       ('tiny-b', dict(widths=[16, 32, 48], depths=[1, 1, 1], stem=16, block='mbconv')),
                       ('tiny-c', dict(widths=[8, 16, 32], depths=[1, 1, 1], stem=16)),
                       ('small-a', dict(widths=[16, 32, 64], depths=[1, 1, 1], stem=16)),
                       ('small-b', dict(widths=[16, 32, 48], depths=[1, 2, 1], stem=16)),
                       ('small-c', dict(widths=[24, 40, 64], depths=[1, 1, 1], stem=24))]:
        g[name] = ('frontier', 'ModernCNN', 'modern', f'frontier candidate {args}, 60 epochs at batch 512, peak lr 0.4',
                   fr | {'model.args': args})
    for name in ('tiny-b', 'tiny-c'):                                   # the tiny candidates, trained longer
        grp, arch, rec, var, ov = g[name]
        g[f'{name}-100'] = (grp, arch, rec, var.replace('60 epochs', '100 epochs'), ov | {'epochs': 100})
    g |= {
        'best-c': ('best', 'ModernCNN', 'modern', 'candidate: widths (48, 96, 128), 2 blocks per stage (0.94M), 100 epochs at batch 512',
                   long | {'model.args': dict(widths=[48, 96, 128], depths=[2, 2, 2], stem=32)}),
        'best-d': ('best', 'ModernCNN', 'modern', 'candidate: best-b for 200 epochs',
                   long | {'epochs': 200, 'model.args': dict(depths=[1, 2, 3])}),
    }
    # the seed spread of the shipped best model's recipe (best-c) at a budget a 2-core CPU affords (issue 24)
    g['best-c/5-epochs'] = ('spread', 'ModernCNN', 'modern', "best-c's recipe for 5 epochs instead of 100: its seed spread",
                            g['best-c'][4] | {'epochs': 5})
    return g

def run_one(job:dict) -> dict:
    "Train one (name, seed) and return its record."
    import torch
    from fmnist_cnn.training import RECIPES, train
    from fmnist_cnn.model import n_params, mflops
    if job.get('threads'): torch.set_num_threads(job['threads'])
    group, arch, recipe, variant, ov = _grid()[job['name']]
    ov = dict(ov) | {'seed': job['seed']}
    if job['budget'] in ('cpu', 'cpu2x'):
        ov['epochs'] = CPU_EPOCHS*(2 if job['budget'] == 'cpu2x' else 1)
        ov['precision.bf16'] = False                             # the arithmetic held fixed: float32 on every machine
        if arch == 'ModernCNN':                                  # narrowed, with the variant's own changes on top
            margs = RECIPES['modern']['model']['args'] | CPU_ARGS | ov.pop('model.args', {}) | ov.get('model', {}).get('args', {})
            ov['model'] = dict(arch='ModernCNN', args=margs)
    if job.get('epochs'): ov['epochs'] = job['epochs']          # smoke tests only
    if job.get('compile'): ov['precision.compile'] = job['compile']
    out = (Path(job['weights_dir'])/f"{job['name'].replace('/', '_')}-s{job['seed']}"
           if group in ('best', 'frontier') and job.get('weights_dir') else None)
    hist0 = out/'history.json' if out else None                    # a long run stopped half-way goes on from there
    resumed = len(json.loads(hist0.read_text())) if hist0 and (out/'checkpoint.pt').exists() and hist0.exists() else 0
    from bench_cpu import machine                                 # scripts/bench_cpu.py: the CPU's family, model, flags
    m = machine()
    t0, load0 = time.time(), os.getloadavg()[0]
    model, hist = train(RECIPES[recipe], out, device=job['device'], progress=False, n_train=job.get('n_train'),
                        n_test=job.get('n_test'), resume=out is not None, **ov)
    h = hist[-1]
    from fmnist_cnn.training import merge
    from fmnist_cnn.training import bf16_native
    bf16 = merge(RECIPES[recipe], **{k: v for k, v in ov.items() if k != 'seed'})['precision']['bf16']
    bf16 = bf16_native(job['device']) if bf16 == 'auto' else bool(bf16)        # the recipe's 'auto': where it is native
    n_seen = sum(x.get('n_train_seen', 0) for x in hist) or len(hist)*(job.get('n_train') or 60_000 - ov.get('data', {}).get('valid', 10_000))
    mf = mflops(model.float())
    return dict(name=job['name'], group=group, arch=arch, recipe=recipe, variant=variant, overrides=ov, seed=job['seed'],
                params=n_params(model), mflops=round(mf, 1), train_tflop=round(mf*1e6*n_seen*3/1e12, 3), images_seen=n_seen, epochs=len(hist), budget=job['budget'],
                device=job['device_name'], concurrent_jobs=job['jobs'], train_time_s=round(sum(x['train_time'] for x in hist), 1),
                eval_time_s=round(sum(x['time'] - x['train_time'] for x in hist), 1),
                wall_s=round(time.time() - t0, 1), valid_acc=round(1 - h['valid_err'], 4), test_acc=round(1 - h['test_err'], 4),
                valid_curve=[round(1 - x['valid_err'], 4) for x in hist], n_train=job.get('n_train'), n_test=job.get('n_test'), torch=torch.__version__, cpu=m['cpu'], cpu_family=m['cpu_family'], cpu_model=m['cpu_model'],
                cpu_flags=[f for f, on in m['flags'].items() if on], cpu_capability=torch.backends.cpu.get_cpu_capability(), bf16=bf16, threads=torch.get_num_threads(),
                load=[round(load0, 2), round(os.getloadavg()[0], 2)], resumed_after_epochs=resumed,
                date=time.strftime('%Y-%m-%d'))

def _worker(q_in, q_out):
    while True:
        job = q_in.get()
        if job is None: return
        try: q_out.put(('ok', run_one(job)))
        except Exception as e: q_out.put(('error', dict(job=job, error=f'{type(e).__name__}: {e}')))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--budget', choices=['cpu', 'cpu2x', 'full'], default='cpu')
    ap.add_argument('--epochs', type=int, default=None, help='override every run\'s epochs (smoke tests only)')
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--group', choices=['retro', 'best', 'frontier', 'spread', 'all'], default='retro')
    ap.add_argument('--only', default=None, help='comma-separated names of the grid')
    ap.add_argument('--device', default=None); ap.add_argument('--devices', default=None, help='comma-separated, one per job in turn')
    ap.add_argument('--jobs', type=int, default=1); ap.add_argument('--compile', default=None, help='override precision.compile')
    ap.add_argument('--deadline-min', type=float, default=None, help='start no run after this many minutes')
    ap.add_argument('--weights-dir', default=None, help="where the 'best' candidates' weights go")
    ap.add_argument('--n-train', type=int, default=None, help='a subset of the training images (smoke tests only)')
    ap.add_argument('--n-test', type=int, default=None, help='a subset of the test images (smoke tests only)')
    ap.add_argument('--stop-file', default=None, help='start no run once this file exists (the runs in flight finish)')
    ap.add_argument('--out', default='results/experiments.json')
    a = ap.parse_args()
    import torch
    from fmnist_cnn.data import write_json
    grid = _grid()
    names = a.only.split(',') if a.only else [n for n, g in grid.items() if a.group in ('all', g[0])]
    if a.budget == 'cpu2x' and not a.only: names = TWO_BY_TWO                      # the 2x2 alone, at twice the epochs
    bad = [n for n in names if n not in grid]
    if bad: sys.exit(f'unknown names {bad}; the grid: {list(grid)}')
    out = Path(a.out); recs = json.loads(out.read_text()) if out.exists() else []
    key = lambda name, seed, budget, n_train, n_test: (name, seed, budget, n_train, n_test)   # a quick run is not a real one
    done = {key(r['name'], r['seed'], r['budget'], r.get('n_train'), r.get('n_test')) for r in recs}
    devices = (a.devices or a.device or ('cuda' if torch.cuda.is_available() else 'cpu')).split(',')
    dev_name = lambda d: torch.cuda.get_device_name(0) if d.startswith('cuda') else f'cpu ({os.cpu_count()} cores)'
    seeds = list(map(int, a.seeds.split(',')))
    order = [(n, s) for n in names if grid[n][0] == 'best' for s in seeds[:1]]          # the long candidates first, one seed
    order += [(n, s) for s in seeds for n in names if grid[n][0] == 'frontier']          # then the frontier's candidates
    order += [(n, s) for s in seeds for n in names if grid[n][0] == 'retro']             # then seed-major: breadth first
    order += [(n, s) for s in seeds for n in names if grid[n][0] == 'spread']            # a recipe's seed spread
    jobs = [dict(name=n, seed=s, budget=a.budget, epochs=a.epochs, compile=a.compile, jobs=a.jobs, n_train=a.n_train, n_test=a.n_test,
                 weights_dir=a.weights_dir, threads=max(1, (os.cpu_count() or 1)//a.jobs) if devices[0] == 'cpu' else None)
            for n, s in order if key(n, s, a.budget, a.n_train, a.n_test) not in done]
    for i, j in enumerate(jobs): j['device'] = devices[i % len(devices)]; j['device_name'] = dev_name(j['device'])
    print(f'{len(jobs)} runs to do ({len(done)} recorded), {a.jobs} at a time on {devices}', flush=True)
    t0, deadline = time.time(), (math.inf if a.deadline_min is None else a.deadline_min)*60
    ctx = mp.get_context('spawn')
    q_in, q_out = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(q_in, q_out), daemon=True) for _ in range(a.jobs)]
    for p in procs: p.start()
    pending, running, failed = list(jobs), 0, []
    while pending or running:
        stop = a.stop_file and Path(a.stop_file).exists()
        while pending and running < a.jobs and time.time() - t0 < deadline and not stop: q_in.put(pending.pop(0)); running += 1
        if not running: break
        status, r = q_out.get(); running -= 1
        if status == 'ok':
            recs.append(r); write_json(recs, out)
            print(f"[{time.time()-t0:6.0f}s] {r['name']:<30} seed {r['seed']}: valid {100*r['valid_acc']:.2f}%, test {100*r['test_acc']:.2f}%, "
                  f"{r['train_time_s']:.0f} s", flush=True)
        else:
            failed.append(r); print(f"[{time.time()-t0:6.0f}s] FAILED {r['job']['name']} seed {r['job']['seed']}: {r['error']}", flush=True)
    for _ in procs: q_in.put(None)
    for p in procs: p.join(timeout=5)
    print(f'{len(recs)} records in {out}; {len(pending)} runs not started before the deadline or the stop file; '
          f'this sitting took {time.time()-t0:.0f} s', flush=True)
    if failed: sys.exit(f'{len(failed)} runs failed (above); the others are recorded, and a second call retries the failed ones')

if __name__ == '__main__': main()
