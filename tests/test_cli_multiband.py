"""Tests of ``astrodeconv multiband``, on simulated FITS files."""

import inspect
import os
import re
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import StdDevUncertainty

from astrodeconv import __version__
from astrodeconv.cli import build_parser, main
from astrodeconv.io import read_image, write_image
from astrodeconv.utils._optional_deps import HAS_GALSIM

pytestmark = pytest.mark.skipif(not HAS_GALSIM,
                                reason='galsim is required to simulate')

BAND_KEYS = ['rubin_r', 'rubin_i', 'rubin_z']

CLI_PAGE = Path(__file__).resolve().parents[1] / 'docs' / 'user_guide' / \
    'cli.rst'


@pytest.fixture(scope='module')
def sim():
    """One bright galaxy in Rubin r, i, z and Euclid VIS (x2 finer)."""
    from astrodeconv.datasets import simulate_multiband

    # bright, so that the positivity bias on the noise stays below 1%
    return simulate_multiband(1, seed=0, mag_range=(19.0, 19.5))


@pytest.fixture(scope='module')
def inputs(sim, tmp_path_factory):
    """The simulated bands as FITS files, and broken variants of them."""
    folder = tmp_path_factory.mktemp('multiband')
    bands, broad = sim.object_bands(0)
    for name, image in zip('riz', bands):
        write_image(image, folder / f'{name}.fits')
    write_image(broad, folder / 'vis.fits')
    bare = bands[0].copy()
    bare.wcs = None
    write_image(bare, folder / 'r_nowcs.fits')
    shifted = bands[1].copy()
    shifted.wcs = shifted.wcs.deepcopy()
    shifted.wcs.wcs.crpix = shifted.wcs.wcs.crpix + 1.0
    write_image(shifted, folder / 'i_shifted.fits')
    off_grid = broad.copy()
    off_grid.wcs = off_grid.wcs.deepcopy()
    off_grid.wcs.wcs.crpix = off_grid.wcs.wcs.crpix + 0.5
    write_image(off_grid, folder / 'vis_shifted.fits')
    no_psf = bands[2].copy()
    no_psf.psf = None
    write_image(no_psf, folder / 'z_nopsf.fits')
    # an uncertainty ten times the noise in the pixels
    loud = bands[0].copy()
    loud.uncertainty = StdDevUncertainty(10 * loud.uncertainty.array)
    write_image(loud, folder / 'r_loud.fits')
    (folder / 'junk.fits').write_bytes(b'this is not FITS' * 200)
    return folder


def _argv(inputs, out, *extra, files=('r.fits', 'i.fits', 'z.fits')):
    return ['multiband', *(str(inputs / name) for name in files), '--vis',
            str(inputs / 'vis.fits'), '-o', str(out), '--no-progress',
            *extra]


def test_help(capsys):
    assert main(['multiband', '--help']) == 0
    text = capsys.readouterr().out
    for option in ('--vis', '--output', '--bands', '--broad-band',
                   '--sed-weights', '--n-iter', '--constraint-fraction',
                   '--constraint-weight', '--no-acceleration',
                   '--discrepancy', '--no-discrepancy', '--tol', '--noise',
                   '--boundary', '--device', '--progress', '--no-progress',
                   '--overwrite'):
        assert re.search(rf'(^|[\s\[(,]){re.escape(option)}(?![\w-])',
                         text), option
    # listed by astrodeconv --help, right after deconvolve
    assert main(['--help']) == 0
    text = capsys.readouterr().out
    assert text.index('deconvolve') < text.index('multiband') < \
        text.index('demo')


