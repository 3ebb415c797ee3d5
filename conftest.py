"""Reconcile nbval with nbdev (see the README's "Tests" section).

* `nbdev_clean` blanks execution counts, and nbval refuses stored outputs of "unrun" cells; a cleaned
  cell with outputs is treated as run, so the outputs of cells marked `# NBVAL_CHECK_OUTPUT` are compared.
* nbval does not know nbdev's directives: cells nbdev_test would skip (`#| eval: false`, or a flag in
  settings.ini's `tst_flags` such as `#| slow`, or a notebook with `skip_exec: true`) are skipped.
  Set NBDEV_TEST_FLAGS="slow" to run slow cells too, as `nbdev_test --flags slow` does.
* nbval runs only the notebooks that mark an output to compare (`# NBVAL_CHECK_OUTPUT`): the others it would only
  run again, as `nbdev_test` (the first half of `make test`) has just done.
"""
import os, re
from configparser import ConfigParser
from pathlib import Path

_cfg = ConfigParser(delimiters=['=']); _cfg.read(Path(__file__).parent/'settings.ini')
SKIP_FLAGS = set(_cfg['DEFAULT'].get('tst_flags', '').split()) - set(os.environ.get('NBDEV_TEST_FLAGS', '').split())
_DIRECTIVE = re.compile(r'^\s*#\|\s*(.*?)\s*$')

def nbdev_directives(source:str) -> dict:
    "nbdev's `#| key: value` / `#| key` directives of a cell."
    out = {}
    for line in source.splitlines():
        m = _DIRECTIVE.match(line)
        if not m: continue
        key, _, val = m.group(1).partition(':')
        for k in key.split() if not val else [key]: out[k.strip()] = val.strip() or True
    return out

def nbdev_skips(source:str, skip_flags=SKIP_FLAGS) -> bool:
    "Would `nbdev_test` skip this cell?"
    d = nbdev_directives(source)
    return str(d.get('eval', '')).lower() == 'false' or bool(skip_flags & set(d))

def _nb_skipped(nb) -> bool:
    "A notebook with `skip_exec: true` in its front matter is not executed by nbdev_test."
    first = nb.cells[0] if nb.cells else None
    return bool(first and first.cell_type == 'raw' and re.search(r'^skip_exec:\s*true', first.source, re.M))

def _compares(nb) -> bool: return any('NBVAL_CHECK_OUTPUT' in c.source for c in nb.cells)

def pytest_collection_modifyitems(config, items):
    rerun_only = [i for i in items if getattr(i, 'cell', None) is not None and not _compares(i.parent.nb)]
    if rerun_only:
        config.hook.pytest_deselected(items=rerun_only)
        items[:] = [i for i in items if i not in set(rerun_only)]
    for item in items:
        cell = getattr(item, 'cell', None)
        if cell is None or not hasattr(item, 'options'): continue       # not an nbval cell
        if nbdev_skips(cell.source) or _nb_skipped(item.parent.nb): item.options['skip'] = True
        elif cell.outputs and cell.execution_count is None: cell.execution_count = 1
