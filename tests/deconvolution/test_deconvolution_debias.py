"""Tests of debias_mrs and its use in LearnedDeconvolver."""

import numpy as np
import pytest
import torch
from astropy.nddata import NDData
from scipy.ndimage import gaussian_filter

from astrodeconv.deconvolution import LearnedDeconvolver, debias_mrs
from astrodeconv.operators import fourier as F
from astrodeconv.utils import AstrodeconvWarning
from astrodeconv.wavelets import (multiresolution_support,
                                  starlet_noise_levels, starlet_transform)

SIGMA = 0.05


def simulate(n=64, up=1, seed=0):
    """A galaxy with compact clumps, Gaussian PSF, white noise SIGMA."""
    big = n * up
    yy, xx = (np.mgrid[:big, :big] + 0.5) / up
    c = n / 2
    truth = 20 * np.exp(-((xx - c) ** 2 + (yy - c) ** 2 / 0.6) / 32.0)
    for a, b, f in [(c - 5, c + 3, 30), (c + 6, c - 2, 25),
                    (c + 1, c + 7, 20)]:
        truth += f * np.exp(-((xx - a) ** 2 + (yy - b) ** 2) / 1.28)
    truth /= up ** 2
    py, px = np.mgrid[-8 * up:8 * up + 1, -8 * up:8 * up + 1]
    psf = np.exp(-(px ** 2 + py ** 2) / (2 * (1.5 * up) ** 2))
    psf /= psf.sum()
    otf = F.psf_to_otf(psf, truth.shape)[0]
    rng = np.random.default_rng(seed)
    data = (F.block_sum(F.convolve_otf(truth, otf), up)
            + rng.normal(0, SIGMA, (n, n)))
    return truth, data, psf, otf


def biased_start(truth, up=1):
    """A biased estimate: 80 % of the flux, smoothed."""
    return 0.8 * gaussian_filter(truth, up, mode='wrap')


def support_residual(x, data, psf, otf, n_scales=4, k=3.0):
    """||M Phi H^T r|| with the support M of H^T y (support='data')."""
    def back(r):
        return F.convolve_otf(r, np.conj(otf))
    levels = starlet_noise_levels(n_scales, kernel=psf[::-1, ::-1])
    mask = multiresolution_support(
        starlet_transform(back(data), n_scales, boundary='periodic'),
        SIGMA, k=k, noise_levels=levels)
    grad = starlet_transform(back(data - F.convolve_otf(x, otf)), n_scales,
                             boundary='periodic')
    return np.linalg.norm(grad[:-1] * mask), np.linalg.norm(grad[-1])


@pytest.fixture(scope='module')
def case():
    truth, data, psf, otf = simulate()
    x0 = biased_start(truth)
    info = debias_mrs(x0, data, psf, sigma=SIGMA, n_iter=30,
                      support='data')
    out = info.image
    return truth, data, psf, otf, x0, out, info


def test_residual_on_support_decreases(case):
    truth, data, psf, otf, x0, out, info = case
    before, coarse_before = support_residual(x0, data, psf, otf)
    after, coarse_after = support_residual(out, data, psf, otf)
    assert after < 0.2 * before
    assert coarse_after < 0.01 * coarse_before
    norms = info.residual_norms
    assert len(norms) == info.n_iter + 1
    assert np.all(np.diff(norms) < 0)
    # the data residual ends within ~1.5x its noise floor
    assert norms[-1] < 1.5 * SIGMA * np.sqrt(data.size)
    assert info.step == pytest.approx(1 / np.sqrt(5))
    assert info.support_fraction[-1] == 1.0
    assert 0 < info.support_fraction[0] < 0.5


def test_total_flux_restored(case):
    truth, data, psf, otf, x0, out, info = case
    assert abs(x0.sum() / truth.sum() - 1) > 0.15
    assert abs(out.sum() / truth.sum() - 1) < 0.02