def test_help_defaults_are_the_library_defaults(capsys):
    from astrodeconv.multiband import MultiBandDeconvolver

    assert main(['multiband', '--help']) == 0
    text = ' '.join(capsys.readouterr().out.split())
    defaults = inspect.signature(MultiBandDeconvolver).parameters
    for option, name in (('--n-iter', 'n_iter'),
                         ('--constraint-fraction', 'constraint_fraction'),
                         ('--discrepancy', 'discrepancy'), ('--tol', 'tol')):
        found = re.search(rf'{option} \S+ [^[]*?\(default: ([\d.e+-]+)',
                          text)
        assert found, option
        assert float(found[1]) == defaults[name].default, option
    for option, name in (('--noise', 'noise'), ('--boundary', 'boundary')):
        value = defaults[name].default
        assert re.search(rf"{option} {{[\w,]+}} '{value}' \(default\)",
                         text), option


def test_bands(sim, inputs, tmp_path, capsys):
    out = tmp_path / 'out.fits'
    assert main(_argv(inputs, out, '--bands', *BAND_KEYS)) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith('multiband: 3 bands onto the 64x64 grid')
    assert 'SED weights from --bands (flat f_nu)' in lines[0]
    assert 'iterations (stopped: ' in lines[0] and str(out) in lines[0]
    assert len(lines) == 4
    for line, key, weight in zip(lines[1:], BAND_KEYS, sim.sed_weights):
        assert line.strip().startswith(f'{key.upper()} (')
        assert f'SED weight {weight:.4f}' in line
        assert 'input flux' in line and 'output flux' in line
        assert line.endswith('nJy')
    assert os.listdir(tmp_path) == ['out.fits']

    bands, broad = sim.object_bands(0)
    with fits.open(out) as hdul:
        assert [hdu.name for hdu in hdul] == ['PRIMARY', 'RUBIN_R',
                                              'RUBIN_I', 'RUBIN_Z']
        primary = hdul[0].header
        assert hdul[0].data is None
    assert primary['DECONV'] == 'MultiBandDeconvolver'
    assert primary['DCNVITER'] >= 1
    assert primary['DCNVSTOP'] in ('discrepancy', 'tol', 'n_iter')
    assert primary['DCNVUPS'] == 2 and primary['DCNVNBND'] == 3
    assert primary['DCNVSEDS'] == 'bands'
    assert primary['DCNVBBND'] == 'euclid_vis'
    assert primary['DCNVVIS'] == 'vis.fits'
    assert primary['DCNVVER'] == __version__
    for i, (name, key) in enumerate(zip('riz', BAND_KEYS), start=1):
        assert primary[f'DCNVEX{i}'] == key.upper()
        assert primary[f'DCNVIN{i}'] == f'{name}.fits'
        assert primary[f'DCNVSW{i}'] == pytest.approx(sim.sed_weights[i - 1])

    fine = broad.wcs.to_header()
    for b, key in enumerate(BAND_KEYS):
        image = read_image(out, hdu=key.upper())
        assert image.shape == (64, 64)
        assert image.unit == u.nJy
        header = image.wcs.to_header()
        for card in ('CTYPE1', 'CTYPE2', 'CRVAL1', 'CRVAL2', 'CRPIX1',
                     'CRPIX2', 'CDELT1', 'CDELT2'):
            assert header[card] == pytest.approx(fine[card]), card
        assert image.meta['DECONV'] == 'MultiBandDeconvolver'
        assert image.meta['DCNVBAND'] == b
        assert image.meta['DCNVIN'] == f'{"riz"[b]}.fits'
        # the flux of the input band and of the truth is kept
        flux = image.data.sum()
        assert flux == pytest.approx(bands[b].data.sum(), rel=0.03)
        assert flux == pytest.approx(sim.truth[0, b].sum(), rel=0.01)


def test_sed_weights(sim, inputs, tmp_path, capsys):
    weights = [repr(float(w)) for w in sim.sed_weights]
    out = tmp_path / 'given.fits'
    assert main(_argv(inputs, out, '--sed-weights', *weights)) == 0
    captured = capsys.readouterr()
    assert 'SED weights from --sed-weights' in captured.out
    assert 'multi-band deconvolution' not in captured.err  # --no-progress
    with fits.open(out) as hdul:
        assert [hdu.name for hdu in hdul] == ['PRIMARY', 'R', 'I', 'Z']
        assert hdul[0].header['DCNVSEDS'] == 'given'
        assert 'DCNVBBND' not in hdul[0].header
        given = [hdul[name].data.copy() for name in 'RIZ']
    # the same weights give the same images as --bands
    reference = tmp_path / 'bands.fits'
    assert main(_argv(inputs, reference, '--bands', *BAND_KEYS)) == 0
    for data, key in zip(given, BAND_KEYS):
        np.testing.assert_allclose(data, read_image(
            reference, hdu=key.upper()).data, rtol=1e-12, atol=1e-12)


