"""Metrics comparing a deconvolved image with the truth."""

from . import image
from .image import *  # noqa: F401,F403

__all__ = list(image.__all__)
