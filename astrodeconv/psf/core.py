# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Core PSF conventions: validation, normalisation, centring and padding.

Convention used everywhere in astrodeconv: a PSF array of shape ``(ny, nx)``
has its centre at pixel ``(ny // 2, nx // 2)`` (0-indexed, pixel centres at
integer coordinates). For odd sizes that is the central pixel, for even
sizes it is pixel ``N/2``, the convention of the published reference code
(``numpy.fft.ifftshift`` moves that pixel to the origin).
"""

import warnings

import numpy as np
from astropy import units as u

from ..utils.exceptions import AstrodeconvWarning

__all__ = ['normalize_psf', 'validate_psf', 'psf_centroid', 'pad_psf',
           'crop_psf', 'psf_center']

#: Relative difference of the PSF sum from 1 below which the PSF is
#: renormalised silently (above it, with a warning).
_SUM_RTOL = 1e-3
#: A PSF whose sum is below this fraction of the sum of its absolute
#: values has positive and negative pixels that cancel: no usable sum.
_CANCEL_RTOL = 1e-6
#: Largest allowed distance (pixels) between PSF centroid and nominal centre.
_MAX_CENTER_OFFSET = 1.0


def psf_center(shape):
    """
    Return the nominal centre pixel ``(ny // 2, nx // 2)`` of a PSF shape.

    Parameters
    ----------
    shape : tuple of int
        The PSF shape.

    Returns
    -------
    center : tuple of int
        The 0-indexed ``(y, x)`` centre pixel.

    Examples
    --------
    >>> from astrodeconv.psf import psf_center
    >>> psf_center((5, 5)), psf_center((64, 64))
    ((2, 2), (32, 32))
    """
    return tuple(int(n) // 2 for n in shape)


def psf_centroid(psf):
    """
    Return the ``(y, x)`` intensity-weighted centroid of a PSF array.

    Negative pixels (noise in empirical PSFs) are ignored.

    Parameters
    ----------
    psf : array_like
        2D PSF.

    Returns
    -------
    centroid : tuple of float
        The 0-indexed ``(y, x)`` centroid in pixels.
    """
    psf = np.asarray(psf, dtype=float)
    weights = np.clip(psf, 0, None)
    total = weights.sum()
    yy, xx = np.indices(psf.shape)
    return (float((yy * weights).sum() / total),
            float((xx * weights).sum() / total))


def _as_psf_array(psf, name):
    if isinstance(psf, u.Quantity):
        if psf.unit.physical_type != 'dimensionless':
            msg = (f'{name} must be dimensionless, got a Quantity with unit '
                   f'{psf.unit!r}')
            raise u.UnitsError(msg)
        psf = psf.to_value(u.dimensionless_unscaled)
    if hasattr(psf, 'data') and hasattr(psf, 'uncertainty'):  # NDData
        psf = psf.data
    try:
        arr = np.asarray(psf, dtype=float)
    except (TypeError, ValueError):
        msg = (f'{name} must be a 2D array of real numbers, got '
               f'{type(psf).__name__}')
        raise TypeError(msg) from None
    return arr


def validate_psf(psf, *, image_shape=None, name='psf', normalize=True,
                 check_center=True, warn=True):
    """
    Check a PSF and return it as a float64 array normalised to unit sum.

    Parameters
    ----------
    psf : array_like or `~astropy.units.Quantity`
        The PSF, a 2D array (a dimensionless Quantity is accepted).
    image_shape : tuple of int, optional
        The shape of the image the PSF will be used on. If given, the PSF
        must not be larger than it along either axis.
    name : str, optional
        The parameter name used in error messages.
    normalize : bool, optional
        If True (default), return the PSF divided by its sum, warning with
        `~astrodeconv.utils.AstrodeconvWarning` when the sum differed from
        1 by more than 1e-3 (smaller differences, such as the truncated
        wings of an analytic PSF, are renormalised silently).
    check_center : bool, optional
        If True (default), raise when the PSF centroid lies more than one
        pixel away from the nominal centre ``(ny // 2, nx // 2)``
        (`recenter_psf` moves it there).
    warn : bool, optional
        If False, renormalise silently.

    Returns
    -------
    psf : `~numpy.ndarray`
        The validated PSF.

    Raises
    ------
    TypeError
        If the PSF is not array-like.
    ValueError
        If the PSF is not 2D, is empty, contains non-finite values, has a
        non-positive sum (or one where positive and negative pixels
        cancel), is dominated by negative values, is larger than
        the image or is off centre.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.psf import validate_psf
    >>> psf = np.zeros((5, 5)); psf[2, 2] = 1.0
    >>> float(validate_psf(psf).sum())
    1.0
    """
    arr = _as_psf_array(psf, name)
    if arr.ndim != 2:
        msg = f'{name} must be a 2D array, got {arr.ndim} dimension(s)'
        raise ValueError(msg)
    if arr.size == 0:
        msg = f'{name} must not be empty, got shape {arr.shape}'
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = (f'{name} must contain only finite values, got '
               f'{int(np.sum(~np.isfinite(arr)))} non-finite pixel(s)')
        raise ValueError(msg)
    total = arr.sum()
    positive = arr[arr > 0].sum()
    negative = -arr[arr < 0].sum()
    if not total > 0 and not (positive > 0 and negative > 0):
        msg = (f'{name} must have a positive sum, got {total:.6g} (is the '
               'PSF all zeros or inverted?)')
        raise ValueError(msg)
    if total <= _CANCEL_RTOL * (positive + negative):
        msg = (f'{name} must have a positive sum, got {total:.3g}: its '
               f'positive ({positive:.6g}) and negative ({-negative:.6g}) '
               'pixels cancel (is it a difference of two PSFs, or had its '
               'mean subtracted?)')
        raise ValueError(msg)
    if negative > 0.5 * positive:
        msg = (f'{name} must be mostly non-negative, got negative pixels '
               f'holding {negative / positive:.1%} of the flux of its '
               'positive pixels')
        raise ValueError(msg)
    if image_shape is not None:
        image_shape = tuple(image_shape)[-2:]
        if arr.shape[0] > image_shape[0] or arr.shape[1] > image_shape[1]:
            msg = (f'{name} must not be larger than the image, got PSF shape '
                   f'{arr.shape} for image shape {image_shape}; crop it with '
                   'astrodeconv.psf.crop_psf')
            raise ValueError(msg)
    if check_center:
        cy, cx = psf_centroid(arr)
        ny, nx = psf_center(arr.shape)
        offset = np.hypot(cy - ny, cx - nx)
        if offset > _MAX_CENTER_OFFSET:
            msg = (f'{name} must be centred on pixel (ny // 2, nx // 2) = '
                   f'({ny}, {nx}), got a centroid at ({cy:.2f}, {cx:.2f}), '
                   f'{offset:.2f} pixels away; recentre it with '
                   'astrodeconv.psf.recenter_psf')
            raise ValueError(msg)
    if normalize and total != 1:
        if warn and abs(total - 1) > _SUM_RTOL:
            warnings.warn(f'{name} sum is {total:.6g}, not 1; the PSF was '
                          'normalised to unit sum', AstrodeconvWarning,
                          stacklevel=3)
        arr = arr / total
    return arr


def normalize_psf(psf):
    """
    Return a copy of ``psf`` divided by its sum.

    Parameters
    ----------
    psf : array_like
        2D PSF with a positive sum.

    Returns
    -------
    psf : `~numpy.ndarray`
        The normalised PSF (sum 1).

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.psf import normalize_psf
    >>> float(normalize_psf(np.ones((3, 3))).sum())
    1.0
    """
    arr = _as_psf_array(psf, 'psf')
    total = arr.sum()
    if not np.isfinite(total) or total <= 0:
        msg = f'psf must have a finite positive sum, got {total}'
        raise ValueError(msg)
    return arr / total


def pad_psf(psf, shape):
    """
    Zero-pad a PSF to ``shape`` keeping its centre on ``shape // 2``.

    Parameters
    ----------
    psf : array_like
        2D PSF, not larger than ``shape``.
    shape : tuple of int
        Target shape.

    Returns
    -------
    padded : `~numpy.ndarray`
        The padded PSF.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.psf import pad_psf
    >>> psf = np.zeros((3, 3)); psf[1, 1] = 1
    >>> np.argwhere(pad_psf(psf, (8, 8)) == 1).tolist()
    [[4, 4]]
    """
    arr = _as_psf_array(psf, 'psf')
    shape = tuple(int(s) for s in shape)
    if arr.shape[0] > shape[0] or arr.shape[1] > shape[1]:
        msg = (f'shape must be at least the PSF shape {arr.shape}, got '
               f'{shape}; use crop_psf to make a PSF smaller')
        raise ValueError(msg)
    out = np.zeros(shape, dtype=arr.dtype)
    cy, cx = psf_center(arr.shape)
    ty, tx = psf_center(shape)
    y0, x0 = ty - cy, tx - cx
    out[y0:y0 + arr.shape[0], x0:x0 + arr.shape[1]] = arr
    return out


def crop_psf(psf, shape):
    """
    Crop a PSF to ``shape`` around its centre ``(ny // 2, nx // 2)``.

    The result is not renormalised, so the flux outside the crop is lost;
    call `normalize_psf` afterwards if needed.

    Parameters
    ----------
    psf : array_like
        2D PSF, at least as large as ``shape``.
    shape : tuple of int
        Target shape.

    Returns
    -------
    cropped : `~numpy.ndarray`
        The cropped PSF.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.psf import crop_psf
    >>> crop_psf(np.ones((9, 9)), (5, 5)).shape
    (5, 5)
    """
    arr = _as_psf_array(psf, 'psf')
    shape = tuple(int(s) for s in shape)
    if shape[0] > arr.shape[0] or shape[1] > arr.shape[1]:
        msg = (f'shape must not exceed the PSF shape {arr.shape}, got '
               f'{shape}; use pad_psf to make a PSF larger')
        raise ValueError(msg)
    cy, cx = psf_center(arr.shape)
    ty, tx = psf_center(shape)
    y0, x0 = cy - ty, cx - tx
    return arr[y0:y0 + shape[0], x0:x0 + shape[1]].copy()
