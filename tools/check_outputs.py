"""Check the notebooks' stored outputs for what a reader should never see.

Fails (exit 1, one line per finding) on: machine-specific paths (temporary folders, home folders, system
install prefixes, site-packages), warnings, tracebacks and error outputs, HTML-object reprs and other
`<... object at 0x...>` reprs, `<style>` blocks, and torchinfo's unit enums. Run by `.ci/run`.
Usage: python tools/check_outputs.py [NOTEBOOK ...]   (default: nbs/*.ipynb)
"""
import json, re, sys
from pathlib import Path

RULES = [  # (what, pattern)
    ('a temporary folder',   r'(?<![\w.])/(?:tmp|var/tmp|var/folders|private/var)/'),
    ('a home folder',        r'(?<![\w.])/(?:home|root|Users)/|[A-Za-z]:\\\\?Users\\'),
    ('a system install prefix', r'(?<![\w.])/(?:usr|opt|etc|srv|nix)/|site-packages|dist-packages|CUDA_HOME'),
    ('the work folder',      r'(?<![\w.])/work/'),
    ('a warning',            r'\b\w*Warning\b|warnings\.warn'),
    ('a traceback',          r'Traceback \(most recent call last\)'),
    ('an object repr',       r'<[\w.]+ object(?: at 0x[0-9a-f]+)?>|<IPython\.core\.display'),
    ('a <style> block',      r'<style[\s>]'),
    ('a unit enum',          r'Units\.[A-Z]+'),
]

def texts(out:dict):
    "The reader-visible text of one output: stream text, plain/markdown/html reprs, an error."
    if out.get('output_type') == 'error': yield 'error output', f"{out.get('ename')}: {out.get('evalue')}"; return
    if out.get('output_type') == 'stream':
        if out.get('name') == 'stderr': yield 'stderr', 'stderr output: ' + ''.join(out.get('text', ''))[:200]
        yield 'text', ''.join(out.get('text', '')); return
    data = out.get('data', {})
    rich = [m for m in data if m != 'text/plain']                  # a reader sees the richest form, not the text fallback
    for mime, v in data.items():
        if mime == 'text/plain' and rich: continue
        if mime.startswith('text/') or mime.endswith('json'): yield mime, ''.join(v) if isinstance(v, list) else str(v)

def check(path:Path) -> list:
    "Findings in notebook `path`: 'file: cell id: what: excerpt'."
    found = []
    for cell in json.loads(path.read_text()).get('cells', []):
        for out in cell.get('outputs', []):
            for mime, t in texts(out):
                if mime in ('stderr', 'error output'): found.append(f"{path}: cell {cell.get('id')}: {mime}: {t[:120]!r}"); continue
                for what, pat in RULES:
                    for m in re.finditer(pat, t):
                        a = max(0, m.start() - 40)
                        found.append(f"{path}: cell {cell.get('id')}: {what}: ...{t[a:m.end()+40]!r}...")
    return found

if __name__ == '__main__':
    root = Path(__file__).resolve().parents[1]
    nbs = [Path(p) for p in sys.argv[1:]] or sorted(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p
                                                    for p in root.glob('nbs/*.ipynb'))
    found = [f for p in nbs for f in check(p)]
    print('\n'.join(found) if found else f'stored outputs of {len(nbs)} notebooks: clean')
    sys.exit(1 if found else 0)
