"""Where a CPU training step's time goes: seconds by kind of operation, against the FLOPs each kind does.

Chapter 09's speed recipes reach about a fifth of the machine's matrix-multiply rate, the fast recipe about half.
This script says why, for each recipe of --recipes (with --set overrides), in one run on one machine (the threads
training uses, float32, the recipe's layout):
1. the machine and its float32 matmul rate (`bench_cpu.matmul_gflops()`), measured before the first recipe and
   after each one (a shared machine's rate varies: the reader takes their median);
2. the training step's FLOPs by kind, counted by `torch.utils.flop_counter.FlopCounterMode` on one real step
   (forward and backward: a frozen layer's weight gradient is not computed, so not counted);
3. the step's milliseconds: `fit` on real training images, one epoch of --warmup + --steps + 1 batches, the last
   --steps timed from one batch's start to the next (loading, forward, backward, optimizer: all of it), first
   without the profiler (`step_ms`, the honest figure), then under `torch.profiler` (`profiled_step_ms`: the
   profiler's own cost shows as the difference), whose self CPU time of every operator is summed by kind (`KINDS`;
   an operator that matches no kind takes the kind of its nearest caller that does, e.g. the allocations inside a
   convolution's backward). Per kind: its share of the time spent inside PyTorch's operators (`covered`: how much
   of the profiled step that is; the rest is Python) and its FLOPs per step; the reader derives its GFLOP/s (the
   kind's FLOPs over its share of the plain step, `fmnist_cnn.book.speedrun.profile_rate`) where it does at least
   1% of them. The profiler costs the same per call whatever the call does, so kinds of many small calls look a
   little larger than they are.
Progressive resizing is off here (`tricks.low_res=0`): every profiled step is a full-size one. The recipe's
callbacks run (the whitened stem is computed and frozen first, as in training).
The records (`fmnist_cnn.book.records`' one shape, no recipe trained and an empty history: the numbers under
`extra`): a `matmul` record and one per recipe, in a new file --out (chapter 09 reads results/speedrun-profile.jsonl).
Run it on an otherwise idle machine. Seconds compare only within one run; the shares are what the chapter reads.
Usage: python benchmarks/profile_step.py [--recipes fast,speedrun-cpu-2] [--set data.bs=512 ...] [--steps 40]
                                        [--out results/speedrun-profile.jsonl]
"""
import argparse, re, statistics, sys, time
from pathlib import Path
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import build_model
from fmnist_cnn.training import RECIPES, Callback, merge, check_recipe, parse_override, fit
from fmnist_cnn.book.records import machine, make_record, append_record
from bench_cpu import matmul_gflops, cpu_extra                          # benchmarks/bench_cpu.py

# each kind of operation by the profiler's operator names (the first pattern that matches wins, ignoring case; self
# CPU time); everything inside the optimizer's step and zero_grad is 'optimizer', whatever its operators
KINDS = {
    'convolution': r'conv|mkldnn_convolution',                                    # forward and backward
    'batch norm': r'batch_?norm',                                                # forward and backward
    'ReLU': r'relu|threshold|clamp_min',
    'additions (residual paths, batch norm counters)': r'^aten::add_?$|AddBackward',
    'pooling (shortcuts, head), linear, loss': (r'pool|addmm|^aten::mm$|linear|log_?softmax|nll_?loss|cross_?entropy|'
                                                r'^aten::mean|^aten::sum$|MeanBackward|MmBackward'),
    'optimizer': r'^Optimizer\.',
    'copies and layout': r'copy_|contiguous|clone|to_copy|empty_strided|as_strided|index|^aten::to$|^aten::cat$',
}

def kind_of(op:str, scopes=()) -> str:
    "The kind of operator `op` called inside `scopes` (its callers, nearest first): `KINDS`, else its nearest caller's."
    if any(s.startswith('Optimizer.') for s in scopes): return 'optimizer'
    for name in (op, *scopes):
        k = next((k for k, pat in KINDS.items() if re.search(pat, name, re.IGNORECASE)), None)
        if k: return k
    return 'other'

def by_op(prof) -> dict:
    "{(operator, kind): [self CPU microseconds, calls]} over every event the profiler recorded."
    out = {}
    for e in prof.events():
        scopes, p = [], e.cpu_parent
        while p is not None: scopes.append(p.name); p = p.cpu_parent
        v = out.setdefault((e.name, kind_of(e.name, scopes)), [0., 0]); v[0] += e.self_cpu_time_total; v[1] += 1
    return out

def step_flops(model:nn.Module, xb, yb, loss_func) -> dict:
    "FLOPs of one training step (forward + backward) by kind: 'convolution', 'pooling, linear, loss', 'other'."
    with FlopCounterMode(display=False) as fc:
        loss_func(model(xb), yb).backward()
    model.zero_grad(set_to_none=True)
    out = {}
    for op, n in fc.get_flop_counts()['Global'].items():
        k = kind_of(f'aten::{op.__name__.split(".")[0]}')
        out[k] = out.get(k, 0) + n
    return out

class StepTimer(Callback):
    "Times batches `warmup` .. `warmup + steps` from one batch's start to the next; with `profile`, under the profiler."
    order = 100                                           # after every other callback: it times all of them
    def __init__(self, warmup:int, steps:int, profile:bool=False):
        self.warmup, self.steps, self.profile, self.i, self.times, self.prof = warmup, steps, profile, 0, [], None
    def before_batch(self, run):
        now = time.perf_counter()
        if self.warmup < self.i <= self.warmup + self.steps: self.times.append(now - self.t)
        if self.profile and self.i == self.warmup:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]); self.prof.start()
        if self.profile and self.i == self.warmup + self.steps: self.prof.stop()
        self.t, self.i = time.perf_counter(), self.i + 1

