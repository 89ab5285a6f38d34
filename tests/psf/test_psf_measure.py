"""Tests of measure_fwhm and resample_psf."""

import numpy as np
import pytest
from astropy import units as u
from astropy.modeling.models import Gaussian2D

from astrodeconv.psf import (make_airy_psf, make_gaussian_psf,
                             make_moffat_psf, measure_fwhm, model_to_psf,
                             psf_center, psf_centroid, resample_psf)


@pytest.mark.parametrize('fwhm', [1.0, 1.7, 3.0, 6.5])
@pytest.mark.parametrize('method', ['moffat', 'gaussian'])
def test_fwhm_gaussian(fwhm, method):
    assert measure_fwhm(make_gaussian_psf(fwhm), method=method) == (
        pytest.approx(fwhm, rel=0.005))


@pytest.mark.parametrize('fwhm', [1.2, 3.0, 5.5])
@pytest.mark.parametrize('beta', [1.5, 2.5, 4.765])
def test_fwhm_moffat(fwhm, beta):
    psf = make_moffat_psf(fwhm, beta)
    assert measure_fwhm(psf) == pytest.approx(fwhm, rel=0.005)
    # a Gaussian fit is biased by the wings, less so for large beta
    gauss = measure_fwhm(psf, method='gaussian')
    assert gauss > fwhm * 1.01


@pytest.mark.parametrize('fwhm', [3.0, 4.5, 9.0])
def test_fwhm_contour(fwhm):
    for psf in (make_gaussian_psf(fwhm), make_moffat_psf(fwhm, 2.5)):
        assert measure_fwhm(psf, method='contour') == pytest.approx(
            fwhm, rel=0.02)


def test_fwhm_contour_airy_and_elliptical():
    lam_d = (1e-6 * u.rad).to(u.arcsec)
    airy = make_airy_psf(1 * u.um, 1 * u.m, 61, pixel_scale=lam_d / 4)
    assert measure_fwhm(airy, method='contour') == pytest.approx(
        1.029 * 4, rel=0.02)
    # the profile fit is biased low by the rings
    assert measure_fwhm(airy) < 0.97 * 1.029 * 4
    # geometric mean of the FWHM along the major and minor axes
    ellipse = model_to_psf(Gaussian2D(x_stddev=2.0, y_stddev=1.2, theta=0.5),
                           31)
    expected = 2 * np.sqrt(2 * np.log(2)) * np.sqrt(2.0 * 1.2)
    assert measure_fwhm(ellipse, method='contour') == pytest.approx(
        expected, rel=0.02)
    assert measure_fwhm(ellipse, method='gaussian') == pytest.approx(
        expected, rel=0.02)


def test_fwhm_not_centred_nor_normalised():
    psf = make_moffat_psf(3.0, 3.0, 41)
    shifted = 7.0 * np.roll(psf, (5, -8), axis=(0, 1))
    for method in ('moffat', 'gaussian', 'contour'):
        assert measure_fwhm(shifted, method=method) == pytest.approx(
            measure_fwhm(psf, method=method), rel=1e-3)


def test_fwhm_noisy():
    rng = np.random.default_rng(42)
    psf = make_moffat_psf(4.0, 3.0, 41)
    noisy = psf + rng.normal(0, 1e-3 * psf.max(), psf.shape)
    assert measure_fwhm(noisy) == pytest.approx(4.0, rel=0.03)
    assert measure_fwhm(noisy, method='contour') == pytest.approx(4.0,
                                                                  rel=0.03)


def test_fwhm_pixel_scale():
    psf = make_gaussian_psf(3.0)
    for scale in (0.2 * u.arcsec, 0.2 * u.arcsec / u.pix, 200 * u.mas):
        fwhm = measure_fwhm(psf, pixel_scale=scale)
        assert fwhm.unit == u.arcsec
        assert fwhm.value == pytest.approx(0.6, rel=0.005)
    with pytest.raises(u.UnitsError, match='pixel_scale must have angular'):
        measure_fwhm(psf, pixel_scale=1 * u.m)
    with pytest.raises(TypeError, match='pixel_scale must be an angular'):
        measure_fwhm(psf, pixel_scale=0.2)


def test_fwhm_errors():
    with pytest.raises(ValueError, match="method must be one of 'moffat'"):
        measure_fwhm(make_gaussian_psf(3.0), method='airy')
    with pytest.raises(ValueError, match='psf must have a positive sum'):
        measure_fwhm(np.zeros((9, 9)))


