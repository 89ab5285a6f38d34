# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
`BandSet`: the images of one object or field in several bands.

The narrow bands (e.g. Rubin r, i, z) share one coarse pixel grid; the
broad band (e.g. Euclid VIS) lies on a grid ``k`` times finer over the same
sky area. `BandSet` checks this once, from the WCS of every member, so
that a joint deconvolution never runs on images that do not line up:

* every member is an NDData (CCDData) carrying a celestial WCS, a PSF and
  an uncertainty (the broad band too);
* the members share one unit, a flux per pixel (a surface brightness is
  refused: the coarse pixels sum the flux of the fine ones);
* the narrow bands have the same shape and WCS;
* the ratio of the narrow to the broad pixel scale is an integer ``k``,
  the broad image has ``k`` times more pixels along each axis, and its
  pixels nest in the narrow ones (the fine grid is the narrow grid
  upsampled by ``k``, as `astrodeconv.utils` would make it).

Nothing is reprojected or cut: an image that fails a check is refused with
a message that says what to do (`astropy.nddata.Cutout2D`, reproject).
"""

import numpy as np
from astropy import units as u
from astropy.nddata import NDData
from astropy.wcs import WCS

from ..psf.for_image import image_pixel_scale
from ..utils._nddata import check_linear_unit, is_surface_brightness
from ..utils._repr import make_repr
from ..utils._wcs import upsample_wcs
from .bands import Band, get_band

__all__ = ['BandSet', 'GRID_TOLERANCE', 'RATIO_TOLERANCE']

#: Largest misalignment, in fine (broad-band) pixels, tolerated between the
#: broad-band pixel centres and the narrow grid upsampled by ``k``.
GRID_TOLERANCE = 0.05

#: Largest relative difference between a pixel-scale ratio and the integer
#: nearest to it.
RATIO_TOLERANCE = 0.01


def _as_band(value, name):
    if value is None or isinstance(value, Band):
        return value
    if isinstance(value, str):
        return get_band(value)
    msg = (f'{name} must be a Band, a band key such as \'rubin_r\', or None, '
           f'got {type(value).__name__}')
    raise TypeError(msg)


def _check_member(image, name, require_uncertainty=True, require_psf=True):
    if not isinstance(image, NDData):
        msg = (f'{name} must be an NDData or CCDData image, got '
               f'{type(image).__name__}; wrap arrays with '
               'astropy.nddata.CCDData(data, unit=..., wcs=..., '
               'uncertainty=..., psf=...)')
        raise TypeError(msg)
    if np.ndim(image.data) != 2:
        msg = f'{name} must hold a 2D image, got {np.ndim(image.data)} axes'
        raise ValueError(msg)
    wcs = image.wcs
    if not isinstance(wcs, WCS) or not wcs.has_celestial:
        msg = (f'{name} must carry a celestial WCS (a BandSet lines the '
               'bands up on the sky), got '
               f'{"no WCS" if wcs is None else type(wcs).__name__}; give '
               'MultiBandDeconvolver plain images and upsample= instead')
        raise ValueError(msg)
    if require_psf and image.psf is None:
        msg = f'{name} must carry a PSF (set {name}.psf), got None'
        raise ValueError(msg)
    if require_uncertainty and image.uncertainty is None:
        msg = (f'{name} must carry an uncertainty (set {name}.uncertainty, '
               'e.g. StdDevUncertainty(noise_map)), got None')
        raise ValueError(msg)
    check_linear_unit(image.unit, name)
    if is_surface_brightness(image.unit):
        msg = (f'{name} must be in flux per pixel, got the surface '
               f'brightness unit {image.unit!r}: the coarse pixels of the '
               'narrow bands hold the flux of k x k broad-band pixels. '
               'Multiply by the pixel area first.')
        raise u.UnitsError(msg)


def _footprint(wcs, shape):
    """Sky positions of the four outer corners of an image."""
    ny, nx = shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    return wcs.celestial.pixel_to_world(x, y)


def _overlaps(wcs_a, shape_a, wcs_b, shape_b):
    """Whether the image ``b`` touches the image ``a`` on the sky."""
    corners = _footprint(wcs_b, shape_b)
    x, y = wcs_a.celestial.world_to_pixel(corners)
    ny, nx = shape_a
    inside_x = (np.nanmax(x) >= -0.5) and (np.nanmin(x) <= nx - 0.5)
    inside_y = (np.nanmax(y) >= -0.5) and (np.nanmin(y) <= ny - 0.5)
    return bool(inside_x and inside_y)


class BandSet:
    """
    The narrow-band images and the broad-band image of one object or field.

    Parameters
    ----------
    images : sequence of `~astropy.nddata.NDData`
        The narrow bands, each with a celestial WCS, a PSF sampled on the
        broad-band grid (see `MultiBandDeconvolver`) and an uncertainty.
    broad : `~astropy.nddata.NDData`
        The broad-band image, with its WCS, PSF and uncertainty.
    bands : sequence of `Band` or str, optional
        The band of each image (objects or keys such as ``'rubin_r'``),
        used to compute SED weights (`sed_weights`).
    broad_band : `Band` or str, optional
        The band of the broad image (e.g. ``'euclid_vis'``).
    require_uncertainty : bool, optional
        Refuse members without an uncertainty (default). Set it to False
        for images whose noise `MultiBandDeconvolver` is to measure
        (``noise='measure'``).
    require_psf : bool, optional
        Refuse members without a PSF (default). Set it to False when the
        PSFs are given to `MultiBandDeconvolver` separately.

    Raises
    ------
    TypeError, ValueError, astropy.units.UnitsError
        When a member misses a WCS, PSF or uncertainty, the units differ,
        the images do not overlap, or the grids do not nest.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.nddata import CCDData, StdDevUncertainty
    >>> from astropy.wcs import WCS
    >>> from astrodeconv.multiband import BandSet
    >>> from astrodeconv.psf import make_gaussian_psf
    >>> def image(scale, n, fwhm):
    ...     wcs = WCS(naxis=2)
    ...     wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    ...     wcs.wcs.crval = [150.0, 2.0]
    ...     wcs.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    ...     wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
    ...     return CCDData(np.zeros((n, n)), unit='nJy', wcs=wcs,
    ...                    uncertainty=StdDevUncertainty(np.ones((n, n))),
    ...                    psf=make_gaussian_psf(fwhm, shape=(15, 15)))
    >>> bandset = BandSet([image(0.2, 16, 7.0), image(0.2, 16, 6.5)],
    ...                   broad=image(0.1, 32, 1.7))
    >>> bandset.upsample, bandset.shape, bandset.fine_shape
    (2, (16, 16), (32, 32))
    """

    def __init__(self, images, broad, *, bands=None, broad_band=None,
                 require_uncertainty=True, require_psf=True):
        if isinstance(images, NDData) or not isinstance(images,
                                                        (list, tuple)):
            msg = ('images must be a list of NDData images, one per narrow '
                   f'band, got {type(images).__name__}')
            raise TypeError(msg)
        if len(images) == 0:
            msg = 'images must hold at least one narrow band, got none'
            raise ValueError(msg)
        for i, image in enumerate(images):
            _check_member(image, f'images[{i}]', require_uncertainty,
                          require_psf)
        _check_member(broad, 'broad', require_uncertainty, require_psf)
        self.images = list(images)
        self.broad = broad
        if bands is not None:
            if len(bands) != len(images):
                msg = (f'bands must give one band per image '
                       f'({len(images)}), got {len(bands)}')
                raise ValueError(msg)
            bands = [_as_band(b, f'bands[{i}]') for i, b in enumerate(bands)]
        self.bands = bands
        self.broad_band = _as_band(broad_band, 'broad_band')
        self._check_units()
        self.upsample = self._check_grids()

    def __repr__(self):
        names = [b.key for b in self.bands] if self.bands else None
        return make_repr(self, ('n_bands', 'shape', 'upsample', 'names'),
                         overrides={'names': names}, brackets=True)

    def __len__(self):
        return len(self.images)

    @property
    def n_bands(self):
        """Number of narrow bands."""
        return len(self.images)

    @property
    def shape(self):
        """Shape of the narrow-band images."""
        return tuple(np.shape(self.images[0].data))

    @property
    def fine_shape(self):
        """Shape of the broad-band image (the grid of the results)."""
        return tuple(np.shape(self.broad.data))

    @property
    def unit(self):
        """The common unit of the images (or None)."""
        return self.broad.unit

    @property
    def wcs(self):
        """The WCS of the broad-band grid, on which results are made."""
        return self.broad.wcs

    def _check_units(self):
        units = [image.unit for image in self.images] + [self.broad.unit]
        if any(unit is None for unit in units):
            if not all(unit is None for unit in units):
                msg = ('the images must all have a unit or all have none, '
                       f'got {[str(unit) for unit in units]}')
                raise u.UnitsError(msg)
            return
        first = units[-1]
        for i, unit in enumerate(units[:-1]):
            if unit != first:
                msg = (f'images[{i}] must be in the unit of the broad band '
                       f'({first}), got {unit}: the SED weights combine '
                       'the bands pixel by pixel, so convert every band to '
                       'one flux unit first (e.g. nJy)')
                raise u.UnitsError(msg)

    def _check_grids(self):
        ref = self.images[0]
        shape = np.shape(ref.data)
        for i, image in enumerate(self.images[1:], start=1):
            if np.shape(image.data) != shape:
                msg = (f'images[{i}] must have the shape of images[0] '
                       f'{shape}, got {np.shape(image.data)}; cut every band '
                       'to one grid (astropy.nddata.Cutout2D) or reproject')
                raise ValueError(msg)
            if not self._same_grid(ref.wcs, image.wcs, shape):
                msg = (f'images[{i}] must be on the pixel grid of images[0]'
                       ' (its WCS differs by more than '
                       f'{GRID_TOLERANCE} pixel); reproject it first, e.g. '
                       'with the reproject package')
                raise ValueError(msg)
        if not _overlaps(self.broad.wcs, np.shape(self.broad.data), ref.wcs,
                         shape):
            msg = ('the broad-band image and the narrow bands must cover '
                   'the same sky area, got images with no overlap on the '
                   'sky; check their WCS')
            raise ValueError(msg)
        scale = image_pixel_scale(ref).to_value(u.arcsec)
        fine = image_pixel_scale(self.broad).to_value(u.arcsec)
        ratio = scale / fine
        k = int(round(ratio))
        if k < 1 or abs(ratio - k) > RATIO_TOLERANCE * ratio:
            msg = (f'the narrow-band pixel scale ({scale:.5g}") must be an '
                   f'integer multiple of the broad-band one ({fine:.5g}"), '
                   f'got a ratio of {ratio:.4g}; resample one of them onto '
                   'a nested grid first')
            raise ValueError(msg)
        fine_shape = (shape[0] * k, shape[1] * k)
        if tuple(np.shape(self.broad.data)) != fine_shape:
            msg = (f'the broad-band image must have {k} times the pixels of '
                   f'the narrow bands along each axis, {fine_shape}, got '
                   f'{np.shape(self.broad.data)}; cut it to the narrow-band '
                   'footprint (astropy.nddata.Cutout2D)')
            raise ValueError(msg)
        expected = upsample_wcs(ref.wcs.celestial, k, shape=fine_shape)
        if not self._same_grid(expected, self.broad.wcs, fine_shape):
            msg = ('the broad-band pixels must nest in the narrow-band '
                   f'pixels (the narrow grid upsampled by {k}), got grids '
                   f'offset by more than {GRID_TOLERANCE} broad-band pixel; '
                   'cut or reproject the broad band onto that grid first')
            raise ValueError(msg)
        return k

    @staticmethod
    def _same_grid(wcs_a, wcs_b, shape):
        """Whether two WCS put the same sky position on every pixel."""
        ny, nx = shape
        y, x = np.meshgrid(np.linspace(0, ny - 1, 3),
                           np.linspace(0, nx - 1, 3), indexing='ij')
        sky = wcs_a.celestial.pixel_to_world(x.ravel(), y.ravel())
        xb, yb = wcs_b.celestial.world_to_pixel(sky)
        offset = np.hypot(xb - x.ravel(), yb - y.ravel())
        return bool(np.all(offset <= GRID_TOLERANCE))

    def sed_weights(self, spectrum=None):
        """
        SED weights of the narrow bands in the broad band.

        Needs the `Band` of every image (``bands=`` and ``broad_band=``).

        Parameters
        ----------
        spectrum : `specutils.Spectrum`, optional
            The object's spectrum; a flat f_nu spectrum by default.

        Returns
        -------
        weights : ndarray
            One weight per narrow band (`astrodeconv.multiband.sed_weights`).
        """
        from .sed import sed_weights

        if self.bands is None or self.broad_band is None:
            msg = ('sed_weights needs the Band of every image: build the '
                   'BandSet with bands=[...] and broad_band=...')
            raise ValueError(msg)
        return sed_weights(self.bands, self.broad_band, spectrum=spectrum)

    @classmethod
    def read(cls, paths, broad, *, bands=None, broad_band=None,
             require_uncertainty=True, require_psf=True):
        """
        Build a BandSet from FITS files.

        Every file is read with `astrodeconv.io.read_image`: the image with
        its unit and WCS, its uncertainty (``UNCERT`` extension), mask and
        PSF (``PSF`` or ``PSFIMAGE`` extension), the layout that
        `astrodeconv.io.write_image` and `astropy.nddata.CCDData.write`
        make.

        Parameters
        ----------
        paths : sequence of str or path-like
            One file per narrow band.
        broad : str or path-like
            The broad-band file.
        bands, broad_band, require_uncertainty, require_psf : optional
            As for `BandSet`.

        Returns
        -------
        bandset : `BandSet`
        """
        from ..io import read_image

        if isinstance(paths, (str, bytes)) or not hasattr(paths,
                                                          '__len__'):
            msg = ('paths must be a list of files, one per narrow band, got '
                   f'{type(paths).__name__}')
            raise TypeError(msg)
        return cls([read_image(path) for path in paths], read_image(broad),
                   bands=bands, broad_band=broad_band,
                   require_uncertainty=require_uncertainty,
                   require_psf=require_psf)
