"""Sphinx configuration of the fmnist_cnn book (built by tools/build_docs.py; see README)."""
from configparser import ConfigParser
from pathlib import Path

_cfg = ConfigParser(delimiters=['=']); _cfg.read(Path(__file__).resolve().parents[1]/'settings.ini')
cfg = _cfg['DEFAULT']
project, author, copyright = cfg['lib_name'], cfg['author'], cfg['copyright']
release = version = cfg['version']
repo_url = cfg['git_url']

extensions = ['myst_nb', 'sphinx.ext.autodoc', 'sphinx.ext.napoleon', 'sphinx.ext.viewcode', 'sphinx_copybutton']
nb_execution_mode = 'off'                 # pages show the outputs stored in the notebooks, from real runs
nb_render_markdown_format = 'myst'        # nbdev's show_doc cells render markdown
myst_enable_extensions = ['dollarmath', 'colon_fence']
myst_heading_anchors = 3
suppress_warnings = ['myst.header', 'mystnb.unknown_mime_type']   # nbdev titles start at H1 in each notebook
exclude_patterns = ['_build', '**.ipynb_checkpoints']
autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'undoc-members': False}
autodoc_typehints = 'signature'

html_theme = 'sphinx_book_theme'
html_title = 'fmnist_cnn'
html_static_path = ['_static']
html_favicon = '_static/favicon.svg'
html_theme_options = {
    'repository_url': repo_url,
    'repository_branch': cfg['branch'],
    'path_to_docs': cfg['nbs_path'],      # each chapter page is built from nbs/<page>.ipynb
    'use_repository_button': True,
    'use_source_button': True,
    'use_issues_button': False,
    'use_download_button': True,
    'launch_buttons': {'colab_url': 'https://colab.research.google.com', 'notebook_interface': 'classic'},
    'show_toc_level': 2,
}
html_last_updated_fmt = None
html_context = {'default_mode': 'light'}   # without it the theme logs 'invalid theme mode' on a first visit
