# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Metrics comparing a deconvolved image with the truth."""

from . import image, structures
from .image import *  # noqa: F401,F403
from .structures import *  # noqa: F401,F403

__all__ = list(image.__all__) + list(structures.__all__)
