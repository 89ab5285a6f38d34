# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Catalogue mode: deconvolve cutouts around the objects of a catalogue.

The catalogue is split into chunks of rows. Each chunk is one task: it
cuts its objects out of the mosaic (read with memory mapping, never
loaded whole), deconvolves them in one vectorised batch with the
deconvolver of its worker process, and writes one multi-extension FITS
file, ``chunk_NNNNN.fits``, atomically. A run that is killed can be
resumed: the chunks whose file exists are not redone.
"""

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, Cutout2D, NDData
from astropy.nddata.utils import NoOverlapError
from astropy.table import Table
from astropy.wcs import WCS

from ..io import make_image_hdu, read_unit, read_wcs, select_image_hdu
from . import _cluster

__all__ = ['deconvolve_catalog', 'CatalogResults']

#: Name of the results table written in the output directory.
RESULTS_NAME = 'results.ecsv'
#: Name of the index table extension of each chunk file.
INDEX_EXTNAME = 'INDEX'
#: Name of the image extensions of each chunk file.
CUTOUT_EXTNAME = 'CUTOUT'

_CHUNK_PATTERN = re.compile(r'^chunk_\d{5,}\.fits$')
_ADDED_COLUMNS = ('status', 'reason', 'file', 'hdu')


def _chunk_name(index):
    return f'chunk_{index:05d}.fits'


@dataclass
class CatalogResults:
    """
    Summary of a `deconvolve_catalog` run.

    Attributes
    ----------
    done : int
        Objects deconvolved by this run.
    skipped : int
        Objects deconvolved by an earlier run (``resume=True``) and not
        redone.
    failed : int
        Objects that could not be deconvolved (this run or an earlier one).
    failures : list of (id, str)
        The catalogue id and the reason of each failed object.
    table_path : `~pathlib.Path`
        The results table (``results.ecsv``): the catalogue with the
        columns ``status`` (``'done'`` or ``'failed'``), ``reason``,
        ``file`` (chunk file name) and ``hdu`` (extension number, -1 for
        failed objects).
    chunk_paths : list of `~pathlib.Path`
        The chunk files, in catalogue order.
    elapsed : float
        Wall-clock seconds of the run.
    """

    done: int
    skipped: int
    failed: int
    failures: list = field(default_factory=list)
    table_path: Path = None
    chunk_paths: list = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def total(self):
        """Number of catalogue objects."""
        return self.done + self.skipped + self.failed

    def summary(self, max_failures=10):
        """
        A few lines of text describing the run.

        Parameters
        ----------
        max_failures : int, optional
            Failed objects listed with their reason; the rest are counted.

        Returns
        -------
        text : str
        """
        lines = [f'{self.total} objects: {self.done} done, {self.skipped} '
                 f'skipped (done earlier), {self.failed} failed '
                 f'({self.elapsed:.1f} s) -> {self.table_path}']
        for ident, reason in self.failures[:max_failures]:
            lines.append(f'  failed {ident}: {reason}')
        if len(self.failures) > max_failures:
            lines.append(f'  ... and {len(self.failures) - max_failures} '
                         f'more failures (see {self.table_path})')
        return '\n'.join(lines)


# -- input checks ------------------------------------------------------------

def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        msg = f'{name} must be an int, got {type(value).__name__}'
        raise TypeError(msg)
    if value < minimum:
        msg = f'{name} must be at least {minimum}, got {value}'
        raise ValueError(msg)
    return int(value)


def _needs_cutout_scale(target_psf):
    """Whether a target may need each cutout file's pixel scale."""
    angle = (isinstance(target_psf, u.Quantity) and target_psf.ndim == 0
             and target_psf.unit.physical_type == 'angle')
    return angle or isinstance(target_psf, NDData)


