# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Ground-based observations of simulated truth images.

`degrade_to_ground` turns a stack of space-based "truth" images (for
example from `simulate_galaxies`) into the ground-based observations a
deconvolution network learns to invert, with the forward model of
`astrodeconv.deconvolution.TikhonovDeconvolver`::

    observed = block_sum(truth * psf, k) + noise

``*`` is a *linear* (zero-padded) convolution computed by FFT, identical to
``scipy.signal.fftconvolve(truth, psf, mode='same')``: flux blurred beyond
the stamp edges is lost instead of wrapping around to the opposite side.
For galaxies centred on stamps with empty borders it agrees with the
circular convolution assumed by the Tikhonov filter to the level of the
flux near the borders. ``psf`` is sampled on the truth grid (odd size ``P``,
centred on pixel ``(P // 2, P // 2)``, unit sum) and ``block_sum(., k)``
adds ``k x k`` blocks of fine pixels into one observed pixel (flux
conserving, ``k = upsample``).
"""

from dataclasses import dataclass, field

import numpy as np

from ..operators import ForwardModel
from ..psf.analytic import DEFAULT_MOFFAT_BETA, odd_stamp_size
from ..utils._validation import check_choice, check_positive_int, check_real

__all__ = ['GroundObservations', 'degrade_to_ground']

_PSF_MODELS = ('moffat', 'gaussian')
#: Side of the PSF stamps of the degradation in units of the largest FWHM
#: of the set (smaller than the package default of
#: `~astrodeconv.psf.PSF_STAMP_SIZE_IN_FWHM`: the stamps of training
#: galaxies are small); rounded by `~astrodeconv.psf.odd_stamp_size`.
_PSF_EXTENT = 4.0
#: Images convolved per FFT batch.
_BATCH = 64


@dataclass(eq=False)
class GroundObservations:
    """
    Simulated ground-based observations returned by `degrade_to_ground`.

    Attributes
    ----------
    observed : `~numpy.ndarray`
        ``float32`` stack ``(N, S // k, S // k)``: blurred, block-summed
        and noisy images (same units as the truth).
    noiseless : `~numpy.ndarray`
        ``float32`` stack ``(N, S // k, S // k)``: ``observed`` before the
        noise was added.
    psf : `~numpy.ndarray`
        ``float32`` stack ``(N, P, P)``: the PSF of every observation on the
        truth (fine) grid, ``P`` odd, centred on ``(P // 2, P // 2)``, unit
        sum.
    sigma : `~numpy.ndarray`
        ``(N,)`` standard deviation of the white Gaussian noise of every
        observation, per observed pixel.
    psf_fwhm : `~numpy.ndarray`
        ``(N,)`` FWHM of every PSF in arcsec.
    upsample : int
        Ratio ``k`` of the observed to the truth pixel size.
    sigma_seed : float
        The noise level of the reference rule ``noise='seed'``: the peak of
        the noiseless observation of the faintest object.
    pixel_scale : float
        Truth pixel scale in arcsec (the observed one is ``k`` times
        larger).
    psf_model : str
        ``'moffat'`` or ``'gaussian'``.
    moffat_beta : float
        Moffat index (used when ``psf_model='moffat'``).
    noise : str
        Description of the noise rule that was used.
    seed : int or sequence of int
        Seed of the PSF and noise draws.
    """

    observed: np.ndarray
    noiseless: np.ndarray
    psf: np.ndarray
    sigma: np.ndarray
    psf_fwhm: np.ndarray
    upsample: int
    sigma_seed: float
    pixel_scale: float
    psf_model: str
    moffat_beta: float
    noise: str
    seed: object = field(default=0)

    def __len__(self):
        return len(self.observed)

    def __repr__(self):
        return (f'GroundObservations(n={len(self)}, '
                f'observed={self.observed.shape[1:]}, '
                f'psf={self.psf.shape[1:]}, upsample={self.upsample}, '
                f'psf_model={self.psf_model!r}, noise={self.noise!r})')


def _draw_range(value, name, n, rng, *, log=False):
    """A number, or ``n`` uniform (log-uniform) draws in ``(low, high)``."""
    if isinstance(value, tuple):
        if len(value) != 2:
            msg = f'{name} must be a number or a (low, high) pair, got {value}'
            raise ValueError(msg)
        lo = check_real(value[0], f'{name}[0]', minimum=0, strict=True)
        hi = check_real(value[1], f'{name}[1]', minimum=0, strict=True)
        if lo > hi:
            msg = f'{name} must satisfy low <= high, got {value}'
            raise ValueError(msg)
        if log:
            return np.exp(rng.uniform(np.log(lo), np.log(hi), n))
        return rng.uniform(lo, hi, n)
    return np.full(n, check_real(value, name, minimum=0, strict=True))


def _make_psfs(fwhm_pix, size, model, beta):
    """A ``(N, size, size)`` stack of normalised PSFs (float64)."""
    from ..psf import make_gaussian_psf, make_moffat_psf

    cache = {}
    out = np.empty((len(fwhm_pix), size, size))
    for i, fwhm in enumerate(fwhm_pix):
        key = float(fwhm)
        if key not in cache:
            if model == 'gaussian':
                psf = make_gaussian_psf(key, shape=(size, size))
            else:
                psf = make_moffat_psf(key, beta=beta, shape=(size, size))
            cache[key] = psf / psf.sum()
        out[i] = cache[key]
    return out


def _observe(truth, psfs, k):
    """
    Noiseless observations ``D (h * x)`` of a stack, one PSF per image.

    The convolution is linear (the images are zero outside their stamp),
    as ``scipy.signal.fftconvolve(image, psf, mode='same')`` for odd PSF
    sizes, followed by the ``k x k`` block sum.
    """
    n, ny, nx = truth.shape
    pad = -(-(psfs.shape[-1] // 2) // k)    # ceil(half PSF / k)
    model = ForwardModel(psfs, (ny // k, nx // k), upsample=k,
                         pad_width=pad)
    out = np.empty((n, ny // k, nx // k))
    for start in range(0, n, _BATCH):
        sl = slice(start, start + _BATCH)
        out[sl] = model.select(sl).forward(truth[sl])
    return out


def _as_stack(truth):
    arr = np.asarray(truth, dtype=float)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        msg = (f'truth must be an image (S, S) or a stack (N, S, S), got '
               f'{arr.ndim} dimension(s)')
        raise ValueError(msg)
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        msg = f'truth must not be empty, got shape {arr.shape}'
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = 'truth must contain only finite values'
        raise ValueError(msg)
    return arr


def degrade_to_ground(truth, *, psf_fwhm=(0.5, 1.0), psf_model='moffat',
                      moffat_beta=DEFAULT_MOFFAT_BETA, pixel_scale=0.05,
                      upsample=1, noise='seed', seed=0):
    """
    Simulate ground-based observations of truth images.

    Each truth image is convolved with its own ground-based PSF (linear
    convolution), summed over ``upsample x upsample`` blocks of pixels when
    ``upsample > 1`` and given white Gaussian noise. The module docstring
    states the forward model exactly.

    Parameters
    ----------
    truth : array_like
        The truth image ``(S, S)`` or stack ``(N, S, S)`` on the fine grid
        (for example from `simulate_galaxies`); ``S`` must be a multiple of
        ``upsample``.
    psf_fwhm : float or tuple of 2 float, optional
        Seeing FWHM in arcsec: one value for every image, or a
        ``(low, high)`` range from which each image draws its FWHM
        uniformly. The published SUNet set used a Gaussian of 15 pixels of
        0.05", i.e. ``psf_fwhm=0.75, psf_model='gaussian'``.
    psf_model : {'moffat', 'gaussian'}, optional
        Profile of the seeing PSF (`astrodeconv.psf.make_moffat_psf` or
        `astrodeconv.psf.make_gaussian_psf`, integrated over the pixels).
        The PSF is sampled on the truth grid with an odd size of about 4
        times the largest FWHM (at most ``S``) and normalised to unit sum
        on that stamp (the default Moffat has less than 1% of its flux
        beyond 2 FWHM; the stored PSF is exactly the kernel applied).
    moffat_beta : float, optional
        Moffat index for ``psf_model='moffat'``.
    pixel_scale : float, optional
        Truth pixel scale in arcsec.
    upsample : int, optional
        Ratio ``k`` of the observed to the truth pixel size; the
        observation has ``S // k`` pixels on a side.
    noise : 'seed', float, array_like or tuple of 2 float, optional
        The noise standard deviation per observed pixel:

        * ``'seed'`` (the rule of the published training sets): one
          ``sigma_seed`` for the whole set, equal to the peak pixel of the
          noiseless observation of the faintest object (lowest total flux
          of its truth image), so that object has a peak signal-to-noise
          ratio of exactly 1;
        * a float: that standard deviation for every image;
        * a `~numpy.ndarray` of shape ``(N,)``: one value per image;
        * a tuple ``(low, high)``: per-image values drawn log-uniformly
          between ``low * sigma_seed`` and ``high * sigma_seed``, to train
          over a range of noise levels (e.g. ``(0.05, 1.0)``).
    seed : int or sequence of int, optional
        Seed of `numpy.random.default_rng` for the FWHM, the noise levels
        and the noise, drawn in that order.

    Returns
    -------
    observations : `GroundObservations`
        The observed and noiseless images, PSFs, noise levels and FWHMs.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.datasets import degrade_to_ground
    >>> truth = np.zeros((3, 64, 64)); truth[:, 30:34, 30:34] = 1.0
    >>> obs = degrade_to_ground(truth, psf_fwhm=0.7, upsample=4)
    >>> obs.observed.shape, obs.psf.shape
    ((3, 16, 16), (3, 57, 57))
    >>> bool(np.allclose(obs.noiseless.sum(axis=(1, 2)), 16, rtol=1e-3))
    True
    >>> bool(np.isclose(obs.noiseless.max(axis=(1, 2)).min(),
    ...                 obs.sigma[0], rtol=1e-6))
    True
    """
    truth = _as_stack(truth)
    n, ny, nx = truth.shape
    k = check_positive_int(upsample, 'upsample')
    if ny % k or nx % k:
        msg = (f'upsample must divide the truth image size, got '
               f'upsample={k} for images of shape {(ny, nx)}')
        raise ValueError(msg)
    psf_model = check_choice(psf_model, 'psf_model', _PSF_MODELS)
    moffat_beta = check_real(moffat_beta, 'moffat_beta', minimum=1,
                             strict=True)
    pixel_scale = check_real(pixel_scale, 'pixel_scale', minimum=0,
                             strict=True)
    if isinstance(psf_fwhm, list):
        psf_fwhm = tuple(psf_fwhm)
    rng = np.random.default_rng(seed)

    fwhm = _draw_range(psf_fwhm, 'psf_fwhm', n, rng)
    fwhm_pix = fwhm / pixel_scale
    size = odd_stamp_size(_PSF_EXTENT * fwhm_pix.max(), limit=min(ny, nx))
    psfs = _make_psfs(fwhm_pix, size, psf_model, moffat_beta)

    clean = _observe(truth, psfs, k)
    faintest = int(np.argmin(truth.sum(axis=(-2, -1))))
    sigma_seed = float(clean[faintest].max())
    if not sigma_seed > 0:
        msg = ('truth must have a positive peak in the noiseless '
               'observation of its faintest image to set the noise level, '
               f'got a peak of {sigma_seed:.3g} for image {faintest}')
        raise ValueError(msg)

    if isinstance(noise, str):
        check_choice(noise, 'noise', ('seed',))
        sigma = np.full(n, sigma_seed)
        rule = 'seed: sigma = peak of the faintest noiseless observation'
    elif isinstance(noise, (tuple, list)):
        noise = tuple(noise)
        sigma = sigma_seed * _draw_range(noise, 'noise', n, rng, log=True)
        rule = (f'log-uniform in ({noise[0]:g}, {noise[1]:g}) x '
                'sigma_seed')
    elif isinstance(noise, np.ndarray) and noise.ndim > 0:
        sigma = np.asarray(noise, dtype=float)
        if sigma.shape != (n,) or not np.all(np.isfinite(sigma)) or np.any(
                sigma < 0):
            msg = (f'noise must have shape ({n},) with finite values >= 0 '
                   f'when it is an array, got shape {sigma.shape}')
            raise ValueError(msg)
        rule = 'per-object array'
    else:
        sigma = np.full(n, check_real(noise, 'noise', minimum=0))
        rule = f'fixed sigma = {sigma[0]:g}'
    observed = clean + sigma[:, None, None] * rng.standard_normal(
        clean.shape)
    return GroundObservations(
        observed=observed.astype(np.float32),
        noiseless=clean.astype(np.float32), psf=psfs.astype(np.float32),
        sigma=sigma, psf_fwhm=fwhm, upsample=k, sigma_seed=sigma_seed,
        pixel_scale=pixel_scale, psf_model=psf_model,
        moffat_beta=moffat_beta, noise=rule, seed=seed)
