# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
A small simulated ground-based observation of one galaxy, with its truth.

The file ``astrodeconv/data/demo_galaxy.fits`` ships with the package, so
`load_demo_data` works offline and needs neither GalSim nor a network. It
was made by ``_make_demo_file`` (which needs GalSim) and can be regenerated
from the repository root with::

    python -c "from astrodeconv.datasets.demo import _make_demo_file; \
_make_demo_file('astrodeconv/data/demo_galaxy.fits')"

How the data were simulated:

*Galaxy* (GalSim, fluxes in nJy, so that ``m_AB = 31.4 - 2.5 log10(F)``):
total magnitude AB 21.0 (14454 nJy); a de Vaucouleurs (Sersic n = 4)
bulge with half-light radius 0.25" and axis ratio 0.8 holding 30% of the
flux; an inclined exponential disk (face-on half-light radius 0.8",
inclination 60 deg, scale height 0.1 of the scale radius) with the
other 70%, of which 15% is in five star-forming clumps (Gaussian knots of
FWHM 0.08-0.15" placed in the disk plane 0.3-1.1" from the centre, then
projected). The major axis has a position angle of 30 deg east of north.

*Truth* (extension ``TRUTH``): the galaxy convolved with an HST-like Airy
PSF (814 nm, 2.4 m aperture, central obscuration 0.33, FWHM ~0.07"),
integrated over 0.05" pixels on a 128 x 128 stamp.

*Observation* (extension ``OBSERVED``): the galaxy convolved with the same
Airy PSF and with ground-based seeing, a Moffat PSF of FWHM 0.7" and
beta 4.765 (truncated at a radius of 1.5", which removes 0.6% of its
flux and makes the stored PSF below complete), drawn on the 0.05" grid and
then observed on a 4 times coarser grid: each 0.2" pixel is the sum of a
4 x 4 block of fine pixels (32 x 32 pixels, flux conserved). White
Gaussian noise is added, with a standard deviation chosen so that the peak
pixel of the noiseless observation has a signal-to-noise ratio of 40; the
constant 1-sigma map is in extension ``OBS_ERR``.

*PSF* (extension ``PSF``): that Moffat PSF sampled on the fine 0.05" grid,
61 x 61 pixels, centred on pixel (30, 30) and normalised to unit sum, i.e.
the kernel with ``observed = block_sum(truth * psf) + noise``, which is what
``TikhonovDeconvolver(upsample=4)`` needs.

Both images carry celestial TAN WCSs centred on RA 53.16, Dec -27.78
(GOODS-S) and consistent with each other: fine pixel ``f`` has its centre
at coarse pixel coordinate ``(f + 0.5) / 4 - 0.5``. Pixel values are in
nJy per pixel (``BUNIT = 'nJy'``). To keep the file below 100 kB the truth
is stored as 16-bit integers with ``BSCALE``/``BZERO`` (a quantisation step
of about 1e-5 of its peak, thousands of times below the noise); it is read
back as floating point.
"""

import os
from dataclasses import dataclass
from importlib import resources

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from astropy.wcs import WCS

from ..io import header_to_meta, make_image_hdu, read_unit, read_wcs
from ..psf.analytic import DEFAULT_MOFFAT_BETA

__all__ = ['DemoData', 'load_demo_data']

_FILENAME = 'demo_galaxy.fits'

#: Parameters of the simulation (documented in the module docstring).
_CENTER = (53.16, -27.78)     # RA, Dec (deg), GOODS-S
_FINE_SCALE = 0.05            # arcsec / pixel, truth and PSF grid
_UPSAMPLE = 4                 # observation pixels are 4x4 fine pixels
_FINE_SHAPE = (128, 128)
_PSF_SHAPE = (61, 61)
_SEEING_FWHM = 0.7            # arcsec
_SEEING_BETA = DEFAULT_MOFFAT_BETA
_SEEING_TRUNC = 1.5           # arcsec
_PEAK_SNR = 40.0
_MAG_AB = 21.0
_BULGE_FRACTION = 0.3
_BULGE_RE = 0.25              # arcsec
_BULGE_Q = 0.8
_DISK_RE = 0.8                # arcsec
_DISK_INCLINATION = 60.0      # deg
_DISK_HEIGHT = 0.1            # scale height / scale radius
_CLUMP_FRACTION = 0.15        # of the disk flux
_N_CLUMPS = 5
_POSITION_ANGLE = 30.0        # deg east of north
_AIRY = {'lam': 814.0, 'diam': 2.4, 'obscuration': 0.33}


@dataclass(frozen=True, eq=False)
class DemoData:
    """
    The demonstration data set returned by `load_demo_data`.

    Attributes
    ----------
    observed : `~astropy.nddata.CCDData`
        The simulated ground-based observation (32 x 32 pixels of 0.2",
        nJy per pixel) with its WCS, a `~astropy.nddata.StdDevUncertainty`
        and ``psf`` set to the seeing PSF on the fine grid.
    truth : `~astropy.nddata.CCDData`
        The HST-like truth on the 4 times finer grid (128 x 128 pixels of
        0.05"), with its WCS.
    psf : `~numpy.ndarray`
        The seeing PSF sampled on the fine grid (61 x 61, centred on pixel
        (30, 30), unit sum).
    upsample : int
        The ratio of the observed to the fine pixel size (4).
    """

    observed: CCDData
    truth: CCDData
    psf: np.ndarray
    upsample: int

    def __repr__(self):
        return (f'DemoData(observed={self.observed.shape}, '
                f'truth={self.truth.shape}, psf={self.psf.shape}, '
                f'upsample={self.upsample})')


def _native(array, dtype=float):
    """Return ``array`` in native byte order as ``dtype``."""
    return np.asarray(array, dtype=dtype)


def load_demo_data():
    """
    Load the simulated ground-based galaxy observation and its truth.

    The data ship with the package: no network access and no GalSim are
    needed.

    Returns
    -------
    data : `DemoData`
        ``observed`` and ``truth`` images (`~astropy.nddata.CCDData` in
        nJy per pixel, with WCS), the fine-grid ``psf`` and the
        super-resolution factor ``upsample``.

    Notes
    -----
    The galaxy (simulated with GalSim, AB magnitude 21) has a de
    Vaucouleurs bulge, an inclined exponential disk and five compact
    star-forming clumps. The *truth* is the galaxy seen with an HST-like
    Airy PSF on 0.05" pixels (128 x 128). The *observation* is the same
    galaxy also blurred by 0.7" (FWHM) Moffat seeing (beta 4.765) and
    integrated over 0.2" pixels (32 x 32, each the sum of 4 x 4 fine
    pixels), plus white Gaussian noise giving a peak signal-to-noise ratio
    of 40. ``psf`` is that Moffat PSF sampled on the 0.05" grid, so that
    ``observed = block_sum(truth * psf) + noise``. The two WCSs agree: the
    centre of fine pixel ``f`` is at coarse pixel coordinate
    ``(f + 0.5) / 4 - 0.5``. The module docstring of
    ``astrodeconv.datasets.demo`` gives every parameter and the command
    that regenerates the file.

    Examples
    --------
    >>> from astrodeconv.datasets import load_demo_data
    >>> demo = load_demo_data()
    >>> demo.observed.shape, demo.truth.shape, demo.upsample
    ((32, 32), (128, 128), 4)
    >>> from astrodeconv.deconvolution import TikhonovDeconvolver
    >>> deconv = TikhonovDeconvolver(lam='auto', upsample=demo.upsample)
    >>> deconv(demo.observed).shape
    (128, 128)
    """
    source = resources.files('astrodeconv.data').joinpath(_FILENAME)
    with resources.as_file(source) as path, fits.open(path) as hdul:
        obs_hdu, err_hdu = hdul['OBSERVED'], hdul['OBS_ERR']
        psf_hdu, truth_hdu = hdul['PSF'], hdul['TRUTH']
        unit = read_unit(obs_hdu.header)
        obs_wcs = read_wcs(obs_hdu.header, hdul)
        truth_wcs = read_wcs(truth_hdu.header, hdul)
        psf = _native(psf_hdu.data)
        psf /= psf.sum()
        observed = CCDData(
            _native(obs_hdu.data), unit=unit, wcs=obs_wcs,
            uncertainty=StdDevUncertainty(_native(err_hdu.data), unit=unit),
            meta=header_to_meta(obs_hdu.header),
            psf=psf.copy())
        truth = CCDData(_native(truth_hdu.data), unit=unit,
                        wcs=truth_wcs,
                        meta=header_to_meta(truth_hdu.header))
        upsample = int(psf_hdu.header['UPSAMPLE'])
    return DemoData(observed=observed, truth=truth, psf=psf,
                    upsample=upsample)


def _demo_wcs(shape, scale):
    """A celestial TAN WCS centred on the stamp (``scale`` in arcsec)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.cunit = ['deg', 'deg']
    wcs.wcs.crval = list(_CENTER)
    # 1-indexed FITS pixel of the stamp centre (the GalSim profile centre)
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    wcs.wcs.cdelt = [-scale / 3600.0, scale / 3600.0]
    wcs.wcs.radesys = 'ICRS'
    wcs.pixel_shape = (shape[1], shape[0])
    wcs.wcs.set()
    return wcs


def _make_galaxy(galsim, rng):
    """The GalSim profile of the demo galaxy (flux in nJy)."""
    flux = 10 ** ((31.4 - _MAG_AB) / 2.5)
    # GalSim angles run counter-clockwise from +x; with north up and east
    # to the left a position angle (east of north) is 90 deg further.
    rot = (90.0 + _POSITION_ANGLE) * galsim.degrees
    bulge = galsim.DeVaucouleurs(half_light_radius=_BULGE_RE,
                                 flux=_BULGE_FRACTION * flux)
    bulge = bulge.shear(q=_BULGE_Q, beta=0 * galsim.degrees).rotate(rot)
    disk_flux = (1 - _BULGE_FRACTION) * flux
    disk = galsim.InclinedExponential(
        inclination=_DISK_INCLINATION * galsim.degrees,
        half_light_radius=_DISK_RE, scale_h_over_r=_DISK_HEIGHT,
        flux=(1 - _CLUMP_FRACTION) * disk_flux).rotate(rot)
    weights = rng.uniform(0.5, 1.5, _N_CLUMPS)
    weights *= _CLUMP_FRACTION * disk_flux / weights.sum()
    cos_i = np.cos(np.radians(_DISK_INCLINATION))
    angle = np.radians(90.0 + _POSITION_ANGLE)
    clumps = []
    for weight in weights:
        radius = rng.uniform(0.3, 1.1)
        phi = rng.uniform(0, 2 * np.pi)
        # position in the disk plane, projected along the minor axis
        x0, y0 = radius * np.cos(phi), radius * np.sin(phi) * cos_i
        x = x0 * np.cos(angle) - y0 * np.sin(angle)
        y = x0 * np.sin(angle) + y0 * np.cos(angle)
        knot = galsim.Gaussian(fwhm=rng.uniform(0.08, 0.15), flux=weight)
        clumps.append(knot.shift(x, y))
    return galsim.Add([bulge, disk, *clumps]), flux


def _describe(header, cards):
    for key, value, comment in cards:
        header[key] = (value, comment)


def _make_demo_file(path, seed=2025):
    """
    Simulate the demo galaxy with GalSim and write it to ``path``.

    Parameters
    ----------
    path : str or path-like
        Output FITS file (overwritten).
    seed : int, optional
        Seed of the clump positions and of the noise.

    Returns
    -------
    path : str
        The file written.
    """
    import galsim

    rng = np.random.default_rng(seed)
    galaxy, flux = _make_galaxy(galsim, rng)
    hst_psf = galsim.Airy(lam=_AIRY['lam'], diam=_AIRY['diam'],
                          obscuration=_AIRY['obscuration'],
                          scale_unit=galsim.arcsec)
    seeing = galsim.Moffat(beta=_SEEING_BETA, fwhm=_SEEING_FWHM,
                           trunc=_SEEING_TRUNC)
    ny, nx = _FINE_SHAPE
    k = _UPSAMPLE
    truth = galsim.Convolve(galaxy, hst_psf).drawImage(
        nx=nx, ny=ny, scale=_FINE_SCALE).array.astype(float)
    blurred = galsim.Convolve(galaxy, hst_psf, seeing).drawImage(
        nx=nx, ny=ny, scale=_FINE_SCALE).array.astype(float)
    clean = blurred.reshape(ny // k, k, nx // k, k).sum(axis=(1, 3))
    sigma = float(f'{clean.max() / _PEAK_SNR:.3g}')
    observed = clean + rng.normal(0.0, sigma, clean.shape)
    # point samples (no pixel) of the seeing: the discrete kernel that maps
    # pixel-integrated truth to pixel-integrated observation
    psf = seeing.drawImage(nx=_PSF_SHAPE[1], ny=_PSF_SHAPE[0],
                           scale=_FINE_SCALE, method='no_pixel').array
    psf = psf.astype(float) / psf.sum()

    coarse_scale = _FINE_SCALE * k
    sim = (f'Simulated by astrodeconv with GalSim {galsim.__version__}, '
           f'seed {seed}')
    primary = fits.PrimaryHDU()
    _describe(primary.header, [
        ('ORIGIN', 'astrodeconv', 'simulated data, not an observation'),
        ('SEED', seed, 'seed of clump positions and noise'),
        ('MAGAB', _MAG_AB, 'total AB magnitude of the galaxy'),
        ('FLUX', round(flux, 3), '[nJy] total flux of the galaxy'),
    ])
    primary.header['COMMENT'] = sim
    primary.header['COMMENT'] = ('OBSERVED: ground-based view (Moffat '
                                 'seeing, 0.2 arcsec pixels, noise)')
    primary.header['COMMENT'] = 'OBS_ERR: 1-sigma noise of OBSERVED'
    primary.header['COMMENT'] = ('PSF: seeing PSF on the 0.05 arcsec grid '
                                 '(for upsample=4)')
    primary.header['COMMENT'] = 'TRUTH: HST-like image, 0.05 arcsec pixels'

    obs_header = fits.Header()
    _describe(obs_header, [
        ('PIXSCALE', coarse_scale, '[arcsec/pixel]'),
        ('PSFMODEL', 'MOFFAT', 'seeing PSF (on top of the Airy PSF)'),
        ('FWHM', _SEEING_FWHM, '[arcsec] seeing FWHM'),
        ('BETA', _SEEING_BETA, 'Moffat index'),
        ('NOISE', sigma, '[nJy] 1-sigma white Gaussian noise per pixel'),
        ('PEAKSNR', _PEAK_SNR, 'peak SNR of the noiseless observation'),
        ('SEED', seed, 'seed of clump positions and noise'),
    ])
    obs_header['COMMENT'] = sim
    obs_header['COMMENT'] = ('Block sum of 4x4 TRUTH-grid pixels of the '
                             'galaxy*Airy*Moffat, plus noise')
    err_header = obs_header.copy()
    err_header.remove('COMMENT', remove_all=True)
    err_header['COMMENT'] = '1-sigma uncertainty of OBSERVED (constant)'

    psf_header = fits.Header()
    _describe(psf_header, [
        ('PSFMODEL', 'MOFFAT', 'seeing PSF of OBSERVED'),
        ('FWHM', _SEEING_FWHM, '[arcsec]'),
        ('BETA', _SEEING_BETA, 'Moffat index'),
        ('TRUNC', _SEEING_TRUNC, '[arcsec] truncation radius'),
        ('PIXSCALE', _FINE_SCALE, '[arcsec/pixel] the TRUTH grid'),
        ('UPSAMPLE', k, 'OBSERVED pixel / PSF pixel size'),
    ])
    psf_header['COMMENT'] = ('Point-sampled, unit sum, centred on pixel '
                             '(ny//2, nx//2) (0-indexed)')

    truth_header = fits.Header()
    _describe(truth_header, [
        ('PIXSCALE', _FINE_SCALE, '[arcsec/pixel]'),
        ('PSFMODEL', 'AIRY', 'HST-like PSF'),
        ('LAMBDA', _AIRY['lam'], '[nm] Airy wavelength'),
        ('DIAMETER', _AIRY['diam'], '[m] Airy aperture'),
        ('OBSCUR', _AIRY['obscuration'], 'Airy central obscuration'),
        ('BULGEFR', _BULGE_FRACTION, 'bulge-to-total flux ratio'),
        ('BULGERE', _BULGE_RE, '[arcsec] bulge half-light radius (n=4)'),
        ('DISKRE', _DISK_RE, '[arcsec] disk half-light radius'),
        ('DISKINC', _DISK_INCLINATION, '[deg] disk inclination'),
        ('NCLUMPS', _N_CLUMPS, 'star-forming clumps in the disk'),
        ('CLUMPFR', _CLUMP_FRACTION, 'fraction of disk flux in clumps'),
        ('PA', _POSITION_ANGLE, '[deg] position angle, east of north'),
        ('SEED', seed, 'seed of clump positions and noise'),
    ])
    truth_header['COMMENT'] = sim
    truth_header['COMMENT'] = 'Galaxy*Airy integrated over 0.05 arcsec pixels'
    truth_header['COMMENT'] = 'Stored as int16 with BSCALE/BZERO'

    coarse_wcs = _demo_wcs(clean.shape, coarse_scale)
    hdus = [
        make_image_hdu(observed.astype(np.float32), meta=obs_header,
                       wcs=coarse_wcs, unit=u.nJy, name='OBSERVED'),
        make_image_hdu(np.full(clean.shape, sigma, dtype=np.float32),
                       meta=err_header, wcs=coarse_wcs, unit=u.nJy,
                       name='OBS_ERR'),
        make_image_hdu(psf.astype(np.float32), meta=psf_header, name='PSF'),
        make_image_hdu(truth.astype(np.float32), meta=truth_header,
                       wcs=_demo_wcs(truth.shape, _FINE_SCALE), unit=u.nJy,
                       name='TRUTH'),
    ]
    for hdu in (hdus[0], hdus[1], hdus[3]):
        hdu.header.comments['BUNIT'] = 'flux per pixel'
    hdus[3].scale('int16', option='minmax')
    hdul = fits.HDUList([primary, *hdus])
    path = os.fspath(path)
    hdul.writeto(path, overwrite=True)
    return path
