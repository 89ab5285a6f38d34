"""
The option groups shared by ``deconvolve``, ``batch`` and ``mosaic``.

Which method options apply to which method is read from the deconvolvers'
signatures; old spellings still work with a deprecation note; the
library's messages are shown in the words of the command line; a bad
value exits with status 2 in every command.
"""

import inspect
import re

import numpy as np
import pytest
from astropy.io import fits

from astrodeconv import deconvolution
from astrodeconv.cli import build_parser, main
from astrodeconv.cli._common import cli_words
from astrodeconv.cli._options import METHOD_OPTIONS, method_names
from astrodeconv.datasets import load_demo_data
from astrodeconv.io import write_image
from astrodeconv.psf import make_gaussian_psf

#: A value of each method option, for the commands below.
VALUES = {'lam': '0.01', 'denoiser': 'default', 'debias': None,
          'n_noise_samples': '2', 'balance': '0.1', 'n_iter': '3',
          'upsample': '2', 'boundary': 'reflect', 'recenter': None}

#: The method options each command offers.
OFFERED = {'deconvolve': ('lam', 'denoiser', 'debias', 'n_noise_samples',
                          'balance', 'n_iter', 'upsample', 'boundary',
                          'recenter'),
           'batch': ('lam', 'denoiser', 'balance', 'n_iter', 'boundary',
                     'recenter'),
           'mosaic': ('lam', 'denoiser', 'balance', 'n_iter', 'boundary',
                      'recenter')}


