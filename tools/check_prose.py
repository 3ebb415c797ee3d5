"""Check that the book's prose tells ideas, not how the book was made.

The book names machines as its records do and keeps provenance (dates, machines, commits) in the records in
`results/`; its prose and its stored outputs say nothing of sessions, borrowed machines, days of work or earlier
versions of a chapter. This scans the Markdown cells and the stored outputs of every notebook in `nbs/`, the README
and the docs pages' own Markdown, for the phrases in `PATTERNS`. Code is not scanned: code that reads a record may
name its date.

Usage: python tools/check_prose.py [FILE ...]    (default: nbs/*.ipynb, README.md, docs/**/*.md)
Exit code 1 and one line per hit, `file:cell:line: 'phrase' (why)`; cell is `-` for a Markdown file.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PATTERNS = [  # (regular expression, case-insensitive; why it is about the book's making)
    (r'\bsessions?\b', 'the work sessions that made the book'),
    (r'\blent\b|\bborrow(?:ed|ing)?\b', 'machines lent or borrowed for the work'),
    (r'\ban? (?:earlier|previous|older) (?:version|draft|edition) of (?:this|the) (?:chapter|book|section)\b',
     "the book's earlier versions"),
    (r'\bby the code of the time\b', "the book's earlier code"),
    (r'\b(?:a|one) day later\b|\bhours later\b|\bthe next day\b|\bthe day before\b|\bthat (?:morning|evening|night)\b',
     'when the work was done'),
    (r'\ba fresh (?:Xeon|EPYC)\b|\ba fresh (?:machine|instance|VM) of the same kind\b', 'which machine the work got'),
    (r'\bwhile (?:the rest of )?this (?:section|chapter|book) (?:was|is) (?:being )?written\b', 'how the book was written'),
    (r'\bran in the background while\b', 'how the book was written'),
    (r'\bsittings?\b', 'the work sessions that made the book'),
    (r'\b(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b', 'a date of work (the records keep dates)'),
    (r'\bSapphire Rapids\b|\bGranite Rapids\b|\bEmerald Rapids\b|\bIce Lake\b|\bCascade Lake\b|\bGenoa\b|\bTurin\b',
     'a CPU model name no record gives (name machines as the records do)'),
]
_RX = [(re.compile(p, re.IGNORECASE), why) for p, why in PATTERNS]

def scan_text(text:str) -> list:
    "[(line number, phrase, why)] for every pattern found in `text` (lines numbered from 1)."
    return [(i, m.group(0), why) for i, line in enumerate(text.splitlines(), 1)
            for rx, why in _RX for m in rx.finditer(line)]

def _outputs(cell:dict) -> str:
    "The text a code cell's stored outputs show: streams, plain text and Markdown."
    out = []
    for o in cell.get('outputs', []):
        if 'text' in o: out.append(''.join(o['text']))
        for k in ('text/plain', 'text/markdown'):
            if k in o.get('data', {}): out.append(''.join(o['data'][k]))
    return '\n'.join(out)

def scan_file(path) -> list:
    "['file:cell:line: phrase (why)'] for a notebook (Markdown cells, stored outputs) or a Markdown file."
    path = Path(path)
    try: shown = path.relative_to(ROOT)
    except ValueError: shown = path
    if path.suffix == '.ipynb':
        parts = []
        for i, c in enumerate(json.loads(path.read_text())['cells']):
            if c['cell_type'] == 'markdown': parts.append((i, ''.join(c['source'])))
            elif c['cell_type'] == 'code': parts.append((i, _outputs(c)))
    else: parts = [('-', path.read_text())]
    return [f"{shown}:{cell}:{line}: '{phrase}' ({why})" for cell, text in parts for line, phrase, why in scan_text(text)]

def default_files() -> list:
    docs = [p for p in (ROOT/'docs').rglob('*.md') if '_build' not in p.parts] if (ROOT/'docs').is_dir() else []
    return sorted((ROOT/'nbs').glob('*.ipynb')) + [ROOT/'README.md'] + sorted(docs)

def main(argv:list) -> int:
    files = [Path(a) for a in argv] or default_files()
    missing = [str(f) for f in files if not f.is_file()]
    if missing: print(f"check_prose: no such file: {', '.join(missing)}"); return 2
    hits = [h for f in files for h in scan_file(f)]
    for h in hits: print(h)
    if hits:
        print(f"{len(hits)} phrase(s) about how the book was made: say the idea instead, and leave provenance to the "
              "records in results/"); return 1
    print(f"prose: {len(files)} files, nothing about how the book was made"); return 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
