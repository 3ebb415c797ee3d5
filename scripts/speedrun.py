"""The CPU speedrun's search: each idea a recipe plus overrides, tried on the validation split with several seeds.

`CANDIDATES` below lists every candidate tried, in the order tried, each as (base, overrides, what it tries); the
base is a recipe of `RECIPES` or an earlier candidate. A run trains on 50,000 images and evaluates the held-out
10,000 (the validation split, the same in every run) after every epoch, outside the clock; the test set is not
read (a 100-image subset keeps `train`'s per-epoch test pass cheap, and it is not recorded). Per run: the
validation curve, training seconds and TFLOP per epoch (`epoch_tflop`: halved images counted at their own cost),
the achieved GFLOP/s, the CPU and its kernel set, threads and load. Chapter 09 reads `results/speedrun.json`.
Seconds compare only between runs of one sitting on one machine; TFLOP compare everywhere.
Resumable: a (candidate, seed) already in --out is skipped.
Usage: python scripts/speedrun.py [--only NAME,...] [--seeds 0,1,2] [--jobs 2] [--out results/speedrun.json]
       (--n-train N: a quick run on a subset, for the tests of the record's format only)
"""
import argparse, json, multiprocessing as mp, os, sys, time
from pathlib import Path

_ARCH = lambda **a: dict(model=dict(arch='ModernCNN', args=a))
CANDIDATES = {  # name: (base, overrides, what it tries)
    'fast': ('fast', {'precision.bf16': False},
             "today's CPU recipe: 3 epochs of a 0.17M-parameter ModernCNN, batch 128; float32 (as without bf16)"),
    'fast-2ep': ('fast', dict(epochs=2), "the same, one epoch fewer"),
    # fewer FLOPs per image: every stage downsamples (28 -> 14 -> 7 -> 4), one block per stage
    'down-16': ('fast', _ARCH(widths=(16, 32, 64), depths=(1, 1, 1), stem=16, strides=(2, 2, 2)) | dict(epochs=4),
                "every stage halves the resolution; widths 16-32-64 (5.4 MFLOPs), 4 epochs"),
    'down-24': ('fast', _ARCH(widths=(24, 48, 96), depths=(1, 1, 1), stem=16, strides=(2, 2, 2)) | dict(epochs=2),
                "every stage halves the resolution; widths 24-48-96 (11.1 MFLOPs), 2 epochs"),
    'down-24-3ep': ('down-24', dict(epochs=3), "the same, 3 epochs"),
    'down-32': ('fast', _ARCH(widths=(32, 64, 128), depths=(1, 1, 1), stem=16, strides=(2, 2, 2)) | dict(epochs=2),
                "every stage halves the resolution; widths 32-64-128 (18.8 MFLOPs), 2 epochs"),
    # progressive resizing: the first half of the steps on 14x14 images (a quarter of the work)
    'down-24-3ep-lowres': ('down-24-3ep', {'tricks.low_res': 0.5}, "the first half of the steps at 14x14"),
    # round 2, on the cheapest candidate above 92.5%: free ideas first (no training FLOPs), then the schedule
    'down-16-flip': ('down-16', {'data.aug': dict(flip=0.5)}, "flip half the training images (free)"),
    'down-16-tta': ('down-16', {'tricks.tta_flip': True}, "test-time flip (twice the inference FLOPs)"),
    'down-16-flip-tta': ('down-16-flip', {'tricks.tta_flip': True}, "flip in training and at test time"),
    'down-16-lr4': ('down-16', {'opt.lr': 0.4}, "twice the peak learning rate"),
    'down-16-bs256': ('down-16', {'data.bs': 256, 'opt.lr': 0.4}, "batches of 256, the learning rate scaled with them"),
    'down-16-5ep-lowres': ('down-16', {'epochs': 5, 'tricks.low_res': 0.3},
                           "5 epochs, the first 30% of the steps at 14x14 (the same TFLOP as 4 epochs)"),
    # round 3: flips lose (Fashion-MNIST's shoes all point left); batches of 256 run faster for the same accuracy
    'bs512': ('down-16-bs256', {'data.bs': 512, 'opt.lr': 0.8}, "batches of 512, the learning rate scaled with them"),
    'bs256-ema': ('down-16-bs256', {'tricks.ema': 0.98}, "evaluate an average of the weights (decay 0.98: ~50 steps)"),
    'bs256-shift': ('down-16-bs256', {'data.aug': dict(shift=1)}, "shift the training images by up to 1 pixel"),
    'bs256-ls0': ('down-16-bs256', {'loss.label_smoothing': 0.}, "no label smoothing"),
    'bs256-wide-lowres': ('down-16-bs256', _ARCH(widths=(20, 40, 80), depths=(1, 1, 1), stem=16, strides=(2, 2, 2))
                          | {'tricks.low_res': 0.5}, "widths 20-40-80 (8.0 MFLOPs), the first 2 of 4 epochs at 14x14"),
    # round 4: progressive resizing gave the steadiest seeds; more of it, and the higher learning rate with it
    'lowres-lr4': ('down-16-5ep-lowres', {'opt.lr': 0.4}, "twice the peak learning rate"),
    'lowres-6ep': ('down-16-5ep-lowres', {'epochs': 6, 'tricks.low_res': 0.45},
                   "6 epochs, the first 45% of the steps at 14x14 (about the same TFLOP)"),
    # round 5, on another 2-core machine and timed as the record runs (one run at a time, 2 threads): in the AVX2
    # record a 14x14 epoch took half the time of a full-size one for a quarter of the FLOPs, so fewer, full-size
    # steps and larger batches may cost fewer seconds
    'r5-ref': ('down-16-5ep-lowres', {}, "the recipe of record (speedrun-cpu), timed in this round"),
    'r5-4ep': ('down-16', {}, "4 full-size epochs (down-16), timed in this round"),
    'r5-4ep-lowres': ('down-16-5ep-lowres', {'epochs': 4}, "4 epochs, the first 30% of the steps at 14x14"),
    'r5-bs256': ('down-16-bs256', {}, "4 full-size epochs of batch 256 (down-16-bs256), timed in this round"),
    'r5-bs256-lowres': ('down-16-bs256', {'epochs': 5, 'tricks.low_res': 0.3},
                        "batches of 256, 5 epochs, the first 30% of the steps at 14x14"),
    # round 6: the 28x28 stem and the stride-2 block that reads it do little arithmetic on the largest activations;
    # a 2x2 "patchify" stem (ConvNeXt's) of stride 2 starts at 14x14 instead, the stages unchanged
    'patch2': ('r5-4ep', {'model.args': dict(patch=2, strides=(1, 2, 2))},
               "a 2x2 patchify stem of stride 2: stages at 14, 7 and 4 pixels as before, nothing at 28x28"),
    'patch2-lowres': ('patch2', {'epochs': 5, 'tricks.low_res': 0.3}, "5 epochs, the first 30% of the steps at 14x14"),
    # round 7, on an AVX-512 machine with AMX (timed alone, 2 threads): the patchify stem ran fastest but saw each
    # pixel once; a 3x3 stem of stride 2 (ResNet's, overlapping windows) also starts at 14x14, and larger batches
    # keep the cores busier on such small images
    'r7-ref': ('down-16-5ep-lowres', {}, "the recipe of record (speedrun-cpu), timed in this round"),
    's2stem': ('r7-ref', {'model.args': dict(stem_stride=2, strides=(1, 2, 2))},
               "a 3x3 stem of stride 2: stages at 14, 7 and 4 pixels as before, nothing at 28x28"),
    's2stem-bs256': ('s2stem', {'data.bs': 256, 'opt.lr': 0.4}, "batches of 256, the learning rate scaled with them"),
    's2stem-bs512': ('s2stem', {'data.bs': 512, 'opt.lr': 0.8}, "batches of 512, the learning rate scaled with them"),
    's2stem-wide': ('s2stem', _ARCH(widths=(24, 48, 96), depths=(1, 1, 1), stem=16, strides=(1, 2, 2), stem_stride=2)
                    | {'epochs': 3}, "widths 24-48-96 (10.9 MFLOPs), 3 epochs, the first 30% of the steps at 14x14"),
    # round 8, on the AVX-512 machine with AMX (timed alone, 2 threads): airbench's data-dependent first layer. The
    # stem's 16 filters are computed from the training images' 3x3 patches (the 8 directions of most variance,
    # whitened, each + and -) and frozen (`tricks.whiten`, chapter 02); then, since it learns faster, fewer epochs
    'r8-ref': ('down-16-5ep-lowres', {}, "the recipe of record (speedrun-cpu), timed in this round"),
    'whiten': ('r8-ref', {'tricks.whiten': True}, "the stem's filters from patch whitening, frozen"),
    'whiten-4ep': ('whiten', {'epochs': 4}, "4 epochs, the first 30% of the steps at 14x14 (a fifth fewer TFLOP)"),
    'whiten-3ep': ('whiten', {'epochs': 3}, "3 epochs, the first 30% of the steps at 14x14 (two fifths fewer TFLOP)"),
    'whiten-s2stem': ('whiten', {'model.args': dict(stem_stride=2, strides=(1, 2, 2))},
                      "the whitened stem with stride 2: stages at 14, 7 and 4 pixels as before, nothing at 28x28"),
    'whiten-s2stem-4ep': ('whiten-s2stem', {'epochs': 4, 'tricks.low_res': 0.}, "4 full-size epochs"),
    # round 8, continued on its cheapest candidate with no loss (whiten-3ep): fewer epochs still, or larger matrices
    'whiten-2ep': ('whiten-3ep', {'epochs': 2}, "2 epochs, the first 30% of the steps at 14x14"),
    'whiten-2ep-full': ('whiten-3ep', {'epochs': 2, 'tricks.low_res': 0.}, "2 full-size epochs"),
    'whiten-3ep-bs256': ('whiten-3ep', {'data.bs': 256, 'opt.lr': 0.4},
                         "batches of 256, the learning rate scaled with them"),
    # round 9, on the Xeon with AMX (timed alone, 2 threads): less memory traffic at 28x28, where a profile of the
    # training step (scripts/profile_step.py) finds most of the time; a narrower whitened stem keeps the directions
    # of most variance and halves the 28x28 activations that batch norm and ReLU read and write
    'r9-ref': ('whiten-3ep', {}, "the second record (speedrun-cpu-2), timed in this round"),
    'whiten-3ep-stem8': ('whiten-3ep', {'model.args': dict(stem=8)}, "a whitened stem of 8 filters (4 directions)"),
    'whiten-3ep-stem12': ('whiten-3ep', {'model.args': dict(stem=12)}, "a whitened stem of 12 filters (6 directions)"),
    # round 10, the same sitting: the moonshot of 2 TFLOP (on all 60,000 images), by more of the steps at 14x14
    'whiten-3ep-lowres45': ('whiten-3ep', {'tricks.low_res': 0.45}, "3 epochs, the first 45% of the steps at 14x14"),
    'whiten-3ep-lowres60': ('whiten-3ep', {'tricks.low_res': 0.6}, "3 epochs, the first 60% of the steps at 14x14"),
    'whiten-4ep-lowres70': ('whiten-3ep', {'epochs': 4, 'tricks.low_res': 0.7},
                            "4 epochs, the first 70% of the steps at 14x14"),
    'lowres45-lr3': ('whiten-3ep-lowres45', {'opt.lr': 0.3}, "a peak learning rate of 0.3 instead of 0.2"),
    'lowres45-bs256': ('whiten-3ep-lowres45', {'data.bs': 256, 'opt.lr': 0.4},
                       "batches of 256, the learning rate scaled with them"),
    # round 11, on the Xeon with AMX (timed alone, 2 threads): execution, then the width it pays for. The profile
    # found half the step outside the convolutions and the convolutions at under half the matmul rate, because their
    # matrices are small. bfloat16 autocast (native here: AMX) and torch.compile (which fuses batch norm, ReLU and
    # additions) run the same network faster; wider stages have larger matrices, which run nearer the machine's rate
    'amx-ref': ('whiten-3ep-lowres45', {'precision.bf16': 'auto', 'precision.compile': True},
                "the moonshot recipe (speedrun-cpu-3) in bfloat16 autocast, compiled"),
    'amx-w24-2ep': ('amx-ref', {'model.args': dict(widths=(24, 48, 96)), 'epochs': 2},
                    "stages of 24, 48 and 96 channels (2.1 times the FLOPs per image), 2 epochs"),
    'amx-w16-48-96': ('amx-ref', {'model.args': dict(widths=(16, 48, 96))},
                      "the last two stages wider: 16, 48 and 96 channels (1.7 times the FLOPs per image)"),
    'amx-w32-2ep-lowres60': ('amx-ref', {'model.args': dict(widths=(32, 64, 128)), 'epochs': 2, 'tricks.low_res': 0.6},
                             "stages of 32, 64 and 128 channels (3.5 times the FLOPs), 2 epochs, 60% at 14x14"),
    # round 11, continued on amx-w16-48-96 (no loss, 42% of the float32 matmul rate, the 14x14 steps slowest per
    # FLOP): more of the work at full size or in larger matrices, up to the 4 TFLOP on 60,000 images
    'amx-w16-48-96-lowres30': ('amx-w16-48-96', {'tricks.low_res': 0.3}, "the first 30% of the steps at 14x14"),
    'amx-w24-48-96-lowres50': ('amx-w16-48-96', {'model.args': dict(widths=(24, 48, 96)), 'tricks.low_res': 0.5},
                               "a first stage of 24 channels, the first 50% of the steps at 14x14"),
    'amx-w20-48-96': ('amx-w16-48-96', {'model.args': dict(widths=(20, 48, 96))}, "a first stage of 20 channels"),
    'amx-w16-48-96-bs256': ('amx-w16-48-96', {'data.bs': 256, 'opt.lr': 0.4},
                            "batches of 256, the learning rate scaled with them"),
    # round 12, for the rate: round 11's full-size epochs ran at about half the float32 matmul rate, its 14x14 steps
    # (smaller matrices) and the compile from the cache at well under it. Two full-size epochs instead of three with a
    # third of them at 14x14: the same TFLOP budget, all of it in the larger matrices
    'amx-w16-48-96-2ep': ('amx-w16-48-96', {'epochs': 2, 'tricks.low_res': 0.0}, "2 epochs, all at full size"),
    'amx-w20-48-96-2ep': ('amx-w16-48-96-2ep', {'model.args': dict(widths=(20, 48, 96))},
                          "2 full-size epochs, a first stage of 20 channels"),
    'amx-w16-48-96-2ep-tta': ('amx-w16-48-96-2ep', {'tricks.tta_flip': True},
                              "2 full-size epochs, test-time flip (twice the inference FLOPs)"),
    'amx-w16-64-128-2ep-lowres40': ('amx-w16-48-96', {'model.args': dict(widths=(16, 64, 128)), 'epochs': 2,
                                                       'tricks.low_res': 0.4},
                                    "the last two stages wider still (16, 64, 128 channels), 2 epochs, 40% at 14x14"),
    'amx-w16-48-96-lowres30-bs256': ('amx-w16-48-96-lowres30', {'data.bs': 256, 'opt.lr': 0.4},
                                     "round 11's most accurate, in batches of 256 (the learning rate scaled)"),
    'r12-ref': ('amx-w16-48-96-lowres30', {}, "round 11's amx-w16-48-96-lowres30 again, for seconds in this sitting"),
    # round 13, the same sitting, for more of the rate: the fourth record (amx-w16-48-96-lowres30-bs256) ran at about
    # half the float32 matmul rate, its full-size epochs at nearly three fifths and the 14x14 ones at under a third;
    # kept only with a higher rate, no detectable loss against it and its worst seed 0.3 points over the line
    'amx-w16-48-96-2ep-bs256': ('amx-w16-48-96-2ep', {'data.bs': 256, 'opt.lr': 0.4},
                                "2 full-size epochs in batches of 256 (the learning rate scaled)"),
    'amx-w20-48-96-2ep-bs256': ('amx-w20-48-96-2ep', {'data.bs': 256, 'opt.lr': 0.4},
                                "2 full-size epochs, a first stage of 20 channels, batches of 256"),
    'amx-lowres30-bs512': ('amx-w16-48-96-lowres30-bs256', {'data.bs': 512, 'opt.lr': 0.8},
                           "the fourth record's candidate in batches of 512 (the learning rate scaled)"),
}

