"""Tests of the ``astrodeconv`` command line."""

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from astropy import units as u

from astrodeconv import __version__
from astrodeconv.cli import main
from astrodeconv.datasets import load_demo_data
from astrodeconv.io import read_image, write_image
from astrodeconv.utils._optional_deps import HAS_MATPLOTLIB


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """Demo observation written with and without PSF extension and WCS."""
    folder = tmp_path_factory.mktemp('inputs')
    demo = load_demo_data()
    observed = demo.observed
    write_image(observed, folder / 'obs.fits')
    bare = observed.copy()
    bare.psf = None
    write_image(bare, folder / 'obs_nopsf.fits')
    bare.wcs = None
    write_image(bare, folder / 'obs_nowcs.fits')
    write_image(demo.psf, folder / 'psf.fits')
    (folder / 'junk.fits').write_bytes(b'this is not FITS' * 200)
    return folder


def test_version(capsys):
    assert main(['--version']) == 0
    assert capsys.readouterr().out.strip() == f'astrodeconv {__version__}'


def test_help(capsys):
    assert main(['deconvolve', '--help']) == 0
    assert '--psf-fwhm' in capsys.readouterr().out


def test_deconvolve_psf_file(inputs, tmp_path, capsys):
    out = tmp_path / 'out.fits'
    status = main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf',
                   str(inputs / 'psf.fits'), '--upsample', '4', '--lam',
                   'auto', '-o', str(out)])
    assert status == 0
    summary = capsys.readouterr().out
    assert summary.startswith('tikhonov (lam=')
    assert 'input flux' in summary and 'output flux' in summary
    image = read_image(out)
    assert image.shape == (128, 128)
    assert image.unit == u.nJy
    assert image.uncertainty is not None
    assert image.psf is not None  # the effective PSF
    assert image.meta['DECONV'] == 'TikhonovDeconvolver'
    assert image.meta['DCNVLRUL'] == 'auto'
    scale = image.wcs.proj_plane_pixel_scales()[0].to_value(u.arcsec)
    assert scale == pytest.approx(0.05)
    original = read_image(inputs / 'obs.fits')
    assert image.data.sum() == pytest.approx(original.data.sum(), rel=1e-6)


def test_deconvolve_psf_extension(inputs, tmp_path, capsys):
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs.fits'), '--upsample', '4',
                 '-o', str(out)]) == 0
    assert read_image(out).shape == (128, 128)


def _deconvolve(inputs, tmp_path, name, *extra, source='obs_nopsf.fits'):
    """Run ``deconvolve`` on ``source``; the output read back."""
    out = tmp_path / f'{name}.fits'
    assert main(['deconvolve', str(inputs / source), '-o', str(out),
                 *extra]) == 0
    return read_image(out)


def _library(inputs, fwhm, *, source='obs_nopsf.fits', method='tikhonov',
             options=None, **psf_options):
    """What the library gives for the same PSF and method arguments."""
    from astrodeconv.deconvolution import make_deconvolver
    from astrodeconv.psf import make_psf_for_image

    image = read_image(inputs / source)
    deconvolver = make_deconvolver(method, **(options or {}))
    psf = make_psf_for_image(image, fwhm, upsample=deconvolver.upsample,
                             **psf_options)
    return deconvolver.deconvolve(image, psf=psf).image


@pytest.mark.parametrize(('extra', 'fwhm', 'psf_options'), [
    (['--psf-fwhm', '0.7arcsec'], 0.7 * u.arcsec, {}),
    (['--psf-fwhm', '0.7 arcsec', '--psf-model', 'gaussian'],
     0.7 * u.arcsec, {'model': 'gaussian'}),
    (['--psf-fwhm', '3.5pix', '--moffat-beta', '3'], 3.5 * u.pix,
     {'beta': 3.0}),
    (['--psf-fwhm', '3.5pix', '--psf-model', 'moffat'], 3.5 * u.pix,
     {'model': 'moffat'}),
])
def test_psf_options_set_the_psf(inputs, tmp_path, capsys, extra, fwhm,
                                 psf_options):
    # the result is the library's with the same PSF arguments
    image = _deconvolve(inputs, tmp_path, 'out', '--upsample', '2', *extra)
    expected = _library(inputs, fwhm, options={'upsample': 2},
                        **psf_options)
    np.testing.assert_array_equal(image.data, expected.data)
    np.testing.assert_array_equal(image.psf, expected.psf)


