# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Quick-look figures: image panels, starlet scales and metrics against
magnitude.

matplotlib is an optional dependency: it (and `astropy.visualization`, which
imports it) is imported only when one of these functions is called, so
importing this module never imports matplotlib.
"""

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from astropy import units as u

__all__ = ['plot_panel', 'plot_starlet_scales', 'plot_metric_vs_magnitude',
           'save_figure']

_STRETCHES = ('asinh', 'linear', 'log', 'sqrt')
_PANEL_SIZE = 3.6
_CLUMP_SCALE = 3


def _import_figure():
    """Return `matplotlib.figure.Figure`, or raise a helpful ImportError."""
    from ..utils._optional_deps import import_optional

    return import_optional('matplotlib.figure',
                           purpose='for astrodeconv.visualization').Figure


def _make_stretch(stretch):
    from astropy.visualization import (AsinhStretch, LinearStretch,
                                       LogStretch, SqrtStretch)

    return {'asinh': lambda: AsinhStretch(a=0.02),
            'linear': LinearStretch,
            'log': lambda: LogStretch(a=1000),
            'sqrt': SqrtStretch}[stretch]()


def _check_stretch(stretch):
    if not isinstance(stretch, str) or stretch not in _STRETCHES:
        valid = ', '.join(repr(name) for name in _STRETCHES)
        msg = f'stretch must be one of {valid}, got {stretch!r}'
        raise ValueError(msg)


def _check_figsize(figsize):
    if figsize is None:
        return
    ok = (isinstance(figsize, (tuple, list)) and len(figsize) == 2
          and all(isinstance(v, Real) and not isinstance(v, bool) and v > 0
                  for v in figsize))
    if not ok:
        msg = ('figsize must be None or a (width, height) pair of positive '
               f'numbers in inches, got {figsize!r}')
        raise ValueError(msg)


def _display_array(image, name):
    """Parse one image into a float array (masked pixels NaN) and its unit."""
    from ..utils._nddata import parse_image_input

    parsed = parse_image_input(image, name=name)
    data = np.array(parsed.data, dtype=float)
    data[parsed.mask] = np.nan
    return data, parsed.unit


def _limits(arrays, percentile):
    """Percentile interval of the finite pixels of several arrays."""
    values = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if values.size == 0:
        return 0.0, 1.0
    vmin, vmax = np.percentile(values, [100.0 - percentile, percentile])
    if vmin > 0 and values.min() <= 0:
        # keep the sky level at the bottom of the colour scale
        vmin = 0.0
    if not vmax > vmin:
        vmax = vmin + (abs(vmin) if vmin != 0 else 1.0)
    return float(vmin), float(vmax)


def _unit_label(unit):
    return '' if unit is None else unit.to_string()


def plot_panel(images, *, titles=None, truth_index=None, residual=None,
               stretch='asinh', percentile=99.5, figsize=None, cmap='magma'):
    """
    Show several images side by side with consistent stretches.

    The first image (typically the observation, possibly on a coarser
    grid) gets its own display limits; all the other images share one
    normalisation, computed from the image at ``truth_index`` when it is
    given and from all of them otherwise, so that e.g. a Tikhonov, a network
    and a debiased reconstruction can be compared with the truth by eye. An
    optional residual panel uses a symmetric diverging colour map spanning
    plus or minus 4 robust standard deviations (``mad_std``).

    Parameters
    ----------
    images : list or tuple of array_like, `~astropy.units.Quantity` or \
`~astropy.nddata.NDData`
        The 2D images, left to right. They may have different shapes.
        Masked (and non-finite) pixels are left blank.
    titles : list of str, optional
        One title per image, plus optionally one more for the residual
        panel. Defaults to ``'Image 0'``, ``'Image 1'``, ... and
        ``'Residual'``.
    truth_index : int, optional
        Index in ``images`` of the reference (truth) image whose pixel
        values set the shared display limits.
    residual : array_like, `~astropy.units.Quantity` or \
