"""The CPU speedrun's benchmark: TFLOP and seconds to the original's 92.03%, against the machine's own matmul rate.

In one run, on one machine:
1. the machine: CPU model (name, family and model number), kernel flags (AVX2, AVX-512, AVX512-BF16, AMX),
   PyTorch's kernel set, the thread count
   training uses, the torch version, and its float32 matrix-multiply rate (`torch.mm` on 2048x2048, the median of
   several timed rounds after a warm-up, with those threads), measured at the start and again after every seed's
   round of recipes (`matmul_each`): a shared machine's rate drifts, so the rate the efficiencies refer to,
   `matmul_gflops`, is the median of those measurements;
2. for each recipe of --recipes (the first is the baseline: `fast`, today's CPU recipe) and each of --seeds, a run of
   `train` on all 60,000 training images (no validation split: the recipes were chosen before, on validation), in
   float32 whatever the recipe says (the same arithmetic on every machine, and for every recipe), the test set
   evaluated after every epoch, outside the clock. Per seed: the epoch, training seconds and
   training TFLOP (MFLOPs per image x images seen x 3) when the test accuracy first reaches --target, the final test
   accuracy, and the achieved training rate (training FLOPs / training seconds) as a share of the matmul rate.
   A recipe with test-time flipping counts its doubled inference FLOPs in `infer_mflops`; progressive resizing's
   halved images count at their own cost (`epoch_tflop`).
3. with --exec, before the seeds: one full-size epoch of the last recipe run each way of `EXEC` (channels-first
   layout, one thread, torch.compile with its compile time, bf16 autocast where native), in seconds and GFLOP/s.
With --as-recipe, each recipe runs its own precision settings instead of float32: bf16 autocast where the recipe
says so and the CPU has it natively ('auto'), torch.compile where it says so. Then the record also holds the
bfloat16 matmul rate (`matmul_bf16_gflops`, measured like the float32 one) and each bf16 run's rate as a share of
it (`efficiency_bf16`): `efficiency` stays the share of the float32 rate, the issue's yardstick, but a bf16 run's
own ceiling is the bf16 rate. A compiling recipe's compile costs apart: the script starts from an empty compile
cache (its own temporary `TORCHINDUCTOR_CACHE_DIR`), and before the seeds a 20-step run of each compiling recipe
compiles it (`compile_warmup`: its seconds, from the empty cache). The timed runs then compile again, each from
the disk cache, as any later run on the machine does: that part is inside their training seconds.
Run it on an otherwise idle machine: `load` records the load average before and after. To time a newer CPU as an
older one, limit its kernels (`machine()['isa_limits']` records it), e.g. for AVX2:
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python scripts/bench_cpu.py ...
Seconds compare only within one run of this script; TFLOP compare everywhere.
The book keeps several records (`--out`), one per machine: `results/bench_cpu.json` from a 2-core AVX2 machine (the
speedrun's target kind), `results/bench_cpu_avx512.json` and `results/bench_cpu_zen5.json` from 2-core AVX-512
machines, and `results/bench_cpu_xeon*.json` from a 2-core Intel Xeon with AMX, natively and limited to AVX2
(`_4`: with --as-recipe, for the fourth record, `speedrun-cpu-4`); chapter 09 reads them all.
Usage: python scripts/bench_cpu.py [--recipes fast,NAME] [--seeds 0,1,2,3,4] [--exec] [--as-recipe]
                                   [--out results/bench_cpu.json]
       (--n-train N --n-test N: a quick run on subsets, for the tests of the record's format only)
"""
import argparse, atexit, os, platform, shutil, statistics, tempfile, time
import torch
from fmnist_cnn.data import write_json
from fmnist_cnn.model import n_params, mflops
from fmnist_cnn.training import RECIPES, merge
from fmnist_cnn.training import bf16_native
from fmnist_cnn.training import train
from fmnist_cnn.book.speedrun import epoch_tflop

FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16')
# what limits the kernels below what the CPU has (a newer CPU run as an older one): PyTorch's own kernels, oneDNN's
# (convolutions) and MKL's (matrix products), each by its environment variable, e.g. all three set to AVX2
ISA_LIMITS = ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA', 'MKL_ENABLE_INSTRUCTIONS')