def test_psf_options_change_the_result(inputs, tmp_path, capsys):
    # each option makes another PSF, hence another result
    results = [_deconvolve(inputs, tmp_path, str(i), *extra).data
               for i, extra in enumerate([
                   ['--psf-fwhm', '3.5pix'],
                   ['--psf-fwhm', '3.5pix', '--psf-model', 'gaussian'],
                   ['--psf-fwhm', '3.5pix', '--moffat-beta', '3'],
                   ['--psf-fwhm', '2.5pix'],
                   ['--psf-fwhm', '0.7arcsec', '--pixel-scale', '0.1']])]
    for i in range(len(results)):
        for j in range(i):
            assert np.abs(results[i] - results[j]).max() > 1e-3 * np.abs(
                results[j]).max(), (i, j)


@pytest.mark.parametrize('spellings', [
    ['0.75"', "0.75''", '0.75arcsec', '0.75 arcsec'],
    ['3pix', '3px', '3 pix', '3.0pix'],
])
def test_psf_fwhm_spellings_give_one_psf(inputs, tmp_path, capsys,
                                         spellings):
    results = [_deconvolve(inputs, tmp_path, str(i), '--psf-fwhm', value,
                           '--psf-model', 'gaussian')
               for i, value in enumerate(spellings)]
    for value, image in zip(spellings[1:], results[1:]):
        np.testing.assert_array_equal(image.psf, results[0].psf,
                                      err_msg=value)
        np.testing.assert_array_equal(image.data, results[0].data,
                                      err_msg=value)


def _gaussian_fwhm(psf):
    """The FWHM of a centred Gaussian stamp, from its second moment."""
    ny, nx = psf.shape
    yy, xx = np.mgrid[:ny, :nx]
    total = psf.sum()
    cy, cx = (psf * yy).sum() / total, (psf * xx).sum() / total
    variance = (psf * ((yy - cy) ** 2 + (xx - cx) ** 2)).sum() / total / 2
    # less the variance of the pixel integration (1/12 on each axis)
    return np.sqrt(variance - 1 / 12) * 2 * np.sqrt(2 * np.log(2))


def test_pixel_scale_sets_the_psf_width(inputs, tmp_path, capsys):
    from astrodeconv.cli import build_parser
    from astrodeconv.cli._psf_options import analytic_psf, check_psf_options

    # the PSF the command makes has the FWHM in pixels that the scale says
    image = read_image(inputs / 'obs_nowcs.fits')
    widths = {}
    for scale in ('0.1arcsec', '0.2arcsec', '0.2'):
        args = build_parser().parse_args(
            ['deconvolve', 'in.fits', '-o', 'out.fits', '--psf-fwhm',
             '0.8arcsec', '--psf-model', 'gaussian', '--pixel-scale', scale])
        psf = analytic_psf(args, check_psf_options(args), image, 1)
        widths[scale] = _gaussian_fwhm(psf)
    assert widths['0.2arcsec'] == pytest.approx(4.0, rel=0.01)
    assert widths['0.1arcsec'] / widths['0.2arcsec'] == pytest.approx(
        2.0, rel=0.01)
    assert widths['0.2'] == widths['0.2arcsec']  # a number is in arcsec
    # and the result is the library's with that PSF
    for scale, arcsec in (('0.1arcsec', 0.1), ('0.2arcsec', 0.2)):
        result = _deconvolve(inputs, tmp_path, scale, '--psf-fwhm',
                             '0.8arcsec', '--psf-model', 'gaussian',
                             '--pixel-scale', scale,
                             source='obs_nowcs.fits')
        assert result.wcs is None
        expected = _library(inputs, 0.8 * u.arcsec, model='gaussian',
                            pixel_scale=arcsec * u.arcsec,
                            source='obs_nowcs.fits')
        np.testing.assert_array_equal(result.data, expected.data)
    # with a WCS, the default scale is the WCS's (0.2 arcsec, to rounding)
    from_wcs = _deconvolve(inputs, tmp_path, 'wcs', '--psf-fwhm',
                           '0.8arcsec', '--psf-model', 'gaussian')
    given = _deconvolve(inputs, tmp_path, 'given', '--psf-fwhm',
                        '0.8arcsec', '--psf-model', 'gaussian',
                        '--pixel-scale', '0.2arcsec')
    np.testing.assert_allclose(from_wcs.data, given.data, rtol=1e-9,
                               atol=1e-9 * np.abs(given.data).max())


