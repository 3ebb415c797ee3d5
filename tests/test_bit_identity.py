"""Training is reproducible bit for bit: the same recipe and seed, in two processes, give the same weights.

This is also the test of `tools/check_bit_identity.py`, the check a refactoring of the loop runs before and after
(its fingerprints must not move): here it fingerprints `original` in one process and compares in another.
"""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_same_seed_same_bits(tmp_path):
    tool = [sys.executable, str(ROOT/'tools'/'check_bit_identity.py'), '--recipes', 'original']
    ref = tmp_path/'ref.json'
    w = subprocess.run([*tool, '--write', str(ref)], capture_output=True, text=True, cwd=tmp_path)
    assert w.returncode == 0 and ref.exists(), w.stderr[-2000:]
    a = subprocess.run([*tool, '--against', str(ref)], capture_output=True, text=True, cwd=tmp_path)
    assert a.returncode == 0 and 'original: bit-identical' in a.stdout, (a.stdout, a.stderr[-2000:])
    # a changed fingerprint is caught: the check can fail
    fp = json.loads(ref.read_text()); k = next(iter(fp['original']['weights']))
    fp['original']['weights'][k] = '0'*64; ref.write_text(json.dumps(fp))
    b = subprocess.run([*tool, '--against', str(ref)], capture_output=True, text=True, cwd=tmp_path)
    assert b.returncode != 0 and 'NOT bit-identical' in (b.stdout + b.stderr), (b.stdout, b.stderr[-2000:])
