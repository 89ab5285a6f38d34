"""Tests of the ground-based observations (degrade_to_ground)."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from astrodeconv.datasets import GroundObservations, degrade_to_ground
from astrodeconv.deconvolution import TikhonovDeconvolver
from astrodeconv.operators.fourier import block_sum
from astrodeconv.psf import (make_gaussian_psf, make_kolmogorov_psf,
                             make_moffat_psf, measure_fwhm, psf_centroid)
from astrodeconv.utils._optional_deps import HAS_GALSIM

needs_galsim = pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')
#: The three PSF families, Kolmogorov only with GalSim.
FAMILIES = ['gaussian', 'moffat',
            pytest.param('kolmogorov', marks=needs_galsim)]


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


@pytest.mark.parametrize('k', [1, 2])
def test_forward_model_elliptical_psfs(k):
    # elliptical PSFs convolve on grids padded to fast FFT sizes: still the
    # linear convolution
    truth = _blobs(3, size=96)
    obs = degrade_to_ground(truth, psf_fwhm=(0.4, 0.8), upsample=k,
                            psf_model=('gaussian', 'moffat'),
                            psf_ellipticity=(0.1, 0.3), seed=3)
    assert obs.psf.shape[-1] > 4 * obs.psf_fwhm.max() / 0.05
    for i in range(3):
        linear = block_sum(fftconvolve(truth[i], obs.psf[i].astype(float),
                                       mode='same'), k)
        np.testing.assert_allclose(obs.noiseless[i], linear, rtol=1e-5,
                                   atol=1e-6 * linear.max())


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
    # each image's noise has its own drawn level: 1024 pixels give the
    # level to 2.2 % (measured at most 7.7 % off, 1.000 on average)
    measured = residual.reshape(400, -1).std(axis=1)
    np.testing.assert_allclose(measured, obs.sigma, rtol=0.12)
    assert np.mean(measured / obs.sigma) == pytest.approx(1, abs=0.01)


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


def test_default_output_unchanged():
    # values computed before the PSF families, Moffat ranges, ellipticity
    # and peak S/N were added: the defaults give the same observations
    truth = _blobs(6, size=64, seed=0)
    obs = degrade_to_ground(truth, seed=3)
    np.testing.assert_array_equal(obs.psf_fwhm, [
        0.5428245835718122, 0.6184052532980499, 0.9006372326031984,
        0.7910810180321839, 0.5470643211201995, 0.7165634701182368])
    assert obs.psf.shape == (6, 63, 63)
    assert obs.sigma[0] == pytest.approx(0.02111444123075914, rel=1e-9)
    assert float(obs.observed.sum(dtype=float)) == pytest.approx(
        243.1868475164763, rel=1e-9)
    np.testing.assert_allclose(
        obs.observed[[0, 2, 5], [32, 30, 40], [32, 35, 20]],
        [0.05049038678407669, -0.0013298525009304285, 0.002696520648896694],
        rtol=1e-6)
    # the draws of the default generator: the FWHM, then the noise
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(rng.uniform(0.5, 1.0, 6), obs.psf_fwhm)
    noise = obs.sigma[:, None, None] * rng.standard_normal((6, 64, 64))
    np.testing.assert_allclose(obs.observed - obs.noiseless, noise,
                               atol=1e-6 * obs.noiseless.max())
    assert obs.psf_model == 'moffat'
    assert obs.moffat_beta == 4.765
    np.testing.assert_array_equal(obs.psf_models, 'moffat')
    np.testing.assert_array_equal(obs.moffat_betas, 4.765)
    np.testing.assert_array_equal(obs.psf_ellipticity, 0.0)
    np.testing.assert_array_equal(obs.psf_angle, 0.0)
    np.testing.assert_allclose(obs.peak_snr,
                               obs.noiseless.max(axis=(1, 2)) / obs.sigma,
                               rtol=1e-6)


def test_new_draws_leave_the_others_alone():
    truth = _blobs(6, size=64)
    ref = degrade_to_ground(truth, noise=(0.1, 1.0), seed=4)
    obs = degrade_to_ground(truth, noise=(0.1, 1.0), seed=4,
                            psf_model=('gaussian', 'moffat'),
                            moffat_beta=(2, 5), psf_ellipticity=(0, 0.1))
    # the same FWHM, noise levels (relative to sigma_seed, which depends on
    # the PSFs) and noise realisation
    np.testing.assert_array_equal(obs.psf_fwhm, ref.psf_fwhm)
    np.testing.assert_allclose(obs.sigma / obs.sigma_seed,
                               ref.sigma / ref.sigma_seed, rtol=1e-12)

    def normalised_noise(o):
        return (o.observed - o.noiseless) / o.sigma[:, None, None]

    np.testing.assert_allclose(normalised_noise(obs), normalised_noise(ref),
                               atol=1e-3)
    assert not np.allclose(obs.psf, ref.psf)


def _check_psf_stack(obs, fwhm_pix, rtol):
    """Unit sum, centred on (P // 2, P // 2), with the FWHM asked for."""
    n, p, _ = obs.psf.shape
    assert p % 2 == 1
    np.testing.assert_allclose(obs.psf.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    for psf, fwhm in zip(obs.psf.astype(float), fwhm_pix, strict=True):
        assert np.unravel_index(psf.argmax(), psf.shape) == (p // 2, p // 2)
        assert psf_centroid(psf) == pytest.approx((p // 2, p // 2),
                                                  abs=1e-4)
        assert measure_fwhm(psf, method='contour') == pytest.approx(
            fwhm, rel=rtol)


@pytest.mark.parametrize('family', FAMILIES)
def test_psf_families(family):
    truth = _blobs(3, size=64)
    obs = degrade_to_ground(truth, psf_fwhm=(0.4, 0.6), psf_model=family,
                            seed=1)
    assert obs.psf_model == family
    np.testing.assert_array_equal(obs.psf_models, family)
    _check_psf_stack(obs, obs.psf_fwhm / 0.05, rtol=0.015)
    # the same profile as the PSF toolkit makes, on the common stamp
    make = {'gaussian': make_gaussian_psf, 'moffat': make_moffat_psf,
            'kolmogorov': make_kolmogorov_psf}[family]
    for psf, fwhm in zip(obs.psf, obs.psf_fwhm, strict=True):
        np.testing.assert_allclose(psf, make(fwhm / 0.05, shape=psf.shape),
                                   atol=1e-7 * psf.max())
    if family != 'moffat':
        assert np.isnan(obs.moffat_betas).all()
    np.testing.assert_allclose(obs.noiseless.sum(axis=(1, 2)),
                               truth.sum(axis=(1, 2)), rtol=1e-3)


@needs_galsim
def test_mixed_draws_all_families():
    truth = np.repeat(_blobs(1, size=32), 90, axis=0)
    obs = degrade_to_ground(truth, psf_fwhm=(0.15, 0.25), psf_model='mixed',
                            moffat_beta=(2, 5), seed=2)
    assert obs.psf_model == 'mixed'
    names, counts = np.unique(obs.psf_models, return_counts=True)
    assert names.tolist() == ['gaussian', 'kolmogorov', 'moffat']
    assert counts.min() >= 15    # about 30 each
    moffat = obs.psf_models == 'moffat'
    assert np.isnan(obs.moffat_betas[~moffat]).all()
    assert ((obs.moffat_betas[moffat] >= 2)
            & (obs.moffat_betas[moffat] <= 5)).all()
    # every PSF has the recorded profile and parameters
    shape = obs.psf.shape[1:]
    for i in range(0, 90, 7):
        fwhm = obs.psf_fwhm[i] / 0.05
        expected = {
            'gaussian': lambda: make_gaussian_psf(fwhm, shape),
            'moffat': lambda: make_moffat_psf(fwhm, obs.moffat_betas[i],
                                              shape),
            'kolmogorov': lambda: make_kolmogorov_psf(fwhm, shape),
        }[obs.psf_models[i]]()
        np.testing.assert_allclose(obs.psf[i], expected,
                                   atol=1e-7 * expected.max())
    _check_psf_stack(obs, obs.psf_fwhm / 0.05, rtol=0.05)


def test_family_subset():
    truth = np.repeat(_blobs(1, size=32), 40, axis=0)
    obs = degrade_to_ground(truth, psf_fwhm=0.2,
                            psf_model=['gaussian', 'moffat'], seed=5)
    assert obs.psf_model == 'mixed'
    assert set(obs.psf_models) == {'gaussian', 'moffat'}
    single = degrade_to_ground(truth[:3], psf_fwhm=0.2,
                               psf_model=('gaussian',))
    assert single.psf_model == 'gaussian'
    # a fixed FWHM and profile reuse one PSF
    np.testing.assert_array_equal(single.psf[0], single.psf[2])


def test_moffat_beta_range():
    truth = np.repeat(_blobs(1, size=32), 300, axis=0)
    obs = degrade_to_ground(truth, psf_fwhm=0.2, moffat_beta=(2, 5), seed=6)
    assert obs.moffat_beta == (2.0, 5.0)
    beta = obs.moffat_betas
    assert ((beta >= 2) & (beta <= 5)).all()
    assert np.ptp(beta) > 2.5
    assert beta.mean() == pytest.approx(3.5, abs=0.2)
    for i in (0, 1, 2):
        expected = make_moffat_psf(4.0, beta[i], shape=obs.psf.shape[1:])
        np.testing.assert_allclose(obs.psf[i], expected,
                                   atol=1e-7 * expected.max())
    # low wings for high beta
    low, high = np.argmin(beta), np.argmax(beta)
    assert obs.psf[low, 0].sum() > obs.psf[high, 0].sum()
    fixed = degrade_to_ground(truth[:4], psf_fwhm=0.2, moffat_beta=3.0)
    np.testing.assert_array_equal(fixed.moffat_betas, 3.0)


def _adaptive_shear(psf):
    """Shear and position angle (deg) from GalSim's adaptive moments."""
    import galsim

    shape = galsim.hsm.FindAdaptiveMom(
        galsim.Image(psf.astype(float), scale=1.0)).observed_shape
    return shape.g, shape.beta.deg % 180


@pytest.mark.parametrize('family', FAMILIES)
def test_psf_ellipticity(family):
    truth = np.repeat(_blobs(1, size=128), 6, axis=0)
    obs = degrade_to_ground(truth, psf_fwhm=0.5, psf_model=family,
                            psf_ellipticity=(0.05, 0.15), seed=7)
    e, angle = obs.psf_ellipticity, obs.psf_angle
    assert ((e >= 0.05) & (e <= 0.15)).all() and np.ptp(e) > 0
    assert ((angle >= 0) & (angle < 180)).all() and np.ptp(angle) > 0
    # the stamp covers the major axis
    q = (1 - e.max()) / (1 + e.max())
    assert obs.psf.shape[-1] >= 4 * 10 / np.sqrt(q)
    _check_psf_stack(obs, np.full(6, 10.0), rtol=0.015)
    for psf, e_i, angle_i in zip(obs.psf.astype(float), e, angle,
                                 strict=True):
        if HAS_GALSIM:
            g, beta = _adaptive_shear(psf)
            assert g == pytest.approx(e_i, abs=0.003)
            d = (beta - angle_i) % 180
            assert min(d, 180 - d) < 1.0
        if family == 'gaussian':
            # unweighted second moments (diluted by the pixel)
            yy, xx = np.indices(psf.shape) - psf.shape[0] // 2
            qxx, qyy, qxy = ((psf * a * b).sum() for a, b in
                             ((xx, xx), (yy, yy), (xx, yy)))
            chi = np.hypot(qxx - qyy, 2 * qxy) / (qxx + qyy)
            assert chi / (1 + np.sqrt(1 - chi**2)) == pytest.approx(
                e_i, abs=0.003)


def test_fixed_ellipticity_and_circular_angles():
    truth = _blobs(4, size=64)
    obs = degrade_to_ground(truth, psf_fwhm=0.3, psf_model='gaussian',
                            psf_ellipticity=0.1, seed=8)
    np.testing.assert_array_equal(obs.psf_ellipticity, 0.1)
    assert len(set(obs.psf_angle)) == 4
    circular = degrade_to_ground(truth, psf_fwhm=0.3, psf_ellipticity=(0, 0))
    np.testing.assert_array_equal(circular.psf_angle, 0.0)


def test_peak_snr():
    truth = np.concatenate([_blobs(100, size=32, seed=s) for s in (1, 2, 3)])
    obs = degrade_to_ground(truth, psf_fwhm=0.2, peak_snr=(1, 300), seed=9)
    snr = obs.peak_snr
    assert ((snr >= 1) & (snr <= 300)).all()
    # the rule: the peak of the noiseless observation over sigma
    np.testing.assert_allclose(obs.noiseless.max(axis=(1, 2)) / obs.sigma,
                               snr, rtol=1e-6)
    # log-uniform: about half of the draws below the geometric mean
    assert np.mean(snr < np.sqrt(300)) == pytest.approx(0.5, abs=0.1)
    residual = (obs.observed - obs.noiseless).astype(float)
    measured = residual.reshape(300, -1).std(axis=1)
    # measured at most 7.3 % off, 1.001 on average (see above)
    np.testing.assert_allclose(measured, obs.sigma, rtol=0.12)
    assert np.mean(measured / obs.sigma) == pytest.approx(1, abs=0.01)
    assert 'peak S/N log-uniform in (1, 300)' in obs.noise
    fixed = degrade_to_ground(truth[:5], psf_fwhm=0.2, peak_snr=20)
    np.testing.assert_array_equal(fixed.peak_snr, 20.0)
    np.testing.assert_allclose(
        fixed.noiseless.max(axis=(1, 2)) / fixed.sigma, 20, rtol=1e-6)
    assert fixed.noise.startswith('peak S/N = 20')


def test_peak_snr_recorded_for_other_noise_rules():
    truth = _blobs(3, size=32)
    obs = degrade_to_ground(truth, psf_fwhm=0.3,
                            noise=np.array([0.0, 1.0, 2.0]))
    peaks = obs.noiseless.max(axis=(1, 2))
    assert obs.peak_snr[0] == np.inf
    np.testing.assert_allclose(obs.peak_snr[1:], peaks[1:] / [1.0, 2.0],
                               rtol=1e-6)


@needs_galsim
def test_new_options_reproducible():
    truth = _blobs(6, size=32)
    kwargs = {'psf_fwhm': (0.2, 0.4), 'psf_model': 'mixed',
              'moffat_beta': (2, 5), 'psf_ellipticity': (0, 0.1),
              'peak_snr': (1, 300)}
    a = degrade_to_ground(truth, seed=7, **kwargs)
    b = degrade_to_ground(truth, seed=7, **kwargs)
    c = degrade_to_ground(truth, seed=8, **kwargs)
    for name in ('observed', 'psf', 'sigma', 'psf_models', 'moffat_betas',
                 'psf_ellipticity', 'psf_angle', 'peak_snr'):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.psf_angle, c.psf_angle)
    assert not np.array_equal(a.peak_snr, c.peak_snr)
    assert 'GroundObservations(n=6' in repr(a) and len(repr(a)) < 200


def test_peak_snr_needs_a_peak_in_every_image():
    truth = _blobs(3, size=32)
    # the faintest image (negative total flux) still has a positive peak;
    # the second one has none
    truth[0] -= 2 * truth[0].sum() / truth[0].size
    truth[1] = -truth[1] / truth[1].sum()
    with pytest.raises(ValueError, match='positive peak in the noiseless '
                       'observation of every image when peak_snr'):
        degrade_to_ground(truth, psf_fwhm=0.3, peak_snr=10)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'psf_model': ('gaussian', 'airy')}, ValueError,
     "psf_model must contain only names among 'gaussian', 'moffat', "
     "'kolmogorov', got 'airy'"),
    ({'psf_model': ()}, ValueError, 'psf_model must name at least one'),
    ({'psf_model': ('moffat', 'moffat')}, ValueError,
     'psf_model must not repeat'),
    ({'psf_model': 3}, TypeError, 'psf_model must be a string or a tuple'),
    ({'moffat_beta': (0.5, 3)}, ValueError, r'moffat_beta\[0\] must be > 1'),
    ({'moffat_beta': (4, 3)}, ValueError, 'moffat_beta must satisfy low <='),
    ({'moffat_beta': (2, 3, 4)}, ValueError,
     r'moffat_beta must be a number or a \(low, high\) pair, got 3'),
    ({'moffat_beta': '3'}, TypeError, 'moffat_beta must be a real number'),
    ({'psf_ellipticity': 1.0}, ValueError,
     r'psf_ellipticity must be in the range \[0, 1\)'),
    ({'psf_ellipticity': -0.1}, ValueError, 'psf_ellipticity must be >= 0'),
    ({'psf_ellipticity': (0, 1.5)}, ValueError,
     r'psf_ellipticity\[1\] must be in the range'),
    ({'psf_ellipticity': (0.2, 0.1)}, ValueError, 'low <= high'),
    ({'peak_snr': 0}, ValueError, 'peak_snr must be > 0'),
    ({'peak_snr': (10, 1)}, ValueError, 'peak_snr must satisfy low <='),
    ({'peak_snr': (1, np.inf)}, ValueError, r'peak_snr\[1\] must be finite'),
    ({'peak_snr': 'high'}, TypeError, 'peak_snr must be a real number'),
    ({'peak_snr': 10, 'noise': 0.5}, ValueError,
     "noise must be left at its default 'seed' when peak_snr is given"),
])
def test_bad_new_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        degrade_to_ground(_blobs(4, size=32), **kwargs)


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