def test_balance_changes_the_result(inputs, tmp_path, capsys):
    results = {}
    for balance in ('0.01', '1'):
        image = _deconvolve(inputs, tmp_path, balance, '--psf-fwhm', '3pix',
                            '--method', 'wiener', '--balance', balance)
        assert image.meta['DCNVBAL'] == float(balance)
        expected = _library(inputs, 3 * u.pix, method='wiener',
                            options={'balance': float(balance)})
        np.testing.assert_array_equal(image.data, expected.data)
        results[balance] = image.data
    # a smaller balance sharpens: a higher peak
    assert results['0.01'].max() > 1.1 * results['1'].max()


def test_deconvolve_richardson_lucy(inputs, tmp_path, capsys):
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs.fits'), '--method',
                 'richardson-lucy', '--n-iter', '5', '--upsample', '4',
                 '-o', str(out)]) == 0
    captured = capsys.readouterr()
    assert 'n_iter=5' in captured.out
    assert ('astrodeconv: warning: uncertainty cannot be propagated'
            in captured.err)
    image = read_image(out)
    assert image.uncertainty is None and image.psf is None


def test_overwrite(inputs, tmp_path, capsys, cli_error_line):
    out = tmp_path / 'out.fits'
    out.write_bytes(b'keep me')
    args = ['deconvolve', str(inputs / 'obs.fits'), '--upsample', '4', '-o',
            str(out)]
    assert main(args) == 1
    line = cli_error_line()
    # in the words of the command line, not of the Python call
    assert line.endswith('already exists; use --overwrite to replace it')
    assert 'overwrite=True' not in line
    assert out.read_bytes() == b'keep me'
    assert main([*args, '--overwrite']) == 0
    assert read_image(out).shape == (128, 128)


@pytest.mark.parametrize(('args', 'status', 'match'), [
    (['missing.fits', '--psf-fwhm', '3pix'], 1,
     "'missing.fits' does not exist"),
    (['junk.fits', '--psf-fwhm', '3pix'], 1, 'is not a readable FITS file'),
    (['obs.fits', '--psf', 'junk.fits'], 1, 'is not a readable FITS file'),
    (['obs.fits', '--psf', 'psf.fits', '--psf-fwhm', '3pix'], 2,
     '--psf and --psf-fwhm must not be combined'),
    (['obs_nopsf.fits'], 2, 'a PSF is required'),
    (['obs_nowcs.fits', '--psf-fwhm', '0.7arcsec'], 2,
     'pixel scale is unknown.*--pixel-scale'),
    (['obs.fits', '--psf-fwhm', '0.7m'], 2, '--psf-fwhm must be an angle'),
    (['obs.fits', '--psf-fwhm', 'wide'], 2, '--psf-fwhm must be a number'),
    (['obs.fits', '--psf-fwhm', '-2'], 2, '--psf-fwhm must be a positive'),
    (['obs.fits', '--psf-fwhm', '-0.8arcsec'], 2,
     "--psf-fwhm must be a positive number, got '-0.8arcsec'"),
    (['obs.fits', '--psf-fwhm', '0.8arcsec', '--pixel-scale', '-0.2arcsec'],
     2, "--pixel-scale must be a positive number, got '-0.2arcsec'"),
    (['obs.fits', '--psf-fwhm', '0.8arcsec', '--pixel-scale', '2m'], 2,
     '--pixel-scale must be an angle'),
    (['obs.fits', '--pixel-scale', '0.2'], 2,
     '--pixel-scale applies only with --psf-fwhm'),
    (['obs.fits', '--lam', 'foo'], 2,
     "--lam must be a positive number or one of 'auto'"),
    (['obs.fits', '--lam', '-1'], 2, '^astrodeconv: error: --lam must be > '
     '0, got -1.0$'),
    (['obs.fits', '--lam', '-1e-3'], 2, '--lam must be > 0, got -0.001'),
    (['obs.fits', '--upsample', '0'], 2,
     '--upsample must be an integer >= 1, got 0'),
    (['obs.fits', '--boundary', 'wrap'], 2, '--boundary must be one of'),
    (['obs.fits', '--upsample', 'two'], 2, "invalid int value: 'two'"),
    (['obs.fits', '--n-iter', '5'], 2,
     '--n-iter applies only to --method richardson-lucy, pnp, got --method '
     'tikhonov'),
    (['obs.fits', '--method', 'wiener', '--lam', '1'], 2,
     '--lam applies only to --method tikhonov, learned, pnp, unrolled, '
     'default, got '
     '--method wiener'),
    (['obs.fits', '--method', 'magic'], 2, 'invalid choice'),
    (['obs.fits', '--psf-fwhm', '3pix', '--psf-model', 'gaussian',
      '--moffat-beta', '3'], 2, '--moffat-beta applies only'),
    (['obs.fits'], 2, 'required: -o/--output'),
])
def test_deconvolve_errors(inputs, tmp_path, capsys, cli_error_line,
                           monkeypatch, args, status, match):
    monkeypatch.chdir(inputs)
    if '-o' not in args and args != ['obs.fits']:
        args = [*args, '-o', str(tmp_path / 'out.fits')]
    assert main(['deconvolve', *args]) == status
    line = cli_error_line()
    assert re.search(match, line), line
    assert not (tmp_path / 'out.fits').exists()


