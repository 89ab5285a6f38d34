# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""WCS bookkeeping when an operation changes the pixel grid."""

import copy
import warnings

import numpy as np
from astropy.wcs import WCS

from .exceptions import AstrodeconvWarning

__all__ = []

#: FITS keywords that describe a WCS and go stale when the grid changes.
_WCS_KEY_PREFIXES = ('CRPIX', 'CDELT', 'CD1_', 'CD2_', 'PC1_', 'PC2_',
                     'A_', 'B_', 'AP_', 'BP_')
_WCS_KEYS = ('NAXIS1', 'NAXIS2', 'A_ORDER', 'B_ORDER', 'AP_ORDER',
             'BP_ORDER', 'PIXSCALE', 'PIXSCAL1', 'PIXSCAL2')


def _scale_sip(sip_matrix, factor):
    """Rescale SIP polynomial coefficients to pixels ``factor`` smaller."""
    if sip_matrix is None:
        return None
    out = np.array(sip_matrix, dtype=float, copy=True)
    p, q = np.indices(out.shape)
    return out * float(factor) ** (1 - p - q)


def upsample_wcs(wcs, factor, *, shape=None):
    """
    Return the WCS of a grid whose pixels are ``factor`` times smaller.

    Pixel ``f`` (0-indexed) of the fine grid has its centre at coarse pixel
    coordinate ``(f + 0.5) / factor - 0.5``, so the sky position of every
    point is unchanged. The pixel scale (CDELT or CD) is divided by
    ``factor`` and SIP distortion coefficients are rescaled accordingly.

    Non-FITS WCS objects cannot be rescaled: a warning is emitted and None
    returned.
    """
    if wcs is None:
        return None
    if not isinstance(wcs, WCS):
        warnings.warn(f'a WCS of type {type(wcs).__name__} cannot be '
                      'rescaled to the upsampled grid; the output has no WCS',
                      AstrodeconvWarning, stacklevel=3)
        return None
    if wcs.naxis != 2:
        warnings.warn(f'a WCS with {wcs.naxis} axes cannot be rescaled to '
                      'the upsampled 2D grid; the output has no WCS',
                      AstrodeconvWarning, stacklevel=3)
        return None
    if wcs.cpdis1 is not None or wcs.det2im1 is not None:
        warnings.warn('lookup-table distortions cannot be rescaled; the '
                      'output has no WCS', AstrodeconvWarning, stacklevel=3)
        return None
    k = float(factor)
    new = copy.deepcopy(wcs)
    w = new.wcs
    # 1-indexed FITS coordinates: C = (F - 0.5) / k + 0.5
    w.crpix = k * (np.asarray(w.crpix) - 0.5) + 0.5
    if w.has_cd():
        w.cd = np.asarray(w.cd) / k
    else:
        w.cdelt = np.asarray(w.cdelt) / k
    if new.sip is not None:
        from astropy.wcs import Sip
        sip = new.sip
        new.sip = Sip(_scale_sip(sip.a, k), _scale_sip(sip.b, k),
                      _scale_sip(sip.ap, k), _scale_sip(sip.bp, k),
                      w.crpix)
    if shape is not None:
        new.pixel_shape = (shape[-1], shape[-2])
    elif wcs.pixel_shape is not None:
        new.pixel_shape = tuple(int(n * factor) for n in wcs.pixel_shape)
    w.set()
    return new


def strip_wcs_keywords(meta):
    """Remove stale WCS keywords from a header-like ``meta`` (in place)."""
    for key in list(meta.keys()):
        ukey = str(key).upper()
        if ukey in _WCS_KEYS or ukey.startswith(_WCS_KEY_PREFIXES):
            del meta[key]
    return meta


#: Keywords whose value is a per-pixel quantity of the input grid (noise,
#: sky level, saturation, gain, read noise): on an upsampled product they
#: no longer mean what they say, so they are dropped.
INPUT_GRID_KEYWORDS = (
    'NOISE', 'SIGMA', 'SKYSIG', 'SKYSIGMA', 'SKYRMS', 'SKYNOISE', 'RMS',
    'BACKGND', 'BKG', 'SKY', 'SKYLEVEL', 'SKYLEV', 'MEDSKY', 'SKYMED',
    'SATURATE', 'SATURATN', 'SATLEVEL', 'SATUR', 'MAXLIN', 'NONLIN',
    'GAIN', 'EGAIN', 'CCDGAIN', 'ARAWGAIN', 'RDNOISE', 'READNOIS',
    'RON', 'EPERADU')
#: Pixel-scale keywords (arcsec per pixel) updated to the fine grid.
PIXEL_SCALE_KEYWORDS = ('PIXSCALE', 'PIXSCAL1', 'PIXSCAL2', 'SECPIX',
                        'SECPIX1', 'SECPIX2')


def update_grid_keywords(meta, factor):
    """
    Adapt the keywords of ``meta`` that describe the input pixel grid.

    Used on the meta of a product ``factor`` times finer than its input
    (in place; ``meta`` is a `~astropy.io.fits.Header` or a dict):

    - the WCS keywords (the new WCS lives in the ``wcs`` attribute) and
      ``NAXISn`` are removed;
    - the pixel-scale keywords `PIXEL_SCALE_KEYWORDS` are divided by
      ``factor``;
    - the per-pixel keywords `INPUT_GRID_KEYWORDS` (noise, sky, saturation,
      gain, read noise) and the ``COMMENT`` cards, which describe the input
      grid, are removed;
    - a ``HISTORY`` card lists what was changed (headers only).

    Returns
    -------
    dropped : list of str
        The keywords removed, besides the WCS keywords.
    """
    keys = {str(key).upper(): key for key in list(meta.keys())}
    rescaled = []
    for ukey in PIXEL_SCALE_KEYWORDS:
        key = keys.get(ukey)
        if key is None:
            continue
        value = meta[key]
        if isinstance(value, tuple) and len(value) == 2:
            value, comment = value
        else:
            comment = None
        try:
            new = float(value) / factor
        except (TypeError, ValueError):
            continue
        if not isinstance(value, (bool, np.bool_)):
            meta[key] = new if comment is None else (new, comment)
            rescaled.append(ukey)
    saved = {ukey: ((meta[keys[ukey]], meta.comments[keys[ukey]])
                    if hasattr(meta, 'comments') else meta[keys[ukey]])
             for ukey in rescaled}
    strip_wcs_keywords(meta)
    for ukey, value in saved.items():  # pixel scales are updated, not lost
        meta[keys[ukey]] = value
    dropped = []
    for key in list(meta.keys()):
        ukey = str(key).upper()
        if ukey in INPUT_GRID_KEYWORDS or ukey == 'COMMENT':
            if ukey in dropped and hasattr(meta, 'remove'):
                continue  # a repeated card, removed with the first
            dropped.append(ukey)
            if hasattr(meta, 'remove'):  # a Header: every card
                meta.remove(key, remove_all=True)
            else:
                del meta[key]
    if hasattr(meta, 'add_history'):
        note = f'astrodeconv: grid {factor}x finer than the input'
        if rescaled:
            note += f'; rescaled {", ".join(rescaled)}'
        if dropped:
            note += f'; removed input-grid keywords {", ".join(dropped)}'
        meta.add_history(note)
    return dropped
