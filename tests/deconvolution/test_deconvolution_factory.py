"""Tests of astrodeconv.deconvolution.make_deconvolver."""

import numpy as np
import pytest

from astrodeconv.deconvolution import (LearnedDeconvolver,
                                       RichardsonLucyDeconvolver,
                                       TikhonovDeconvolver, WienerDeconvolver,
                                       make_deconvolver)


@pytest.mark.parametrize(('method', 'options', 'cls', 'attrs'), [
    ('tikhonov', {'lam': 0.05, 'upsample': 2}, TikhonovDeconvolver,
     {'lam': 0.05, 'upsample': 2}),
    ('tikhonov', {'lam': 'sure', 'boundary': 'reflect'}, TikhonovDeconvolver,
     {'lam': 'sure', 'boundary': 'reflect'}),
    ('wiener', {'balance': 0.01}, WienerDeconvolver, {'balance': 0.01}),
    ('richardson-lucy', {'n_iter': 7}, RichardsonLucyDeconvolver,
     {'n_iter': 7}),
    ('richardson_lucy', {'n_iter': 3, 'upsample': 3},
     RichardsonLucyDeconvolver, {'n_iter': 3, 'upsample': 3}),
])
def test_builds_the_class_with_the_options(method, options, cls, attrs):
    deconvolver = make_deconvolver(method, **options)
    assert type(deconvolver) is cls
    for name, value in attrs.items():
        assert getattr(deconvolver, name) == value


def test_none_options_take_the_class_defaults():
    made = make_deconvolver('tikhonov', lam=None, balance=None,
                            n_iter=None, upsample=None)
    default = TikhonovDeconvolver()
    assert (made.lam, made.upsample, made.boundary) == (
        default.lam, default.upsample, default.boundary)


def test_same_result_as_the_class(observed, psf):
    made = make_deconvolver('wiener', balance=0.02)(observed, psf=psf)
    direct = WienerDeconvolver(balance=0.02)(observed, psf=psf)
    np.testing.assert_array_equal(made, direct)


def test_learned_accepts_weights_for_denoiser():
    deconvolver = make_deconvolver('learned', weights='default', lam=0.02,
                                   device='cpu')
    assert isinstance(deconvolver, LearnedDeconvolver)
    assert deconvolver.lam == 0.02
    with pytest.raises(TypeError, match='weights and denoiser must not'):
        make_deconvolver('learned', weights='default', denoiser='default')


@pytest.mark.parametrize(('method', 'options', 'error', 'match'), [
    ('magic', {}, ValueError,
     "Invalid method 'magic'. Valid methods are: 'tikhonov', 'wiener', "
     "'richardson-lucy', 'learned'"),
    (None, {}, ValueError, 'Invalid method None'),
    ('wiener', {'lam': 0.1}, TypeError,
     "lam does not apply to method 'wiener'. Valid options are: balance"),
    ('richardson-lucy', {'boundary': 'reflect'}, TypeError,
     "boundary does not apply to method 'richardson-lucy'"),
    ('tikhonov', {'lam': -1.0}, ValueError, 'lam must be > 0'),
])
def test_errors(method, options, error, match):
    with pytest.raises(error, match=match):
        make_deconvolver(method, **options)


def test_default_method_is_the_registered_winner():
    from astrodeconv.deconvolution import (DEFAULT_METHOD, PnPDeconvolver,
                                           default_method)

    method, weights = DEFAULT_METHOD['method'], DEFAULT_METHOD['weights']
    assert default_method() == f'{method}:{weights}'
    deconvolver = make_deconvolver('default', upsample=2)
    cls = PnPDeconvolver if method == 'pnp' else LearnedDeconvolver
    assert type(deconvolver) is cls
    assert deconvolver.denoiser_name == weights
    assert deconvolver.upsample == 2