def test_usage_errors(capsys, cli_error_line):
    assert main([]) == 2
    assert 'COMMAND' in cli_error_line()
    assert main(['frobnicate']) == 2
    assert 'invalid choice' in cli_error_line()


def test_demo(tmp_path, capsys):
    folder = tmp_path / 'demo'
    assert main(['demo', '-o', str(folder)]) == 0
    out = capsys.readouterr().out
    for text in ('LearnedDeconvolver', 'NMSE vs truth', 'SSIM vs truth',
                 'flux ratio', 'baseline'):
        assert text in out
    for metric in ('NMSE', 'SSIM'):
        found = re.search(metric + r' vs truth: deconvolved ([\d.]+), '
                          r'upsampled observation \(baseline\) ([\d.]+)',
                          out)
        # the shipped model beats the upsampled observation on both
        better = (float(found[1]) < float(found[2]) if metric == 'NMSE'
                  else float(found[1]) > float(found[2]))
        assert better, out
    fits_path = folder / 'demo_deconvolved.fits'
    png_path = folder / 'demo_panel.png'
    if HAS_MATPLOTLIB:
        assert png_path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    image = read_image(fits_path)
    assert image.shape == (128, 128)
    assert image.meta['DCNVWGT'] == 'unet16-sim-v2'
    assert image.uncertainty is not None
    assert np.all(image.uncertainty.array > 0)

    # the demo is rerunnable (the README's first command): it replaces
    # its own outputs and says so; --overwrite is still accepted
    fits_path.write_bytes(b'stale')
    assert main(['demo', '-o', str(folder)]) == 0
    out = capsys.readouterr().out
    assert 'replaced the existing' in out and str(fits_path) in out
    assert read_image(fits_path).shape == (128, 128)
    assert main(['demo', '-o', str(folder), '--overwrite']) == 0


def test_demo_tikhonov(tmp_path, capsys):
    assert main(['demo', '-o', str(tmp_path), '--method', 'tikhonov']) == 0
    assert 'TikhonovDeconvolver' in capsys.readouterr().out
    image = read_image(tmp_path / 'demo_deconvolved.fits')
    assert image.meta['DCNVLRUL'] == 'auto'


def test_demo_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    assert main(['demo', '-o', str(tmp_path), '--method', 'wiener']) == 0
    captured = capsys.readouterr()
    assert 'matplotlib is not installed' in captured.err
    assert 'WienerDeconvolver' in captured.out
    assert sorted(os.listdir(tmp_path)) == ['demo_deconvolved.fits']


