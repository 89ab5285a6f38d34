"""Tests of the basic image metrics."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData

from astrodeconv.metrics import flux_ratio, nmse, psnr, ssim


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    ref = rng.random((32, 32))
    return ref + rng.normal(0, 0.05, ref.shape), ref


def test_nmse_definition(pair):
    est, ref = pair
    assert np.isclose(nmse(est, ref), np.sum((est - ref) ** 2)
                      / np.sum(ref ** 2))
    assert nmse(ref, ref) == 0.0


def test_psnr_definition(pair):
    est, ref = pair
    mse = np.mean((est - ref) ** 2)
    assert np.isclose(psnr(est, ref, data_range=2.0),
                      10 * np.log10(4.0 / mse))
    assert np.isclose(psnr(est, ref, data_range='reference'),
                      10 * np.log10(np.ptp(ref) ** 2 / mse))


def test_ssim_properties(pair):
    est, ref = pair
    assert ssim(ref, ref, data_range=1.0) == 1.0
    noisy = ssim(est, ref, data_range=1.0)
    noisier = ssim(ref + 4 * (est - ref), ref, data_range=1.0)
    assert 0 < noisier < noisy < 1
    # symmetric
    assert np.isclose(ssim(ref, est, data_range=1.0), noisy)


def test_ssim_matches_independent_formula_for_constant_window():
    # with a very wide window SSIM reduces to the global formula
    rng = np.random.default_rng(1)
    x = rng.random((64, 64))
    y = 0.5 * x + 0.2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    glob = ((2 * x.mean() * y.mean() + c1) * (2 * np.cov(
        x.ravel(), y.ravel(), bias=True)[0, 1] + c2)) / (
        (x.mean() ** 2 + y.mean() ** 2 + c1) * (x.var() + y.var() + c2))
    assert np.isclose(ssim(y, x, data_range=1.0, sigma=500.0), glob,
                      rtol=0.02)


def test_batches_give_arrays(pair):
    est, ref = pair
    stack_e = np.stack([est, ref])
    stack_r = np.stack([ref, ref])
    out = nmse(stack_e, stack_r)
    assert out.shape == (2,) and out[1] == 0
    assert ssim(stack_e, stack_r, data_range=1.0).shape == (2,)
    assert psnr(stack_e, stack_r, data_range=1.0)[1] == np.inf


def test_units_and_nddata(pair):
    est, ref = pair
    a = nmse(est * u.mJy, ref * 1e-3 * u.Jy)
    assert np.isclose(a, nmse(est, ref))
    assert np.isclose(psnr(est * u.Jy, ref * u.Jy, data_range=1 * u.Jy),
                      psnr(est, ref, data_range=1.0))
    mask = np.zeros(ref.shape, bool)
    mask[0, 0] = True
    bad = est.copy()
    bad[0, 0] = 1e9
    good = ~mask
    expected = np.sum((est - ref)[good] ** 2) / np.sum(ref[good] ** 2)
    assert np.isclose(nmse(NDData(bad, mask=mask), ref), expected)


def test_flux_ratio_different_grids():
    coarse = np.ones((4, 4))
    assert flux_ratio(np.full((16, 16), 1 / 16), coarse) == 1.0
    assert np.isclose(flux_ratio(np.full((4, 4), 1.1), coarse), 1.1)
    assert np.isclose(flux_ratio(coarse * u.mJy, coarse * u.Jy), 1e-3)


@pytest.mark.parametrize('func, kwargs, args, exc, match', [
    (nmse, {}, (np.ones((4, 4)), np.ones((5, 5))), ValueError,
     'same shape'),
    (nmse, {}, (np.ones((4, 4)), np.zeros((4, 4))), ValueError,
     'identically zero'),
    (nmse, {}, (np.ones((4, 4)) * u.Jy, np.ones((4, 4))), u.UnitsError,
     'both have units'),
    (nmse, {}, (np.ones((4, 4)) * u.s, np.ones((4, 4)) * u.Jy),
     u.UnitsError, 'convertible'),
    (psnr, {'data_range': None}, (np.ones((4, 4)), np.ones((4, 4))),
     ValueError, 'data_range must be given'),
    (psnr, {'data_range': -1.0}, (np.ones((4, 4)), np.ones((4, 4))),
     ValueError, 'data_range must be > 0'),
    (ssim, {'data_range': 'max'}, (np.ones((4, 4)), np.ones((4, 4))),
     ValueError, 'data_range must be a positive number'),
    (ssim, {'data_range': 1.0, 'sigma': 0}, (np.ones((4, 4)),
                                             np.ones((4, 4))),
     ValueError, 'sigma must be > 0'),
    (flux_ratio, {}, (np.ones((2, 4, 4)), np.ones((3, 4, 4))), ValueError,
     'same number of images'),
])
def test_bad_input(func, kwargs, args, exc, match):
    with pytest.raises(exc, match=match):
        func(*args, **kwargs)


def test_metrics_take_estimate_then_truth():
    import inspect

    from astropy.utils.exceptions import AstropyDeprecationWarning

    from astrodeconv import metrics

    for name in ('nmse', 'psnr', 'ssim', 'flux_ratio', 'clump_flux_error',
                 'hallucination_rate', 'completeness', 'flux_error',
                 'centroid_error'):
        params = list(inspect.signature(getattr(metrics, name)).parameters)
        assert params[:2] == ['estimate', 'truth'], name
    truth = np.ones((8, 8))
    truth[3, 4] = 3.0
    with pytest.warns(AstropyDeprecationWarning, match="'reference'"):
        old = metrics.nmse(truth * 1.1, reference=truth)
    assert old == metrics.nmse(truth * 1.1, truth=truth)
    with pytest.warns(AstropyDeprecationWarning, match="'output'"):
        metrics.completeness(output=truth, truth=truth, sigma=0.1)
