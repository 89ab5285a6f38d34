# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Public utilities: warnings and exceptions."""

from .exceptions import *  # noqa: F401,F403
from .exceptions import __all__  # noqa: F401
