# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The recipe that makes training sets: simulated truth galaxies, their
ground-based observations, and the Tikhonov deconvolutions that are the
network inputs, written to one HDF5 file (the format of
`astrodeconv.datasets.write_training_set`).

Nothing here imports PyTorch.
"""

import os
import warnings

import numpy as np

from ..deconvolution.tikhonov import REFERENCE_LAM
from ..psf.analytic import DEFAULT_MOFFAT_BETA
from ..utils._files import atomic_path, check_output_path
from ..utils._validation import check_positive_int, check_real
from ..utils.exceptions import AstrodeconvWarning
from ..utils._deprecation import renamed_keyword

__all__ = ['make_tikhonov_inputs', 'make_training_set', 'RECIPES']

__doctest_requires__ = {('make_training_set',): ['h5py', 'galsim']}

#: Images per Tikhonov batch (bounds the memory of the FFTs).
TIKHONOV_BATCH = 64
#: The train / validation / test fractions of every training set.
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
#: The selection applied to the simulated galaxies (for the file's record).
SELECTION = 'MAG < 26, FLUX_RADIUS_80 > 10 px, FWHM > 10 px'


@renamed_keyword('progress_bar', 'progress', since='0.1')
def make_tikhonov_inputs(ground, *, lam=REFERENCE_LAM,
                         batch_size=TIKHONOV_BATCH, progress=False,
                         description='Tikhonov'):
    """
    Deconvolve ground-based observations with Tikhonov: the network inputs.

    Each observation is deconvolved with its own PSF (renormalised to unit
    sum) by ``TikhonovDeconvolver(lam=lam, upsample=ground.upsample)``,
    onto the grid of the truth images, in batches of ``batch_size``
    images.

    Parameters
    ----------
    ground : `~astrodeconv.datasets.GroundObservations`
        The observations (from `~astrodeconv.datasets.degrade_to_ground`).
    lam : float, optional
        The Tikhonov weight; the reference recipe uses
        `~astrodeconv.deconvolution.REFERENCE_LAM` (9e-3).
    batch_size : int, optional
        Images deconvolved at a time.
    progress : bool, optional
        Show a progress bar.
    description : str, optional
        The label of the progress bar.

    Returns
    -------
    tikhonov : `~numpy.ndarray`
        ``(N, S, S)`` float32 deconvolutions on the truth grid.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.datasets import degrade_to_ground
    >>> from astrodeconv.training import make_tikhonov_inputs
    >>> truth = np.zeros((3, 32, 32), np.float32)
    >>> truth[:, 14:18, 14:18] = 1.0
    >>> ground = degrade_to_ground(truth, psf_fwhm=0.3, upsample=2, seed=0)
    >>> inputs = make_tikhonov_inputs(ground)
    >>> inputs.shape, inputs.dtype
    ((3, 32, 32), dtype('float32'))
    """
    from tqdm.auto import tqdm

    from ..deconvolution import TikhonovDeconvolver

    lam = check_real(lam, 'lam', minimum=0, strict=True)
    batch_size = check_positive_int(batch_size, 'batch_size')
    deconv = TikhonovDeconvolver(lam=lam, upsample=ground.upsample)
    n = len(ground.observed)
    out = None
    for start in tqdm(range(0, n, batch_size), desc=description,
                      disable=not progress):
        sl = slice(start, start + batch_size)
        psf = ground.psf[sl].astype(float)
        psf /= psf.sum(axis=(-2, -1), keepdims=True)
        with warnings.catch_warnings():
            # ground seeing on the fine grid of small stamps is wider than
            # a quarter of a stamp by design: not a PSF at the wrong scale
            warnings.filterwarnings('ignore', message='psf has a FWHM',
                                    category=AstrodeconvWarning)
            image = deconv(ground.observed[sl].astype(float), psf=psf)
        if out is None:
            out = np.empty((n,) + image.shape[1:], dtype=np.float32)
        out[sl] = image
    return out


def _tuple(value):
    """Lists (from JSON or the command line) as tuples (ranges)."""
    return tuple(value) if isinstance(value, list) else value


def _regime_seed(seed, k):
    """The seed of the PSF and noise draws of regime ``k``."""
    return int(np.random.SeedSequence([seed, 0x67726F, k]).generate_state(
        1)[0])


def _as_factors(upsample, stamp_size):
    factors = (upsample,) if not isinstance(upsample, (tuple, list)) \
        else tuple(upsample)
    if not factors:
        msg = 'upsample must hold at least one factor, got ()'
        raise ValueError(msg)
    out = []
    for k in factors:
        k = check_positive_int(k, 'upsample')
        if stamp_size % k:
            msg = (f'upsample must divide stamp_size ({stamp_size}), got '
                   f'{k}')
            raise ValueError(msg)
        if k not in out:
            out.append(k)
    return tuple(out)


#: The recipes of the training sets: the options of `make_training_set`.
#: ``'classic'`` is the set of the first shipped model (bulge + disk +
#: knots galaxies, Moffat seeing of 0.5-1"); ``'broad'`` spans what users
#: have: every PSF family (Gaussian, Moffat with beta 2-5, Kolmogorov),
#: mild PSF ellipticity, seeing 0.5-1.2", peak S/N 1-300, the same grid
#: and x2/x4 coarser ones, and irregular, clumpy, merging galaxies,
#: galaxies with neighbours and stars, crowded and sky-dominated crops.
RECIPES = {
    'classic': {'morphology': 'bulge_disk', 'upsample': (1, 4),
                'psf_fwhm': (0.5, 1.0), 'psf_model': 'moffat',
                'moffat_beta': DEFAULT_MOFFAT_BETA, 'psf_ellipticity': 0.0,
                'noise': (0.05, 1.0), 'peak_snr': None},
    'broad': {'morphology': {'bulge_disk': 0.25, 'clumpy': 0.2,
                             'irregular': 0.15, 'merger': 0.1,
                             'field': 0.1, 'crowded': 0.1, 'sky': 0.1},
              'upsample': (1, 2, 4), 'psf_fwhm': (0.5, 1.2),
              'psf_model': 'mixed', 'moffat_beta': (2.0, 5.0),
              'psf_ellipticity': (0.0, 0.1), 'noise': 'seed',
              'peak_snr': (1.0, 300.0)},
}
#: The broad recipe (the generalisation benchmark's "in distribution").
BROAD_RECIPE = RECIPES['broad']


@renamed_keyword('progress_bar', 'progress', since='0.1')
@renamed_keyword('n_jobs', 'workers', since='0.1')
def make_training_set(path, n, *, seed=0, stamp_size=128, pixel_scale=0.05,
                      upsample=(1, 4), psf_fwhm=(0.5, 1.0),
                      psf_model='moffat', noise=(0.05, 1.0),
                      lam=REFERENCE_LAM, overwrite=False, progress=True,
                      workers=1, morphology='bulge_disk',
                      moffat_beta=DEFAULT_MOFFAT_BETA, psf_ellipticity=0.0,
                      peak_snr=None):
    """
    Simulate, degrade, deconvolve and write a whole training set.

    1. `~astrodeconv.datasets.simulate_galaxies` draws ``n`` selected
       truth galaxies (seed ``seed``);
    2. for every factor ``k`` in ``upsample``,
       `~astrodeconv.datasets.degrade_to_ground` observes *every* galaxy
       with its own PSF (FWHM uniform in ``psf_fwhm``) and noise level
       (``noise``, relative to the seed rule), with a seed derived from
       ``(seed, k)`` so the regimes draw independently;
    3. `make_tikhonov_inputs` deconvolves each observation with its PSF
       onto the truth grid (``TikhonovDeconvolver(lam=lam, upsample=k)``,
       in batches);
    4. everything is written with
       `~astrodeconv.datasets.write_training_set` to one group
       ``upsample_<k>`` per regime (see ``astrodeconv.datasets.storage``
       for the layout) with the same random 0.8 / 0.1 / 0.1 train /
       validation / test split of the galaxies in every regime
       (`~astrodeconv.datasets.split_indices` with ``seed``), so that no
       test galaxy is seen in training in any regime.

    The file is written atomically: it appears, complete, when every
    regime is done. One regime at a time is held in memory, besides the
    truth images.

    Parameters
    ----------
    path : str or path-like
        Output HDF5 file.
    n : int
        Number of galaxies.
    seed : int, optional
        Seed of the simulation, of the split and (derived) of the
        observations.
    stamp_size : int, optional
        Truth stamp size in pixels.
    pixel_scale : float, optional
        Truth pixel scale in arcsec.
    upsample : int or tuple of int, optional
        Ratios of the observed to the truth pixel size, one group each.
    psf_fwhm : float or tuple of 2 float, optional
        Seeing FWHM (arcsec), fixed or a uniform range.
    psf_model : str or sequence of str, optional
        Seeing profile: ``'moffat'``, ``'gaussian'``, ``'kolmogorov'``,
        ``'mixed'`` (each image draws its family) or a sequence of names.
    noise : 'seed', float or tuple of 2 float, optional
        Noise rule of `~astrodeconv.datasets.degrade_to_ground`; the
        default draws each noise level log-uniformly between 0.05 and 1
        times the seed rule's.
    lam : float, optional
        Tikhonov regularisation weight.
    overwrite : bool, optional
        Replace an existing file (otherwise ``FileExistsError``).
    progress : bool, optional
        Show progress bars.
    workers : int, optional
        Processes for the simulation (see
        `~astrodeconv.datasets.simulate_galaxies`).
    morphology : str, sequence or dict, optional
        Kinds of truth stamps (`~astrodeconv.datasets.simulate_galaxies`).
    moffat_beta, psf_ellipticity, peak_snr : optional
        Options of the seeing and of the noise
        (`~astrodeconv.datasets.degrade_to_ground`); ``peak_snr``, when
        given, sets every image's noise from its own peak S/N instead of
        ``noise``.

    See `RECIPES` for the options of the shipped training sets
    (``make_training_set(path, n, **RECIPES['broad'])``).

    Returns
    -------
    path : str
        The file written.

    Examples
    --------
    >>> import os, tempfile
    >>> from astrodeconv.datasets import TrainingSetFile
    >>> from astrodeconv.training import make_training_set
    >>> path = os.path.join(tempfile.mkdtemp(), 'train.h5')
    >>> _ = make_training_set(path, 4, stamp_size=64, progress=False)
    >>> TrainingSetFile(path).groups
    ('upsample_1', 'upsample_4')
    """
    import time

    from ..datasets import (degrade_to_ground, simulate_galaxies,
                            split_indices, write_training_set)

    path = os.fspath(path)
    check_output_path(path, overwrite=overwrite)
    n = check_positive_int(n, 'n')
    seed = check_positive_int(seed, 'seed', minimum=0)
    stamp_size = check_positive_int(stamp_size, 'stamp_size', minimum=8)
    factors = _as_factors(upsample, stamp_size)
    lam = check_real(lam, 'lam', minimum=0, strict=True)
    command = (f'make_training_set({path!r}, {n}, seed={seed}, '
               f'stamp_size={stamp_size}, pixel_scale={pixel_scale!r}, '
               f'upsample={factors!r}, psf_fwhm={psf_fwhm!r}, '
               f'psf_model={psf_model!r}, noise={noise!r}, lam={lam!r}, '
               f'morphology={morphology!r}, moffat_beta={moffat_beta!r}, '
               f'psf_ellipticity={psf_ellipticity!r}, '
               f'peak_snr={peak_snr!r})')

    start = time.perf_counter()
    truth, catalogue = simulate_galaxies(
        n, stamp_size=stamp_size, pixel_scale=pixel_scale, seed=seed,
        progress=progress, workers=workers, morphology=morphology)
    sim_seconds = time.perf_counter() - start
    codes = np.zeros(n, dtype=np.uint8)
    for code, part in enumerate(split_indices(n, seed=seed)):
        codes[part] = code

    with atomic_path(path, overwrite=overwrite) as tmp:
        os.remove(tmp)  # write_training_set makes the file
        for k in factors:
            regime_seed = _regime_seed(seed, k)
            ground = degrade_to_ground(
                truth, psf_fwhm=tuple(psf_fwhm) if isinstance(
                    psf_fwhm, list) else psf_fwhm,
                psf_model=psf_model, pixel_scale=pixel_scale, upsample=k,
                noise=noise, seed=regime_seed, moffat_beta=_tuple(
                    moffat_beta), psf_ellipticity=_tuple(psf_ellipticity),
                peak_snr=_tuple(peak_snr))
            tikhonov = make_tikhonov_inputs(
                ground, lam=lam, progress=progress,
                description=f'Tikhonov (upsample={k})')
            attrs = {'lam': lam, 'seed': seed, 'degrade_seed': regime_seed,
                     'split_seed': seed, 'split_fractions': SPLIT_FRACTIONS,
                     'stamp_size': stamp_size, 'command': command,
                     'selection': SELECTION,
                     'acceptance': catalogue.meta.get('acceptance', 1.0),
                     'simulation_seconds': sim_seconds}
            write_training_set(tmp, truth, ground, tikhonov,
                               catalogue=catalogue, attrs=attrs,
                               group=f'upsample_{k}', split=codes,
                               index=catalogue['index'])
    return path
