"""Tests of the analytic PSFs in astrodeconv.psf.analytic."""

import numpy as np
import pytest
from astropy import units as u
from scipy.special import erf

from astrodeconv.psf import (make_airy_psf, make_gaussian_psf,
                             make_moffat_psf, measure_fwhm, psf_center,
                             psf_centroid, validate_psf)
from astrodeconv.utils._optional_deps import HAS_GALSIM

#: lambda / D of 1 um on a 1 m telescope, in arcsec.
LAM_D = (1e-6 * u.rad).to_value(u.arcsec)


def airy(shape=None, lam_d_pix=3.0, **kwargs):
    """Airy PSF with lambda / D = lam_d_pix pixels."""
    return make_airy_psf(1 * u.um, 1 * u.m, shape,
                         pixel_scale=LAM_D / lam_d_pix * u.arcsec, **kwargs)


MAKERS = {
    'gaussian': lambda shape, **kw: make_gaussian_psf(2.5, shape, **kw),
    'moffat': lambda shape, **kw: make_moffat_psf(2.5, 3.0, shape, **kw),
    'airy': lambda shape, **kw: airy(shape, 2.5, **kw),
}


@pytest.mark.parametrize('maker', MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize('shape', [(21, 21), (20, 20), (16, 23), (3, 3)])
def test_centred_and_normalised(maker, shape):
    psf = maker(shape)
    assert psf.shape == shape
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.unravel_index(np.argmax(psf), shape) == psf_center(shape)
    assert np.all(psf >= 0)
    # symmetric about the centre pixel
    cy, cx = psf_center(shape)
    n_y, n_x = min(cy, shape[0] - cy - 1), min(cx, shape[1] - cx - 1)
    core = psf[cy - n_y:cy + n_y + 1, cx - n_x:cx + n_x + 1]
    np.testing.assert_allclose(core, core[::-1, ::-1], rtol=1e-10)
    np.testing.assert_allclose(core, core.T if n_x == n_y else core,
                               rtol=1e-10)
    validate_psf(psf)  # no warning, no error


@pytest.mark.parametrize('maker', MAKERS.values(), ids=MAKERS.keys())
def test_odd_shape_centroid(maker):
    psf = maker((25, 25))
    assert psf_centroid(psf) == pytest.approx((12.0, 12.0), abs=1e-9)


@pytest.mark.parametrize('maker', MAKERS.values(), ids=MAKERS.keys())
def test_oversample_scales_width(maker):
    coarse = maker((31, 31))
    fine = maker((123, 123), oversampling=4)
    ratio = (measure_fwhm(fine, method='contour')
             / measure_fwhm(coarse, method='contour'))
    assert ratio == pytest.approx(4.0, rel=0.02)


def test_default_shapes():
    assert make_gaussian_psf(3.0).shape == (15, 15)
    assert make_gaussian_psf(3.2).shape == (17, 17)
    assert make_gaussian_psf(0.1).shape == (3, 3)
    assert make_gaussian_psf(3.0, oversampling=2).shape == (31, 31)
    assert make_moffat_psf(3.0).shape == (19, 19)
    assert airy(lam_d_pix=3.0).shape == (25, 25)
    for psf in (make_gaussian_psf(4.7), make_moffat_psf(2.2), airy()):
        assert psf.shape[0] % 2 == 1


def test_gaussian_exact_pixel_integral():
    # central pixel of a FWHM = 1 pixel Gaussian from the error function
    sigma = 1.0 / (2 * np.sqrt(2 * np.log(2)))
    expected = erf(0.5 / (np.sqrt(2) * sigma)) ** 2
    psf = make_gaussian_psf(1.0, 15)
    assert psf[7, 7] == pytest.approx(expected, rel=1e-10)
    # and not the point-sampled value, much higher
    assert psf[7, 7] < 0.8 / (2 * np.pi * sigma**2)


def test_moffat_pixel_integration_small_fwhm():
    # brute-force integration of a FWHM = 1 pixel Moffat
    fwhm, beta = 1.0, 2.5
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    n = 101
    t = (np.arange(9 * n) + 0.5) / n - 4.5
    fine = (1 + (t[:, None] ** 2 + t[None, :] ** 2) / alpha**2) ** -beta
    expected = fine.reshape(9, n, 9, n).mean(axis=(1, 3))
    expected /= expected.sum()
    np.testing.assert_allclose(make_moffat_psf(fwhm, beta, 9), expected,
                               atol=2e-4 * expected.max())


@pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')
def test_against_galsim():
    import galsim

    gauss = galsim.Gaussian(fwhm=1.3).drawImage(nx=15, ny=15, scale=1.0)
    moffat = galsim.Moffat(beta=2.5, fwhm=2.0).drawImage(nx=25, ny=25,
                                                         scale=1.0)
    airy_gs = galsim.Airy(lam_over_diam=0.1, obscuration=0.3).drawImage(
        nx=41, ny=41, scale=0.03)
    ours = [make_gaussian_psf(1.3, 15), make_moffat_psf(2.0, 2.5, 25),
            make_airy_psf(1 * u.um, LAM_D / 0.1 * u.m, 41,
                          pixel_scale=0.03 * u.arcsec, obscuration=0.3)]
    for image, psf in zip([gauss, moffat, airy_gs], ours, strict=True):
        ref = image.array / image.array.sum()
        np.testing.assert_allclose(psf, ref, atol=3e-3 * ref.max())


def test_angular_fwhm():
    ref = make_gaussian_psf(3.0)
    for scale in (0.2 * u.arcsec, 0.2 * u.arcsec / u.pix, 200 * u.mas):
        np.testing.assert_allclose(
            make_gaussian_psf(0.6 * u.arcsec, pixel_scale=scale), ref)
    np.testing.assert_allclose(make_gaussian_psf(3.0 * u.pix), ref)
    np.testing.assert_allclose(
        make_moffat_psf(0.6 * u.arcsec, pixel_scale=0.2 * u.arcsec),
        make_moffat_psf(3.0))
    # pixel_scale refers to the detector pixels when oversampling
    np.testing.assert_allclose(
        make_gaussian_psf(0.6 * u.arcsec, pixel_scale=0.2 * u.arcsec,
                          oversampling=3),
        make_gaussian_psf(3.0, oversampling=3))


def test_moffat_wings():
    def outer_flux(psf):
        yy, xx = np.indices(psf.shape) - 30
        return psf[np.hypot(yy, xx) > 6].sum()

    heavy = make_moffat_psf(3.0, beta=1.5, shape=61)
    light = make_moffat_psf(3.0, beta=10.0, shape=61)
    gauss = make_gaussian_psf(3.0, shape=61)
    assert outer_flux(heavy) > outer_flux(light) > outer_flux(gauss)
    for psf in (heavy, light):
        assert measure_fwhm(psf) == pytest.approx(3.0, rel=0.01)


def test_airy_fwhm_and_zeros():
    psf = airy(101, lam_d_pix=5.0, oversampling=2)
    fwhm = measure_fwhm(psf, method='contour') / 2  # detector pixels
    assert fwhm == pytest.approx(1.029 * 5.0, rel=0.02)
    # first dark ring at 1.22 lambda / D (12.2 fine pixels), first bright
    # ring at 1.64 lambda / D with 1.75% of the peak intensity
    row = psf[50, 50:]
    assert row[12] < 2e-3 * row[0]
    assert row[16] / row[0] == pytest.approx(0.0175, rel=0.1)


def test_airy_obscuration():
    clear = airy(61, lam_d_pix=4.0)
    obscured = airy(61, lam_d_pix=4.0, obscuration=0.4)
    # the obscured core is narrower, with less of the flux
    assert (measure_fwhm(obscured, method='contour')
            < measure_fwhm(clear, method='contour'))
    assert obscured.max() < clear.max()


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'fwhm': 0}, ValueError, r'fwhm must be > 0, got 0.0'),
    ({'fwhm': -2.0}, ValueError, r'fwhm must be > 0'),
    ({'fwhm': np.nan}, ValueError, 'fwhm must be finite'),
    ({'fwhm': '3'}, TypeError, 'fwhm must be a real number'),
    ({'fwhm': 1 * u.arcsec}, ValueError,
     'pixel_scale must be given when fwhm is an angular Quantity'),
    ({'fwhm': 3 * u.m}, u.UnitsError, 'fwhm must be a number of pixels'),
    ({'fwhm': [1, 2] * u.pix}, ValueError, 'fwhm must be a scalar'),
    ({'fwhm': 1 * u.arcsec, 'pixel_scale': 0.2}, TypeError,
     'pixel_scale must be an angular Quantity'),
    ({'fwhm': 1 * u.arcsec, 'pixel_scale': 0.2 * u.m}, u.UnitsError,
     'pixel_scale must have angular units'),
    ({'fwhm': 1 * u.arcsec, 'pixel_scale': -0.2 * u.arcsec}, ValueError,
     'pixel_scale must be a finite positive angle'),
    ({'fwhm': 3, 'shape': 0}, ValueError, 'shape must be an integer >= 1'),
    ({'fwhm': 3, 'shape': 2.5}, TypeError, 'shape must be an integer'),
    ({'fwhm': 3, 'shape': (5, 5, 5)}, ValueError,
     r'shape must be an integer or a tuple of 2 integers, got 3'),
    ({'fwhm': 3, 'shape': (5, -1)}, ValueError, 'shape must be an integer'),
    ({'fwhm': 3, 'oversampling': 0}, ValueError,
     'oversampling must be an int'),
    ({'fwhm': 3, 'oversampling': 2.0}, TypeError,
     'oversampling must be an int'),
])
@pytest.mark.parametrize('maker', [make_gaussian_psf, make_moffat_psf])
def test_gaussian_moffat_errors(maker, kwargs, error, match):
    with pytest.raises(error, match=match):
        maker(**kwargs)