def _resolve_psf(psf, wcs, size, deconvolver, psf_center, files,
                 target_psf=None):
    """
    The PSF through the PSF door, once for every cutout.

    Returns a `~astrodeconv.psf.ResolvedPSF` the cutouts' deconvolver uses
    as it is, or, for cutout files (``files``) and a PSF whose scale in
    arcsec only each file's WCS can match, an NDData of the checked array
    with that scale, which each cutout resamples; and the target each
    cutout must still apply: None when the narrow PSF was built here
    (always with a mosaic), ``target_psf`` for cutout files whose own
    pixel scales decide (a PSF or a target given in arcsec).
    """
    from ..psf import emit_psf_warnings, resolve_psf

    k = deconvolver.upsample
    side = size * k
    resolved = resolve_psf(psf, image_scale=wcs, upsample=k,
                           shape=(side, side), recenter=deconvolver.recenter,
                           psf_center=psf_center, warn=False)
    later = target_psf is not None and files and (
        resolved.scale is not None or _needs_cutout_scale(target_psf))
    if files and resolved.scale is not None:
        return (NDData(resolved.array, wcs=psf.wcs, meta=psf.meta),
                target_psf)
    narrowed = resolved
    if target_psf is not None and not later:
        narrowed = resolve_psf(resolved, image_scale=wcs, upsample=k,
                               shape=(side, side), target_psf=target_psf,
                               warn=False)
    if max(narrowed.shape) > side:
        msg = (f'psf must not be larger than the cutout on the output '
               f'grid ({side} x {side} pixels), got shape '
               f'{narrowed.shape}; give a larger size or a smaller PSF')
        raise ValueError(msg)
    emit_psf_warnings([resolved], stacklevel=3)
    if narrowed is not resolved:
        narrowed.emit_warnings(stacklevel=3)
    return narrowed, (target_psf if later else None)


def _mosaic_source(mosaic):
    """('fits', path, hdu) or ('nddata', image) and the mosaic WCS."""
    if isinstance(mosaic, (str, os.PathLike)):
        path = Path(mosaic).resolve()
        if not path.is_file():
            msg = f'mosaic {os.fspath(mosaic)!r} does not exist'
            raise FileNotFoundError(msg)
        with fits.open(path, memmap=True) as hdul:
            index = select_image_hdu(hdul, path=os.fspath(path))
            header = hdul[index].header.copy()
        wcs = read_wcs(header)
        return ('fits', os.fspath(path), index), wcs, header
    if isinstance(mosaic, NDData):
        if np.ndim(mosaic.data) != 2:
            msg = (f'mosaic must be a 2D image, got shape '
                   f'{np.shape(mosaic.data)}')
            raise ValueError(msg)
        wcs = mosaic.wcs
        if wcs is not None and not isinstance(wcs, WCS):
            msg = (f'mosaic.wcs must be an astropy.wcs.WCS, got '
                   f'{type(wcs).__name__}')
            raise TypeError(msg)
        return ('nddata', mosaic), wcs, None
    msg = ('mosaic must be a FITS file path, an NDData/CCDData image or '
           f'None (with catalog a list of cutout files), got '
           f'{type(mosaic).__name__}')
    raise TypeError(msg)


def _read_catalog(catalog):
    if isinstance(catalog, Table):
        return catalog
    if isinstance(catalog, (str, os.PathLike)):
        if not Path(catalog).is_file():
            msg = f'catalog {os.fspath(catalog)!r} does not exist'
            raise FileNotFoundError(msg)
        try:
            return Table.read(catalog)
        except Exception as exc:  # astropy raises many kinds here
            msg = f'catalog {os.fspath(catalog)!r} cannot be read: {exc}'
            raise ValueError(msg) from None
    msg = ('catalog must be an astropy Table or the path of a table file, '
           f'got {type(catalog).__name__}')
    raise TypeError(msg)


def _sky_column(table):
    from astropy.coordinates import SkyCoord

    for name in table.colnames:
        if isinstance(table[name], SkyCoord):
            return table[name]
    if 'ra' in table.colnames and 'dec' in table.colnames:
        ra, dec = table['ra'], table['dec']
        ra = ra.quantity if getattr(ra, 'unit', None) else ra * u.deg
        dec = dec.quantity if getattr(dec, 'unit', None) else dec * u.deg
        return SkyCoord(np.asarray(ra.to_value(u.deg)) * u.deg,
                        np.asarray(dec.to_value(u.deg)) * u.deg)
    return None


