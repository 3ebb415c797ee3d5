"""Calibrate the shipped models: a temperature fitted on the validation split each was trained without.

For every shipped model whose recipe held training images out (`recipe['data']['valid']`: tiny, small, best), the
split is rebuilt exactly as training built it (`get_dls(valid=N)`, `split_seed` 42, which no training seed changes),
checked against the validation accuracy the run recorded, and `calibrate` (chapter 03) fits T on the raw float32
logits of those images; the record (T, method, the split and its size, 15-bin ECE, NLL, Brier and accuracy before
and after on the validation images and, reported only, on the test images, the machine, commit and date) goes into
the weights' metadata as `calibration`. A model trained on all 60,000 training images (original, modern: no `data`
in its recipe, no validation figures in its history) has nothing to fit a temperature on but the test set, which
only reports: it gets `calibration: null`, a `calibration_note` saying why, and its test metrics as
`uncalibrated_metrics`. Every other key of the metadata, and the weights, stay as they are.
Usage: python scripts/calibrate_shipped.py [NAME ...] [--dry-run]      (default: every shipped model)
"""
import argparse, time
import torch
import torch.nn.functional as F
from fmnist_cnn.data import get_dls, write_json
from fmnist_cnn.model import load_model, read_meta, weights_path, shipped_weights, git_commit
from fmnist_cnn.evaluation import calibrate, get_logits, calibration_metrics, machine_info

SPLIT_SEED = 42      # get_dls' default, which every training run used: the held-out images do not depend on the seed
NOTE = ("uncalibrated: trained on all 60,000 training images, so no held-out images are left to fit a temperature "
        "on, and the test set only reports")

def held_out(meta:dict) -> int:
    "How many training images the model's run held out for validation (0: it trained on all of them)."
    data = (meta.get('recipe') or {}).get('data')
    n = data.get('valid', 0) if isinstance(data, dict) else 0
    if not n and any(h.get('valid_err') is not None for h in meta.get('history', [])):
        raise SystemExit("the history has validation figures but the recipe names no split: which images were they?")
    return n

def pct(m:dict) -> str:
    "The four numbers of `calibration_metrics`, in one line."
    return f"acc {100*m['acc']:.2f}%, NLL {m['nll']:.4f}, ECE {100*m['ece']:.2f}%, Brier {m['brier']:.4f}"

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('names', nargs='*', help='shipped models (default: all)')
    ap.add_argument('--dry-run', action='store_true', help='print, write nothing')
    a = ap.parse_args()
    names = a.names or shipped_weights()
    unknown = [n for n in names if n not in shipped_weights()]
    if unknown: raise SystemExit(f"not shipped: {unknown}; shipped: {shipped_weights()}")
    test = get_dls(bs=1000).test
    for name in names:
        path = weights_path(name); meta = read_meta(path)
        model, n = load_model(path, calibrated=False), held_out(meta)
        t0 = time.perf_counter()
        if n:
            dls = get_dls(bs=1000, valid=n, split_seed=SPLIT_SEED)
            rec = calibrate(model, dls.valid, test, fitted_on=f"the validation split the run held out: "
                            f"get_dls(valid={n}, split_seed={SPLIT_SEED}), {n:,} training images it never trained on")
            b, after = rec['valid']['before'], rec['test']['after']
            if abs(b['acc'] - meta['valid_acc'])*n > 10:        # another split would not give the run's own figure
                raise SystemExit(f"{name}: validation accuracy {b['acc']:.4f} here, {meta['valid_acc']} in training: "
                                 f"not the split it held out")
            new = {k: v for k, v in meta.items() if k not in ('calibration_note', 'uncalibrated_metrics')}
            new['calibration'] = rec
            acc = rec['test']['before']['acc']
            print(f"{name}: T = {rec['temperature']:.4f} on {n:,} validation images "
                  f"({time.perf_counter() - t0:.0f} s)\n"
                  f"  valid before: {pct(b)}\n  valid after:  {pct(rec['valid']['after'])}\n"
                  f"  test before:  {pct(rec['test']['before'])}\n  test after:   {pct(after)}")
        else:
            zt, yt = get_logits(model, test)
            m = calibration_metrics(F.softmax(zt, 1), yt)
            new = dict(meta, calibration=None, calibration_note=NOTE,
                       uncalibrated_metrics=dict(test=dict(m, n=len(yt)), machine=machine_info('cpu'), commit=git_commit(),
                                                 date=time.strftime('%Y-%m-%d')))
            acc = m['acc']
            print(f"{name}: uncalibrated (no held-out images); test: {pct(m)}")
        if abs(acc - meta['test_acc'])*len(test.dataset) > 10:   # the weights score as they did
            raise SystemExit(f"{name}: test accuracy {acc:.4f} here, {meta['test_acc']} recorded")
        if not a.dry_run: write_json(new, path.with_suffix('.json'))

if __name__ == '__main__': main()
