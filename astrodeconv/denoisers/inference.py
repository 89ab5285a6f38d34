# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The one way to run a denoiser on images: normalise, tiled pass, restore.

`denoise_images` normalises every image as the network was trained
(``astrodeconv.denoisers.normalization``), runs the network on the whole
images or on overlapping tiles blended with smooth weights (so that no seam
shows at tile borders, and the memory of a pass stays bounded), and undoes
the normalisation. Every learned path of the package runs its network
through it: `~astrodeconv.deconvolution.LearnedDeconvolver`, the
plug-and-play and unrolled iterations (once per iteration, on images they
have already scaled: ``normalization=None``) and the learned step of the
multi-band solver.

NumPy images run without gradients (`torch.inference_mode`) and come back
as NumPy arrays; tensors run in the caller's autograd mode and come back as
tensors, so that a loop trained end to end gets the gradients through the
tiles.
"""

import numpy as np
import torch

from ..utils._torch import resolve_device, to_numpy, to_tensor
from ..utils._validation import check_bool, check_choice, check_positive_int
from .normalization import NORMALIZATIONS, denormalize, normalize_pair
from .tiling import (AUTO_TILE_LIMIT, AUTO_TILE_SIZE, PIXELS_PER_PASS,
                     resolve_tiling, run_tiled)

__all__ = ['denoise_images']


class _Runner:
    """One call of `denoise_images`: the network on normalised images."""

    def __init__(self, model, device, batch_size, amp, progress):
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.amp = amp
        self.needs_sigma = getattr(model, 'requires_sigma', False)
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(desc='denoiser', unit='pass')

    def per_pass(self, height, width):
        """Images of this size per forward pass (memory bound)."""
        return max(1, min(self.batch_size,
                          PIXELS_PER_PASS // (height * width)))

    def __call__(self, tiles, sigma):
        """The network on a stack ``(B, H, W)``, as NumPy or tensors."""
        tensor = isinstance(tiles, torch.Tensor)
        if tensor:
            x = tiles.to(self.device, torch.float32)[:, None]
            out = self._forward(x, sigma)
        else:
            x = to_tensor(tiles, self.device)
            with torch.inference_mode():
                out = self._forward(x, sigma)
        if tuple(out.shape) != tuple(x.shape):
            msg = (f'the denoiser must return a tensor of the input shape '
                   f'{tuple(x.shape)}, got {tuple(out.shape)}')
            raise ValueError(msg)
        if self.bar is not None:
            self.bar.update(1)
        if tensor:
            out = out[:, 0].to(tiles.device, tiles.dtype)
            finite = bool(torch.all(torch.isfinite(out.detach())))
        else:
            out = to_numpy(out.float())
            finite = bool(np.all(np.isfinite(out)))
        if not finite:
            msg = ('the denoiser returned non-finite values (NaN or inf); '
                   'check the weights and the input normalisation')
            raise FloatingPointError(msg)
        return out

    def _forward(self, x, sigma):
        use_amp = self.amp and self.device.type == 'cuda'
        with torch.autocast(self.device.type, enabled=use_amp,
                            dtype=torch.float16):
            if self.needs_sigma:
                s = torch.as_tensor(sigma, dtype=torch.float32,
                                    device=self.device)
                return self.model(x, s)
            try:
                return self.model(x, None)
            except TypeError:
                return self.model(x)

    def run(self, normed, sigma, tile, overlap):
        """The network on ``(N, H, W)``, tiled or whole."""
        n, height, width = normed.shape
        if tile == 'auto':
            tile = (None if max(height, width) <= AUTO_TILE_LIMIT
                    else min(AUTO_TILE_SIZE, height, width))
            overlap = None if tile is None else (
                overlap if overlap is not None else tile // 4)
        if tile is not None:
            if tile > height or tile > width:
                msg = (f'tile_size must not exceed the image size '
                       f'({height}x{width}), got {tile}; use a smaller '
                       'tile or pad the image')
                raise ValueError(msg)
            return run_tiled(lambda t, idx: self(t, sigma[idx]), normed,
                             tile=tile, overlap=overlap,
                             batch_size=self.per_pass(tile, tile))
        per_pass = self.per_pass(height, width)
        mult = getattr(self.model, 'size_multiple', 1)
        pad_y, pad_x = (-height) % mult, (-width) % mult
        if not (pad_y or pad_x):
            padded = normed
        elif isinstance(normed, torch.Tensor):
            padded = torch.nn.functional.pad(
                normed[:, None], (0, pad_x, 0, pad_y), mode='reflect')[:, 0]
        else:
            padded = np.pad(normed, ((0, 0), (0, pad_y), (0, pad_x)),
                            mode='reflect')
        parts = [self(padded[i:i + per_pass], sigma[i:i + per_pass])
                 for i in range(0, n, per_pass)]
        out = (torch.cat(parts) if isinstance(normed, torch.Tensor)
               else np.concatenate(parts))
        return out[:, :height, :width]

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _model_device(model):
    """The device of the first parameter or buffer of ``model`` (or CPU)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device('cpu')


