# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Empirical (effective) PSFs built from the stars of an image.

This wraps the photutils ePSF machinery (`~photutils.psf.extract_stars` and
`~photutils.psf.EPSFBuilder`, Anderson & King 2000) with an automatic
selection of bright, isolated, point-like stars.
"""

import warnings

import numpy as np
from astropy import units as u
from astropy.nddata import NDData
from astropy.stats import sigma_clip, sigma_clipped_stats
from astropy.table import Table
from photutils.detection import DAOStarFinder
from photutils.psf import EPSFBuilder, extract_stars
from photutils.utils.exceptions import NoDetectionsWarning
from scipy.spatial import cKDTree

from ..utils._repr import make_repr
from ..utils._validation import check_positive_int, check_real
from ..utils._deprecation import renamed_keyword
from .core import validate_psf
from .measure import measure_fwhm

__all__ = ['EmpiricalPSF', 'build_empirical_psf']

#: Candidate columns holding star positions, in order of preference.
_POSITION_COLUMNS = (('x', 'y'), ('x_centroid', 'y_centroid'),
                     ('xcentroid', 'ycentroid'))
#: Minimum number of candidates before outliers in shape are clipped.
_MIN_FOR_CLIPPING = 5
#: Sharpness of point sources (the DAOFIND default bounds).
_SHARPNESS_RANGE = (0.2, 1.0)


class EmpiricalPSF:
    """
    Result of `build_empirical_psf`.

    Attributes
    ----------
    psf : `~numpy.ndarray`
        The PSF array, of odd shape (``size * oversampling``, plus one if
        even), centred on its central pixel and normalised to unit sum.
        It is an *effective* PSF: the optical PSF integrated over a
        detector pixel and sampled on a grid ``oversampling`` times finer.
    stars : `~astropy.table.Table`
        The stars used, with columns ``id``, ``x``, ``y`` (0-indexed pixel
        positions in the input image) and ``flux`` (the flux fitted with
        the final ePSF; NaN for stars excluded from the fit).
    epsf : `~photutils.psf.ImagePSF`
        The photutils ePSF model, ready for `~photutils.psf.PSFPhotometry`.
    oversampling : int
        Oversampling factor of ``psf`` relative to the detector pixels.
    iterations : int
        Number of ePSF building iterations performed.
    converged : bool
        Whether the star centres converged before ``maxiters``.
    """

    def __init__(self, psf, stars, epsf, oversampling, iterations,
                 converged):
        self.psf = psf
        self.stars = stars
        self.epsf = epsf
        self.oversampling = oversampling
        self.iterations = iterations
        self.converged = converged

    @property
    def fwhm(self):
        """FWHM of the effective PSF in detector pixels (a float)."""
        return measure_fwhm(self.psf) / self.oversampling

    def __repr__(self):
        return make_repr(self, ('shape', 'n_stars', 'oversampling',
                                'converged'),
                         overrides={'shape': self.psf.shape,
                                    'n_stars': len(self.stars)},
                         brackets=True)


def _unpack_data(data):
    """Return ``(array, mask, wcs)`` from an ndarray or NDData input."""
    mask = wcs = None
    if isinstance(data, NDData):
        mask, wcs = data.mask, data.wcs
        data = data.data
    if isinstance(data, u.Quantity):
        data = data.value
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        msg = (f'data must be a 2D array or NDData, got '
               f'{type(data).__name__}')
        raise TypeError(msg) from None
    if arr.ndim != 2:
        msg = f'data must be a 2D image, got {arr.ndim} dimension(s)'
        raise ValueError(msg)
    bad = ~np.isfinite(arr)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != arr.shape:
            msg = (f'data.mask must have the shape of data {arr.shape}, got '
                   f'{mask.shape}')
            raise ValueError(msg)
        bad |= mask
    if bad.all():
        msg = 'data must contain unmasked finite pixels, got none'
        raise ValueError(msg)
    return arr, (bad if bad.any() else None), wcs


def _star_table(stars):
    """Return a table with float ``x`` and ``y`` columns."""
    if not isinstance(stars, Table):
        msg = (f'stars must be an astropy Table with x and y columns, got '
               f'{type(stars).__name__}')
        raise TypeError(msg)
    for x_name, y_name in _POSITION_COLUMNS:
        if x_name in stars.colnames and y_name in stars.colnames:
            x = np.asarray(u.Quantity(stars[x_name]).value, dtype=float)
            y = np.asarray(u.Quantity(stars[y_name]).value, dtype=float)
            return Table({'x': x, 'y': y})
    valid = ', '.join(f'({x!r}, {y!r})' for x, y in _POSITION_COLUMNS)
    msg = (f'stars must have one of the column pairs {valid}, got columns '
           f'{stars.colnames}')
    raise ValueError(msg)


def _inside(x, y, shape, half):
    """True for positions whose full cutout lies inside the image."""
    xi, yi = np.round(x), np.round(y)
    return ((xi - half >= 0) & (yi - half >= 0)
            & (xi + half <= shape[1] - 1) & (yi + half <= shape[0] - 1))


def _cutout_masked(x, y, mask, half):
    """True for positions whose cutout holds a masked pixel."""
    out = np.zeros(len(x), dtype=bool)
    if mask is None:
        return out
    for i, (xi, yi) in enumerate(zip(np.round(x).astype(int),
                                     np.round(y).astype(int), strict=True)):
        out[i] = mask[yi - half:yi + half + 1, xi - half:xi + half + 1].any()
    return out


def _select_stars(data, mask, *, threshold, fwhm, size, n_stars, peak_max):
    """Detect stars and keep bright, isolated, point-like ones."""
    # every local maximum is detected (no minimum separation, no shape
    # cut), so that close companions, galaxies and cosmic rays count as
    # neighbours in the isolation test
    finder = DAOStarFinder(threshold, fwhm, min_separation=0,
                           sharpness_range=None, roundness_range=None)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionsWarning)
        sources = finder.find_stars(data, mask=mask)
    if sources is None or len(sources) == 0:
        msg = (f'data must contain stars above threshold={threshold:.4g}, '
               'got none. Lower threshold, check fwhm, or pass a stars '
               'table.')
        raise ValueError(msg)
    x = np.asarray(sources['x_centroid'], dtype=float)
    y = np.asarray(sources['y_centroid'], dtype=float)
    sharpness = np.asarray(sources['sharpness'], dtype=float)
    roundness = [np.asarray(sources[name], dtype=float)
                 for name in ('roundness1', 'roundness2')]
    half = size // 2
    keep = _inside(x, y, data.shape, half)
    keep[keep] &= ~_cutout_masked(x[keep], y[keep], mask, half)
    # isolation: no other detection closer than the cutout size
    if len(x) > 1:
        distance, _ = cKDTree(np.column_stack([x, y])).query(
            np.column_stack([x, y]), k=2)
        keep &= distance[:, 1] > size
    # point-like (the DAOFIND defaults) and not saturated
    keep &= (sharpness >= _SHARPNESS_RANGE[0]) & (
        sharpness <= _SHARPNESS_RANGE[1])
    for values in roundness:
        keep &= np.abs(values) <= 1
    if peak_max is not None:
        keep &= np.asarray(sources['peak'], dtype=float) <= peak_max
    # outliers in shape among the candidates (blends, galaxies)
    if keep.sum() >= _MIN_FOR_CLIPPING:
        for values in (sharpness, *roundness):
            clipped = sigma_clip(values[keep], sigma=4.0, maxiters=5,
                                 masked=True)
            keep[np.flatnonzero(keep)[np.ma.getmaskarray(clipped)]] = False
    if not keep.any():
        msg = (f'data must contain isolated stars away from the edges, got '
               f'{len(x)} detection(s) but none point-like, unsaturated, '
               f'with no neighbour within size={size} pixels and with a '
               'full unmasked cutout. Reduce size or pass a stars table.')
        raise ValueError(msg)
    index = np.flatnonzero(keep)
    flux = np.asarray(sources['flux'], dtype=float)[index]
    index = index[np.argsort(flux)[::-1][:n_stars]]
    return Table({'x': x[index], 'y': y[index]})


@renamed_keyword('progress_bar', 'progress', since='0.1')
def build_empirical_psf(data, *, stars=None, size=25, oversampling=1,
                        n_stars=30, threshold=None, fwhm=3.0, peak_max=None,
                        maxiters=10, progress=False):
    """
    Build an empirical (effective) PSF from the stars of an image.

    A sigma-clipped median background is subtracted, stars are selected
    (or taken from ``stars``), cut out with `~photutils.psf.extract_stars`
    and stacked with `~photutils.psf.EPSFBuilder`.

    Automatic selection runs `~photutils.detection.DAOStarFinder` (every
    local maximum above ``threshold``) and keeps the detections that

    * have their whole ``size`` x ``size`` cutout inside the image, with
      no masked or non-finite pixel;
    * have no other detection within ``size`` pixels;
    * are point-like (DAOFIND sharpness in [0.2, 1], roundness in
      [-1, 1]) and not outliers (4 sigma) in sharpness or roundness among
      the candidates, which rejects blends, galaxies and cosmic rays while
      accepting a PSF that is elongated everywhere;
    * have a peak below ``peak_max`` (saturation), when given;

    then uses the ``n_stars`` brightest.

    Parameters
    ----------
    data : array_like or `~astropy.nddata.NDData`
        The 2D image. For `~astropy.nddata.NDData` (and
        `~astropy.nddata.CCDData`) the ``mask`` (True means bad) and
        ``wcs`` are used; the uncertainty is not (stars are stacked with
        equal weights). Non-finite pixels are masked.
    stars : `~astropy.table.Table`, optional
        Positions of the PSF stars (0-indexed pixels) in columns ``x`` and
        ``y`` (or ``x_centroid``/``y_centroid``, ``xcentroid``/
        ``ycentroid``). All stars with a full cutout inside the image are
        used. If not given, stars are selected automatically.
    size : int, optional
        Odd size (detector pixels) of the star cutouts.
    oversampling : int, optional
        Oversampling factor of the output PSF.
    n_stars : int, optional
        Maximum number of automatically selected stars.
    threshold : float, optional
        Detection threshold in data units above the background. The
        default is 10 times the sigma-clipped standard deviation.
    fwhm : float, optional
        Approximate FWHM of the stars in pixels, for the detection.
    peak_max : float, optional
        Stars with a background-subtracted peak above this are rejected
        as saturated.
    maxiters : int, optional
        Maximum number of ePSF building iterations.
    progress : bool, optional
        Show the photutils progress bar (needs tqdm).

    Returns
    -------
    result : `EmpiricalPSF`
        The PSF array (``result.psf``, centred and normalised, accepted by
        `~astrodeconv.psf.validate_psf`), the stars used and the photutils
        model.

    Raises
    ------
    ValueError
        If no usable star is found, ``stars`` lacks position columns or
        ``size`` is not an odd integer >= 3.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from astrodeconv.psf import build_empirical_psf, make_gaussian_psf
    >>> image = np.zeros((100, 100))
    >>> star = make_gaussian_psf(2.5, shape=15)
    >>> for y, x in [(20, 20), (20, 70), (70, 20), (70, 70)]:
    ...     image[y - 7:y + 8, x - 7:x + 8] += 1000 * star
    >>> result = build_empirical_psf(image, size=15, stars=Table(
    ...     {'x': [20, 70, 20, 70], 'y': [20, 20, 70, 70]}))
    >>> result.psf.shape, bool(abs(result.fwhm - 2.5) < 0.2)
    ((15, 15), True)
    """
    arr, mask, wcs = _unpack_data(data)
    size = check_positive_int(size, 'size', minimum=3)
    if size % 2 == 0:
        msg = f'size must be an odd integer >= 3, got {size}'
        raise ValueError(msg)
    oversampling = check_positive_int(oversampling, 'oversampling')
    n_stars = check_positive_int(n_stars, 'n_stars')
    maxiters = check_positive_int(maxiters, 'maxiters')
    fwhm = check_real(fwhm, 'fwhm', minimum=0, strict=True)
    if peak_max is not None:
        peak_max = check_real(peak_max, 'peak_max', minimum=0, strict=True)
    if not isinstance(progress, (bool, np.bool_)):
        msg = f'progress must be True or False, got {progress!r}'
        raise TypeError(msg)

    _, median, std = sigma_clipped_stats(arr, mask=mask, sigma=3.0)
    arr = arr - median
    if mask is not None:
        arr[mask] = 0.0

    if stars is None:
        if threshold is None:
            if not std > 0:
                msg = ('threshold must be given for an image without noise, '
                       f'got a background standard deviation of {std}')
                raise ValueError(msg)
            threshold = 10.0 * std
        else:
            threshold = check_real(threshold, 'threshold', minimum=0,
                                   strict=True)
        catalog = _select_stars(arr, mask, threshold=threshold,
                                fwhm=fwhm, size=size, n_stars=n_stars,
                                peak_max=peak_max)
    else:
        catalog = _star_table(stars)
        inside = _inside(catalog['x'], catalog['y'], arr.shape, size // 2)
        catalog = catalog[np.asarray(inside)]
        if len(catalog) == 0:
            msg = (f'stars must contain stars whose {size}x{size} cutout '
                   'lies inside the image, got none')
            raise ValueError(msg)

    cutouts = extract_stars(NDData(arr, mask=mask, wcs=wcs), catalog,
                            size=size)
    if len(cutouts) == 0:
        msg = 'stars must contain usable stars, got none after extraction'
        raise ValueError(msg)
    builder = EPSFBuilder(oversampling=oversampling, maxiters=maxiters,
                          progress_bar=progress)
    built = builder(cutouts)
    psf = validate_psf(np.asarray(built.epsf.data, dtype=float),
                       name='empirical PSF', warn=False)

    fitted = built.fitted_stars
    centers = np.atleast_2d(fitted.center_flat)
    flux = np.array([star.flux for star in fitted.all_stars], dtype=float)
    flux[list(built.excluded_star_indices)] = np.nan
    table = Table({'id': np.arange(1, len(flux) + 1), 'x': centers[:, 0],
                   'y': centers[:, 1], 'flux': flux})
    return EmpiricalPSF(psf, table, built.epsf, oversampling,
                        int(built.iterations), bool(built.converged))
