# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The forward model ``y = D (h * x) + n`` and its Fourier kernels.

`ForwardModel` is the one place where a PSF becomes a transfer function:
every deconvolver, the debiasing, the data residual of the metrics and the
degradation of training data apply ``H`` and ``H^T`` through it. The
low-level array kernels (FFTs on the last two axes, zero insertion, block
sums, flux-conserving upsampling) are in `astrodeconv.operators.fourier`.
"""

from . import fourier
from .forward import ForwardModel
from .fourier import block_sum, upsample_flux

__all__ = ['ForwardModel', 'block_sum', 'upsample_flux', 'fourier']
