# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``python -m astrodeconv.cli``, the same as the ``astrodeconv`` command."""

import sys

from . import main

sys.exit(main())
