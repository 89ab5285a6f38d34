# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The PSF a deconvolver is given: its pixel scale, checked against the data.

A PSF must be sampled on the *output* grid of a deconvolution, whose pixels
are the data pixels divided by ``upsample``. A PSF given with its own pixel
scale (an NDData with a celestial WCS or a scale in its meta, a photutils
`~photutils.psf.ImagePSF` with its ``oversampling``) is compared with that
grid and resampled, conserving flux, when it differs by more than 1 %. A
plain array carries no scale: it is assumed to be on the output grid, and
a plausibility check on its FWHM warns when that looks wrong.

This module is private to `astrodeconv.psf`: `astrodeconv.psf.resolve_psf`,
the one door every ``psf=`` goes through, calls `unpack_psf`,
`match_psf_sampling` and `center_offsets`.
"""

import math
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.modeling import Model
from astropy.nddata import NDData

from .core import psf_center, psf_centroid

__all__ = []

#: Relative difference between the PSF and output pixel scales tolerated
#: without resampling.
SCALE_RTOL = 0.01
#: Smallest side (pixels) of a resampled PSF.
MIN_RESAMPLED_SIZE = 3
#: A PSF whose centroid is more than this fraction of its size away from
#: the centre along an axis is refused (not recentred).
MAX_OFFSET_FRACTION = 0.25
#: Centroid offsets (output pixels) below this are left alone.
RECENTER_TOL = 0.01
#: Peak-pixel fraction above which a PSF may have a FWHM below one pixel
#: (a pixel-integrated Gaussian of FWHM 1 pixel holds 58 % of its flux in
#: its peak pixel; Moffat profiles less), so its FWHM is measured.
_UNDERSAMPLED_PEAK_FRACTION = 0.3
#: Margin on the quick half-maximum diameter before measuring a wide PSF.
_WIDE_MARGIN = 0.8

#: Meta keywords holding a pixel scale in arcsec (plain numbers) or as an
#: angle Quantity.
_SCALE_KEYS = ('pixel_scale', 'PIXSCALE', 'PIXSCAL', 'SECPIX')


@dataclass(frozen=True)
class PSFSampling:
    """Where the PSF's pixel scale came from and what it is."""

    #: The side of one PSF pixel in arcsec, or None.
    scale: float = None
    #: PSF pixels per data pixel (photutils ``oversampling``), or None.
    oversampling: float = None
    #: Human-readable origin, for messages, e.g. "its WCS".
    source: str = ''


def _angle_arcsec(value, unit=None):
    """``value`` (a Quantity, or a number in ``unit``) in arcsec, or None."""
    try:
        if isinstance(value, u.Quantity):
            for target in (u.arcsec, u.arcsec / u.pix):
                try:
                    return float(value.to_value(target))
                except u.UnitConversionError:
                    continue
            return None
        return float(u.Quantity(float(value), unit).to_value(u.arcsec))
    except (TypeError, ValueError, u.UnitsError):
        return None


def _meta_get(meta, key):
    """Case-insensitive lookup in a dict or FITS header."""
    if key in meta:
        return meta[key]
    for candidate in meta:
        if isinstance(candidate, str) and candidate.upper() == key.upper():
            return meta[candidate]
    return None


def _celestial_or_unknown(meta, axis):
    """True when axis ``axis`` of a header's WCS may be an angle in deg."""
    ctype = _meta_get(meta, f'CTYPE{axis}')
    cunit = _meta_get(meta, f'CUNIT{axis}')
    if cunit is not None and str(cunit).strip():
        try:
            return u.Unit(str(cunit).strip()).physical_type == 'angle'
        except ValueError:
            return False
    if ctype is None or not str(ctype).strip():
        return True
    ctype = str(ctype).upper()
    return ctype[:4].rstrip('-') in ('RA', 'DEC', 'GLON', 'GLAT', 'ELON',
                                     'ELAT', 'HPLN', 'HPLT')


