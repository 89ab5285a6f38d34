"""Every bad input raises the right exception with a helpful message."""

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData, StdDevUncertainty

from astrodeconv.deconvolution import (RichardsonLucyDeconvolver,
                                       TikhonovDeconvolver,
                                       WienerDeconvolver)
from astrodeconv.utils.exceptions import AstrodeconvWarning

IMG = np.random.default_rng(0).normal(1, 0.1, (32, 32))


def delta(size=5):
    psf = np.zeros((size, size))
    psf[size // 2, size // 2] = 1.0
    return psf


PSF = delta()
NAN_PSF = delta()
NAN_PSF[0, 0] = np.nan
OFF_PSF = np.zeros((15, 15))
OFF_PSF[2, 3] = 1.0

CALL_CASES = [
    # (data, kwargs, exception, match)
    ('not an image', {'psf': PSF}, TypeError, 'data must be'),
    ({'a': 1}, {'psf': PSF}, TypeError, 'data must be'),
    (np.array(['a', 'b']), {'psf': PSF}, TypeError, 'dtype'),
    (np.ones(10), {'psf': PSF}, ValueError, '1 dimension'),
    (np.ones((2, 3, 4, 5)), {'psf': PSF}, ValueError, '4 dimension'),
    (np.ones((0, 8)), {'psf': PSF}, ValueError, 'at least 5 pixels'),
    (np.full((8, 8), np.nan), {'psf': PSF}, ValueError, 'only NaN'),
    (IMG, {}, ValueError, 'psf must be given'),
    (IMG, {'psf': np.zeros((5, 5))}, ValueError, 'positive sum'),
    (IMG, {'psf': -delta()}, ValueError, 'positive sum'),
    (IMG, {'psf': NAN_PSF}, ValueError, 'finite values'),
    (IMG, {'psf': np.ones((3, 3, 3))}, ValueError, 'psf must be a 2D array'),
    (IMG, {'psf': delta(41)}, ValueError, 'not be larger than the image'),
    (IMG, {'psf': OFF_PSF}, ValueError, 'centroid'),
    (IMG, {'psf': PSF * u.m}, u.UnitsError, 'dimensionless'),
    (IMG, {'psf': 'psf.fits'}, TypeError, 'psf must be a 2D array'),
    (IMG, {'psf': PSF, 'mask': np.zeros((4, 4), bool)}, ValueError,
     'mask must have the same shape'),
    (IMG, {'psf': PSF, 'mask': np.array([['a'] * 32] * 32)}, TypeError,
     'mask must be a boolean array'),
    (IMG, {'psf': PSF, 'mask': np.ones((32, 32), bool)}, ValueError,
     'all pixels masked'),
    (IMG, {'psf': PSF, 'error': np.ones((3, 3))}, ValueError,
     'error must have the same shape'),
    (IMG, {'psf': PSF, 'error': -np.ones((32, 32))}, ValueError,
     'non-negative'),
    (IMG * u.Jy, {'psf': PSF, 'error': np.ones((32, 32)) * u.m},
     u.UnitsError, "compatible with the data unit"),
    (IMG, {'psf': PSF, 'error': np.ones((32, 32)) * u.Jy}, u.UnitsError,
     'the data have no unit'),
    (NDData(IMG, psf=PSF), {'psf': PSF}, ValueError,
     'data already has a psf'),
    (NDData(IMG, mask=np.zeros((32, 32), bool), psf=PSF),
     {'mask': np.zeros((32, 32), bool)}, ValueError, 'already has a mask'),
    (NDData(IMG, psf=PSF, uncertainty=StdDevUncertainty(np.ones((32, 32)))),
     {'error': np.ones((32, 32))}, ValueError, 'already has a uncertainty'),
    (IMG * u.Jy, {'psf': PSF, 'error': StdDevUncertainty(
        np.ones((32, 32)), unit='s')}, u.UnitsError,
     'error must have units compatible'),
    (NDData(np.ones((2, 8, 8))), {'psf': PSF}, ValueError,
     'data must be a 2D image'),
    ([], {'psf': PSF}, ValueError, 'empty list'),
    ([IMG, 'x'], {'psf': PSF}, TypeError, r'data\[1\] must be'),
    ([IMG, IMG], {'psf': PSF, 'mask': np.zeros((32, 32), bool)}, ValueError,
     'cannot be combined with a list'),
    (np.ones((3, 16, 16)), {'psf': np.ones((2, 5, 5))}, ValueError,
     'one PSF per image'),
]


@pytest.mark.parametrize('data, kwargs, exc, match', CALL_CASES)
def test_bad_call_arguments(data, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TikhonovDeconvolver()(data, **kwargs)


CONSTRUCTOR_CASES = [
    (TikhonovDeconvolver, {'lam': -1.0}, ValueError, 'lam must be > 0'),
    (TikhonovDeconvolver, {'lam': 0}, ValueError, 'lam must be > 0'),
    (TikhonovDeconvolver, {'lam': np.nan}, ValueError, 'lam must be finite'),
    (TikhonovDeconvolver, {'lam': 'best'}, ValueError, "lam must be one of"),
    (TikhonovDeconvolver, {'lam': [1e-3]}, TypeError, 'lam must be a'),
    (TikhonovDeconvolver, {'upsample': 0}, ValueError,
     'upsample must be an integer >= 1'),
    (TikhonovDeconvolver, {'upsample': 2.5}, TypeError,
     'upsample must be an integer'),
    (TikhonovDeconvolver, {'upsample': True}, TypeError,
     'upsample must be an integer'),
    (TikhonovDeconvolver, {'boundary': 'wrap'}, ValueError,
     'boundary must be one of'),
    (TikhonovDeconvolver, {'pad_width': -3}, ValueError,
     'pad_width must be an integer >= 0'),
    (TikhonovDeconvolver, {'pad_width': 'big'}, ValueError,
     'pad_width must be one of'),
    (TikhonovDeconvolver, {'dtype': 'float16'}, ValueError,
     'dtype must be one of'),
    (WienerDeconvolver, {'balance': -1}, ValueError, 'balance must be > 0'),
    (WienerDeconvolver, {'balance': None}, TypeError, 'balance must be'),
    (RichardsonLucyDeconvolver, {'n_iter': 0}, ValueError,
     'n_iter must be an integer >= 1'),
    (RichardsonLucyDeconvolver, {'offset': -1.0}, ValueError,
     'offset must be >= 0'),
    (RichardsonLucyDeconvolver, {'offset': 'min'}, ValueError,
     'offset must be a number'),
]


@pytest.mark.parametrize('cls, kwargs, exc, match', CONSTRUCTOR_CASES)
def test_bad_constructor_arguments(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


def test_psf_larger_than_upsampled_image():
    with pytest.raises(ValueError, match='larger than the upsampled image'):
        TikhonovDeconvolver(upsample=2)(np.ones((8, 8)), psf=delta(21))


def test_rl_offset_too_small_for_negative_data():
    data = IMG - 5.0
    # the delta PSF is undersampled (FWHM below one pixel): it also warns
    with pytest.raises(ValueError, match='offset must make the data'), \
            pytest.warns(AstrodeconvWarning, match='below one pixel'):
        RichardsonLucyDeconvolver(offset=1.0)(data, psf=PSF)
