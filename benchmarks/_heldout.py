"""Shared set-up of the benchmarks that run on the held-out test set."""

import json
import os
import tempfile
from pathlib import Path

from astrodeconv.datasets import (TrainingSetFile, make_training_set,
                                  read_training_set)

#: Simulation seed of the held-out set, never used in training.
HELDOUT_SEED = 20261125


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
                          progress_bar=False)
    with TrainingSetFile(path) as handle:
        names = handle.groups
    for name in names:
        if groups is None or name in groups:
            yield name, read_training_set(path, name)


def write_results(report, output, table):
    """Write the JSON report atomically and the Markdown table beside it."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, output)
    output.with_suffix('.md').write_text(table)
    print(table)
