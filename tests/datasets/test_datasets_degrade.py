"""Tests of the ground-based observations (degrade_to_ground)."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from astrodeconv.datasets import GroundObservations, degrade_to_ground
from astrodeconv.deconvolution import TikhonovDeconvolver
from astrodeconv.operators.fourier import block_sum
from astrodeconv.psf import make_gaussian_psf, psf_centroid
from astrodeconv.utils._optional_deps import HAS_GALSIM


def _blobs(n=5, size=64, seed=0):
    """Compact Gaussian sources of different fluxes near the centre."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((size, size), dtype=float)
    out = np.empty((n, size, size))
    for i in range(n):
        cy, cx = size / 2 + rng.uniform(-2, 2, 2)
        width = rng.uniform(1.5, 3.0)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width ** 2))
        out[i] = rng.uniform(10, 100) * blob / blob.sum()
    return out


@pytest.mark.parametrize('k', [1, 2, 4])
def test_flux_conserved_through_blur_and_block_sum(k):
    truth = _blobs()
    obs = degrade_to_ground(truth, psf_fwhm=0.5, upsample=k)
    assert isinstance(obs, GroundObservations)
    assert obs.observed.shape == (5, 64 // k, 64 // k)
    assert obs.observed.dtype == np.float32
    np.testing.assert_allclose(obs.noiseless.sum(axis=(1, 2)),
                               truth.sum(axis=(1, 2)), rtol=1e-5)


@pytest.mark.parametrize('k', [1, 4])
def test_forward_model(k):
    truth = _blobs(3, size=128)
    obs = degrade_to_ground(truth, psf_fwhm=(0.4, 0.8), upsample=k, seed=2)
    for i in range(3):
        psf = obs.psf[i].astype(float)
        linear = block_sum(fftconvolve(truth[i], psf, mode='same'), k)
        np.testing.assert_allclose(obs.noiseless[i], linear, rtol=1e-5,
                                   atol=1e-6 * linear.max())
        # and, for a source far from the edges (the Moffat wings barely
        # reach them), the circular model of the Tikhonov filter (PSF
        # centred on (P // 2, P // 2))
        big = np.zeros(truth.shape[1:])
        p = psf.shape[0]
        big[:p, :p] = psf
        big = np.roll(big, (-(p // 2), -(p // 2)), axis=(0, 1))
        circular = np.fft.irfft2(np.fft.rfft2(truth[i]) * np.fft.rfft2(big),
                                 s=truth.shape[1:])
        np.testing.assert_allclose(obs.noiseless[i], block_sum(circular, k),
                                   atol=1e-3 * linear.max())


def test_psf_centred_normalised_and_sized():
    truth = _blobs(4, size=128)
    obs = degrade_to_ground(truth, psf_fwhm=(0.5, 1.0), seed=4)
    n, p, q = obs.psf.shape
    assert n == 4 and p == q and p % 2 == 1 and p <= 128
    assert p >= 4 * obs.psf_fwhm.max() / 0.05
    np.testing.assert_allclose(obs.psf.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    for psf in obs.psf:
        cy, cx = psf_centroid(psf)
        assert abs(cy - p // 2) < 1e-3 and abs(cx - p // 2) < 1e-3
        assert np.unravel_index(psf.argmax(), psf.shape) == (p // 2, p // 2)
    assert ((obs.psf_fwhm >= 0.5) & (obs.psf_fwhm <= 1.0)).all()
    assert np.ptp(obs.psf_fwhm) > 0


def test_seed_case_gaussian_of_15_pixels():
    truth = _blobs(2, size=128)
    obs = degrade_to_ground(truth, psf_fwhm=0.75, psf_model='gaussian')
    np.testing.assert_array_equal(obs.psf_fwhm, 0.75)
    expected = make_gaussian_psf(15.0, shape=obs.psf.shape[1:])
    np.testing.assert_allclose(obs.psf[0], expected / expected.sum(),
                               atol=1e-7)
    # FWHM from the area above half maximum: 15 pixels
    psf = obs.psf[0]
    area = np.count_nonzero(psf >= psf.max() / 2)
    assert 2 * np.sqrt(area / np.pi) == pytest.approx(15.0, abs=0.5)


@pytest.mark.parametrize('k', [1, 4])
def test_seed_noise_rule(k):
    truth = _blobs(6)
    obs = degrade_to_ground(truth, upsample=k, noise='seed', seed=1)
    faintest = np.argmin(truth.sum(axis=(1, 2)))
    np.testing.assert_allclose(obs.sigma, obs.sigma_seed)
    # the faintest object has a peak SNR of 1 in its noiseless observation
    assert obs.noiseless[faintest].max() / obs.sigma[0] == pytest.approx(
        1.0, rel=1e-6)
    assert 'seed' in obs.noise


def test_per_object_noise_range():
    truth = np.repeat(_blobs(1, size=32), 400, axis=0)
    obs = degrade_to_ground(truth, psf_fwhm=0.3, noise=(0.05, 1.0),
                            seed=3)
    ratio = obs.sigma / obs.sigma_seed
    assert ((ratio >= 0.05) & (ratio <= 1.0)).all()
    # log-uniform: about half of the draws below the geometric mean
    assert np.mean(ratio < np.sqrt(0.05)) == pytest.approx(0.5, abs=0.1)
    residual = (obs.observed - obs.noiseless).astype(float)
    measured = residual.reshape(400, -1).std(axis=1)
    np.testing.assert_allclose(measured, obs.sigma, rtol=0.2)


def test_fixed_and_array_noise():
    truth = _blobs(3, size=32)
    obs = degrade_to_ground(truth, psf_fwhm=0.3, noise=0.5)
    np.testing.assert_array_equal(obs.sigma, 0.5)
    sigma = np.array([0.0, 1.0, 2.0])
    obs = degrade_to_ground(truth, psf_fwhm=0.3, noise=sigma)
    np.testing.assert_array_equal(obs.sigma, sigma)
    np.testing.assert_array_equal(obs.observed[0], obs.noiseless[0])


def test_deterministic():
    truth = _blobs(3, size=32)
    a = degrade_to_ground(truth, psf_fwhm=(0.2, 0.4), seed=7)
    b = degrade_to_ground(truth, psf_fwhm=(0.2, 0.4), seed=7)
    c = degrade_to_ground(truth, psf_fwhm=(0.2, 0.4), seed=8)
    np.testing.assert_array_equal(a.observed, b.observed)
    np.testing.assert_array_equal(a.psf_fwhm, b.psf_fwhm)
    assert not np.array_equal(a.observed, c.observed)


def test_single_image_and_repr():
    obs = degrade_to_ground(_blobs(1, size=32)[0], psf_fwhm=0.3)
    assert obs.observed.shape == (1, 32, 32)
    assert len(obs) == 1
    assert 'GroundObservations(n=1' in repr(obs)


@pytest.mark.parametrize('k', [1, 4])
@pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')
def test_tikhonov_of_noiseless_observation_approaches_truth(k):
    from astrodeconv.datasets import simulate_galaxies

    truth, _ = simulate_galaxies(3, seed=2, hst_noise=0.0)
    truth = truth.astype(float)
    obs = degrade_to_ground(truth, upsample=k, seed=5)
    psf = obs.psf.astype(float)
    psf /= psf.sum(axis=(1, 2), keepdims=True)
    tik = TikhonovDeconvolver(lam=9e-3, upsample=k)(
        obs.noiseless.astype(float), psf=psf)

    def nmse(a, b):
        return ((a - b) ** 2).sum(axis=(1, 2)) / (b ** 2).sum(axis=(1, 2))

    blurred = np.stack([fftconvolve(t, p, mode='same')
                        for t, p in zip(truth, psf)])
    # seeing of 0.5-1" (10-20 pixels) is reduced to a mild blur of about
    # 4 pixels (0.2")
    mild = make_gaussian_psf(4.0, shape=(21, 21))
    truth_mild = np.stack([fftconvolve(t, mild, mode='same') for t in truth])
    assert (nmse(tik, truth) < 0.65 * nmse(blurred, truth)).all()
    assert (nmse(tik, truth_mild) < 0.15).all()
    assert (nmse(blurred, truth_mild) > 2 * nmse(tik, truth_mild)).all()
    np.testing.assert_allclose(tik.sum(axis=(1, 2)),
                               obs.noiseless.sum(axis=(1, 2)), rtol=1e-4)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'upsample': 3}, ValueError, 'upsample must divide'),
    ({'psf_model': 'airy'}, ValueError, 'psf_model must be one of'),
    ({'noise': 'high'}, ValueError, 'noise must be one of'),
    ({'noise': np.ones(2)}, ValueError, r'noise must have shape \(4,\)'),
    ({'noise': -1.0}, ValueError, 'noise must be >= 0'),
    ({'noise': (1.0, 0.5)}, ValueError, 'low <= high'),
    ({'psf_fwhm': -0.5}, ValueError, 'psf_fwhm must be > 0'),
    ({'psf_fwhm': (0.2, 0.3, 0.4)}, ValueError, 'psf_fwhm must be a number'),
    ({'moffat_beta': 0.5}, ValueError, 'moffat_beta must be > 1'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        degrade_to_ground(_blobs(4, size=32), **kwargs)


def test_bad_truth():
    with pytest.raises(ValueError, match='truth must be an image'):
        degrade_to_ground(np.ones(5))
    with pytest.raises(ValueError, match='truth must not be empty'):
        degrade_to_ground(np.ones((0, 8, 8)))
    with pytest.raises(ValueError, match='finite'):
        degrade_to_ground(np.full((1, 8, 8), np.nan))
    with pytest.raises(ValueError, match='positive peak'):
        degrade_to_ground(np.zeros((2, 16, 16)), psf_fwhm=0.2)
