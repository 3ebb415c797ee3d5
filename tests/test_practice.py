"""The book's practice checkers (fmnist_cnn.book.practice), each tested three ways: it accepts a worked solution
(the chapters' own solutions also call `check` in their cells), it rejects typical wrong answers with a message
that names the case, and it never raises on an answer of the wrong type or shape."""
import argparse, math, os
import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from pathlib import Path
from torch import nn

from fmnist_cnn.book.practice import EXERCISES, verdict, check, exercise_list, exercise_table, idx_bytes, Fail
from fmnist_cnn.training import Callback
from fmnist_cnn.training import RECIPES, merge
from fmnist_cnn.concepts import receptive_field
from fmnist_cnn.model import ModernCNN

RF_POOLED = receptive_field(ModernCNN(depths=(0, 2, 2)))[-1]['rf']   # the fast network's RF after global pooling

# ---- worked solutions (the same as the chapters' "Solution" cells) and typical wrong answers, per exercise ----
def parse_idx(data):
    nd = data[3]
    shape = np.frombuffer(data[4:4 + 4*nd], dtype='>i4')
    return torch.frombuffer(bytearray(data[4 + 4*nd:]), dtype=torch.uint8).reshape(*map(int, shape))

def parse_idx_little(data):        # sizes read as little-endian
    nd = data[3]; shape = np.frombuffer(data[4:4 + 4*nd], dtype='<i4')
    return torch.frombuffer(bytearray(data[4 + 4*nd:]), dtype=torch.uint8).reshape(*map(int, shape))

def stream(images, labels, bs, scale=255, keep_last=True):
    n = int.from_bytes(Path(labels).read_bytes()[4:8], 'big')
    with open(images, 'rb') as fi, open(labels, 'rb') as fl:
        for i in range(0, n, bs):
            m = min(bs, n - i)
            if m < bs and not keep_last: return
            fi.seek(16 + 784*i); fl.seek(8 + i)
            x = torch.frombuffer(bytearray(fi.read(784*m)), dtype=torch.uint8).reshape(m, 1, 28, 28)
            yield x.float()/scale, torch.frombuffer(bytearray(fl.read(m)), dtype=torch.uint8).long()

def small_cnn():
    from fmnist_cnn.model import conv_block
    return nn.Sequential(conv_block(1, 16), conv_block(16, 32), nn.Flatten(), nn.Linear(32*7*7, 10))

class LRRecorder(Callback):
    def __init__(self): self.lrs = []
    def before_batch(self, run):
        if run.training: self.lrs.append(run.opt.param_groups[0]['lr'])

class LRRecorderAll(LRRecorder):   # records the evaluation batches too
    def before_batch(self, run): self.lrs.append(run.opt.param_groups[0]['lr'])

class LRRecorderAfter(LRRecorder):  # records after the step: the next step's rate
    def before_batch(self, run): pass
    def after_step(self, run): self.lrs.append(run.opt.param_groups[0]['lr'])

class StopAt(Callback):
    def __init__(self, target): self.target = target
    def after_epoch(self, run):
        h = run.hist[-1]
        if 1 - (h['valid_err'] if h.get('valid_err') is not None else h['test_err']) >= self.target:
            run.stop = True

class StopAbove(StopAt):           # > instead of >=
    def after_epoch(self, run):
        if 1 - run.hist[-1]['valid_err'] > self.target: run.stop = True

class StopOnTest(StopAt):          # looks at the test error
    def after_epoch(self, run):
        if 1 - run.hist[-1]['test_err'] >= self.target: run.stop = True

def wilson(k, n, conf=0.95):
    z = scipy.stats.norm.ppf(0.5 + conf/2)
    c, h = (k + z*z/2)/(n + z*z), z/(n + z*z)*math.sqrt(k*(n - k)/n + z*z/4)
    return c - h, c + h

def wald(k, n, conf=0.95):
    z, p = scipy.stats.norm.ppf(0.5 + conf/2), k/n
    return p - z*math.sqrt(p*(1 - p)/n), p + z*math.sqrt(p*(1 - p)/n)

