# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The exact data step of `~astrodeconv.operators.ForwardModel` in
PyTorch, differentiable.

Unrolled (physics-in-the-loop) deconvolution is trained end to end
through its iterations, so the data step :math:`(H^T H + \\alpha I)^{-1}`
must pass gradients to its right-hand side and to :math:`\\alpha`. This
module computes it with ``torch.fft`` from the transfer functions that
`~astrodeconv.operators.ForwardModel` builds (the one place where a PSF
becomes a transfer function), so training and inference solve the same
system. Importing it imports PyTorch; ``astrodeconv.operators`` does not.
"""

import numpy as np
import torch

from .forward import ForwardModel

__all__ = ['TorchDataStep']


class TorchDataStep:
    r"""
    Solve :math:`(H^T H + \alpha I) x = r` in PyTorch, with gradients.

    The same system as
    `~astrodeconv.operators.ForwardModel.solve_normal` (periodic
    boundaries, any PSF and any super-resolution factor ``k``, through the
    Woodbury identity when ``k > 1``), on tensors: gradients flow to
    ``rhs`` and to ``alpha``.

    Parameters
    ----------
    model : `~astrodeconv.operators.ForwardModel`
        The forward model, with ``pad_width=0``; one PSF or one per image
        of the batches to solve.
    device : str or `torch.device`, optional
        Where the transfer functions live.
    dtype : `torch.dtype`, optional
        Real dtype of the computation (``torch.float32`` or
        ``torch.float64``).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from astrodeconv.operators import ForwardModel
    >>> from astrodeconv.operators.differentiable import TorchDataStep
    >>> from astrodeconv.psf import make_gaussian_psf
    >>> model = ForwardModel(make_gaussian_psf(4.0, shape=(15, 15)),
    ...                      (16, 16), upsample=2)
    >>> rhs = np.random.default_rng(0).normal(size=(1, 32, 32))
    >>> step = TorchDataStep(model, dtype=torch.float64)
    >>> x = step.solve(torch.as_tensor(rhs), torch.tensor([0.1]))
    >>> bool(np.allclose(x.numpy(), model.solve_normal(rhs, 0.1)))
    True
    """

    def __init__(self, model, *, device='cpu', dtype=torch.float32):
        if not isinstance(model, ForwardModel):
            msg = (f'model must be an astrodeconv.operators.ForwardModel, '
                   f'got {type(model).__name__}')
            raise TypeError(msg)
        if model.pad_width:
            msg = ('the data step needs periodic boundaries (pad_width=0), '
                   f'got pad_width={model.pad_width}')
            raise ValueError(msg)
        if dtype not in (torch.float32, torch.float64):
            msg = f'dtype must be torch.float32 or torch.float64, got {dtype}'
            raise ValueError(msg)
        self.model = model
        self.upsample = model.upsample
        self.fine_shape = model.fine_shape
        self.dtype = dtype
        cdtype = torch.complex64 if dtype == torch.float32 else \
            torch.complex128
        k = self.upsample
        if k == 1:
            power = np.abs(model.transfer()) ** 2
            self._power = torch.as_tensor(power, dtype=dtype, device=device)
        else:
            gain = model._cached('box-otf', model._full_box_transfer)
            alias = model._cached('alias-power', lambda: self._fold_numpy(
                np.abs(gain) ** 2))
            self._gain = torch.as_tensor(gain, dtype=cdtype, device=device)
            self._alias_power = torch.as_tensor(alias, dtype=dtype,
                                                device=device)

    def _fold_numpy(self, spec):
        k = self.upsample
        fy, fx = self.fine_shape
        return spec.reshape(spec.shape[0], k, fy // k, k, fx // k).sum(
            axis=(1, 3)) / k ** 2

    def _fold(self, spec):
        k = self.upsample
        fy, fx = self.fine_shape
        return spec.reshape(spec.shape[0], k, fy // k, k, fx // k).sum(
            dim=(1, 3)) / k ** 2

    def solve(self, rhs, alpha):
        """
        The solution ``x`` of ``(H^T H + alpha I) x = rhs``.

        Parameters
        ----------
        rhs : `torch.Tensor`
            ``(N, fy, fx)`` on the fine grid.
        alpha : `torch.Tensor`
            ``(N,)`` positive weights.

        Returns
        -------
        x : `torch.Tensor`
            ``(N, fy, fx)``, real.
        """
        if rhs.ndim != 3 or tuple(rhs.shape[-2:]) != self.fine_shape:
            msg = (f'rhs must have shape (N, {self.fine_shape[0]}, '
                   f'{self.fine_shape[1]}), got {tuple(rhs.shape)}')
            raise ValueError(msg)
        alpha = alpha.reshape(-1, 1, 1).to(self.dtype)
        rhs = rhs.to(self.dtype)
        if self.upsample == 1:
            spec = torch.fft.rfft2(rhs) / (self._power + alpha)
            return torch.fft.irfft2(spec, s=self.fine_shape)
        k = self.upsample
        spec = torch.fft.fft2(rhs)
        coarse = self._fold(self._gain * spec) / (self._alias_power + alpha)
        spec = (spec - torch.conj(self._gain) * coarse.repeat(1, k, k)) \
            / alpha
        return torch.fft.ifft2(spec).real