@pytest.mark.parametrize('fwhm', [2.0, 3.0, 5.0])
def test_resample_finer_scales_fwhm(fwhm):
    psf = make_gaussian_psf(fwhm, 25)
    fine = resample_psf(psf, 4)
    assert fine.shape == (101, 101)
    assert fine.sum() == pytest.approx(1.0)
    assert measure_fwhm(fine) == pytest.approx(4 * fwhm, rel=0.02)
    assert psf_centroid(fine) == pytest.approx((50, 50), abs=1e-6)
    # close to the PSF computed directly on the fine grid
    direct = make_gaussian_psf(fwhm, 101, oversampling=4)
    np.testing.assert_allclose(fine, direct, atol=0.03 * direct.max())


def test_resample_coarser_is_exact_binning():
    fine = make_moffat_psf(3.0, 2.5, 99, oversampling=3)
    coarse = resample_psf(fine, 1 / 3)
    assert coarse.shape == (33, 33)
    np.testing.assert_allclose(coarse, make_moffat_psf(3.0, 2.5, 33),
                               atol=1e-9)
    # even factor: pixel edges fall inside fine pixels
    fine = make_gaussian_psf(3.0, 101, oversampling=4)
    coarse = resample_psf(fine, 0.25)
    assert coarse.shape == (25, 25)
    expected = make_gaussian_psf(3.0, 25)
    np.testing.assert_allclose(coarse, expected, atol=1e-3 * expected.max())


def test_resample_conserves_flux_per_pixel():
    # with an odd factor and odd shapes, each input pixel is exactly a block
    # of output pixels, which must hold its flux
    psf = make_moffat_psf(2.5, 3.0, 21)
    fine = resample_psf(psf, 3)
    assert fine.shape == (63, 63)
    binned = fine.reshape(21, 3, 21, 3).sum(axis=(1, 3))
    np.testing.assert_allclose(binned, psf, atol=1e-12)


def test_resample_even_shape_centre():
    psf = make_gaussian_psf(3.0, (24, 20))
    fine = resample_psf(psf, 2)
    assert fine.shape == (48, 40)
    assert np.unravel_index(np.argmax(fine), fine.shape) == (24, 20)
    up = resample_psf(psf, 2.5)
    assert up.shape == (60, 50)
    assert psf_centroid(up) == pytest.approx(psf_center(up.shape), abs=0.05)


def test_resample_scales_and_shape():
    vlt = make_moffat_psf(0.8 * u.arcsec, 3.0, 25, pixel_scale=0.2 * u.arcsec)
    hst = resample_psf(vlt, from_scale=0.2 * u.arcsec,
                       to_scale=0.05 * u.arcsec / u.pix)
    np.testing.assert_allclose(hst, resample_psf(vlt, 4.0))
    np.testing.assert_allclose(hst, resample_psf(vlt, from_scale=0.2,
                                                 to_scale=0.05))
    assert measure_fwhm(hst, pixel_scale=0.05 * u.arcsec).to_value(
        u.arcsec) == pytest.approx(0.8, rel=0.01)
    small = resample_psf(vlt, 4.0, shape=(51, 41))
    assert small.shape == (51, 41)
    assert small.sum() == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(small), small.shape) == (25, 20)
    # round trip
    back = resample_psf(hst, 0.25)
    np.testing.assert_allclose(back, vlt, atol=2e-3 * vlt.max())


def test_resample_errors():
    psf = make_gaussian_psf(3.0)
    with pytest.raises(ValueError, match='factor must be given, or both'):
        resample_psf(psf)
    with pytest.raises(ValueError, match='factor must be given, or both'):
        resample_psf(psf, from_scale=0.2 * u.arcsec)
    with pytest.raises(ValueError, match='factor must not be given together'):
        resample_psf(psf, 2, from_scale=0.2 * u.arcsec,
                     to_scale=0.1 * u.arcsec)
    with pytest.raises(ValueError, match='factor must be > 0'):
        resample_psf(psf, 0)
    with pytest.raises(TypeError, match='factor must be a real number'):
        resample_psf(psf, 'x')
    with pytest.raises(TypeError, match='from_scale and to_scale must both'):
        resample_psf(psf, from_scale=0.2 * u.arcsec, to_scale=0.05)
    with pytest.raises(u.UnitsError, match='to_scale must have angular'):
        resample_psf(psf, from_scale=0.2 * u.arcsec, to_scale=0.05 * u.m)
    with pytest.raises(ValueError, match='to_scale must be > 0'):
        resample_psf(psf, from_scale=0.2, to_scale=-0.05)
    with pytest.raises(ValueError, match='shape must be an integer'):
        resample_psf(psf, 2, shape=(0, 3))
    with pytest.raises(ValueError, match='psf must be a 2D array'):
        resample_psf(np.ones((3, 3, 3)), 2)
