# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
SED weights: a broad band written as a linear combination of narrow bands.

Convention
----------
The images of all bands are calibrated to one common f_nu unit (e.g. nJy
per pixel), so that the value of a pixel in band X is the photon-counting
band-averaged flux density ``F_X`` of its light (`Band.mean_flux_density`).
The broad-band image (e.g. Euclid VIS) is modelled as a linear combination
of the narrow-band images (e.g. Rubin r, i, z)::

    broad = sum_b w_b * band_b

with the *SED weights* ``w_b``, which depend on the spectral energy
distribution (SED) of the light.

The broad band's throughput is shared among the narrow bands in
proportion to their throughputs, ``p_b = T_b / sum_c T_c`` (zero where no
narrow band transmits), and the *flux fraction* of band b is the share of
the broad band's flux that it receives::

    fraction_b = int f_nu T_broad p_b dlambda / lambda
                 / int f_nu T_broad dlambda / lambda

The weights ``w_b = fraction_b * F_broad / F_b`` then make
``F_broad = sum_b w_b F_b`` exact for that SED whenever the narrow bands
cover the broad one (the fractions sum to 1); a warning says when they
cover less than 95% of its flux. For a flat f_nu spectrum the weights are
the flux fractions themselves.
"""

import warnings

import numpy as np
from astropy import units as u
from astropy.nddata import NDData
from astropy.stats import mad_std
from scipy.integrate import trapezoid

from ..utils._validation import check_real
from ..utils.exceptions import AstrodeconvWarning
from .bands import Band, _grid, _spectrum_fnu

__all__ = ['flux_fractions', 'sed_weights', 'sed_weight_maps',
           'MIN_COVERAGE']

#: The fraction of the broad band's flux that the narrow bands must cover
#: before `flux_fractions` and `sed_weights` stop warning.
MIN_COVERAGE = 0.95
#: The number of wavelengths, evenly spaced in log(lambda), on which
#: `sed_weight_maps` samples the SED of each pixel (the pivot wavelengths
#: are added); the throughputs are integrated on their own finer grid.
_SED_GRID_SIZE = 256
#: Pixels per block in `sed_weight_maps` (bounds the memory used).
_BLOCK_VALUES = 2 ** 22


def _check_bands(bands, broad_band):
    """Return ``bands`` as a list after checking it and ``broad_band``."""
    if isinstance(bands, Band) or not isinstance(bands, (list, tuple)):
        msg = (f'bands must be a non-empty list or tuple of Band objects, '
               f'got {type(bands).__name__}')
        raise TypeError(msg)
    if len(bands) == 0:
        msg = 'bands must be a non-empty list or tuple of Band objects'
        raise ValueError(msg)
    for index, band in enumerate(bands):
        if not isinstance(band, Band):
            msg = (f'bands[{index}] must be a Band, got '
                   f'{type(band).__name__}')
            raise TypeError(msg)
    if not isinstance(broad_band, Band):
        msg = f'broad_band must be a Band, got {type(broad_band).__name__}'
        raise TypeError(msg)
    return list(bands)


def _partition(bands, broad_band, grid):
    """``T_broad`` and the shares ``p_b`` (n_bands, n) on ``grid``."""
    narrow = np.array([band._interp(grid) for band in bands])
    total = narrow.sum(axis=0)
    share = np.divide(narrow, total, out=np.zeros_like(narrow),
                      where=total > 0)
    return broad_band._interp(grid), share


def _fractions(bands, broad_band, spectrum, *, stacklevel):
    """The flux fractions; a flat f_nu spectrum when ``spectrum`` is None."""
    curve = broad_band._wave
    if spectrum is None:
        wave, fnu = np.array([]), None
        low, high = curve[0], curve[-1]
    else:
        wave, fnu, _ = _spectrum_fnu(spectrum)
        range_low, range_high = broad_band._range
        if wave[0] > range_low or wave[-1] < range_high:
            msg = (f'spectrum must cover broad_band {broad_band.key!r} '
                   f'where its throughput exceeds 1% of its peak, '
                   f'{range_low:.1f}-{range_high:.1f} nm, got a spectrum '
                   f'from {wave[0]:.1f} to {wave[-1]:.1f} nm')
            raise ValueError(msg)
        low, high = max(wave[0], curve[0]), min(wave[-1], curve[-1])
    grid = _grid(low, high, curve, wave, *(band._wave for band in bands))
    t_broad, share = _partition(bands, broad_band, grid)
    kernel = t_broad / grid
    if fnu is not None:
        kernel = kernel * np.interp(grid, wave, fnu)
    total = trapezoid(kernel, grid)
    if not total > 0:
        msg = (f'spectrum must have a positive flux in broad_band '
               f'{broad_band.key!r}, got {total:g}')
        raise ValueError(msg)
    fractions = trapezoid(kernel * share, grid, axis=-1) / total
    covered = fractions.sum()
    if covered < MIN_COVERAGE:
        msg = (f'bands cover only {100 * covered:.1f}% of the flux of '
               f'broad_band {broad_band.key!r}; the SED weights leave the '
               f'rest out. Add bands that fill the gaps to remove this '
               f'warning.')
        warnings.warn(msg, AstrodeconvWarning, stacklevel=stacklevel + 1)
    return fractions


def flux_fractions(spectrum, bands, broad_band):
    """
    The fraction of a broad band's flux that falls in each narrow band.

    The broad band's throughput is shared among the narrow bands in
    proportion to their throughputs (see the module docstring), so
    overlapping bands split the flux where they overlap and the fractions
    sum to the covered fraction of the flux (1 when the narrow bands cover
    the broad one).

    Parameters
    ----------
    spectrum : `~specutils.Spectrum`
        The SED, in f_nu or f_lambda units, covering ``broad_band``'s
        `~Band.wavelength_range`.
    bands : list of `Band`
        The narrow bands.
    broad_band : `Band`
        The broad band.

    Returns
    -------
    fractions : `~numpy.ndarray`
        One dimensionless fraction per band, shape ``(len(bands),)``.

    Warns
    -----
    AstrodeconvWarning
        If the bands receive less than `MIN_COVERAGE` of the flux.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy import units as u
    >>> from specutils import Spectrum
    >>> from astrodeconv.multiband import flux_fractions, get_band
    >>> flat = Spectrum(flux=np.ones(2) * u.nJy,
    ...                 spectral_axis=[400, 1100] * u.nm)
    >>> bands = [get_band(f'rubin_{b}') for b in 'riz']
    >>> fractions = flux_fractions(flat, bands, get_band('euclid_vis'))
    >>> fractions.round(2)  # doctest: +FLOAT_CMP
    array([0.46, 0.34, 0.19])
    """
    bands = _check_bands(bands, broad_band)
    if spectrum is None:
        msg = 'spectrum must be a specutils.Spectrum, got None'
        raise TypeError(msg)
    return _fractions(bands, broad_band, spectrum, stacklevel=2)


def sed_weights(bands, broad_band, *, spectrum=None):
    """
    The coefficients ``w_b`` with ``F_broad = sum_b w_b F_b`` for an SED.

    ``w_b = fraction_b * F_broad / F_b``, with `flux_fractions` and the
    band-averaged flux densities of `Band.mean_flux_density`. The relation
    is exact for ``spectrum`` when the bands cover the broad band.

    Parameters
    ----------
    bands : list of `Band`
        The narrow bands.
    broad_band : `Band`
        The broad band.
    spectrum : `~specutils.Spectrum`, optional
        The SED, in f_nu or f_lambda units, covering every band. By
        default a flat f_nu spectrum, for which the weights are the flux
        fractions and sum to the covered fraction.

    Returns
    -------
    weights : `~numpy.ndarray`
        Shape ``(len(bands),)``.

    Warns
    -----
    AstrodeconvWarning
        If the bands receive less than `MIN_COVERAGE` of the flux.

    Examples
    --------
    >>> from astrodeconv.multiband import get_band, sed_weights
    >>> bands = [get_band(f'rubin_{b}') for b in 'riz']
    >>> weights = sed_weights(bands, get_band('euclid_vis'))
    >>> weights.round(2)  # doctest: +FLOAT_CMP
    array([0.46, 0.34, 0.19])
    """
    bands = _check_bands(bands, broad_band)
    fractions = _fractions(bands, broad_band, spectrum, stacklevel=2)
    if spectrum is None:
        return fractions
    broad = broad_band.mean_flux_density(spectrum)
    narrow = u.Quantity([band.mean_flux_density(spectrum) for band in bands])
    if np.any(narrow.value == 0):
        msg = 'spectrum must have a non-zero flux in every band of bands'
        raise ValueError(msg)
    return fractions * (broad / narrow).to_value(u.dimensionless_unscaled)


def _image_stack(images, n_bands):
    """``images`` as one float array (n_bands, ny, nx) and their unit."""
    if not isinstance(images, (list, tuple, np.ndarray)):
        msg = (f'images must be a list or tuple of 2D images, one per band, '
               f'got {type(images).__name__}')
        raise TypeError(msg)
    if len(images) != n_bands:
        msg = (f'images must hold one image per band, got {len(images)} '
               f'images for {n_bands} bands')
        raise ValueError(msg)
    arrays, units = [], []
    for index, image in enumerate(images):
        unit = None
        if isinstance(image, NDData):
            image, unit = image.data, image.unit
        elif isinstance(image, u.Quantity):
            image, unit = image.value, image.unit
        try:
            array = np.asarray(image, dtype=float)
        except (TypeError, ValueError):
            msg = (f'images[{index}] must be a 2D array, Quantity or NDData, '
                   f'got {type(image).__name__}')
            raise TypeError(msg) from None
        if array.ndim != 2:
            msg = f'images[{index}] must be 2D, got shape {array.shape}'
            raise ValueError(msg)
        arrays.append(array)
        units.append(unit)
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        msg = (f'images must all have the same shape, got shapes '
               f'{[array.shape for array in arrays]}')
        raise ValueError(msg)
    unit = units[0]
    for index, other in enumerate(units):
        if (other is None) != (unit is None) or (
                unit is not None and not other.is_equivalent(unit)):
            msg = (f'images must share one flux unit (or all have none), '
                   f'got {unit} for images[0] and {other} for '
                   f'images[{index}]')
            raise u.UnitsError(msg)
        if unit is not None:
            arrays[index] = (arrays[index] * other).to_value(unit)
    return np.array(arrays), unit


def _error_stack(error, stack, unit):
    """The 1-sigma noise of each band, broadcast to the images' shape."""
    if error is None:
        return np.array([mad_std(image, ignore_nan=True) * np.ones_like(image)
                         for image in stack])
    if not isinstance(error, (list, tuple)) or len(error) != len(stack):
        msg = (f'error must be a list or tuple with one 1-sigma value or '
               f'map per band ({len(stack)}), got {error!r:.60}')
        raise ValueError(msg)
    sigmas = []
    for index, sigma in enumerate(error):
        if isinstance(sigma, u.Quantity):
            if unit is None or not sigma.unit.is_equivalent(unit):
                msg = (f'error[{index}] must have the images\' unit '
                       f'{unit}, got {sigma.unit}')
                raise u.UnitsError(msg)
            sigma = sigma.to_value(unit)
        try:
            sigmas.append(np.broadcast_to(np.asarray(sigma, float),
                                          stack.shape[1:]))
        except ValueError:
            msg = (f'error[{index}] must be a number or a map of the '
                   f'images\' shape {stack.shape[1:]}, got shape '
                   f'{np.shape(sigma)}')
            raise ValueError(msg) from None
        if not np.all(sigmas[-1] >= 0):
            msg = f'error[{index}] must be >= 0 everywhere'
            raise ValueError(msg)
    return np.array(sigmas)


