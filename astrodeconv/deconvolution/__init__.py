"""
Deconvolvers: Tikhonov (Laplacian-regularised Fourier filter),
Richardson-Lucy and Wiener, with one NDData-aware calling convention.
"""

from .core import *  # noqa: F401,F403
from .tikhonov import *  # noqa: F401,F403
from .richardson_lucy import *  # noqa: F401,F403
from .wiener import *  # noqa: F401,F403
