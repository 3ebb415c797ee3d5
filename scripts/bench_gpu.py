"""Time to 94% test accuracy on a GPU, in one run: where the time goes, the speed recipe chosen on validation, 5 seeds.

1. profile: `torch.profiler` over a few training steps of the speed recipe (eager), top kernels and ops;
2. execution modes: eager, `torch.compile`, `torch.compile(mode='reduce-overhead')` (CUDA graphs), each one
   warm epoch then one timed epoch; the fastest is used below;
3. choice on the validation split (10,000 held-out training images): a few epoch counts and augmentations of
   `RECIPES['speed']`, the fastest whose final validation accuracy clears --valid-target;
4. the record: the chosen recipe trained on all 60,000 training images from --seeds seeds; `time_to_94_s` is the
   training time (no evaluation) from the first step to the end of the first epoch whose test accuracy is >= 94.0%
   (one-time warm-up, compilation and cuDNN autotuning, is done before the clock starts and reported as `warmup_s`);
5. `fit` against a plain device-resident loop on the same configuration (overhead of the library's loop);
6. the original recipe (OriginalCNN, Adam, batch 32, 30 epochs) through `train`, its total training time.
Writes --out (JSON) and prints a summary. Usage: python scripts/bench_gpu.py [--out results/bench_gpu.json] [--quick]
"""
import argparse, json, math, time, traceback
from pathlib import Path
import torch
from torch import nn
from fmnist_cnn.data import get_dls, write_json
from fmnist_cnn.model import build_model, n_params, mflops
from fmnist_cnn.training import RECIPES, merge
from fmnist_cnn.data import make_aug
from fmnist_cnn.training import train, set_seed, get_device, make_opt, make_sched, bf16_native

def _autocast(device, bf16:bool):
    "bfloat16 autocast on `device` when `bf16`, else a no-op context."
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

def log(*a): print(*a, flush=True)

def first_reach(hist, target=0.94):
    "Cumulative training time (s) and epoch at the end of the first epoch with test accuracy >= target, or (None, None)."
    t = 0.
    for h in hist:
        t += h['train_time']
        if 1 - h['test_err'] >= target: return round(t, 2), h['epoch']
    return None, None

def fresh(model, spec, seed):
    "Re-initialise `model` in place as a newly built `spec` with `seed` would be (keeps a compiled module warm)."
    set_seed(seed); model.load_state_dict(build_model(spec).state_dict()); return model

