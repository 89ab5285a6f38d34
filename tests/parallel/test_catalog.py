"""Tests of the catalogue mode of astrodeconv.parallel (real Dask cluster)."""

import os

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.table import Table
from astropy.wcs import WCS

from astrodeconv.io import write_image
from astrodeconv.parallel import _cluster
from astrodeconv.parallel.catalog import CatalogResults, deconvolve_catalog
from astrodeconv.psf import make_gaussian_psf
from astrodeconv.utils._files import is_temporary_file

pytest.importorskip('distributed')

SIZE = 32
N_GOOD = 20


def _mosaic_wcs(shape):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    wcs.pixel_shape = shape[::-1]
    return wcs


@pytest.fixture(scope='module')
def survey(tmp_path_factory):
    """A 256x256 mosaic with 20 galaxies, a NaN corner, and its catalogue."""
    folder = tmp_path_factory.mktemp('survey')
    rng = np.random.default_rng(42)
    shape = (256, 256)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    data = rng.normal(0, 0.01, shape)
    gx, gy = np.meshgrid(np.linspace(90, 230, 5), np.linspace(30, 180, 4))
    gx = gx.ravel() + rng.uniform(-0.5, 0.5, N_GOOD)
    gy = gy.ravel() + rng.uniform(-0.5, 0.5, N_GOOD)
    for x, y in zip(gx, gy):
        data += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2))
    data[200:, :60] = np.nan
    wcs = _mosaic_wcs(shape)
    write_image(CCDData(data, unit='nJy', wcs=wcs), folder / 'mosaic.fits')
    # one object mostly off the left edge, one in the all-NaN corner
    x = np.concatenate([gx, [-10.0, 30.0]])
    y = np.concatenate([gy, [100.0, 228.0]])
    sky = wcs.pixel_to_world(x, y)
    catalog = Table({'id': np.arange(100, 100 + N_GOOD + 2),
                     'ra': sky.ra.deg, 'dec': sky.dec.deg})
    return {'folder': folder, 'mosaic': folder / 'mosaic.fits',
            'catalog': catalog, 'wcs': wcs, 'x': x, 'y': y,
            'psf': make_gaussian_psf(2.0, (15, 15)), 'data': data}


@pytest.fixture(scope='module')
def client():
    with _cluster.open_client(workers=2) as dask_client:
        yield dask_client


def _worker_state():
    from astrodeconv import conf

    return (_cluster.constructed_count(), int(conf.fft_workers),
            os.environ.get('OMP_NUM_THREADS'))


def _cutouts(path):
    with fits.open(path) as hdul:
        index = Table(hdul['INDEX'].data)
        images = {int(h.header['CATID']): (h.data.copy(), h.header.copy())
                  for h in hdul[1:-1]}
    return index, images


def _check_bad_two(result):
    assert result.failed == 2
    reasons = dict(result.failures)
    assert 'off the mosaic edge' in reasons[100 + N_GOOD]
    assert 'NaN' in reasons[100 + N_GOOD + 1]


