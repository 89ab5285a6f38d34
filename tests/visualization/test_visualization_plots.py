# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the quick-look figures in astrodeconv.visualization."""

import subprocess
import sys

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData

from astrodeconv.visualization import (plot_metric_vs_magnitude, plot_panel,
                                       plot_starlet_scales, save_figure)
from astrodeconv.utils._optional_deps import HAS_MATPLOTLIB
from astrodeconv.wavelets import starlet_transform

pytestmark = pytest.mark.skipif(not HAS_MATPLOTLIB,
                                reason='matplotlib is required')
if HAS_MATPLOTLIB:
    import matplotlib
    matplotlib.use('Agg')

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _blob(n, width, amplitude=1.0):
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    return amplitude * np.exp(-(x ** 2 + y ** 2) / (2 * width ** 2))


@pytest.fixture
def panel_images():
    rng = np.random.default_rng(0)
    truth = _blob(32, 2.0, 10.0)
    observed = _blob(8, 1.5, 40.0) + rng.normal(0, 0.5, (8, 8))
    tikhonov = _blob(32, 3.0, 5.0) + rng.normal(0, 0.2, (32, 32))
    network = _blob(32, 2.2, 20.0)
    return [observed, tikhonov, network, truth]


def test_plot_panel_axes_titles_and_shared_norm(panel_images):
    residual = np.random.default_rng(1).normal(0, 0.5, (8, 8))
    titles = ['Observed', 'Tikhonov', 'Network', 'Truth', 'Residual!']
    fig = plot_panel(panel_images, titles=titles, truth_index=3,
                     residual=residual, stretch='asinh')
    # 5 panels + 3 colour bars (observation, shared, residual)
    assert len(fig.axes) == 8
    panels = fig.axes[:5]
    assert [ax.get_title() for ax in panels] == titles
    net, truth = panels[2].images[0].norm, panels[3].images[0].norm
    assert net is truth
    expected = np.percentile(panel_images[3], [0.5, 99.5])
    assert [net.vmin, net.vmax] == pytest.approx(expected)
    obs = panels[0].images[0].norm
    assert obs.vmax != net.vmax
    res = panels[4].images[0]
    assert res.get_cmap().name == 'RdBu_r'
    assert res.norm.vmin == -res.norm.vmax


@pytest.mark.parametrize('stretch', ['linear', 'log', 'sqrt'])
def test_plot_panel_inputs_and_stretches(panel_images, stretch):
    images = [u.Quantity(panel_images[0], u.nJy),
              NDData(panel_images[1], unit=u.nJy),
              panel_images[2]]
    fig = plot_panel(images, stretch=stretch, percentile=99)
    # 3 panels + 2 colour bars, default titles
    assert len(fig.axes) == 5
    assert fig.axes[1].get_title() == 'Image 1'
    assert fig.axes[1].images[0].norm is fig.axes[2].images[0].norm
    expected = np.percentile(np.concatenate(
        [panel_images[1].ravel(), panel_images[2].ravel()]), 99)
    assert fig.axes[1].images[0].norm.vmax == pytest.approx(expected)
    assert fig.axes[4].get_ylabel() == f'nJy ({stretch})'
    fig.canvas.draw()


