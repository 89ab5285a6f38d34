"""Metrics comparing a deconvolved image with the truth."""

from .image import *  # noqa: F401,F403