def _normalize_tensor(images, mode):
    """`normalize_pair` in torch for tensors (same formulas, no target)."""
    axes = (-2, -1)
    if mode == 'sky':
        from .normalization import sky_level

        offset = torch.as_tensor(sky_level(images.detach().cpu().numpy()),
                                 dtype=images.dtype, device=images.device)
        centred = images - offset
        peak = centred.amax(dim=axes, keepdim=True)
    else:
        offset = images.mean(dim=axes, keepdim=True)
        centred = images - offset
        peak = images.amax(dim=axes, keepdim=True)
    spread = centred.abs().amax(dim=axes, keepdim=True)
    scale = torch.where(peak > 0, peak, spread)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return centred / scale, offset, scale


def _check_sigma(sigma, n, needs_sigma, like=None):
    """
    ``sigma`` as ``(N,)`` values in image units: an array, or a tensor
    (gradients kept) when ``like`` is one; zeros for a network that does
    not take it.
    """
    if not needs_sigma:
        return np.zeros(n) if like is None else like.new_zeros(n)
    if sigma is None:
        msg = ('sigma must be given for a denoiser that takes the noise '
               'level (requires_sigma=True), got None')
        raise ValueError(msg)
    if like is not None:
        values = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
        if values.ndim == 0:
            values = values.expand(n)
        check = values.detach().cpu().numpy()
    else:
        if isinstance(sigma, torch.Tensor):
            sigma = sigma.detach().cpu().numpy()
        values = np.asarray(sigma, dtype=float)
        if values.ndim == 0:
            values = np.full(n, float(values))
        check = values
    if check.shape != (n,) or not np.all(np.isfinite(check)) or np.any(
            check < 0):
        msg = (f'sigma must be a non-negative number or one per image '
               f'(shape ({n},)), got {sigma!r}')
        raise ValueError(msg)
    return values


