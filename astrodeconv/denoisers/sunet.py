# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
SUNet: the Swin-Transformer UNet denoiser of Akhaury et al. (2024).

A re-implementation, weight-compatible with the released checkpoint
``SUNet_model_bestSSIM_ep-400_bs-16_ps-1.pth`` (Zenodo,
doi:10.5281/zenodo.10287213), of the network of "Ground-based image
deconvolution with Swin Transformer UNet" (A&A 2024). It is the
"unembedded" variant of SUNet: a 3x3 convolution, a 1x1 patch embedding
(one token per pixel), four Swin-Transformer encoder stages joined by patch
merging, a decoder of dual up-sampling blocks (pixel-shuffle and bilinear
branches) and Swin stages fed with the encoder skips, and a 3x3 output
convolution. The network outputs the image directly (no global residual).

Parameter and buffer names follow the reference code, so
``SUNet().state_dict()`` has the same 747 entries (all prefixed
``swin_unet.``) as the released checkpoint, which `load_sunet_checkpoint`
loads strictly.

The computation is that of the reference code, organised for speed on
CPU. Inside a stage the tokens are kept in *window order* (the layout of the
windows of the next block, shifted or not), so that a block needs a single
gather instead of a roll, a window partition, a window reversal and a roll
back. On CPU a block is evaluated in chunks of whole windows so that the
attention logits and the MLP activations stay in the processor cache; on
other devices attention uses
`torch.nn.functional.scaled_dot_product_attention` (on CPU it is about
three times slower than the explicit softmax for heads of 6 to 48
channels).

