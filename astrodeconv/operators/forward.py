# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The forward model ``y = H x + n`` shared by every method.

``H = D (h * .)``: circular convolution with the PSF ``h`` on the fine
(output) grid, then the block sum ``D`` of every ``k x k`` fine pixels onto
one observed pixel (``k = upsample``; ``D`` is the identity for ``k = 1``).
"""

import numbers

import numpy as np
from scipy import fft as sp_fft
from scipy.signal import fftconvolve

from ..psf.resolve import resolve_psf
from ..utils._repr import make_repr
from ..utils._validation import check_choice, check_positive_int
from . import fourier as F

__all__ = ['ForwardModel']

#: Target size in bytes of one chunk of images processed at a time (counted
#: at 8 bytes a pixel): the FFTs of scipy run fastest on a few images at a
#: time whose arrays and spectra stay in the processor's L2 cache (measured
#: on 128 x 128 images with 2 threads: 8 per chunk beat 2 and 32).
CHUNK_BYTES = 2 ** 20

_DTYPES = ('float64', 'float32')


def _check_shape(shape):
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(n, numbers.Integral)
                       and not isinstance(n, bool) for n in shape)):
        msg = ('shape must be a pair of integers (ny, nx) giving the '
               f'observed grid, got {shape!r}')
        raise TypeError(msg)
    if min(shape) < 1:
        msg = f'shape must hold positive integers, got {tuple(shape)}'
        raise ValueError(msg)
    return tuple(int(n) for n in shape)


def _check_psf(psf, upsample):
    """The PSF (stack) through the PSF door, as a convolution kernel."""
    kernel = resolve_psf(psf, upsample=upsample, normalize=False).array
    return kernel.astype(float).reshape((-1,) + kernel.shape[-2:])


def chunk_length(n_images, item_bytes, target=CHUNK_BYTES):
    """Number of images of ``item_bytes`` each to process at a time."""
    return int(max(1, min(n_images, target // max(item_bytes, 1))))


class ForwardModel:
    r"""
    The linear forward model ``H = D (h * .)`` and its adjoint.

    ``x`` lives on the fine (output) grid of shape ``(ny * k, nx * k)``,
    ``y`` on the observed grid ``(ny, nx)``; ``k = upsample``. The PSF is
    sampled on the fine grid and centred on pixel ``(py // 2, px // 2)``
    (the package convention).

    Parameters
    ----------
    psf : array_like
        One PSF ``(py, px)`` for every image, or a stack ``(N, py, px)``
        with one PSF per image of a stack of ``N`` images; anything
        `~astrodeconv.psf.resolve_psf` accepts. It is used as given (not
        normalised, ``normalize=False``); a PSF summing to 1 makes ``H``
        conserve flux.
    shape : tuple of int
        The observed grid ``(ny, nx)``.
    upsample : int, optional
        The super-resolution factor ``k``: the fine grid has ``k`` times
        more pixels along each axis, and ``D`` sums ``k x k`` fine pixels.
    pad_width : int, optional
        ``0`` (default): periodic boundaries, the convolution is circular
        on the grid itself. ``p > 0``: the operator acts on a grid padded
        by ``p`` observed pixels on every side; ``x`` is zero outside the
        image and the padded rows of ``H x`` are dropped, i.e. a linear
        (non-circular) convolution when ``p`` is at least half the PSF
        size in observed pixels.

    Notes
    -----
    Arrays may be single images or stacks ``(N, ., .)``; float32 input is
    processed in float32 (complex64 spectra), anything else in float64.
    The block sum satisfies ``D D^T = k^2 I``, so a PSF of unit sum gives
    ``H^T H`` a norm of at most ``k^2``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.operators import ForwardModel
    >>> from astrodeconv.psf import make_gaussian_psf
    >>> model = ForwardModel(make_gaussian_psf(6.0, shape=(25, 25)),
    ...                      (32, 32), upsample=2)
    >>> x = np.zeros((64, 64)); x[30, 30] = 1.0
    >>> y = model.forward(x)
    >>> y.shape, round(float(y.sum()), 6)
    ((32, 32), 1.0)
    >>> model.adjoint(y).shape
    (64, 64)
    """

    def __init__(self, psf, shape, *, upsample=1, pad_width=0):
        self.shape = _check_shape(shape)
        self.upsample = check_positive_int(upsample, 'upsample')
        self.pad_width = check_positive_int(pad_width, 'pad_width',
                                            minimum=0)
        self.psf = _check_psf(psf, self.upsample)
        k, p = self.upsample, self.pad_width
        self.grid_shape = (self.shape[0] + 2 * p, self.shape[1] + 2 * p)
        self.fine_shape = (self.shape[0] * k, self.shape[1] * k)
        self.grid_fine_shape = (self.grid_shape[0] * k,
                                self.grid_shape[1] * k)
        if (self.psf.shape[-2] > self.grid_fine_shape[0]
                or self.psf.shape[-1] > self.grid_fine_shape[1]):
            grid = 'upsampled image' if k > 1 else 'image'
            msg = (f'psf must not be larger than the {grid} '
                   f'{self.grid_fine_shape}, got shape '
                   f'{self.psf.shape[-2:]}; crop it with '
                   'astrodeconv.psf.crop_psf or pad the data')
            raise ValueError(msg)
        self._otf = {}

    def __repr__(self):
        return make_repr(self, ('shape', 'upsample', 'pad_width', 'n_psf'),
                         brackets=True)

    @property
    def n_psf(self):
        """Number of PSFs (1, or one per image of a stack)."""
        return self.psf.shape[0]

    # -- transfer functions ------------------------------------------------
    def transfer(self, dtype='float64'):
        """
        Transfer function of ``h`` on the (padded) fine grid.

        Returns
        -------
        otf : ndarray
            Complex, shape ``(n_psf, fy, fx // 2 + 1)`` in the layout of
            `scipy.fft.rfft2` (complex64 for ``dtype='float32'``). The
            array is cached: do not modify it.
        """
        dtype = check_choice(np.dtype(dtype).name, 'dtype', _DTYPES)
        if 'float64' not in self._otf:
            self._otf['float64'] = F.psf_to_otf(self.psf,
                                                self.grid_fine_shape)
        if dtype not in self._otf:
            self._otf[dtype] = self._otf['float64'].astype(np.complex64)
        return self._otf[dtype]

    def upsample_transfer(self):
        """
        Transfer function of the flux-conserving bilinear upsampling.

        ``U y = irfft2(upsample_transfer() * rfft2(Z y))`` with ``Z`` the
        zero insertion (coarse pixel ``i`` to fine pixel ``k i``); ``1.0``
        without super-resolution.
        """
        k = self.upsample
        if k == 1:
            return 1.0
        if 'upsample' not in self._otf:
            self._otf['upsample'] = F.upsample_otf(self.grid_fine_shape,
                                                   k) / k ** 2
        return self._otf['upsample']

    def select(self, index):
        """
        The model of a part of a stack (``index`` a slice of the images).

        With one PSF for every image the model itself is returned; with one
        PSF per image, a model holding the selected PSFs, sharing the
        transfer functions already computed.
        """
        if self.n_psf == 1:
            return self
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.psf = self.psf[index]
        new._otf = {key: (val[index] if key != 'upsample' else val)
                    for key, val in self._otf.items()}
        return new

    def lipschitz(self):
        """
        The norm ``||H^T H||`` (largest over a stack of PSFs).

        Exact for periodic boundaries; with padding it is the norm on the
        padded grid, an upper bound.
        """
        k = self.upsample
        power = np.abs(self.transfer()) ** 2
        if k == 1:
            return float(power.max())
        # H H^T is circulant on the coarse grid: its kernel is the kernel
        # of (box * h)(box * h)^T subsampled every k fine pixels.
        kernel = F.irfft2(power * np.abs(self._box_transfer()) ** 2,
                          self.grid_fine_shape)
        coarse = F.rfft2(kernel[..., ::k, ::k])
        return float(coarse.real.max())

    def lipschitz_bound(self):
        """Per-PSF upper bound ``k**2 max|h_hat|**2`` of ``||H^T H||``."""
        power = np.abs(self.transfer()) ** 2
        return power.max(axis=(-2, -1)) * self.upsample ** 2

    def _box_transfer(self):
        """Transfer function of the k x k box whose sum makes ``D``."""
        k = self.upsample
        fy, fx = self.grid_fine_shape
        box = np.zeros((fy, fx))
        box[:k, :k] = 1.0
        # only |transfer| is used, so the box's position does not matter
        return F.rfft2(box)

    def adjoint_noise_kernel(self, index=0):
        """
        Kernel giving the phase-averaged noise of ``H^T n`` for white ``n``.

        ``H^T n = flip(h) * (box_k * Z n)`` with ``Z`` the zero insertion.
        Its variance, averaged over the ``k x k`` sub-pixel phases, is that
        of white noise of std ``sigma / k`` filtered by ``box_k * flip(h)``,
        so the kernel for unit noise is ``box_k * flip(h) / k`` (exact for
        ``k = 1``).

        Parameters
        ----------
        index : int, optional
            Which PSF of a stack.

        Returns
        -------
        kernel : ndarray
            2D kernel, ``(py + k - 1, px + k - 1)``.
        """
        k = self.upsample
        kernel = self.psf[index, ::-1, ::-1]
        if k > 1:
            kernel = fftconvolve(kernel, np.ones((k, k)), mode='full') / k
        return kernel

    # -- the operator and its adjoint --------------------------------------
    def _as_stack(self, array, grid, name):
        array = np.asarray(array)
        if array.dtype.kind not in 'fiu' or array.ndim not in (2, 3):
            msg = (f'{name} must be a real 2D image or a 3D stack, got an '
                   f'array of dtype {array.dtype} with {array.ndim} '
                   'dimensions')
            raise ValueError(msg)
        if array.shape[-2:] != grid:
            msg = f'{name} must have shape {grid} (last two axes), got '
            msg += f'{array.shape[-2:]}'
            raise ValueError(msg)
        dtype = np.float32 if array.dtype == np.float32 else np.float64
        stack = array.astype(dtype, copy=False).reshape((-1,) + grid)
        if self.n_psf not in (1, stack.shape[0]):
            msg = (f'{name} must hold one image per PSF ({self.n_psf}), '
                   f'got {stack.shape[0]}')
            raise ValueError(msg)
        return stack, array.ndim == 2 and self.n_psf == 1

    def _pad(self, stack, width):
        if width == 0:
            return stack
        return np.pad(stack, ((0, 0), (width, width), (width, width)))

    def _crop(self, stack, width):
        if width == 0:
            return stack
        return stack[:, width:-width, width:-width]

    def _convolve(self, stack, conjugate=False):
        otf = self.transfer(stack.dtype.name)
        if conjugate:
            key = 'conj-' + stack.dtype.name
            if key not in self._otf:
                self._otf[key] = np.conj(otf)
            otf = self._otf[key]
        spec = F.rfft2(stack)
        spec *= otf
        return F.irfft2(spec, stack.shape[-2:], overwrite=True)

    def forward(self, x):
        """
        Apply ``H``: fine grid to observed grid.

        Parameters
        ----------
        x : ndarray
            Image ``(ny * k, nx * k)`` or stack ``(N, ny * k, nx * k)``.

        Returns
        -------
        y : ndarray
            ``D (h * x)``, shape ``(ny, nx)`` or ``(N, ny, nx)``.
        """
        stack, single = self._as_stack(x, self.fine_shape, 'x')
        k, p = self.upsample, self.pad_width
        out = self._crop(F.block_sum(self._convolve(self._pad(stack, p * k)),
                                     k), p)
        return out[0] if single else out

    def adjoint(self, y):
        """
        Apply ``H^T``: observed grid to fine grid.

        Parameters
        ----------
        y : ndarray
            Image ``(ny, nx)`` or stack ``(N, ny, nx)``.

        Returns
        -------
        x : ndarray
            ``h^T * D^T y`` (``D^T`` copies each observed pixel onto its
            ``k x k`` fine pixels), shape ``(ny * k, nx * k)`` or a stack.
        """
        stack, single = self._as_stack(y, self.shape, 'y')
        k, p = self.upsample, self.pad_width
        fine = self._pad(stack, p)
        if k > 1:
            fine = fine.repeat(k, axis=-2).repeat(k, axis=-1)
        out = self._crop(self._convolve(fine, conjugate=True), p * k)
        return out[0] if single else out

    def normal(self, x):
        """Apply ``H^T H``."""
        return self.adjoint(self.forward(x))

    def residual(self, y, x):
        """The data residual ``y - H x`` on the observed grid."""
        return np.asarray(y) - self.forward(x)

    def convolve(self, x):
        """
        Convolve fine-grid images with the PSF (no block sum).

        Circular on the grid for periodic boundaries.
        """
        stack, single = self._as_stack(x, self.fine_shape, 'x')
        p = self.pad_width * self.upsample
        out = self._crop(self._convolve(self._pad(stack, p)), p)
        return out[0] if single else out

    def solve_normal(self, rhs, alpha):
        """
        Solve ``(H^T H + alpha I) x = rhs`` exactly, in Fourier space.

        The data step of half-quadratic splitting and ADMM: with ``rhs =
        H^T y + alpha z`` the solution is the image closest to ``z`` that
        fits the data ``y``. With ``upsample = 1`` the system is diagonal
        in Fourier space; with ``upsample = k`` it is solved through the
        Woodbury identity, ``H H^T`` being circulant on the observed grid
        (its transfer function sums ``|g|**2`` over the ``k**2`` aliases
        of every coarse frequency, ``g`` the transfer function of the PSF
        followed by the ``k x k`` box), as in Zhao et al. (2016, IEEE TIP
        25, 3683). Periodic boundaries only (``pad_width = 0``).

        Parameters
        ----------
        rhs : ndarray
            Fine-grid image ``(ny * k, nx * k)`` or stack ``(N, ...)``.
        alpha : float or array_like
            Positive weight, one value or one per image of the stack.

        Returns
        -------
        x : ndarray
            The solution, shaped as ``rhs`` (float64).

        Examples
        --------
        >>> import numpy as np
        >>> from astrodeconv.operators import ForwardModel
        >>> from astrodeconv.psf import make_gaussian_psf
        >>> model = ForwardModel(make_gaussian_psf(4.0, shape=(15, 15)),
        ...                      (16, 16), upsample=2)
        >>> rhs = np.random.default_rng(0).normal(size=(32, 32))
        >>> x = model.solve_normal(rhs, 0.1)
        >>> bool(np.allclose(model.normal(x) + 0.1 * x, rhs))
        True
        """
        if self.pad_width:
            msg = ('solve_normal needs periodic boundaries (pad_width=0), '
                   f'got pad_width={self.pad_width}')
            raise ValueError(msg)
        stack, single = self._as_stack(rhs, self.fine_shape, 'rhs')
        alpha = np.asarray(alpha, dtype=float).reshape(-1)
        if alpha.size not in (1, len(stack)) or not np.all(
                np.isfinite(alpha)) or not np.all(alpha > 0):
            msg = (f'alpha must be a positive number or one per image '
                   f'({len(stack)}), got {alpha.tolist()}')
            raise ValueError(msg)
        alpha = alpha[:, None, None]
        k = self.upsample
        if k == 1:
            power = self._cached('power', lambda: np.abs(
                self.transfer()) ** 2)
            spec = F.rfft2(stack.astype(float, copy=False))
            spec /= power + alpha
            out = F.irfft2(spec, self.fine_shape, overwrite=True)
        else:
            gain = self._cached('box-otf', self._full_box_transfer)
            fy, fx = self.fine_shape
            my, mx = fy // k, fx // k

            def fold(spec):
                # sum over the k x k aliases of every coarse frequency
                return spec.reshape(spec.shape[0], k, my, k, mx).sum(
                    axis=(1, 3)) / k ** 2

            alias_power = self._cached(
                'alias-power', lambda: fold(np.abs(gain) ** 2))
            spec = sp_fft.fft2(stack, axes=(-2, -1), workers=F.fft_workers())
            coarse = fold(gain * spec) / (alias_power + alpha)
            spec -= np.conj(gain) * np.tile(coarse, (1, k, k))
            spec /= alpha
            out = sp_fft.ifft2(spec, axes=(-2, -1), overwrite_x=True,
                               workers=F.fft_workers()).real
        return out[0] if single else out

    def _cached(self, key, make):
        if key not in self._otf:
            self._otf[key] = make()
        return self._otf[key]

    def _full_box_transfer(self):
        """Full-spectrum transfer function of the PSF, then the block sum."""
        k = self.upsample
        fy, fx = self.fine_shape
        big = F.psf_on_origin(self.psf, self.fine_shape)
        box = np.zeros((fy, fx))
        box[:k, :k] = 1.0
        # the block sum adds fine pixels k i ... k i + k - 1: a correlation
        # with the box, whose transfer function is the conjugate
        return sp_fft.fft2(big, axes=(-2, -1)) * np.conj(sp_fft.fft2(box))

    # -- linear filters of the data ----------------------------------------
    def upsample_flux(self, y):
        """
        Flux-conserving bilinear upsampling of observed images by ``k``.

        Pixel centres are preserved (fine pixel centres at ``k i +
        (k - 1) / 2``) and the sum of every image is kept.
        """
        return F.upsample_flux(np.asarray(y, dtype=float), self.upsample)

    def apply_filter(self, y, transfer, *, dtype='float64', out=None):
        """
        Apply a Fourier filter to observed images: ``irfft2(W rfft2(Z y))``.

        Parameters
        ----------
        y : ndarray
            Observed stack ``(N, gy, gx)`` on the (padded) grid.
        transfer : ndarray
            Fine-grid transfer function ``W``, shape ``(1 or N, fy, fx //
            2 + 1)`` (``Z`` is the zero insertion).
        dtype : {'float64', 'float32'}
            Precision of the FFTs and of the result.
        out : ndarray, optional
            Where to write the result ``(N, fy, fx)``.

        Returns
        -------
        x : ndarray
            The filtered stack on the (padded) fine grid.

        Notes
        -----
        The stack is processed in cache-sized chunks, so no whole-stack
        spectrum is held in memory.
        """
        dtype = check_choice(np.dtype(dtype).name, 'dtype', _DTYPES)
        k = self.upsample
        n = y.shape[0]
        shape_f = (y.shape[-2] * k, y.shape[-1] * k)
        if out is None:
            out = np.empty((n,) + shape_f, dtype=dtype)
        cdtype = np.complex64 if dtype == 'float32' else np.complex128
        transfer = np.asarray(transfer)
        if transfer.ndim < 3:
            transfer = transfer[None]
        transfer = transfer.astype(cdtype, copy=False)
        per_image = transfer.shape[0] > 1
        step = chunk_length(n, shape_f[0] * shape_f[1] * 8)
        for start in range(0, n, step):
            sl = slice(start, min(start + step, n))
            work = F.zero_insert(y[sl], k).astype(dtype, copy=False)
            spec = F.rfft2(work)
            spec *= transfer[sl] if per_image else transfer
            out[sl] = F.irfft2(spec, shape_f, overwrite=True)
        return out

    def filter_variance(self, transfer, variance):
        """
        Variance of a filtered image: ``g**2 * Z(variance)``.

        ``g`` is the impulse response of the filter ``transfer`` (as for
        `apply_filter`) and ``variance`` the per-pixel noise variance of
        the observed stack on the (padded) grid; exact for uncorrelated
        noise and periodic boundaries.
        """
        k = self.upsample
        shape_f = (variance.shape[-2] * k, variance.shape[-1] * k)
        kernel_sq = F.irfft2(transfer, shape_f) ** 2
        var = F.convolve_otf(F.zero_insert(variance, k), F.rfft2(kernel_sq))
        return np.clip(var, 0, None)

    def resolution_kernel(self, transfer, shape=None):
        """
        The effective PSF ``w * h`` left by a filter with transfer ``W``.

        Centred on the package convention, cropped to ``shape`` (default:
        the PSF shape) and normalised to unit sum.
        """
        shape = tuple(self.psf.shape[-2:]) if shape is None else shape
        kernel = F.centred_kernel(self.transfer() * transfer,
                                  self.grid_fine_shape, shape)
        return kernel / kernel.sum(axis=(-2, -1), keepdims=True)

    def coarse_transfer(self, transfer):
        """
        Observed-grid transfer function of ``D (g * .) Z``-type products.

        Given the fine-grid transfer function of a circulant operator, the
        transfer function on the observed grid of its block-summed kernel
        (used for the risk of linear estimates).
        """
        k = self.upsample
        if k == 1:
            return transfer
        kernel = F.block_sum(F.irfft2(transfer, self.grid_fine_shape), k)
        return F.rfft2(kernel)