def _pixel_positions(table, wcs):
    """x, y (0-indexed pixels of the mosaic) of every catalogue row."""
    if 'x' in table.colnames and 'y' in table.colnames:
        x = np.asarray(table['x'], dtype=float)
        y = np.asarray(table['y'], dtype=float)
        return x, y
    sky = _sky_column(table)
    if sky is None:
        msg = (f'catalog must have pixel columns x, y, sky columns ra, dec '
               f'(degrees) or a SkyCoord column, got columns '
               f'{", ".join(table.colnames) or "none"}')
        raise ValueError(msg)
    if wcs is None or not wcs.has_celestial:
        msg = ('catalog gives sky positions (ra, dec) but mosaic has no '
               'celestial WCS; give pixel columns x, y instead')
        raise ValueError(msg)
    x, y = wcs.celestial.world_to_pixel(sky)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def _catalog_ids(table):
    if 'id' in table.colnames:
        ids = [value.item() if hasattr(value, 'item') else value
               for value in table['id']]
        if len(set(ids)) != len(ids):
            msg = 'catalog column id must hold unique values'
            raise ValueError(msg)
        return ids
    return list(range(len(table)))


def _prepare_output_dir(output_dir, resume, overwrite):
    if not isinstance(output_dir, (str, os.PathLike)):
        msg = (f'output_dir must be a str or os.PathLike, got '
               f'{type(output_dir).__name__}')
        raise TypeError(msg)
    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        msg = f'output_dir {os.fspath(path)!r} exists and is not a directory'
        raise NotADirectoryError(msg)
    path.mkdir(parents=True, exist_ok=True)
    ours = [entry for entry in path.iterdir()
            if _CHUNK_PATTERN.match(entry.name) or entry.name == RESULTS_NAME]
    if resume:
        return path
    if overwrite:
        for entry in ours:
            entry.unlink()
        return path
    if any(path.iterdir()):
        msg = (f'output_dir {os.fspath(path)!r} is not empty; pass '
               'resume=True to finish an interrupted run or overwrite=True '
               'to start again (--resume or --overwrite on the command '
               'line)')
        raise FileExistsError(msg)
    return path


# -- the work of one chunk (runs on a worker) ------------------------------

def _open_mosaic(source):
    """The 2D array (memory-mapped for files), WCS and unit of the mosaic."""
    if source[0] == 'nddata':
        image = source[1]
        return np.asarray(image.data), image.wcs, image.unit, None
    _, path, index = source
    hdul = fits.open(path, memmap=True)
    hdu = hdul[index]
    return hdu.data, read_wcs(hdu.header), read_unit(hdu.header), hdul


def _cut(data, wcs, x, y, size, max_bad_fraction):
    """A float cutout (NaN outside the mosaic) or the reason it fails."""
    if not (np.isfinite(x) and np.isfinite(y)):
        return None, 'position is not finite'
    try:
        cutout = Cutout2D(data, (x, y), (size, size), wcs=wcs,
                          mode='partial', copy=True,
                          fill_value=np.nan if data.dtype.kind == 'f' else 0)
    except NoOverlapError:
        return None, 'outside the mosaic'
    image = np.asarray(cutout.data, dtype=float)
    outside = np.ones(image.shape, dtype=bool)
    outside[cutout.slices_cutout] = False
    image[outside] = np.nan
    off = outside.mean()
    if off > max_bad_fraction:
        return None, f'{100 * off:.0f}% of the cutout is off the mosaic edge'
    bad = (~np.isfinite(image)).mean()
    if bad >= 1:
        return None, 'all pixels of the cutout are NaN'
    if bad > max_bad_fraction:
        return None, (f'{100 * bad:.0f}% of the cutout pixels are NaN or '
                      'off the mosaic')
    return (image, cutout.wcs, cutout.input_position_cutout), None


