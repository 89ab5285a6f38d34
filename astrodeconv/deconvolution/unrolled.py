# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Unrolled deconvolution: plug-and-play iterations trained end to end.

The iterations of `~astrodeconv.deconvolution.PnPDeconvolver`
(half-quadratic splitting: the exact data step of
`~astrodeconv.operators.ForwardModel`, then a noise-level-conditioned
denoiser), run for a fixed number of steps with a denoiser and
per-iteration hyper-parameters that were trained through all the
iterations at once (`~astrodeconv.training.train_unrolled`). The PSF, the
grid and the target resolution enter only through the data step, so one
set of weights serves every telescope; the hyper-parameters are predicted
from the noise level, the PSF width and the super-resolution factor of
every image. PyTorch is imported only when an `UnrolledDeconvolver` is
built.
"""

import numpy as np

from .learned import LearnedDeconvolver
from .pnp import PnPDeconvolver
from .tikhonov import REFERENCE_LAM

__all__ = ['UnrolledDeconvolver', 'UNROLLED_DEFAULT_WEIGHTS']

#: Registry name of the weights `UnrolledDeconvolver` uses by default.
UNROLLED_DEFAULT_WEIGHTS = 'unrolled-hqs-v1'


class UnrolledDeconvolver(PnPDeconvolver):
    r"""
    Physics-in-the-loop deconvolution learned end to end.

    ``K`` iterations of half-quadratic splitting from the Tikhonov image:

    1. the exact data step :math:`z_i = (H^T H + \alpha_i I)^{-1} (H^T y +
       \alpha_i x_{i-1})` for the PSF and grid of the image (any
       ``upsample``);
    2. the prior step :math:`x_i = D(z_i, \sigma_i)`, one learned
       denoiser shared by every iteration.

    The noise levels :math:`\sigma_i` and weights :math:`\alpha_i` are
    predicted per image by the network from the noise relative to the
    image, the width of the PSF on the output grid and ``upsample`` (see
    `~astrodeconv.denoisers.UnrolledHQS`). Output and uncertainty follow
    the contract of `~astrodeconv.deconvolution.LearnedDeconvolver`
    (tiling, masks, debiasing, re-noised uncertainty).

    Parameters
    ----------
    denoiser : str, path or `~astrodeconv.denoisers.UnrolledHQS`, optional
        Registry name, checkpoint path or module. Default
        `UNROLLED_DEFAULT_WEIGHTS`, shipped with the package.
    lam : float, optional
        Tikhonov weight of the starting image (the one used in training).
    upsample : int, optional
        Super-resolution factor.
    device, batch_size, tile_size, tile_overlap, amp : optional
        How the network runs, as for
        `~astrodeconv.deconvolution.LearnedDeconvolver`.
    n_noise_samples, seed : optional
        Re-noised runs for a per-pixel uncertainty.
    debias, debias_kwargs : optional
        Multi-resolution-support debiasing of the result (default on).
    recenter : bool, optional
        Recentre an off-centre PSF (default: keep its registration).
    progress : bool, optional
        Show a progress bar over the iterations on the standard error.

    Examples
    --------
    A galaxy seen through a 0.8" Moffat seeing on 0.2" pixels, asked for on
    a twice finer grid (0.1"):

    >>> from astrodeconv.datasets import degrade_to_ground, simulate_galaxies
    >>> from astrodeconv.deconvolution import UnrolledDeconvolver
    >>> truth, _ = simulate_galaxies(1, stamp_size=64, seed=4)
    >>> obs = degrade_to_ground(truth, psf_fwhm=0.8, pixel_scale=0.1,
    ...                         upsample=2, seed=5, peak_snr=30.0)
    >>> deconvolver = UnrolledDeconvolver(upsample=2, device='cpu')
    >>> image = deconvolver(obs.observed[0], psf=obs.psf[0])
    >>> image.shape, deconvolver.n_iter
    ((64, 64), 6)
    """

    _repr_params = ('denoiser_name', 'n_iter', 'upsample', 'device')

    def __init__(self, denoiser=UNROLLED_DEFAULT_WEIGHTS, *,
                 lam=REFERENCE_LAM, upsample=1, device='auto',
                 batch_size=16, tile_size='auto', tile_overlap=None,
                 amp=False, n_noise_samples=0, seed=0, debias=True,
                 debias_kwargs=None, recenter=False, progress=False):
        LearnedDeconvolver.__init__(
            self, denoiser, lam=lam, upsample=upsample, boundary='periodic',
            device=device, batch_size=batch_size, tile_size=tile_size,
            tile_overlap=tile_overlap, amp=amp,
            n_noise_samples=n_noise_samples, seed=seed, debias=debias,
            debias_kwargs=debias_kwargs, recenter=recenter,
            normalization='inference', progress=progress)
        if not hasattr(self.network, 'levels'):
            msg = (f'denoiser must hold an unrolled model (UnrolledHQS, '
                   f'trained with astrodeconv.training.train_unrolled), '
                   f'got a {type(self.network).__name__}')
            raise TypeError(msg)
        self.n_iter = int(self.network.n_iter)

    def schedule(self, psf, peak, sigma):
        """
        Noise levels and data-step weights of every iteration.

        Parameters
        ----------
        psf : ndarray
            The PSF on the output grid, ``(py, px)`` or one per image.
        peak : array_like
            ``(N,)`` peak of each starting image.
        sigma : array_like
            ``(N,)`` noise of one observed pixel of each image.

        Returns
        -------
        levels, alpha : ndarray
            ``(n_iter, N)`` each, in the units of the images.
        """
        import torch

        from ..denoisers.unrolled import effective_fwhm, schedule_features

        peak = np.asarray(peak, dtype=float)
        sigma = np.asarray(sigma, dtype=float)
        k = self.upsample
        fine = sigma / k ** 2
        fwhm = np.broadcast_to(effective_fwhm(psf), peak.shape).copy()

        def tensor(value):
            return torch.as_tensor(np.asarray(value, dtype=float),
                                   dtype=torch.float64)

        features = schedule_features(tensor(fine / np.maximum(peak, 1e-30)),
                                     tensor(fwhm),
                                     tensor(np.full(peak.shape, float(k))))
        start = np.maximum(peak, fine)
        with torch.no_grad():
            self.network.hyper.double()
            try:
                levels, alpha = self.network.levels(
                    features, tensor(start), tensor(fine), tensor(sigma))
            finally:
                self.network.hyper.float()
        return levels.numpy(), alpha.numpy()

    def _schedule(self, psf, start, scale, sigma):
        return self.schedule(psf, start.max(axis=(-2, -1)), sigma)

    def _provenance(self, params, index):
        out = LearnedDeconvolver._provenance(self, params, index)
        out.update({'DCNVMETH': 'unrolled-hqs', 'DCNVNIT': self.n_iter})
        return out
