# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
PSF toolkit: conventions, analytic and empirical PSFs, resampling and
matching kernels.
"""

from .core import *  # noqa: F401,F403
from .analytic import *  # noqa: F401,F403
from .measure import *  # noqa: F401,F403
from .interop import *  # noqa: F401,F403
from .empirical import *  # noqa: F401,F403
from .matching import *  # noqa: F401,F403
from .for_image import *  # noqa: F401,F403
from .target import *  # noqa: F401,F403
from .resolve import *  # noqa: F401,F403

from . import analytic, core, empirical, interop, matching, measure
from . import for_image, resolve, target

__all__ = (core.__all__ + analytic.__all__ + measure.__all__
           + interop.__all__ + empirical.__all__ + matching.__all__
           + for_image.__all__ + target.__all__ + resolve.__all__)