def _quadrature(grid, band):
    """
    Weights ``q`` such that ``sum(q * g)`` is the trapezoidal rule for
    ``int g dlambda / lambda`` over the span of ``band``'s curve.
    """
    step = np.diff(grid)
    step[(grid[:-1] < band._wave[0]) | (grid[1:] > band._wave[-1])] = 0
    return (np.append(step, 0) + np.insert(step, 0, 0)) / (2 * grid)


class _PowerLawWeights:
    """
    SED weights of SEDs that are power laws in f_nu between the pivot
    wavelengths of the bands (constant beyond the first and the last).

    The throughput integrals use the trapezoidal rule on the union of the
    bands' wavelengths; the SED, sampled on a coarse log-wavelength grid,
    is interpolated linearly in log(lambda) onto it. The integrals are
    therefore linear maps of the SED on the coarse grid, computed once.
    """

    def __init__(self, bands, broad_band):
        pivots = np.array([band.pivot_wavelength.value for band in bands])
        order = np.argsort(pivots)
        if np.any(np.diff(pivots[order]) <= 0):
            msg = 'bands must have distinct pivot wavelengths'
            raise ValueError(msg)
        nodes = [band._wave for band in (*bands, broad_band)]
        fine = np.unique(np.concatenate(nodes))
        t_broad, share = _partition(bands, broad_band, fine)
        quad = _quadrature(fine, broad_band)
        # Hat functions in log(lambda) on the coarse grid, at each fine node.
        coarse = np.union1d(np.geomspace(fine[0], fine[-1], _SED_GRID_SIZE),
                            pivots)
        log_coarse = np.log(coarse)
        left = np.clip(np.searchsorted(coarse, fine, side='right') - 1,
                       0, coarse.size - 2)
        t = ((np.log(fine) - log_coarse[left])
             / (log_coarse[left + 1] - log_coarse[left]))
        hats = np.zeros((coarse.size, fine.size))
        columns = np.arange(fine.size)
        hats[left, columns] = 1 - t
        hats[left + 1, columns] += t
        self._shares = hats @ (quad * t_broad * share).T
        narrow = np.array([band._interp(fine) * _quadrature(fine, band)
                           for band in bands])
        self._narrow = hats @ narrow.T
        self._norm = narrow.sum(axis=1) / (quad * t_broad).sum()
        # log f on the coarse grid as a linear map of the bands' log F.
        self._log_sed = np.zeros((coarse.size, len(bands)))
        position = np.interp(np.log(coarse), np.log(pivots[order]),
                             np.arange(len(bands)))
        low = np.minimum(np.floor(position).astype(int), len(bands) - 1)
        high = np.minimum(low + 1, len(bands) - 1)
        rows = np.arange(coarse.size)
        self._log_sed[rows, order[low]] = 1 - (position - low)
        self._log_sed[rows, order[high]] += position - low

    def __call__(self, values):
        """Weights (n_pixels, n_bands) for band values (n_pixels, n_bands)."""
        log_values = np.log(values)
        log_values -= log_values.max(axis=1, keepdims=True)
        sed = np.exp(log_values @ self._log_sed.T)
        return (sed @ self._shares) * self._norm / (sed @ self._narrow)


