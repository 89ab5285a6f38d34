# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Running a network on images of any size: overlapping tiles blended with
smooth weights, so that no seam shows at tile borders.
"""

import numpy as np

from ..utils._blending import ramp_weight

__all__ = []


def tile_starts(length, tile, overlap):
    """Start offsets of tiles of size ``tile`` covering ``length``."""
    if tile >= length:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return sorted(set(starts))


def run_tiled(func, images, *, tile, overlap, batch_size):
    """
    Apply ``func`` to overlapping ``tile x tile`` windows and blend them.

    Parameters
    ----------
    func : callable
        Maps a stack of tiles ``(B, tile, tile)`` (plus the indices of the
        images they come from) to a stack of the same shape.
    images : ndarray
        ``(N, H, W)`` with ``H, W >= tile``.
    tile, overlap : int
        Tile size and overlap in pixels (``overlap < tile``).
    batch_size : int
        Number of tiles per call of ``func``.

    Returns
    -------
    out : ndarray
        ``(N, H, W)``. Each pixel is the weighted mean of the tiles that
        cover it; weights fall smoothly to zero towards tile edges that are
        inside the image, so interior seams are invisible.
    """
    n, height, width = images.shape
    ys = tile_starts(height, tile, overlap)
    xs = tile_starts(width, tile, overlap)
    jobs = [(i, y, x) for i in range(n) for y in ys for x in xs]
    # single-precision stacks (wide fields) are blended in single precision
    dtype = np.float32 if images.dtype == np.float32 else np.float64
    out = np.zeros(images.shape, dtype=dtype)
    weight_sum = np.zeros(images.shape, dtype=dtype)
    weights = {}
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        tiles = np.stack([images[i, y:y + tile, x:x + tile]
                          for i, y, x in chunk])
        index = np.array([i for i, _, _ in chunk])
        result = func(tiles, index)
        for (i, y, x), pred in zip(chunk, result):
            key = (y, x)
            if key not in weights:
                wy = ramp_weight(tile, min(overlap, tile // 2), y == 0,
                                 y + tile >= height)
                wx = ramp_weight(tile, min(overlap, tile // 2), x == 0,
                                 x + tile >= width)
                weights[key] = wy[:, None] * wx[None, :]
            w = weights[key]
            out[i, y:y + tile, x:x + tile] += w * pred
            weight_sum[i, y:y + tile, x:x + tile] += w
    return out / weight_sum
