# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
An analytic PSF made to deconvolve one given image.

`make_psf_for_image` turns "the seeing is 0.8 arcsec" into a PSF array
ready for a deconvolver: the FWHM (an angle, or a number of pixels) is
converted with the image's pixel scale (given, or read from its celestial
WCS), and a Gaussian or Moffat profile is rendered on the output grid
(``upsample`` times finer than the image), with the package's odd stamp
size (`~astrodeconv.psf.PSF_STAMP_SIZE_IN_FWHM` times the FWHM) that never
exceeds the output image.
"""

import math
import warnings

import numpy as np
from astropy import units as u
from astropy.nddata import NDData

from ..utils._validation import check_choice, check_positive_int
from ..utils.exceptions import AstrodeconvWarning
from .analytic import (DEFAULT_MOFFAT_BETA, PSF_STAMP_SIZE_IN_FWHM,
                       make_gaussian_psf, make_moffat_psf, odd_stamp_size)

__all__ = ['image_pixel_scale', 'make_psf_for_image']

#: The analytic profiles `make_psf_for_image` can render.
PSF_MODELS = ('moffat', 'gaussian')

#: Fraction of the flux left out of a cropped stamp above which
#: `make_psf_for_image` warns.
_CROP_LOSS_WARN = 0.01

#: Relative difference of the two pixel sides above which the pixels of a
#: WCS are reported as not square.
_SQUARE_TOLERANCE = 0.01


def _image_shape(image):
    """The pixel shape of ``image``."""
    if isinstance(image, NDData):
        return np.shape(image.data)
    return np.shape(image)


def image_pixel_scale(image):
    """
    The pixel scale of an image, from its celestial WCS.

    Parameters
    ----------
    image : `~astropy.nddata.NDData` or `~astropy.wcs.WCS`
        An image with a WCS, or the WCS itself.

    Returns
    -------
    scale : `~astropy.units.Quantity` or None
        The side of one pixel as an angle (arcsec), or None when there is
        no celestial WCS. When the pixels are not square (sides differing
        by more than 1 %), the geometric mean of the two sides is returned
        and an `~astrodeconv.utils.exceptions.AstrodeconvWarning` is
        emitted.

    Examples
    --------
    >>> from astropy.nddata import NDData
    >>> from astropy.wcs import WCS
    >>> import numpy as np
    >>> from astrodeconv.psf import image_pixel_scale
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    >>> wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    >>> image_pixel_scale(NDData(np.zeros((8, 8)), wcs=wcs))
    <Quantity 0.2 arcsec>
    >>> image_pixel_scale(NDData(np.zeros((8, 8)))) is None
    True
    """
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    wcs = image if isinstance(image, WCS) else getattr(image, 'wcs', None)
    if wcs is None or not getattr(wcs, 'has_celestial', False):
        return None
    celestial = wcs.celestial
    scales = proj_plane_pixel_scales(celestial)
    units = [u.Unit(unit) for unit in celestial.wcs.cunit]
    values = [(s * unit).to_value(u.arcsec) for s, unit in zip(scales,
                                                               units)]
    if abs(values[0] - values[1]) > _SQUARE_TOLERANCE * max(values):
        warnings.warn(f'the input pixels are not square ({values[0]:.4g}" x '
                      f'{values[1]:.4g}"); the geometric mean is used as '
                      'the pixel scale', AstrodeconvWarning, stacklevel=2)
    return math.sqrt(values[0] * values[1]) * u.arcsec


def _fwhm_quantity(fwhm):
    """``fwhm`` as a Quantity in pixels or an angle."""
    if not isinstance(fwhm, u.Quantity):
        fwhm = u.Quantity(fwhm, u.pix)
    elif fwhm.unit == u.dimensionless_unscaled:
        fwhm = fwhm.value * u.pix
    if not fwhm.isscalar:
        msg = f'fwhm must be a scalar, got shape {fwhm.shape}'
        raise ValueError(msg)
    if fwhm.unit != u.pix and fwhm.unit.physical_type != 'angle':
        msg = (f'fwhm must be an angle (e.g. 0.8 * u.arcsec) or a number '
               f'of pixels, got unit {fwhm.unit.to_string()!r}')
        raise u.UnitsError(msg)
    if not np.isfinite(fwhm.value) or fwhm.value <= 0:
        msg = f'fwhm must be a finite positive number, got {fwhm}'
        raise ValueError(msg)
    return fwhm


def _stamp_shape(fwhm_pixels, image_shape, upsample, model):
    """The package's odd stamp for this profile, inside the output grid."""
    extent = PSF_STAMP_SIZE_IN_FWHM[model] * fwhm_pixels * upsample
    return tuple(odd_stamp_size(extent, limit=n * upsample)
                 for n in image_shape[-2:])


def _check_fits_image(fwhm, fwhm_pixels, shape, upsample):
    """Refuse a FWHM wider than the output image (a unit mistake)."""
    side = min(shape[-2:]) * upsample
    if fwhm_pixels * upsample > side:
        msg = (f'fwhm must be smaller than the image, got {fwhm}, i.e. '
               f'{fwhm_pixels * upsample:.4g} output pixels for an output '
               f'image of {shape[-2] * upsample} x {shape[-1] * upsample} '
               'pixels; check the value and its unit (arcsec or pixels)')
        raise ValueError(msg)


def _flux_outside(model, fwhm, radius, beta):
    """Fraction of the flux of a circular profile beyond ``radius``."""
    if model == 'gaussian':
        sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
        return math.exp(-radius ** 2 / (2 * sigma ** 2))
    alpha = fwhm / (2 * math.sqrt(2 ** (1 / beta) - 1))
    return (1 + (radius / alpha) ** 2) ** (1 - beta)


