# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Image-quality metrics: NMSE, PSNR, SSIM and flux conservation."""

import numpy as np
from astropy import units as u
from scipy import ndimage

from ..utils._deprecation import renamed_keyword
from ..utils._nddata import parse_image_input
from ..utils._validation import check_real

__all__ = ['nmse', 'psnr', 'ssim', 'flux_ratio']

#: Every metric takes ``(estimate, truth)``; ``reference=`` is the old name.
_renamed_reference = renamed_keyword('reference', 'truth', since='0.1')


def _pair(estimate, truth):
    """Parse two images (or stacks) and check they are comparable."""
    est = parse_image_input(estimate, name='estimate', allow_batch=True)
    ref = parse_image_input(truth, name='truth', allow_batch=True)
    if est.data.shape != ref.data.shape:
        msg = (f'estimate and truth must have the same shape, got '
               f'{est.data.shape} and {ref.data.shape}')
        raise ValueError(msg)
    if (est.unit is None) != (ref.unit is None):
        msg = ('estimate and truth must both have units or both have '
               f'none, got {est.unit!r} and {ref.unit!r}')
        raise u.UnitsError(msg)
    est_data = est.data
    if est.unit is not None and est.unit != ref.unit:
        try:
            est_data = (est.data * est.unit).to_value(ref.unit)
        except u.UnitConversionError:
            msg = (f'estimate unit {est.unit!r} must be convertible to the '
                   f'truth unit {ref.unit!r}')
            raise u.UnitsError(msg) from None
    mask = est.mask | ref.mask
    return est_data, ref.data, mask, ref.unit


def _reduce(values, batch):
    return values if batch else float(values[0])


def _stack(*arrays):
    return [a.reshape((-1,) + a.shape[-2:]) for a in arrays]


@_renamed_reference
def nmse(estimate, truth):
    r"""
    Normalised mean squared error :math:`\|x - \hat x\|^2 / \|x\|^2`.

    Masked and non-finite pixels of either image are ignored.

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images of the same shape, or stacks ``(N, ny, nx)``.

    Returns
    -------
    nmse : float or ndarray
        One value per image.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import nmse
    >>> truth = np.ones((8, 8))
    >>> nmse(truth * 1.1, truth)  # doctest: +FLOAT_CMP
    0.01
    """
    est, ref, mask, _ = _pair(estimate, truth)
    batch = est.ndim == 3
    est, ref, mask = _stack(est, ref, mask)
    good = ~mask
    num = np.where(good, (est - ref) ** 2, 0).sum(axis=(-2, -1))
    den = np.where(good, ref ** 2, 0).sum(axis=(-2, -1))
    if np.any(den == 0):
        msg = 'truth must not be identically zero for the NMSE'
        raise ValueError(msg)
    return _reduce(num / den, batch)


def _data_range(data_range, ref, unit):
    if data_range is None:
        msg = ('data_range must be given explicitly (e.g. '
               'truth.max() - truth.min()), got None')
        raise ValueError(msg)
    if isinstance(data_range, u.Quantity):
        if unit is None:
            msg = ('data_range has a unit but the images have none, got '
                   f'{data_range.unit!r}')
            raise u.UnitsError(msg)
        data_range = data_range.to_value(unit)
    if isinstance(data_range, str):
        if data_range != 'reference':
            msg = ("data_range must be a positive number or 'reference', "
                   f'got {data_range!r}')
            raise ValueError(msg)
        return ref.max(axis=(-2, -1)) - ref.min(axis=(-2, -1))
    value = check_real(data_range, 'data_range', minimum=0, strict=True)
    return np.full(ref.shape[0], value)


@_renamed_reference
def psnr(estimate, truth, *, data_range):
    r"""
    Peak signal-to-noise ratio in decibels.

    :math:`10 \log_{10}(R^2 / \mathrm{MSE})` with ``R`` the data range.

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images of the same shape, or stacks.
    data_range : float, Quantity or 'reference'
        The dynamic range ``R`` (required: it has no universal default for
        astronomical images). ``'reference'`` uses
        ``truth.max() - truth.min()`` per image, the convention of
        the Learnlet evaluation code.

    Returns
    -------
    psnr : float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import psnr
    >>> ref = np.zeros((4, 4)); ref[0, 0] = 1.0
    >>> est = ref + 0.1
    >>> round(psnr(est, ref, data_range=1.0), 6)
    20.0
    """
    est, ref, mask, unit = _pair(estimate, truth)
    batch = est.ndim == 3
    est, ref, mask = _stack(est, ref, mask)
    drange = _data_range(data_range, ref, unit)
    good = ~mask
    mse = (np.where(good, (est - ref) ** 2, 0).sum(axis=(-2, -1))
           / good.sum(axis=(-2, -1)))
    with np.errstate(divide='ignore'):
        values = 10 * np.log10(drange ** 2 / mse)
    return _reduce(values, batch)


