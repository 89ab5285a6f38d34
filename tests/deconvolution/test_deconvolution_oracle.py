"""
An independent oracle for the Tikhonov filter: a dense-matrix solve.

The operators are built pixel by pixel with plain numpy loops (no FFT), and
the normal equations of the Tikhonov problem are solved directly, so the
oracle shares no code with the Fourier implementation.

* ``upsample=1``: ``x = argmin ||y - C x||^2 + lam ||L x||^2`` with ``C``
  the circular convolution with the PSF (centred on ``(py // 2, px // 2)``)
  and ``L`` the circular 3x3 Laplacian ``[[0,-1,0],[-1,4,-1],[0,-1,0]]``.
* ``upsample=k``: as documented by `TikhonovDeconvolver`, the observation
  is first upsampled onto the ``k`` times finer grid by flux-conserving
  periodic bilinear interpolation ``U`` (fine pixel centres at coarse
  coordinate ``(j - (k - 1) / 2) / k``, values divided by ``k**2``) and
  deconvolved there: ``x = argmin ||U y - C x||^2 + lam ||L x||^2`` on the
  fine grid. This is *not* the solution of the block-sum problem
  ``||y - D C x||^2 + lam ||L x||^2`` (checked below, so that a silent
  switch from one estimator to the other is noticed).
"""

import numpy as np
import pytest

from astrodeconv.deconvolution import TikhonovDeconvolver

# the oracle uses its random PSFs exactly as given (recenter=False; their
# centroids are up to ~0.5 pixel off, which is reported), on images too
# small for the PSF plausibility check to be meaningful
pytestmark = [
    pytest.mark.filterwarnings(
        'ignore:psf has a FWHM:astrodeconv.utils.exceptions.'
        'AstrodeconvWarning'),
    pytest.mark.filterwarnings(
        'ignore:psf centroid is:astrodeconv.utils.exceptions.'
        'AstrodeconvWarning')]


def asymmetric_psf(shape, seed=0):
    """A normalised PSF with no symmetry, so flips and shifts show."""
    py, px = shape
    yy, xx = np.indices(shape, dtype=float)
    cy, cx = py // 2, px // 2
    psf = np.exp(-((yy - cy - 0.3) ** 2 / 1.3 + (xx - cx + 0.4) ** 2 / 2.1
                   + 0.5 * (yy - cy) * (xx - cx) / 1.7))
    psf += 0.05 * np.random.default_rng(seed).uniform(size=shape)
    return psf / psf.sum()


def dense_convolution(psf, shape):
    """Matrix of the circular convolution with a centred PSF."""
    ny, nx = shape
    py, px = psf.shape
    cy, cx = py // 2, px // 2
    matrix = np.zeros((ny * nx, ny * nx))
    for i in range(ny):
        for j in range(nx):
            for a in range(py):
                for b in range(px):
                    si = (i - (a - cy)) % ny
                    sj = (j - (b - cx)) % nx
                    matrix[i * nx + j, si * nx + sj] += psf[a, b]
    return matrix


def dense_laplacian(shape):
    """Matrix of the circular 3x3 Laplacian."""
    ny, nx = shape
    matrix = np.zeros((ny * nx, ny * nx))
    for i in range(ny):
        for j in range(nx):
            row = i * nx + j
            matrix[row, row] += 4.0
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                matrix[row, ((i + di) % ny) * nx + (j + dj) % nx] -= 1.0
    return matrix


