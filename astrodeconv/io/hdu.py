# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The FITS door: choose an image HDU, read its WCS and unit, turn headers
into meta and back, and build image HDUs.

Every reader and writer of the package goes through these helpers, so that
an image HDU is chosen, and its header cleaned, in one way everywhere:
`read_image` and `write_image`, the catalogue and mosaic modes, the
multi-band and demo writers.
"""

import re
import warnings
from collections.abc import Mapping

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ..utils.exceptions import AstrodeconvWarning

__all__ = ['select_image_hdu', 'read_wcs', 'read_unit', 'header_to_meta',
           'meta_to_header', 'fits_unit_string', 'make_image_hdu']

#: Extension names of the auxiliary arrays written beside an image.
UNCERT_EXTNAME, MASK_EXTNAME, PSF_EXTNAME = 'UNCERT', 'MASK', 'PSF'
#: Names under which a PSF extension is read (CCDData writes PSFIMAGE).
PSF_EXTNAMES = (PSF_EXTNAME, 'PSFIMAGE')
#: Extensions never taken for the image when no HDU is named.
AUXILIARY_EXTNAMES = (UNCERT_EXTNAME, MASK_EXTNAME, *PSF_EXTNAMES)

#: Keywords describing the HDU layout: never carried into meta.
_STRUCTURAL = re.compile(
    r'^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|EXTNAME|'
    r'EXTVER|EXTLEVEL|BSCALE|BZERO|BLANK|CHECKSUM|DATASUM|BUNIT|ZIMAGE|'
    r'ZBITPIX|ZNAXIS\d*|ZTILE\d*|ZCMPTYPE|ZNAME\d*|ZVAL\d*|ZQUANTIZ|'
    r'ZDITHER0|ZSIMPLE|ZTENSION|ZEXTEND|ZBLOCKED|ZPCOUNT|ZGCOUNT|'
    r'ZHECKSUM|ZDATASUM)$')
#: Keywords of the FITS WCS standards (with optional alternate letter).
_WCS_KEYWORD = re.compile(
    r'^(WCSAXES|CRPIX\d+|CRVAL\d+|CDELT\d+|CUNIT\d+|CTYPE\d+|CROTA\d+|'
    r'CD\d+_\d+|PC\d+_\d+|PV\d+_\d+|PS\d+_\d+|CNAME\d+|CRDER\d+|CSYER\d+|'
    r'LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|WCSNAME|MJDREF|'
    r'MJDREFI|MJDREFF|(A|B|AP|BP)_ORDER|(A|B|AP|BP)_\d+_\d+|A_DMAX|'
    r'B_DMAX)[A-Z]?$')

#: Common BUNIT spellings that are not valid astropy unit strings.
_UNIT_ALIASES = {'adu': 'adu', 'adus': 'adu', 'counts': 'count',
                 'count': 'count', 'cts': 'count', 'electrons': 'electron',
                 'electron': 'electron', 'e-': 'electron', 'e': 'electron',
                 'dn': 'DN', 'sec': 's', 'seconds': 's', 's': 's'}


# -- choosing the image HDU ---------------------------------------------------

def _is_2d_image(hdu):
    return (isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU,
                             fits.CompImageHDU))
            and hdu.header.get('NAXIS') == 2
            and all(int(hdu.header.get(f'NAXIS{i}', 0)) > 0
                    for i in (1, 2)))


def _describe_hdus(hdul):
    items = []
    for index, hdu in enumerate(hdul):
        shape = 'x'.join(str(n) for n in reversed(
            [hdu.header.get(f'NAXIS{i}', 0) for i in range(
                1, int(hdu.header.get('NAXIS', 0)) + 1)])) or 'no data'
        items.append(f'{index} {hdu.name!r} ({shape})')
    return ', '.join(items)


def select_image_hdu(hdul, hdu=None, *, path=None):
    """
    Choose the image HDU of a FITS file: the one named, or the first.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
        The open file.
    hdu : int or str, optional
        Index or name (``EXTNAME``, any case) of the image HDU. By default
        the first HDU holding 2D image data (a primary, image or
        tile-compressed image HDU with two non-empty axes) is taken,
        skipping the auxiliary extensions ``UNCERT``, ``MASK``, ``PSF``
        and ``PSFIMAGE``.
    path : str or path-like, optional
        The file name used in error messages; by default the name of the
        file ``hdul`` was read from, if any.

    Returns
    -------
    index : int
        The index of the image HDU in ``hdul`` (non-negative).

    Raises
    ------
    TypeError
        If ``hdul`` is not an `~astropy.io.fits.HDUList`, or ``hdu`` is
        neither an integer nor a string.
    ValueError
        If the file has no 2D image HDU, or ``hdu`` names no HDU or one
        without 2D image data; the message lists the HDUs of the file.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from astrodeconv.io import select_image_hdu
    >>> hdul = fits.HDUList([fits.PrimaryHDU(),
    ...                      fits.ImageHDU(np.zeros((3, 3)), name='MASK'),
    ...                      fits.ImageHDU(np.ones((4, 5)), name='SCI')])
    >>> select_image_hdu(hdul)
    2
    >>> select_image_hdu(hdul, 'mask')
    1
    >>> select_image_hdu(hdul, 0, path='image.fits')
    Traceback (most recent call last):
    ...
    ValueError: hdu 0 of 'image.fits' must hold 2D image data; its HDUs are: 0 'PRIMARY' (no data), 1 'MASK' (3x3), 2 'SCI' (4x5)
    """  # noqa: E501
    if not isinstance(hdul, fits.HDUList):
        msg = (f'hdul must be an astropy.io.fits.HDUList, got '
               f'{type(hdul).__name__}')
        raise TypeError(msg)
    if path is None:
        path = hdul.filename() or 'the HDU list'
    else:
        path = str(path)
    if hdu is None:
        for index, candidate in enumerate(hdul):
            if (_is_2d_image(candidate)
                    and candidate.name.upper() not in AUXILIARY_EXTNAMES):
                return index
        msg = (f'{path!r} has no HDU with 2D image data; its HDUs are: '
               f'{_describe_hdus(hdul)}')
        raise ValueError(msg)
    if isinstance(hdu, (bool, np.bool_)) or not isinstance(
            hdu, (int, np.integer, str)):
        msg = (f'hdu must be an integer index or an extension name, got '
               f'{hdu!r} of type {type(hdu).__name__}')
        raise TypeError(msg)
    if isinstance(hdu, str):
        names = [h.name.upper() for h in hdul]
        if hdu.upper() not in names:
            msg = (f'hdu must name an extension of {path!r}, got {hdu!r}; '
                   f'its HDUs are: {_describe_hdus(hdul)}')
            raise ValueError(msg)
        index = names.index(hdu.upper())
    else:
        index = int(hdu)
        if not -len(hdul) <= index < len(hdul):
            msg = (f'hdu must be an index between 0 and {len(hdul) - 1} '
                   f'for {path!r}, got {index}')
            raise ValueError(msg)
        index %= len(hdul)
    if not _is_2d_image(hdul[index]):
        msg = (f'hdu {hdu!r} of {path!r} must hold 2D image data; its HDUs '
               f'are: {_describe_hdus(hdul)}')
        raise ValueError(msg)
    return index


# -- reading a header ---------------------------------------------------------

def _check_header(header, name='header'):
    if not isinstance(header, fits.Header):
        msg = (f'{name} must be an astropy.io.fits.Header, got '
               f'{type(header).__name__}')
        raise TypeError(msg)


def read_wcs(header, hdul=None):
    """
    The 2D WCS of an image header, or None when it has none.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        The header of the image HDU.
    hdul : `~astropy.io.fits.HDUList`, optional
        The file the header comes from, for distortion tables stored in
        other extensions.

    Returns
    -------
    wcs : `~astropy.wcs.WCS` or None
        The celestial part of the WCS if it has one (the whole WCS when it
        has exactly two axes), otherwise any 2-axis WCS with a ``CTYPE``,
        otherwise None. astropy's notices about non-standard keywords it
        fixed (`~astropy.wcs.FITSFixedWarning`) are silenced.

    Raises
    ------
    TypeError
        If ``header`` is not an `~astropy.io.fits.Header`.

    Examples
    --------
    >>> from astropy.io import fits
    >>> from astrodeconv.io import read_wcs
    >>> header = fits.Header({'NAXIS': 2, 'CTYPE1': 'RA---TAN',
    ...                       'CTYPE2': 'DEC--TAN', 'CDELT1': -5e-5,
    ...                       'CDELT2': 5e-5})
    >>> read_wcs(header).wcs.ctype[0]
    'RA---TAN'
    >>> read_wcs(fits.Header({'NAXIS': 2})) is None
    True
    """
    _check_header(header)
    with warnings.catch_warnings():
        # informational notices about fixes of non-standard keywords
        warnings.simplefilter('ignore', FITSFixedWarning)
        wcs = WCS(header, fobj=hdul)
    if wcs.has_celestial:
        return wcs.celestial if wcs.naxis != 2 else wcs
    if wcs.naxis == 2 and any(wcs.wcs.ctype):
        return wcs
    return None


def _parse_unit(text):
    """Parse a BUNIT string, or return None when it is not a unit."""
    text = str(text).strip()
    if not text:
        return None
    for fmt in (None, 'fits'):
        try:
            unit = u.Unit(text, format=fmt)
        except ValueError:
            continue
        return None if unit == u.dimensionless_unscaled else unit
    tokens = re.split(r'(\s*[/*]\s*|\s+)', text.lower())
    try:
        translated = ''.join(_UNIT_ALIASES.get(t, t) if t.strip('/* ')
                             else t for t in tokens)
        unit = u.Unit(translated)
    except ValueError:
        return None
    return None if unit == u.dimensionless_unscaled else unit


def read_unit(header):
    """
    The unit of an image header's ``BUNIT``, or None.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        The header of the image HDU.

    Returns
    -------
    unit : `~astropy.units.UnitBase` or None
        The unit, read as astropy's generic or FITS format, or else after
        translating common spellings that neither accepts (``counts``,
        ``e-/s``, ``ADUs``...). None when ``BUNIT`` is missing, empty,
        dimensionless or not a unit (`read_image` warns in that last case
        and keeps the text in ``meta``).

    Raises
    ------
    TypeError
        If ``header`` is not an `~astropy.io.fits.Header`.

    Examples
    --------
    >>> from astropy.io import fits
    >>> from astrodeconv.io import read_unit
    >>> read_unit(fits.Header({'BUNIT': 'electrons/s'}))
    Unit("electron / s")
    >>> read_unit(fits.Header({'BUNIT': 'arbitrary'})) is None
    True
    """
    _check_header(header)
    bunit = header.get('BUNIT')
    return None if bunit is None else _parse_unit(bunit)


def _drop_keyword(keyword, strip_wcs):
    keyword = keyword.upper()
    return bool(_STRUCTURAL.match(keyword) or (
        strip_wcs and _WCS_KEYWORD.match(keyword)))


def header_to_meta(header, *, strip_wcs=True, keep=()):
    """
    The meta of an image: its header without the layout keywords.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        An image header.
    strip_wcs : bool, optional
        Also drop the keywords of the FITS WCS standards (``CRPIX``,
        ``CDELT``, ``PC``, ``CD``, ``CTYPE``, SIP ``A_ORDER``...), which
        belong to a `~astropy.wcs.WCS` read or written separately.
    keep : sequence of str, optional
        Layout keywords to keep anyway, in their place (``('BUNIT',)``
        keeps the unit text).

    Returns
    -------
    meta : `~astropy.io.fits.Header`
        A new header: the cards of ``header`` except blank cards, the
        keywords that describe the array layout (``SIMPLE``, ``BITPIX``,
        ``NAXISn``, ``EXTEND``, ``XTENSION``, ``EXTNAME``, ``BSCALE``,
        ``BZERO``, ``BLANK``, checksums, ``BUNIT``, the tile-compression
        keywords) and, when ``strip_wcs`` is true, the WCS keywords.
        Comments, ``COMMENT`` and ``HISTORY`` cards are kept.

    Raises
    ------
    TypeError
        If ``header`` is not an `~astropy.io.fits.Header`.

    Examples
    --------
    >>> from astropy.io import fits
    >>> from astrodeconv.io import header_to_meta
    >>> header = fits.Header([('NAXIS', 2), ('OBJECT', 'M51'),
    ...                       ('CDELT1', -5e-5), ('BUNIT', 'nJy')])
    >>> list(header_to_meta(header))
    ['OBJECT']
    >>> list(header_to_meta(header, strip_wcs=False, keep=('BUNIT',)))
    ['OBJECT', 'CDELT1', 'BUNIT']
    """
    _check_header(header)
    if isinstance(keep, str):
        keep = (keep,)
    kept = {str(keyword).upper() for keyword in keep}
    return fits.Header([card for card in header.cards
                        if card.keyword and (
                            card.keyword.upper() in kept
                            or not _drop_keyword(card.keyword, strip_wcs))])


# -- writing a header ---------------------------------------------------------

def _fits_value(value):
    """Return a value FITS can store, or raise TypeError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise TypeError('non-finite float')
        return float(value)
    if isinstance(value, (complex, np.complexfloating)):
        return complex(value)
    if isinstance(value, str):
        value.encode('ascii')  # raises UnicodeEncodeError (ValueError)
        if any(not 32 <= ord(c) <= 126 for c in value):
            raise TypeError('non-printable characters')
        return value
    raise TypeError(type(value).__name__)


