# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The learned part of unrolled (physics-in-the-loop) deconvolution.

`UnrolledHQS` holds what is learned when half-quadratic splitting is
unrolled for a fixed number of iterations and trained end to end: one
noise-level-conditioned denoiser shared by every iteration (the prior
step) and a small network that predicts the hyper-parameters of every
iteration -- its noise level and its prior weight -- from what describes
an observation: the noise relative to the image, the PSF width on the
output grid and the super-resolution factor. The data step is not learned:
it is the exact solve of `~astrodeconv.operators.ForwardModel` (in PyTorch
while training, `~astrodeconv.operators.differentiable.TorchDataStep`), so
no PSF, grid or telescope is baked into the weights.

The iteration, in units where the starting image has a peak of about 1
(the deconvolver divides the data by that scale), with ``s`` the noise of
one observed pixel, ``s_f = s / k**2`` that of one output pixel and
``x_0`` the Tikhonov image:

.. math::

    \\sigma_i = \\exp((1 - t_i) \\log \\sigma_{\\rm start} + t_i \\log s_f),
    \\quad \\alpha_i = w_i s^2 / \\sigma_i^2,

    z_i = (H^T H + \\alpha_i I)^{-1} (H^T y + \\alpha_i x_{i-1}),
    \\quad x_i = D(z_i, \\sigma_i),