def dense_block_sum(shape, k):
    """Matrix summing k x k fine pixels onto each coarse pixel."""
    ny, nx = shape
    matrix = np.zeros((ny * nx, ny * k * nx * k))
    for i in range(ny * k):
        for j in range(nx * k):
            matrix[(i // k) * nx + j // k, i * nx * k + j] = 1.0
    return matrix


def _bilinear_1d(n, k):
    """Periodic linear interpolation (n coarse -> n k fine), centres kept."""
    matrix = np.zeros((n * k, n))
    for j in range(n * k):
        pos = (j - (k - 1) / 2) / k       # coarse coordinate of fine pixel
        left = int(np.floor(pos))
        frac = pos - left
        matrix[j, left % n] += 1 - frac
        matrix[j, (left + 1) % n] += frac
    return matrix


def dense_flux_upsampling(shape, k):
    """Flux-conserving bilinear upsampling: interpolation / k**2."""
    return np.kron(_bilinear_1d(shape[0], k),
                   _bilinear_1d(shape[1], k)) / k ** 2


def tikhonov_oracle(y, psf, lam, k=1):
    """Solve the normal equations of the documented Tikhonov problem."""
    shape_f = (y.shape[0] * k, y.shape[1] * k)
    conv = dense_convolution(psf, shape_f)
    lap = dense_laplacian(shape_f)
    source = y.ravel() if k == 1 else (
        dense_flux_upsampling(y.shape, k) @ y.ravel())
    lhs = conv.T @ conv + lam * lap.T @ lap
    return np.linalg.solve(lhs, conv.T @ source).reshape(shape_f)


def observation(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(1.0, 0.3, shape)


def test_dense_operators_are_right():
    # the oracle's own building blocks, on facts known independently
    psf = asymmetric_psf((3, 3))
    conv = dense_convolution(psf, (6, 5))
    x = np.zeros((6, 5))
    x[2, 1] = 1.0
    image = (conv @ x.ravel()).reshape(6, 5)
    # an impulse is replaced by the PSF, centred on it
    np.testing.assert_allclose(image[1:4, 0:3], psf, atol=1e-15)
    np.testing.assert_allclose(conv.sum(axis=0), 1.0)
    np.testing.assert_allclose(dense_laplacian((4, 7)).sum(axis=1), 0.0)
    up = dense_flux_upsampling((3, 4), 2)
    np.testing.assert_allclose(up.sum(axis=0), 1.0)   # flux of each pixel
    # a linear ramp (away from the wrap) is interpolated exactly
    ramp = np.add.outer(np.zeros(5), np.arange(5.0))
    fine = (dense_flux_upsampling((5, 5), 2) @ ramp.ravel()).reshape(10, 10)
    np.testing.assert_allclose(4 * fine[4, 2:8], [0.75, 1.25, 1.75, 2.25,
                                                  2.75, 3.25])


@pytest.mark.parametrize('shape, psf_shape, lam', [
    ((8, 8), (5, 5), 1e-2),
    ((7, 9), (5, 3), 3e-3),
    ((7, 9), (4, 6), 9e-3),     # even-sized PSF: centre (2, 3)
    ((8, 8), (5, 5), 1.0),
])
def test_tikhonov_matches_dense_solve(shape, psf_shape, lam):
    psf = asymmetric_psf(psf_shape, seed=1)
    y = observation(shape, seed=2)
    expected = tikhonov_oracle(y, psf, lam)
    out = TikhonovDeconvolver(lam=lam, recenter=False)(y, psf=psf)
    assert out.shape == shape
    np.testing.assert_allclose(out, expected, rtol=0,
                               atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize('shape, k', [((6, 6), 2), ((5, 6), 2), ((5, 5), 3)])
def test_tikhonov_upsampled_matches_dense_solve(shape, k):
    psf = asymmetric_psf((5, 5), seed=3)
    y = observation(shape, seed=4)
    lam = 9e-3
    expected = tikhonov_oracle(y, psf, lam, k=k)
    out = TikhonovDeconvolver(lam=lam, upsample=k,
                              recenter=False)(y, psf=psf)
    assert out.shape == (shape[0] * k, shape[1] * k)
    np.testing.assert_allclose(out, expected, rtol=0,
                               atol=1e-10 * np.abs(expected).max())
    # flux-conserving for any lam, as documented
    assert np.isclose(out.sum(), y.sum(), rtol=1e-12)


def test_upsampled_estimate_is_not_the_block_sum_solution():
    # The filter deconvolves U y on the fine grid; it is a different
    # estimator from the block-sum forward model H = D C (measured: the
    # two differ by 0.55 of the peak here, while the package matches the
    # U-based oracle to 3e-15, and to 2e-15 for upsample=1).
    k, lam = 2, 9e-3
    psf = asymmetric_psf((5, 5), seed=3)
    y = observation((6, 6), seed=4)
    conv = dense_convolution(psf, (12, 12))
    lap = dense_laplacian((12, 12))
    forward = dense_block_sum((6, 6), k) @ conv
    block = np.linalg.solve(forward.T @ forward + lam * lap.T @ lap,
                            forward.T @ y.ravel()).reshape(12, 12)
    out = TikhonovDeconvolver(lam=lam, upsample=k,
                              recenter=False)(y, psf=psf)
    assert np.abs(out - block).max() > 1e-3 * np.abs(block).max()


def test_propagated_error_matches_dense_covariance():
    # error = sqrt(diag(W diag(sigma^2) W^T)) with W the dense filter
    shape, lam = (7, 9), 9e-3
    psf = asymmetric_psf((5, 3), seed=5)
    y = observation(shape, seed=6)
    sigma = np.random.default_rng(7).uniform(0.5, 2.0, shape)
    conv = dense_convolution(psf, shape)
    lap = dense_laplacian(shape)
    filt = np.linalg.solve(conv.T @ conv + lam * lap.T @ lap, conv.T)
    expected = np.sqrt(np.einsum('ij,j,ij->i', filt, sigma.ravel() ** 2,
                                 filt)).reshape(shape)
    res = TikhonovDeconvolver(lam=lam, recenter=False).deconvolve(
        y, psf=psf, error=sigma)
    np.testing.assert_allclose(res.error, expected, rtol=1e-9)
