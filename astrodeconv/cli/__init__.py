# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The ``astrodeconv`` command-line interface.

Commands::

    astrodeconv deconvolve IN.fits (--psf PSF.fits | --psf-fwhm 0.8arcsec)
                           [--method tikhonov] [--upsample 4] -o OUT.fits
    astrodeconv multiband R.fits I.fits Z.fits --vis VIS.fits -o OUT.fits
                          (--bands KEY ... | --sed-weights W ...) ...
    astrodeconv batch MOSAIC.fits --catalog CAT.ecsv (--psf PSF.fits |
                      --psf-fwhm FWHM) -o OUTDIR [--workers N] [--resume]
    astrodeconv mosaic IN.fits (--psf PSF.fits | --psf-fwhm FWHM)
                       [--method tikhonov] -o OUT.fits [--tile 1024]
                       [--overlap N] [--workers N | --scheduler ADDRESS]
    astrodeconv demo [-o DIR] [--overwrite]
    astrodeconv simulate -n N -o TRAIN.h5 [--upsample 1 4] ...
    astrodeconv train TRAIN.h5 -o RUN_DIR [--arch unet] [--epochs 30] ...
    astrodeconv evaluate TRAIN.h5 [--weights NAME|PATH] [-o REPORT.json]
    astrodeconv --version

Each command is one module of this package (``deconvolve``, ``batch``,
``mosaic``, ``multiband``, ``demo``, ``simulate``, ``train``,
``evaluate``) with two functions: ``add_parser(commands)`` registers its
arguments and ``run(args, out)`` calls the library and prints. The library
imports happen inside ``run``, so that ``astrodeconv --help`` stays fast
and the deconvolution commands never import torch, GalSim or h5py.

Errors are reported as one line, ``astrodeconv: error: <message>``, on
standard error, with exit status 2 for invalid arguments (an unknown
option, a value of the wrong type or out of range, options that cannot be
combined or do not apply to the method) and 1 for failures while running
(missing or unreadable files, existing outputs...). The library's messages
name its Python arguments; they are shown with the options that set them
(``--lam must be > 0``, ``use --overwrite``). A deprecated spelling of an
option still works and prints a warning naming the new one.
"""

import sys
import warnings

from astropy import units as u

from . import (batch, deconvolve, demo, evaluate, mosaic, multiband,
               simulate, train)
from ._common import PROG, ArgumentParser, UsageError, report

__all__ = ['build_parser', 'main']

#: The commands, in the order ``astrodeconv --help`` lists them.
_COMMANDS = (deconvolve, multiband, batch, mosaic, demo, simulate, train,
             evaluate)

#: Failures reported as one ``astrodeconv: error:`` line with exit status 1
#: (ArithmeticError covers the FloatingPointError of a diverging training).
_RUNTIME_ERRORS = (OSError, ValueError, TypeError, RuntimeError, u.UnitsError,
                   MemoryError, ArithmeticError)


def _build_parser():
    from astrodeconv import __version__

    parser = ArgumentParser(
        prog=PROG,
        description='Deconvolution of ground-based galaxy images.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {__version__}')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True
    for command in _COMMANDS:
        command.add_parser(commands).set_defaults(run=command.run)
    return parser


def build_parser():
    """
    The argument parser of the ``astrodeconv`` command.

    The documentation builds its command-line reference from it
    (``sphinx-argparse``), so the reference always lists the options the
    command accepts.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser, with one sub-parser per command. Invalid arguments
        raise an exception instead of exiting.
    """
    return _build_parser()


def main(argv=None):
    """
    Run the ``astrodeconv`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 2 for invalid arguments, 1 for errors while running.
    """
    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
    except UsageError as exc:
        report('error', exc)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    for note in getattr(args, 'deprecated_options', None) or ():
        report('warning', note)
    caught, error = [], ''
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('ignore')
            warnings.simplefilter('always', UserWarning)
            status = args.run(args, sys.stdout)
    except UsageError as exc:
        status = 2
        error = str(exc)
    except _RUNTIME_ERRORS as exc:
        status = 1
        error = str(exc) or type(exc).__name__
    except KeyboardInterrupt:
        status = 130
        error = 'interrupted'
    seen = set()
    for item in caught:
        text = str(item.message)
        if text not in seen:
            seen.add(text)
            report('warning', text)
    if status != 0:
        report('error', error)
    return status