def test_overwrite(inputs, tmp_path, capsys, cli_error_line):
    out = tmp_path / 'out.fits'
    out.write_bytes(b'keep me')
    args = _argv(inputs, out, '--sed-weights', '0.46', '0.34', '0.2',
                 '--n-iter', '5')
    assert main(args) == 1
    assert '--overwrite' in cli_error_line()
    assert out.read_bytes() == b'keep me'
    assert sorted(os.listdir(tmp_path)) == ['out.fits']
    assert main([*args, '--overwrite']) == 0
    with fits.open(out) as hdul:
        assert [hdu.name for hdu in hdul] == ['PRIMARY', 'R', 'I', 'Z']
        assert hdul[0].header['DCNVITER'] <= 5
    assert sorted(os.listdir(tmp_path)) == ['out.fits']


def test_library_warnings_reach_the_user(inputs, tmp_path, capsys):
    out = tmp_path / 'out.fits'
    assert main(_argv(inputs, out, '--sed-weights', '0.46', '0.34', '0.2',
                      files=('r_loud.fits', 'i.fits', 'z.fits'))) == 0
    err = capsys.readouterr().err
    # the library's bands[0] is named as the command line names it
    pattern = (r"astrodeconv: warning: the uncertainty of '[^']*r_loud\.fits'"
               r' is [\d.]+ times larger than the noise measured.*'
               r'--noise measure')
    assert re.search(pattern, err), err
    # measured noise levels: no such warning
    assert main(_argv(inputs, out, '--sed-weights', '0.46', '0.34', '0.2',
                      '--noise', 'measure', '--overwrite',
                      files=('r_loud.fits', 'i.fits', 'z.fits'))) == 0
    assert 'times larger' not in capsys.readouterr().err


SED = ['--sed-weights', '0.46', '0.34', '0.2']


