"""Tests of PnPDeconvolver: the iterations, the contract and bad input."""

import numpy as np
import pytest
import torch
from astropy.nddata import CCDData

from astrodeconv.deconvolution import (PnPDeconvolver, TikhonovDeconvolver,
                                       make_deconvolver)
from astrodeconv.denoisers import Learnlet, UNet64
from astrodeconv.operators import ForwardModel
from astrodeconv.utils import AstrodeconvWarning


class Shrink(torch.nn.Module):
    """
    The proximal operator of ``c ||x||**2 / 2`` at noise level ``sigma``:
    ``x / (1 + c sigma**2)``; records the noise levels it is given.
    """

    requires_sigma = True

    def __init__(self, c=0.0):
        super().__init__()
        self.c = c
        self.seen = []

    def forward(self, x, sigma):
        self.seen.append(sigma.clone())
        return x / (1 + self.c * sigma[:, None, None, None] ** 2)


def _reference_iterations(y, psf, sigma, k, c, pnp):
    """The half-quadratic splitting written out with dense algebra."""
    tik = TikhonovDeconvolver(lam=pnp.lam, upsample=k)(y, psf=psf)
    model = ForwardModel(psf, y.shape, upsample=k)
    fine = tik.shape
    size = fine[0] * fine[1]
    matrix = np.stack([model.forward(np.eye(size)[j].reshape(fine)).ravel()
                       for j in range(size)], axis=1)
    x = tik.ravel()
    scale = max(tik.max(), 3 * sigma / k ** 2)
    for level in pnp.noise_schedule([scale], [sigma / k ** 2])[:, 0]:
        alpha = pnp.prior_weight * sigma ** 2 / level ** 2
        z = np.linalg.solve(matrix.T @ matrix + alpha * np.eye(size),
                            matrix.T @ y.ravel() + alpha * x)
        x = z / (1 + c * (level / scale) ** 2)
    return x.reshape(fine)


@pytest.mark.parametrize('k', [1, 2])
def test_iterations_match_dense_half_quadratic_splitting(k):
    rng = np.random.default_rng(0)
    psf = np.exp(-((np.indices((5, 5)) - 2) ** 2).sum(0) / 2.0)
    psf /= psf.sum()
    y = rng.random((12, 12)) + 0.05 * rng.normal(size=(12, 12))
    sigma = 0.05
    pnp = PnPDeconvolver(Shrink(c=30.0), n_iter=5, upsample=k,
                         device='cpu', recenter=False, debias=False)
    with pytest.warns(AstrodeconvWarning, match='uncertainty cannot'):
        out = pnp(y, psf=psf, error=np.full(y.shape, sigma))
    expected = _reference_iterations(y, psf, sigma, k, 30.0, pnp)
    np.testing.assert_allclose(out, expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())


def test_network_runs_once_per_iteration_with_the_schedule(observed, psf):
    spy = Shrink()
    pnp = PnPDeconvolver(spy, n_iter=7, sigma_start=0.3, device='cpu')
    with pytest.warns(AstrodeconvWarning, match='uncertainty cannot'):
        pnp(observed, psf=psf, error=np.full(observed.shape, 0.02))
    assert len(spy.seen) == 7
    levels = np.array([float(s[0]) for s in spy.seen])
    # geometric from sigma_start (relative to the peak) down to sigma
    assert levels[0] == pytest.approx(0.3)
    ratios = levels[1:] / levels[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-5)
    assert np.all(ratios < 1)


def test_noise_schedule():
    pnp = PnPDeconvolver(Shrink(), n_iter=4, sigma_start=0.5,
                         device='cpu')
    levels = pnp.noise_schedule([10.0, 1.0], [0.01, 2.0])
    np.testing.assert_allclose(levels[:, 0], np.geomspace(5.0, 0.01, 4))
    # noisier than the start: constant at the noise level
    np.testing.assert_allclose(levels[:, 1], 2.0)
    assert PnPDeconvolver(Shrink(), n_iter=1).noise_schedule(
        [10.0], [0.1])[0, 0] == pytest.approx(0.1)


