# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The isotropic undecimated (starlet) wavelet transform and its noise tools.

The starlet transform uses the B3-spline scaling function, with the 1D
filter ``h = [1, 4, 6, 4, 1] / 16``, and the "a trous" algorithm: at scale
``j`` (counting from 0) the five taps of ``h`` are ``2**j`` pixels apart.
Starting from ``c_0 = image``, each smoothing step is separable,
``c_{j+1} = h_j * c_j`` along the two image axes, and the detail (wavelet)
planes are the differences ``w_{j+1} = c_j - c_{j+1}``. The transform keeps
the ``n_scales`` detail planes ``w_1 .. w_J`` followed by the coarse plane
``c_J``, and the image is recovered exactly as the plain sum of all planes.
"""

import functools
import numbers

import numpy as np
from astropy import units as u
from astropy.nddata import NDData
from scipy.signal import fftconvolve
from scipy.special import ndtri

from ..utils._validation import check_choice, check_positive_int, check_real

__all__ = ['starlet_transform', 'inverse_starlet_transform', 'starlet_smooth',
           'starlet_noise_levels', 'estimate_noise',
           'multiresolution_support']

#: The B3-spline filter taps.
_B3 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0

#: ``numpy.pad`` modes for the accepted ``boundary`` values.
_PAD_MODES = {'mirror': 'reflect', 'periodic': 'wrap'}

#: Number of pixels processed at once along the batch axes.
_CHUNK_PIXELS = 2 ** 19

#: Median absolute deviation of a unit Gaussian (``Phi^-1(3/4)``).
_MAD_TO_SIGMA = float(ndtri(0.75))


# ---------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------

def _unpack(data, name):
    """
    Return ``(array, unit, mask)`` for an ndarray, Quantity or NDData.

    ``unit`` is `None` for plain arrays and ``mask`` is the NDData mask (or
    `None`). The array is floating point: float32 stays float32, anything
    else becomes float64.
    """
    unit = None
    mask = None
    if isinstance(data, NDData):
        unit = data.unit
        mask = data.mask
        data = data.data
    if isinstance(data, u.Quantity):
        unit = data.unit
        data = data.value
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in 'biuf':
        msg = (f'{name} must be an array of real numbers, a Quantity or an '
               f'NDData object, got {type(data).__name__}')
        raise TypeError(msg)
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64, copy=False)
    return arr, unit, mask


def _check_image_shape(arr, name):
    """Raise unless ``arr`` has at least 2 dims and no empty axis."""
    if arr.ndim < 2:
        msg = (f'{name} must have at least 2 dimensions (..., ny, nx), got '
               f'shape {arr.shape}')
        raise ValueError(msg)
    if arr.size == 0:
        msg = f'{name} must not be empty, got shape {arr.shape}'
        raise ValueError(msg)


def _check_n_scales(n_scales, shape):
    """Validate ``n_scales`` against an image shape ``(ny, nx)``."""
    n_scales = check_positive_int(n_scales, 'n_scales')
    if shape is not None and 2 ** n_scales > min(shape):
        msg = (f'n_scales must satisfy 2**n_scales <= min(ny, nx) = '
               f'{min(shape)} so that the largest scale fits in the image, '
               f'got n_scales={n_scales}')
        raise ValueError(msg)
    return n_scales


def _with_unit(value, unit):
    """Attach ``unit`` to ``value`` when it is not None."""
    return value if unit is None else value << u.Unit(unit)


# ---------------------------------------------------------------------------
# Filtering kernels
# ---------------------------------------------------------------------------

def _axis_slice(ndim, axis, start, stop):
    index = [slice(None)] * ndim
    index[axis] = slice(start, stop)
    return tuple(index)


def _smooth_axis(data, axis, step, mode):
    """
    Correlate ``data`` along ``axis`` with the B3 filter dilated by ``step``.

    The array is padded by ``2 * step`` pixels on each side with the
    `numpy.pad` ``mode`` and the five taps are summed from shifted slices.
    """
    if mode == 'wrap':
        return _smooth_axis_periodic(data, axis, step)
    n = data.shape[axis]
    pad = 2 * step
    widths = [(0, 0)] * data.ndim
    widths[axis] = (pad, pad)
    padded = np.pad(data, widths, mode=mode)

    def tap(k):
        start = k * step
        return padded[_axis_slice(data.ndim, axis, start, start + n)]

    out = np.add(tap(0), tap(4))
    out *= _B3[0]
    pair = np.add(tap(1), tap(3))
    pair *= _B3[1]
    out += pair
    np.multiply(data, _B3[2], out=pair)
    out += pair
    return out


def _shifted(dest, src, offset, axis, add=False):
    """``dest[i] (+)= src[(i + offset) mod n]`` along ``axis``, no copy."""
    n = src.shape[axis]
    o = offset % n
    ndim = src.ndim
    parts = ((_axis_slice(ndim, axis, 0, n - o),
              _axis_slice(ndim, axis, o, n)),
             (_axis_slice(ndim, axis, n - o, n),
              _axis_slice(ndim, axis, 0, o)))
    for target, source in parts:
        if add:
            dest[target] += src[source]
        else:
            dest[target] = src[source]


def _smooth_axis_periodic(data, axis, step):
    """
    `_smooth_axis` for the periodic boundary without a padded copy.

    The same sums in the same order (so the same result to the last bit),
    holding two arrays the size of ``data`` instead of four: the memory
    that matters for wide fields.
    """
    out = np.empty_like(data)
    _shifted(out, data, -2 * step, axis)
    _shifted(out, data, 2 * step, axis, add=True)
    out *= _B3[0]
    pair = np.empty_like(data)
    _shifted(pair, data, -step, axis)
    _shifted(pair, data, step, axis, add=True)
    pair *= _B3[1]
    out += pair
    np.multiply(data, _B3[2], out=pair)
    out += pair
    return out


def _smooth(data, step, mode):
    """Separable B3 smoothing of the last two axes with tap spacing step."""
    return _smooth_axis(_smooth_axis(data, -1, step, mode), -2, step, mode)


def starlet_smooth(image, scale, *, boundary='mirror'):
    """
    One smoothing step of the starlet transform, at a given scale.

    Returns ``c_{j+1} = h_j * c_j``: the image correlated, along each of
    its last two axes, with the B3-spline filter ``[1, 4, 6, 4, 1] / 16``
    whose taps are ``2**scale`` pixels apart. `starlet_transform` applies
    it at scales ``0, 1, ..., n_scales - 1``, each to the result of the
    previous one, and takes the differences as detail planes; code that
    needs the planes one at a time (to hold two images rather than all
    planes of a wide field) calls it in the same way and gets the same
    numbers to the last bit.

    Parameters
    ----------
    image : array_like, `~astropy.units.Quantity` or `~astropy.nddata.NDData`
        The image ``(ny, nx)``, or a batch ``(..., ny, nx)``.
    scale : int
        The scale ``j`` (0 for the first step, with adjacent taps).
    boundary : {'mirror', 'periodic'}, optional
        How the image is extended beyond its edges, as in
        `starlet_transform`.

    Returns
    -------
    smoothed : `~numpy.ndarray` or `~astropy.units.Quantity`
        A new array of the shape of ``image`` (a Quantity in its unit for
        a Quantity or an NDData with a unit). float32 stays float32,
        anything else is float64.

    Raises
    ------
    TypeError
        If ``image`` is not numeric or ``scale`` is not an integer.
    ValueError
        If ``image`` has fewer than 2 dimensions or is empty, ``scale`` is
        negative or ``boundary`` is not valid.

    See Also
    --------
    starlet_transform

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.wavelets import starlet_smooth, starlet_transform
    >>> image = np.random.default_rng(0).normal(size=(32, 32))
    >>> c1 = starlet_smooth(image, 0)
    >>> c2 = starlet_smooth(c1, 1)
    >>> coeffs = starlet_transform(image, n_scales=2)
    >>> np.array_equal(coeffs[0], image - c1), np.array_equal(coeffs[2], c2)
    (True, True)
    """
    mode = _PAD_MODES[check_choice(boundary, 'boundary', tuple(_PAD_MODES))]
    data, unit, _ = _unpack(image, 'image')
    _check_image_shape(data, 'image')
    scale = check_positive_int(scale, 'scale', minimum=0)
    return _with_unit(_smooth(data, 2 ** scale, mode), unit)


def _valid_sum(data, axis):
    """B3 correlation along ``axis`` keeping only fully covered pixels."""
    n = data.shape[axis] - 4
    ndim = data.ndim
    out = np.add(data[_axis_slice(ndim, axis, 0, n)],
                 data[_axis_slice(ndim, axis, 4, n + 4)])
    out *= _B3[0]
    pair = np.add(data[_axis_slice(ndim, axis, 1, n + 1)],
                  data[_axis_slice(ndim, axis, 3, n + 3)])
    pair *= _B3[1]
    out += pair
    out += _B3[2] * data[_axis_slice(ndim, axis, 2, n + 2)]
    return out


def _valid_any(mask, axis):
    """True where any pixel of the 5-pixel window along ``axis`` is True."""
    n = mask.shape[axis] - 4
    out = mask[_axis_slice(mask.ndim, axis, 0, n)].copy()
    for k in range(1, 5):
        out |= mask[_axis_slice(mask.ndim, axis, k, n + k)]
    return out


# ---------------------------------------------------------------------------
# Forward and inverse transforms
# ---------------------------------------------------------------------------

def starlet_transform(image, n_scales=4, *, boundary='mirror'):
    """
    Compute the isotropic undecimated (starlet) wavelet transform.

    The B3-spline "a trous" algorithm is applied to the last two axes:
    with ``c_0 = image``, ``c_{j+1}`` is ``c_j`` smoothed separably by
    ``h = [1, 4, 6, 4, 1] / 16`` with taps ``2**j`` pixels apart, and the
    detail planes are ``w_{j+1} = c_j - c_{j+1}``. The sum of all the output
    planes is the input image (see `inverse_starlet_transform`).

    Parameters
    ----------
    image : array_like, `~astropy.units.Quantity` or `~astropy.nddata.NDData`
        The image, of shape ``(ny, nx)``, or a batch of images of shape
        ``(..., ny, nx)``; only the last two axes are filtered. For NDData
        the ``data`` attribute is transformed (its mask is not used). Values
        must be finite.
    n_scales : int, optional
        The number of detail scales ``J``. It must satisfy
        ``2**n_scales <= min(ny, nx)``.
    boundary : {'mirror', 'periodic'}, optional
        How the image is extended beyond its edges: ``'mirror'`` reflects it
        about the edge pixels (``d c b | a b c d | c b a``, the
        `scipy.ndimage` ``'mirror'`` mode; the deconvolvers'
        ``boundary='reflect'`` is the half-sample mirror ``c b a | a b c``
        instead) and ``'periodic'`` wraps it around, as the deconvolvers'
        ``boundary='periodic'`` does.

    Returns
    -------
    coefficients : `~numpy.ndarray` or `~astropy.units.Quantity`
        Array of shape ``(..., n_scales + 1, ny, nx)`` holding the detail
        planes ``w_1 .. w_J`` (finest first) followed by the coarse plane
        ``c_J``. A Quantity (or NDData with a unit) input gives a Quantity in
        the same unit. float32 input stays float32, anything else is
        float64.

    Raises
    ------
    ValueError
        If the image has fewer than 2 dimensions, is empty or has non-finite
        values, if ``n_scales`` is too large for the image, or if
        ``boundary`` is not valid.
    TypeError
        If ``image`` is not numeric or ``n_scales`` is not an integer.

    See Also
    --------
    inverse_starlet_transform, starlet_noise_levels

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.wavelets import (starlet_transform,
    ...                                   inverse_starlet_transform)
    >>> image = np.random.default_rng(0).normal(size=(32, 32))
    >>> coeffs = starlet_transform(image, n_scales=3)
    >>> coeffs.shape
    (4, 32, 32)
    >>> np.allclose(inverse_starlet_transform(coeffs), image)
    True
    """
    mode = _PAD_MODES[check_choice(boundary, 'boundary', tuple(_PAD_MODES))]
    data, unit, _ = _unpack(image, 'image')
    _check_image_shape(data, 'image')
    n_scales = _check_n_scales(n_scales, data.shape[-2:])
    n_bad = data.size - np.count_nonzero(np.isfinite(data))
    if n_bad:
        msg = (f'image must contain only finite values, got {n_bad} NaN or '
               f'infinite pixels')
        raise ValueError(msg)

    batch, (ny, nx) = data.shape[:-2], data.shape[-2:]
    data = data.reshape(-1, ny, nx)
    out = np.empty((data.shape[0], n_scales + 1, ny, nx), dtype=data.dtype)
    # Process the batch in chunks small enough to stay in cache.
    chunk = max(1, _CHUNK_PIXELS // (ny * nx))
    for start in range(0, data.shape[0], chunk):
        part = slice(start, start + chunk)
        current = data[part]
        for j in range(n_scales):
            smoothed = _smooth(current, 2 ** j, mode)
            np.subtract(current, smoothed, out=out[part, j])
            current = smoothed
        out[part, n_scales] = current
    return _with_unit(out.reshape(*batch, n_scales + 1, ny, nx), unit)


def inverse_starlet_transform(coefficients):
    """
    Reconstruct an image from its starlet coefficients.

    The starlet transform is inverted exactly by summing all the planes
    (the detail planes and the coarse plane) along the scale axis ``-3``.

    Parameters
    ----------
    coefficients : array_like or `~astropy.units.Quantity`
        Array of shape ``(..., n_scales + 1, ny, nx)`` as returned by
        `starlet_transform`.

    Returns
    -------
    image : `~numpy.ndarray` or `~astropy.units.Quantity`
        The image, of shape ``(..., ny, nx)`` (a Quantity for a Quantity
        input).

    Raises
    ------
    ValueError
        If ``coefficients`` has fewer than 3 dimensions or fewer than 2
        planes.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.wavelets import (starlet_transform,
    ...                                   inverse_starlet_transform)
    >>> image = np.arange(64.0).reshape(8, 8)
    >>> coeffs = starlet_transform(image, n_scales=2)
    >>> bool(np.max(np.abs(inverse_starlet_transform(coeffs) - image)) < 1e-12)
    True
    """
    data, unit, _ = _unpack(coefficients, 'coefficients')
    if data.ndim < 3 or data.shape[-3] < 2:
        msg = (f'coefficients must have shape (..., n_scales + 1, ny, nx) '
               f'with at least 2 planes, got shape {data.shape}')
        raise ValueError(msg)
    return _with_unit(data.sum(axis=-3), unit)


# ---------------------------------------------------------------------------
# Noise levels
# ---------------------------------------------------------------------------

def _adjoint_smooth_1d(vector, step, mode):
    """Apply the transpose of the 1D dilated B3 smoothing operator."""
    n = vector.size
    pad = 2 * step
    index = np.pad(np.arange(n), pad, mode=mode)
    out = np.zeros(n)
    for k, weight in enumerate(_B3):
        start = k * step
        out += np.bincount(index[start:start + n], weights=weight * vector,
                           minlength=n)
    return out


@functools.lru_cache(maxsize=64)
def _scaling_rows(n_scales, n, mode):
    """
    Rows of the 1D smoothing operators at the centre pixel.

    Returns a tuple of ``n_scales + 1`` read-only vectors ``r_j`` such that
    ``c_j[n // 2] = r_j @ x`` for the 1D signal ``x`` of length ``n``
    (``r_0`` is the unit vector). The operator of ``c_j`` is
    ``S_{j-1} ... S_0``, so its row is ``S_0^T ... S_{j-1}^T e``. Periodic
    operators are circulant and commute, so there ``r_j = S_{j-1}^T r_{j-1}``.
    """
    centre = np.zeros(n)
    centre[n // 2] = 1.0
    rows = [centre]
    for j in range(1, n_scales + 1):
        if mode == 'wrap':
            row = _adjoint_smooth_1d(rows[-1], 2 ** (j - 1), mode)
        else:
            row = centre
            for level in range(j - 1, -1, -1):
                row = _adjoint_smooth_1d(row, 2 ** level, mode)
        rows.append(row)
    for row in rows:
        row.setflags(write=False)
    return tuple(rows)


def _grid(n_scales, shape, boundary):
    """Return ``(ny, nx, mode)`` of the grid used for impulse responses."""
    if shape is None:
        # Periodic grid wider than the support of the coarsest filter, so
        # that nothing wraps around: the boundary-free (interior) filters.
        size = 4 * 2 ** n_scales + 1
        return size, size, 'wrap'
    return shape[0], shape[1], _PAD_MODES[boundary]


@functools.lru_cache(maxsize=64)
def _unit_noise_levels(n_scales, shape, boundary):
    """Noise levels for unit white noise (cached, read-only)."""
    ny, nx, mode = _grid(n_scales, shape, boundary)
    rows_y = _scaling_rows(n_scales, ny, mode)
    rows_x = _scaling_rows(n_scales, nx, mode)
    levels = np.empty(n_scales)
    for j in range(1, n_scales + 1):
        # || p_y (x) p_x - q_y (x) q_x ||^2 from 1D inner products.
        py, qy = rows_y[j - 1], rows_y[j]
        px, qx = rows_x[j - 1], rows_x[j]
        sq = ((py @ py) * (px @ px) + (qy @ qy) * (qx @ qx)
              - 2.0 * (py @ qy) * (px @ qx))
        levels[j - 1] = np.sqrt(max(sq, 0.0))
    levels.setflags(write=False)
    return levels


def _check_kernel(kernel):
    """Return a validated 2D float64 kernel."""
    if isinstance(kernel, u.Quantity):
        if kernel.unit.physical_type != 'dimensionless':
            msg = (f'kernel must be dimensionless, got a Quantity with unit '
                   f'{kernel.unit!r}')
            raise u.UnitsError(msg)
        kernel = kernel.to_value(u.dimensionless_unscaled)
    kernel = np.asarray(kernel)
    if kernel.dtype.kind not in 'biuf':
        msg = (f'kernel must be a 2D array of real numbers, got dtype '
               f'{kernel.dtype}')
        raise TypeError(msg)
    if kernel.ndim != 2 or kernel.size == 0:
        msg = f'kernel must be a non-empty 2D array, got shape {kernel.shape}'
        raise ValueError(msg)
    if not np.all(np.isfinite(kernel)):
        msg = 'kernel must contain only finite values'
        raise ValueError(msg)
    return kernel.astype(np.float64, copy=False)


def _check_shape(shape):
    """Return ``shape`` as a tuple of two positive ints."""
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if (shape is None or len(shape) != 2
            or not all(isinstance(n, numbers.Integral)
                       and not isinstance(n, (bool, np.bool_))
                       and n > 0 for n in shape)):
        msg = (f'shape must be a tuple of two positive integers (ny, nx), '
               f'got {shape!r}')
        raise ValueError(msg)
    return tuple(int(n) for n in shape)


def starlet_noise_levels(n_scales=4, *, kernel=None, shape=None,
                         boundary='mirror'):
    """
    Return the noise standard deviation of each starlet detail scale.

    For unit-variance white Gaussian noise the detail plane ``w_j`` is the
    noise filtered by a linear filter ``psi_j``, so its standard deviation is
    exactly ``e_j = ||psi_j||_2``. If the white noise was first filtered by
    ``kernel`` (a PSF, a Tikhonov or Wiener deconvolution filter, ...), the
    noise is coloured and ``e_j = ||psi_j * kernel||_2``. The values are
    computed exactly from the filter coefficients, not by simulation.
    Multiply them by the pixel noise ``sigma`` to get the noise of each scale
    of an image.

    Parameters
    ----------
    n_scales : int, optional
        The number of detail scales.
    kernel : array_like, optional
        A 2D linear filter applied to the white noise before the transform.
        The noise is assumed stationary, i.e. white noise convolved with
        ``kernel`` over an unbounded plane (or over the periodic image when
        ``shape`` is given with ``boundary='periodic'``). Its centring does
        not matter. Without it the noise is white.
    shape : tuple of int, optional
        The ``(ny, nx)`` shape of the transformed images. If given, the
        levels are those of the centre pixel ``(ny // 2, nx // 2)`` of an
        image of that shape transformed with ``boundary``: they include the
        boundary effects of small images and, for ``'periodic'``, the
        wrap-around of filters larger than the image. By default the levels
        are those of an unbounded image (the image interior, away from the
        edges), which do not depend on ``boundary``.
    boundary : {'mirror', 'periodic'}, optional
        The boundary mode of the transform; only used with ``shape``.

    Returns
    -------
    levels : `~numpy.ndarray`
        The ``n_scales`` noise levels ``e_1 .. e_J`` (finest first) for unit
        pixel noise.

    Raises
    ------
    ValueError
        If an argument has an invalid value, if ``n_scales`` is too large
        for ``shape``, or if ``kernel`` is larger than ``shape`` with
        ``boundary='periodic'``.
    TypeError
        If ``n_scales`` is not an integer or ``kernel`` is not numeric.

    See Also
    --------
    starlet_transform, multiresolution_support

    Examples
    --------
    >>> from astrodeconv.wavelets import starlet_noise_levels
    >>> starlet_noise_levels(5)  # doctest: +FLOAT_CMP
    array([0.89079631, 0.20066385, 0.0855075 , 0.04121744, 0.02042497])

    A Gaussian blur makes the noise smoother, so the fine scales get less
    noise:

    >>> import numpy as np
    >>> y, x = np.mgrid[-7:8, -7:8]
    >>> blur = np.exp(-(x**2 + y**2) / (2 * 1.5**2))
    >>> blur /= blur.sum()
    >>> levels = starlet_noise_levels(3, kernel=blur)
    >>> bool(levels[0] < 0.1)
    True
    """
    boundary = check_choice(boundary, 'boundary', tuple(_PAD_MODES))
    if shape is not None:
        shape = _check_shape(shape)
    n_scales = _check_n_scales(n_scales, shape)
    if kernel is None:
        return np.array(_unit_noise_levels(n_scales, shape, boundary))

    kernel = _check_kernel(kernel)
    ny, nx, mode = _grid(n_scales, shape, boundary)
    rows_y = _scaling_rows(n_scales, ny, mode)
    rows_x = _scaling_rows(n_scales, nx, mode)
    periodic = shape is not None and boundary == 'periodic'
    if periodic:
        if kernel.shape[0] > ny or kernel.shape[1] > nx:
            msg = (f'kernel must not be larger than shape {shape} with '
                   f"boundary='periodic', got shape {kernel.shape}")
            raise ValueError(msg)
        kernel_ft = np.fft.rfft2(kernel, s=(ny, nx))
        ylo, yhi, xlo, xhi = 0, ny, 0, nx
    else:
        # Crop the grid to the support of the widest filter row.
        support_y = np.flatnonzero(np.abs(rows_y[-1]) + np.abs(rows_y[0]))
        support_x = np.flatnonzero(np.abs(rows_x[-1]) + np.abs(rows_x[0]))
        ylo, yhi = support_y[0], support_y[-1] + 1
        xlo, xhi = support_x[0], support_x[-1] + 1

    levels = np.empty(n_scales)
    for j in range(1, n_scales + 1):
        row = (np.outer(rows_y[j - 1][ylo:yhi], rows_x[j - 1][xlo:xhi])
               - np.outer(rows_y[j][ylo:yhi], rows_x[j][xlo:xhi]))
        if periodic:
            filtered = np.fft.irfft2(np.fft.rfft2(row) * kernel_ft,
                                     s=(ny, nx))
        else:
            filtered = fftconvolve(row, kernel, mode='full')
        levels[j - 1] = np.sqrt(np.sum(filtered ** 2))
    return levels


# ---------------------------------------------------------------------------
# Noise estimation
# ---------------------------------------------------------------------------

def _first_scale_spread(data, mask, method):
    """
    Spread (MAD-based or std) of the first detail scale of each image.

    ``data`` has shape ``(n, ny, nx)`` and ``mask`` (True = bad) the same
    shape or is None. Only pixels whose 5x5 footprint is inside the image
    and free of bad or non-finite pixels are used.
    """
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= mask
    any_bad = bool(bad.any())
    if any_bad:
        data = np.where(bad, 0, data).astype(data.dtype, copy=False)

    smooth = _valid_sum(_valid_sum(data, -1), -2)
    detail = np.subtract(data[:, 2:-2, 2:-2], smooth, out=smooth)
    detail = detail.reshape(data.shape[0], -1)
    if any_bad:
        near_bad = _valid_any(_valid_any(bad, -1), -2)
        near_bad = near_bad.reshape(data.shape[0], -1)
        if np.any(near_bad.all(axis=-1)):
            msg = ('image has no usable pixel: every pixel is masked, '
                   'non-finite or within 2 pixels of one. Provide more '
                   'valid pixels.')
            raise ValueError(msg)
        detail[near_bad] = np.nan
        median, std = np.nanmedian, np.nanstd
    else:
        median, std = np.median, np.std

    if method == 'std':
        return std(detail, axis=-1)
    centre = median(detail, axis=-1, keepdims=True)
    detail -= centre
    np.abs(detail, out=detail)
    return median(detail, axis=-1) / _MAD_TO_SIGMA


def estimate_noise(image, *, method='mad', mask=None):
    """
    Estimate the standard deviation of white Gaussian noise in an image.

    The noise is measured on the first starlet detail scale ``w_1``, where
    smooth sources are almost entirely removed: with ``method='mad'`` it is
    ``sigma = MAD(w_1) / 0.6745 / e_1``, where MAD is the median absolute
    deviation about the median and ``e_1`` the first-scale noise level of
    unit white noise (`starlet_noise_levels`). Only ``w_1`` is computed, and
    only on pixels whose 5x5 filter footprint lies inside the image and
    contains no masked or non-finite pixel, so the result does not depend on
    the boundary handling.

    Parameters
    ----------
    image : array_like, `~astropy.units.Quantity` or `~astropy.nddata.NDData`
        The image, of shape ``(ny, nx)`` with ``ny, nx >= 5``, or a batch of
        images of shape ``(..., ny, nx)``, each estimated separately.
        Non-finite pixels are ignored. For NDData the ``data`` and ``mask``
        attributes are used.
    method : {'mad', 'std'}, optional
        ``'mad'`` (default) is the robust median absolute deviation,
        ``'std'`` the plain standard deviation of ``w_1`` (slightly more
        precise for pure noise, but sensitive to sources).
    mask : array_like of bool, optional
        True for bad pixels to ignore, with a shape broadcastable to the
        image shape. It must not be given together with an NDData that has a
        mask.

    Returns
    -------
    sigma : float, `~numpy.ndarray` or `~astropy.units.Quantity`
        The noise standard deviation: a float for a single image, an array
        of shape ``image.shape[:-2]`` for a batch. A Quantity (or NDData
        with a unit) input gives a Quantity in the same unit.

    Raises
    ------
    ValueError
        If the image has fewer than 2 dimensions, is empty or smaller than
        5x5, if ``mask`` has an incompatible shape or duplicates the NDData
        mask, or if an image has no usable pixel (for example all NaN).
    TypeError
        If ``image`` is not numeric.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.wavelets import estimate_noise
    >>> rng = np.random.default_rng(42)
    >>> image = rng.normal(scale=0.5, size=(128, 128))
    >>> round(estimate_noise(image), 1)
    0.5

    A batch of images gives one value per image:

    >>> batch = rng.normal(scale=[[[1.0]], [[2.0]]], size=(2, 64, 64))
    >>> estimate_noise(batch).round(0)
    array([1., 2.])
    """
    method = check_choice(method, 'method', ('mad', 'std'))
    data, unit, nd_mask = _unpack(image, 'image')
    _check_image_shape(data, 'image')
    if min(data.shape[-2:]) < 5:
        msg = (f'image must be at least 5x5 pixels along its last two axes, '
               f'got shape {data.shape}')
        raise ValueError(msg)
    if nd_mask is not None:
        if mask is not None:
            msg = ('mask must not be given when image is an NDData with a '
                   'mask. Set the mask attribute of the NDData instead.')
            raise ValueError(msg)
        mask = nd_mask

    bad = None
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        try:
            bad = np.broadcast_to(mask, data.shape)
        except ValueError:
            msg = (f'mask must have a shape broadcastable to the image shape '
                   f'{data.shape}, got {mask.shape}')
            raise ValueError(msg) from None

    # Work on a flat batch, in chunks small enough to stay in cache.
    batch, (ny, nx) = data.shape[:-2], data.shape[-2:]
    data = data.reshape(-1, ny, nx)
    if bad is not None:
        bad = bad.reshape(-1, ny, nx)
    chunk = max(1, _CHUNK_PIXELS // (ny * nx))
    spread = np.empty(data.shape[0])
    for start in range(0, data.shape[0], chunk):
        part = slice(start, start + chunk)
        spread[part] = _first_scale_spread(
            data[part], None if bad is None else bad[part], method)
    spread = spread.reshape(batch)
    sigma = np.asarray(spread, dtype=np.float64) / _unit_noise_levels(
        1, None, 'mirror')[0]
    if sigma.ndim == 0:
        sigma = float(sigma)
    return _with_unit(sigma, unit)


# ---------------------------------------------------------------------------
# Multi-resolution support
# ---------------------------------------------------------------------------

def _as_float_array(value, name, unit):
    """Convert a float/array (or Quantity when ``unit`` is set) to float."""
    if isinstance(value, u.Quantity):
        if unit is None:
            msg = (f'{name} must not be a Quantity when coefficients has no '
                   f'unit, got unit {value.unit!r}')
            raise u.UnitsError(msg)
        value = value.to_value(unit)
    value = np.asarray(value)
    if value.dtype.kind not in 'biuf':
        msg = f'{name} must be a real number or array, got dtype {value.dtype}'
        raise TypeError(msg)
    return value.astype(np.float64, copy=False)


def multiresolution_support(coefficients, sigma, *, k=3.0, noise_levels=None,
                            k_first=None):
    """
    Return the multi-resolution support of starlet coefficients.

    A detail coefficient is significant when it exceeds ``k`` times the noise
    of its scale: ``M_j = |w_j| >= k * sigma * e_j``, with ``e_j`` the noise
    level of scale ``j`` for unit pixel noise (`starlet_noise_levels`). The
    coarse plane is not part of the support.

    Parameters
    ----------
    coefficients : array_like or `~astropy.units.Quantity`
        The output of `starlet_transform`, of shape
        ``(..., n_scales + 1, ny, nx)`` (the last plane is the coarse plane).
    sigma : float, array_like or `~astropy.units.Quantity`
        The pixel noise standard deviation, a scalar or an array
        broadcastable to the batch shape ``coefficients.shape[:-3]`` (one
        value per image). It must be in the unit of ``coefficients``
        (a Quantity is converted). With ``sigma = 0`` every coefficient is
        significant.
    k : float, optional
        The detection threshold in units of the noise of each scale.
    noise_levels : array_like, optional
        The unit-noise levels ``e_j``, of length ``n_scales`` (or of shape
        ``(..., n_scales)`` broadcastable to the batch). The default,
        ``starlet_noise_levels(n_scales)``, is right for white noise; use
        ``starlet_noise_levels(n_scales, kernel=...)`` for noise that went
        through a linear filter.
    k_first : float, optional
        A different (usually larger, e.g. 4) threshold for the first scale,
        which holds most of the noise. Defaults to ``k``.

    Returns
    -------
    support : `~numpy.ndarray` of bool
        Array of shape ``(..., n_scales, ny, nx)``, True where the detail
        coefficient is significant.

    Raises
    ------
    ValueError
        If ``coefficients`` has fewer than 2 planes, if ``k`` or ``k_first``
        is not positive, if ``sigma`` is negative, non-finite or does not
        broadcast to the batch shape, or if ``noise_levels`` has the wrong
        length or is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.wavelets import (starlet_transform,
    ...                                   multiresolution_support)
    >>> image = np.random.default_rng(1).normal(scale=0.1, size=(64, 64))
    >>> image[32, 32] += 10.0
    >>> support = multiresolution_support(starlet_transform(image), 0.1)
    >>> support.shape
    (4, 64, 64)
    >>> bool(support[:, 32, 32].all())
    True
    """
    coeffs, unit, _ = _unpack(coefficients, 'coefficients')
    if coeffs.ndim < 3 or coeffs.shape[-3] < 2:
        msg = (f'coefficients must have shape (..., n_scales + 1, ny, nx) '
               f'with at least 2 planes, got shape {coeffs.shape}')
        raise ValueError(msg)
    k = check_real(k, 'k', minimum=0, strict=True)
    k_first = k if k_first is None else check_real(
        k_first, 'k_first', minimum=0, strict=True)
    n_scales = coeffs.shape[-3] - 1
    batch = coeffs.shape[:-3]

    sigma = _as_float_array(sigma, 'sigma', unit)
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
        msg = (f'sigma must be finite and >= 0, got minimum value '
               f'{np.min(sigma)}')
        raise ValueError(msg)
    try:
        fits = np.broadcast_shapes(sigma.shape, batch) == batch
    except ValueError:
        fits = False
    if not fits:
        msg = (f'sigma must be a scalar or broadcastable to the batch shape '
               f'{batch}, got shape {sigma.shape}')
        raise ValueError(msg)

    if noise_levels is None:
        levels = np.array(_unit_noise_levels(n_scales, None, 'mirror'))
    else:
        levels = _as_float_array(noise_levels, 'noise_levels', None)
        if levels.ndim == 0 or levels.shape[-1] != n_scales:
            msg = (f'noise_levels must have length n_scales = {n_scales} '
                   f'along its last axis, got shape {levels.shape}')
            raise ValueError(msg)
        if not np.all(np.isfinite(levels)) or np.any(levels <= 0):
            msg = (f'noise_levels must be finite and > 0, got minimum value '
                   f'{np.min(levels)}')
            raise ValueError(msg)
        try:
            fits = (np.broadcast_shapes(levels.shape[:-1], batch) == batch)
        except ValueError:
            fits = False
        if not fits:
            msg = (f'noise_levels must have shape (n_scales,) or '
                   f'(..., n_scales) broadcastable to the batch shape '
                   f'{batch}, got shape {levels.shape}')
            raise ValueError(msg)

    factors = np.full(n_scales, k)
    factors[0] = k_first
    threshold = sigma[..., np.newaxis] * levels * factors
    return (np.abs(coeffs[..., :n_scales, :, :])
            >= threshold[..., np.newaxis, np.newaxis])
