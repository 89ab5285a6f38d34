"""
Data sets for examples, tests and documentation (shipped with the package,
no downloads).
"""

from . import demo
from .demo import *  # noqa: F401,F403

__all__ = list(demo.__all__)
