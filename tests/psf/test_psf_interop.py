"""Tests of the photutils / astropy.modeling conversions."""

import numpy as np
import pytest
from astropy.modeling.models import (AiryDisk2D, Const2D, Gaussian1D,
                                     Gaussian2D, Moffat2D, Shift)
from photutils.psf import CircularGaussianPSF, ImagePSF

from astrodeconv.psf import (image_psf_to_array, make_gaussian_psf,
                             make_moffat_psf, measure_fwhm, model_to_psf,
                             psf_center, psf_to_image_psf, psf_to_model)

FWHM_TO_SIGMA = 1 / (2 * np.sqrt(2 * np.log(2)))


@pytest.mark.parametrize('shape', [(25, 25), (24, 24), (20, 27)])
def test_image_psf_round_trip(shape):
    psf = make_moffat_psf(3.0, 2.5, shape)
    model = psf_to_image_psf(psf)
    assert isinstance(model, ImagePSF)
    assert model.flux.value == 1.0
    assert (model.x_0.value, model.y_0.value) == (0.0, 0.0)
    cy, cx = psf_center(shape)
    assert tuple(model.origin) == (cx, cy)
    assert model.data.sum() == pytest.approx(1.0)
    assert model(0.0, 0.0) == pytest.approx(psf[cy, cx])
    assert model(1.0, -2.0) == pytest.approx(psf[cy - 2, cx + 1])
    np.testing.assert_allclose(image_psf_to_array(model, shape), psf,
                               atol=1e-14)


def test_image_psf_oversampled():
    coarse = make_gaussian_psf(2.0, 25)
    fine = make_gaussian_psf(2.0, 75, oversampling=3)
    model = psf_to_image_psf(fine, oversampling=3, pixel_response=True)
    assert model.data.sum() == pytest.approx(9.0)
    assert tuple(model.oversampling) == (3, 3)
    # with an odd factor the detector pixel is exactly 3 x 3 fine pixels
    np.testing.assert_allclose(image_psf_to_array(model, 25), coarse,
                               atol=1e-9)
    # without the pixel response, the model is too sharp
    sharp = image_psf_to_array(psf_to_image_psf(fine, oversampling=3), 25)
    assert sharp.max() > 1.05 * coarse.max()
    # even factors are approximated with a trapezoid box
    fine = make_gaussian_psf(2.0, 101, oversampling=4)
    model = psf_to_image_psf(fine, oversampling=4, pixel_response=True)
    np.testing.assert_allclose(image_psf_to_array(model, 25), coarse,
                               atol=0.03 * coarse.max())


def test_image_psf_errors():
    with pytest.raises(ValueError, match='psf must be at least 4 pixels'):
        psf_to_image_psf(make_gaussian_psf(1.0, 3))
    with pytest.raises(ValueError, match='oversampling must be an integer'):
        psf_to_image_psf(make_gaussian_psf(1.0, 9), oversampling=0)
    with pytest.raises(ValueError, match='psf must be centred'):
        psf_to_image_psf(np.roll(make_gaussian_psf(1.0, 15), 3, axis=1))


