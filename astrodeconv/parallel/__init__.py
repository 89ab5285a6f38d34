# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Survey-scale runs on a Dask cluster, or on a laptop with the same code:
catalogue mode (`deconvolve_catalog`: cutouts around catalogue positions,
deconvolved in chunks, written as one multi-extension FITS file per chunk,
resumable) and mosaic mode (`deconvolve_mosaic`: a large image in
overlapping tiles blended back together, read and written without loading
the whole mosaic).

Importing this subpackage imports neither Dask nor PyTorch; a run does.
"""

from . import catalog, mosaic
from .catalog import *  # noqa: F401,F403
from .mosaic import *  # noqa: F401,F403

__all__ = list(catalog.__all__) + list(mosaic.__all__)

#: Former names, kept for one release.
_RENAMED = {'CatalogResult': 'CatalogResults', 'MosaicResult': 'MosaicResults'}


def __getattr__(name):
    if name in _RENAMED:
        import warnings

        from astropy.utils.exceptions import AstropyDeprecationWarning

        new = _RENAMED[name]
        warnings.warn(f'astrodeconv.parallel.{name} is deprecated since '
                      f'astrodeconv 0.1; use {new}', AstropyDeprecationWarning,
                      stacklevel=2)
        return globals()[new]
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)
