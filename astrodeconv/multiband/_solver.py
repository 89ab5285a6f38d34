# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Array-only kernels of the joint multi-band deconvolution.

Shapes: ``N`` objects, ``B`` narrow bands observed on a coarse grid
``(ny, nx)``, and one broad band (e.g. Euclid VIS) observed on the fine
grid ``(fy, fx) = (k ny, k nx)`` on which the unknowns live. Every
convolution is done in Fourier space on one padded fine grid: with
``pad = p`` coarse pixels the images are zero outside the observed area, so
the convolutions are linear (not circular) once ``p k`` is at least half
the PSF size.

The loss of band ``b`` is that of the seed (Akhaury et al. 2025)::

    L_b(x_b) = 1/2 ||W_b^(1/2) (H_b x_b - y_b)||^2
               + lam_b ||W_V^(1/2) (H_V sum_c w_c x_c - y_V)||^2

with ``W`` the inverse variances, ``w`` the SED weights and ``H_b`` the
forward model of `astrodeconv.operators.ForwardModel`. All bands are
updated at once (a Jacobi step), each with its own step ``1 / L_b``; the
broad-band term couples the bands (its Hessian has the blocks ``2 lam
w_b w_c H_V^T H_V``), so ``L_b`` bounds the whole row of blocks of band
``b``, ``2 lam_b w_b (sum_c w_c) ||H_V^T H_V||``, not the diagonal block
alone (with the diagonal block alone the simultaneous steps overshoot and
the iterations drift once the constraint dominates). Momentum is FISTA's,
with the adaptive restart of O'Donoghue & Candes (2015), per object.

