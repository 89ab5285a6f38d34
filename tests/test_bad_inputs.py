"""
A catalogue of bad inputs: every public entry point and the command line
refuse them with the right exception type and a message that names the
parameter (or the command-line option, the dataset or the file).

Each case is ``(id, call, exception, pattern)``: ``call(files)`` receives
the fixture of small files below, and ``pattern`` is searched in the
message (case-sensitively, as a regular expression).
"""

import contextlib
import io
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import CCDData, NDData
from astropy.utils.masked import Masked

from astrodeconv import datasets as ds
from astrodeconv import deconvolution as dc
from astrodeconv import denoisers as dn
from astrodeconv import evaluation as ev
from astrodeconv import io as adio
from astrodeconv import metrics as mt
from astrodeconv import operators as op
from astrodeconv import psf as ps
from astrodeconv.cli import main
from astrodeconv.deconvolution.factory import DECONVOLUTION_METHODS
from astrodeconv.utils._optional_deps import HAS_H5PY

torch = pytest.importorskip('torch')

from astrodeconv import training as tr  # noqa: E402
from astrodeconv.denoisers import (build_denoiser, get_weights,  # noqa: E402
                                   load_denoiser, package_weights,
                                   register_weights, save_denoiser)
from astrodeconv.denoisers.weights import WeightsRecord  # noqa: E402

IMG = np.ones((32, 32)) + 0.01 * np.arange(32)[None, :]
STACK = np.stack([IMG, IMG])
_YY, _XX = np.indices((9, 9)) - 4
PSF = np.exp(-(_XX ** 2 + _YY ** 2) / 4.0)
PSF /= PSF.sum()
PSFS = np.stack([PSF, PSF])
#: A truth whose pixels cancel: its total flux is zero.
CANCEL = 0.1 * np.r_[np.ones(512), -np.ones(512)].reshape(32, 32)


def _record(**fields):
    base = {'name': 'bad-inputs-test', 'architecture': 'UNet64',
            'filename': 'x.pt', 'sha256': None, 'file_size': None}
    base.update(fields)
    return WeightsRecord(**base)


class Files:
    """Small files made once: a FITS image and training sets."""

    def __init__(self, root):
        self.root = root
        adio.write_image(IMG, root / 'image.fits')
        (root / 'text.fits').write_text('not a FITS file')
        (root / 'text.h5').write_text('not an HDF5 file')
        (root / 'garbage.pt').write_bytes(b'garbage' * 10)
        (root / 'exists.md').write_text('keep me')
        (root / 'folder').mkdir()
        if HAS_H5PY:
            self._training_sets()

    def _training_sets(self):
        import h5py

        yy, xx = np.indices((32, 32))
        truth = np.stack([(i + 1) * np.exp(-((xx - 16) ** 2
                                             + (yy - 16) ** 2) / 8.0)
                          for i in range(10)]).astype(np.float32)
        ground = ds.degrade_to_ground(truth, psf_fwhm=0.3, upsample=2,
                                      noise=0.01, seed=1)
        good = self.root / 'good.h5'
        ds.write_training_set(good, truth, ground, truth,
                              split=[0] * 6 + [1] * 2 + [2] * 2)
        for name, change in (('bytes', self._bytes), ('big', self._big),
                             ('split', self._split), ('json', self._json)):
            path = self.root / f'{name}.h5'
            path.write_bytes(good.read_bytes())
            with h5py.File(path, 'a') as handle:
                change(handle['upsample_2'])

    @staticmethod
    def _bytes(group):
        shape = group['observed'].shape
        del group['observed']
        group['observed'] = np.full(shape, b'1.0', dtype='S3')

    @staticmethod
    def _big(group):
        del group['observed']
        group['observed'] = np.zeros((10, 64, 64), np.float32)

    @staticmethod
    def _split(group):
        group['split'][0] = 7

    @staticmethod
    def _json(group):
        if 'catalogue' not in group:
            group['catalogue'] = np.zeros(10, dtype=[('mag', float)])
        group['catalogue'].attrs['units'] = '{not json'

    def __truediv__(self, name):
        return self.root / name


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    return Files(tmp_path_factory.mktemp('bad_inputs'))


needs_h5py = pytest.mark.skipif(not HAS_H5PY, reason='h5py is required')

# --------------------------------------------------------------------------
# the library

#: Every name make_deconvolver takes, as its messages list them.
_METHOD_LIST = ', '.join(repr(name) for name in (*DECONVOLUTION_METHODS,
                                                 'default'))

