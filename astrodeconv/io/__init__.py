# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Reading and writing images, with their unit, WCS, uncertainty, mask and
PSF, as FITS files.
"""

from . import fits
from .fits import *  # noqa: F401,F403

__all__ = list(fits.__all__)
