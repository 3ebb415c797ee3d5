"""Data-parallel training under torchrun, on the CPU: two gloo processes on the loopback interface.

1. Two processes give the same weights as one process that splits each batch the same way (batch norm's
   statistics per share, as the processes compute them on a CPU) and averages the shares' losses.
2. `torchrun ... -m fmnist_cnn train --recipe fast` on a subset writes weights that `load_model` loads, and
   only rank 0 writes and prints.
3. A process that dies takes the job down within a minute, with torchrun naming the failed rank.
"""
import os, subprocess, sys, time
from functools import partial
from pathlib import Path
import pytest, torch
import torch.nn.functional as F
from fmnist_cnn.data import TensorLoader
from fmnist_cnn.model import build_model, load_model, read_meta
from fmnist_cnn.training import set_seed

SPEC = dict(arch='ModernCNN', args=dict(widths=[8, 16, 32], depths=[1, 1, 1], stem=8))
WORKER = f"""
import sys, torch
from functools import partial
from fmnist_cnn.data import TensorLoader, DataLoaders
from fmnist_cnn.model import build_model
from fmnist_cnn.training import fit, set_seed
from fmnist_cnn.distributed import init_distributed, shard, is_main
device, world = init_distributed(torch.device('cpu'))
g = torch.Generator().manual_seed(0)
x, y = torch.rand(256, 1, 28, 28, generator=g), torch.randint(0, 10, (256,), generator=g)
dls = DataLoaders(TensorLoader(x, y, bs=64, shuffle=True, seed=0), TensorLoader(x[:64], y[:64], bs=64))
set_seed(0); m = build_model({SPEC!r})
# plain momentum SGD in the default memory layout, as the reference below: with Nesterov's or Adam's update, or
# channels-last kernels, the float32 rounding of the two ways of summing the gradients grows, in 8 steps, to the
# size of the batch-norm effect this test must tell apart
import fmnist_cnn.training as training; training.make_opt = lambda o: partial(torch.optim.SGD, momentum=o['momentum'])
hist = fit(m, shard(dls) if world > 1 else dls, {{'epochs': 2, 'opt': dict(name='sgd', lr=0.05, momentum=0.9),
                                                'sched.name': 'const', 'seed': 0,
                                                'precision.channels_last': False}}, progress=False, device='cpu')
if is_main(): torch.save(dict(sd=m.state_dict(), hist=hist), sys.argv[1])
torch.distributed.destroy_process_group()     # stop gloo's threads before Python exits
"""

def torchrun(n, *args, env=None, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1', **(env or {}))
    return subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={n}', *args],
                          capture_output=True, text=True, env=env, timeout=timeout)

TOL = 1e-4    # two processes match one up to float32 rounding

def reference(world=2):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(256, 1, 28, 28, generator=g), torch.randint(0, 10, (256,), generator=g)
    set_seed(0); m = build_model(SPEC); opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9); m.train()
    dl = TensorLoader(x, y, bs=64, shuffle=True, seed=0)
    for _ in range(2):
        for xb, yb in dl:
            loss = sum(F.cross_entropy(m(xs), ys) for xs, ys in zip(xb.tensor_split(world), yb.tensor_split(world)))/world
            loss.backward(); opt.step(); opt.zero_grad()
    return m.state_dict()

def test_two_processes_match_one(tmp_path):
    (tmp_path/'w.py').write_text(WORKER)
    r = torchrun(2, str(tmp_path/'w.py'), str(tmp_path/'ddp.pt'))
    assert r.returncode == 0, r.stderr[-3000:]
    ddp, ref = torch.load(tmp_path/'ddp.pt', weights_only=True), reference()
    params = [k for k in ref if 'running' not in k and 'num_batches' not in k]
    assert len(params) > 20
    diff = max((ddp['sd'][k] - ref[k]).abs().max().item() for k in params)
    # float32 rounding: the gradients are summed in another order, and 8 momentum steps carry it on; the size
    # depends on the kernel set (2e-7 with AVX2/AVX-512 kernels, 2e-5 with ATEN_CPU_CAPABILITY=default)
    assert diff < TOL, diff
    full = reference(world=1)     # control: batch norm over whole batches gives visibly different weights
    assert max((ddp['sd'][k] - full[k]).abs().max().item() for k in params) > 10*TOL
    assert len(ddp['hist']) == 2 and all(0 <= h['test_err'] <= 1 for h in ddp['hist'])

def test_cli_under_torchrun_writes_loadable_weights(tmp_path):
    out = tmp_path/'run'
    r = torchrun(2, '-m', 'fmnist_cnn', 'train', '--recipe', 'fast', '--epochs', '1', '--n-train', '2048', '--n-test', '500',
                 '--valid', '500', '--out', str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('recipe fast') == 1, r.stdout                 # rank 0 alone prints
    m = load_model(out/'model.pt')
    assert m.args['widths'] == [16, 32, 64] and read_meta(out/'model.pt')['processes'] == 2
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith('.')) == ['checkpoint.pt', 'curves.svg', 'history.json', 'model.json', 'model.pt']

DIES = """
import os, torch, torch.distributed as dist
from fmnist_cnn.distributed import init_distributed
init_distributed(torch.device('cpu'))
if dist.get_rank() == 1: os._exit(3)                 # a process crashes
t = torch.ones(1)
for _ in range(100): dist.all_reduce(t)              # the other waits for it
"""

def test_a_dead_process_takes_the_job_down(tmp_path):
    (tmp_path/'dies.py').write_text(DIES)
    t = time.time()
    r = torchrun(2, str(tmp_path/'dies.py'), env=dict(FMNIST_DIST_TIMEOUT='20'), timeout=120)
    assert r.returncode != 0 and time.time() - t < 60
    assert 'exitcode  : 3' in r.stderr or 'exit code 3' in r.stderr or 'exitcode: 3' in r.stderr, r.stderr[-2000:]

def test_batch_not_divisible_by_processes_is_refused(tmp_path):
    r = torchrun(2, '-m', 'fmnist_cnn', 'train', '--recipe', 'fast', '--bs', '127', '--epochs', '1', '--n-train', '1000',
                 '--out', str(tmp_path/'x'))
    assert r.returncode != 0 and 'the batch size 127 must be divisible by the 2 processes' in r.stderr, r.stderr[-2000:]
