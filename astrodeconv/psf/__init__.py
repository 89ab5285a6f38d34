"""
PSF toolkit: conventions, analytic and empirical PSFs, resampling and
matching kernels.
"""

from .core import *  # noqa: F401,F403
