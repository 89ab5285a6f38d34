# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The one door every ``psf=`` goes through.

`resolve_psf` turns whatever a user passes as a PSF (an array, a
dimensionless Quantity, an NDData/CCDData with a celestial WCS or a pixel
scale in its meta, a photutils `~photutils.psf.ImagePSF`) into a validated
float array on the output grid of a deconvolution, and records what it did
in a `ResolvedPSF`: where the pixel scale came from, the resampling
factor, the centre convention it was read in, the centroid offset found,
whether the PSF was recentred and, when an output resolution was asked
for with ``target_psf=``, the target and the narrow PSF built from it.
Every deconvolver, the multi-band solver, the catalogue and mosaic modes
and `~astrodeconv.operators.ForwardModel` call it; the record feeds
their warnings and the provenance keywords of their outputs.
"""

import math
import numbers
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from astropy import units as u
from astropy.nddata import NDData

from ..utils._nddata import missing_psf_error
from ..utils.exceptions import AstrodeconvWarning
from . import _sampling
from .core import psf_center as _package_center
from .core import _SUM_RTOL, crop_psf, validate_psf
from .target import make_narrow_psf, target_psf_from_fwhm

__all__ = ['resolve_psf', 'ResolvedPSF', 'emit_psf_warnings', 'PSF_CENTERS',
           'FAR_OFF_PIXELS']

#: Centre conventions `resolve_psf` reads, by name: where each puts the
#: centre of an axis of ``n`` pixels (0-indexed). They agree for odd ``n``.
PSF_CENTERS = {
    'astrodeconv': 'n // 2',
    'scipy': '(n - 1) // 2',
    'photutils': '(n - 1) / 2',
}

#: Centroid offset (output pixels, distance) from which a PSF used as given
#: draws a warning and the ``PSFOFFY``/``PSFOFFX`` keywords. Half a pixel:
#: a PSF given in another even-size convention is off by 0.71 (photutils)
#: or 1.41 (scipy) pixels, above it; analytic, resampled and EPSFBuilder
#: PSFs are within 0.1 pixel, well below it.
FAR_OFF_PIXELS = 0.5


@dataclass(frozen=True)
class ResolvedPSF:
    """
    A PSF on the output grid, and what `resolve_psf` did to put it there.

    A `ResolvedPSF` given as ``psf=`` to a deconvolver (or to
    `resolve_psf`) is used as it is, without a second parse: the catalogue
    and mosaic modes resolve their PSF once and hand the record to every
    cutout or tile.

    Attributes
    ----------
    array : `~numpy.ndarray`
        The PSF, float64, ``(py, px)`` or a stack ``(N, py, px)``, of unit
        sum (unless resolved with ``normalize=False``), its centre on pixel
        ``(py // 2, px // 2)``.
    upsample : int
        The super-resolution factor of the output grid it was resolved for.
    sampling_source : str
        Where its pixel scale came from (e.g. ``'its WCS'``), or ``''``
        when nothing gave one and it was assumed to be on the output grid.
    scale : float or None
        The pixel scale of the PSF as given, in arcsec, when it carried
        one (an NDData's WCS or meta), else None.
    factor : float or None
        The resampling factor applied (old / new pixel size), or None.
    center_shift : tuple of 2 float
        The ``(dy, dx)`` shift (pixels of the PSF as given) that moved the
        centre of its convention (``psf_center=`` or an ImagePSF's
        ``origin``) onto ``(py // 2, px // 2)``.
    offset : tuple of 2 float or None
        The ``(dy, dx)`` centroid offset from the centre pixel, in output
        pixels, of the PSF as given (the largest of a stack), before any
        recentring; None when not measured (``normalize=False``).
    recentered : bool
        Whether the PSF was moved onto its centroid (``recenter=True``).
    shift : tuple of 2 float or None
        The offset removed by the recentring, or None.
    messages : tuple of str
        The warnings of this resolution (resampling, plausibility,
        centring), emitted by `resolve_psf` unless ``warn=False``.
    center_message : str or None
        The one of `messages` about the centre (recentred, or used as
        given far off-centre), for callers that report it once per call.
    target : `~numpy.ndarray` or None
        The output resolution asked for with ``target_psf=``, on the
        output grid, centred and of unit sum; None without one. `array`
        is then the narrow PSF built from it
        (`~astrodeconv.psf.make_narrow_psf`).
    full_psf : `~numpy.ndarray` or None
        With a target, the PSF itself on the output grid (what `array`
        would be without the target); None without one.
    target_kind : str or None
        How the target was given: ``'gaussian'`` (a FWHM), ``'array'``,
        ``'nddata'``, ``'imagepsf'`` or ``'model'``.
    target_fwhm : float or None
        The FWHM of the target in output pixels (given, or measured;
        None when it cannot be measured).
    target_fwhm_arcsec : float or None
        The same in arcsec, when the output pixel scale is known.
    output_scale : float or None
        The output pixel scale in arcsec (the data pixel scale divided by
        ``upsample``), when a target was resolved and it is known.
    """

    array: np.ndarray
    upsample: int = 1
    sampling_source: str = ''
    scale: float = None
    factor: float = None
    center_shift: tuple = (0.0, 0.0)
    offset: tuple = None
    recentered: bool = False
    shift: tuple = None
    messages: tuple = field(default=())
    center_message: str = None
    target: np.ndarray = None
    full_psf: np.ndarray = None
    target_kind: str = None
    target_fwhm: float = None
    target_fwhm_arcsec: float = None
    output_scale: float = None

    @property
    def shape(self):
        """The shape of `array`."""
        return self.array.shape

    @property
    def far_off(self):
        """True when the PSF was used as given `FAR_OFF_PIXELS` off-centre."""
        return (not self.recentered and self.offset is not None
                and math.hypot(*self.offset) > FAR_OFF_PIXELS)

    def cards(self):
        """
        FITS-safe provenance keywords of this resolution.

        ``DCNVPSFY``/``DCNVPSFX``: the offset removed by recentring;
        ``PSFOFFY``/``PSFOFFX``: the centroid offset of a PSF used as given
        more than `FAR_OFF_PIXELS` off-centre; both in output pixels. With
        a target resolution: ``DCNVTGT``, how it was given (`target_kind`),
        ``DCNVTFW``, its FWHM in arcsec (when the output pixel scale is
        known) and ``DCNVTFWP``, its FWHM in output pixels (when it could
        be measured).

        Returns
        -------
        cards : dict
        """
        cards = {}
        if self.recentered and self.shift is not None:
            cards = {'DCNVPSFY': round(self.shift[0], 4),
                     'DCNVPSFX': round(self.shift[1], 4)}
        elif self.far_off:
            cards = {'PSFOFFY': round(float(self.offset[0]), 4),
                     'PSFOFFX': round(float(self.offset[1]), 4)}
        if self.target is not None:
            cards['DCNVTGT'] = self.target_kind
            if self.target_fwhm_arcsec is not None:
                cards['DCNVTFW'] = round(float(self.target_fwhm_arcsec), 5)
            if self.target_fwhm is not None:
                cards['DCNVTFWP'] = round(float(self.target_fwhm), 4)
        return cards

    def emit_warnings(self, stacklevel=2):
        """Emit `messages` as `~astrodeconv.utils.AstrodeconvWarning`."""
        for message in self.messages:
            warnings.warn(message, AstrodeconvWarning,
                          stacklevel=stacklevel + 1)


def emit_psf_warnings(records, *, stacklevel=2):
    """
    Report the warnings of several resolutions of one call, once each.

    A resampling or plausibility message shared by several records is
    emitted once, with the number of images; of the centring messages only
    the one with the largest offset is emitted.

    Parameters
    ----------
    records : list of `ResolvedPSF`
        The PSFs of one call (resolved with ``warn=False``).
    stacklevel : int, optional
        As for ``warnings.warn``, counted from the caller.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.psf import emit_psf_warnings, resolve_psf
    >>> psf = np.zeros((9, 9)); psf[4, 5] = 1.0
    >>> records = [resolve_psf(psf, warn=False) for _ in range(3)]
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter('always')
    ...     emit_psf_warnings(records)
    >>> len(caught)
    1
    """
    counts = {}
    center = None
    for record in records:
        for message in record.messages:
            if message != record.center_message:
                counts[message] = counts.get(message, 0) + 1
        if record.center_message is not None:
            size = math.hypot(*(record.shift if record.recentered
                                else record.offset))
            if center is None or size > center[0]:
                center = (size, record.center_message)
    for message, count in counts.items():
        if count > 1 and len(records) > 1:
            message += f' ({count} images)'
        warnings.warn(message, AstrodeconvWarning,
                      stacklevel=stacklevel + 1)
    if center is not None:
        warnings.warn(center[1], AstrodeconvWarning,
                      stacklevel=stacklevel + 1)


def _real_array(psf, name, allow_stack):
    """``psf`` as a float64 array of 2 (or 3) dimensions, finite."""
    kind = getattr(psf, 'dtype', None)
    if kind is not None and kind.kind not in 'biuf':
        msg = (f'{name} must be a 2D array of real numbers, got an array of '
               f'dtype {kind}')
        raise TypeError(msg)
    try:
        arr = np.asarray(psf, dtype=float)
    except (TypeError, ValueError):
        msg = (f'{name} must be a 2D array of real numbers, got '
               f'{type(psf).__name__}')
        raise TypeError(msg) from None
    dims = (2, 3) if allow_stack else (2,)
    if arr.ndim not in dims:
        what = ('a 2D array or a 3D stack (N, py, px)' if allow_stack
                else 'a 2D array')
        msg = f'{name} must be {what}, got {arr.ndim} dimension(s)'
        raise ValueError(msg)
    return arr


def _unpack(psf, name):
    """The array-like inside ``psf``, its sampling and its centre shift."""
    if _sampling._is_image_psf(psf):
        origin = np.asarray(psf.origin, dtype=float)[::-1]
        arr, sampling = _sampling.unpack_psf(psf, name)
        shift = tuple(float(c - o) for c, o in zip(
            _package_center(arr.shape), origin))
        return arr, sampling, shift
    if isinstance(psf, NDData):
        data, sampling = _sampling.unpack_psf(psf, name)
        if isinstance(data, u.Quantity):
            msg = f'{name}.data must be a plain array, got a Quantity'
            raise TypeError(msg)
        return data, sampling, None
    if isinstance(psf, u.Quantity):
        if psf.unit.physical_type != 'dimensionless':
            msg = (f'{name} must be dimensionless, got a Quantity with unit '
                   f'{psf.unit!r}')
            raise u.UnitsError(msg)
        return psf.to_value(u.dimensionless_unscaled), None, None
    return psf, None, None


def _convention_shift(shape, psf_center, name):
    """The ``(dy, dx)`` moving the centre of ``psf_center`` to ``n // 2``."""
    if psf_center is None or (isinstance(psf_center, str)
                              and psf_center == 'astrodeconv'):
        return (0.0, 0.0)
    if isinstance(psf_center, str):
        if psf_center == 'scipy':
            return tuple(float(n // 2 - (n - 1) // 2) for n in shape)
        if psf_center == 'photutils':
            return tuple(n // 2 - (n - 1) / 2 for n in shape)
        valid = ', '.join(repr(c) for c in PSF_CENTERS)
        msg = (f'psf_center must be one of {valid} or a (y, x) pixel '
               f'position, got {psf_center!r}')
        raise ValueError(msg)
    try:
        position = tuple(float(v) for v in psf_center)
    except (TypeError, ValueError):
        position = ()
    if len(position) != 2 or not all(math.isfinite(v) for v in position) \
            or isinstance(psf_center, (str, bytes)) or any(
                isinstance(v, bool) for v in psf_center):
        valid = ', '.join(repr(c) for c in PSF_CENTERS)
        msg = (f'psf_center must be one of {valid} or a (y, x) pixel '
               f'position, got {psf_center!r}')
        raise (TypeError if not position else ValueError)(msg)
    for axis, (value, n) in enumerate(zip(position, shape)):
        if not -0.5 <= value <= n - 0.5:
            msg = (f'psf_center must lie inside the PSF of shape {shape}, '
                   f'got {position} (axis {axis} runs from -0.5 to '
                   f'{n - 0.5})')
            raise ValueError(msg)
    return tuple(float(n // 2 - v) for n, v in zip(shape, position))


def _shift(arr, shift):
    """Move a PSF by ``(dy, dx)``: an exact roll for whole pixels."""
    if shift[0] == int(shift[0]) and shift[1] == int(shift[1]):
        return np.roll(arr, (int(shift[0]), int(shift[1])), axis=(0, 1))
    from .measure import _fourier_shift

    out = _fourier_shift(arr, shift)
    return out / out.sum()


def _image_scale_arcsec(image_scale):
    """The data pixel scale in arcsec from a number, Quantity or WCS."""
    if image_scale is None:
        return None
    if isinstance(image_scale, numbers.Real) and not isinstance(
            image_scale, bool):
        value = float(image_scale)
    elif isinstance(image_scale, u.Quantity):
        value = _sampling._angle_arcsec(image_scale)
        if value is None:
            msg = ('image_scale must be an angle (per pixel), got a '
                   f'Quantity with unit {image_scale.unit!r}')
            raise u.UnitsError(msg)
    else:
        from astropy.wcs.wcsapi import BaseHighLevelWCS, BaseLowLevelWCS

        from .for_image import image_pixel_scale

        try:
            if not isinstance(image_scale, (NDData, BaseHighLevelWCS,
                                            BaseLowLevelWCS)):
                raise TypeError
            scale = image_pixel_scale(image_scale)
        except TypeError:
            msg = ('image_scale must be a pixel scale (arcsec, or an angle '
                   'Quantity), a celestial WCS or an NDData with one, got '
                   f'{type(image_scale).__name__}')
            raise TypeError(msg) from None
        return None if scale is None else float(scale.to_value(u.arcsec))
    if not (math.isfinite(value) and value > 0):
        msg = f'image_scale must be positive and finite, got {image_scale!r}'
        raise ValueError(msg)
    return value


def _check_count(arr, shape, name):
    """A stack must hold one PSF per image of a 3D ``shape``."""
    if arr.ndim == 3 and shape is not None and len(shape) == 3 \
            and arr.shape[0] != shape[0]:
        msg = (f'{name} must be 2D or hold one PSF per image ({shape[0]}),'
               f' got {arr.shape[0]} PSFs')
        raise ValueError(msg)


def _validate(arr, name, messages, far_off=True):
    """Validate and normalise each plane; refuse far-off centroids."""
    stack = arr.reshape((-1,) + arr.shape[-2:])
    planes = []
    for i, plane in enumerate(stack):
        label = name if arr.ndim == 2 else f'{name}[{i}]'
        total = plane.sum()
        plane = validate_psf(plane, name=label, check_center=False,
                             warn=False)
        if abs(total - 1) > _SUM_RTOL:
            messages.append(f'{label} sum is {total:.6g}, not 1; the PSF '
                            'was normalised to unit sum')
        if far_off:
            _sampling.check_far_off(plane, label)
        planes.append(plane)
    return planes[0] if arr.ndim == 2 else np.stack(planes)


def _recenter_message(shift):
    return (f'psf centroid is ({shift[0]:+.3f}, {shift[1]:+.3f}) output '
            'pixels (y, x) from the centre pixel (ny // 2, nx // 2); the '
            'PSF was recentred with a flux-conserving Fourier shift '
            '(recorded as DCNVPSFY/DCNVPSFX in NDData outputs). Pass '
            'recenter=False to use it as given, or recentre it yourself '
            'with astrodeconv.psf.recenter_psf.')


def _far_off_message(offset, name):
    distance = math.hypot(*offset)
    return (f'{name} centroid is ({offset[0]:+.3f}, {offset[1]:+.3f}) '
            f'output pixels (y, x), {distance:.2f} pixels from the centre '
            'pixel (ny // 2, nx // 2); it was used as given, which keeps '
            'the registration it carries (the result is shifted by minus '
            'this offset), and recorded as PSFOFFY/PSFOFFX. If the offset '
            'is not part of the blur, pass recenter=True (or recentre it '
            'with astrodeconv.psf.recenter_psf); if the PSF follows another '
            "centre convention, say so with psf_center='scipy' or "
            "'photutils'.")


def _centre(arr, recenter):
    """Measure the centroid offset and recentre when asked."""
    from .measure import recenter_psf

    stack = arr.reshape((-1,) + arr.shape[-2:])
    offsets = _sampling.center_offsets(stack)
    distance = np.hypot(offsets[:, 0], offsets[:, 1])
    worst = int(np.argmax(distance))
    offset = (float(offsets[worst, 0]), float(offsets[worst, 1]))
    if not recenter or distance[worst] <= _sampling.RECENTER_TOL:
        return arr, offset, None
    stack = stack.copy()
    shift = None
    for i in np.flatnonzero(distance > _sampling.RECENTER_TOL):
        stack[i], removed = recenter_psf(stack[i], return_shift=True)
        if i == worst:
            shift = removed
    return stack.reshape(arr.shape), offset, shift


# -- the output resolution (target_psf=) -----------------------------------

#: What ``target_psf=`` accepts, for messages.
_TARGET_KINDS = ('a FWHM Quantity (an angle such as 0.2 * u.arcsec, or '
                 'output pixels such as 2.0 * u.pix), a 2D array, an NDData '
                 'or a photutils/astropy model sampled on the output grid')


def _odd_shape(shape):
    """``shape`` (the last two axes) with each side made odd."""
    return tuple(int(n) | 1 for n in tuple(shape)[-2:])


def _target_fwhm_pixels(fwhm, output_scale, name):
    """A FWHM Quantity in output pixels; refused without a pixel scale."""
    if fwhm.unit.is_equivalent(u.pix):
        value = float(fwhm.to_value(u.pix))
    elif fwhm.unit.physical_type == 'angle':
        if output_scale is None:
            msg = (f'{name} is a FWHM of {fwhm}, an angle, but the pixel '
                   'scale of the output grid is unknown (the data carry no '
                   'celestial WCS and no image_scale was given): give the '
                   'data a celestial WCS, or give the FWHM in output pixels '
                   '(e.g. 2.0 * u.pix), or give the target as an array '
                   'sampled on the output grid')
            raise ValueError(msg)
        value = float(fwhm.to_value(u.arcsec)) / output_scale
    else:
        msg = (f'{name} must be {_TARGET_KINDS}, got a Quantity with unit '
               f'{fwhm.unit!r}')
        raise u.UnitsError(msg)
    if not (math.isfinite(value) and value > 0):
        msg = f'{name} FWHM must be positive and finite, got {fwhm}'
        raise ValueError(msg)
    return value


def _target_model(model, stamp):
    """An astropy/photutils model evaluated on the output grid."""
    from .interop import image_psf_to_array, model_to_psf

    if type(model).__module__.split('.')[0] == 'photutils' and all(
            p in model.param_names for p in ('x_0', 'y_0')):
        # photutils models are sampled at the pixel centres (effective
        # PSFs and pixel-integrated PRFs)
        return image_psf_to_array(model, stamp)
    return model_to_psf(model, stamp)


def _target_array(target_psf, stamp, output_scale, data_scale, upsample,
                  out_shape, name):
    """The target as an array, its kind, given FWHM and sampling message."""
    from astropy.modeling import Model

    if isinstance(target_psf, ResolvedPSF):
        msg = (f'{name} must be {_TARGET_KINDS}, got a ResolvedPSF (the '
               'target is a resolution, not a PSF to resolve)')
        raise TypeError(msg)
    if isinstance(target_psf, u.Quantity) and target_psf.ndim == 0:
        fwhm = _target_fwhm_pixels(target_psf, output_scale, name)
        stamp = tuple(max(n, int(math.ceil(4 * fwhm)) | 1) for n in stamp)
        return target_psf_from_fwhm(fwhm, stamp), 'gaussian', fwhm, None
    if isinstance(target_psf, (bool, numbers.Number, str, bytes)):
        msg = (f'{name} must be {_TARGET_KINDS}, got '
               f'{type(target_psf).__name__} {target_psf!r} (a plain number '
               'has no unit: say 0.2 * u.arcsec or 2.0 * u.pix)')
        raise TypeError(msg)
    if _sampling._is_image_psf(target_psf):
        kind = 'imagepsf'
        arr, sampling = _sampling.unpack_psf(target_psf, name)
    elif isinstance(target_psf, Model):
        if target_psf.n_inputs != 2:
            msg = (f'{name} must be a 2D model, got a model with '
                   f'{target_psf.n_inputs} input(s)')
            raise ValueError(msg)
        return _target_model(target_psf, stamp), 'model', None, None
    else:
        kind = 'nddata' if isinstance(target_psf, NDData) else 'array'
        arr, sampling, _ = _unpack(target_psf, name)
    if sampling is not None and sampling.scale is not None \
            and data_scale is None:
        msg = (f'{name} is sampled at {sampling.scale:.6g} arcsec per pixel '
               f'(from {sampling.source}), but the pixel scale of the '
               'output grid is unknown (the data carry no celestial WCS and '
               'no image_scale was given), so it cannot be put on the '
               'output grid: give the data a celestial WCS, or give the '
               'target as an array sampled on the output grid')
        raise ValueError(msg)
    arr = _real_array(arr, name, allow_stack=False)
    arr = validate_psf(arr, name=name, check_center=False, warn=False)
    _sampling.check_far_off(arr, name)
    arr, message, _ = _sampling.match_psf_sampling(
        arr, sampling, data_scale=data_scale, upsample=upsample,
        out_shape=out_shape if sampling is not None else None, name=name)
    return arr, kind, None, message


def _resolve_target(target_psf, *, stamp, image_scale, upsample, out_shape,
                    name):
    """
    The target resolution on the output grid, centred, of unit sum.

    Returns the array, its kind, its FWHM (output pixels, or None), the
    output pixel scale (arcsec, or None) and the warning of a resampling
    (or None).
    """
    from .measure import recenter_psf

    data_scale = _image_scale_arcsec(image_scale)
    output_scale = None if data_scale is None else data_scale / upsample
    arr, kind, fwhm, message = _target_array(
        target_psf, stamp, output_scale, data_scale, upsample, out_shape,
        name)
    offset = _sampling.center_offsets(arr[None])[0]
    if math.hypot(*offset) > _sampling.RECENTER_TOL:
        # a resolution, not a registration: centred, so that the result
        # is not shifted by the target
        arr = recenter_psf(arr)
    if fwhm is None:
        fwhm = _sampling._fwhm_or_none(arr)
    return arr, kind, fwhm, output_scale, message


def _narrow_stack(arr, target, out_shape, name):
    """`make_narrow_psf` of each plane, within the output grid."""
    planes = arr.reshape((-1,) + arr.shape[-2:])
    narrow = np.stack([make_narrow_psf(plane, target, name=name)
                       for plane in planes])
    if out_shape is not None and (narrow.shape[-2] > out_shape[0]
                                  or narrow.shape[-1] > out_shape[1]):
        # an odd stamp one pixel larger than an even image: its border
        # carries nothing of the narrow PSF
        shape = tuple(min(a, b) for a, b in zip(narrow.shape[-2:],
                                                out_shape))
        narrow = np.stack([crop_psf(plane, shape) for plane in narrow])
        narrow /= narrow.sum(axis=(-2, -1), keepdims=True)
    return narrow[0] if arr.ndim == 2 else narrow


def _apply_target(resolved, target_psf, *, image_scale, shape):
    """``resolved`` with its array replaced by the narrow PSF."""
    out_shape = None if shape is None else tuple(shape)[-2:]
    stamp = _odd_shape(resolved.shape)
    target, kind, fwhm, output_scale, message = _resolve_target(
        target_psf, stamp=stamp, image_scale=image_scale,
        upsample=resolved.upsample, out_shape=out_shape, name='target_psf')
    narrow = _narrow_stack(resolved.array, target, out_shape, 'target_psf')
    messages = resolved.messages + (() if message is None else (message,))
    return replace(
        resolved, array=narrow, full_psf=resolved.array, target=target,
        target_kind=kind, target_fwhm=fwhm,
        target_fwhm_arcsec=(None if fwhm is None or output_scale is None
                            else fwhm * output_scale),
        output_scale=output_scale, messages=messages)


def resolve_psf(psf, *, image_scale=None, upsample=1, shape=None,
                recenter=False, psf_center=None, target_psf=None,
                name='psf', normalize=True, warn=True):
    """
    Put a PSF, given in any accepted form, on the output grid.

    The one place that parses ``psf=`` for every deconvolver, the
    multi-band solver, the catalogue and mosaic modes and
    `~astrodeconv.operators.ForwardModel`. In order, it

    1. reads the PSF: a 2D array (or a stack ``(N, py, px)`` when ``shape``
       is 3D or not given), a dimensionless Quantity, an NDData/CCDData
       (its celestial WCS, or ``pixel_scale``/``PIXSCALE``/``CD``/``CDELT``
       in its meta, give its pixel scale) or a photutils
       `~photutils.psf.ImagePSF` (its ``oversampling`` gives the scale, its
       ``origin`` the centre);
    2. moves the centre of its convention (``psf_center``) onto the
       package's, pixel ``(py // 2, px // 2)``: an exact roll for whole
       pixels, a Fourier shift otherwise;
    3. validates it (finite, a positive sum, mostly non-negative, its
       centroid less than a quarter of its size from the centre) and
       normalises it to unit sum;
    4. resamples it, conserving flux, onto the output grid (the data pixel
       ``image_scale`` divided by ``upsample``) when its own scale differs
       by more than 1 %, or checks that its FWHM is plausible when nothing
       gives its scale (see :ref:`psf-sampling`);
    5. measures its centroid offset: with ``recenter=True`` it is moved
       onto its centroid; otherwise it is used as given (keeping the
       registration it carries), with a warning when the offset exceeds
       `FAR_OFF_PIXELS`;
    6. with ``target_psf``, puts the target resolution on the output grid
       (a FWHM becomes a circular Gaussian; a target carrying its pixel
       scale is resampled like the PSF; a target off-centre is centred)
       and replaces the PSF by the narrow PSF
       `~astrodeconv.psf.make_narrow_psf` builds from the two, so that a
       deconvolution returns the truth convolved with the target (see
       :ref:`output-resolution`).

    Parameters
    ----------
    psf : array_like, `~astropy.units.Quantity`, `~astropy.nddata.NDData`,\
 `~photutils.psf.ImagePSF` or `ResolvedPSF`
        The PSF. A `ResolvedPSF` is returned as it is (it must have been
        resolved for the same ``upsample``).
    image_scale : float, `~astropy.units.Quantity`, `~astropy.wcs.WCS` or \
`~astropy.nddata.NDData`, optional
        The pixel scale of the data (arcsec for a number), or a celestial
        WCS (or an NDData with one) giving it. Needed to resample a PSF
        that carries its own pixel scale in arcsec.
    upsample : int, optional
        The super-resolution factor: the output grid has ``upsample``
        pixels per data pixel along each axis.
    shape : tuple of int, optional
        The output grid ``(ny, nx)``, or ``(N, ny, nx)`` for a stack of N
        images (the PSF may then hold one PSF per image). A resampled PSF
        larger than it is refused, and a PSF of unknown scale gets a
        plausibility check against it. Without it, neither is done.
    recenter : bool, optional
        If True, a PSF whose centroid lies more than 0.01 output pixel
        from the centre is moved onto it (`~astrodeconv.psf.recenter_psf`,
        ``method='centroid'``). If False (default), the PSF is used as
        given: its offset carries the registration between the data and
        the result (see :ref:`psf-centring`).
    psf_center : {'astrodeconv', 'scipy', 'photutils'} or tuple of 2 float,\
 optional
        Where the centre of the given PSF is: ``'astrodeconv'`` (the
        default) pixel ``n // 2``, ``'scipy'`` pixel ``(n - 1) // 2`` (the
        kernel centre of ``scipy.signal.fftconvolve(mode='same')``),
        ``'photutils'`` position ``(n - 1) / 2``, or an explicit ``(y, x)``
        position (0-indexed, pixel centres at integers). The conventions
        differ only for even sizes. Not allowed with an ImagePSF, whose
        ``origin`` says where its centre is.
    target_psf : `~astropy.units.Quantity`, array_like, \
`~astropy.nddata.NDData` or `~astropy.modeling.Model`, optional
        The output resolution: a FWHM (an angle, which needs the output
        pixel scale ``image_scale / upsample``, or ``u.pix``, output
        pixels) for a circular Gaussian, or the target itself sampled on
        the output grid (a 2D array, an NDData, a photutils
        `~photutils.psf.ImagePSF` or another photutils or astropy 2D
        model). An NDData with a celestial WCS or a pixel scale in its
        meta, or an ImagePSF, is resampled onto the output grid. It must
        be narrower than the PSF in every direction. The returned
        `ResolvedPSF.array` is then the narrow PSF, `ResolvedPSF.full_psf`
        the PSF itself and `ResolvedPSF.target` the target. None (the
        default): the PSF itself, and the deconvolution aims at the
        highest resolution the method gives.
    name : str, optional
        The parameter name used in messages.
    normalize : bool, optional
        If False, the PSF is used as a convolution kernel exactly as
        given: no unit-sum normalisation and no checks of its sum, centre
        or FWHM (`~astrodeconv.operators.ForwardModel` does this).
    warn : bool, optional
        If False, the warnings are not emitted but kept in
        `ResolvedPSF.messages` for the caller.

    Returns
    -------
    resolved : `ResolvedPSF`
        The array and what was done to it.

    Raises
    ------
    ValueError
        If ``psf`` is None, is not 2D (or a stack where one is allowed),
        has non-finite values, a non-positive sum, is far off-centre, or
        cannot be resampled onto the output grid; if ``psf_center`` is
        unknown or outside the PSF; if ``target_psf`` is not narrower than
        the PSF in some direction, or cannot be put on the output grid (an
        angular FWHM, or an NDData with a pixel scale, when the output
        pixel scale is unknown), or is given with ``normalize=False`` or to
        a `ResolvedPSF` that already has one.
    TypeError
        If ``psf`` holds no real numbers, or ``target_psf`` is of no
        accepted kind (a plain number has no unit).
    `~astropy.units.UnitsError`
        If ``psf`` is a Quantity that is not dimensionless, or
        ``target_psf`` a Quantity that is neither an angle, pixels nor
        dimensionless.

    Examples
    --------
    A PSF made for ``scipy.signal.fftconvolve`` (centre on pixel
    ``n / 2 - 1`` of an even stamp) read in the package's convention:

    >>> import numpy as np
    >>> from astrodeconv.psf import resolve_psf
    >>> psf = np.zeros((8, 8)); psf[3, 3] = 1.0
    >>> resolved = resolve_psf(psf, psf_center='scipy')
    >>> np.argwhere(resolved.array == 1).tolist()
    [[4, 4]]
    >>> resolved.center_shift
    (1.0, 1.0)

    An output resolution of 0.2 arcsec FWHM for data of 0.1 arcsec pixels:
    the PSF becomes the narrow PSF, which the target widens back into it.

    >>> from astropy import units as u
    >>> from scipy.signal import fftconvolve
    >>> from astrodeconv.psf import make_moffat_psf
    >>> psf = make_moffat_psf(6.0, shape=(41, 41))
    >>> resolved = resolve_psf(psf, image_scale=0.1 * u.arcsec,
    ...                        target_psf=0.2 * u.arcsec)
    >>> resolved.target_kind, round(resolved.target_fwhm, 3)
    ('gaussian', 2.0)
    >>> back = fftconvolve(resolved.array, resolved.target, mode='same')
    >>> bool(np.abs(back - resolved.full_psf).max() < 1e-3 * psf.max())
    True
    >>> resolved.cards()
    {'DCNVTGT': 'gaussian', 'DCNVTFW': 0.2, 'DCNVTFWP': 2.0}
    """
    if isinstance(psf, ResolvedPSF):
        if psf.upsample != upsample:
            msg = (f'{name} was resolved for upsample={psf.upsample}, got '
                   f'upsample={upsample}; resolve it again for this grid')
            raise ValueError(msg)
        if target_psf is not None:
            if psf.target is not None:
                msg = (f'target_psf must be given once: {name} was resolved'
                       f' with a target ({psf.target_kind}) already')
                raise ValueError(msg)
            # the PSF's own messages were reported by whoever resolved it
            psf = _apply_target(replace(psf, messages=(),
                                        center_message=None),
                                target_psf, image_scale=image_scale,
                                shape=shape)
        if not warn:
            return psf
        psf.emit_warnings(stacklevel=2)
        return psf
    if target_psf is not None and not normalize:
        msg = ('target_psf must not be given with normalize=False: the '
               'narrow PSF is built from a PSF of unit sum')
        raise ValueError(msg)
    if psf is None:
        raise missing_psf_error(name)
    if not isinstance(recenter, (bool, np.bool_)):
        msg = f'recenter must be True or False, got {recenter!r}'
        raise TypeError(msg)
    image_psf = _sampling._is_image_psf(psf)
    if image_psf and psf_center is not None:
        msg = ('psf_center must not be given with a photutils ImagePSF, '
               f'whose origin {tuple(float(v) for v in psf.origin)} (x, y) '
               'says where its centre is')
        raise ValueError(msg)
    raw, sampling, center_shift = _unpack(psf, name)
    allow_stack = shape is None or len(shape) == 3
    arr = _real_array(raw, name, allow_stack)
    _check_count(arr, shape, name)
    if center_shift is None:
        center_shift = _convention_shift(arr.shape[-2:], psf_center, name)
    messages = []
    shifting = center_shift != (0.0, 0.0) and not image_psf
    if not normalize:
        if not np.all(np.isfinite(arr)):
            msg = f'{name} must hold only finite values'
            raise ValueError(msg)
        if shifting:
            arr = _shift_stack(arr, center_shift)
        offset = shift = None
    else:
        arr = _validate(arr, name, messages, far_off=not shifting)
        if shifting:
            arr = _shift_stack(arr, center_shift)
            for i, plane in enumerate(arr.reshape((-1,) + arr.shape[-2:])):
                _sampling.check_far_off(
                    plane, name if arr.ndim == 2 else f'{name}[{i}]')
    data_scale = None
    if sampling is not None and sampling.scale is not None:
        data_scale = _image_scale_arcsec(image_scale)
    out_shape = None if shape is None else tuple(shape)[-2:]
    arr, message, factor = _sampling.match_psf_sampling(
        arr, sampling, data_scale=data_scale, upsample=upsample,
        out_shape=out_shape if normalize else None, name=name)
    if message is not None:
        messages.append(message)
    center_message = None
    if normalize:
        arr, offset, shift = _centre(arr, bool(recenter))
        if shift is not None:
            center_message = _recenter_message(shift)
        elif math.hypot(*offset) > FAR_OFF_PIXELS and not recenter:
            center_message = _far_off_message(offset, name)
        if center_message is not None:
            messages.append(center_message)
    resolved = ResolvedPSF(
        array=arr, upsample=upsample,
        sampling_source='' if sampling is None else sampling.source,
        scale=None if sampling is None else sampling.scale,
        factor=factor, center_shift=center_shift, offset=offset,
        recentered=shift is not None, shift=shift,
        messages=tuple(messages), center_message=center_message)
    if target_psf is not None:
        resolved = _apply_target(resolved, target_psf,
                                 image_scale=image_scale, shape=shape)
    if warn:
        resolved.emit_warnings(stacklevel=2)
    return resolved


def _shift_stack(arr, shift):
    if arr.ndim == 2:
        return _shift(arr, shift)
    return np.stack([_shift(plane, shift) for plane in arr])
