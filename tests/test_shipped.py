"""Every shipped model, evaluated again from its file on the full test set in float32 on the CPU.

Each must reproduce the accuracy its metadata records (the run's own evaluation, on the machine that trained it:
another machine's kernels may round a handful of borderline images the other way, hence a tolerance of 10 images),
keep within its size, and meet the promise the book makes for it. These are regression checks of files already
chosen (on the validation split, see chapter 04), not choices.
"""
import json
import pytest, torch
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import load_model, read_meta, weights_path, n_params, shipped_weights
from fmnist_cnn.evaluation import get_preds

# name: (most parameters, least test accuracy) -- the targets the book states for each shipped model
PROMISES = dict(original=(1_238_538, 0.9203), modern=(1_000_000, 0.945), tiny=(25_000, 0.92), small=(100_000, 0.935),
                best=(1_000_000, 0.95))

@pytest.fixture(scope='module')
def test_dl(): return get_dls(bs=1000).test

def test_every_shipped_model_has_a_promise():
    assert sorted(shipped_weights()) == sorted(PROMISES)

@pytest.mark.parametrize('name', sorted(PROMISES))
def test_shipped_model(name, test_dl):
    model, meta = load_model(name).float(), read_meta(weights_path(name))
    with torch.no_grad(): probs, targs = get_preds(model, test_dl)
    n = len(targs); assert n == 10_000
    n_right = int((probs.argmax(1) == targs).sum())
    most, least = PROMISES[name]
    assert n_params(model) <= most and n_params(model) == meta['n_params']
    assert n_right >= round(least*n), f'{name}: {n_right}/{n} right, promised at least {least:.2%}'
    assert abs(n_right - round(meta['test_acc']*n)) <= 10, (name, n_right, meta['test_acc'])
    # a temperature (tiny, small, best) changes no prediction; original and modern say they have none
    assert 'calibration' in meta and (meta['calibration'] is not None or 'calibration_note' in meta)
    xb, _ = next(iter(test_dl))
    with torch.no_grad(): assert torch.equal(load_model(name, calibrated=False)(xb).argmax(1), model(xb).argmax(1))