def test_simulate_missing_directory_fails_first(tmp_path, capsys,
                                                cli_error_line, monkeypatch):
    import astrodeconv.training as training

    def never(*args, **kwargs):
        raise AssertionError('the simulation must not start')

    monkeypatch.setattr(training, 'make_training_set', never)
    missing = tmp_path / 'missing'
    assert main(['simulate', '-n', '10', '-o',
                 str(missing / 'train.h5')]) == 1
    line = cli_error_line()
    assert '-o' in line and repr(str(missing)) in line
    assert not missing.exists()


def test_demo_output_is_a_file(tmp_path, capsys, cli_error_line):
    target = tmp_path / 'file'
    target.write_text('x')
    assert main(['demo', '-o', str(target)]) == 1
    assert 'must be a directory' in cli_error_line()


def test_demo_subprocess(tmp_path):
    env = dict(os.environ, MPLBACKEND='agg')
    proc = subprocess.run(
        [sys.executable, '-m', 'astrodeconv.cli', 'demo', '-o',
         str(tmp_path)], capture_output=True, text=True, env=env,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'NMSE' in proc.stdout
    assert (tmp_path / 'demo_deconvolved.fits').exists()
    assert (tmp_path / 'demo_panel.png').exists() == HAS_MATPLOTLIB
    proc = subprocess.run(
        [sys.executable, '-m', 'astrodeconv.cli', 'deconvolve',
         str(tmp_path / 'missing.fits'), '--psf-fwhm', '3pix', '-o',
         str(tmp_path / 'out.fits')], capture_output=True, text=True,
        env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith('astrodeconv: error: ')
    assert 'Traceback' not in proc.stderr
    assert np.isfinite(read_image(tmp_path / 'demo_deconvolved.fits')
                       .data).all()


# -- the PSF options (issue 10) ---------------------------------------------

@pytest.mark.parametrize('value', ['0.75', '3', '1e6'])
def test_psf_fwhm_needs_a_unit(inputs, tmp_path, capsys, cli_error_line,
                               value):
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf-fwhm',
                 value, '-o', str(out)]) == 2
    line = cli_error_line()
    assert '--psf-fwhm must have a unit' in line, line
    assert 'arcsec' in line and 'pix' in line, line
    assert not out.exists()


def test_psf_fwhm_wider_than_the_image(inputs, tmp_path, capsys,
                                       cli_error_line):
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf-fwhm',
                 '1e6pix', '-o', str(out)]) == 2
    line = cli_error_line()
    assert '--psf-fwhm must be smaller than the image' in line, line
    assert not out.exists()


def _psf_file(folder, name, data, **header):
    from astropy.io import fits

    path = folder / name
    hdu = fits.PrimaryHDU(data)
    for key, value in header.items():
        hdu.header[key] = value
    hdu.writeto(path, overwrite=True)
    return path


def test_psf_file_with_pixel_scale_is_resampled(inputs, tmp_path, capsys):
    from astrodeconv.psf import make_moffat_psf, resample_psf

    # the input has 0.2 arcsec pixels; a 0.05 arcsec PSF without
    # --upsample is brought onto the 0.2 arcsec output grid
    fine = make_moffat_psf(0.7 * u.arcsec, pixel_scale=0.05 * u.arcsec,
                           shape=45)
    path = _psf_file(tmp_path, 'psf_fine.fits', fine, PIXSCALE=0.05)
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf',
                 str(path), '-o', str(out)]) == 0
    err = capsys.readouterr().err
    assert 'resampled' in err and '0.05 arcsec' in err and '0.2 arcsec' in err
    # the same as giving the resampled PSF
    coarse = resample_psf(fine, 0.25)
    reference = tmp_path / 'ref.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf',
                 str(_psf_file(tmp_path, 'psf_coarse.fits', coarse)), '-o',
                 str(reference)]) == 0
    np.testing.assert_allclose(read_image(out).data,
                               read_image(reference).data, atol=1e-10)
    # a CD matrix in degrees says the same
    path = _psf_file(tmp_path, 'psf_cd.fits', fine, CD1_1=-0.05 / 3600,
                     CD2_2=0.05 / 3600, CD1_2=0.0, CD2_1=0.0)
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf',
                 str(path), '-o', str(out), '--overwrite']) == 0
    assert 'resampled' in capsys.readouterr().err


