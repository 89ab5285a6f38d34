# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Shared set-up of the benchmarks that run on the held-out test set.

The scores themselves come from `astrodeconv.evaluation`, the harness of
``astrodeconv evaluate``, so that the benchmarks and the command line
measure the same thing with the same thresholds.
"""

import os
import tempfile
from pathlib import Path

import numpy as np

from astrodeconv import __version__
from astrodeconv.datasets import TrainingSetFile, read_training_set
from astrodeconv.evaluation import (ClumpDetection, clump_statistics,
                                    write_report)
from astrodeconv.training import make_training_set

#: Simulation seed of the held-out set, never used in training.
HELDOUT_SEED = 20261125

#: Clump detection of the small-scale structure metrics: starlet scale 3,
#: threshold 5 (in units of the truth's noise), segments of at least 3
#: pixels, matching radius 2 pixels (the defaults of the evaluation).
CLUMPS = ClumpDetection()


def add_heldout_arguments(parser, output_name):
    """Arguments common to the held-out benchmarks."""
    parser.add_argument('--n-galaxies', type=int, default=200)
    parser.add_argument('--seed', type=int, default=HELDOUT_SEED,
                        help='simulation seed (never used in training)')
    parser.add_argument('--weights', default='default')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--data', default=None,
                        help='reuse an existing test-set file')
    parser.add_argument('-o', '--output', default=str(
        Path(__file__).parent / 'results' / output_name))


def heldout_groups(args, groups=None, minimum=200):
    """Yield ``(group name, TrainingSet)`` of the held-out set."""
    if args.n_galaxies < minimum:
        print(f'warning: the benchmark asks for at least {minimum} galaxies')
    path = args.data
    if path is None:
        path = os.path.join(tempfile.mkdtemp(), 'test_set.h5')
        # every galaxy is used: the split of the file does not matter here
        make_training_set(path, args.n_galaxies, seed=args.seed,
                          progress=False)
    with TrainingSetFile(path) as handle:
        names = handle.groups
    for name in names:
        if groups is None or name in groups:
            yield name, read_training_set(path, name)


def report_header(name, args):
    """The fields every held-out benchmark report starts with."""
    return {'benchmark': name, 'astrodeconv_version': __version__,
            'weights': args.weights, 'seed': args.seed, 'data': args.data,
            'n_galaxies': args.n_galaxies}


def as_image_stack(result):
    """A deconvolver's output (NDData or a list of them) as one array."""
    if isinstance(result, list):
        return np.stack([as_image_stack(r) for r in result])
    return np.asarray(getattr(result, 'data', result), dtype=float)


def clump_metrics(images, truth):
    """Medians (and means) of the clump flux error, NMSE and clump matching.

    Galaxies whose truth has no clump give a NaN flux error and are left
    out of its median; their number is ``n_with_clumps``. See
    `astrodeconv.evaluation.clump_statistics`.
    """
    return clump_statistics(images, truth, clumps=CLUMPS)


def write_results(report, output, table):
    """Write the JSON report and the Markdown table beside it (atomically)."""
    write_report(output, report, table=table, overwrite=True)
    print(table)
