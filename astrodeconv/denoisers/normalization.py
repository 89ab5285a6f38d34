# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The one normalisation of images for the networks, in training and at
inference.

A network sees its input normalised, and its output is de-normalised with
the same numbers; training (`~astrodeconv.training.PairDataset`) and
inference (`~astrodeconv.denoisers.denoise_images`, which every learned
deconvolver runs) both call `normalize_pair` and `denormalize`, so the two
cannot drift apart. Three modes, where the input is the Tikhonov
deconvolution of an observation and the target the truth:

``mode='inference'`` (the default, used to train astrodeconv's networks)
    Both images are centred on the mean of the **input** and divided by the
    input's own (un-centred) maximum, exactly what inference does, where
    no target exists. A network output is de-normalised with the same two
    numbers.

``mode='target'`` (the recipe of the published SUNet / Learnlet training)
    ``(x - mu) / max[x_t - mu_t]``: the input and the target are each
    centred on their own mean and both divided by the maximum of the
    centred **target**. Networks trained this way see, at inference, inputs
    scaled by a different number (the input's maximum, the target being
    unknown), a train/inference mismatch that biases their output
    amplitude; astrodeconv's shipped models are therefore trained in
    ``'inference'`` mode, and inference normalises such networks as
    ``'inference'``.

``mode='sky'``
    ``(x - s) / max(x - s)`` with ``s`` the robust sky level of the input
    (`sky_level`), the sky at 0 on a stamp and on a wide field alike.

Nothing here imports PyTorch.
"""

from dataclasses import dataclass

import numpy as np

from ..utils._validation import check_choice

__all__ = ['NORMALIZATIONS', 'NormalizationParams', 'normalize_pair',
           'denormalize', 'sky_level']

#: The normalisation modes of `normalize_pair`.
NORMALIZATIONS = ('inference', 'target', 'sky')
_ROLES = ('input', 'target')


@dataclass(frozen=True, eq=False)
class NormalizationParams:
    """
    The numbers of a normalisation, to invert it with `denormalize`.

    Attributes
    ----------
    input_offset : `~numpy.ndarray` or float
        Subtracted from the input, shape ``(..., 1, 1)``.
    target_offset : `~numpy.ndarray` or float
        Subtracted from the target (equal to ``input_offset`` in
        ``'inference'`` mode).
    scale : `~numpy.ndarray` or float
        Divides both images after centring.
    mode : str
        ``'inference'``, ``'target'`` or ``'sky'``.
    """

    input_offset: np.ndarray
    target_offset: np.ndarray
    scale: np.ndarray
    mode: str


def sky_level(images, *, n_sigma=3.0, max_iter=5, max_samples=2 ** 16):
    """
    Robust sky level of each image: an iterated sigma-clipped median.

    Pixels farther than ``n_sigma`` robust standard deviations (1.4826
    times the median absolute deviation) from the median are dropped and
    the median recomputed, ``max_iter`` times; sources, which lie above the
    sky, are clipped away, so that a galaxy stamp and a wide field of the
    same sky get the same level. At most ``max_samples`` evenly spaced
    pixels of each image are used (wide fields).

    Parameters
    ----------
    images : array_like
        An image ``(ny, nx)`` or a stack ``(N, ny, nx)``.

    Returns
    -------
    sky : ndarray
        Shape ``(N, 1, 1)`` (``(1, 1)`` for one image).

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.denoisers import sky_level
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(5.0, 1.0, (64, 64))
    >>> image[20:40, 20:40] += 50.0              # a bright source
    >>> round(float(sky_level(image)[0, 0]), 1)
    5.0
    """
    arr = _as_images(images, 'images')
    flat = arr.reshape((-1, arr.shape[-2] * arr.shape[-1]))
    stride = max(1, -(-flat.shape[1] // max_samples))
    levels = np.empty(len(flat))
    for i, row in enumerate(flat):
        values = row[::stride]
        level = np.median(values)
        for _ in range(max_iter):
            spread = 1.4826 * np.median(np.abs(values - level))
            if not spread > 0:
                break
            kept = values[np.abs(values - level) <= n_sigma * spread]
            if kept.size == values.size:
                break
            values = kept
            level = np.median(values)
        levels[i] = level
    return levels.reshape(arr.shape[:-2] + (1, 1))


def _safe_scale(scale, spread):
    """Use ``spread`` where ``scale`` is not positive, 1 where neither is."""
    scale = np.where(scale > 0, scale, spread)
    return np.where(scale > 0, scale, 1.0)


def _as_images(value, name):
    arr = np.asarray(value)
    if arr.ndim < 2:
        msg = (f'{name} must have at least 2 dimensions (..., ny, nx), got '
               f'{arr.ndim}')
        raise ValueError(msg)
    if arr.size == 0:
        msg = f'{name} must not be empty, got shape {arr.shape}'
        raise ValueError(msg)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(float)
    return arr


def normalize_pair(inputs, targets=None, *, mode='inference'):
    """
    Normalise input images (and their targets) for a network.

    Parameters
    ----------
    inputs : array_like
        Input image(s) ``(..., ny, nx)``, typically Tikhonov outputs; each
        image (last two axes) is normalised with its own numbers.
    targets : array_like, optional
        Target image(s) of the same shape (the truth). Required for
        ``mode='target'``.
    mode : {'inference', 'target', 'sky'}, optional
        ``'inference'``: ``(x - mean(x)) / max(x)`` and
        ``(t - mean(x)) / max(x)``, the numbers of the *input* as at
        inference (when ``max(x) <= 0`` the largest absolute deviation
        from the mean is used, then 1). ``'target'``: the published
        training recipe ``(x - mean(x)) / f`` and ``(t - mean(t)) / f``
        with ``f = max(t - mean(t))``. ``'sky'``: ``(x - s) / max(x - s)``
        and ``(t - s) / max(x - s)`` with ``s`` the robust sky level of the
        input (`sky_level`): the sky is at 0 whatever the fraction of the
        image that the sources fill (a stamp or a wide field), which the
        mean subtraction of ``'inference'`` does not give. See the module
        docstring.

    Returns
    -------
    inputs : `~numpy.ndarray`
        The normalised inputs.
    targets : `~numpy.ndarray` or None
        The normalised targets (None when not given).
    params : `NormalizationParams`
        Offsets and scale of shape ``(..., 1, 1)`` for `denormalize`.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.denoisers import normalize_pair, denormalize
    >>> x = np.array([[0.0, 1.0], [2.0, 5.0]])
    >>> t = np.array([[0.0, 0.0], [1.0, 7.0]])
    >>> xn, tn, params = normalize_pair(x, t)
    >>> float(xn.max()), float(params.scale[0, 0])
    (0.6, 5.0)
    >>> bool(np.allclose(denormalize(tn, params), t))
    True
    >>> xn, tn, params = normalize_pair(x, t, mode='target')
    >>> float(tn.max())
    1.0
    """
    mode = check_choice(mode, 'mode', NORMALIZATIONS)
    x = _as_images(inputs, 'inputs')
    t = None
    if targets is not None:
        t = _as_images(targets, 'targets')
        if t.shape != x.shape:
            msg = (f'targets must have the shape of inputs {x.shape}, got '
                   f'{t.shape}')
            raise ValueError(msg)
    axes = (-2, -1)
    if mode == 'sky':
        sky = sky_level(x)
        centred = x - sky
        peak = centred.max(axis=axes, keepdims=True)
        spread = np.abs(centred).max(axis=axes, keepdims=True)
        scale = _safe_scale(peak, spread)
        t_n = None if t is None else (t - sky) / scale
        params = NormalizationParams(input_offset=sky, target_offset=sky,
                                     scale=scale, mode=mode)
        return centred / scale, t_n, params
    mean_x = x.mean(axis=axes, keepdims=True)
    if mode == 'inference':
        peak = x.max(axis=axes, keepdims=True)
        spread = np.abs(x - mean_x).max(axis=axes, keepdims=True)
        scale = _safe_scale(peak, spread)
        offset_t = mean_x
    else:
        if t is None:
            msg = ("targets must be given with mode='target' (the scale is "
                   "the maximum of the centred target)")
            raise ValueError(msg)
        offset_t = t.mean(axis=axes, keepdims=True)
        centred = t - offset_t
        peak = centred.max(axis=axes, keepdims=True)
        spread = np.abs(centred).max(axis=axes, keepdims=True)
        scale = _safe_scale(peak, spread)
    x_n = (x - mean_x) / scale
    t_n = None if t is None else (t - offset_t) / scale
    params = NormalizationParams(input_offset=mean_x, target_offset=offset_t,
                                 scale=scale, mode=mode)
    return x_n, t_n, params


def denormalize(normed, params, *, role='target'):
    """
    Invert `normalize_pair`.

    Parameters
    ----------
    normed : array_like
        Normalised image(s), e.g. a network output.
    params : `NormalizationParams`
        The numbers returned by `normalize_pair`.
    role : {'target', 'input'}, optional
        Undo the target's normalisation (for network outputs; in
        ``'inference'`` mode it is the same as the input's) or the
        input's.

    Returns
    -------
    images : `~numpy.ndarray`
        ``normed * scale + offset``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.denoisers import normalize_pair, denormalize
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> xn, _, params = normalize_pair(x)
    >>> bool(np.allclose(denormalize(xn, params, role='input'), x))
    True
    """
    check_choice(role, 'role', _ROLES)
    if not isinstance(params, NormalizationParams):
        msg = (f'params must be the NormalizationParams returned by '
               f'normalize_pair, got {type(params).__name__}')
        raise TypeError(msg)
    offset = params.target_offset if role == 'target' else \
        params.input_offset
    return np.asarray(normed) * params.scale + offset