def profile(r, device, steps=20):
    "Top CUDA kernels and CPU ops over `steps` eager training steps of recipe `r`."
    from torch.profiler import profile as prof, ProfilerActivity
    dls = get_dls(r['data']['bs'], 0, seed=0, device=device, drop_last=True)
    m = build_model(r['model']).to(device).to(memory_format=torch.channels_last)
    opt = make_opt(r['opt'])(m.parameters(), lr=r['opt']['lr']); tfm = make_aug(r['data']['aug'])
    lf = nn.CrossEntropyLoss(label_smoothing=r['loss']['label_smoothing'])
    it = iter(dls.train)
    def step():
        xb, yb = next(it); xb = tfm(xb) if tfm else xb
        with _autocast(xb.device, True): loss = lf(m(xb.contiguous(memory_format=torch.channels_last)), yb)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    for _ in range(10): step()
    torch.cuda.synchronize(); t = time.time()
    with prof(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        for _ in range(steps): step()
        torch.cuda.synchronize()
    wall = (time.time() - t)/steps
    ka = p.key_averages()
    gpu = sum(e.self_device_time_total for e in ka)/steps/1e3
    n_kernels = sum(e.count for e in ka if e.device_type == torch.autograd.DeviceType.CUDA)/steps
    table = ka.table(sort_by='self_cuda_time_total', row_limit=18, max_name_column_width=60)
    return dict(step_ms_wall=round(1e3*wall, 2), step_ms_gpu_busy=round(gpu, 2), kernels_per_step=round(n_kernels)), table

def plain_loop(r, device, epochs=2):
    "The same training as `train(r)` in the simplest device-resident loop: no metrics, no evaluation; seconds per epoch."
    dls = get_dls(r['data']['bs'], r['data']['valid'], seed=r['seed'], device=device, drop_last=bool(r['precision']['compile']))
    set_seed(r['seed']); m = build_model(r['model']).to(device).to(memory_format=torch.channels_last)
    step_m = torch.compile(m, **({} if r['precision']['compile'] is True else dict(mode=r['precision']['compile']))) if r['precision']['compile'] else m
    opt = make_opt(r['opt'])(m.parameters(), lr=r['opt']['lr']); sched = make_sched(r['sched'])
    sched = sched(opt, r['epochs']*len(dls.train)) if sched else None
    tfm, lf = make_aug(r['data']['aug']), nn.CrossEntropyLoss(label_smoothing=r['loss']['label_smoothing'])
    bf16 = bf16_native(device) if r['precision']['bf16'] == 'auto' else r['precision']['bf16']
    times = []
    for _ in range(epochs):
        torch.cuda.synchronize(); t = time.time(); m.train()
        for xb, yb in dls.train:
            if tfm: xb = tfm(xb)
            with _autocast(xb.device, bf16): loss = lf(step_m(xb.contiguous(memory_format=torch.channels_last)), yb)
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
            if sched: sched.step()
        torch.cuda.synchronize(); times.append(time.time() - t)
    return times

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='results/bench_gpu.json'); ap.add_argument('--seeds', default='0,1,2,3,4')
    ap.add_argument('--valid-target', type=float, default=0.943)
    ap.add_argument('--orig-cap-min', type=float, default=1.0, help='cap on the original recipe\'s training time')
    ap.add_argument('--quick', action='store_true', help='tiny settings, to test this script on a CPU')
    a = ap.parse_args()
    device = get_device()
    res = dict(device=torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu', torch=torch.__version__, quick=a.quick)
    save = lambda: write_json(res, a.out)
    S = RECIPES['speed']
    q = dict(n_train=2000, n_test=1000) if a.quick else {}
    log(f"device {res['device']}, torch {res['torch']}; speed recipe base: {json.dumps(S)}")
    # 1. where the time goes
    if device.type == 'cuda':
        try:
            res['profile'], table = profile(S, device)
            Path(a.out).with_suffix('.profile.txt').write_text(table)
            log('profile:', res['profile']); log(table)
        except Exception as e: log('profile failed:', traceback.format_exc()); res['profile'] = dict(error=str(e))
    save()
    # 2. execution modes, on the speed recipe's network and batch size
    res['modes'] = {}
    for mode in ([False, True, 'reduce-overhead'] if device.type == 'cuda' else [False]):
        try:
            t = time.time()
            _, h = train(S, progress=False, epochs=2, precision=dict(compile=mode), data=dict(valid=0), **q)
            res['modes'][str(mode)] = dict(epoch1_s=round(h[0]['train_time'], 2), epoch2_s=round(h[1]['train_time'], 2),
                                           warmup_s=round(h[0]['train_time'] - h[1]['train_time'], 1), wall_s=round(time.time() - t, 1))
            log(f'mode {mode}:', res['modes'][str(mode)])
        except Exception as e: log(f'mode {mode} failed:', traceback.format_exc()[-2000:]); res['modes'][str(mode)] = dict(error=str(e)[:500])
        save()
    ok = {m: v for m, v in res['modes'].items() if 'epoch2_s' in v}
    best_mode = min(ok, key=lambda m: ok[m]['epoch2_s'])
    mode = {'False': False, 'True': True}.get(best_mode, best_mode)
    res['mode'] = best_mode; log('fastest mode:', best_mode)
    # 3. choose epochs and augmentation on the validation split (seed 0)
    cands = [dict(epochs=e, data=dict(aug=dict(flip=0.5, shift=2, erase=er))) for e in ([2] if a.quick else [8, 12]) for er in (0., 0.25)]
    res['choice'] = []
    for c in cands:
        r = merge(S, **c, precision=dict(compile=mode), seed=0)
        try:
            _, h = train(r, progress=False, **q)
            res['choice'].append(dict(overrides=c, valid_acc=round(1 - h[-1]['valid_err'], 4), train_time_s=round(sum(x['train_time'] for x in h), 2),
                                      valid_curve=[round(1 - x['valid_err'], 4) for x in h]))
            log('candidate', c, res['choice'][-1]['valid_acc'], res['choice'][-1]['train_time_s'])
        except Exception as e: log('candidate failed', c, e)
        save()
    good = [c for c in res['choice'] if c['valid_acc'] >= a.valid_target] or sorted(res['choice'], key=lambda c: -c['valid_acc'])[:1]
    chosen = min(good, key=lambda c: c['train_time_s'])['overrides']
    res['chosen'] = chosen; R = merge(S, **chosen, precision=dict(compile=mode))
    res['recipe'] = R; log('chosen:', chosen)
    # 4. the record: all 60,000 training images, several seeds, one warm network
    rec = merge(R, data=dict(valid=0))
    m = build_model(rec['model']).to(device)
    t = time.time(); train(rec, net=m, progress=False, epochs=1, **q); torch.cuda.synchronize() if device.type == 'cuda' else None
    res['warmup_s'] = round(time.time() - t, 1)
    res['params'], res['mflops'] = n_params(m), round(mflops(m), 1)
    res['runs'] = []
    for seed in map(int, a.seeds.split(',')):
        fresh(m, rec['model'], seed)
        _, h = train(rec, net=m, progress=False, seed=seed, **q)
        t94, ep = first_reach(h)
        res['runs'].append(dict(seed=seed, time_to_94_s=t94, epoch_94=ep, final_test_acc=round(1 - h[-1]['test_err'], 4), epochs=len(h),
                                train_time_s=round(sum(x['train_time'] for x in h), 2), elapsed_s=round(h[-1]['elapsed'], 2),
                                test_curve=[round(1 - x['test_err'], 4) for x in h]))
        log('seed', seed, res['runs'][-1]); save()
    ts = [r['time_to_94_s'] for r in res['runs']]
    res['summary'] = dict(all_reached=all(t is not None for t in ts), mean_time_to_94_s=round(sum(ts)/len(ts), 2) if all(t is not None for t in ts) else None,
                          mean_final_test_acc=round(sum(r['final_test_acc'] for r in res['runs'])/len(ts), 4))
    log('summary:', res['summary']); save()
    # 5. fit against a plain resident loop, same configuration, steady-state epoch
    if device.type == 'cuda':
        try:
            pl = plain_loop(rec, device)
            fresh(m, rec['model'], 0); _, h = train(rec, net=m, progress=False, epochs=2)
            res['fit_vs_plain'] = dict(plain_epoch_s=round(pl[-1], 3), fit_epoch_s=round(h[-1]['train_time'], 3),
                                       fit_epoch_with_eval_s=round(h[-1]['time'], 3), ratio=round(h[-1]['train_time']/pl[-1], 3))
            log('fit vs plain loop:', res['fit_vs_plain'])
        except Exception as e: log('fit vs plain failed:', traceback.format_exc()[-2000:])
        save()
    # 6. the original recipe, 30 epochs at batch 32 (capped)
    try:
        O = merge(RECIPES['original'], data=dict(valid=0), precision=dict(compile=mode))
        t = time.time()
        _, h = train(O, progress=False, max_minutes=a.orig_cap_min, **({'epochs': 2} | q if a.quick else {}))
        res['original'] = dict(recipe_compile=best_mode, epochs_done=len(h), train_time_s=round(sum(x['train_time'] for x in h), 1),
                               wall_s=round(time.time() - t, 1), final_test_acc=round(1 - h[-1]['test_err'], 4),
                               epoch_s=[round(x['train_time'], 2) for x in h])
        log('original recipe:', {k: v for k, v in res['original'].items() if k != 'epoch_s'})
    except Exception as e: log('original failed:', traceback.format_exc()[-2000:])
    save()

if __name__ == '__main__': main()
