# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Mask combination and filling of masked pixels before an FFT."""

import numpy as np
from scipy import fft as sp_fft

__all__ = []


def combine_masks(shape, *masks):
    """OR together any number of boolean masks (None entries are skipped)."""
    out = np.zeros(shape, dtype=bool)
    for mask in masks:
        if mask is not None:
            out |= mask
    return out


def _gaussian_otf(shape, sigma):
    ky = sp_fft.fftfreq(shape[-2])[:, None]
    kx = sp_fft.rfftfreq(shape[-1])[None, :]
    return np.exp(-2 * (np.pi * sigma) ** 2 * (ky ** 2 + kx ** 2))


def fill_masked(data, mask, *, sigma=2.0, max_iter=8):
    """
    Fill masked pixels by normalised convolution with growing Gaussians.

    Each masked pixel receives the Gaussian-weighted mean of the valid
    pixels around it; holes too large for the kernel are filled on the
    next pass with a kernel twice as wide, and whatever remains after
    ``max_iter`` passes gets the median of the valid pixels. Unmasked
    pixels are never changed. Works on 2D images and 3D stacks.

    Returns
    -------
    filled : ndarray
        A copy of ``data`` with masked pixels replaced (``data`` itself
        when nothing is masked).
    """
    if not mask.any():
        return data
    filled = np.array(data, dtype=float, copy=True)
    todo = mask.copy()
    filled[todo] = 0.0
    axes = (-2, -1)
    shape = data.shape[-2:]
    for _ in range(max_iter):
        if not todo.any():
            break
        valid = (~todo).astype(float)
        otf = _gaussian_otf(shape, sigma)
        num = sp_fft.irfft2(sp_fft.rfft2(filled * valid, axes=axes) * otf,
                            s=shape, axes=axes)
        den = sp_fft.irfft2(sp_fft.rfft2(valid, axes=axes) * otf,
                            s=shape, axes=axes)
        ok = todo & (den > 1e-3)
        filled[ok] = num[ok] / den[ok]
        todo &= ~ok
        sigma *= 2
    if todo.any():
        if filled.ndim == 3:
            for i in range(filled.shape[0]):
                if todo[i].any():
                    filled[i][todo[i]] = np.median(filled[i][~mask[i]])
        else:
            filled[todo] = np.median(filled[~mask])
    return filled
