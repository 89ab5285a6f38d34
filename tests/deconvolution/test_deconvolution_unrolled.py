# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Unrolled deconvolution: the torch data step, the schedule, training."""

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from astrodeconv.deconvolution import PnPDeconvolver  # noqa: E402
from astrodeconv.deconvolution.unrolled import UnrolledDeconvolver  # noqa
from astrodeconv.denoisers import UnrolledHQS, load_denoiser  # noqa: E402
from astrodeconv.denoisers.unrolled import effective_fwhm  # noqa: E402
from astrodeconv.operators import ForwardModel  # noqa: E402
from astrodeconv.operators.differentiable import TorchDataStep  # noqa: E402
from astrodeconv.psf import (make_gaussian_psf, make_moffat_psf,  # noqa
                             make_narrow_psf)


def _psfs():
    return np.stack([make_moffat_psf(f, shape=(21, 21)) for f in (3, 5)])


@pytest.mark.parametrize('k', [1, 2, 4])
def test_torch_data_step_equals_numpy_solve(k):
    model = ForwardModel(_psfs(), (32 // k, 32 // k), upsample=k)
    rhs = np.random.default_rng(k).normal(size=(2, 32, 32))
    alpha = np.array([0.3, 0.01])
    step = TorchDataStep(model, dtype=torch.float64)
    x = step.solve(torch.as_tensor(rhs), torch.as_tensor(alpha)).numpy()
    assert np.allclose(x, model.solve_normal(rhs, alpha), rtol=0,
                       atol=1e-12 * np.abs(x).max())


def test_torch_data_step_gradients():
    psfs = np.stack([make_moffat_psf(f, shape=(7, 7)) for f in (2, 3)])
    model = ForwardModel(psfs, (6, 6), upsample=2)
    step = TorchDataStep(model, dtype=torch.float64)
    rhs = torch.randn(2, 12, 12, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor([0.5, 0.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(step.solve, (rhs, alpha))


def test_torch_data_step_refuses_padding():
    model = ForwardModel(_psfs()[0], (16, 16), pad_width=4)
    with pytest.raises(ValueError, match='pad_width'):
        TorchDataStep(model)


def _pnp_prior_unrolled(n_iter):
    net = UnrolledHQS(n_iter=n_iter)
    net.prior.load_state_dict(load_denoiser('unet16-gauss-v1').state_dict())
    return net.eval()


def test_untrained_schedule_is_pnp():
    net = _pnp_prior_unrolled(5)
    pnp = PnPDeconvolver(n_iter=5, device='cpu')
    peak, sigma = np.array([2.0, 0.5]), np.array([0.01, 0.003])
    deconv = UnrolledDeconvolver(net, upsample=2, device='cpu')
    levels, alpha = deconv.schedule(_psfs(), peak, sigma)
    expected = pnp.noise_schedule(np.maximum(peak, sigma / 4), sigma / 4)
    assert np.allclose(levels, expected, rtol=1e-12)
    assert np.allclose(alpha, 0.1 * sigma ** 2 / expected ** 2, rtol=1e-12)


def test_untrained_unrolled_equals_pnp():
    psf = make_moffat_psf(6.0, shape=(25, 25))
    truth = 50 * make_gaussian_psf(3.0, shape=(64, 64))
    y = ForwardModel(psf, (32, 32), upsample=2).forward(truth)
    y = y + np.random.default_rng(0).normal(0.0, 0.01, y.shape)
    ours = UnrolledDeconvolver(_pnp_prior_unrolled(4), upsample=2,
                               device='cpu')(y, psf=psf)
    pnp = PnPDeconvolver(n_iter=4, upsample=2, device='cpu')(y, psf=psf)
    assert np.abs(ours - pnp).max() < 1e-5 * np.abs(pnp).max()


def test_unrolled_refuses_a_plain_denoiser():
    with pytest.raises(TypeError, match='denoiser must hold an unrolled'):
        UnrolledDeconvolver('unet16-gauss-v1', device='cpu')


def test_effective_fwhm_of_gaussians():
    fwhm = effective_fwhm(np.stack([make_gaussian_psf(f, shape=(61, 61))
                                    for f in (4.0, 8.0)]))
    assert np.allclose(fwhm, [4.0, 8.0], rtol=0.02)


def test_narrow_psf_inverts_the_target():
    from scipy.signal import fftconvolve

    psf = make_moffat_psf(8.0, shape=(51, 51))
    target = make_gaussian_psf(2.0, shape=(51, 51))
    narrow = make_narrow_psf(psf, target)
    back = fftconvolve(narrow, target, mode='same')
    assert np.abs(back - psf).max() < 1e-3 * psf.max()
    assert effective_fwhm(narrow) < effective_fwhm(psf)


def test_narrow_psf_refuses_a_wider_target():
    psf = make_gaussian_psf(4.0, shape=(41, 41))
    with pytest.raises(ValueError, match='narrower than the PSF'):
        make_narrow_psf(psf, make_gaussian_psf(6.0, shape=(41, 41)))


def test_narrow_psf_refuses_a_target_wider_in_one_direction():
    psf = make_gaussian_psf(5.0, shape=(41, 41))
    # axes 6.9 and 2.3 pixels, the major one along x: wider than the PSF
    target = make_gaussian_psf(4.0, shape=(41, 41), ellipticity=0.5)
    with pytest.raises(ValueError, match='along 0 degrees'):
        make_narrow_psf(psf, target)
    # the same target turned by 90 degrees is refused along y
    with pytest.raises(ValueError, match='along 90 degrees'):
        make_narrow_psf(psf, target.T)


def test_unrolled_training_runs_and_writes_a_loadable_model(tmp_path):
    from astrodeconv.training.unrolled import (make_unrolled_examples,
                                               train_unrolled)

    train = make_unrolled_examples(2, seed=5, stamp_size=32,
                                   upsample=(1, 2), target_fraction=0.5)
    val = make_unrolled_examples(2, seed=6, stamp_size=32, upsample=(1,))
    log = train_unrolled(train, val, tmp_path, init=None, n_iter=2,
                         batch_size=2, steps=2, validate_every=1)
    assert [h['step'] for h in log['history']] == [0, 1, 2]
    net = load_denoiser(tmp_path / 'best.pt')
    assert isinstance(net, UnrolledHQS) and net.n_iter == 2


def test_unrolled_with_other_priors():
    """A larger UNet64 prior, and one blind to the noise level."""
    from astrodeconv.denoisers import UNet64

    wide = UnrolledHQS(n_iter=2, prior='UNet64', prior_kwargs={
        'base_width': 4, 'n_levels': 3, 'sigma_input': True})
    assert wide.prior.base_width == 4 and wide.prior.requires_sigma
    blind = UnrolledHQS(n_iter=2, prior='UNet64', prior_kwargs={
        'base_width': 4, 'n_levels': 3})
    x = torch.rand(2, 1, 16, 16)
    reference = UNet64(base_width=4, n_levels=3)
    reference.load_state_dict(blind.prior.state_dict())
    with torch.no_grad():
        assert torch.equal(blind(x, torch.tensor([0.1, 0.2])), reference(x))


@pytest.mark.slow
def test_unrolled_training_command(tmp_path):
    from astrodeconv.training.unrolled import main

    assert main(['-o', str(tmp_path), '--n-per-regime', '2',
                 '--val-per-regime', '1', '--n-iter', '1', '--steps', '1',
                 '--batch-size', '2', '--init', 'none']) == 0
    assert isinstance(load_denoiser(tmp_path / 'best.pt'), UnrolledHQS)


@pytest.mark.parametrize('method', ['learned', 'pnp', 'unrolled'])
def test_learned_paths_show_progress(method, capsys):
    from astrodeconv.deconvolution import make_deconvolver

    psf = make_moffat_psf(4.0, shape=(15, 15))
    y = ForwardModel(psf, (32, 32)).forward(
        20 * make_gaussian_psf(3.0, shape=(32, 32)))
    y = y + np.random.default_rng(2).normal(0.0, 0.01, y.shape)
    quiet = make_deconvolver(method, device='cpu')(y, psf=psf)
    assert capsys.readouterr().err == ''
    shown = make_deconvolver(method, device='cpu', progress=True)(y, psf=psf)
    err = capsys.readouterr().err
    if method == 'learned':
        assert 'denoiser: 1pass' in err   # the network's passes
    else:
        assert '100%' in err and 'iteration' in err
    assert np.array_equal(quiet, shown)
