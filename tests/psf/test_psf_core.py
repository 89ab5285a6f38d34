"""Tests of the PSF conventions in astrodeconv.psf.core."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData

from astrodeconv.psf import (crop_psf, normalize_psf, pad_psf, psf_center,
                             psf_centroid, validate_psf)
from astrodeconv.utils.exceptions import AstrodeconvWarning


def delta(shape, position=None):
    psf = np.zeros(shape)
    psf[psf_center(shape) if position is None else position] = 1.0
    return psf


@pytest.mark.parametrize(('shape', 'center'), [
    ((5, 5), (2, 2)), ((4, 4), (2, 2)), ((4, 7), (2, 3)), ((1, 2), (0, 1)),
    ((64, 65), (32, 32))])
def test_psf_center_odd_even(shape, center):
    assert psf_center(shape) == center
    # the centre pixel is the one numpy.fft.ifftshift moves to the origin
    assert np.fft.ifftshift(delta(shape))[0, 0] == 1.0


def test_psf_centroid():
    psf = delta((9, 9), (3, 6))
    assert psf_centroid(psf) == pytest.approx((3.0, 6.0))
    psf[5, 6] = 1.0
    psf[0, 0] = -5.0  # negative pixels are ignored
    assert psf_centroid(psf) == pytest.approx((4.0, 6.0))


@pytest.mark.parametrize(('small', 'large'), [
    ((3, 3), (8, 8)), ((4, 4), (9, 9)), ((4, 5), (10, 7)), ((5, 5), (5, 5))])
def test_pad_crop_keep_center(small, large):
    padded = pad_psf(delta(small), large)
    assert padded.shape == large
    assert tuple(np.argwhere(padded == 1)[0]) == psf_center(large)
    cropped = crop_psf(padded, small)
    np.testing.assert_array_equal(cropped, delta(small))


def test_pad_crop_errors():
    with pytest.raises(ValueError, match='shape must be at least the PSF'):
        pad_psf(np.ones((5, 5)), (4, 8))
    with pytest.raises(ValueError, match='shape must not exceed the PSF'):
        crop_psf(np.ones((5, 5)), (7, 3))


def test_crop_does_not_renormalize():
    psf = normalize_psf(np.ones((9, 9)))
    assert crop_psf(psf, (3, 3)).sum() == pytest.approx(9 / 81)


def test_normalize_psf():
    out = normalize_psf(np.full((3, 4), 2.0))
    assert out.sum() == pytest.approx(1.0)
    assert np.all(out == out[0, 0])
    with pytest.raises(ValueError, match='psf must have a finite positive'):
        normalize_psf(np.zeros((3, 3)))
    with pytest.raises(ValueError, match='psf must have a finite positive'):
        normalize_psf(np.full((3, 3), np.nan))


def test_validate_psf_accepts_and_normalizes():
    psf = delta((5, 5))
    out = validate_psf(psf)
    assert out.dtype == np.float64
    assert out.sum() == 1.0
    with pytest.warns(AstrodeconvWarning, match='psf sum is 4, not 1'):
        out = validate_psf(4 * psf)
    assert out.sum() == pytest.approx(1.0)
    # silent renormalisation, or none at all
    assert validate_psf(4 * psf, warn=False).sum() == pytest.approx(1.0)
    assert validate_psf(4 * psf, normalize=False).sum() == pytest.approx(4.0)


def test_validate_psf_inputs():
    psf = delta((5, 5))
    np.testing.assert_array_equal(validate_psf(psf * u.one), psf)
    np.testing.assert_array_equal(
        validate_psf(psf * u.dimensionless_unscaled), psf)
    np.testing.assert_array_equal(validate_psf(NDData(psf)), psf)
    np.testing.assert_array_equal(validate_psf(psf.tolist()), psf)


def test_validate_psf_quantity_with_unit():
    with pytest.raises(u.UnitsError, match='psf must be dimensionless'):
        validate_psf(delta((5, 5)) * u.Jy)
    with pytest.raises(u.UnitsError, match='kernel must be dimensionless'):
        validate_psf(delta((5, 5)) * u.adu, name='kernel')


@pytest.mark.parametrize(('psf', 'error', 'match'), [
    (np.zeros((5, 5)), ValueError, 'psf must have a positive sum'),
    (-delta((5, 5)), ValueError, 'psf must have a positive sum'),
    (np.where(delta((5, 5)) > 0, np.nan, 0.0), ValueError,
     r'psf must contain only finite values, got 1 non-finite'),
    (np.ones((3, 5, 5)), ValueError, r'psf must be a 2D array, got 3 dim'),
    (np.ones(5), ValueError, r'psf must be a 2D array, got 1 dim'),
    (np.ones((0, 5)), ValueError, 'psf must not be empty'),
    (np.array([['a', 'b']]), TypeError, 'psf must be a 2D array of real'),
])
def test_validate_psf_errors(psf, error, match):
    with pytest.raises(error, match=match):
        validate_psf(psf)


def test_validate_psf_infinite():
    psf = delta((5, 5))
    psf[0, 0] = np.inf
    with pytest.raises(ValueError, match='psf must contain only finite'):
        validate_psf(psf)


def test_validate_psf_mostly_negative():
    psf = delta((5, 5)) * 3.0
    psf[0, :] = -0.5  # sum 0.5 > 0, but negative pixels hold 2.5
    with pytest.raises(ValueError, match='psf must be mostly non-negative'):
        validate_psf(psf)


def test_validate_psf_larger_than_image():
    psf = delta((9, 9))
    validate_psf(psf, image_shape=(9, 20))
    validate_psf(psf, image_shape=(3, 9, 9))  # leading axes are ignored
    with pytest.raises(ValueError, match='psf must not be larger than the'):
        validate_psf(psf, image_shape=(8, 20))


def test_validate_psf_off_center():
    psf = delta((11, 11), (5, 8))  # 3 pixels off
    with pytest.raises(ValueError, match=r'psf must be centred on pixel '
                       r'\(ny // 2, nx // 2\) = \(5, 5\), got a centroid '
                       r'at \(5.00, 8.00\), 3.00 pixels'):
        validate_psf(psf)
    out = validate_psf(psf, check_center=False)
    assert out[5, 8] == 1.0
    # within one pixel is accepted, for both parities
    validate_psf(delta((11, 11), (5, 6)))
    validate_psf(delta((10, 10), (4, 5)))


def test_validate_psf_custom_name():
    with pytest.raises(ValueError, match='target_psf must have a positive'):
        validate_psf(np.zeros((3, 3)), name='target_psf')
