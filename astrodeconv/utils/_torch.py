# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The tensor boundary: devices and numpy <-> torch. Only imported by code
that runs a network (imports torch). The normalisation of images for the
networks is `astrodeconv.denoisers.normalization`.
"""

import numpy as np
import torch

__all__ = []

_DEVICES = ('auto', 'cpu', 'cuda')


def _configured_device():
    """``astrodeconv.conf.device``, the device that ``'auto'`` means."""
    from astrodeconv import conf

    value = conf.device
    name = value.split(':')[0] if isinstance(value, str) else None
    if name not in _DEVICES:
        valid = ', '.join(repr(d) for d in _DEVICES)
        msg = (f'astrodeconv.conf.device must be one of {valid} (or '
               f'cuda:N), got {value!r}')
        raise ValueError(msg)
    return value


def resolve_device(device):
    """
    Turn ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or a
    `torch.device` into a `torch.device`, checking CUDA is available.

    ``'auto'`` means ``astrodeconv.conf.device``; when that is ``'auto'``
    too (the default), CUDA if it is available, else the CPU.
    """
    if isinstance(device, str) and device == 'auto':
        device = _configured_device()
    if isinstance(device, torch.device):
        name = device.type
    elif isinstance(device, str):
        name = device.split(':')[0]
        if name not in _DEVICES:
            valid = ', '.join(repr(d) for d in _DEVICES)
            msg = f'device must be one of {valid} (or cuda:N), got {device!r}'
            raise ValueError(msg)
    else:
        msg = f'device must be a string or torch.device, got {device!r}'
        raise TypeError(msg)
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name == 'cuda' and not torch.cuda.is_available():
        msg = (f"device={str(device)!r} was requested but CUDA is not "
               "available on this machine; use device='auto' or 'cpu'")
        raise ValueError(msg)
    return torch.device(device)


def to_tensor(array, device, dtype=torch.float32):
    """A float32 tensor ``(N, 1, H, W)`` on ``device`` from ``(N, H, W)``."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return tensor.unsqueeze(1).to(device=device, dtype=dtype)


def to_numpy(tensor):
    """A float64 array ``(N, H, W)`` from a tensor ``(N, 1, H, W)``."""
    return tensor.detach().to('cpu', torch.float32).numpy()[:, 0].astype(
        np.float64)
