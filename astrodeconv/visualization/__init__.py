# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Quick-look figures of deconvolution results (matplotlib, optional).

matplotlib is imported only when a plotting function is called, so this
package can be imported without it.
"""

from .plots import *  # noqa: F401,F403
from .plots import __all__  # noqa: F401