def mcnemar_p(a, b):
    a, b = torch.as_tensor(a).bool(), torch.as_tensor(b).bool()
    n1, n2 = int((a & ~b).sum()), int((~a & b).sum())
    m = n1 + n2
    return min(1., 2*sum(math.comb(m, i) for i in range(min(n1, n2) + 1))/2**m) if m else 1.

def mcnemar_chi2(a, b):           # the chi-square approximation, with continuity correction
    a, b = torch.as_tensor(a).bool(), torch.as_tensor(b).bool()
    n1, n2 = int((a & ~b).sum()), int((~a & b).sum())
    return scipy.stats.chi2.sf((abs(n1 - n2) - 1)**2/max(n1 + n2, 1), 1)

def confusion(t, p):
    m = torch.zeros(10, 10, dtype=torch.long)
    for i, j in zip(torch.as_tensor(t).tolist(), torch.as_tensor(p).tolist()): m[i, j] += 1
    return m

def batch_noise(xb, std=0.1): return (xb + std*torch.randn_like(xb)).clamp(0, 1)
def batch_noise_inplace(xb, std=0.1): return xb.add_(std*torch.randn_like(xb)).clamp_(0, 1)
def batch_noise_unclamped(xb, std=0.1): return xb + std*torch.randn_like(xb)

def resblock_params(ni, nf, stride=1):
    p = ni*nf*9 + 2*nf + nf*nf*9 + 2*nf
    return p + (ni*nf + 2*nf if ni != nf or stride > 1 else 0)

def paired_ci(a, b, conf=0.95):
    d = np.subtract(b, a); n = len(d)
    h = scipy.stats.t.ppf(0.5 + conf/2, n - 1)*d.std(ddof=1)/math.sqrt(n)
    return d.mean(), d.mean() - h, d.mean() + h

def paired_ci_normal(a, b):
    d = np.subtract(b, a); h = 1.96*d.std(ddof=1)/math.sqrt(len(d))
    return d.mean(), d.mean() - h, d.mean() + h

def paired_ci_unpaired(a, b):
    d = np.subtract(b, a); n = len(d)
    se = math.sqrt(np.var(a, ddof=1)/n + np.var(b, ddof=1)/n)
    h = scipy.stats.t.ppf(0.975, n - 1)*se
    return d.mean(), d.mean() - h, d.mean() + h

def cmd_greet(who:str='world', # who to greet
              times:int=1, # how many times
             ):
    "Say hello."
    for _ in range(times): print(f'hello {who}')

def cmd_greet_positional(who:str, # who to greet
                         times:int, # how many times
                        ): pass

def cmd_greet_undocumented(who:str='world', times:int=1): pass

def conv_cost(n, cin, cout, k, s=1, p=0):
    n_out = (n + 2*p - k)//s + 1
    return n_out, cin*cout*k*k + cout, cin*k*k*cout*n_out**2

def sgd_step(p, g, buf, lr, mu):
    buf = mu*buf + g
    return p - lr*buf, buf

def share(xb, rank, world): return xb.tensor_split(world)[rank]
def share_strided(xb, rank, world): return xb[rank::world]
def share_floor(xb, rank, world):
    k = len(xb)//world; return xb[rank*k:(rank + 1)*k]

def average_grads(per): return [torch.stack(gs).mean(0) for gs in zip(*per)]
def sum_grads(per): return [torch.stack(gs).sum(0) for gs in zip(*per)]

def enlarge(x, s): return torch.as_tensor(x).repeat_interleave(s, 0).repeat_interleave(s, 1)
def enlarge_tiled(x, s): return torch.as_tensor(x).repeat(s, s)
def enlarge_bilinear(x, s): return F.interpolate(torch.as_tensor(x)[None, None], scale_factor=s, mode='bilinear')[0, 0]

def text_line(path, model):
    from fmnist_cnn.demo import analyse
    if path is None: return ''
    try: _, top, _ = analyse(path, model)
    except (ValueError, TypeError, OSError) as e:
        return '**Error:** ' + str(e).replace(str(Path(path).parent) + os.sep, '')
    c, p = next(iter(top.items()))
    return f'**{c}** ({100*p:.1f}%)'