def _header_value(value):
    value = value.item() if hasattr(value, 'item') else value
    return value if isinstance(value, (int, float, str)) else str(value)


def _image_hdu(result, ident, row, extra):
    """The image extension of one deconvolved object."""
    meta = getattr(result, 'meta', None) or {}
    data = np.asarray(getattr(result, 'data', result), dtype=np.float32)
    hdu = make_image_hdu(
        data, meta={key: value for key, value in meta.items()
                    if key.upper() not in ('CATID', 'CATROW')},
        wcs=getattr(result, 'wcs', None), unit=getattr(result, 'unit', None))
    hdu.header['CATID'] = (_header_value(ident), 'catalogue id')
    hdu.header['CATROW'] = (int(row), 'catalogue row (0-based)')
    for key, (value, comment) in extra.items():
        hdu.header[key] = (value, comment)
    hdu.name = CUTOUT_EXTNAME  # last, as in the files of earlier versions
    return hdu


def _deconvolve_items(deconvolver, images, psf, target_psf=None):
    """Deconvolve a list of NDData in one batch, else one by one."""
    try:
        return (deconvolver(images, psf=psf, target_psf=target_psf),
                [None] * len(images))
    except Exception:  # noqa: BLE001 -- find which objects fail
        results, errors = [], []
        for image in images:
            try:
                results.append(deconvolver(image, psf=psf,
                                           target_psf=target_psf))
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 -- reported per object
                results.append(None)
                errors.append(f'{type(exc).__name__}: {exc}')
        return results, errors


def _chunk_images(rows, source, size, max_bad_fraction):
    """NDData cutouts, their extra header cards and the failures."""
    images, extras, reasons = [], [], {}
    if source is None:  # rows['path'] are cutout files
        from ..io import read_image

        for k, path in enumerate(rows['path']):
            try:
                image = read_image(path)
            except Exception as exc:  # noqa: BLE001 -- reported per object
                reasons[k] = f'cannot read {path!r}: {exc}'
                continue
            if not np.isfinite(np.asarray(image.data, dtype=float)).any():
                reasons[k] = 'all pixels of the cutout are NaN'
                continue
            image.psf = None
            images.append((k, image))
            extras.append({'CUTFILE': (os.path.basename(path)[:60],
                                       'input cutout file')})
        return images, extras, reasons
    data, wcs, unit, hdul = _open_mosaic(source)
    try:
        for k, (x, y) in enumerate(zip(rows['x'], rows['y'])):
            cut, reason = _cut(data, wcs, x, y, size, max_bad_fraction)
            if reason is not None:
                reasons[k] = reason
                continue
            array, cut_wcs, (cx, cy) = cut
            kind = CCDData if unit is not None else NDData
            kwargs = {'unit': unit} if unit is not None else {}
            images.append((k, kind(array, wcs=cut_wcs, meta={}, **kwargs)))
            extras.append({'CUTX': (float(cx), 'object x in this cutout'),
                           'CUTY': (float(cy), 'object y in this cutout'),
                           'MOSX': (float(x), 'object x in the mosaic'),
                           'MOSY': (float(y), 'object y in the mosaic')})
    finally:
        if hdul is not None:
            hdul.close()
    return images, extras, reasons


