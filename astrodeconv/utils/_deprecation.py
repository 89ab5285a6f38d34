# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Keeping renamed keywords working for a while."""

import functools
import warnings

from astropy.utils.exceptions import AstropyDeprecationWarning

__all__ = []


def renamed_keyword(old, new, *, since, warn=True):
    """
    Decorator accepting the keyword ``old`` as the renamed ``new``.

    Parameters
    ----------
    old, new : str
        The former and the current keyword names.
    since : str
        The version that renamed it.
    warn : bool, optional
        Emit an `~astropy.utils.exceptions.AstropyDeprecationWarning` when
        ``old`` is used. Off only while callers inside the package are
        being switched to ``new``.
    """
    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    msg = (f'{func.__name__}() got both {old!r} and {new!r}; '
                           f'use only {new!r}')
                    raise TypeError(msg)
                if warn:
                    warnings.warn(f'the {old!r} keyword of {func.__name__} '
                                  f'is deprecated since astrodeconv {since}; '
                                  f'use {new!r}', AstropyDeprecationWarning,
                                  stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)
        return wrapper
    return decorator