Two array back ends share the code: numpy (scipy.fft) and torch (for GPUs);
`_Ops` hides the few operations that differ.
"""

import numpy as np
from scipy import fft as sp_fft

from ..operators import ForwardModel
from ..operators import fourier as F

__all__ = []


class _NumpyOps:
    """numpy back end (scipy.fft with a fixed number of threads)."""

    name = 'numpy'

    def __init__(self, workers=None):
        self.workers = F.fft_workers() if workers is None else workers

    def asarray(self, array):
        array = np.asarray(array)
        return array if np.iscomplexobj(array) else array.astype(
            float, copy=False)

    def to_numpy(self, array):
        return np.asarray(array)

    def rfft2(self, x):
        return sp_fft.rfft2(x, workers=self.workers)

    def irfft2(self, spec, shape):
        return sp_fft.irfft2(spec, s=shape, workers=self.workers,
                             overwrite_x=True)

    def conj(self, spec):
        return np.conj(spec)

    def pad(self, x, width):
        if width == 0:
            return x
        ny, nx = x.shape[-2:]
        out = np.zeros(x.shape[:-2] + (ny + 2 * width, nx + 2 * width))
        out[..., width:width + ny, width:width + nx] = x
        return out

    def repeat(self, x, k):
        return x.repeat(k, axis=-2).repeat(k, axis=-1)

    def zeros(self, shape):
        return np.zeros(shape)

    def clamp_min(self, x, value):
        return np.maximum(x, value)

    def sqrt(self, x):
        return np.sqrt(x)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def copy(self, x):
        return x.copy()

    def amax(self, x, axes):
        return x.max(axis=axes)


class _TorchOps:
    """torch back end (by default float64 on the CPU, float32 on a GPU)."""

    name = 'torch'

    def __init__(self, device, dtype=None):
        import torch

        self.torch = torch
        self.device = device
        if dtype is None:
            dtype = 'float64' if device.type == 'cpu' else 'float32'
        self.dtype = getattr(torch, dtype)

    def asarray(self, array):
        if isinstance(array, self.torch.Tensor):
            return array.to(self.device)
        array = np.array(array)     # a writable copy (torch shares memory)
        if np.iscomplexobj(array):
            cdtype = (self.torch.complex128 if self.dtype
                      == self.torch.float64 else self.torch.complex64)
            return self.torch.as_tensor(array, dtype=cdtype,
                                        device=self.device)
        return self.torch.as_tensor(array, dtype=self.dtype,
                                    device=self.device)

    def to_numpy(self, array):
        return array.detach().cpu().numpy().astype(float)

    def rfft2(self, x):
        return self.torch.fft.rfft2(x)

    def irfft2(self, spec, shape):
        return self.torch.fft.irfft2(spec, s=shape)

    def conj(self, spec):
        return self.torch.conj(spec).resolve_conj()

    def pad(self, x, width):
        if width == 0:
            return x
        return self.torch.nn.functional.pad(x, (width,) * 4)

    def repeat(self, x, k):
        return x.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device)

    def clamp_min(self, x, value):
        return self.torch.clamp_min(x, value)

    def sqrt(self, x):
        return self.torch.sqrt(x)

    def where(self, cond, a, b):
        return self.torch.where(cond, a, b)

    def copy(self, x):
        return x.clone()

    def amax(self, x, axes):
        return self.torch.amax(x, dim=axes)


#: Problems with fewer padded pixels than this run their FFTs on one thread
#: (on 128 x 128 grids, threads cost more than they save).
SMALL_PROBLEM = 2 ** 18


def make_ops(device=None, size=None, dtype=None):
    """
    numpy operations for ``device=None``, else torch on ``device``.

    ``size``: number of pixels transformed at a time, which sets the number
    of FFT threads of the numpy back end. ``dtype``: ``'float32'`` or
    ``'float64'`` for torch (numpy computes in float64).
    """
    if device is not None:
        return _TorchOps(device, dtype)
    small = size is not None and size < SMALL_PROBLEM
    return _NumpyOps(workers=1 if small else None)


def _crop(x, width):
    if width == 0:
        return x
    return x[..., width:-width, width:-width]


class _Padded:
    """
    Zero-padded work arrays that are reused from one iteration to the
    next: only their interior is written, their border stays zero.
    """

    def __init__(self, ops):
        self.ops = ops
        self.buffers = {}

    def _buffer(self, key, shape):
        buffer = self.buffers.get(key)
        if buffer is None or tuple(buffer.shape) != tuple(shape):
            buffer = self.ops.zeros(tuple(shape))
            self.buffers[key] = buffer
        return buffer

    def pad(self, key, x, width):
        """``x`` with ``width`` zeros on every side (``ops.pad``)."""
        if width == 0:
            return x
        ny, nx = x.shape[-2:]
        out = self._buffer(key, tuple(x.shape[:-2])
                           + (ny + 2 * width, nx + 2 * width))
        out[..., width:width + ny, width:width + nx] = x
        return out

    def pad_repeat(self, key, x, width, k):
        """``ops.repeat(ops.pad(x, width), k)`` in one copy."""
        if k == 1:
            return self.pad(key, x, width)
        ny, nx = x.shape[-2:]
        lead = tuple(x.shape[:-2])
        gy, gx = ny + 2 * width, nx + 2 * width
        out = self._buffer(key, lead + (gy * k, gx * k))
        blocks = out.reshape(lead + (gy, k, gx, k))
        blocks[..., width:width + ny, :, width:width + nx, :] = \
            x[..., :, None, :, None]
        return out


def _block_sum(x, k):
    """Sum of ``k x k`` blocks, as ``k**2`` strided slices (fast)."""
    if k == 1:
        return x
    out = x[..., ::k, ::k]
    for i in range(k):
        for j in range(k):
            if i or j:
                out = out + x[..., i::k, j::k]
    return out


class JointOperators:
    """
    The per-band forward operators ``H_b`` and the broad-band ``H_V``.

    Parameters
    ----------
    band_psfs : ndarray
        ``(B, py, px)`` (the same PSFs for every object) or
        ``(N, B, py, px)``: the narrow-band PSFs on the fine grid.
    broad_psf : ndarray
        ``(py, px)`` or ``(N, py, px)``: the broad-band PSF on the fine grid.
    shape : tuple of int
        The coarse grid ``(ny, nx)``.
    upsample : int
        The grid ratio ``k``.
    pad : int
        Zero padding in coarse pixels (0: periodic boundaries).
    ops : object
        The array back end (`make_ops`).
    """

    def __init__(self, band_psfs, broad_psf, shape, upsample, pad, ops):
        self.shape = tuple(shape)
        self.k = int(upsample)
        self.pad = int(pad)
        self.ops = ops
        k, p = self.k, self.pad
        self.fine_shape = (shape[0] * k, shape[1] * k)
        band_psfs = np.asarray(band_psfs, dtype=float)
        n_bands = band_psfs.shape[-3]
        flat = band_psfs.reshape((-1,) + band_psfs.shape[-2:])
        band_model = ForwardModel(flat, self.shape, upsample=k,
                                  pad_width=p)
        broad_psf = np.asarray(broad_psf, dtype=float)
        broad_model = ForwardModel(broad_psf, self.fine_shape, upsample=1,
                                   pad_width=p * k)
        self.grid_shape = band_model.grid_fine_shape
        otf = band_model.transfer()
        self.band_otf = ops.asarray(otf.reshape(
            band_psfs.shape[:-2] + otf.shape[-2:]))
        self.band_otf_conj = ops.conj(self.band_otf)
        otf_v = broad_model.transfer()
        if broad_psf.ndim == 2:
            otf_v = otf_v[0]
        self.broad_otf = ops.asarray(otf_v)
        self.broad_otf_conj = ops.conj(self.broad_otf)
        # ||H^T H|| of every band (largest over objects) and of H_V
        lips = np.array([band_model.select(slice(i, i + 1)).lipschitz()
                         for i in range(flat.shape[0])])
        self.band_lipschitz = lips.reshape(band_psfs.shape[:-2])
        self.broad_lipschitz = broad_model.lipschitz()
        self.n_bands = n_bands
        self.padded = _Padded(ops)

    def subset(self, index):
        """The operators of some objects (``index`` into the batch)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.padded = _Padded(self.ops)
        if self.band_otf.ndim == 4:
            new.band_otf = self.band_otf[index]
            new.band_otf_conj = self.band_otf_conj[index]
        if self.broad_otf.ndim == 3:
            new.broad_otf = self.broad_otf[index]
            new.broad_otf_conj = self.broad_otf_conj[index]
        return new

    def predict(self, x, sed):
        """
        ``H_b x_b`` for every band and ``H_V sum_b w_b x_b``, sharing the
        spectra of ``x`` when the SED weights are scalars.
        """
        ops, k, p = self.ops, self.k, self.pad
        if sed.shape[-1] != 1:
            return self.band_forward(x), self.broad_forward((sed * x).sum(1))
        spec = ops.rfft2(self.padded.pad('x', x, p * k))
        bands = ops.irfft2(spec * self.band_otf, self.grid_shape)
        bands = _block_sum(_crop(bands, p * k), k)
        combined = (spec * sed).sum(1) * self.broad_otf
        broad = _crop(ops.irfft2(combined, self.grid_shape), p * k)
        return bands, broad

    def predict_broad(self, x, sed):
        """``H_V sum_b w_b x_b`` alone (the second output of `predict`)."""
        ops, k, p = self.ops, self.k, self.pad
        if sed.shape[-1] != 1:
            return self.broad_forward((sed * x).sum(1))
        spec = ops.rfft2(self.padded.pad('x', x, p * k))
        combined = (spec * sed).sum(1) * self.broad_otf
        return _crop(ops.irfft2(combined, self.grid_shape), p * k)

    def gradient(self, band_weighted, broad_weighted, coefficient):
        """
        ``H_b^T band_weighted_b + coefficient_b H_V^T broad_weighted``.

        ``coefficient`` is ``(N, B, 1, 1)`` or ``(N, B, fy, fx)``: a
        per-pixel coefficient multiplies after the adjoint.
        """
        ops, k, p = self.ops, self.k, self.pad
        fine = self.padded.pad_repeat('band', band_weighted, p, k)
        spec = ops.rfft2(fine) * self.band_otf_conj
        broad_spec = ops.rfft2(self.padded.pad('broad', broad_weighted,
                                               p * k)) * self.broad_otf_conj
        if coefficient.shape[-1] == 1:
            spec = spec + coefficient * broad_spec[:, None]
            return _crop(ops.irfft2(spec, self.grid_shape), p * k)
        grad = _crop(ops.irfft2(spec, self.grid_shape), p * k)
        broad_grad = _crop(ops.irfft2(broad_spec, self.grid_shape), p * k)
        return grad + coefficient * broad_grad[:, None]

    def _convolve(self, x, otf):
        spec = self.ops.rfft2(x) * otf
        return self.ops.irfft2(spec, self.grid_shape)

    def band_forward(self, x):
        """``(N, B, fy, fx)`` fine images to ``(N, B, ny, nx)``."""
        k, p = self.k, self.pad
        conv = self._convolve(self.ops.pad(x, p * k), self.band_otf)
        return _block_sum(_crop(conv, p * k), k)

    def band_adjoint(self, r):
        """``(N, B, ny, nx)`` coarse residuals to fine images."""
        k, p = self.k, self.pad
        fine = self.ops.repeat(self.ops.pad(r, p), k)
        return _crop(self._convolve(fine, self.band_otf_conj), p * k)

    def broad_forward(self, s):
        """``(N, fy, fx)`` fine images to the broad-band grid."""
        width = self.pad * self.k
        return _crop(self._convolve(self.ops.pad(s, width), self.broad_otf),
                     width)

    def broad_adjoint(self, r):
        """Adjoint of `broad_forward`."""
        width = self.pad * self.k
        return _crop(self._convolve(self.ops.pad(r, width),
                                    self.broad_otf_conj), width)