def sed_weight_maps(images, bands, broad_band, *, error=None,
                    snr_floor=3.0):
    """
    Per-pixel SED weights from the colours of the narrow-band images.

    The SED of each pixel is modelled as a power law in f_nu between the
    pivot wavelengths of the bands, through the pixel's band values (log
    f_nu linear in log lambda, constant beyond the bluest and reddest
    pivots), and the weights ``w_b = fraction_b * F_broad / F_b`` of
    `sed_weights` are computed for that SED, with ``F_b`` the band
    averages of the model SED.

    A pixel uses its own colours only where every band is above
    ``snr_floor`` times its noise (and positive). Elsewhere (faint, negative
    or non-finite pixels) it gets the weights of the global colours, those
    of the total fluxes (sums of the finite pixels) of the images.

    Parameters
    ----------
    images : list
        One image per band, on one pixel grid, in one f_nu unit: 2D
        arrays, `~astropy.units.Quantity` or `~astropy.nddata.NDData`.
    bands : list of `Band`
        The narrow bands, in the order of ``images``, with distinct pivot
        wavelengths.
    broad_band : `Band`
        The broad band.
    error : list, optional
        The 1-sigma noise of each image: a number or a map of the images'
        shape per band. By default the robust standard deviation
        (`~astropy.stats.mad_std`) of each image, a fair noise estimate
        when most pixels are sky.
    snr_floor : float, optional
        The signal-to-noise ratio above which a pixel's own colours are
        used, in every band.

    Returns
    -------
    weights : `~numpy.ndarray`
        Shape ``(len(bands), ny, nx)``.

    Raises
    ------
    ValueError
        If some pixels need the global colours and a total flux is not
        positive.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.multiband import (get_band, sed_weight_maps,
    ...                                    sed_weights)
    >>> bands = [get_band(f'rubin_{b}') for b in 'riz']
    >>> images = [np.full((4, 5), 2.0) for _ in bands]  # flat f_nu colours
    >>> maps = sed_weight_maps(images, bands, get_band('euclid_vis'))
    >>> maps.shape
    (3, 4, 5)
    >>> np.allclose(maps[:, 2, 3], sed_weights(bands, get_band('euclid_vis')))
    True
    """
    bands = _check_bands(bands, broad_band)
    snr_floor = check_real(snr_floor, 'snr_floor', minimum=0)
    stack, unit = _image_stack(images, len(bands))
    sigma = _error_stack(error, stack, unit)
    weights_of = _PowerLawWeights(bands, broad_band)
    n_bands, shape = len(bands), stack.shape[1:]
    values = stack.reshape(n_bands, -1).T
    with np.errstate(invalid='ignore'):
        good = np.all(np.isfinite(values) & (values > 0) & (
            values > snr_floor * sigma.reshape(n_bands, -1).T), axis=1)
    weights = np.empty((values.shape[0], n_bands))
    if not np.all(good):
        totals = np.nansum(stack, axis=(1, 2))
        if np.any(totals <= 0):
            msg = (f'images must have positive total fluxes to set the '
                   f'colours of faint pixels, got totals {totals}')
            raise ValueError(msg)
        weights[~good] = weights_of(totals[np.newaxis])
    block = max(1, _BLOCK_VALUES // weights_of._log_sed.shape[0])
    index = np.flatnonzero(good)
    for start in range(0, index.size, block):
        rows = index[start:start + block]
        weights[rows] = weights_of(values[rows])
    return weights.T.reshape(n_bands, *shape)