@pytest.mark.parametrize('beta', [1.0, 0.5, -2])
def test_moffat_beta_error(beta):
    with pytest.raises(ValueError, match='beta must be > 1'):
        make_moffat_psf(3.0, beta)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'wavelength': 1e-6}, TypeError, 'wavelength must be a Quantity'),
    ({'wavelength': 1 * u.s}, u.UnitsError, 'wavelength must have length'),
    ({'diameter': 0 * u.m}, ValueError, 'diameter must be > 0'),
    ({'diameter': [1, 2] * u.m}, ValueError, 'diameter must be a scalar'),
    ({'pixel_scale': 1 * u.m}, u.UnitsError, 'pixel_scale must have'),
    ({'obscuration': 1.0}, ValueError,
     r'obscuration must be in the range \[0, 1\), got 1.0'),
    ({'obscuration': -0.1}, ValueError, 'obscuration must be >= 0'),
    ({'oversampling': -1}, ValueError, 'oversampling must be an integer'),
    ({'shape': (4,)}, ValueError, 'shape must be an integer or a tuple'),
])
def test_airy_errors(kwargs, error, match):
    args = {'wavelength': 1 * u.um, 'diameter': 1 * u.m,
            'pixel_scale': 0.05 * u.arcsec} | kwargs
    with pytest.raises(error, match=match):
        make_airy_psf(**args)