with :math:`\\sigma_{\\rm start} = \\max(\\max x_0, s_f)`. Untrained,
``t_i`` runs evenly from 0 to 1 and ``w_i = 0.1``: exactly the schedule of
`~astrodeconv.deconvolution.PnPDeconvolver` with as many iterations, so
training starts from plug-and-play and moves away from it only where that
lowers the error.
"""

import numpy as np
import torch
from torch import nn

from ._architectures import network_classes
from .base import Denoiser
from .unet import UNet64

__all__ = ['UnrolledHQS', 'schedule_features', 'effective_fwhm']

#: Prior weight of every iteration before training (that of PnP).
BASE_PRIOR_WEIGHT = 0.1


def effective_fwhm(psf):
    """
    Width of PSFs from their noise-equivalent area, in pixels.

    ``1 / sum(p**2)`` for a unit-sum PSF ``p`` is the area of a Gaussian
    of FWHM ``2.3548 * sqrt(area / (4 pi))``: a width defined for any PSF
    (narrow PSFs with ringing included), cheap and smooth, used as an input
    of the schedule.

    Parameters
    ----------
    psf : array_like
        ``(py, px)`` or ``(N, py, px)``.

    Returns
    -------
    fwhm : ndarray
        ``(N,)`` (or a 0-d array for one PSF).

    Examples
    --------
    >>> from astrodeconv.denoisers.unrolled import effective_fwhm
    >>> from astrodeconv.psf import make_gaussian_psf
    >>> round(float(effective_fwhm(make_gaussian_psf(6.0, shape=(41, 41)))),
    ...       1)
    6.0
    """
    psf = np.asarray(psf, dtype=float)
    psf = psf / psf.sum(axis=(-2, -1), keepdims=True)
    area = 1.0 / (psf ** 2).sum(axis=(-2, -1))
    return 2.0 * np.sqrt(2.0 * np.log(2.0)) * np.sqrt(area / (4 * np.pi))


def schedule_features(relative_noise, psf_fwhm, upsample):
    """
    The inputs of the hyper-parameter network, about unit in scale.

    Parameters
    ----------
    relative_noise : `torch.Tensor`
        ``(B,)``: noise of one output pixel over the peak of the starting
        image.
    psf_fwhm : `torch.Tensor`
        ``(B,)``: FWHM of the PSF in output pixels.
    upsample : `torch.Tensor`
        ``(B,)``: the super-resolution factor.

    Returns
    -------
    features : `torch.Tensor`
        ``(B, 3)``.
    """
    noise = torch.log10(relative_noise.clamp(min=1e-8))
    width = torch.log10(psf_fwhm.clamp(min=0.5))
    factor = torch.log2(upsample.clamp(min=1.0))
    return torch.stack([(noise + 2.0) / 1.5, (width - 1.0) / 0.5,
                        factor - 1.0], dim=1)


class UnrolledHQS(Denoiser):
    r"""
    Shared prior and predicted schedule of unrolled half-quadratic splitting.

    ``forward(x, sigma)`` is the prior step (a bias-free
    `~astrodeconv.denoisers.UNet64` with the noise level as an input
    channel), so the module plugs into every place that runs a denoiser on
    tiles; `schedule` gives the noise level and prior weight of every
    iteration (see the module docstring for the iteration).

    Parameters
    ----------
    n_iter : int, optional
        Number of iterations (network passes per image).
    base_width, n_levels : int, optional
        Size of the shared UNet64 (the default prior).
    hidden : int, optional
        Width of the hyper-parameter network.
    prior : str, optional
        Architecture of the shared prior (see
        `~astrodeconv.denoisers.build_denoiser`): ``'UNet64'`` (with the
        noise level as an input), ``'Learnlet'`` (noise-level aware) or
        ``'SUNet'`` (blind to the noise level: the schedule then acts
        through the data-step weights only).
    prior_kwargs : dict, optional
        Constructor arguments of the prior, e.g. ``{'base_width': 64,
        'n_levels': 5, 'sigma_input': True}`` for the full-size UNet-64.

    Examples
    --------
    >>> import torch
    >>> from astrodeconv.denoisers import UnrolledHQS
    >>> net = UnrolledHQS(n_iter=4, base_width=4, n_levels=3)
    >>> with torch.no_grad():
    ...     t, w = net.schedule(torch.zeros(2, 3))
    >>> [round(v, 3) for v in t[0].tolist()], round(float(w[0, 0]), 3)
    ([0.0, 0.333, 0.667, 1.0], 0.1)
    """

    requires_sigma = True

    def __init__(self, *, n_iter=6, base_width=16, n_levels=4, hidden=32,
                 prior='UNet64', prior_kwargs=None):
        super().__init__()
        for value, name in ((n_iter, 'n_iter'), (hidden, 'hidden')):
            if isinstance(value, bool) or not isinstance(value, int) or (
                    value < 1):
                msg = f'{name} must be an integer >= 1, got {value!r}'
                raise ValueError(msg)
        self.n_iter = n_iter
        if prior == 'UNet64' and not prior_kwargs:
            self.prior = UNet64(base_width=base_width, n_levels=n_levels,
                                sigma_input=True)
        else:
            networks = network_classes()
            if prior not in networks:
                valid = ', '.join(repr(name) for name in networks)
                msg = f'prior must be one of {valid}, got {prior!r}'
                raise ValueError(msg)
            self.prior = networks[prior](**dict(prior_kwargs or {}))
        self.size_multiple = getattr(self.prior, 'size_multiple', 1)
        self.fixed_size = getattr(self.prior, 'fixed_size', None)
        self.hyper = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(),
                                   nn.Linear(hidden, 2 * n_iter))
        # untrained: the plug-and-play schedule, whatever the input
        nn.init.zeros_(self.hyper[2].weight)
        nn.init.zeros_(self.hyper[2].bias)
        base = torch.linspace(0.0, 1.0, n_iter) if n_iter > 1 else \
            torch.ones(1)
        self.register_buffer('base_position', base)

    def forward(self, x, sigma=None):
        """The prior step: denoise ``x`` (B, 1, H, W) at noise ``sigma``."""
        if getattr(self.prior, 'requires_sigma', False):
            return self.prior(x, sigma)
        # a prior blind to the noise level (e.g. SUNet): the schedule
        # still sets the weight of every data step
        return self.prior(x)

    def schedule(self, features):
        """
        Positions ``t_i`` and prior weights ``w_i`` of the iterations.

        Parameters
        ----------
        features : `torch.Tensor`
            ``(B, 3)`` from `schedule_features`.

        Returns
        -------
        position, weight : `torch.Tensor`
            ``(B, n_iter)`` each: ``t_i`` (0 at the starting noise level,
            1 at the noise of one output pixel) and ``w_i > 0``.
        """
        out = self.hyper(features)
        shift, log_weight = out[:, :self.n_iter], out[:, self.n_iter:]
        position = self.base_position + 0.5 * torch.tanh(shift)
        weight = BASE_PRIOR_WEIGHT * torch.exp(log_weight.clamp(-6.0, 6.0))
        return position, weight

    def levels(self, features, start, fine_sigma, sigma):
        """
        Noise levels ``sigma_i`` and data-step weights ``alpha_i``.

        Parameters
        ----------
        features : `torch.Tensor`
            ``(B, 3)``.
        start, fine_sigma, sigma : `torch.Tensor`
            ``(B,)``: first noise level, noise of one output pixel and of
            one observed pixel, in the units of the images.

        Returns
        -------
        levels, alpha : `torch.Tensor`
            ``(n_iter, B)`` each.
        """
        position, weight = self.schedule(features)
        log_start = torch.log(start)[:, None]
        log_end = torch.log(fine_sigma)[:, None]
        levels = torch.exp((1 - position) * log_start + position * log_end)
        alpha = weight * sigma[:, None] ** 2 / levels ** 2
        return levels.T, alpha.T

    def unroll(self, x0, back_projected, data_step, features, fine_sigma,
               sigma, *, checkpoint=False):
        """
        Run every iteration on whole images (training, small images).

        Parameters
        ----------
        x0 : `torch.Tensor`
            ``(B, H, W)`` starting images.
        back_projected : `torch.Tensor`
            ``(B, H, W)``: ``H^T y``.
        data_step : `~astrodeconv.operators.differentiable.TorchDataStep`
            The exact solve for the batch's PSFs.
        features : `torch.Tensor`
            ``(B, 3)``.
        fine_sigma, sigma : `torch.Tensor`
            ``(B,)``.
        checkpoint : bool, optional
            Recompute each prior step in the backward pass instead of
            storing its activations (less memory, more time).

        Returns
        -------
        x : `torch.Tensor`
            ``(B, H, W)``.
        """
        start = torch.maximum(x0.amax(dim=(-2, -1)), fine_sigma)
        levels, alpha = self.levels(features, start, fine_sigma, sigma)
        x = x0
        for level, a in zip(levels, alpha):
            z = data_step.solve(back_projected + a[:, None, None] * x, a)
            z = z.to(x0.dtype)[:, None]
            if checkpoint and torch.is_grad_enabled():
                from torch.utils.checkpoint import checkpoint as recompute

                x = recompute(self.prior, z, level, use_reentrant=False)
            else:
                x = self.prior(z, level)
            x = x[:, 0]
        return x

    def extra_repr(self):
        return f'n_iter={self.n_iter}'
