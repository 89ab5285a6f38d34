# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The denoiser contract shared by every network in astrodeconv.

A denoiser is a `torch.nn.Module` whose ``forward(x, sigma=None)`` takes a
batch ``x`` of shape ``(B, 1, H, W)`` (float32, normalised as in the
reference code: ``(tikhonov - mean) / max``) and an optional noise level
``sigma`` (a float, or a tensor of shape ``(B,)``, in the same normalised
units), and returns a tensor of the same shape. Any user module with that
signature (or with ``forward(x)`` only) can be plugged into
`~astrodeconv.denoisers.LearnedDeconvolver`.
"""

import functools
import inspect
import numbers

import torch
from torch import nn

__all__ = ['Denoiser', 'as_sigma_tensor', 'count_parameters']


def count_parameters(module, *, trainable_only=False):
    """
    Number of parameters of a module.

    Parameters
    ----------
    module : `torch.nn.Module`
    trainable_only : bool, optional
        Count only parameters with ``requires_grad``.

    Returns
    -------
    n : int
    """
    return sum(p.numel() for p in module.parameters()
               if p.requires_grad or not trainable_only)


def as_sigma_tensor(sigma, batch_size, *, device=None, dtype=None,
                    name='sigma'):
    """
    Validate ``sigma`` and return it as a tensor of shape ``(B,)``.

    Parameters
    ----------
    sigma : float, sequence or tensor
        One noise level for the batch or one per image, non-negative.
    batch_size : int
        The batch size ``B``.

    Returns
    -------
    sigma : `torch.Tensor`
        Shape ``(B,)``.
    """
    if isinstance(sigma, bool):
        msg = f'{name} must be a float or a tensor of shape (B,), got a bool'
        raise TypeError(msg)
    if isinstance(sigma, numbers.Real):
        sigma = torch.full((batch_size,), float(sigma), device=device,
                           dtype=dtype)
    else:
        try:
            sigma = torch.as_tensor(sigma, device=device, dtype=dtype)
        except (TypeError, ValueError, RuntimeError):
            msg = (f'{name} must be a float or a tensor of shape (B,), got '
                   f'{type(sigma).__name__}')
            raise TypeError(msg) from None
        if sigma.ndim == 0:
            sigma = sigma.expand(batch_size)
        sigma = sigma.reshape(-1) if sigma.ndim == 2 and (
            sigma.shape[1] == 1) else sigma
        if sigma.ndim != 1 or sigma.shape[0] != batch_size:
            msg = (f'{name} must be a float or a tensor of shape '
                   f'({batch_size},), got shape {tuple(sigma.shape)}')
            raise ValueError(msg)
    if not torch.all(torch.isfinite(sigma)) or torch.any(sigma < 0):
        msg = f'{name} must be finite and non-negative'
        raise ValueError(msg)
    return sigma


class Denoiser(nn.Module):
    """
    Base class of the astrodeconv denoisers.

    Subclasses implement ``forward(x, sigma=None)``. Class attributes tell
    the inference code what the network needs:

    Attributes
    ----------
    requires_sigma : bool
        True if ``forward`` needs the noise level (e.g. the Learnlet).
    fixed_size : tuple of int or None
        The only input size the network accepts (e.g. ``(128, 128)`` for
        SUNet), or None for fully convolutional networks.
    size_multiple : int
        Input sizes must be multiples of this (pooling depth).
    """

    requires_sigma = False
    fixed_size = None
    size_multiple = 1

    def __init_subclass__(cls, **kwargs):
        # record the constructor arguments of every instance, so that a
        # checkpoint can rebuild the same architecture (arch_kwargs)
        super().__init_subclass__(**kwargs)
        init = cls.__init__
        if getattr(init, '_records_arch_kwargs', False):
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kw):
            init(self, *args, **kw)
            bound = signature.bind(self, *args, **kw)
            arguments = dict(bound.arguments)
            arguments.pop('self', None)
            extra = arguments.pop('kwargs', {})
            arguments.update(extra)
            object.__setattr__(self, '_arch_kwargs', arguments)

        recording_init._records_arch_kwargs = True
        cls.__init__ = recording_init

    def arch_kwargs(self):
        """The constructor arguments this instance was built with."""
        return dict(getattr(self, '_arch_kwargs', {}))

    def check_input(self, x):
        """Raise a clear error for a badly shaped input batch."""
        if not isinstance(x, torch.Tensor):
            msg = f'x must be a torch.Tensor, got {type(x).__name__}'
            raise TypeError(msg)
        if x.ndim != 4 or x.shape[1] != 1:
            msg = (f'x must have shape (B, 1, H, W), got '
                   f'{tuple(x.shape)}')
            raise ValueError(msg)
        size = tuple(x.shape[-2:])
        if self.fixed_size is not None and size != tuple(self.fixed_size):
            msg = (f'{type(self).__name__} input must be '
                   f'{self.fixed_size[0]}x{self.fixed_size[1]} pixels, got '
                   f'{size[0]}x{size[1]}; use tiled inference '
                   '(LearnedDeconvolver(tile_size=...)) for other sizes')
            raise ValueError(msg)
        m = self.size_multiple
        if size[0] % m or size[1] % m:
            msg = (f'{type(self).__name__} input size must be a multiple of '
                   f'{m}, got {size[0]}x{size[1]}')
            raise ValueError(msg)