def _meta_to_header(meta, stacklevel):
    """`meta_to_header`, warning ``stacklevel`` frames above this one."""
    if meta is None:
        return fits.Header()
    if isinstance(meta, fits.Header):
        return meta.copy()
    if not isinstance(meta, Mapping):
        warnings.warn(f'meta of type {type(meta).__name__} cannot be '
                      'written to a FITS header and is skipped',
                      AstrodeconvWarning, stacklevel=stacklevel + 1)
        return fits.Header()
    header = fits.Header()
    skipped = []
    for key, value in meta.items():
        comment = None
        if isinstance(value, tuple) and len(value) == 2 and isinstance(
                value[1], str):
            value, comment = value
        try:
            key = str(key).strip()
            if not key:
                raise TypeError('empty keyword')
            key.encode('ascii')
            value = _fits_value(value)
            if key.upper() == 'COMMENT':
                header.add_comment(value)
                continue
            if key.upper() == 'HISTORY':
                header.add_history(value)
                continue
            if len(key) > 8 or not re.fullmatch(r'[A-Za-z0-9_-]+', key):
                key = f'HIERARCH {key}'
            header[key] = value if comment is None else (value, comment)
        except (TypeError, ValueError):
            skipped.append(str(key))
    if skipped:
        warnings.warn(f'meta items that are not FITS-safe were not written: '
                      f'{", ".join(skipped)}', AstrodeconvWarning,
                      stacklevel=stacklevel + 1)
    return header


