# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Read and write images with their unit, WCS, uncertainty, mask and PSF.

The layout is that of `~astropy.nddata.CCDData` files, plus a PSF:

============  ==========================================================
HDU           content
============  ==========================================================
image         the data (the primary HDU when written by `write_image`),
              with ``BUNIT``, the WCS and the meta as header keywords
``UNCERT``    1-sigma uncertainty (``UTYPE = 'StdDevUncertainty'``)
``MASK``      mask, non-zero (``uint8`` 1) for bad pixels
``PSF``       the PSF (``PSFIMAGE`` is also read, as written by
              `~astropy.nddata.CCDData`)
============  ==========================================================
"""

import os
import re
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import (CCDData, NDData, NDUncertainty,
                            StdDevUncertainty, VarianceUncertainty,
                            InverseVariance)
from astropy.wcs import WCS

from ..utils._files import atomic_write, check_output_path
from ..utils.exceptions import AstrodeconvWarning
from .hdu import (MASK_EXTNAME as _MASK, PSF_EXTNAME as _PSF,
                  PSF_EXTNAMES as _PSF_ALIASES, UNCERT_EXTNAME as _UNCERT,
                  _image_hdu, _parse_unit, header_to_meta, read_wcs,
                  select_image_hdu)

__all__ = ['read_image', 'write_image']

_UNCERTAINTY_TYPES = {cls.__name__: cls for cls in (
    StdDevUncertainty, VarianceUncertainty, InverseVariance)}


def _path_text(path):
    return str(os.fspath(path))


def _check_path_type(path, name='path'):
    if not isinstance(path, (str, os.PathLike)):
        msg = (f'{name} must be a str or os.PathLike, got '
               f'{type(path).__name__}')
        raise TypeError(msg)
    return Path(path)


def _native(array):
    """A copy of ``array`` in native byte order (FITS is big-endian)."""
    array = np.asarray(array)
    return array.astype(array.dtype.newbyteorder('='), copy=True)


def _find_extension(hdul, names, skip):
    for index, hdu in enumerate(hdul):
        if index != skip and hdu.name.upper() in names:
            return hdu
    return None


def _check_aux_shape(array, shape, name, path):
    if array.shape != shape:
        msg = (f'the {name} extension of {path!r} must have the shape of '
               f'the image {shape}, got {array.shape}')
        raise ValueError(msg)


def _read_uncertainty(hdu, unit, shape, path):
    array = _native(hdu.data).astype(float)
    _check_aux_shape(array, shape, _UNCERT, path)
    utype = str(hdu.header.get('UTYPE', 'StdDevUncertainty'))
    cls = _UNCERTAINTY_TYPES.get(utype)
    if cls is None:
        msg = (f'the UNCERT extension of {path!r} has UTYPE {utype!r}; it '
               f'must be one of {", ".join(map(repr, _UNCERTAINTY_TYPES))}')
        raise ValueError(msg)
    unc_unit = _parse_unit(hdu.header.get('BUNIT', ''))
    uncertainty = cls(array, unit=unc_unit)
    if cls is not StdDevUncertainty:
        if unit is not None and unc_unit is None:
            # unit implied by the data unit
            implied = {VarianceUncertainty: unit ** 2,
                       InverseVariance: unit ** -2}[cls]
            uncertainty = cls(array, unit=implied)
        uncertainty = uncertainty.represent_as(StdDevUncertainty)
    std = np.asarray(uncertainty.array, dtype=float)
    if uncertainty.unit is not None and unit is not None:
        try:
            std = (std * uncertainty.unit).to_value(unit)
        except u.UnitConversionError:
            msg = (f'the UNCERT extension of {path!r} must have units '
                   f'compatible with the data unit {unit!r}, got '
                   f'{uncertainty.unit!r}')
            raise u.UnitsError(msg) from None
    return StdDevUncertainty(std)


def read_image(path, *, hdu=None):
    """
    Read a FITS image with its unit, WCS, uncertainty, mask and PSF.

    Parameters
    ----------
    path : str or path-like
        The FITS file.
    hdu : int or str, optional
        Index or name (``EXTNAME``) of the image HDU. By default the first
        HDU holding 2D image data is used, skipping extensions named
        ``UNCERT``, ``MASK``, ``PSF`` and ``PSFIMAGE``.

    Returns
    -------
    image : `~astropy.nddata.CCDData` or `~astropy.nddata.NDData`
        A `~astropy.nddata.CCDData` when the header has a ``BUNIT`` that
        astropy can parse, otherwise an `~astropy.nddata.NDData` without
        unit (with a warning if ``BUNIT`` was present but unparseable).
        Its attributes are:

        - ``data``: the image, in native byte order;
        - ``wcs``: the celestial `~astropy.wcs.WCS` of the header (any
          2-axis WCS if it is not celestial, or None if the header has
          none);
        - ``uncertainty``: from the ``UNCERT`` extension, converted to a
          `~astropy.nddata.StdDevUncertainty` in the data unit (the
          ``UTYPE`` keyword written by `~astropy.nddata.CCDData` is
          honoured);
        - ``mask``: from the ``MASK`` extension, True (non-zero) for bad
          pixels;
        - ``psf``: from the ``PSF`` (or ``PSFIMAGE``) extension;
        - ``meta``: the header, minus the keywords that describe the array
          layout (``NAXIS``, ``BITPIX``, ``BSCALE``...) and, when a WCS was
          read, the WCS keywords (they live in ``wcs``). ``BUNIT`` is
          kept in ``meta``, as text, only when astropy cannot parse it.

        An attribute whose extension is absent is None: a file written by
        `write_image` from an image with no bad pixel has no ``MASK``
        extension, and ``mask`` is then None.

    Notes
    -----
    ``CCDData.read(path)`` (astropy's reader) reads the same files, with
    these differences:

    - it does not return the PSF: it looks for an extension named
      ``PSFIMAGE``, and `write_image` names it ``PSF``. Use
      ``CCDData.read(path, hdu_psf='PSF')``;
    - it needs a unit: a file without ``BUNIT`` (or with one astropy
      cannot parse) raises ``ValueError`` unless ``unit=`` is given;
    - it returns the uncertainty in the class named by ``UTYPE``
      (``VarianceUncertainty``...), not converted to 1 sigma;
    - ``meta`` is the whole header but the WCS keywords (layout keywords
      such as ``SIMPLE``, ``BITPIX``, ``NAXIS`` and ``BUNIT`` included),
      and ``data`` keeps the big-endian byte order of the file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    OSError
        If ``path`` is not a readable FITS file, or is truncated,
        including a last extension cut short in its header (which astropy
        would drop with a warning); the message names the extension.
    ValueError
        If it has no 2D image HDU, ``hdu`` does not select one, or an
        auxiliary extension does not match the image shape.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.nddata import CCDData
    >>> from astrodeconv.io import read_image, write_image
    >>> path = getfixture('tmp_path') / 'image.fits'
    >>> write_image(CCDData(np.ones((4, 5)), unit='nJy'), path)
    >>> image = read_image(path)
    >>> type(image).__name__, image.unit, image.shape
    ('CCDData', Unit("nJy"), (4, 5))
    """
    path = _check_path_type(path)
    text = _path_text(path)
    if not path.exists():
        msg = f'path {text!r} does not exist'
        raise FileNotFoundError(msg)
    if path.is_dir():
        msg = f'path {text!r} is a directory, not a FITS file'
        raise IsADirectoryError(msg)
    # astropy reads from a file object we own, so that it is closed even
    # when astropy fails half-way through a corrupt file
    with open(path, 'rb') as fileobj:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                # a truncated file is an error, not a warning
                warnings.filterwarnings('error', message='.*truncated.*')
                hdul = fits.open(fileobj, memmap=False,
                                 lazy_load_hdus=False)
        except Exception as exc:  # astropy raises OSError, ValueError...
            msg = f'{text!r} is not a readable FITS file: {exc}'
            raise OSError(msg) from exc
        with hdul:
            _check_trailing_bytes(hdul, fileobj, text)
            for warning in caught:
                if not _HEADER_ERROR.search(str(warning.message)):
                    warnings.warn(warning.message, warning.category,
                                  stacklevel=2)
            return _image_from_hdul(hdul, hdu, text)


#: astropy's warning when it stops at an unreadable header (and drops it).
_HEADER_ERROR = re.compile(r'Error validating header for HDU #\d+')


def _check_trailing_bytes(hdul, fileobj, text):
    """
    Refuse a file whose last extension was cut short in its header.

    astropy stops reading at an incomplete header and drops that HDU with
    only a warning, so the file looks as if it had no such extension.
    Other bytes after the last HDU (not an extension) are ignored with a
    warning.
    """
    last = len(hdul) - 1
    try:
        info = hdul.fileinfo(last)
        end = info['datLoc'] + info['datSpan']
        size = os.fstat(fileobj.fileno()).st_size
    except (AttributeError, KeyError, TypeError, OSError):
        return
    if size <= end:
        return
    fileobj.seek(end)
    extra = fileobj.read(min(size - end, 2880))
    if not extra.strip(b'\0 '):
        return  # padding
    if extra.startswith(b'XTENSION'):
        cards = [extra[i:i + 80].decode('ascii', 'replace')
                 for i in range(0, len(extra), 80)]
        name = next((card[10:].split('/')[0].strip().strip("'").strip()
                     for card in cards if card.startswith('EXTNAME ')),
                    None)
        label = f'extension {last + 1}' + (f' ({name!r})' if name else '')
        msg = (f'{text!r} is truncated: its {label} has an incomplete '
               f'header ({size - end} bytes, a header takes a multiple of '
               '2880), so it cannot be read. The file was probably cut '
               'short while being copied or written; copy or write it '
               'again.')
        raise OSError(msg)
    warnings.warn(f'{text!r} has {size - end} bytes after its last HDU '
                  f'(HDU {last}) that are not a FITS extension; they are '
                  'ignored', AstrodeconvWarning, stacklevel=3)


def _image_from_hdul(hdul, hdu, text):
    index = select_image_hdu(hdul, hdu, path=text)
    image_hdu = hdul[index]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('error', message='.*truncated.*')
            data = _native(image_hdu.data)
            aux = {}
            for names, key in (((_UNCERT,), 'uncert'), ((_MASK,), 'mask'),
                               (_PSF_ALIASES, 'psf')):
                ext = _find_extension(hdul, names, index)
                if ext is not None and ext.data is not None:
                    aux[key] = ext
    except Exception as exc:
        msg = f'{text!r} is not a readable FITS file: {exc}'
        raise OSError(msg) from exc
    header = image_hdu.header
    bunit = header.get('BUNIT')
    unit = _parse_unit(bunit) if bunit is not None else None
    unparsed = bunit is not None and str(bunit).strip() and unit is None
    if unparsed:
        warnings.warn(f'BUNIT {bunit!r} of {text!r} is not a unit astropy '
                      'can parse; the image is returned as NDData without '
                      'a unit and processed without one (the BUNIT text is '
                      'kept in meta and written back by write_image)',
                      AstrodeconvWarning, stacklevel=3)
    wcs = read_wcs(header, hdul)
    meta = header_to_meta(header, strip_wcs=wcs is not None)
    if unparsed:
        meta['BUNIT'] = (str(bunit), header.comments['BUNIT'])
    uncertainty = mask = psf = None
    if 'uncert' in aux:
        uncertainty = _read_uncertainty(aux['uncert'], unit, data.shape,
                                        text)
    if 'mask' in aux:
        mask = _native(aux['mask'].data) != 0
        _check_aux_shape(mask, data.shape, _MASK, text)
    if 'psf' in aux:
        psf = _native(aux['psf'].data).astype(float)
    kwargs = dict(wcs=wcs, uncertainty=uncertainty, mask=mask, meta=meta,
                  psf=psf)
    if unit is not None:
        return CCDData(data, unit=unit, **kwargs)
    return NDData(data, **kwargs)


# -- writing ---------------------------------------------------------------

def _float_array(array, like):
    array = np.asarray(array)
    dtype = like.dtype if like.dtype.kind == 'f' else np.float64
    return array.astype(dtype, copy=False)


def _unpack_for_writing(image):
    """Return data, unit, wcs, uncertainty (1-sigma array), mask, psf, meta."""
    if isinstance(image, NDData):
        data = image.data
        if isinstance(data, u.Quantity):
            msg = 'image.data must be a plain array, got a Quantity'
            raise TypeError(msg)
        unit, wcs, meta = image.unit, image.wcs, image.meta
        mask, psf, unc = image.mask, image.psf, image.uncertainty
    elif isinstance(image, u.Quantity):
        data, unit = image.value, image.unit
        wcs = mask = psf = unc = None
        meta = {}
    elif isinstance(image, np.ndarray):
        data, unit = image, None
        wcs = mask = psf = unc = None
        meta = {}
    else:
        msg = ('image must be an NDData/CCDData instance, a numpy array or '
               f'a Quantity, got {type(image).__name__}')
        raise TypeError(msg)
    data = np.asarray(data)
    if data.dtype.kind not in 'iuf':
        msg = f'image must hold real numbers, got dtype {data.dtype}'
        raise TypeError(msg)
    if data.ndim != 2:
        msg = f'image must be 2D, got {data.ndim} dimension(s)'
        raise ValueError(msg)
    error = None
    if unc is not None:
        if not isinstance(unc, NDUncertainty):
            msg = ('image.uncertainty must be an NDUncertainty, got '
                   f'{type(unc).__name__}')
            raise TypeError(msg)
        std = (unc if isinstance(unc, StdDevUncertainty)
               else unc.represent_as(StdDevUncertainty))
        error = np.asarray(std.array, dtype=float)
        if std.unit is not None and unit is not None:
            error = (error * std.unit).to_value(unit)
        error = _float_array(error, data)
        if error.shape != data.shape:
            msg = (f'image.uncertainty must have the shape of the data '
                   f'{data.shape}, got {error.shape}')
            raise ValueError(msg)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != data.shape:
            msg = (f'image.mask must have the shape of the data '
                   f'{data.shape}, got {mask.shape}')
            raise ValueError(msg)
        mask = (mask != 0).astype(np.uint8)
    if psf is not None:
        if isinstance(psf, NDData):
            psf = psf.data
        if isinstance(psf, u.Quantity):
            psf = psf.to_value(u.dimensionless_unscaled)
        psf = _float_array(psf, np.asarray(psf))
    if wcs is not None and not isinstance(wcs, WCS):
        warnings.warn(f'a WCS of type {type(wcs).__name__} cannot be written '
                      'to a FITS header; the file has no WCS',
                      AstrodeconvWarning, stacklevel=3)
        wcs = None
    return data, unit, wcs, error, mask, psf, meta


def write_image(image, path, *, overwrite=False):
    """
    Write an image with its unit, WCS, uncertainty, mask and PSF to FITS.

    The file is written atomically: to a temporary file in the same
    directory, then moved in place, so an existing file is never left
    half-written and a failed write leaves no partial file behind.

    Parameters
    ----------
    image : `~astropy.nddata.NDData`, `~numpy.ndarray` or `~astropy.units.Quantity`
        A 2D image. For NDData (e.g. `~astropy.nddata.CCDData`) the
        primary HDU holds ``data`` with a header made of ``meta`` (a
        `~astropy.io.fits.Header`, or the FITS-safe items of a dict; keys
        longer than 8 characters become ``HIERARCH`` cards), the WCS
        (``wcs.to_header(relax=True)``, replacing any stale WCS keywords
        of ``meta``) and ``BUNIT`` (for an image without unit, the
        ``BUNIT`` text of ``meta`` if any). Extensions follow: ``UNCERT`` (the
        uncertainty converted to 1 sigma in the data unit) and ``PSF``
        when those attributes are set, and ``MASK`` (``uint8``, 1 for bad
        pixels) when the mask has a bad pixel: a mask with none holds no
        information (the deconvolvers always return one), and the file
        read back then has ``mask`` None, which means the same.
    path : str or path-like
        The output file.
    overwrite : bool, optional
        Replace ``path`` if it exists. Otherwise an existing file is an
        error.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    TypeError
        If ``image`` is not a supported kind.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.io import write_image
    >>> path = getfixture('tmp_path') / 'ones.fits'
    >>> write_image(np.ones((8, 8)), path)
    >>> write_image(np.zeros((8, 8)), path)
    Traceback (most recent call last):
    ...
    FileExistsError: path '...ones.fits' already exists; pass overwrite=True (or --overwrite on the command line) to replace it
    """  # noqa: E501
    data, unit, wcs, error, mask, psf, meta = _unpack_for_writing(image)
    path = check_output_path(path, overwrite=overwrite)
    hdus = [_image_hdu(data, meta, wcs, unit, None, True, stacklevel=2)]
    header = hdus[0].header
    unit_card = {'BUNIT': header['BUNIT']} if 'BUNIT' in header else {}
    if error is not None:
        hdr = fits.Header({'UTYPE': 'StdDevUncertainty', **unit_card})
        hdus.append(fits.ImageHDU(error, hdr, name=_UNCERT))
    if mask is not None and mask.any():
        hdus.append(fits.ImageHDU(mask, name=_MASK))
    if psf is not None:
        hdus.append(fits.ImageHDU(psf, name=_PSF))
    with atomic_write(path, overwrite=bool(overwrite)) as fileobj:
        fits.HDUList(hdus).writeto(fileobj, output_verify='exception')
