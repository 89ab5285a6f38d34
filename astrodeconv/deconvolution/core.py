# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Base class and results container shared by every deconvolver.

A deconvolver is configured once and then called on data::

    deconv = TikhonovDeconvolver(lam=9e-3)
    out = deconv(data, psf=psf)               # same kind as ``data``
    results = deconv.deconvolve(data, psf=psf)  # image plus diagnostics

A call never changes the deconvolver, so one instance can be shared
between threads.
"""

import os
import warnings

import numpy as np

from ..psf.core import pad_psf
from ..psf.resolve import ResolvedPSF, emit_psf_warnings, resolve_psf
from ..utils._nddata import (build_output, is_surface_brightness,
                             parse_images)
from ..utils._masking import fill_masked
from ..utils._provenance import add_provenance
from ..utils._repr import make_repr
from ..utils._validation import check_positive_int
from ..utils._wcs import update_grid_keywords, upsample_wcs
from ..utils.exceptions import AstrodeconvWarning

__all__ = ['DeconvolverBase', 'DeconvolutionResults']


class DeconvolutionResults:
    """
    The outcome of `DeconvolverBase.deconvolve`.

    For a single image every attribute describes that image. For a 3D
    stack the arrays carry a leading axis, and for a list of images the
    attributes ``image``, ``residual`` and ``error`` are lists.

    Attributes
    ----------
    image : ndarray, Quantity or NDData (or list of them)
        The deconvolved image, of the same kind as the input.
    residual : same kind as the input
        The data residual ``y - D(h * x_hat)`` on the observation grid,
        where ``D`` sums the ``upsample x upsample`` fine pixels of each
        observed pixel (identity without super-resolution).
    error : ndarray or None
        The propagated 1-sigma uncertainty of the result (linear methods),
        in the data unit, on the output grid.
    effective_filter : ndarray or None
        The Fourier transfer function mapping the (zero-inserted)
        observation to the result, in `numpy.fft.rfft2` layout.
    effective_psf : ndarray or None
        The PSF of the result: the resolution kernel ``w * h`` left after
        deconvolution, centred, cropped to the PSF shape and normalised.
        With ``target_psf``, that kernel (of the narrow PSF) convolved
        with the target, or, for the methods that compute no resolution
        kernel (Richardson-Lucy, the learned methods), the target itself.
    params : dict
        Per-image parameters actually used (e.g. ``lam`` chosen by
        ``lam='auto'``), as arrays of length N for stacks.
    """

    def __init__(self, *, image, residual=None, error=None,
                 effective_filter=None, effective_psf=None, params=None):
        self.image = image
        self.residual = residual
        self.error = error
        self.effective_filter = effective_filter
        self.effective_psf = effective_psf
        self.params = params or {}

    def __repr__(self):
        keys = ', '.join(sorted(self.params))
        return make_repr(self, ('image', 'params'), brackets=True,
                         overrides={'image': type(self.image).__name__,
                                    'params': f'[{keys}]'})


#: Calls needing less than this are not checked against the system's
#: memory (any machine has it); a ``conf.memory_limit`` is always applied.
_ALWAYS_AVAILABLE = 2 ** 28

#: Memory assumed available when neither psutil nor os.sysconf tells.
FALLBACK_MEMORY = 4 * 2 ** 30


def available_memory():
    """
    The memory, in bytes, a deconvolution call may use.

    ``astrodeconv.conf.memory_limit`` (GB) when it is positive; otherwise
    the available memory reported by psutil if it is installed, else by
    `os.sysconf` (the free physical pages, but at least half of the
    physical memory, since the page cache is reclaimable), else
    `FALLBACK_MEMORY` (4 GB).

    Returns
    -------
    limit : int
        Bytes.
    source : str
        Where the figure comes from, for messages.
    """
    from astrodeconv import conf

    limit = float(conf.memory_limit)
    if limit > 0:
        return int(limit * 1e9), 'astrodeconv.conf.memory_limit'
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available), 'available memory'
    try:
        page = os.sysconf('SC_PAGE_SIZE')
        free = os.sysconf('SC_AVPHYS_PAGES') * page
        total = os.sysconf('SC_PHYS_PAGES') * page
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY, 'assumed memory (no psutil, no sysconf)'
    if total <= 0:
        return FALLBACK_MEMORY, 'assumed memory (no psutil, no sysconf)'
    return int(max(free, total // 2)), 'available memory'


def _check_memory(items, upsample, itemsize, factor, name):
    """
    Fail at once when a call would need more memory than is available.

    The estimate is ``factor`` arrays of the output grid (every image of
    the call, ``upsample**2`` pixels per input pixel) of ``itemsize``
    bytes each.
    """
    pixels = sum(item.data.size for item in items) * upsample ** 2
    need = pixels * itemsize * factor
    from astrodeconv import conf

    if need <= _ALWAYS_AVAILABLE and not float(conf.memory_limit) > 0:
        return              # small calls: no system query on the hot path
    limit, source = available_memory()
    if need <= limit:
        return
    n = sum(item.data.shape[0] if item.is_batch else 1 for item in items)
    ny, nx = items[0].data.shape[-2:]
    msg = (f'{name} needs about {need / 1e9:.3g} GB for this call '
           f'({n} image(s) of {ny * upsample}x{nx * upsample} output pixels'
           f' with upsample={upsample}), more than the {source} of '
           f'{limit / 1e9:.3g} GB. Reduce upsample, crop the image or '
           'process fewer images at once (or raise '
           'astrodeconv.conf.memory_limit, in GB).')
    raise MemoryError(msg)


def _group_by_shape(items):
    groups = {}
    for index, item in enumerate(items):
        groups.setdefault(item.data.shape, []).append(index)
    return groups


def _stack(arrays, shape):
    """View one array as ``(N, ny, nx)``; stack several (copying)."""
    if len(arrays) == 1:
        return arrays[0].reshape((-1,) + shape[-2:])
    return np.stack(arrays).reshape((-1,) + shape[-2:])


def _fill_errors(err, bad):
    """Replace the non-finite errors by the median of their image."""
    err = err.copy()
    for plane, bad_plane in zip(err, bad):
        if bad_plane.all():  # an image given without error in a list
            continue
        if bad_plane.any():
            plane[bad_plane] = np.median(plane[~bad_plane])
    if bad.all(axis=(-2, -1)).any():
        finite = err[np.isfinite(err)]
        err[~np.isfinite(err)] = np.median(finite) if finite.size else 1.0
    return err


def _stack_psfs(psfs):
    """Stack PSFs of possibly different shapes, or keep one if all equal."""
    first = psfs[0]
    if all(p is first or (p.shape == first.shape and np.array_equal(
            p, first)) for p in psfs[1:]):
        return first
    ny = max(p.shape[-2] for p in psfs)
    nx = max(p.shape[-1] for p in psfs)
    shape = (ny + (ny % 2 == 0), nx + (nx % 2 == 0))
    return np.stack([pad_psf(p, shape) for p in psfs])


def _convolve_target(kernel, target):
    """A centred kernel convolved with a centred target, of unit sum."""
    from scipy.signal import fftconvolve

    shape = tuple(max(a, b) | 1 for a, b in zip(kernel.shape, target.shape))
    out = fftconvolve(pad_psf(kernel, shape), pad_psf(target, shape),
                      mode='same')
    return out / out.sum()


def _with_target(eff_psf, targets):
    """
    The effective PSF of a result asked for at a target resolution.

    ``eff_psf`` is the resolution kernel of the narrow PSF, ``(1 or N,
    py, px)``, or None for methods that compute none; ``targets`` the
    target of each of the N images. The result is that kernel convolved
    with the target, or the target itself.
    """
    if all(t is targets[0] for t in targets):
        if eff_psf is None:
            return targets[0][None]
        return np.stack([_convolve_target(plane, targets[0])
                         for plane in eff_psf])
    planes = [t if eff_psf is None else _convolve_target(
        eff_psf[i if eff_psf.shape[0] > 1 else 0], t)
        for i, t in enumerate(targets)]
    ny = max(p.shape[0] for p in planes) | 1
    nx = max(p.shape[1] for p in planes) | 1
    return np.stack([pad_psf(p, (ny, nx)) for p in planes])


class DeconvolverBase:
    """
    Base class of all deconvolvers.

    Subclasses implement ``_deconvolve_stack(data, psf, error, mask)``
    working on plain float arrays of shape ``(N, ny, nx)`` and returning a
    dict with at least ``'image'``; they set ``_linear`` to True when the
    uncertainty is propagated exactly.

    Parameters
    ----------
    upsample : int, optional
        Super-resolution factor: the result is on a grid ``upsample``
        times finer than the data, and the PSF must be given on that fine
        grid (a PSF that carries its pixel scale is resampled onto it, see
        :ref:`the PSF user guide <psf-sampling>`).
    recenter : bool, optional
        If False (default), the PSF is used as given, keeping the
        registration its centroid offset carries: the result is shifted by
        minus that offset (a PSF whose centroid is one pixel to the right
        of the centre moves the deconvolved sources one pixel to the
        left), which is right when the offset is part of the true blur,
        as measured in :ref:`psf-centring`. An offset above
        `~astrodeconv.psf.FAR_OFF_PIXELS` (0.5 output pixel) draws one
        `~astrodeconv.utils.exceptions.AstrodeconvWarning` and is recorded
        in the meta of NDData outputs (``PSFOFFY``, ``PSFOFFX``). If True,
        a PSF whose centroid lies more than 0.01 output pixel from the
        centre pixel ``(ny // 2, nx // 2)`` is moved there with
        `~astrodeconv.psf.recenter_psf` (``method='centroid'``, a
        flux-conserving Fourier shift), with one warning giving the shift,
        recorded as ``DCNVPSFY``, ``DCNVPSFX``. Either way, a PSF whose
        centroid is more than a quarter of its size away from the centre
        is an error.
    """

    #: Names of the constructor parameters shown by ``repr``.
    _repr_params = ('upsample',)
    #: True for methods that propagate the uncertainty exactly.
    _linear = True
    #: Peak memory of a call, in arrays of the output grid (measured with
    #: tracemalloc: 11 to 15 for the Fourier methods, 7 to 11 for
    #: Richardson-Lucy), used by the up-front memory check.
    _memory_factor = 16

    def __init__(self, *, upsample=1, recenter=False):
        self.upsample = check_positive_int(upsample, 'upsample')
        if not isinstance(recenter, (bool, np.bool_)):
            msg = f'recenter must be True or False, got {recenter!r}'
            raise TypeError(msg)
        self.recenter = bool(recenter)

    def __repr__(self):
        return make_repr(self, self._repr_params)

    def __call__(self, data, *, psf=None, mask=None, error=None,
                 psf_center=None, target_psf=None):
        """
        Deconvolve ``data`` and return the result in the input's kind.

        Parameters
        ----------
        data : ndarray, Quantity, NDData, or list of them
            One image ``(ny, nx)``, a stack ``(N, ny, nx)`` (array or
            Quantity) or a list of images, processed in one vectorised
            pass.
        psf : array_like, NDData or photutils ImagePSF, optional
            The PSF on the output grid, centred on pixel
            ``(ny // 2, nx // 2)``; a stack ``(N, py, px)`` gives one PSF
            per image. Defaults to ``data.psf``. Anything
            `~astrodeconv.psf.resolve_psf` accepts (a PSF that carries
            its pixel scale is resampled onto the output grid).
        mask : array_like of bool, optional
            True for bad pixels. Non-finite pixels are always masked.
        error : array_like, Quantity or NDUncertainty, optional
            1-sigma uncertainty of ``data`` (or ``data.uncertainty``).
        psf_center : {'astrodeconv', 'scipy', 'photutils'} or (y, x),\
 optional
            The centre convention of ``psf`` (see
            `~astrodeconv.psf.resolve_psf`): by default ``'astrodeconv'``,
            pixel ``n // 2``; ``'scipy'`` is ``(n - 1) // 2`` and
            ``'photutils'`` ``(n - 1) / 2`` (they differ for even sizes).
        target_psf : Quantity, array_like, NDData or model, optional
            The output resolution (see :ref:`output-resolution`): a FWHM
            (``0.2 * u.arcsec``, which needs a celestial WCS on the data,
            or ``2.0 * u.pix``, output pixels) for a circular Gaussian, or
            the target sampled on the output grid (anything
            `~astrodeconv.psf.resolve_psf` accepts as ``target_psf``). The
            result is then the truth convolved with the target: the
            method deconvolves with the narrow PSF
            (`~astrodeconv.psf.make_narrow_psf`). Default: no target, the
            highest resolution the method gives (for the learned methods,
            the resolution of their training set).

        Returns
        -------
        result : same kind as ``data``
            The deconvolved image(s).
        """
        return self._run(data, psf=psf, mask=mask, error=error,
                         diagnostics=False, psf_center=psf_center,
                         target_psf=target_psf).image

    # -- helpers for subclasses ------------------------------------------
    def _input_dtype(self):
        """Precision of the parsed data (float32 kept for float32 work)."""
        return np.float64

    def _provenance(self, params, index):
        """FITS keywords describing this run for image ``index``."""
        return {}

    def _deconvolve_stack(self, data, psf, error, mask, diagnostics=True,
                          want_psf=True):
        raise NotImplementedError

    # -- the public driver -----------------------------------------------
    def deconvolve(self, data, *, psf=None, mask=None, error=None,
                   psf_center=None, target_psf=None):
        """
        Deconvolve ``data`` and return a `DeconvolutionResults`.

        Takes the same arguments as calling the deconvolver.

        Returns
        -------
        results : `DeconvolutionResults`
            The image plus residual, propagated error, effective filter,
            effective PSF and the parameters used.
        """
        return self._run(data, psf=psf, mask=mask, error=error,
                         diagnostics=True, psf_center=psf_center,
                         target_psf=target_psf)

    def _run(self, data, *, psf, mask, error, diagnostics, psf_center=None,
             target_psf=None):
        items, is_list = parse_images(data, psf=psf, mask=mask, error=error,
                                      require_psf=True,
                                      dtype=self._input_dtype())
        records = self._prepare_psfs(items, psf_center, target_psf)
        _check_memory(items, self.upsample,
                      np.dtype(self._input_dtype()).itemsize,
                      self._memory_factor, type(self).__name__)
        want_psf = diagnostics or any(item.kind == 'nddata'
                                      for item in items)
        outputs = [None] * len(items)
        residuals = [None] * len(items)
        errors = [None] * len(items)
        params_all = [None] * len(items)
        last = None
        for shape, indices in _group_by_shape(items).items():
            group = [items[i] for i in indices]
            stack = _stack([g.data for g in group], shape)
            mask_stack = _stack([g.mask for g in group], shape)
            if any(g.error is not None for g in group):
                err = _stack([g.error if g.error is not None
                              else np.full(g.data.shape, np.nan)
                              for g in group], shape)
            else:
                err = None
            psf_stack = _stack_psfs([g.psf for g in group])
            filled = fill_masked(stack, mask_stack)
            if err is not None:
                bad = ~np.isfinite(err)
                if bad.any():
                    # masked pixels (and images given without an error in
                    # a list) get the median error of their own image;
                    # parse_images refuses an image without finite error
                    err = _fill_errors(err, bad)
            result = self._deconvolve_stack(filled, psf_stack, err,
                                            mask_stack,
                                            diagnostics=diagnostics,
                                            want_psf=want_psf)
            targets = [records[i].target for i, item in zip(indices, group)
                       for _ in range(item.data.shape[0] if item.is_batch
                                      else 1)]
            if want_psf and targets[0] is not None:
                result['effective_psf'] = _with_target(
                    result.get('effective_psf'), targets)
            last = result
            offset = 0
            for index, item in zip(indices, group):
                n = item.data.shape[0] if item.is_batch else 1
                sl = slice(offset, offset + n)
                offset += n
                outputs[index], residuals[index], errors[index] = \
                    self._build_item(item, result, sl,
                                     psf_cards=records[index].cards())
                params_all[index] = {key: (val[sl] if item.is_batch
                                           else val[sl][0])
                                     for key, val in
                                     result.get('params', {}).items()}
        if self._warn_uncertainty(items):
            warnings.warn(f'uncertainty cannot be propagated through '
                          f'{type(self).__name__}; the output has no '
                          'uncertainty', AstrodeconvWarning, stacklevel=3)
        if is_list:
            keys = params_all[0].keys()
            params = {k: np.array([p[k] for p in params_all]) for k in keys}
            return DeconvolutionResults(
                image=outputs, residual=residuals, error=errors,
                effective_filter=None, effective_psf=None, params=params)
        single = not items[0].is_batch
        eff_filter = last.get('effective_filter')
        eff_psf = last.get('effective_psf')
        if single:
            eff_filter = None if eff_filter is None else eff_filter[0]
            eff_psf = None if eff_psf is None else eff_psf[0]
        return DeconvolutionResults(
            image=outputs[0], residual=residuals[0], error=errors[0],
            effective_filter=eff_filter, effective_psf=eff_psf,
            params=params_all[0])

    def _warn_uncertainty(self, items):
        return (not self._linear) and any(
            item.error is not None for item in items)

    def _prepare_psfs(self, items, psf_center=None, target_psf=None):
        """
        Put every item's PSF on the output grid through the PSF door.

        Each item's PSF goes through `~astrodeconv.psf.resolve_psf` once
        (a `~astrodeconv.psf.ResolvedPSF`, as the catalogue and mosaic
        modes give, is used as it is, or given the target), changing
        ``item.psf`` in place (the items are this call's own): with
        ``target_psf``, to the narrow PSF. Each kind of warning is emitted
        once per call; the centring warning names the largest offset.

        Returns
        -------
        records : list of `~astrodeconv.psf.ResolvedPSF`
            Per item, what was resolved (its ``cards()`` are the item's
            provenance keywords, its ``target`` the output resolution).
        """
        k = self.upsample
        resolved_for = {}
        records = []
        fresh = []
        for item in items:
            given = item.psf
            out_shape = tuple(n * k for n in item.data.shape[-2:])
            if item.is_batch:
                out_shape = (item.data.shape[0],) + out_shape
            key = None
            if isinstance(given, (np.ndarray, ResolvedPSF)):
                key = (id(given), out_shape)
                if target_psf is not None:
                    # an angular target depends on each image's pixel scale
                    key += (id(item.wcs),)
            if key is not None and key in resolved_for:
                resolved = resolved_for[key]
            else:
                resolved = resolve_psf(given, image_scale=item.wcs,
                                       upsample=k, shape=out_shape,
                                       recenter=self.recenter,
                                       psf_center=psf_center,
                                       target_psf=target_psf, warn=False)
                if key is not None:
                    resolved_for[key] = resolved
                if not isinstance(given, ResolvedPSF) or (
                        target_psf is not None):
                    # a ResolvedPSF was reported by whoever resolved it
                    # (its target here, if any, by this call)
                    fresh.append(resolved)
            item.psf = resolved.array
            records.append(resolved)
        emit_psf_warnings(fresh, stacklevel=4)
        return records

    def _build_item(self, item, result, sl, psf_cards=None):
        k = self.upsample
        image = result['image'][sl]
        residual = result.get('residual')
        residual = None if residual is None else residual[sl]
        error = result.get('error')
        if self._linear and item.error is None:
            # in a list mixing images with and without uncertainty, the
            # missing ones were filled to run one pass: report none
            error = None
        error = None if error is None else error[sl]
        eff_psf = result.get('effective_psf')
        if eff_psf is not None:
            eff_psf = eff_psf[sl] if eff_psf.shape[0] > 1 else eff_psf[0:1]
        mask = item.mask.reshape((-1,) + item.mask.shape[-2:])
        if k > 1:
            mask = mask.repeat(k, axis=-2).repeat(k, axis=-1)
        if k > 1 and is_surface_brightness(item.unit):
            # the forward model sums the k x k fine pixels of an observed
            # pixel: right for a flux per pixel, whereas a surface
            # brightness is their mean. The solution of the summing model
            # times k**2 is the surface brightness on the fine grid (its
            # mean, and the flux through the WCS pixel area, are kept).
            image = image * k ** 2
            error = None if error is None else error * k ** 2
        if not item.is_batch:
            image, mask = image[0], mask[0]
            residual = None if residual is None else residual[0]
            error = None if error is None else error[0]
            eff_psf = None if eff_psf is None else eff_psf[0]
        wcs, meta = 'same', None
        if item.kind == 'nddata':
            params = {key: val[sl][0] for key, val in
                      result.get('params', {}).items()}
            meta = add_provenance(item.meta, type(self).__name__,
                                  {**self._provenance(params, sl.start),
                                   **(psf_cards or {})})
            if k > 1:
                wcs = upsample_wcs(item.wcs, k, shape=image.shape)
                update_grid_keywords(meta, k)
        out = build_output(item, image, error=error, mask=mask, wcs=wcs,
                           meta=meta, psf=eff_psf)
        res_out = None
        if residual is not None:
            res_out = build_output(item, residual, mask=item.mask)
        return out, res_out, error
