# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Scores of deconvolution methods against the truth on a stack of images.

This is the harness behind ``astrodeconv evaluate`` and the held-out
benchmarks: it runs methods on observations whose truth is known, scores
every image with `astrodeconv.metrics`, and summarises the scores overall
and per magnitude bin. Its thresholds are parameters with documented
defaults:

* how clumps (small-scale structures) are detected and matched:
  `ClumpDetection` (starlet scale 3, 5 sigma of the truth's noise,
  segments of at least 3 pixels, matched within 2 pixels);
* the magnitude bin edges of the summaries: ``DEFAULT_MAG_BINS``
  (20, 21.5, 23, 24, 25, 26).
"""

import warnings
from numbers import Integral, Real

import numpy as np

from ..utils._validation import check_choice, check_positive_int

__all__ = ['ClumpDetection', 'score_images', 'clump_statistics',
           'summarize_by_magnitude', 'evaluate_methods']

#: The per-image scores of `score_images`, in report order.
METRICS = ('nmse', 'psnr', 'ssim', 'clump_flux_error', 'hallucination',
           'completeness', 'chi2')

#: The methods `evaluate_methods` can run: the learned model alone or with
#: the multi-resolution debiasing, Tikhonov at the reference weight 9e-3 or
#: with ``lam='auto'``, Richardson-Lucy (30 iterations) and Wiener.
EVALUATION_METHODS = ('learned', 'learned-debiased', 'tikhonov',
                      'tikhonov-auto', 'richardson-lucy', 'wiener')

#: Default magnitude bin edges of the summaries.
DEFAULT_MAG_BINS = (20.0, 21.5, 23.0, 24.0, 25.0, 26.0)

#: ``make_deconvolver`` method and options of each evaluation method.
_RECIPES = {'learned': ('learned', {'debias': False}),
            'learned-debiased': ('learned', {'debias': True}),
            'tikhonov': ('tikhonov', {}),
            'tikhonov-auto': ('tikhonov', {'lam': 'auto'}),
            'richardson-lucy': ('richardson-lucy', {'n_iter': 30}),
            'wiener': ('wiener', {})}

#: Methods that are given the per-pixel error of the observations.
_USE_ERROR = ('tikhonov-auto', 'wiener')


class ClumpDetection:
    """
    How clumps (small-scale structures) are detected and matched.

    The clump metrics of `astrodeconv.metrics`
    (`~astrodeconv.metrics.clump_flux_error`,
    `~astrodeconv.metrics.hallucination_rate`,
    `~astrodeconv.metrics.completeness`) take these settings; this object
    gives them one name and the values used by ``astrodeconv evaluate``
    and the benchmarks.

    Parameters
    ----------
    scale : int, optional
        The 1-based starlet scale on which clumps are detected (3: structures
        of a few pixels).
    threshold : float, optional
        Detection level in units of the noise of the truth's detail plane
        on that scale (5: clumps the truth shows at 5 sigma).
    min_pixels : int, optional
        Smallest segment kept as a clump, in pixels.
    match_radius : float, optional
        Distance in pixels within which an output clump and a truth clump
        are matched (hallucination rate and completeness).

    Examples
    --------
    >>> from astrodeconv.evaluation import ClumpDetection
    >>> ClumpDetection()
    ClumpDetection(scale=3, threshold=5.0, min_pixels=3, match_radius=2.0)
    >>> ClumpDetection(threshold=3.0).detection_kwargs()
    {'scale': 3, 'threshold': 3.0, 'min_pixels': 3}
    """

    def __init__(self, *, scale=3, threshold=5.0, min_pixels=3,
                 match_radius=2.0):
        self.scale = check_positive_int(scale, 'scale')
        self.min_pixels = check_positive_int(min_pixels, 'min_pixels')
        for name, value in (('threshold', threshold),
                            ('match_radius', match_radius)):
            if (not isinstance(value, Real) or isinstance(value, bool)
                    or not np.isfinite(value) or value <= 0):
                msg = f'{name} must be a positive number, got {value!r}'
                raise ValueError(msg)
        self.threshold = float(threshold)
        self.match_radius = float(match_radius)

    def __repr__(self):
        return (f'ClumpDetection(scale={self.scale}, threshold='
                f'{self.threshold!r}, min_pixels={self.min_pixels}, '
                f'match_radius={self.match_radius!r})')

    def __eq__(self, other):
        if not isinstance(other, ClumpDetection):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(tuple(self.to_dict().items()))

    def detection_kwargs(self):
        """The keywords of `astrodeconv.metrics.clump_flux_error`."""
        return {'scale': self.scale, 'threshold': self.threshold,
                'min_pixels': self.min_pixels}

    def matching_kwargs(self):
        """The keywords of `astrodeconv.metrics.hallucination_rate`."""
        return dict(self.detection_kwargs(), match_radius=self.match_radius)

    def to_dict(self):
        """The four settings as a dict (e.g. for a JSON report)."""
        return self.matching_kwargs()


def _clumps(clumps):
    if clumps is None:
        return ClumpDetection()
    if not isinstance(clumps, ClumpDetection):
        msg = (f'clumps must be None or a ClumpDetection, got '
               f'{type(clumps).__name__}')
        raise TypeError(msg)
    return clumps


def _check_metrics(metrics, with_data):
    if metrics is None:
        return METRICS if with_data else METRICS[:-1]
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    for name in metrics:
        check_choice(name, 'metrics', METRICS)
    if 'chi2' in metrics and not with_data:
        msg = 'metrics must not include chi2 unless observed and psf are given'
        raise ValueError(msg)
    return metrics


def score_images(images, truth, *, observed=None, psf=None, error=None,
                 upsample=1, clumps=None, metrics=None):
    """
    Score deconvolved images against their truth, image by image.

    Parameters
    ----------
    images, truth : array_like
        The deconvolved images and the truth, of the same shape: one image
        ``(ny, nx)`` or a stack ``(N, ny, nx)``.
    observed, psf : array_like, optional
        The observations and their PSFs (on the grid of ``images``),
        needed for the residual reduced chi-square ``'chi2'``.
    error : float or array_like, optional
        The 1-sigma error of ``observed`` (for ``'chi2'``).
    upsample : int, optional
        The ratio of the pixel size of ``observed`` to that of ``images``.
    clumps : `ClumpDetection`, optional
        How clumps are detected and matched; default ``ClumpDetection()``.
    metrics : sequence of str, optional
        The scores to compute, among ``'nmse'``, ``'psnr'``, ``'ssim'``,
        ``'clump_flux_error'``, ``'hallucination'``, ``'completeness'``
        and ``'chi2'``. Default: all of them (without ``'chi2'`` when
        ``observed`` or ``psf`` is missing).

    Returns
    -------
    scores : dict of `~numpy.ndarray`
        One array per metric, one value per image:

        * ``'nmse'``, `~astrodeconv.metrics.nmse`;
        * ``'psnr'`` and ``'ssim'``, `~astrodeconv.metrics.psnr` and
          `~astrodeconv.metrics.ssim` with the truth's data range;
        * ``'clump_flux_error'``, the *signed* relative clump flux error
          `~astrodeconv.metrics.clump_flux_error` (NaN for a truth without
          clumps);
        * ``'hallucination'`` and ``'completeness'``,
          `~astrodeconv.metrics.hallucination_rate` and
          `~astrodeconv.metrics.completeness`;
        * ``'chi2'``, `~astrodeconv.metrics.reduced_chi2` of the residual
          ``observed - H images``.

    Raises
    ------
    ValueError
        If a metric name is unknown, or ``'chi2'`` is asked for without
        ``observed`` and ``psf``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.evaluation import score_images
    >>> y, x = np.mgrid[:48, :48]
    >>> truth = np.exp(-((x - 24)**2 + (y - 24)**2) / 18.0)
    >>> scores = score_images(np.stack([truth, 0.9 * truth]),
    ...                       np.stack([truth, truth]),
    ...                       metrics=('nmse', 'ssim'))
    >>> [round(float(v), 4) for v in scores['nmse']]
    [0.0, 0.01]
    """
    from .. import metrics as m

    clumps = _clumps(clumps)
    names = _check_metrics(metrics, observed is not None and psf is not None)
    detection = clumps.detection_kwargs()
    matching = clumps.matching_kwargs()
    compute = {
        'nmse': lambda: m.nmse(images, truth),
        'psnr': lambda: m.psnr(images, truth, data_range='reference'),
        'ssim': lambda: m.ssim(images, truth, data_range='reference'),
        'clump_flux_error': lambda: m.clump_flux_error(images, truth,
                                                       **detection),
        'hallucination': lambda: m.hallucination_rate(images, truth,
                                                      **matching),
        'completeness': lambda: m.completeness(images, truth, **matching),
        'chi2': lambda: m.reduced_chi2(images, observed, psf, error=error,
                                       upsample=upsample)}
    with warnings.catch_warnings():
        # empty clump segments give NaN ratios, reported as NaN
        warnings.simplefilter('ignore', RuntimeWarning)
        return {name: np.asarray(compute[name](), dtype=float)
                for name in names}


def _median(values):
    return float(np.median(values)) if values.size else float('nan')


def clump_statistics(images, truth, *, clumps=None):
    """
    Summary of the small-scale structure scores of a stack.

    Parameters
    ----------
    images, truth : array_like
        Stacks ``(N, ny, nx)`` of deconvolved images and their truth.
    clumps : `ClumpDetection`, optional
        How clumps are detected and matched; default ``ClumpDetection()``.

    Returns
    -------
    statistics : dict
        ``clump_flux_abs_rel_error_median`` and
        ``clump_flux_rel_error_median``: medians of the absolute and the
        signed relative clump flux error over the ``n_with_clumps``
        images whose truth has at least one clump (the others have no
        clump flux to compare); ``nmse_median``;
        ``hallucination_rate_median``, ``hallucination_rate_mean``,
        ``completeness_median`` and ``completeness_mean`` over all
        images.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.evaluation import clump_statistics
    >>> y, x = np.mgrid[:48, :48]
    >>> blob = np.exp(-((x - 20)**2 + (y - 24)**2) / 4.5)
    >>> truth = np.stack([blob, blob])
    >>> stats = clump_statistics(0.5 * truth, truth)
    >>> stats['clump_flux_rel_error_median'], stats['n_with_clumps']
    (-0.5, 2)
    """
    scores = score_images(images, truth, clumps=clumps,
                          metrics=('clump_flux_error', 'nmse',
                                   'hallucination', 'completeness'))
    flux = np.atleast_1d(scores['clump_flux_error'])
    used = np.isfinite(flux)
    rate = scores['hallucination']
    found = scores['completeness']
    return {
        'clump_flux_abs_rel_error_median': _median(np.abs(flux[used])),
        'clump_flux_rel_error_median': _median(flux[used]),
        'n_with_clumps': int(used.sum()),
        'nmse_median': float(np.median(scores['nmse'])),
        'hallucination_rate_median': float(np.median(rate)),
        'hallucination_rate_mean': float(np.mean(rate)),
        'completeness_median': float(np.median(found)),
        'completeness_mean': float(np.mean(found))}


def _check_edges(mag_bins):
    edges = np.asarray(mag_bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        msg = ('mag_bins must be at least two increasing bin edges, got '
               f'{mag_bins!r}')
        raise ValueError(msg)
    return edges


def summarize_by_magnitude(values, magnitudes, mag_bins=DEFAULT_MAG_BINS):
    """
    Median and mean of per-image values, overall and per magnitude bin.

    Non-finite values (e.g. the NaN clump flux error of a galaxy without
    clumps) are left out.

    Parameters
    ----------
    values : array_like
        One value per image.
    magnitudes : array_like
        The magnitude of each image (NaN when unknown: such images count
        in no bin).
    mag_bins : sequence of float, optional
        Increasing bin edges; bin ``i`` holds ``edges[i] <= mag <
        edges[i + 1]``. Default ``(20, 21.5, 23, 24, 25, 26)``.

    Returns
    -------
    summary : dict
        ``'median'`` and ``'mean'`` over all images (NaN if none is
        finite), and ``'by_magnitude'``: one dict per bin with
        ``'mag_min'``, ``'mag_max'``, ``'n'`` (images in the bin) and
        ``'median'`` (None when the bin has no finite value).

    Examples
    --------
    >>> from astrodeconv.evaluation import summarize_by_magnitude
    >>> summary = summarize_by_magnitude([1.0, 2.0, 4.0], [20.5, 22.0, 22.5],
    ...                                  mag_bins=[20, 21, 23])
    >>> summary['median'], summary['mean']
    (2.0, 2.3333333333333335)
    >>> [(b['n'], b['median']) for b in summary['by_magnitude']]
    [(1, 1.0), (2, 3.0)]
    """
    values = np.asarray(values, dtype=float).ravel()
    mags = np.asarray(magnitudes, dtype=float).ravel()
    if mags.shape != values.shape:
        msg = (f'magnitudes must have one value per image ({values.size}), '
               f'got {mags.size}')
        raise ValueError(msg)
    edges = _check_edges(mag_bins)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN values
        out = {'median': float(np.nanmedian(values)),
               'mean': float(np.nanmean(values)), 'by_magnitude': []}
    for low, high in zip(edges[:-1], edges[1:]):
        sel = (mags >= low) & (mags < high)
        finite = values[sel][np.isfinite(values[sel])]
        out['by_magnitude'].append(
            {'mag_min': float(low), 'mag_max': float(high),
             'n': int(sel.sum()),
             'median': float(np.median(finite)) if finite.size else None})
    return out


def _evaluation_deconvolver(method, upsample, weights, device):
    from ..deconvolution import make_deconvolver

    name, options = _RECIPES[method]
    if name == 'learned':
        options = dict(options, weights=weights, device=device)
    return make_deconvolver(name, upsample=upsample, **options)


def evaluate_methods(observed, truth, psf, *, methods=('learned', 'tikhonov'),
                     error=None, magnitudes=None, mag_bins=DEFAULT_MAG_BINS,
                     weights='default', device='auto', clumps=None):
    """
    Deconvolve a stack with several methods and score them.

    Parameters
    ----------
    observed : array_like
        ``(N, ny, nx)`` observations.
    truth : array_like
        ``(N, k ny, k nx)`` truth images; ``k`` is the super-resolution
        factor of every method.
    psf : array_like
        ``(N, py, px)`` PSFs on the truth grid.
    methods : sequence of str, optional
        Among ``'learned'``, ``'learned-debiased'``, ``'tikhonov'``,
        ``'tikhonov-auto'``, ``'richardson-lucy'`` and ``'wiener'``.
    error : array_like, optional
        The 1-sigma noise of the observations: one value per image
        ``(N,)`` or per pixel ``(N, ny, nx)``. Used for the residual
        chi-square (``'chi2'`` is not computed without it) and given to
        ``'tikhonov-auto'`` and ``'wiener'``.
    magnitudes : array_like, optional
        ``(N,)`` magnitudes of the galaxies, for the per-bin summaries.
    mag_bins : sequence of float, optional
        Magnitude bin edges, default ``(20, 21.5, 23, 24, 25, 26)``.
    weights : str or path-like, optional
        The denoiser of the learned methods (registry name or checkpoint).
    device : str, optional
        The device of the learned methods.
    clumps : `ClumpDetection`, optional
        How clumps are detected and matched; default ``ClumpDetection()``.

    Returns
    -------
    summary : dict
        ``'n_images'``, ``'upsample'`` and, for each method, a dict
        mapping each metric to its `summarize_by_magnitude` summary. The
        clump flux error is summarised in absolute value.
    scores : dict
        ``'mag'`` (the magnitudes) and, for each method, the per-image
        scores of `score_images`, with the clump flux error in absolute
        value.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.datasets import degrade_to_ground
    >>> from astrodeconv.evaluation import evaluate_methods
    >>> y, x = np.mgrid[:32, :32]
    >>> blob = np.exp(-((x - 16)**2 + (y - 16)**2) / 8.0)
    >>> truth = np.stack([3 * blob, 5 * blob])
    >>> ground = degrade_to_ground(truth, psf_fwhm=0.3, upsample=2,
    ...                            noise=0.01, seed=1)
    >>> summary, scores = evaluate_methods(
    ...     ground.observed, truth, ground.psf, error=ground.sigma,
    ...     methods=['tikhonov', 'wiener'])
    >>> summary['n_images'], summary['upsample']
    (2, 2)
    >>> list(scores['wiener'])  # doctest: +NORMALIZE_WHITESPACE
    ['nmse', 'psnr', 'ssim', 'clump_flux_error', 'hallucination',
     'completeness', 'chi2']
    """
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        msg = 'methods must name at least one method, got none'
        raise ValueError(msg)
    for method in methods:
        check_choice(method, 'methods', EVALUATION_METHODS)
    observed = np.asarray(observed, dtype=float)
    truth = np.asarray(truth, dtype=float)
    psf = np.asarray(psf, dtype=float)
    if observed.ndim != 3 or truth.ndim != 3 or len(observed) != len(truth):
        msg = ('observed and truth must be stacks (N, ny, nx) of the same '
               f'length, got shapes {observed.shape} and {truth.shape}')
        raise ValueError(msg)
    if (observed.shape[-2] > truth.shape[-2]
            or observed.shape[-1] > truth.shape[-1]):
        msg = (f'observed must be on a grid no finer than truth, but the '
               f'observed grid {observed.shape[-2:]} is larger than the '
               f"truth's {truth.shape[-2:]}")
        raise ValueError(msg)
    upsample = truth.shape[-1] // max(observed.shape[-1], 1)
    if (upsample < 1 or truth.shape[-2:] != (observed.shape[-2] * upsample,
                                             observed.shape[-1] * upsample)):
        msg = ('truth must be on a grid an integer number of times finer '
               f'than observed, got shapes {truth.shape} and '
               f'{observed.shape}')
        raise ValueError(msg)
    n = len(observed)
    if error is not None:
        error = np.asarray(error, dtype=float)
        if error.ndim == 1:
            error = error[:, None, None]
        error = np.broadcast_to(error, observed.shape).copy()
    mags = (np.full(n, np.nan) if magnitudes is None
            else np.asarray(magnitudes, dtype=float))
    edges = _check_edges(mag_bins)
    summary = {'n_images': int(n), 'upsample': int(upsample)}
    scores = {'mag': mags}
    for method in methods:
        deconvolver = _evaluation_deconvolver(method, upsample, weights,
                                              device)
        kwargs = {'error': error} if (method in _USE_ERROR
                                      and error is not None) else {}
        with warnings.catch_warnings():
            # training stamps: ground seeing on the fine grid is wider than
            # a quarter of a stamp by design, not a PSF at the wrong scale
            warnings.filterwarnings('ignore', message='psf has a FWHM')
            images = deconvolver(observed, psf=psf, **kwargs)
        values = score_images(
            images, truth, observed=observed if error is not None else None,
            psf=psf, error=error, upsample=upsample, clumps=clumps)
        values['clump_flux_error'] = np.abs(values['clump_flux_error'])
        scores[method] = values
        summary[method] = {name: summarize_by_magnitude(v, mags, edges)
                           for name, v in values.items()}
    return summary, scores


def _check_max_images(max_images):
    if max_images is None:
        return None
    if not isinstance(max_images, Integral) or isinstance(max_images, bool):
        msg = (f'max_images must be None or an integer, got '
               f'{type(max_images).__name__}')
        raise TypeError(msg)
    return check_positive_int(max_images, 'max_images')