def _process_chunk(index, rows, source, psf, method, options, size,
                   max_bad_fraction, output_dir, deconvolver=None,
                   target_psf=None):
    """
    Cut, deconvolve and write one chunk; return its index rows.

    ``rows`` holds ``row`` (catalogue row numbers), ``id`` and either
    ``x``, ``y`` (with a mosaic ``source``) or ``path`` (cutout files,
    ``source`` None). Without ``deconvolver``, the worker's cached one is
    used. ``target_psf`` is the target each cutout still applies (None
    when ``psf``, resolved once, carries it).
    """
    from ..utils._files import atomic_write

    if deconvolver is None:
        deconvolver = _cluster.cached_deconvolver(method, options)
    n = len(rows['row'])
    status = ['failed'] * n
    reason = [''] * n
    hdu_numbers = [-1] * n
    images, extras, reasons = _chunk_images(rows, source, size,
                                            max_bad_fraction)
    for k, text in reasons.items():
        reason[k] = text
    results, errors = ([], [])
    if images:
        results, errors = _deconvolve_items(
            deconvolver, [image for _, image in images], psf, target_psf)
    hdus = [fits.PrimaryHDU()]
    primary = hdus[0].header
    primary['CHUNK'] = (int(index), 'chunk number')
    primary['NOBJ'] = (n, 'catalogue rows in this chunk')
    primary['DECONV'] = (type(deconvolver).__name__, 'deconvolver')
    for (k, _), result, error, extra in zip(images, results, errors, extras):
        if error is not None:
            reason[k] = f'deconvolution failed: {error}'
            continue
        hdus.append(_image_hdu(result, rows['id'][k], rows['row'][k], extra))
        status[k] = 'done'
        hdu_numbers[k] = len(hdus) - 1
    table = Table({'row': np.asarray(rows['row'], dtype=np.int64),
                   'id': _id_column(rows['id']),
                   'status': status, 'reason': reason,
                   'hdu': np.asarray(hdu_numbers, dtype=np.int32)})
    index_hdu = fits.table_to_hdu(table)
    index_hdu.name = INDEX_EXTNAME
    hdus.append(index_hdu)
    path = Path(output_dir) / _chunk_name(index)
    with atomic_write(path, overwrite=True) as fileobj:
        fits.HDUList(hdus).writeto(fileobj, output_verify='exception')
    return {'index': index, 'status': status, 'reason': reason,
            'hdu': hdu_numbers, 'pid': os.getpid()}


def _id_column(ids):
    if all(isinstance(i, (int, np.integer)) for i in ids):
        return np.asarray(ids, dtype=np.int64)
    return np.asarray([str(i) for i in ids])


def _read_chunk_index(path, rows):
    """The index table of a finished chunk, checked against ``rows``."""
    try:
        with fits.open(path) as hdul:
            table = Table(hdul[INDEX_EXTNAME].data)
    except (OSError, KeyError, ValueError) as exc:
        msg = (f'chunk file {os.fspath(path)!r} cannot be read ({exc}); '
               'remove it and resume again')
        raise ValueError(msg) from None
    if list(table['row']) != list(rows['row']) or [
            str(i) for i in table['id']] != [str(i) for i in rows['id']]:
        msg = (f'chunk file {os.fspath(path)!r} holds other catalogue rows; '
               'resume=True needs the same catalogue and chunk_size as the '
               'interrupted run')
        raise ValueError(msg)
    return {'status': [str(s) for s in table['status']],
            'reason': [str(s) for s in table['reason']],
            'hdu': [int(h) for h in table['hdu']]}


# -- the driver --------------------------------------------------------------

def _progress_bar(total, progress):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc='deconvolving chunks', unit='chunk',
                disable=not progress)


def _run_chunks(todo, chunk_rows, source, psf, spec, size, max_bad_fraction,
                output_dir, workers, scheduler, progress, deconvolver,
                target_psf=None):
    """Run the chunks in ``todo``; return {index: outcome or error text}."""
    method, options = spec
    outcomes = {}
    bar = _progress_bar(len(todo), progress)
    try:
        if workers == 0:
            for index in todo:
                outcomes[index] = _process_chunk(
                    index, chunk_rows[index], source, psf, method, options,
                    size, max_bad_fraction, output_dir,
                    deconvolver=deconvolver, target_psf=target_psf)
                bar.update()
            return outcomes
        distributed = _cluster.import_optional_distributed()
        with _cluster.open_client(workers=workers,
                                  scheduler=scheduler) as client:
            psf_future = client.scatter(psf, broadcast=True)
            if source is not None and source[0] == 'nddata':
                source = ('nddata', client.scatter(source[1], broadcast=True))
            futures = {}
            for index in todo:
                future = client.submit(
                    _process_chunk, index, chunk_rows[index], source,
                    psf_future, method, options, size, max_bad_fraction,
                    os.fspath(output_dir), target_psf=target_psf, pure=False,
                    key=f'astrodeconv-chunk-{index}-{os.getpid()}-'
                    f'{time.time_ns()}')
                futures[future] = index
            for future in distributed.as_completed(futures):
                index = futures[future]
                try:
                    outcomes[index] = future.result()
                except Exception as exc:  # noqa: BLE001 -- reported per chunk
                    outcomes[index] = f'{type(exc).__name__}: {exc}'
                bar.update()
    finally:
        bar.close()
    return outcomes


