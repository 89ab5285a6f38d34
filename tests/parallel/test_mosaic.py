"""Tests of astrodeconv.parallel.mosaic (deconvolve_mosaic)."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS
from scipy.signal import fftconvolve

from astrodeconv.deconvolution import make_deconvolver
from astrodeconv.parallel.mosaic import (MosaicResults, _layout,
                                         deconvolve_mosaic, default_overlap)
from astrodeconv.psf import make_gaussian_psf
from astrodeconv.utils._files import TMP_MARKER

PSF = make_gaussian_psf(4.0, shape=(25, 25))


def mosaic_wcs(shape):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    wcs.wcs.cunit = ['deg', 'deg']
    return wcs


def make_mosaic(n, seed=0, psf=PSF):
    """Gaussian and exponential galaxies blurred by ``psf``, plus noise."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, n))
    yy, xx = np.mgrid[-20:21, -20:21]
    for _ in range(n * n // 4000):
        y, x = rng.integers(20, n - 21, 2)
        radius = rng.uniform(1, 5)
        q = rng.uniform(0.4, 1)
        r = np.hypot(yy, xx * q)
        profile = (np.exp(-r / radius) if rng.random() < 0.5
                   else np.exp(-0.5 * (r / radius) ** 2))
        truth[y - 20:y + 21, x - 20:x + 21] += rng.uniform(10, 100) * profile
    data = fftconvolve(truth, psf, mode='same')
    return data + rng.normal(0, 0.5, truth.shape)


def write_mosaic(path, data, dtype='>f4'):
    header = mosaic_wcs(data.shape).to_header()
    header['BUNIT'] = 'nJy'
    header['OBSERVER'] = 'test'
    fits.writeto(path, data.astype(dtype), header, overwrite=True)
    return fits.getdata(path).astype(float)


def untiled(data, method='tikhonov', **options):
    options.setdefault('boundary', 'reflect')
    return make_deconvolver(method, **options)(data, psf=PSF)


def check_against_untiled(result, out, data, margin):
    ref = untiled(data)
    inner = (slice(margin, -margin),) * 2
    error = np.abs(out - ref)[inner].max() / ref.max()
    assert error < 1e-6
    flux = data.sum()
    assert abs(out.sum() - flux) < 1e-9 * abs(flux)
    assert np.isclose(result.flux_in, flux, rtol=1e-12)
    return error


def no_temporary_files(folder):
    return not [p for p in os.listdir(folder) if TMP_MARKER in p]


@pytest.mark.parametrize(('length', 'tile', 'overlap'), [
    (1024, 256, 100), (1000, 256, 100), (300, 301, 60), (97, 40, 13),
    (50, 20, 3)])
def test_weights_are_a_partition_of_unity(length, tile, overlap):
    total = np.zeros((length, length + 7))
    layout = _layout(total.shape, tile, overlap)
    for spec in layout:
        (y0, y1), (x0, x1) = spec['window']
        (ry0, ry1), (rx0, rx1) = spec['read']
        assert ry0 <= y0 and y1 <= ry1 and rx0 <= x0 and x1 <= rx1
        wy, wx = spec['weight']
        total[y0:y1, x0:x1] += wy[:, None] * wx[None, :]
    np.testing.assert_allclose(total, 1, atol=1e-13)
    # the cores partition the mosaic and are at most tile a side
    cores = np.zeros(total.shape, int)
    for spec in layout:
        (y0, y1), (x0, x1) = spec['core']
        assert y1 - y0 <= tile and x1 - x0 <= tile
        cores[y0:y1, x0:x1] += 1
    assert (cores == 1).all()


def test_tiled_matches_untiled(tmp_path):
    """1024 x 1024, 16 tiles of 256 px, in this process."""
    data = write_mosaic(tmp_path / 'in.fits', make_mosaic(1024))
    out_path = tmp_path / 'out.fits'
    start = time.perf_counter()
    result = deconvolve_mosaic(tmp_path / 'in.fits', out_path, psf=PSF,
                               tile=256, workers=0, progress=False)
    seconds = time.perf_counter() - start
    assert isinstance(result, MosaicResults)
    assert result.tiles == 16 and result.overlap == default_overlap(
        PSF.shape) == 100
    assert result.path == out_path and result.seconds <= seconds
    with fits.open(out_path) as hdul:
        out = hdul[0].data.astype(float)
        header = hdul[0].header
    error = check_against_untiled(result, out, data, result.overlap)
    print(f'1024^2, tile 256: {seconds:.2f} s, max |tiled - untiled| / '
          f'peak = {error:.2g}')
    assert no_temporary_files(tmp_path)
    # the WCS, unit and meta of the input, plus provenance
    assert WCS(header).to_header() == mosaic_wcs(data.shape).to_header()
    assert header['BUNIT'] == 'nJy' and header['OBSERVER'] == 'test'
    assert header['DECONV'] == 'TikhonovDeconvolver'
    assert header['DCNVMODE'] == 'mosaic' and header['DCNVTILE'] == 256
    assert json.loads(header['DCNVOPTS']) == {'boundary': 'reflect'}


def test_in_memory_input_and_options():
    data = make_mosaic(256, seed=1)
    result = deconvolve_mosaic(data, None, psf=PSF, tile=100, overlap=60,
                               workers=0, progress=False,
                               method_options={'lam': 0.02})
    assert result.tiles == 9 and result.path is None
    ref = untiled(data, lam=0.02)
    error = np.abs(result.image - ref)[60:-60, 60:-60].max() / ref.max()
    assert error < 1e-6
    # a non-linear method runs through the same tiles
    rl = deconvolve_mosaic(data, None, psf=PSF, tile=128, overlap=60,
                           method='richardson-lucy', workers=0,
                           progress=False, method_options={'n_iter': 5})
    # its tiles are not exact (each starts from its own border) but away
    # from the mosaic's border they agree with one untiled run: measured
    # 4.3e-4 of the peak, against 0.24 between the data and the result
    ref = make_deconvolver('richardson-lucy', n_iter=5)(data, psf=PSF)
    error = np.abs(rl.image - ref)[60:-60, 60:-60].max() / ref.max()
    assert error < 2e-3


def test_dask_workers(tmp_path):
    """Two Dask worker processes on 512 x 512, 16 tiles of 128 px."""
    pytest.importorskip('distributed')
    data = write_mosaic(tmp_path / 'in.fits', make_mosaic(512, seed=2))
    out_path = tmp_path / 'out.fits'
    result = deconvolve_mosaic(str(tmp_path / 'in.fits'), out_path, psf=PSF,
                               tile=128, workers=2, progress=False)
    assert result.tiles == 16
    out = fits.getdata(out_path).astype(float)
    error = check_against_untiled(result, out, data, result.overlap)
    print(f'512^2, tile 128, 2 Dask workers: {result.seconds:.2f} s, '
          f'max |tiled - untiled| / peak = {error:.2g}')
    assert no_temporary_files(tmp_path)


def test_refuses_to_overwrite(tmp_path):
    data = make_mosaic(128)
    out_path = tmp_path / 'out.fits'
    out_path.write_bytes(b'precious')
    with pytest.raises(FileExistsError, match='already exists.*overwrite'):
        deconvolve_mosaic(data, out_path, psf=PSF, tile=64, overlap=30,
                          workers=0, progress=False)
    assert out_path.read_bytes() == b'precious'
    deconvolve_mosaic(data, out_path, psf=PSF, tile=64, overlap=30,
                      workers=0, progress=False, overwrite=True)
    assert fits.getdata(out_path).shape == (128, 128)
    assert no_temporary_files(tmp_path)


def test_error_mid_run_leaves_no_file(tmp_path):
    """A file cut short fails on its last tiles: no output, no temp file."""
    path = tmp_path / 'in.fits'
    write_mosaic(path, make_mosaic(256))
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    out_path = tmp_path / 'out.fits'
    with pytest.raises(TypeError, match='buffer is too small'):
        with pytest.warns(AstropyUserWarning, match='truncated'):
            deconvolve_mosaic(path, out_path, psf=PSF, tile=64, overlap=30,
                              workers=0, progress=False)
    assert not out_path.exists()
    assert no_temporary_files(tmp_path)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'tile': 100, 'overlap': 100}, ValueError,
     'tile must be larger than overlap, got tile=100 and overlap=100'),
    ({'tile': 20, 'overlap': 10}, ValueError,
     r'tile must be at least the PSF size, got tile=20 for a PSF of shape '
     r'\(25, 25\)'),
    ({'tile': 64.5}, TypeError, 'tile must be an int, got float'),
    ({'tile': 64, 'overlap': -1}, ValueError,
     'overlap must be at least 0, got -1'),
    ({'workers': -1}, ValueError, 'workers must be at least 0'),
    ({'method': 'magic'}, ValueError, "Invalid method 'magic'"),
    ({'method_options': {'upsample': 2}}, ValueError,
     'method_options must not set upsample'),
    ({'method_options': {'lam': np}}, TypeError,
     'method_options must hold only JSON values'),
    ({'method': 'wiener', 'method_options': {'lam': 1}}, TypeError,
     "lam does not apply to method 'wiener'"),
])
def test_bad_arguments(tmp_path, kwargs, error, match):
    kwargs = {'tile': 64, 'overlap': 30, 'workers': 0, 'progress': False,
              **kwargs}
    with pytest.raises(error, match=match):
        deconvolve_mosaic(make_mosaic(128), tmp_path / 'out.fits', psf=PSF,
                          **kwargs)
    assert os.listdir(tmp_path) == []


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match='mosaic must be a 2D image.*got 3 '):
        deconvolve_mosaic(np.zeros((2, 64, 64)), None, psf=PSF, tile=64,
                          workers=0)
    with pytest.raises(FileNotFoundError, match='mosaic .* must be an exist'):
        deconvolve_mosaic(tmp_path / 'missing.fits', tmp_path / 'o.fits',
                          psf=PSF, workers=0)
    fits.writeto(tmp_path / 'cube.fits', np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match='has no HDU with 2D image data'):
        deconvolve_mosaic(tmp_path / 'cube.fits', tmp_path / 'o.fits',
                          psf=PSF, workers=0)
    with pytest.raises(ValueError, match='psf must be given'):
        deconvolve_mosaic(np.zeros((64, 64)), None, psf=None, workers=0)