`~astropy.nddata.NDData`, optional
        A residual image shown in an extra panel on the right.
    stretch : {'asinh', 'linear', 'log', 'sqrt'}, optional
        The `astropy.visualization` stretch of the image panels.
    percentile : float, optional
        The display limits are the ``100 - percentile`` and ``percentile``
        percentiles of the reference pixels, in ``(50, 100]``. The lower
        limit is raised to zero when that is between them and the minimum.
    figsize : tuple of float, optional
        Figure size in inches; by default 3.6 inches per panel.
    cmap : str or `~matplotlib.colors.Colormap`, optional
        Colour map of the image panels.

    Returns
    -------
    figure : `~matplotlib.figure.Figure`
        The figure, with one axes per panel followed by the colour bars:
        one for the first image, one shared by the other images (when there
        are any) and one for the residual (when given).

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    TypeError
        If ``images`` is not a list or tuple, or an image, ``titles`` or
        ``truth_index`` has the wrong type.
    ValueError
        If ``images`` is empty, ``titles`` has the wrong length,
        ``truth_index`` is out of range, or ``stretch``, ``percentile`` or
        ``figsize`` is not valid.
    """
    if not isinstance(images, (list, tuple)):
        msg = ('images must be a list or tuple of 2D images (use [image] for '
               f'one image), got {type(images).__name__}')
        raise TypeError(msg)
    if len(images) == 0:
        msg = 'images must contain at least one image, got an empty list'
        raise ValueError(msg)
    n_images = len(images)
    n_panels = n_images + (residual is not None)
    if titles is None:
        titles = [f'Image {i}' for i in range(n_images)] + ['Residual']
    else:
        if (not isinstance(titles, (list, tuple))
                or not all(isinstance(t, str) for t in titles)):
            msg = f'titles must be a list of str, got {titles!r}'
            raise TypeError(msg)
        if len(titles) not in (n_images, n_panels):
            msg = (f'titles must have one entry per image ({n_images}'
                   + (f' or {n_panels} with the residual' if
                      n_panels > n_images else '')
                   + f'), got {len(titles)}')
            raise ValueError(msg)
        titles = list(titles) + ['Residual']
    if truth_index is not None:
        if (not isinstance(truth_index, Integral)
                or isinstance(truth_index, bool)):
            msg = ('truth_index must be None or an integer, got '
                   f'{type(truth_index).__name__}')
            raise TypeError(msg)
        if not -n_images <= truth_index < n_images:
            msg = (f'truth_index must index images (0 to {n_images - 1}), '
                   f'got {truth_index}')
            raise ValueError(msg)
        truth_index = int(truth_index) % n_images
    _check_stretch(stretch)
    if (not isinstance(percentile, Real) or isinstance(percentile, bool)
            or not 50 < percentile <= 100):
        msg = f'percentile must be a number in (50, 100], got {percentile!r}'
        raise ValueError(msg)
    _check_figsize(figsize)
    Figure = _import_figure()
    from astropy.stats import mad_std
    from astropy.visualization import ImageNormalize

    parsed = [_display_array(image, f'images[{i}]')
              for i, image in enumerate(images)]
    arrays = [data for data, _ in parsed]
    own = _limits(arrays[:1], percentile)
    if truth_index is not None:
        shared = _limits([arrays[truth_index]], percentile)
    else:
        shared = _limits(arrays[1:] or arrays[:1], percentile)
    norms = [ImageNormalize(vmin=vmin, vmax=vmax, clip=True,
                            stretch=_make_stretch(stretch))
             for vmin, vmax in (own, shared)]

    if figsize is None:
        figsize = (_PANEL_SIZE * n_panels + 1.0, _PANEL_SIZE)
    fig = Figure(figsize=figsize, layout='constrained')
    axes = list(fig.subplots(1, n_panels, squeeze=False)[0])
    mappables = []
    for i, (ax, data, title) in enumerate(zip(axes, arrays, titles)):
        im = ax.imshow(data, origin='lower', norm=norms[min(i, 1)],
                       cmap=cmap, interpolation='nearest')
        ax.set_title(title, fontsize=10)
        mappables.append(im)
    label = f'{_unit_label(parsed[0][1])} ({stretch})'.strip()
    fig.colorbar(mappables[0], ax=axes[0], label=label, shrink=0.9)
    if n_images > 1:
        label = f'{_unit_label(parsed[1][1])} ({stretch})'.strip()
        fig.colorbar(mappables[1], ax=axes[1:n_images], label=label,
                     shrink=0.9)
    if residual is not None:
        data, unit = _display_array(residual, 'residual')
        finite = data[np.isfinite(data)]
        sigma = float(mad_std(finite)) if finite.size else 0.0
        if not sigma > 0:
            sigma = float(np.max(np.abs(finite), initial=0.0)) / 4 or 0.25
        limit = 4 * sigma
        ax = axes[-1]
        im = ax.imshow(data, origin='lower', cmap='RdBu_r', vmin=-limit,
                       vmax=limit, interpolation='nearest')
        ax.set_title(titles[n_images], fontsize=10)
        label = f'{_unit_label(unit)} (±4σ)'.strip()
        fig.colorbar(im, ax=ax, label=label, shrink=0.9)
    for ax in axes:
        ax.set_xlabel('x [pix]')
    axes[0].set_ylabel('y [pix]')
    return fig


def plot_starlet_scales(image, *, n_scales=5, figsize=None):
    """
    Show an image and its starlet (isotropic undecimated wavelet) scales.

    Scale ``j`` holds structures of about ``2**j`` pixels; scale 3, where the
    star-forming clumps of resolved galaxies show up, is highlighted (its
    title is marked "(clumps)" and its frame is drawn in colour).

    Parameters
    ----------
    image : array_like, `~astropy.units.Quantity` or \
