# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Richardson-Lucy deconvolution, flux-conserving and mask-aware."""

import numbers

import numpy as np

from ..utils._validation import check_positive_int, check_real
from ..utils._deprecation import renamed_keyword
from ..operators import ForwardModel
from .core import DeconvolverBase

__all__ = ['RichardsonLucyDeconvolver']


class RichardsonLucyDeconvolver(DeconvolverBase):
    r"""
    Richardson-Lucy deconvolution.

    The multiplicative update

    .. math::

        x \leftarrow x \cdot \frac{A^T (m\, y' / A x)}{A^T m},
        \qquad A = D\,H,

    (``m`` the good-pixel weights, ``D`` the block sum onto the observed
    grid when super-resolving) keeps the estimate positive and conserves
    the total flux exactly at every iteration when no pixel is masked;
    masked pixels do not enter the likelihood.

    Richardson-Lucy needs positive data. Background-subtracted images have
    negative noise pixels, so the data are never clipped: a constant
    pedestal ``c`` is added, ``y' = y + c``, the algorithm restores
    ``x' = x + c`` (a constant is unchanged by a normalised PSF) and ``c``
    is subtracted from the result. ``offset='auto'`` uses
    ``c = max(0, -min(y)) + sigma`` with ``sigma`` the noise estimated from
    the data; the value used is in ``results.params['offset']``.

    Parameters
    ----------
    n_iter : int, optional
        Number of iterations (the regularisation of the method: more
        iterations sharpen and amplify noise).
    offset : float or 'auto', optional
        Pedestal added before iterating, in data units.
    upsample : int, optional
        Super-resolution factor (PSF given on the fine grid).
    progress : bool, optional
        Show a tqdm progress bar over iterations.
    recenter : bool, optional
        Use the PSF as given (False, default: it keeps the registration
        its centroid offset carries) or recentre it on its centroid, see
        `~astrodeconv.deconvolution.DeconvolverBase`.

    Notes
    -----
    The method is non-linear: no uncertainty is propagated and a warning
    is emitted when the input carries one.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.deconvolution import RichardsonLucyDeconvolver
    >>> from astrodeconv.psf import make_gaussian_psf
    >>> psf = make_gaussian_psf(3.0, shape=(15, 15))
    >>> data = np.random.default_rng(2).normal(1.0, 0.05, (32, 32))
    >>> out = RichardsonLucyDeconvolver(n_iter=20)(data, psf=psf)
    >>> bool(np.isclose(out.sum(), data.sum()))
    True
    """

    _repr_params = ('n_iter', 'offset', 'upsample')
    _linear = False

    @renamed_keyword('progress_bar', 'progress', since='0.1')
    def __init__(self, *, n_iter=30, offset='auto', upsample=1,
                 progress=False, recenter=False):
        super().__init__(upsample=upsample, recenter=recenter)
        self.n_iter = check_positive_int(n_iter, 'n_iter')
        if isinstance(offset, str):
            if offset != 'auto':
                msg = f"offset must be a number >= 0 or 'auto', got {offset!r}"
                raise ValueError(msg)
        elif isinstance(offset, numbers.Real) and not isinstance(
                offset, bool):
            offset = check_real(offset, 'offset', minimum=0)
        else:
            msg = f"offset must be a number >= 0 or 'auto', got {offset!r}"
            raise TypeError(msg)
        self.offset = offset
        self.progress = bool(progress)

    def _offsets(self, data, mask):
        if self.offset != 'auto':
            offsets = np.full(data.shape[0], self.offset)
        else:
            from ..wavelets import estimate_noise

            sigma = np.atleast_1d(estimate_noise(data, mask=mask))
            lowest = np.where(mask, np.inf, data).min(axis=(-2, -1))
            offsets = np.maximum(0.0, -lowest) + sigma
        shifted_min = np.where(mask, np.inf, data).min(axis=(-2, -1)) + \
            offsets
        if np.any(shifted_min < 0):
            msg = ('offset must make the data non-negative, got a minimum '
                   f'of {shifted_min.min():.4g} after adding it; use '
                   "offset='auto'")
            raise ValueError(msg)
        return offsets

    def _deconvolve_stack(self, data, psf, error, mask, diagnostics=True,
                          want_psf=True):
        from tqdm.auto import tqdm

        k = self.upsample
        n = data.shape[0]
        model = ForwardModel(psf, data.shape[-2:], upsample=k)
        forward, adjoint = model.forward, model.adjoint
        offsets = self._offsets(data, mask)
        y = data + offsets[:, None, None]
        good = (~mask).astype(float)
        norm = np.maximum(adjoint(good), 1e-12)
        x = np.clip(model.upsample_flux(y), 1e-12 * y.max(), None)
        tiny = 1e-12 * max(float(y.max()), 1e-300)
        for _ in tqdm(range(self.n_iter), disable=not self.progress,
                      desc='Richardson-Lucy', unit='it'):
            model = forward(x)
            ratio = np.divide(good * y, model, out=np.zeros_like(model),
                              where=model > tiny)
            x = x * adjoint(ratio) / norm
        x = x - (offsets / k ** 2)[:, None, None]
        residual = data - forward(x) if diagnostics else None
        return {'image': x, 'residual': residual, 'error': None,
                'effective_filter': None, 'effective_psf': None,
                'params': {'offset': offsets,
                           'n_iter': np.full(n, self.n_iter)}}

    def _provenance(self, params, index):
        return {'DCNVITER': int(params['n_iter']),
                'DCNVOFF': float(params['offset']),
                'DCNVUPS': self.upsample}
