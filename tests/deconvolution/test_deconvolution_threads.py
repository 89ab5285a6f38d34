"""
Thread safety: one deconvolver instance shared by several threads.

`astrodeconv.deconvolution.core` promises that a call never changes the
deconvolver, so one instance can be shared between threads. Each test runs
the same instance on different inputs from 4 threads at once (every input
several times, interleaved) and requires results bit-for-bit identical to
serial calls of that instance.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from astrodeconv.deconvolution import (LearnedDeconvolver,
                                       RichardsonLucyDeconvolver,
                                       TikhonovDeconvolver,
                                       WienerDeconvolver)

N_THREADS = 4
N_INPUTS = 8
N_ROUNDS = 3


def make_inputs(make_galaxy, make_psf, blur, shape=(32, 32)):
    """Different galaxies, PSFs, noise levels and error maps per input."""
    inputs = []
    for i in range(N_INPUTS):
        rng = np.random.default_rng(100 + i)
        psf = make_psf(2.5 + 0.3 * i, 11)
        sigma = 0.005 * (1 + i % 3)
        truth = (1 + 0.2 * i) * make_galaxy(shape, seed=i)
        data = blur(truth, psf) + rng.normal(0, sigma, shape)
        error = np.full(shape, sigma)
        inputs.append((data, psf, error))
    return inputs


def run_one(deconv, item):
    """Everything a call returns, as plain arrays."""
    data, psf, error = item
    if deconv._linear:
        res = deconv.deconvolve(data, psf=psf, error=error)
        out = [res.image, res.residual, res.error, res.effective_psf]
    else:
        res = deconv.deconvolve(data, psf=psf)
        out = [res.image, res.residual]
    out += [np.asarray(res.params[key]) for key in sorted(res.params)]
    return out


def check_threads_match_serial(deconv, inputs):
    serial = [run_one(deconv, item) for item in inputs]
    order = [i for _ in range(N_ROUNDS) for i in range(len(inputs))]
    with ThreadPoolExecutor(max_workers=N_THREADS) as pool:
        threaded = list(pool.map(lambda i: run_one(deconv, inputs[i]),
                                 order))
    for index, result in zip(order, threaded):
        for got, expected in zip(result, serial[index]):
            np.testing.assert_array_equal(got, expected,
                                          err_msg=f'input {index}')


DECONVOLVERS = {
    'tikhonov': lambda: TikhonovDeconvolver(lam=9e-3),
    'tikhonov_auto': lambda: TikhonovDeconvolver(lam='auto'),
    'tikhonov_gcv_upsampled': lambda: TikhonovDeconvolver(lam='gcv',
                                                          upsample=2),
    'tikhonov_reflect': lambda: TikhonovDeconvolver(boundary='reflect'),
    'wiener': lambda: WienerDeconvolver(),
    'richardson_lucy': lambda: RichardsonLucyDeconvolver(n_iter=5),
}


@pytest.fixture
def inputs(make_galaxy, make_psf, blur):
    return make_inputs(make_galaxy, make_psf, blur)


@pytest.mark.parametrize('name', list(DECONVOLVERS))
def test_classical_deconvolver_is_thread_safe(name, inputs):
    deconv = DECONVOLVERS[name]()
    if deconv.upsample > 1:
        inputs = [(d[:16, :16], p, e[:16, :16]) for d, p, e in inputs]
    check_threads_match_serial(deconv, inputs)


@pytest.mark.parametrize('debias', [False, True],
                         ids=['network', 'network_debias'])
def test_learned_deconvolver_is_thread_safe(debias, inputs):
    pytest.importorskip('torch')
    deconv = LearnedDeconvolver(device='cpu', debias=debias)
    check_threads_match_serial(deconv, inputs)
