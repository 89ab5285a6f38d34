"""Tests of astrodeconv.psf.make_psf_for_image and image_pixel_scale."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData
from astropy.wcs import WCS

from astrodeconv.psf import (image_pixel_scale, make_gaussian_psf,
                             make_moffat_psf, make_psf_for_image,
                             measure_fwhm)
from astrodeconv.utils.exceptions import AstrodeconvWarning


def _wcs(scale_x, scale_y=None):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    scale_y = scale_x if scale_y is None else scale_y
    wcs.wcs.cdelt = [-scale_x / 3600, scale_y / 3600]
    wcs.wcs.crval = [150.0, 2.0]
    return wcs


def test_fwhm_in_pixels_is_the_moffat_of_the_analytic_module():
    image = np.zeros((40, 40))
    psf = make_psf_for_image(image, 3.5, beta=3.0)
    # ceil(6 * 3.5) = 21: odd already
    assert psf.shape == (21, 21)
    np.testing.assert_array_equal(psf, make_moffat_psf(3.5, 3.0, (21, 21)))
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)


def test_angular_fwhm_uses_the_wcs_scale():
    image = NDData(np.zeros((32, 32)), wcs=_wcs(0.2))
    psf = make_psf_for_image(image, 0.8 * u.arcsec, model='gaussian',
                             upsample=2)
    # 0.8" / 0.2" = 4 input pixels = 8 output pixels; the Gaussian stamp
    # is 5 FWHM = 40 -> 41 (the package rule, psf.PSF_STAMP_SIZE_IN_FWHM)
    assert psf.shape == (41, 41)
    expected = make_gaussian_psf(4.0, (41, 41), oversampling=2)
    np.testing.assert_allclose(psf, expected, rtol=1e-10, atol=1e-15)
    assert measure_fwhm(psf, method='gaussian') == pytest.approx(8.0,
                                                                 rel=0.02)
    # an explicit pixel scale wins over the WCS
    other = make_psf_for_image(image, 0.8 * u.arcsec, model='gaussian',
                               upsample=2, pixel_scale=0.4 * u.arcsec)
    assert other.shape == (21, 21)      # 5 x 4 output pixels -> 21


def test_stamp_never_exceeds_the_output_image():
    # 6 * 4 * 2 = 48, but the output is 20 x 32: largest odd sizes, and a
    # warning since the 19-pixel crop leaves out ~9 % of the flux
    with pytest.warns(AstrodeconvWarning, match=r'cropped to 19 x 31 '
                      r'pixels, which leaves out about 9\.\d% of its flux'):
        psf = make_psf_for_image(np.zeros((10, 16)), 4.0, upsample=2)
    assert psf.shape == (19, 31)
    small = make_psf_for_image(np.zeros((10, 10)), 0.1)
    assert small.shape == (3, 3)


def test_image_pixel_scale():
    scale = image_pixel_scale(NDData(np.zeros((4, 4)), wcs=_wcs(0.05)))
    assert scale.unit == u.arcsec
    assert scale.value == pytest.approx(0.05)
    assert image_pixel_scale(_wcs(0.3)).to_value(u.arcsec) == (
        pytest.approx(0.3))
    assert image_pixel_scale(NDData(np.zeros((4, 4)))) is None
    assert image_pixel_scale(np.zeros((4, 4))) is None
    with pytest.warns(AstrodeconvWarning, match='not square'):
        scale = image_pixel_scale(_wcs(0.1, 0.4))
    assert scale.to_value(u.arcsec) == pytest.approx(0.2)


@pytest.mark.parametrize(('args', 'kwargs', 'error', 'match'), [
    ((np.zeros((8, 8)), 0.7 * u.arcsec), {}, ValueError,
     'pixel scale of the image is unknown.*pixel_scale'),
    ((np.zeros((8, 8)), -1.0), {}, ValueError, 'fwhm must be a finite '
     'positive'),
    ((np.zeros((8, 8)), 2 * u.m), {}, u.UnitsError, 'fwhm must be an angle'),
    ((np.zeros((8, 8)), 2.0), {'model': 'airy'}, ValueError,
     "model must be one of 'moffat', 'gaussian'"),
    ((np.zeros((8, 8)), 2.0), {'model': 'gaussian', 'beta': 3.0},
     ValueError, "beta applies only to model='moffat'"),
    ((np.zeros(8), 2.0), {}, ValueError, 'image must be a 2D image'),
    ((np.zeros((8, 8)), 1 * u.arcsec), {'pixel_scale': 2 * u.m},
     u.UnitsError, 'pixel_scale must be an angle'),
    ((np.zeros((8, 8)), 2.0), {'upsample': 0}, ValueError, 'upsample'),
])
def test_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_psf_for_image(*args, **kwargs)