def resolve(name:str) -> tuple:
    "The `RECIPES` name and the accumulated overrides of candidate `name`."
    from fmnist_cnn.training import _nest
    base, ov, _ = CANDIDATES[name]
    if base in CANDIDATES and base != name:
        root, ov0 = resolve(base)
        return root, _join(ov0, _nest(ov))
    return base, _nest(ov)

def _join(a:dict, b:dict) -> dict:
    "Overrides `b` on top of overrides `a` (nested dicts merge; model args merge key by key)."
    out = json.loads(json.dumps(a))
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict): out[k] = _join(out[k], v)
        else: out[k] = v
    return out

def run_one(job:dict) -> dict:
    "Train candidate `job['name']` from `job['seed']` on the 50,000 training images; its validation record."
    import torch
    torch.set_num_threads(job['threads'])
    from fmnist_cnn.training import RECIPES, merge
    from fmnist_cnn.training import train
    from fmnist_cnn.model import n_params, mflops
    from fmnist_cnn.training import bf16_native
    from fmnist_cnn.book.speedrun import epoch_tflop
    root, ov = resolve(job['name'])
    r = merge(RECIPES[root], **ov, seed=job['seed'])
    torch._dynamo.reset()    # compiled recipes: each run compiles afresh (from the disk cache: quick); a worker that
                             # kept every run's graphs would reach dynamo's recompile limit and silently run eager
    load0 = os.getloadavg()[0]
    model, hist = train(r, device='cpu', progress=False, n_train=job['n_train'], n_test=100)
    n = job['n_train'] or 60_000 - r['data']['valid']
    tf = epoch_tflop(r, model.float(), n)
    t = sum(h['train_time'] for h in hist)
    parent, _, what = CANDIDATES[job['name']]
    return dict(name=job['name'], seed=job['seed'], parent=parent if parent != job['name'] else None, what=what,
                base=root, overrides=ov, recipe=r, params=n_params(model),
                mflops=round(mflops(model), 2), mflops_14=round(mflops(model, 14), 2), n_train=n,
                epochs=len(hist), valid_curve=[round(1 - h['valid_err'], 4) for h in hist],
                valid_acc=round(1 - hist[-1]['valid_err'], 4), epoch_tflop=[round(x, 4) for x in tf],
                train_tflop=round(sum(tf), 3), train_s=round(t, 1), train_gflops=round(1e3*sum(tf)/t, 1),
                epoch_train_s=[round(h['train_time'], 2) for h in hist],
                bf16=bf16_native('cpu') if r['precision']['bf16'] == 'auto' else r['precision']['bf16'],
                cpu=_cpu_name(), cpu_capability=torch.backends.cpu.get_cpu_capability(), threads=job['threads'],
                jobs=job['jobs'], torch=torch.__version__, load=[round(load0, 2), round(os.getloadavg()[0], 2)],
                date=time.strftime('%Y-%m-%d'))

