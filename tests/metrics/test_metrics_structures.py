"""Tests of the structure-level metrics (clumps, hallucinations, chi2)."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData, StdDevUncertainty
from astropy.table import Table

from astrodeconv.metrics import (centroid_error, clump_flux,
                                 clump_flux_error, clump_segmentation,
                                 completeness, data_residual, detect_clumps,
                                 flux_error, hallucination_rate,
                                 reduced_chi2, small_scale_structure)
from astrodeconv.operators.fourier import (block_sum, convolve_otf,
                                           psf_to_otf)

N = 96
YY, XX = np.mgrid[:N, :N]
POSITIONS = [(28, 34), (66, 28), (36, 68), (70, 62)]
SIGMA = 0.1


def blob(x0, y0, amplitude=1.0, width=1.5):
    return amplitude * np.exp(-((XX - x0) ** 2 + (YY - y0) ** 2)
                              / (2 * width ** 2))


def galaxy():
    r = np.hypot(XX - 48, YY - 48)
    return np.exp(-np.sqrt(r ** 2 + 20 ** 2) / 20)


def clumps(amplitude=1.0):
    return sum(blob(x, y, amplitude) for x, y in POSITIONS)


@pytest.fixture
def truth():
    return galaxy() + clumps()


def gaussian_psf(size=9, width=1.2):
    y, x = np.mgrid[:size, :size] - size // 2
    psf = np.exp(-(x ** 2 + y ** 2) / (2 * width ** 2))
    return psf / psf.sum()


# -- small-scale structure ------------------------------------------------

def test_small_scale_structure_shapes_and_units(truth):
    plane = small_scale_structure(truth)
    assert plane.shape == truth.shape
    stack = small_scale_structure(np.stack([truth, 2 * truth]))
    assert stack.shape == (2, N, N)
    np.testing.assert_allclose(stack[1], 2 * plane, atol=1e-12)
    quantity = small_scale_structure(truth * u.Jy, scale=2)
    assert quantity.unit == u.Jy
    np.testing.assert_allclose(small_scale_structure(truth, n_scales=5),
                               plane, atol=1e-12)


def test_small_scale_structure_bad_scale(truth):
    with pytest.raises(ValueError, match='scale must satisfy'):
        small_scale_structure(truth, scale=7)
    with pytest.raises(ValueError, match='scale must be'):
        small_scale_structure(truth, scale=0)
    with pytest.raises(ValueError, match='n_scales must be >= scale'):
        small_scale_structure(truth, scale=3, n_scales=2)


# -- detection ------------------------------------------------------------

def _assert_found(table, positions=POSITIONS, tol=1.0):
    for x0, y0 in positions:
        dist = np.hypot(table['x'] - x0, table['y'] - y0)
        assert dist.min() < tol


def test_detect_clumps_positions(truth):
    table = detect_clumps(truth, sigma=SIGMA)
    assert isinstance(table, Table)
    assert set(table.colnames) == {'label', 'x', 'y', 'flux', 'area'}
    assert len(table) == len(POSITIONS)
    _assert_found(table)
    assert np.all(table['flux'] > 0) and np.all(table['area'] >= 3)


def test_detect_clumps_noisy_with_and_without_sigma(truth):
    rng = np.random.default_rng(0)
    noisy = truth + rng.normal(0, SIGMA, truth.shape)
    for sigma in (SIGMA, None):
        table = detect_clumps(noisy, sigma=sigma, threshold=5.0)
        assert len(table) == len(POSITIONS)
        _assert_found(table)


def test_detect_clumps_none_found_and_stack(truth):
    empty = detect_clumps(np.zeros((32, 32)), sigma=SIGMA)
    assert len(empty) == 0
    assert detect_clumps(galaxy(), sigma=SIGMA).colnames[0] == 'label'
    tables = detect_clumps(np.stack([truth, galaxy()]), sigma=SIGMA)
    assert isinstance(tables, list) and [len(t) for t in tables] == [4, 0]
    segm = clump_segmentation(truth, sigma=SIGMA)
    assert segm.shape == truth.shape and segm.max() == 4
    assert clump_segmentation(np.zeros((32, 32)), sigma=SIGMA).max() == 0


def test_detect_clumps_units_and_nddata(truth):
    table = detect_clumps(truth * u.Jy, sigma=SIGMA * u.Jy)
    assert table['flux'].unit == u.Jy and len(table) == 4
    table = detect_clumps(NDData(truth), sigma=SIGMA)
    assert len(table) == 4
    with pytest.raises(u.UnitsError, match='sigma has a unit'):
        detect_clumps(truth, sigma=SIGMA * u.Jy)


def test_detect_clumps_bad_input(truth):
    with pytest.raises(ValueError, match='threshold must be > 0'):
        detect_clumps(truth, threshold=0)
    with pytest.raises(ValueError, match='sigma must be > 0'):
        detect_clumps(truth, sigma=-1.0)
    with pytest.raises(ValueError, match='scale must satisfy'):
        detect_clumps(np.ones((8, 8)), scale=4)
    with pytest.raises(ValueError, match='min_pixels'):
        detect_clumps(truth, min_pixels=0)


# -- clump flux -----------------------------------------------------------

def test_clump_flux_error_values(truth):
    assert clump_flux_error(truth, truth, sigma=SIGMA) == 0
    half = galaxy() + clumps(0.5)
    assert clump_flux_error(half, truth, sigma=SIGMA) == pytest.approx(
        -0.5, abs=0.02)
    flux = clump_flux(truth, sigma=SIGMA)
    assert flux == pytest.approx(
        detect_clumps(truth, sigma=SIGMA)['flux'].sum())
    assert clump_flux(half, truth, sigma=SIGMA) == pytest.approx(
        0.5 * flux, rel=0.05)
    assert clump_flux(np.zeros((32, 32)), sigma=SIGMA) == 0


def test_clump_flux_error_stack_and_no_clumps(truth):
    half = galaxy() + clumps(0.5)
    values = clump_flux_error(np.stack([truth, half]),
                              np.stack([truth, truth]), sigma=SIGMA)
    assert values.shape == (2,)
    np.testing.assert_allclose(values, [0, -0.5], atol=0.02)
    assert np.isnan(clump_flux_error(galaxy(), galaxy(), sigma=SIGMA))


def test_clump_flux_bad_shapes(truth):
    with pytest.raises(ValueError, match=r'\(96, 96\) and \(48, 48\)'):
        clump_flux_error(truth, truth[:48, :48])
    with pytest.raises(ValueError, match='threshold must be > 0'):
        clump_flux(truth, truth, threshold=-1)


# -- hallucinations and completeness --------------------------------------

def test_hallucination_rate(truth):
    assert hallucination_rate(truth, truth, sigma=SIGMA) == 0
    fake = truth + blob(20, 75) + blob(80, 15)
    assert hallucination_rate(fake, truth, sigma=SIGMA) == pytest.approx(
        2 / 6)
    assert hallucination_rate(galaxy(), truth, sigma=SIGMA) == 0
    rates = hallucination_rate(np.stack([truth, fake]),
                               np.stack([truth, truth]), sigma=SIGMA)
    np.testing.assert_allclose(rates, [0, 1 / 3])


def test_completeness(truth):
    assert completeness(truth, truth, sigma=SIGMA) == 1
    missing = truth - blob(*POSITIONS[0])
    assert completeness(missing, truth, sigma=SIGMA) == pytest.approx(0.75)
    assert completeness(galaxy(), truth, sigma=SIGMA) == 0
    assert completeness(truth, galaxy(), sigma=SIGMA) == 1
    values = completeness(np.stack([truth, missing]),
                          np.stack([truth, truth]), sigma=SIGMA)
    np.testing.assert_allclose(values, [1, 0.75])


def test_detection_level_is_that_of_the_truth(truth):
    # A noisy truth and a noise-free output holding faint ripples: with
    # the noise estimated on the truth, the ripples (10 % of a clump) are
    # below the detection level of both images and are not hallucinations;
    # thresholding the output on its own (tiny) noise would flag them.
    rng = np.random.default_rng(3)
    noisy_truth = truth + rng.normal(0, SIGMA, truth.shape)
    ripples = truth + 0.1 * (blob(20, 75) + blob(80, 15))
    assert hallucination_rate(ripples, noisy_truth, threshold=5) == 0
    assert completeness(ripples, noisy_truth, threshold=5) == 1
    # bright fakes are still found at that level
    fake = truth + blob(20, 75) + blob(80, 15)
    assert hallucination_rate(fake, noisy_truth,
                              threshold=5) == pytest.approx(2 / 6)


def test_match_radius(truth):
    shifted = galaxy() + sum(blob(x + 3, y) for x, y in POSITIONS)
    assert hallucination_rate(shifted, truth, sigma=SIGMA) == 1
    assert completeness(shifted, truth, sigma=SIGMA) == 0
    assert hallucination_rate(shifted, truth, sigma=SIGMA,
                              match_radius=4) == 0
    with pytest.raises(ValueError, match='match_radius must be > 0'):
        hallucination_rate(truth, truth, match_radius=0)
    with pytest.raises(ValueError, match='threshold must be > 0'):
        completeness(truth, truth, threshold=0)
    with pytest.raises(ValueError, match=r'\(96, 96\) and \(2, 96, 96\)'):
        hallucination_rate(truth, np.stack([truth, truth]))


# -- data residual and chi2 -----------------------------------------------

def _observe(x, psf, k=1):
    otf = psf_to_otf(psf, x.shape[-2:])
    return block_sum(convolve_otf(x[None], otf), k)[0]


def test_data_residual_exact_model(truth):
    psf = gaussian_psf()
    data = _observe(truth, psf)
    residual = data_residual(truth, data, psf)
    assert residual.shape == data.shape
    np.testing.assert_allclose(residual, 0, atol=1e-10)
    # an unnormalised PSF is normalised
    np.testing.assert_allclose(data_residual(truth, data, 3 * psf), 0,
                               atol=1e-10)
    nd = NDData(data, psf=psf)
    np.testing.assert_allclose(data_residual(truth, nd), 0, atol=1e-10)
    quantity = data_residual(truth * u.Jy, data * u.Jy, psf)
    assert quantity.unit == u.Jy


def test_data_residual_upsample(truth):
    psf = gaussian_psf()
    data = _observe(truth, psf, k=2)
    assert data.shape == (48, 48)
    residual = data_residual(truth, data, psf, upsample=2)
    assert residual.shape == (48, 48)
    np.testing.assert_allclose(residual, 0, atol=1e-10)
    stack = data_residual(np.stack([truth, truth]), np.stack([data, data]),
                          psf, upsample=2)
    assert stack.shape == (2, 48, 48)
    with pytest.raises(ValueError, match=r'must have shape \(96, 96\)'):
        data_residual(truth[:48, :48], data, psf, upsample=2)
    with pytest.raises(ValueError, match='upsample must be'):
        data_residual(truth, data, psf, upsample=0)


def test_reduced_chi2_noise():
    rng = np.random.default_rng(3)
    psf = gaussian_psf()
    x = galaxy()
    data = _observe(x, psf) + rng.normal(0, 0.5, x.shape)
    chi2 = reduced_chi2(x, data, psf, error=0.5)
    assert chi2 == pytest.approx(1.0, rel=0.1)
    nd = NDData(data, psf=psf,
                uncertainty=StdDevUncertainty(np.full(x.shape, 0.5)))
    assert reduced_chi2(x, nd) == pytest.approx(chi2)
    values = reduced_chi2(np.stack([x, x]), np.stack([data, data]), psf,
                          error=0.25)
    np.testing.assert_allclose(values, 4 * chi2)
    with pytest.raises(ValueError, match='error must be given'):
        reduced_chi2(x, data, psf)
    with pytest.raises(ValueError, match='psf must be given'):
        reduced_chi2(x, data, error=0.5)


# -- global flux and centroid ---------------------------------------------

def test_flux_error(truth):
    assert flux_error(truth, truth) == 0
    assert flux_error(1.2 * truth, truth) == pytest.approx(0.2)
    values = flux_error(np.stack([truth, 0.5 * truth]),
                        np.stack([truth, truth]))
    np.testing.assert_allclose(values, [0, -0.5])
    assert flux_error(truth * u.mJy, truth * u.Jy) == pytest.approx(-0.999)
    with pytest.raises(ValueError, match=r'\(96, 96\) and \(95, 96\)'):
        flux_error(truth, truth[1:])
    with pytest.raises(ValueError, match='non-zero total flux'):
        flux_error(truth, np.zeros_like(truth))


def test_centroid_error(truth):
    assert centroid_error(truth, truth) == 0
    compact = clumps()
    shifted = np.roll(compact, (3, 4), axis=(0, 1))
    assert centroid_error(shifted, compact) == pytest.approx(5.0)
    assert centroid_error(2 * truth, truth) == pytest.approx(0, abs=1e-10)
    values = centroid_error(np.stack([compact, shifted]),
                            np.stack([compact, compact]))
    np.testing.assert_allclose(values, [0, 5], atol=1e-9)
    with pytest.raises(ValueError, match='positive unmasked pixels'):
        centroid_error(-truth, truth)
    with pytest.raises(ValueError, match='same shape'):
        centroid_error(truth, truth[:, 1:])