def test_dask_equals_plain_loop(survey, client, tmp_path):
    common = {'psf': survey['psf'], 'size': SIZE, 'chunk_size': 6,
              'progress': False}
    with_dask = deconvolve_catalog(
        survey['mosaic'], survey['catalog'], tmp_path / 'dask',
        scheduler=client.scheduler.address, **common)
    loop = deconvolve_catalog(survey['mosaic'], survey['catalog'],
                              tmp_path / 'loop', workers=0, **common)
    for result in (with_dask, loop):
        assert isinstance(result, CatalogResults)
        assert (result.done, result.skipped) == (N_GOOD, 0)
        _check_bad_two(result)
        assert len(result.chunk_paths) == 4
    scale = 0.2 * u.arcsec
    for a, b in zip(with_dask.chunk_paths, loop.chunk_paths):
        index_a, images_a = _cutouts(a)
        index_b, images_b = _cutouts(b)
        assert list(index_a['status']) == list(index_b['status'])
        assert images_a.keys() == images_b.keys()
        for ident, (data, header) in images_a.items():
            np.testing.assert_allclose(data, images_b[ident][0], atol=1e-6)
            assert data.shape == (SIZE, SIZE)
            assert header['BUNIT'] == 'nJy'
            assert header['DECONV'] == 'TikhonovDeconvolver'
            row = ident - 100
            wanted = survey['wcs'].pixel_to_world(survey['x'][row],
                                                  survey['y'][row])
            wcs = WCS(header)
            exact = wcs.pixel_to_world(header['CUTX'], header['CUTY'])
            assert exact.separation(wanted) < 1e-3 * u.arcsec
            centre = wcs.pixel_to_world((SIZE - 1) / 2, (SIZE - 1) / 2)
            assert centre.separation(wanted) < 0.75 * scale
    table = Table.read(with_dask.table_path)
    assert list(table['id']) == list(survey['catalog']['id'])
    np.testing.assert_allclose(table['ra'], survey['catalog']['ra'])
    assert list(table['status']).count('done') == N_GOOD
    for row in table:
        if row['status'] == 'done':
            header = fits.getheader(tmp_path / 'dask' / row['file'],
                                    row['hdu'])
            assert header['CATID'] == row['id']
        else:
            assert row['hdu'] == -1 and row['reason']


def test_model_loaded_once_per_worker(survey, client, tmp_path):
    before = client.run(_worker_state)
    result = deconvolve_catalog(
        survey['mosaic'], survey['catalog'], tmp_path / 'out',
        psf=survey['psf'], method_options={'lam': 0.0123}, size=SIZE,
        chunk_size=2, scheduler=client.scheduler.address, progress=False)
    after = client.run(_worker_state)
    n_chunks = len(result.chunk_paths)
    assert n_chunks == 11
    built = [after[w][0] - before[w][0] for w in after]
    assert all(n in (0, 1) for n in built)
    assert 1 <= sum(built) <= len(after) < n_chunks
    for _, threads, omp in after.values():
        assert threads == 1 and omp == '1'


def test_sky_coord_column_nddata_mosaic(survey, tmp_path):
    wcs = survey['wcs']
    mosaic = NDData(np.nan_to_num(survey['data']), wcs=wcs)
    sky = wcs.pixel_to_world(survey['x'][:3], survey['y'][:3])
    path = tmp_path / 'cat.ecsv'
    Table({'name': ['a', 'b', 'c'], 'coord': SkyCoord(sky)}).write(path)
    result = deconvolve_catalog(mosaic, path, tmp_path / 'out',
                                psf=survey['psf'], size=SIZE, workers=0,
                                progress=False)
    assert (result.done, result.failed) == (3, 0)
    table = Table.read(result.table_path)
    assert list(table['id']) == [0, 1, 2]
    assert isinstance(table['coord'], SkyCoord)


def test_pixel_columns_and_cutout_files(survey, tmp_path):
    catalog = Table({'x': survey['x'][:2], 'y': survey['y'][:2]})
    first = deconvolve_catalog(survey['mosaic'], catalog, tmp_path / 'a',
                               psf=survey['psf'], size=SIZE, workers=0,
                               progress=False)
    assert first.done == 2
    files = []
    for k in range(2):
        files.append(tmp_path / f'cut{k}.fits')
        write_image(NDData(survey['data'][:SIZE, 100 + 40 * k:
                                          100 + 40 * k + SIZE]), files[-1])
    files.append(tmp_path / 'missing.fits')
    result = deconvolve_catalog(None, files, tmp_path / 'b',
                                psf=survey['psf'], workers=0, progress=False)
    assert (result.done, result.failed) == (2, 1)
    assert 'cannot read' in result.failures[0][1]


