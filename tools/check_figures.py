"""Check that the figures the book shows are the ones its notebooks draw.

1. Every image that the README or a chapter's Markdown shows from `images/` exists, and a notebook draws it
   (`book_fig(fig, 'NAME')`); every file in `images/` is drawn by a notebook (no orphans).
2. Given a folder of figures drawn by a fresh run of the notebooks (`FMNIST_FIGURES_CHECK=DIR` makes every
   `book_fig` call write there too; CI sets it for `make test`), each committed figure must say what the fresh one
   says: the same words in its titles, axis labels, legends and tick labels (matplotlib keeps each text of an
   SVG as a comment). Numbers and class names are masked, since another CPU may round a figure's last digit or a
   borderline prediction differently: the check is for stale figures (a legend or an axis renamed since the file
   was written), not for pixels. Every figure a notebook draws in a cell that nbdev_test runs must be there.

Usage: python tools/check_figures.py [DRAWN_DIR]     (exit code 1 and one line per problem if anything is off)
Fix a stale figure with `FMNIST_UPDATE_FIGURES=1` and a run of the notebook that draws it.
"""
import json, re, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import nbdev_skips               # which cells nbdev_test runs (the repository's own reading of directives)
from fmnist_cnn.data import CLASSES

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT/'images'
_TEXT = re.compile(r'<!-- (.*?) -->', re.S)
_NUM = re.compile(r'[-+−]?\d+(?:[.,]\d+)?(?:e[-+]?\d+)?')

_CLASS = re.compile('|'.join(re.escape(c) for c in sorted(CLASSES, key=len, reverse=True)))

def words(svg:Path) -> set:
    "The texts of a matplotlib SVG, numbers masked as '#' and class names as '<class>'."
    return {_CLASS.sub('<class>', _NUM.sub('#', t)).strip() for t in _TEXT.findall(svg.read_text(errors='replace'))}

def drawn_by_notebooks(run_only:bool=False) -> dict:
    "{image name: notebook} for every `book_fig(..., 'NAME')` call in the chapters (`run_only`: in cells nbdev_test runs)."
    out = {}
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or src.startswith('#| hide') or (run_only and nbdev_skips(src)): continue
            for name in re.findall(r"book_fig\([^\n]*?,\s*['\"]([\w.-]+)['\"]\)", src): out[name] = nb.name
    return out

def shown() -> dict:
    "{image name: where} for every `images/NAME` the README or a chapter's Markdown shows."
    out = {}
    docs = [(ROOT/'README.md', (ROOT/'README.md').read_text())]
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        docs += [(nb, ''.join(c['source'])) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown']
    for path, text in docs:
        for name in re.findall(r'images/([\w.-]+\.(?:svg|png))', text): out.setdefault(name, path.name)
    return out

def problems(drawn_dir=None) -> list:
    made, out = drawn_by_notebooks(), []
    for name, where in shown().items():
        if not (IMAGES/name).is_file(): out.append(f'{where} shows images/{name}, which does not exist')
        elif name not in made: out.append(f'{where} shows images/{name}, which no notebook draws')
    out += [f'images/{p.name} is drawn by no notebook (remove it, or draw it with book_fig)'
            for p in sorted(IMAGES.iterdir()) if p.suffix in ('.svg', '.png') and p.name not in made]
    if drawn_dir:
        drawn = {p.name: p for p in Path(drawn_dir).glob('*.svg')}
        out += [f'{nb} did not draw {name} in this run (run it with FMNIST_FIGURES_CHECK={drawn_dir})'
                for name, nb in drawn_by_notebooks(run_only=True).items() if name not in drawn]
        for name, p in sorted(drawn.items()):
            committed = IMAGES/name
            if not committed.is_file(): out.append(f'{made.get(name, "a notebook")} draws {name}, which images/ lacks'); continue
            old, new = words(committed), words(p)
            if not old or not new: out.append(f'{name}: no text found in the SVG (drawn with svg.fonttype other than path?)')
            elif old != new:
                out.append(f'images/{name} is stale ({made.get(name)} now draws it): only in the file '
                           f'{sorted(old - new)[:6]}, only in the fresh drawing {sorted(new - old)[:6]}')
    return out

if __name__ == '__main__':
    ps = problems(sys.argv[1] if len(sys.argv) > 1 else None)
    for p in ps: print(p)
    if ps: print('fix a stale figure: FMNIST_UPDATE_FIGURES=1, then run the notebook that draws it'); sys.exit(1)
    print(f'figures: {len(drawn_by_notebooks())} drawn by the notebooks, {len(shown())} shown in Markdown, all consistent'
          + (f'; the fresh drawings in {sys.argv[1]} say what the committed files say' if len(sys.argv) > 1 else ''))
