# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
What every command of the command line shares: errors, parsing, and the
words of the messages.

The library speaks of its Python arguments (``lam must be > 0``, ``pass
overwrite=True``); on the command line the same messages name the options
(``--lam must be > 0``, ``use --overwrite``). `cli_words` makes that
translation with one table, `OPTION_NAMES`, and `report` applies it to
every error and warning a command prints.
"""

import argparse
import re
import sys

import numpy as np
from astropy import units as u

__all__ = []

PROG = 'astrodeconv'

#: Words that are values, not options, even though they start with '-':
#: '-2', '-0.8arcsec', '-1e-3', '-.5' (argparse alone takes '-0.8arcsec'
#: for an unknown option and reports "expected one argument").
_NEGATIVE_NUMBER = re.compile(r'^-\.?\d')

#: The library's argument names and the options that set them, for the
#: library's messages shown on the command line. An argument named the
#: same in several commands is set by the same option in each.
OPTION_NAMES = {
    # method options (deconvolve, batch, mosaic)
    'lam': '--lam', 'balance': '--balance', 'n_iter': '--n-iter',
    'boundary': '--boundary', 'upsample': '--upsample',
    'denoiser': '--denoiser', 'debias': '--debias',
    'n_noise_samples': '--n-noise-samples',
    # the PSF (make_psf_for_image, the training-set simulation)
    'fwhm': '--psf-fwhm', 'psf_fwhm': '--psf-fwhm',
    'psf_center': '--psf-center', 'recenter': '--recenter',
    'pixel_scale': '--pixel-scale',
    # outputs and runs
    'overwrite': '--overwrite', 'resume': '--resume',
    'progress': '--progress', 'output': '-o', 'output_dir': '-o',
    'checkpoint_dir': '-o',
    'tile': '--tile', 'overlap': '--overlap', 'workers': '--workers',
    'scheduler': '--scheduler', 'size': '--size',
    'chunk_size': '--chunk-size',
    # simulate
    'n_galaxies': '-n', 'stamp_size': '--stamp-size',
    # multiband
    'sed_weights': '--sed-weights', 'broad_band': '--broad-band',
    'constraint_fraction': '--constraint-fraction',
    'constraint_weight': '--constraint-weight',
    'discrepancy': '--discrepancy', 'tol': '--tol', 'noise': '--noise',
    'device': '--device', 'dtype': '--dtype',
    'accelerate': '--accelerate',
}

#: Phrases of the library that say what to do on the command line; the
#: translated message says it already.
_COMMAND_LINE_HINT = re.compile(
    r' \((?:or )?--[\w-]+(?: or --[\w-]+)? on the command line\)')

#: Where a bare argument name is the subject of a sentence.
_SUBJECT = r'(?:^|(?<=[;:.] ))'
_VERBS = r'(?= (?:must|is|are|does|applies|cannot|and|or)\b)'


def _value_option(match):
    """``name=value`` as ``--option value`` (``--flag`` for True)."""
    option = OPTION_NAMES[match[1]]
    value = match[2].strip('\'"')
    if value == 'None':
        return match[0]  # no option says "not given"
    if value in ('True', ''):
        return option
    if value == 'False' and option.startswith('--'):
        return f'--no-{option[2:]}'
    return f'{option} {value}'


def cli_words(text):
    """
    A message of the library in the words of the command line.

    Parameters
    ----------
    text : str
        The message, naming the library's arguments.

    Returns
    -------
    text : str
        The message naming the options of `OPTION_NAMES` instead:
        ``name=value`` becomes ``--option value`` (``--flag`` for True,
        unchanged for None),
        an argument that starts a sentence (``lam must be ...``) or a
        name with an underscore anywhere becomes its option, and "pass"
        before an option becomes "use".

    Examples
    --------
    >>> from astrodeconv.cli._common import cli_words
    >>> cli_words("path 'a.fits' already exists; pass overwrite=True (or "
    ...           "--overwrite on the command line) to replace it")
    "path 'a.fits' already exists; use --overwrite to replace it"
    >>> cli_words('lam must be > 0, got -1.0')
    '--lam must be > 0, got -1.0'
    >>> cli_words("got noise='measure' and n_noise_samples=1")
    'got --noise measure and --n-noise-samples 1'
    >>> cli_words('the noise is measured')
    'the noise is measured'
    """
    text = _COMMAND_LINE_HINT.sub('', str(text))
    names = '|'.join(sorted(OPTION_NAMES, key=len, reverse=True))
    text = re.sub(rf'(?<![\w.\'"-])({names})=(\'[^\']*\'|"[^"]*"|'
                  r'[^\s,;)]*)', _value_option, text)
    text = re.sub(rf'{_SUBJECT}({names}){_VERBS}',
                  lambda m: OPTION_NAMES[m[1]], text)
    underscored = '|'.join(name for name in OPTION_NAMES if '_' in name)
    text = re.sub(rf'(?<![\w.\'"-])({underscored})(?![\w\'(-])',
                  lambda m: OPTION_NAMES[m[1]], text)
    return re.sub(r'\b([Pp])ass (?=-)',
                  lambda m: 'Use ' if m[1] == 'P' else 'use ', text)


class UsageError(Exception):
    """Invalid command-line arguments (exit status 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """
    An argument parser that raises instead of printing and exiting.

    Values that start with a minus sign and a digit (``-2``,
    ``-0.8arcsec``) are values, so that the checks of the command refuse
    them with a message that names the option.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message):
        raise UsageError(f'{message} (see {self.prog} --help)')


class AliasedOption(argparse.Action):
    """
    Store an option's value; note the use of a deprecated spelling.

    ``deprecated`` lists the option strings kept for one release; using
    one adds a note to ``namespace.deprecated_options``, which
    `astrodeconv.cli.main` prints on standard error. ``current`` is the
    spelling the note recommends (default: the first option string that
    is not deprecated). With ``nargs=0`` the option stores ``const`` (a
    flag).
    """

    def __init__(self, option_strings, dest, *, deprecated=(), current=None,
                 **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.deprecated = tuple(deprecated)
        self.current = current or next(
            s for s in option_strings if s not in self.deprecated)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest,
                self.const if self.nargs == 0 else values)
        if option_string in self.deprecated:
            notes = getattr(namespace, 'deprecated_options', None) or []
            notes.append(f'{option_string} is deprecated and will be '
                         f'removed in a future version; use {self.current}')
            namespace.deprecated_options = notes


def report(kind, message):
    """Print ``astrodeconv: <kind>: <message>`` in command-line words."""
    print(f'{PROG}: {kind}: {cli_words(message)}', file=sys.stderr)


def check_minimum(args, minimums):
    """Refuse an integer option below its minimum (exit status 2)."""
    for option, minimum in minimums.items():
        value = getattr(args, option.lstrip('-').replace('-', '_'))
        if value is not None and value < minimum:
            msg = f'{option} must be at least {minimum}, got {value}'
            raise UsageError(msg)


def parse_quantity(text, option):
    """Parse '0.8arcsec', '0.8 arcsec' or '3.2' (no unit) into a Quantity."""
    try:
        value = u.Quantity(text)
    except (TypeError, ValueError) as exc:
        msg = (f'{option} must be a number with an optional unit (e.g. '
               f'0.8arcsec or 3.5 for pixels), got {text!r}: {exc}')
        raise UsageError(msg) from None
    if not value.isscalar or not np.isfinite(value.value) or value.value <= 0:
        msg = f'{option} must be a positive number, got {text!r}'
        raise UsageError(msg)
    return value


def describe_params(method, params):
    """One-line text of the parameters a deconvolver used."""
    if method in ('learned', 'pnp', 'unrolled', 'default'):
        return (f"lam={float(params['lam']):.4g}, "
                f"sigma={float(params['sigma']):.4g}")
    if method == 'tikhonov':
        return f"lam={float(params['lam']):.4g}"
    if method == 'wiener':
        return f"balance={float(params['balance']):.4g}"
    return f"n_iter={int(params['n_iter'])}"


def warn_without_unit(path, header):
    """
    Warn that the file ``path``, whose header has no ``BUNIT``, gives an
    output without a unit.

    ``header`` is the image header (or the ``meta`` that
    `astrodeconv.io.read_image` made of it). A ``BUNIT`` that astropy
    cannot parse is reported by `~astrodeconv.io.read_image` and written
    back as it was, so only a missing (or blank) one is reported here.
    """
    import warnings

    from ..utils.exceptions import AstrodeconvWarning

    if str(header.get('BUNIT', '') or '').strip():
        return
    warnings.warn(f'{str(path)!r} has no BUNIT keyword: it is processed '
                  'without a unit and the output will have no unit. Add '
                  "BUNIT to its header (e.g. BUNIT = 'nJy') to keep one.",
                  AstrodeconvWarning, stacklevel=2)


def warn_if_file_without_unit(path):
    """
    `warn_without_unit` for the image HDU of a FITS file read by a
    library function; a file that cannot be read is left to that function
    to report.
    """
    from astropy.io import fits

    from ..io import select_image_hdu

    try:
        with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
            header = hdul[select_image_hdu(hdul, path=str(path))].header
            header = header.copy()
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return  # the library function names the problem
    warn_without_unit(path, header)


def flux_summary(before, after):
    """
    ``input flux X unit, output flux Y unit`` for a summary line.

    For a surface brightness (per solid angle) the sum of the pixels is
    not a flux, and under super-resolution it grows with the number of
    pixels: the mean over the unmasked pixels is given instead, which
    the deconvolution keeps on any grid.
    """
    from ..utils._nddata import is_surface_brightness

    unit = getattr(before, 'unit', None)
    text = '' if unit is None else f' {unit.to_string()}'
    if is_surface_brightness(unit):
        return (f'input mean surface brightness {_total(before, np.mean):.6g}'
                f'{text}, output mean surface brightness '
                f'{_total(after, np.mean):.6g}{text}')
    return (f'input flux {_total(before, np.sum):.6g}{text}, output flux '
            f'{_total(after, np.sum):.6g}{text}')


def _total(image, reduce):
    """``reduce`` (sum or mean) of the finite, unmasked pixels."""
    data = np.asarray(image.data, dtype=float)
    good = np.isfinite(data)
    if getattr(image, 'mask', None) is not None:
        good &= ~np.asarray(image.mask, dtype=bool)
    if reduce is np.mean and not good.any():
        return float('nan')
    return float(reduce(data[good]))