def _takes(method, parameter):
    """Whether the class of ``method`` takes the keyword ``parameter``."""
    name = (deconvolution.DEFAULT_METHOD['method'] if method == 'default'
            else method)
    cls = getattr(deconvolution,
                  deconvolution.factory.DECONVOLUTION_METHODS[name])
    return parameter in inspect.signature(cls).parameters


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The demo observation (with its PSF), a mosaic and a catalogue."""
    from astropy.table import Table

    folder = tmp_path_factory.mktemp('options')
    write_image(load_demo_data().observed, folder / 'obs.fits')
    rng = np.random.default_rng(0)
    fits.writeto(folder / 'mosaic.fits', rng.normal(0, 1, (64, 64)))
    fits.writeto(folder / 'psf.fits', make_gaussian_psf(2.0, shape=(9, 9)))
    Table({'x': [20.0, 40.0], 'y': [30.0, 30.0]}).write(folder / 'cat.ecsv')
    return folder


def _argv(command, files, out, *extra):
    """A complete command line of ``command`` on the files above."""
    if command == 'deconvolve':
        return ['deconvolve', str(files / 'obs.fits'), '-o', str(out),
                *extra]
    if command == 'batch':
        return ['batch', str(files / 'mosaic.fits'), '--catalog',
                str(files / 'cat.ecsv'), '-o', str(out), '--workers', '0',
                '--no-progress', '--size', '16', *extra]
    return ['mosaic', str(files / 'mosaic.fits'), '-o', str(out),
            '--workers', '0', '--no-progress', '--tile', '32', *extra]


def _option_words(parameter):
    option = METHOD_OPTIONS[parameter]
    value = VALUES[parameter]
    return [option.flag] if value is None else [option.flag, value]


_MISAPPLIED = [(command, parameter, method)
               for command, offered in OFFERED.items()
               for parameter in offered for method in method_names()
               if not _takes(method, parameter)]


def test_misapplied_cases_cover_every_option():
    """Every option but those of all methods is refused for some."""
    for command, offered in OFFERED.items():
        refused = {p for c, p, _ in _MISAPPLIED if c == command}
        everywhere = {p for p in offered
                      if all(_takes(m, p) for m in method_names())}
        assert everywhere == {'upsample', 'recenter'} & set(offered)
        assert refused == set(offered) - everywhere, command


@pytest.mark.parametrize(('command', 'parameter', 'method'), _MISAPPLIED)
def test_misapplied_option_is_refused(files, tmp_path, capsys,
                                      cli_error_line, command, parameter,
                                      method):
    out = tmp_path / 'out'
    extra = ['--method', method, *_option_words(parameter)]
    if command != 'deconvolve':
        extra += ['--psf', str(files / 'psf.fits')]
    assert main(_argv(command, files, out, *extra)) == 2
    accepting = [m for m in method_names() if _takes(m, parameter)]
    label = METHOD_OPTIONS[parameter].label
    assert cli_error_line() == (
        f'astrodeconv: error: {label} applies only to --method '
        f'{", ".join(accepting)}, got --method {method}')
    assert not out.exists()


@pytest.mark.parametrize('command', sorted(OFFERED))
def test_help_names_the_methods_of_each_option(capsys, command):
    assert main([command, '--help']) == 0
    text = ' '.join(capsys.readouterr().out.split())
    for parameter in OFFERED[command]:
        accepting = [m for m in method_names() if _takes(m, parameter)]
        which = ('all methods' if accepting == list(method_names())
                 else ', '.join(accepting))
        option = METHOD_OPTIONS[parameter].flag
        assert re.search(rf'{option}[ ,][^:]*? {re.escape(which)}:', text), \
            (option, which)


class _WienerWithIterations(deconvolution.WienerDeconvolver):
    """A Wiener deconvolver that gained a keyword, ``n_iter=4``."""

    calls = []

    def __init__(self, *, n_iter=4, **kwargs):
        super().__init__(**kwargs)
        self.n_iter = n_iter
        self.calls.append(n_iter)


# its signature: WienerDeconvolver's keywords and n_iter
_BASE = inspect.signature(deconvolution.WienerDeconvolver.__init__)
_WienerWithIterations.__init__.__signature__ = _BASE.replace(parameters=[
    *_BASE.parameters.values(),
    inspect.Parameter('n_iter', inspect.Parameter.KEYWORD_ONLY, default=4)])


def test_options_follow_the_signatures(files, tmp_path, capsys,
                                       monkeypatch, cli_error_line):
    argv = _argv('deconvolve', files, tmp_path / 'out.fits', '--method',
                 'wiener', '--n-iter', '7', '--psf-fwhm', '3pix')
    # today WienerDeconvolver takes no n_iter: refused
    assert main(argv) == 2
    assert '--n-iter applies only to --method richardson-lucy, pnp,' in \
        cli_error_line()
    # a deconvolver that gains the keyword gets the option, in the help
    # and in the checks, with its default
    monkeypatch.setattr(deconvolution, 'WienerDeconvolver',
                        _WienerWithIterations)
    monkeypatch.setattr(deconvolution.wiener, 'WienerDeconvolver',
                        _WienerWithIterations)
    assert main(['deconvolve', '--help']) == 0
    text = ' '.join(capsys.readouterr().out.split())
    assert re.search(r'--n-iter N wiener, richardson-lucy, pnp: .*\(default: '
                     r'4 for wiener, 30 for richardson-lucy, 8 for pnp\)',
                     text)
    _WienerWithIterations.calls.clear()
    assert main(argv) == 0, capsys.readouterr().err
    assert _WienerWithIterations.calls == [7]
    # the options of the class before still apply
    assert main([*argv, '--balance', '0.5', '--overwrite']) == 0
    assert _WienerWithIterations.calls == [7, 7]


def test_help_defaults_are_the_signature_defaults(capsys):
    assert main(['deconvolve', '--help']) == 0
    text = ' '.join(capsys.readouterr().out.split())
    rl = inspect.signature(deconvolution.RichardsonLucyDeconvolver)
    pnp = inspect.signature(deconvolution.PnPDeconvolver)
    assert (f"(default: {rl.parameters['n_iter'].default} for "
            f"richardson-lucy, {pnp.parameters['n_iter'].default} for pnp)"
            in text)
    learned = inspect.signature(deconvolution.LearnedDeconvolver)
    unrolled = inspect.signature(deconvolution.UnrolledDeconvolver)
    assert (f"(default: {learned.parameters['denoiser'].default} for "
            f"learned, {pnp.parameters['denoiser'].default} for pnp, "
            f"{unrolled.parameters['denoiser'].default} for unrolled, "
            f"{deconvolution.DEFAULT_METHOD['weights']} for default)"
            in text)


@pytest.mark.parametrize(('old', 'new', 'parameter', 'value'), [
    ('--weights', '--denoiser', 'denoiser', 'unet16-sim-v1'),
    ('--noise-samples', '--n-noise-samples', 'n_noise_samples', 3),
])
def test_deprecated_spellings_still_work(old, new, parameter, value):
    parser = build_parser()
    base = ['deconvolve', 'in.fits', '-o', 'out.fits', '--method', 'learned']
    old_args = parser.parse_args([*base, old, str(value)])
    new_args = parser.parse_args([*base, new, str(value)])
    assert getattr(old_args, parameter) == getattr(new_args, parameter) \
        == value
    assert old_args.deprecated_options == [
        f'{old} is deprecated and will be removed in a future version; '
        f'use {new}']
    assert getattr(new_args, 'deprecated_options', None) is None


def test_deprecated_spelling_prints_a_note(files, tmp_path, capsys,
                                           cli_error_line):
    # an unknown network: refused before any work, after the note
    assert main(_argv('deconvolve', files, tmp_path / 'out.fits',
                      '--method', 'learned', '--weights', 'nope')) == 2
    err = capsys.readouterr().err
    assert ('astrodeconv: warning: --weights is deprecated and will be '
            'removed in a future version; use --denoiser') in err
    assert "astrodeconv: error: unknown weights 'nope'" in err


def test_denoiser_reaches_the_deconvolver():
    from astrodeconv.cli.deconvolve import _deconvolver_from_args

    parser = build_parser()

    def build(*extra):
        args = parser.parse_args(['deconvolve', 'in.fits', '-o', 'out.fits',
                                  '--method', 'learned', *extra])
        return _deconvolver_from_args(args)

    library = deconvolution.LearnedDeconvolver()
    default = build()
    assert default.debias == library.debias
    assert default.n_noise_samples == library.n_noise_samples
    assert default.denoiser_name == library.denoiser_name
    assert build('--no-debias').debias is False
    assert build('--n-noise-samples', '4').n_noise_samples == 4
    assert build('--denoiser', 'unet16-sim-v1').denoiser_name == \
        'unet16-sim-v1'


# -- exit status 2 for a bad value, in every command -------------------------

_BAD_VALUES = [
    (['--psf-fwhm', '-0.8arcsec'],
     "--psf-fwhm must be a positive number, got '-0.8arcsec'"),
    (['--psf-fwhm', '-2pix'], "--psf-fwhm must be a positive number"),
    (['--psf-fwhm', 'wide'], '--psf-fwhm must be a number'),
    (['--psf-fwhm', '3pix', '--method', 'magic'], "invalid choice: 'magic'"),
    (['--psf-fwhm', '3pix', '--n-iter', 'many', '--method',
      'richardson-lucy'], "invalid int value: 'many'"),
    (['--psf-fwhm', '3pix', '--lam', '-0.5'], '--lam must be > 0'),
    (['--psf-fwhm', '3pix', '--lam', 'big'], '--lam must be a positive'),
    (['--psf-fwhm', '3pix', '--balance', '-1', '--method', 'wiener'],
     '--balance must be'),
    (['--psf-fwhm', '3pix', '--boundary', 'wrap'],
     '--boundary must be one of'),
    (['--psf-fwhm', '3pix', '--psf-model', 'airy'],
     "invalid choice: 'airy'"),
    (['--psf-fwhm', '3pix', '--psf-model', 'gaussian', '--moffat-beta',
      '3'], '--moffat-beta applies only to --psf-model moffat'),
    (['--psf', 'psf.fits', '--psf-fwhm', '3pix'], 'must not be combined'),
]


@pytest.mark.parametrize('command', sorted(OFFERED))
@pytest.mark.parametrize(('extra', 'match'), _BAD_VALUES)
def test_bad_value_exits_2(files, tmp_path, capsys, cli_error_line,
                           monkeypatch, command, extra, match):
    monkeypatch.chdir(files)
    out = tmp_path / 'out'
    assert main(_argv(command, files, out, *extra)) == 2
    line = cli_error_line()
    assert match in line, line
    assert not out.exists()


@pytest.mark.parametrize(('command', 'extra', 'match'), [
    ('batch', ['--workers', '-1'], '--workers must be at least 0, got -1'),
    ('batch', ['--size', '-4'], '--size must be at least 8, got -4'),
    ('mosaic', ['--workers', '-1'], '--workers must be at least 0, got -1'),
    ('mosaic', ['--overlap', '-1'], '--overlap must be at least 0, got -1'),
    ('mosaic', ['--tile', '16', '--overlap', '20'],
     '--tile must be larger than --overlap, got --tile 16 and --overlap 20'),
    # the library's check, in the words of the command line
    ('mosaic', ['--tile', '4'],
     '--tile must be at least the PSF size, got --tile 4'),
])
def test_bad_run_value_exits_2(files, tmp_path, capsys, cli_error_line,
                               command, extra, match):
    out = tmp_path / 'out'
    assert main(_argv(command, files, out, '--psf-fwhm', '2pix',
                      *extra)) == 2
    line = cli_error_line()
    assert match in line, line
    assert not out.exists()


# -- library messages in command-line words ----------------------------------

@pytest.mark.parametrize(('text', 'expected'), [
    ("path 'x.fits' already exists; pass overwrite=True (or --overwrite on "
     "the command line) to replace it",
     "path 'x.fits' already exists; use --overwrite to replace it"),
    ("output_dir 'out' is not empty; pass resume=True to finish an "
     "interrupted run or overwrite=True to start again (--resume or "
     "--overwrite on the command line)",
     "-o 'out' is not empty; use --resume to finish an interrupted run or "
     "--overwrite to start again"),
    ('n_noise_samples must be 0 (no uncertainty) or at least 2, got 1',
     '--n-noise-samples must be 0 (no uncertainty) or at least 2, got 1'),
    ('fwhm must be smaller than the image, got 1e6 pix',
     '--psf-fwhm must be smaller than the image, got 1e6 pix'),
    ('the psf_fwhm range is empty', 'the --psf-fwhm range is empty'),
    ('sed_weights= must sum to 1', '--sed-weights must sum to 1'),
    ("noise='measure' cannot be combined with discrepancy=None",
     '--noise measure cannot be combined with discrepancy=None'),
    ('tile must be larger than overlap, got tile=40 and overlap=50',
     '--tile must be larger than overlap, got --tile 40 and --overlap 50'),
    # words that are not arguments stay
    ('the noise is measured in the tile', 'the noise is measured in the '
     'tile'),
    ('a size of 3 pixels', 'a size of 3 pixels'),
])
def test_cli_words(text, expected):
    assert cli_words(text) == expected


def test_resume_message_in_cli_words(files, tmp_path, capsys,
                                     cli_error_line):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'other.txt').write_text('x')
    assert main(_argv('batch', files, out, '--psf-fwhm', '2pix')) == 1
    line = cli_error_line()
    assert 'use --resume to finish an interrupted run or --overwrite' in line
    assert '=True' not in line