@pytest.mark.parametrize(('files', 'extra', 'status', 'match'), [
    (('r.fits', 'missing.fits', 'z.fits'), SED, 1,
     r"'missing\.fits' does not exist"),
    (('r.fits', 'junk.fits', 'z.fits'), SED, 1,
     'is not a readable FITS file'),
    (('r.fits', 'i.fits', 'z.fits'), ['--sed-weights', '0.5', '0.5'], 2,
     r'--sed-weights must give one weight per input image \(3\), got 2'),
    (('r.fits', 'i.fits', 'z.fits'), [], 2,
     'one of the arguments --bands --sed-weights is required'),
    (('r.fits', 'i.fits', 'z.fits'), [*SED, '--bands', *BAND_KEYS], 2,
     'argument --bands: not allowed with argument --sed-weights'),
    (('r.fits', 'i.fits', 'z.fits'), ['--bands', 'rubin_r', 'rubin_q',
                                      'rubin_z'], 2,
     r"Invalid band key 'rubin_q'\. Valid keys are: .*'rubin_i'"),
    (('r.fits', 'i.fits', 'z.fits'), ['--bands', *BAND_KEYS,
                                      '--broad-band', 'euclid_nisp'], 2,
     r"Invalid band key 'euclid_nisp'"),
    (('r.fits', 'i.fits', 'z.fits'), ['--bands', 'rubin_r', 'rubin_i'], 2,
     r'--bands must give one band key per input image \(3\), got 2'),
    (('r.fits', 'i.fits', 'z.fits'), ['--bands', 'rubin_g', 'rubin_g',
                                      'rubin_g'], 2,
     '--bands rubin_g rubin_g rubin_g cover .* of the flux of the broad '
     'band euclid_vis'),
    (('r.fits', 'i.fits', 'z.fits'), [*SED, '--broad-band', 'euclid_vis'],
     2, '--broad-band applies only with --bands'),
    (('r.fits', 'i.fits', 'z.fits'), ['--sed-weights', '0.5', '0.6', '-0.1'],
     2, '--sed-weights must be finite and non-negative'),
    (('r.fits', 'i.fits', 'z.fits'), ['--sed-weights', '0.2', '0.2', '0.2'],
     2, '--sed-weights must sum to 1 .*got a sum of 0.6'),
    (('r.fits', 'i.fits', 'z.fits'), [*SED, '--n-iter', '0'], 2,
     '--n-iter must be an integer >= 1, got 0'),
    (('r.fits', 'i.fits', 'z.fits'), [*SED, '--tol', '-1'], 2,
     '--tol must be >= 0'),
    (('r.fits', 'i.fits', 'z.fits'), [*SED, '--constraint-fraction', '0.5',
                                      '--constraint-weight', '1'], 2,
     'not allowed with argument --constraint-fraction'),
    (('r.fits', 'i.fits', 'z.fits'), [*SED, '--device', 'gpu'], 2,
     "--device must be 'cpu', 'auto', 'cuda'"),
    (('r_nowcs.fits', 'i.fits', 'z.fits'), SED, 1,
     r"'[^']*r_nowcs\.fits' must have a celestial WCS"),
    (('r.fits', 'i_shifted.fits', 'z.fits'), SED, 1,
     r"'[^']*i_shifted\.fits' must be on the pixel grid of '[^']*r\.fits'"
     '.*reproject'),
    (('r.fits', 'i.fits', 'z_nopsf.fits'), SED, 1,
     r"'[^']*z_nopsf\.fits' must have a PSF extension"),
])
def test_errors(inputs, tmp_path, capsys, cli_error_line, monkeypatch, files,
                extra, status, match):
    monkeypatch.chdir(inputs)
    out = tmp_path / 'out.fits'
    argv = ['multiband', *files, '--vis', 'vis.fits', '-o', str(out),
            '--no-progress', *extra]
    assert main(argv) == status
    line = cli_error_line()
    assert re.search(match, line), line
    assert os.listdir(tmp_path) == []  # no output, no temporary file


@pytest.mark.parametrize(('files', 'vis', 'match'), [
    # the broad-band pixels do not nest in the narrow-band ones
    (('r.fits', 'i.fits'), 'vis_shifted.fits',
     'the broad-band pixels must nest in the narrow-band pixels'),
    # a broad band on the narrow grid: its PSF does not fit
    (('r.fits', 'i.fits'), 'z.fits',
     r"the PSF of '[^']*r\.fits' must be sampled on the broad-band grid"),
    (('r.fits', 'i.fits'), 'r_nowcs.fits',
     r"'[^']*r_nowcs\.fits' must have a celestial WCS"),
])
def test_broad_band_errors(inputs, tmp_path, capsys, cli_error_line,
                           monkeypatch, files, vis, match):
    monkeypatch.chdir(inputs)
    out = tmp_path / 'out.fits'
    assert main(['multiband', *files, '--vis', vis, '-o', str(out),
                 '--no-progress', '--sed-weights', '0.5', '0.5']) == 1
    line = cli_error_line()
    assert re.search(match, line), line
    assert os.listdir(tmp_path) == []


def test_missing_output_directory(inputs, tmp_path, capsys, cli_error_line):
    missing = tmp_path / 'missing'
    assert main(_argv(inputs, missing / 'out.fits', *SED)) == 1
    line = cli_error_line()
    assert '-o' in line and repr(str(missing)) in line
    assert not missing.exists()


def _deconvolver(*extra):
    from astrodeconv.cli._multiband_options import deconvolver_from_args

    args = build_parser().parse_args(['multiband', 'r.fits', '--vis',
                                      'v.fits', '-o', 'o.fits',
                                      '--sed-weights', '1', *extra])
    return deconvolver_from_args(args)


