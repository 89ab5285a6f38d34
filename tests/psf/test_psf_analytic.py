"""Tests of the analytic PSFs in astrodeconv.psf.analytic."""

import numpy as np
import pytest
from astropy import units as u
from scipy.special import erf

from astrodeconv.psf import (make_airy_psf, make_gaussian_psf,
                             make_kolmogorov_psf, make_moffat_psf,
                             measure_fwhm, odd_stamp_size, psf_center,
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


# -- Kolmogorov and elliptical PSFs -------------------------------------------

needs_galsim = pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')


def moffat_25(fwhm, shape=None, **kwargs):
    return make_moffat_psf(fwhm, 2.5, shape, **kwargs)


#: The profiles that take an ellipticity (Kolmogorov only with GalSim).
SHEARABLE = {
    'gaussian': make_gaussian_psf,
    'moffat': moffat_25,
    'kolmogorov': pytest.param(make_kolmogorov_psf, marks=needs_galsim),
}


def second_moment_shear(psf):
    """Shear ``g`` and angle (deg) from the unweighted second moments."""
    cy, cx = psf_centroid(psf)
    yy, xx = np.indices(psf.shape)
    dy, dx = yy - cy, xx - cx
    qxx, qyy, qxy = ((psf * a * b).sum() for a, b in
                     ((dx, dx), (dy, dy), (dx, dy)))
    chi = np.hypot(qxx - qyy, 2 * qxy) / (qxx + qyy)
    angle = np.degrees(0.5 * np.arctan2(2 * qxy, qxx - qyy)) % 180
    return chi / (1 + np.sqrt(1 - chi**2)), angle


def angle_difference(a, b):
    """|a - b| for position angles (modulo 180 degrees)."""
    d = (a - b) % 180
    return min(d, 180 - d)


@needs_galsim
@pytest.mark.parametrize('shape', [(33, 33), (41, 41), (20, 20), (16, 23)])
def test_kolmogorov_centred_and_normalised(shape):
    psf = make_kolmogorov_psf(3.0, shape)
    assert psf.shape == shape
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(psf >= 0)
    assert np.unravel_index(np.argmax(psf), shape) == psf_center(shape)
    # symmetric about the centre pixel
    cy, cx = psf_center(shape)
    n_y, n_x = min(cy, shape[0] - cy - 1), min(cx, shape[1] - cx - 1)
    core = psf[cy - n_y:cy + n_y + 1, cx - n_x:cx + n_x + 1]
    np.testing.assert_allclose(core, core[::-1, ::-1],
                               atol=1e-9 * psf.max())
    if shape[0] % 2 and shape[1] % 2:
        assert psf_centroid(psf) == pytest.approx(psf_center(shape),
                                                  abs=1e-9)
    validate_psf(psf)


@needs_galsim
@pytest.mark.parametrize('fwhm', [2.0, 4.0, 9.0])
def test_kolmogorov_fwhm_and_wings(fwhm):
    psf = make_kolmogorov_psf(fwhm)
    assert psf.shape == (odd_stamp_size(8 * fwhm),) * 2
    # pixel integration widens the narrowest profiles a little
    assert measure_fwhm(psf, method='contour') == pytest.approx(
        fwhm, rel=0.03 if fwhm < 3 else 0.015)
    # heavier wings than the default Moffat of the same FWHM
    size = psf.shape[0]
    moffat = make_moffat_psf(fwhm, shape=size)
    yy, xx = np.indices(psf.shape) - size // 2
    outer = np.hypot(yy, xx) > 1.5 * fwhm
    assert psf[outer].sum() > 1.5 * moffat[outer].sum()


@needs_galsim
def test_kolmogorov_against_galsim_and_units():
    import galsim

    ref = galsim.Kolmogorov(fwhm=3.0).drawImage(nx=25, ny=25, scale=1.0,
                                                dtype=float).array
    np.testing.assert_allclose(make_kolmogorov_psf(3.0, 25),
                               ref / ref.sum(), atol=1e-12)
    np.testing.assert_allclose(
        make_kolmogorov_psf(0.6 * u.arcsec, pixel_scale=0.2 * u.arcsec),
        make_kolmogorov_psf(3.0))
    coarse = make_kolmogorov_psf(3.0, 31)
    fine = make_kolmogorov_psf(3.0, 123, oversampling=4)
    ratio = (measure_fwhm(fine, method='contour')
             / measure_fwhm(coarse, method='contour'))
    assert ratio == pytest.approx(4.0, rel=0.02)


@pytest.mark.parametrize('maker', SHEARABLE.values(), ids=SHEARABLE.keys())
@pytest.mark.parametrize(('ellipticity', 'angle'),
                         [(0.05, 10.0), (0.15, 120.0), (0.3, -15.0)])
def test_elliptical_psf(maker, ellipticity, angle):
    fwhm = 8.0
    psf = maker(fwhm, 61, ellipticity=ellipticity, angle=angle)
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.unravel_index(np.argmax(psf), psf.shape) == (30, 30)
    assert psf_centroid(psf) == pytest.approx((30.0, 30.0), abs=1e-9)
    np.testing.assert_allclose(psf, psf[::-1, ::-1], atol=1e-9 * psf.max())
    # the FWHM is the geometric mean of the axes
    assert measure_fwhm(psf, method='contour') == pytest.approx(fwhm,
                                                                rel=0.01)
    if HAS_GALSIM:
        import galsim

        moments = galsim.hsm.FindAdaptiveMom(galsim.Image(psf, scale=1.0))
        shape = moments.observed_shape
        assert shape.g == pytest.approx(ellipticity, rel=0.01)
        assert angle_difference(shape.beta.deg, angle) < 0.1
    if maker is make_gaussian_psf:
        # unweighted moments (diluted by the pixel, variance 1 / 12)
        g, measured_angle = second_moment_shear(psf)
        assert g == pytest.approx(ellipticity, rel=0.01)
        assert angle_difference(measured_angle, angle) < 0.1


def test_elliptical_gaussian_exact_when_aligned():
    # an ellipse along the x axis is separable: erf integrals per axis
    from astrodeconv.psf.analytic import _gaussian_pixels

    fwhm, e = 3.0, 0.25
    q = (1 - e) / (1 + e)
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    along_y = _gaussian_pixels((25, 1), (12, 0), sigma * np.sqrt(q))
    along_x = _gaussian_pixels((1, 25), (0, 12), sigma / np.sqrt(q))
    expected = along_y * along_x
    expected /= expected.sum()
    psf = make_gaussian_psf(fwhm, 25, ellipticity=e)
    np.testing.assert_allclose(psf, expected, atol=1e-9 * expected.max())
    # 90 degrees (or a Quantity) turns it onto the y axis
    np.testing.assert_allclose(
        make_gaussian_psf(fwhm, 25, ellipticity=e, angle=90 * u.deg),
        expected.T, atol=1e-9 * expected.max())
    np.testing.assert_allclose(
        make_gaussian_psf(fwhm, 25, ellipticity=e, angle=np.pi / 2 * u.rad),
        make_gaussian_psf(fwhm, 25, ellipticity=e, angle=90))


@pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')
def test_elliptical_against_galsim():
    import galsim

    e, angle = 0.2, 30.0
    for ours, profile in ((make_gaussian_psf(1.3, 15, ellipticity=e,
                                             angle=angle),
                           galsim.Gaussian(fwhm=1.3)),
                          (make_moffat_psf(2.0, 2.5, 25, ellipticity=e,
                                           angle=angle),
                           galsim.Moffat(beta=2.5, fwhm=2.0))):
        image = profile.shear(g=e, beta=angle * galsim.degrees).drawImage(
            nx=ours.shape[1], ny=ours.shape[0], scale=1.0, dtype=float)
        ref = image.array / image.array.sum()
        np.testing.assert_allclose(ours, ref, atol=3e-4 * ref.max())


def test_elliptical_small_and_even_stamps():
    # narrow profiles (many quadrature points) and even stamps (no mirror)
    for maker in (make_gaussian_psf, moffat_25):
        psf = maker(1.0, 9, ellipticity=1e-12, angle=40)
        np.testing.assert_allclose(psf, maker(1.0, 9), atol=1e-7 * psf.max())
        even = maker(4.0, (20, 24), ellipticity=0.1, angle=30)
        assert np.unravel_index(np.argmax(even), even.shape) == (10, 12)
        # symmetric about the centre pixel (10, 12)
        np.testing.assert_allclose(even[1:, 1:], even[1:, 1:][::-1, ::-1],
                                   atol=1e-12)


def test_ellipticity_defaults_and_stamp():
    for maker in (make_gaussian_psf, make_moffat_psf):
        np.testing.assert_array_equal(maker(3.0, ellipticity=0.0, angle=45),
                                      maker(3.0))
    q = (1 - 0.2) / (1 + 0.2)
    assert make_gaussian_psf(3.0, ellipticity=0.2).shape == (
        odd_stamp_size(5 * 3.0 / np.sqrt(q)),) * 2
    assert make_moffat_psf(3.0, ellipticity=0.2).shape == (
        odd_stamp_size(6 * 3.0 / np.sqrt(q)),) * 2


ELLIPTICITY_ERRORS = [
    ({'ellipticity': -0.1}, ValueError, 'ellipticity must be >= 0'),
    ({'ellipticity': 1.0}, ValueError,
     r'ellipticity must be in the range \[0, 1\).*got 1.0'),
    ({'ellipticity': '0.1'}, TypeError, 'ellipticity must be a real number'),
    ({'angle': '30'}, TypeError, 'angle must be a real number'),
    ({'angle': np.inf}, ValueError, 'angle must be finite'),
    ({'angle': 30 * u.m}, u.UnitsError, 'angle must be a number of degrees'),
    ({'angle': [1, 2] * u.deg}, ValueError, 'angle must be a scalar'),
]


@pytest.mark.parametrize(('kwargs', 'error', 'match'), ELLIPTICITY_ERRORS)
@pytest.mark.parametrize('maker', SHEARABLE.values(), ids=SHEARABLE.keys())
def test_ellipticity_errors(maker, kwargs, error, match):
    with pytest.raises(error, match=match):
        maker(3.0, **kwargs)


@needs_galsim
@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'fwhm': 0}, ValueError, 'fwhm must be > 0'),
    ({'fwhm': 1 * u.arcsec}, ValueError, 'pixel_scale must be given'),
    ({'fwhm': 3, 'shape': (5, 5, 5)}, ValueError, 'shape must be an integer'),
    ({'fwhm': 3, 'oversampling': 0}, ValueError,
     'oversampling must be an int'),
])
def test_kolmogorov_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_kolmogorov_psf(**kwargs)
