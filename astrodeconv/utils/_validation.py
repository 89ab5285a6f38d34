# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Small argument validators shared by every public entry point."""

import numbers

import numpy as np
from astropy import units as u

__all__ = []


def check_positive_int(value, name, *, minimum=1):
    """Return ``value`` as int, or raise if it is not an integer >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Integral):
        msg = (f'{name} must be an integer >= {minimum}, got '
               f'{value!r} of type {type(value).__name__}')
        raise TypeError(msg)
    if value < minimum:
        msg = f'{name} must be an integer >= {minimum}, got {value}'
        raise ValueError(msg)
    return int(value)


def check_real(value, name, *, minimum=None, strict=False, maximum=None):
    """Return ``value`` as a finite float within the given bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Real):
        msg = (f'{name} must be a real number, got {value!r} of type '
               f'{type(value).__name__}')
        raise TypeError(msg)
    value = float(value)
    if not np.isfinite(value):
        msg = f'{name} must be finite, got {value}'
        raise ValueError(msg)
    if minimum is not None:
        if strict and value <= minimum:
            msg = f'{name} must be > {minimum}, got {value}'
            raise ValueError(msg)
        if not strict and value < minimum:
            msg = f'{name} must be >= {minimum}, got {value}'
            raise ValueError(msg)
    if maximum is not None and value > maximum:
        msg = f'{name} must be <= {maximum}, got {value}'
        raise ValueError(msg)
    return value


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``, else raise ValueError."""
    if not isinstance(value, str) or value not in choices:
        valid = ', '.join(repr(c) for c in choices)
        msg = f'{name} must be one of {valid}, got {value!r}'
        raise ValueError(msg)
    return value


def check_positive_or_choice(value, name, choices):
    """
    Return ``value``: a number > 0 (as a float) or one of the strings
    ``choices``; raise ValueError for a bad string or number and TypeError
    for anything else.
    """
    if isinstance(value, str):
        return check_choice(value, name, choices)
    if isinstance(value, numbers.Real) and not isinstance(value,
                                                          (bool, np.bool_)):
        return check_real(value, name, minimum=0, strict=True)
    valid = ', '.join(repr(c) for c in choices)
    options = valid if len(choices) == 1 else f'one of {valid}'
    msg = f'{name} must be a positive number or {options}, got {value!r}'
    raise TypeError(msg)


def check_nonnegative_real(value, name, *, positive=False):
    """
    Return ``value`` as a finite float >= 0 (> 0 when ``positive``).

    Raises TypeError for a non-number and ValueError for a negative,
    zero (when ``positive``) or non-finite one.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Real):
        msg = (f'{name} must be a real number, got {value!r} of type '
               f'{type(value).__name__}')
        raise TypeError(msg)
    value = float(value)
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        bound = '> 0' if positive else '>= 0'
        msg = f'{name} must be a finite number {bound}, got {value}'
        raise ValueError(msg)
    return value


def check_odd_int(value, name):
    """Return ``value`` as int, or raise if it is not an odd integer >= 1."""
    value = check_positive_int(value, name)
    if value % 2 == 0:
        msg = f'{name} must be an odd integer, got {value}'
        raise ValueError(msg)
    return value


def check_bool(value, name):
    """Return ``value`` if it is a bool, else raise TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        msg = f'{name} must be True or False, got {value!r}'
        raise TypeError(msg)
    return bool(value)


def check_ellipticity(value, name='ellipticity'):
    """Return an ellipticity ``(1 - q) / (1 + q)`` as a float in [0, 1)."""
    value = check_real(value, name, minimum=0)
    if value >= 1:
        msg = (f'{name} must be in the range [0, 1) (e = (1 - q) / (1 + q) '
               f'for an axis ratio q), got {value}')
        raise ValueError(msg)
    return value


def check_pixel_scale(pixel_scale, name='pixel_scale'):
    """
    Return a pixel scale as a float in arcsec per pixel.

    Angles (``u.arcsec``) and angles per pixel (``u.arcsec / u.pix``) are
    both accepted.
    """
    if not isinstance(pixel_scale, u.Quantity):
        msg = (f'{name} must be an angular Quantity per pixel such as '
               f'0.05 * u.arcsec, got {pixel_scale!r} of type '
               f'{type(pixel_scale).__name__}')
        raise TypeError(msg)
    if not pixel_scale.isscalar:
        msg = (f'{name} must be a scalar Quantity, got shape '
               f'{pixel_scale.shape}')
        raise ValueError(msg)
    value = None
    for unit in (u.arcsec, u.arcsec / u.pix):
        try:
            value = float(pixel_scale.to_value(unit))
            break
        except u.UnitConversionError:
            continue
    if value is None:
        msg = (f'{name} must have angular units (e.g. arcsec or '
               f'arcsec / pix), got unit {pixel_scale.unit!r}')
        raise u.UnitsError(msg)
    if not np.isfinite(value) or value <= 0:
        msg = f'{name} must be a finite positive angle, got {pixel_scale}'
        raise ValueError(msg)
    return value
