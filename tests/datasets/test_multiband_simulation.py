# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Simulated multi-band observations (GalSim galaxies, per-part spectra)."""

import numpy as np
import pytest
from astropy.nddata import CCDData
from scipy.signal import fftconvolve

from astrodeconv.utils._optional_deps import HAS_GALSIM

pytestmark = pytest.mark.skipif(not HAS_GALSIM, reason='needs GalSim')


@pytest.fixture(scope='module')
def sim():
    from astrodeconv.datasets import simulate_multiband

    return simulate_multiband(3, seed=5)


def test_shapes_and_reproducibility(sim):
    from astrodeconv.datasets import simulate_multiband

    assert sim.data.shape == (3, 3, 32, 32) and len(sim) == 3
    assert sim.broad_data.shape == (3, 64, 64)
    assert sim.truth.shape == (3, 3, 64, 64)
    again = simulate_multiband(1, seed=5)
    np.testing.assert_array_equal(again.truth[0], sim.truth[0])
    other = simulate_multiband(1, seed=6)
    assert not np.allclose(other.truth[0], sim.truth[0])


def test_colours_vary_across_each_galaxy(sim):
    """Red bulges, blue clumps: z/r is not the same everywhere."""
    for truth in sim.truth:
        bright = truth[0] > 0.05 * truth[0].max()
        ratio = truth[2][bright] / truth[0][bright]
        assert ratio.max() / ratio.min() > 1.2


def test_broad_band_close_to_the_weighted_sum(sim):
    """The broad truth is drawn through its own throughput; the SED weights
    of a flat spectrum reproduce it to about 1 %, not exactly."""
    combined = np.tensordot(sim.sed_weights, sim.truth, axes=([0], [1]))
    ratio = combined.sum(axis=(-2, -1)) / sim.broad_truth.sum(axis=(-2, -1))
    np.testing.assert_allclose(ratio, 1.0, atol=0.02)
    assert abs(sim.sed_weights.sum() - 1) < 1e-3


def _observe(truth, psf, k):
    """Linear convolution and the ``k x k`` block sum."""
    blurred = fftconvolve(truth, psf, mode='same')
    n = blurred.shape[0] // k
    return blurred.reshape(n, k, n, k).sum(axis=(1, 3))


def test_noise_and_object_bands(sim):
    # every observation is its truth through its PSF plus white noise of
    # the stated level: measured 0.986-1.043 sigma (3.2-4.2 with the PSF
    # one pixel off)
    for i in range(len(sim)):
        resid = sim.broad_data[i] - _observe(sim.broad_truth[i],
                                             sim.broad_psf, 1)
        assert np.std(resid) == pytest.approx(sim.broad_error, rel=0.08)
        for b in range(3):
            resid = sim.data[i, b] - _observe(sim.truth[i, b], sim.psfs[b],
                                              sim.upsample)
            assert np.std(resid) == pytest.approx(sim.errors[b], rel=0.08)
    bands, broad = sim.object_bands(1)
    assert all(isinstance(b, CCDData) for b in bands + [broad])
    assert bands[0].wcs.has_celestial
    np.testing.assert_array_equal(broad.psf, sim.broad_psf)
    np.testing.assert_array_equal(broad.data, sim.broad_data[1])
    np.testing.assert_array_equal(broad.uncertainty.array, sim.broad_error)
    for b in range(3):
        np.testing.assert_array_equal(bands[b].data, sim.data[1, b])
        np.testing.assert_array_equal(bands[b].psf, sim.psfs[b])
        np.testing.assert_array_equal(bands[b].uncertainty.array,
                                      sim.errors[b])
    from astrodeconv.multiband import BandSet

    assert BandSet(bands, broad).upsample == 2
