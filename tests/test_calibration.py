"""Calibrated probabilities of the shipped models (chapter 03's temperature scaling), checked from outside the library.

Each check recomputes what it compares with independently: the softmax of the raw network's logits divided by the
recorded temperature, and the 15-bin expected calibration error as a NumPy loop over the bins (not `reliability`).
`tiny`, `small` and `best` were fitted on the validation split they were trained without; `original` and `modern`
have none and must say that they are uncalibrated. Runs on the full test set on the CPU (about a minute).
"""
import json, math
import numpy as np
import pytest, torch
import torch.nn.functional as F
from fmnist_cnn.data import get_dls, CLASSES
from fmnist_cnn.model import load_model, read_meta, weights_path, save_weights, load_weights, calibration_status

CALIBRATED, UNCALIBRATED = ('tiny', 'small', 'best'), ('original', 'modern')

@pytest.fixture(scope='module')
def test_set():
    dl = get_dls(bs=1000).test
    return torch.cat([x for x, _ in dl]), torch.cat([y for _, y in dl])      # (10000, 1, 28, 28), (10000,)

@pytest.fixture(scope='module')
def raw_logits(test_set):
    "Each calibrated model's raw logits on the whole test set, float32."
    x, _ = test_set
    out = {}
    with torch.no_grad():
        for name in CALIBRATED: out[name] = torch.cat([load_model(name, calibrated=False)(xb) for xb in x.split(1000)])
    return out

def ece_numpy(probs:np.ndarray, targs:np.ndarray, n_bins:int=15) -> float:
    "Expected calibration error over `n_bins` equal-width confidence bins (i/n, (i+1)/n], by a plain loop."
    conf, pred, ece = probs.max(1), probs.argmax(1), 0.
    for i in range(n_bins):
        inb = (conf > i/n_bins) & (conf <= (i + 1)/n_bins)
        if i == 0: inb |= conf == 0
        if inb.any(): ece += inb.mean()*abs((pred[inb] == targs[inb]).mean() - conf[inb].mean())
    return float(ece)

def test_ece_numpy_reference():
    "The reference itself, on a case worked by hand: 10 images at 0.8 with 8 right, 10 at 0.6 with 3 right."
    p = np.zeros((20, 2)); p[:10] = [.8, .2]; p[10:] = [.6, .4]
    t = np.array([0]*8 + [1]*2 + [0]*3 + [1]*7)
    assert math.isclose(ece_numpy(p, t, 10), 0.15, abs_tol=1e-12)

@pytest.mark.parametrize('name', CALIBRATED)
def test_calibrated_probabilities_are_softmax_of_logits_over_T(name, test_set, raw_logits):
    x, _ = test_set
    T = read_meta(weights_path(name))['calibration']['temperature']
    assert 0 < T < 10
    m = load_model(name)
    assert m.temperature == T and load_model(name, calibrated=False).temperature is None
    with torch.no_grad(): p = torch.cat([F.softmax(m(xb), 1) for xb in x.split(1000)])
    ref = np.exp(raw_logits[name].double().numpy()/T); ref /= ref.sum(1, keepdims=True)    # NumPy softmax
    assert np.abs(p.double().numpy() - ref).max() < 1e-5

@pytest.mark.parametrize('name', CALIBRATED)
def test_calibrated_test_ece_at_most_2_percent(name, test_set, raw_logits):
    _, y = test_set
    cal = read_meta(weights_path(name))['calibration']
    z = raw_logits[name].double().numpy()
    soft = lambda z: (e := np.exp(z - z.max(1, keepdims=True)))/e.sum(1, keepdims=True)
    before, after = ece_numpy(soft(z), y.numpy()), ece_numpy(soft(z/cal['temperature']), y.numpy())
    assert after <= 0.02, f'{name}: test ECE {after:.4f} after calibration (15 bins), {before:.4f} before'
    assert after < before
    assert math.isclose(after, cal['test']['after']['ece'], abs_tol=2e-3)      # the record says what this computes
    assert math.isclose(before, cal['test']['before']['ece'], abs_tol=2e-3)
    assert (z.argmax(1) == y.numpy()).mean() == (soft(z/cal['temperature']).argmax(1) == y.numpy()).mean()

