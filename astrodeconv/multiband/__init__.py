# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Several bands at once: survey band objects with their throughputs
(`Band`, `get_band`), SED weights that tie narrow bands to a broad one
(`sed_weights`), the images of one object in several bands (`BandSet`) and
their joint deconvolution (`MultiBandDeconvolver`): Rubin r, i and z
brought close to Euclid resolution by the VIS image that covers them.

Importing it does not import PyTorch; a call does when it uses a learned
denoiser, a GPU, float32 or a batch of several objects on the CPU.
"""

from . import bands, bandset, deconvolver, sed
from .bands import *  # noqa: F401,F403
from .bandset import *  # noqa: F401,F403
from .deconvolver import *  # noqa: F401,F403
from .sed import *  # noqa: F401,F403

__all__ = (list(bands.__all__) + list(sed.__all__) + list(bandset.__all__)
           + list(deconvolver.__all__))