def _axis_unit(meta, axis):
    cunit = _meta_get(meta, f'CUNIT{axis}')
    if cunit is not None and str(cunit).strip():
        return u.Unit(str(cunit).strip())
    return u.deg


def scale_from_meta(meta):
    """
    The pixel scale (arcsec, source) held by a meta dict or header, or None.

    Looked up in order: ``pixel_scale`` (a Quantity, or a number in
    arcsec), ``PIXSCALE``/``PIXSCAL``/``SECPIX`` (arcsec), the ``CD``
    matrix and ``CDELT1``/``CDELT2`` (degrees, or ``CUNITn``) when the axes
    are celestial or have no ``CTYPE``.
    """
    if meta is None:
        return None
    for key in _SCALE_KEYS:
        value = _meta_get(meta, key)
        if value is not None:
            arcsec = _angle_arcsec(value, u.arcsec)
            if arcsec is not None and math.isfinite(arcsec) and arcsec > 0:
                return arcsec, f'{key} in its meta'
    if not (_celestial_or_unknown(meta, 1) and _celestial_or_unknown(meta, 2)):
        return None
    try:
        units = (_axis_unit(meta, 1), _axis_unit(meta, 2))
    except ValueError:
        return None
    cd = [_meta_get(meta, f'CD{i}_{j}') for i in (1, 2) for j in (1, 2)]
    if any(value is not None for value in cd):
        m = np.array([float(v or 0.0) for v in cd]).reshape(2, 2)
        sides = np.sqrt((m ** 2).sum(axis=0))  # per pixel axis
        source = 'the CD matrix in its meta'
    else:
        cdelt = [_meta_get(meta, f'CDELT{i}') for i in (1, 2)]
        if any(value is None for value in cdelt):
            return None
        sides = np.abs(np.array([float(v) for v in cdelt]))
        source = 'CDELT1/CDELT2 in its meta'
    try:
        arcsec = [float((side * unit).to_value(u.arcsec))
                  for side, unit in zip(sides, units)]
    except u.UnitConversionError:
        return None
    value = math.sqrt(arcsec[0] * arcsec[1])
    if not math.isfinite(value) or value <= 0:
        return None
    return value, source


def _nddata_scale(psf):
    from .for_image import image_pixel_scale

    scale = image_pixel_scale(psf)
    if scale is not None:
        return PSFSampling(scale=float(scale.to_value(u.arcsec)),
                           source='its WCS')
    found = scale_from_meta(psf.meta)
    if found is not None:
        return PSFSampling(scale=found[0], source=found[1])
    return None


def _is_image_psf(psf):
    return isinstance(psf, Model) and all(
        hasattr(psf, attr) for attr in ('data', 'oversampling', 'origin'))


def _from_image_psf(psf, name):
    from .measure import _fourier_shift

    oversampling = np.atleast_1d(np.asarray(psf.oversampling, dtype=float))
    if oversampling.size > 1 and oversampling[0] != oversampling[-1]:
        msg = (f'{name} must have the same oversampling along both axes, '
               f'got oversampling={tuple(oversampling.tolist())}; resample '
               'it to square pixels first')
        raise ValueError(msg)
    arr = np.array(psf.data, dtype=float)
    if arr.ndim != 2:
        msg = f'{name}.data must be a 2D array, got {arr.ndim} dimension(s)'
        raise ValueError(msg)
    # photutils puts the model centre at ``origin`` (x, y), by default the
    # array centre (n - 1) / 2: move it onto the package convention
    origin_x, origin_y = (float(v) for v in psf.origin)
    cy, cx = psf_center(arr.shape)
    if (cy, cx) != (origin_y, origin_x) and np.all(np.isfinite(arr)):
        arr = _fourier_shift(arr, (cy - origin_y, cx - origin_x))
    o = float(oversampling[0])
    total = arr.sum()
    if np.isfinite(total) and total > 0:
        # photutils scales the data to sum to oversampling**2
        arr = arr / total
    return arr, PSFSampling(
        oversampling=o, source=f'its oversampling ({o:g})')


