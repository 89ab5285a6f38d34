# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Every ``astrodeconv`` command shown in the documentation runs.

The ``console`` code blocks of ``docs/**/*.rst``, ``README.rst`` and the
docstrings of the example scripts (``docs/examples/*.py``) are collected;
each ``astrodeconv ...`` (or ``python -m astrodeconv.cli ...``) command
found in them is run, block by block, in a fresh temporary directory with
the command-line entry point (`astrodeconv.cli.main`), and must exit with
status 0. The input files the commands name are made by the
fixtures of `_INPUTS` (the demo galaxy, its PSF, a small simulated training
set). Commands that would take minutes to hours (a full-size simulation or
training, or what depends on their outputs) are listed in `_NOT_RUN` with
the reason: their arguments are parsed by the real parser and every option
they use must be listed by ``astrodeconv <command> --help``.
"""

import ast
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from astrodeconv.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs'

#: Directories of docs/ that hold generated files, not documentation.
_GENERATED = {'_build', 'api', 'generated', 'examples'}

#: Commands that are only parsed, not run: a prefix of the command (its
#: words joined by single spaces, starting with the command name) and why.
_NOT_RUN = {
    'simulate -n 4000': 'simulates the full-size training set of the '
                        'shipped model (about 3 minutes)',
    'train train.h5': 'trains for 12 epochs (about 45 minutes on two '
                      'CPU cores)',
    'train train_v1.h5': 'trains for 12 epochs (about 45 minutes on two '
                         'CPU cores)',
    'evaluate train.h5 --weights run/best.pt': 'needs the model of the '
                                               'full-size training',
    'deconvolve galaxy.fits --method learned --denoiser run/best.pt':
        'needs the model of the full-size training',
    'torchrun': 'distributed training on several processes or GPUs',
    'train train_v2.h5': 'trains the shipped models of the broad recipe '
                         '(15 to 20 minutes each on two CPU cores)',
    'train my_instrument.h5': 'fine-tunes on the full-size training set '
                              'of the previous command',
}

_PROMPT = '$ '
_COMMAND_START = re.compile(r'^(?:astrodeconv|python3? -m astrodeconv\.cli)'
                            r'(?:\s|$)')

#: Optional packages each command needs.
_NEEDS = {'simulate': ('galsim', 'h5py'), 'train': ('h5py',),
          'evaluate': ('h5py',), 'batch': ('distributed',),
          'mosaic': ('distributed',)}


def _doc_files():
    """README.rst, the rst pages and the example scripts of docs/."""
    files = [ROOT / 'README.rst']
    for path in sorted(DOCS.rglob('*.rst')):
        if not _GENERATED.intersection(path.relative_to(DOCS).parts):
            files.append(path)
    return files + sorted((DOCS / 'examples').glob('*.py'))


def _rst_text(path):
    """The rst of a page, or the docstring of an example script."""
    text = path.read_text(encoding='utf-8')
    if path.suffix == '.py':
        text = ast.get_docstring(ast.parse(text)) or ''
    return text


def _console_blocks(path):
    """The contents of the ``console`` code blocks of an rst file."""
    lines = _rst_text(path).splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = re.match(r'^(\s*)\.\. code-block:: console\s*$', lines[i])
        i += 1
        if not match:
            continue
        indent, start = len(match.group(1)), i   # the directive's line
        body = []
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
            i += 1
        body = [line for line in body if not line.strip().startswith(':')]
        blocks.append((start, body))
    return blocks


def _commands(body):
    """The shell commands of a console block, continuation lines joined.

    With ``$`` prompts only the prompted lines (and their continuations)
    are commands; without any prompt (the README style) every line that
    is not a comment is one.
    """
    text = [line.strip() for line in body if line.strip()]
    prompted = any(line.startswith(_PROMPT) for line in text)
    commands, current = [], None
    for line in text:
        if current is not None:
            current += ' ' + line
        elif prompted and line.startswith(_PROMPT):
            current = line[len(_PROMPT):]
        elif not prompted and not line.startswith('#'):
            current = line
        else:
            continue
        if current.endswith('\\'):
            current = current[:-1].rstrip()
        else:
            commands.append(current)
            current = None
    return commands


def _astrodeconv_argv(command):
    """The ``astrodeconv`` arguments of each part of a shell command."""
    words = shlex.split(command)
    parts, part = [], []
    for word in words + ['&&']:
        if word in ('&&', ';', '||'):
            if part:
                parts.append(part)
            part = []
        else:
            part.append(word)
    result = []
    for part in parts:
        text = ' '.join(part)
        if part[0] == 'torchrun' and 'astrodeconv.cli' in part:
            result.append(('torchrun', part[part.index('astrodeconv.cli')
                                            + 1:]))
        elif _COMMAND_START.match(text):
            start = 1 if part[0] == 'astrodeconv' else 3
            result.append(('astrodeconv', part[start:]))
    return result


def _collect():
    """One entry per console block holding astrodeconv commands."""
    entries, seen = [], set()
    for path in _doc_files():
        for line, body in _console_blocks(path):
            argvs = []
            for command in _commands(body):
                argvs.extend(_astrodeconv_argv(command))
            key = tuple((runner, tuple(argv)) for runner, argv in argvs)
            if not argvs or key in seen:
                continue
            seen.add(key)
            name = f'{path.relative_to(ROOT)}:{line}'
            entries.append(pytest.param(argvs, id=name))
    return entries


_BLOCKS = _collect()


def _not_run_reason(runner, argv):
    text = ' '.join([runner] if runner == 'torchrun' else argv)
    for prefix, reason in _NOT_RUN.items():
        if text == prefix or text.startswith(prefix + ' '):
            return reason
    return None


# -- the input files the documented commands name ---------------------------

def _demo_galaxy(path):
    """The demo observation, as a survey image: WCS, unit, uncertainty."""
    from astropy.nddata import CCDData

    from astrodeconv.datasets import load_demo_data
    from astrodeconv.io import write_image

    observed = load_demo_data().observed
    write_image(CCDData(observed.data, unit=observed.unit, wcs=observed.wcs,
                        uncertainty=observed.uncertainty,
                        meta=observed.meta), path)


def _demo_psf_fine(path):
    """The demo PSF, on the 4 times finer grid (0.05 arcsec pixels)."""
    from astropy.io import fits

    from astrodeconv.datasets import load_demo_data

    header = fits.Header()
    header['PIXSCALE'] = (0.05, '[arcsec/pixel]')
    fits.writeto(path, load_demo_data().psf, header)


def _small_training_set(path):
    """Ten simulated galaxies on both grids (one test galaxy per grid)."""
    pytest.importorskip('galsim')
    pytest.importorskip('h5py')
    from astrodeconv.training import make_training_set

    make_training_set(path, 10, stamp_size=64, seed=3, progress=False)


def _multiband_files(path):
    """Rubin r, i, z and Euclid VIS images of one simulated galaxy (all
    four files, with WCS, uncertainty and PSF, whichever is asked)."""
    pytest.importorskip('galsim')
    from astrodeconv.datasets import simulate_multiband
    from astrodeconv.io import write_image

    bands, broad = simulate_multiband(1, seed=4).object_bands(0)
    for name, image in zip(('r', 'i', 'z', 'vis'), bands + [broad]):
        target = path.parent / f'{name}.fits'
        if not target.exists():
            write_image(image, target)


def _survey_mosaic(path):
    """A 512 x 512 mosaic (0.2 arcsec pixels, TAN WCS) of 12 galaxies."""
    from astropy.nddata import CCDData, StdDevUncertainty
    from astropy.wcs import WCS

    from astrodeconv.io import write_image

    rng = np.random.default_rng(7)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.2]
    wcs.wcs.crpix = [256.5, 256.5]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    yy, xx = np.indices((512, 512))
    image = rng.normal(0.0, 1.0, (512, 512))
    for x, y in _SURVEY_POSITIONS:
        image += 300 * np.exp(-np.hypot(xx - x, yy - y) / 2.5)
    write_image(CCDData(image, unit='nJy', wcs=wcs,
                        uncertainty=StdDevUncertainty(np.ones(image.shape))),
                path)


def _survey_catalog(path):
    """The sky positions of the galaxies of ``mosaic.fits``."""
    from astropy.table import Table
    from astropy.wcs.utils import pixel_to_skycoord

    from astrodeconv.io import read_image

    mosaic = path.parent / 'mosaic.fits'
    if not mosaic.exists():
        _survey_mosaic(mosaic)
    x, y = np.array(_SURVEY_POSITIONS).T
    sky = pixel_to_skycoord(x, y, read_image(mosaic).wcs)
    Table({'id': np.arange(len(x)), 'ra': sky.ra.deg,
           'dec': sky.dec.deg}).write(path)


_SURVEY_POSITIONS = [(60 + 40 * (i % 4) * 2.5, 70 + 120 * (i // 4))
                     for i in range(12)]

#: File name in the docs -> the function that writes it.
_INPUTS = {
    'galaxy.fits': _demo_galaxy,
    'psf_0.05arcsec.fits': _demo_psf_fine,
    'test.h5': _small_training_set,
    'r.fits': _multiband_files,
    'i.fits': _multiband_files,
    'z.fits': _multiband_files,
    'vis.fits': _multiband_files,
    'mosaic.fits': _survey_mosaic,
    'catalog.ecsv': _survey_catalog,
}


def _check_help_lists_options(command, argv, capsys):
    """``astrodeconv COMMAND --help`` lists every option of ``argv``."""
    assert main([command, '--help']) == 0
    text = capsys.readouterr().out
    for word in argv:
        option = word.split('=')[0]
        if re.match(r'^--?[a-z]', option):
            assert re.search(rf'(^|[\s\[,]){re.escape(option)}(?![\w-])',
                             text), \
                f'astrodeconv {command} --help does not list {option}'


def test_docs_have_commands():
    """The collection finds the documented commands, skip list included."""
    assert len(_BLOCKS) >= 5
    all_argvs = [argv for block in _BLOCKS for argv in block.values[0]]
    commands = {argv[0] for _, argv in all_argvs if argv}
    assert {'deconvolve', 'demo', 'simulate', 'train', 'evaluate',
            'multiband', 'batch', 'mosaic'} <= commands
    for prefix in _NOT_RUN:
        assert any(_not_run_reason(runner, argv) == _NOT_RUN[prefix]
                   for runner, argv in all_argvs), \
            f'_NOT_RUN entry {prefix!r} matches no documented command'


@pytest.mark.parametrize('argvs', _BLOCKS)
def test_documented_command_runs(argvs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for runner, argv in argvs:
        reason = _not_run_reason(runner, argv)
        if reason is not None:
            # parsed by the real parser (no file is opened) ...
            args = build_parser().parse_args(argv)
            assert args.command == argv[0]
            # ... and every option it uses is documented by --help
            _check_help_lists_options(argv[0], argv[1:], capsys)
            continue
        for module in _NEEDS.get(argv[0], ()):
            pytest.importorskip(module)
        for word in argv:
            if word in _INPUTS and not (tmp_path / word).exists():
                _INPUTS[word](tmp_path / word)
        status = main(list(argv))
        captured = capsys.readouterr()
        assert status == 0, (f'astrodeconv {" ".join(argv)} exited with '
                             f'{status}: {captured.err}')


def test_not_run_commands_are_few():
    """The skip list stays a short, explicit list."""
    assert len(_NOT_RUN) <= 8


def test_install_page_versions_match_pyproject():
    """The minimum versions of install.rst are those of pyproject.toml."""
    import tomllib

    with (ROOT / 'pyproject.toml').open('rb') as fh:
        project = tomllib.load(fh)['project']
    required = {}
    for requirement in project['dependencies']:
        match = re.match(r'^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9.]+)', requirement)
        assert match, f'no minimum version in {requirement!r}'
        required[match.group(1).lower()] = match.group(2)
    text = (DOCS / 'getting_started' / 'install.rst').read_text(
        encoding='utf-8')
    documented = {}
    for name, version in re.findall(r'`([A-Za-z]+) <[^>]+>`_\s*\(([0-9.]+)\)',
                                    text):
        name = name.lower()
        documented['torch' if name == 'pytorch' else name] = version
    assert documented == required
    python = re.search(r'Python (3\.[0-9]+) or later', text).group(1)
    assert project['requires-python'] == f'>={python}'


def _cli_page():
    return (DOCS / 'user_guide' / 'cli.rst').read_text(encoding='utf-8')


def test_cli_page_lists_every_command(capsys):
    """The command table of the CLI page is that of ``astrodeconv --help``."""
    import argparse

    parser = build_parser()
    commands = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction))
    names = list(commands.choices)
    assert main(['--help']) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in names)
    page = _cli_page()
    table = page[:page.index('This page explains them')]
    listed = re.findall(r'^   \* - ``(\w+)``$', table, flags=re.M)
    assert listed == names
    count = re.search(r'It has (\w+) commands', page)[1]
    words = {6: 'six', 7: 'seven', 8: 'eight', 9: 'nine', 10: 'ten'}
    assert count == words[len(names)]


def test_cli_page_lists_the_deprecated_spellings():
    """Every deprecated option spelling is in the table of the CLI page."""
    from astrodeconv.cli._common import AliasedOption

    page = _cli_page()
    table = page[page.index('Former spellings'):page.index('Exit codes')]
    parser = build_parser()
    found = set()
    for command, sub in next(
            a for a in parser._actions if a.dest == 'command').choices.items():
        for action in sub._actions:
            if isinstance(action, AliasedOption):
                for old in action.deprecated:
                    found.add(old)
                    row = re.search(rf'\* - ``{re.escape(old)}[^`]*``\n'
                                    r'\s+- ``([^`]*)``', table)
                    assert row, old
                    assert row[1].split()[0] == action.current, old
                    assert command in table, (old, command)
    assert found == {'--weights', '--noise-samples', '--no-acceleration'}
