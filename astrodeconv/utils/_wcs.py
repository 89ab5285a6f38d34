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
