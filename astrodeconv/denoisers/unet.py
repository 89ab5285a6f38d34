# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""The bias-free UNet-64 of the Learnlet/UNet deconvolution paper."""

import torch
from torch import nn
from torch.nn import functional as F

from .base import Denoiser, as_sigma_tensor

__all__ = ['UNet64']


class _DoubleConv(nn.Sequential):
    """Two 3x3 bias-free convolutions, each followed by a ReLU."""

    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.ReLU(inplace=True))


class _UpConv(nn.Module):
    """Nearest-neighbour x2 upsampling, then a 2x2 convolution + ReLU."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 2, bias=False)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode='nearest')
        # 'same' padding of an even kernel: one extra row/column after
        return F.relu(self.conv(F.pad(x, (0, 1, 0, 1))), inplace=True)


class UNet64(Denoiser):
    """
    Bias-free UNet with 2x2 up-convolutions (Akhaury et al. 2022).

    Five levels of widths ``base_width * 2**i`` (64 to 1024 with the
    defaults), two 3x3 convolutions and a ReLU per level, 2x2 max pooling
    on the way down, nearest-neighbour upsampling followed by a 2x2
    convolution on the way up, skip connections by concatenation, and a
    linear 1x1 head to 4 channels then to 1. No convolution has a bias and
    there is no batch normalisation (it never reached the convolutions in
    the reference code) and no global residual. With the defaults the
    network has 31,023,940 parameters; smaller ``base_width`` values give
    variants that train on a CPU.

    Parameters
    ----------
    base_width : int, optional
        Channels of the first level.
    n_levels : int, optional
        Number of resolution levels (input sizes must be multiples of
        ``2**(n_levels - 1)``).
    sigma_input : bool, optional
        If True, the noise level enters as a second input channel, a
        constant map equal to ``sigma`` (as in DRUNet, Zhang et al. 2021),
        so that one network serves every noise level; ``forward`` then
        requires ``sigma``. Scaling the image and ``sigma`` together
        scales the output (the network is bias-free), so the noise level
        is relative to the image's normalisation.

    Examples
    --------
    >>> import torch
    >>> from astrodeconv.denoisers import UNet64
    >>> net = UNet64(base_width=4, n_levels=3)
    >>> net(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 1, 32, 32])
    """

    def __init__(self, *, base_width=64, n_levels=5, sigma_input=False):
        super().__init__()
        for value, name, low in ((base_width, 'base_width', 1),
                                 (n_levels, 'n_levels', 2)):
            if isinstance(value, bool) or not isinstance(value, int) or (
                    value < low):
                msg = f'{name} must be an integer >= {low}, got {value!r}'
                raise ValueError(msg)
        self.base_width = base_width
        self.n_levels = n_levels
        self.sigma_input = bool(sigma_input)
        self.requires_sigma = self.sigma_input
        self.size_multiple = 2 ** (n_levels - 1)
        widths = [base_width * 2 ** i for i in range(n_levels)]
        self.down = nn.ModuleList()
        in_ch = 2 if self.sigma_input else 1
        for width in widths:
            self.down.append(_DoubleConv(in_ch, width))
            in_ch = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(_UpConv(width * 2, width))
            self.merge.append(_DoubleConv(width * 2, width))
        self.head = nn.Sequential(nn.Conv2d(widths[0], 4, 1, bias=False),
                                  nn.Conv2d(4, 1, 1, bias=False))

    def forward(self, x, sigma=None):
        """
        Denoise a batch.

        Parameters
        ----------
        x : `torch.Tensor`
            Shape ``(B, 1, H, W)`` with H and W multiples of
            ``2**(n_levels - 1)``.
        sigma : float or `torch.Tensor`, optional
            Noise standard deviation of every image (a float or shape
            ``(B,)``), in the units of ``x``; required when the network was
            built with ``sigma_input=True``, ignored otherwise.

        Returns
        -------
        out : `torch.Tensor`
            Same shape as ``x``.
        """
        self.check_input(x)
        if self.sigma_input:
            if sigma is None:
                msg = ('sigma must be given: this UNet64 takes the noise '
                       'level as an input (sigma_input=True)')
                raise ValueError(msg)
            sigma = as_sigma_tensor(sigma, x.shape[0], device=x.device,
                                    dtype=x.dtype)
            x = torch.cat([x, sigma[:, None, None, None].expand_as(x)], 1)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < self.n_levels - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)