LIBRARY = [
    # deconvolvers
    ('tikhonov-lam-negative', lambda f: dc.TikhonovDeconvolver(lam=-1),
     ValueError, r'^lam must'),
    ('tikhonov-lam-unknown-string',
     lambda f: dc.TikhonovDeconvolver(lam='big'), ValueError, r'^lam must'),
    ('tikhonov-upsample-zero', lambda f: dc.TikhonovDeconvolver(upsample=0),
     ValueError, r'^upsample must'),
    ('tikhonov-upsample-float',
     lambda f: dc.TikhonovDeconvolver(upsample=2.5), TypeError,
     r'^upsample must'),
    ('tikhonov-boundary', lambda f: dc.TikhonovDeconvolver(boundary='mirror'),
     ValueError, r'^boundary must'),
    ('tikhonov-dtype', lambda f: dc.TikhonovDeconvolver(dtype='int8'),
     ValueError, r'^dtype must'),
    ('tikhonov-recenter-string',
     lambda f: dc.TikhonovDeconvolver(recenter='yes'), TypeError,
     r'^recenter must'),
    ('tikhonov-pad-width-negative',
     lambda f: dc.TikhonovDeconvolver(pad_width=-3), ValueError,
     r'^pad_width must'),
    ('wiener-balance-negative', lambda f: dc.WienerDeconvolver(balance=-1),
     ValueError, r'^balance must'),
    ('wiener-balance-unknown-string',
     lambda f: dc.WienerDeconvolver(balance='x'), ValueError,
     r'^balance must'),
    ('rl-n-iter-zero', lambda f: dc.RichardsonLucyDeconvolver(n_iter=0),
     ValueError, r'^n_iter must'),
    ('rl-n-iter-float', lambda f: dc.RichardsonLucyDeconvolver(n_iter=2.5),
     TypeError, r'^n_iter must'),
    ('rl-offset-string', lambda f: dc.RichardsonLucyDeconvolver(offset='x'),
     ValueError, r'^offset must'),
    ('learned-denoiser-int', lambda f: dc.LearnedDeconvolver(3), TypeError,
     r'^denoiser must'),
    ('factory-unknown-method', lambda f: dc.make_deconvolver('magic'),
     ValueError, r"Invalid method 'magic'. Valid methods are"),
    ('call-without-psf', lambda f: dc.TikhonovDeconvolver()(IMG),
     ValueError, r'^psf must be given'),
    ('call-psf-nan',
     lambda f: dc.TikhonovDeconvolver()(IMG, psf=np.full((5, 5), np.nan)),
     ValueError, r'^psf must'),
    ('call-psf-4d',
     lambda f: dc.TikhonovDeconvolver()(IMG, psf=np.ones((2, 3, 3, 3))),
     ValueError, r'^psf must'),
    ('call-psf-larger-than-image',
     lambda f: dc.TikhonovDeconvolver()(IMG, psf=np.ones((65, 65))),
     ValueError, r'^psf must not be larger'),
    ('call-psf-inverted', lambda f: dc.TikhonovDeconvolver()(IMG, psf=-PSF),
     ValueError, r'^psf must'),
    ('call-psf-zero-sum',
     lambda f: dc.TikhonovDeconvolver()(IMG, psf=np.zeros((9, 9))),
     ValueError, r'^psf must'),
    ('call-psf-with-unit',
     lambda f: dc.TikhonovDeconvolver()(IMG, psf=PSF * u.Jy), u.UnitsError,
     r'^psf must be dimensionless'),
    ('call-data-string',
     lambda f: dc.TikhonovDeconvolver()('image.fits', psf=PSF), TypeError,
     r'^data must'),
    ('call-data-1d', lambda f: dc.TikhonovDeconvolver()(np.ones(32), psf=PSF),
     ValueError, r'^data must'),
    ('call-data-complex',
     lambda f: dc.TikhonovDeconvolver()(IMG * 1j, psf=PSF), TypeError,
     r'^data must.*complex'),
    ('call-data-bytes',
     lambda f: dc.TikhonovDeconvolver()(np.full((8, 8), b'1'), psf=PSF),
     TypeError, r'^data must'),
    ('call-data-all-nan',
     lambda f: dc.TikhonovDeconvolver()(np.full((32, 32), np.nan), psf=PSF),
     ValueError, r'^data must contain finite'),
    ('call-ccddata-3d',
     lambda f: dc.TikhonovDeconvolver()(CCDData(np.ones((2, 8, 8)),
                                                unit='adu'), psf=PSF),
     ValueError, r'^data must be a 2D image.*3D stack'),
    ('call-mask-shape',
     lambda f: dc.TikhonovDeconvolver()(IMG, psf=PSF,
                                        mask=np.zeros((3, 3), bool)),
     ValueError, r'^mask must'),
    ('call-error-shape',
     lambda f: dc.WienerDeconvolver()(IMG, psf=PSF, error=np.ones((3, 3))),
     ValueError, r'^error must'),
    ('call-error-unit',
     lambda f: dc.WienerDeconvolver()(IMG * u.Jy, psf=PSF,
                                      error=np.ones((32, 32)) * u.m),
     u.UnitsError, r'^error must.*Jy.*m'),
    ('call-nddata-psf-twice',
     lambda f: dc.TikhonovDeconvolver()(NDData(IMG, psf=PSF), psf=PSF),
     ValueError, r'^psf was given but data already has a psf'),
    # psf
    ('normalize-psf-zero', lambda f: ps.normalize_psf(np.zeros((5, 5))),
     ValueError, r'^psf must'),
    ('validate-psf-1d', lambda f: ps.validate_psf(np.ones(5)), ValueError,
     r'^psf must'),
    ('pad-psf-smaller', lambda f: ps.pad_psf(PSF, (3, 3)), ValueError,
     r'^shape must'),
    ('crop-psf-larger', lambda f: ps.crop_psf(PSF, (31, 31)), ValueError,
     r'^shape must'),
    ('gaussian-fwhm-negative', lambda f: ps.make_gaussian_psf(-1),
     ValueError, r'^fwhm must'),
    ('gaussian-fwhm-string', lambda f: ps.make_gaussian_psf('wide'),
     TypeError, r'^fwhm must'),
    ('gaussian-arcsec-without-scale',
     lambda f: ps.make_gaussian_psf(0.8 * u.arcsec), ValueError,
     r'^pixel_scale must'),
    ('gaussian-oversampling-zero',
     lambda f: ps.make_gaussian_psf(3, oversampling=0), ValueError,
     r'^oversampling must'),
    ('moffat-beta-negative', lambda f: ps.make_moffat_psf(3, beta=-1),
     ValueError, r'^beta must'),
    ('airy-without-scale',
     lambda f: ps.make_airy_psf(500 * u.nm, 8 * u.m, pixel_scale=None),
     TypeError, r'^pixel_scale must'),
    ('measure-fwhm-method', lambda f: ps.measure_fwhm(PSF, method='guess'),
     ValueError, r'^method must'),
    ('measure-fwhm-flat', lambda f: ps.measure_fwhm(np.ones((9, 9))),
     ValueError, r'^psf must have a peak'),
    ('resample-psf-factor-zero', lambda f: ps.resample_psf(PSF, 0),
     ValueError, r'^factor must'),
    ('recenter-psf-method', lambda f: ps.recenter_psf(PSF, method='middle'),
     ValueError, r'^method must'),
    ('matching-kernel-method',
     lambda f: ps.make_matching_kernel(PSF, PSF, method='x'), ValueError,
     r'^method must'),
    ('psf-for-image-model',
     lambda f: ps.make_psf_for_image(IMG, 3, model='box'), ValueError,
     r'^model must'),
    ('empirical-psf-even-size',
     lambda f: ps.build_empirical_psf(IMG, size=4), ValueError,
     r'^size must'),
    # metrics
    ('nmse-shapes', lambda f: mt.nmse(IMG, IMG[:16]), ValueError,
     r'^estimate and truth must have the same shape'),
    ('nmse-zero-truth', lambda f: mt.nmse(IMG, np.zeros_like(IMG)),
     ValueError, r'^truth must'),
    ('nmse-one-unit', lambda f: mt.nmse(IMG * u.Jy, IMG), u.UnitsError,
     r'^estimate and truth must both have units'),
    ('psnr-data-range-none', lambda f: mt.psnr(IMG, IMG, data_range=None),
     ValueError, r'^data_range must'),
    ('psnr-data-range-string',
     lambda f: mt.psnr(IMG, IMG, data_range='peak'), ValueError,
     r'^data_range must'),
    ('psnr-data-range-negative',
     lambda f: mt.psnr(IMG, IMG, data_range=-1.0), ValueError,
     r'^data_range must'),
    ('ssim-sigma-zero', lambda f: mt.ssim(IMG, IMG, data_range=1.0, sigma=0),
     ValueError, r'^sigma must'),
    ('ssim-k1-complex', lambda f: mt.ssim(IMG, IMG, data_range=1.0, k1=1j),
     TypeError, r'^k1 must be a real number'),
    ('ssim-k2-negative',
     lambda f: mt.ssim(IMG, IMG, data_range=1.0, k2=-0.03), ValueError,
     r'^k2 must'),
    ('flux-ratio-zero-truth',
     lambda f: mt.flux_ratio(IMG, np.zeros_like(IMG)), ValueError,
     r'^truth must have a non-zero total flux'),
    ('flux-ratio-cancelling-truth', lambda f: mt.flux_ratio(IMG, CANCEL),
     ValueError, r'^truth must have a non-zero total flux'),
    ('flux-ratio-incompatible-units',
     lambda f: mt.flux_ratio(IMG * u.Jy, IMG * u.m), u.UnitsError,
     r'^estimate unit .*Jy.* truth unit .*m'),
    ('flux-error-cancelling-truth', lambda f: mt.flux_error(IMG, CANCEL),
     ValueError, r'^truth must have a non-zero total flux'),
    ('clump-scale-too-large',
     lambda f: mt.clump_flux_error(IMG, IMG, scale=9), ValueError,
     r'^scale must'),
    ('clump-threshold-negative',
     lambda f: mt.clump_flux_error(IMG, IMG, threshold=-1), ValueError,
     r'^threshold must'),
    ('clump-sigma-with-unit',
     lambda f: mt.clump_flux_error(IMG, IMG, sigma=1 * u.Jy), u.UnitsError,
     r'^sigma has a unit'),
    ('hallucination-match-radius-zero',
     lambda f: mt.hallucination_rate(IMG, IMG, match_radius=0), ValueError,
     r'^match_radius must'),
    ('residual-psf-complex',
     lambda f: mt.data_residual(IMG, IMG, PSF * (1 + 1j)), TypeError,
     r'^psf must be an array of real numbers'),
    ('residual-upsample-zero',
     lambda f: mt.data_residual(IMG, IMG, PSF, upsample=0), ValueError,
     r'^upsample must'),
    ('chi2-error-complex',
     lambda f: mt.reduced_chi2(IMG, IMG, PSF,
                               error=np.ones((32, 32)) * (1 + 1j)),
     TypeError, r'^error must be real'),
    ('chi2-without-error', lambda f: mt.reduced_chi2(IMG, IMG, PSF),
     ValueError, r'^error must be given'),
    ('centroid-no-positive-pixel', lambda f: mt.centroid_error(-IMG, IMG),
     ValueError, r'^estimate and truth must'),
    # the forward model
    ('forward-upsample-zero',
     lambda f: op.ForwardModel(PSF, (16, 16), upsample=0), ValueError,
     r'^upsample must'),
    ('forward-shape-1d', lambda f: op.ForwardModel(PSF, (16,)), TypeError,
     r'^shape must'),
    ('forward-psf-1d', lambda f: op.ForwardModel(np.ones(5), (16, 16)),
     ValueError, r'^psf must'),
    ('forward-pad-width-negative',
     lambda f: op.ForwardModel(PSF, (16, 16), pad_width=-1), ValueError,
     r'^pad_width must'),
    ('forward-apply-shape',
     lambda f: op.ForwardModel(PSF, (16, 16)).forward(np.ones((5, 5))),
     ValueError, r'^x must'),
    # datasets
    ('degrade-upsample-zero',
     lambda f: ds.degrade_to_ground(STACK, upsample=0), ValueError,
     r'^upsample must'),
    ('degrade-noise-string',
     lambda f: ds.degrade_to_ground(STACK, noise='loud'), ValueError,
     r'^noise must'),
    ('degrade-psf-model',
     lambda f: ds.degrade_to_ground(STACK, psf_model='box'), ValueError,
     r'^psf_model must'),
    ('split-fractions-sum',
     lambda f: ds.split_indices(10, fractions=(0.5, 0.6, 0.1)), ValueError,
     r'^fractions must'),
    ('normalize-pair-mode', lambda f: dn.normalize_pair(IMG, mode='train!'),
     ValueError, r'^mode must'),
    ('make-cutouts-ndarray', lambda f: ds.make_cutouts(IMG), TypeError,
     r'^mosaic must'),
    ('select-galaxies-list', lambda f: ds.select_galaxies([1, 2, 3]),
     TypeError, r'^catalogue must'),
    # io
    ('read-image-missing', lambda f: adio.read_image(f / 'none.fits'),
     FileNotFoundError, r"^path '.*none\.fits' does not exist"),
    ('read-image-not-fits', lambda f: adio.read_image(f / 'text.fits'),
     OSError, r"text\.fits' is not a readable FITS file"),
    ('read-image-hdu-out-of-range',
     lambda f: adio.read_image(f / 'image.fits', hdu=5), ValueError,
     r'^hdu must'),
    ('write-image-exists', lambda f: adio.write_image(IMG, f / 'image.fits'),
     FileExistsError, r"^path '.*image\.fits' already exists"),
    ('write-image-string', lambda f: adio.write_image('img', f / 'z.fits'),
     TypeError, r'^image must'),
    ('write-image-missing-folder',
     lambda f: adio.write_image(IMG, f / 'no' / 'z.fits'), FileNotFoundError,
     r'^path .* directory that does not exist'),
    # evaluation
    ('clump-detection-threshold-zero',
     lambda f: ev.ClumpDetection(threshold=0), ValueError,
     r'^threshold must'),
    ('clump-detection-scale-zero', lambda f: ev.ClumpDetection(scale=0),
     ValueError, r'^scale must'),
    ('score-unknown-metric',
     lambda f: ev.score_images(IMG, IMG, metrics=['beauty']), ValueError,
     r'^metrics must'),
    ('score-chi2-without-data',
     lambda f: ev.score_images(IMG, IMG, metrics=['chi2']), ValueError,
     r'^metrics must not include chi2'),
    ('score-clumps-dict',
     lambda f: ev.score_images(IMG, IMG, clumps={'scale': 3}), TypeError,
     r'^clumps must'),
    ('summary-one-mag-bin-edge',
     lambda f: ev.summarize_by_magnitude([1.0], [20.0], mag_bins=[20]),
     ValueError, r'^mag_bins must'),
    ('summary-decreasing-mag-bins',
     lambda f: ev.summarize_by_magnitude([1.0], [20.0], mag_bins=[25, 20]),
     ValueError, r'^mag_bins must'),
    ('summary-magnitudes-length',
     lambda f: ev.summarize_by_magnitude([1.0, 2.0], [20.0]), ValueError,
     r'^magnitudes must'),
    ('evaluate-methods-none',
     lambda f: ev.evaluate_methods(STACK, STACK, PSFS, methods=[]),
     ValueError, r'^methods must'),
    ('evaluate-methods-unknown',
     lambda f: ev.evaluate_methods(STACK, STACK, PSFS, methods=['magic']),
     ValueError, r'^methods must'),
    ('evaluate-methods-2d',
     lambda f: ev.evaluate_methods(IMG, IMG, PSF, methods=['tikhonov']),
     ValueError, r'^observed and truth must be stacks'),
    ('evaluate-methods-observed-larger',
     lambda f: ev.evaluate_methods(np.ones((2, 64, 64)), STACK, PSFS,
                                   methods=['tikhonov']),
     ValueError, r"^observed must .*observed grid \(64, 64\) is larger "
     r"than the truth's"),
    ('evaluate-set-split',
     lambda f: ev.evaluate_training_set(f / 'good.h5', split='dev'),
     ValueError, r'^split must'),
    ('evaluate-set-max-images-zero',
     lambda f: ev.evaluate_training_set(f / 'good.h5', max_images=0),
     ValueError, r'^max_images must'),
    ('evaluate-set-max-images-float',
     lambda f: ev.evaluate_training_set(f / 'good.h5', max_images=2.5),
     TypeError, r'^max_images must'),
    ('write-report-existing-table',
     lambda f: ev.write_report(f / 'exists.json', {}, table='| a |'),
     FileExistsError, r"exists\.md' already exists"),
    # denoisers and weights
    ('load-denoiser-int', lambda f: load_denoiser(42), TypeError,
     r'^weights must'),
    ('load-denoiser-unknown-name', lambda f: load_denoiser('no-such'),
     ValueError, r"unknown weights 'no-such'"),
    ('load-denoiser-missing-file', lambda f: load_denoiser(f / 'none.pt'),
     FileNotFoundError, r"^weights file '.*none\.pt' does not exist"),
    ('load-denoiser-directory', lambda f: load_denoiser(f / 'folder'),
     IsADirectoryError, r"^weights '.*folder' is a directory; it must be"),
    ('load-denoiser-garbage', lambda f: load_denoiser(f / 'garbage.pt'),
     ValueError, r"^weights file '.*garbage\.pt' is not a readable"),
    ('register-weights-dict', lambda f: register_weights({'name': 'x'}),
     TypeError, r'^record must'),
    ('register-weights-sha256-int',
     lambda f: register_weights(_record(sha256=12345)), TypeError,
     r'^record\.sha256 must be None or a string of 64 hexadecimal'),
    ('register-weights-sha256-short',
     lambda f: register_weights(_record(sha256='abc')), ValueError,
     r'^record\.sha256 must'),
    ('register-weights-existing',
     lambda f: register_weights(get_weights('unet16-sim-v1')), ValueError,
     r"weights 'unet16-sim-v1' are already registered"),
    ('get-weights-unknown', lambda f: get_weights('nope'), ValueError,
     r"unknown weights 'nope'"),
    ('build-denoiser-architecture', lambda f: build_denoiser('ResNet'),
     ValueError, r'^architecture must'),
    ('save-denoiser-object', lambda f: save_denoiser(object(), f / 's.pt'),
     TypeError, r'^module must'),
    ('package-weights-name-with-slash',
     lambda f: package_weights(f / 'x.pt', f.root, name='a/b'), ValueError,
     r'^name must'),
    # training
    ('trainer-model-function',
     lambda f: tr.Trainer(lambda x: x, [], epochs=1,
                          checkpoint_dir=f / 'run'),
     TypeError, r'^model must'),
    ('warmup-epochs-zero', lambda f: tr.warmup_cosine_lr(0, lr=1e-3,
                                                         epochs=0),
     ValueError, r'^epochs must'),
    ('warmup-lr-negative', lambda f: tr.warmup_cosine_lr(0, lr=-1, epochs=3),
     ValueError, r'^lr must'),
    ('pair-dataset-missing', lambda f: tr.PairDataset(f / 'none.h5'),
     FileNotFoundError, r"none\.h5' does not exist"),
    ('make-training-set-n-zero',
     lambda f: tr.make_training_set(f / 'n.h5', 0), ValueError,
     r'^n must'),
    ('make-training-set-upsample',
     lambda f: tr.make_training_set(f / 'n.h5', 10, upsample=3,
                                    stamp_size=64),
     ValueError, r'^upsample must divide stamp_size'),
    # issue 20: masked arrays, float32 range, cryptic messages
    ('masked-array-and-mask',
     lambda f: dc.TikhonovDeconvolver()(
         np.ma.MaskedArray(IMG, mask=IMG > 1.2), psf=PSF,
         mask=np.zeros(IMG.shape, bool)),
     ValueError, r'^mask was given but data is a masked array with its '
     r'own mask'),
    ('masked-quantity-and-mask',
     lambda f: dc.WienerDeconvolver()(
         Masked(IMG * u.Jy, mask=IMG > 1.2), psf=PSF,
         mask=np.zeros(IMG.shape, bool)),
     ValueError, r'^mask was given but data is a masked array'),
    ('masked-array-all-masked',
     lambda f: dc.TikhonovDeconvolver()(
         np.ma.MaskedArray(IMG, mask=np.ones(IMG.shape, bool)), psf=PSF),
     ValueError, r'^data must have unmasked pixels'),
    ('tikhonov-float32-overflow',
     lambda f: dc.TikhonovDeconvolver(dtype='float32')(
         np.full((32, 32), 1e37), psf=PSF),
     ValueError, r"^dtype must be 'float64' for these data: the total "
     r'\|value\| of the image, 1\.024e\+40, exceeds the float32 range'),
    ('wiener-float32-overflow-in-a-stack',
     lambda f: dc.WienerDeconvolver(dtype='float32', balance=0.1)(
         np.stack([IMG, np.full((32, 32), -1e37)]), psf=PSF),
     ValueError, r"^dtype must be 'float64' .* of image 1 of the stack"),
    ('moffat-negative-angular-fwhm',
     lambda f: ps.make_moffat_psf(-0.7 * u.arcsec,
                                  pixel_scale=0.2 * u.arcsec),
     ValueError, r'^fwhm must be positive and finite, got '
     r'fwhm=-0\.7 arcsec$'),
    ('gaussian-zero-pixel-fwhm',
     lambda f: ps.make_gaussian_psf(0 * u.pix), ValueError,
     r'^fwhm must be positive and finite, got fwhm=0\.0 pix$'),
    ('kolmogorov-nan-angular-fwhm',
     lambda f: ps.make_kolmogorov_psf(np.nan * u.arcsec,
                                      pixel_scale=0.2 * u.arcsec),
     ValueError, r'^fwhm must be positive and finite, got fwhm=nan arcsec'),
    ('make-deconvolver-typo',
     lambda f: dc.make_deconvolver('learnd'), ValueError,
     rf"^Invalid method 'learnd'\. Valid methods are: {_METHOD_LIST}\. "
     r"Did you mean 'learned'\?$"),
    ('make-deconvolver-capitals',
     lambda f: dc.make_deconvolver('Wiener'), ValueError,
     r"Did you mean 'wiener'\?$"),
    ('make-deconvolver-far-off',
     lambda f: dc.make_deconvolver('zzz'), ValueError,
     rf'Valid methods are: {_METHOD_LIST}$'),
    *[(f'{method}-2x2-image',
       lambda f, method=method: dc.make_deconvolver(method)(
           np.ones((2, 2)), psf=np.ones((1, 1))),
       ValueError, r'^data must have at least 5 pixels along each axis, '
       r'got shape \(2, 2\) \(5x5 is the smallest image any deconvolver '
       r'takes\)$')
      for method in DECONVOLUTION_METHODS],
    ('tikhonov-4-pixel-stack',
     lambda f: dc.TikhonovDeconvolver(lam=0.1)(np.ones((3, 4, 8)),
                                               psf=np.ones((1, 1))),
     ValueError, r'^data must have at least 5 pixels along each axis, '
     r'got shape \(3, 4, 8\)'),
    ('tikhonov-small-image-in-a-list',
     lambda f: dc.TikhonovDeconvolver()([IMG, np.ones((3, 3))], psf=PSF),
     ValueError, r'^data\[1\] must have at least 5 pixels'),
]