def machine() -> dict:
    "The CPU's model name and kernel flags (Linux), PyTorch's kernel set, threads and version."
    try: info = open('/proc/cpuinfo').read()
    except OSError: info = ''
    name = next((l.split(':', 1)[1].strip() for l in info.splitlines() if l.startswith('model name')),
                platform.processor() or platform.machine())
    flags = set(next((l.split(':', 1)[1].split() for l in info.splitlines() if l.startswith('flags')), []))
    field = lambda k: next((l.split(':', 1)[1].strip() for l in info.splitlines()
                            if l.split(':')[0].strip() == k), None)
    # a virtual machine may name only the vendor ('AMD EPYC'): family and model tell its generation (26: Zen 5)
    return dict(cpu=name, cpu_family=field('cpu family'), cpu_model=field('model'),
                flags={f: f in flags for f in FLAGS},
                cpu_capability=torch.backends.cpu.get_cpu_capability(),
                isa_limits={k: os.environ[k] for k in ISA_LIMITS if os.environ.get(k)},
                cores=os.cpu_count(), threads=torch.get_num_threads(), bf16_native=bf16_native('cpu'),
                torch=torch.__version__)

def matmul_gflops(n:int=2048, reps:int=10, rounds:int=5, dtype=torch.float32) -> float:
    "`torch.mm` rate (GFLOP/s) on n x n matrices of `dtype` with the current threads: median of `rounds` timed rounds."
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(10): torch.mm(a, b)                            # warm-up (a cold first round reads low)
    rates = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps): torch.mm(a, b)
        rates.append(2*n**3*reps/(time.perf_counter() - t)/1e9)
    return statistics.median(rates)

def as_run(name:str, as_recipe:bool=False, **overrides) -> dict:
    "Recipe `name` as the benchmark runs it: in float32, or with --as-recipe as it says (bf16 'auto': native only)."
    return merge(RECIPES[name], **overrides, **({} if as_recipe else {'precision.bf16': False}))

def compile_warmup(name:str, as_recipe:bool, n_test=None) -> dict:
    "For a compiling recipe: a short run that compiles its training step (and fills the disk cache), its seconds."
    r = as_run(name, as_recipe, seed=0, epochs=1, data=dict(valid=0))
    n = 20*r['data']['bs']                                         # 20 steps: the low-res ones, then full size
    torch._dynamo.reset(); t = time.perf_counter()
    train(r, device='cpu', progress=False, n_train=n, n_test=n_test or 1000)
    return dict(steps=20, total_s=round(time.perf_counter() - t, 1))

def run_seed(name:str, seed:int, target:float, mm:float, n_train=None, n_test=None, as_recipe=False) -> dict:
    "Train recipe `name` from `seed` on all training images; when it first reached `target`, and at what rate."
    r = as_run(name, as_recipe, seed=seed, data=dict(valid=0))
    torch._dynamo.reset()                                          # compiled: afresh each run, from the disk cache
    load0 = os.getloadavg()[0]
    model, hist = train(r, device='cpu', progress=False, n_train=n_train, n_test=n_test)
    model = model.float()
    mf, n_img, tta = mflops(model), n_train or 60_000, r['tricks']['tta_flip']
    tf = epoch_tflop(r, model, n_img)                              # progressive resizing counted at its own cost
    t = tflop = 0.; reached = None
    for h, x in zip(hist, tf):
        t += h['train_time']; tflop += x
        if reached is None and 1 - h['test_err'] >= target:
            reached = dict(epoch=h['epoch'], train_s=round(t, 1), train_tflop=round(tflop, 3))
    gflops = 1e3*tflop/t
    bf16 = bf16_native('cpu') if r['precision']['bf16'] == 'auto' else r['precision']['bf16']
    return dict(recipe=name, seed=seed, params=n_params(model), mflops=round(mf, 2),
                infer_mflops=round(mf*(2 if tta else 1), 2), bf16=bf16, compile=r['precision']['compile'],
                low_res=r['tricks']['low_res'],
                epochs=len(hist), reached=reached, final_test_acc=round(1 - hist[-1]['test_err'], 4),
                train_s=round(t, 1), train_tflop=round(tflop, 3), train_gflops=round(gflops, 1),
                efficiency=round(gflops/mm, 3), test_curve=[round(1 - h['test_err'], 4) for h in hist],
                epoch_train_s=[round(h['train_time'], 2) for h in hist],
                load=[round(load0, 2), round(os.getloadavg()[0], 2)])

