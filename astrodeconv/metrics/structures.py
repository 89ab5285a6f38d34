# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Structure-level metrics: small-scale clumps, hallucinations and residuals.

The small-scale structures of an image (star-forming clumps of a galaxy,
say) are measured on one detail plane of its starlet transform, scale 3 by
default: it keeps features a few pixels across and removes both the pixel
noise and the smooth body of the galaxy. Clumps are segmented on the
positive part of that plane with `photutils.segmentation.detect_sources`.
"""

import warnings

import numpy as np
from astropy import units as u
from astropy.nddata import NDData, NDUncertainty
from astropy.table import Table
from photutils.segmentation import detect_sources
from photutils.utils.exceptions import NoDetectionsWarning
from scipy import ndimage

from ..operators import ForwardModel
from ..psf.core import validate_psf
from ..utils._deprecation import renamed_keyword
from ..utils._nddata import parse_image_input
from ..utils._validation import check_positive_int, check_real
from ..wavelets.starlet import starlet_noise_levels, starlet_transform
from .image import _pair, _reduce, _unit_factor

__all__ = ['small_scale_structure', 'clump_segmentation', 'detect_clumps',
           'clump_flux', 'clump_flux_error', 'hallucination_rate',
           'completeness', 'data_residual', 'reduced_chi2', 'flux_error',
           'centroid_error']

_MAD_TO_STD = 1.482602218505602

#: Every metric takes ``(estimate, truth)``; ``output=`` is the old name.
_renamed_output = renamed_keyword('output', 'estimate', since='0.1')


# --------------------------------------------------------------------------
# helpers

def _parse(image, name):
    """Parse one image or stack; return (N, ny, nx) data, mask, unit, batch."""
    parsed = parse_image_input(image, name=name, allow_batch=True)
    batch = parsed.data.ndim == 3
    shape = (-1,) + parsed.data.shape[-2:]
    return (parsed.data.reshape(shape), parsed.mask.reshape(shape),
            parsed.unit, batch)


def _pair_stacks(estimate, truth):
    """Parse two images or stacks; return (N, ny, nx) arrays, unit, batch."""
    est, ref, mask, unit = _pair(estimate, truth)
    batch = est.ndim == 3
    shape = (-1,) + est.shape[-2:]
    est, ref, mask = (a.reshape(shape) for a in (est, ref, mask))
    return est, ref, mask, unit, batch


def _check_scale(scale, shape, n_scales=None):
    scale = check_positive_int(scale, 'scale')
    if 2 ** scale > min(shape):
        msg = (f'scale must satisfy 2**scale <= min(ny, nx) = {min(shape)} '
               f'for an image of shape {tuple(shape)}, got scale={scale}')
        raise ValueError(msg)
    if n_scales is None:
        return scale, scale
    n_scales = check_positive_int(n_scales, 'n_scales')
    if n_scales < scale:
        msg = (f'n_scales must be >= scale ({scale}), got '
               f'n_scales={n_scales}')
        raise ValueError(msg)
    if 2 ** n_scales > min(shape):
        msg = (f'n_scales must satisfy 2**n_scales <= min(ny, nx) = '
               f'{min(shape)}, got n_scales={n_scales}')
        raise ValueError(msg)
    return scale, n_scales


def _plane(data, mask, scale, n_scales=None):
    """Detail plane ``w_scale`` of a stack, masked pixels set to zero."""
    scale, n_scales = _check_scale(scale, data.shape[-2:], n_scales)
    clean = np.where(mask, 0.0, data)
    return starlet_transform(clean, n_scales)[:, scale - 1]


def _check_sigma(sigma, unit):
    if sigma is None:
        return None
    if isinstance(sigma, u.Quantity):
        if unit is None:
            msg = ('sigma has a unit but the image has none, got '
                   f'{sigma.unit!r}')
            raise u.UnitsError(msg)
        try:
            sigma = sigma.to_value(unit)
        except u.UnitConversionError:
            msg = (f'sigma must have units compatible with the image unit '
                   f'{unit!r}, got {sigma.unit!r}')
            raise u.UnitsError(msg) from None
        sigma = float(sigma)
    return check_real(sigma, 'sigma', minimum=0, strict=True)


def _detection_args(threshold, min_pixels, match_radius=None):
    threshold = check_real(threshold, 'threshold', minimum=0, strict=True)
    min_pixels = check_positive_int(min_pixels, 'min_pixels')
    if match_radius is not None:
        match_radius = check_real(match_radius, 'match_radius', minimum=0,
                                  strict=True)
    return threshold, min_pixels, match_radius


def _plane_noise(plane, mask, scale, sigma):
    """Noise std of one detail plane: known pixel noise or robust MAD."""
    if sigma is not None:
        return sigma * starlet_noise_levels(scale)[scale - 1]
    values = plane[~mask]
    noise = _MAD_TO_STD * np.median(np.abs(values - np.median(values)))
    if noise <= 0:
        noise = np.std(values)
    return noise


def _segment(plane, mask, scale, threshold, sigma, min_pixels, noise=None):
    """Integer label map (0 = background) of one detail plane."""
    if noise is None:
        noise = _plane_noise(plane, mask, scale, sigma)
    if not noise > 0:
        return np.zeros(plane.shape, dtype=int)
    positive = np.clip(plane, 0, None)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionsWarning)
        segm = detect_sources(positive, threshold * noise, min_pixels,
                              mask=mask)
    if segm is None:
        return np.zeros(plane.shape, dtype=int)
    return np.asarray(segm.data, dtype=int)


def _segment_stack(data, mask, scale, threshold, sigma, min_pixels):
    planes = _plane(data, mask, scale)
    segms = np.stack([_segment(p, m, scale, threshold, sigma, min_pixels)
                      for p, m in zip(planes, mask)])
    return planes, segms


def _catalog(plane, segm):
    labels = np.unique(segm[segm > 0])
    if labels.size:
        weights = np.clip(plane, 0, None)
        centres = np.array(ndimage.center_of_mass(weights, segm, labels),
                           dtype=float).reshape(-1, 2)
        flux = np.asarray(ndimage.sum(plane, segm, labels), dtype=float)
        area = np.asarray(ndimage.sum(np.ones_like(plane), segm, labels),
                          dtype=int)
    else:
        centres = np.zeros((0, 2))
        flux = np.zeros(0)
        area = np.zeros(0, dtype=int)
    return Table([labels.astype(int), centres[:, 1], centres[:, 0], flux,
                  area], names=('label', 'x', 'y', 'flux', 'area'))


def _with_unit(values, unit):
    return values if unit is None else values << u.Unit(unit)


# --------------------------------------------------------------------------
# small-scale structures and clumps

def small_scale_structure(image, *, scale=3, n_scales=None):
    """
    Return the starlet detail plane holding the small-scale structures.

    Parameters
    ----------
    image : ndarray, Quantity or NDData
        A 2D image or a stack ``(N, ny, nx)``. Masked and non-finite pixels
        are set to zero before the transform.
    scale : int, optional
        The 1-based starlet scale ``j`` of the detail plane ``w_j``
        (features about ``2**j`` pixels across). Scale 3 is the one used to
        detect clumps. It must satisfy ``2**scale <= min(ny, nx)``.
    n_scales : int, optional
        The number of scales of the transform (at least ``scale``). The
        detail planes do not depend on it; it defaults to ``scale``.

    Returns
    -------
    plane : ndarray or Quantity
        The plane ``w_scale``, with the shape (and unit) of ``image``.

    Raises
    ------
    ValueError
        If ``scale`` (or ``n_scales``) is out of range for the image size.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import small_scale_structure
    >>> plane = small_scale_structure(np.ones((32, 32)))
    >>> plane.shape, bool(np.allclose(plane, 0))
    ((32, 32), True)
    """
    data, mask, unit, batch = _parse(image, 'image')
    scale, n_scales = _check_scale(scale, data.shape[-2:], n_scales)
    planes = _plane(data, mask, scale, n_scales)
    return _with_unit(planes if batch else planes[0], unit)


def clump_segmentation(image, *, scale=3, threshold=3.0, sigma=None,
                       min_pixels=3):
    """
    Segment the clumps of an image on one starlet detail plane.

    Pixels where the detail plane exceeds ``threshold`` times its noise and
    that form connected (8-connectivity) groups of at least ``min_pixels``
    pixels are labelled with `photutils.segmentation.detect_sources`. The
    noise of the plane is ``sigma`` times the starlet noise level of that
    scale when the pixel noise ``sigma`` is given, otherwise a robust
    estimate (1.4826 times the median absolute deviation) from the plane.

    Parameters
    ----------
    image : ndarray, Quantity or NDData
        A 2D image or a stack ``(N, ny, nx)``.
    scale : int, optional
        The 1-based starlet scale used for detection.
    threshold : float, optional
        Detection threshold in units of the noise of the plane (> 0).
    sigma : float or Quantity, optional
        Standard deviation of the white pixel noise of ``image``.
    min_pixels : int, optional
        Minimum number of connected pixels of a clump.

    Returns
    -------
    segmentation : ndarray of int
        Label map with the shape of ``image``: 0 is background and clumps
        are numbered from 1 (per image of a stack). All zeros when nothing
        is detected.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import clump_segmentation
    >>> y, x = np.mgrid[:48, :48]
    >>> img = np.exp(-((x - 20)**2 + (y - 24)**2) / (2 * 1.5**2))
    >>> segm = clump_segmentation(img, sigma=0.01)
    >>> int(segm.max())
    1
    """
    data, mask, unit, batch = _parse(image, 'image')
    threshold, min_pixels, _ = _detection_args(threshold, min_pixels)
    sigma = _check_sigma(sigma, unit)
    _, segms = _segment_stack(data, mask, scale, threshold, sigma,
                              min_pixels)
    return segms if batch else segms[0]


def detect_clumps(image, *, scale=3, threshold=3.0, sigma=None,
                  min_pixels=3):
    """
    Detect clumps (small-scale structures) on a starlet detail plane.

    The segmentation is that of `clump_segmentation` (use it to get the
    label map itself); the table lists one row per segment.

    Parameters
    ----------
    image : ndarray, Quantity or NDData
        A 2D image or a stack ``(N, ny, nx)``.
    scale, threshold, sigma, min_pixels
        See `clump_segmentation`.

    Returns
    -------
    clumps : `~astropy.table.Table` or list of Table
        One table per image with columns ``label`` (segment label), ``x``
        and ``y`` (centroid of the positive part of the plane, 0-indexed
        pixels), ``flux`` (sum of the plane over the segment, in the image
        unit) and ``area`` (pixels). The table is empty when nothing is
        detected. ``meta`` holds ``scale`` and ``threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import detect_clumps
    >>> y, x = np.mgrid[:48, :48]
    >>> img = np.exp(-((x - 20)**2 + (y - 24)**2) / (2 * 1.5**2))
    >>> clumps = detect_clumps(img, sigma=0.01)
    >>> len(clumps), round(float(clumps['x'][0])), round(float(clumps['y'][0]))
    (1, 20, 24)
    """
    data, mask, unit, batch = _parse(image, 'image')
    threshold, min_pixels, _ = _detection_args(threshold, min_pixels)
    sigma = _check_sigma(sigma, unit)
    planes, segms = _segment_stack(data, mask, scale, threshold, sigma,
                                   min_pixels)
    tables = []
    for plane, segm in zip(planes, segms):
        table = _catalog(plane, segm)
        if unit is not None:
            table['flux'].unit = unit
        table.meta['scale'] = int(scale)
        table.meta['threshold'] = threshold
        tables.append(table)
    return tables if batch else tables[0]


def _clump_fluxes(image, reference, scale, threshold, sigma, min_pixels,
                  names=('image', 'reference')):
    threshold, min_pixels, _ = _detection_args(threshold, min_pixels)
    if reference is None:
        data, mask, unit, batch = _parse(image, names[0])
        sigma = _check_sigma(sigma, unit)
        planes, segms = _segment_stack(data, mask, scale, threshold, sigma,
                                       min_pixels)
        return (planes * (segms > 0)).sum(axis=(-2, -1)), None, unit, batch
    est, ref, mask, unit, batch = _pair_stacks(image, reference)
    sigma = _check_sigma(sigma, unit)
    ref_planes, segms = _segment_stack(ref, mask, scale, threshold, sigma,
                                       min_pixels)
    est_planes = _plane(est, mask, scale)
    inside = segms > 0
    return ((est_planes * inside).sum(axis=(-2, -1)),
            (ref_planes * inside).sum(axis=(-2, -1)), unit, batch)


def clump_flux(image, reference=None, *, scale=3, threshold=3.0, sigma=None,
               min_pixels=3):
    """
    Total flux in the small-scale structures (clumps) of an image.

    The flux is the sum of the starlet detail plane ``w_scale`` over the
    clump segments of `clump_segmentation`. With ``reference`` (e.g. the
    true image) the segments are detected on ``reference`` and the flux of
    ``image`` is measured inside those same segments, so that estimates
    are compared on the same footprint.

    Parameters
    ----------
    image : ndarray, Quantity or NDData
        A 2D image or a stack ``(N, ny, nx)``.
    reference : ndarray, Quantity or NDData, optional
        Image(s) of the same shape on which the segments are detected.
    scale, threshold, sigma, min_pixels
        See `clump_segmentation`; ``sigma`` is the pixel noise of the image
        the segments are detected on.

    Returns
    -------
    flux : float, ndarray or Quantity
        One value per image, in the image unit; 0 when no clump is found.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import clump_flux
    >>> y, x = np.mgrid[:48, :48]
    >>> img = np.exp(-((x - 20)**2 + (y - 24)**2) / (2 * 1.5**2))
    >>> bool(clump_flux(img, sigma=0.01) > 0)
    True
    """
    flux, _, unit, batch = _clump_fluxes(image, reference, scale, threshold,
                                         sigma, min_pixels)
    return _with_unit(_reduce(flux, batch), unit)


def clump_flux_error(estimate, truth, *, scale=3, threshold=3.0, sigma=None,
                     min_pixels=3):
    """
    Relative error of the flux in the small-scale structures.

    ``(F_est - F_true) / F_true``, where both fluxes are measured with
    `clump_flux` in the clump segments detected on ``truth``. It is 0 for
    a perfect estimate, -0.5 when the clumps lost half their flux and NaN
    when ``truth`` has no detected clump.

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images of the same shape, or stacks ``(N, ny, nx)``.
    scale, threshold, sigma, min_pixels
        See `clump_segmentation`; ``sigma`` is the pixel noise of ``truth``.

    Returns
    -------
    error : float or ndarray
        One value per image.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import clump_flux_error
    >>> y, x = np.mgrid[:48, :48]
    >>> img = np.exp(-((x - 20)**2 + (y - 24)**2) / (2 * 1.5**2))
    >>> round(clump_flux_error(0.5 * img, img, sigma=0.01), 6)
    -0.5
    """
    est, ref, _, batch = _clump_fluxes(estimate, truth, scale, threshold,
                                       sigma, min_pixels)
    with np.errstate(divide='ignore', invalid='ignore'):
        error = np.where(ref != 0, (est - ref) / np.where(ref != 0, ref, 1),
                         np.nan)
    return _reduce(error, batch)


def _match(estimate, truth, scale, threshold, sigma, min_pixels,
           match_radius):
    """Per image: (n_out, n_out matched, n_true, n_true recovered)."""
    threshold, min_pixels, match_radius = _detection_args(
        threshold, min_pixels, match_radius)
    out, ref, mask, unit, batch = _pair_stacks(estimate, truth)
    sigma = _check_sigma(sigma, unit)
    out_planes, ref_planes = _plane(out, mask, scale), _plane(ref, mask, scale)
    counts = []
    for out_plane, ref_plane, m in zip(out_planes, ref_planes, mask):
        # one absolute detection level for both images: that of the truth
        noise = _plane_noise(ref_plane, m, scale, sigma)
        cats = []
        for plane in (out_plane, ref_plane):
            segm = _segment(plane, m, scale, threshold, sigma, min_pixels,
                            noise=noise)
            table = _catalog(plane, segm)
            cats.append(np.column_stack([table['x'], table['y']]))
        pos_out, pos_true = cats
        if len(pos_out) and len(pos_true):
            diff = pos_out[:, None, :] - pos_true[None, :, :]
            close = np.hypot(diff[..., 0], diff[..., 1]) <= match_radius
        else:
            close = np.zeros((len(pos_out), len(pos_true)), dtype=bool)
        counts.append((len(pos_out), close.any(axis=1).sum(),
                       len(pos_true), close.any(axis=0).sum()))
    return np.array(counts, dtype=float), batch


@_renamed_output
def hallucination_rate(estimate, truth, *, scale=3, match_radius=2.0,
                       threshold=3.0, sigma=None, min_pixels=3):
    """
    Fraction of the clumps of an estimate that are absent from the truth.

    Clumps are detected on ``estimate`` and on ``truth`` as in
    `detect_clumps`, but at one common absolute level: ``threshold`` times
    the noise of the truth's detail plane (from ``sigma``, the pixel noise
    of ``truth``, or else a robust MAD estimate on that plane). A smooth
    output (a network output has almost no noise) is thus not searched
    for structures far below what the truth could show. An estimate clump is
    a hallucination when no truth clump centroid lies within
    ``match_radius`` pixels of its centroid.
    The rate is 0 for identical images, and 0 by definition when the
    estimate has no clump at all (nothing was hallucinated).

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images of the same shape, or stacks ``(N, ny, nx)``.
    scale : int, optional
        The 1-based starlet scale used for detection.
    match_radius : float, optional
        Matching distance in pixels (> 0).
    threshold, sigma, min_pixels
        See `clump_segmentation`; ``sigma`` is the pixel noise of ``truth``
        and sets the detection level of both images.

    Returns
    -------
    rate : float or ndarray
        One value in ``[0, 1]`` per image.

    See Also
    --------
    completeness

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import hallucination_rate
    >>> y, x = np.mgrid[:48, :48]
    >>> def blob(x0, y0):
    ...     return np.exp(-((x - x0)**2 + (y - y0)**2) / (2 * 1.5**2))
    >>> truth = blob(15, 15)
    >>> hallucination_rate(truth + blob(32, 32), truth, sigma=0.01)
    0.5
    """
    counts, batch = _match(estimate, truth, scale, threshold, sigma,
                           min_pixels, match_radius)
    n_out, n_matched = counts[:, 0], counts[:, 1]
    rate = np.where(n_out > 0, (n_out - n_matched) / np.maximum(n_out, 1),
                    0.0)
    return _reduce(rate, batch)


@_renamed_output
def completeness(estimate, truth, *, scale=3, match_radius=2.0,
                 threshold=3.0, sigma=None, min_pixels=3):
    """
    Fraction of the clumps of the truth recovered in an estimate.

    A truth clump is recovered when an estimate clump centroid lies within
    ``match_radius`` pixels of its centroid (detection as in
    `hallucination_rate`, at the truth's level in both images). It is 1
    for identical images, and 1 by definition when the truth has no clump
    (nothing could be missed).

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images of the same shape, or stacks ``(N, ny, nx)``.
    scale, match_radius, threshold, sigma, min_pixels
        See `hallucination_rate`.

    Returns
    -------
    completeness : float or ndarray
        One value in ``[0, 1]`` per image.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import completeness
    >>> y, x = np.mgrid[:48, :48]
    >>> def blob(x0, y0):
    ...     return np.exp(-((x - x0)**2 + (y - y0)**2) / (2 * 1.5**2))
    >>> completeness(blob(15, 15), blob(15, 15) + blob(32, 32), sigma=0.01)
    0.5
    """
    counts, batch = _match(estimate, truth, scale, threshold, sigma,
                           min_pixels, match_radius)
    n_true, n_found = counts[:, 2], counts[:, 3]
    value = np.where(n_true > 0, n_found / np.maximum(n_true, 1), 1.0)
    return _reduce(value, batch)


# --------------------------------------------------------------------------
# data fidelity

def _forward_residual(estimate, data, psf, upsample):
    k = check_positive_int(upsample, 'upsample')
    est = parse_image_input(estimate, name='estimate', allow_batch=True)
    if psf is None and isinstance(data, NDData):
        psf = data.psf
    obs = parse_image_input(data, name='data', allow_batch=True)
    ny, nx = obs.data.shape[-2:]
    expected = obs.data.shape[:-2] + (k * ny, k * nx)
    if est.data.shape != expected:
        msg = (f'estimate must have shape {expected} (data shape '
               f'{obs.data.shape} times upsample={k}), got shape '
               f'{est.data.shape}')
        raise ValueError(msg)
    if psf is None:
        msg = 'psf must be given, either as psf or as data.psf, got neither'
        raise ValueError(msg)
    factor = _unit_factor(est.unit, obs.unit, 'data')
    psf = np.asarray(psf.value if isinstance(psf, u.Quantity) else psf)
    if psf.dtype.kind not in 'biuf':
        msg = (f'psf must be an array of real numbers, got dtype '
               f'{psf.dtype}')
        raise TypeError(msg)
    psf = psf.astype(float)
    fine = expected[-2:]
    n_images = est.data.reshape((-1,) + fine).shape[0]
    if psf.ndim == 3 and psf.shape[0] not in (1, n_images):
        msg = (f'psf must be 2D or hold one PSF per image ({n_images}), got '
               f'shape {psf.shape}')
        raise ValueError(msg)
    stack = psf.reshape((-1,) + psf.shape[-2:]) if psf.ndim == 3 else [psf]
    psfs = []
    for i, p in enumerate(stack):
        p = validate_psf(p, image_shape=fine, name='psf' if psf.ndim == 2
                         else f'psf[{i}]', normalize=False)
        psfs.append(p / p.sum())
    x = np.where(est.mask, 0.0, est.data).reshape((-1,) + fine) * factor
    model = ForwardModel(np.stack(psfs), (ny, nx), upsample=k).forward(x)
    residual = obs.data - model.reshape(obs.data.shape)
    return residual, obs


def data_residual(estimate, data, psf=None, *, upsample=1):
    r"""
    Residual of the data against the re-observed estimate.

    ``r = y - D(h * x)``: the estimate ``x`` (on the fine grid) is
    convolved circularly with the PSF ``h`` and block-summed by ``D`` onto
    the observation grid (``upsample x upsample`` fine pixels per data
    pixel). A perfect, noise-free reconstruction gives ``r = 0``.

    Parameters
    ----------
    estimate : ndarray, Quantity or NDData
        The estimate, of shape ``(upsample * ny, upsample * nx)``, or a
        stack. Masked pixels count as zero.
    data : ndarray, Quantity or NDData
        The observation ``(ny, nx)``, or a stack of the same length.
    psf : array_like, optional
        The PSF on the fine grid, centred on pixel ``(P // 2, P // 2)``; it
        is normalised to unit sum. 2D, or one per image of a stack. Taken
        from ``data.psf`` when not given.
    upsample : int, optional
        The super-resolution factor.

    Returns
    -------
    residual : ndarray or Quantity
        With the shape (and unit) of ``data``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import data_residual
    >>> x = np.ones((8, 8))
    >>> psf = np.ones((3, 3)) / 9
    >>> bool(np.allclose(data_residual(x, np.full((4, 4), 4.0), psf,
    ...                                upsample=2), 0))
    True
    """
    residual, obs = _forward_residual(estimate, data, psf, upsample)
    return _with_unit(residual, obs.unit)


def reduced_chi2(estimate, data, psf=None, *, error=None, upsample=1):
    r"""
    Reduced chi-square of the data residual.

    :math:`\chi^2_\nu = \frac{1}{N} \sum_i (r_i / \sigma_i)^2` with ``r``
    the `data_residual` and ``N`` the number of data pixels that are
    unmasked, finite and have ``sigma > 0`` (no degrees of freedom are
    subtracted). A fit at the noise level gives about 1.

    Parameters
    ----------
    estimate, data, psf, upsample
        See `data_residual`.
    error : float, array_like, Quantity or NDUncertainty, optional
        The 1-sigma error of ``data`` (scalar or the shape of ``data``).
        Taken from ``data.uncertainty`` when not given.

    Returns
    -------
    chi2 : float or ndarray
        One value per image.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import reduced_chi2
    >>> x = np.zeros((64, 64))
    >>> noise = np.random.default_rng(1).normal(0, 2.0, x.shape)
    >>> psf = np.ones((1, 1))
    >>> bool(abs(reduced_chi2(x, noise, psf, error=2.0) - 1) < 0.1)
    True
    """
    if (error is not None and not isinstance(error, NDUncertainty)
            and np.iscomplexobj(getattr(error, 'value', error))):
        msg = ('error must be real 1-sigma values, got complex numbers '
               'whose imaginary part would be dropped')
        raise TypeError(msg)
    residual, obs = _forward_residual(estimate, data, psf, upsample)
    parsed = parse_image_input(data, error=error, name='data',
                               allow_batch=True)
    if parsed.error is None:
        msg = ('error must be given, either as error or as '
               'data.uncertainty, got neither')
        raise ValueError(msg)
    sigma = parsed.error
    good = ~parsed.mask & (sigma > 0) & np.isfinite(residual)
    chi = np.where(good, residual / np.where(good, sigma, 1.0), 0.0)
    shape = (-1,) + residual.shape[-2:]
    chi2 = (chi.reshape(shape) ** 2).sum(axis=(-2, -1))
    n_pixels = good.reshape(shape).sum(axis=(-2, -1))
    if np.any(n_pixels == 0):
        msg = 'data must have unmasked pixels with error > 0, got none'
        raise ValueError(msg)
    return _reduce(chi2 / n_pixels, residual.ndim == 3)


# --------------------------------------------------------------------------
# global flux and position

def flux_error(estimate, truth):
    """
    Relative error of the total flux, ``(sum(est) - sum(true)) / sum(true)``.

    Masked and non-finite pixels of either image are ignored.

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images of the same shape, or stacks ``(N, ny, nx)``.

    Returns
    -------
    error : float or ndarray
        One value per image.

    Raises
    ------
    ValueError
        If the shapes differ or the truth has zero total flux.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import flux_error
    >>> est = np.full((4, 4), 1.1)
    >>> flux_error(est, np.ones((4, 4)))  # doctest: +FLOAT_CMP
    0.1
    """
    est, ref, mask, _, batch = _pair_stacks(estimate, truth)
    f_est = np.where(mask, 0, est).sum(axis=(-2, -1))
    f_ref = np.where(mask, 0, ref).sum(axis=(-2, -1))
    size = np.abs(np.where(mask, 0, ref)).sum(axis=(-2, -1))
    zero = np.abs(f_ref) <= 1e-12 * size
    if np.any(zero):
        msg = ('truth must have a non-zero total flux (not zero up to '
               f'rounding errors), got {float(f_ref[zero][0]):.3g}')
        raise ValueError(msg)
    return _reduce((f_est - f_ref) / f_ref, batch)


def _centroids(images, mask):
    weights = np.where(mask, 0.0, np.clip(images, 0, None))
    total = weights.sum(axis=(-2, -1))
    if np.any(total <= 0):
        return None
    ny, nx = images.shape[-2:]
    yc = (weights.sum(axis=-1) * np.arange(ny)).sum(axis=-1) / total
    xc = (weights.sum(axis=-2) * np.arange(nx)).sum(axis=-1) / total
    return yc, xc


def centroid_error(estimate, truth):
    """
    Distance in pixels between the intensity-weighted centroids.

    Each centroid is the first moment of the positive, unmasked pixels of
    the image.

    Parameters
    ----------
    estimate, truth : ndarray, Quantity or NDData
        Images of the same shape, or stacks ``(N, ny, nx)``.

    Returns
    -------
    distance : float or ndarray
        One value per image, in pixels.

    Raises
    ------
    ValueError
        If the shapes differ or an image has no positive pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.metrics import centroid_error
    >>> a = np.zeros((8, 8)); a[2, 2] = 1
    >>> b = np.zeros((8, 8)); b[5, 6] = 1
    >>> centroid_error(a, b)
    5.0
    """
    est, ref, mask, _, batch = _pair_stacks(estimate, truth)
    c_est, c_ref = _centroids(est, mask), _centroids(ref, mask)
    if c_est is None or c_ref is None:
        msg = ('estimate and truth must each have positive unmasked pixels '
               'to define a centroid')
        raise ValueError(msg)
    dist = np.hypot(c_est[0] - c_ref[0], c_est[1] - c_ref[1])
    return _reduce(dist, batch)
