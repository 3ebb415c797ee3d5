"""The CPU speedrun's benchmark on one machine: its matmul rate around the timed runs of the record recipes.

The timed runs are the runner's: `scripts/run.py speedrun-bench --jobs 1` trains the variants of the study
`speedrun-bench` (the record recipes and the fast recipe, on all 60,000 training images, the test set scored after
every epoch outside the clock). This script adds what the runner does not do, and writes it as records of the
book's one shape (`fmnist_cnn.book.records`) to results/speedrun-machines.jsonl:
1. the machine's float32 matrix-multiply rate (`torch.mm` on 2048x2048 matrices with the threads training uses,
   the median of 5 timed rounds after a warm-up), and its bfloat16 rate where the CPU computes bfloat16 natively,
   measured at the start and again after each seed's round of runs: a shared machine's rate drifts, so a run's
   share of the rate is taken against the median of these measurements (the reader computes it);
2. for each compiling variant, a 20-step run from an empty compile cache (its seconds: the first compile), before
   the timed runs; the timed runs then read the compiled code back from that cache inside their seconds;
3. with --exec RECIPE, before the seeds: one full-size epoch of RECIPE run each way of `EXEC` (as the recipe says,
   channels first, one thread, torch.compile with its compile, bfloat16 autocast where native), one record each;
4. the timed runs themselves, seed by seed (the variants interleave in time), each by `scripts/run.py`, into
   results/speedrun-bench-NAME.jsonl, NAME naming the machine.
Run it on an otherwise idle machine. To time a newer CPU as an older one, limit its kernels (the matmul record keeps
the limits), e.g. for AVX2:
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/bench_cpu.py ...
Seconds compare only within one benchmark; TFLOP compare everywhere.
Usage: python benchmarks/bench_cpu.py NAME [--only fast-float32,speedrun-cpu-2] [--seeds 0,1,2,3,4] [--exec RECIPE]
                                      [--out-dir results]
       (--n-train N --n-test N: a quick run on subsets, for the tests of the records' format only)
"""
import argparse, atexit, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT/'scripts'))
from run import load_study, resolve                                          # scripts/run.py: the one runner
from fmnist_cnn.book.records import machine, make_record, append_record, read_records
from fmnist_cnn.model import epoch_tflop
from fmnist_cnn.training import RECIPES, merge, train, bf16_native

# what limits the kernels below what the CPU has (a newer CPU run as an older one): PyTorch's own kernels, oneDNN's
# (convolutions) and MKL's (matrix products), each by its environment variable, e.g. all three set to AVX2
ISA_LIMITS = ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA', 'MKL_ENABLE_INSTRUCTIONS')
NO_DATA = dict(n_train=None, n_valid=None, n_test=None)
EXEC = {  # one full-size epoch of a recipe, each way: the same arithmetic (or bfloat16 where native)
    'as recipe': {},
    'channels_first': {'precision.channels_last': False},
    'one thread': {},                                              # torch.set_num_threads(1) around the run
    'torch.compile': {'precision.compile': True},                  # compile time included: it is part of the run
    'bf16 autocast': {'precision.bf16': True},                     # only where native (AVX512-BF16, AMX)
}

def cpu_extra() -> dict:
    "What the record's machine has no field for: the CPU's family and model numbers, limits on its kernels."
    try: info = open('/proc/cpuinfo').read()
    except OSError: info = ''
    field = lambda k: next((l.split(':', 1)[1].strip() for l in info.splitlines()
                            if l.split(':')[0].strip() == k), None)
    # a virtual machine may name only the vendor ('AMD EPYC'): family and model tell its generation (26: Zen 5)
    return dict(cpu_family=field('cpu family'), cpu_model=field('model'),
                isa_limits={k: os.environ[k] for k in ISA_LIMITS if os.environ.get(k)}, bf16_native=bf16_native('cpu'))

def matmul_gflops(n:int=2048, reps:int=10, rounds:int=5, dtype=torch.float32) -> float:
    "`torch.mm` rate (GFLOP/s) on n x n matrices of `dtype` with the current threads: median of `rounds` timed rounds."
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(10): torch.mm(a, b)                            # warm-up (a cold first round reads low)
    rates = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps): torch.mm(a, b)
        rates.append(2*n**3*reps/(time.perf_counter() - t)/1e9)
    return round(statistics.median(rates), 1)

def compile_warmup(r:dict, n_test=None) -> dict:
    "For a compiling recipe: a 20-step run that compiles its training step (and fills the disk cache), its seconds."
    r = merge(r, seed=0, epochs=1)
    torch._dynamo.reset(); t = time.perf_counter()
    train(r, device='cpu', progress=False, n_train=20*r['data']['bs'], n_test=n_test or 1000)
    return dict(steps=20, total_s=round(time.perf_counter() - t, 1))