def test_noise_not_amplified_off_support(case):
    truth, data, psf, otf, x0, out, info = case
    # a source-free corner (truth < 1e-6 there)
    corner = (slice(0, 12), slice(0, 12))
    assert truth[corner].max() < 1e-6
    change = (out - x0)[corner].std()
    # Tikhonov at a small lambda fits the noise: its corner std is
    # several sigma. Off the support only the coarse plane moves the
    # image, so the change must stay far below the pixel noise.
    lap = F.laplacian_otf_squared(data.shape)
    tik = F.irfft2(np.conj(otf) * F.rfft2(data)
                   / (np.abs(otf) ** 2 + 1e-4 * lap), data.shape)
    assert tik[corner].std() > 2 * SIGMA
    assert change < 0.2 * SIGMA
    # and the reconstruction error drops overall
    assert np.linalg.norm(out - truth) < 0.7 * np.linalg.norm(x0 - truth)


def test_start_support_restores_flux():
    truth, data, psf, otf = simulate(seed=2)
    x0 = biased_start(truth)
    info = debias_mrs(x0, data, psf, sigma=SIGMA, n_iter=30)
    out = info.image
    default = debias_mrs(x0, data, psf, sigma=SIGMA, n_iter=30,
                         support='start').image
    np.testing.assert_array_equal(out, default)
    assert abs(x0.sum() / truth.sum() - 1) > 0.15
    assert abs(out.sum() / truth.sum() - 1) < 0.02
    assert np.linalg.norm(out - truth) < 0.7 * np.linalg.norm(x0 - truth)
    # the support is that of x0 (threshold k sigma_j applied to Phi(x0))
    levels = starlet_noise_levels(4, kernel=psf[::-1, ::-1])
    mask = multiresolution_support(
        starlet_transform(x0, 4, boundary='periodic'), SIGMA, k=3.0,
        noise_levels=levels)
    np.testing.assert_allclose(info.support_fraction[:-1],
                               mask.mean(axis=(-2, -1)))


def test_accelerate_reaches_the_fixed_point_faster():
    truth, data, psf, otf = simulate(seed=2)
    x0 = biased_start(truth)
    kwargs = dict(sigma=SIGMA, n_scales=3, tol=0)
    info_short = debias_mrs(x0, data, psf, n_iter=40, **kwargs)
    info_plain = debias_mrs(x0, data, psf, n_iter=200, **kwargs)
    plain = info_plain.image
    info_fast = debias_mrs(x0, data, psf, n_iter=40, accelerate=True,
                           **kwargs)
    fast = info_fast.image
    # with momentum, 40 iterations fit the data on the support at least as
    # well as 200 plain ones, and far better than 40 plain ones
    residual = info_fast.residual_norms[-1]
    assert residual <= info_plain.residual_norms[-1]
    assert residual < 0.9 * info_short.residual_norms[-1]
    assert info_fast.n_iter == 40
    # and the image is as close to the truth
    assert (np.linalg.norm(fast - truth)
            < 1.02 * np.linalg.norm(plain - truth))
    with pytest.raises(TypeError, match='accelerate must be True or False'):
        debias_mrs(x0, data, psf, sigma=SIGMA, accelerate='yes')


