"""Robustness of training runs: interruptions (SIGINT, kill -9) lose nothing, checkpoints are written
atomically, diverging runs stop cleanly, unwritable output folders are reported before training,
unsafe checkpoints are refused (also on --resume), a second run into a locked folder is refused (a dead
run's lock is taken over), and a full disk is reported in one line with the last checkpoint resumable. Runs on 2,000 training images, so the whole file takes about a minute."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from torch import nn
from fmnist_cnn.data import get_dls
from fmnist_cnn.model import OriginalCNN
from fmnist_cnn.data import atomic_write
from fmnist_cnn.training import fit, TrainingDiverged, Callback
from fmnist_cnn.training import set_seed
from fmnist_cnn.model import load_model

CLI = str(Path(sys.executable).parent/'fmnist-cnn')   # the console script of this environment
TRAIN = [CLI, 'train', '--epochs', '3', '--n-train', '2000', '--n-test', '500', '--valid', '0']
SHORT = [CLI, 'train', '--epochs', '2', '--n-train', '1000', '--n-test', '500', '--valid', '0']   # for tests that need any run
NO_TIME = lambda hist: [{k: v for k, v in h.items() if k not in ('time', 'train_time', 'elapsed')} for h in hist]

def _epochs_done(out: Path) -> int:
    try: return len(json.loads((out/'history.json').read_text()))
    except (OSError, ValueError): return 0

def _default_sigint():
    "In the child: Ctrl-C interrupts, as in a terminal (a test runner may have started us with SIGINT ignored, which children inherit)."
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def _start_and_kill(out: Path, sig) -> subprocess.CompletedProcess:
    "Start a 3-epoch run, send `sig` once the first epoch is saved (so mid-way through the second)."
    log = open(out.parent/f'{out.name}.log', 'w+')
    p = subprocess.Popen(TRAIN + ['--out', str(out)], stdout=log, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=_default_sigint)
    t = time.time()
    while _epochs_done(out) < 1:
        assert p.poll() is None, open(log.name).read()
        assert time.time() - t < 300, 'first epoch took too long'
        time.sleep(0.02)
    time.sleep(0.3)
    p.send_signal(sig)
    p.wait(timeout=60); log.close()
    return subprocess.CompletedProcess(p.args, p.returncode, '', open(log.name).read())

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "An uninterrupted 3-epoch run: its history and weights."
    out = tmp_path_factory.mktemp('ref')
    subprocess.run(TRAIN + ['--out', str(out)], check=True, capture_output=True)
    return json.loads((out/'history.json').read_text()), torch.load(out/'model.pt', weights_only=True)

@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGKILL], ids=['SIGINT', 'kill-9'])
def test_interrupted_run_resumes_to_identical_result(tmp_path, reference, sig):
    r = _start_and_kill(tmp_path, sig)
    assert r.returncode == (130 if sig == signal.SIGINT else -9), r.stderr
    if sig == signal.SIGINT: assert 'interrupted. Run the same command with --resume' in r.stderr
    assert _epochs_done(tmp_path) < 3, 'the run finished before it was interrupted: the test proves nothing'
    assert torch.load(tmp_path/'checkpoint.pt', weights_only=True)['epoch'] == _epochs_done(tmp_path)
    r2 = subprocess.run(TRAIN + ['--out', str(tmp_path), '--resume'], capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr
    assert 'Resuming from' in r2.stdout
    hist, ref_hist = json.loads((tmp_path/'history.json').read_text()), reference[0]
    assert NO_TIME(hist) == NO_TIME(ref_hist)
    sd, ref_sd = torch.load(tmp_path/'model.pt', weights_only=True), reference[1]
    assert sd.keys() == ref_sd.keys() and all(torch.equal(sd[k], ref_sd[k]) for k in sd)

SAVER = '''
import sys, torch
from fmnist_cnn.data import atomic_write
i = 0
while True:
    i += 1; state = {"i": torch.tensor(i), "w": torch.full((2_000_000,), float(i))}
    atomic_write(sys.argv[1], lambda f: torch.save(state, f))
'''

def test_kill_during_save_never_corrupts_checkpoint(tmp_path):
    "Kill -9 a process that saves 8 MB checkpoints in a loop, at random moments: the file always loads whole."
    path = tmp_path/'checkpoint.pt'
    for k in range(8):
        p = subprocess.Popen([sys.executable, '-c', SAVER, str(path)])
        while not path.exists(): time.sleep(0.01)
        time.sleep(0.05 + 0.037*k)
        p.kill(); p.wait()
        state = torch.load(path, weights_only=True)
        assert torch.equal(state['w'], torch.full((2_000_000,), float(state['i'])))

def test_nan_loss_stops_with_the_epoch_and_keeps_last_checkpoint(tmp_path):
    dls = get_dls(n_train=640, n_test=100)
    class NanAt(Callback):      # the loss becomes NaN at the 5th step of the 2nd epoch (20 steps per epoch)
        n = 0
        def after_pred(self, run):
            if run.training:
                self.n += 1
                if self.n == 25: run.preds = run.preds*float('nan')
    set_seed(0)
    with pytest.raises(TrainingDiverged, match=r'training loss became nan in epoch 2: training stopped; the last good '
                                               r'checkpoint is .*checkpoint.pt \(after epoch 1\)'):
        fit(OriginalCNN(), dls, dict(epochs=3), [NanAt()], out=tmp_path, progress=False)
    state = torch.load(tmp_path/'checkpoint.pt', weights_only=True)
    assert state['epoch'] == 1 and all(torch.isfinite(v).all() for v in state['model'].values() if v.is_floating_point())

def test_absurd_learning_rate_is_refused_before_training(tmp_path):
    r = subprocess.run(TRAIN + ['--lr', '1e12', '--out', str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == 'fmnist-cnn train: error: opt.lr must be a positive number below 10, got 1000000000000.0'
    assert not (tmp_path/'checkpoint.pt').exists()

def test_unwritable_output_folder_is_reported_before_training(tmp_path):
    blocker = tmp_path/'a-file'; blocker.write_text('x')
    t = time.time()
    r = subprocess.run(TRAIN + ['--out', str(blocker/'run')], capture_output=True, text=True)
    assert r.returncode == 2 and 'Cannot write to the output folder' in r.stderr, r.stderr
    assert 'train_loss' not in r.stdout                               # no epoch started

class Evil:
    def __reduce__(self): return (os.system, (f'touch {MARKER}',))
MARKER = None

def test_checkpoint_that_runs_code_is_refused(tmp_path):
    global MARKER
    MARKER = tmp_path/'pwned'
    path = tmp_path/'evil.pt'
    torch.save({'model': OriginalCNN().state_dict(), 'payload': Evil()}, path)
    with pytest.raises(ValueError, match='refused: it holds Python objects that would run code'):
        load_model(path)
    assert not MARKER.exists()
    torch.load(path, weights_only=False)       # the control: an unsafe load does run the payload
    assert MARKER.exists()

def test_checkpoint_of_another_architecture_names_the_mismatch(tmp_path):
    other = nn.Sequential(nn.Sequential(nn.Conv2d(1, 32, 3)), nn.Linear(10, 10), nn.Linear(10, 10))   # keys overlap, shapes differ
    torch.save(other.state_dict(), tmp_path/'other.pt')
    with pytest.raises(ValueError) as e: load_model(tmp_path/'other.pt')
    msg = str(e.value)
    assert 'does not fit OriginalCNN' in msg and 'missing 27 keys' in msg and 'unexpected 4 keys' in msg
    assert '2 shapes differ: 0.0.weight: file (32, 1, 3, 3) vs model (24, 1, 3, 3)' in msg
    assert len(msg) < 800, 'the message must not dump the whole state_dict'

def test_resume_from_a_checkpoint_that_runs_code_is_refused_in_one_line(tmp_path):
    global MARKER
    MARKER = tmp_path/'pwned'
    out = tmp_path/'run'; out.mkdir()
    torch.save({'model': OriginalCNN().state_dict(), 'payload': Evil()}, out/'checkpoint.pt')
    r = subprocess.run(SHORT + ['--out', str(out), '--resume'], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f'fmnist-cnn train: error: Cannot resume from {out/"checkpoint.pt"}'), r.stderr
    assert not MARKER.exists()

def _wait_for(cond, what, timeout=300):
    t = time.time()
    while not cond():
        assert time.time() - t < timeout, f'timed out waiting for {what}'
        time.sleep(0.05)

def test_second_run_into_the_same_folder_is_refused_and_a_killed_runs_lock_is_taken_over(tmp_path):
    out = tmp_path/'run'
    long = SHORT + ['--epochs', '40']                          # long enough to still be running when the second starts
    first = subprocess.Popen(long + ['--out', str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (out/'.lock').exists() and (out/'.lock').read_text(), 'the first run to lock its folder')
        second = subprocess.run(SHORT + ['--out', str(out)], capture_output=True, text=True, timeout=120)
        assert first.poll() is None, 'the first run must still be running (and go on)'
        assert second.returncode == 2, second.stderr
        assert 'Traceback' not in second.stderr and len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f'is in use by another run (process {first.pid} on' in second.stderr, second.stderr
        _wait_for(lambda: _epochs_done(out) >= 1, 'the first epoch')
    finally:
        first.kill(); first.wait()                           # killed: its lock file stays, with its process id in it
    assert str(first.pid) in (out/'.lock').read_text()
    done = _epochs_done(out)
    # resumed for one more epoch than done (so 40 -> done + 1 epochs: a changed recipe, allowed explicitly)
    third = subprocess.run(SHORT + ['--epochs', str(done + 1), '--out', str(out), '--resume', '--allow-changed-recipe'],
                           capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr
    assert f'was left locked by a run that did not finish (process {first.pid}' in third.stdout, third.stdout
    assert _epochs_done(out) == done + 1 and (out/'.lock').read_text() == ''

@pytest.fixture
def small_disk(tmp_path):
    "A 24 MB tmpfs (root only): room for one checkpoint of the original CNN (15 MB) but not for a second beside it."
    d = tmp_path/'disk'; d.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', str(d)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'cannot mount a small tmpfs here (needs root): {r.stderr.strip()}')
    yield d
    subprocess.run(['umount', '-l', str(d)], check=True)

def test_full_disk_is_reported_in_one_line_and_the_last_checkpoint_resumes(tmp_path, small_disk):
    out = small_disk/'run'
    r = subprocess.run(SHORT + ['--out', str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert 'No space left on the device' in r.stderr and 'the checkpoint after epoch 1 is intact' in r.stderr.lower(), r.stderr
    assert not list(out.glob('.checkpoint.pt.*'))                       # no half-written temporary file left behind
    state = torch.load(out/'checkpoint.pt', weights_only=True)          # the last good checkpoint loads whole
    assert state['epoch'] == 1
    moved = tmp_path/'moved'; subprocess.run(['cp', '-a', str(out), str(moved)], check=True)   # "free some space"
    r = subprocess.run(SHORT + ['--out', str(moved), '--resume'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert 'Resuming from' in r.stdout and _epochs_done(moved) == 2