#: The broad-band chi-square of the returned images is computed (one more
#: forward model) only once that of the gradient point is within this
#: factor of the stopping threshold.
STOP_GATE = 1.5

#: Largest number of Newton steps of the flux projection (`project_flux`);
#: the function is piecewise linear and each iteration starts from the
#: previous one's root, so one or two steps usually reach it to rounding.
FLUX_NEWTON = 8


class JointHistory:
    """What happened at each iteration (per object)."""

    def __init__(self):
        self.data_chi2 = []        # (N, B) weighted data term, x 2
        self.broad_chi2 = []       # (N,) weighted broad-band term
        self.constraint_weight = []  # (N, B) lam_b
        self.change = []           # (N,) relative change of x
        self.restarts = []         # (N,) bool
        self.stop_chi2 = []        # (N,) broad chi2 of x when checked

    def record(self, n_obj, index, *, data, chi2, lam, change, restart,
               checked):
        """Store one iteration of the objects ``index`` (NaN elsewhere)."""
        def full(values, dtype=float):
            shape = (n_obj,) + np.shape(values)[1:]
            array = np.full(shape, np.nan if dtype is float else False,
                            dtype=dtype)
            array[index] = values
            return array

        self.data_chi2.append(full(data))
        self.broad_chi2.append(full(chi2))
        self.constraint_weight.append(full(lam))
        self.change.append(full(change))
        self.restarts.append(full(restart, bool))
        self.stop_chi2.append(full(checked))

    def as_arrays(self):
        """The history as arrays with the iteration on the last axis."""
        return {name: np.moveaxis(np.array(values), 0, -1)
                for name, values in vars(self).items() if values}