def test_given_support():
    truth, data, psf, otf = simulate(seed=2)
    x0 = biased_start(truth)
    levels = starlet_noise_levels(4, kernel=psf[::-1, ::-1])
    mask = multiresolution_support(
        starlet_transform(x0, 4, boundary='periodic'), SIGMA, k=3.0,
        noise_levels=levels)
    # the support of x0 passed as an array gives the default result
    np.testing.assert_array_equal(
        debias_mrs(x0, data, psf, sigma=SIGMA, support=mask).image,
        debias_mrs(x0, data, psf, sigma=SIGMA).image)
    # one support per image in a stack; an empty one leaves its image as
    # it is, with the usual warning
    empty = np.zeros_like(mask)
    with pytest.warns(AstrodeconvWarning, match='support is empty'):
        info = debias_mrs(np.stack([x0, x0]), np.stack([data, data]),
                          psf, sigma=SIGMA,
                          support=np.stack([mask, empty]))
        out = info.image
    np.testing.assert_array_equal(info.support_fraction[1, :-1], 0)
    np.testing.assert_array_equal(out[1], x0)
    assert np.linalg.norm(out[0] - truth) < np.linalg.norm(x0 - truth)
    with pytest.raises(TypeError, match='got an array of dtype float64'):
        debias_mrs(x0, data, psf, sigma=SIGMA, support=mask.astype(float))


def clump_outside_start(support):
    """Debias a start that lacks a clump present in the data."""
    truth, _, psf, otf = simulate()
    yy, xx = np.mgrid[:64, :64]
    full = truth + 25 * np.exp(-((xx - 50) ** 2 + (yy - 12) ** 2) / 1.28)
    rng = np.random.default_rng(5)
    data = F.convolve_otf(full, otf) + rng.normal(0, SIGMA, full.shape)
    x0 = biased_start(truth)
    out = debias_mrs(x0, data, psf, sigma=SIGMA, n_iter=30,
                     support=support).image
    plane = starlet_transform(np.stack([x0, out, full]), 2,
                              boundary='periodic')[:, 1, 12, 50]
    return x0[12, 50], out[12, 50], full[12, 50], plane


def test_start_support_no_hallucination():
    # "no hallucination": with support='start' no structure absent from
    # x0 is created, even when the data hold it
    start, out, true, plane = clump_outside_start('start')
    assert abs(start) < 1e-6
    assert out < 0.15 * true
    assert abs(plane[1]) < 0.1 * plane[2]


def test_data_support_restores_missing_clump():
    start, out, true, plane = clump_outside_start('data')
    assert out > 0.3 * true
    assert plane[1] > 0.4 * plane[2]


def test_upsample_two():
    truth, data, psf, otf = simulate(n=32, up=2, seed=1)
    x0 = biased_start(truth, up=2)
    info = debias_mrs(x0[None], data[None], psf, sigma=[SIGMA],
                      upsample=2, n_scales=4, n_iter=30)
    out = info.image
    assert out.shape == (1, 64, 64)
    assert info.n_iter.shape == (1,)
    assert info.support_fraction.shape == (1, 5)
    assert abs(out.sum() / truth.sum() - 1) < 0.03
    assert abs(x0.sum() / truth.sum() - 1) > 0.15
    norms = info.residual_norms[0]
    assert norms[-1] < 0.3 * norms[0]


def test_stack_with_one_psf_per_image():
    truth, data, psf, otf = simulate()
    x0 = biased_start(truth)
    single = debias_mrs(x0, data, psf, sigma=SIGMA).image
    stack = debias_mrs(np.stack([x0, x0]), np.stack([data, data]),
                       np.stack([psf, psf]), sigma=[SIGMA, SIGMA]).image
    np.testing.assert_allclose(stack[1], single, rtol=1e-10, atol=1e-12)


def test_positivity_and_tolerance():
    truth, data, psf, otf = simulate()
    x0 = biased_start(truth)
    info = debias_mrs(x0, data, psf, sigma=SIGMA, positivity=True,
                      tol=0.05, n_iter=50)
    out = info.image
    assert out.min() >= 0
    assert info.n_iter < 50


def test_empty_support_returns_input():
    rng = np.random.default_rng(3)
    data = rng.normal(0, SIGMA, (32, 32))
    x0 = np.zeros((32, 32))
    _, _, psf, _ = simulate()
    with pytest.warns(AstrodeconvWarning,
                      match='multi-resolution support is empty'):
        out = debias_mrs(x0, data, psf, sigma=SIGMA, threshold=50.0,
                         n_scales=3).image
    np.testing.assert_array_equal(out, x0)