def test_no_wcs_gives_no_wcs(tmp_path):
    data = make_mosaic(128)
    fits.writeto(tmp_path / 'in.fits', data)
    deconvolve_mosaic(tmp_path / 'in.fits', tmp_path / 'out.fits', psf=PSF,
                      tile=64, overlap=30, workers=0, progress=False)
    header = fits.getheader(tmp_path / 'out.fits')
    assert 'CTYPE1' not in header and 'BUNIT' not in header


@pytest.mark.slow
def test_tiled_matches_untiled_4096(tmp_path):
    """The issue's check: 4096 x 4096, tile 1024 (16 tiles)."""
    data = write_mosaic(tmp_path / 'in.fits', make_mosaic(4096))
    result = deconvolve_mosaic(tmp_path / 'in.fits', tmp_path / 'out.fits',
                               psf=PSF, tile=1024, workers=0,
                               progress=False)
    out = fits.getdata(tmp_path / 'out.fits').astype(float)
    error = check_against_untiled(result, out, data, result.overlap)
    print(f'4096^2, tile 1024: {result.seconds:.2f} s, max |tiled - '
          f'untiled| / peak = {error:.2g}')


_CHILD = """
import sys
from astrodeconv.parallel.mosaic import deconvolve_mosaic, peak_memory
from astrodeconv.psf import make_gaussian_psf
import numpy as np
psf = make_gaussian_psf(4.0, shape=(25, 25))
# a small run first, so that what it imports on the way is not counted
deconvolve_mosaic(np.zeros((128, 128)), None, psf=psf, tile=64, overlap=30,
                  workers=0, progress=False)
before = peak_memory()
result = deconvolve_mosaic(sys.argv[1], sys.argv[2], psf=psf,
                           tile=int(sys.argv[3]), workers=0, progress=False)
print(before, peak_memory(), result.seconds)
"""