def deconvolve_catalog(mosaic, catalog, output_dir, *, psf,
                       method='tikhonov', method_options=None, size=64,
                       chunk_size=256, workers=None, scheduler=None,
                       resume=False, overwrite=False, progress=True,
                       max_bad_fraction=0.5, psf_center=None,
                       target_psf=None):
    """
    Deconvolve cutouts around the objects of a catalogue, in parallel.

    The catalogue is split into chunks of ``chunk_size`` rows. Each chunk
    is one task on a Dask cluster (or a step of a plain loop with
    ``workers=0``): its cutouts of ``size`` x ``size`` pixels are
    deconvolved in one batch by the worker's deconvolver, built once per
    worker process, and written to one multi-extension FITS file
    ``output_dir/chunk_NNNNN.fits``: an empty primary HDU, one image HDU
    (``EXTNAME='CUTOUT'``) per deconvolved object with its WCS, ``BUNIT``,
    the provenance keywords of the deconvolver, the catalogue id
    (``CATID``) and row (``CATROW``) and the object position in the
    cutout (``CUTX``, ``CUTY``, 0-indexed pixels), then a table HDU
    (``EXTNAME='INDEX'``) with the columns ``row``, ``id``, ``status``,
    ``reason`` and ``hdu`` for every row of the chunk. Files are written
    atomically (temporary file, then rename): a killed run never leaves a
    half-written chunk. At the end the catalogue joined with the status of
    each object is written to ``output_dir/results.ecsv``.

    Objects whose cutout is mostly off the mosaic edge, mostly NaN, or
    whose deconvolution fails are reported as failed with their reason;
    they never stop the run.

    Parameters
    ----------
    mosaic : str, path-like, `~astropy.nddata.NDData` or None
        The image: a FITS file (its first 2D image HDU, opened with memory
        mapping inside each task, so it is never loaded whole nor sent
        through the scheduler) or an NDData/CCDData with a WCS (sent to
        each worker once). None when ``catalog`` is a list of cutout
        files.
    catalog : `~astropy.table.Table`, str, path-like or list of path
        The objects: a table (or a file astropy can read) with pixel
        columns ``x``, ``y`` (0-indexed pixels of the mosaic), or sky
        columns ``ra``, ``dec`` (degrees unless they carry a unit) or a
        `~astropy.coordinates.SkyCoord` column, converted with the mosaic
        WCS. The ``id`` column, if present, identifies the objects (else
        the row numbers). With ``mosaic=None``, a list of FITS files, one
        cutout each.
    output_dir : str or path-like
        Directory of the chunk files and the results table; created if
        needed.
    psf : array_like, `~astropy.nddata.NDData` or photutils ImagePSF
        The PSF, on the output grid of the deconvolver (see
        `~astrodeconv.deconvolution.DeconvolverBase`); one carrying its
        pixel scale is resampled onto it. It goes through
        `~astrodeconv.psf.resolve_psf` once, not once per cutout (with
        ``mosaic=None`` and a PSF given in arcsec, each cutout file's own
        WCS decides its resampling).
    method : str, optional
        A method of `~astrodeconv.deconvolution.make_deconvolver`.
    method_options : dict, optional
        Its options (JSON values, e.g. ``{'lam': 'auto'}``).
    size : int, optional
        Side of the square cutouts in mosaic pixels (at least 8).
    chunk_size : int, optional
        Objects per chunk (one task and one file each).
    workers : int, optional
        Worker processes of the local Dask cluster (default: one per
        core, each with one thread). 0 runs the chunks in a plain loop in
        this process, without Dask.
    scheduler : str, optional
        Address of a running Dask scheduler to use instead of a local
        cluster (the workers must be able to read the mosaic path and
        write to ``output_dir``).
    resume : bool, optional
        Finish an interrupted run: chunks whose file exists are kept and
        not redone (the same catalogue and ``chunk_size`` must be used).
    overwrite : bool, optional
        Remove the chunk files and results table of an earlier run in
        ``output_dir`` and start again. Without ``resume`` or
        ``overwrite``, a non-empty ``output_dir`` is an error.
    progress : bool, optional
        Show a progress bar over the chunks.
    max_bad_fraction : float, optional
        An object fails when more than this fraction of its cutout is off
        the mosaic or NaN.
    psf_center : {'astrodeconv', 'scipy', 'photutils'} or (y, x), optional
        The centre convention of ``psf``, see
        `~astrodeconv.psf.resolve_psf`.
    target_psf : Quantity, array_like, NDData or model, optional
        The output resolution (see :ref:`output-resolution`): a FWHM (an
        angle, which needs the mosaic's celestial WCS, or ``u.pix``,
        output pixels) or the target on the output grid. The narrow PSF
        is built once, with the PSF; with cutout files and a PSF or a
        target given in arcsec, each file's WCS decides its own. Every
        cutout is then the truth convolved with the target, and its
        header records it (``DCNVTGT``, ``DCNVTFW``, ``DCNVTFWP``).

    Returns
    -------
    result : `CatalogResults`
        Counts of done, skipped and failed objects, the failure reasons
        and the paths of the results table and chunk files.

    Raises
    ------
    TypeError, ValueError
        For invalid arguments (the message names the parameter).
    FileExistsError
        If ``output_dir`` is not empty and neither ``resume`` nor
        ``overwrite`` is set.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.nddata import NDData
    >>> from astropy.table import Table
    >>> from astrodeconv.parallel import deconvolve_catalog
    >>> from astrodeconv.psf import make_gaussian_psf
    >>> rng = np.random.default_rng(0)
    >>> mosaic = NDData(rng.normal(size=(64, 64)))
    >>> catalog = Table({'id': [1, 2], 'x': [20.0, 40.0], 'y': [30.0, 30.0]})
    >>> result = deconvolve_catalog(
    ...     mosaic, catalog, getfixture('tmp_path') / 'out',
    ...     psf=make_gaussian_psf(2.0, (9, 9)), size=16, workers=0,
    ...     progress=False)
    >>> result.done, result.failed
    (2, 0)
    """
    from ..deconvolution import make_deconvolver

    start = time.perf_counter()
    size = _check_int(size, 'size', 8)
    chunk_size = _check_int(chunk_size, 'chunk_size', 1)
    if workers is not None:
        workers = _check_int(workers, 'workers', 0)
        if workers == 0 and scheduler is not None:
            msg = 'workers=0 (no Dask) must not be combined with scheduler'
            raise ValueError(msg)
    if not 0 <= max_bad_fraction < 1:
        msg = (f'max_bad_fraction must be in [0, 1), got '
               f'{max_bad_fraction!r}')
        raise ValueError(msg)
    if method_options is not None and not isinstance(method_options, dict):
        msg = (f'method_options must be a dict, got '
               f'{type(method_options).__name__}')
        raise TypeError(msg)
    options = dict(method_options or {})
    _cluster.method_key(method, options)  # JSON values only
    deconvolver = make_deconvolver(method, **options)
    if mosaic is None:
        if isinstance(catalog, (str, os.PathLike)) or not all(
                isinstance(p, (str, os.PathLike)) for p in catalog):
            msg = ('catalog must be a list of cutout FITS files when mosaic '
                   'is None')
            raise TypeError(msg)
        paths = [os.fspath(Path(p).resolve()) for p in catalog]
        table = Table({'id': list(range(len(paths))), 'input': paths})
        source, columns = None, {'path': np.asarray(paths)}
        psf, cutout_target = _resolve_psf(psf, None, size, deconvolver,
                                          psf_center, True, target_psf)
    else:
        source, wcs, _ = _mosaic_source(mosaic)
        table = _read_catalog(catalog)
        x, y = _pixel_positions(table, wcs)
        columns = {'x': x, 'y': y}
        psf, cutout_target = _resolve_psf(psf, wcs, size, deconvolver,
                                          psf_center, False, target_psf)
    clash = [name for name in _ADDED_COLUMNS if name in table.colnames]
    if clash:
        msg = (f'catalog must not have the columns {", ".join(clash)}: the '
               'results table adds them; rename them first')
        raise ValueError(msg)
    ids = _catalog_ids(table)
    output_dir = _prepare_output_dir(output_dir, bool(resume),
                                     bool(overwrite))
    n = len(table)
    n_chunks = -(-n // chunk_size)
    chunk_rows = []
    for index in range(n_chunks):
        rows = np.arange(index * chunk_size, min(n, (index + 1) * chunk_size))
        item = {'row': rows, 'id': [ids[r] for r in rows]}
        item.update({key: value[rows] for key, value in columns.items()})
        chunk_rows.append(item)
    outcomes, skipped_chunks = {}, set()
    todo = []
    for index in range(n_chunks):
        path = output_dir / _chunk_name(index)
        if resume and path.is_file():
            outcomes[index] = _read_chunk_index(path, chunk_rows[index])
            skipped_chunks.add(index)
        else:
            todo.append(index)
    outcomes.update(_run_chunks(
        todo, chunk_rows, source, psf, (method, options), size,
        max_bad_fraction, output_dir, workers, scheduler, progress,
        deconvolver, target_psf=cutout_target))
    return _finish(table, ids, chunk_rows, outcomes, skipped_chunks,
                   output_dir, start)


def _finish(table, ids, chunk_rows, outcomes, skipped_chunks, output_dir,
            start):
    """Write results.ecsv and build the `CatalogResults`."""
    from ..utils._files import atomic_write

    n = len(table)
    status = np.full(n, 'failed', dtype=object)
    reason = np.full(n, '', dtype=object)
    files = np.full(n, '', dtype=object)
    hdus = np.full(n, -1, dtype=np.int32)
    done = skipped = 0
    failures = []
    chunk_paths = []
    for index, rows in enumerate(chunk_rows):
        outcome = outcomes[index]
        name = _chunk_name(index)
        if isinstance(outcome, str):  # the task itself failed
            outcome = {'status': ['failed'] * len(rows['row']),
                       'reason': [f'chunk {index} failed: {outcome}']
                       * len(rows['row']),
                       'hdu': [-1] * len(rows['row'])}
            name = ''
        else:
            chunk_paths.append(output_dir / name)
        for k, row in enumerate(rows['row']):
            status[row] = outcome['status'][k]
            reason[row] = outcome['reason'][k]
            hdus[row] = outcome['hdu'][k]
            files[row] = name
            if status[row] == 'done':
                if index in skipped_chunks:
                    skipped += 1
                else:
                    done += 1
            else:
                failures.append((ids[row], reason[row]))
    results = table.copy(copy_data=False)
    if 'id' not in results.colnames:
        results.add_column(np.arange(n), name='id', index=0)
    results['status'] = status.astype(str)
    results['reason'] = reason.astype(str)
    results['file'] = files.astype(str)
    results['hdu'] = hdus
    table_path = output_dir / RESULTS_NAME
    with atomic_write(table_path, overwrite=True, mode='w') as fileobj:
        results.write(fileobj, format='ascii.ecsv')
    return CatalogResults(done=done, skipped=skipped, failed=len(failures),
                          failures=failures, table_path=table_path,
                          chunk_paths=chunk_paths,
                          elapsed=time.perf_counter() - start)
