# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Wavelet tools: the isotropic undecimated (starlet) transform, the noise
level of each wavelet scale, robust noise estimation and the
multi-resolution support of significant coefficients.
"""

from .starlet import *  # noqa: F401,F403
from .starlet import __all__  # noqa: F401
