"""Tests of the pixel-scale and ellipticity checks of utils._validation."""

import numpy as np
import pytest
from astropy import units as u

from astrodeconv.utils._validation import check_ellipticity, check_pixel_scale


@pytest.mark.parametrize('value, arcsec', [
    (0.2 * u.arcsec, 0.2), (0.2 * u.arcsec / u.pix, 0.2),
    (1 * u.arcmin, 60.0), (np.float32(5e-5) * u.deg, 0.18)])
def test_pixel_scale_in_arcsec(value, arcsec):
    got = check_pixel_scale(value)
    assert isinstance(got, float)
    assert got == pytest.approx(arcsec, rel=1e-6)


@pytest.mark.parametrize('value, error, match', [
    (0.2, TypeError, r'scale must be an angular Quantity per pixel such as '
                     r'0\.05 \* u\.arcsec, got 0\.2 of type float'),
    ([0.1, 0.2] * u.arcsec, ValueError,
     r'scale must be a scalar Quantity, got shape \(2,\)'),
    (0.2 * u.m, u.UnitsError, r'scale must have angular units'),
    (-0.2 * u.arcsec, ValueError, r'scale must be a finite positive angle'),
    (np.inf * u.arcsec, ValueError, r'scale must be a finite positive'),
])
def test_pixel_scale_bad(value, error, match):
    with pytest.raises(error, match=match):
        check_pixel_scale(value, 'scale')


def test_ellipticity():
    assert check_ellipticity(0) == 0.0
    assert check_ellipticity(np.float64(0.25)) == 0.25
    with pytest.raises(ValueError, match=r'psf_e must be in the range '
                                         r'\[0, 1\).*got 1\.0'):
        check_ellipticity(1.0, 'psf_e')
    with pytest.raises(ValueError, match='ellipticity must be'):
        check_ellipticity(-0.1)
    with pytest.raises(TypeError, match='ellipticity'):
        check_ellipticity('round')