def meta_to_header(meta):
    """
    A FITS header made of the FITS-safe items of an image's meta.

    Parameters
    ----------
    meta : `~astropy.io.fits.Header`, dict-like or None
        The meta. A header is copied as it is. Of a mapping, the items
        whose key is ASCII and whose value is a bool, number (finite for a
        float) or printable ASCII string are written; a ``(value,
        comment)`` tuple gives the card a comment, keys longer than 8
        characters (or with other characters than letters, digits, ``_``
        and ``-``) become ``HIERARCH`` cards, and ``COMMENT`` and
        ``HISTORY`` items become such cards.

    Returns
    -------
    header : `~astropy.io.fits.Header`
        A new header (empty for None).

    Warns
    -----
    AstrodeconvWarning
        Naming the items that are not FITS-safe and were skipped, or when
        ``meta`` is neither a mapping nor None (it is skipped whole).

    Examples
    --------
    >>> from astrodeconv.io import meta_to_header
    >>> header = meta_to_header({'OBJECT': 'M51', 'EXPTIME': (30.0, 's'),
    ...                          'observer_name': 'Ada'})
    >>> header['EXPTIME'], header.comments['EXPTIME']
    (30.0, 's')
    >>> header['observer_name']
    'Ada'
    """
    return _meta_to_header(meta, stacklevel=2)