@pytest.mark.parametrize('name', CALIBRATED + UNCALIBRATED)
def test_metadata_says_what_it_is(name):
    meta = read_meta(weights_path(name))
    assert 'calibration' in meta
    if name in CALIBRATED:
        c = meta['calibration']
        assert c['n'] == meta['recipe']['data']['valid'] == 10_000 and c['n_bins'] == 15
        assert 'valid=10000' in c['fitted_on']
        assert {'before', 'after'} <= set(c['valid']) and {'before', 'after'} <= set(c['test'])
        for part in ('valid', 'test'):
            for when in ('before', 'after'): assert set(c[part][when]) >= {'acc', 'nll', 'ece', 'brier'}
        assert c['valid']['after']['nll'] <= c['valid']['before']['nll']        # T minimises the validation NLL
        assert c['machine']['cpu'] and c['commit'] and c['date']
        status = calibration_status(load_model(name))
        assert status.startswith(f"calibrated: logits divided by T = {c['temperature']:.3f}"), status
    else:
        assert meta['calibration'] is None and 'all 60,000' in meta['calibration_note']
        assert 'data' not in meta['recipe'] and all(h.get('valid_err') is None for h in meta['history'])
        m = load_model(name)
        assert m.temperature is None and calibration_status(m) == meta['calibration_note']

def test_predict_gives_calibrated_probabilities(test_set, raw_logits):
    from fmnist_cnn.evaluation import predict
    x, _ = test_set
    T = read_meta(weights_path('small'))['calibration']['temperature']
    got = dict(predict(x[3], load_model('small'), k=10))
    ref = F.softmax(raw_logits['small'][3].double()/T, 0)
    for c, p in got.items(): assert abs(p - ref[CLASSES.index(c)].item()) < 6e-5
    raw = dict(predict(x[3], load_model('small', calibrated=False), k=10))          # one argument away: the raw model
    ref_raw = F.softmax(raw_logits['small'][3].double(), 0)
    for c, p in raw.items(): assert abs(p - ref_raw[CLASSES.index(c)].item()) < 6e-5

def test_demo_answer_gives_calibrated_probabilities(test_set, raw_logits, tmp_path):
    from PIL import Image
    from fmnist_cnn.demo import answer, analyse
    x, _ = test_set
    f = tmp_path/'boot.png'; Image.fromarray((255*x[0, 0].numpy()).round().astype(np.uint8)).save(f)
    model = load_model('tiny'); T = model.temperature
    with torch.no_grad(): ref = F.softmax(load_model('tiny', calibrated=False)(x[:1]).double()/T, 1)[0]
    photo, seen, top, cam, text = answer(str(f), model)
    _, top2, _ = analyse(str(f), model)
    assert top == top2 and len(top) == 3
    for c, p in top.items(): assert abs(p - ref[CLASSES.index(c)].item()) < 6e-5     # the 28x28 image is used as it is
    c, p = next(iter(top.items()))
    assert text == f'**{c}** ({100*p:.1f}%)'

def test_metadata_round_trip(tmp_path, test_set):
    x, _ = test_set
    m = load_model('tiny')
    with torch.no_grad(): z = m(x[:256])
    save_weights(m, tmp_path/'t.pt')
    assert json.loads((tmp_path/'t.json').read_text())['calibration'] == read_meta(weights_path('tiny'))['calibration']
    raw_sd = load_weights(weights_path('tiny'))
    assert all(torch.equal(v, raw_sd[k]) for k, v in load_weights(tmp_path/'t.pt').items())   # raw weights on disk
    again = load_model(tmp_path/'t.pt')
    with torch.no_grad(): assert torch.allclose(again(x[:256]), z, atol=1e-6)              # T once, not twice
    o = load_model('original'); save_weights(o, tmp_path/'o.pt')
    meta = json.loads((tmp_path/'o.json').read_text())
    assert meta['calibration'] is None
    assert meta['calibration_note'] == read_meta(weights_path('original'))['calibration_note']
