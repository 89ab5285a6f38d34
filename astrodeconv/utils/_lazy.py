# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Lazy attribute access for subpackages whose modules import torch."""

import importlib
import sys

__all__ = []


def lazy_module_attributes(package, submodules):
    """
    Return ``(__getattr__, __dir__)`` for a package that imports lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    submodules : dict
        Maps each public name to the submodule (relative name) defining it.
    """
    def __getattr__(name):
        if name in submodules:
            module = importlib.import_module(f'.{submodules[name]}', package)
            value = getattr(module, name)
            setattr(sys.modules[package], name, value)
            return value
        msg = f'module {package!r} has no attribute {name!r}'
        raise AttributeError(msg)

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(submodules))

    return __getattr__, __dir__