`~astropy.nddata.NDData`
        The 2D image, with finite values.
    n_scales : int, optional
        The number of detail scales ``J`` (see
        `~astrodeconv.wavelets.starlet_transform`); ``2**n_scales`` must not
        exceed the smaller image side.
    figsize : tuple of float, optional
        Figure size in inches; by default 2.8 inches per panel.

    Returns
    -------
    figure : `~matplotlib.figure.Figure`
        The figure, with ``n_scales + 2`` axes: the image, the detail scales
        ``'Scale 1'`` to ``'Scale J'`` and the coarse plane last.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    TypeError
        If ``image`` or ``n_scales`` has the wrong type.
    ValueError
        If ``n_scales`` is smaller than 1 or too large for the image, or
        ``figsize`` is not valid.
    """
    if not isinstance(n_scales, Integral) or isinstance(n_scales, bool):
        msg = f'n_scales must be an integer, got {type(n_scales).__name__}'
        raise TypeError(msg)
    if n_scales < 1:
        msg = f'n_scales must be at least 1, got {n_scales}'
        raise ValueError(msg)
    _check_figsize(figsize)
    Figure = _import_figure()
    from astropy.visualization import ImageNormalize

    from ..utils._nddata import parse_image_input
    from ..wavelets import starlet_transform

    parsed = parse_image_input(image, name='image')
    data = np.asarray(parsed.data, dtype=float)
    planes = starlet_transform(data, n_scales=int(n_scales))
    n_panels = n_scales + 2
    if figsize is None:
        figsize = (2.8 * n_panels, 3.0)
    fig = Figure(figsize=figsize, layout='constrained')
    axes = fig.subplots(1, n_panels, squeeze=False)[0]

    vmin, vmax = _limits([data], 99.5)
    norm = ImageNormalize(vmin=vmin, vmax=vmax, clip=True,
                          stretch=_make_stretch('asinh'))
    axes[0].imshow(data, origin='lower', norm=norm, cmap='magma',
                   interpolation='nearest')
    axes[0].set_title('Image', fontsize=10)
    for j in range(1, n_scales + 2):
        ax, plane = axes[j], planes[j - 1]
        if j <= n_scales:
            limit = float(np.percentile(np.abs(plane), 99.5)) or 1.0
            ax.imshow(plane, origin='lower', cmap='RdBu_r', vmin=-limit,
                      vmax=limit, interpolation='nearest')
            title = f'Scale {j}'
        else:
            ax.imshow(plane, origin='lower', cmap='magma',
                      interpolation='nearest')
            title = f'Coarse plane (c{n_scales})'
        if j == _CLUMP_SCALE:
            ax.set_title(f'{title} (clumps)', fontsize=10,
                         fontweight='bold', color='tab:green')
            for spine in ax.spines.values():
                spine.set_edgecolor('tab:green')
                spine.set_linewidth(2.5)
        else:
            ax.set_title(title, fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def _check_vector(values, name):
    if isinstance(values, u.Quantity):
        values = values.value
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        msg = (f'{name} must be a 1D sequence of numbers, got '
               f'{type(values).__name__}')
        raise TypeError(msg) from None
    if arr.ndim != 1:
        msg = f'{name} must be 1D, got {arr.ndim} dimension(s)'
        raise ValueError(msg)
    return arr


def _bin_edges(bins, magnitudes):
    finite = magnitudes[np.isfinite(magnitudes)]
    if bins is None or isinstance(bins, Integral):
        n_bins = 6 if bins is None else int(bins)
        if isinstance(bins, bool) or n_bins < 1:
            msg = f'bins must be a positive integer, got {bins!r}'
            raise ValueError(msg)
        if finite.size == 0:
            msg = 'magnitudes must contain finite values, got none'
            raise ValueError(msg)
        low, high = float(finite.min()), float(finite.max())
        if high == low:
            low, high = low - 0.5, high + 0.5
        return np.linspace(low, high, n_bins + 1)
    edges = _check_vector(bins, 'bins')
    if (edges.size < 2 or not np.all(np.isfinite(edges))
            or not np.all(np.diff(edges) > 0)):
        msg = ('bins must be None, a positive integer or at least 2 finite '
               f'increasing bin edges, got {bins!r}')
        raise ValueError(msg)
    return edges


def plot_metric_vs_magnitude(magnitudes, metrics, *, bins=None,
                             metric_name='NMSE', ax=None):
    """
    Plot a per-object metric against magnitude, binned, for several methods.

    For each method the median of the metric in each magnitude bin is shown
    at the bin centre, with error bars from the 16th to the 84th percentile.
    Bins without objects are skipped; the methods are shifted slightly
    along the magnitude axis so that their error bars do not overlap.

    Parameters
    ----------
    magnitudes : array_like or `~astropy.units.Quantity`
        The magnitude of each object, shape ``(n_objects,)``.
    metrics : dict
        Method name to the per-object metric values, each of shape
        ``(n_objects,)``, e.g. ``{'Tikhonov': nmse_tik, 'Network': nmse_net}``.
        Non-finite values are ignored.
    bins : int or array_like, optional
        The number of equal-width magnitude bins (default 6) or the bin
        edges.
    metric_name : str, optional
        The y-axis label.
    ax : `~matplotlib.axes.Axes`, optional
        Draw on these axes instead of a new figure.

    Returns
    -------
    figure : `~matplotlib.figure.Figure`
        The new figure, or the figure of ``ax``. Each method adds one
        `~matplotlib.container.ErrorbarContainer` and one legend entry.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    TypeError
        If ``metrics`` is not a dict, ``metric_name`` is not a str, ``ax`` is
        not a matplotlib Axes or the values are not numbers.
    ValueError
        If ``metrics`` is empty, a method's values do not have the length of
        ``magnitudes``, or ``bins`` is not valid.
    """
    magnitudes = _check_vector(magnitudes, 'magnitudes')
    if not isinstance(metrics, Mapping):
        msg = ('metrics must be a dict of method name to per-object values, '
               f'got {type(metrics).__name__}')
        raise TypeError(msg)
    if len(metrics) == 0:
        msg = 'metrics must contain at least one method, got an empty dict'
        raise ValueError(msg)
    values = {}
    for method, vals in metrics.items():
        arr = _check_vector(vals, f'metrics[{method!r}]')
        if arr.shape != magnitudes.shape:
            msg = (f'metrics[{method!r}] must have one value per magnitude '
                   f'({magnitudes.size}), got {arr.size}')
            raise ValueError(msg)
        values[method] = arr
    if not isinstance(metric_name, str):
        msg = f'metric_name must be a str, got {type(metric_name).__name__}'
        raise TypeError(msg)
    edges = _bin_edges(bins, magnitudes)
    Figure = _import_figure()
    from matplotlib.axes import Axes

    if ax is None:
        fig = Figure(figsize=(6.4, 4.4), layout='constrained')
        ax = fig.add_subplot()
    elif not isinstance(ax, Axes):
        msg = f'ax must be a matplotlib Axes, got {type(ax).__name__}'
        raise TypeError(msg)
    else:
        fig = ax.figure

    index = np.digitize(magnitudes, edges[1:-1])
    inside = (magnitudes >= edges[0]) & (magnitudes <= edges[-1])
    centres = 0.5 * (edges[:-1] + edges[1:])
    widths = np.diff(edges)
    n_methods = len(values)
    for k, (method, vals) in enumerate(values.items()):
        x, median, low, high = [], [], [], []
        for b in range(len(centres)):
            sel = vals[inside & (index == b) & np.isfinite(vals)]
            if sel.size == 0:
                continue
            p16, p50, p84 = np.percentile(sel, [16, 50, 84])
            shift = (k - (n_methods - 1) / 2) * 0.1 * widths[b] / n_methods
            x.append(centres[b] + shift)
            median.append(p50)
            low.append(p50 - p16)
            high.append(p84 - p50)
        ax.errorbar(x, median, yerr=[low, high], marker='o', capsize=3,
                    linestyle='-', label=str(method))
    ax.set_xlabel('Magnitude')
    ax.set_ylabel(metric_name)
    ax.legend()
    return fig


def save_figure(figure, path, *, overwrite=False, **kwargs):
    """
    Save a matplotlib figure to a file, atomically.

    The figure is written to a temporary file in the same directory and
    then moved in place (see the package's atomic writer), so an existing
    figure is never left half-written.

    Parameters
    ----------
    figure : `matplotlib.figure.Figure`
        The figure.
    path : str or path-like
        The output file; its suffix (``.png``, ``.pdf``, ``.svg``...) sets
        the format unless ``format`` is given.
    overwrite : bool, optional
        Replace ``path`` if it exists. Otherwise an existing file is an
        error.
    **kwargs
        Passed to `matplotlib.figure.Figure.savefig` (e.g. ``dpi``).

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    TypeError
        If ``figure`` has no ``savefig`` method.
    ValueError
        If no format is given and ``path`` has no suffix.
    """
    from ..utils._files import atomic_write, check_output_path

    if not callable(getattr(figure, 'savefig', None)):
        msg = ('figure must be a matplotlib Figure, got '
               f'{type(figure).__name__}')
        raise TypeError(msg)
    path = check_output_path(path, overwrite=overwrite)
    if 'format' not in kwargs:
        if not path.suffix:
            msg = (f'path {str(path)!r} has no suffix; add one (e.g. '
                   "'.png') or pass format=")
            raise ValueError(msg)
        kwargs['format'] = path.suffix[1:].lower()
    with atomic_write(path, overwrite=overwrite) as stream:
        figure.savefig(stream, **kwargs)