EXEC = {  # execution variants of the new recipe: the same arithmetic (or bf16 where native), other ways to run it
    'as recipe': {},
    'channels_first': {'precision.channels_last': False},
    'one thread': {},                                              # torch.set_num_threads(1) around the run
    'torch.compile': {'precision.compile': True},                  # compile time included: it is part of the run
    'bf16 autocast': {'precision.bf16': True},                     # only where native (AVX512-BF16, AMX)
}

def exec_variants(name:str, mm:float, n_train=None, n_test=None) -> dict:
    "Seconds and GFLOP/s of one full-size training epoch of recipe `name` (seed 0), run each way of `EXEC`."
    out = {}
    for v, ov in EXEC.items():
        if v == 'bf16 autocast' and not bf16_native('cpu'): out[v] = None; continue
        r = merge(RECIPES[name], epochs=1, seed=0, data=dict(valid=0), **{'tricks.low_res': 0.}, **ov)  # full size
        threads = torch.get_num_threads()
        if v == 'one thread': torch.set_num_threads(1)
        try: model, hist = train(r, device='cpu', progress=False, n_train=n_train, n_test=n_test)
        finally: torch.set_num_threads(threads)
        tf = epoch_tflop(r, model.float(), n_train or 60_000)[0]
        t = hist[0]['train_time']
        out[v] = dict(train_s=round(t, 2), train_gflops=round(1e3*tf/t, 1), efficiency=round(1e3*tf/t/mm, 3),
                      test_acc=round(1 - hist[0]['test_err'], 4))
        print(f"{name:>10} one epoch, {v:<15}: {t:6.1f} s, {1e3*tf/t:5.0f} GFLOP/s", flush=True)
    return out

