"""Saving a notebook in Jupyter leaves it as committed: nbdev's pre-save hook (enabled by `jupyter_hooks = True` in
settings.ini, installed with `make hooks`) strips what Jupyter adds."""
import copy, json
from pathlib import Path
from nbdev.clean import clean_jupyter

NB = Path(__file__).parents[1]/'nbs'/'01_model.ipynb'

def test_presave_hook_cleans_what_jupyter_adds():
    committed = json.loads(NB.read_text())
    saved = copy.deepcopy(committed)                       # what Jupyter would write after running the notebook
    saved['metadata'].update(kernelspec={'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
                             language_info={'name': 'python', 'version': '3.11.2'})
    for i, c in enumerate(saved['cells']):
        c.setdefault('metadata', {}).update(ExecuteTime={'end_time': '2026-11-29T00:00:00'}, scrolled=True)
        if c['cell_type'] == 'code': c['execution_count'] = i
    assert saved != committed
    model = {'type': 'notebook', 'content': saved}
    clean_jupyter(path=str(NB), model=model)
    assert model['content'] == committed