def exec_records(name:str, bench:str, n_train=None, n_test=None) -> list:
    "One full-size epoch of recipe `name` (seed 0, all 60,000 images) run each way of `EXEC`: one record each."
    out = []
    for way, ov in EXEC.items():
        if way == 'bf16 autocast' and not bf16_native('cpu'):
            out.append(make_record('speedrun-machines', way, None, None, [], NO_DATA, what='one full-size epoch in '
                                   'bfloat16 autocast: not run, bfloat16 is not native on this CPU',
                                   extra=dict(bench=bench, exec_of=name, skipped='bfloat16 is not native on this CPU')))
            continue
        r = merge(RECIPES[name], epochs=1, seed=0, data=dict(valid=0), **{'tricks.low_res': 0.}, **ov)   # full size
        threads = torch.get_num_threads()
        if way == 'one thread': torch.set_num_threads(1)
        try:
            torch._dynamo.reset()
            _, hist = train(r, device='cpu', progress=False, n_train=n_train, n_test=n_test)
            m = machine('cpu', jobs=1)
        finally: torch.set_num_threads(threads)
        out.append(make_record('speedrun-machines', way, 0, r, hist, dict(n_train=n_train or 60_000, n_valid=0,
                               n_test=n_test or 10_000), what=f"one full-size epoch of {name}, run this way: {way}",
                               machine=m, extra=dict(bench=bench, exec_of=name)))
        print(f"{name} one epoch, {way:<15}: {hist[0]['train_time']:6.1f} s", flush=True)
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('name', help='the machine: the timed runs go to OUT_DIR/speedrun-bench-NAME.jsonl')
    ap.add_argument('--only', default='fast-float32,speedrun-cpu-4', help='variants of the study speedrun-bench')
    ap.add_argument('--seeds', default='0,1,2,3,4'); ap.add_argument('--out-dir', default=str(ROOT/'results'))
    ap.add_argument('--exec', metavar='RECIPE', help='first, one epoch of RECIPE (a name in RECIPES) each way')
    ap.add_argument('--n-train', type=int); ap.add_argument('--n-test', type=int)
    a = ap.parse_args(argv)
    study, names = load_study('speedrun-bench'), a.only.split(',')
    bad = [n for n in names if n not in study['variants']]
    if bad: ap.error(f"unknown variants {bad}; the study speedrun-bench has {list(study['variants'])}")
    if a.exec and a.exec not in RECIPES: ap.error(f'unknown recipe {a.exec!r}; RECIPES has {list(RECIPES)}')
    try: seeds = [int(s) for s in a.seeds.split(',')]
    except ValueError: ap.error(f'--seeds takes comma-separated integers, got {a.seeds!r}')
    if not os.environ.get('TORCHINDUCTOR_CACHE_DIR'):             # compiled recipes start from an empty cache
        os.environ['TORCHINDUCTOR_CACHE_DIR'] = d = tempfile.mkdtemp(prefix='bench_cpu_inductor_')
        atexit.register(shutil.rmtree, d, True)
    torch.set_num_threads(os.cpu_count() or 1)                       # the threads of a timed run (run.py --jobs 1)
    out_dir = Path(a.out_dir); bench = f'speedrun-bench-{a.name}'
    recipes = {n: resolve(study, n) for n in names}
    bf16 = bf16_native('cpu') and any(r['precision']['bf16'] is not False for r in recipes.values())
    f32, bf, load0 = [matmul_gflops()], [matmul_gflops(dtype=torch.bfloat16)] if bf16 else [], os.getloadavg()[0]
    m = machine('cpu', jobs=1)
    print(f"{m['cpu']} ({m['kernels']}, {m['threads']} threads): float32 matmul {f32[0]:.0f} GFLOP/s"
          + (f", bfloat16 {bf[0]:.0f}" if bf else ''), flush=True)
    warm = {n: compile_warmup(r, a.n_test) for n, r in recipes.items() if r['precision']['compile']}
    for n, w in warm.items(): print(f"{n} compile warm-up ({w['steps']} steps, empty cache): {w['total_s']:.1f} s")
    if a.exec:
        for rec in exec_records(a.exec, bench, a.n_train, a.n_test):
            append_record(rec, out_dir/'speedrun-machines.jsonl')
    runs = out_dir/f'{bench}.jsonl'
    for s in seeds:                                                  # seed-major: the variants interleave in time
        cmd = [sys.executable, str(ROOT/'scripts'/'run.py'), 'speedrun-bench', '--jobs', '1', '--only', a.only,
               '--seeds', str(s), '--out', str(runs)]
        cmd += [f'--n-train={a.n_train}'] if a.n_train else []
        cmd += [f'--n-test={a.n_test}'] if a.n_test else []
        subprocess.run(cmd, check=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
        f32.append(matmul_gflops()); bf += [matmul_gflops(dtype=torch.bfloat16)] if bf16 else []
        print(f"float32 matmul {f32[-1]:.0f} GFLOP/s" + (f", bfloat16 {bf[-1]:.0f}" if bf else ''), flush=True)
    precision = 'as recipe' if any(r['precision']['bf16'] is not False for r in recipes.values()) else 'float32'
    rec = make_record('speedrun-machines', 'matmul', None, None, [], NO_DATA, what="torch.mm's rate on 2048x2048 "
                      "matrices with the threads training uses (GFLOP/s, the median of 5 timed rounds), in float32 "
                      "and, where the runs used it, bfloat16: at the start and after each seed's round",
                      machine=machine('cpu', jobs=1),
                      extra=dict(bench=bench, matmul_float32=f32, **({'matmul_bfloat16': bf} if bf else {}),
                                 **cpu_extra(), precision=precision, baseline=names[0], target=0.9203,
                                 load=[round(load0, 2), round(os.getloadavg()[0], 2)], compile_warmup=warm))
    append_record(rec, out_dir/'speedrun-machines.jsonl')
    print(f"{len(read_records(runs))} timed runs in {runs}; the rates in {out_dir/'speedrun-machines.jsonl'}")

if __name__ == '__main__': main()
