"""Tests of ``astrodeconv mosaic``."""

import re

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astrodeconv.cli import main
from astrodeconv.psf import make_gaussian_psf


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """A 256 x 256 mosaic with a TAN WCS, one without WCS, and a PSF."""
    folder = tmp_path_factory.mktemp('mosaic_inputs')
    rng = np.random.default_rng(5)
    data = rng.normal(0, 1, (256, 256))
    data[100:110, 60:70] += 50
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [128, 128]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    header = wcs.to_header()
    header['BUNIT'] = 'nJy'
    fits.writeto(folder / 'mosaic.fits', data.astype('>f4'), header)
    fits.writeto(folder / 'nowcs.fits', data.astype('>f4'))
    fits.writeto(folder / 'psf.fits', make_gaussian_psf(3.0, shape=(15, 15)))
    (folder / 'junk.fits').write_bytes(b'this is not FITS' * 200)
    return folder


def test_help(capsys):
    assert main(['mosaic', '--help']) == 0
    out = capsys.readouterr().out
    for option in ('--tile', '--overlap', '--workers', '--scheduler',
                   '--no-progress'):
        assert option in out


@pytest.mark.parametrize('psf_args', [['--psf', 'psf.fits'],
                                      ['--psf-fwhm', '0.6arcsec'],
                                      ['--psf-fwhm', '3pix']])
def test_mosaic(inputs, tmp_path, capsys, monkeypatch, psf_args):
    monkeypatch.chdir(inputs)
    out = tmp_path / 'out.fits'
    status = main(['mosaic', 'mosaic.fits', *psf_args, '--method',
                   'tikhonov', '--lam', '0.01', '-o', str(out), '--tile',
                   '128', '--overlap', '40', '--workers', '0',
                   '--no-progress'])
    assert status == 0
    printed = capsys.readouterr()
    assert printed.err == ''
    assert re.search(r'tikhonov: 4 tiles of at most 128 px \(overlap 40 '
                     r'px\) in .* s.*input flux .*, output flux .* -> ',
                     printed.out)
    with fits.open(out) as hdul:
        header = hdul[0].header
        assert hdul[0].data.shape == (256, 256)
    with fits.open(inputs / 'mosaic.fits') as hdul:
        assert (WCS(header).to_header()
                == WCS(hdul[0].header).to_header())
        flux = hdul[0].data.astype(float).sum()
    assert np.isclose(fits.getdata(out).sum(), flux, rtol=1e-9)
    assert header['BUNIT'] == 'nJy'
    assert '"lam": 0.01' in header['DCNVOPTS']


def test_progress(inputs, tmp_path, capsys):
    assert main(['mosaic', str(inputs / 'mosaic.fits'), '--psf-fwhm', '3pix',
                 '-o', str(tmp_path / 'out.fits'), '--tile', '128',
                 '--workers', '0']) == 0
    assert '4/4 tiles' in capsys.readouterr().err


def test_overwrite(inputs, tmp_path, capsys, cli_error_line):
    out = tmp_path / 'out.fits'
    out.write_bytes(b'keep me')
    args = ['mosaic', str(inputs / 'mosaic.fits'), '--psf-fwhm', '3pix',
            '-o', str(out), '--tile', '128', '--workers', '0',
            '--no-progress']
    assert main(args) == 1
    assert 'already exists' in cli_error_line()
    assert out.read_bytes() == b'keep me'
    assert main([*args, '--overwrite']) == 0
    assert fits.getdata(out).shape == (256, 256)


@pytest.mark.parametrize(('args', 'status', 'match'), [
    (['missing.fits', '--psf-fwhm', '3pix'], 1,
     "input 'missing.fits' must be an existing FITS file"),
    (['junk.fits', '--psf', 'psf.fits'], 1, ''),
    (['mosaic.fits'], 2, 'a PSF is required'),
    (['mosaic.fits', '--psf', 'psf.fits', '--psf-fwhm', '3pix'], 2,
     '--psf and --psf-fwhm must not be combined'),
    (['nowcs.fits', '--psf-fwhm', '0.7arcsec'], 2,
     'pixel scale is unknown'),
    (['mosaic.fits', '--psf-fwhm', '3pix', '--tile', '40', '--overlap',
      '50'], 2, '--tile must be larger than --overlap, got --tile 40'),
    (['mosaic.fits', '--psf-fwhm', '3pix', '--tile', 'big'], 2,
     "invalid int value: 'big'"),
    (['mosaic.fits', '--psf-fwhm', '3pix', '--workers', '2',
      '--scheduler', 'tcp://localhost:1'], 2, 'not allowed with argument'),
    (['mosaic.fits', '--psf-fwhm', '3pix', '--workers', '-1'], 2,
     '--workers must be at least 0'),
    (['mosaic.fits', '--psf-fwhm', '3pix', '--n-iter', '5'], 2,
     '--n-iter applies only to --method richardson-lucy, pnp, got --method '
     'tikhonov'),
    (['mosaic.fits', '--psf-fwhm', '3pix', '--lam', 'foo'], 2,
     "--lam must be a positive number or one of 'auto'"),
    (['mosaic.fits', '--psf-fwhm', '3pix', '--lam', '-1'], 2,
     '--lam must be > 0'),
    (['mosaic.fits', '--psf-fwhm', '-3pix'], 2,
     '--psf-fwhm must be a positive number'),
    (['mosaic.fits', '--psf-fwhm', '3pix', '--method', 'magic'], 2,
     'invalid choice'),
])
def test_errors(inputs, tmp_path, capsys, cli_error_line, monkeypatch, args,
                status, match):
    monkeypatch.chdir(inputs)
    out = tmp_path / 'out.fits'
    assert main(['mosaic', *args, '-o', str(out), '--workers', '0',
                 '--no-progress'] if '--workers' not in args and (
                     '--scheduler' not in args) else
                ['mosaic', *args, '-o', str(out), '--no-progress']) == status
    line = cli_error_line()
    assert re.search(match, line), line
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
