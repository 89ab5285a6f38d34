# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Shared machinery of the deconvolvers that are linear Fourier filters."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..operators import ForwardModel
from ..operators import fourier as F
from ..operators.forward import chunk_length
from ..utils._validation import check_choice, check_positive_int
from .core import DeconvolverBase

__all__ = []

_BOUNDARIES = ('periodic', 'reflect', 'apodize')
_DTYPES = ('float64', 'float32')


class LinearFourierDeconvolver(DeconvolverBase):
    """
    A deconvolver ``x = irfft2(W * B * rfft2(Z y))`` with a filter ``W``.

    Subclasses implement ``_filter(model, y, noise_var, cache)`` returning
    the filter ``W`` of shape ``(N or 1, fy, fx // 2 + 1)`` for the chunk
    of images ``y`` and a dict of per-image parameters; ``model`` is the
    `~astrodeconv.operators.ForwardModel` of that chunk. A filter that does
    not depend on the chunk is stored as ``cache['w']`` and is then reused
    for every chunk. ``B`` is the flux-conserving upsampling kernel (1
    without super-resolution) and ``Z`` the zero insertion.

    Stacks are processed in chunks of a few images, sized so that the
    spectra of one chunk stay in the processor cache; the chunks run on
    ``astrodeconv.conf.fft_workers`` threads (every core by default), each
    with single-threaded FFTs. ``_filter`` must therefore only add entries
    to ``cache`` that are the same for every chunk.
    """

    _repr_params = ('upsample', 'boundary', 'pad_width', 'dtype')
    _linear = True

    def __init__(self, *, upsample=1, boundary='periodic', pad_width='auto',
                 dtype='float64', recenter=False):
        super().__init__(upsample=upsample, recenter=recenter)
        self.dtype = check_choice(np.dtype(dtype).name if not isinstance(
            dtype, str) else dtype, 'dtype', _DTYPES)
        self.boundary = check_choice(boundary, 'boundary', _BOUNDARIES)
        if isinstance(pad_width, str):
            check_choice(pad_width, 'pad_width', ('auto',))
        else:
            pad_width = check_positive_int(pad_width, 'pad_width',
                                           minimum=0)
        self.pad_width = pad_width

    def _input_dtype(self):
        return np.float32 if self.dtype == 'float32' else np.float64

    def _check_float32_range(self, data):
        """
        Refuse data whose Fourier transform float32 cannot hold.

        The zero-frequency term of an image's transform is its total, so
        with ``dtype='float32'`` an image whose total |value| exceeds the
        float32 range would come back as non-finite pixels.
        """
        if self.dtype != 'float32':
            return
        largest = float(np.finfo(np.float32).max)
        totals = np.abs(data).sum(axis=(-2, -1), dtype=float)
        worst = int(np.argmax(totals))
        if totals[worst] >= largest:
            which = ('the image' if data.shape[0] == 1
                     else f'image {worst} of the stack')
            msg = (f"dtype must be 'float64' for these data: the total "
                   f'|value| of {which}, {totals[worst]:.4g}, '
                   f'exceeds the float32 range ({largest:.4g}), so '
                   "dtype='float32' would return non-finite pixels. Use "
                   "dtype='float64' (the default) or scale the data down.")
            raise ValueError(msg)

    def _pad(self, psf_shape):
        if self.boundary == 'periodic':
            return 0
        if self.pad_width == 'auto':
            half = max(psf_shape[-2:]) // 2
            return max(int(np.ceil(half / self.upsample)), 2)
        return self.pad_width

    def _filter(self, model, y, noise_var, cache):
        raise NotImplementedError

    def _transfer(self, model, w_filter, cache):
        """
        The transfer function ``W B``, and the same in the working precision.

        Both are cached when ``W`` is shared by every chunk.
        """
        shared = w_filter is cache.get('w')
        if shared and 'transfer' in cache:
            return cache['transfer'], cache['applied']
        transfer = w_filter * model.upsample_transfer()
        applied = transfer.astype(np.complex64 if self.dtype == 'float32'
                                  else np.complex128, copy=False)
        if shared:
            cache['transfer'], cache['applied'] = transfer, applied
        return transfer, applied

    def _returned_flux(self, data, image, pad):
        """
        The flux a padded boundary moved across the image edge, put back.

        With ``'reflect'`` or ``'apodize'`` the filter runs on a padded
        image: some flux of the result leaves the image through the pad
        band and some comes in from the mirrored copies, so the cropped
        result does not hold the observed flux exactly (up to a few per
        cent for sharp filters). The difference is returned uniformly to
        the border band of the result (``pad`` observed pixels wide, where
        the boundary treatment acts): a correction linear in the data that
        makes the total flux exact.
        """
        k = self.upsample
        width = pad * k
        band = np.ones(image.shape[-2:])
        band[width:-width, width:-width] = 0.0
        deficit = (data.sum(axis=(-2, -1), dtype=float)
                   - image.sum(axis=(-2, -1), dtype=float))
        return deficit[:, None, None] * (band / band.sum())

    def _deconvolve_stack(self, data, psf, error, mask, diagnostics=True,
                          want_psf=True, want_error=True):
        # want_error=False uses the uncertainty only to choose the filter
        # (lam='auto'), without propagating it
        self._check_float32_range(data)
        k = self.upsample
        n, ny, nx = data.shape
        pad = self._pad(psf.shape)
        model = ForwardModel(psf, (ny + 2 * pad, nx + 2 * pad), upsample=k)
        shape_f = model.grid_fine_shape
        crop_f = (slice(None), slice(pad * k, (pad + ny) * k),
                  slice(pad * k, (pad + nx) * k))
        crop_c = (slice(None), slice(pad, pad + ny), slice(pad, pad + nx))
        propagate = want_error and error is not None
        full = diagnostics or propagate
        image = np.empty((n, ny * k, nx * k), dtype=self.dtype)
        residual = np.empty((n, ny, nx)) if full else None
        out_error = np.empty(image.shape) if propagate else None
        cache = {}

        def run(sl):
            """Deconvolve the images ``sl``; write into the outputs."""
            part = model.select(sl)
            y = F.pad_image(data[sl], pad, self.boundary)
            noise_var = None
            if error is not None:
                noise_var = F.pad_image(error[sl] ** 2, pad, 'reflect')
            w_filter, params = self._filter(part, y, noise_var, cache)
            shared = w_filter is cache.get('w')
            transfer, applied = self._transfer(part, w_filter, cache)
            if pad == 0:
                x = part.apply_filter(y, applied, dtype=self.dtype,
                                      out=image[sl])
            else:
                x = part.apply_filter(y, applied, dtype=self.dtype)
                x[crop_f] += self._returned_flux(data[sl], x[crop_f], pad)
                image[sl] = x[crop_f]
            found = {'params': params, 'psf': None, 'filter': None}
            if (diagnostics or want_psf) and not (shared and sl.start):
                found['psf'] = part.resolution_kernel(w_filter)
            if diagnostics and not (shared and sl.start):
                found['filter'] = transfer
            if full:
                model_y = part.forward(x.astype(float, copy=False))
                residual[sl] = data[sl] - model_y[crop_c]
            if propagate:
                out_error[sl] = np.sqrt(part.filter_variance(
                    transfer, noise_var)[crop_f])
            return found

        step = chunk_length(n, 8 * shape_f[0] * shape_f[1])
        chunks = [slice(start, min(start + step, n))
                  for start in range(0, n, step)]
        # the first chunk fills the cache (filters shared by all chunks);
        # the others run on one thread each, with single-threaded FFTs
        found = [run(chunks[0])]
        threads = min(F.fft_workers(), len(chunks) - 1)
        if threads > 1:
            def run_single_threaded(sl):
                with F.fft_threads(1):
                    return run(sl)

            with ThreadPoolExecutor(threads) as pool:
                found += list(pool.map(run_single_threaded, chunks[1:]))
        else:
            found += [run(sl) for sl in chunks[1:]]

        params = {key: np.concatenate([f['params'][key] for f in found])
                  for key in found[0]['params']}
        shared = 'w' in cache
        result = {'image': image, 'params': params, 'effective_psf': None}
        if diagnostics or want_psf:
            result['effective_psf'] = (
                found[0]['psf'] if shared
                else np.concatenate([f['psf'] for f in found]))
        if full:
            result.update(residual=residual, error=out_error)
        if diagnostics:
            first = found[0]['filter']
            result['effective_filter'] = (
                np.broadcast_to(first, (n,) + first.shape[1:]) if shared
                else np.concatenate([f['filter'] for f in found]))
        return result
