"""Tests of astrodeconv.psf.recenter_psf and the PSF defects of issue 10."""

import numpy as np
import pytest
from astropy import units as u
from astropy.convolution import discretize_model
from astropy.modeling.models import Gaussian2D, Moffat2D

from astrodeconv.psf import (make_gaussian_psf, make_psf_for_image,
                             measure_fwhm, psf_center, psf_centroid,
                             recenter_psf, validate_psf)
from astrodeconv.utils.exceptions import AstrodeconvWarning


def rendered(model_cls, shape, center, **params):
    """A profile integrated over the pixels, centred on ``center`` (y, x)."""
    if model_cls is Gaussian2D:
        model = Gaussian2D(1.0, center[1], center[0], **params)
    else:
        model = Moffat2D(1.0, center[1], center[0], **params)
    values = discretize_model(model, (0, shape[1]), (0, shape[0]),
                              mode='oversample', factor=20)
    return values / values.sum()


CASES = {
    # an odd stamp, a Gaussian of FWHM 4 pixels
    'gaussian-odd': (Gaussian2D, (33, 33), dict(x_stddev=1.7, y_stddev=1.7)),
    # the case: 128 x 128, peak near (63, 63), centroid 1.3 px off
    'moffat-even': (Moffat2D, (128, 128), dict(gamma=3.0, alpha=3.0)),
}
OFFSET = (-0.9, -0.95)  # from the centre (64, 64): 1.31 pixels away


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('method', ['centroid', 'peak', 'fit'])
def test_recenter_psf_moves_the_centroid_onto_the_convention(case, method):
    model_cls, shape, params = CASES[case]
    center = psf_center(shape)
    off = rendered(model_cls, shape, np.add(center, OFFSET), **params)
    centred = rendered(model_cls, shape, center, **params)
    assert np.hypot(*np.subtract(psf_centroid(off), center)) > 1.2
    out, shift = recenter_psf(3.0 * off, method=method, return_shift=True)
    assert shift == pytest.approx(OFFSET, abs=0.01), (
        f'recenter_psf(method={method!r}) measured shift {shift}')
    # flux: the Fourier shift keeps every bit of it, on the right pixels
    assert out.sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(out, centred, atol=2e-3 * centred.max(),
                               err_msg=f'method={method!r}')
    assert psf_centroid(out) == pytest.approx(center, abs=0.01), (
        f'recenter_psf(method={method!r}) left the centroid at '
        f'{psf_centroid(out)}')


def test_recenter_psf_centroid_is_exact_for_any_psf():
    # an asymmetric PSF: only the centroid method puts its centroid on the
    # centre exactly (the others centre its core)
    psf = make_gaussian_psf(3.0, shape=31)
    psf = psf + 0.3 * np.roll(psf, (3, 2), axis=(0, 1))
    out = recenter_psf(psf)
    assert psf_centroid(out) == pytest.approx((15, 15), abs=1e-3)
    assert out.sum() == pytest.approx(1.0)


def test_recenter_psf_centred_is_unchanged():
    psf = make_gaussian_psf(3.0, shape=25)
    for method in ('centroid', 'peak', 'fit'):
        out, shift = recenter_psf(psf, method, return_shift=True)
        assert shift == pytest.approx((0, 0), abs=1e-6), method
        np.testing.assert_allclose(out, psf, atol=1e-10)


def test_recenter_psf_errors():
    psf = make_gaussian_psf(3.0, shape=25)
    with pytest.raises(ValueError, match="method must be one of 'centroid', "
                       "'peak', 'fit', got 'median'"):
        recenter_psf(psf, method='median')
    with pytest.raises(ValueError, match='psf must have a positive sum'):
        recenter_psf(np.zeros((9, 9)))


# -- validate_psf: renormalisation and sums (issue 10, sections 2 and 5) ---

def test_validate_psf_renormalises_a_nearly_unit_sum_silently():
    psf = make_gaussian_psf(3.0, shape=25) * 0.99997
    out = validate_psf(psf)  # no warning (warnings are errors in tests)
    assert out.sum() == pytest.approx(1.0, rel=1e-14)
    with pytest.warns(AstrodeconvWarning, match='psf sum is 0.998, not 1'):
        validate_psf(psf / 0.99997 * 0.998)


def test_validate_psf_zero_sum():
    psf = make_gaussian_psf(3.0, shape=25)
    # the difference of two PSFs sums to a rounding error, here positive
    diff = psf - np.roll(psf, 1, axis=1)
    diff[0, 0] += 1e-17
    for bad in (diff, psf - psf.mean()):
        assert abs(bad.sum()) < 1e-15
        with pytest.raises(ValueError, match='psf must have a positive sum, '
                           'got .*: its positive .* and negative .* pixels '
                           'cancel') as error:
            validate_psf(bad)
        assert '%' not in str(error.value)


def test_validate_psf_negative_share_is_of_the_positive_flux():
    psf = np.zeros((5, 5))
    psf[2, 2] = 1.0
    psf[0, :] = -0.15  # negatives hold 75 % of the positive flux
    with pytest.raises(ValueError, match='psf must be mostly non-negative, '
                       r'got negative pixels holding 75.0% of the flux'):
        validate_psf(psf)


# -- measure_fwhm of a flat image --------------------------------------------

@pytest.mark.parametrize('method', ['moffat', 'gaussian', 'contour'])
def test_measure_fwhm_of_a_flat_image(method):
    with pytest.raises(ValueError, match='psf must have a peak to measure '
                       'its FWHM, got a flat image'):
        measure_fwhm(np.ones((25, 25)), method=method)


def test_measure_fwhm_wider_than_the_stamp():
    # a tiny bump on a pedestal: the fit is far wider than the stamp
    psf = np.ones((15, 15))
    psf[7, 7] += 1e-3
    with pytest.raises(ValueError, match='psf FWHM cannot be measured'):
        measure_fwhm(psf)


# -- make_psf_for_image and a FWHM larger than the image ---------------------

def test_make_psf_for_image_refuses_a_fwhm_wider_than_the_image():
    image = np.zeros((32, 32))
    with pytest.raises(ValueError, match=r'fwhm must be smaller than the '
                       r'image, got 1000000.0 pix, i.e. 1e\+06 output'):
        make_psf_for_image(image, 1e6)
    with pytest.raises(ValueError, match='fwhm must be smaller than the'):
        make_psf_for_image(image, 7 * u.arcsec, pixel_scale=0.2 * u.arcsec)


def test_make_psf_for_image_warns_when_the_crop_loses_flux():
    with pytest.warns(AstrodeconvWarning, match=r'stamp was cropped to 31 x '
                      r'31 pixels, which leaves out about \d+\.\d% of its'):
        make_psf_for_image(np.zeros((32, 32)), 12.0)
    make_psf_for_image(np.zeros((32, 32)), 3.0)  # fits: no warning