def _peak_memory(tmp_path, n, tile):
    """Peak resident memory (bytes) of a child process running a mosaic."""
    path = tmp_path / f'in{n}.fits'
    header = mosaic_wcs((n, n)).to_header()
    # written row band by row band: a large mosaic is never in memory here
    hdu = fits.PrimaryHDU(header=header)
    hdu.header['BITPIX'] = -32
    hdu.header['NAXIS'] = 2
    hdu.header['NAXIS1'] = n
    hdu.header['NAXIS2'] = n
    hdu.header.tofile(path)
    block = make_mosaic(1024, seed=3).astype('>f4')
    with open(path, 'ab') as f:
        for _ in range(n // 1024):
            f.write(np.tile(block, (1, n // 1024)).tobytes())
        f.write(b'\0' * (-(n * n * 4) % 2880))
    out = tmp_path / f'out{n}.fits'
    run = subprocess.run([sys.executable, '-c', _CHILD, str(path), str(out),
                          str(tile)], capture_output=True, text=True,
                         check=True, cwd=os.getcwd())
    before, after, seconds = map(float, run.stdout.split())
    path.unlink()
    out.unlink()
    return before, after, seconds


@pytest.mark.slow
def test_memory_grows_with_tile_not_mosaic(tmp_path):
    small = _peak_memory(tmp_path, 2048, 512)
    large = _peak_memory(tmp_path, 4096, 512)
    print(f'peak RSS, tile 512: 2048^2 {small[1] / 1e6:.0f} MB '
          f'({small[2]:.1f} s), 4096^2 {large[1] / 1e6:.0f} MB '
          f'({large[2]:.1f} s); imports {small[0] / 1e6:.0f} MB')
    # 4096^2 float64 is 134 MB, 3/4 of it more than 2048^2: the peak must
    # not follow the mosaic
    assert large[1] - small[1] < 25e6
    n, tile = 4096, 1024
    whole = _peak_memory(tmp_path, n, tile)
    grown = whole[1] - whole[0]
    # What a tile costs: float64 copies of its read window (tile plus the
    # overlap on each side): the data, the padded FFTs and their spectra,
    # the output row band. Measured 12.7 windows (152 MB) for this run, and
    # 13 windows of 712^2 (53 MB) for tile 512 above. The bound, 16
    # windows (190 MB), guards the tiling: the mosaic held whole as
    # float64, input or output (134 MB, 11 windows), breaks it at once. A
    # passing float32 copy of the input (67 MB) is caught by the tile-512
    # comparison above.
    window = (tile + 2 * default_overlap(PSF.shape)) ** 2 * 8
    print(f'peak RSS, {n}^2, tile {tile}: {whole[1] / 1e6:.0f} MB, '
          f'{grown / 1e6:.0f} MB over imports = {grown / window:.1f} tile '
          f'windows ({whole[2]:.1f} s)')
    assert grown < 16 * window < n * n * 8 + 12 * window


def test_input_is_a_deprecated_spelling_of_mosaic():
    from astropy.utils.exceptions import AstropyDeprecationWarning

    image = np.random.default_rng(0).normal(size=(64, 64))
    expected = deconvolve_mosaic(image, None, psf=PSF, tile=64, overlap=16,
                                 workers=0, progress=False).image
    with pytest.warns(AstropyDeprecationWarning, match="use 'mosaic'"):
        result = deconvolve_mosaic(input=image, output=None, psf=PSF,
                                   tile=64, overlap=16, workers=0,
                                   progress=False)
    assert np.array_equal(result.image, expected)
