# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The NDData boundary: one parser for every image input, one output builder.

Every public entry point calls `parse_image_input` (or `parse_images`) first
and `build_output` last, so that ndarray, Quantity and NDData inputs behave
identically and each comes back as the kind it went in as.
"""

import copy
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from astropy import units as u
from astropy.nddata import (NDData, NDUncertainty, StdDevUncertainty)

from ._masking import combine_masks
from .exceptions import AstrodeconvWarning

__all__ = []

_ACCEPTED = ('a 2D numpy array, an astropy Quantity, or an NDData/CCDData '
             'instance')

#: The smallest image side the deconvolvers take (`parse_images`): the
#: noise is measured with the 5x5 filter of the finest starlet scale
#: (`astrodeconv.wavelets.estimate_noise`), which every method but an
#: explicit-``lam`` Tikhonov needs. One minimum for every method, checked
#: once at the entry.
MIN_IMAGE_SIZE = 5


@dataclass
class ImageInput:
    """Plain-array view of one image (or a 3D batch of arrays)."""

    data: np.ndarray
    mask: np.ndarray
    unit: object = None
    error: np.ndarray = None
    wcs: object = None
    meta: object = field(default_factory=dict)
    #: The PSF as given (``psf=`` or ``data.psf``), not yet parsed: the
    #: deconvolvers put it on their output grid with
    #: `astrodeconv.psf.resolve_psf`.
    psf: object = None
    kind: str = 'ndarray'
    nddata_class: type = None
    uncertainty_class: type = None
    #: The least float precision `build_output` gives a result (image
    #: and error): set by `parse_images` to float64, or to float32 for a
    #: deconvolver that computes in float32 at the user's request
    #: (``dtype='float32'``). A result computed in lower precision than
    #: this is converted; None keeps the dtype of the result.
    result_dtype: object = None

    @property
    def is_batch(self):
        """True when ``data`` holds a stack of images ``(N, ny, nx)``."""
        return self.data.ndim == 3


def _to_float_array(values, name, dtype=float):
    """``values`` as a float64 array, or float32 kept when ``dtype`` says."""
    if dtype == np.float32 and getattr(values, 'dtype', None) == np.float32:
        return np.asarray(values)
    kind = getattr(values, 'dtype', None)
    if kind is None and isinstance(values, (list, tuple)):
        try:
            kind = np.asarray(values).dtype
        except (TypeError, ValueError):
            kind = None
    if kind is not None and kind.kind not in 'biufO':
        # bytes, strings, complex numbers, dates: refuse by dtype instead
        # of letting numpy parse (or drop the imaginary part of) them
        msg = (f'{name} must contain real numbers, got an array of dtype '
               f'{kind}')
        raise TypeError(msg)
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        what = (f'an array of dtype {kind}' if kind is not None
                else type(values).__name__)
        msg = f'{name} must contain real numbers, got {what}'
        raise TypeError(msg) from None
    return arr


def check_linear_unit(unit, name='data'):
    """
    Refuse logarithmic units (magnitudes, dex, dB), alone or composed.

    Deconvolution is linear in the pixel values: a magnitude or a
    magnitude per square arcsecond is not, and must be converted to a
    flux or a surface brightness first.
    """
    if unit is None:
        return
    if isinstance(unit, u.FunctionUnitBase):
        logarithmic = True
    else:
        try:
            logarithmic = u.dex in unit.decompose().bases
        except (AttributeError, u.UnitsError):
            logarithmic = False
    if logarithmic:
        msg = (f'{name} must be in linear units (a flux or a surface '
               f'brightness), got {unit!r}, which is logarithmic. Convert '
               'magnitudes to fluxes first, e.g. with '
               '(values * u.ABmag).to(u.nJy) or '
               '10 ** (-0.4 * (mag - zero_point)).')
        raise u.UnitsError(msg)


def is_surface_brightness(unit):
    """
    Whether ``unit`` is per solid angle (per steradian, per arcsec**2,
    per beam), i.e. a surface brightness rather than a flux per pixel.

    A surface brightness does not depend on the pixel size: on a grid
    ``k`` times finer its values are unchanged on average, whereas a flux
    per pixel is shared among the ``k**2`` fine pixels.
    """
    if unit is None or isinstance(unit, u.FunctionUnitBase):
        return False
    try:
        decomposed = unit.decompose()
    except (AttributeError, u.UnitsError):
        return False
    powers = dict(zip(decomposed.bases, decomposed.powers))
    return powers.get(u.rad, 0) <= -2 or powers.get(u.beam, 0) <= -1


def _check_image_array(arr, name, allow_batch, *, stack_hint=False,
                       min_size=2):
    ndims = (2, 3) if allow_batch else (2,)
    if arr.ndim not in ndims:
        what = ('a 2D image or a 3D stack (N, ny, nx)' if allow_batch
                else 'a 2D image')
        msg = f'{name} must be {what}, got {arr.ndim} dimension(s)'
        if stack_hint and arr.ndim == 3:
            msg += ('. A 3D stack (N, ny, nx) is accepted as a numpy array '
                    'or a Quantity (or give a list of 2D NDData images); '
                    'an NDData/CCDData holds one 2D image')
        raise ValueError(msg)
    if arr.size == 0 or min(arr.shape[-2:]) < min_size:
        msg = (f'{name} must have at least {min_size} pixels along each '
               f'axis, got shape {arr.shape}')
        if min_size == MIN_IMAGE_SIZE:
            msg += (f' ({MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} is the smallest '
                    'image any deconvolver takes)')
        raise ValueError(msg)


def _check_uncertainty_sign(uncertainty, name):
    """Refuse negative values, which represent_as would turn into abs()."""
    try:
        values = np.asarray(uncertainty.array)
    except (TypeError, ValueError):  # checked on conversion
        return
    if values.dtype.kind not in 'biuf':
        return
    with np.errstate(invalid='ignore'):
        negative = bool(np.any(values < 0))
    if negative:
        what = {'StdDevUncertainty': 'a 1-sigma error',
                'VarianceUncertainty': 'a variance',
                'InverseVariance': 'an inverse variance'}.get(
                    type(uncertainty).__name__, 'an uncertainty')
        msg = (f'{name} must be non-negative ({what}), got a '
               f'{type(uncertainty).__name__} with negative values '
               f'(minimum {np.nanmin(values):.4g})')
        raise ValueError(msg)


def _error_to_std(error, data_unit, name, shape):
    """Convert an error/uncertainty to a 1-sigma array in the data unit."""
    unc_class = None
    if isinstance(error, NDUncertainty):
        unc_class = type(error)
        _check_uncertainty_sign(error, name)
        try:
            std = error.represent_as(StdDevUncertainty)
        except (TypeError, AttributeError, ValueError,
                NotImplementedError) as exc:
            msg = (f'{name} of type {type(error).__name__} cannot be '
                   'converted to a standard deviation; use '
                   'StdDevUncertainty, VarianceUncertainty or '
                   f'InverseVariance ({exc})')
            raise TypeError(msg) from None
        unit = std.unit
        values = np.asarray(std.array, dtype=float)
        if unit is not None:
            values = u.Quantity(values, unit)
    else:
        values = error
    if isinstance(values, u.Quantity):
        if data_unit is None:
            msg = (f'{name} has unit {values.unit!r} but the data have no '
                   'unit; give both or neither a unit')
            raise u.UnitsError(msg)
        try:
            values = values.to_value(data_unit)
        except u.UnitConversionError:
            msg = (f'{name} must have units compatible with the data unit '
                   f'{data_unit!r}, got {values.unit!r}')
            raise u.UnitsError(msg) from None
    values = _to_float_array(values, name)
    if values.ndim == 0:
        values = np.full(shape, float(values))
    if values.shape != shape:
        msg = (f'{name} must have the same shape as the data {shape}, got '
               f'{values.shape}')
        raise ValueError(msg)
    if np.any(values[np.isfinite(values)] < 0):
        msg = f'{name} must be non-negative (a 1-sigma error)'
        raise ValueError(msg)
    return values, unc_class


def _is_region(obj):
    """Whether ``obj`` is a `regions` region or list (without importing)."""
    return type(obj).__module__.split('.')[0] == 'regions'


def _mask_from_regions(mask, shape, wcs, name='mask'):
    """
    Rasterize a `regions` pixel or sky region (or a `~regions.Regions`
    list) into a boolean mask: True for pixels whose centre is inside.
    """
    from regions import PixelRegion, Regions, SkyRegion

    items = list(mask) if isinstance(mask, Regions) else [mask]
    out = np.zeros(shape[-2:], dtype=bool)
    for index, region in enumerate(items):
        label = name if len(items) == 1 else f'{name}[{index}]'
        if isinstance(region, SkyRegion):
            if wcs is None:
                msg = (f'{label} is a sky region ({type(region).__name__}) '
                       'but the data have no WCS to place it. Give a pixel '
                       'region, or the data as NDData/CCDData with a '
                       'celestial WCS.')
                raise ValueError(msg)
            try:
                region = region.to_pixel(wcs)
            except Exception as exc:  # WCS errors come in many types
                msg = (f'{label} cannot be converted to pixels with the '
                       f'WCS of the data: {exc}')
                raise ValueError(msg) from exc
        elif not isinstance(region, PixelRegion):
            msg = (f'{label} must be a pixel or sky region, got '
                   f'{type(region).__name__}')
            raise TypeError(msg)
        image = region.to_mask(mode='center').to_image(shape[-2:])
        if image is not None:  # None: no overlap with the image
            out |= image.astype(bool)
    return np.broadcast_to(out, shape).copy()


def _check_mask(mask, shape, name='mask', wcs=None):
    if _is_region(mask):
        return _mask_from_regions(mask, shape, wcs, name=name)
    arr = np.asarray(mask)
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number):
            msg = f'{name} must be a boolean array, got dtype {arr.dtype}'
            raise TypeError(msg)
        arr = arr != 0
    if arr.shape != shape:
        msg = (f'{name} must have the same shape as the data {shape}, got '
               f'{arr.shape}')
        raise ValueError(msg)
    return arr


def missing_psf_error(name='psf'):
    """
    The error for a missing PSF: one type and one message in every mode.

    Raised by `astrodeconv.psf.resolve_psf` for ``psf=None`` and by
    `parse_image_input` with ``require_psf``; a ValueError, as for any
    other unusable PSF value.
    """
    msg = (f'{name} must be given: a 2D array, a dimensionless Quantity, '
           'an NDData/CCDData or a photutils ImagePSF (as psf=, or as the '
           'psf attribute of NDData data), got None')
    return ValueError(msg)


#: Fraction of non-finite pixels from which an image draws a warning.
MOSTLY_NONFINITE = 0.9


def _check_planes(bad, name, what):
    """
    Raise if an image (or one image of a stack) is entirely ``bad``.

    The message is ``f'{name} {what}'``, with the index of the image
    (``name[i]``) for a 3D stack.
    """
    if bad.ndim == 2:
        if bad.all():
            msg = f'{name} {what}'
            raise ValueError(msg)
        return
    full = np.flatnonzero(bad.reshape(bad.shape[0], -1).all(axis=1))
    if full.size:
        index = int(full[0])
        msg = (f'{name}[{index}] {what} (image {index} of the stack of '
               f'{bad.shape[0]})')
        raise ValueError(msg)


def _warn_mostly_nonfinite(nonfinite, name):
    fractions = nonfinite.reshape(-1, *nonfinite.shape[-2:]).mean(
        axis=(-2, -1))
    worst = int(np.argmax(fractions))
    if fractions[worst] >= MOSTLY_NONFINITE:
        label = name if nonfinite.ndim == 2 else f'{name}[{worst}]'
        warnings.warn(f'{label} has {100 * fractions[worst]:.0f}% '
                      'non-finite (NaN/inf) pixels; they are masked and '
                      'filled from their neighbours, so most of the result '
                      'is interpolated. Check the input (or crop it to '
                      'the valid region).', AstrodeconvWarning,
                      stacklevel=4)


def _split_masked(data, mask, name):
    """
    The values and the mask of a masked array, or ``(data, None)``.

    A `numpy.ma.MaskedArray` or an astropy ``Masked`` array (or Quantity)
    gives its unmasked values (a plain array or Quantity) and its mask,
    which joins the combined mask as an NDData mask does: combined with
    ``mask=`` it is a ValueError.
    """
    if isinstance(data, np.ma.MaskedArray):
        values = np.ma.getdata(data)
        own = (None if data.mask is np.ma.nomask
               else np.ma.getmaskarray(data))
    elif type(data).__module__.startswith('astropy.utils.masked'):
        values = data.unmasked
        own = np.asarray(data.mask, dtype=bool)
    else:
        return data, None
    if own is not None and mask is not None:
        msg = (f'mask was given but {name} is a masked array with its own '
               f'mask; combine them into the mask of {name} instead of '
               'passing mask=')
        raise ValueError(msg)
    return values, own


def parse_image_input(data, *, psf=None, mask=None, error=None, name='data',
                      allow_batch=False, require_psf=False, dtype=float,
                      min_size=2):
    """
    Unpack any supported image input into an `ImageInput`.

    Parameters
    ----------
    data : ndarray, Quantity or NDData
        The image. With ``allow_batch`` a 3D array/Quantity is a stack.
        A masked array (`numpy.ma.MaskedArray`, or astropy's ``Masked``
        array or Quantity) is its unmasked values, an ndarray (or
        Quantity) with its mask: the mask joins the combined mask as an
        NDData mask does (combined with ``mask=`` it is a ValueError), and
        the result is built as for a plain ndarray (or Quantity).
    psf, mask, error : optional
        Explicit values. Combining one with an NDData that already carries
        that attribute raises a ValueError.
    name : str
        Parameter name used in messages.
    allow_batch : bool
        Accept 3D arrays and Quantities as stacks of images.
    require_psf : bool
        Raise if no PSF is found in ``psf`` or ``data.psf``. The PSF is
        not parsed here: `astrodeconv.psf.resolve_psf` does that.
    dtype : {float, numpy.float32}
        ``numpy.float32`` keeps float32 image data in float32 (for methods
        computing in single precision); anything else becomes float64.
    min_size : int
        The smallest number of pixels along each image axis.
    """
    data, own_mask = _split_masked(data, mask, name)
    if own_mask is not None:
        mask = own_mask
    if isinstance(data, NDData):
        kind = 'nddata'
        cls = type(data)
        if isinstance(data.data, u.Quantity):
            msg = f'{name}.data must be a plain array, got a Quantity'
            raise TypeError(msg)
        unit = data.unit
        arr = _to_float_array(data.data, name, dtype)
        _check_image_array(arr, name, allow_batch=False, stack_hint=True,
                           min_size=min_size)
        for attr, value in (('psf', psf), ('mask', mask),
                            ('uncertainty', error)):
            if value is not None and getattr(data, attr) is not None:
                keyword = 'error' if attr == 'uncertainty' else attr
                msg = (f'{keyword} was given but {name} already has a '
                       f'{attr}; set {name}.{attr} instead of passing '
                       f'{keyword}=')
                raise ValueError(msg)
        psf = psf if psf is not None else data.psf
        mask = mask if mask is not None else data.mask
        error = error if error is not None else data.uncertainty
        wcs, meta = data.wcs, data.meta
    elif isinstance(data, u.Quantity):
        kind, cls, unit = 'quantity', None, data.unit
        arr = _to_float_array(data.value, name, dtype)
        wcs, meta = None, {}
    elif isinstance(data, np.ndarray) or (
            isinstance(data, (list, tuple)) and not allow_batch):
        kind, cls, unit = 'ndarray', None, None
        if isinstance(data, np.ndarray) and data.dtype.kind not in 'biuf':
            msg = (f'{name} must be {_ACCEPTED} of real numbers, got an '
                   f'array of dtype {data.dtype}')
            raise TypeError(msg)
        arr = _to_float_array(data, name, dtype)
        wcs, meta = None, {}
    else:
        msg = f'{name} must be {_ACCEPTED}, got {type(data).__name__}'
        raise TypeError(msg)

    _check_image_array(arr, name, allow_batch, min_size=min_size)
    check_linear_unit(unit, name)
    # fast path: a finite sum means every pixel is finite (a sum that
    # overflows only sends finite data down the elementwise check)
    with np.errstate(over='ignore', invalid='ignore'):
        all_finite = bool(np.isfinite(arr.sum()))
    nonfinite = None if all_finite else ~np.isfinite(arr)
    if nonfinite is not None:
        _check_planes(nonfinite, name, 'must contain finite values, got '
                      'only NaN/inf pixels')
        _warn_mostly_nonfinite(nonfinite, name)
    if mask is not None:
        mask = _check_mask(mask, arr.shape, wcs=wcs)
    err_values, unc_class = (None, None)
    err_name = 'error' if kind != 'nddata' else f'{name}.uncertainty'
    if error is not None:
        err_values, unc_class = _error_to_std(error, unit, err_name,
                                              arr.shape)
    full_mask = combine_masks(arr.shape, mask, nonfinite)
    if err_values is not None:
        bad_error = ~np.isfinite(err_values)
        if bad_error.any():
            _check_planes(bad_error | full_mask, err_name,
                          'must have finite values where the data are '
                          'finite and unmasked, got only NaN/inf values '
                          'there. Give a finite error, or no error')
            full_mask |= bad_error
    if mask is not None:
        _check_planes(full_mask, name, 'must have unmasked pixels, got all '
                      'pixels masked')
    if require_psf and psf is None:
        raise missing_psf_error()
    return ImageInput(data=arr, mask=full_mask, unit=unit, error=err_values,
                      wcs=wcs, meta=meta, psf=psf, kind=kind,
                      nddata_class=cls, uncertainty_class=unc_class)


def parse_images(data, *, psf=None, mask=None, error=None, name='data',
                 require_psf=False, dtype=float):
    """
    Parse one image, a 3D stack or a list of images: the deconvolvers'
    entry.

    Every image must have at least `MIN_IMAGE_SIZE` pixels along each
    axis, whatever the method, so that every deconvolver refuses a small
    image with the same message. Each item's ``result_dtype`` is float32
    when ``dtype`` is ``numpy.float32`` (a deconvolver computing in single
    precision by request), float64 otherwise: `build_output` gives the
    result that dtype whatever the precision of the computation.

    Returns
    -------
    items : list of ImageInput
        One item for a single image or 3D stack, one per element of a
        list.
    is_list : bool
        True when ``data`` was a list or tuple.
    """
    if isinstance(data, (list, tuple)):
        if len(data) == 0:
            msg = f'{name} must not be an empty list'
            raise ValueError(msg)
        if mask is not None or error is not None:
            msg = ('mask and error cannot be combined with a list of images;'
                   ' attach them to each NDData instead')
            raise ValueError(msg)
        items = [parse_image_input(d, psf=psf if psf is not None
                                   and not (isinstance(d, NDData)
                                            and d.psf is not None) else None,
                                   name=f'{name}[{i}]',
                                   require_psf=require_psf, dtype=dtype,
                                   min_size=MIN_IMAGE_SIZE)
                 for i, d in enumerate(data)]
    else:
        items = [parse_image_input(data, psf=psf, mask=mask, error=error,
                                   name=name, allow_batch=True,
                                   require_psf=require_psf, dtype=dtype,
                                   min_size=MIN_IMAGE_SIZE)]
    result_dtype = np.dtype(np.float32 if dtype == np.float32
                            else np.float64)
    for item in items:
        item.result_dtype = result_dtype
    return items, isinstance(data, (list, tuple))


def _at_least(values, dtype):
    """Float ``values`` in at least the precision of ``dtype``."""
    if (dtype is None or not isinstance(values, np.ndarray)
            or values.dtype.kind != 'f'):
        return values
    return values.astype(np.promote_types(values.dtype, dtype), copy=False)


def build_output(parsed, image, *, error=None, mask=None, wcs='same',
                 meta=None, psf=None, unit='same'):
    """
    Wrap a result array in the kind of the parsed input.

    Parameters
    ----------
    parsed : ImageInput
        The parsed input the result derives from.
    image : ndarray
        The result. A float result of lower precision than
        ``parsed.result_dtype`` is converted to it, so that the output of
        every deconvolver is float64 unless it computes in float32 by
        request, whatever the input's dtype (float64 results are returned
        as they are).
    error : ndarray, optional
        1-sigma uncertainty in the data unit (NDData outputs only; it is
        returned in the input's uncertainty class when that is possible),
        converted as ``image`` is.
    mask : ndarray, optional
        Output mask; default the input mask when the shapes agree.
    wcs : object, optional
        ``'same'`` (default) copies the input WCS, otherwise the given
        object (or None) is used.
    meta : mapping, optional
        Output meta; default a copy of the input meta.
    psf : ndarray, optional
        Effective PSF attached to NDData outputs.
    unit : optional
        ``'same'`` keeps the input unit.
    """
    unit = parsed.unit if unit == 'same' else unit
    image = _at_least(image, parsed.result_dtype)
    error = _at_least(error, parsed.result_dtype)
    if parsed.kind == 'ndarray':
        return image
    if parsed.kind == 'quantity':
        return u.Quantity(image, unit, copy=False)
    if mask is None and parsed.mask.shape == image.shape:
        mask = parsed.mask.copy()
    out_wcs = copy.deepcopy(parsed.wcs) if wcs == 'same' else wcs
    out_meta = copy.deepcopy(parsed.meta) if meta is None else meta
    uncertainty = None
    if error is not None:
        uncertainty = StdDevUncertainty(error, unit=unit)
        target = parsed.uncertainty_class
        if target is not None and target is not StdDevUncertainty:
            try:
                uncertainty = uncertainty.represent_as(target)
            except (TypeError, ValueError, NotImplementedError):
                pass
    cls = parsed.nddata_class
    kwargs = dict(unit=unit, mask=mask, wcs=out_wcs, meta=out_meta,
                  uncertainty=uncertainty, psf=psf)
    try:
        return cls(image, **kwargs)
    except TypeError:
        # Subclasses with a restricted signature: fall back to NDData's
        # attributes set after construction.
        kwargs.pop('psf')
        out = cls(image, **kwargs)
        out.psf = psf
        return out


def with_data(parsed, **changes):
    """Return a copy of ``parsed`` with some fields replaced."""
    return replace(parsed, **changes)
