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

Every image has its own seeing PSF: a Gaussian, Moffat or Kolmogorov
profile (or a random one of them), circular or mildly elliptical, with a
random FWHM, Moffat index, ellipticity and position angle within the given
ranges; the noise level follows the rule of the published training sets or
a per-image peak signal-to-noise ratio.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.fft import next_fast_len

from ..operators import ForwardModel
from ..psf.analytic import DEFAULT_MOFFAT_BETA, odd_stamp_size
from ..utils._optional_deps import import_optional
from ..utils._validation import (check_choice, check_ellipticity,
                                 check_positive_int, check_real)

__all__ = ['GroundObservations', 'degrade_to_ground']

#: The PSF families, in the order of the random draws of ``'mixed'``.
_PSF_FAMILIES = ('gaussian', 'moffat', 'kolmogorov')
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
        ``(N,)`` FWHM of every PSF in arcsec (the geometric mean of the
        major and minor FWHM of an elliptical PSF).
    upsample : int
        Ratio ``k`` of the observed to the truth pixel size.
    sigma_seed : float
        The noise level of the reference rule ``noise='seed'``: the peak of
        the noiseless observation of the faintest object.
    pixel_scale : float
        Truth pixel scale in arcsec (the observed one is ``k`` times
        larger).
    psf_model : str
        ``'gaussian'``, ``'moffat'`` or ``'kolmogorov'`` when every PSF has
        that profile, ``'mixed'`` when the images drew their profile
        among several (see ``psf_models``).
    moffat_beta : float or tuple of 2 float
        The Moffat index that was asked for: one value, or the ``(low,
        high)`` range of the per-image draws (see ``moffat_betas``).
    noise : str
        Description of the noise rule that was used.
    seed : int or sequence of int
        Seed of the PSF and noise draws.
    psf_models : `~numpy.ndarray`
        ``(N,)`` strings: the profile of every PSF.
    moffat_betas : `~numpy.ndarray`
        ``(N,)`` Moffat index of every PSF, NaN for the PSFs that are not
        Moffat profiles.
    psf_ellipticity : `~numpy.ndarray`
        ``(N,)`` ellipticity ``(1 - q) / (1 + q)`` of every PSF (``q`` the
        axis ratio), 0 for a circular PSF.
    psf_angle : `~numpy.ndarray`
        ``(N,)`` position angle of the major axis of every PSF in degrees,
        counter-clockwise from the x axis (the columns) towards the y axis
        (the rows); 0 for the circular PSFs.
    peak_snr : `~numpy.ndarray`
        ``(N,)`` peak signal-to-noise ratio of every observation: the peak
        pixel of its noiseless observation divided by its ``sigma`` (the
        drawn value with ``peak_snr`` of `degrade_to_ground`; ``inf`` for
        an observation without noise).
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
    psf_models: np.ndarray = field(default=None)
    moffat_betas: np.ndarray = field(default=None)
    psf_ellipticity: np.ndarray = field(default=None)
    psf_angle: np.ndarray = field(default=None)
    peak_snr: np.ndarray = field(default=None)

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


def _range(value, name, check):
    """
    A number, or a ``(low, high)`` tuple, with every value checked.

    ``check(value, name)`` returns the checked float. A list is taken as a
    tuple.
    """
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple):
        if len(value) != 2:
            msg = (f'{name} must be a number or a (low, high) pair, got '
                   f'{len(value)} values: {value}')
            raise ValueError(msg)
        lo, hi = check(value[0], f'{name}[0]'), check(value[1], f'{name}[1]')
        if lo > hi:
            msg = f'{name} must satisfy low <= high, got {value}'
            raise ValueError(msg)
        return (lo, hi)
    return check(value, name)


def _draw(value, n, rng, *, log=False):
    """``n`` copies of a number, or uniform (log-uniform) draws in a range."""
    if isinstance(value, tuple):
        if log:
            return np.exp(rng.uniform(np.log(value[0]), np.log(value[1]), n))
        return rng.uniform(value[0], value[1], n)
    return np.full(n, value)