def project_flux(ops, v, weight, flux, positivity, *, tolerance=None,
                 mu=None, n_newton=FLUX_NEWTON, weight_sq=None):
    """
    Project images onto ``{x : sum(weight * x) = flux}`` (and ``x >= 0``),
    or onto the slab ``|sum(weight * x) - flux| <= tolerance``.

    The projection is ``x = max(v - mu * weight, 0)`` (without the max
    when ``positivity`` is False) with the scalar ``mu`` of each image
    found by Newton's method on the piecewise linear, decreasing function
    ``sum(weight * x(mu))``; with positivity it is a soft threshold that
    takes the flux gained from clipped noise back out of the faint pixels.

    Parameters
    ----------
    ops : the array back end
    v, weight : array
        ``(n, B, fy, fx)``.
    flux : ndarray
        ``(n, B)``; images whose ``flux`` is not positive become 0.
    positivity : bool
    tolerance : ndarray, optional
        ``(n, B)``, the half-width of the slab.
    mu : ndarray, optional
        ``(n, B)`` starting values (the previous iteration's: ``mu``
        changes little from one iteration to the next).
    n_newton : int
        Largest number of Newton steps; they stop once the flux is right
        to 1e-10 relative.
    weight_sq : array, optional
        ``weight * weight``, when the caller keeps it from one call to
        the next.

    Returns
    -------
    x : array
    mu : ndarray
        ``(n, B)``.
    """
    tiny = np.finfo(float).tiny
    target = np.asarray(flux, dtype=float)
    if weight_sq is None:
        weight_sq = weight * weight
    if tolerance is not None:
        # the slab: the flux of max(v, 0) (or v) moved to the nearest side
        start = ops.clamp_min(v, 0.0) if positivity else v
        held = ops.to_numpy((weight * start).sum(-1).sum(-1))
        target = np.clip(held, target - tolerance, target + tolerance)
    if not positivity:
        norm = ops.to_numpy(weight_sq.sum(-1).sum(-1))
        excess = ops.to_numpy((weight * v).sum(-1).sum(-1)) - target
        mu = excess / np.maximum(norm, tiny)
        return v - ops.asarray(mu[..., None, None]) * weight, mu
    mu = np.zeros(target.shape) if mu is None else np.array(mu)
    scale = np.maximum(np.abs(target), tiny)
    converged = False
    for _ in range(n_newton):
        x = ops.clamp_min(v - ops.asarray(mu[..., None, None]) * weight, 0.0)
        excess = ops.to_numpy((weight * x).sum(-1).sum(-1)) - target
        if np.all(np.abs(excess) <= 1e-10 * scale):
            converged = True
            break
        slope = ops.to_numpy(((x > 0) * weight_sq).sum(-1).sum(-1))
        mu = mu + excess / np.maximum(slope, tiny)
    if not converged:
        # x belongs to the mu before the last step
        x = ops.clamp_min(v - ops.asarray(mu[..., None, None]) * weight,
                          0.0)
    mu = np.where(target > 0, mu, 0.0)
    if not np.any(target <= 0):
        return x, mu
    empty = ops.asarray((target <= 0)[..., None, None].astype(float)) > 0
    return ops.where(empty, 0.0 * x, x), mu


