# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Evaluation of deconvolution methods against a known truth: per-image
scores, clump statistics, summaries per magnitude bin and reports (JSON,
Markdown, figure), as used by ``astrodeconv evaluate`` and the held-out
benchmarks.

The thresholds are parameters: `ClumpDetection` holds how clumps are
detected and matched (default: starlet scale 3, 5 sigma of the truth's
noise, segments of at least 3 pixels, matched within 2 pixels), and the
magnitude bins default to ``(20, 21.5, 23, 24, 25, 26)``.
"""

from . import harness, report
from .harness import *  # noqa: F401,F403
from .report import *  # noqa: F401,F403

__all__ = list(harness.__all__) + list(report.__all__)
