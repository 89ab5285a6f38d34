# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""BandSet: the checks that line bands up, and building from files."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import CCDData, NDData, StdDevUncertainty
from astropy.wcs import WCS

from astrodeconv.io import write_image
from astrodeconv.multiband import BandSet, MultiBandDeconvolver
from astrodeconv.psf import make_gaussian_psf


def make_wcs(scale, n, crval=(150.0, 2.0), offset=0.0):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = [n / 2 + 0.5 + offset, n / 2 + 0.5]
    wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
    wcs.wcs.set()
    return wcs


def image(scale, n, fwhm, *, seed=0, unit='nJy', **wcs_kwargs):
    rng = np.random.default_rng(seed)
    return CCDData(rng.normal(10.0, 1.0, (n, n)), unit=unit,
                   wcs=make_wcs(scale, n, **wcs_kwargs),
                   uncertainty=StdDevUncertainty(np.ones((n, n))),
                   psf=make_gaussian_psf(fwhm, shape=(15, 15)))


def narrow(n_bands=3, **kwargs):
    return [image(0.2, 16, 7.0 - b / 2, seed=b, **kwargs)
            for b in range(n_bands)]


def test_grid_ratio_and_properties():
    bandset = BandSet(narrow(), image(0.1, 32, 1.7, seed=9),
                      bands=['rubin_r', 'rubin_i', 'rubin_z'],
                      broad_band='euclid_vis')
    assert bandset.upsample == 2 and len(bandset) == bandset.n_bands == 3
    assert bandset.shape == (16, 16) and bandset.fine_shape == (32, 32)
    assert bandset.unit == u.nJy and bandset.wcs is bandset.broad.wcs
    assert 'upsample=2' in repr(bandset) and 'rubin_r' in repr(bandset)
    weights = bandset.sed_weights()
    assert weights.shape == (3,) and abs(weights.sum() - 1) < 1e-3


def test_ratio_four():
    bandset = BandSet(narrow(), image(0.05, 64, 3.0))
    assert bandset.upsample == 4


def test_read_from_fits_files(tmp_path):
    paths = []
    for b, member in enumerate(narrow()):
        paths.append(tmp_path / f'band{b}.fits')
        write_image(member, paths[-1])
    write_image(image(0.1, 32, 1.7), tmp_path / 'vis.fits')
    bandset = BandSet.read(paths, tmp_path / 'vis.fits')
    assert bandset.upsample == 2
    for member, path in zip(bandset.images, paths):
        assert member.psf.shape == (15, 15)
        assert member.uncertainty is not None and member.unit == u.nJy
        assert member.wcs.has_celestial
    out = MultiBandDeconvolver(n_iter=3, discrepancy=None)(
        bandset, sed_weights=[0.4, 0.35, 0.25])
    assert [o.shape for o in out] == [(32, 32)] * 3
    assert all(o.wcs.has_celestial for o in out)


@pytest.mark.parametrize('change, error, match', [
    (lambda imgs, vis: (imgs, image(0.1, 32, 1.7, crval=(152.0, 2.0))),
     ValueError, 'no overlap'),
    (lambda imgs, vis: (imgs, image(0.08, 40, 1.7)), ValueError,
     'integer multiple'),
    (lambda imgs, vis: (imgs, image(0.1, 30, 1.7)), ValueError,
     r'2 times the pixels'),
    (lambda imgs, vis: (imgs, image(0.1, 32, 1.7, offset=0.5)), ValueError,
     'nest'),
    (lambda imgs, vis: (imgs[:2] + [image(0.2, 16, 6.0, offset=0.3)], vis),
     ValueError, r'images\[2\] must be on the pixel grid'),
    (lambda imgs, vis: (imgs[:2] + [image(0.2, 12, 6.0)], vis), ValueError,
     r'images\[2\] must have the shape'),
    (lambda imgs, vis: (imgs[:2] + [image(0.2, 16, 6.0, unit='uJy')], vis),
     u.UnitsError, 'unit of the broad band'),
    (lambda imgs, vis: (narrow(unit='nJy/arcsec2'),
                        image(0.1, 32, 1.7, unit='nJy/arcsec2')),
     u.UnitsError, 'flux per pixel'),
    (lambda imgs, vis: ([NDData(np.ones((16, 16)))], vis), ValueError,
     'celestial WCS'),
    (lambda imgs, vis: (imgs[0].data, vis), TypeError, 'list of NDData'),
    (lambda imgs, vis: ([imgs[0].data], vis), TypeError, 'NDData or CCDData'),
    (lambda imgs, vis: ([], vis), ValueError, 'at least one'),
])
def test_bad_bandsets(change, error, match):
    images, vis = change(narrow(), image(0.1, 32, 1.7))
    with pytest.raises(error, match=match):
        BandSet(images, vis)


def test_members_need_psf_and_uncertainty():
    images = narrow()
    images[1] = CCDData(images[1].data, unit='nJy', wcs=images[1].wcs,
                        psf=images[1].psf)
    with pytest.raises(ValueError, match=r'images\[1\] must carry an '
                       'uncertainty'):
        BandSet(images, image(0.1, 32, 1.7))
    images = narrow()
    images[0] = CCDData(images[0].data, unit='nJy', wcs=images[0].wcs,
                        uncertainty=images[0].uncertainty)
    with pytest.raises(ValueError, match=r'images\[0\] must carry a PSF'):
        BandSet(images, image(0.1, 32, 1.7))


def test_band_objects_checked():
    with pytest.raises(ValueError, match='one band per image'):
        BandSet(narrow(), image(0.1, 32, 1.7), bands=['rubin_r'])
    with pytest.raises(TypeError, match='broad_band must be a Band'):
        BandSet(narrow(), image(0.1, 32, 1.7), broad_band=3)
    bandset = BandSet(narrow(), image(0.1, 32, 1.7))
    with pytest.raises(ValueError, match='needs the Band of every image'):
        bandset.sed_weights()
    with pytest.raises(ValueError, match='not be given with a BandSet'):
        MultiBandDeconvolver()(bandset, image(0.1, 32, 1.7))
