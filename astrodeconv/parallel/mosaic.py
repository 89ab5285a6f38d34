# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Mosaic mode: deconvolve an image too large for memory in overlapping tiles.

The mosaic is cut into a grid of *cores* (at most ``tile`` pixels a side,
of nearly equal sizes) that partition it. Each task reads its core plus a
halo of ``overlap`` pixels from the FITS file (memory mapped, through
``hdu.section``), deconvolves that window and returns it multiplied by its
blending weight. The weights are separable raised-cosine ramps, ``overlap
// 2`` pixels wide, centred on the borders between neighbouring cores and
1 at the mosaic edges; the ramps of two neighbours add up to exactly 1,
so the weights form a partition of unity: the result is a weighted mean
that neither loses nor invents flux, and a linear method gives back the
untiled result wherever its impulse response is shorter than the halo
left beyond the ramps (``3 * overlap // 4`` pixels at least).

The tasks are explicit (one `distributed.Client.submit` per tile, a few
tiles in flight per worker) rather than `dask.array.map_overlap`:
``map_overlap`` would ship the halos of the neighbouring chunks through
the scheduler and assemble the output as a Dask array in memory or in a
Zarr store, whereas here each task reads its own window from the file and
the client adds each weighted tile into the output file as soon as it
arrives, so that its memory is bounded by the number of tiles in flight.

The output is created at full size as a temporary file next to the
destination, written tile by tile through short-lived memory maps and
moved in place when every tile is done (`~astrodeconv.utils._files.
atomic_path`): an error leaves neither a partial output nor a temporary
file.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import NDData

from ..io import fits_unit_string, header_to_meta, select_image_hdu
from ..utils._blending import ramp_weight
from ..utils._deprecation import renamed_keyword
from ..utils._repr import make_repr

__all__ = ['deconvolve_mosaic', 'MosaicResults', 'default_overlap']

#: The default halo, in PSF sizes (the larger side of the PSF array).
OVERLAP_IN_PSF_SIZES = 4

#: The methods that conserve flux exactly: the flux the tiles moved across
#: the mosaic edges is returned to the mosaic's border band, as the
#: padded boundaries of these methods do for one image.
_FLUX_EXACT = ('tikhonov', 'wiener')

#: Tiles in flight per worker (submitted but not yet added to the output).
TILES_PER_WORKER = 2


class MosaicResults:
    """
    The outcome of `deconvolve_mosaic`.

    Attributes
    ----------
    path : `~pathlib.Path` or None
        The output FITS file (None when ``output`` was None).
    image : ndarray or None
        The deconvolved mosaic when ``output`` was None, else None.
    shape : tuple of int
        The mosaic shape ``(ny, nx)``.
    tiles : int
        Number of tiles deconvolved.
    tile, overlap : int
        The core size and the halo used, in pixels.
    seconds : float
        Wall-clock time of the run.
    peak_memory : int or None
        Peak resident memory of the calling process in bytes (the
        maximum over the life of the process, so an upper bound for this
        run, see ``peak_memory()``); None where it is not available.
    flux_in, flux_out : float
        Sum of the finite input pixels and of the output.
    """

    def __init__(self, *, path, image, shape, tiles, tile, overlap, seconds,
                 peak_memory, flux_in, flux_out):
        self.path = path
        self.image = image
        self.shape = shape
        self.tiles = tiles
        self.tile = tile
        self.overlap = overlap
        self.seconds = seconds
        self.peak_memory = peak_memory
        self.flux_in = flux_in
        self.flux_out = flux_out

    def __repr__(self):
        return make_repr(self, ('path', 'shape', 'tiles', 'seconds'),
                         brackets=True)


def default_overlap(psf_shape):
    """
    The default halo of `deconvolve_mosaic`: 4 times the PSF size.

    Parameters
    ----------
    psf_shape : tuple of int
        Shape of the PSF array.

    Returns
    -------
    overlap : int
        ``OVERLAP_IN_PSF_SIZES * max(psf_shape)`` pixels.
    """
    return int(OVERLAP_IN_PSF_SIZES * max(psf_shape))


def peak_memory():
    """
    Peak resident memory of this process in bytes, or None.

    ``VmHWM`` of ``/proc/self/status`` where there is one (Linux): unlike
    ``ru_maxrss`` it is not inherited from the parent process through
    ``fork`` and ``exec``. Elsewhere ``ru_maxrss``.
    """
    try:
        with open('/proc/self/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (AttributeError, OSError):
        return None
    # kilobytes on Linux, bytes on macOS
    return int(peak) if sys.platform == 'darwin' else int(peak) * 1024


# -- layout ----------------------------------------------------------------
def _borders(length, tile):
    """Borders of ``ceil(length / tile)`` cores of nearly equal sizes."""
    n = -(-length // tile)
    return [j * length // n for j in range(n + 1)]


def _axis_layout(length, tile, overlap):
    """
    The tiles along one axis.

    Returns a list of ``(core, read, window, weight)``: the core, the
    window read (core plus halo) and the weighted window (core plus the
    ramps beyond its borders) as ``(start, stop)`` pairs, and the 1D
    weight over the weighted window.
    """
    half = overlap // 4
    borders = _borders(length, tile)
    n = len(borders) - 1
    out = []
    for j in range(n):
        start, stop = borders[j], borders[j + 1]
        w0 = start - half if j > 0 else 0
        w1 = stop + half if j < n - 1 else length
        read = (max(start - overlap, 0), min(stop + overlap, length))
        # the ramps of two neighbours cross at their border and add up to
        # 1 over the 2 * half pixels around it
        weight = ramp_weight(w1 - w0, 2 * half, j == 0, j == n - 1)
        out.append(((start, stop), read, (w0, w1), weight))
    return out


def _layout(shape, tile, overlap):
    """The tiles of the mosaic as dicts (see `_axis_layout`)."""
    tiles = []
    for core_y, read_y, win_y, wy in _axis_layout(shape[0], tile, overlap):
        for core_x, read_x, win_x, wx in _axis_layout(shape[1], tile,
                                                      overlap):
            tiles.append({'core': (core_y, core_x), 'read': (read_y, read_x),
                          'window': (win_y, win_x), 'weight': (wy, wx)})
    return tiles


def _slices(pairs, origin=(0, 0)):
    return tuple(slice(a - o, b - o) for (a, b), o in zip(pairs, origin))


# -- reading -----------------------------------------------------------------
def _read_window(source, pairs):
    """The pixels ``pairs`` of ``source`` as a float64 array."""
    if isinstance(source, np.ndarray):
        return np.array(source[_slices(pairs)], dtype=float)
    path, index = source
    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        # section reads only this window (and applies BSCALE/BZERO)
        part = hdul[index].section[_slices(pairs)]
        return np.array(part, dtype=float)


def _deconvolve_tile(source, spec, psf, method, options, deconvolver=None):
    """
    Deconvolve one tile; return its weighted window and its core's flux.

    Runs in a worker (``deconvolver`` None: the worker's cached one) or in
    the calling process.
    """
    if deconvolver is None:
        from ._cluster import cached_deconvolver

        deconvolver = cached_deconvolver(method, options)
    data = _read_window(source, spec['read'])
    origin = (spec['read'][0][0], spec['read'][1][0])
    flux = float(np.nansum(data[_slices(spec['core'], origin)]))
    image = deconvolver(data, psf=psf)
    wy, wx = spec['weight']
    weighted = image[_slices(spec['window'], origin)]
    weighted *= wy[:, None]
    weighted *= wx[None, :]
    return weighted, flux


# -- checks ------------------------------------------------------------------
def _check_int(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, np.integer)):
        msg = f'{name} must be an int, got {type(value).__name__}'
        raise TypeError(msg)
    if value < minimum:
        msg = f'{name} must be at least {minimum}, got {value}'
        raise ValueError(msg)
    return int(value)


def _open_input(mosaic):
    """
    The source of the tiles, the mosaic shape, and its header or NDData.

    Returns ``(source, shape, header, nddata)``: ``source`` is ``(path,
    hdu index)`` for a FITS file (``header`` its header) or an in-memory
    array (``nddata`` the NDData it came from, if any).
    """
    if isinstance(mosaic, (str, os.PathLike)):
        path = os.fspath(mosaic)
        if not os.path.isfile(path):
            msg = f'mosaic {path!r} must be an existing FITS file'
            raise FileNotFoundError(msg)
        with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
            index = select_image_hdu(hdul, path=path)
            header = hdul[index].header.copy()
            if isinstance(hdul[index], fits.CompImageHDU):
                header = hdul[index]._header.copy()  # the image header
        shape = (int(header['NAXIS2']), int(header['NAXIS1']))
        return (path, index), shape, header, None
    nddata = mosaic if isinstance(mosaic, NDData) else None
    data = mosaic.data if nddata is not None else mosaic
    if hasattr(data, 'unit') and not isinstance(data, np.ndarray):
        data = data.value
    data = np.asarray(getattr(data, 'value', data), dtype=float)
    if data.ndim != 2:
        msg = (f'mosaic must be a 2D image (a FITS path, a 2D array or a '
               f'2D NDData), got {data.ndim} dimensions with shape '
               f'{data.shape}')
        raise ValueError(msg)
    return data, data.shape, None, nddata


def _output_header(header, nddata, method_class, provenance):
    """The cards of the output header: WCS, BUNIT, meta and provenance."""
    from ..utils._provenance import add_provenance

    cards = fits.Header()
    if header is not None:
        cards = header_to_meta(header, strip_wcs=False, keep=('BUNIT',))
    elif nddata is not None:
        if nddata.unit is not None:
            cards['BUNIT'] = fits_unit_string(nddata.unit)
        if nddata.wcs is not None:
            cards.extend(nddata.wcs.to_header(relax=True).cards)
    return add_provenance(cards, method_class, provenance)


# -- output ------------------------------------------------------------------
def _create_output(path, shape, cards):
    """
    Write the header of a float64 image of ``shape`` and extend the file.

    Returns the offset of the data in bytes. The data are zeros (the file
    is sparse where the file system allows).
    """
    header = fits.Header()
    header['SIMPLE'] = True
    header['BITPIX'] = -64
    header['NAXIS'] = 2
    header['NAXIS1'] = shape[1]
    header['NAXIS2'] = shape[0]
    header['EXTEND'] = True
    header.extend(cards, unique=True)
    text = header.tostring().encode('ascii')
    data_bytes = shape[0] * shape[1] * 8
    padded = -(-data_bytes // 2880) * 2880
    with open(path, 'r+b') as f:
        f.write(text)
        f.truncate(len(text) + padded)
    return len(text)


def _add_to_file(path, offset, shape, pairs, values):
    """Add ``values`` to the pixels ``pairs`` of the output file."""
    (y0, y1), (x0, x1) = pairs
    rows = np.memmap(path, dtype='>f8', mode='r+',
                     offset=offset + y0 * shape[1] * 8,
                     shape=(y1 - y0, shape[1]))
    try:
        rows[:, x0:x1] += values
        rows.flush()
    finally:
        # unmapping drops the pages from this process's resident memory
        del rows


#: Rows of the border band corrected at once.
_BORDER_ROWS = 256


class _Sink:
    """Where the weighted tiles are added: the output file or an array."""

    def __init__(self, path, shape, offset):
        self.path, self.shape, self.offset = path, shape, offset
        self.array = np.zeros(shape) if path is None else None
        self.total = 0.0

    def add(self, pairs, values):
        self.total += float(values.sum())
        if self.array is not None:
            self.array[_slices(pairs)] += values
        else:
            _add_to_file(self.path, self.offset, self.shape, pairs, values)

    def add_to_border(self, width, amount):
        """Spread ``amount`` uniformly over the border band ``width`` wide."""
        ny, nx = self.shape
        width = max(min(width, ny // 2, nx // 2), 1)
        band = [((0, width), (0, nx)), ((ny - width, ny), (0, nx)),
                ((width, ny - width), (0, width)),
                ((width, ny - width), (nx - width, nx))]
        pixels = sum((b - a) * (d - c) for (a, b), (c, d) in band)
        for (a, b), (c, d) in band:
            # the side bands in blocks of rows: each row of a block is a
            # page (or more) of memory while the block is mapped
            for start in range(a, b, _BORDER_ROWS):
                stop = min(start + _BORDER_ROWS, b)
                if d > c:
                    self.add(((start, stop), (c, d)),
                             np.full((stop - start, d - c), amount / pixels))


# -- the driver --------------------------------------------------------------
def _resolve_psf(psf, tile, header, nddata, deconvolver, psf_center,
                 target_psf=None):
    """
    The PSF through the PSF door, once for the whole mosaic.

    Returns the `~astrodeconv.psf.ResolvedPSF` every tile's deconvolver
    uses as it is (no second parse in the tiles); with ``target_psf``, its
    array is the narrow PSF.
    """
    from ..io import read_wcs
    from ..psf import emit_psf_warnings, resolve_psf

    wcs = nddata.wcs if nddata is not None else None
    if header is not None:
        wcs = read_wcs(header)
    resolved = resolve_psf(psf, image_scale=wcs, upsample=1,
                           shape=(tile, tile), recenter=deconvolver.recenter,
                           psf_center=psf_center, target_psf=target_psf,
                           warn=False)
    if max(resolved.shape) > tile:
        msg = (f'tile must be at least the PSF size, got tile={tile} for a '
               f'PSF of shape {resolved.shape}; use a larger tile')
        raise ValueError(msg)
    emit_psf_warnings([resolved], stacklevel=3)
    return resolved


def _method_options(method, method_options):
    """The options of every tile's deconvolver (JSON values only)."""
    from ._cluster import method_key

    options = dict(method_options or {})
    if options.get('upsample', 1) != 1:
        msg = (f"method_options must not set upsample (got "
               f"{options['upsample']!r}): mosaic mode keeps the pixel grid")
        raise ValueError(msg)
    name = method.replace('_', '-') if isinstance(method, str) else method
    if name in _FLUX_EXACT and options.get('boundary') is None:
        # a periodic wrap across a mosaic means nothing; 'reflect' treats
        # the mosaic edges as a single image does
        options['boundary'] = 'reflect'
    method_key(method, options)  # raises for non-JSON values
    return options


def _run_tasks(source, layout, psf, method, options, workers, scheduler,
               sink, progress, deconvolver):
    """Deconvolve every tile and add it to ``sink``; return the input flux."""
    n = len(layout)
    flux = 0.0

    def done(k, spec, result):
        nonlocal flux
        weighted, core_flux = result
        sink.add(spec['window'], weighted)
        flux += core_flux
        if progress:
            print(f'\rdeconvolve_mosaic: {k}/{n} tiles', end='',
                  file=sys.stderr, flush=True)

    if workers == 0:
        for k, spec in enumerate(layout, 1):
            done(k, spec, _deconvolve_tile(source, spec, psf, method,
                                           options, deconvolver))
    else:
        from ._cluster import open_client

        with open_client(workers=workers, scheduler=scheduler) as client:
            from distributed import as_completed

            n_workers = max(len(client.scheduler_info()['workers']), 1)
            limit = TILES_PER_WORKER * n_workers
            [psf_future] = client.scatter([psf], broadcast=True)
            pending = iter(enumerate(layout))
            specs = {}

            def submit():
                try:
                    index, spec = next(pending)
                except StopIteration:
                    return None
                part = source
                if isinstance(source, np.ndarray):
                    # small in-memory input: send the window itself
                    part = source[_slices(spec['read'])]
                    spec = dict(spec)
                    spec['read'] = ((0, part.shape[0]), (0, part.shape[1]))
                    spec['core'] = _shift(layout[index]['core'],
                                          layout[index]['read'])
                    spec['window'] = _shift(layout[index]['window'],
                                            layout[index]['read'])
                future = client.submit(_deconvolve_tile, part, spec,
                                       psf_future, method, options,
                                       pure=False)
                specs[future.key] = layout[index]
                return future

            queue = as_completed([f for f in (submit() for _ in range(
                limit)) if f is not None])
            k = 0
            for future in queue:
                result = future.result()
                spec = specs.pop(future.key)
                future.release()
                k += 1
                done(k, spec, result)
                del result
                nxt = submit()
                if nxt is not None:
                    queue.add(nxt)
    if progress:
        print(file=sys.stderr)
    return flux


def _shift(pairs, read):
    return tuple((a - r[0], b - r[0]) for (a, b), r in zip(pairs, read))


@renamed_keyword('input', 'mosaic', since='0.1')
def deconvolve_mosaic(mosaic, output, *, psf, method='tikhonov',
                      method_options=None, tile=1024, overlap=None,
                      workers=None, scheduler=None, overwrite=False,
                      progress=True, psf_center=None, target_psf=None):
    """
    Deconvolve a large image in overlapping tiles, on a Dask cluster or not.

    Parameters
    ----------
    mosaic : str, path-like, ndarray or `~astropy.nddata.NDData`
        The image (formerly ``input``, deprecated): a FITS file (its
        first 2D image HDU other than UNCERT, MASK or PSF), read window by
        window through a memory map, so that the
        whole mosaic is never in memory; or a small 2D array or NDData
        (for tests). Non-finite pixels are masked by the deconvolver.
    output : str, path-like or None
        The FITS file to write: the deconvolved mosaic (float64) with the
        input's header keywords (WCS, BUNIT, meta) and provenance
        keywords (``DECONV``, the deconvolver class, ``DCNVMODE =
        'mosaic'``, ``DCNVMETH``, ``DCNVOPTS``, ``DCNVTILE``,
        ``DCNVOVLP``, and with ``target_psf`` ``DCNVTGT``, ``DCNVTFW``,
        ``DCNVTFWP``). None returns the image
        in ``MosaicResults.image`` instead (in-memory inputs).
    psf : array_like, `~astropy.nddata.NDData` or photutils ImagePSF
        The PSF on the mosaic's pixel grid, centred; an NDData PSF with a
        pixel scale (WCS or ``PIXSCALE``) is resampled onto the grid of a
        mosaic with a celestial WCS. It goes through
        `~astrodeconv.psf.resolve_psf` once; every tile uses the result.
        A PSF used as given more than half a pixel off-centre is recorded
        in the output header (``PSFOFFY``, ``PSFOFFX``).
    method : str, optional
        A method of `~astrodeconv.deconvolution.make_deconvolver`
        (default ``'tikhonov'``).
    method_options : dict, optional
        Its options, JSON values only (they are sent to the workers). For
        ``'tikhonov'`` and ``'wiener'`` the default ``boundary`` is
        ``'reflect'`` (not periodic: the mosaic edges are treated as those
        of a single image). Data-driven choices (``lam='auto'``,
        Wiener's ``balance='auto'``) are made per tile; give fixed values
        for a result independent of the tiling. ``upsample`` must stay 1.
    tile : int, optional
        The largest core size: the mosaic is cut into ``ceil(ny / tile) x
        ceil(nx / tile)`` cores of nearly equal sizes, each deconvolved
        with its halo (at most ``tile + 2 * overlap`` pixels a side). The
        memory of a task is about 16 times that window in float64.
    overlap : int, optional
        The halo, in pixels. Default: `default_overlap`, 4 times the PSF
        size (the larger side of the PSF array). The blending ramps are
        ``overlap // 2`` pixels wide around each border between cores, so
        at least ``3 * overlap // 4`` pixels of context lie beyond any
        pixel kept from a tile; the impulse response of the linear
        methods with a Gaussian PSF falls below 1e-6 of its peak well
        within that. Must be smaller than ``tile``.
    workers : int, optional
        0: a plain loop in this process, without Dask. Otherwise the
        number of worker processes of a local Dask cluster (default: one
        per core), each with one thread and its own cached deconvolver.
    scheduler : str, optional
        Address of a running Dask scheduler to use instead of a local
        cluster (not with ``workers``). The workers must be able to read
        ``mosaic`` at the same path.
    overwrite : bool, optional
        Replace ``output`` if it exists.
    progress : bool, optional
        Print the number of tiles done on standard error.
    psf_center : {'astrodeconv', 'scipy', 'photutils'} or (y, x), optional
        The centre convention of ``psf``, see
        `~astrodeconv.psf.resolve_psf`.
    target_psf : Quantity, array_like, NDData or model, optional
        The output resolution (see :ref:`output-resolution`): a FWHM (an
        angle, which needs the mosaic's celestial WCS, or ``u.pix``) or
        the target on the mosaic's pixel grid. The narrow PSF is built
        once, with the PSF, and every tile is deconvolved with it, so the
        mosaic is the truth convolved with the target.

    Returns
    -------
    result : `MosaicResults`
        The output path, tile count, timing, peak memory and fluxes.

    Raises
    ------
    FileExistsError
        If ``output`` exists and ``overwrite`` is False (checked first).
    ValueError
        For a non-2D input, a tile not larger than the overlap or smaller
        than the PSF, a negative overlap, or invalid method options.
    TypeError
        For arguments of the wrong type.

    Notes
    -----
    For the linear methods the flux the tiles moved across the mosaic
    edges (a small fraction) is put back uniformly into the mosaic's
    border band, half a PSF wide, as the padded boundaries of these
    methods do for one image, so the total flux is exact. Other methods
    keep the flux their tiles give.
    """
    from ..deconvolution import make_deconvolver
    from ..utils._files import atomic_path, check_output_path

    started = time.perf_counter()
    if output is not None:
        check_output_path(output, overwrite=overwrite, name='output')
    tile = _check_int(tile, 'tile', 1)
    if workers is not None:
        workers = _check_int(workers, 'workers', 0)
        if workers == 0 and scheduler is not None:
            msg = 'workers must not be 0 with scheduler'
            raise ValueError(msg)
    source, shape, header, nddata = _open_input(mosaic)
    if output is None and not isinstance(source, np.ndarray):
        msg = 'output must be a FITS path for a FITS input'
        raise ValueError(msg)
    options = _method_options(method, method_options)
    # validates the method and options here, before any task runs
    deconvolver = make_deconvolver(method, **options)
    psf = _resolve_psf(psf, tile, header, nddata, deconvolver, psf_center,
                       target_psf)
    if overlap is None:
        overlap = default_overlap(psf.shape)
    overlap = _check_int(overlap, 'overlap', 0)
    if overlap >= tile:
        msg = (f'tile must be larger than overlap, got tile={tile} and '
               f'overlap={overlap}; use a larger tile or a smaller overlap')
        raise ValueError(msg)
    layout = _layout(shape, tile, overlap)
    provenance = {'DCNVMODE': 'mosaic', 'DCNVMETH': str(method),
                  'DCNVOPTS': json.dumps(options, sort_keys=True),
                  'DCNVTILE': tile, 'DCNVOVLP': overlap, **psf.cards()}
    linear = str(method).replace('_', '-') in _FLUX_EXACT

    def run(sink):
        flux_in = _run_tasks(source, layout, psf, method, options,
                             workers, scheduler, sink, progress,
                             deconvolver if workers == 0 else None)
        if linear:
            sink.add_to_border(max(psf.shape) // 2, flux_in - sink.total)
        return flux_in

    if output is None:
        sink = _Sink(None, shape, 0)
        flux_in = run(sink)
        image, path = sink.array, None
    else:
        cards = _output_header(header, nddata, type(deconvolver).__name__,
                               provenance)
        with atomic_path(output, overwrite=overwrite) as tmp:
            offset = _create_output(tmp, shape, cards)
            sink = _Sink(tmp, shape, offset)
            flux_in = run(sink)
        image, path = None, Path(output)
    return MosaicResults(path=path, image=image, shape=shape,
                         tiles=len(layout), tile=tile, overlap=overlap,
                         seconds=time.perf_counter() - started,
                         peak_memory=peak_memory(), flux_in=flux_in,
                         flux_out=sink.total)