def _cpu_name() -> str:
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): import platform; return platform.processor() or platform.machine()

def _worker(q_in, q_out):
    while (job := q_in.get()) is not None:
        try: q_out.put(('ok', run_one(job)))
        except Exception as e: q_out.put(('error', dict(job=job, error=f'{type(e).__name__}: {e}')))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--only', default=None, help='comma-separated candidate names (default: all)')
    ap.add_argument('--seeds', default='0,1,2'); ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--n-train', type=int, default=None, help='a subset of the training images (format tests only)')
    ap.add_argument('--stop-file', default=None, help='start no run once this file exists')
    ap.add_argument('--out', default='results/speedrun.json')
    a = ap.parse_args()
    names = a.only.split(',') if a.only else list(CANDIDATES)
    bad = [n for n in names if n not in CANDIDATES]
    if bad: ap.error(f'unknown candidates {bad}; CANDIDATES has {list(CANDIDATES)}')
    from fmnist_cnn.data import write_json
    out = Path(a.out); recs = json.loads(out.read_text()) if out.exists() else []
    key = lambda name, seed, n_train: (name, seed, n_train)
    done = {key(r['name'], r['seed'], r['n_train'] if a.n_train else None) for r in recs
            if not a.n_train or r['n_train'] == a.n_train}
    seeds = [int(s) for s in a.seeds.split(',')]
    threads = max(1, (os.cpu_count() or 1)//a.jobs)
    jobs = [dict(name=n, seed=s, n_train=a.n_train, threads=threads, jobs=a.jobs) for s in seeds for n in names
            if key(n, s, a.n_train) not in done]
    print(f'{len(jobs)} runs to do, {a.jobs} at a time with {threads} threads each', flush=True)
    ctx = mp.get_context('spawn'); q_in, q_out = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(q_in, q_out), daemon=True) for _ in range(a.jobs)]
    for p in procs: p.start()
    pending, running, failed, t0 = list(jobs), 0, [], time.time()
    while pending or running:
        while pending and running < a.jobs and not (a.stop_file and Path(a.stop_file).exists()):
            q_in.put(pending.pop(0)); running += 1
        if not running: break
        status, r = q_out.get(); running -= 1
        if status == 'ok':
            recs.append(r); write_json(recs, out)
            print(f"[{time.time()-t0:5.0f}s] {r['name']:<24} seed {r['seed']}: valid {100*r['valid_acc']:.2f}% "
                  f"{r['valid_curve']}, {r['train_tflop']:.2f} TFLOP, {r['train_s']:.0f} s", flush=True)
        else: failed.append(r); print(f"FAILED {r['job']['name']} seed {r['job']['seed']}: {r['error']}", flush=True)
    for _ in procs: q_in.put(None)
    if failed: sys.exit(f'{len(failed)} runs failed (above); a second call retries them')

if __name__ == '__main__': main()