def denoise_images(model, images, *, sigma=None, normalization='inference',
                   tile_size='auto', tile_overlap=None, batch_size=16,
                   device=None, amp=False, progress=False):
    """
    Run a denoiser on images: normalise, tiled pass, restore.

    Parameters
    ----------
    model : `torch.nn.Module`
        A denoiser with ``forward(x, sigma=None)`` (or ``forward(x)``) on
        ``(B, 1, H, W)`` batches, e.g. from
        `~astrodeconv.denoisers.load_denoiser`. Its attributes
        ``requires_sigma``, ``fixed_size`` and ``size_multiple`` (see
        `~astrodeconv.denoisers.Denoiser`) are honoured. It is not
        switched to evaluation mode: do it for inference.
    images : `~numpy.ndarray` or `torch.Tensor`
        One image ``(H, W)`` or a stack ``(N, H, W)``. NumPy arrays run
        without gradients and in float32 on ``device`` and come back as
        float64 (float32 when tiled in single precision); tensors run in
        the caller's autograd mode (wrap the call in `torch.no_grad` for
        none) and come back as tensors of their dtype and device.
    sigma : float or array_like, optional
        The noise level of each image (one value, or one per image), in
        the units of ``images``; divided by the normalisation scale of
        each image before it reaches the network. Required for networks
        that take it (``requires_sigma``), ignored by the others.
    normalization : {'inference', 'target', 'sky'} or None, optional
        How the images are normalised for the network and restored after
        it (`~astrodeconv.denoisers.normalize_pair` and
        `~astrodeconv.denoisers.denormalize`, the functions the training
        sets use): ``'inference'`` (default; ``'target'``, the published
        training recipe, normalises the same way at inference, where no
        target exists) ``(x - mean) / max``, ``'sky'`` ``(x - sky) /
        max(x - sky)``, or None for images already in the units the
        network expects (the plug-and-play iterations).
    tile_size : int, None or 'auto', optional
        Tile size in pixels; None runs whole images (padded by reflection
        to a multiple of ``size_multiple``). ``'auto'`` (default) runs
        images of up to `AUTO_TILE_LIMIT` pixels a side whole and larger
        ones in tiles of `AUTO_TILE_SIZE`; networks of a fixed input size
        (SUNet) always run on tiles of that size.
    tile_overlap : int, optional
        Overlap between tiles, spanned by the blending ramps. Default: a
        quarter of the tile size.
    batch_size : int, optional
        The most tiles (or images) per forward pass; fewer when they are
        large, so that one pass holds at most `PIXELS_PER_PASS` pixels.
    device : str or `torch.device`, optional
        Where the network runs: None (default) where its parameters are;
        otherwise ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` (the
        model is moved there, in place, as by `torch.nn.Module.to`).
    amp : bool, optional
        Mixed precision (float16 autocast) on CUDA.
    progress : bool, optional
        Show a progress bar of the forward passes.

    Returns
    -------
    out : `~numpy.ndarray` or `torch.Tensor`
        The denoised images, of the shape of ``images``.

    Raises
    ------
    ValueError
        For a bad argument (the message names it), or when the network
        returns another shape.
    FloatingPointError
        If the network returns NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from astrodeconv.denoisers import UNet64, denoise_images
    >>> torch.manual_seed(0)  # doctest: +IGNORE_OUTPUT
    >>> net = UNet64(base_width=4, n_levels=2).eval()
    >>> image = np.random.default_rng(0).normal(10.0, 1.0, (600, 600))
    >>> out = denoise_images(net, image, tile_size=128)
    >>> out.shape, out.dtype
    ((600, 600), dtype('float64'))
    """
    if not isinstance(model, torch.nn.Module):
        msg = (f'model must be a torch.nn.Module, got '
               f'{type(model).__name__}')
        raise TypeError(msg)
    if normalization is not None:
        normalization = check_choice(normalization, 'normalization',
                                     NORMALIZATIONS)
    batch_size = check_positive_int(batch_size, 'batch_size')
    amp = check_bool(amp, 'amp')
    progress = check_bool(progress, 'progress')
    tile, overlap = resolve_tiling(model, tile_size, tile_overlap)
    if device is None:
        device = _model_device(model)
    else:
        device = resolve_device(device)
        model.to(device)
    tensor = isinstance(images, torch.Tensor)
    if not tensor:
        images = np.asarray(images)
        if not np.issubdtype(images.dtype, np.floating):
            images = images.astype(float)
    if images.ndim not in (2, 3) or 0 in images.shape:
        msg = (f'images must be one image (H, W) or a stack (N, H, W), got '
               f'shape {tuple(images.shape)}')
        raise ValueError(msg)
    single = images.ndim == 2
    if single:
        images = images[None]
    runner = _Runner(model, device, batch_size, amp, progress)
    sigma = _check_sigma(sigma, len(images), runner.needs_sigma,
                         like=images if tensor else None)
    try:
        if normalization is None:
            out = runner.run(images, sigma, tile, overlap)
            if tensor:
                out = out.to(images.device, images.dtype)
        elif tensor:
            mode = 'sky' if normalization == 'sky' else 'inference'
            normed, offset, scale = _normalize_tensor(images, mode)
            out = runner.run(normed, sigma / scale[:, 0, 0], tile, overlap)
            out = out.to(images.device, images.dtype) * scale + offset
        else:
            mode = 'sky' if normalization == 'sky' else 'inference'
            normed, _, params = normalize_pair(images, mode=mode)
            out = runner.run(normed, sigma / params.scale[:, 0, 0], tile,
                             overlap)
            out = denormalize(out, params)
    finally:
        runner.close()
    return out[0] if single else out
