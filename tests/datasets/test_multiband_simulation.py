# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Simulated multi-band observations (GalSim galaxies, per-part spectra)."""

import numpy as np
import pytest
from astropy.nddata import CCDData

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


def test_noise_and_object_bands(sim):
    resid = sim.broad_data[0] - sim.broad_data[0].mean()
    assert np.std(resid[:8, :8]) == pytest.approx(sim.broad_error, rel=0.3)
    bands, broad = sim.object_bands(1)
    assert all(isinstance(b, CCDData) for b in bands + [broad])
    assert bands[0].wcs.has_celestial and broad.psf is not None
    np.testing.assert_array_equal(bands[2].data, sim.data[1, 2])
    from astrodeconv.multiband import BandSet

    assert BandSet(bands, broad).upsample == 2