def unpack_psf(psf, name='psf'):
    """
    Split a ``psf=`` argument into an array-like and its `PSFSampling`.

    NDData gives its data and the scale of its celestial WCS or meta;
    a photutils `~photutils.psf.ImagePSF` gives its data (its ``origin``
    moved onto the centre convention) and its ``oversampling``; anything
    else is returned unchanged with no sampling.
    """
    if _is_image_psf(psf):
        return _from_image_psf(psf, name)
    if isinstance(psf, NDData):
        return psf.data, _nddata_scale(psf)
    return psf, None


def check_far_off(psf, name='psf'):
    """Raise if the PSF centroid is more than a quarter of its size off."""
    cy, cx = psf_centroid(psf)
    ty, tx = psf_center(psf.shape)
    ny, nx = psf.shape
    if (abs(cy - ty) > MAX_OFFSET_FRACTION * ny
            or abs(cx - tx) > MAX_OFFSET_FRACTION * nx):
        msg = (f'{name} must be roughly centred on pixel (ny // 2, nx // 2) '
               f'= ({ty}, {tx}), got a centroid at ({cy:.2f}, {cx:.2f}), '
               f'more than a quarter of the PSF size {psf.shape} away; '
               'cut the PSF stamp around the star (offsets smaller than '
               'that are recentred automatically, see '
               'astrodeconv.psf.recenter_psf)')
        raise ValueError(msg)


def center_offsets(psfs):
    """Centroid minus centre ``(N, 2)`` of a ``(N, py, px)`` PSF stack."""
    weights = np.clip(psfs, 0, None)
    total = weights.sum(axis=(-2, -1))
    ny, nx = psfs.shape[-2:]
    cy = (weights.sum(axis=-1) @ np.arange(ny)) / total
    cx = (weights.sum(axis=-2) @ np.arange(nx)) / total
    ty, tx = psf_center((ny, nx))
    return np.stack([cy - ty, cx - tx], axis=-1)


def _resampled_shape(shape, factor):
    out = []
    for n in shape:
        m = max(int(np.round(n * factor)), 1)
        out.append(m + 1 if (m - n) % 2 else m)
    return tuple(out)


def match_psf_sampling(psf, sampling, *, data_scale, upsample, out_shape,
                       name='psf'):
    """
    Bring a PSF (2D or ``(N, py, px)``) onto the output grid when needed.

    Parameters
    ----------
    psf : ndarray
        The validated PSF(s), normalised.
    sampling : PSFSampling or None
        The PSF's pixel scale, if known.
    data_scale : float or None
        The data pixel scale in arcsec (from its WCS), if known.
    upsample : int
        The super-resolution factor of the deconvolution.
    out_shape : tuple of int or None
        The output image shape ``(ny * upsample, nx * upsample)``; None
        for no size limit on the resampled PSF and no plausibility check.

    Returns
    -------
    psf : ndarray
        The PSF on the output grid (resampled if needed, else unchanged).
    message : str or None
        The warning to emit: what was resampled, or what looks implausible.
    factor : float or None
        The resampling factor applied (old / new pixel size), or None.
    """
    from .measure import resample_psf

    factor = None
    if sampling is not None and sampling.oversampling is not None:
        factor = upsample / sampling.oversampling
        have = (f'{sampling.oversampling:g} PSF pixels per data pixel (from '
                f'{sampling.source})')
        want = (f'{upsample} output pixels per data pixel '
                f'(upsample={upsample})')
        fix = (f'give a PSF oversampled {upsample} times, or deconvolve with '
               f'upsample={sampling.oversampling:g}')
    elif (sampling is not None and sampling.scale is not None
          and data_scale is not None):
        target = data_scale / upsample
        factor = sampling.scale / target
        have = (f'{sampling.scale:.6g} arcsec per pixel (from '
                f'{sampling.source})')
        want = (f'{target:.6g} arcsec per pixel (the data pixel scale '
                f'{data_scale:.6g} arcsec / upsample={upsample})')
        fix = ('give the PSF on the output grid (resample it with '
               f'astrodeconv.psf.resample_psf(psf, from_scale='
               f'{sampling.scale:.6g} * u.arcsec, to_scale={target:.6g} * '
               'u.arcsec, shape=...)), or change upsample')
    if factor is None:
        if out_shape is None:
            return psf, None, None
        return psf, _plausibility_message(psf, sampling, data_scale,
                                          upsample, out_shape, name), None
    if abs(factor - 1) <= SCALE_RTOL:
        return psf, None, None
    new_shape = _resampled_shape(psf.shape[-2:], factor)
    if min(new_shape) < MIN_RESAMPLED_SIZE or (out_shape is not None and (
            new_shape[0] > out_shape[0] or new_shape[1] > out_shape[1])):
        what = ('smaller than 3 pixels' if min(new_shape) < MIN_RESAMPLED_SIZE
                else f'larger than the output image {tuple(out_shape)}')
        msg = (f'{name} is sampled at {have}, but the output grid has '
               f'{want}. Resampling it by a factor {factor:.4g} would make '
               f'it {new_shape[0]} x {new_shape[1]} pixels, {what}. '
               f'Please {fix}.')
        raise ValueError(msg)
    if psf.ndim == 3:
        out = np.stack([resample_psf(p, factor) for p in psf])
    else:
        out = resample_psf(psf, factor)
    message = (f'{name} is sampled at {have}, but the output grid has '
               f'{want}; it was resampled by a factor {factor:.4g} '
               f'(conserving flux) to {new_shape[0]} x {new_shape[1]} '
               f'pixels. To silence this, {fix}.')
    return out, message, factor


