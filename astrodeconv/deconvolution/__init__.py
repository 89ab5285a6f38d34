# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Deconvolvers: Tikhonov (Laplacian-regularised Fourier filter),
Richardson-Lucy and Wiener, learned (Tikhonov + network) and plug-and-play
(exact data step + learned Gaussian denoiser), unrolled (the same
iterations trained end to end), with one NDData-aware
calling convention.
"""

from . import core, debias, learned, pnp, richardson_lucy, tikhonov, wiener
from . import unrolled
from .core import *  # noqa: F401,F403
from .debias import *  # noqa: F401,F403
from .learned import *  # noqa: F401,F403
from .pnp import *  # noqa: F401,F403
from .unrolled import *  # noqa: F401,F403
from .richardson_lucy import *  # noqa: F401,F403
from .tikhonov import *  # noqa: F401,F403
from .wiener import *  # noqa: F401,F403
from . import factory
from .factory import *  # noqa: F401,F403

__all__ = (core.__all__ + tikhonov.__all__ + richardson_lucy.__all__
           + wiener.__all__ + learned.__all__ + pnp.__all__ + unrolled.__all__
           + debias.__all__
           + factory.__all__)
