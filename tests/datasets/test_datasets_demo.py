"""Tests of the bundled demo data set."""

import sys
from importlib import resources

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from scipy.signal import fftconvolve

from astrodeconv.datasets import DemoData, load_demo_data
from astrodeconv.psf import psf_centroid
from astrodeconv.utils._optional_deps import HAS_GALSIM
from astrodeconv.utils._wcs import upsample_wcs


@pytest.fixture(scope='module')
def demo():
    return load_demo_data()


def _packaged_file():
    return resources.files('astrodeconv.data').joinpath('demo_galaxy.fits')


def test_loads_offline_without_galsim(monkeypatch):
    # a None entry in sys.modules makes ``import galsim`` fail
    monkeypatch.setitem(sys.modules, 'galsim', None)
    demo = load_demo_data()
    assert isinstance(demo, DemoData)
    assert 'observed=(32, 32)' in repr(demo)


def test_contents(demo):
    assert demo.upsample == 4
    assert isinstance(demo.observed, CCDData)
    assert isinstance(demo.truth, CCDData)
    assert demo.observed.shape == (32, 32)
    assert demo.truth.shape == (128, 128)
    assert demo.observed.unit == u.nJy and demo.truth.unit == u.nJy
    assert demo.observed.wcs.has_celestial and demo.truth.wcs.has_celestial
    unc = demo.observed.uncertainty
    assert isinstance(unc, StdDevUncertainty)
    noise = demo.observed.meta['NOISE']
    np.testing.assert_allclose(unc.array, noise, rtol=1e-6)
    # the noise level matches the documented peak SNR of ~40
    assert 30 < demo.observed.data.max() / noise < 50
    assert demo.observed.psf is not None
    np.testing.assert_array_equal(demo.observed.psf, demo.psf)
    # no stale layout/WCS keywords in meta
    assert 'NAXIS1' not in demo.observed.meta
    assert 'CRPIX1' not in demo.truth.meta


def test_psf_normalised_and_centred(demo):
    psf = demo.psf
    assert psf.shape == (61, 61)
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.unravel_index(psf.argmax(), psf.shape) == (30, 30)
    cy, cx = psf_centroid(psf)
    assert cy == pytest.approx(30, abs=1e-3)
    assert cx == pytest.approx(30, abs=1e-3)


def test_wcs_consistency(demo):
    # observation pixel (x, y) and truth pixel (4x + 1.5, 4y + 1.5) are the
    # same point of the sky
    y, x = np.mgrid[-0.5:32:3.5, -0.5:32:2.5]
    coarse = demo.observed.wcs.pixel_to_world(x, y)
    fine = demo.truth.wcs.pixel_to_world(4 * x + 1.5, 4 * y + 1.5)
    assert np.max(coarse.separation(fine).to_value(u.arcsec)) < 1e-6
    assert demo.observed.wcs.proj_plane_pixel_scales()[0].to_value(
        u.arcsec) == pytest.approx(0.2)
    assert demo.truth.wcs.proj_plane_pixel_scales()[0].to_value(
        u.arcsec) == pytest.approx(0.05)
    # the upsampled observation WCS is the truth WCS
    up = upsample_wcs(demo.observed.wcs, demo.upsample)
    np.testing.assert_allclose(up.wcs.crpix, demo.truth.wcs.wcs.crpix)
    np.testing.assert_allclose(up.wcs.cdelt, demo.truth.wcs.wcs.cdelt)


def test_flux_conserved(demo):
    noise = demo.observed.meta['NOISE']
    tolerance = 3 * noise * np.sqrt(demo.observed.data.size)
    assert abs(demo.observed.data.sum() - demo.truth.data.sum()) < tolerance
    # AB magnitude 21 is about 14450 nJy, a little of it off the stamp
    assert 13500 < demo.truth.data.sum() < 14460


def test_forward_model(demo):
    # observed = block_sum(truth * psf) + white noise of the stated sigma
    k = demo.upsample
    model = fftconvolve(demo.truth.data.astype(float), demo.psf,
                        mode='same')
    model = model.reshape(32, k, 32, k).sum(axis=(1, 3))
    chi = (demo.observed.data - model) / demo.observed.meta['NOISE']
    assert 0.9 < chi.std() < 1.1
    assert abs(chi.mean()) < 0.1


def test_file_is_small():
    with resources.as_file(_packaged_file()) as path:
        assert path.stat().st_size < 100_000


@pytest.mark.skipif(not HAS_GALSIM, reason='galsim is required')
def test_regenerate_matches_packaged_file(tmp_path):
    from astrodeconv.datasets.demo import _make_demo_file

    path = _make_demo_file(tmp_path / 'demo.fits')
    with resources.as_file(_packaged_file()) as packaged, \
            fits.open(path) as new, fits.open(packaged) as old:
        assert [h.name for h in new] == ['PRIMARY', 'OBSERVED', 'OBS_ERR',
                                         'PSF', 'TRUTH']
        for name in ('OBSERVED', 'OBS_ERR', 'PSF', 'TRUTH'):
            np.testing.assert_allclose(new[name].data, old[name].data,
                                       rtol=1e-5, atol=1e-3)
        assert new['OBSERVED'].header['SEED'] == 2025
        assert 'GalSim' in str(new['TRUTH'].header['COMMENT'])
