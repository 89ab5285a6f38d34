# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Blending weights of overlapping tiles (network tiles, mosaic tiles)."""

import numpy as np

__all__ = ['ramp_weight']


def ramp_weight(length, width, at_start, at_end):
    """
    A 1D blending weight: 1, with raised-cosine ramps at its ends.

    The ramp ``0.5 - 0.5 cos(pi t)`` is sampled at the pixel centres
    ``t = (k + 0.5) / width``, so that the falling ramp of one tile and
    the rising ramp of the next, laid over the same ``width`` pixels, add
    up to exactly 1: the weights of tiles overlapping by ``width`` pixels
    form a partition of unity.

    Parameters
    ----------
    length : int
        The number of pixels of the weight.
    width : int
        The number of pixels of each ramp (0 for none; at most
        ``length``).
    at_start, at_end : bool
        Whether the tile touches the start (end) of the image: no ramp
        there, the weight stays 1.

    Returns
    -------
    weight : ndarray
        ``(length,)`` float64 weights in ``(0, 1]``.

    Examples
    --------
    >>> from astrodeconv.utils._blending import ramp_weight
    >>> left = ramp_weight(6, 2, True, False)
    >>> right = ramp_weight(6, 2, False, True)
    >>> left.round(3).tolist()
    [1.0, 1.0, 1.0, 1.0, 0.854, 0.146]
    >>> (left[-2:] + right[:2]).tolist()
    [1.0, 1.0]
    """
    weight = np.ones(length)
    if width > 0:
        t = (np.arange(width) + 0.5) / width
        ramp = 0.5 - 0.5 * np.cos(np.pi * t)
        if not at_start:
            weight[:width] = ramp
        if not at_end:
            weight[-width:] = ramp[::-1]
    return weight