#: Cases that read the HDF5 training sets of the fixture.
H5_LIBRARY = [
    ('read-training-set-missing',
     lambda f: ds.read_training_set(f / 'none.h5'), FileNotFoundError,
     r"^path '.*none\.h5' does not exist"),
    ('read-training-set-directory',
     lambda f: ds.read_training_set(f / 'folder'), ValueError,
     r"^path '.*folder' is a directory"),
    ('read-training-set-not-hdf5',
     lambda f: ds.read_training_set(f / 'text.h5'), ValueError,
     r"^path '.*text\.h5' is not an HDF5 file"),
    ('read-training-set-bytes',
     lambda f: ds.read_training_set(f / 'bytes.h5'), ValueError,
     r"dataset 'observed' must hold real numbers, got dtype \|S3"),
    ('read-training-set-observed-larger',
     lambda f: ds.read_training_set(f / 'big.h5'), ValueError,
     r"dataset 'observed' .*observed grid \(64, 64\) is larger than the "
     r'truth grid'),
    ('read-training-set-split-codes',
     lambda f: ds.read_training_set(f / 'split.h5'), ValueError,
     r"dataset 'split' must hold the codes 0 \(train\), 1 \(val\) or 2 "
     r'\(test\), got 7'),
    ('read-training-set-catalogue-json',
     lambda f: ds.read_training_set(f / 'json.h5'), ValueError,
     r"^attribute 'units' of /upsample_2/catalogue in '.*json\.h5' must be "
     r'a JSON object'),
    ('training-set-file-split-codes',
     lambda f: ds.TrainingSetFile(f / 'split.h5'), ValueError,
     r"dataset 'split' must hold the codes"),
    ('pair-dataset-split-name',
     lambda f: tr.PairDataset(f / 'good.h5', split='dev'), ValueError,
     r'^split must'),
    ('pair-dataset-crop-too-large',
     lambda f: tr.PairDataset(f / 'good.h5', crop=64), ValueError,
     r'^crop must'),
]