@pytest.mark.parametrize('kwargs, match', [
    ({'threshold': 0}, 'threshold must be > 0'),
    ({'threshold_first': -1}, 'threshold_first must be > 0'),
    ({'n_iter': 0}, 'n_iter must be an integer >= 1'),
    ({'sigma': -1.0}, 'sigma must be finite and >= 0'),
    ({'upsample': 2}, r'data times upsample \(2\) must match'),
    ({'n_scales': 7}, 'n_scales must satisfy'),
    ({'step': -0.1}, 'step must be > 0'),
    ({'sigma': [0.1, 0.2]}, 'sigma must be a scalar or have one value'),
    ({'support': 'both'}, "support must be 'start', 'data' or a boolean"),
    ({'support': np.ones((2, 32, 32), bool)},
     r'a support array must have shape \(4, 32, 32\)'),
])
def test_bad_inputs(kwargs, match):
    truth, data, psf, otf = simulate(n=32)
    args = {'sigma': SIGMA}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        debias_mrs(truth, data, psf, **args)


def test_results_type_is_the_same_for_images_and_stacks():
    truth, data, psf, otf = simulate(n=32)
    single = debias_mrs(truth, data, psf, sigma=SIGMA, n_iter=2)
    stack = debias_mrs(truth[None], data[None], psf, sigma=SIGMA, n_iter=2)
    assert type(single) is type(stack)
    assert single.image.shape == (32, 32)
    assert stack.image.shape == (1, 32, 32)
    assert isinstance(single.n_iter, int)
    assert stack.n_iter.shape == (1,)
    assert 'DebiasResults' in repr(single)


def test_bad_image_dimension():
    with pytest.raises(ValueError, match='image must be a 2D image'):
        debias_mrs(np.zeros(5), np.zeros(5), np.ones((3, 3)), sigma=1.0)


class Scale(torch.nn.Module):
    """
    An identity-like network that attenuates structure and flux.

    The input is normalised to zero mean, so scaling alone keeps the total
    flux; a small negative offset (in peak units) makes it lose flux too.
    """

    def forward(self, x, sigma=None):
        return 0.9 * x - 2e-3


def test_learned_deconvolver_debias():
    truth, data, psf, otf = simulate()
    # no uncertainty: sigma is estimated from the data
    nd = NDData(data)
    plain = LearnedDeconvolver(Scale(), lam=1e-2, debias=False)(nd, psf=psf)
    debiased = LearnedDeconvolver(Scale(), lam=1e-2, debias=True,
                                  debias_kwargs={'n_iter': 30})(nd, psf=psf)
    flux = data.sum()
    assert abs(plain.data.sum() / flux - 1) > 0.05
    assert abs(debiased.data.sum() / flux - 1) < 0.01
    assert debiased.meta['DCNVDBS'] is True
    assert plain.meta['DCNVDBS'] is False


def test_learned_deconvolver_debias_kwargs_type():
    with pytest.raises(TypeError, match='debias_kwargs must be a dict'):
        LearnedDeconvolver(Scale(), debias=True, debias_kwargs=3)


def test_single_precision_matches_double():
    truth, data, psf, otf = simulate(n=32)
    x0 = biased_start(truth)
    double = debias_mrs(x0, data, psf, sigma=SIGMA, n_iter=10).image
    single = debias_mrs(x0, data, psf, sigma=SIGMA, n_iter=10,
                        dtype='float32').image
    assert double.dtype == np.float64 and single.dtype == np.float32
    np.testing.assert_allclose(single, double, rtol=0,
                               atol=1e-4 * np.abs(double).max())
    assert single.sum() == pytest.approx(double.sum(), rel=1e-5)
    with pytest.raises(ValueError, match='dtype must be one of'):
        debias_mrs(x0, data, psf, sigma=SIGMA, dtype='float16')