def test_airy_pixel_scale_required():
    with pytest.raises(TypeError, match='pixel_scale'):
        make_airy_psf(1 * u.um, 1 * u.m)


def test_oversample_keyword_still_works():
    from astropy.modeling.models import Gaussian2D
    from astropy.utils.exceptions import AstropyDeprecationWarning

    from astrodeconv.psf import model_to_psf

    with pytest.warns(AstropyDeprecationWarning, match="'oversample'"):
        for make in (make_gaussian_psf, make_moffat_psf):
            np.testing.assert_array_equal(make(3.0, oversample=2),
                                          make(3.0, oversampling=2))
        np.testing.assert_array_equal(airy(25, oversample=2),
                                      airy(25, oversampling=2))
        np.testing.assert_array_equal(
            model_to_psf(Gaussian2D(), 9, oversample=2),
            model_to_psf(Gaussian2D(), 9, oversampling=2))
    with pytest.raises(TypeError, match="got both 'oversample' and"):
        make_gaussian_psf(3.0, oversample=2, oversampling=2)


def test_odd_stamp_size_and_constants():
    from astrodeconv.psf import (DEFAULT_MOFFAT_BETA, PSF_STAMP_SIZE_IN_FWHM,
                                 odd_stamp_size)

    assert [odd_stamp_size(x) for x in (0.5, 3, 4, 4.2, 7)] == [3, 3, 5, 5, 7]
    assert odd_stamp_size(40, limit=32) == 31
    assert odd_stamp_size(40, limit=33) == 33
    assert odd_stamp_size(9, limit=100) == 9
    assert make_moffat_psf(3.0).shape == (odd_stamp_size(
        PSF_STAMP_SIZE_IN_FWHM['moffat'] * 3.0),) * 2
    np.testing.assert_array_equal(make_moffat_psf(3.0),
                                  make_moffat_psf(3.0, DEFAULT_MOFFAT_BETA))