def fits_unit_string(unit):
    """
    The ``BUNIT`` text of a unit: its FITS spelling when it has one.

    Parameters
    ----------
    unit : `~astropy.units.UnitBase` or str
        The unit (a string is parsed by `astropy.units.Unit` first).

    Returns
    -------
    text : str
        ``unit.to_string('fits')``, or astropy's generic spelling for
        units the FITS standard cannot express (``electron``...).

    Raises
    ------
    TypeError
        If ``unit`` is neither a unit nor a string.
    ValueError
        If ``unit`` is a string astropy cannot parse.

    Examples
    --------
    >>> from astropy import units as u
    >>> from astrodeconv.io import fits_unit_string
    >>> fits_unit_string(u.erg / u.s / u.cm ** 2)
    'erg s-1 cm-2'
    >>> fits_unit_string('nJy')
    'nJy'
    """
    if isinstance(unit, str):
        unit = u.Unit(unit)
    if not isinstance(unit, u.UnitBase):
        msg = (f'unit must be an astropy unit or a string, got '
               f'{type(unit).__name__}')
        raise TypeError(msg)
    try:
        return unit.to_string('fits')
    except (ValueError, TypeError):
        return unit.to_string()


def _image_header(meta, wcs, unit, stacklevel):
    """The header of `make_image_hdu` (``unit`` already checked)."""
    meta_header = _meta_to_header(meta, stacklevel=stacklevel + 1)
    header = header_to_meta(meta_header, strip_wcs=wcs is not None)
    if wcs is not None:
        header.update(wcs.to_header(relax=True))
    if unit is not None and unit != u.dimensionless_unscaled:
        header['BUNIT'] = fits_unit_string(unit)
    elif unit is None and str(meta_header.get('BUNIT', '')).strip():
        # a BUNIT astropy could not parse, kept as text in meta
        header['BUNIT'] = (str(meta_header['BUNIT']),
                           meta_header.comments['BUNIT'])
    return header