def test_image_psf_to_array_photutils_models():
    # any photutils PSF model is re-centred and normalised
    model = CircularGaussianPSF(flux=5.0, x_0=100.0, y_0=-4.0, fwhm=3.0)
    psf = image_psf_to_array(model, (21, 20))
    assert psf.sum() == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(psf), psf.shape) == (10, 10)
    sigma = 3.0 * FWHM_TO_SIGMA
    yy, xx = np.indices((21, 20))
    expected = np.exp(-((xx - 10) ** 2 + (yy - 10) ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(psf, expected / expected.sum(), rtol=1e-10)
    assert model.x_0.value == 100.0  # the input model is not modified


def test_image_psf_to_array_errors():
    with pytest.raises(TypeError, match='image_psf must be a 2D astropy'):
        image_psf_to_array(np.ones((5, 5)), 5)
    with pytest.raises(TypeError, match='image_psf must have centre param'):
        image_psf_to_array(Const2D(), 5)
    with pytest.raises(ValueError, match='shape must be an integer'):
        image_psf_to_array(CircularGaussianPSF(), (0, 5))


def test_model_to_psf_gaussian_moffat():
    gauss = Gaussian2D(amplitude=3, x_mean=7.5, y_mean=-2, x_stddev=1.2,
                       y_stddev=1.2)
    expected = make_gaussian_psf(1.2 / FWHM_TO_SIGMA, 25)
    psf = model_to_psf(gauss, 25)
    np.testing.assert_allclose(psf, expected, atol=1e-3 * expected.max())
    # exact integration (slow: a small array)
    exact = model_to_psf(gauss, 5, mode='integrate')
    expected = make_gaussian_psf(1.2 / FWHM_TO_SIGMA, 5)
    np.testing.assert_allclose(exact, expected, atol=1e-6)
    beta, fwhm = 2.5, 3.0
    gamma = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    moffat = Moffat2D(x_0=4, y_0=4, gamma=gamma, alpha=beta)
    expected = make_moffat_psf(fwhm, beta, (24, 26))
    np.testing.assert_allclose(model_to_psf(moffat, (24, 26)), expected,
                               atol=5e-3 * expected.max())
    assert moffat.x_0.value == 4  # the input model is not modified


def test_model_to_psf_airy_and_photutils():
    psf = model_to_psf(AiryDisk2D(radius=5.0), 41)
    assert np.unravel_index(np.argmax(psf), psf.shape) == (20, 20)
    # FWHM = 1.029 lambda / D and the first zero is at 1.2197 lambda / D
    assert measure_fwhm(psf, method='contour') == pytest.approx(
        1.029 / 1.2197 * 5.0, rel=0.02)
    psf = model_to_psf(CircularGaussianPSF(fwhm=2.5, x_0=3), 15)
    np.testing.assert_allclose(psf, make_gaussian_psf(2.5, 15), atol=2e-4)


def test_model_to_psf_oversampling():
    gauss = Gaussian2D(x_stddev=1.0, y_stddev=1.0)
    fine = model_to_psf(gauss, 81, oversampling=4)
    assert measure_fwhm(fine) == pytest.approx(4 / FWHM_TO_SIGMA, rel=0.01)
    np.testing.assert_allclose(
        fine, make_gaussian_psf(1 / FWHM_TO_SIGMA, 81, oversampling=4),
        atol=1e-3 * fine.max())


def test_model_to_psf_compound():
    # a compound model centred on the origin is accepted as is
    gauss = Gaussian2D(x_stddev=1.5, y_stddev=1.5)
    np.testing.assert_allclose(model_to_psf(gauss + Const2D(0.0), 21),
                               model_to_psf(gauss, 21))
    # one that is not must raise
    shifted = (Shift(4) & Shift(0)) | Gaussian2D(x_stddev=1.5, y_stddev=1.5)
    with pytest.raises(ValueError, match='model must be centred on pixel'):
        model_to_psf(shifted, 21)


def test_model_to_psf_errors():
    with pytest.raises(TypeError, match='model must be a 2D astropy'):
        model_to_psf(Gaussian1D(), 21)
    with pytest.raises(TypeError, match='model must be a 2D astropy'):
        model_to_psf(make_gaussian_psf(2.0), 21)
    with pytest.raises(ValueError, match="mode must be one of 'oversample'"):
        model_to_psf(Gaussian2D(), 21, mode='fft')
    with pytest.raises(ValueError, match='model must have a positive finite'):
        model_to_psf(Gaussian2D(amplitude=-1), 21)
    with pytest.raises(ValueError, match='oversampling must be an integer'):
        model_to_psf(Gaussian2D(), 21, oversampling=0)


def test_psf_to_model_gaussian():
    psf = make_gaussian_psf(3.0, 25)
    fit = psf_to_model(psf)
    assert isinstance(fit, Gaussian2D)
    assert fit.x_fwhm == pytest.approx(3.0, rel=1e-3)
    assert fit.y_fwhm == pytest.approx(3.0, rel=1e-3)
    assert (fit.x_mean.value, fit.y_mean.value) == pytest.approx((0, 0),
                                                                 abs=1e-6)
    # unit integral
    integral = 2 * np.pi * fit.amplitude * fit.x_stddev * fit.y_stddev
    assert integral == pytest.approx(1.0, rel=1e-3)
    np.testing.assert_allclose(model_to_psf(fit, 25), psf,
                               atol=1e-3 * psf.max())


def pixel_integrated(model, size, n_sub=40):
    """Brute-force integration of a model centred on the array centre."""
    t = (np.arange(size * n_sub) + 0.5) / n_sub - 0.5 - size // 2
    values = model(*np.meshgrid(t, t))
    return values.reshape(size, n_sub, size, n_sub).mean(axis=(1, 3))


def test_psf_to_model_elliptical():
    truth = Gaussian2D(x_stddev=2.2, y_stddev=1.1, theta=0.6)
    psf = pixel_integrated(truth, 31)
    fit = psf_to_model(psf)
    assert (abs(fit.x_stddev.value), abs(fit.y_stddev.value)) == (
        pytest.approx((2.2, 1.1), rel=1e-3))
    assert np.cos(2 * (fit.theta.value - 0.6)) == pytest.approx(1.0,
                                                                abs=1e-5)


def test_psf_to_model_moffat():
    beta, fwhm = 3.0, 2.0
    psf = make_moffat_psf(fwhm, beta, 25)
    fit = psf_to_model(psf, model='moffat')
    assert isinstance(fit, Moffat2D)
    assert fit.alpha.value == pytest.approx(beta, rel=1e-3)
    assert fit.fwhm == pytest.approx(fwhm, rel=1e-3)
    with pytest.raises(ValueError, match="model must be one of 'gaussian'"):
        psf_to_model(psf, model='airy')