def test_nddata_contract_upsampling_and_provenance(observed, psf, wcs):
    data = CCDData(observed, unit='electron/s', wcs=wcs, psf=psf)
    out = PnPDeconvolver(Shrink(), n_iter=3, upsample=2, device='cpu',
                         debias=False)(data)
    assert isinstance(out, CCDData)
    assert out.shape == (2 * observed.shape[0], 2 * observed.shape[1])
    assert out.unit == 'electron/s'
    assert out.wcs.wcs.cdelt[1] == pytest.approx(0.1 / 3600)
    assert out.meta['DCNVMETH'] == 'pnp-hqs'
    assert out.meta['DCNVNIT'] == 3
    # an identity prior keeps the flux of the exact data step
    assert float(out.data.sum()) == pytest.approx(float(observed.sum()),
                                                  rel=1e-3)


def test_real_learnlet_runs_and_stacks_match_single_images(observed, psf):
    torch.manual_seed(0)
    net = Learnlet(n_scales=3, n_filters=8)
    pnp = PnPDeconvolver(net, n_iter=3, device='cpu')
    stack = np.stack([observed, 2 * observed])
    both = pnp(stack, psf=psf)
    one = pnp(2 * observed, psf=psf)
    # the network is positively homogeneous: scaled data, scaled result
    np.testing.assert_allclose(both[1], one, rtol=1e-4,
                               atol=1e-4 * np.abs(one).max())
    np.testing.assert_allclose(both[1], 2 * both[0], rtol=1e-3,
                               atol=1e-3 * np.abs(one).max())


def test_make_deconvolver_builds_pnp():
    pnp = make_deconvolver('pnp', weights=Shrink(), n_iter=4, upsample=2)
    assert isinstance(pnp, PnPDeconvolver)
    assert (pnp.n_iter, pnp.upsample) == (4, 2)


def test_tikhonov_denoiser_is_refused_or_warned():
    with pytest.raises(ValueError, match='denoiser must take the noise'):
        PnPDeconvolver(UNet64(base_width=4, n_levels=3))
    net = Shrink()
    net.weights_info = {'name': 'x', 'sha256': 'none', 'task': 'tikhonov'}
    with pytest.warns(AstrodeconvWarning, match='not as a plain Gaussian'):
        PnPDeconvolver(net)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'n_iter': 0}, ValueError, 'n_iter'),
    ({'n_iter': 2.5}, TypeError, 'n_iter'),
    ({'sigma_start': 0}, ValueError, 'sigma_start'),
    ({'prior_weight': -1}, ValueError, 'prior_weight'),
    ({'upsample': 0}, ValueError, 'upsample'),
])
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        PnPDeconvolver(Shrink(), **kwargs)


@pytest.mark.parametrize('k', [1, 2])
def test_shipped_denoiser_beats_tikhonov_and_keeps_the_flux(k):
    from astrodeconv.metrics import nmse
    from astrodeconv.psf import make_gaussian_psf, make_moffat_psf

    psf = make_moffat_psf(6.0 * k / 2, shape=(25, 25))
    truth = 50 * make_gaussian_psf(3.0, shape=(64 * k, 64 * k))
    truth += 10 * np.roll(make_gaussian_psf(1.5, shape=(64 * k, 64 * k)),
                          (5 * k, -4 * k), axis=(0, 1))
    y = ForwardModel(psf, (64, 64), upsample=k).forward(truth)
    y += np.random.default_rng(k).normal(0.0, 0.01, y.shape)
    pnp = PnPDeconvolver(upsample=k, device='cpu')
    assert pnp.weights_info['task'] == 'gaussian-denoising'
    out = pnp(y, psf=psf)
    tik = TikhonovDeconvolver(upsample=k)(y, psf=psf)
    assert nmse(out, truth) < 0.5 * nmse(tik, truth)
    assert float(out.sum()) == pytest.approx(60.0, rel=0.01)
