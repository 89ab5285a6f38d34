# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Training cutouts from a real space-based mosaic.

Galaxies are selected with the criteria of the reference CANDELS training
set (``MAG_AUTO < 26``, 80 % flux radius > 10 px, FWHM > 10 px), either
from the user's SExtractor-style catalogue or from a catalogue measured
here with photutils, and cut out centred on their centroids with their
own WCS.
"""

import warnings

import numpy as np
from astropy import units as u
from astropy.nddata import Cutout2D, NDData
from astropy.nddata.utils import NoOverlapError, PartialOverlapError
from astropy.table import Table

from ..utils import _optional_deps
from ..utils._validation import check_positive_int, check_real
from ..utils._deprecation import renamed_keyword

__all__ = ['measure_catalogue', 'select_galaxies', 'make_cutouts',
           'SELECTION']

#: The reference selection of the published training sets (the one source
#: of these cuts, also used by `~astrodeconv.datasets.simulate_galaxies`):
#: column -> (operator, threshold); FLUX_RADIUS is the 80 % flux radius
#: and both sizes are in pixels.
SELECTION = {'MAG_AUTO': ('<', 26.0), 'FLUX_RADIUS': ('>', 10.0),
             'FWHM_IMAGE': ('>', 10.0)}

#: Accepted aliases of the catalogue columns (first match wins).
_ALIASES = {
    'X_IMAGE': ('X_IMAGE', 'x', 'xcentroid', 'x_centroid'),
    'Y_IMAGE': ('Y_IMAGE', 'y', 'ycentroid', 'y_centroid'),
    'ALPHA_J2000': ('ALPHA_J2000', 'RA', 'ra'),
    'DELTA_J2000': ('DELTA_J2000', 'DEC', 'dec'),
    'MAG_AUTO': ('MAG_AUTO', 'mag_auto'),
    'FLUX_RADIUS': ('FLUX_RADIUS', 'FLUX_RADIUS_80', 'flux_radius_80',
                    'flux_radius'),
    'FWHM_IMAGE': ('FWHM_IMAGE', 'fwhm', 'FWHM'),
}


def _mosaic(mosaic):
    """The mosaic as (data, wcs, mask); a WCS is required."""
    if isinstance(mosaic, NDData):
        data, wcs, mask = np.asarray(mosaic.data, float), mosaic.wcs, (
            None if mosaic.mask is None else np.asarray(mosaic.mask, bool))
    else:
        msg = ('mosaic must be an NDData/CCDData with a WCS (read a FITS '
               'mosaic with astrodeconv.io.read_image), got '
               f'{type(mosaic).__name__}')
        raise TypeError(msg)
    if wcs is None:
        msg = ('mosaic must carry a WCS so that cutouts keep their sky '
               'coordinates, got mosaic.wcs = None')
        raise ValueError(msg)
    if data.ndim != 2:
        msg = f'mosaic must be a 2D image, got {data.ndim} dimension(s)'
        raise ValueError(msg)
    bad = ~np.isfinite(data)
    mask = bad if mask is None else (mask | bad)
    return data, wcs, mask


def _column(table, name):
    for alias in _ALIASES[name]:
        if alias in table.colnames:
            return alias
    return None


def measure_catalogue(mosaic, *, zero_point, threshold=3.0, n_pixels=10,
                      deblend='auto'):
    """
    Measure a SExtractor-like catalogue of a mosaic with photutils.

    Sources are detected ``threshold`` sigma above a sigma-clipped
    background (``photutils.segmentation.detect_sources``, optionally
    deblended), then measured with ``SourceCatalog``: centroid, Kron
    (``MAG_AUTO``-like) magnitude ``zero_point - 2.5 log10(kron_flux)``,
    80 % flux radius and the FWHM of the Gaussian with the same second
    moments.

    Parameters
    ----------
    mosaic : `~astropy.nddata.NDData`
        Background-subtracted image with a WCS.
    zero_point : float
        AB zero point of the image (magnitude of one data unit).
    threshold : float, optional
        Detection threshold in units of the background noise.
    n_pixels : int, optional
        Minimum number of connected pixels of a source.
    deblend : bool or 'auto', optional
        Deblend overlapping sources (needs scikit-image; ``'auto'``
        deblends when it is installed).

    Returns
    -------
    catalogue : `~astropy.table.Table`
        Columns ``X_IMAGE``, ``Y_IMAGE`` (0-indexed pixels),
        ``ALPHA_J2000``, ``DELTA_J2000`` (deg), ``MAG_AUTO``,
        ``FLUX_RADIUS`` (80 %, pixels) and ``FWHM_IMAGE`` (pixels).
    """
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import (SourceCatalog, deblend_sources,
                                        detect_sources)

    data, wcs, mask = _mosaic(mosaic)
    zero_point = check_real(zero_point, 'zero_point')
    threshold = check_real(threshold, 'threshold', minimum=0, strict=True)
    n_pixels = check_positive_int(n_pixels, 'n_pixels')
    filled = np.where(mask, 0.0, data)
    _, median, std = sigma_clipped_stats(filled, mask=mask, sigma=3.0)
    segm = detect_sources(filled - median, threshold * std, n_pixels,
                          mask=mask)
    if segm is None:
        return Table(names=('X_IMAGE', 'Y_IMAGE', 'ALPHA_J2000',
                            'DELTA_J2000', 'MAG_AUTO', 'FLUX_RADIUS',
                            'FWHM_IMAGE'), dtype=[float] * 7)
    if deblend == 'auto':
        deblend = _optional_deps.HAS_SKIMAGE
    if deblend:
        segm = deblend_sources(filled - median, segm, n_pixels,
                               progress=False)
    cat = SourceCatalog(filled - median, segm, mask=mask, wcs=wcs)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        flux = np.asarray(cat.kron_flux, dtype=float)
        mag = zero_point - 2.5 * np.log10(np.where(flux > 0, flux, np.nan))
    radius = np.asarray(cat.flux_radius(0.8).to_value(u.pix)
                        if hasattr(cat.flux_radius(0.8), 'unit')
                        else cat.flux_radius(0.8), dtype=float)
    fwhm = cat.fwhm
    fwhm = np.asarray(getattr(fwhm, 'value', fwhm), dtype=float)
    sky = cat.sky_centroid
    return Table({'X_IMAGE': np.asarray(cat.x_centroid, float),
                  'Y_IMAGE': np.asarray(cat.y_centroid, float),
                  'ALPHA_J2000': sky.ra.deg, 'DELTA_J2000': sky.dec.deg,
                  'MAG_AUTO': mag, 'FLUX_RADIUS': radius,
                  'FWHM_IMAGE': fwhm})


def select_galaxies(catalogue, *, mag_limit=SELECTION['MAG_AUTO'][1],
                    flux_radius_min=SELECTION['FLUX_RADIUS'][1],
                    fwhm_min=SELECTION['FWHM_IMAGE'][1]):
    """
    Apply the reference selection to a catalogue.

    Keeps rows with ``MAG_AUTO < mag_limit``, ``FLUX_RADIUS >
    flux_radius_min`` (80 % flux radius, pixels) and ``FWHM_IMAGE >
    fwhm_min`` (pixels), which excludes stars and small, faint objects.
    Column aliases are accepted (e.g. ``FLUX_RADIUS_80``, ``fwhm``).

    Parameters
    ----------
    catalogue : `~astropy.table.Table`
    mag_limit, flux_radius_min, fwhm_min : float, optional

    Returns
    -------
    selected : `~astropy.table.Table`
        The rows that pass, with canonical column names.
    """
    if not isinstance(catalogue, Table):
        msg = (f'catalogue must be an astropy Table, got '
               f'{type(catalogue).__name__}')
        raise TypeError(msg)
    required = ('MAG_AUTO', 'FLUX_RADIUS', 'FWHM_IMAGE')
    found = {name: _column(catalogue, name) for name in _ALIASES}
    missing = [name for name in required if found[name] is None]
    has_pixels = found['X_IMAGE'] and found['Y_IMAGE']
    has_sky = found['ALPHA_J2000'] and found['DELTA_J2000']
    if not (has_pixels or has_sky):
        missing.append('X_IMAGE/Y_IMAGE or ALPHA_J2000/DELTA_J2000')
    if missing:
        msg = (f'catalogue must have the columns {", ".join(missing)} '
               f'(or an accepted alias), got {catalogue.colnames}')
        raise ValueError(msg)
    table = Table({name: catalogue[col] for name, col in found.items()
                   if col is not None})
    for name in required:
        table[name] = np.asarray(table[name], dtype=float)
    keep = ((table['MAG_AUTO'] < mag_limit)
            & (table['FLUX_RADIUS'] > flux_radius_min)
            & (table['FWHM_IMAGE'] > fwhm_min))
    return table[np.asarray(keep.filled(False) if hasattr(keep, 'filled')
                            else keep, dtype=bool)]


@renamed_keyword('progress_bar', 'progress', since='0.1')
def make_cutouts(mosaic, catalogue=None, *, size=128, zero_point=None,
                 select=True, max_nan_fraction=0.0, progress=False):
    """
    Cut training stamps out of a mosaic, centred on selected galaxies.

    Parameters
    ----------
    mosaic : `~astropy.nddata.NDData`
        Space-based image with a WCS (e.g. a CANDELS/HST mosaic).
    catalogue : `~astropy.table.Table`, optional
        SExtractor-style catalogue. Without one it is measured with
        `measure_catalogue` (then ``zero_point`` is required).
    size : int, optional
        Cutout side in pixels.
    zero_point : float, optional
        AB zero point, needed when no catalogue is given.
    select : bool, optional
        Apply `select_galaxies` first.
    max_nan_fraction : float, optional
        Largest fraction of NaN or masked pixels accepted in a cutout.
    progress : bool, optional

    Returns
    -------
    cutouts : list of `~astropy.nddata.NDData`
        One per kept galaxy, each with its own WCS and meta holding the
        catalogue row and the sub-pixel offset of the centroid from the
        cutout centre (``DX``, ``DY``).
    table : `~astropy.table.Table`
        The catalogue rows of the kept galaxies, with a ``REJECTED`` column
        explaining, for every candidate, why it was dropped ('' if kept).
    """
    from tqdm.auto import tqdm

    data, wcs, mask = _mosaic(mosaic)
    size = check_positive_int(size, 'size', minimum=8)
    max_nan_fraction = check_real(max_nan_fraction, 'max_nan_fraction',
                                  minimum=0, maximum=1)
    if catalogue is None:
        if zero_point is None:
            msg = ('zero_point must be given when no catalogue is given '
                   '(the catalogue is then measured with photutils)')
            raise ValueError(msg)
        catalogue = measure_catalogue(mosaic, zero_point=zero_point)
    table = select_galaxies(catalogue) if select else select_galaxies(
        catalogue, mag_limit=np.inf, flux_radius_min=-np.inf,
        fwhm_min=-np.inf)
    if 'X_IMAGE' in table.colnames:
        xs, ys = np.asarray(table['X_IMAGE']), np.asarray(table['Y_IMAGE'])
    else:
        xs, ys = wcs.world_to_pixel_values(
            np.asarray(table['ALPHA_J2000']),
            np.asarray(table['DELTA_J2000']))
    cutouts, reasons = [], []
    for row, x, y in tqdm(zip(table, xs, ys), total=len(table),
                          disable=not progress, desc='cutouts'):
        try:
            # an integer centre puts the centroid within half a pixel of
            # pixel (size // 2, size // 2), the package's centre convention
            cut = Cutout2D(data, (float(np.round(x)), float(np.round(y))),
                           size, wcs=wcs, mode='strict')
        except (PartialOverlapError, NoOverlapError):
            reasons.append('edge')
            continue
        cut_mask = mask[cut.slices_original]
        if cut_mask.mean() > max_nan_fraction:
            reasons.append('nan')
            continue
        cx, cy = cut.to_cutout_position((x, y))
        meta = {name: float(row[name]) for name in table.colnames}
        meta.update({'DX': float(cx - size // 2),
                     'DY': float(cy - size // 2)})
        cutouts.append(NDData(np.array(cut.data, dtype=float),
                              wcs=cut.wcs, mask=cut_mask.copy(),
                              unit=getattr(mosaic, 'unit', None),
                              meta=meta))
        reasons.append('')
    table['REJECTED'] = reasons
    kept = table[np.array([r == '' for r in reasons], dtype=bool)]
    kept.meta['n_candidates'] = len(table)
    kept.meta['rejected'] = {r: reasons.count(r) for r in set(reasons) if r}
    return cutouts, kept