def text_line_with_folder(path, model):
    from fmnist_cnn.demo import analyse
    if path is None: return ''
    try: _, top, _ = analyse(path, model)
    except (ValueError, TypeError, OSError) as e: return '**Error:** ' + str(e)
    c, p = next(iter(top.items())); return f'**{c}** ({100*p:.1f}%)'

def text_line_no_errors(path, model):
    from fmnist_cnn.demo import analyse
    if path is None: return ''
    c, p = next(iter(analyse(path, model)[1].items())); return f'**{c}** ({100*p:.1f}%)'

def tflop(mf, mf14, n, bs, epochs, low):
    nb = math.ceil(n/bs); halved = round(low*epochs*nb)
    out = []
    for e in range(epochs):
        f = min(max(halved - e*nb, 0), nb)/nb
        out.append(3*n*(f*mf14 + (1 - f)*mf)/1e6)
    return out

def tflop_forward_only(mf, mf14, n, bs, epochs, low): return [t/3 for t in tflop(mf, mf14, n, bs, epochs, low)]
def tflop_no_low(mf, mf14, n, bs, epochs, low): return [3*n*mf/1e6]*epochs

def whitening(x, eps=1e-8):
    x = torch.as_tensor(x, dtype=torch.float64); xc = x - x.mean(0)
    e, v = torch.linalg.eigh(xc.T @ xc/(len(x) - 1))
    return v @ torch.diag(1/torch.sqrt(e + eps)) @ v.T

def whitening_uncentred(x, eps=1e-8):
    x = torch.as_tensor(x, dtype=torch.float64)
    e, v = torch.linalg.eigh(x.T @ x/(len(x) - 1))
    return v @ torch.diag(1/torch.sqrt(e + eps)) @ v.T

def whitening_unscaled(x):
    x = torch.as_tensor(x, dtype=torch.float64); xc = x - x.mean(0)
    return torch.linalg.eigh(xc.T @ xc)[1]

def fit_T(logits, labels):
    grid = torch.arange(0.05, 5.0001, 0.002, dtype=torch.float64); z = torch.as_tensor(logits).double()
    return grid[torch.stack([F.cross_entropy(z/t, torch.as_tensor(labels)) for t in grid]).argmin()].item()

def fit_T_multiplied(logits, labels):          # logits * T instead of logits / T
    return 1/fit_T(logits, labels)

def paired_acc_ci(ra, rb):
    d = torch.as_tensor(rb).double() - torch.as_tensor(ra).double(); n = len(d)
    half = scipy.stats.t.ppf(0.975, n - 1)*d.std().item()/math.sqrt(n)
    return d.mean().item(), d.mean().item() - half, d.mean().item() + half

def paired_acc_ci_unpaired(ra, rb):           # sqrt(2 binomial variances): ignores the pairing
    pa, pb = torch.as_tensor(ra).double().mean().item(), torch.as_tensor(rb).double().mean().item()
    half = 1.96*math.sqrt(pa*(1 - pa)/len(ra) + pb*(1 - pb)/len(rb))
    return pb - pa, pb - pa - half, pb - pa + half

def ece(probs, targs, bins=15):
    probs, targs = torch.as_tensor(probs).double(), torch.as_tensor(targs)
    conf, pred = probs.max(1); idx = (conf*bins).floor().long().clamp(max=bins - 1); right = (pred == targs).double()
    return sum((idx == b).double().mean().item()*abs(right[idx == b].mean().item() - conf[idx == b].mean().item())
               for b in range(bins) if (idx == b).any())

def ece_unweighted(probs, targs, bins=15):    # the plain mean of the bins' gaps
    probs, targs = torch.as_tensor(probs).double(), torch.as_tensor(targs)
    conf, pred = probs.max(1); idx = (conf*bins).floor().long().clamp(max=bins - 1); right = (pred == targs).double()
    gaps = [abs(right[idx == b].mean().item() - conf[idx == b].mean().item()) for b in range(bins) if (idx == b).any()]
    return sum(gaps)/len(gaps)

def ece_drops_ones(probs, targs, bins=15):    # a confidence of exactly 1 falls outside every bin
    probs = torch.as_tensor(probs).double(); keep = probs.max(1).values < 1
    return ece(probs[keep], torch.as_tensor(targs)[keep], bins)*keep.double().mean().item() if keep.any() else 0.