In a shifted window, token pairs from different image regions are masked in
one of two ways (``SUNet(attention_mask=...)``). ``'additive'`` adds -100
to their logits before the softmax, exactly as the reference code (the
``attn_mask.masked_fill(mask != 0, float(-100.0))`` of the Swin
Transformer): this is the mode of the published weights, and
`load_sunet_checkpoint` sets it for reference checkpoints. ``'exact'``
gives them weight zero (-inf), a true mask. The two agree to float32
precision as long as no masked logit exceeds the largest unmasked logit of
its row by more than about 85 (its relative weight, ``exp(85 - 100)``, is
then below 3e-7); with larger logits (for instance query and key weights
scaled by 3) the reference lets the masked pairs through and the outputs
differ by 1e-2 or more. The ``attn_mask`` buffers hold the reference values
(0 and -100) in both modes, under the reference's names.
"""

import os
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..utils._repr import format_params
from ..utils._validation import check_positive_int
from .base import Denoiser
from .checkpoints import check_state_keys, extract_state_dict, read_checkpoint

__all__ = ['SUNet', 'load_sunet_checkpoint']

# Added to the attention logits of token pairs that come from different
# image regions in a shifted window (value of the Swin Transformer).
_MASK_VALUE = -100.0

# The ways of masking those pairs (see `SUNet`): the reference's -100, or a
# true mask (-inf).
_ATTENTION_MASKS = ('additive', 'exact')

# With the additive mask on CPU, logits lower than this relative to the
# maximum of their row are raised to it before the softmax. Their weights,
# below exp(-80) = 1.8e-35 times the largest one, change by less than that
# (nothing in float32), but they stay normal floats: the denormal weights
# (below 1.2e-38) that the -100 gives most masked pairs make the softmax
# and the product with the values several times slower on CPU.
_LOGIT_FLOOR = -80.0

# Number of attention logits per chunk of windows on CPU (4 MiB in float32):
# small enough for the logits and the MLP activations to stay in cache.
_CPU_CHUNK_ELEMENTS = 2 ** 20


def _trunc_normal_init(tensor, std=0.02):
    """Truncated normal initialisation in ``[-2, 2]`` (absolute bounds)."""
    nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0, b=2.0)


def _relative_position_index(window_size):
    """
    Index into the relative position bias table for every token pair.

    Token ``i`` of a window has coordinates ``(i // w, i % w)``. The pair
    ``(i, j)`` gets the index ``(dy + w - 1) * (2 w - 1) + (dx + w - 1)``
    with ``(dy, dx) = (y_i - y_j, x_i - x_j)``.

    Returns
    -------
    index : `torch.Tensor`
        int64, shape ``(w * w, w * w)``.
    """
    w = window_size
    yy, xx = torch.meshgrid(torch.arange(w), torch.arange(w), indexing='ij')
    yy = yy.reshape(-1)
    xx = xx.reshape(-1)
    dy = yy[:, None] - yy[None, :] + (w - 1)
    dx = xx[:, None] - xx[None, :] + (w - 1)
    return dy * (2 * w - 1) + dx


def _window_partition(x, window_size):
    """``(B, H, W, C)`` to ``(B, nW, w * w, C)``, windows in raster order."""
    b, h, w, c = x.shape
    ws = window_size
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // ws) * (w // ws), ws * ws, c)


def _window_order(height, width, window_size, shift_size):
    """
    Raster index of the pixel behind each token, in window order.

    The image is cyclically shifted by ``-shift_size`` along both axes and
    split into windows, as in the Swin Transformer; token ``k`` of the
    result (window ``k // w**2``, position ``k % w**2``) is pixel
    ``order[k]`` of the unshifted image.

    Returns
    -------
    order : `torch.Tensor`
        int64, shape ``(height * width,)``, a permutation.
    """
    grid = torch.arange(height * width).view(1, height, width, 1)
    if shift_size:
        grid = torch.roll(grid, shifts=(-shift_size, -shift_size),
                          dims=(1, 2))
    return _window_partition(grid, window_size).reshape(-1)


def _shift_attention_mask(height, width, window_size, shift_size):
    """
    The shifted-window attention mask of the Swin Transformer.

    After the cyclic shift the image is made of 3 x 3 regions (the bottom
    and right bands came from the other side of the image); tokens may only
    attend to tokens of their own region. Other pairs get `_MASK_VALUE`.

    Returns
    -------
    mask : `torch.Tensor`
        float32, shape ``(nW, w * w, w * w)``, values 0 or -100.
    """
    ws, s = window_size, shift_size
    labels = torch.zeros(1, height, width, 1)
    bands = (slice(0, -ws), slice(-ws, -s), slice(-s, None))
    label = 0
    for rows in bands:
        for cols in bands:
            labels[:, rows, cols, :] = label
            label += 1
    labels = _window_partition(labels, ws)[0, :, :, 0]
    diff = labels[:, None, :] - labels[:, :, None]
    return torch.where(diff != 0, torch.tensor(_MASK_VALUE),
                       torch.tensor(0.0))


def _attention(q, k, v, bias, scale, *, mask=None, dropout_p=0.0,
               use_sdpa=False, floor_logits=False):
    """
    Softmax attention with additive biases, ``softmax(s q k^T + b + m) v``.

    Parameters
    ----------
    q, k, v : `torch.Tensor`
        Shape ``(..., N, d)``.
    bias : `torch.Tensor`
        Broadcastable to ``(..., N, N)``.
    scale : float
        Factor ``s`` applied to the queries.
    mask : `torch.Tensor`, optional
        A second additive term, broadcastable to ``(..., N, N)``.
    dropout_p : float, optional
        Dropout probability on the attention weights.
    use_sdpa : bool, optional
        Use `torch.nn.functional.scaled_dot_product_attention` instead of
        the explicit formulation of the reference code.
    floor_logits : bool, optional
        Raise the logits lower than `_LOGIT_FLOOR` relative to the maximum
        of their row to that level before the softmax (explicit
        formulation only): the same result to float32 precision, without
        denormal weights. Only for finite masks (a -inf would be unmasked).

    Returns
    -------
    out : `torch.Tensor`
        Shape ``(..., N, d)``.
    """
    if use_sdpa:
        if mask is not None:
            bias = bias + mask
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    attn = torch.matmul(q * scale, k.transpose(-2, -1))
    attn += bias
    if mask is not None:
        attn += mask
    if floor_logits:
        # The softmax does not depend on a shift of its row: no gradient
        # flows through the maximum.
        attn -= attn.detach().amax(dim=-1, keepdim=True)
        attn = attn.clamp(min=_LOGIT_FLOOR)
    attn = attn.softmax(dim=-1)
    if dropout_p:
        attn = F.dropout(attn, p=dropout_p)
    return torch.matmul(attn, v)


class _DropPath(nn.Module):
    """Stochastic depth: drop whole residual branches per sample."""

    def __init__(self, drop_prob):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def sample_scale(self, batch_size, like):
        """
        Per-sample factors (0 or ``1 / keep``), or None when inactive.

        Returns
        -------
        scale : `torch.Tensor` or None
            Shape ``(batch_size,)``.
        """
        if not self.training or self.drop_prob == 0.0:
            return None
        keep = 1.0 - self.drop_prob
        mask = like.new_empty(batch_size).bernoulli_(keep)
        return mask / keep

    def forward(self, x):
        scale = self.sample_scale(x.shape[0], x)
        if scale is None:
            return x
        return x * scale.view((-1,) + (1,) * (x.ndim - 1))

    def extra_repr(self):
        return format_params(self, ('drop_prob',))


class _Mlp(nn.Module):
    """Linear, GELU, dropout, linear, dropout."""

    def __init__(self, dim, hidden_dim, drop):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        x = self.drop(self.act(self.fc1(x)))
        return self.drop(self.fc2(x))


class _WindowAttention(nn.Module):
    """
    Multi-head self-attention inside windows, with relative position bias.

    Attributes
    ----------
    scale : float
        Factor applied to the queries: ``qk_scale`` when given (8 for the
        published SUNet), else ``head_dim ** -0.5``.
    backend : {'auto', 'sdpa', 'explicit'}
        Class attribute. 'sdpa' uses
        `torch.nn.functional.scaled_dot_product_attention`, 'explicit' the
        softmax formulation of the reference code; 'auto' (default) picks
        'explicit' on CPU, where it is faster for these small heads, and
        'sdpa' elsewhere.
    """

    backend = 'auto'

    def __init__(self, dim, window_size, num_heads, *, qkv_bias, qk_scale,
                 attn_drop, proj_drop):
        super().__init__()
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = (float(qk_scale) if qk_scale is not None
                      else head_dim ** -0.5)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer('relative_position_index',
                             _relative_position_index(window_size))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = float(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        _trunc_normal_init(self.relative_position_bias_table)

    def use_sdpa(self, device):
        """Whether the fused attention kernel is used on ``device``."""
        if self.backend == 'auto':
            return device.type != 'cpu'
        return self.backend == 'sdpa'

    def relative_position_bias(self):
        """The bias added to the attention logits, ``(heads, N, N)``."""
        n = self.window_size ** 2
        index = self.relative_position_index.reshape(-1)
        bias = self.relative_position_bias_table[index]
        return bias.view(n, n, self.num_heads).permute(2, 0, 1).contiguous()

    def forward(self, x, bias=None, mask=None, *, floor_logits=False):
        """
        Attention within windows.

        Parameters
        ----------
        x : `torch.Tensor`
            Windows, shape ``(M, N, C)``.
        bias : `torch.Tensor`, optional
            The relative position bias, `relative_position_bias` by
            default (callers processing chunks compute it once).
        mask : `torch.Tensor`, optional
            Shifted-window mask of these windows, shape ``(nW, N, N)``
            with ``M`` a multiple of ``nW``, added to the logits (0 and
            -100, or 0 and -inf).
        floor_logits : bool, optional
            Floor the logits relative to their row maximum (see
            `_attention`); for a finite mask on CPU.

        Returns
        -------
        out : `torch.Tensor`
            Shape ``(M, N, C)``.
        """
        m, n, c = x.shape
        heads = self.num_heads
        if bias is None:
            bias = self.relative_position_bias()
        qkv = self.qkv(x).view(m, n, 3, heads, c // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if mask is not None:
            nw = mask.shape[0]
            shape = (m // nw, nw, heads, n, c // heads)
            q, k, v = q.reshape(shape), k.reshape(shape), v.reshape(shape)
            mask = mask.unsqueeze(1).to(q.dtype)
        drop = self.attn_drop if self.training else 0.0
        out = _attention(q, k, v, bias.to(q.dtype), self.scale, mask=mask,
                         dropout_p=drop, use_sdpa=self.use_sdpa(x.device),
                         floor_logits=floor_logits)
        out = out.reshape(m, heads, n, c // heads).transpose(1, 2)
        return self.proj_drop(self.proj(out.reshape(m, n, c)))

    def extra_repr(self):
        return format_params(self, ('dim', 'window_size', 'num_heads',
                                    'scale'),
                             overrides={'scale': f'{self.scale:g}'})


class _SwinBlock(nn.Module):
    """
    A Swin-Transformer block: (shifted) window attention and an MLP.

    Both are pre-normalised residual branches. If the resolution is not
    larger than the window, the window shrinks to the resolution and the
    shift is disabled (as in the Swin Transformer).

    Attributes
    ----------
    mask_mode : {'exact', 'additive'}
        How shifted windows mask the token pairs from different regions:
        the ``attn_mask`` buffer (0 and -100, the reference) is added to
        the logits, or the ``region_mask`` one (0 and -inf). See `SUNet`.
        Set it with `set_mask_mode`.
    """

    def __init__(self, dim, resolution, num_heads, *, window_size,
                 shift_size, mlp_ratio, qkv_bias, qk_scale, drop, attn_drop,
                 drop_path, mask_mode='exact'):
        super().__init__()
        self.set_mask_mode(mask_mode)
        self.dim = dim
        self.resolution = tuple(resolution)
        if min(self.resolution) <= window_size:
            window_size = min(self.resolution)
            shift_size = 0
        self.window_size = window_size
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(
            dim, window_size, num_heads, qkv_bias=qkv_bias,
            qk_scale=qk_scale, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = (_DropPath(drop_path) if drop_path > 0
                          else nn.Identity())
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio), drop)
        mask = None
        if shift_size > 0:
            mask = _shift_attention_mask(*self.resolution, window_size,
                                         shift_size)
        # The reference's mask (0 and -100), under the reference's name: it
        # is in the state dict and is what the additive mode adds.
        self.register_buffer('attn_mask', mask)
        # What the exact mode adds: -inf instead of -100. Not in the state
        # dict (the released checkpoint has no such entry).
        if mask is not None:
            mask = torch.where(mask != 0, float('-inf'), 0.0)
        self.register_buffer('region_mask', mask, persistent=False)
        order = _window_order(*self.resolution, window_size, shift_size)
        self.register_buffer('token_order', order, persistent=False)
        self.register_buffer('token_order_inverse', torch.argsort(order),
                             persistent=False)

    def set_mask_mode(self, mode):
        """
        Choose how shifted windows mask pairs of tokens from other regions.

        Parameters
        ----------
        mode : {'exact', 'additive'}
            See `SUNet` (``attention_mask``).
        """
        self.mask_mode = _check_attention_mask(mode)

    @property
    def order_key(self):
        """Blocks of a stage with equal keys share the token order."""
        return (self.window_size, self.shift_size)

    def forward(self, x):
        """
        Apply the block to tokens in raster order, ``(B, H W, C)``.
        """
        y = self.forward_windows(x.index_select(1, self.token_order))
        return y.index_select(1, self.token_order_inverse)

    def _drop_path_scales(self, batch_size, n_windows, like):
        if not isinstance(self.drop_path, _DropPath):
            return None, None
        scales = []
        for _ in range(2):
            s = self.drop_path.sample_scale(batch_size, like)
            if s is not None:
                s = s.repeat_interleave(n_windows).view(-1, 1, 1)
            scales.append(s)
        return scales

    def forward_windows(self, x):
        """
        Apply the block to tokens in window order (see `token_order`).

        Parameters
        ----------
        x : `torch.Tensor`
            Shape ``(B, H W, C)``, token ``k`` being pixel
            ``token_order[k]``.

        Returns
        -------
        out : `torch.Tensor`
            Same shape and order.
        """
        b, length, c = x.shape
        n = self.window_size ** 2
        n_windows = length // n
        windows = x.reshape(b * n_windows, n, c)
        total = b * n_windows
        additive = self.mask_mode == 'additive'
        mask = self.attn_mask if additive else self.region_mask
        floor_logits = (additive and mask is not None
                        and x.device.type == 'cpu')
        if x.device.type == 'cpu':
            per_window = self.attn.num_heads * n * n
            chunk = max(1, _CPU_CHUNK_ELEMENTS // per_window)
        else:
            chunk = total
        if mask is not None:
            if chunk >= n_windows:
                chunk -= chunk % n_windows
            else:
                while n_windows % chunk:
                    chunk -= 1
        chunk = min(chunk, total)
        bias = self.attn.relative_position_bias()
        scale_attn, scale_mlp = self._drop_path_scales(b, n_windows, x)
        keep_graph = torch.is_grad_enabled()
        out = [] if keep_graph else torch.empty_like(windows)
        for start in range(0, total, chunk):
            stop = start + chunk
            xc = windows[start:stop]
            if mask is None:
                mc = None
            elif chunk >= n_windows:
                mc = mask
            else:
                first = start % n_windows
                mc = mask[first:first + chunk]
            y = self.attn(self.norm1(xc), bias=bias, mask=mc,
                          floor_logits=floor_logits)
            if scale_attn is not None:
                y = y * scale_attn[start:stop]
            xc = xc + y
            y = self.mlp(self.norm2(xc))
            if scale_mlp is not None:
                y = y * scale_mlp[start:stop]
            if keep_graph:
                out.append(xc + y)
            else:
                torch.add(xc, y, out=out[start:stop])
        if keep_graph:
            out = torch.cat(out) if len(out) > 1 else out[0]
        return out.view(b, length, c)

    def extra_repr(self):
        params = ('dim', 'resolution', 'window_size', 'shift_size')
        if self.attn_mask is not None:
            params += ('mask_mode',)
        return format_params(self, params)


def _run_blocks(blocks, x):
    """Run Swin blocks on raster-ordered tokens, gathering once per block."""
    current = None
    for block in blocks:
        if current is None:
            x = x.index_select(1, block.token_order)
        elif current.order_key != block.order_key:
            index = current.token_order_inverse[block.token_order]
            x = x.index_select(1, index)
        x = block.forward_windows(x)
        current = block
    if current is not None:
        x = x.index_select(1, current.token_order_inverse)
    return x


class _PatchMerging(nn.Module):
    """2x2 token merging: ``(B, H W, C)`` to ``(B, H W / 4, 2 C)``."""

    def __init__(self, resolution, dim):
        super().__init__()
        self.resolution = tuple(resolution)
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x):
        height, width = self.resolution
        b, _, c = x.shape
        # Concatenation order of the reference: (even row, even column),
        # (odd, even), (even, odd), (odd, odd).
        x = x.view(b, height // 2, 2, width // 2, 2, c)
        x = x.permute(0, 1, 3, 4, 2, 5).reshape(b, -1, 4 * c)
        return self.reduction(self.norm(x))


class _Conv2d(nn.Conv2d):
    """
    `torch.nn.Conv2d` that gives an image the same output alone as inside
    a batch.

    On the CPU, oneDNN picks another convolution kernel for a batch of one
    image than for larger batches, which rounds differently (up to 2.5e-6
    at the output of the published model, from its first convolution on):
    an image run alone did not equal the same image run in a batch. A batch
    of one is therefore convolved as a batch of two (the image twice) and
    the first result kept; the convolutions are a small part of the
    network's time. Larger batches, and the state dict, are unchanged.
    """

    def forward(self, x):
        if x.shape[0] != 1:
            return super().forward(x)
        pair = torch.cat([x, x])
        if not x.is_contiguous() and x.is_contiguous(
                memory_format=torch.channels_last):
            # tokens reshaped to an image: channels-last, as in a batch
            pair = pair.contiguous(memory_format=torch.channels_last)
        return super().forward(pair)[:1]


class _DualUpSample(nn.Module):
    """
    The "dual up-sample" block: x2 up-sampling that halves the channels.

    A pixel-shuffle branch (``up_p``) and a bilinear branch (``up_b``) are
    concatenated and fused by a 1x1 convolution (``conv``). Input and
    output are tokens in raster order.
    """

    def __init__(self, resolution, in_channels):
        super().__init__()
        self.resolution = (resolution, resolution)
        c = in_channels
        self.conv = _Conv2d(c, c // 2, 1, bias=False)
        self.up_p = nn.Sequential(
            _Conv2d(c, 2 * c, 1, bias=False),
            nn.PReLU(),
            nn.PixelShuffle(2),
            _Conv2d(c // 2, c // 2, 1, bias=False))
        self.up_b = nn.Sequential(
            _Conv2d(c, c, 1),
            nn.PReLU(),
            nn.Upsample(scale_factor=2, mode='bilinear',
                        align_corners=False),
            _Conv2d(c, c // 2, 1, bias=False))

    def forward(self, x):
        height, width = self.resolution
        b, _, c = x.shape
        x = x.transpose(1, 2).reshape(b, c, height, width)
        out = self.conv(torch.cat([self.up_p(x), self.up_b(x)], dim=1))
        return out.flatten(2).transpose(1, 2)


class _Stage(nn.Module):
    """Swin blocks, shifted on odd indices."""

    def __init__(self, dim, resolution, depth, num_heads, *, drop_path,
                 **block_kwargs):
        super().__init__()
        shift = block_kwargs['window_size'] // 2
        self.blocks = nn.ModuleList([
            _SwinBlock(dim, resolution, num_heads,
                       shift_size=0 if i % 2 == 0 else shift,
                       drop_path=drop_path[i], **block_kwargs)
            for i in range(depth)])


class _EncoderStage(_Stage):
    """Swin blocks followed by an optional patch merging."""

    def __init__(self, dim, resolution, depth, num_heads, *, downsample,
                 **kwargs):
        super().__init__(dim, resolution, depth, num_heads, **kwargs)
        self.downsample = (_PatchMerging(resolution, dim) if downsample
                           else None)

    def forward(self, x):
        x = _run_blocks(self.blocks, x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


class _DecoderStage(_Stage):
    """Swin blocks followed by an optional dual up-sampling."""

    def __init__(self, dim, resolution, depth, num_heads, *, upsample,
                 **kwargs):
        super().__init__(dim, resolution, depth, num_heads, **kwargs)
        self.upsample = (_DualUpSample(resolution[0], dim) if upsample
                         else None)

    def forward(self, x):
        x = _run_blocks(self.blocks, x)
        if self.upsample is not None:
            x = self.upsample(x)
        return x


class _PatchEmbed(nn.Module):
    """Patch embedding: a strided convolution and a LayerNorm on tokens."""

    def __init__(self, patch_size, dim, patch_norm):
        super().__init__()
        self.proj = _Conv2d(dim, dim, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(dim) if patch_norm else None

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x


class _SwinUNet(nn.Module):
    """The network (attribute ``swin_unet`` of the reference model)."""

    def __init__(self, *, img_size, patch_size, in_chans, out_chans,
                 embed_dim, depths, num_heads, window_size, mlp_ratio,
                 qkv_bias, qk_scale, drop_rate, attn_drop_rate,
                 drop_path_rate, ape, patch_norm, attention_mask):
        super().__init__()
        n_stages = len(depths)
        self.n_stages = n_stages
        self.resolution = img_size // patch_size
        self.prelu = nn.PReLU()  # unused; kept for the checkpoint layout
        self.conv_first = _Conv2d(in_chans, embed_dim, 3, padding=1)
        self.patch_embed = _PatchEmbed(patch_size, embed_dim, patch_norm)
        if ape:
            self.absolute_pos_embed = nn.Parameter(
                torch.zeros(1, self.resolution ** 2, embed_dim))
            _trunc_normal_init(self.absolute_pos_embed)
        else:
            self.absolute_pos_embed = None
        self.pos_drop = nn.Dropout(drop_rate)
        # Stochastic depth rates of the encoder blocks; the decoder stage
        # of the same resolution reuses them.
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        starts = [sum(depths[:i]) for i in range(n_stages + 1)]
        block_kwargs = dict(window_size=window_size, mlp_ratio=mlp_ratio,
                            qkv_bias=qkv_bias, qk_scale=qk_scale,
                            drop=drop_rate, attn_drop=attn_drop_rate,
                            mask_mode=attention_mask)

        def stage_kwargs(i):
            res = self.resolution // 2 ** i
            return dict(dim=embed_dim * 2 ** i, resolution=(res, res),
                        depth=depths[i], num_heads=num_heads[i],
                        drop_path=rates[starts[i]:starts[i + 1]],
                        **block_kwargs)

        self.layers = nn.ModuleList([
            _EncoderStage(downsample=i < n_stages - 1, **stage_kwargs(i))
            for i in range(n_stages)])
        self.layers_up = nn.ModuleList()
        self.concat_back_dim = nn.ModuleList()
        for k in range(n_stages):
            i = n_stages - 1 - k
            dim = embed_dim * 2 ** i
            if k == 0:
                self.layers_up.append(
                    _DualUpSample(self.resolution // 2 ** i, dim))
                self.concat_back_dim.append(nn.Identity())
            else:
                self.layers_up.append(_DecoderStage(
                    upsample=k < n_stages - 1, **stage_kwargs(i)))
                self.concat_back_dim.append(nn.Linear(2 * dim, dim))
        self.norm = nn.LayerNorm(embed_dim * 2 ** (n_stages - 1))
        self.norm_up = nn.LayerNorm(embed_dim)
        self.up = (nn.Upsample(scale_factor=patch_size, mode='bilinear',
                               align_corners=False) if patch_size > 1
                   else nn.Identity())
        self.output = _Conv2d(embed_dim, out_chans, 3, padding=1,
                              bias=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            _trunc_normal_init(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x):
        x = self.patch_embed(self.conv_first(x))
        if self.absolute_pos_embed is not None:
            x = x + self.absolute_pos_embed
        x = self.pos_drop(x)
        skips = []
        for layer in self.layers:
            skips.append(x)
            x = layer(x)
        x = self.norm(x)
        for k, layer in enumerate(self.layers_up):
            if k > 0:
                x = torch.cat([x, skips[self.n_stages - 1 - k]], dim=-1)
                x = self.concat_back_dim[k](x)
            x = layer(x)
        x = self.norm_up(x)
        b, _, c = x.shape
        x = x.transpose(1, 2).reshape(b, c, self.resolution, self.resolution)
        return self.output(self.up(x))


def _check_int_sequence(value, name):
    try:
        values = tuple(value)
    except TypeError:
        msg = f'{name} must be a sequence of integers, got {value!r}'
        raise TypeError(msg) from None
    for item in values:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            msg = f'{name} must be a sequence of integers >= 1, got {value!r}'
            raise ValueError(msg)
    return values


def _check_attention_mask(value):
    if not isinstance(value, str) or value not in _ATTENTION_MASKS:
        msg = f"attention_mask must be 'additive' or 'exact', got {value!r}"
        raise ValueError(msg)
    return value


def _check_rate(value, name):
    if isinstance(value, bool) or not 0 <= value < 1:
        msg = f'{name} must be in [0, 1), got {value!r}'
        raise ValueError(msg)
    return float(value)


class SUNet(Denoiser):
    """
    Swin-Transformer UNet denoiser of Akhaury et al. (2024).

    The defaults are the configuration of the released deconvolution model
    (``SUNet_model_bestSSIM_ep-400_bs-16_ps-1.pth``): 38,365,111 parameters
    for 128 x 128 single-band images, normalised as ``(tikhonov - mean) /
    max``. The network has fixed input size ``(img_size, img_size)``
    (attention masks are built for it); use tiled inference for larger
    images. It ignores the noise level and returns the image itself (no
    global residual). Load trained weights with `load_sunet_checkpoint`.

    Parameters
    ----------
    img_size : int, optional
        Side of the (square) input images.
    patch_size : int, optional
        Side of the patch embedding (1: one token per pixel).
    in_chans, out_chans : int, optional
        Numbers of input and output channels.
    embed_dim : int, optional
        Token dimension of the first stage; it doubles at every stage.
    depths : sequence of int, optional
        Swin blocks per encoder stage; the decoder stage at the same
        resolution has as many (the deepest stage has no decoder twin).
    num_heads : sequence of int, optional
        Attention heads per stage.
    window_size : int, optional
        Side of the attention windows; odd blocks shift them by
        ``window_size // 2``.
    mlp_ratio : float, optional
        Hidden dimension of the MLPs relative to the token dimension.
    qkv_bias : bool, optional
        Bias in the query/key/value projection.
    qk_scale : float or None, optional
        Factor applied to the queries; None means ``head_dim ** -0.5``. The
        published model multiplies them by 8.
    drop_rate, attn_drop_rate : float, optional
        Dropout rates (projections and MLPs; attention weights).
    drop_path_rate : float, optional
        Largest stochastic depth rate (training only).
    ape : bool, optional
        Add a learned absolute position embedding.
    patch_norm : bool, optional
        LayerNorm after the patch embedding.
    final_upsample : {'bilinear'}, optional
        Up-sampling back to the pixel grid, bilinear (the identity for
        ``patch_size=1``).
    attention_mask : {'exact', 'additive'}, optional
        How shifted-window attention masks the token pairs from different
        image regions. ``'additive'`` adds -100 to their logits before the
        softmax, exactly as the reference code (the Swin Transformer's
        ``attn_mask.masked_fill(mask != 0, float(-100.0))``): the mode of
        the published weights, which `load_sunet_checkpoint` sets when it
        loads a reference checkpoint into a model whose mode was not
        chosen. ``'exact'`` gives them weight zero (a -inf logit). The two
        agree to float32 precision as long as no masked logit exceeds the
        largest unmasked logit of its row by more than about 85 (the
        relative weight ``exp(85 - 100)`` is below 3e-7). With larger
        logits (for instance query and key weights scaled by 3) the
        reference lets masked pairs through and the outputs differ by 1e-2
        or more: published weights give the published outputs only with
        ``'additive'``. New models default to ``'exact'``: a true mask,
        whatever the size of the logits (nothing leaks across the seam of
        the cyclic shift), and the behaviour of the earlier versions of
        this class. On CPU, ``'additive'`` raises the logits lower than 80
        below their row maximum to that level (the same result to float32
        precision): the denormal weights (below 1.2e-38) that the -100
        gives most masked pairs would slow the softmax down several-fold.
        The mode is recorded in `arch_kwargs`, so
        `~astrodeconv.denoisers.save_denoiser` and
        `~astrodeconv.denoisers.load_denoiser` keep it; change it with
        `set_attention_mask`.

    Attributes
    ----------
    swin_unet : `torch.nn.Module`
        The network; its state dict is that of the reference code.
    config : dict
        The constructor arguments (``attention_mask`` follows
        `set_attention_mask`).
    attention_mask : {'exact', 'additive'}
        The current mask mode (read-only; see `set_attention_mask`).

    Examples
    --------
    A small configuration:

    >>> import torch
    >>> from astrodeconv.denoisers.sunet import SUNet
    >>> net = SUNet(img_size=16, embed_dim=8, depths=(2, 2),
    ...             num_heads=(2, 2), window_size=4).eval()
    >>> with torch.inference_mode():
    ...     out = net(torch.zeros(2, 1, 16, 16))
    >>> tuple(out.shape)
    (2, 1, 16, 16)
    >>> net.fixed_size
    (16, 16)
    """

    requires_sigma = False
    fixed_size = (128, 128)
    size_multiple = 1

    def __init__(self, *, img_size=128, patch_size=1, in_chans=1,
                 out_chans=1, embed_dim=48, depths=(2, 6, 8, 16),
                 num_heads=(8, 8, 8, 8), window_size=8, mlp_ratio=4.0,
                 qkv_bias=True, qk_scale=8, drop_rate=0.0,
                 attn_drop_rate=0.0, drop_path_rate=0.1, ape=False,
                 patch_norm=True, final_upsample='bilinear',
                 attention_mask='exact'):
        super().__init__()
        for name, value in (('img_size', img_size),
                            ('patch_size', patch_size),
                            ('in_chans', in_chans), ('out_chans', out_chans),
                            ('embed_dim', embed_dim),
                            ('window_size', window_size)):
            check_positive_int(value, name)
        depths = _check_int_sequence(depths, 'depths')
        num_heads = _check_int_sequence(num_heads, 'num_heads')
        if len(depths) < 2:
            msg = f'depths must have at least 2 stages, got {depths!r}'
            raise ValueError(msg)
        if len(num_heads) != len(depths):
            msg = (f'num_heads must have one entry per stage ({len(depths)}),'
                   f' got {num_heads!r}')
            raise ValueError(msg)
        for i, heads in enumerate(num_heads):
            if (embed_dim * 2 ** i) % heads:
                msg = (f'num_heads must divide the stage dimensions '
                       f'embed_dim * 2**i, got {heads} heads for dimension '
                       f'{embed_dim * 2 ** i} (stage {i})')
                raise ValueError(msg)
        factor = patch_size * 2 ** (len(depths) - 1)
        if img_size % factor:
            msg = (f'img_size must be a multiple of patch_size * '
                   f'2**(len(depths) - 1) = {factor}, got {img_size}')
            raise ValueError(msg)
        for i in range(len(depths)):
            res = img_size // patch_size // 2 ** i
            if res > window_size and res % window_size:
                msg = (f'window_size must divide the resolution of every '
                       f'stage larger than the window, got {window_size} '
                       f'for resolution {res} (stage {i})')
                raise ValueError(msg)
        if isinstance(mlp_ratio, bool) or not mlp_ratio > 0:
            msg = f'mlp_ratio must be positive, got {mlp_ratio!r}'
            raise ValueError(msg)
        if qk_scale is not None and (isinstance(qk_scale, bool)
                                     or not qk_scale > 0):
            msg = f'qk_scale must be None or positive, got {qk_scale!r}'
            raise ValueError(msg)
        drop_rate = _check_rate(drop_rate, 'drop_rate')
        attn_drop_rate = _check_rate(attn_drop_rate, 'attn_drop_rate')
        drop_path_rate = _check_rate(drop_path_rate, 'drop_path_rate')
        if final_upsample != 'bilinear':
            msg = (f"final_upsample must be 'bilinear' (the unembedded "
                   f"SUNet), got {final_upsample!r}")
            raise ValueError(msg)
        _check_attention_mask(attention_mask)
        self.config = dict(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans,
            out_chans=out_chans, embed_dim=embed_dim, depths=depths,
            num_heads=num_heads, window_size=window_size,
            mlp_ratio=float(mlp_ratio), qkv_bias=bool(qkv_bias),
            qk_scale=qk_scale, drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
            ape=bool(ape), patch_norm=bool(patch_norm),
            final_upsample=final_upsample, attention_mask=attention_mask)
        self.fixed_size = (img_size, img_size)
        self.in_chans = in_chans
        kwargs = dict(self.config)
        del kwargs['final_upsample']
        self.swin_unet = _SwinUNet(**kwargs)

    @property
    def attention_mask(self):
        """The mask mode of shifted windows, ``'exact'`` or ``'additive'``."""
        return self.config['attention_mask']

    @property
    def _attention_mask_chosen(self):
        """
        Whether the mode was chosen: passed to the constructor or set.

        `load_sunet_checkpoint` keeps a chosen mode and otherwise sets the
        one of the checkpoint.
        """
        return 'attention_mask' in getattr(self, '_arch_kwargs', {})

    def set_attention_mask(self, mode):
        """
        Change the mask mode of the shifted windows.

        The weights and the state dict are unchanged; ``config`` and
        `arch_kwargs` record the new mode.

        Parameters
        ----------
        mode : {'exact', 'additive'}
            See the ``attention_mask`` parameter of `SUNet`.

        Returns
        -------
        self : `SUNet`

        Examples
        --------
        >>> from astrodeconv.denoisers.sunet import SUNet
        >>> net = SUNet(img_size=16, embed_dim=8, depths=(2, 2),
        ...             num_heads=(2, 2), window_size=4)
        >>> net.attention_mask
        'exact'
        >>> net.set_attention_mask('additive').arch_kwargs()['attention_mask']
        'additive'
        """
        _check_attention_mask(mode)
        for module in self.swin_unet.modules():
            if isinstance(module, _SwinBlock):
                module.set_mask_mode(mode)
        self.config['attention_mask'] = mode
        kwargs = dict(getattr(self, '_arch_kwargs', {}))
        kwargs['attention_mask'] = mode
        object.__setattr__(self, '_arch_kwargs', kwargs)
        return self

    def arch_kwargs(self):
        """
        The constructor arguments, always with the current mask mode.

        Returns
        -------
        kwargs : dict
            The arguments this instance was built with, and
            ``attention_mask`` (even when left to its default), so that a
            saved model is rebuilt with its mode.
        """
        kwargs = super().arch_kwargs()
        kwargs['attention_mask'] = self.attention_mask
        return kwargs

    def check_input(self, x):
        """Raise a clear error for a badly shaped input batch."""
        if self.in_chans == 1 or not isinstance(x, torch.Tensor):
            return super().check_input(x)
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            msg = (f'x must have shape (B, {self.in_chans}, H, W), got '
                   f'{tuple(x.shape)}')
            raise ValueError(msg)
        # The base class checks the size of single-channel inputs.
        return super().check_input(x[:, :1])

    def forward(self, x, sigma=None):
        """
        Denoise a batch of images.

        Parameters
        ----------
        x : `torch.Tensor`
            Shape ``(B, in_chans, img_size, img_size)``.
        sigma : optional
            Ignored (SUNet is trained for one noise distribution).

        Returns
        -------
        out : `torch.Tensor`
            Shape ``(B, out_chans, img_size, img_size)``.
        """
        self.check_input(x)
        return self.swin_unet(x)


#: SUNet buffers recomputed from the configuration: a checkpoint may lack
#: them, but if it has them they must equal ours.
SUNET_BUFFER_SUFFIXES = ('.attn.relative_position_index', '.attn_mask')


def checkpoint_attention_mask(checkpoint):
    """
    The SUNet attention-mask mode a loaded checkpoint was made with.

    Parameters
    ----------
    checkpoint : dict
        The content of a checkpoint file.

    Returns
    -------
    mode : {'additive', 'exact'}
        The ``attention_mask`` recorded in its ``arch_kwargs`` (files of
        `~astrodeconv.denoisers.save_denoiser` and of the trainer). A file
        of that kind without it was written before the mode existed, when
        the forward pass always masked exactly: ``'exact'``. Any other
        checkpoint (the released file, a bare state dict) comes from the
        reference code: ``'additive'``.

    Raises
    ------
    ValueError
        If the recorded mode is not one of the two.
    """
    arch_kwargs = (checkpoint.get('arch_kwargs')
                   if isinstance(checkpoint, Mapping) else None)
    if not isinstance(arch_kwargs, Mapping):
        return 'additive'
    mode = arch_kwargs.get('attention_mask', 'exact')
    if mode not in ('additive', 'exact'):
        msg = (f"checkpoint records attention_mask={mode!r} in its "
               f"arch_kwargs; it must be 'additive' or 'exact'")
        raise ValueError(msg)
    return mode


def load_sunet_checkpoint(path_or_dict, *, map_location='cpu', model=None):
    """
    Build a `~astrodeconv.denoisers.SUNet` and load trained weights into it.

    Parameters
    ----------
    path_or_dict : str, path-like or dict
        A checkpoint file, read with ``torch.load(...,
        weights_only=True)``, or its already-loaded content. Accepted
        layouts: the released one ``{'epoch', 'state_dict',
        'optimizer'}``, ``{'model_state_dict': ...}``, or a bare state
        dict. Keys may carry the ``module.`` prefix of
        `torch.nn.DataParallel` and may lack the ``swin_unet.`` prefix.
        The buffers ``relative_position_index`` and ``attn_mask`` may be
        absent (they are recomputed); if present they must match.
    map_location : str or `torch.device`, optional
        Where `torch.load` puts the tensors of a file (unused for a dict).
    model : `~astrodeconv.denoisers.SUNet`, optional
        The model to load into (e.g. a non-default configuration). By
        default, ``SUNet()`` with the published configuration.

    Returns
    -------
    model : `~astrodeconv.denoisers.SUNet`
        With the weights loaded strictly, in evaluation mode, and the
        attention mask the weights were trained with (see the
        ``attention_mask`` parameter of `~astrodeconv.denoisers.SUNet`):
        the reference's ``'additive'`` one for a reference checkpoint (the
        released file, a bare state dict, anything without astrodeconv's
        ``arch_kwargs``), without which published weights do not give the
        published outputs once some logits are large; the recorded one for
        a file of `~astrodeconv.denoisers.save_denoiser` or of the trainer
        (``'exact'`` if it records none). A ``model`` built with an
        explicit ``attention_mask`` (or given one with
        ``set_attention_mask``) keeps it: pass
        ``model=SUNet(attention_mask='exact')`` to run published weights
        with a true mask.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a readable checkpoint or the checkpoint does not
        match the architecture (missing or unexpected keys, shape
        mismatches, different buffers).

    Examples
    --------
    >>> import torch
    >>> from astrodeconv.denoisers import SUNet, load_sunet_checkpoint
    >>> small = dict(img_size=16, embed_dim=8, depths=(2, 2),
    ...              num_heads=(2, 2), window_size=4)
    >>> trained = SUNet(**small)
    >>> ckpt = {'epoch': 1, 'state_dict': trained.state_dict()}
    >>> net = load_sunet_checkpoint(ckpt, model=SUNet(**small))
    >>> net.training
    False
    >>> net.attention_mask
    'additive'
    """
    if model is None:
        model = SUNet()
    elif not isinstance(model, SUNet):
        msg = f'model must be a SUNet or None, got {type(model).__name__}'
        raise TypeError(msg)
    if isinstance(path_or_dict, (str, os.PathLike)):
        checkpoint = read_checkpoint(
            path_or_dict, map_location=map_location,
            unsafe_advice=('If you trust the file, load it with '
                           'torch.load(path, weights_only=False) and pass '
                           'the resulting dict to load_sunet_checkpoint.'))
        if not isinstance(checkpoint, Mapping):
            msg = (f'{os.fspath(path_or_dict)!r} must hold a dict (a state '
                   f'dict or a training checkpoint), got '
                   f'{type(checkpoint).__name__}')
            raise ValueError(msg)
    elif isinstance(path_or_dict, Mapping):
        checkpoint = path_or_dict
    else:
        msg = (f'path_or_dict must be a path or a dict, got '
               f'{type(path_or_dict).__name__}')
        raise TypeError(msg)
    state = extract_state_dict(checkpoint, prefix='swin_unet.')
    mode = checkpoint_attention_mask(checkpoint)
    check_state_keys(model, state, optional=SUNET_BUFFER_SUFFIXES,
                     hint='Build the SUNet configuration the checkpoint was '
                          'trained with and pass it as model=.')
    for name, value in model.state_dict().items():
        if not name.endswith(SUNET_BUFFER_SUFFIXES):
            continue
        if name not in state:
            state[name] = value
        elif not torch.equal(state[name].to(value.device, value.dtype),
                             value):
            msg = (f'checkpoint buffer {name} must equal the one recomputed '
                   f'for this SUNet configuration (window_size='
                   f'{model.config["window_size"]}, img_size='
                   f'{model.config["img_size"]}); the checkpoint was made '
                   f'with another configuration')
            raise ValueError(msg)
    model.load_state_dict(state, strict=True)
    if not model._attention_mask_chosen:
        model.set_attention_mask(mode)
    return model.eval()
