# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Conversions between PSF arrays, photutils PSF models and astropy models.

Two kinds of model are involved and they are sampled differently:

* photutils `~photutils.psf.ImagePSF` objects hold an *effective* PSF
  (ePSF): the PSF already integrated over a detector pixel. Its value at a
  position is the flux that a pixel centred there receives, so it is
  **evaluated at the pixel centres** (`image_psf_to_array`).
* analytic `astropy.modeling` models (`~astropy.modeling.models.Gaussian2D`,
  `~astropy.modeling.models.Moffat2D`, ...) describe a surface brightness,
  so they are **integrated over each pixel** (`model_to_psf`).
"""

import numpy as np
from astropy.convolution import discretize_model
from astropy.modeling import Model
from astropy.modeling.models import Gaussian2D, Moffat2D, Scale
from photutils.psf import ImagePSF
from scipy.ndimage import convolve1d
from scipy.optimize import least_squares

from ..utils._validation import check_choice, check_positive_int
from .analytic import _check_shape, _n_subsample, _renamed_oversample
from .core import normalize_psf, psf_center, validate_psf
from .measure import measure_fwhm

__all__ = ['psf_to_image_psf', 'image_psf_to_array', 'model_to_psf',
           'psf_to_model']

#: Names of the centre parameters of common 2D models, as (x, y) pairs.
_CENTER_PARAMS = (('x_0', 'y_0'), ('x_mean', 'y_mean'))


def _pixel_box(factor):
    """1D kernel of a box one detector pixel (``factor`` fine pixels) wide."""
    if factor % 2:
        return np.full(factor, 1.0 / factor)
    kernel = np.ones(factor + 1)
    kernel[[0, -1]] = 0.5
    return kernel / factor


def psf_to_image_psf(psf, *, oversampling=1, pixel_response=False):
    """
    Wrap a PSF array in a photutils `~photutils.psf.ImagePSF` model.

    The model has ``flux=1`` and ``x_0 = y_0 = 0`` at the PSF centre pixel
    ``(ny // 2, nx // 2)`` (its ``origin``), so it can be used directly
    with `~photutils.psf.PSFPhotometry`. The data are scaled to sum to
    ``oversampling**2`` as photutils expects for oversampled PSFs.

    Parameters
    ----------
    psf : array_like
        2D PSF, centred, at least 4 pixels along each axis. It is
        normalised to unit sum first.
    oversampling : int, optional
        Oversampling factor of ``psf`` relative to the detector pixels.
    pixel_response : bool, optional
        photutils treats the array as an effective PSF, already integrated
        over a detector pixel, which is true for PSFs measured on images
        (`build_empirical_psf`) and for any PSF with ``oversampling=1``.
        An oversampled PSF from `make_gaussian_psf` and friends is only
        integrated over the *fine* pixels: set ``pixel_response=True`` to
        convolve it with the detector pixel (an ``oversampling`` wide box)
        first.

    Returns
    -------
    model : `~photutils.psf.ImagePSF`
        The PSF model.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.psf import make_gaussian_psf, psf_to_image_psf
    >>> model = psf_to_image_psf(make_gaussian_psf(3.0, shape=25))
    >>> bool(np.isclose(model(0, 0), model.data.max()))
    True
    """
    arr = validate_psf(psf, warn=False)
    oversampling = check_positive_int(oversampling, 'oversampling')
    if min(arr.shape) < 4:
        msg = (f'psf must be at least 4 pixels along each axis for '
               f'photutils.psf.ImagePSF, got shape {arr.shape}')
        raise ValueError(msg)
    if pixel_response and oversampling > 1:
        kernel = _pixel_box(oversampling)
        arr = convolve1d(arr, kernel, axis=0, mode='constant')
        arr = convolve1d(arr, kernel, axis=1, mode='constant')
        arr = arr / arr.sum()
    cy, cx = psf_center(arr.shape)
    return ImagePSF(arr * oversampling**2, flux=1.0, x_0=0.0, y_0=0.0,
                    origin=(cx, cy), oversampling=oversampling)


def _set_center(model, x, y):
    """Set the centre parameters of a copy of ``model``; False if none."""
    for x_name, y_name in _CENTER_PARAMS:
        if x_name in model.param_names and y_name in model.param_names:
            setattr(model, x_name, x)
            setattr(model, y_name, y)
            return True
    return False


def _check_model(model, name):
    if not isinstance(model, Model) or model.n_inputs != 2:
        msg = (f'{name} must be a 2D astropy.modeling model, got '
               f'{type(model).__name__}')
        raise TypeError(msg)


def image_psf_to_array(image_psf, shape):
    """
    Evaluate a photutils PSF model on a centred grid of detector pixels.

    The model is copied, its position ``x_0, y_0`` put on the centre pixel
    ``(ny // 2, nx // 2)`` and its value taken at each pixel centre, which
    is the right sampling for an effective PSF such as
    `~photutils.psf.ImagePSF` (see the module docstring; use
    `model_to_psf` for analytic surface-brightness models).

    Parameters
    ----------
    image_psf : `~astropy.modeling.Model`
        A photutils PSF model with ``x_0`` and ``y_0`` parameters, such as
        `~photutils.psf.ImagePSF` (``x_mean`` and ``y_mean`` are accepted
        too).
    shape : int or tuple of 2 int
        Output shape, in detector pixels.

    Returns
    -------
    psf : `~numpy.ndarray`
        The PSF, normalised to unit sum.

    Examples
    --------
    >>> import numpy as np
    >>> from astrodeconv.psf import (image_psf_to_array, make_gaussian_psf,
    ...                              psf_to_image_psf)
    >>> psf = make_gaussian_psf(3.0, shape=(24, 24))
    >>> back = image_psf_to_array(psf_to_image_psf(psf), (24, 24))
    >>> bool(np.allclose(back, psf))
    True
    """
    _check_model(image_psf, 'image_psf')
    shape = _check_shape(shape)
    model = image_psf.copy()
    cy, cx = psf_center(shape)
    if not _set_center(model, float(cx), float(cy)):
        msg = ('image_psf must have centre parameters x_0 and y_0 (a '
               f'photutils PSF model), got parameters {model.param_names}')
        raise TypeError(msg)
    yy, xx = np.indices(shape, dtype=float)
    values = np.asarray(model(xx, yy), dtype=float)
    return normalize_psf(values)


@_renamed_oversample
def model_to_psf(model, shape, *, oversampling=1, mode='oversample'):
    """
    Render an analytic `astropy.modeling` 2D model as a centred PSF array.

    The centre parameters of a copy of the model (``x_0, y_0`` as in
    `~astropy.modeling.models.Moffat2D`,
    `~astropy.modeling.models.AiryDisk2D` and photutils PSF models, or
    ``x_mean, y_mean`` as in `~astropy.modeling.models.Gaussian2D`) are
    set to zero, the PSF centre. Models without such parameters (compound
    models) must already be centred on ``(0, 0)``. The model is then
    integrated over the pixels with `~astropy.convolution.discretize_model`.

    Parameters
    ----------
    model : `~astropy.modeling.Model`
        A 2D model whose size parameters are in detector pixels.
    shape : int or tuple of 2 int
        Output shape, in output (oversampled) pixels.
    oversampling : int, optional
        Sampling factor of the output grid relative to the detector pixels
        (the model is stretched by this factor).
    mode : {'oversample', 'integrate', 'center', 'linear_interp', \
'bilinear'}, optional
        The `~astropy.convolution.discretize_model` mode. The default
        averages 10 x 10 samples per pixel (accurate to about 0.1% of the
        peak for a FWHM of 3 pixels); ``'integrate'`` is exact but slow
        (seconds for 25 x 25 pixels).

    Returns
    -------
    psf : `~numpy.ndarray`
        The PSF, centred on ``(ny // 2, nx // 2)`` and normalised to unit
        sum.

    Raises
    ------
    ValueError
        If the rendered PSF is empty or off centre (a compound model not
        centred on the origin).

    Examples
    --------
    >>> from astropy.modeling.models import Gaussian2D
    >>> from astrodeconv.psf import measure_fwhm, model_to_psf
    >>> psf = model_to_psf(Gaussian2D(x_stddev=2.0, y_stddev=2.0), 25)
    >>> round(measure_fwhm(psf) / 2.0, 2)  # FWHM / sigma
    2.35
    """
    _check_model(model, 'model')
    shape = _check_shape(shape)
    oversampling = check_positive_int(oversampling, 'oversampling')
    check_choice(mode, 'mode', ('oversample', 'integrate', 'center',
                                'linear_interp', 'bilinear'))
    model = model.copy()
    _set_center(model, 0.0, 0.0)
    if oversampling > 1:
        model = ((Scale(1.0 / oversampling) & Scale(1.0 / oversampling))
                 | model)
    cy, cx = psf_center(shape)
    values = discretize_model(model, (-cx, shape[1] - cx),
                              (-cy, shape[0] - cy), mode=mode)
    values = np.asarray(values, dtype=float)
    total = values.sum()
    if not np.isfinite(total) or total <= 0:
        msg = (f'model must have a positive finite sum over shape {shape}, '
               f'got {total}')
        raise ValueError(msg)
    return validate_psf(values, name='model', warn=False)


def psf_to_model(psf, *, model='gaussian'):
    """
    Fit an analytic `astropy.modeling` model to a PSF array.

    The fit is a least-squares fit of the model *integrated over the
    pixels* (by Gauss-Legendre quadrature), so its size
    parameters describe the intrinsic profile even for barely sampled
    PSFs: ``model_to_psf(psf_to_model(psf), psf.shape)`` reproduces
    ``psf``. Coordinates are in pixels relative to the PSF centre
    ``(ny // 2, nx // 2)``, so a centred PSF gives a centre near
    ``(0, 0)``, and the amplitude is such that the model integrates to
    about 1. To use a PSF array itself as a photutils model, see
    `psf_to_image_psf`.

    Parameters
    ----------
    psf : array_like
        2D PSF, centred.
    model : {'gaussian', 'moffat'}, optional
        Fit an elliptical `~astropy.modeling.models.Gaussian2D` or a
        circular `~astropy.modeling.models.Moffat2D`.

    Returns
    -------
    model : `~astropy.modeling.models.Gaussian2D` or \
`~astropy.modeling.models.Moffat2D`
        The fitted model.

    Examples
    --------
    >>> from astrodeconv.psf import make_gaussian_psf, psf_to_model
    >>> fit = psf_to_model(make_gaussian_psf(3.0, shape=25))
    >>> round(float(fit.x_fwhm), 3), round(float(fit.y_fwhm), 3)
    (3.0, 3.0)
    """
    check_choice(model, 'model', ('gaussian', 'moffat'))
    arr = validate_psf(psf, warn=False)
    fwhm0 = measure_fwhm(arr, method='gaussian')
    # Gauss-Legendre quadrature over each pixel
    nodes, weights = np.polynomial.legendre.leggauss(_n_subsample(fwhm0))
    nodes, weights = nodes / 2.0, weights / 2.0
    n_sub = len(nodes)
    cy, cx = psf_center(arr.shape)
    ys = ((np.arange(arr.shape[0]) - cy)[:, None] + nodes).ravel()
    xs = ((np.arange(arr.shape[1]) - cx)[:, None] + nodes).ravel()
    xs, ys = np.meshgrid(xs, ys)
    sub_shape = (arr.shape[0], n_sub, arr.shape[1], n_sub)

    if model == 'gaussian':
        cls = Gaussian2D
        sigma0 = fwhm0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        p0 = [1.0 / (2 * np.pi * sigma0**2), 0.0, 0.0, sigma0, sigma0, 0.0]
        lower = [0.0, -np.inf, -np.inf, 1e-3, 1e-3, -np.inf]
        upper = [np.inf] * 6
    else:
        cls = Moffat2D
        alpha0 = 3.0
        gamma0 = fwhm0 / (2.0 * np.sqrt(2.0 ** (1.0 / alpha0) - 1.0))
        p0 = [(alpha0 - 1) / (np.pi * gamma0**2), 0.0, 0.0, gamma0, alpha0]
        lower = [0.0, -np.inf, -np.inf, 1e-3, 1.01]
        upper = [np.inf, np.inf, np.inf, np.inf, 100.0]

    def residuals(p):
        values = cls.evaluate(xs, ys, *p).reshape(sub_shape)
        values = np.einsum('iajb,a,b->ij', values, weights, weights)
        return (values - arr).ravel()

    result = least_squares(residuals, p0, bounds=(lower, upper),
                           x_scale='jac')
    return cls(*result.x)