def salt_pepper(x, frac, g):
    u = torch.rand(x.shape, generator=g)
    return torch.where(u < frac/2, 0., torch.where(u > 1 - frac/2, 1., x))

def salt_pepper_global(x, frac, g):           # draws from PyTorch's global generator, not from g
    u = torch.rand(x.shape)
    return torch.where(u < frac/2, 0., torch.where(u > 1 - frac/2, 1., x))

def salt_only(x, frac, g):                    # every chosen pixel white
    return torch.where(torch.rand(x.shape, generator=g) < frac, 1., x)

def bisect_down(f, target, lo, hi, tol=0.1):
    while hi - lo > tol:
        mid = (lo + hi)/2
        lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
    return (lo + hi)/2

def bisect_up(f, target, lo, hi, tol=0.1):   # assumes f rises
    while hi - lo > tol:
        mid = (lo + hi)/2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi)/2

def grid_search(f, target, lo, hi, tol=0.1):  # every tenth: right, but hundreds of calls
    n = int(round((hi - lo)/tol))
    return min((lo + i*(hi - lo)/n for i in range(n + 1)), key=lambda a: abs(f(a) - target))

def _border(x): return torch.cat([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], -1)

def remove_background(x):
    b = _border(x).median(-1).values[..., None, None]                                   # (N, 1, 1, 1)
    return ((x - b)/(1 - b).clamp(min=1e-3)).clamp(0, 1)

def remove_background_mean(x):                 # the border's mean: moved by a garment touching the edge
    b = _border(x).mean(-1)[..., None, None]
    return ((x - b)/(1 - b).clamp(min=1e-3)).clamp(0, 1)

def remove_background_batch(x):                # one background for the whole batch
    b = _border(x).flatten().median()
    return ((x - b)/(1 - b).clamp(min=1e-3)).clamp(0, 1)

SOLUTIONS = {
    '00.1': parse_idx, '00.2': stream, '01.1': lambda ni, nf: ni*nf*9 + nf + 2*nf, '01.2': small_cnn,
    '02.1': merge(RECIPES['fast'], epochs=2, data=dict(bs=64), opt=dict(lr=0.1)), '02.2': LRRecorder, '02.3': StopAt,
    '03.1': wilson, '03.2': mcnemar_p, '03.3': confusion, '04.1': batch_noise, '04.2': resblock_params,
    '04.3': paired_ci, '05.1': cmd_greet, '06.1': 45, '06.2': conv_cost, '06.3': sgd_step, '07.1': share,
    '07.2': average_grads, '08.1': enlarge, '08.2': text_line, '09.1': tflop,
    '09.2': merge(RECIPES['fast'], epochs=2, tricks=dict(low_res=0.3)), '09.3': whitening,
    '10.1': fit_T, '10.2': paired_acc_ci, '10.3': ece,
    '11.1': salt_pepper, '11.2': bisect_down, '11.3': remove_background,
}

