# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Learned deconvolution: Tikhonov followed by a neural-network denoiser.

PyTorch is imported only when a `LearnedDeconvolver` is built.
"""

import os

import numpy as np

from ..denoisers import tiling as _tiling
from ..denoisers.normalization import NORMALIZATIONS
from ..denoisers.tiling import resolve_tiling
from ..utils._validation import check_choice, check_positive_int
from ..operators import ForwardModel
from .core import DeconvolverBase
from .debias import _DEFAULTS as _DEBIAS_DEFAULTS
from .debias import _debias
from .tikhonov import REFERENCE_LAM, TikhonovDeconvolver

__all__ = ['LearnedDeconvolver', 'AUTO_TILE_LIMIT', 'AUTO_TILE_SIZE',
           'PIXELS_PER_PASS']

#: With ``tile_size='auto'``, images larger than this (pixels a side) are
#: processed in tiles (`astrodeconv.denoisers.AUTO_TILE_LIMIT`).
AUTO_TILE_LIMIT = _tiling.AUTO_TILE_LIMIT
#: With ``tile_size='auto'``, the tile size used for larger images
#: (`astrodeconv.denoisers.AUTO_TILE_SIZE`).
AUTO_TILE_SIZE = _tiling.AUTO_TILE_SIZE
#: The most pixels the network processes in one forward pass
#: (`astrodeconv.denoisers.PIXELS_PER_PASS`).
PIXELS_PER_PASS = _tiling.PIXELS_PER_PASS


def _resolve_denoiser(denoiser):
    """A torch module from a registry name, a path or a module."""
    import torch

    from ..denoisers.weights import load_denoiser

    if isinstance(denoiser, torch.nn.Module):
        return denoiser
    if isinstance(denoiser, (str, os.PathLike)):
        return load_denoiser(denoiser)
    msg = (f'denoiser must be a registry name, a path or a torch.nn.Module, '
           f'got {type(denoiser).__name__}')
    raise TypeError(msg)


class LearnedDeconvolver(DeconvolverBase):
    """
    Tikhonov deconvolution followed by a learned denoiser.

    The three steps of the published method: (1) Tikhonov deconvolution
    (Laplacian regulariser, optionally onto a finer grid); (2) the
    reference normalisation ``(x - mean) / max`` of the Tikhonov image;
    (3) the network, whose output is de-normalised. Images of any size are
    processed in overlapping tiles blended with smooth weights so no seam
    shows at tile borders.

    Parameters
    ----------
    denoiser : str, path or `torch.nn.Module`, optional
        A registry name (see `astrodeconv.denoisers.list_weights`), the
        path of a checkpoint, or any module with
        ``forward(x, sigma=None)`` (``x`` of shape ``(B, 1, H, W)``).
    lam : float or {'auto', 'sure', 'gcv'}, optional
        Tikhonov weight; the default 9e-3 is the value the published
        networks were trained with.
    upsample : int, optional
        Super-resolution factor of the Tikhonov step.
    boundary : str, optional
        Boundary handling of the Tikhonov step.
    device : str, optional
        ``'auto'`` (CUDA when available), ``'cpu'`` or ``'cuda'``.
    batch_size : int, optional
        The most tiles (or whole images) per forward pass; fewer when they
        are large, so that one pass holds at most `PIXELS_PER_PASS` pixels
        (16 images of 128 x 128, 4 tiles of 256 x 256), which bounds the
        memory of the network.
    tile_size : int, None or 'auto', optional
        Tile size in output pixels. None runs the network on whole images
        (networks with a fixed input size, such as SUNet, default to it).
        ``'auto'`` (default) runs images of up to `AUTO_TILE_LIMIT`
        pixels a side whole and larger ones (wide fields) in tiles of
        `AUTO_TILE_SIZE`, which bounds the memory of the network. Such
        wide fields also run their Tikhonov step and the debiasing in
        single precision (as the network), which halves their memory.
    tile_overlap : int, optional
        Overlap between tiles; the blending ramps span it. Defaults to a
        quarter of the tile size.
    amp : bool, optional
        Mixed precision (float16 autocast) on CUDA.
    n_noise_samples : int, optional
        If >= 2, estimate a per-pixel uncertainty by re-noising: draw that
        many noise realisations around ``h * x_hat``, deconvolve each and
        take the standard deviation. 0 (default) returns no uncertainty
        (with one warning when the input carried one); 1 is an error (a
        standard deviation needs two draws).
    seed : int, optional
        Seed of the re-noising draws.
    debias : bool, optional
        If True (default, the third step of the published pipeline),
        debias the network output with
        `~astrodeconv.deconvolution.debias_mrs` (also for every
        re-noising draw): gradient steps on the data fit restricted to the
        multi-resolution support of the network output, so that the flux
        the network lost in its significant structures is restored while
        nothing is fitted off the support. It also removes the background
        the network adds in empty sky (about 0.16 sigma for the shipped
        model), which would otherwise multiply the total flux of a sparse
        wide field. On the held-out simulations it lowers the median NMSE
        slightly (see the benchmarks page). False returns the network
        output as it is.
    debias_kwargs : dict, optional
        Keyword arguments passed to
        `~astrodeconv.deconvolution.debias_mrs` (``support``,
        ``n_scales``, ``threshold``, ``threshold_first``, ``n_iter``,
        ``step``, ``positivity``, ``tol``, ``accelerate``);
        ``support='data'`` uses the support of the back-projected data
        instead.
    normalization : {None, 'inference', 'sky'}, optional
        How the Tikhonov image is normalised before the network: as the
        network was trained (None, default: from its weights record or
        checkpoint; ``'inference'`` when they do not say). ``'inference'``
        (also ``'target'``): the reference ``(x - mean) / max``;
        ``'sky'``: ``(x - sky) / max(x - sky)`` with the robust sky level
        (`astrodeconv.denoisers.sky_level`), which puts the sky at 0 on a
        stamp and on a wide field alike.
    recenter : bool, optional
        Use the PSF as given (False, default: it keeps the registration
        its centroid offset carries) or recentre it on its centroid, see
        `~astrodeconv.deconvolution.DeconvolverBase`.
    progress : bool, optional
        Show a progress bar on the standard error: the network's passes
        (tiles or batches), or the iterations of the plug-and-play and
        unrolled methods.

    Notes
    -----
    The noise level given to networks that take one (Learnlet) is the
    observation's 1-sigma noise (from the uncertainty or estimated from
    the finest starlet scale) divided by ``upsample**2`` (flux per output
    pixel) and by the normalisation peak, as in the reference training.
    """

    _repr_params = ('denoiser_name', 'lam', 'upsample', 'tile_size',
                    'device')
    _linear = False

    def __init__(self, denoiser='default', *, lam=REFERENCE_LAM, upsample=1,
                 boundary='periodic', device='auto', batch_size=16,
                 tile_size='auto', tile_overlap=None, amp=False,
                 n_noise_samples=0, seed=0, debias=True,
                 debias_kwargs=None, recenter=False, normalization=None,
                 progress=False):
        from ..utils._torch import resolve_device

        self._tikhonov = TikhonovDeconvolver(lam=lam, upsample=upsample,
                                             boundary=boundary)
        # wide fields: single precision, as the network (memory)
        self._tikhonov_single = TikhonovDeconvolver(
            lam=lam, upsample=upsample, boundary=boundary, dtype='float32')
        super().__init__(upsample=upsample, recenter=recenter)
        self.lam = self._tikhonov.lam
        self.boundary = boundary
        self.device = resolve_device(device)
        self.batch_size = check_positive_int(batch_size, 'batch_size')
        self.amp = bool(amp)
        self.n_noise_samples = check_positive_int(
            n_noise_samples, 'n_noise_samples', minimum=0)
        if self.n_noise_samples == 1:
            msg = ('n_noise_samples must be 0 (no uncertainty) or at least '
                   '2 (a standard deviation needs two draws), got 1')
            raise ValueError(msg)
        self.seed = seed
        self.debias = bool(debias)
        if debias_kwargs is not None and not isinstance(debias_kwargs,
                                                        dict):
            msg = (f'debias_kwargs must be a dict or None, got '
                   f'{type(debias_kwargs).__name__}')
            raise TypeError(msg)
        self.debias_kwargs = dict(debias_kwargs or {})
        self.network = _resolve_denoiser(denoiser).to(self.device).eval()
        info = getattr(self.network, 'weights_info', None) or {
            'name': type(self.network).__name__, 'sha256': 'none'}
        self.weights_info = info
        self.denoiser_name = info['name']
        if normalization is None:
            normalization = info.get('normalization', 'inference')
        self.progress = bool(progress)
        self.normalization = check_choice(normalization, 'normalization',
                                          NORMALIZATIONS)
        self.tile_size, self.tile_overlap = resolve_tiling(
            self.network, tile_size, tile_overlap)

    # -- the network step ----------------------------------------------
    def _denoise(self, images, sigma, normalization='network',
                 progress=None):
        """
        The network on images ``(N, H, W)`` of noise ``sigma`` (``(N,)``),
        through `~astrodeconv.denoisers.denoise_images` with this
        deconvolver's settings; ``normalization='network'`` is the one the
        network was trained with, None feeds the images as they are.
        """
        from ..denoisers import denoise_images

        if normalization == 'network':
            normalization = self.normalization
        return denoise_images(
            self.network, images, sigma=sigma, normalization=normalization,
            tile_size=self.tile_size, tile_overlap=self.tile_overlap,
            batch_size=self.batch_size, device=self.device, amp=self.amp,
            progress=self.progress if progress is None else progress)

    def _run_network(self, normed, sig):
        """The network on images already in its units (no normalisation)."""
        return self._denoise(normed, sig, normalization=None)

    def _noise_sigma(self, data, error, mask):
        if error is not None:
            return np.sqrt(np.nanmean(error.reshape(len(data), -1) ** 2,
                                      axis=1))
        from ..wavelets import estimate_noise

        return np.atleast_1d(estimate_noise(data, mask=mask))

    def _pipeline(self, data, psf, error, mask, sigma):
        # wide fields run in single precision (memory); the network
        # computes in float32 anyway
        wide = max(data.shape[-2:]) * self.upsample > AUTO_TILE_LIMIT
        tikhonov = self._tikhonov_single if wide else self._tikhonov
        # the uncertainty only serves the choice of lam ('auto'/'sure')
        tik = tikhonov._deconvolve_stack(data, psf, error, mask,
                                         diagnostics=False, want_psf=False,
                                         want_error=False)
        # the Tikhonov image is not needed after the network (memory)
        image = self._denoise(tik.pop('image'), sigma / self.upsample ** 2)
        if self.debias:
            image = self._debias_output(image, data, psf, sigma, wide)
        return image, tik

    def _debias_output(self, image, data, psf, sigma, wide):
        """The debiasing step with ``debias_kwargs`` over its defaults."""
        # _debias does not warn: an image without significant structure
        # keeps the network output, silently
        options = dict(_DEBIAS_DEFAULTS, upsample=self.upsample,
                       dtype='float32' if wide else 'float64')
        options.update(self.debias_kwargs)
        return _debias(image, data, psf, sigma=sigma, **options).image

    def _deconvolve_stack(self, data, psf, error, mask, diagnostics=True,
                          want_psf=True):
        k = self.upsample
        sigma = self._noise_sigma(data, error, mask)
        image, tik = self._pipeline(data, psf, error, mask, sigma)
        model = ForwardModel(psf, data.shape[-2:], upsample=k).forward(image)
        out_error = None
        if self.n_noise_samples:
            rng = np.random.default_rng(self.seed)
            noise_map = (error if error is not None else
                         np.broadcast_to(sigma[:, None, None], data.shape))
            draws = []
            for _ in range(self.n_noise_samples):
                noisy = model + rng.normal(0.0, 1.0, data.shape) * noise_map
                draws.append(self._pipeline(noisy, psf, error, mask,
                                            sigma)[0])
            out_error = np.std(draws, axis=0, ddof=1)
        return {'image': image, 'residual': data - model,
                'error': out_error,
                'params': {'lam': tik['params']['lam'], 'sigma': sigma}}

    def _warn_uncertainty(self, items):
        return self.n_noise_samples == 0 and super()._warn_uncertainty(
            items)

    def _provenance(self, params, index):
        return {'DCNVLAM': float(params['lam']), 'DCNVUPS': self.upsample,
                'DCNVNET': self.weights_info.get('architecture', type(
                    self.network).__name__),
                'DCNVWGT': self.weights_info['name'],
                'DCNVSHA': self.weights_info['sha256'],
                'DCNVSIG': float(params['sigma']),
                'DCNVUNS': self.n_noise_samples,
                'DCNVDBS': self.debias}
