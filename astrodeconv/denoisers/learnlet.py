# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The Learnlet denoiser, configured for galaxy images as by Akhaury et al.

A Learnlet (Ramzi et al. 2021) is a learned, wavelet-like denoiser. It
splits the image with a fixed, exactly invertible multi-scale pyramid,
soft-thresholds learned filter responses of each detail band with a
threshold proportional to the noise level, and synthesises the image
back. Akhaury et al. (2022) use it to denoise Tikhonov-deconvolved
galaxy images with the configuration reproduced here (5 scales, 256
filters of 3x3 for analysis, 5x5 for synthesis, exact reconstruction,
an identity channel and thresholds ``alpha_j * sigma``).
"""

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

from ..utils._repr import format_params
from ..utils._validation import (check_bool, check_choice, check_odd_int,
                                 check_positive_int, check_real)
from .base import Denoiser, as_sigma_tensor

__all__ = ['Learnlet']

#: The B3-spline taps of the fixed low-pass filter.
_B3 = (1.0, 4.0, 6.0, 4.0, 1.0)


# ---------------------------------------------------------------------------
# The decimated starlet-like pyramid
# ---------------------------------------------------------------------------

def _lowpass_kernel(dtype=torch.float32):
    """The separable 5x5 low-pass kernel ``h x h``, h = [1,4,6,4,1]/16."""
    h = torch.tensor(_B3, dtype=dtype) / 16.0
    return torch.outer(h, h)


def _symmetric_pad(x, pad):
    """
    Pad the last two axes by repeating the edge samples mirror-wise.

    This is TensorFlow's ``SYMMETRIC`` mode (``abc -> ba|abc|cb``), the
    padding of the reference pyramid.
    """
    x = torch.cat([x[..., :pad].flip(-1), x, x[..., -pad:].flip(-1)],
                  dim=-1)
    return torch.cat([x[..., :pad, :].flip(-2), x,
                      x[..., -pad:, :].flip(-2)], dim=-2)


def _down(x, kernel):
    """Low-pass filter, then keep every second pixel (one strided conv)."""
    pad = kernel.shape[-1] // 2
    return F.conv2d(_symmetric_pad(x, pad), kernel, stride=2)


def _up_bicubic(x):
    """Bicubic x2 upsampling of PyTorch (``align_corners=False``)."""
    return F.interpolate(x, scale_factor=2.0, mode='bicubic',
                         align_corners=False)


def _up_aligned(x):
    """
    Bicubic x2 upsampling with coarse pixel ``k`` at fine pixel ``2k``.

    This is TensorFlow's legacy ``resize_bicubic`` (``align_corners=False,
    half_pixel_centers=False``) used by the reference code: even output
    samples copy the input, odd ones interpolate midway with the Keys
    cubic (``a = -0.75``) weights ``[-3, 19, 19, -3] / 32``, and indices
    outside the image are clamped to the edge. It is written as one
    stride-2 transposed convolution with the separable 7x7 kernel
    ``g x g``, ``g = [-3, 0, 19, 32, 19, 0, -3] / 32``.
    """
    g = torch.tensor((-3.0, 0.0, 19.0, 32.0, 19.0, 0.0, -3.0),
                     dtype=x.dtype, device=x.device) / 32.0
    size = (2 * x.shape[-2], 2 * x.shape[-1])
    x = F.pad(x, (2, 2, 2, 2), mode='replicate')
    out = F.conv_transpose2d(x, torch.outer(g, g)[None, None], stride=2,
                             padding=3)
    return out[..., 4:4 + size[0], 4:4 + size[1]]


_UPSAMPLERS = {'bicubic': _up_bicubic, 'aligned': _up_aligned}


@functools.lru_cache(maxsize=32)
def _upsampling_matrix(size, upsampling, dtype, device):
    """
    The pyramid's ``Up`` along one axis of length ``size``, as a matrix.

    Both upsamplers are separable (the same 1-D weights along each axis,
    with the indices clamped to the edge), so for one ``(h, w)`` image
    ``Up(x) = U_h.T @ x @ U_w`` with ``U_n`` of shape ``(n, 2n)``. The
    matrix is ``Up`` applied to the rows of the identity, computed in
    float64, cast to ``dtype`` and cached.
    """
    with torch.inference_mode(False), torch.no_grad():
        eye = torch.eye(size, dtype=torch.float64).view(size, 1, 1, size)
        mat = _UPSAMPLERS[upsampling](eye)[:, 0, 0]
        return mat.to(dtype=dtype, device=device)


def _up_separable(x, upsampling):
    """``Up(x)`` of a ``(B, 1, H, W)`` batch as two matrix products."""
    n_batch, _, height, width = x.shape
    rows = _upsampling_matrix(height, upsampling, x.dtype, x.device)
    cols = _upsampling_matrix(width, upsampling, x.dtype, x.device)
    y = torch.matmul(x.reshape(n_batch, height, width), cols)
    return torch.matmul(rows.t(), y).unsqueeze(1)


def _decompose(x, kernel, n_scales, up):
    """
    Split ``x`` into ``n_scales`` detail bands and a coarse band.

    ``high_j = x_j - Up(Down(low(x_j)))`` and ``x_{j+1} = Down(low(x_j))``
    with ``x_0 = x``; the details have sizes ``H / 2**j`` and the coarse
    band ``H / 2**n_scales``. `_recompose` inverts it exactly.
    """
    details = []
    for _ in range(n_scales):
        low = _down(x, kernel)
        details.append(x - up(low))
        x = low
    return details, x


def _recompose(details, coarse, up):
    """Exact inverse of `_decompose`: ``x_j = Up(x_{j+1}) + high_j``."""
    x = coarse
    for high in reversed(details):
        x = up(x) + high
    return x


def _phase_correlations(rows, period):
    """
    Dot products of the rows ``a`` and ``b`` shifted by ``period * m``.

    Returns ``corr[a, b, my, mx] = sum_q rows[a, q] rows[b, q - period m]``
    (negative ``m`` index from the end). The rows must have an empty
    frame at least as wide as the shifts used. The sums over the
    ``period**2`` polyphase components are computed with FFTs.
    """
    n_rows, height, width = rows.shape
    height, width = -(-height // period), -(-width // period)
    rows = F.pad(rows, (0, width * period - rows.shape[2],
                        0, height * period - rows.shape[1]))
    poly = rows.view(n_rows, height, period, width, period)
    poly = poly.permute(0, 2, 4, 1, 3).reshape(n_rows, period ** 2, height,
                                               width)
    spec = torch.fft.rfft2(poly)
    cross = torch.einsum('arxy,brxy->abxy', spec, spec.conj())
    return torch.fft.irfft2(cross, s=(height, width))


@functools.lru_cache(maxsize=16)
def _detail_statistics(n_scales, max_lag, upsampling):
    """
    Exact white-noise statistics of the pyramid's detail bands.

    For unit white noise in input, returns, for each scale ``j``, the
    standard deviation ``n_j`` of the detail band and the autocorrelation
    table ``C_j[dy, dx]`` (lags ``-max_lag..max_lag``) of the *normalised*
    detail ``high_j / n_j``, so that ``C_j[max_lag, max_lag] == 1``.

    ``upsampling`` names the pyramid's ``Up`` (a key of ``_UPSAMPLERS``).
    The detail band is not stationary: bicubic upsampling makes its
    statistics periodic with period 2 pixels, and the borders differ. The
    values are the boundary-free (interior) statistics averaged over the
    four pixel phases, i.e. the mean over pixels of a large image. They
    are computed exactly (no Monte-Carlo), in float64: for each phase the
    row of the linear map ``input -> high_j`` at one interior pixel is
    obtained by back-propagation; rows at other pixels are shifts of these
    four rows by multiples of ``2**(j+1)`` input pixels, so every
    covariance is a dot product of two shifted rows
    (`_phase_correlations`).
    """
    up = _UPSAMPLERS[upsampling]
    stds = []
    tables = []
    lags = range(-max_lag, max_lag + 1)
    with torch.inference_mode(False), torch.enable_grad():
        kernel = _lowpass_kernel(torch.float64)[None, None]
        for j in range(n_scales):
            period = 2 ** (j + 1)
            # rows of high_j reach < 8 * 2**j input pixels from their
            # centre; leave room for that plus the largest shift
            frame = period * (max_lag // 2 + 1)
            size = 2 ** j * 20 + 2 * frame
            x = torch.zeros(4, 1, size, size, dtype=torch.float64,
                            requires_grad=True)
            low = x
            for _ in range(j):
                low = _down(low, kernel)
            high = low - up(_down(low, kernel))
            centre = high.shape[-1] // 2 - high.shape[-1] // 2 % 2
            pick = torch.zeros_like(high)
            for phase in range(4):
                pick[phase, 0, centre + phase // 2, centre + phase % 2] = 1
            (rows,) = torch.autograd.grad(high, x, pick)
            rows = rows[:, 0].detach()
            # the shifted rows must not wrap around: keep the support
            # plus an empty frame as wide as the largest shift
            nonzero = rows.abs().amax(dim=0) > 0
            ys = torch.nonzero(nonzero.any(dim=1)).flatten()
            xs = torch.nonzero(nonzero.any(dim=0)).flatten()
            y0, y1 = int(ys[0]) - frame, int(ys[-1]) + 1 + frame
            x0, x1 = int(xs[0]) - frame, int(xs[-1]) + 1 + frame
            if min(y0, x0) < 0 or max(y1, x1) > size:
                msg = 'internal error: detail rows reach the border'
                raise RuntimeError(msg)
            rows = rows[:, y0:y1, x0:x1]
            corr = _phase_correlations(rows, period)
            table = torch.zeros(len(lags), len(lags), dtype=torch.float64)
            for phase in range(4):
                py, px = phase // 2, phase % 2
                for iy, dy in enumerate(lags):
                    for ix, dx in enumerate(lags):
                        qy, qx = py + dy, px + dx
                        other = 2 * (qy % 2) + qx % 2
                        table[iy, ix] += corr[phase, other, qy // 2,
                                              qx // 2] / 4
            var = table[max_lag, max_lag]
            stds.append(math.sqrt(float(var)))
            tables.append(table / var)
    return tuple(stds), torch.stack(tables)


def _covariance_matrix(table, kernel_size):
    """
    The ``(k*k, k*k)`` covariance of the ``k x k`` detail neighbourhood.

    ``M[u, v] = C[v - u]``, so a filter ``f`` (flattened) applied to the
    normalised detail has variance ``f @ M @ f``.
    """
    k = kernel_size
    lag0 = (table.shape[-1] - 1) // 2
    idx = torch.arange(k)
    dy = idx.repeat_interleave(k)
    dx = idx.repeat(k)
    return table[..., (dy[None, :] - dy[:, None]) + lag0,
                 (dx[None, :] - dx[:, None]) + lag0]


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------

#: Pixels of one block of the CPU inference path on one thread: only one
#: block's ``n_filters`` analysis responses (1 MB with 256 filters) exist
#: at once.
_BLOCK_PIXELS = 1024

#: Pixels per thread of one block with several threads, and the most
#: pixels of a block: every matrix product and clamp synchronises the
#: threads, which costs more than the cache misses of larger blocks
#: (8 MB of responses per thread with 256 filters, at most 32 MB).
_THREAD_BLOCK_PIXELS = 8192
_MAX_BLOCK_PIXELS = 32768

#: Pixels per thread of a group of images whose synthesis taps (25 per
#: pixel) are kept together before they are gathered into the output.
_GROUP_PIXELS = 65536

#: Up is computed as matrix products for bands of at most this many
#: pixels a side (the cost grows as the cube of the size).
_MATRIX_UP_SIZE = 256


class _LearnletScale(nn.Module):
    """The trainable and normalisation weights of one detail band."""

    def __init__(self, n_filters, analysis_kernel_size,
                 synthesis_kernel_size, alpha_init, skip_connection):
        super().__init__()
        ka, ks = analysis_kernel_size, synthesis_kernel_size
        # Glorot-uniform initialisation, the Keras default
        bound = math.sqrt(6.0 / (ka * ka + ka * ka * n_filters))
        self.analysis = nn.Parameter(
            torch.empty(n_filters, 1, ka, ka).uniform_(-bound, bound))
        bound = math.sqrt(6.0 / (ks * ks * n_filters + ks * ks))
        self.synthesis = nn.Parameter(
            torch.empty(1, n_filters, ks, ks).uniform_(-bound, bound))
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))
        if skip_connection:
            self.alpha_identity = nn.Parameter(
                torch.tensor(float(alpha_init) + 1.0))
        else:
            self.register_parameter('alpha_identity', None)
        self.normalisation = nn.Parameter(
            torch.ones(n_filters + int(skip_connection)),
            requires_grad=False)

    def unit_filters(self):
        """The analysis filters scaled to unit L2 norm."""
        w = self.analysis
        norm = w.square().sum(dim=(1, 2, 3), keepdim=True).sqrt()
        return w / norm.clamp_min(torch.finfo(w.dtype).tiny ** 0.5)


class Learnlet(Denoiser):
    r"""
    Learnlet denoiser with exact reconstruction (Akhaury et al. 2022).

    The image is split by a fixed decimated pyramid into ``n_scales``
    detail bands ``high_j`` and a coarse band: per scale, ``low`` is the
    image filtered by the 5x5 B3-spline kernel ``h x h``,
    ``h = [1, 4, 6, 4, 1] / 16`` (symmetric padding), ``Down`` keeps every
    second pixel, ``Up`` is bicubic x2 upsampling and
    ``high_j = x_j - Up(Down(low))``; the next scale works on
    ``x_{j+1} = Down(low)``. The pyramid is exactly invertible,
    ``x_j = Up(x_{j+1}) + high_j``.

    Each detail, normalised by its white-noise standard deviation
    ``n_j`` to ``d_j = high_j / n_j``, is analysed by ``n_filters``
    unit-norm ``analysis_kernel_size`` filters ``A_j`` (plus the identity
    channel when ``skip_connection``). Every channel is divided by its
    white-noise standard deviation (the non-trainable ``normalisation``
    weights), soft-thresholded at ``alpha_j * sigma``, and multiplied
    back (``T`` for the learned channels, ``T_w`` for the identity
    channel, each with its own trainable ``alpha`` clamped to
    ``[0, alpha_max]``). The coarse band is never thresholded. With
    ``exact_reconstruction`` the image is rebuilt from the coarse band as

    .. math::

        x_j = \mathrm{Up}(x_{j+1})
              + S_j\big(n_j\,[T(A_j d_j) - A_j T_w(d_j)]\big)
              + n_j\,T_w(d_j),

    where ``S_j`` is a ``synthesis_kernel_size`` convolution from the
    ``n_filters`` learned channels to one. When ``sigma`` is 0 every
    threshold vanishes, the ``S_j`` term is exactly zero and the output
    equals the input (to float rounding) whatever the weights.

    Parameters
    ----------
    n_scales : int, optional
        Number of detail bands. Input sizes must be multiples of
        ``2**n_scales`` (``size_multiple``): every level of the pyramid
        halves an even size, and the coarse band is ``H / 2**n_scales``
        pixels.
    n_filters : int, optional
        Learned analysis filters per scale.
    analysis_kernel_size, synthesis_kernel_size : int, optional
        Odd sizes of the analysis and synthesis filters.
    alpha_init : float, optional
        Initial threshold factor of the learned channels; the identity
        channel starts at ``alpha_init + 1``.
    alpha_max : float, optional
        Upper clamp of every threshold factor (lower clamp 0).
    exact_reconstruction : bool, optional
        Use the exact-reconstruction synthesis above. If False, a scale
        contributes ``S_j(n_j T(A_j d_j)) + n_j T_w(d_j)`` (without the
        identity term when ``skip_connection`` is False).
    skip_connection : bool, optional
        Add the thresholded identity channel. If False there is no
        identity channel (no ``alpha_identity`` and one normalisation
        weight fewer per scale) and, with ``exact_reconstruction``,
        ``T_w`` is the identity map.
    upsampling : {'bicubic', 'aligned'}, optional
        The pyramid's ``Up``. ``'bicubic'`` is PyTorch's
        ``interpolate(mode='bicubic', align_corners=False)``, which puts
        coarse pixel ``k`` at fine position ``2k + 0.5`` and so shifts
        ``Up(Down(low))`` by half a fine pixel diagonally. ``'aligned'``
        reproduces the reference's TensorFlow ``resize_bicubic``
        (``half_pixel_centers=False``): coarse pixel ``k`` sits at fine
        pixel ``2k``, where ``Down`` took it, so the pyramid is centred
        and smooth images leave much less energy in the fine bands. The
        default is ``'aligned'``, as in the published Learnlet.

    Attributes
    ----------
    detail_stds : tuple of float
        ``n_j``, the standard deviation of each detail band for unit white
        noise in input.
    lowpass : `torch.nn.Parameter`
        The fixed 5x5 low-pass kernel (``requires_grad=False``).
    scales : `torch.nn.ModuleList`
        Per scale: ``analysis`` (``n_filters, 1, k, k``), ``synthesis``
        (``1, n_filters, k, k``), ``alpha``, ``alpha_identity`` and the
        non-trainable ``normalisation`` (learned channels first, identity
        channel last).

    Notes
    -----
    **Parameter count.** Like the reference Keras model, the
    normalisation weights and the fixed low-pass kernel are registered as
    parameters with ``requires_grad=False``, so that ``parameters()``
    counts them: with the defaults the network has 44,840 parameters,
    43,530 of them trainable (per scale 2,304 analysis + 6,400 synthesis +
    2 alphas; plus 5 x 257 normalisation weights and one shared 5x5
    kernel). The per-scale noise levels and the covariances used by
    `update_normalisation` are derived constants, kept as plain attributes
    and non-persistent buffers (not parameters, not in the state dict).

    **Detail standard deviations.** ``n_j`` is the exact boundary-free
    standard deviation of ``high_j`` for unit white noise (averaged over
    the four pixel phases that bicubic upsampling creates), computed
    deterministically in float64 when the first network of a given
    configuration is built. With 5 scales it is [0.93438, 0.22442,
    0.09742, 0.04717, 0.02340] for ``'bicubic'`` upsampling and [0.91796,
    0.21332, 0.09160, 0.04423, 0.02193] for ``'aligned'``; the reference
    TensorFlow values were [0.91738, 0.21372, 0.09259, 0.04539, 0.02249]
    (Monte-Carlo estimates on finite images, whose borders raise the
    coarse-scale values by a few per cent).

    **Normalisation weights.** The standard deviation of a filter's
    response is computed exactly as ``sqrt(f @ M_j @ f)``, where ``M_j``
    is the covariance of a ``k x k`` neighbourhood of the normalised
    detail ``d_j`` (which is not white, so this is not simply
    ``||f|| = 1``), by `update_normalisation`. It runs at construction;
    call it again after each optimiser step while training (the reference
    updated the weights every batch by Monte-Carlo with momentum 0.99),
    since ``forward`` uses the stored values. The identity channel's
    weight is its own standard deviation, 1 (the reference code copied
    the last learned filter's value instead).

    **Implementation.** The per-scale standard deviations and the
    normalisation weights only rescale the thresholds
    (``n T(u / n) = T_{n t}(u)`` for soft thresholding), so the network
    works on the raw detail bands and the ``sigma = 0`` reconstruction is
    exact to float rounding. Without gradients on a CPU (e.g. under
    `torch.inference_mode`), ``Up`` is two matrix products and each scale
    is computed block by block as matrix products with preallocated
    buffers: the thresholds are folded into the filters
    (``clamp(u, -t, t) = t clamp(u / t, -1, 1)``), ``S_j A_j`` of the
    linear term is one combined small matrix, and the synthesis taps of
    every pixel are gathered into the output once per group of images.
    The result is the same as that of the convolution path used for
    training (to float rounding).

    Examples
    --------
    >>> import torch
    >>> from astrodeconv.denoisers import Learnlet
    >>> net = Learnlet(n_scales=3, n_filters=8)
    >>> x = torch.rand(2, 1, 32, 32)
    >>> with torch.inference_mode():
    ...     out = net(x, sigma=0.1)
    ...     same = net(x, sigma=0.0)
    >>> out.shape
    torch.Size([2, 1, 32, 32])
    >>> bool(torch.allclose(same, x, atol=1e-6))
    True
    >>> sum(p.numel() for p in Learnlet().parameters())
    44840
    >>> sum(p.numel() for p in Learnlet().parameters() if p.requires_grad)
    43530
    """

    requires_sigma = True

    def __init__(self, *, n_scales=5, n_filters=256, analysis_kernel_size=3,
                 synthesis_kernel_size=5, alpha_init=2.0, alpha_max=5.0,
                 exact_reconstruction=True, skip_connection=True,
                 upsampling='aligned'):
        super().__init__()
        self.n_scales = check_positive_int(n_scales, 'n_scales')
        self.n_filters = check_positive_int(n_filters, 'n_filters')
        self.analysis_kernel_size = check_odd_int(analysis_kernel_size,
                                                  'analysis_kernel_size')
        self.synthesis_kernel_size = check_odd_int(synthesis_kernel_size,
                                                   'synthesis_kernel_size')
        self.alpha_init = check_real(alpha_init, 'alpha_init', minimum=0)
        self.alpha_max = check_real(alpha_max, 'alpha_max', minimum=0)
        self.exact_reconstruction = check_bool(exact_reconstruction,
                                               'exact_reconstruction')
        self.skip_connection = check_bool(skip_connection, 'skip_connection')
        self.upsampling = check_choice(upsampling, 'upsampling',
                                       tuple(_UPSAMPLERS))
        self._up = _UPSAMPLERS[upsampling]
        self.size_multiple = 2 ** self.n_scales

        self.lowpass = nn.Parameter(_lowpass_kernel(), requires_grad=False)
        self.scales = nn.ModuleList(
            _LearnletScale(self.n_filters, self.analysis_kernel_size,
                           self.synthesis_kernel_size, self.alpha_init,
                           self.skip_connection)
            for _ in range(self.n_scales))
        stds, tables = _detail_statistics(
            self.n_scales, self.analysis_kernel_size - 1, self.upsampling)
        self.detail_stds = stds
        cov = _covariance_matrix(tables, self.analysis_kernel_size)
        self.register_buffer('_detail_cov', cov.float(), persistent=False)
        self.update_normalisation()

    def extra_repr(self):
        return format_params(self, (
            'n_scales', 'n_filters', 'analysis_kernel_size',
            'synthesis_kernel_size', 'alpha_max', 'exact_reconstruction',
            'skip_connection', 'upsampling'))

    @torch.no_grad()
    def update_normalisation(self):
        """
        Recompute the normalisation weights from the current filters.

        Each learned channel's weight is the exact standard deviation of
        its unit-norm filter's response to the normalised detail band of
        unit white noise, ``sqrt(f @ M_j @ f)``; the identity channel's is
        1. Cheap (one small matrix product per scale); call it after every
        optimiser step while training.

        Examples
        --------
        >>> import torch
        >>> from astrodeconv.denoisers import Learnlet
        >>> net = Learnlet(n_scales=2, n_filters=4)
        >>> with torch.no_grad():
        ...     _ = net.scales[0].analysis.mul_(-3.0)  # same unit filters
        >>> before = net.scales[0].normalisation.clone()
        >>> net.update_normalisation()
        >>> bool(torch.allclose(net.scales[0].normalisation, before))
        True
        """
        for scale, cov in zip(self.scales, self._detail_cov):
            f = scale.unit_filters().flatten(1)
            cov = cov.to(f)
            var = torch.einsum('fu,uv,fv->f', f, cov, f)
            norms = var.clamp_min(0).sqrt()
            if self.skip_connection:
                norms = torch.cat([norms, cov[:1, 0].sqrt()])
            scale.normalisation.copy_(norms)

    def forward(self, x, sigma=None):
        """
        Denoise a batch.

        Parameters
        ----------
        x : `torch.Tensor`
            Shape ``(B, 1, H, W)`` with H and W multiples of
            ``2**n_scales``.
        sigma : float or `torch.Tensor`
            Noise standard deviation of each image, in the units of ``x``:
            one value for the batch or a tensor of shape ``(B,)``.

        Returns
        -------
        out : `torch.Tensor`
            Same shape as ``x``.
        """
        self.check_input(x)
        if sigma is None:
            msg = ('Learnlet needs sigma, the noise standard deviation of '
                   'the input (a float or a tensor of shape (B,)), got None')
            raise ValueError(msg)
        sigma = as_sigma_tensor(sigma, x.shape[0], device=x.device,
                                dtype=x.dtype)
        kernel = self.lowpass[None, None]
        if torch.is_grad_enabled() or x.device.type != 'cpu':
            details, image = _decompose(x, kernel, self.n_scales, self._up)
            for j in reversed(range(self.n_scales)):
                image = self._up(image) + self._scale_convs(j, details[j],
                                                            sigma)
            return image
        # the CPU inference path
        details = []
        image = x
        for _ in range(self.n_scales):
            low = _down(image, kernel)
            details.append(image - self._up_fast(low))
            image = low
        for j in reversed(range(self.n_scales)):
            image = self._scale_blocks(j, details[j], sigma,
                                       self._up_fast(image))
        return image

    def _up_fast(self, x):
        """``Up`` without autograd: matrix products for small bands."""
        if max(x.shape[-2:]) <= _MATRIX_UP_SIZE:
            return _up_separable(x, self.upsampling)
        return self._up(x)

    def _thresholds(self, j, sigma):
        """
        Thresholds on the raw detail band of scale ``j``.

        ``n_j n_c T(u / (n_j n_c))`` with threshold ``alpha sigma`` equals
        soft thresholding of ``u`` at ``alpha sigma n_j n_c``. Returns the
        learned channels' thresholds, shape ``(B, n_filters)``, and the
        identity channel's, shape ``(B,)`` (None without it).
        """
        scale = self.scales[j]
        n_j = self.detail_stds[j]
        nf = self.n_filters
        alpha = scale.alpha.clamp(0.0, self.alpha_max) * n_j
        thr = (alpha * sigma)[:, None] * scale.normalisation[:nf]
        thr_w = None
        if self.skip_connection:
            alpha_w = scale.alpha_identity.clamp(0.0, self.alpha_max) * n_j
            thr_w = alpha_w * scale.normalisation[nf] * sigma
        return thr, thr_w

    def _linear_parts(self, high, thr_w):
        """
        The band the ``S_j A_j`` term acts on linearly, and the identity.

        Returns ``(lin, kept)`` such that a scale contributes
        ``S_j(A_j lin - clamp(A_j high)) + kept``:
        exact reconstruction uses ``T(A h) - A T_w(h) = A c - clamp(A h)``
        with ``c = clamp(h)`` the part removed by ``T_w``; without it,
        ``T(A h) = A h - clamp(A h)``. Either may be None (zero).
        """
        if self.skip_connection:
            t = thr_w.view(-1, 1, 1, 1)
            small = torch.clamp(high, -t, t)
            kept = high - small
        else:
            small = None
            kept = high if self.exact_reconstruction else None
        lin = small if self.exact_reconstruction else high
        return lin, kept

    def _scale_convs(self, j, high, sigma):
        """One scale's contribution, with convolutions (differentiable)."""
        scale = self.scales[j]
        nf = self.n_filters
        pad_a = self.analysis_kernel_size // 2
        w = scale.unit_filters()
        thr, thr_w = self._thresholds(j, sigma)
        thr = thr.view(-1, nf, 1, 1)
        lin, kept = self._linear_parts(high, thr_w)
        if lin is None:
            y = -torch.clamp(F.conv2d(high, w, padding=pad_a), -thr, thr)
        else:
            both = F.conv2d(torch.cat([high, lin], dim=1),
                            torch.cat([w, w]), padding=pad_a, groups=2)
            y = both[:, nf:] - torch.clamp(both[:, :nf], -thr, thr)
        out = F.conv2d(y, scale.synthesis,
                       padding=self.synthesis_kernel_size // 2)
        return out if kept is None else out + kept

    def _scale_blocks(self, j, high, sigma, out):
        """
        Add one scale's contribution to ``out`` (no autograd, CPU).

        With ``P`` the ``k x k`` patches of the band as a ``(k*k, pixels)``
        matrix, ``W`` the unit analysis filters as ``(n_filters, k*k)`` and
        ``S`` the synthesis weights as ``(ks*ks, n_filters)``, the
        per-pixel synthesis taps are ``Z = (S W) P_lin - S clamp(W P_h)``
        and the output gathers tap ``(u, v)`` of the pixel at offset
        ``(u - ks//2, v - ks//2)``. The thresholds are folded into ``W``
        and ``S`` (per image and filter) so that the clamp is to
        ``[-1, 1]``. The taps live on the band padded by ``ks//2`` zeros
        on each side (the patches of the padding columns are zero), so
        that those of a group of images are gathered by ``ks*ks`` shifted
        sums; the ``(n_filters, pixels)`` responses exist one block at a
        time. ``out`` is a fresh tensor, updated in place and returned.
        """
        scale = self.scales[j]
        nf = self.n_filters
        ka, ks = self.analysis_kernel_size, self.synthesis_kernel_size
        kk, n_taps, pad = ka * ka, ks * ks, ks // 2
        n_batch, _, height, width = high.shape
        rows, cols = height + 2 * pad, width + 2 * pad
        n_pix = height * cols     # the taps computed per image
        thr, thr_w = self._thresholds(j, sigma)
        lin, kept = self._linear_parts(high, thr_w)
        if kept is not None:
            out += kept
        w_mat = scale.unit_filters().reshape(nf, kk)
        s_mat = scale.synthesis.reshape(nf, n_taps).t()
        # clamp(W p, -t, t) S = clamp((W / t) p, -1, 1) (t S), used when
        # the rescaled responses cannot overflow (|W p| <= ka max|p|)
        inv = torch.where(thr > 0, 1 / thr, 0)
        lo, hi = torch.aminmax(high)
        bound = max(-float(lo), float(hi)) * ka * float(inv.max())
        folded = bound < torch.finfo(high.dtype).max / 4
        if folded:
            w_b = w_mat * inv[:, :, None]
            s_b = s_mat * -thr[:, None, :]
        else:
            w_b = w_mat.expand(n_batch, nf, kk)
            s_b = -s_mat.expand(n_batch, n_taps, nf)
            upper = thr[:, :, None]
            lower = -upper
        if lin is None:
            band = high
        else:
            band = torch.cat([high, lin], dim=1)
            ws_mat = (s_mat @ w_mat).expand(n_batch, n_taps, kk)
        n_band = band.shape[1]
        band = F.pad(band, (ka // 2,) * 4)
        # blocks of `per_block` whole images or of part of one image
        n_threads = torch.get_num_threads()
        if n_threads == 1:
            block_pixels = _BLOCK_PIXELS
        else:
            block_pixels = min(_THREAD_BLOCK_PIXELS * n_threads,
                               _MAX_BLOCK_PIXELS)
        if n_pix <= block_pixels:
            per_block, n_blocks = block_pixels // n_pix, 1
        else:
            per_block, n_blocks = 1, -(-n_pix // block_pixels)
        block = -(-n_pix // n_blocks)
        group_pixels = _GROUP_PIXELS * n_threads
        group = per_block * max(1, group_pixels // (n_pix * per_block))
        group = min(group, n_batch)
        per_block = min(per_block, group)
        resp = high.new_empty(per_block * nf * block)
        # the blocks write every tap but those of the padding rows and the
        # copies every patch but those of the padding columns: zero these
        taps = high.new_empty(group, n_taps, rows, cols)
        taps[:, :, :pad] = 0
        taps[:, :, pad + height:] = 0
        taps_flat = taps.view(group, n_taps, rows * cols)[..., pad * cols:]
        patches = high.new_empty(group, n_band, ka, ka, height, cols)
        patches[..., :pad] = 0
        patches[..., pad + width:] = 0
        patches_flat = patches.view(group, n_band * kk, n_pix)
        for g0 in range(0, n_batch, group):
            n_group = min(group, n_batch - g0)
            for dy in range(ka):
                for dx in range(ka):
                    patches[:n_group, :, dy, dx, :, pad:pad + width] = band[
                        g0:g0 + n_group, :, dy:dy + height, dx:dx + width]
            for i in range(0, n_group, per_block):
                n = min(per_block, n_group - i)
                w_i, s_i = w_b[g0 + i:g0 + i + n], s_b[g0 + i:g0 + i + n]
                p_high = patches_flat[i:i + n, :kk]
                p_lin = patches_flat[i:i + n, kk:]
                z_i = taps_flat[i:i + n]
                if not folded:
                    lower_i = lower[g0 + i:g0 + i + n]
                    upper_i = upper[g0 + i:g0 + i + n]
                if lin is not None:
                    ws_i = ws_mat[:n]
                for p in range(0, n_pix, block):
                    m = min(block, n_pix - p)
                    a = resp[:n * nf * m].view(n, nf, m)
                    z = z_i[..., p:p + m]
                    torch.bmm(w_i, p_high[..., p:p + m], out=a)
                    if folded:
                        a.clamp_(-1.0, 1.0)
                    else:
                        a.clamp_(lower_i, upper_i)
                    if lin is None:
                        torch.bmm(s_i, a, out=z)
                    else:
                        torch.bmm(ws_i, p_lin[..., p:p + m], out=z)
                        z.baddbmm_(s_i, a)
            acc = out[g0:g0 + n_group, 0]
            for u in range(ks):
                for v in range(ks):
                    acc += taps[:n_group, u * ks + v, u:u + height,
                                v:v + width]
        return out
