"""Wiener deconvolution (linear, Fourier space)."""

import numbers

import numpy as np

from ..utils._validation import check_choice, check_real
from . import _fourier as F
from ._linear import LinearFourierDeconvolver
from .tikhonov import _noise_variance

__all__ = ['WienerDeconvolver']


def _radial_average(values, shape_f):
    """Azimuthal average of half-spectrum ``values`` in integer rings."""
    ky = np.fft.fftfreq(shape_f[0]) * shape_f[0]
    kx = np.fft.rfftfreq(shape_f[1]) * shape_f[1]
    ring = np.rint(np.hypot(ky[:, None] * shape_f[1] / shape_f[0],
                            kx[None, :])).astype(int).ravel()
    n_rings = ring.max() + 1
    flat = values.reshape(values.shape[0], -1)
    counts = np.bincount(ring, minlength=n_rings)
    means = np.stack([np.bincount(ring, weights=row, minlength=n_rings)
                      for row in flat]) / np.maximum(counts, 1)
    return means[:, ring].reshape(values.shape)


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
    upsample, boundary, pad_width
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

    _repr_params = ('balance', 'upsample', 'boundary', 'pad_width')

    def __init__(self, *, balance='auto', upsample=1, boundary='periodic',
                 pad_width='auto'):
        super().__init__(upsample=upsample, boundary=boundary,
                         pad_width=pad_width)
        if isinstance(balance, str):
            check_choice(balance, 'balance', ('auto',))
        elif isinstance(balance, numbers.Real) and not isinstance(
                balance, bool):
            balance = check_real(balance, 'balance', minimum=0, strict=True)
        else:
            msg = (f"balance must be a positive number or 'auto', got "
                   f"{balance!r}")
            raise TypeError(msg)
        self.balance = balance

    def _filter(self, otf, y, noise_var, up_otf, shape_f):
        k = self.upsample
        h2 = np.abs(otf) ** 2
        n = y.shape[0]
        if self.balance == 'auto':
            var = _noise_variance(y, noise_var)
            npix = y.shape[-2] * y.shape[-1]
            # spectrum of the flux-conserving upsampled data, and its noise
            spec = F.rfft2(F.zero_insert(y, k)) * up_otf
            noise = (var.reshape(n, -1).mean(axis=1)[:, None, None] * npix
                     * np.abs(up_otf) ** 2)
            data_power = _radial_average(np.abs(spec) ** 2, shape_f)
            noise_power = _radial_average(np.broadcast_to(
                noise, spec.shape), shape_f)
            h2_avg = _radial_average(np.broadcast_to(h2, spec.shape),
                                     shape_f)
            blurred = np.maximum(data_power - noise_power,
                                 1e-6 * noise_power + 1e-300)
            signal = blurred / np.maximum(h2_avg, 1e-300)
            nsr = noise_power / signal
            balance = np.sqrt(np.mean(nsr.reshape(n, -1), axis=1))
        else:
            nsr = np.full((1,) + h2.shape[-2:], self.balance)
            balance = np.full(n, self.balance)
        nsr = np.array(np.broadcast_to(nsr, np.broadcast_shapes(
            nsr.shape, h2.shape)))
        nsr[..., 0, 0] = 0.0
        w_filter = np.conj(otf) / (h2 + nsr)
        return w_filter, {'balance': balance}

    def _provenance(self, params, index):
        return {'DCNVBAL': float(params['balance']),
                'DCNVBRUL': self.balance if isinstance(self.balance, str)
                else 'fixed',
                'DCNVUPS': self.upsample, 'DCNVBND': self.boundary}