def summary(runs:list) -> dict:
    "Mean and sample sd over the seeds, and whether every seed reached the target."
    ms = lambda xs: dict(mean=round(statistics.mean(xs), 4),
                         sd=round(statistics.stdev(xs), 4) if len(xs) > 1 else None)
    hit = [r['reached'] for r in runs if r['reached']]
    return dict(seeds=len(runs), every_seed_reached=len(hit) == len(runs),
                final_test_acc=ms([r['final_test_acc'] for r in runs]),
                train_tflop_to_target=ms([h['train_tflop'] for h in hit]) if hit else None,
                train_s_to_target=ms([h['train_s'] for h in hit]) if hit else None,
                efficiency=ms([r['efficiency'] for r in runs]),
                **({'efficiency_bf16': ms([r['efficiency_bf16'] for r in runs])}
                   if all('efficiency_bf16' in r for r in runs) else {}))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--recipes', default='fast'); ap.add_argument('--seeds', default='0,1,2,3,4')
    ap.add_argument('--target', type=float, default=0.9203); ap.add_argument('--out', default='results/bench_cpu.json')
    ap.add_argument('--n-train', type=int, default=None); ap.add_argument('--n-test', type=int, default=None)
    ap.add_argument('--exec', action='store_true', help='first, one epoch of the last recipe run each way of EXEC')
    ap.add_argument('--as-recipe', action='store_true',
                    help="each recipe's precision as it says (bf16 'auto': where native; compile), not float32")
    a = ap.parse_args()
    names, seeds = a.recipes.split(','), [int(s) for s in a.seeds.split(',')]
    bad = [n for n in names if n not in RECIPES]
    if bad: ap.error(f'unknown recipes {bad}; RECIPES has {list(RECIPES)}')
    if a.as_recipe and not os.environ.get('TORCHINDUCTOR_CACHE_DIR'):     # compiled recipes start from an empty cache
        os.environ['TORCHINDUCTOR_CACHE_DIR'] = d = tempfile.mkdtemp(prefix='bench_cpu_inductor_')
        atexit.register(shutil.rmtree, d, True)
    res = dict(machine=machine(), load=[round(os.getloadavg()[0], 2)], target=a.target, baseline=names[0],
               precision='as recipe' if a.as_recipe else 'float32',
               n_train=a.n_train, n_test=a.n_test, date=time.strftime('%Y-%m-%d'))
    bf16 = a.as_recipe and res['machine']['bf16_native']          # bf16 runs: their rate against bf16 matmul too
    res['matmul_each'] = [round(matmul_gflops(), 1)]; res['matmul_gflops'] = res['matmul_each'][0]
    if bf16: res['matmul_bf16_each'] = [round(matmul_gflops(dtype=torch.bfloat16), 1)]
    print(f"{res['machine']['cpu']} ({res['machine']['cpu_capability']}, {res['machine']['threads']} threads): "
          f"float32 matmul {res['matmul_gflops']:.0f} GFLOP/s"
          + (f", bfloat16 {res['matmul_bf16_each'][0]:.0f}" if bf16 else ''), flush=True)
    comp = [n for n in names if a.as_recipe and as_run(n, True)['precision']['compile']]
    if comp:    # the compile's cost, apart: from an empty cache; the timed runs compile again, from the disk cache
        res['compile_warmup'] = {n: compile_warmup(n, True, a.n_test) for n in comp}
        for n, w in res['compile_warmup'].items():
            print(f"{n:>10} compile warm-up ({w['steps']} steps, empty cache): {w['total_s']:.1f} s", flush=True)
    if a.exec: res['exec'] = {names[-1]: exec_variants(names[-1], res['matmul_gflops'], a.n_train, a.n_test)}
    res['runs'] = {n: [] for n in names}
    for s in seeds:                                              # seed-major: the recipes interleave in time
        for n in names:
            r = run_seed(n, s, a.target, res['matmul_gflops'], a.n_train, a.n_test, a.as_recipe)
            res['runs'][n].append(r)
            print(f"{n:>10} seed {s}: final {100*r['final_test_acc']:.2f}%, reached {r['reached']}, "
                  f"{r['train_gflops']:.0f} GFLOP/s ({100*r['efficiency']:.0f}% of matmul)", flush=True)
            res['summary'] = {k: summary(v) for k, v in res['runs'].items() if v}
            write_json(res, a.out)
        res['matmul_each'].append(round(matmul_gflops(), 1))                # the rate again, after each round
        if bf16: res['matmul_bf16_each'].append(round(matmul_gflops(dtype=torch.bfloat16), 1))
        print(f"float32 matmul {res['matmul_each'][-1]:.0f} GFLOP/s"
              + (f", bfloat16 {res['matmul_bf16_each'][-1]:.0f}" if bf16 else ''), flush=True)
        rescale(res)
        write_json(res, a.out)
    res['load'].append(round(os.getloadavg()[0], 2)); write_json(res, a.out)

def rescale(res:dict):
    "Refer every efficiency of `res` to the median of its matmul measurements so far (`matmul_each`)."
    mm = res['matmul_gflops'] = round(statistics.median(res['matmul_each']), 1)
    if 'matmul_bf16_each' in res: res['matmul_bf16_gflops'] = round(statistics.median(res['matmul_bf16_each']), 1)
    for runs in res['runs'].values():
        for r in runs:
            r['efficiency'] = round(r['train_gflops']/mm, 3)
            if r['bf16'] and 'matmul_bf16_gflops' in res:
                r['efficiency_bf16'] = round(r['train_gflops']/res['matmul_bf16_gflops'], 3)
    for ex in res.get('exec', {}).values():
        for x in ex.values():
            if x: x['efficiency'] = round(x['train_gflops']/mm, 3)
    res['summary'] = {k: summary(v) for k, v in res['runs'].items() if v}

if __name__ == '__main__': main()
