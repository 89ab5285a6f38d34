"""
The output resolution in the catalogue and mosaic modes: ``target_psf=``
(issue 19 item 1).

The narrow PSF is built once with the PSF (or, for cutout files whose own
WCS decides, per file); every cutout and tile is the deconvolution with
the target a single-image call gives, and the headers record the target.
"""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData
from astropy.table import Table
from astropy.wcs import WCS
from scipy.signal import fftconvolve

from astrodeconv.deconvolution import TikhonovDeconvolver
from astrodeconv.io import read_image, write_image
from astrodeconv.parallel import deconvolve_catalog, deconvolve_mosaic
from astrodeconv.psf import make_moffat_psf, target_psf_from_fwhm

PSF = make_moffat_psf(5.0, shape=(25, 25))     # 1.0" at 0.2"/px
SIZE = 32


def sky_wcs(shape, scale=0.2):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
    wcs.wcs.cunit = ['deg', 'deg']
    return wcs


@pytest.fixture(scope='module')
def field(tmp_path_factory):
    """A 192 x 192 field of blurred galaxies at 0.2"/px, as a FITS file."""
    folder = tmp_path_factory.mktemp('target')
    rng = np.random.default_rng(7)
    shape = (192, 192)
    yy, xx = np.indices(shape, dtype=float)
    truth = np.zeros(shape)
    positions = [(40.0, 50.0), (100.0, 140.0), (150.0, 60.0)]
    for y, x in positions:
        r = np.hypot(yy - y, (xx - x) * 0.7)
        truth += 50 * np.exp(-r / 3.0)
    data = fftconvolve(truth, PSF, mode='same') + rng.normal(0, 0.05, shape)
    header = sky_wcs(shape).to_header()
    fits.writeto(folder / 'field.fits', data, header)
    return {'folder': folder, 'path': folder / 'field.fits', 'data': data,
            'positions': positions}


def _cutouts(result):
    images = {}
    for path in result.chunk_paths:
        with fits.open(path) as hdul:
            for hdu in hdul[1:-1]:
                images[int(hdu.header['CATID'])] = (hdu.data.astype(float),
                                                    hdu.header.copy())
    return images


def test_catalogue_cutouts_at_the_target(field, tmp_path):
    y, x = np.array(field['positions']).T
    catalog = Table({'id': [1, 2, 3], 'x': x, 'y': y})
    common = {'psf': PSF, 'size': SIZE, 'workers': 0, 'progress': False}
    arcsec = deconvolve_catalog(field['path'], catalog, tmp_path / 'a',
                                target_psf=0.6 * u.arcsec, **common)
    array = deconvolve_catalog(field['path'], catalog, tmp_path / 'b',
                               target_psf=target_psf_from_fwhm(3.0, (25, 25)),
                               **common)
    plain = deconvolve_catalog(field['path'], catalog, tmp_path / 'c',
                               **common)
    assert arcsec.done == array.done == plain.done == 3
    with_arcsec, with_array = _cutouts(arcsec), _cutouts(array)
    without = _cutouts(plain)
    for ident, (data, header) in with_arcsec.items():
        assert header['DCNVTGT'] == 'gaussian'
        assert header['DCNVTFW'] == pytest.approx(0.6)
        assert header['DCNVTFWP'] == pytest.approx(3.0)
        assert with_array[ident][1]['DCNVTGT'] == 'array'
        np.testing.assert_allclose(data, with_array[ident][0], rtol=0,
                                   atol=1e-6 * np.abs(data).max())
        # the target was applied: not the full deconvolution
        assert np.abs(data - without[ident][0]).max() > 0.05 * data.max()
        assert 'DCNVTGT' not in without[ident][1]


def test_cutout_files_take_their_own_scale(field, tmp_path):
    # an angular target for cutout files waits for each file's WCS: it is
    # sent to the (Dask) worker with the chunk and applied there
    files = []
    for k, (y, x) in enumerate(field['positions'][:2]):
        y0, x0 = int(y) - SIZE // 2, int(x) - SIZE // 2
        cut = field['data'][y0:y0 + SIZE, x0:x0 + SIZE]
        files.append(tmp_path / f'cut{k}.fits')
        write_image(NDData(cut, wcs=sky_wcs(cut.shape)), files[-1])
    result = deconvolve_catalog(None, files, tmp_path / 'out', psf=PSF,
                                target_psf=0.6 * u.arcsec, workers=1,
                                progress=False)
    assert (result.done, result.failed) == (2, 0)
    images = _cutouts(result)
    for k, path in enumerate(files):
        alone = TikhonovDeconvolver()(read_image(path), psf=PSF,
                                      target_psf=0.6 * u.arcsec)
        data, header = images[k]
        np.testing.assert_allclose(data, alone.data, rtol=0,
                                   atol=1e-6 * np.abs(alone.data).max())
        assert header['DCNVTFW'] == pytest.approx(0.6)


def test_catalogue_refuses_a_target_up_front(field, tmp_path):
    catalog = Table({'x': [50.0], 'y': [40.0]})
    # a mosaic without WCS: an angle cannot be put on its grid
    with pytest.raises(ValueError, match='^target_psf is a FWHM of 0.6 '
                       'arcsec, an angle, but the pixel scale'):
        deconvolve_catalog(NDData(field['data']), catalog, tmp_path / 'a',
                           psf=PSF, size=SIZE, target_psf=0.6 * u.arcsec,
                           workers=0, progress=False)
    # cutout files and a target wider than the PSF
    with pytest.raises(ValueError, match='^target_psf must be narrower'):
        deconvolve_catalog(None, [field['path']], tmp_path / 'b', psf=PSF,
                           target_psf=8.0 * u.pix, workers=0,
                           progress=False)


def test_mosaic_tiles_at_the_target(field, tmp_path):
    out_path = tmp_path / 'out.fits'
    result = deconvolve_mosaic(field['path'], out_path, psf=PSF, tile=128,
                               target_psf=0.6 * u.arcsec, workers=0,
                               progress=False)
    assert result.tiles == 4
    with fits.open(out_path) as hdul:
        out = hdul[0].data.astype(float)
        header = hdul[0].header
    assert header['DCNVTGT'] == 'gaussian'
    assert header['DCNVTFW'] == pytest.approx(0.6)
    assert header['DCNVTFWP'] == pytest.approx(3.0)
    data = field['data']
    ref = TikhonovDeconvolver(boundary='reflect')(
        NDData(data, wcs=sky_wcs(data.shape)), psf=PSF,
        target_psf=0.6 * u.arcsec).data
    margin = 32  # the edges, where the tiles return the flux they lost
    # measured: 1.9e-15 of the peak inside
    inner = (slice(margin, -margin),) * 2
    assert np.abs(out - ref)[inner].max() < 1e-6 * ref.max()
    assert out.sum() == pytest.approx(data.sum(), rel=1e-9)
    # an in-memory mosaic without WCS takes a FWHM in pixels
    image = deconvolve_mosaic(data, None, psf=PSF, tile=128,
                              target_psf=3.0 * u.pix, workers=0,
                              progress=False).image
    np.testing.assert_allclose(image, out, rtol=0, atol=1e-9 * out.max())
