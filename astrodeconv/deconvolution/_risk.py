# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Data-driven choice of a regularisation weight: SURE and GCV risks.

For a linear estimate whose prediction ``A y`` (``A = D H W U``, the data
predicted from the deconvolved image) is a circulant operator on the
observation grid, both risks are closed-form sums over Fourier modes:

* SURE (Stein's unbiased risk estimate of the prediction error, noise
  known): ``||y - A y||^2 - sum(sigma^2) + 2 tr(A) mean(sigma^2)``;
* GCV (generalised cross-validation, noise unknown):
  ``n ||y - A y||^2 / (n - tr(A))^2``.
"""

import numpy as np

from ..operators import fourier as F

__all__ = []

#: Log-spaced grid of candidate weights (5 per decade).
LAMBDA_GRID = np.logspace(-7, 2, 46)


def _parabolic_refine(log_grid, risks, best):
    """Vertex of the parabola through the minimum and its neighbours."""
    refined = log_grid[best].astype(float)
    inner = (best > 0) & (best < len(log_grid) - 1)
    idx = np.nonzero(inner)[0]
    if idx.size:
        b = best[idx]
        r0, r1, r2 = (risks[b - 1, idx], risks[b, idx], risks[b + 1, idx])
        h = log_grid[1] - log_grid[0]
        denom = r0 - 2 * r1 + r2
        ok = denom > 0
        shift = np.where(ok, 0.5 * h * (r0 - r2) / np.where(ok, denom, 1),
                         0.0)
        refined[idx] = log_grid[b] + np.clip(shift, -h, h)
    return 10 ** refined


def select_lambda(transfer_for, y, noise_var, *, criterion, model,
                  grid=LAMBDA_GRID):
    """
    Pick one weight per image by minimising SURE or GCV over ``grid``.

    Parameters
    ----------
    transfer_for : callable
        ``transfer_for(lam)`` returns the fine-grid transfer function of
        ``H W_lam B`` (shape ``(N or 1, fy, fx//2+1)``).
    y : ndarray
        Observed (filled, padded) images ``(N, ny, nx)``.
    noise_var : ndarray
        Per-pixel noise variance ``(N, ny, nx)`` (SURE only).
    criterion : {'sure', 'gcv'}
    model : `~astrodeconv.operators.ForwardModel`
        The forward model of ``y`` (its grid and upsampling factor).
    """
    n, ny, nx = y.shape
    npix = ny * nx
    weights = F.half_spectrum_weights((ny, nx))
    power = np.abs(F.rfft2(y)) ** 2 * weights
    if criterion == 'sure':
        total_var = noise_var.reshape(n, -1).sum(axis=1)
    risks = np.empty((len(grid), n))
    for i, lam in enumerate(grid):
        a = model.coarse_transfer(transfer_for(lam))
        resid = (np.abs(1 - a) ** 2 * power).sum(axis=(-2, -1)) / npix
        trace = (a.real * weights).sum(axis=(-2, -1))
        if criterion == 'sure':
            risks[i] = resid - total_var + 2 * trace / npix * total_var
        else:
            risks[i] = npix * resid / np.maximum(npix - trace, 1e-12) ** 2
    best = np.argmin(risks, axis=0)
    return _parabolic_refine(np.log10(grid), risks, best)