def _ids(cases):
    return [case[0] for case in cases]


def _check(call, files, exception, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(exception, match=pattern):
            call(files)


@pytest.mark.parametrize('name, call, exception, pattern', LIBRARY,
                         ids=_ids(LIBRARY))
def test_library(name, call, exception, pattern, files):
    _check(call, files, exception, pattern)


@needs_h5py
@pytest.mark.parametrize('name, call, exception, pattern', H5_LIBRARY,
                         ids=_ids(H5_LIBRARY))
def test_library_training_sets(name, call, exception, pattern, files):
    _check(call, files, exception, pattern)


# --------------------------------------------------------------------------
# the command line: (id, argv with {} for the files folder, status, pattern)

CLI = [
    ('unknown-command', ['frobnicate'], 2, r"invalid choice: 'frobnicate'"),
    ('deconvolve-missing-input',
     ['deconvolve', '{}/none.fits', '--psf-fwhm', '3pix', '-o', '{}/o.fits'],
     1, r"none\.fits' does not exist"),
    ('deconvolve-upsample-zero',
     ['deconvolve', '{}/image.fits', '--psf-fwhm', '3pix', '--upsample', '0',
      '-o', '{}/o.fits'], 2, r'upsample must'),
    ('deconvolve-method',
     ['deconvolve', '{}/image.fits', '--psf-fwhm', '3pix', '--method',
      'magic', '-o', '{}/o.fits'], 2, r"argument --method: invalid choice"),
    ('deconvolve-no-output',
     ['deconvolve', '{}/image.fits', '--psf-fwhm', '3pix'], 2,
     r'required: -o/--output'),
    ('deconvolve-psf-fwhm-word',
     ['deconvolve', '{}/image.fits', '--psf-fwhm', 'wide', '-o',
      '{}/o.fits'], 2, r'^--psf-fwhm must'),
    ('deconvolve-no-psf',
     ['deconvolve', '{}/image.fits', '-o', '{}/o.fits'], 2,
     r'--psf PSF\.fits or --psf-fwhm'),
    ('deconvolve-output-exists',
     ['deconvolve', '{}/image.fits', '--psf-fwhm', '3pix', '-o',
      '{}/image.fits'], 1, r"image\.fits' already exists"),
    ('evaluate-max-images-zero',
     ['evaluate', '{}/good.h5', '--max-images', '0'], 2,
     r'^--max-images must be at least 1, got 0'),
    ('evaluate-max-images-negative',
     ['evaluate', '{}/good.h5', '--max-images', '-1'], 2,
     r'^--max-images must be at least 1, got -1'),
    ('evaluate-max-images-word',
     ['evaluate', '{}/good.h5', '--max-images', 'many'], 2,
     r'argument --max-images: invalid int'),
    ('evaluate-one-mag-bin-edge',
     ['evaluate', '{}/good.h5', '--mag-bins', '20'], 2,
     r'^--mag-bins must be at least two bin edges'),
    ('evaluate-decreasing-mag-bins',
     ['evaluate', '{}/good.h5', '--mag-bins', '25', '20'], 2,
     r'^--mag-bins must be finite and increasing, got 25 20'),
    ('evaluate-nan-mag-bin',
     ['evaluate', '{}/good.h5', '--mag-bins', '20', 'nan'], 2,
     r'^--mag-bins must be finite'),
    ('evaluate-split-name', ['evaluate', '{}/good.h5', '--split', 'dev'], 2,
     r'argument --split: invalid choice'),
    ('evaluate-method', ['evaluate', '{}/good.h5', '--methods', 'magic'], 2,
     r'argument --methods: invalid choice'),
    ('evaluate-missing-file', ['evaluate', '{}/none.h5'], 1,
     r"none\.h5' does not exist"),
    ('train-epochs-word', ['train', '{}/good.h5', '-o', '{}/run',
                           '--epochs', 'many'], 2,
     r'argument --epochs: invalid int'),
    ('train-epochs-zero', ['train', '{}/good.h5', '-o', '{}/run',
                           '--epochs', '0'], 2,
     r'^--epochs must be at least 1, got 0'),
    ('train-batch-size-zero', ['train', '{}/good.h5', '-o', '{}/run',
                               '--batch-size', '0'], 2,
     r'^--batch-size must be at least 1'),
    ('train-crop-negative', ['train', '{}/good.h5', '-o', '{}/run',
                             '--crop', '-2'], 2, r'^--crop must'),
    ('train-lr-zero', ['train', '{}/good.h5', '-o', '{}/run', '--lr', '0'],
     2, r'^--lr must be a finite positive number'),
    ('train-min-lr-above-lr', ['train', '{}/good.h5', '-o', '{}/run',
                               '--lr', '1e-4', '--min-lr', '1e-3'], 2,
     r'^--min-lr must not exceed --lr'),
    ('train-architecture', ['train', '{}/good.h5', '-o', '{}/run', '--arch',
                            'resnet'], 2, r'argument --arch: invalid choice'),
    ('train-resume-and-overwrite',
     ['train', '{}/good.h5', '-o', '{}/run', '--resume', '--overwrite'], 2,
     r'^--resume and --overwrite must not be given together'),
    ('train-output-is-a-file', ['train', '{}/good.h5', '-o',
                                '{}/image.fits'], 1,
     r"^-o/--output-dir '.*image\.fits' must be a directory"),
    ('train-missing-data', ['train', '{}/none.h5', '-o', '{}/run'], 1,
     r"training set '.*none\.h5' does not exist"),
    ('simulate-too-few', ['simulate', '-n', '3', '-o', '{}/x.h5'], 2,
     r'^-n must be at least 10'),
    ('simulate-n-word', ['simulate', '-n', 'ten', '-o', '{}/x.h5'], 2,
     r'argument -n/--n-galaxies: invalid int'),
    ('demo-output-is-a-file', ['demo', '-o', '{}/image.fits'], 1,
     r"^-o '.*image\.fits' must be a directory"),
]

#: Command-line cases that read the HDF5 training sets of the fixture.
H5_CLI = [
    ('evaluate-split-codes', ['evaluate', '{}/split.h5', '--methods',
                              'tikhonov'], 1, r"dataset 'split' must hold"),
    ('evaluate-observed-larger', ['evaluate', '{}/big.h5', '--methods',
                                  'tikhonov'], 1,
     r'observed grid \(64, 64\) is larger than the truth grid'),
    ('evaluate-catalogue-json', ['evaluate', '{}/json.h5', '--methods',
                                 'tikhonov'], 1,
     r"attribute 'units' of /upsample_2/catalogue in '.*json\.h5'"),
]


def run_cli(argv):
    """Run the command line in-process: (status, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            status = main(argv)
    return status, err.getvalue()


def _check_cli(argv, status, pattern, files):
    argv = [arg.replace('{}', str(files.root)) for arg in argv]
    got, err = run_cli(argv)
    lines = err.strip().splitlines()
    assert got == status, err
    # one line, never a traceback
    assert 'Traceback' not in err
    error = [line for line in lines if line.startswith('astrodeconv: error:')]
    assert len(error) == 1, err
    assert re.search(pattern, error[0][len('astrodeconv: error: '):]), err


@pytest.mark.parametrize('name, argv, status, pattern', CLI, ids=_ids(CLI))
def test_command_line(name, argv, status, pattern, files, monkeypatch):
    monkeypatch.chdir(files.root)
    _check_cli(argv, status, pattern, files)


@needs_h5py
@pytest.mark.parametrize('name, argv, status, pattern', H5_CLI,
                         ids=_ids(H5_CLI))
def test_command_line_training_sets(name, argv, status, pattern, files,
                                    monkeypatch):
    monkeypatch.chdir(files.root)
    _check_cli(argv, status, pattern, files)


def test_catalogue_size():
    """The issue asks for at least 80 cases."""
    n = len(LIBRARY) + len(H5_LIBRARY) + len(CLI) + len(H5_CLI)
    assert n >= 80
    names = _ids(LIBRARY + H5_LIBRARY + CLI + H5_CLI)
    assert len(set(names)) == len(names)


# --------------------------------------------------------------------------
# data loss and silent wrong results (issue 10, section 5)

@needs_h5py
@pytest.mark.parametrize('existing', ['md', 'png'])
def test_evaluate_keeps_existing_table_and_figure(existing, files,
                                                  tmp_path):
    report = tmp_path / 'r.json'
    other = report.with_suffix('.' + existing)
    other.write_text('keep me')
    status, err = run_cli(['evaluate', str(files / 'good.h5'), '--methods',
                           'tikhonov', '-o', str(report)])
    assert status == 1
    assert f'{other} already exists' in err
    assert other.read_text() == 'keep me'
    assert not report.exists()


@needs_h5py
def test_train_keeps_existing_best(files, tmp_path):
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'best.pt').write_bytes(b'earlier weights')
    argv = ['train', str(files / 'good.h5'), '--base-width', '2',
            '--n-levels', '2', '--epochs', '1', '--batch-size', '2',
            '--crop', '16', '--warmup-epochs', '0', '--no-progress', '-o',
            str(run)]
    status, err = run_cli(argv)
    assert status == 1
    assert 'best.pt of an earlier run; use --resume' in err
    assert (run / 'best.pt').read_bytes() == b'earlier weights'
    assert run_cli(argv + ['--overwrite'])[0] == 0
    assert (run / 'best.pt').read_bytes() != b'earlier weights'


def _pairs(n=8, size=8):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, size, size, generator=generator)
    return [(x[i], x[i], torch.tensor(0.1)) for i in range(n)]


def test_trainer_refuses_a_used_directory(tmp_path):
    (tmp_path / 'best.pt').write_bytes(b'earlier weights')
    with pytest.raises(FileExistsError, match=r"^checkpoint_dir '.*' "
                       r'already holds best\.pt of an earlier run'):
        tr.Trainer(build_denoiser('UNet64', base_width=2, n_levels=2),
                   _pairs(), epochs=1, batch_size=4, log=None,
                   checkpoint_dir=tmp_path, device='cpu')
    assert (tmp_path / 'best.pt').read_bytes() == b'earlier weights'


def test_diverging_training_names_the_real_files(tmp_path):
    trainer = tr.Trainer(
        build_denoiser('UNet64', base_width=2, n_levels=2), _pairs(),
        epochs=2, batch_size=4, log=None, checkpoint_dir=tmp_path,
        device='cpu', progress=False,
        loss=lambda output, target: (output - target).abs().mean() * np.nan)
    with pytest.raises(FloatingPointError) as info:
        trainer.fit()
    message = str(info.value)
    assert 'No checkpoint was written' in message
    assert 'latest.pt' not in message
    assert not (tmp_path / 'latest.pt').exists()


def test_floating_point_error_is_one_line(monkeypatch, files, tmp_path):
    def diverge(self):
        msg = 'the training loss is not finite (nan) at epoch 1'
        raise FloatingPointError(msg)

    monkeypatch.setattr(tr.Trainer, 'fit', diverge)
    if not HAS_H5PY:
        pytest.skip('h5py is required')
    status, err = run_cli(['train', str(files / 'good.h5'), '--base-width',
                           '2', '--n-levels', '2', '--crop', '16',
                           '--batch-size', '2', '--no-progress', '-o',
                           str(tmp_path / 'run')])
    assert status == 1
    assert err.strip() == ('astrodeconv: error: the training loss is not '
                           'finite (nan) at epoch 1')


def test_package_weights_touches_only_its_file(tmp_path):
    net = build_denoiser('UNet64', base_width=2, n_levels=2)
    checkpoint = tmp_path / 'best.pt'
    save_denoiser(net, checkpoint)
    out = tmp_path / 'out'
    out.mkdir()
    others = {'unet16-sim-v1-b36e0a03.pt': b'shipped default',
              'unet16-mine.pt': b'unrelated'}
    for name, content in others.items():
        (out / name).write_bytes(content)
    record = package_weights(checkpoint, out, name='unet16')
    for name, content in others.items():
        assert (out / name).read_bytes() == content
    assert (out / record.filename).is_file()
    # the same weights again: refused without overwrite, nothing changes
    (out / 'unet16.json').unlink()
    before = (out / record.filename).stat().st_mtime_ns
    with pytest.raises(FileExistsError, match=record.filename):
        package_weights(checkpoint, out, name='unet16')
    assert (out / record.filename).stat().st_mtime_ns == before
    assert not (out / 'unet16.json').exists()
    package_weights(checkpoint, out, name='unet16', overwrite=True)
    for name, content in others.items():
        assert (out / name).read_bytes() == content


def test_corrupt_weights_file_gives_no_unsafe_advice(tmp_path):
    from astrodeconv.denoisers import load_sunet_checkpoint

    net = build_denoiser('UNet64', base_width=2, n_levels=2)
    good = tmp_path / 'good.pt'
    save_denoiser(net, good)
    bad = tmp_path / 'bad.pt'
    with zipfile.ZipFile(good) as source, \
            zipfile.ZipFile(bad, 'w', zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith('data.pkl'):
                data = data.replace(b'_rebuild_tensor_v2',
                                    b'_rebuild_tensor_v9')
            target.writestr(info, data)
    for load in (load_denoiser, load_sunet_checkpoint):
        with pytest.raises(ValueError) as info:
            load(bad)
        message = str(info.value)
        assert re.search(r"'.*bad\.pt' is not a readable", message)
        assert 'weights_only=False' not in message
        assert 'corrupt' in message


def test_ssim_of_constant_images():
    flat = np.full((16, 16), 3.0)
    assert mt.ssim(flat, flat, data_range='reference') == 1.0
    # different constants: the standard formula, constants from the joint
    # range of the two images
    a, b = 6.0, 3.0
    c1 = (0.01 * (a - b)) ** 2
    expected = (2 * a * b + c1) / (a ** 2 + b ** 2 + c1)
    value = mt.ssim(np.full((16, 16), a), flat, data_range='reference')
    assert value == pytest.approx(expected, rel=1e-12)
    stack = mt.ssim(np.stack([flat, flat * 2]), np.stack([flat, flat]),
                    data_range='reference')
    assert np.all(np.isfinite(stack)) and stack[0] == 1.0


# --------------------------------------------------------------------------
# issue 20: masked arrays, precision, and what the files and the summary
# line say

#: Bad pixels of IMG, given the value 1e6 where a test needs them dirty.
BAD = np.zeros(IMG.shape, bool)
BAD[5:8, 10:12] = True
BAD[20, 25] = True
DIRTY = np.where(BAD, 1e6, IMG)

SINGLE_IMAGE = [
    pytest.param(dc.TikhonovDeconvolver, id='tikhonov'),
    pytest.param(dc.WienerDeconvolver, id='wiener'),
    pytest.param(lambda: dc.RichardsonLucyDeconvolver(n_iter=10),
                 id='richardson-lucy'),
    pytest.param(dc.LearnedDeconvolver, id='learned'),
]


@pytest.mark.parametrize('make', SINGLE_IMAGE)
def test_masked_array_is_its_mask(make):
    deconv = make()
    out = deconv(np.ma.MaskedArray(DIRTY, mask=BAD), psf=PSF)
    # built as for a plain ndarray
    assert type(out) is np.ndarray and out.dtype == np.float64
    np.testing.assert_array_equal(out, deconv(DIRTY, psf=PSF, mask=BAD))
    # the masked values never reach the result: the flux of the clean
    # image (1e6 pixels would multiply it by about a thousand)
    np.testing.assert_array_equal(out, deconv(IMG, psf=PSF, mask=BAD))
    assert out.sum() == pytest.approx(IMG.sum(), rel=0.02)


def test_masked_stacks_lists_and_quantities():
    tik = dc.TikhonovDeconvolver()
    none = np.zeros_like(BAD)
    stack = np.ma.MaskedArray(np.stack([DIRTY, IMG]),
                              mask=np.stack([BAD, none]))
    np.testing.assert_array_equal(
        tik(stack, psf=PSF),
        tik(np.stack([DIRTY, IMG]), psf=PSF, mask=np.stack([BAD, none])))
    # a list: each masked array with its own mask
    listed = tik([np.ma.MaskedArray(DIRTY, mask=BAD), IMG], psf=PSF)
    np.testing.assert_array_equal(listed[0], tik(IMG, psf=PSF, mask=BAD))
    np.testing.assert_array_equal(listed[1], tik(IMG, psf=PSF))
    # astropy's Masked Quantity: a plain Quantity in the same unit
    wiener = dc.WienerDeconvolver(balance=0.1)
    out = wiener(Masked(DIRTY * u.nJy, mask=BAD), psf=PSF)
    assert type(out) is u.Quantity and out.unit == u.nJy
    np.testing.assert_array_equal(
        out.value, wiener(DIRTY * u.nJy, psf=PSF, mask=BAD).value)
    # a masked array without a mask (nomask) is its data, and takes mask=
    np.testing.assert_array_equal(
        tik(np.ma.MaskedArray(DIRTY), psf=PSF, mask=BAD),
        tik(DIRTY, psf=PSF, mask=BAD))


def test_masked_array_inside_nddata_keeps_the_nddata_rules():
    """NDData takes the mask of a masked array: the same result."""
    tik = dc.TikhonovDeconvolver()
    out = tik(NDData(np.ma.MaskedArray(DIRTY, mask=BAD), psf=PSF))
    np.testing.assert_array_equal(out.mask, BAD)
    np.testing.assert_array_equal(out.data, tik(IMG, psf=PSF, mask=BAD))


# float32 input, wide field: the learned methods compute in float32 there
WIDE = (IMG[:8, :].repeat(5, axis=1)[:, :129]).astype(np.float32)

OUTPUT_DTYPE = [
    pytest.param(dc.TikhonovDeconvolver, IMG, 1, id='tikhonov'),
    pytest.param(dc.WienerDeconvolver, IMG, 1, id='wiener'),
    pytest.param(lambda: dc.RichardsonLucyDeconvolver(n_iter=5), IMG, 1,
                 id='richardson-lucy'),
    pytest.param(dc.LearnedDeconvolver, WIDE, 4, id='learned-wide-x4'),
    pytest.param(lambda upsample: dc.PnPDeconvolver(upsample=upsample,
                                                    n_iter=1),
                 WIDE, 4, id='pnp-wide-x4'),
]


@pytest.mark.parametrize('make, data, upsample', OUTPUT_DTYPE)
def test_float32_input_gives_float64_output(make, data, upsample):
    deconv = make(upsample=upsample) if upsample > 1 else make()
    data = np.asarray(data, dtype=np.float32)
    out = deconv.deconvolve(CCDData(data, unit='nJy', psf=PSF))
    assert out.image.data.dtype == np.float64
    assert out.image.shape == tuple(n * upsample for n in data.shape)
    assert out.image.unit == u.nJy
    assert out.image.data.sum() == pytest.approx(data.sum(), rel=0.02)


def test_float32_by_request_stays_float32():
    """The one exception, documented: dtype='float32' of the linear ones."""
    out = dc.TikhonovDeconvolver(dtype='float32')(IMG, psf=PSF)
    assert out.dtype == np.float32
    # just inside the float32 range: computed, finite, flux kept
    big = np.full((32, 32), 3e35)
    out = dc.TikhonovDeconvolver(dtype='float32')(big, psf=PSF)
    assert np.isfinite(out).all()
    assert out.sum(dtype=float) == pytest.approx(big.sum(), rel=1e-5)


def test_write_image_writes_mask_only_when_masked(tmp_path):
    from astropy.io import fits

    tik = dc.TikhonovDeconvolver()
    clean = tik(CCDData(IMG, unit='nJy'), psf=PSF)
    assert not clean.mask.any()  # the deconvolvers always give a mask
    adio.write_image(clean, tmp_path / 'clean.fits')
    with fits.open(tmp_path / 'clean.fits') as hdul:
        assert [hdu.name for hdu in hdul] == ['PRIMARY', 'PSF']
    back = adio.read_image(tmp_path / 'clean.fits')
    assert back.mask is None and back.unit == u.nJy

    holed = IMG.copy()
    holed[3, 4] = np.nan
    out = tik(CCDData(holed, unit='nJy'), psf=PSF)
    adio.write_image(out, tmp_path / 'holed.fits')
    with fits.open(tmp_path / 'holed.fits') as hdul:
        mask = hdul['MASK'].data
    assert mask[3, 4] == 1 and mask.sum() == 1
    np.testing.assert_array_equal(
        adio.read_image(tmp_path / 'holed.fits').mask, out.mask)


def test_what_each_reader_returns(tmp_path):
    """What the docs state about read_image and CCDData.read."""
    out = dc.TikhonovDeconvolver()(
        CCDData(IMG, unit='nJy', mask=BAD, psf=PSF,
                uncertainty=np.full(IMG.shape, 0.1)))
    path = tmp_path / 'out.fits'
    adio.write_image(out, path)
    ours = adio.read_image(path)
    np.testing.assert_array_equal(ours.psf, out.psf)
    astropy_default = CCDData.read(path)
    assert astropy_default.psf is None  # it looks for PSFIMAGE
    named = CCDData.read(path, hdu_psf='PSF')
    np.testing.assert_array_equal(named.psf, out.psf)
    for image in (ours, named):
        assert image.unit == u.nJy
        np.testing.assert_array_equal(image.data, out.data)
        np.testing.assert_array_equal(image.mask, out.mask)
        np.testing.assert_allclose(image.uncertainty.array,
                                   out.uncertainty.array)
    adio.write_image(IMG, tmp_path / 'nounit.fits')
    with pytest.raises(ValueError, match='unit'):
        CCDData.read(tmp_path / 'nounit.fits')
    assert type(adio.read_image(tmp_path / 'nounit.fits')) is NDData
    # the pages say so
    root = Path(__file__).resolve().parents[1]
    for page in ('docs/user_guide/cli.rst', 'docs/reference/io_api.rst'):
        text = (root / page).read_text()
        assert "hdu_psf='PSF'" in text, page
    assert '(or ``CCDData.read``)' not in (
        root / 'docs/user_guide/cli.rst').read_text()


def _fits_image(path, data, unit=None, *, mask=None):
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [10.0, -5.0]
    wcs.wcs.crpix = [16, 16]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    image = (NDData(data, wcs=wcs, mask=mask) if unit is None
             else CCDData(data, unit=unit, wcs=wcs, mask=mask))
    adio.write_image(image, path)
    return path


def _run_cli_output(argv):
    """Run the command line in-process: (status, stdout, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            status = main([str(arg) for arg in argv])
    return status, out.getvalue(), err.getvalue()


def _file_run(command, tmp_path, path):
    """The arguments of ``command`` on ``path``: (output, argv)."""
    out = tmp_path / f'{path.stem}_out.fits'
    if command == 'deconvolve':
        return out, ['deconvolve', path, '--psf-fwhm', '3pix', '-o', out]
    if command == 'mosaic':
        return out, ['mosaic', path, '--psf-fwhm', '3pix', '--tile', '24',
                     '--overlap', '4', '--workers', '0', '--no-progress',
                     '-o', out]
    from astropy.table import Table

    catalog = tmp_path / 'cat.ecsv'
    if not catalog.exists():
        Table({'x': [16.0], 'y': [16.0]}).write(catalog)
    run = tmp_path / f'{path.stem}_run'
    return run, ['batch', path, '--catalog', catalog, '--psf-fwhm', '3pix',
                 '--size', '16', '--workers', '0', '--no-progress', '-o',
                 run]


@pytest.mark.parametrize('command', ['deconvolve', 'mosaic', 'batch'])
def test_command_line_warns_about_a_file_without_bunit(command, tmp_path):
    from astropy.io import fits

    path = _fits_image(tmp_path / 'nounit.fits', IMG)
    out, argv = _file_run(command, tmp_path, path)
    status, _, err = _run_cli_output(argv)
    assert status == 0, err
    warning = [line for line in err.splitlines()
               if line.startswith('astrodeconv: warning:')
               and 'BUNIT' in line]
    assert len(warning) == 1, err
    assert f"'{path}' has no BUNIT keyword" in warning[0]
    assert 'the output will have no unit' in warning[0]
    files = [out] if out.suffix == '.fits' else sorted(out.glob('*.fits'))
    assert files
    for name in files:
        assert 'BUNIT' not in fits.getheader(name)
    # a file with a BUNIT draws no such warning
    path = _fits_image(tmp_path / 'unit.fits', IMG, 'nJy')
    status, _, err = _run_cli_output(_file_run(command, tmp_path, path)[1])
    assert status == 0, err
    assert 'BUNIT' not in err


def _summary_numbers(line, what):
    found = re.findall(rf'{what} (\S+)', line)
    return [float(value) for value in found]


def test_command_line_summary_of_a_surface_brightness(tmp_path):
    path = _fits_image(tmp_path / 'sb.fits', IMG, 'MJy/sr')
    status, out, err = _run_cli_output(
        ['deconvolve', path, '--psf-fwhm', '3pix', '--upsample', '2', '-o',
         tmp_path / 'out.fits'])
    assert status == 0, err
    assert 'flux' not in out
    before, after = _summary_numbers(out, 'mean surface brightness')
    assert before == pytest.approx(IMG.mean(), rel=1e-5)
    assert after == pytest.approx(before, rel=1e-5)  # not 4 times larger
    assert out.count('MJy / sr') == 2
    # a flux per pixel: the sums, which the deconvolution keeps
    path = _fits_image(tmp_path / 'flux.fits', IMG, 'nJy')
    status, out, err = _run_cli_output(
        ['deconvolve', path, '--psf-fwhm', '3pix', '--upsample', '2', '-o',
         tmp_path / 'out2.fits'])
    assert status == 0, err
    assert 'surface brightness' not in out
    before = _summary_numbers(out, 'input flux')[0]
    after = _summary_numbers(out, 'output flux')[0]
    assert before == pytest.approx(IMG.sum(), rel=1e-5)
    assert after == pytest.approx(before, rel=1e-5)


def test_command_line_progress_bar(tmp_path):
    path = _fits_image(tmp_path / 'in.fits', IMG, 'nJy')
    argv = ['deconvolve', path, '--psf-fwhm', '3pix', '--method',
            'richardson-lucy', '--n-iter', '5', '-o', tmp_path / 'a.fits']
    status, _, err = _run_cli_output(argv + ['--progress'])
    assert status == 0, err
    assert re.search(r'Richardson-Lucy: 100%.*5/5', err), err
    status, _, err = _run_cli_output(
        argv[:-1] + [tmp_path / 'b.fits', '--no-progress'])
    assert status == 0, err
    assert 'Richardson-Lucy' not in err
    # a method without a bar takes the option too
    status, _, err = _run_cli_output(
        ['deconvolve', path, '--psf-fwhm', '3pix', '--progress', '-o',
         tmp_path / 'c.fits'])
    assert status == 0, err


def test_command_line_mask_extension(tmp_path):
    from astropy.io import fits

    path = _fits_image(tmp_path / 'in.fits', IMG, 'nJy')
    status, _, err = _run_cli_output(['deconvolve', path, '--psf-fwhm',
                                      '3pix', '-o', tmp_path / 'a.fits'])
    assert status == 0, err
    with fits.open(tmp_path / 'a.fits') as hdul:
        assert 'MASK' not in [hdu.name for hdu in hdul]
        assert hdul[0].data.dtype == np.dtype('>f8')
    # masked pixels in the input: in the output's MASK
    path = _fits_image(tmp_path / 'masked.fits', IMG.astype(np.float32),
                       'nJy', mask=BAD)
    status, _, err = _run_cli_output(['deconvolve', path, '--psf-fwhm',
                                      '3pix', '--upsample', '2', '-o',
                                      tmp_path / 'b.fits'])
    assert status == 0, err
    with fits.open(tmp_path / 'b.fits') as hdul:
        np.testing.assert_array_equal(
            hdul['MASK'].data, BAD.repeat(2, 0).repeat(2, 1))
        assert hdul[0].data.dtype == np.dtype('>f8')  # float32 input
