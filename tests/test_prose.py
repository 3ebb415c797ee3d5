"tools/check_prose.py: the book's prose and stored outputs say nothing of how the book was made."
import importlib.util, json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('check_prose', ROOT/'tools'/'check_prose.py')
cp = importlib.util.module_from_spec(spec); spec.loader.exec_module(cp)

PLANTED = ['This ran in one session on two cores.', 'on a machine we were lent for a day', 'a borrowed Xeon',
           'An earlier version of this chapter said otherwise.', 'by the code of the time, it was slower',
           'A day later the same run took 71 s.', 'Hours later, on a fresh Xeon of the same kind,',
           'while the rest of this chapter was written', 'It ran in the background while we profiled.',
           'runs of the same day, not of one sitting', 'measured on 2026-11-28', 'a Sapphire Rapids CPU']

@pytest.mark.parametrize('text', PLANTED)
def test_flags_planted(text):
    hits = cp.scan_text('A clean first line.\n' + text)
    assert hits and all(line == 2 for line, _, _ in hits), hits

def test_clean_text_passes():
    clean = ("The second record trains in 29 s on an Intel(R) Xeon(R) Processor with AVX-512 and AMX.\n"
             "Seconds compare only within one record; the test set picks nothing. Its 3 epochs cost 2.27 TFLOP.")
    assert cp.scan_text(clean) == []
    assert cp.scan_text('A lesson and a possession; a sessional fee.') == []          # whole words only
    assert cp.scan_text('version 2.14.1, 92.03%, 10-12 epochs, 2026 images') == []     # numbers are not dates

def nb(cells):
    return dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5)

def test_notebook_cells_and_outputs(tmp_path):
    p = tmp_path/'x.ipynb'
    p.write_text(json.dumps(nb([
        dict(cell_type='markdown', id='a', metadata={}, source=['# Title\n', 'Clean prose.']),
        dict(cell_type='code', id='b', metadata={}, execution_count=None, source=["d = rec['date']  # 2026-12-03"],
             outputs=[dict(output_type='stream', name='stdout', text=['fine\n', 'a day later it ran\n'])]),
        dict(cell_type='markdown', id='c', metadata={}, source=['Line one.\n', 'Line two, in this session.'])])))
    hits = cp.scan_file(p)
    assert len(hits) == 2, hits                                                  # code source (a date) not scanned
    assert hits[0].endswith("x.ipynb:1:2: 'a day later' (when the work was done)"), hits[0]
    assert hits[1].endswith("x.ipynb:2:2: 'session' (the work sessions that made the book)"), hits[1]

def test_cli_exit_codes(tmp_path):
    bad, good = tmp_path/'bad.md', tmp_path/'good.md'
    bad.write_text('# A page\nOn a borrowed machine.\n'); good.write_text('# A page\nThe idea, stated.\n')
    run = lambda *a: subprocess.run([sys.executable, str(ROOT/'tools'/'check_prose.py'), *map(str, a)],
                                    capture_output=True, text=True)
    r = run(bad, good); assert r.returncode == 1 and "bad.md:-:2: 'borrowed'" in r.stdout, r.stdout
    r = run(good); assert r.returncode == 0 and 'nothing about how the book was made' in r.stdout, r.stdout
    r = run(tmp_path/'nope.md'); assert r.returncode == 2 and 'no such file' in r.stdout