def make_image_hdu(data, *, meta=None, wcs=None, unit=None, name=None,
                   primary=False):
    """
    An image HDU made of data, meta, WCS and unit.

    The header is built the way `write_image` builds it: the FITS-safe
    items of ``meta`` (see `meta_to_header`) without their layout keywords
    (see `header_to_meta`) and, when a ``wcs`` is given, without their WCS
    keywords, which would be stale; then ``wcs.to_header(relax=True)``;
    then ``BUNIT`` from ``unit``, or, without a unit, the ``BUNIT`` text
    of ``meta`` if it has one (a unit astropy could not parse, as
    `read_image` keeps it).

    Parameters
    ----------
    data : array-like or None
        The image (usually 2D; its dtype is kept), or None for a
        header-only HDU.
    meta : `~astropy.io.fits.Header`, dict-like or None, optional
        The keywords of the header.
    wcs : `~astropy.wcs.WCS` or None, optional
        The WCS of the image.
    unit : `~astropy.units.UnitBase`, str or None, optional
        The unit of the data; a dimensionless unit writes no ``BUNIT``.
    name : str or None, optional
        The ``EXTNAME``.
    primary : bool, optional
        Build a `~astropy.io.fits.PrimaryHDU` rather than an
        `~astropy.io.fits.ImageHDU`.

    Returns
    -------
    hdu : `~astropy.io.fits.ImageHDU` or `~astropy.io.fits.PrimaryHDU`

    Raises
    ------
    TypeError
        If ``data`` does not hold real numbers, ``wcs`` is not a
        `~astropy.wcs.WCS`, ``unit`` is not a unit or ``name`` is not a
        string.
    ValueError
        If ``unit`` is a string astropy cannot parse.

    Warns
    -----
    AstrodeconvWarning
        When items of ``meta`` are not FITS-safe and were skipped.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.wcs import WCS
    >>> from astrodeconv.io import make_image_hdu
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    >>> wcs.wcs.cdelt = [-5e-5, 5e-5]
    >>> hdu = make_image_hdu(np.zeros((4, 5), dtype=np.float32),
    ...                      meta={'OBJECT': 'M51', 'CD1_1': 1.0},
    ...                      wcs=wcs, unit='nJy', name='SCI')
    >>> hdu.name, hdu.header['OBJECT'], hdu.header['BUNIT']
    ('SCI', 'M51', 'nJy')
    >>> 'CD1_1' in hdu.header  # stale WCS keyword of meta dropped
    False
    """
    if data is not None:
        data = np.asarray(data)
        if data.dtype.kind not in 'iuf':
            msg = (f'data must hold real numbers, got dtype {data.dtype}')
            raise TypeError(msg)
    if wcs is not None and not isinstance(wcs, WCS):
        msg = (f'wcs must be an astropy.wcs.WCS or None, got '
               f'{type(wcs).__name__}')
        raise TypeError(msg)
    if unit is not None:
        if isinstance(unit, str):
            unit = u.Unit(unit)
        if not isinstance(unit, u.UnitBase):
            msg = (f'unit must be an astropy unit, a string or None, got '
                   f'{type(unit).__name__}')
            raise TypeError(msg)
    if name is not None and not isinstance(name, str):
        msg = f'name must be a string or None, got {type(name).__name__}'
        raise TypeError(msg)
    return _image_hdu(data, meta, wcs, unit, name, primary, stacklevel=2)


def _image_hdu(data, meta, wcs, unit, name, primary, stacklevel):
    """`make_image_hdu` of checked arguments, warning ``stacklevel`` up."""
    header = _image_header(meta, wcs, unit, stacklevel=stacklevel + 1)
    if primary:
        hdu = fits.PrimaryHDU(data, header=header)
        if name is not None:
            hdu.name = name
        return hdu
    return fits.ImageHDU(data, header=header, name=name)