@_renamed_reference
def ssim(estimate, truth, *, data_range, sigma=1.5, k1=0.01, k2=0.03):
    """
    Structural similarity index (Wang et al. 2004), Gaussian window.

    Local means, variances and covariance are computed with a Gaussian
    window of standard deviation ``sigma`` pixels (truncated at 3.5 sigma,
    reflecting at the borders); the index is the mean of the SSIM map over
    unmasked pixels. Identical images give exactly 1.

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images of the same shape, or stacks.
    data_range : float, Quantity or 'reference'
        The dynamic range used in the stabilising constants
        ``C1 = (k1 R)**2`` and ``C2 = (k2 R)**2``; see `psnr`. With
        ``'reference'``, a constant truth has no range: the range of the
        two images together, ``max(estimate, truth) - min(estimate,
        truth)``, is used instead, so that two different constant images
        get the standard formula with these constants,
        ``(2 a b + C1) / (a**2 + b**2 + C1)``. Two identical constant
        images (whose joint range is 0 too) have an SSIM of exactly 1.
    sigma : float, optional
        Width of the Gaussian window.
    k1, k2 : float, optional
        Stabilising constants, positive.

    Returns
    -------
    ssim : float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import ssim
    >>> img = np.random.default_rng(0).random((32, 32))
    >>> ssim(img, img, data_range=1.0)
    1.0
    """
    est, ref, mask, unit = _pair(estimate, truth)
    batch = est.ndim == 3
    est, ref, mask = _stack(est, ref, mask)
    drange = _data_range(data_range, ref, unit)
    sigma = check_real(sigma, 'sigma', minimum=0, strict=True)
    k1 = check_real(k1, 'k1', minimum=0, strict=True)
    k2 = check_real(k2, 'k2', minimum=0, strict=True)
    identical = np.zeros(len(drange), dtype=bool)
    if isinstance(data_range, str):
        flat = drange == 0
        joint = (np.maximum(est.max(axis=(-2, -1)), ref.max(axis=(-2, -1)))
                 - np.minimum(est.min(axis=(-2, -1)),
                              ref.min(axis=(-2, -1))))
        drange = np.where(flat, joint, drange)
        identical = drange == 0
        drange = np.where(identical, 1.0, drange)
    drange = drange[:, None, None]
    c1 = (k1 * drange) ** 2
    c2 = (k2 * drange) ** 2

    def smooth(img):
        return ndimage.gaussian_filter(img, sigma=(0, sigma, sigma),
                                       truncate=3.5, mode='reflect')

    mu_x, mu_y = smooth(est), smooth(ref)
    var_x = smooth(est * est) - mu_x ** 2
    var_y = smooth(ref * ref) - mu_y ** 2
    cov = smooth(est * ref) - mu_x * mu_y
    ssim_map = (((2 * mu_x * mu_y + c1) * (2 * cov + c2))
                / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
    good = ~mask
    values = (np.where(good, ssim_map, 0).sum(axis=(-2, -1))
              / good.sum(axis=(-2, -1)))
    values = np.where(identical, 1.0, values)
    return _reduce(np.minimum(values, 1.0), batch)


@_renamed_reference
def _unit_factor(estimate_unit, other_unit, other_name):
    """
    The factor converting the estimate's unit to that of ``other_name``
    (1 without units); a UnitsError when only one has a unit or they do
    not convert.
    """
    if (estimate_unit is None) != (other_unit is None):
        msg = (f'estimate and {other_name} must both have units or both '
               f'have none, got {estimate_unit!r} and {other_unit!r}')
        raise u.UnitsError(msg)
    if estimate_unit is None:
        return 1.0
    try:
        return (1 * estimate_unit).to_value(other_unit)
    except u.UnitConversionError:
        msg = (f'estimate unit {estimate_unit!r} must be convertible to the '
               f'{other_name} unit {other_unit!r}')
        raise u.UnitsError(msg) from None


def flux_ratio(estimate, truth):
    """
    Ratio of total fluxes ``sum(estimate) / sum(truth)``.

    The images may have different shapes (e.g. a super-resolved result
    against the observation): fluxes per pixel are summed over each whole
    image, so a flux-conserving method gives 1. Masked pixels of each
    image are ignored.

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images or stacks with the same number of images.

    Returns
    -------
    ratio : float or ndarray

    Raises
    ------
    ValueError
        If the total flux of ``truth`` is zero, or so small against its
        pixel values (below 1e-12 of the sum of their absolute values)
        that the ratio would only measure rounding errors.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import flux_ratio
    >>> flux_ratio(np.full((8, 8), 0.25), np.ones((4, 4)))
    1.0
    """
    est = parse_image_input(estimate, name='estimate', allow_batch=True)
    ref = parse_image_input(truth, name='truth', allow_batch=True)
    if est.data.ndim != ref.data.ndim or (
            est.data.ndim == 3 and est.data.shape[0] != ref.data.shape[0]):
        msg = ('estimate and truth must hold the same number of images, '
               f'got shapes {est.data.shape} and {ref.data.shape}')
        raise ValueError(msg)
    scale = _unit_factor(est.unit, ref.unit, 'truth')
    batch = est.data.ndim == 3
    num = np.where(est.mask, 0, est.data).sum(axis=(-2, -1)) * scale
    ref_data = np.where(ref.mask, 0, ref.data)
    den = np.atleast_1d(ref_data.sum(axis=(-2, -1)))
    size = np.atleast_1d(np.abs(ref_data).sum(axis=(-2, -1)))
    zero = np.abs(den) <= 1e-12 * size
    if np.any(zero):
        where = (f' (image {int(np.flatnonzero(zero)[0])} of the stack)'
                 if batch else '')
        msg = (f'truth must have a non-zero total flux{where}, got '
               f'{float(den[zero][0]):.3g} for pixels summing to '
               f'{float(size[zero][0]):.3g} in absolute value; the flux '
               'ratio is undefined')
        raise ValueError(msg)
    return _reduce(np.atleast_1d(num / den), batch)