def test_psf_file_on_the_output_grid_is_used_as_is(inputs, tmp_path,
                                                   capsys):
    from astrodeconv.psf import make_moffat_psf

    fine = make_moffat_psf(0.7 * u.arcsec, pixel_scale=0.05 * u.arcsec,
                           shape=45)
    path = _psf_file(tmp_path, 'psf_fine.fits', fine, PIXSCALE=0.05)
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf',
                 str(path), '--upsample', '4', '-o', str(out)]) == 0
    assert 'warning' not in capsys.readouterr().err
    assert read_image(out).shape == (128, 128)


def test_psf_file_that_cannot_be_resampled(inputs, tmp_path, capsys,
                                           cli_error_line):
    from astrodeconv.psf import make_gaussian_psf

    # 0.01 arcsec pixels, 5 of them: 0.25 of an output pixel
    path = _psf_file(tmp_path, 'tiny.fits', make_gaussian_psf(2.0, shape=5),
                     PIXSCALE=0.01)
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf',
                 str(path), '-o', str(out)]) == 1
    line = cli_error_line()
    assert '0.01 arcsec' in line and '0.2 arcsec' in line, line
    assert 'smaller than 3 pixels' in line, line


# -- the PSF centre (issue 18) ------------------------------------------------

def _shifted_psf_file(folder):
    """An even-sized PSF, its peak at pixel (n - 1) // 2 (scipy's centre)."""
    from astrodeconv.psf import make_gaussian_psf

    psf = make_gaussian_psf(3.0, shape=(15, 15))
    even = np.zeros((16, 16))
    even[:15, :15] = psf
    return _psf_file(folder, 'even.fits', even), even


@pytest.mark.parametrize('center', ['scipy', 'photutils', '7,7'])
def test_psf_center_reaches_the_deconvolver(inputs, tmp_path, capsys,
                                            center):
    from astrodeconv.deconvolution import make_deconvolver

    path, even = _shifted_psf_file(tmp_path)
    image = _deconvolve(inputs, tmp_path, 'out', '--psf', str(path),
                        '--psf-center', center)
    given = tuple(float(v) for v in center.split(',')) if ',' in center \
        else center
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the command reports them
        expected = make_deconvolver('tikhonov').deconvolve(
            read_image(inputs / 'obs_nopsf.fits'), psf=even,
            psf_center=given).image
    np.testing.assert_array_equal(image.data, expected.data)
    # the package's convention (n // 2) reads the same array otherwise
    default = _deconvolve(inputs, tmp_path, 'default', '--psf', str(path))
    assert not np.allclose(default.data, image.data)


def test_recenter_option(inputs, tmp_path, capsys):
    from astrodeconv.deconvolution import make_deconvolver
    from astrodeconv.psf import make_gaussian_psf

    # a PSF two pixels off its centre: used as given unless --recenter
    off = np.roll(make_gaussian_psf(3.0, shape=(21, 21)), 2, axis=1)
    path = _psf_file(tmp_path, 'off.fits', off)
    observed = read_image(inputs / 'obs_nopsf.fits')
    results = {}
    for flag, recenter in (('--recenter', True), ('--no-recenter', False)):
        results[flag] = _deconvolve(inputs, tmp_path, flag, '--psf',
                                    str(path), flag)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the command reports them
            expected = make_deconvolver('tikhonov', recenter=recenter) \
                .deconvolve(observed.copy(), psf=off).image
        np.testing.assert_array_equal(results[flag].data, expected.data)
    assert not np.allclose(results['--recenter'].data,
                           results['--no-recenter'].data)


@pytest.mark.parametrize(('extra', 'match'), [
    (['--psf-fwhm', '3pix', '--psf-center', 'scipy'],
     '--psf-center applies only to a PSF image'),
    (['--psf', 'psf.fits', '--psf-center', 'numpy'],
     "--psf-center must be one of 'astrodeconv', 'scipy', 'photutils' or "
     "a position Y,X"),
    (['--psf', 'psf.fits', '--psf-center', '1,2,3'],
     '--psf-center must be one of'),
])
def test_psf_center_errors(inputs, tmp_path, capsys, cli_error_line,
                           monkeypatch, extra, match):
    monkeypatch.chdir(inputs)
    assert main(['deconvolve', 'obs_nopsf.fits', '-o',
                 str(tmp_path / 'out.fits'), *extra]) == 2
    assert match in cli_error_line()
