"""Tests of the ``astrodeconv`` command line."""

import os
import re
import subprocess
import sys

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


@pytest.mark.parametrize('extra', [
    ['--psf-fwhm', '0.7arcsec'],
    ['--psf-fwhm', '0.7 arcsec', '--psf-model', 'gaussian'],
    ['--psf-fwhm', '3.5pix', '--moffat-beta', '3'],
    ['--psf-fwhm', '3.5 pix', '--method', 'wiener', '--balance', '0.01'],
])
def test_deconvolve_analytic_psf(inputs, tmp_path, capsys, extra):
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--upsample',
                 '2', '-o', str(out), *extra]) == 0
    image = read_image(out)
    assert image.shape == (64, 64)
    # PSF made on the fine grid: ~6 FWHM, odd
    assert image.psf.shape[0] % 2 == 1


def test_deconvolve_pixel_scale_without_wcs(inputs, tmp_path, capsys):
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nowcs.fits'), '--psf-fwhm',
                 '0.7arcsec', '--pixel-scale', '0.2arcsec', '-o',
                 str(out)]) == 0
    assert read_image(out).wcs is None


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
    assert '--overwrite' in cli_error_line()
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
    (['obs.fits', '--pixel-scale', '0.2'], 2,
     '--pixel-scale applies only with --psf-fwhm'),
    (['obs.fits', '--lam', 'foo'], 2,
     "--lam must be a positive number or one of 'auto'"),
    (['obs.fits', '--lam', '-1'], 2, 'lam must be > 0, got -1.0'),
    (['obs.fits', '--upsample', '0'], 2,
     'upsample must be an integer >= 1, got 0'),
    (['obs.fits', '--upsample', 'two'], 2, "invalid int value: 'two'"),
    (['obs.fits', '--n-iter', '5'], 2,
     '--n-iter applies only to --method richardson-lucy'),
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


@pytest.mark.parametrize('value', ['0.75"', "0.75''", '0.75arcsec',
                                   '0.75 arcsec', '3pix', '3px'])
def test_psf_fwhm_units_parse(inputs, tmp_path, capsys, value):
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf-fwhm',
                 value, '-o', str(out)]) == 0, capsys.readouterr().err
    assert read_image(out).shape == (32, 32)


def test_psf_fwhm_wider_than_the_image(inputs, tmp_path, capsys,
                                       cli_error_line):
    out = tmp_path / 'out.fits'
    assert main(['deconvolve', str(inputs / 'obs_nopsf.fits'), '--psf-fwhm',
                 '1e6pix', '-o', str(out)]) == 2
    line = cli_error_line()
    assert 'fwhm must be smaller than the image' in line, line
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


def test_learned_debias_and_noise_samples_options():
    from astrodeconv.cli import build_parser
    from astrodeconv.cli.deconvolve import _deconvolver_from_args
    from astrodeconv.deconvolution import LearnedDeconvolver

    parser = build_parser()

    def build(*extra):
        args = parser.parse_args(['deconvolve', 'in.fits', '-o', 'out.fits',
                                  '--method', 'learned', *extra])
        return _deconvolver_from_args(args)

    # the command line follows the library default
    assert build().debias == LearnedDeconvolver().debias
    assert build().n_noise_samples == 0
    assert build('--debias').debias is True
    assert build('--no-debias').debias is False
    assert build('--noise-samples', '4').n_noise_samples == 4


@pytest.mark.parametrize(('extra', 'match'), [
    (['--debias'], '--debias/--no-debias applies only to --method learned'),
    (['--no-debias'],
     '--debias/--no-debias applies only to --method learned'),
    (['--noise-samples', '3'],
     '--noise-samples applies only to --method learned'),
])
def test_learned_options_with_other_methods(inputs, tmp_path, capsys,
                                            cli_error_line, extra, match):
    assert main(['deconvolve', str(inputs / 'obs.fits'), '-o',
                 str(tmp_path / 'out.fits'), *extra]) == 2
    assert match in cli_error_line()


def test_noise_samples_must_be_valid(inputs, tmp_path, capsys, cli_error_line):
    assert main(['deconvolve', str(inputs / 'obs.fits'), '-o',
                 str(tmp_path / 'out.fits'), '--method', 'learned',
                 '--noise-samples', '-1']) == 2
    assert 'n_noise_samples must be' in cli_error_line()
