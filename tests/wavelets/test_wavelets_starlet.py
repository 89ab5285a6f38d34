"""Tests of astrodeconv.wavelets: starlet transform, noise tools, support."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage
from scipy.signal import convolve

from astrodeconv.wavelets import starlet as starlet_module
from astrodeconv.wavelets import (estimate_noise, inverse_starlet_transform,
                                  multiresolution_support,
                                  starlet_noise_levels, starlet_transform)

#: Published B3-starlet noise levels for unit white noise (Starck et al.).
KNOWN_LEVELS = [0.890, 0.201, 0.0856, 0.0413, 0.0205]

BOUNDARIES = ['mirror', 'periodic']


def reference_transform(image, n_scales, boundary):
    """Straightforward a trous transform with dilated scipy kernels."""
    mode = {'mirror': 'mirror', 'periodic': 'wrap'}[boundary]
    current = np.asarray(image, dtype=float)
    planes = []
    for j in range(n_scales):
        kernel = np.zeros(4 * 2 ** j + 1)
        kernel[::2 ** j] = np.array([1, 4, 6, 4, 1]) / 16
        smoothed = ndimage.correlate1d(current, kernel, axis=-1, mode=mode)
        smoothed = ndimage.correlate1d(smoothed, kernel, axis=-2, mode=mode)
        planes.append(current - smoothed)
        current = smoothed
    planes.append(current)
    return np.stack(planes, axis=-3)


def operator_matrix(shape, n_scales, boundary):
    """Matrix of each detail scale, from the transform of every delta."""
    npix = shape[0] * shape[1]
    deltas = np.eye(npix).reshape(npix, *shape)
    coeffs = starlet_transform(deltas, n_scales, boundary=boundary)
    # coeffs[p, j] is the response to a delta at p: column p of A_j.
    return coeffs[:, :n_scales].reshape(npix, n_scales, npix).transpose(
        1, 2, 0)


def gaussian_kernel(sigma=1.5, half=7):
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
    return kernel / kernel.sum()


def galaxy_image(shape=(192, 192), amplitude=5.0, scale=12.0):
    """A smooth exponential-disc galaxy with a slight ellipticity."""
    y, x = np.indices(shape, dtype=float)
    y -= shape[0] / 2 - 0.3
    x -= shape[1] / 2 + 0.2
    radius = np.hypot(x, 1.4 * y)
    return amplitude * np.exp(-radius / scale)


# ---------------------------------------------------------------------------
# starlet_transform / inverse_starlet_transform
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('boundary', BOUNDARIES)
@pytest.mark.parametrize('shape', [(40, 48), (3, 2, 32, 20)])
def test_exact_reconstruction(boundary, shape):
    image = np.random.default_rng(0).normal(size=shape) * 10 + 3
    coeffs = starlet_transform(image, 4, boundary=boundary)
    assert coeffs.shape == (*shape[:-2], 5, *shape[-2:])
    assert coeffs.dtype == np.float64
    assert_allclose(inverse_starlet_transform(coeffs), image, rtol=0,
                    atol=1e-12)


@pytest.mark.parametrize('boundary', BOUNDARIES)
def test_matches_reference_transform(boundary):
    # Small image: the coarsest kernels extend far past the edges.
    image = np.random.default_rng(1).normal(size=(2, 17, 32))
    coeffs = starlet_transform(image, 4, boundary=boundary)
    assert_allclose(coeffs, reference_transform(image, 4, boundary),
                    rtol=0, atol=1e-13)


@pytest.mark.parametrize('boundary', BOUNDARIES)
def test_constant_image(boundary):
    image = np.full((32, 32), 7.25)
    coeffs = starlet_transform(image, 5, boundary=boundary)
    assert_allclose(coeffs[-1], 7.25, rtol=1e-14)
    assert_allclose(coeffs[:-1], 0, atol=1e-13)


@pytest.mark.parametrize('boundary', BOUNDARIES)
def test_batch_equals_single(boundary, monkeypatch):
    batch = np.random.default_rng(2).normal(size=(2, 3, 24, 30))
    coeffs = starlet_transform(batch, 3, boundary=boundary)
    # Chunks of 4 images (the batch is processed in cache-sized chunks).
    monkeypatch.setattr(starlet_module, '_CHUNK_PIXELS', 4 * 24 * 30)
    assert_array_equal(starlet_transform(batch, 3, boundary=boundary),
                       coeffs)
    for index in np.ndindex(2, 3):
        single = starlet_transform(batch[index], 3, boundary=boundary)
        assert_array_equal(coeffs[index], single)


def test_dtypes():
    image = np.random.default_rng(3).normal(size=(16, 16))
    coeffs32 = starlet_transform(image.astype(np.float32), 2)
    assert coeffs32.dtype == np.float32
    assert_allclose(coeffs32, starlet_transform(image, 2), atol=1e-5)
    ints = np.arange(256).reshape(16, 16)
    assert starlet_transform(ints, 2).dtype == np.float64
    assert_allclose(inverse_starlet_transform(starlet_transform(ints, 2)),
                    ints, atol=1e-12)


def test_largest_allowed_scale():
    image = np.random.default_rng(4).normal(size=(16, 40))
    coeffs = starlet_transform(image, 4)  # 2**4 == 16
    assert_allclose(coeffs.sum(axis=0), image, atol=1e-12)


def test_quantity_and_nddata():
    image = np.random.default_rng(5).normal(size=(16, 16))
    coeffs = starlet_transform(image * u.Jy, 2)
    assert isinstance(coeffs, u.Quantity)
    assert coeffs.unit == u.Jy
    assert_allclose(coeffs.value, starlet_transform(image, 2))
    back = inverse_starlet_transform(coeffs)
    assert back.unit == u.Jy
    assert_allclose(back.value, image, atol=1e-12)

    plain = starlet_transform(NDData(image), 2)
    assert not isinstance(plain, u.Quantity)
    assert_allclose(plain, starlet_transform(image, 2))
    with_unit = starlet_transform(NDData(image, unit='adu'), 2)
    assert with_unit.unit == u.adu


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'image': np.zeros(16)}, ValueError, 'image must have at least 2'),
    ({'image': np.zeros((0, 16))}, ValueError, 'image must not be empty'),
    ({'image': np.zeros((16, 16), complex)}, TypeError,
     'image must be an array of real numbers'),
    ({'image': 'abc'}, TypeError, 'image must be an array of real'),
    ({'n_scales': 0}, ValueError, 'n_scales must be an integer >= 1'),
    ({'n_scales': 2.0}, TypeError, 'n_scales must be an integer'),
    ({'n_scales': 5}, ValueError, r'n_scales must satisfy 2\*\*n_scales'),
    ({'boundary': 'reflect'}, ValueError,
     "boundary must be one of 'mirror', 'periodic', got 'reflect'"),
])
def test_transform_errors(kwargs, error, match):
    arguments = {'image': np.zeros((16, 20)), 'n_scales': 2}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        starlet_transform(arguments.pop('image'), **arguments)


def test_transform_non_finite():
    image = np.zeros((16, 16))
    image[3, 4] = np.nan
    image[5, 5] = np.inf
    with pytest.raises(ValueError, match='image must contain only finite '
                       'values, got 2 NaN'):
        starlet_transform(image, 2)


@pytest.mark.parametrize('shape', [(4, 4), (1, 4, 4)])
def test_inverse_errors(shape):
    with pytest.raises(ValueError, match='coefficients must have shape'):
        inverse_starlet_transform(np.zeros(shape))


# ---------------------------------------------------------------------------
# starlet_noise_levels
# ---------------------------------------------------------------------------

def test_noise_levels_known_values():
    levels = starlet_noise_levels(5)
    assert levels.shape == (5,)
    assert_allclose(levels, KNOWN_LEVELS, rtol=0.005)
    assert_allclose(starlet_noise_levels(3), levels[:3], rtol=1e-14)
    # Closed form of the first scale: ||delta - h2||^2 with the 2D filter
    # h2 = h (x) h, whose centre is (6/16)**2 and squared norm (70/256)**2.
    hh = (70 / 256) ** 2
    assert_allclose(levels[0], np.sqrt(1 - 2 * 36 / 256 + hh), rtol=1e-14)


def test_noise_levels_are_filter_norms():
    delta = np.zeros((65, 65))
    delta[32, 32] = 1.0
    coeffs = starlet_transform(delta, 4, boundary='periodic')
    norms = np.sqrt((coeffs[:4] ** 2).sum(axis=(-2, -1)))
    assert_allclose(starlet_noise_levels(4), norms, rtol=1e-12)


def test_noise_levels_cached_copy():
    levels = starlet_noise_levels(4)
    levels[:] = -1
    assert np.all(starlet_noise_levels(4) > 0)


def test_noise_levels_monte_carlo():
    noise = np.random.default_rng(6).standard_normal((20, 256, 256))
    coeffs = starlet_transform(noise, 4, boundary='periodic')
    measured = coeffs[:, :4].std(axis=(0, 2, 3))
    assert_allclose(measured, starlet_noise_levels(4), rtol=0.03)


def test_noise_levels_kernel_monte_carlo():
    kernel = gaussian_kernel()
    shape = (256, 256)
    white = np.random.default_rng(7).standard_normal((16, *shape))
    # Stationary coloured noise: circular convolution on the torus.
    transfer = np.fft.rfft2(kernel, s=shape)
    coloured = np.fft.irfft2(np.fft.rfft2(white) * transfer, s=shape)
    coeffs = starlet_transform(coloured, 4, boundary='periodic')
    measured = coeffs[:, :4].std(axis=(0, 2, 3))
    expected = starlet_noise_levels(4, kernel=kernel)
    assert_allclose(measured, expected, rtol=0.05)
    periodic = starlet_noise_levels(4, kernel=kernel, shape=shape,
                                    boundary='periodic')
    assert_allclose(periodic, expected, rtol=1e-10)
    # The blur removes most of the noise from the finest scale.
    assert expected[0] < 0.1 * starlet_noise_levels(1)[0]


def test_noise_levels_kernel_is_linear():
    kernel = gaussian_kernel()
    assert_allclose(starlet_noise_levels(3, kernel=3 * kernel),
                    3 * starlet_noise_levels(3, kernel=kernel), rtol=1e-12)
    assert_allclose(starlet_noise_levels(3, kernel=[[1.0]]),
                    starlet_noise_levels(3), rtol=1e-12)
    quantity = starlet_noise_levels(3, kernel=kernel * u.one)
    assert_allclose(quantity, starlet_noise_levels(3, kernel=kernel))


@pytest.mark.parametrize('boundary', BOUNDARIES)
def test_noise_levels_small_image_exact(boundary):
    # The centre-pixel noise of a small image, with the boundary effects,
    # from the explicit transform matrix.
    shape = (12, 16)
    matrices = operator_matrix(shape, 3, boundary)
    centre = (shape[0] // 2) * shape[1] + shape[1] // 2
    rows = matrices[:, centre, :]
    expected = np.linalg.norm(rows, axis=-1)
    levels = starlet_noise_levels(3, shape=shape, boundary=boundary)
    assert_allclose(levels, expected, rtol=1e-12)

    # With a kernel: the noise is white noise (on a larger support, or on
    # the torus for 'periodic') convolved with the kernel.
    kernel = gaussian_kernel(1.0, 3)[:, 1:]  # non-square, off-centre
    if boundary == 'periodic':
        transfer = np.fft.fft2(kernel, s=shape)
        images = rows.reshape(3, *shape)
        coloured = np.fft.ifft2(np.fft.fft2(images) * transfer).real
        expected = np.linalg.norm(coloured.reshape(3, -1), axis=-1)
    else:
        expected = [np.linalg.norm(convolve(row.reshape(shape), kernel))
                    for row in rows]
    levels = starlet_noise_levels(3, kernel=kernel, shape=shape,
                                  boundary=boundary)
    assert_allclose(levels, expected, rtol=1e-10)


def test_noise_levels_large_shape_is_interior():
    assert_allclose(starlet_noise_levels(3, shape=(200, 90)),
                    starlet_noise_levels(3), rtol=1e-12)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'n_scales': 0}, ValueError, 'n_scales must be an integer >= 1'),
    ({'n_scales': '3'}, TypeError, 'n_scales must be an integer'),
    ({'shape': (8, 8)}, ValueError, r'n_scales must satisfy 2\*\*n_scales'),
    ({'shape': (8,)}, ValueError, 'shape must be a tuple of two positive'),
    ({'shape': (8.0, 8)}, ValueError, 'shape must be a tuple of two'),
    ({'shape': 5}, ValueError, 'shape must be a tuple of two positive'),
    ({'boundary': 'wrap'}, ValueError, 'boundary must be one of'),
    ({'kernel': np.ones(3)}, ValueError, 'kernel must be a non-empty 2D'),
    ({'kernel': np.ones((0, 3))}, ValueError, 'kernel must be a non-empty'),
    ({'kernel': [[np.nan]]}, ValueError, 'kernel must contain only finite'),
    ({'kernel': [['a']]}, TypeError, 'kernel must be a 2D array of real'),
    ({'kernel': np.ones((3, 3)) * u.Jy}, u.UnitsError,
     'kernel must be dimensionless'),
    ({'kernel': np.ones((40, 3)), 'shape': (32, 32),
      'boundary': 'periodic'}, ValueError,
     'kernel must not be larger than shape'),
])
def test_noise_levels_errors(kwargs, error, match):
    arguments = {'n_scales': 4}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        starlet_noise_levels(arguments.pop('n_scales'), **arguments)


# ---------------------------------------------------------------------------
# estimate_noise
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('method', ['mad', 'std'])
def test_estimate_noise_galaxy(method):
    rng = np.random.default_rng(8)
    image = galaxy_image() + rng.normal(scale=0.2, size=(192, 192))
    sigma = estimate_noise(image, method=method)
    assert isinstance(sigma, float)
    assert sigma == pytest.approx(0.2, rel=0.05)


def test_estimate_noise_batch():
    rng = np.random.default_rng(9)
    true = np.array([[0.5, 1.0, 2.0], [0.1, 3.0, 0.7]])
    images = galaxy_image((128, 128)) + rng.normal(
        size=(2, 3, 128, 128)) * true[..., None, None]
    sigma = estimate_noise(images)
    assert sigma.shape == (2, 3)
    assert_allclose(sigma, true, rtol=0.05)
    for index in np.ndindex(2, 3):
        assert sigma[index] == pytest.approx(estimate_noise(images[index]),
                                             rel=1e-12)
    sigma32 = estimate_noise(images.astype(np.float32))
    assert sigma32.dtype == np.float64
    assert_allclose(sigma32, sigma, rtol=1e-4)


def test_estimate_noise_mask_and_nan():
    rng = np.random.default_rng(10)
    image = rng.normal(scale=0.3, size=(128, 128))
    clean = estimate_noise(image)
    corrupted = image.copy()
    mask = np.zeros(image.shape, bool)
    mask[20:60, 30:90] = True
    corrupted[mask] = rng.normal(scale=50.0, size=mask.sum())
    corrupted[100:104, 5:9] = np.nan
    corrupted[110, 110] = np.inf
    assert estimate_noise(corrupted, mask=mask) == pytest.approx(0.3,
                                                                 rel=0.05)
    assert estimate_noise(corrupted, mask=mask, method='std') == (
        pytest.approx(0.3, rel=0.05))
    # Without the mask the corrupted area inflates the estimate (the MAD
    # less so than the standard deviation).
    assert estimate_noise(corrupted) > 1.2 * clean
    assert estimate_noise(corrupted, method='std') > 10 * clean

    # A 2D mask broadcasts over a batch; NDData masks are used.
    batch = np.stack([corrupted, corrupted * 2])
    assert_allclose(estimate_noise(batch, mask=mask),
                    [0.3, 0.6], rtol=0.05)
    nddata = NDData(corrupted, mask=mask, unit='electron')
    sigma = estimate_noise(nddata)
    assert sigma.unit == u.electron
    assert sigma.value == pytest.approx(estimate_noise(corrupted, mask=mask))


def test_estimate_noise_quantity():
    image = np.random.default_rng(11).normal(scale=2.0, size=(64, 64))
    sigma = estimate_noise(image * u.mJy)
    assert sigma.unit == u.mJy
    assert sigma.value == pytest.approx(estimate_noise(image))


def test_estimate_noise_uses_first_scale():
    # The estimate is MAD(w_1) / 0.6745 / e_1 on the interior pixels.
    image = np.random.default_rng(12).normal(size=(40, 50))
    detail = starlet_transform(image, 1)[0, 2:-2, 2:-2]
    mad = np.median(np.abs(detail - np.median(detail)))
    expected = mad / 0.6744897501960817 / starlet_noise_levels(1)[0]
    assert estimate_noise(image) == pytest.approx(expected, rel=1e-12)


def test_estimate_noise_in_chunks(monkeypatch):
    images = np.random.default_rng(13).normal(size=(2, 7, 32, 32))
    images[0, 3, 5:9, 5:9] = np.nan
    expected = estimate_noise(images)
    # Force chunks of 3 images, with a partial last chunk.
    monkeypatch.setattr(starlet_module, '_CHUNK_PIXELS', 3 * 32 * 32)
    assert_array_equal(estimate_noise(images), expected)
    for index in np.ndindex(2, 7):
        assert expected[index] == estimate_noise(images[index])


@pytest.mark.parametrize(('image', 'kwargs', 'error', 'match'), [
    (np.zeros(30), {}, ValueError, 'image must have at least 2 dim'),
    (np.zeros((0, 30)), {}, ValueError, 'image must not be empty'),
    (np.zeros((4, 30)), {}, ValueError, 'image must be at least 5x5'),
    (np.full((16, 16), np.nan), {}, ValueError, 'image has no usable'),
    (np.zeros((16, 16)), {'mask': np.ones((16, 16), bool)}, ValueError,
     'image has no usable pixel'),
    (np.zeros((16, 16)), {'mask': np.zeros((3, 3), bool)}, ValueError,
     'mask must have a shape broadcastable'),
    (np.zeros((16, 16)), {'method': 'median'}, ValueError,
     "method must be one of 'mad', 'std', got 'median'"),
    (NDData(np.zeros((16, 16)), mask=np.zeros((16, 16), bool)),
     {'mask': np.zeros((16, 16), bool)}, ValueError,
     'mask must not be given when image is an NDData'),
    (np.array([['a'] * 8] * 8), {}, TypeError, 'image must be an array'),
])
def test_estimate_noise_errors(image, kwargs, error, match):
    with pytest.raises(error, match=match):
        estimate_noise(image, **kwargs)


def test_estimate_noise_one_bad_image_in_batch():
    images = np.random.default_rng(14).normal(size=(3, 16, 16))
    images[1] = np.nan
    with pytest.raises(ValueError, match='image has no usable pixel'):
        estimate_noise(images)


# ---------------------------------------------------------------------------
# multiresolution_support
# ---------------------------------------------------------------------------

def test_support_point_source():
    rng = np.random.default_rng(15)
    image = rng.normal(scale=0.1, size=(64, 64))
    image[30, 34] += 20.0
    coeffs = starlet_transform(image, 4)
    support = multiresolution_support(coeffs, 0.1)
    assert support.shape == (4, 64, 64)
    assert support.dtype == bool
    assert support[:, 30, 34].all()
    # Far from the source, almost nothing is flagged on the first scale.
    assert support[0, :, :20].mean() < 0.01


@pytest.mark.parametrize('boundary', BOUNDARIES)
def test_support_gaussian_tail_fraction(boundary):
    noise = np.random.default_rng(16).normal(scale=2.0, size=(2, 256, 256))
    coeffs = starlet_transform(noise, 3, boundary=boundary)
    support = multiresolution_support(coeffs, 2.0, k=3.0)
    fraction = support.mean(axis=(0, 2, 3))
    # Two-sided Gaussian tail beyond 3 sigma: 0.27 %.
    assert fraction[0] == pytest.approx(0.0027, rel=0.15)
    assert fraction[1] == pytest.approx(0.0027, rel=0.3)
    stricter = multiresolution_support(coeffs, 2.0, k=3.0, k_first=4.0)
    assert stricter[:, 0].mean() < 0.0005
    assert_array_equal(stricter[:, 1:], support[:, 1:])


def test_support_per_image_sigma_and_levels():
    rng = np.random.default_rng(17)
    noise = rng.normal(size=(3, 64, 64)) * np.array([1.0, 5.0, 25.0])[
        :, None, None]
    coeffs = starlet_transform(noise, 3)
    support = multiresolution_support(coeffs, [1.0, 5.0, 25.0])
    assert support.shape == (3, 3, 64, 64)
    fractions = support[:, 0].mean(axis=(-2, -1))
    assert np.all(fractions < 0.01)
    # A single sigma for all images flags far more in the noisier ones.
    shared = multiresolution_support(coeffs, 1.0)
    assert shared[2, 0].mean() > 0.5
    # Explicit noise levels, per image, reproduce the per-image sigmas.
    levels = np.outer([1.0, 5.0, 25.0], starlet_noise_levels(3))
    assert_array_equal(
        multiresolution_support(coeffs, 1.0, noise_levels=levels), support)
    # Threshold definition: |w_j| >= k sigma e_j.
    e = starlet_noise_levels(3)
    expected = np.abs(coeffs[0, :3]) >= 2.5 * 1.0 * e[:, None, None]
    assert_array_equal(multiresolution_support(coeffs[0], 1.0, k=2.5),
                       expected)


def test_support_quantity():
    noise = np.random.default_rng(18).normal(size=(32, 32))
    coeffs = starlet_transform(noise * u.Jy, 2)
    support = multiresolution_support(coeffs, 1000 * u.mJy)
    assert_array_equal(support,
                       multiresolution_support(coeffs.value, 1.0))
    assert_array_equal(support, multiresolution_support(coeffs, 1.0))
    with pytest.raises(u.UnitsError, match="'s' .* 'Jy' .* not convertible"):
        multiresolution_support(coeffs, 1 * u.s)
    with pytest.raises(u.UnitsError, match='sigma must not be a Quantity'):
        multiresolution_support(coeffs.value, 1 * u.Jy)


def test_support_zero_sigma_flags_everything():
    coeffs = starlet_transform(np.zeros((16, 16)), 2)
    assert multiresolution_support(coeffs, 0.0).all()


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'coefficients': np.zeros((1, 16, 16))}, ValueError,
     'coefficients must have shape'),
    ({'coefficients': np.zeros((16, 16))}, ValueError,
     'coefficients must have shape'),
    ({'k': 0}, ValueError, r'k must be > 0'),
    ({'k': -1.0}, ValueError, r'k must be > 0'),
    ({'k': 'three'}, TypeError, 'k must be a real number'),
    ({'k_first': 0.0}, ValueError, r'k_first must be > 0'),
    ({'sigma': -0.1}, ValueError, 'sigma must be finite and >= 0'),
    ({'sigma': np.nan}, ValueError, 'sigma must be finite and >= 0'),
    ({'sigma': [1.0, 2.0]}, ValueError,
     'sigma must be a scalar or broadcastable to the batch shape'),
    ({'sigma': 'a'}, TypeError, 'sigma must be a real number'),
    ({'noise_levels': [0.9, 0.2, 0.1]}, ValueError,
     'noise_levels must have length n_scales = 2'),
    ({'noise_levels': 0.5}, ValueError, 'noise_levels must have length'),
    ({'noise_levels': [0.9, 0.0]}, ValueError,
     'noise_levels must be finite and > 0'),
    ({'noise_levels': np.ones((3, 2))}, ValueError,
     'noise_levels must have shape'),
])
def test_support_errors(kwargs, error, match):
    arguments = {'coefficients': np.zeros((3, 16, 16)), 'sigma': 1.0}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        multiresolution_support(arguments.pop('coefficients'),
                                arguments.pop('sigma'), **arguments)
