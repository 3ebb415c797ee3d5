"""Install PyTorch and torchvision into a virtual environment, and check that the pair works (the Makefile's `torch`).

    VENV/bin/python tools/install_torch.py VENV INDEX PIN...   install if needed, check, repair; a handful of lines
    VENV/bin/python tools/install_torch.py --check PIN...      only check: exit 0 works, 1 broken, 2 not installed

INDEX is the index to try first ('' for pip's default index), PIN a requirement such as 'torch>=2.4,<=2.14.1'.

Why a check: pip resolves versions, not builds. When the CPU-only index cannot be reached, pip still exits 0 after
taking a CPU-only torch from a local find-links folder and a CUDA torchvision from PyPI, whose compiled operators
need libtorch_cuda.so ("operator torchvision::nms does not exist", issue 25). So after installing, the pair must
import, run a torchvision operator, satisfy the pins and match each other (torch 2.N <-> torchvision 0.(N+15)).
A pair that fails is uninstalled and replaced by one from the default index; an environment that already holds a
broken pair is repaired the same way, never reused. pip's output goes to VENV/install.log, which errors name.
"""
import os, re, subprocess, sys, tempfile, time
from pathlib import Path

NAMES = ('torch', 'torchvision')
CLEAN = 'start over with `make clean`'

def release(v:str) -> tuple:
    "The release numbers of a version string: '2.13.0+cpu' -> (2, 13, 0)."
    return tuple(int(x) for x in re.match(r'\d+(?:\.\d+)*', v).group().split('.'))

def satisfies(v:str, spec:str) -> bool:
    "Does version `v` satisfy a specifier list such as '>=2.4,<=2.14.1'? (release numbers only, as the pins need)"
    ops = {'>=': lambda a, b: a >= b, '<=': lambda a, b: a <= b, '==': lambda a, b: a == b,
           '!=': lambda a, b: a != b, '>': lambda a, b: a > b, '<': lambda a, b: a < b}
    def pad(t, n): return t + (0,)*(n - len(t))
    for op, w in re.findall(r'(>=|<=|==|!=|>|<)\s*([\d.]+)', spec):
        a, b = release(v), release(w)
        n = max(len(a), len(b))
        if not ops[op](pad(a, n), pad(b, n)): return False
    return True

def check(pins:list) -> tuple:
    "Run in the environment's python: (0, summary) when the pair works, (1, why not) when broken, (2, ...) if absent."
    from importlib.metadata import version, PackageNotFoundError
    got = {}
    for name in NAMES:
        try: got[name] = version(name)
        except PackageNotFoundError: pass
    if not got: return 2, 'not installed'
    for name in NAMES:
        if name not in got: return 1, f'{name} is not installed'
    for pin in pins:
        name, spec = re.match(r'\s*([A-Za-z0-9_.-]+)\s*(.*)', pin).groups()
        if name in got and not satisfies(got[name], spec): return 1, f'{name} {got[name]} is outside the pin {pin}'
    t, tv = release(got['torch']), release(got['torchvision'])
    if t[0] != 2 or tv[:2] != (0, t[1] + 15):
        return 1, f"torchvision {got['torchvision']} does not match torch {got['torch']}, which needs 0.{t[1] + 15}"
    try:
        import torch, torchvision
        from torchvision.ops import nms
        boxes = torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
        keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist()
    except Exception as e:
        msg = (str(e).strip().splitlines() or [''])[0][:160]
        return 1, f"torchvision's operators do not load: {type(e).__name__}: {msg}"
    if keep != [0, 2]: return 1, f'torchvision.ops.nms gave {keep} instead of [0, 2]'
    build = f'CUDA {torch.version.cuda} build' if torch.version.cuda else 'CPU-only build'
    return 0, f'torch {torch.__version__} and torchvision {torchvision.__version__} work ({build})'

class Installer:
    "Install, check and repair the pair in `venv`, logging pip's output to venv/install.log."
    def __init__(self, venv:str, pins:list):
        self.venv, self.pins = Path(venv), pins
        self.py, self.log = self.venv/'bin'/'python', self.venv/'install.log'

    def _run(self, args:list, env=None) -> subprocess.CompletedProcess:
        "Run `args`, appending its stderr (and stdout, unless captured for the check) to the log."
        with open(self.log, 'a') as f:
            f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(map(str, args))}\n"); f.flush()
            return subprocess.run(args, stdout=f, stderr=f, env=env)

    def check(self) -> tuple:
        "Check the pair in a fresh interpreter of the environment, so that this process never imports torch."
        with open(self.log, 'a') as f:
            r = subprocess.run([self.py, __file__, '--check', *self.pins], stdout=subprocess.PIPE, stderr=f, text=True)
        line = (r.stdout.strip().splitlines() or [''])[-1]
        if r.returncode in (0, 1, 2) and line: return r.returncode, line
        return 1, f'the check crashed (exit {r.returncode}; its output is in {self.log})'

    def pip(self, *args, env=None) -> bool:
        return self._run([self.py, '-m', 'pip', *args], env=env).returncode == 0

    def uninstall(self):
        "Remove the pair, so that pip installs a new one instead of finding the broken one 'already satisfied'."
        if not self.pip('uninstall', '-y', *NAMES):
            sys.exit(f'pip could not uninstall torch and torchvision: see {self.log}, or {CLEAN}')

    def install(self, index:str) -> tuple:
        "Install the pinned pair (from `index`, or from the default index) and check it."
        install = ['install', '--progress-bar=off', *self.pins]
        if index:
            # fail fast on an unreachable index: pip's defaults would retry each request for minutes
            ok = self.pip(*install, '--retries=1', '--timeout=20', f'--index-url={index}')
        else:
            # the default index alone: a find-links folder (pip.conf, PIP_FIND_LINKS) may hold a build of one of the
            # pair that does not fit the index's other one (a +cpu torch beside PyPI's CUDA torchvision). pip has no
            # option to drop find-links, and ignores an empty PIP_FIND_LINKS, so it gets an empty folder instead.
            with tempfile.TemporaryDirectory() as empty:
                ok = self.pip(*install, env={**os.environ, 'PIP_FIND_LINKS': empty})
        if not ok: return 1, 'could not be installed (pip failed)'
        code, msg = self.check()
        return code, msg if code == 0 else f'does not work ({msg})'

    def run(self, index:str) -> int:
        pins = ', '.join(self.pins)
        code, msg = self.check()
        if code == 0: print(f'PyTorch: {msg}'); return 0
        if code == 1:
            print(f'PyTorch in {self.venv} does not work ({msg}): reinstalling it')
            self.uninstall()
        print(f"PyTorch: installing {pins} from {index or 'the default index'} (pip's output: {self.log})")
        if index:
            code, what = self.install(index)
            if code == 0: print(f'PyTorch: {what}'); return 0
            print(f'PyTorch from {index} {what}: installing a matching pair from the default index instead')
            self.uninstall()
        code, what = self.install('')
        if code == 0: print(f'PyTorch: {what}'); return 0
        print(f'PyTorch from the default index {what}: see {self.log}, or {CLEAN}')
        return 1

if __name__ == '__main__':
    args = sys.argv[1:]
    if args[:1] == ['--check']:
        code, msg = check(args[1:])
        print(msg); sys.exit(code)
    if len(args) < 3: sys.exit(f'usage: {sys.argv[0]} VENV INDEX PIN... | --check PIN...')
    sys.exit(Installer(args[0], args[2:]).run(args[1]))
