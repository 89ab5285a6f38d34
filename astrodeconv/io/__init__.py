# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Reading and writing images, with their unit, WCS, uncertainty, mask and
PSF, as FITS files; the helpers every FITS reader and writer of the
package shares (choosing the image HDU, reading its WCS and unit, header
and meta, building image HDUs).
"""

from . import fits, hdu
from .fits import *  # noqa: F401,F403
from .hdu import *  # noqa: F401,F403

__all__ = list(fits.__all__) + list(hdu.__all__)