# (wrong answer, words its message must contain), at least two per exercise
WRONG = {
    '00.1': [(parse_idx_little, 'Failed case: 5 labels'),
             (lambda d: torch.frombuffer(bytearray(d[8:]), dtype=torch.uint8), 'Failed case: 2 images of 3x4')],
    '00.2': [(lambda i, l, bs: stream(i, l, bs, scale=1), 'divide the bytes by 255'),
             (lambda i, l, bs: stream(i, l, bs, keep_last=False), 'keep the last, smaller batch')],
    '01.1': [(lambda ni, nf: ni*nf*9 + nf, 'batch norm has parameters too'),
             (lambda ni, nf: ni*nf*9 + 2*nf, 'has a bias')],
    '01.2': [(lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), 'at least one nn.Conv2d'),
             (lambda: nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.Flatten(), nn.Linear(64*28*28, 10)),
              'at most 50,000 parameters'),
             (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten()), 'logits of shape (4, 10)')],
    '02.1': [(RECIPES['fast'], "RECIPES['fast'] itself"),
             ({**RECIPES['fast'], 'opt': dict(lr=0.1)}, 'check_recipe(answer)'),
             (merge(RECIPES['fast'], epochs=2, opt=dict(lr=0.1)), "data.bs")],
    '02.2': [(LRRecorderAll, 'record only when run.training'), (LRRecorderAfter, "the next step's rate")],
    '02.3': [(StopAbove, "validation accuracies [0.5, 0.9, 0.8]"), (StopOnTest, 'expected: 3 epochs')],
    '03.1': [(wald, "Wald's interval"), (lambda k, n, conf=0.95: wilson(k, n), 'confidence 0.99')],
    '03.2': [(mcnemar_chi2, 'Failed case: 1,000 images'),
             (lambda a, b: scipy.stats.binomtest(int(torch.as_tensor(b).sum()), len(b)).pvalue, 'Failed case')],
    '03.3': [(lambda t, p: confusion(p, t), 'rows = true class'), (lambda t, p: confusion(t, p)[:9], 'shape (10, 10)')],
    '04.1': [(batch_noise_inplace, 'the input was modified'), (batch_noise_unclamped, 'pixels in [0, 1]'),
             (lambda xb, std: batch_noise(xb, 2*std), 'noise of standard deviation 0.1')],
    '04.2': [(lambda ni, nf, s: ni*nf*9 + 4*nf + nf*nf*9, 'the shortcut needs a 1x1 conv-BN'),
             (lambda ni, nf, s: resblock_params(ni, nf, s) + 2*nf, 'have no bias')],
    '04.3': [(paired_ci_normal, 'Failed case: 3 seeds'), (paired_ci_unpaired, 'pair the seeds')],
    '05.1': [(cmd_greet_positional, 'parameters with defaults become options'),
             (cmd_greet_undocumented, 'a docment for each parameter')],
    '06.1': [(RF_POOLED, 'after the global pooling'), (49, "the default ModernCNN's"), (44, 'expected: 45')],
    '06.2': [(lambda n, ci, co, k, s=1, p=0: (*conv_cost(n, ci, co, k, s, p)[:2], 2*conv_cost(n, ci, co, k, s, p)[2]),
              '2 FLOPs per MAC'),
             (lambda n, ci, co, k, s=1, p=0: ((n + 2*p - k)//s, *conv_cost(n, ci, co, k, s, p)[1:]), 'n_out')],
    '06.3': [(lambda p, g, buf, lr, mu: (p - lr*g, buf), 'step 2'),
             (lambda p, g, buf, lr, mu: (p + lr*(mu*buf + g), mu*buf + g), 'step 1')],
    '07.1': [(share_strided, 'not every world-th item'), (share_floor, 'a batch of 10 items')],
    '07.2': [(sum_grads, 'the mean, not the sum'), (lambda per: per[0], 'Failed case: 2 processes')],
    '08.1': [(enlarge_tiled, 'not the image tiled'), (enlarge_bilinear, 'no smoothing')],
    '08.2': [(text_line_with_folder, 'show the file by its name only'),
             (text_line_no_errors, 'a file that is not an image')],
    '09.1': [(tflop_forward_only, '3 forward passes'), (tflop_no_low, 'halved ones epoch by epoch')],
    '09.2': [(merge(RECIPES['fast'], epochs=4), "at most fast's"),
             (merge(RECIPES['fast'], epochs=2, data=dict(valid=0)), 'choose on the validation split'),
             (merge(RECIPES['fast']), 'at least one')],
    '09.3': [(whitening_uncentred, 'mean far from 0'), (whitening_unscaled, 'Failed case: 1,000 points')],
    '10.1': [(fit_T_multiplied, 'do not multiply them'), (lambda z, y: 1.0, 'Failed case: 2,000 images of an under-confident')],
    '10.2': [(paired_acc_ci_unpaired, 'pair the images'), (lambda a, b: paired_acc_ci(b, a), 'b - a')],
    '10.3': [(ece_unweighted, 'weight each bin'), (ece_drops_ones, 'exactly 1')],
    '11.1': [(salt_pepper_global, 'draw from the generator g'), (salt_only, 'half black, half white'),
             (lambda x, frac, g: salt_pepper(x, 2*frac, g), 'the share of pixels changed'),
             (lambda x, frac, g: salt_pepper(x.clamp_(0.25, 1), frac, g), 'the input was modified')],
    '11.2': [(bisect_up, 'to the right of mid'), (grid_search, 'calls of f'),
             (lambda f, t, lo, hi, tol=0.1: bisect_down(f, t, lo, hi, tol=3.), 'halve the interval')],
    '11.3': [(lambda x: (x - _border(x).median(-1).values[..., None, None]).clamp(0, 1), 'divide by 1 - b'),
             (remove_background_batch, 'not over the batch'), (remove_background_mean, 'not its mean')],
}

def boom(*a, **k): raise RuntimeError('the answer blew up')

def test_every_checker_has_a_solution_and_wrong_answers():
    assert set(SOLUTIONS) == set(EXERCISES), sorted(set(SOLUTIONS) ^ set(EXERCISES))
    assert set(WRONG) == set(EXERCISES) and all(len(v) >= 2 for v in WRONG.values())

@pytest.mark.parametrize('ex', sorted(SOLUTIONS))
def test_accepts_the_solution(ex, capsys):
    ok, msg = verdict(ex, SOLUTIONS[ex])
    assert ok, msg
    assert check(ex, SOLUTIONS[ex]) is True and 'passed' in capsys.readouterr().out

@pytest.mark.parametrize('ex', sorted(WRONG))
def test_rejects_wrong_answers_with_a_specific_message(ex):
    for bad, words in WRONG[ex]:
        ok, msg = verdict(ex, bad)
        assert not ok, (ex, bad)
        assert 'not yet' in msg and words in msg, (ex, words, msg)
        assert msg.count('\n') <= 4 and all(len(l) < 400 for l in msg.splitlines()), msg   # short and readable

@pytest.mark.parametrize('ex', sorted(EXERCISES))
def test_never_raises_on_a_bad_answer(ex, capsys):
    for bad in [None, 'an answer', 3.5, boom, lambda *a, **k: torch.zeros(3), lambda *a, **k: 'text', nn.Identity, {}]:
        assert check(ex, bad) is False, (ex, bad)
        out = capsys.readouterr().out
        assert out.startswith(f'Exercise {ex} (') and 'not yet' in out and 'Traceback' not in out, out

def test_unknown_exercise(capsys):
    assert check('42.1', None) is False and 'no checker for exercise' in capsys.readouterr().out

def test_exercise_list_reads_headings(tmp_path):
    import json
    cell = lambda s: {'cell_type': 'markdown', 'metadata': {}, 'source': s}
    nb = {'cells': [cell('# Ch\n\n### Exercise 03.1: A title (10 min; runs in 5 s on 2 CPU cores)\n'),
                    cell('### Exercise 03.2: Another (f(x) by hand) (5 min on 2 CPU cores)')]}
    (tmp_path/'03_x.ipynb').write_text(json.dumps(nb)); (tmp_path/'index.ipynb').write_text(json.dumps(nb))
    exs = exercise_list(tmp_path)
    assert [(e['id'], e['title'], e['time'], e['chapter']) for e in exs] == [
        ('03.1', 'A title', '10 min; runs in 5 s on 2 CPU cores', '03_x'),
        ('03.2', 'Another (f(x) by hand)', '5 min on 2 CPU cores', '03_x')]
    assert exs[0]['checker'] and '| 03.2 | 03_x | Another (f(x) by hand) |' in exercise_table(exs)
    assert exercise_list(tmp_path/'empty') == [] if (tmp_path/'empty').mkdir() is None else False
    assert 'github.com' in exercise_table([])

def test_idx_bytes_reads_back_with_torchvision(tmp_path):
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor
    a = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    (tmp_path/'f').write_bytes(idx_bytes(a))
    assert torch.equal(read_sn3_pascalvincent_tensor(str(tmp_path/'f')), torch.as_tensor(a))

def test_packaged():
    "The subpackage is found by setup.py's find_packages, so `pip install` ships it."
    import setuptools
    root = Path(__file__).resolve().parents[1]
    assert 'fmnist_cnn.book' in setuptools.find_packages(str(root), include=['fmnist_cnn', 'fmnist_cnn.*'])
