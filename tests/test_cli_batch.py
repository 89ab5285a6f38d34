"""Tests of ``astrodeconv batch`` (catalogue mode of astrodeconv.parallel)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.table import Table
from astropy.wcs import WCS

import astrodeconv
from astrodeconv.cli import main
from astrodeconv.io import write_image
from astrodeconv.psf import make_gaussian_psf
from astrodeconv.utils._files import is_temporary_file


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """A 128x128 mosaic with 6 galaxies, its catalogues and a PSF file."""
    folder = tmp_path_factory.mktemp('batch')
    rng = np.random.default_rng(1)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [10.0, -5.0]
    wcs.wcs.crpix = [64, 64]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    yy, xx = np.mgrid[:128, :128]
    data = rng.normal(0, 0.01, (128, 128))
    x = np.array([30.0, 60, 90, 30, 60, 90])
    y = np.array([30.0, 30, 30, 90, 90, 90])
    for xi, yi in zip(x, y):
        data += np.exp(-((xx - xi) ** 2 + (yy - yi) ** 2) / 8.0)
    write_image(CCDData(data, unit='nJy', wcs=wcs), folder / 'mosaic.fits')
    write_image(make_gaussian_psf(2.0, (15, 15)), folder / 'psf.fits')
    sky = wcs.pixel_to_world(np.append(x, 400.0), np.append(y, 60.0))
    Table({'id': np.arange(1, 8), 'ra': sky.ra.deg,
           'dec': sky.dec.deg}).write(folder / 'cat.ecsv')
    # many objects, for a run that is killed midway
    many = rng.uniform(20, 108, (2, 150))
    Table({'x': many[0], 'y': many[1]}).write(folder / 'many.ecsv')
    Table({'name': ['a']}).write(folder / 'nocols.ecsv')
    return folder


def _args(inputs, out, *extra, catalog='cat.ecsv'):
    return ['batch', str(inputs / 'mosaic.fits'), '--catalog',
            str(inputs / catalog), '-o', str(out), '--size', '32',
            '--workers', '0', '--no-progress', *extra]


def test_help(capsys):
    assert main(['batch', '--help']) == 0
    text = capsys.readouterr().out
    assert '--catalog' in text and '--resume' in text


def test_batch_psf_file(inputs, tmp_path, capsys, cli_error_line):
    out = tmp_path / 'out'
    assert main(_args(inputs, out, '--psf', str(inputs / 'psf.fits'),
                      '--chunk-size', '3', '--lam', '0.01')) == 0
    summary = capsys.readouterr().out
    assert summary.startswith('7 objects: 6 done, 0 skipped (done earlier), '
                              '1 failed')
    assert 'failed 7: outside the mosaic' in summary
    assert sorted(p.name for p in out.iterdir()) == [
        'chunk_00000.fits', 'chunk_00001.fits', 'chunk_00002.fits',
        'results.ecsv']
    table = Table.read(out / 'results.ecsv')
    assert list(table['status']) == ['done'] * 6 + ['failed']
    header = fits.getheader(out / 'chunk_00001.fits', 1)
    assert header['CATID'] == 4 and header['DCNVLAM'] == 0.01
    # a second run without --resume refuses to touch the results
    assert main(_args(inputs, out, '--psf', str(inputs / 'psf.fits'))) == 1
    line = cli_error_line()
    assert 'not empty; use --resume to finish an interrupted run or ' \
        '--overwrite to start again' in line
    assert 'resume=True' not in line
    assert main(_args(inputs, out, '--psf', str(inputs / 'psf.fits'),
                      '--chunk-size', '3', '--resume')) == 0
    assert '0 done, 6 skipped' in capsys.readouterr().out


def test_batch_psf_fwhm_and_dask(inputs, tmp_path, capsys):
    args = _args(inputs, tmp_path / 'out', '--psf-fwhm', '0.5arcsec',
                 '--psf-model', 'gaussian', '--method', 'wiener')
    args[args.index('--workers') + 1] = '1'
    assert main(args) == 0
    assert '6 done' in capsys.readouterr().out
    header = fits.getheader(tmp_path / 'out' / 'chunk_00000.fits', 1)
    assert header['DECONV'] == 'WienerDeconvolver'


@pytest.mark.parametrize(('extra', 'status', 'match'), [
    ((), 2, 'a PSF is required'),
    (('--psf', 'x.fits', '--psf-fwhm', '3pix'), 2, 'must not be combined'),
    (('--psf-fwhm', '3pix', '--size', '4'), 2, '--size must be at least 8'),
    (('--psf-fwhm', '3pix', '--chunk-size', '0'), 2, '--chunk-size must be'),
    (('--psf-fwhm', '3pix', '--scheduler', 'tcp://x:1'), 2, 'not allowed'),
    (('--psf-fwhm', '3pix', '--method', 'wiener', '--lam', '1'), 2,
     '--lam applies only to --method tikhonov, learned, pnp, unrolled, '
     'default, got '
     '--method wiener'),
    (('--psf-fwhm', '3pix', '--lam', '-1'), 2, '--lam must be > 0'),
    (('--psf-fwhm', '-3pix'), 2, '--psf-fwhm must be a positive number'),
    (('--psf-fwhm', '3pix', '--workers', '-2'), 2,
     '--workers must be at least 0'),
    (('--psf-fwhm', '3pix', '--lam', 'big'), 2, '--lam must be'),
    (('--psf-fwhm', '3pix', '--catalog', 'nope.ecsv'), 1,
     'catalog .* does not exist'),
    (('--psf-fwhm', '3pix', '--catalog', 'NOCOLS'), 1,
     'catalog must have pixel columns'),
])
def test_batch_errors(inputs, tmp_path, capsys, cli_error_line, extra, status,
                      match):
    extra = tuple(str(inputs / 'nocols.ecsv') if e == 'NOCOLS' else e
                  for e in extra)
    assert main(_args(inputs, tmp_path / 'out', *extra)) == status
    assert re.search(match, cli_error_line())


def _environment():
    env = dict(os.environ)
    root = str(Path(astrodeconv.__file__).resolve().parents[1])
    env['PYTHONPATH'] = os.pathsep.join(
        [root, *filter(None, [env.get('PYTHONPATH')])])
    return env


def test_kill_and_resume(inputs, tmp_path, capsys, cli_error_line):
    out = tmp_path / 'out'
    command = [sys.executable, '-m', 'astrodeconv.cli',
               *_args(inputs, out, '--psf-fwhm', '3pix', '--chunk-size', '1',
                      catalog='many.ecsv')]
    process = subprocess.Popen(command, env=_environment(),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (out / 'chunk_00000.fits').exists():
            assert process.poll() is None, 'the run ended before a chunk'
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        process.kill()
        process.wait()
    written = sorted(out.glob('chunk_*.fits'))
    assert 1 <= len(written) < 150
    assert not (out / 'results.ecsv').exists()
    assert main(_args(inputs, out, '--psf-fwhm', '3pix', '--chunk-size',
                      '1', catalog='many.ecsv')) == 1
    assert 'not empty' in cli_error_line()
    assert main(_args(inputs, out, '--psf-fwhm', '3pix', '--chunk-size',
                      '1', '--resume', catalog='many.ecsv')) == 0
    summary = capsys.readouterr().out
    assert summary.startswith(f'150 objects: {150 - len(written)} done, '
                              f'{len(written)} skipped')
    names = [p.name for p in out.iterdir()]
    assert not [name for name in names if is_temporary_file(name)]
    assert sorted(names) == sorted(
        [f'chunk_{i:05d}.fits' for i in range(150)] + ['results.ecsv'])
    table = Table.read(out / 'results.ecsv')
    assert list(table['status']) == ['done'] * 150
    catids = []
    for path in out.glob('chunk_*.fits'):
        with fits.open(path) as hdul:
            catids += [h.header['CATID'] for h in hdul[1:-1]]
    assert sorted(catids) == list(range(150))
