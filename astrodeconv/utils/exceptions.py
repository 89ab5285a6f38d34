# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Warnings and exceptions raised by astrodeconv."""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ['AstrodeconvWarning', 'NoConvergenceWarning']


class AstrodeconvWarning(AstropyUserWarning):
    """
    Generic warning emitted by astrodeconv.
    """


class NoConvergenceWarning(AstrodeconvWarning):
    """
    Warning emitted when an iterative method stops before converging.
    """
