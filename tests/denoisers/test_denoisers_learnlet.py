"""Tests of the Learnlet denoiser."""

import contextlib

import pytest
import torch
from torch.nn import functional as F

from astrodeconv.denoisers import learnlet
from astrodeconv.denoisers.base import count_parameters
from astrodeconv.denoisers.learnlet import (_UPSAMPLERS, Learnlet,
                                            _decompose, _detail_statistics,
                                            _lowpass_kernel, _recompose,
                                            _up_aligned, _up_separable)

UPSAMPLINGS = ['bicubic', 'aligned']
CONFIGS = [
    {},
    {'upsampling': 'aligned'},
    {'exact_reconstruction': False},
    {'skip_connection': False},
    {'exact_reconstruction': False, 'skip_connection': False},
]


def trained_like(net, seed=0):
    """Replace every trainable weight by random values, like training."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for scale in net.scales:
            scale.analysis.copy_(torch.randn(scale.analysis.shape,
                                             generator=gen))
            scale.synthesis.copy_(0.05 * torch.randn(scale.synthesis.shape,
                                                     generator=gen))
            scale.alpha.fill_(float(torch.rand((), generator=gen)) * 4)
            if scale.alpha_identity is not None:
                scale.alpha_identity.fill_(
                    float(torch.rand((), generator=gen)) * 4)
    net.update_normalisation()
    return net


def formula_weights(net):
    """Weights given by a formula (no random numbers), like training."""
    with torch.no_grad():
        for j, scale in enumerate(net.scales):
            k = torch.arange(scale.analysis.numel(), dtype=torch.float64)
            scale.analysis.copy_(
                torch.sin(0.37 * k + 1.3 * j + 0.2).view_as(scale.analysis))
            k = torch.arange(scale.synthesis.numel(), dtype=torch.float64)
            scale.synthesis.copy_(
                (0.05 * torch.cos(0.11 * k + j)).view_as(scale.synthesis))
            scale.alpha.fill_(1.0 + 0.5 * j)
            if scale.alpha_identity is not None:
                scale.alpha_identity.fill_(2.5 - 0.25 * j)
    net.update_normalisation()
    return net


def formula_input(n_batch, height, width):
    """A smooth pattern plus a deterministic pseudo-noise."""
    b, i, j = torch.meshgrid(
        *(torch.arange(n, dtype=torch.float64)
          for n in (n_batch, height, width)), indexing='ij')
    x = (torch.sin(0.3 * i + b) * torch.cos(0.2 * j)
         + 0.5 * torch.sin(12.9898 * i + 78.233 * j + 3.1 * b))
    return x.float()[:, None]


def smooth_galaxy(size=64):
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32),
                            torch.arange(size, dtype=torch.float32),
                            indexing='ij')
    r2 = (xx - size / 2) ** 2 + ((yy - size / 2 + 2) / 0.7) ** 2
    return torch.exp(-r2 / (2 * 5.0 ** 2))


def high_freq_energy(img):
    smooth = F.avg_pool2d(img, 3, stride=1, padding=1,
                          count_include_pad=False)
    return float((img - smooth).square().mean())


@pytest.fixture(scope='module')
def net():
    torch.manual_seed(0)
    return trained_like(Learnlet(), seed=1)


def test_parameter_counts():
    net = Learnlet()
    assert sum(p.numel() for p in net.parameters()) == 44_840
    assert sum(p.numel() for p in net.parameters()
               if p.requires_grad) == 43_530
    assert count_parameters(net) == 44_840
    assert count_parameters(net, trainable_only=True) == 43_530
    frozen = {name for name, p in net.named_parameters()
              if not p.requires_grad}
    assert frozen == {'lowpass'} | {f'scales.{j}.normalisation'
                                    for j in range(5)}
    assert net.scales[0].normalisation.shape == (257,)
    assert net.lowpass.shape == (5, 5)


def test_attributes():
    net = Learnlet(n_scales=3, n_filters=4)
    assert net.requires_sigma is True
    assert net.fixed_size is None
    assert net.size_multiple == 8
    assert Learnlet(n_filters=2).size_multiple == 32
    assert 'n_scales=3' in repr(net)


def test_lowpass_kernel():
    kernel = _lowpass_kernel()
    h = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    torch.testing.assert_close(kernel, torch.outer(h, h))
    assert float(kernel.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize('upsampling', UPSAMPLINGS)
def test_pyramid_invertible(upsampling):
    net = Learnlet(n_filters=2, upsampling=upsampling)
    x = torch.randn(2, 1, 128, 96, dtype=torch.float64)
    details, coarse = _decompose(x, _lowpass_kernel(torch.float64)[None,
                                                                   None],
                                 5, net._up)
    assert [d.shape[-2:] for d in details] == [
        (128, 96), (64, 48), (32, 24), (16, 12), (8, 6)]
    assert coarse.shape[-2:] == (4, 3)
    torch.testing.assert_close(_recompose(details, coarse, net._up), x,
                               rtol=0, atol=1e-12)


def test_aligned_upsampling_is_tf_legacy_bicubic():
    x = torch.randn(2, 1, 6, 5, dtype=torch.float64)
    up = _up_aligned(x)
    assert up.shape == (2, 1, 12, 10)
    # even samples copy the input
    torch.testing.assert_close(up[..., ::2, ::2], x)
    # odd samples: Keys cubic (a=-0.75) midway, indices clamped
    w = torch.tensor([-3.0, 19.0, 19.0, -3.0], dtype=torch.float64) / 32
    padded = torch.cat([x[..., :1], x, x[..., -1:], x[..., -1:]], dim=-1)
    odd = sum(w[i] * padded[..., i:i + 5] for i in range(4))
    torch.testing.assert_close(up[..., ::2, 1::2], odd)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('upsampling', UPSAMPLINGS)
def test_separable_upsampling(upsampling, dtype):
    # the matrix form of Up used without gradients on the CPU
    atol = 1e-6 if dtype == torch.float32 else 1e-12
    for shape in [(3, 1, 5, 8), (2, 1, 16, 16), (1, 1, 1, 1)]:
        x = torch.randn(shape, dtype=dtype)
        up = _up_separable(x, upsampling)
        assert up.dtype == dtype
        torch.testing.assert_close(up, _UPSAMPLERS[upsampling](x), rtol=0,
                                   atol=atol)


@pytest.mark.parametrize('upsampling, expected', [
    ('bicubic', [0.93438, 0.22442, 0.09742, 0.04717, 0.02340]),
    ('aligned', [0.91796, 0.21332, 0.09160, 0.04423, 0.02193])])
def test_detail_stds(upsampling, expected):
    net = Learnlet(n_filters=2, upsampling=upsampling)
    assert net.detail_stds == pytest.approx(expected, abs=6e-6)
    if upsampling == 'aligned':
        # the reference TF values (Monte-Carlo, finite images)
        reference = [0.91738, 0.21372, 0.09259, 0.04539, 0.02249]
        assert net.detail_stds == pytest.approx(reference, rel=0.03)
    stds, tables = _detail_statistics(5, 2, upsampling)
    # normalised autocorrelation: 1 at lag 0, symmetric
    torch.testing.assert_close(tables[:, 2, 2],
                               torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(tables, tables.flip(-1).flip(-2))


@pytest.mark.parametrize('upsampling', UPSAMPLINGS)
def test_normalisation_matches_monte_carlo(upsampling):
    torch.manual_seed(2)
    net = trained_like(Learnlet(n_filters=8, upsampling=upsampling))
    gen = torch.Generator().manual_seed(3)
    noise = torch.randn(4, 1, 1024, 1024, generator=gen)
    crop = 12  # stay clear of the borders
    with torch.no_grad():
        details, _ = _decompose(noise, net.lowpass[None, None], 5, net._up)
        for j, high in enumerate(details):
            d = high / net.detail_stds[j]
            resp = F.conv2d(d, net.scales[j].unit_filters(), padding=1)
            mc = resp[..., crop:-crop, crop:-crop].std(dim=(0, 2, 3))
            norm = net.scales[j].normalisation
            torch.testing.assert_close(mc, norm[:8], rtol=0.05, atol=0)
            # the identity channel: the normalised detail has unit std
            mc_identity = d[..., crop:-crop, crop:-crop].std()
            assert float(norm[8]) == pytest.approx(1.0, abs=1e-6)
            assert float(mc_identity) == pytest.approx(1.0, rel=0.05)


def test_update_normalisation():
    net = Learnlet(n_scales=2, n_filters=6)
    scale = net.scales[1]
    before = scale.normalisation.clone()
    with torch.no_grad():
        # rescaling filters leaves the unit-norm filters unchanged
        scale.analysis.mul_(-7.0)
    net.update_normalisation()
    torch.testing.assert_close(scale.normalisation, before)
    with torch.no_grad():
        scale.analysis.copy_(torch.randn(6, 1, 3, 3))
    torch.testing.assert_close(scale.normalisation, before)  # stale
    net.update_normalisation()
    assert not torch.allclose(scale.normalisation[:6], before[:6])
    assert not scale.normalisation.requires_grad
    # a centred delta filter responds exactly like the identity channel
    with torch.no_grad():
        scale.analysis.zero_()
        scale.analysis[:, 0, 1, 1] = 1.0
    net.update_normalisation()
    torch.testing.assert_close(scale.normalisation, torch.ones(7))


@pytest.mark.parametrize('size', [128, 64])
@pytest.mark.parametrize('grad', [False, True])
def test_exact_reconstruction_sigma_zero(net, size, grad):
    x = torch.randn(3, 1, size, size) * 3 + 1
    with torch.set_grad_enabled(grad):
        out = net(x, sigma=0.0)
    torch.testing.assert_close(out, x, rtol=0, atol=2e-6)
    torch.testing.assert_close(net(x, torch.zeros(3)).detach(), x,
                               rtol=0, atol=2e-6)


@pytest.mark.parametrize('kwargs', CONFIGS[:2] + CONFIGS[3:4])
def test_exact_reconstruction_configs(kwargs):
    torch.manual_seed(4)
    net = trained_like(Learnlet(n_scales=3, n_filters=16, **kwargs))
    x = torch.randn(2, 1, 32, 48)
    with torch.inference_mode():
        torch.testing.assert_close(net(x, 0.0), x, rtol=0, atol=2e-6)


def test_no_exact_reconstruction_changes_image():
    torch.manual_seed(5)
    net = trained_like(Learnlet(n_scales=3, n_filters=16,
                                exact_reconstruction=False))
    x = torch.randn(2, 1, 32, 32)
    with torch.inference_mode():
        assert not torch.allclose(net(x, 0.0), x, atol=1e-3)


@pytest.mark.parametrize('kwargs', CONFIGS)
def test_inference_path_matches_training_path(kwargs):
    # the blockwise CPU path (no grad) and the convolution path
    torch.manual_seed(6)
    net = trained_like(Learnlet(n_filters=32, **kwargs))
    x = torch.randn(3, 1, 64, 96)
    sigma = torch.tensor([0.05, 0.5, 2.0])
    with torch.inference_mode():
        fast = net(x, sigma)
    slow = net(x, sigma).detach()
    scale = float(slow.abs().max())
    torch.testing.assert_close(fast, slow, rtol=0, atol=2e-6 * scale)


@pytest.mark.parametrize('kwargs', [
    {}, {'upsampling': 'bicubic'}, {'exact_reconstruction': False},
    {'skip_connection': False},
    {'analysis_kernel_size': 5, 'synthesis_kernel_size': 3},
    {'analysis_kernel_size': 1, 'synthesis_kernel_size': 7}])
@pytest.mark.parametrize('n_threads', [1, 2])
def test_inference_path_blocks_and_groups(monkeypatch, kwargs, n_threads):
    # small blocks and groups: partial blocks, several images per block
    # and per group, a smaller last group, Up by convolution and matrices
    monkeypatch.setattr(learnlet, '_BLOCK_PIXELS', 300)
    monkeypatch.setattr(learnlet, '_THREAD_BLOCK_PIXELS', 300)
    monkeypatch.setattr(learnlet, '_GROUP_PIXELS', 1000)
    monkeypatch.setattr(learnlet, '_MATRIX_UP_SIZE', 8)
    torch.manual_seed(10)
    net = trained_like(Learnlet(n_scales=3, n_filters=8, **kwargs))
    x = torch.randn(5, 1, 32, 48)
    sigma = torch.tensor([0.0, 0.05, 0.2, 0.5, 2.0])
    threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with torch.inference_mode():
            fast = net(x, sigma)
    finally:
        torch.set_num_threads(threads)
    slow = net(x, sigma).detach()
    scale = float(slow.abs().max())
    torch.testing.assert_close(fast, slow, rtol=0, atol=2e-6 * scale)
    if net.exact_reconstruction:
        torch.testing.assert_close(fast[:1], x[:1], rtol=0, atol=2e-6)


@pytest.mark.parametrize('amplitude, sigma', [
    (1e30, 1e-10),    # the thresholds cannot be folded into the filters
    (1.0, 1e-38),     # subnormal thresholds
    (1.0, 1e-30),     # folded, with responses near 1e30
])
def test_inference_path_extreme_thresholds(amplitude, sigma):
    torch.manual_seed(11)
    net = trained_like(Learnlet(n_scales=2, n_filters=8))
    x = torch.randn(2, 1, 16, 16) * amplitude
    with torch.inference_mode():
        fast = net(x, sigma)
    slow = net(x, sigma).detach()
    assert torch.all(torch.isfinite(fast))
    scale = float(slow.abs().max())
    torch.testing.assert_close(fast, slow, rtol=0, atol=2e-6 * scale)


#: Outputs of the original implementation (before the CPU inference path
#: was rewritten, identical in both paths to float rounding) for
#: `formula_weights`, ``formula_input(2, 32, 64)`` and sigma = [0.3, 0.8]:
#: ``out[:, 0, ::9, ::17]`` and the sums of ``out`` and of ``|out|``.
REFERENCE_OUTPUTS = [
    ({}, [
        0.35597, -0.155785, 0.200928, -0.172089, 0.105719, -0.194931,
        0.145596, -0.079969, -0.369062, 0.377958, -0.271793, 0.208895,
        0.541204, -0.448147, 0.375928, -0.438958, 0.547627, -0.580174,
        0.503535, -0.43278, -0.247179, 0.327689, -0.297242, 0.244989,
        0.069024, -0.148854, 0.118184, -0.207297, 0.336621, -0.29252,
        0.282021, -0.346468], -23.488114, 772.80619),
    ({'n_scales': 2, 'n_filters': 6, 'analysis_kernel_size': 5,
      'synthesis_kernel_size': 3, 'upsampling': 'bicubic',
      'exact_reconstruction': False}, [
        0.291199, -0.208314, 0.205977, -0.189605, 0.552898, -0.564231,
        0.55254, -0.501306, -0.719211, 0.730411, -0.706275, 0.637073,
        0.666969, -0.763109, 0.707378, -0.613474, 0.861546, -0.85633,
        0.836598, -0.757407, -0.081073, 0.091332, -0.089046, 0.080624,
        -0.326848, 0.249043, -0.243485, 0.220609, 0.585227, -0.469027,
        0.45731, -0.413737], 14.763726, 1350.3110),
]


@pytest.mark.parametrize('kwargs, pixels, total, total_abs',
                         REFERENCE_OUTPUTS)
@pytest.mark.parametrize('mode', ['inference', 'no_grad', 'grad', 'train'])
def test_reference_outputs(kwargs, pixels, total, total_abs, mode):
    net = formula_weights(Learnlet(**kwargs))
    net.train(mode == 'train')
    x = formula_input(2, 32, 64)
    sigma = torch.tensor([0.3, 0.8])
    context = {'inference': torch.inference_mode,
               'no_grad': torch.no_grad}.get(mode, contextlib.nullcontext)
    with context():
        out = net(x, sigma).detach()
    torch.testing.assert_close(out[:, 0, ::9, ::17].flatten(),
                               torch.tensor(pixels), rtol=1e-5, atol=2e-6)
    assert float(out.double().sum()) == pytest.approx(total, rel=1e-5)
    assert float(out.double().abs().sum()) == pytest.approx(total_abs,
                                                            rel=1e-5)


def test_thresholds_grow_with_sigma():
    torch.manual_seed(7)
    net = Learnlet(n_scales=4)
    clean = smooth_galaxy(64)
    x = clean + 0.05 * torch.randn(4, 1, 64, 64)
    energy_in = high_freq_energy(x)
    with torch.inference_mode():
        energies = [high_freq_energy(net(x, s))
                    for s in (0.0, 0.01, 0.05, 0.3)]
    assert energies[0] == pytest.approx(energy_in, rel=1e-5)
    assert energies[1] < energy_in
    assert energies[0] > energies[1] > energies[2] > energies[3]
    assert energies[2] < 0.2 * energy_in


def test_sigma_tensor_and_float_agree(net):
    x = torch.randn(3, 1, 64, 64)
    with torch.inference_mode():
        a = net(x, 0.2)
        b = net(x, torch.full((3,), 0.2))
        c = net(x, torch.tensor(0.2, dtype=torch.float64))
        d = net(x, torch.full((3, 1), 0.2))
        per_image = net(x, torch.tensor([0.0, 0.2, 1.0]))
        single = torch.cat([net(x[i:i + 1], s)
                            for i, s in enumerate((0.0, 0.2, 1.0))])
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, c, rtol=0, atol=0)
    torch.testing.assert_close(a, d, rtol=0, atol=0)
    torch.testing.assert_close(per_image, single, rtol=0, atol=1e-5)
    torch.testing.assert_close(per_image[0], x[0], rtol=0, atol=2e-6)


def test_alpha_is_clamped():
    torch.manual_seed(8)
    net = Learnlet(n_scales=2, n_filters=4, alpha_max=5.0)
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        for scale in net.scales:
            scale.alpha.fill_(-3.0)
            scale.alpha_identity.fill_(-1.0)
        # negative alphas act as 0: exact reconstruction at any sigma
        torch.testing.assert_close(net(x, 1.0), x, rtol=0, atol=2e-6)
        for scale in net.scales:
            scale.alpha.fill_(5.0)
            scale.alpha_identity.fill_(5.0)
        at_max = net(x, 1.0)
        for scale in net.scales:
            scale.alpha.fill_(50.0)
            scale.alpha_identity.fill_(50.0)
        torch.testing.assert_close(net(x, 1.0), at_max)


def test_gradients_reach_trainable_parameters_only():
    torch.manual_seed(9)
    net = Learnlet(n_scales=3, n_filters=8)
    x = torch.randn(2, 1, 32, 32)
    target = torch.randn(2, 1, 32, 32)
    loss = (net(x, torch.tensor([0.1, 0.3])) - target).square().mean()
    loss.backward()
    for name, p in net.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name
            assert torch.all(torch.isfinite(p.grad)), name
            assert float(p.grad.abs().sum()) > 0, name
        else:
            assert p.grad is None, name
    # a few optimiser steps keep the network usable
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad],
                           lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        (net(x, 0.1) - target).square().mean().backward()
        opt.step()
        net.update_normalisation()
    with torch.no_grad():
        torch.testing.assert_close(net(x, 0.0), x, rtol=0, atol=2e-6)


def test_state_dict_round_trip(net):
    state = net.state_dict()
    assert 'lowpass' in state
    assert 'scales.4.normalisation' in state
    assert not any('_detail_cov' in key for key in state)
    other = Learnlet()
    other.load_state_dict(state)
    x = torch.randn(2, 1, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(other(x, 0.3), net(x, 0.3))


def test_build_under_inference_mode():
    _detail_statistics.cache_clear()
    with torch.inference_mode():
        net = Learnlet(n_scales=2, n_filters=4)
        x = torch.randn(1, 1, 8, 8)
        torch.testing.assert_close(net(x, 0.0), x, rtol=0, atol=2e-6)
    assert len(net.detail_stds) == 2


def test_float64():
    net = Learnlet(n_scales=2, n_filters=4).double()
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    with torch.inference_mode():
        out = net(x, 0.0)
        assert out.dtype == torch.float64
        torch.testing.assert_close(out, x, rtol=0, atol=1e-12)
        net(x, 0.5)


@pytest.mark.parametrize('sigma, error, match', [
    (None, ValueError, 'Learnlet needs sigma'),
    (-0.1, ValueError, 'sigma must be finite and non-negative'),
    (torch.tensor([0.1, -0.1]), ValueError,
     'sigma must be finite and non-negative'),
    (float('nan'), ValueError, 'sigma must be finite'),
    (torch.ones(3), ValueError, r'sigma must be .* shape \(2,\), got '
                                r'shape \(3,\)'),
    (torch.ones(2, 2), ValueError, r'sigma must be .*got shape \(2, 2\)'),
    (True, TypeError, 'sigma must be a float'),
    ('0.1', TypeError, 'sigma must be a float'),
])
def test_bad_sigma(sigma, error, match):
    net = Learnlet(n_scales=2, n_filters=4)
    with pytest.raises(error, match=match):
        net(torch.zeros(2, 1, 16, 16), sigma)


@pytest.mark.parametrize('x, error, match', [
    (torch.zeros(1, 16, 16), ValueError, r'x must have shape \(B, 1, H, W\)'),
    (torch.zeros(1, 2, 16, 16), ValueError, r'got \(1, 2, 16, 16\)'),
    (torch.zeros(1, 1, 16, 12), ValueError,
     'input size must be a multiple of 8, got 16x12'),
    (torch.zeros(1, 1, 20, 16), ValueError, 'multiple of 8'),
    ([[0.0]], TypeError, 'x must be a torch.Tensor'),
])
def test_bad_x(x, error, match):
    net = Learnlet(n_scales=3, n_filters=4)
    with pytest.raises(error, match=match):
        net(x, 0.1)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'n_scales': 0}, ValueError, 'n_scales must be an integer >= 1'),
    ({'n_scales': 2.0}, TypeError, 'n_scales must be an integer'),
    ({'n_filters': True}, TypeError, 'n_filters must be an integer'),
    ({'analysis_kernel_size': 4}, ValueError,
     'analysis_kernel_size must be an odd integer, got 4'),
    ({'synthesis_kernel_size': 0}, ValueError,
     'synthesis_kernel_size must be an integer >= 1'),
    ({'alpha_init': -1.0}, ValueError, 'alpha_init must be >= 0'),
    ({'alpha_max': float('inf')}, ValueError, 'alpha_max must be finite'),
    ({'alpha_max': '5'}, TypeError, 'alpha_max must be a real number'),
    ({'exact_reconstruction': 1}, TypeError,
     'exact_reconstruction must be True or False'),
    ({'skip_connection': None}, TypeError,
     'skip_connection must be True or False'),
    ({'upsampling': 'nearest'}, ValueError,
     "upsampling must be one of 'bicubic', 'aligned', got 'nearest'"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Learnlet(**kwargs)


def test_keyword_only():
    with pytest.raises(TypeError):
        Learnlet(5)
