# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The NDData boundary: one parser for every image input, one output builder.

Every public entry point calls `parse_image_input` (or `parse_images`) first
and `build_output` last, so that ndarray, Quantity and NDData inputs behave
identically and each comes back as the kind it went in as.
"""

import copy
from dataclasses import dataclass, field, replace

import numpy as np
from astropy import units as u
from astropy.nddata import (NDData, NDUncertainty, StdDevUncertainty)

from ..psf.core import validate_psf
from ._masking import combine_masks

__all__ = []

_ACCEPTED = ('a 2D numpy array, an astropy Quantity, or an NDData/CCDData '
             'instance')


@dataclass
class ImageInput:
    """Plain-array view of one image (or a 3D batch of arrays)."""

    data: np.ndarray
    mask: np.ndarray
    unit: object = None
    error: np.ndarray = None
    wcs: object = None
    meta: object = field(default_factory=dict)
    psf: np.ndarray = None
    kind: str = 'ndarray'
    nddata_class: type = None
    uncertainty_class: type = None

    @property
    def is_batch(self):
        """True when ``data`` holds a stack of images ``(N, ny, nx)``."""
        return self.data.ndim == 3


def _to_float_array(values, name, dtype=float):
    """``values`` as a float64 array, or float32 kept when ``dtype`` says."""
    if dtype == np.float32 and getattr(values, 'dtype', None) == np.float32:
        return np.asarray(values)
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        msg = (f'{name} must contain real numbers, got '
               f'{type(values).__name__}')
        raise TypeError(msg) from None
    return arr


def _check_image_array(arr, name, allow_batch):
    ndims = (2, 3) if allow_batch else (2,)
    if arr.ndim not in ndims:
        what = ('a 2D image or a 3D stack (N, ny, nx)' if allow_batch
                else 'a 2D image')
        msg = f'{name} must be {what}, got {arr.ndim} dimension(s)'
        raise ValueError(msg)
    if arr.size == 0 or min(arr.shape[-2:]) < 2:
        msg = (f'{name} must have at least 2 pixels along each axis, got '
               f'shape {arr.shape}')
        raise ValueError(msg)


def _error_to_std(error, data_unit, name, shape):
    """Convert an error/uncertainty to a 1-sigma array in the data unit."""
    unc_class = None
    if isinstance(error, NDUncertainty):
        unc_class = type(error)
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


def _check_mask(mask, shape, name='mask'):
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


def _psf_from_argument(psf, shape, name='psf'):
    if psf is None:
        return None
    if isinstance(psf, NDData):
        psf = psf.data
    arr = np.asarray(psf.value if isinstance(psf, u.Quantity) else psf)
    if len(shape) == 3 and arr.ndim == 3:
        if arr.shape[0] != shape[0]:
            msg = (f'{name} must be 2D or hold one PSF per image ({shape[0]}),'
                   f' got {arr.shape[0]} PSFs')
            raise ValueError(msg)
        return np.stack([validate_psf(p, name=f'{name}[{i}]')
                         for i, p in enumerate(arr)])
    return validate_psf(psf, name=name)


def parse_image_input(data, *, psf=None, mask=None, error=None, name='data',
                      allow_batch=False, require_psf=False, dtype=float):
    """
    Unpack any supported image input into an `ImageInput`.

    Parameters
    ----------
    data : ndarray, Quantity or NDData
        The image. With ``allow_batch`` a 3D array/Quantity is a stack.
    psf, mask, error : optional
        Explicit values. Combining one with an NDData that already carries
        that attribute raises a ValueError.
    name : str
        Parameter name used in messages.
    allow_batch : bool
        Accept 3D arrays and Quantities as stacks of images.
    require_psf : bool
        Raise if no PSF is found in ``psf`` or ``data.psf``.
    dtype : {float, numpy.float32}
        ``numpy.float32`` keeps float32 image data in float32 (for methods
        computing in single precision); anything else becomes float64.
    """
    if isinstance(data, NDData):
        kind = 'nddata'
        cls = type(data)
        if isinstance(data.data, u.Quantity):
            msg = f'{name}.data must be a plain array, got a Quantity'
            raise TypeError(msg)
        unit = data.unit
        arr = _to_float_array(data.data, name, dtype)
        _check_image_array(arr, name, allow_batch=False)
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

    _check_image_array(arr, name, allow_batch)
    # fast path: a finite sum means every pixel is finite (a sum that
    # overflows only sends finite data down the elementwise check)
    with np.errstate(over='ignore', invalid='ignore'):
        all_finite = bool(np.isfinite(arr.sum()))
    nonfinite = None if all_finite else ~np.isfinite(arr)
    if nonfinite is not None and nonfinite.all():
        msg = f'{name} must contain finite values, got only NaN/inf pixels'
        raise ValueError(msg)
    if mask is not None:
        mask = _check_mask(mask, arr.shape)
    err_values, unc_class = (None, None)
    if error is not None:
        err_values, unc_class = _error_to_std(error, unit, 'error' if
                                              kind != 'nddata' else
                                              f'{name}.uncertainty',
                                              arr.shape)
    full_mask = combine_masks(arr.shape, mask, nonfinite)
    if err_values is not None:
        full_mask |= ~np.isfinite(err_values)
    if mask is not None and full_mask.all():
        msg = f'{name} must have unmasked pixels, got all pixels masked'
        raise ValueError(msg)
    psf_arr = _psf_from_argument(psf, arr.shape)
    if require_psf and psf_arr is None:
        msg = (f'psf must be given, either as psf= or as {name}.psf, got '
               'neither')
        raise ValueError(msg)
    return ImageInput(data=arr, mask=full_mask, unit=unit, error=err_values,
                      wcs=wcs, meta=meta, psf=psf_arr, kind=kind,
                      nddata_class=cls, uncertainty_class=unc_class)


def parse_images(data, *, psf=None, mask=None, error=None, name='data',
                 require_psf=False, dtype=float):
    """
    Parse one image, a 3D stack or a list of images.

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
                                   require_psf=require_psf, dtype=dtype)
                 for i, d in enumerate(data)]
        return items, True
    item = parse_image_input(data, psf=psf, mask=mask, error=error,
                             name=name, allow_batch=True,
                             require_psf=require_psf, dtype=dtype)
    return [item], False


def build_output(parsed, image, *, error=None, mask=None, wcs='same',
                 meta=None, psf=None, unit='same'):
    """
    Wrap a result array in the kind of the parsed input.

    Parameters
    ----------
    parsed : ImageInput
        The parsed input the result derives from.
    image : ndarray
        The result, float64.
    error : ndarray, optional
        1-sigma uncertainty in the data unit (NDData outputs only; it is
        returned in the input's uncertainty class when that is possible).
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