class _Batch:
    """The per-object arrays of the objects still iterating."""

    def __init__(self, ops, arrays, n_obj):
        self.ops = ops
        self.n_obj = n_obj
        self.arrays = arrays

    def subset(self, keep):
        index = np.flatnonzero(keep)
        for name, array in self.arrays.items():
            if array is not None and array.shape[0] == self.n_obj:
                if isinstance(array, np.ndarray):
                    self.arrays[name] = array[index]
                else:
                    self.arrays[name] = array[self.ops.asarray(index).long()]
        self.n_obj = len(index)

    def __getattr__(self, name):
        try:
            return self.__dict__['arrays'][name]
        except KeyError:
            raise AttributeError(name) from None


def _per_object_max(ops, array, n_obj, shape):
    """Largest value over the image axes, broadcast to ``shape``."""
    values = ops.to_numpy(ops.amax(array, (-2, -1)))
    return np.array(np.broadcast_to(values, shape))


def solve_joint(operators, y, inv_var, broad, broad_inv_var, sed, x0, *,
                n_iter, constraint_fraction=0.3, constraint_weight=None,
                accelerate=True, positivity=True, tol=0.0, stop_chi2=None,
                flux=None, progress=None):
    """
    Minimise the seed's per-band losses jointly.

    Objects that meet a stopping rule leave the computation (the arrays of
    the others are compacted), so a batch costs what its objects cost one
    at a time, less the per-call work.

    Parameters
    ----------
    operators : JointOperators
    y : array
        ``(N, B, ny, nx)`` narrow-band data.
    inv_var : array
        ``(N, B, ny, nx)`` inverse variances (0 for masked pixels).
    broad : array
        ``(N, fy, fx)`` broad-band data.
    broad_inv_var : array
        ``(N, fy, fx)`` inverse variance.
    sed : array
        SED weights ``(N or 1, B, 1, 1)`` or per-pixel ``(N or 1, B, fy,
        fx)``.
    x0 : array
        ``(N, B, fy, fx)`` starting point.
    n_iter : int
        Largest number of iterations.
    constraint_fraction : float
        The balancing rule: ``lam_b = k**2 * fraction * D_b / C`` with
        ``D_b`` the band's data term and ``C`` the broad-band term, both
        recomputed at every iteration.
    constraint_weight : float, optional
        A fixed ``lam`` for every band instead of the rule.
    accelerate : bool
        FISTA momentum with adaptive restart (else projected gradient).
    positivity : bool
        Project onto ``x >= 0``.
    tol : float
        Stop an object once the relative change of its images falls below
        ``tol``.
    stop_chi2 : array, optional
        ``(N,)``: stop an object once the chi-square of its broad band,
        divided by the number of broad-band pixels, falls to this value.
    flux : tuple of array, optional
        ``(weight, total, tolerance)``: keep ``sum(weight * x_b)`` within
        ``tolerance_b`` of ``total_b`` for every band (`project_flux`),
        with ``weight`` ``(N, B, fy, fx)``, ``total`` and ``tolerance``
        ``(N, B)`` (``tolerance`` None: equal).
    progress : callable, optional
        Called with the number of iterations done after each iteration.

    Returns
    -------
    x : ndarray
        ``(N, B, fy, fx)`` solution (numpy).
    n_done : ndarray
        Iterations run per object.
    history : JointHistory
        Per iteration, arrays over all ``N`` objects (NaN for the objects
        that had stopped).
    """
    ops = operators.ops
    k = operators.k
    n_obj, n_bands = y.shape[:2]
    tiny = np.finfo(float).tiny
    n_broad = float(np.prod(broad.shape[-2:]))
    batch = _Batch(ops, {
        'y': y, 'inv_var': inv_var, 'broad': broad,
        'broad_inv_var': broad_inv_var, 'sed': sed,
        'x': ops.copy(x0), 'z': ops.copy(x0), 't': np.ones(n_obj),
        'band_lip': np.array(np.broadcast_to(operators.band_lipschitz,
                                             (n_obj, n_bands))),
        'inv_var_max': _per_object_max(ops, inv_var, n_obj,
                                       (n_obj, n_bands)),
        'broad_max': _per_object_max(ops, broad_inv_var, n_obj, (n_obj,)),
        'sed_max': _per_object_max(ops, sed, n_obj, (n_obj, n_bands)),
        'stop': (np.full(n_obj, np.inf) if stop_chi2 is None
                 else np.asarray(stop_chi2, dtype=float)),
        'index': np.arange(n_obj),
        'flux_weight': None if flux is None else flux[0],
        'flux_weight_sq': None if flux is None else flux[0] * flux[0],
        'flux_total': None if flux is None else np.asarray(flux[1]),
        'flux_tolerance': (None if flux is None or flux[2] is None
                           else np.asarray(flux[2])),
        'flux_mu': np.zeros((n_obj, n_bands))},
        n_obj)
    out = np.zeros(tuple(x0.shape))
    n_done = np.zeros(n_obj, dtype=int)
    history = JointHistory()
    for iteration in range(1, n_iter + 1):
        b = batch
        index = b.index
        predicted, broad_predicted = operators.predict(b.z, b.sed)
        resid = predicted - b.y
        weighted = resid * b.inv_var
        data = ops.to_numpy((weighted * resid).sum(-1).sum(-1))  # (n, B)
        broad_resid = broad_predicted - b.broad
        broad_weighted = broad_resid * b.broad_inv_var
        chi2 = ops.to_numpy((broad_weighted * broad_resid).sum(-1).sum(-1))
        if constraint_weight is None:
            lam = (k ** 2 * constraint_fraction * 0.5 * data
                   / np.maximum(chi2, tiny)[:, None])

        else:
            lam = np.full(data.shape, float(constraint_weight))
        coefficient = 2 * ops.asarray(lam[:, :, None, None]) * b.sed
        grad = operators.gradient(weighted, broad_weighted, coefficient)
        lipschitz = (b.band_lip * b.inv_var_max
                     + 2 * lam * b.sed_max * b.sed_max.sum(1, keepdims=True)
                     * operators.broad_lipschitz
                     * b.broad_max[:, None])
        step = ops.asarray(1.0 / np.maximum(lipschitz, tiny)[:, :, None,
                                                             None])
        x_new = b.z - step * grad
        if flux is not None:
            x_new, b.arrays['flux_mu'] = project_flux(
                ops, x_new, b.flux_weight, b.flux_total, positivity,
                tolerance=b.flux_tolerance, mu=b.flux_mu,
                weight_sq=b.flux_weight_sq)
        elif positivity:
            x_new = ops.clamp_min(x_new, 0.0)
        delta = x_new - b.x
        norm_new = ops.to_numpy(ops.sqrt((x_new * x_new).sum(-1).sum(-1)
                                         .sum(-1)))
        change = (ops.to_numpy(ops.sqrt((delta * delta).sum(-1).sum(-1)
                                        .sum(-1)))
                  / np.maximum(norm_new, tiny))
        restart = np.zeros(len(index), dtype=bool)
        if accelerate:
            t_new = (1 + np.sqrt(1 + 4 * b.t * b.t)) / 2
            restart = ops.to_numpy(((b.z - x_new) * delta).sum(-1).sum(-1)
                                   .sum(-1)) > 0
            momentum = np.where(restart, 0.0, (b.t - 1) / t_new)
            b.arrays['t'] = np.where(restart, 1.0, t_new)
            z_new = x_new + ops.asarray(momentum[:, None, None, None]) * delta
        else:
            z_new = x_new
        b.arrays['x'], b.arrays['z'] = x_new, z_new
        n_done[index] = iteration
        checked = np.full(len(index), np.nan)
        done = change < tol
        near = np.isfinite(b.stop) & (chi2 / n_broad
                                      <= STOP_GATE * b.stop)
        if near.any():
            # the rule applies to the returned images x, not to the point
            # z where the gradient was taken: check x once z is close
            rows = np.flatnonzero(near)
            pick = ops.asarray(rows).long() if ops.name == 'torch' else rows
            sed_rows = b.sed[pick] if b.sed.shape[0] == len(index) else b.sed
            fitted = operators.subset(pick).predict_broad(x_new[pick],
                                                          sed_rows)
            misfit = fitted - b.broad[pick]
            chi2_x = ops.to_numpy((misfit * misfit * b.broad_inv_var[pick])
                                  .sum(-1).sum(-1))
            checked[rows] = chi2_x
            done[rows] |= chi2_x / n_broad <= b.stop[rows]
        history.record(n_obj, index, data=data, chi2=chi2, lam=lam,
                       change=change, restart=restart, checked=checked)
        if progress is not None:
            progress(iteration)
        if done.any() or iteration == n_iter:
            finished = done if iteration < n_iter else np.ones_like(done)
            out[index[finished]] = ops.to_numpy(x_new[
                ops.asarray(np.flatnonzero(finished)).long()
                if ops.name == 'torch' else np.flatnonzero(finished)])
            if finished.all():
                break
            keep = ~finished
            if ops.name == 'torch':
                operators = operators.subset(
                    ops.asarray(np.flatnonzero(keep)).long())
            else:
                operators = operators.subset(np.flatnonzero(keep))
            batch.subset(keep)
    return out, n_done, history
