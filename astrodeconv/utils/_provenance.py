# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""FITS-safe provenance keywords added to the meta of every output."""

import copy

__all__ = []

_MAX_STR = 68


def _fits_safe(value):
    if isinstance(value, bool) or value is None:
        return bool(value) if value is not None else 'None'
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    try:  # numpy scalars
        return value.item()
    except AttributeError:
        pass
    text = str(value)
    return text if len(text) <= _MAX_STR else text[:_MAX_STR - 3] + '...'


def add_provenance(meta, method, params):
    """
    Return a copy of ``meta`` with provenance keywords added.

    Parameters
    ----------
    meta : dict-like
        Input meta (dict, OrderedDict or `~astropy.io.fits.Header`).
    method : str
        Class name of the method, stored as ``DECONV``.
    params : dict
        Mapping of keyword (at most 8 characters, upper case) to value.
    """
    from astrodeconv import __version__, conf

    out = copy.deepcopy(meta) if meta is not None else {}
    if not conf.provenance:
        return out
    cards = {'DECONV': method, **params, 'DCNVVER': __version__}
    for key, value in cards.items():
        if len(key) > 8 or key != key.upper():
            msg = f'provenance key {key!r} must be upper case, <= 8 chars'
            raise ValueError(msg)
        out[key] = _fits_safe(value)
    return out
