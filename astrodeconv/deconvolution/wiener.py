# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Wiener deconvolution (linear, Fourier space)."""

import numpy as np

from ..utils._validation import check_positive_or_choice
from ..operators import fourier as F
from ._linear import LinearFourierDeconvolver
from .tikhonov import _noise_variance

__all__ = ['WienerDeconvolver']


def _rings(shape_f):
    """Integer ring index of each half-spectrum mode and modes per ring."""
    ky = np.fft.fftfreq(shape_f[0]) * shape_f[0]
    kx = np.fft.rfftfreq(shape_f[1]) * shape_f[1]
    ring = np.rint(np.hypot(ky[:, None] * shape_f[1] / shape_f[0],
                            kx[None, :])).astype(int).ravel()
    # each half-spectrum mode stands for itself and its mirror
    counts = 2 * np.bincount(ring)
    return ring, counts


def _ring_means(values, ring, counts):
    """Azimuthal averages ``(N, n_rings)`` of half-spectra ``(N, ...)``."""
    flat = values.reshape(values.shape[0], -1)
    sums = np.stack([np.bincount(ring, weights=row, minlength=counts.size)
                     for row in flat])
    return 2 * sums / np.maximum(counts, 1)


class WienerDeconvolver(LinearFourierDeconvolver):
    r"""
    Wiener deconvolution.

    .. math::

        \hat X(k) = \frac{H^*(k)\, Y(k)}{|H(k)|^2 + \mathrm{NSR}(k)}

    With a numeric ``balance`` the noise-to-signal ratio is that constant
    (the classical parametric Wiener filter with an identity regulariser).
    With ``balance='auto'`` it is estimated per image and per spatial
    frequency: the noise power comes from the data uncertainty or, without
    one, from the noise measured on the finest starlet scale; the signal
    power is the azimuthally averaged power of the data minus the noise,
    divided by the azimuthally averaged :math:`|H|^2`. The zero frequency
    is never regularised, so the total flux is preserved.

    Parameters
    ----------
    balance : float or 'auto', optional
        Noise-to-signal power ratio, or ``'auto'`` (default).
    upsample, boundary, pad_width, dtype, recenter
        As for `~astrodeconv.deconvolution.TikhonovDeconvolver`.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.deconvolution import WienerDeconvolver
    >>> from astrodeconv.psf import make_gaussian_psf
    >>> psf = make_gaussian_psf(3.0, shape=(15, 15))
    >>> data = np.random.default_rng(1).normal(1.0, 0.01, (32, 32))
    >>> out = WienerDeconvolver(balance=1e-2)(data, psf=psf)
    >>> bool(np.isclose(out.sum(), data.sum()))
    True
    """

    _repr_params = ('balance', 'upsample', 'boundary', 'pad_width', 'dtype')

    def __init__(self, *, balance='auto', upsample=1, boundary='periodic',
                 pad_width='auto', dtype='float64', recenter=False):
        super().__init__(upsample=upsample, boundary=boundary,
                         pad_width=pad_width, dtype=dtype, recenter=recenter)
        self.balance = check_positive_or_choice(balance, 'balance',
                                                ('auto',))

    def _filter(self, model, y, noise_var, cache):
        k = self.upsample
        otf = model.transfer()
        up_otf = model.upsample_transfer()
        shape_f = model.grid_fine_shape
        h2 = np.abs(otf) ** 2
        n = y.shape[0]
        if self.balance != 'auto' and model.n_psf == 1 and 'w' in cache:
            return cache['w'], {'balance': np.full(n, self.balance)}
        if self.balance == 'auto':
            var = _noise_variance(y, noise_var)
            npix = y.shape[-2] * y.shape[-1]
            # spectrum of the flux-conserving upsampled data, and its noise
            spec = F.rfft2(F.zero_insert(y, k)) * up_otf
            noise = (var.reshape(n, -1).mean(axis=1)[:, None, None] * npix
                     * np.abs(up_otf) ** 2)
            ring, counts = _rings(shape_f)
            data_power = _ring_means(np.abs(spec) ** 2, ring, counts)
            noise_power = _ring_means(np.broadcast_to(noise, spec.shape),
                                      ring, counts)
            h2_ring = _ring_means(np.broadcast_to(h2, spec.shape), ring,
                                  counts)
            # signal is kept out to the first ring whose power does not
            # exceed the noise by 3 sigma of a ring average; beyond it the
            # galaxy spectrum is assumed to be buried in noise
            excess = data_power - noise_power
            significant = excess > 3 * noise_power / np.sqrt(counts)
            significant[:, 0] = True
            significant = np.cumprod(significant, axis=1).astype(bool)
            signal = np.where(significant, excess, 0.0) / np.maximum(
                h2_ring, 1e-12)
            nsr_ring = noise_power / np.maximum(signal, 1e-300)
            nsr = nsr_ring[:, ring].reshape(spec.shape)
            # summary: median noise-to-signal ratio over the kept rings
            kept = np.where(significant, nsr_ring, np.nan)
            balance = np.nanmedian(kept[:, 1:], axis=1) if kept.shape[
                1] > 1 else np.zeros(n)
        else:
            nsr = np.full((1,) + h2.shape[-2:], self.balance)
            balance = np.full(n, self.balance)
        nsr = np.array(np.broadcast_to(nsr, np.broadcast_shapes(
            nsr.shape, h2.shape)))
        nsr[..., 0, 0] = 0.0
        # H* / (|H|^2 + NSR) written so that NSR = inf gives exactly 0
        inv = 1.0 / np.maximum(nsr, 1e-300)
        w_filter = np.conj(otf) * inv / (h2 * inv + 1.0)
        w_filter[..., 0, 0] = 1.0 / otf[..., 0, 0]
        if self.balance != 'auto' and model.n_psf == 1:
            cache['w'] = w_filter
        return w_filter, {'balance': balance}

    def _provenance(self, params, index):
        return {'DCNVBAL': float(params['balance']),
                'DCNVBRUL': self.balance if isinstance(self.balance, str)
                else 'fixed',
                'DCNVUPS': self.upsample, 'DCNVBND': self.boundary}
