# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the one way to run a denoiser: normalise, tiled pass, restore."""

import numpy as np
import pytest
import torch
from torch import nn

from astrodeconv.denoisers import (UNet64, denoise_images, denormalize,
                                   normalize_pair, resolve_tiling)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Spy(nn.Module):
    """Records what it is given and returns ``2 x + sigma``."""

    requires_sigma = True

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.inputs = []
        self.sigmas = []

    def forward(self, x, sigma=None):
        self.inputs.append(x.detach().clone())
        self.sigmas.append(sigma.detach().clone())
        return 2 * self.scale * x + sigma[:, None, None, None]


class Blind(nn.Module):
    """A network that takes no noise level: ``forward(x)`` only."""

    def forward(self, x):
        return 3 * x


def galaxies(n=3, size=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = []
    for _ in range(n):
        cy, cx = rng.uniform(size / 4, 3 * size / 4, 2)
        blob = 50 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 20.0)
        images.append(blob + rng.normal(3.0, 0.5, (size, size)))
    return np.stack(images)


@pytest.mark.parametrize('normalization', ['inference', 'sky', 'target'])
def test_network_sees_the_training_normalisation(normalization):
    images = galaxies()
    sigma = np.array([0.5, 0.4, 0.3])
    net = Spy()
    out = denoise_images(net, images, sigma=sigma,
                         normalization=normalization)
    mode = 'inference' if normalization == 'target' else normalization
    normed, _, params = normalize_pair(images, mode=mode)
    # one pass, the images normalised exactly as the training pairs
    (seen,) = net.inputs
    np.testing.assert_array_equal(seen[:, 0].numpy(),
                                  normed.astype(np.float32))
    # the noise level in the network's units
    np.testing.assert_array_equal(
        net.sigmas[0].numpy(),
        (sigma / params.scale[:, 0, 0]).astype(np.float32))
    # and the output restored with the same numbers
    net_out = (2 * seen[:, 0] + net.sigmas[0][:, None, None]).numpy()
    np.testing.assert_array_equal(out, denormalize(net_out.astype(float),
                                                   params))


def test_round_trip_of_an_identity_network():
    images = galaxies(2)
    out = denoise_images(nn.Identity(), images)
    np.testing.assert_allclose(out, images, rtol=1e-6)
    assert out.dtype == np.float64 and out.shape == images.shape


def test_whole_image_equals_a_direct_network_call():
    torch.manual_seed(0)
    net = UNet64(base_width=4, n_levels=2).eval()
    images = galaxies(2, size=64)
    out = denoise_images(net, images, tile_size=None, normalization=None)
    with torch.no_grad():
        direct = net(torch.from_numpy(images.astype(np.float32))[:, None])
    np.testing.assert_array_equal(out, direct[:, 0].double().numpy())


def test_one_tile_equals_a_direct_network_call():
    torch.manual_seed(0)
    net = UNet64(base_width=4, n_levels=2).eval()
    image = galaxies(1, size=64)[0]
    out = denoise_images(net, image, tile_size=64)
    normed, _, params = normalize_pair(image)
    with torch.no_grad():
        direct = net(torch.from_numpy(normed.astype(np.float32))[None, None])
    np.testing.assert_array_equal(
        out, denormalize(direct[0, 0].double().numpy(), params))


def test_tiles_blend_without_seams():
    # a pixel-wise network gives the same image tiled as whole
    images = galaxies(2, size=300)
    whole = denoise_images(Blind(), images, tile_size=None)
    tiled = denoise_images(Blind(), images, tile_size=64, tile_overlap=16)
    np.testing.assert_allclose(tiled, whole, rtol=1e-12, atol=1e-12)
    # (3 (x - m) / p) p + m with m the mean and p the peak of each image
    mean = images.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(whole, 3 * images - 2 * mean, rtol=1e-6,
                               atol=1e-5)


def test_auto_tiles_wide_fields_only():
    net = Spy()
    denoise_images(net, galaxies(1, size=512), sigma=0.1)
    assert [tuple(x.shape) for x in net.inputs] == [(1, 1, 512, 512)]
    net = Spy()
    denoise_images(net, galaxies(1, size=520), sigma=0.1)
    shapes = {tuple(x.shape[-2:]) for x in net.inputs}
    assert shapes == {(256, 256)}
    assert sum(len(x) for x in net.inputs) == 9      # 3 x 3 tiles


def test_tensors_keep_the_gradients():
    torch.manual_seed(0)
    net = UNet64(base_width=4, n_levels=2, sigma_input=True)
    images = torch.tensor(galaxies(2, size=96), requires_grad=True)
    sigma = torch.tensor([0.5, 0.2], dtype=torch.float64,
                         requires_grad=True)
    out = denoise_images(net, images, sigma=sigma, tile_size=64)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    out.sum().backward()
    assert images.grad is not None and torch.all(torch.isfinite(
        images.grad))
    assert sigma.grad is not None and torch.all(sigma.grad != 0)
    assert net.head[0].weight.grad is not None
    # the same numbers as the NumPy path (which runs without gradients)
    array = denoise_images(net, images.detach().numpy(),
                           sigma=sigma.detach().numpy(), tile_size=64)
    np.testing.assert_allclose(out.detach().numpy(), array, rtol=1e-5,
                               atol=1e-5)
    with torch.no_grad():
        again = denoise_images(net, images, sigma=sigma, tile_size=64)
    assert not again.requires_grad


def test_blind_networks_ignore_sigma():
    images = galaxies(2)
    out = denoise_images(Blind(), images, sigma=[0.1, 0.2])
    np.testing.assert_array_equal(out, denoise_images(Blind(), images))


@pytest.mark.parametrize('kwargs, error, match', [
    ({'sigma': None}, ValueError, 'sigma must be given'),
    ({'sigma': [0.1, 0.2]}, ValueError, r'one per image \(shape \(3,\)\)'),
    ({'sigma': -1.0}, ValueError, 'sigma must be a non-negative'),
    ({'sigma': 0.1, 'normalization': 'median'}, ValueError,
     'normalization must be one of'),
    ({'sigma': 0.1, 'tile_size': 4}, ValueError, 'tile_size must be'),
    ({'sigma': 0.1, 'tile_size': 32, 'tile_overlap': 32}, ValueError,
     'tile_overlap must be smaller than tile_size'),
    ({'sigma': 0.1, 'tile_size': 128}, ValueError,
     'tile_size must not exceed the image size'),
    ({'sigma': 0.1, 'batch_size': 0}, ValueError, 'batch_size'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        denoise_images(Spy(), galaxies(3), **kwargs)


def test_bad_model_and_images():
    with pytest.raises(TypeError, match='model must be a torch.nn.Module'):
        denoise_images(lambda x: x, galaxies(1))
    with pytest.raises(ValueError, match=r'images must be one image'):
        denoise_images(Blind(), np.ones(10))


def test_fixed_size_networks_fix_the_tile():
    net = Blind()
    net.fixed_size = (32, 32)
    assert resolve_tiling(net, 'auto') == (32, 8)
    assert resolve_tiling(net, None) == (32, 8)
    with pytest.raises(ValueError, match='tile_size must be 32 for Blind'):
        resolve_tiling(net, 64)