def test_plot_panel_single_image_and_png(tmp_path):
    fig = plot_panel([_blob(16, 2.0)], titles=['Only'])
    assert len(fig.axes) == 2
    path = tmp_path / 'panel.png'
    fig.savefig(path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_save_figure(tmp_path):
    fig = plot_panel([_blob(16, 2.0)])
    path = tmp_path / 'panel.png'
    save_figure(fig, path, dpi=50)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    with pytest.raises(FileExistsError, match='overwrite=True'):
        save_figure(fig, path)
    save_figure(fig, path, overwrite=True, format='pdf')
    assert path.read_bytes().startswith(b'%PDF')
    with pytest.raises(ValueError, match='has no suffix'):
        save_figure(fig, tmp_path / 'panel')
    with pytest.raises(TypeError, match='figure must be a matplotlib'):
        save_figure(object(), tmp_path / 'x.png')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['panel.png']


def test_plot_panel_errors(panel_images):
    with pytest.raises(TypeError, match='images must be a list or tuple'):
        plot_panel(panel_images[0])
    with pytest.raises(ValueError, match='images must contain at least one'):
        plot_panel([])
    with pytest.raises(ValueError, match="stretch must be one of 'asinh', "
                       "'linear', 'log', 'sqrt', got 'gamma'"):
        plot_panel(panel_images, stretch='gamma')
    with pytest.raises(ValueError, match='titles must have one entry'):
        plot_panel(panel_images, titles=['a'])
    with pytest.raises(ValueError, match='truth_index must index images'):
        plot_panel(panel_images, truth_index=4)
    with pytest.raises(TypeError, match='truth_index must be None or an'):
        plot_panel(panel_images, truth_index=1.0)
    with pytest.raises(ValueError, match='percentile must be a number'):
        plot_panel(panel_images, percentile=40)
    with pytest.raises(TypeError, match=r'images\[1\] must be'):
        plot_panel([panel_images[0], 'image'])


def test_plot_starlet_scales(tmp_path):
    image = _blob(64, 3.0) + _blob(64, 10.0, 0.3)
    fig = plot_starlet_scales(NDData(image), n_scales=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ['Image', 'Scale 1', 'Scale 2', 'Scale 3 (clumps)',
                      'Scale 4', 'Coarse plane (c4)']
    # the panels show the image and its planes, which add up to it
    shown = [np.asarray(ax.images[0].get_array()) for ax in fig.axes]
    np.testing.assert_array_equal(shown[0], image)
    np.testing.assert_allclose(np.sum(shown[1:], axis=0), image,
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(shown[1], starlet_transform(image, 4)[0])
    path = tmp_path / 'scales.png'
    fig.savefig(path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    with pytest.raises(TypeError, match='n_scales must be an integer'):
        plot_starlet_scales(image, n_scales=2.0)
    with pytest.raises(ValueError, match='n_scales must be at least 1'):
        plot_starlet_scales(image, n_scales=0)
    with pytest.raises(TypeError, match='image must be'):
        plot_starlet_scales('image')


def test_plot_metric_vs_magnitude(tmp_path):
    from matplotlib.container import ErrorbarContainer
    from matplotlib.figure import Figure

    rng = np.random.default_rng(2)
    mags = rng.uniform(20, 26, 200)
    metrics = {'Tikhonov': 0.01 * 10 ** (0.2 * (mags - 20)),
               'Network': 0.005 * 10 ** (0.2 * (mags - 20))}
    fig = plot_metric_vs_magnitude(mags, metrics, bins=[20, 22, 24, 26])
    ax = fig.axes[0]
    containers = [c for c in ax.containers
                  if isinstance(c, ErrorbarContainer)]
    assert len(containers) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        'Tikhonov', 'Network']
    assert ax.get_xlabel() == 'Magnitude'
    assert ax.get_ylabel() == 'NMSE'
    # one point per bin, at the median and 16-84 percentiles of its values
    line = containers[0].lines[0]
    inner = (mags >= 20) & (mags <= 26)
    index = np.digitize(mags, [22, 24])
    expected = [np.percentile(metrics['Tikhonov'][inner & (index == b)],
                              [16, 50, 84]) for b in range(3)]
    x = np.asarray(line.get_xdata(), dtype=float)
    np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float),
                               [e[1] for e in expected], rtol=1e-12)
    bars = containers[0].lines[2][0].get_segments()
    np.testing.assert_allclose([[b[0][1], b[1][1]] for b in bars],
                               [[e[0], e[2]] for e in expected], rtol=1e-12)
    # the two methods side by side around the bin centres
    centres = np.array([21.0, 23.0, 25.0])
    other_x = np.asarray(containers[1].lines[0].get_xdata(), dtype=float)
    np.testing.assert_allclose(x + other_x, 2 * centres)
    assert (x < centres).all()
    path = tmp_path / 'metric.png'
    fig.savefig(path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)

    other = Figure()
    axes = other.add_subplot()
    out = plot_metric_vs_magnitude(mags * u.mag, metrics, metric_name='SSIM',
                                   ax=axes)
    assert out is other
    assert axes.get_ylabel() == 'SSIM'


def test_plot_metric_vs_magnitude_errors():
    mags = np.linspace(20, 25, 10)
    with pytest.raises(ValueError, match=r"metrics\['net'\] must have one "
                       r'value per magnitude \(10\), got 9'):
        plot_metric_vs_magnitude(mags, {'net': np.ones(9)})
    with pytest.raises(TypeError, match='metrics must be a dict'):
        plot_metric_vs_magnitude(mags, [np.ones(10)])
    with pytest.raises(ValueError, match='metrics must contain at least one'):
        plot_metric_vs_magnitude(mags, {})
    with pytest.raises(ValueError, match='bins must be'):
        plot_metric_vs_magnitude(mags, {'net': np.ones(10)}, bins=[3, 1])
    with pytest.raises(TypeError, match='ax must be a matplotlib Axes'):
        plot_metric_vs_magnitude(mags, {'net': np.ones(10)}, ax='axes')


def test_import_does_not_import_matplotlib():
    code = ('import sys, astrodeconv.visualization; '
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
