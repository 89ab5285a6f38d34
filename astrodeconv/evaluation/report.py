# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Evaluation reports: a training-set split scored method by method, as a
JSON file, a Markdown table and a figure.
"""

import json
from pathlib import Path

import numpy as np

from ..utils import _optional_deps
from ..utils._files import atomic_write, check_output_path
from ..utils._validation import check_choice
from .harness import (DEFAULT_MAG_BINS, METRICS, ClumpDetection, _check_edges,
                      _check_max_images, _clumps, evaluate_methods)

__all__ = ['EvaluationReport', 'evaluate_training_set', 'write_report']

__doctest_requires__ = {('evaluate_training_set',): ['h5py', 'galsim']}

#: The statistic shown in the Markdown table when it is not the median:
#: the medians of these rates are mostly 0 and 1.
_TABLE_STATISTIC = {'hallucination': 'mean', 'completeness': 'mean'}
_TABLE_HEADER = ('| group | method | NMSE | PSNR | SSIM | clump flux err | '
                 'halluc. | complet. | chi2 |')
#: Resolution of the report figure.
_DPI = 90


def write_report(path, report, *, table=None, figure=None, overwrite=False,
                 dpi=_DPI):
    """
    Write a report as JSON, with its Markdown table and figure beside it.

    Every file is written atomically (a temporary file moved in place), so
    an interrupted run never leaves a partial file. Without ``overwrite``,
    nothing is written when any of the files exists.

    Parameters
    ----------
    path : str or path-like
        The JSON file, e.g. ``report.json``. Its directory is created if
        needed.
    report : dict
        The JSON-serialisable report.
    table : str, optional
        Markdown text written to ``path`` with the suffix ``.md``.
    figure : `~matplotlib.figure.Figure`, optional
        A figure saved to ``path`` with the suffix ``.png``.
    overwrite : bool, optional
        Replace existing files.
    dpi : float, optional
        Resolution of the PNG figure.

    Returns
    -------
    paths : list of ``pathlib.Path``
        The files written: the JSON file, then the table and the figure
        when given.

    Raises
    ------
    FileExistsError
        If one of the files exists and ``overwrite`` is False.

    Examples
    --------
    >>> from astrodeconv.evaluation import write_report
    >>> path = getfixture('tmp_path') / 'report.json'
    >>> [p.name for p in write_report(path, {'nmse': 0.1}, table='| a |')]
    ['report.json', 'report.md']
    """
    path = Path(path)
    targets = [(path, 'json')]
    if table is not None:
        targets.append((path.with_suffix('.md'), 'md'))
    if figure is not None:
        targets.append((path.with_suffix('.png'), 'png'))
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, _ in targets:
        check_output_path(target, overwrite=overwrite)
    for target, kind in targets:
        if kind == 'png':
            from ..visualization import save_figure

            save_figure(figure, target, overwrite=overwrite, dpi=dpi)
            continue
        text = json.dumps(report, indent=2) if kind == 'json' else table
        with atomic_write(target, mode='w', overwrite=overwrite) as handle:
            handle.write(text)
    return [target for target, _ in targets]


class EvaluationReport:
    """
    The scores of several methods on a split of a training set.

    Made by `evaluate_training_set`.

    Parameters
    ----------
    summary : dict
        The report: the settings (``'data'``, ``'weights'``, ``'split'``,
        ``'metrics'``, ``'clump_threshold'``, ``'mag_bins'``,
        ``'clump_detection'``) and ``'groups'``, which maps each group of
        the file to the summary of `evaluate_methods`.
    scores : dict
        Maps each group to the per-image scores of `evaluate_methods`.

    Attributes
    ----------
    summary : dict
        The report, JSON-serialisable.
    scores : dict
        The per-image scores by group.
    """

    def __init__(self, summary, scores):
        self.summary = summary
        self.scores = scores

    def __repr__(self):
        groups = ', '.join(self.summary.get('groups', {}))
        return (f"EvaluationReport(split={self.summary.get('split')!r}, "
                f'groups=[{groups}])')

    @staticmethod
    def output_paths(path):
        """
        The files `write` makes for ``path``: JSON, Markdown and PNG.

        Parameters
        ----------
        path : str or path-like
            The JSON file.

        Returns
        -------
        paths : tuple of ``pathlib.Path``
        """
        path = Path(path)
        return path, path.with_suffix('.md'), path.with_suffix('.png')

    def to_markdown(self):
        """
        The report as a Markdown table, one row per group and method.

        Returns
        -------
        table : str
            A title line, a blank line and the table: medians, but means
            for the hallucination rate and the completeness.
        """
        settings = self.summary.get('clump_detection') or (
            ClumpDetection().to_dict())
        lines = [f"Split {self.summary['split']} of {self.summary['data']} "
                 '(medians, but means for the hallucination rate and '
                 'completeness, whose medians are mostly 0 and 1; clump '
                 f"metrics on starlet scale {settings['scale']}, "
                 f"{settings['threshold']:g} sigma)", '', _TABLE_HEADER,
                 '|---' * 9 + '|']
        for group, result in self.summary['groups'].items():
            for method, scores in result.items():
                if not isinstance(scores, dict):
                    continue
                cells = [f"{scores[m][_TABLE_STATISTIC.get(m, 'median')]:.4g}"
                         for m in METRICS]
                lines.append(f'| {group} | {method} | ' + ' | '.join(cells)
                             + ' |')
        return '\n'.join(lines)

    def plot(self):
        """
        NMSE and clump flux error against magnitude, one row per group.

        Returns
        -------
        figure : `~matplotlib.figure.Figure`

        Raises
        ------
        ImportError
            If matplotlib is not installed.
        """
        from ..visualization import plot_metric_vs_magnitude

        Figure = _optional_deps.import_optional(
            'matplotlib.figure', purpose='for the evaluation figure').Figure
        groups = list(self.scores)
        fig = Figure(figsize=(10, 3.6 * max(len(groups), 1)))
        axes = fig.subplots(max(len(groups), 1), 2, squeeze=False)
        for row, group in zip(axes, groups):
            raw = self.scores[group]
            methods = [m for m in raw if m != 'mag']
            for ax, metric, label in zip(row, ('nmse', 'clump_flux_error'),
                                         ('NMSE', '|clump flux error|')):
                if not np.isfinite(raw['mag']).any():
                    ax.text(0.5, 0.5, 'no magnitudes in the catalogue',
                            ha='center', va='center', transform=ax.transAxes)
                    ax.set_title(group)
                    continue
                values = {m: np.asarray(raw[m][metric], float)
                          for m in methods}
                plot_metric_vs_magnitude(raw['mag'], values,
                                         metric_name=label, ax=ax)
                ax.set_title(group)
        fig.tight_layout()
        return fig

    def write(self, path, *, overwrite=False, figure=None):
        """
        Write the JSON report, the Markdown table and the figure.

        Parameters
        ----------
        path : str or path-like
            The JSON file; the table and the figure get the suffixes
            ``.md`` and ``.png`` (see `output_paths`).
        overwrite : bool, optional
            Replace existing files.
        figure : bool, optional
            Make the figure: True requires matplotlib, False never makes
            it, and None (default) makes it when matplotlib is installed.

        Returns
        -------
        paths : list of ``pathlib.Path``
            The files written.
        """
        make_figure = (_optional_deps.HAS_MATPLOTLIB if figure is None
                       else bool(figure))
        return write_report(path, self.summary, table=self.to_markdown()
                            + '\n', figure=self.plot() if make_figure
                            else None, overwrite=overwrite)


def evaluate_training_set(path, *, split='test',
                          methods=('learned', 'tikhonov'),
                          weights='default', device='auto',
                          mag_bins=DEFAULT_MAG_BINS, max_images=None,
                          clumps=None):
    """
    Score deconvolution methods on a split of a training-set file.

    Every group (observing regime) of the file is evaluated with
    `evaluate_methods` on the images of ``split``, with the noise levels
    stored in the file as errors and the ``mag`` column of its catalogue
    as magnitudes.

    Parameters
    ----------
    path : str or path-like
        A file written by `astrodeconv.training.make_training_set` or
        `astrodeconv.datasets.write_training_set`.
    split : {'train', 'val', 'test'}, optional
        Which images to use.
    methods : sequence of str, optional
        See `evaluate_methods`.
    weights : str or path-like, optional
        The denoiser of the learned methods.
    device : str, optional
        The device of the learned methods.
    mag_bins : sequence of float, optional
        Magnitude bin edges, default ``(20, 21.5, 23, 24, 25, 26)``.
    max_images : int, optional
        Use at most this many images of each group.
    clumps : `ClumpDetection`, optional
        How clumps are detected and matched; default ``ClumpDetection()``
        (starlet scale 3, threshold 5, 3 pixels, 2 pixel matching).

    Returns
    -------
    report : `EvaluationReport`
        Groups whose split is empty are left out.

    Examples
    --------
    >>> import os, tempfile
    >>> from astrodeconv.training import make_training_set
    >>> from astrodeconv.evaluation import evaluate_training_set
    >>> path = os.path.join(tempfile.mkdtemp(), 'set.h5')
    >>> _ = make_training_set(path, 10, stamp_size=64, upsample=2,
    ...                       progress=False)
    >>> report = evaluate_training_set(path, split='train',
    ...                                methods=['tikhonov'])
    >>> report.summary['groups']['upsample_2']['n_images']
    8
    """
    from ..datasets.storage import SPLITS, TrainingSetFile, read_training_set

    check_choice(split, 'split', tuple(SPLITS))
    max_images = _check_max_images(max_images)
    clumps = _clumps(clumps)
    edges = _check_edges(mag_bins)
    summary = {'data': str(path), 'weights': str(weights), 'split': split,
               'metrics': list(METRICS), 'clump_threshold': clumps.threshold,
               'mag_bins': edges.tolist(),
               'clump_detection': clumps.to_dict(), 'groups': {}}
    with TrainingSetFile(path) as handle:
        groups = handle.groups
    scores = {}
    for group in groups:
        data = read_training_set(path, group)
        keep = np.nonzero(data.split == SPLITS[split])[0]
        if max_images is not None:
            keep = keep[:max_images]
        if keep.size == 0:
            continue
        catalogue = data.catalogue
        mags = (np.asarray(catalogue['mag'], dtype=float)[keep]
                if catalogue is not None and 'mag' in catalogue.colnames
                else None)
        summary['groups'][group], scores[group] = evaluate_methods(
            data.observed[keep], data.truth[keep], data.psf[keep],
            methods=methods, error=data.sigma[keep], magnitudes=mags,
            mag_bins=edges, weights=weights, device=device, clumps=clumps)
    return EvaluationReport(summary, scores)
