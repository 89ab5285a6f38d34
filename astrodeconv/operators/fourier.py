# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Array-only Fourier kernels of the forward model.

Conventions: images are stacks ``(N, ny, nx)``; transfer functions are
half-spectra in the layout of `scipy.fft.rfft2` with shape
``(N or 1, ny, nx // 2 + 1)``. Super-resolution by an integer factor ``k``
uses the *zero-insertion* operator ``Z`` (coarse pixel ``i`` goes to fine
pixel ``k * i``), the periodic bilinear interpolation kernel ``b`` (so that
``U = b * Z / k**2`` is flux-conserving bilinear upsampling with pixel
centres at ``k * i + (k - 1) / 2``) and the block sum ``D`` (flux of the
``k x k`` fine pixels that make up one coarse pixel).
"""

import os
import threading
from contextlib import contextmanager

import numpy as np
from scipy import fft as sp_fft

from ..psf.core import psf_center

__all__ = ['rfft2', 'irfft2', 'psf_to_otf', 'laplacian_otf_squared',
           'upsample_otf', 'zero_insert', 'block_sum', 'upsample_flux',
           'convolve_otf', 'centred_kernel', 'pad_image', 'fft_workers',
           'fft_threads']

_AXES = (-2, -1)
_LOCAL = threading.local()


def fft_workers():
    """
    Number of threads used by the FFTs.

    The value set by `fft_threads` in the calling thread if any, else
    ``astrodeconv.conf.fft_workers`` when positive, else every core
    (``os.cpu_count()``).

    Examples
    --------
    >>> from astrodeconv import conf
    >>> from astrodeconv.operators.fourier import fft_workers
    >>> with conf.set_temp('fft_workers', 1):
    ...     fft_workers()
    1
    """
    override = getattr(_LOCAL, 'workers', None)
    if override is not None:
        return override
    from .. import conf

    workers = int(conf.fft_workers)
    if workers <= 0:
        return os.cpu_count() or 1
    return workers


@contextmanager
def fft_threads(workers):
    """
    Use ``workers`` FFT threads in the calling thread within a block.

    Used by code that already runs several threads, each of which must
    then run its FFTs on one thread.

    Examples
    --------
    >>> from astrodeconv.operators.fourier import fft_threads, fft_workers
    >>> with fft_threads(1):
    ...     fft_workers()
    1
    """
    previous = getattr(_LOCAL, 'workers', None)
    _LOCAL.workers = int(workers)
    try:
        yield
    finally:
        _LOCAL.workers = previous


def rfft2(x):
    """Real FFT over the last two axes (multi-threaded)."""
    return sp_fft.rfft2(x, axes=_AXES, workers=fft_workers())


def irfft2(x, shape, *, overwrite=False):
    """Inverse real FFT over the last two axes to ``shape``."""
    return sp_fft.irfft2(x, s=shape, axes=_AXES, workers=fft_workers(),
                         overwrite_x=overwrite)


def half_spectrum_weights(shape):
    """Weights turning sums over a half spectrum into full-spectrum sums."""
    nx = shape[-1]
    weights = np.full(nx // 2 + 1, 2.0)
    weights[0] = 1.0
    if nx % 2 == 0:
        weights[-1] = 1.0
    return weights


def psf_to_otf(psf, shape):
    """
    Transfer function of a centred PSF on an image grid of ``shape``.

    The PSF (2D, or a 3D stack) is zero-padded to ``shape`` and rolled so
    that its centre pixel ``(ny // 2, nx // 2)`` lands on the origin.
    """
    return rfft2(psf_on_origin(psf, shape))


def psf_on_origin(psf, shape):
    """
    A centred PSF (2D or a stack) zero-padded to ``shape`` and rolled so
    that its centre pixel lands on the origin: ``(N, *shape)``.
    """
    psf = np.asarray(psf, dtype=float)
    stack = psf.reshape((-1,) + psf.shape[-2:])
    py, px = stack.shape[-2:]
    big = np.zeros((stack.shape[0],) + tuple(shape), dtype=float)
    big[:, :py, :px] = stack
    cy, cx = psf_center((py, px))
    return np.roll(big, (-cy, -cx), axis=_AXES)


def laplacian_otf_squared(shape):
    """``|L(k)|**2`` of the 3x3 Laplacian [[0,-1,0],[-1,4,-1],[0,-1,0]]."""
    ky = 2 * np.pi * sp_fft.fftfreq(shape[-2])[:, None]
    kx = 2 * np.pi * sp_fft.rfftfreq(shape[-1])[None, :]
    lap = 4 - 2 * np.cos(ky) - 2 * np.cos(kx)
    return lap ** 2


def _tent_1d(n_fine, k):
    m = np.arange(n_fine, dtype=float)
    m[m > n_fine // 2] -= n_fine           # signed periodic offsets
    return np.clip(1 - np.abs(m - (k - 1) / 2) / k, 0, None)


def upsample_otf(shape_fine, k):
    """Transfer function of the periodic bilinear kernel ``b`` (sum k**2)."""
    by = sp_fft.fft(_tent_1d(shape_fine[-2], k))
    bx = sp_fft.rfft(_tent_1d(shape_fine[-1], k))
    return by[:, None] * bx[None, :]


def zero_insert(y, k):
    """Place coarse pixels on every ``k``-th fine pixel, zeros elsewhere."""
    if k == 1:
        return y
    out = np.zeros(y.shape[:-2] + (y.shape[-2] * k, y.shape[-1] * k),
                   dtype=y.dtype)
    out[..., ::k, ::k] = y
    return out


def block_sum(x, k):
    """Sum ``k x k`` blocks of fine pixels onto the coarse grid."""
    if k == 1:
        return x
    ny, nx = x.shape[-2] // k, x.shape[-1] // k
    return x.reshape(x.shape[:-2] + (ny, k, nx, k)).sum(axis=(-3, -1))


def upsample_flux(y, k):
    """Flux-conserving periodic bilinear upsampling by ``k``."""
    if k == 1:
        return y
    shape = (y.shape[-2] * k, y.shape[-1] * k)
    spec = rfft2(zero_insert(y, k)) * (upsample_otf(shape, k) / k ** 2)
    return irfft2(spec, shape)


def convolve_otf(x, otf):
    """Circular convolution of ``x`` with the transfer function ``otf``."""
    return irfft2(rfft2(x) * otf, x.shape[-2:])


def centred_kernel(otf, shape, out_shape):
    """Inverse transform of ``otf`` re-centred and cropped to out_shape."""
    kernel = irfft2(otf, shape)
    cy, cx = psf_center(out_shape)
    kernel = np.roll(kernel, (cy, cx), axis=_AXES)
    return kernel[..., :out_shape[0], :out_shape[1]]


def pad_image(y, width, mode):
    """
    Pad a stack of images by ``width`` pixels on every side.

    ``mode='reflect'`` mirrors the image about its edges (half-sample
    symmetric). ``mode='apodize'`` mirrors too, then blends the padded band
    with a raised cosine from the edge value (weight 1 at the image border)
    to the mean of the image border (weight 0 at the outer edge), so the
    periodic continuation is smooth and carries no sharp feature.
    """
    if width == 0:
        return y
    pad = ((0, 0), (width, width), (width, width))
    out = np.pad(y, pad, mode='symmetric')
    if mode == 'apodize':
        border = np.concatenate([y[:, 0, :], y[:, -1, :], y[:, :, 0],
                                 y[:, :, -1]], axis=1)
        level = border.mean(axis=1)[:, None, None]
        ny, nx = out.shape[-2:]
        dy = np.minimum(np.arange(ny), np.arange(ny)[::-1])
        dx = np.minimum(np.arange(nx), np.arange(nx)[::-1])
        # distance into the pad band, 0 at the image edge, 1 at the outside
        ty = np.clip((width - dy) / width, 0, 1)[:, None]
        tx = np.clip((width - dx) / width, 0, 1)[None, :]
        t = np.maximum(ty, tx)
        weight = 0.5 * (1 + np.cos(np.pi * t))
        out = level + (out - level) * weight
    return out
