"""Is bfloat16 native on this CPU? Time training steps of the fast recipe's network in float32 and in bfloat16
autocast, in one process (same batches, alternating rounds, best of each), and print the ratio.
Writes results/bench_bf16.txt. Usage: python scripts/bench_bf16.py [--steps 5] [--rounds 3] [--bs 128]"""
import argparse, time
import torch, torch.nn.functional as F
from fmnist_cnn.model import build_model
from fmnist_cnn.training import RECIPES, bf16_native
from bench_training import cpu_name

def step_time(model, opt, xb, yb, bf16:bool, steps:int) -> float:
    "Seconds per training step (after one warm-up step)."
    def one():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): loss = F.cross_entropy(model(xb), yb)
        loss.backward(); opt.step(); opt.zero_grad()
    one(); t = time.perf_counter()
    for _ in range(steps): one()
    return (time.perf_counter() - t)/steps

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--steps', type=int, default=5); ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--bs', type=int, default=128); ap.add_argument('--out', default='results/bench_bf16.txt')
    a = ap.parse_args()
    torch.manual_seed(0)
    model = build_model(RECIPES['fast']['model']).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb, yb = torch.rand(a.bs, 1, 28, 28).to(memory_format=torch.channels_last), torch.randint(0, 10, (a.bs,))
    t = {False: [], True: []}
    for _ in range(a.rounds):
        for bf16 in (False, True): t[bf16].append(step_time(model, opt, xb, yb, bf16, a.steps))
    fp32, bf16 = min(t[False]), min(t[True])
    lines = [f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; bf16_native: {bf16_native(torch.device('cpu'))}",
             f"a training step of the fast recipe's network, batch {a.bs}, channels-last (best of {a.rounds} rounds of {a.steps} steps):",
             f"  float32             {1000*fp32:8.1f} ms",
             f"  bfloat16 autocast   {1000*bf16:8.1f} ms",
             f"  bfloat16 / float32  {bf16/fp32:8.2f}x the time"]
    print('\n'.join(lines))
    from pathlib import Path; Path(a.out).write_text('\n'.join(lines) + '\n')
