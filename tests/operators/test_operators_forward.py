"""Tests of the forward model H = D(h * .) and its adjoint."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from astrodeconv.operators import ForwardModel, block_sum, upsample_flux
from astrodeconv.operators import fourier as F
from astrodeconv.psf import make_gaussian_psf


def random_psf(rng, shape=(7, 9), n=None):
    size = shape if n is None else (n,) + shape
    psf = rng.random(size)
    return psf / psf.sum(axis=(-2, -1), keepdims=True)


@pytest.mark.parametrize('k', [1, 2, 3, 4])
@pytest.mark.parametrize('shape', [(16, 16), (15, 17), (9, 12)])
@pytest.mark.parametrize('n_images, n_psf', [(1, 1), (3, 1), (3, 3)])
@pytest.mark.parametrize('pad_width', [0, 3])
def test_dot_product_test(k, shape, n_images, n_psf, pad_width):
    rng = np.random.default_rng(k * 100 + shape[1] + n_psf + pad_width)
    psf = random_psf(rng, n=None if n_psf == 1 else n_psf)
    model = ForwardModel(psf, shape, upsample=k, pad_width=pad_width)
    x = rng.normal(size=(n_images,) + model.fine_shape)
    y = rng.normal(size=(n_images,) + shape)
    lhs = np.vdot(model.forward(x), y)
    rhs = np.vdot(x, model.adjoint(y))
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_dot_product_float32():
    rng = np.random.default_rng(1)
    model = ForwardModel(random_psf(rng), (20, 18), upsample=2)
    x = rng.normal(size=(2,) + model.fine_shape).astype(np.float32)
    y = rng.normal(size=(2, 20, 18)).astype(np.float32)
    hx, hty = model.forward(x), model.adjoint(y)
    assert hx.dtype == np.float32 and hty.dtype == np.float32
    lhs = np.vdot(hx.astype(float), y)
    rhs = np.vdot(x.astype(float), hty)
    assert abs(lhs - rhs) < 1e-5 * abs(lhs)
    # and float32 agrees with float64 to single precision
    np.testing.assert_allclose(hx, model.forward(x.astype(float)),
                               rtol=0, atol=1e-5 * np.abs(hx).max())


@pytest.mark.parametrize('k', [1, 2, 3])
def test_forward_is_convolution_then_block_sum(k):
    rng = np.random.default_rng(2)
    psf = random_psf(rng, (5, 5))
    x = rng.random((12 * k, 10 * k))
    # periodic: compare with an explicit circular convolution
    circular = np.zeros_like(x)
    for dy in range(5):
        for dx in range(5):
            circular += psf[dy, dx] * np.roll(x, (dy - 2, dx - 2), (0, 1))
    model = ForwardModel(psf, (12, 10), upsample=k)
    np.testing.assert_allclose(model.forward(x), block_sum(circular, k),
                               atol=1e-12)
    np.testing.assert_allclose(model.convolve(x), circular, atol=1e-12)
    # padded: a linear convolution with zeros outside the image
    padded = ForwardModel(psf, (12, 10), upsample=k, pad_width=3)
    linear = fftconvolve(x, psf, mode='same')
    np.testing.assert_allclose(padded.forward(x), block_sum(linear, k),
                               atol=1e-12)


@pytest.mark.parametrize('k', [1, 2, 4])
def test_flux_is_conserved(k):
    rng = np.random.default_rng(3)
    model = ForwardModel(random_psf(rng), (16, 16), upsample=k)
    x = rng.random((2,) + model.fine_shape)
    np.testing.assert_allclose(model.forward(x).sum(axis=(-2, -1)),
                               x.sum(axis=(-2, -1)), rtol=1e-12)
    y = rng.random((16, 16))
    up = model.upsample_flux(y)
    assert up.shape == model.fine_shape
    assert up.sum() == pytest.approx(y.sum(), rel=1e-12)
    np.testing.assert_allclose(upsample_flux(y, k), up)


@pytest.mark.parametrize('k', [1, 2, 3])
def test_lipschitz_matches_power_iteration(k):
    rng = np.random.default_rng(4)
    psf = rng.normal(size=(7, 7)) + 0.3     # not positive: max away from 0
    model = ForwardModel(psf, (14, 16), upsample=k)
    v = rng.normal(size=model.fine_shape)
    for _ in range(500):
        v = model.normal(v)
        norm = np.linalg.norm(v)
        v /= norm
    assert model.lipschitz() == pytest.approx(norm, rel=1e-6)
    assert model.lipschitz() <= model.lipschitz_bound().max() * (1 + 1e-12)


def test_lipschitz_of_unit_sum_psf_is_k_squared():
    psf = make_gaussian_psf(3.0, shape=(15, 15))
    for k in (1, 2, 3):
        model = ForwardModel(psf, (16, 16), upsample=k)
        assert model.lipschitz() == pytest.approx(k ** 2, rel=1e-9)


def test_stack_with_one_psf_per_image_equals_separate_models():
    rng = np.random.default_rng(5)
    psfs = random_psf(rng, n=3)
    x = rng.random((3, 24, 24))
    stacked = ForwardModel(psfs, (12, 12), upsample=2).forward(x)
    for i in range(3):
        single = ForwardModel(psfs[i], (12, 12), upsample=2).forward(x[i])
        np.testing.assert_allclose(stacked[i], single, atol=1e-14)
    part = ForwardModel(psfs, (12, 12), upsample=2).select(slice(1, 3))
    assert part.n_psf == 2
    np.testing.assert_allclose(part.forward(x[1:]), stacked[1:], atol=1e-14)


def test_apply_filter_matches_direct_product():
    rng = np.random.default_rng(6)
    model = ForwardModel(random_psf(rng), (10, 12), upsample=2)
    y = rng.random((5, 10, 12))
    transfer = model.transfer() * model.upsample_transfer()
    direct = F.irfft2(F.rfft2(F.zero_insert(y, 2)) * transfer, (20, 24))
    out = model.apply_filter(y, transfer)
    np.testing.assert_allclose(out, direct, atol=1e-13)
    out32 = model.apply_filter(y, transfer, dtype='float32')
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, direct, atol=1e-5)
    scale = np.arange(1, 6)[:, None, None]
    per_image = np.repeat(transfer, 5, axis=0) * scale
    np.testing.assert_allclose(model.apply_filter(y, per_image),
                               direct * scale,
                               atol=1e-12)


def test_filter_variance_matches_monte_carlo():
    rng = np.random.default_rng(7)
    model = ForwardModel(make_gaussian_psf(2.0, shape=(9, 9)), (16, 16))
    transfer = np.conj(model.transfer()) / (np.abs(model.transfer()) ** 2
                                            + 0.05)
    sigma = np.full((1, 16, 16), 0.5)
    sigma[0, :, 8:] = 1.0
    draws = model.apply_filter(rng.normal(size=(4000, 16, 16)) * sigma,
                               transfer)
    predicted = np.sqrt(model.filter_variance(transfer, sigma ** 2))[0]
    measured = draws.std(axis=0)
    np.testing.assert_allclose(measured, predicted, rtol=0.06)


def test_resolution_kernel_of_identity_filter_is_the_psf():
    psf = make_gaussian_psf(2.5, shape=(11, 11))
    model = ForwardModel(psf, (32, 32))
    np.testing.assert_allclose(model.resolution_kernel(1.0)[0], psf,
                               atol=1e-12)


def test_adjoint_noise_kernel_gives_backprojected_noise():
    rng = np.random.default_rng(8)
    psf = make_gaussian_psf(2.0, shape=(9, 9))
    model = ForwardModel(psf, (32, 32))
    back = model.adjoint(rng.normal(size=(200, 32, 32)))
    expected = np.sqrt((model.adjoint_noise_kernel() ** 2).sum())
    assert back.std() == pytest.approx(expected, rel=0.02)


def test_repr_and_attributes():
    model = ForwardModel(np.ones((3, 3)) / 9, (8, 10), upsample=2,
                         pad_width=1)
    assert model.fine_shape == (16, 20)
    assert model.grid_shape == (10, 12)
    assert model.grid_fine_shape == (20, 24)
    assert 'ForwardModel(shape=(8, 10), upsample=2' in repr(model)


@pytest.mark.parametrize('args, kwargs, error, match', [
    ((np.ones((3, 3)), 8), {}, TypeError, 'shape must be a pair'),
    ((np.ones((3, 3)), (8, 0)), {}, ValueError, 'positive integers'),
    ((np.ones(3), (8, 8)), {}, ValueError, 'psf must be a 2D array'),
    ((np.full((3, 3), np.nan), (8, 8)), {}, ValueError, 'finite'),
    ((np.ones((19, 3)), (8, 8)), {}, ValueError,
     'psf must not be larger than the image'),
    ((np.ones((3, 3)), (8, 8)), {'upsample': 0}, ValueError, 'upsample'),
    ((np.ones((3, 3)), (8, 8)), {'pad_width': -1}, ValueError,
     'pad_width'),
    ((np.ones((3, 3)), (8, 8)), {'upsample': 1.5}, TypeError, 'upsample'),
])
def test_bad_construction(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ForwardModel(*args, **kwargs)


def test_bad_operands():
    model = ForwardModel(np.ones((2, 3, 3)) / 9, (8, 8))
    with pytest.raises(ValueError, match=r'x must have shape \(8, 8\)'):
        model.forward(np.zeros((2, 8, 9)))
    with pytest.raises(ValueError, match=r'one image per PSF \(2\), got 3'):
        model.adjoint(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match='real 2D image or a 3D stack'):
        model.forward(np.zeros((2, 8, 8), complex))
    with pytest.raises(ValueError, match='dtype must be one of'):
        model.transfer('float16')


def _dense(model, fine_shape):
    """The matrix of H, column by column."""
    size = fine_shape[0] * fine_shape[1]
    columns = [model.forward(np.eye(size)[j].reshape(fine_shape)).ravel()
               for j in range(size)]
    return np.stack(columns, axis=1)


@pytest.mark.parametrize('k', [1, 2, 3])
@pytest.mark.parametrize('shape', [(6, 6), (5, 7)])
def test_solve_normal_matches_dense_solve(k, shape):
    rng = np.random.default_rng(k)
    psf = random_psf(rng, (5, 3))
    model = ForwardModel(psf, shape, upsample=k)
    fine = (shape[0] * k, shape[1] * k)
    matrix = _dense(model, fine)
    rhs = rng.normal(size=fine)
    alpha = 0.07
    expected = np.linalg.solve(matrix.T @ matrix + alpha * np.eye(
        matrix.shape[1]), rhs.ravel()).reshape(fine)
    np.testing.assert_allclose(model.solve_normal(rhs, alpha), expected,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('k', [1, 2, 4])
def test_solve_normal_stack_with_one_psf_and_alpha_per_image(k):
    rng = np.random.default_rng(3)
    psf = random_psf(rng, (7, 7), n=3)
    model = ForwardModel(psf, (12, 10), upsample=k)
    rhs = rng.normal(size=(3, 12 * k, 10 * k))
    alpha = np.array([1e-3, 0.1, 10.0])
    x = model.solve_normal(rhs, alpha)
    np.testing.assert_allclose(model.normal(x) + alpha[:, None, None] * x,
                               rhs, atol=1e-10 * np.abs(rhs).max())


def test_solve_normal_bad_input():
    model = ForwardModel(np.ones((3, 3)) / 9, (8, 8))
    with pytest.raises(ValueError, match='alpha must be a positive number'):
        model.solve_normal(np.zeros((8, 8)), 0.0)
    with pytest.raises(ValueError, match=r'one per image \(2\)'):
        model.solve_normal(np.zeros((2, 8, 8)), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match='periodic boundaries'):
        ForwardModel(np.ones((3, 3)) / 9, (8, 8),
                     pad_width=2).solve_normal(np.zeros((8, 8)), 1.0)