def _fwhm_or_none(psf):
    from .measure import measure_fwhm

    try:
        return measure_fwhm(psf)
    except ValueError:
        return None


def _plausibility_message(psf, sampling, data_scale, upsample, out_shape,
                          name):
    """A warning when a PSF of unknown scale has an implausible FWHM."""
    if psf.shape[-2] > out_shape[0] or psf.shape[-1] > out_shape[1]:
        return None  # the deconvolver refuses it with its own message
    stack = psf.reshape((-1,) + psf.shape[-2:])
    peak_fraction = stack.max(axis=(-2, -1)) / stack.sum(axis=(-2, -1))
    quarter = min(out_shape) / 4
    area = (stack >= 0.5 * stack.max(axis=(-2, -1), keepdims=True)).sum(
        axis=(-2, -1))
    diameter = 2 * np.sqrt(area / np.pi)
    problem = None
    if peak_fraction.max() > _UNDERSAMPLED_PEAK_FRACTION:
        fwhm = _fwhm_or_none(stack[int(np.argmax(peak_fraction))])
        if fwhm is not None and fwhm < 1:
            problem = (f'has a FWHM of {fwhm:.2g} output pixels, below one '
                       'pixel (undersampled)')
    if problem is None and diameter.max() > _WIDE_MARGIN * quarter:
        widest = stack[int(np.argmax(diameter))]
        fwhm = _fwhm_or_none(widest)
        if fwhm is None:
            fwhm = float(diameter.max())
        if fwhm > quarter:
            problem = (f'has a FWHM of {fwhm:.4g} output pixels, wider than '
                       'a quarter of the output image '
                       f'{out_shape[0]} x {out_shape[1]}')
    if problem is None:
        return None
    if sampling is not None and sampling.scale is not None:
        told = (f'its pixel scale ({sampling.scale:.6g} arcsec, from '
                f'{sampling.source}) could not be compared with the data, '
                'which have no celestial WCS')
    else:
        told = 'nothing gives its pixel scale'
    grid = f'the data pixels / upsample={upsample}'
    if data_scale is not None:
        grid += f', i.e. {data_scale / upsample:.6g} arcsec'
    return (f'{name} {problem}. Since {told}, it was assumed to be sampled '
            f'on the output grid ({grid}). If it has another pixel scale, '
            'give it as an NDData with a celestial WCS or a PIXSCALE '
            '(arcsec) in its meta, or resample it with '
            'astrodeconv.psf.resample_psf.')