def test_options_reach_the_deconvolver():
    from astrodeconv.multiband import MultiBandDeconvolver

    default, library = _deconvolver(), MultiBandDeconvolver()
    for name in ('n_iter', 'constraint_fraction', 'constraint_weight',
                 'accelerate', 'positivity', 'discrepancy', 'tol', 'noise',
                 'boundary', 'device'):
        assert getattr(default, name) == getattr(library, name), name
    assert default.progress is True
    deconvolver = _deconvolver(
        '--n-iter', '7', '--constraint-weight', '0.2', '--no-acceleration',
        '--no-discrepancy', '--tol', '0', '--noise', 'measure',
        '--boundary', 'periodic', '--no-progress')
    assert deconvolver.n_iter == 7
    assert deconvolver.constraint_weight == 0.2
    assert deconvolver.accelerate is False
    assert deconvolver.discrepancy is None
    assert deconvolver.tol == 0
    assert deconvolver.noise == 'measure'
    assert deconvolver.boundary == 'periodic'
    assert deconvolver.progress is False
    deconvolver = _deconvolver('--constraint-fraction', '0.3',
                               '--discrepancy', '1.5')
    assert deconvolver.constraint_fraction == 0.3
    assert deconvolver.discrepancy == 1.5


def test_accelerate_spellings():
    parser = build_parser()
    base = ['multiband', 'r.fits', '--vis', 'v.fits', '-o', 'o.fits',
            '--sed-weights', '1']
    assert _deconvolver('--no-accelerate').accelerate is False
    assert _deconvolver('--accelerate').accelerate is True
    # the former spelling: the same, with a deprecation note
    assert _deconvolver('--no-acceleration').accelerate is False
    args = parser.parse_args([*base, '--no-acceleration'])
    assert args.deprecated_options == [
        '--no-acceleration is deprecated and will be removed in a future '
        'version; use --no-accelerate']
    assert getattr(parser.parse_args([*base, '--no-accelerate']),
                   'deprecated_options', None) is None


def test_device_and_dtype_follow_the_library():
    from astrodeconv.multiband import MultiBandDeconvolver

    # not given: the library's defaults, whatever they are
    args = build_parser().parse_args(['multiband', 'r.fits', '--vis',
                                      'v.fits', '-o', 'o.fits',
                                      '--sed-weights', '1'])
    assert args.device is None and args.dtype is None
    library = MultiBandDeconvolver()
    default = _deconvolver()
    assert (default.device, default.dtype) == (library.device,
                                               library.dtype)


def test_extension_names_are_unique():
    from astrodeconv.cli._multiband_fits import extension_names

    args = build_parser().parse_args(
        ['multiband', 'a/obj.fits', 'b/obj.fits', 'psf.fits', 'r band.fits',
         '--vis', 'v.fits', '-o', 'o.fits', '--sed-weights', '0.25', '0.25',
         '0.25', '0.25'])
    assert extension_names(args) == ['OBJ', 'OBJ_2', 'PSF_2', 'R_BAND']


def test_noise_measure_needs_no_uncertainty(inputs, tmp_path, capsys):
    from astrodeconv.io import read_image, write_image

    for name in ('r', 'i', 'z', 'vis'):
        image = read_image(inputs / f'{name}.fits')
        image.uncertainty = None
        write_image(image, tmp_path / f'{name}.fits')
    argv = ['multiband', *(str(tmp_path / f'{b}.fits') for b in 'riz'),
            '--vis', str(tmp_path / 'vis.fits'), '--bands', 'rubin_r',
            'rubin_i', 'rubin_z', '-o', str(tmp_path / 'out.fits'),
            '--no-progress']
    assert main(argv) == 1
    assert 'UNCERT' in capsys.readouterr().err
    assert main(argv + ['--noise', 'measure', '--dtype', 'float32']) == 0
    assert (tmp_path / 'out.fits').is_file()
