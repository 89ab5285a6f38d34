# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The optional dependencies of astrodeconv, declared once.

``HAS_<NAME>`` (e.g. ``HAS_GALSIM``) tells whether a package can be
imported. The check uses `importlib.util.find_spec` and never imports the
package, so reading a flag is cheap and ``import astrodeconv`` never
imports torch, matplotlib or galsim. Code that needs the package calls
`import_optional`, which imports it or raises an `ImportError` saying what
needs it and how to install it. Tests skip with::

    from astrodeconv.utils._optional_deps import HAS_GALSIM

    @pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')
"""

import importlib
import importlib.util

#: Module name -> (distribution to pip install, extra that provides it).
#: torch and tqdm are hard dependencies; they have flags so that code
#: which only may use them can check without importing them.
OPTIONAL_DEPENDENCIES = {
    'dask': ('dask[array]', 'distributed'),
    'distributed': ('distributed', 'distributed'),
    'galsim': ('galsim', 'sim'),
    'h5py': ('h5py', 'all'),
    'matplotlib': ('matplotlib', 'plot'),
    'skimage': ('scikit-image', None),
    'torch': ('torch', None),
    'tqdm': ('tqdm', None),
}

_FLAGS = {f'HAS_{name.upper()}': name for name in OPTIONAL_DEPENDENCIES}

__all__ = [*_FLAGS, 'import_optional']


def _available(module_name):
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):  # a broken or half-removed install
        return False


def __getattr__(name):
    if name in _FLAGS:
        return _available(_FLAGS[name])
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted([*globals(), *_FLAGS])


def import_optional(module_name, *, purpose):
    """
    Import an optional dependency, or raise a helpful `ImportError`.

    Parameters
    ----------
    module_name : str
        A key of `OPTIONAL_DEPENDENCIES` (or a submodule of one, e.g.
        ``'matplotlib.figure'``).
    purpose : str
        What needs it, completing "<package> is required <purpose>", e.g.
        ``'to read and write training sets'``.

    Returns
    -------
    module : module

    Raises
    ------
    ImportError
        If the package is not installed; the message names the package,
        what needs it and the ``pip install`` command.
    """
    top = module_name.split('.')[0]
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name is not None and exc.name.split('.')[0] != top:
            raise  # the package is there but one of its own imports failed
        distribution, extra = OPTIONAL_DEPENDENCIES.get(top, (top, None))
        also = f' (or "pip install astrodeconv[{extra}]")' if extra else ''
        msg = (f'{top} is required {purpose}; install it with '
               f'"pip install {distribution}"{also}')
        raise ImportError(msg) from exc