def test_resume_redoes_only_missing_chunks(survey, tmp_path):
    args = (survey['mosaic'], survey['catalog'], tmp_path / 'out')
    kwargs = {'psf': survey['psf'], 'size': SIZE, 'chunk_size': 5,
              'workers': 0, 'progress': False}
    first = deconvolve_catalog(*args, **kwargs)
    assert len(first.chunk_paths) == 5
    first.chunk_paths[1].unlink()
    stamp = os.stat(first.chunk_paths[0]).st_mtime_ns
    resumed = deconvolve_catalog(*args, resume=True, **kwargs)
    assert (resumed.done, resumed.skipped) == (5, N_GOOD - 5)
    _check_bad_two(resumed)
    assert os.stat(first.chunk_paths[0]).st_mtime_ns == stamp
    assert not [p for p in (tmp_path / 'out').iterdir()
                if is_temporary_file(p)]
    with pytest.raises(FileExistsError, match='output_dir .* not empty'):
        deconvolve_catalog(*args, **kwargs)
    with pytest.raises(ValueError, match='same catalogue and chunk_size'):
        deconvolve_catalog(*args, resume=True, **dict(kwargs, chunk_size=4))
    again = deconvolve_catalog(*args, overwrite=True,
                               **dict(kwargs, chunk_size=11))
    assert again.done == N_GOOD
    assert len(list((tmp_path / 'out').glob('chunk_*.fits'))) == 2


@pytest.mark.parametrize(('change', 'error', 'match'), [
    ({'size': 4}, ValueError, 'size must be at least 8'),
    ({'size': 8.5}, TypeError, 'size must be an int'),
    ({'chunk_size': 0}, ValueError, 'chunk_size must be at least 1'),
    ({'workers': -1}, ValueError, 'workers must be at least 0'),
    ({'method': 'foo'}, ValueError, "Invalid method 'foo'"),
    ({'method_options': {'balance': 1}}, TypeError, 'balance does not apply'),
    ({'method_options': {'lam': object()}}, TypeError, 'JSON values'),
    ({'psf': np.ones((41, 41))}, ValueError, 'psf must not be larger'),
    ({'psf': np.ones(5)}, ValueError, 'psf must be a 2D array'),
    ({'psf': None}, ValueError, 'psf must be given'),
    ({'mosaic': 3}, TypeError, 'mosaic must be a FITS file path'),
    ({'mosaic': 'nope.fits'}, FileNotFoundError, 'mosaic .* does not exist'),
    ({'mosaic': NDData(np.zeros((16, 16)))}, ValueError,
     'mosaic has no celestial WCS'),
    ({'catalog': Table({'a': [1]})}, ValueError, 'catalog must have pixel'),
    ({'catalog': Table({'x': [1.0], 'y': [1.0], 'status': [0]})},
     ValueError, 'must not have the columns status'),
    ({'catalog': Table({'id': [1, 1], 'x': [1.0, 2], 'y': [1.0, 2]})},
     ValueError, 'id must hold unique values'),
    ({'catalog': 5}, TypeError, 'catalog must be an astropy Table'),
    ({'mosaic': None}, TypeError, 'list of cutout FITS files'),
    ({'workers': 0, 'scheduler': 'tcp://x:1'}, ValueError, 'workers=0'),
])
def test_bad_input(survey, tmp_path, change, error, match):
    kwargs = {'mosaic': survey['mosaic'], 'catalog': survey['catalog'],
              'output_dir': tmp_path / 'out', 'psf': survey['psf'],
              'size': SIZE, 'workers': 0, 'progress': False, **change}
    with pytest.raises(error, match=match):
        deconvolve_catalog(kwargs.pop('mosaic'), kwargs.pop('catalog'),
                           kwargs.pop('output_dir'), **kwargs)


def test_open_client_bad_arguments():
    with pytest.raises(ValueError, match='workers must not be given'):
        with _cluster.open_client(workers=1, scheduler='tcp://x:1'):
            pass
    with pytest.raises(TypeError, match='scheduler must be an address'):
        with _cluster.open_client(scheduler=8786):
            pass
    with pytest.raises(ValueError, match='workers must be a positive int'):
        with _cluster.open_client(workers=0):
            pass


def test_former_result_names_are_deprecated_aliases():
    from astropy.utils.exceptions import AstropyDeprecationWarning

    import astrodeconv.parallel as parallel

    for old, new in (('CatalogResult', 'CatalogResults'),
                     ('MosaicResult', 'MosaicResults')):
        with pytest.warns(AstropyDeprecationWarning, match=new):
            assert getattr(parallel, old) is getattr(parallel, new)
