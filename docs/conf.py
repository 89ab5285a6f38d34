# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Sphinx configuration for the astrodeconv documentation.

The build is meant to run **offline** and with warnings turned into errors
(``sphinx-build -W -b html . _build/html``):

* intersphinx is off by default (no inventory is downloaded). Set the
  environment variable ``ASTRODECONV_DOCS_INTERSPHINX=1`` on a machine with
  network access to link to the numpy, scipy, astropy and torch docs;
* references to outside objects that cannot be resolved offline are listed
  in ``nitpick-exceptions.txt``;
* the theme is the one of ``sphinx_astropy.conf.v3``; nothing in it is
  fetched at build time.
"""

import importlib.util
import os
import sys
import tomllib
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

try:
    from sphinx_astropy.conf.v3 import *  # noqa: F401,F403
    from sphinx_astropy.conf.v3 import extensions, exclude_patterns
except ImportError:
    print('ERROR: the documentation requires the sphinx-astropy package '
          '(with its confv3 extra) to be installed: '
          'pip install "sphinx-astropy[confv3]" or pip install ".[docs]"',
          file=sys.stderr)
    sys.exit(1)

DOCS_DIR = Path(__file__).resolve().parent

# -- Project information ------------------------------------------------------
with (DOCS_DIR.parent / 'pyproject.toml').open('rb') as fh:
    _pyproject = tomllib.load(fh)['project']

project = _pyproject['name']
author = ', '.join(a['name'] for a in _pyproject.get('authors', []))
copyright = f'2025-{datetime.now(timezone.utc).year}, {author}'

try:
    release = metadata.version(project)
except metadata.PackageNotFoundError:
    print(f'ERROR: {project} must be installed to build its documentation '
          '(pip install -e ".[docs]")', file=sys.stderr)
    sys.exit(1)
# The short X.Y version.
version = '.'.join(release.split('.')[:2])

# -- General configuration ----------------------------------------------------
needs_sphinx = '7.0'

# Extensions of sphinx_astropy.conf.v2/v3 that are optional here: drop them
# if they are not installed instead of failing the build.
for _ext in ('sphinx_copybutton',):
    if _ext in extensions and importlib.util.find_spec(_ext) is None:
        extensions.remove(_ext)

# The documentation has no ``.. plot::`` figures: skip matplotlib's
# directive unless a page needs it.
_NEEDS_PLOT = any('.. plot::' in p.read_text(encoding='utf-8')
                  for p in DOCS_DIR.rglob('*.rst')
                  if '_build' not in p.parts)
if not _NEEDS_PLOT and 'matplotlib.sphinxext.plot_directive' in extensions:
    extensions.remove('matplotlib.sphinxext.plot_directive')

for _ext in ('sphinx_design', 'sphinx_automodapi.automodapi',
             # the command-line reference, generated from the parser
             'sphinxarg.ext',
             # the example gallery, run at every build
             'sphinx_gallery.gen_gallery'):
    if _ext not in extensions:
        extensions.append(_ext)

exclude_patterns = [*exclude_patterns, '_build', '_templates',
                    'Thumbs.db', '.DS_Store',
                    # the sources of the gallery: sphinx-gallery turns
                    # them into generated/gallery/
                    'examples']

# -- Example gallery (sphinx-gallery) ----------------------------------------
# The scripts in docs/examples/ are run at every build (offline, on the CPU,
# seeded) and their output and figures written to docs/generated/gallery/
# (git-ignored). A failing example fails the build.
sphinx_gallery_conf = {
    'examples_dirs': 'examples',
    'gallery_dirs': 'generated/gallery',
    'filename_pattern': r'/plot_',
    'within_subsection_order': 'FileNameSortKey',
    # link the astrodeconv names in the code to the API reference
    'doc_module': ('astrodeconv',),
    'reference_url': {'astrodeconv': None},
    'backreferences_dir': None,
    'download_all_examples': False,
    'remove_config_comments': True,
    'abort_on_example_error': True,
    'min_reported_time': 1,
    'show_memory': False,
    'show_signature': False,
    'image_scrapers': ('matplotlib',),
    'matplotlib_animations': False,
    'capture_repr': ('_repr_html_',),
    'image_srcset': [],
    'write_computation_times': True,
}

# automodapi writes one page per object into docs/api/ (git-ignored).
automodapi_toctreedirnm = 'api'
automodsumm_inherited_members = False

# Keep '--option' as typed in the command-line reference and examples
# (smart quotes would turn '--' into an en dash); quotes and ellipses only.
smartquotes_action = 'qe'

# Whether numpydoc cross-references the types in Parameters/Returns.
numpydoc_xref_param_type = False

# -- Offline builds: intersphinx --------------------------------------------
# No inventory is downloaded unless asked for explicitly.
if os.environ.get('ASTRODECONV_DOCS_INTERSPHINX', '') == '1':
    intersphinx_mapping = {
        'python': ('https://docs.python.org/3/', None),
        'numpy': ('https://numpy.org/doc/stable/', None),
        'scipy': ('https://docs.scipy.org/doc/scipy/', None),
        'astropy': ('https://docs.astropy.org/en/stable/', None),
        'photutils': ('https://photutils.readthedocs.io/en/stable/', None),
        'torch': ('https://docs.pytorch.org/docs/stable/', None),
    }
else:
    intersphinx_mapping = {}

# -- Nitpicky mode ------------------------------------------------------------
nitpicky = True
nitpick_ignore = []
nitpick_ignore_regex = []
# One entry per line: "<role> <target>", or "regex <role> <pattern>";
# blank lines and lines starting with '#' are skipped.
for _line in (DOCS_DIR / 'nitpick-exceptions.txt').read_text(
        encoding='utf-8').splitlines():
    _line = _line.strip()
    if not _line or _line.startswith('#'):
        continue
    _fields = _line.split(None, 2)
    if _fields[0] == 'regex':
        nitpick_ignore_regex.append((_fields[1], _fields[2]))
    else:
        nitpick_ignore.append((_fields[0], _line.split(None, 1)[1]))

# -- Options for HTML output --------------------------------------------------
html_title = f'{project} v{release}'
htmlhelp_basename = f'{project}doc'
html_static_path = ['_static']
html_theme_options = {
    # no third-party analytics script and no cross-project search
    'goatcounter_analytics_url': False,
    'rtd_search': False,
    'sst_project_name': project,
    'footer_links': [],
    'navbar_links': [
        ['Getting started', 'getting_started/index', 1],
        ['User guide', 'user_guide/index', 1],
        ['Examples', 'generated/gallery/index', 1],
        ['API reference', 'reference/index', 1],
        ['Development', 'development/contributing', 1],
    ],
}

# -- Options for LaTeX output -------------------------------------------------
latex_documents = [('index', f'{project}.tex', f'{project} documentation',
                    author, 'manual')]

# -- Options for manual page output -------------------------------------------
man_pages = [('index', project.lower(), f'{project} documentation',
              [author], 1)]

# Changelog entries end with [#N]; sphinx-astropy turns them into links to
# the issue tracker (no network access is needed to build them).
github_issues_url = 'https://github.com/astrodeconv/astrodeconv/issues/'
