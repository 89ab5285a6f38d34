# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""What every command of the command line shares: errors and parsing."""

import argparse
import sys

import numpy as np
from astropy import units as u

__all__ = []

PROG = 'astrodeconv'


class UsageError(Exception):
    """Invalid command-line arguments (exit status 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing and exiting."""

    def error(self, message):
        raise UsageError(f'{message} (see {self.prog} --help)')


def report(kind, message):
    """Print ``astrodeconv: <kind>: <message>`` on standard error."""
    print(f'{PROG}: {kind}: {message}', file=sys.stderr)


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
    if method in ('learned', 'pnp', 'default'):
        return (f"lam={float(params['lam']):.4g}, "
                f"sigma={float(params['sigma']):.4g}")
    if method == 'tikhonov':
        return f"lam={float(params['lam']):.4g}"
    if method == 'wiener':
        return f"balance={float(params['balance']):.4g}"
    return f"n_iter={int(params['n_iter'])}"