def profile_recipe(name:str, warmup:int, steps:int, overrides:dict=None) -> tuple:
    "(the recipe profiled, its step: milliseconds unprofiled and profiled, time and FLOPs by kind, top operators)."
    r = check_recipe(merge(RECIPES[name], **(overrides or {}), **{'tricks.low_res': 0., 'precision.bf16': False,
                                             'precision.compile': False, 'epochs': 1, 'data.valid': 0}))
    bs, n = r['data']['bs'], r['data']['bs']*(warmup + steps + 1)
    res = {}
    for profile in (False, True):
        dls = get_dls(bs, 0, n_train=n, n_test=bs, seed=r['seed'], device='cpu')
        torch.manual_seed(r['seed']); model = build_model(r['model'])
        timer = StepTimer(warmup, steps, profile)
        fit(model, dls, recipe=r, cbs=[timer], device='cpu', progress=False)   # the recipe's own callbacks come with it
        res[profile] = timer
    xb, yb = next(iter(dls.train))
    if r['precision']['channels_last']: xb = xb.contiguous(memory_format=torch.channels_last)
    model.train(); flops = step_flops(model, xb, yb, nn.CrossEntropyLoss(label_smoothing=r['loss']['label_smoothing']))
    ops = by_op(res[True].prof)
    total = sum(t for t, _ in ops.values())                             # microseconds, over `steps` steps
    covered = total/1e3/steps/statistics.median(res[True].times)/1e3    # of the profiled step: inside operators
    by_kind = {}
    for (op, k), (t, _) in ops.items(): by_kind[k] = by_kind.get(k, 0) + t
    ms = statistics.median(res[False].times)*1e3
    kinds = {k: dict(time_share=round(by_kind.get(k, 0)/total, 4), gflop_per_step=round(flops.get(k, 0)/1e9, 4))
             for k in [*KINDS, 'other']}
    top = sorted(ops.items(), key=lambda kv: -kv[1][0])[:12]
    return r, dict(profiled=name, overrides=overrides or {}, profiled_recipe=r, bs=bs, steps=steps, warmup=warmup,
                   gflop_per_step=round(sum(flops.values())/1e9, 4), step_ms=round(ms, 2),
                   profiled_step_ms=round(statistics.median(res[True].times)*1e3, 2), covered=round(covered, 3),
                   kinds=kinds, top_ops=[dict(op=op, kind=k, time_share=round(t/total, 4),
                                              calls_per_step=round(c/steps, 1)) for (op, k), (t, c) in top])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--recipes', default='fast,speedrun-cpu-2', help='comma-separated names in RECIPES')
    ap.add_argument('--set', nargs='*', default=[], metavar='FIELD=VALUE',
                    help='recipe fields to change in every recipe profiled, e.g. data.bs=512')
    ap.add_argument('--warmup', type=int, default=10); ap.add_argument('--steps', type=int, default=40)
    ap.add_argument('--out', default='results/speedrun-profile.jsonl', help='a new .jsonl file')
    a = ap.parse_args()
    names = a.recipes.split(',')
    bad = [n for n in names if n not in RECIPES]
    if bad: ap.error(f'unknown recipes {bad}; RECIPES has {list(RECIPES)}')
    if a.steps < 1 or a.warmup < 1: ap.error('--steps and --warmup must be at least 1')
    if not a.out.endswith('.jsonl') or Path(a.out).exists(): ap.error(f'--out must be a new .jsonl file: {a.out}')
    try:
        ov = {}
        for t in a.set: ov |= parse_override(RECIPES[names[0]], t)
        for n in names: check_recipe(merge(RECIPES[n], **ov))
    except ValueError as e: ap.error(str(e))
    m, each = machine('cpu', jobs=1), [matmul_gflops()]
    print(f"{m['cpu']} ({m['kernels']}), {m['threads']} threads: matmul {each[0]:.0f} GFLOP/s", flush=True)
    profs = []
    for name in names:
        profs.append(profile_recipe(name, a.warmup, a.steps, ov)); each.append(matmul_gflops())
    mm = statistics.median(each)
    append_record(make_record('speedrun-profile', 'matmul', None, None, [], dict(n_train=None, n_valid=None,
                              n_test=None), what="torch.mm's rate on 2048x2048 float32 matrices with the threads "
                              "training uses (GFLOP/s, the median of 5 timed rounds): before the first recipe and "
                              "after each", machine=m, extra=dict(matmul_float32=each, **cpu_extra())), a.out)
    for r, p in profs:
        append_record(make_record('speedrun-profile', p['profiled'], r['seed'], None, [],
                                  dict(n_train=p['bs']*(p['warmup'] + p['steps'] + 1), n_valid=0, n_test=p['bs']),
                                  what=f"where a full-size training step of {p['profiled']} spends its time, by "
                                  "kind of operation", machine=m, extra=p), a.out)
        print(f"{p['profiled']}: {p['step_ms']:.1f} ms/step ({p['profiled_step_ms']:.1f} profiled, "
              f"{100*p['covered']:.0f}% of it inside operators), {p['gflop_per_step']:.2f} GFLOP, "
              f"{p['gflop_per_step']/p['step_ms']*1e3/mm:.0%} of matmul", flush=True)
        for k, v in p['kinds'].items():
            print(f"  {k:<48} {100*v['time_share']:5.1f}% of the time, {v['gflop_per_step']:.3f} GFLOP")
    print(f'written to {a.out}')

if __name__ == '__main__': main()
