"""Tests of the bias-free UNet-64 and of the shared denoiser contract."""

import pytest
import torch

from astrodeconv.denoisers import UNet64, as_sigma_tensor, count_parameters


def test_published_parameter_count():
    net = UNet64()
    assert count_parameters(net) == 31_023_940
    assert all(m.bias is None for m in net.modules()
               if isinstance(m, torch.nn.Conv2d))


def test_small_variant_shapes_and_bias_free_homogeneity():
    torch.manual_seed(0)
    net = UNet64(base_width=4, n_levels=3).eval()
    x = torch.randn(2, 1, 32, 48)
    with torch.no_grad():
        out = net(x)
        # bias-free ReLU network: positively homogeneous of degree 1
        scaled = net(3.0 * x)
    assert out.shape == x.shape
    torch.testing.assert_close(scaled, 3.0 * out, rtol=1e-4, atol=1e-5)


def test_arch_kwargs_recorded():
    assert UNet64(base_width=8, n_levels=4).arch_kwargs() == {
        'base_width': 8, 'n_levels': 4}


@pytest.mark.parametrize('kwargs, match', [
    ({'base_width': 0}, 'base_width must be an integer >= 1'),
    ({'n_levels': 1}, 'n_levels must be an integer >= 2'),
    ({'base_width': 2.5}, 'base_width must be an integer'),
])
def test_bad_constructor(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNet64(**kwargs)


@pytest.mark.parametrize('x, exc, match', [
    (torch.zeros(1, 1, 30, 32), ValueError, 'multiple of 4'),
    (torch.zeros(1, 2, 32, 32), ValueError, r'shape \(B, 1, H, W\)'),
    (torch.zeros(32, 32), ValueError, r'shape \(B, 1, H, W\)'),
    ([[0.0]], TypeError, 'x must be a torch.Tensor'),
])
def test_bad_input(x, exc, match):
    with pytest.raises(exc, match=match):
        UNet64(base_width=2, n_levels=3)(x)


class TestSigmaTensor:
    def test_float_and_tensor(self):
        torch.testing.assert_close(as_sigma_tensor(0.5, 3),
                                   torch.full((3,), 0.5))
        torch.testing.assert_close(as_sigma_tensor([0.1, 0.2], 2),
                                   torch.tensor([0.1, 0.2]))
        assert as_sigma_tensor(torch.tensor(0.3), 4).shape == (4,)

    @pytest.mark.parametrize('sigma, exc, match', [
        (-1.0, ValueError, 'non-negative'),
        ([0.1, 0.2, 0.3], ValueError, r'shape \(2,\)'),
        (float('nan'), ValueError, 'finite'),
        (True, TypeError, 'bool'),
        ('big', TypeError, 'sigma must be a float'),
    ])
    def test_bad_sigma(self, sigma, exc, match):
        with pytest.raises(exc, match=match):
            as_sigma_tensor(sigma, 2)


def test_sigma_input_channel():
    net = UNet64(base_width=4, n_levels=3, sigma_input=True)
    assert net.requires_sigma and net.arch_kwargs()['sigma_input'] is True
    assert net.down[0][0].in_channels == 2
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        out = net(x, torch.tensor([0.1, 0.2]))
        # bias-free: scaling the image and the noise level scales the output
        scaled = net(3 * x, torch.tensor([0.3, 0.6]))
        other = net(x, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(scaled, 3 * out, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(other, out)
    with pytest.raises(ValueError, match='sigma must be given'):
        net(x)
    assert not UNet64(base_width=4, n_levels=3).requires_sigma
