# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Running a network on images of any size: overlapping tiles blended with
smooth weights, so that no seam shows at tile borders.

`resolve_tiling` checks a tiling for a network, `run_tiled` runs any
function of a stack of tiles over overlapping windows and blends the
results (NumPy arrays, or tensors with gradients), as
`~astrodeconv.denoisers.denoise_images` does. Nothing here imports PyTorch
unless tensors are given.
"""

import numpy as np

from ..utils._blending import ramp_weight
from ..utils._validation import check_choice, check_positive_int

__all__ = ['resolve_tiling', 'tile_starts', 'run_tiled', 'AUTO_TILE_LIMIT',
           'AUTO_TILE_SIZE', 'PIXELS_PER_PASS']

#: With ``tile_size='auto'``, images larger than this (pixels a side) are
#: processed in tiles.
AUTO_TILE_LIMIT = 512
#: With ``tile_size='auto'``, the tile size used for larger images.
AUTO_TILE_SIZE = 256
#: The most pixels the network processes in one forward pass.
PIXELS_PER_PASS = 2 ** 18


def resolve_tiling(model, tile_size='auto', tile_overlap=None):
    """
    Check a tiling for a network and fill in its defaults.

    Parameters
    ----------
    model : `torch.nn.Module`
        The network; a ``fixed_size`` attribute (SUNet) fixes the tile size.
    tile_size : int, None or 'auto', optional
        See `denoise_images`.
    tile_overlap : int or None, optional
        See `denoise_images`.

    Returns
    -------
    tile_size : int, None or 'auto'
        ``'auto'`` stays (decided per image size) for networks of any input
        size; networks of a fixed size get that size.
    tile_overlap : int or None
        A quarter of the tile size when not given (None for whole images
        and ``'auto'``).

    Raises
    ------
    ValueError
        If the tile is smaller than 8 pixels, differs from the input size
        of a fixed-size network, or is not larger than the overlap.

    Examples
    --------
    >>> from astrodeconv.denoisers import UNet64, resolve_tiling
    >>> net = UNet64(base_width=4, n_levels=2)
    >>> resolve_tiling(net, 64)
    (64, 16)
    >>> resolve_tiling(net, 'auto')
    ('auto', None)
    """
    if tile_overlap is not None:
        tile_overlap = check_positive_int(tile_overlap, 'tile_overlap',
                                          minimum=0)
    fixed = getattr(model, 'fixed_size', None)
    if isinstance(tile_size, str):
        check_choice(tile_size, 'tile_size', ('auto',))
        tile_size = None if fixed is None else 'auto'
        auto = True
    else:
        auto = False
    if tile_size in (None, 'auto') and fixed is not None:
        tile_size = int(fixed[0])
    if tile_size is not None:
        tile_size = check_positive_int(tile_size, 'tile_size', minimum=8)
        if fixed is not None and tile_size != fixed[0]:
            msg = (f'tile_size must be {fixed[0]} for '
                   f'{type(model).__name__}, whose input size is '
                   f'fixed, got {tile_size}')
            raise ValueError(msg)
        if tile_overlap is None:
            tile_overlap = tile_size // 4
        if tile_overlap >= tile_size:
            msg = (f'tile_overlap must be smaller than tile_size '
                   f'({tile_size}), got {tile_overlap}')
            raise ValueError(msg)
    return ('auto' if auto and fixed is None else tile_size), tile_overlap


def tile_starts(length, tile, overlap):
    """
    Start offsets of tiles of size ``tile`` covering ``length`` pixels.

    Parameters
    ----------
    length, tile, overlap : int
        Image side, tile side and the least overlap of neighbours.

    Returns
    -------
    starts : list of int
        Sorted; the last tile ends at ``length``.

    Examples
    --------
    >>> from astrodeconv.denoisers import tile_starts
    >>> tile_starts(100, 40, 10)
    [0, 30, 60]
    """
    if tile >= length:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return sorted(set(starts))


def _tile_weight(weights, key, tile, overlap, height, width, like=None):
    """The blending weight of the tile at ``key = (y, x)``, made once."""
    if key not in weights:
        y, x = key
        wy = ramp_weight(tile, min(overlap, tile // 2), y == 0,
                         y + tile >= height)
        wx = ramp_weight(tile, min(overlap, tile // 2), x == 0,
                         x + tile >= width)
        weight = wy[:, None] * wx[None, :]
        if like is not None:
            import torch

            weight = torch.as_tensor(weight, dtype=like.dtype,
                                     device=like.device)
        weights[key] = weight
    return weights[key]


def run_tiled(func, images, *, tile, overlap, batch_size):
    """
    Apply ``func`` to overlapping ``tile x tile`` windows and blend them.

    Parameters
    ----------
    func : callable
        Maps a stack of tiles ``(B, tile, tile)`` (plus the indices of the
        images they come from) to a stack of the same shape.
    images : `~numpy.ndarray` or `torch.Tensor`
        ``(N, H, W)`` with ``H, W >= tile``. Tensors are blended with
        tensor operations (gradients flow through them).
    tile, overlap : int
        Tile size and overlap in pixels (``overlap < tile``).
    batch_size : int
        Number of tiles per call of ``func``.

    Returns
    -------
    out : `~numpy.ndarray` or `torch.Tensor`
        ``(N, H, W)``. Each pixel is the weighted mean of the tiles that
        cover it; weights fall smoothly to zero towards tile edges that are
        inside the image, so interior seams are invisible.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.denoisers import run_tiled
    >>> images = np.random.default_rng(0).normal(size=(2, 100, 90))
    >>> out = run_tiled(lambda tiles, index: 2 * tiles, images, tile=32,
    ...                 overlap=8, batch_size=4)
    >>> bool(np.allclose(out, 2 * images))
    True
    """
    n, height, width = images.shape
    ys = tile_starts(height, tile, overlap)
    xs = tile_starts(width, tile, overlap)
    jobs = [(i, y, x) for i in range(n) for y in ys for x in xs]
    tensor = not isinstance(images, np.ndarray)
    if tensor:
        import torch

        stack = torch.stack
        out = images.new_zeros(images.shape)
        weight_sum = images.new_zeros(images.shape)
    else:
        stack = np.stack
        # single-precision stacks (wide fields) are blended in single
        # precision
        dtype = np.float32 if images.dtype == np.float32 else np.float64
        out = np.zeros(images.shape, dtype=dtype)
        weight_sum = np.zeros(images.shape, dtype=dtype)
    weights = {}
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        tiles = stack([images[i, y:y + tile, x:x + tile]
                       for i, y, x in chunk])
        index = np.array([i for i, _, _ in chunk])
        result = func(tiles, index)
        for (i, y, x), pred in zip(chunk, result):
            w = _tile_weight(weights, (y, x), tile, overlap, height, width,
                             like=images if tensor else None)
            out[i, y:y + tile, x:x + tile] += w * pred
            weight_sum[i, y:y + tile, x:x + tile] += w
    return out / weight_sum
