"""Is bfloat16 native on this CPU? Time training steps of the fast recipe's network in float32 and in bfloat16
autocast, in one process (same batches, alternating rounds, best of each), and print the ratio.
Appends one record per precision (fmnist_cnn.book.records) to results/bench_bf16.jsonl.
Usage: python benchmarks/bench_bf16.py [--steps 5] [--rounds 3] [--bs 128] [--out FILE]"""
import argparse, time
import torch, torch.nn.functional as F
from fmnist_cnn.model import build_model
from fmnist_cnn.training import RECIPES, bf16_native
from fmnist_cnn.book.records import make_record, append_record, machine, study_path

def step_time(model, opt, xb, yb, bf16:bool, steps:int) -> float:
    "Seconds per training step (after one warm-up step)."
    def one():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): loss = F.cross_entropy(model(xb), yb)
        loss.backward(); opt.step(); opt.zero_grad()
    one(); t = time.perf_counter()
    for _ in range(steps): one()
    return (time.perf_counter() - t)/steps

def report(recs:list) -> str:
    "The two records of one run as text: the machine, each precision's step time, and their ratio."
    f32, b16 = recs
    e, m = f32['extra'], f32['machine']
    return '\n'.join([f"{m['cpu']}, {m['threads']} threads, torch {m['torch']}; bf16_native: {e['bf16_native']}",
                      f"a training step of the fast recipe's network, batch {e['bs']}, channels-last (best of "
                      f"{e['rounds']} rounds of {e['steps']} steps):",
                      f"  float32             {f32['extra']['step_ms']:8.1f} ms",
                      f"  bfloat16 autocast   {b16['extra']['step_ms']:8.1f} ms",
                      f"  bfloat16 / float32  {b16['extra']['step_ms']/f32['extra']['step_ms']:8.2f}x the time"])

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=5); ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--bs', type=int, default=128); ap.add_argument('--out', help='default: results/bench_bf16.jsonl')
    a = ap.parse_args()
    torch.manual_seed(0)
    model = build_model(RECIPES['fast']['model']).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb, yb = torch.rand(a.bs, 1, 28, 28).to(memory_format=torch.channels_last), torch.randint(0, 10, (a.bs,))
    t = {False: [], True: []}
    for _ in range(a.rounds):
        for bf16 in (False, True): t[bf16].append(step_time(model, opt, xb, yb, bf16, a.steps))
    common = dict(network='fast', bs=a.bs, rounds=a.rounds, steps=a.steps, bf16_native=bf16_native(torch.device('cpu')),
                  channels_last=True)
    recs = [make_record('bench_bf16', v, None, None, [], dict(n_train=None, n_valid=None, n_test=None),
                        what=f"seconds of one training step of the fast recipe's network in {v}",
                        machine=machine('cpu'),
                        extra=dict(common, step_ms=round(1000*min(t[bf16]), 1)))
            for v, bf16 in (('float32', False), ('bfloat16 autocast', True))]
    for rec in recs: append_record(rec, a.out or study_path('bench_bf16'))
    print(report(recs))