def _check_families(psf_model):
    """The tuple of the PSF families of ``psf_model`` (validated)."""
    if isinstance(psf_model, str):
        check_choice(psf_model, 'psf_model',
                     ('moffat', 'gaussian', 'kolmogorov', 'mixed'))
        return _PSF_FAMILIES if psf_model == 'mixed' else (psf_model,)
    if not isinstance(psf_model, (tuple, list)):
        msg = (f'psf_model must be a string or a tuple of strings, got '
               f'{psf_model!r} of type {type(psf_model).__name__}')
        raise TypeError(msg)
    families = tuple(psf_model)
    valid = ', '.join(repr(f) for f in _PSF_FAMILIES)
    if not families:
        msg = f'psf_model must name at least one of {valid}, got ()'
        raise ValueError(msg)
    for name in families:
        if not isinstance(name, str) or name not in _PSF_FAMILIES:
            msg = (f'psf_model must contain only names among {valid}, got '
                   f'{name!r} in {families!r}')
            raise ValueError(msg)
    if len(set(families)) != len(families):
        msg = f'psf_model must not repeat a name, got {families!r}'
        raise ValueError(msg)
    return families


def _check_beta(value, name):
    return check_real(value, name, minimum=1, strict=True)


def _check_snr(value, name):
    return check_real(value, name, minimum=0, strict=True)


def _make_psfs(family, fwhm_pix, beta, ellipticity, angle, size):
    """
    A ``(N, size, size)`` stack of normalised PSFs (float64).

    Image ``i`` has the profile ``family[i]`` with the FWHM ``fwhm_pix[i]``
    (pixels), Moffat index ``beta[i]`` (Moffat profiles only), ellipticity
    ``ellipticity[i]`` and position angle ``angle[i]`` (degrees). Repeated
    parameters reuse the PSF already made.
    """
    from ..psf import make_gaussian_psf, make_kolmogorov_psf, make_moffat_psf

    shape = (size, size)
    cache = {}
    out = np.empty((len(fwhm_pix), size, size))
    for i, (name, fwhm, b, e, a) in enumerate(zip(
            family, fwhm_pix, beta, ellipticity, angle, strict=True)):
        key = (name, float(fwhm), float(b) if name == 'moffat' else None,
               float(e), float(a) if e > 0 else None)
        if key not in cache:
            if e > 0:
                shear = {'ellipticity': float(e), 'angle': float(a)}
            else:    # the circular profiles of the first versions
                shear = {}
            if name == 'gaussian':
                psf = make_gaussian_psf(key[1], shape=shape, **shear)
            elif name == 'moffat':
                psf = make_moffat_psf(key[1], beta=key[2], shape=shape,
                                      **shear)
            else:
                psf = make_kolmogorov_psf(key[1], shape=shape, **shear)
            cache[key] = psf / psf.sum()
        out[i] = cache[key]
    return out


