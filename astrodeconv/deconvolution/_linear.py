"""Shared machinery of the deconvolvers that are linear Fourier filters."""

import numpy as np

from ..utils._validation import check_choice, check_positive_int
from ..operators import fourier as F
from .core import DeconvolverBase

__all__ = []

_BOUNDARIES = ('periodic', 'reflect', 'apodize')
_DTYPES = ('float64', 'float32')


class LinearFourierDeconvolver(DeconvolverBase):
    """
    A deconvolver ``x = irfft2(W * B * rfft2(Z y))`` with a filter ``W``.

    Subclasses implement ``_filter(otf, y, noise_var, up_otf, shape_f)``
    returning the filter ``W`` of shape ``(N or 1, fy, fx // 2 + 1)`` and a
    dict of per-image parameters. ``B`` is the flux-conserving upsampling
    kernel (1 without super-resolution) and ``Z`` the zero insertion.
    """

    _repr_params = ('upsample', 'boundary', 'pad_width', 'dtype')
    _linear = True

    def __init__(self, *, upsample=1, boundary='periodic', pad_width='auto',
                 dtype='float64'):
        super().__init__(upsample=upsample)
        self.dtype = check_choice(np.dtype(dtype).name if not isinstance(
            dtype, str) else dtype, 'dtype', _DTYPES)
        self.boundary = check_choice(boundary, 'boundary', _BOUNDARIES)
        if isinstance(pad_width, str):
            check_choice(pad_width, 'pad_width', ('auto',))
        else:
            pad_width = check_positive_int(pad_width, 'pad_width',
                                           minimum=0)
        self.pad_width = pad_width

    def _pad(self, psf_shape):
        if self.boundary == 'periodic':
            return 0
        if self.pad_width == 'auto':
            half = max(psf_shape[-2:]) // 2
            return max(int(np.ceil(half / self.upsample)), 2)
        return self.pad_width

    def _filter(self, otf, y, noise_var, up_otf, shape_f):
        raise NotImplementedError

    def _deconvolve_stack(self, data, psf, error, mask, diagnostics=True,
                          want_psf=True):
        k = self.upsample
        n, ny, nx = data.shape
        pad = self._pad(psf.shape)
        y = F.pad_image(data, pad, self.boundary)
        shape_c = y.shape[-2:]
        shape_f = (shape_c[0] * k, shape_c[1] * k)
        if psf.shape[-2] > shape_f[0] or psf.shape[-1] > shape_f[1]:
            grid = 'upsampled image' if k > 1 else 'image'
            msg = (f'psf must not be larger than the {grid} '
                   f'{shape_f}, got shape {psf.shape[-2:]}; crop it with '
                   'astrodeconv.psf.crop_psf or pad the data')
            raise ValueError(msg)
        otf = F.psf_to_otf(psf, shape_f)
        up_otf = F.upsample_otf(shape_f, k) / k ** 2 if k > 1 else 1.0
        noise_var = None
        if error is not None:
            noise_var = F.pad_image(error ** 2, pad, 'reflect')
        w_filter, params = self._filter(otf, y, noise_var, up_otf, shape_f)
        transfer = w_filter * up_otf
        work = F.zero_insert(y, k).astype(self.dtype, copy=False)
        spec = F.rfft2(work)
        spec *= transfer.astype(spec.dtype, copy=False)
        x = F.irfft2(spec, shape_f, overwrite=True)
        crop_f = (slice(None), slice(pad * k, (pad + ny) * k),
                  slice(pad * k, (pad + nx) * k))
        eff = None
        if diagnostics or want_psf:
            eff = F.centred_kernel(otf * w_filter, shape_f, psf.shape[-2:])
            eff /= eff.sum(axis=(-2, -1), keepdims=True)
        if not diagnostics and noise_var is None:
            return {'image': x[crop_f], 'effective_psf': eff,
                    'params': params}
        # residual y - D(h * x) on the observation grid
        model = F.block_sum(F.convolve_otf(x, otf), k)
        crop_c = (slice(None), slice(pad, pad + ny), slice(pad, pad + nx))
        residual = data - model[crop_c]
        out_error = None
        if noise_var is not None:
            kernel_sq = F.irfft2(transfer, shape_f) ** 2
            var = F.convolve_otf(F.zero_insert(noise_var, k),
                                 F.rfft2(kernel_sq))
            out_error = np.sqrt(np.clip(var[crop_f], 0, None))
        return {'image': x[crop_f], 'residual': residual, 'error': out_error,
                'effective_filter': np.broadcast_to(
                    transfer, (n,) + transfer.shape[-2:]),
                'effective_psf': eff, 'params': params}
