"""Tests of astrodeconv.wavelets.starlet_smooth."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData
from scipy.ndimage import correlate1d

from astrodeconv.wavelets import starlet_smooth, starlet_transform

#: ``starlet_smooth`` boundary -> `scipy.ndimage` mode.
_NDIMAGE = {'mirror': 'mirror', 'periodic': 'wrap'}


def _dilated_b3(scale):
    kernel = np.zeros(4 * 2 ** scale + 1)
    kernel[::2 ** scale] = np.array([1, 4, 6, 4, 1]) / 16
    return kernel


@pytest.fixture
def image():
    return np.random.default_rng(5).normal(size=(24, 40))


@pytest.mark.parametrize('boundary', ['mirror', 'periodic'])
@pytest.mark.parametrize('scale', [0, 1, 2])
def test_equals_separable_correlation(image, boundary, scale):
    kernel = _dilated_b3(scale)
    mode = _NDIMAGE[boundary]
    expected = correlate1d(correlate1d(image, kernel, axis=1, mode=mode),
                           kernel, axis=0, mode=mode)
    got = starlet_smooth(image, scale, boundary=boundary)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize('boundary', ['mirror', 'periodic'])
def test_gives_the_transform_planes_bit_for_bit(image, boundary):
    coeffs = starlet_transform(image, 3, boundary=boundary)
    current = image
    for j in range(3):
        smoothed = starlet_smooth(current, j, boundary=boundary)
        np.testing.assert_array_equal(coeffs[j], current - smoothed)
        current = smoothed
    np.testing.assert_array_equal(coeffs[3], current)


def test_batch_dtype_and_units(image):
    batch = np.stack([image, 2 * image])
    out = starlet_smooth(batch, 1)
    assert out.shape == batch.shape
    np.testing.assert_array_equal(out[1], starlet_smooth(2 * image, 1))
    assert starlet_smooth(image.astype(np.float32), 0).dtype == np.float32
    assert starlet_smooth(image.astype(int), 0).dtype == np.float64
    smoothed = starlet_smooth(image * u.nJy, 0)
    assert smoothed.unit == u.nJy
    np.testing.assert_array_equal(smoothed.value, starlet_smooth(image, 0))
    assert starlet_smooth(NDData(image, unit='adu'), 0).unit == u.adu
    assert not np.shares_memory(starlet_smooth(image, 0), image)


@pytest.mark.parametrize('args, kwargs, error, match', [
    ((np.ones(8), 0), {}, ValueError,
     r'image must have at least 2 dimensions \(\.\.\., ny, nx\), got shape '
     r'\(8,\)'),
    ((np.ones((8, 8)), -1), {}, ValueError,
     'scale must be an integer >= 0, got -1'),
    ((np.ones((8, 8)), 1.0), {}, TypeError,
     'scale must be an integer >= 0, got 1.0 of type float'),
    ((np.ones((8, 8)), 0), {'boundary': 'reflect'}, ValueError,
     "boundary"),
    ((['a'], 0), {}, TypeError, 'image must be an array of real numbers'),
])
def test_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        starlet_smooth(*args, **kwargs)