def _fast_pad(pad, shape, k):
    """
    The smallest padding >= ``pad`` (observed pixels) giving fast FFTs.

    The padded fine grid ``k * (n // k + 2 * pad)`` of both axes should
    have no prime factor above 5 (a PSF stamp of 127 pixels on images of
    128 makes FFTs of 254 = 2 x 127 points, three times slower than 256);
    ``pad`` itself if no such padding is found within 16 more pixels.
    """
    for extra in range(17):
        p = pad + extra
        if all(next_fast_len(k * (n // k + 2 * p), real=True)
               == k * (n // k + 2 * p) for n in shape):
            return p
    return pad


def _observe(truth, psfs, k, *, fast=False):
    """
    Noiseless observations ``D (h * x)`` of a stack, one PSF per image.

    The convolution is linear (the images are zero outside their stamp),
    as ``scipy.signal.fftconvolve(image, psf, mode='same')`` for odd PSF
    sizes, followed by the ``k x k`` block sum. With ``fast``, the zero
    padding is grown to FFT-friendly sizes (the result is the same to the
    rounding errors; the PSFs of the first versions keep their padding,
    so that their output stays bit-identical).
    """
    n, ny, nx = truth.shape
    pad = -(-(psfs.shape[-1] // 2) // k)    # ceil(half PSF / k)
    if fast:
        pad = _fast_pad(pad, (ny, nx), k)
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
                      moffat_beta=DEFAULT_MOFFAT_BETA, psf_ellipticity=0.0,
                      pixel_scale=0.05, upsample=1, noise='seed',
                      peak_snr=None, seed=0):
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
        0.05", i.e. ``psf_fwhm=0.75, psf_model='gaussian'``. For an
        elliptical PSF it is the geometric mean of the major and minor
        FWHM.
    psf_model : str or tuple of str, optional
        Profile of the seeing PSF:

        * ``'moffat'`` (`astrodeconv.psf.make_moffat_psf`), ``'gaussian'``
          (`astrodeconv.psf.make_gaussian_psf`) or ``'kolmogorov'``
          (`astrodeconv.psf.make_kolmogorov_psf`, needs GalSim): that
          profile for every image;
        * ``'mixed'``: each image draws its profile uniformly among the
          three;
        * a tuple of some of the three names: each image draws its profile
          uniformly among them.

        The PSFs are integrated over the pixels of the truth grid, sampled
        on a common odd stamp of about 4 times the largest FWHM (larger by
        ``1 / sqrt(q)`` for the most elliptical PSF, ``q`` its axis ratio;
        at most ``S``) and normalised to unit sum on that stamp: the stored
        PSF is exactly the kernel applied. The default Moffat has less than
        1% of its flux beyond that stamp, the Kolmogorov profile, whose
        wings are the heaviest, 2.6%.
    moffat_beta : float or tuple of 2 float, optional
        Moffat index (> 1) of the Moffat PSFs: one value, or a ``(low,
        high)`` range from which each image draws its index uniformly
        (e.g. ``(2, 5)``).
    psf_ellipticity : float or tuple of 2 float, optional
        Ellipticity ``e = (1 - q) / (1 + q)`` of the PSFs (``q`` the ratio
        of the minor to the major axis), in ``[0, 1)``: one value, or a
        ``(low, high)`` range from which each image draws it uniformly.
        The circular profile is sheared (its isophotes keep their area, so
        the FWHM is the geometric mean of the axes) along a position angle
        drawn uniformly in ``[0, 180)`` degrees for every image. Ground
        based seeing has ``e`` of a few percent, rarely more than 0.1.
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
    peak_snr : float or tuple of 2 float, optional
        Instead of ``noise`` (which must then be left at ``'seed'``): the
        peak signal-to-noise ratio of every observation, one value or a
        ``(low, high)`` range from which each image draws it
        log-uniformly (e.g. ``(1, 300)``). The noise ``sigma`` of each
        image is the peak pixel of its noiseless observation divided by
        its peak S/N, so every image must have a positive peak.
    seed : int or sequence of int, optional
        Seed of `numpy.random.default_rng` for the FWHM, the noise levels
        and the noise, drawn in that order. The PSF profiles, Moffat
        indices, ellipticities, position angles and peak S/N are drawn from
        five independent streams spawned from the same generator
        (`numpy.random.Generator.spawn`), so that changing one of these
        options changes no other draw and the defaults give the same
        observations as the versions without them.

    Returns
    -------
    observations : `GroundObservations`
        The observed and noiseless images, PSFs, noise levels and the
        parameters of every PSF.

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

    Random Gaussian and Moffat profiles, mildly elliptical, with a peak
    S/N between 5 and 100:

    >>> obs = degrade_to_ground(truth, psf_model=('gaussian', 'moffat'),
    ...                         moffat_beta=(2, 5), psf_ellipticity=(0, 0.1),
    ...                         peak_snr=(5, 100), seed=1)
    >>> obs.psf_model, obs.psf_models.shape
    ('mixed', (3,))
    >>> bool(np.allclose(obs.noiseless.max(axis=(1, 2)) / obs.sigma,
    ...                  obs.peak_snr, rtol=1e-6))
    True
    """
    truth = _as_stack(truth)
    n, ny, nx = truth.shape
    k = check_positive_int(upsample, 'upsample')
    if ny % k or nx % k:
        msg = (f'upsample must divide the truth image size, got '
               f'upsample={k} for images of shape {(ny, nx)}')
        raise ValueError(msg)
    families = _check_families(psf_model)
    beta_range = _range(moffat_beta, 'moffat_beta', _check_beta)
    ellipticity_range = _range(psf_ellipticity, 'psf_ellipticity',
                               check_ellipticity)
    pixel_scale = check_real(pixel_scale, 'pixel_scale', minimum=0,
                             strict=True)
    if peak_snr is not None:
        snr_range = _range(peak_snr, 'peak_snr', _check_snr)
        if not (isinstance(noise, str) and noise == 'seed'):
            msg = (f'noise must be left at its default \'seed\' when '
                   f'peak_snr is given (peak_snr sets the noise), got '
                   f'noise={noise!r} and peak_snr={peak_snr!r}')
            raise ValueError(msg)
    if 'kolmogorov' in families:
        import_optional('galsim', purpose='to make Kolmogorov PSFs')
    if isinstance(psf_fwhm, list):
        psf_fwhm = tuple(psf_fwhm)
    rng = np.random.default_rng(seed)
    streams = rng.spawn(5)

    fwhm = _draw_range(psf_fwhm, 'psf_fwhm', n, rng)
    fwhm_pix = fwhm / pixel_scale
    family = np.asarray(families)[
        streams[0].integers(len(families), size=n)]
    beta = _draw(beta_range, n, streams[1])
    ellipticity = _draw(ellipticity_range, n, streams[2])
    angle = np.where(ellipticity > 0, streams[3].uniform(0.0, 180.0, n),
                     0.0)
    extent = _PSF_EXTENT * fwhm_pix.max()
    if ellipticity.max() > 0:
        e = ellipticity.max()
        extent /= np.sqrt((1.0 - e) / (1.0 + e))
    size = odd_stamp_size(extent, limit=min(ny, nx))
    psfs = _make_psfs(family, fwhm_pix, beta, ellipticity, angle, size)

    clean = _observe(truth, psfs, k, fast=bool(
        'kolmogorov' in families or ellipticity.max() > 0))
    faintest = int(np.argmin(truth.sum(axis=(-2, -1))))
    sigma_seed = float(clean[faintest].max())
    if not sigma_seed > 0:
        msg = ('truth must have a positive peak in the noiseless '
               'observation of its faintest image to set the noise level, '
               f'got a peak of {sigma_seed:.3g} for image {faintest}')
        raise ValueError(msg)
    peaks = clean.max(axis=(-2, -1))

    snr = None
    if peak_snr is not None:
        if not np.all(peaks > 0):
            bad = int(np.argmin(peaks))
            msg = ('truth must have a positive peak in the noiseless '
                   'observation of every image when peak_snr is given, '
                   f'got a peak of {peaks[bad]:.3g} for image {bad}')
            raise ValueError(msg)
        snr = _draw(snr_range, n, streams[4], log=True)
        sigma = peaks / snr
        if isinstance(snr_range, tuple):
            rule = (f'peak S/N log-uniform in ({snr_range[0]:g}, '
                    f'{snr_range[1]:g}): sigma = noiseless peak / S/N')
        else:
            rule = f'peak S/N = {snr_range:g}: sigma = noiseless peak / S/N'
    elif isinstance(noise, str):
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
    if snr is None:
        with np.errstate(divide='ignore', invalid='ignore'):
            snr = peaks / sigma
    observed = clean + sigma[:, None, None] * rng.standard_normal(
        clean.shape)
    single = families[0] if len(families) == 1 else 'mixed'
    return GroundObservations(
        observed=observed.astype(np.float32),
        noiseless=clean.astype(np.float32), psf=psfs.astype(np.float32),
        sigma=sigma, psf_fwhm=fwhm, upsample=k, sigma_seed=sigma_seed,
        pixel_scale=pixel_scale, psf_model=single, moffat_beta=beta_range,
        noise=rule, seed=seed, psf_models=family,
        moffat_betas=np.where(family == 'moffat', beta, np.nan),
        psf_ellipticity=ellipticity, psf_angle=angle, peak_snr=snr)
