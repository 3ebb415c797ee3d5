"""tools/chapter_times.py: the stated line is written, replaced and read back; --check fails outside [1/2, 2]x."""
import importlib.util, json, subprocess, sys
from pathlib import Path
import pytest
from fmnist_cnn.book.records import read_records

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('chapter_times', ROOT/'tools'/'chapter_times.py')
ct = importlib.util.module_from_spec(spec); spec.loader.exec_module(ct)

def nb(path:Path, intro='Some intro.'):
    cells = [{'cell_type': 'markdown', 'id': 'aaaaaaaa', 'metadata': {}, 'source': ['# Title\n', '\n', '> Summary.']},
             {'cell_type': 'code', 'id': 'bbbbbbbb', 'metadata': {}, 'source': ['1 + 1'], 'outputs': [],
              'execution_count': None},
             {'cell_type': 'markdown', 'id': 'cccccccc', 'metadata': {}, 'source': [intro]}]
    path.write_text(json.dumps({'cells': cells, 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))
    return path

@pytest.mark.parametrize('secs, words, back', [(3, 'about 10 seconds', 10), (61, 'about 70 seconds', 70),
                                               (119.5, 'about 120 seconds', 120), (121, 'about 3 minutes', 180),
                                               (600, 'about 10 minutes', 600)])
def test_stated_line_rounds_up(secs, words, back):
    line = ct.stated_line(secs)
    assert words in line and line.startswith('*Run All:') and ct.stated_seconds(line) == back and back >= secs

def test_write_replaces_and_keeps_the_rest(tmp_path):
    p = nb(tmp_path/'03_x.ipynb')
    assert ct.chapter_stated(p) is None
    assert ct.write_time(p, 150) is True
    d = json.loads(p.read_text())
    assert (''.join(d['cells'][2]['source']).startswith('*Run All: about 3 minutes on 2 CPU cores')
            and 'Some intro.' in ''.join(d['cells'][2]['source']))
    assert d['cells'][0]['source'] == ['# Title\n', '\n', '> Summary.']          # the title cell is left alone
    assert ct.write_time(p, 170) is False                                         # same statement: file untouched
    assert ct.write_time(p, 400) is True and ct.chapter_stated(p) == 420
    assert ''.join(json.loads(p.read_text())['cells'][2]['source']).count('*Run All:') == 1   # replaced, not added

def test_check_flags_outside_half_to_twice(tmp_path):
    a, b, c = nb(tmp_path/'00_a.ipynb'), nb(tmp_path/'01_b.ipynb'), nb(tmp_path/'02_c.ipynb')
    for p in (a, b): ct.write_time(p, 100)                                        # both state 100 s
    bad = ct.check_times({'00_a': 250, '01_b': 150, '02_c': 9999}, [a, b, c])     # c states nothing: not checked
    assert len(bad) == 1 and bad[0].startswith('00_a: Run All took 250 s') and 'about 100 s' in bad[0]
    assert ct.check_times({'00_a': 40}, [a]) and not ct.check_times({'00_a': 50}, [a])
    ct.write_time(b, 3)                                                           # states 'about 10 seconds'
    assert not ct.check_times({'01_b': 0.1}, [b]) and ct.check_times({'01_b': 21}, [b])   # faster is fine here

def test_check_command_exit_status(tmp_path):
    times = tmp_path/'times.jsonl'
    times.write_text('{"name": "no_such_chapter", "seconds": 1}\n')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'chapter_times.py'), '--check', str(times)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_measure_records_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(ct, 'RECORD', tmp_path/'chapter_times.jsonl')
    p = nb(tmp_path/'05_tiny.ipynb')
    ct.measure([p])
    rec = read_records(tmp_path/'chapter_times.jsonl')                       # the record shape, checked
    assert len(rec) == 1 and rec[0]['variant'] == '05_tiny' and 0 < rec[0]['extra']['seconds'] < 60
    assert rec[0]['study'] == 'chapter_times' and rec[0]['recipe'] is None and rec[0]['history'] == []
    assert rec[0]['machine']['threads'] == 2 and rec[0]['machine']['jobs'] == 1
    assert ct.latest(tmp_path/'chapter_times.jsonl') == {'05_tiny': rec[0]['extra']['seconds']}

def test_record_appends_test_anywhere_times(tmp_path, monkeypatch):
    monkeypatch.setattr(ct, 'RECORD', tmp_path/'results'/'chapter_times.jsonl')
    monkeypatch.setattr(ct, 'ROOT', tmp_path)
    (tmp_path/'results').mkdir()
    times = tmp_path/'times.jsonl'
    times.write_text('{"name": "00_data", "seconds": 41.26}\n{"name": "09_speedrun", "seconds": 300}\n')
    ct.record_times(times)
    recs = read_records(ct.RECORD)
    assert [(r['variant'], r['extra']['seconds']) for r in recs] == [('00_data', 41.3), ('09_speedrun', 300)]
    assert all(r['extra']['conditions']['jobs'] == 2 and r['machine']['threads'] == 1 and r['machine']['jobs'] == 2
               for r in recs)
    assert ct.latest(ct.RECORD) == {'00_data': 41.3, '09_speedrun': 300}
    times.write_text('')
    with pytest.raises(SystemExit, match='no measured notebooks'): ct.record_times(times)

def test_committed_record_states_every_chapter():
    "results/chapter_times.jsonl reads as records, and each chapter's stated line is what --write makes of it."
    times = ct.latest()
    for p in sorted((ROOT/'nbs').glob('[0-9][0-9]_*.ipynb')):
        if ct.chapter_stated(p) is not None and p.stem in times:
            assert ct.chapter_stated(p) == ct.stated_seconds(ct.stated_line(times[p.stem])), p.name