def make_psf_for_image(image, fwhm, *, model='moffat', beta=None,
                       pixel_scale=None, upsample=1):
    """
    Make an analytic PSF to deconvolve ``image`` with.

    The PSF is rendered on the output grid of a deconvolution with
    ``upsample=upsample`` (pixels ``upsample`` times smaller than those of
    ``image``), centred and normalised to unit sum (the package
    convention, see `validate_psf`). Its shape is odd, about
    `~astrodeconv.psf.PSF_STAMP_SIZE_IN_FWHM` times the FWHM on that grid
    (at least 3 pixels, see `~astrodeconv.psf.odd_stamp_size`), and never
    larger than the output image: when that crop leaves out more than 1 %
    of the flux, an `~astrodeconv.utils.exceptions.AstrodeconvWarning`
    says so, and a FWHM larger than the output image is an error.

    Parameters
    ----------
    image : `~astropy.nddata.NDData` or array_like
        The image to deconvolve. Only its shape and, for an angular
        ``fwhm`` without ``pixel_scale``, its celestial WCS are used.
    fwhm : float or `~astropy.units.Quantity`
        Full width at half maximum of the seeing: an angle (e.g.
        ``0.8 * u.arcsec``), or a number (or ``u.pix`` Quantity) of pixels
        of ``image``.
    model : {'moffat', 'gaussian'}, optional
        The profile (see `make_moffat_psf` and `make_gaussian_psf`).
    beta : float, optional
        The Moffat index; by default that of `make_moffat_psf` (4.765).
        Only for ``model='moffat'``.
    pixel_scale : `~astropy.units.Quantity`, optional
        The pixel scale of ``image`` (an angle), used to convert an
        angular ``fwhm`` to pixels. By default it is read from the
        celestial WCS of ``image`` with `image_pixel_scale`.
    upsample : int, optional
        The super-resolution factor of the deconvolution.

    Returns
    -------
    psf : `~numpy.ndarray`
        The PSF on the output grid, of unit sum.

    Raises
    ------
    ValueError
        If ``fwhm`` is not positive, ``model`` is unknown, ``beta`` is
        given with ``model='gaussian'``, ``fwhm`` is an angle and the
        pixel scale is unknown (no ``pixel_scale`` and no celestial WCS),
        or ``fwhm`` is larger than the output image.
    astropy.units.UnitsError
        If ``fwhm`` or ``pixel_scale`` has the wrong kind of unit.

    Examples
    --------
    A 0.7 arcsec Moffat seeing for an image with 0.2 arcsec pixels,
    deconvolved onto a 4 times finer grid:

    >>> import numpy as np
    >>> import astropy.units as u
    >>> from astrodeconv.psf import make_psf_for_image
    >>> image = np.zeros((32, 32))
    >>> psf = make_psf_for_image(image, 0.7 * u.arcsec,
    ...                          pixel_scale=0.2 * u.arcsec, upsample=4)
    >>> psf.shape, round(float(psf.sum()), 12)
    ((85, 85), 1.0)

    The same seeing given in pixels of the image, with a Gaussian profile:

    >>> make_psf_for_image(image, 3.5, model='gaussian').shape
    (19, 19)
    """
    fwhm = _fwhm_quantity(fwhm)
    model = check_choice(model, 'model', PSF_MODELS)
    upsample = check_positive_int(upsample, 'upsample')
    if beta is not None and model != 'moffat':
        msg = f"beta applies only to model='moffat', got model={model!r}"
        raise ValueError(msg)
    shape = _image_shape(image)
    if len(shape) < 2:
        msg = f'image must be a 2D image, got shape {tuple(shape)}'
        raise ValueError(msg)
    scale = None
    if fwhm.unit == u.pix:
        fwhm_pixels = float(fwhm.value)
    else:
        scale = pixel_scale if pixel_scale is not None else (
            image_pixel_scale(image))
        if scale is None:
            msg = (f'fwhm {fwhm} is an angle but the pixel scale of the '
                   'image is unknown (it has no celestial WCS); give '
                   'pixel_scale (e.g. 0.2 * u.arcsec) or the FWHM in '
                   'pixels')
            raise ValueError(msg)
        if not isinstance(scale, u.Quantity) or (
                scale.unit.physical_type != 'angle'):
            msg = ('pixel_scale must be an angle such as 0.2 * u.arcsec, '
                   f'got {scale!r}')
            raise u.UnitsError(msg)
        fwhm_pixels = float((fwhm / scale).to_value(u.dimensionless_unscaled))
    _check_fits_image(fwhm, fwhm_pixels, shape, upsample)
    stamp = _stamp_shape(fwhm_pixels, shape, upsample, model)
    lost = _flux_outside(model, fwhm_pixels * upsample, min(stamp) / 2,
                         DEFAULT_MOFFAT_BETA if beta is None else beta)
    if lost > _CROP_LOSS_WARN:
        warnings.warn(f'the {model} PSF of FWHM {fwhm} '
                      f'({fwhm_pixels * upsample:.4g} output pixels) does not '
                      f'fit in the output image: its stamp was cropped to '
                      f'{stamp[0]} x {stamp[1]} pixels, which leaves out '
                      f'about {lost:.1%} of its flux (the PSF is renormalised '
                      'to unit sum). Check the FWHM and its unit, or use a '
                      'larger image', AstrodeconvWarning, stacklevel=2)
    if model == 'gaussian':
        return make_gaussian_psf(fwhm, stamp, pixel_scale=scale,
                                 oversampling=upsample)
    extra = {} if beta is None else {'beta': beta}
    return make_moffat_psf(fwhm, shape=stamp, pixel_scale=scale,
                           oversampling=upsample, **extra)
