# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Space-based "truth" galaxies simulated with GalSim.

`simulate_galaxies` draws bulge + disk galaxies with star-forming clumps,
seen with an HST-like PSF on a fine pixel grid, as targets for training
deconvolution networks (the role played by the CANDELS F606W cut-outs in
the published SUNet / Learnlet work). GalSim is imported only when the
function is called. Less regular stamps (clumpy disks, irregular systems,
mergers, galaxies with neighbours, crowded and empty crops) are drawn
with ``morphology=`` (see *Morphologies* below).

Units follow `astrodeconv.datasets.demo`: pixel values are in nJy per pixel,
so that ``m_AB = 31.4 - 2.5 log10(F / nJy)``.

The population
--------------
Each galaxy is the sum of

* a Sersic **bulge** (``n`` drawn among 2.5, 3, 3.5 and 4, so that GalSim's
  per-index tables stay cached), half-light radius 0.2 to 0.6 times that
  of the disk (at least 0.05"), axis ratio 0.6 to 1, major axis within
  about 10 deg of the disk's;
* an inclined exponential **disk** (`galsim.InclinedExponential`, scale
  height 0.08 to 0.15 of the scale radius), with ``cos(inclination)``
  uniform in [0.2, 1] (random orientations short of edge-on);
* 0 to 8 star-forming **clumps**: circular Gaussian knots of FWHM 0.05" to
  0.15", each holding 1% to 8% of the disk flux (taken from the smooth
  disk, so the total flux is unchanged), placed in the disk plane at radii
  following the exponential disk surface density (a Gamma(2, h)
  distribution, ``h`` the disk scale length, truncated at ``3 h``, i.e.
  1.8 half-light radii) and uniform azimuths, then projected with the
  disk inclination and rotated with it.

The total AB magnitude follows number counts rising as ``10**(0.3 m)``
within ``mag_range``; the face-on half-light radius of the disk is
log-normal with median ``0.5" * 10**(-0.08 (m - 22.5))`` (0.9" at m = 19.5,
0.3" at m = 25) and scatter 0.4 in ``ln r``, clipped to [0.15", 1.3"]; the
bulge-to-total flux ratio follows a Beta(1.2, 3.5) distribution (mean 0.26,
mostly disk dominated); position angles are uniform and the centre is
offset from the stamp centre by less than 1.4 pixel along each axis.

The profile is convolved with an Airy PSF (2.4 m aperture, central
obscuration 0.33, 606 nm: HST/ACS F606W without aberrations) and
integrated over the pixels (GalSim's default ``method='auto'``); then white
Gaussian noise of standard deviation ``hst_noise`` is added.

Selection
---------
The published training sets kept CANDELS objects with ``MAG_AUTO < 26``,
``FLUX_RADIUS(80%) > 10`` pixels and ``FWHM > 10`` pixels (SExtractor).
The same cuts are applied literally here, in pixels of the simulated
grid, on the noiseless truth; a galaxy that fails is drawn again (a new
*attempt*, see below):

* ``mag_stamp < 26``: the magnitude of the flux inside the stamp;
* ``flux_radius_80 > 10``: radius of the circle, centred on the
  flux-weighted centroid, that encloses 80% of the flux of the stamp;
* ``fwhm > 10``: SExtractor's ``FWHM_IMAGE`` is not the width at half of
  the peak pixel but a "Gaussian core" width fitted to the object's
  isophotal areas. Here the areas ``A_i`` of the region connected to the
  peak above 8 levels ``t_i``, spaced logarithmically from a detection
  isophote ``t_0`` to the peak, are fitted by least squares with
  ``A = a - 2 pi s**2 ln t`` (exact for a Gaussian of width ``s``) and
  ``fwhm = 2 sqrt(2 ln 2) s``. The detection isophote is 100 nJy per
  square arcsec (about 26.4 mag per square arcsec, the 1-sigma level of
  the default noise, i.e. 0.25 nJy per 0.05" pixel). The width at half
  the peak pixel, ``2 sqrt(A_half / pi)``, is also recorded
  (``fwhm_half_max``) but is *not* used: a compact bulge or a single
  bright clump sets the peak, and with that definition only about 0.2%
  of this population (6 of 3000 attempts) passes ``> 10`` pixels at
  0.05" per pixel.

With the default parameters about 40% of the attempts pass (the cuts
remove the small, mostly faint, galaxies and many bulge dominated ones);
the catalogue column ``attempt`` keeps track of the redraws.

Reproducibility
---------------
Galaxy ``i`` of a run with seed ``s`` depends only on ``(s, i)``: attempt
``a`` draws all its parameters from ``numpy.random.default_rng([s, i, a])``
in a fixed order (the clump parameters are always drawn for 8 clumps, so
forcing ``n_clumps`` changes nothing else), and the HST-like noise comes
from a `galsim.BaseDeviate` seeded from the same generator. Any subset of a
set can therefore be regenerated with ``indices=``.

Morphologies
------------
``morphology`` selects the kind of every stamp among `MORPHOLOGIES`
(a mix is allowed):

* ``'bulge_disk'`` (default): the galaxies described above;
* ``'clumpy'``: clumpy disks, 5 to 30 knots of FWHM 0.05" to 0.4"
  holding 20% to 60% of the disk flux;
* ``'irregular'``: asymmetric systems, a sheared exponential body with
  lopsided star-forming knots (40% to 80% of the flux), tidal-like
  elongated components and a random shear;
* ``'merger'``: two (sometimes three) galaxies of the three kinds above,
  0.3 to 2 half-light radii apart, flux ratios 1 to 5;
* ``'field'``: a central galaxy (of the three kinds) with 1 to 4
  neighbour galaxies and 0 to 3 stars around it, many crossing the
  stamp edges;
* ``'crowded'``: 5 to 40 small faint galaxies of the three kinds and a
  few stars (numbers for a 6.4" stamp, scaled with its area), no central
  object;
* ``'sky'``: a sky-dominated crop, empty or with 0 to 3 very faint small
  objects.

The selection applies to the central system of ``'clumpy'``,
``'irregular'``, ``'merger'`` (the whole merger) and ``'field'`` (the
central galaxy alone, drawn before its neighbours, so ``flux_stamp``,
``flux_radius_80`` and ``fwhm`` describe it) stamps, with the magnitude of
the system drawn in ``mag_range``. It is **not** applied to ``'crowded'``
and ``'sky'`` stamps (their single attempt is kept; their measurements
describe the whole stamp). The populations and the rendering are described
in ``astrodeconv.datasets.scenes``.

A mix (a dict of probabilities, or a sequence of names drawn uniformly)
picks the kind of stamp ``i`` with ``numpy.random.default_rng([s, i,
tag])``, a generator of its own, so the kind depends only on ``(s, i)``,
and a stamp of a given kind is the same in a mix as in a set of that kind
alone. The attempts of ``'bulge_disk'`` stamps use the generators above
(the default output is unchanged); those of the other kinds use
``default_rng([s, i, a, tag_kind])``, one stream per kind.
"""

import concurrent.futures
import multiprocessing
import numbers

import numpy as np
from astropy import units as u
from astropy.table import Table
from scipy import ndimage

from ..utils._optional_deps import import_optional
from .cutouts import SELECTION
from .population import (_MAX_CLUMPS, _ZERO_POINT, _draw_parameters,
                         _galaxy_profile)
from ..utils._validation import check_positive_int, check_real
from ..utils._deprecation import renamed_keyword

__all__ = ['simulate_galaxies', 'MORPHOLOGIES']

__doctest_requires__ = {('simulate_galaxies',): ['galsim']}

#: Selection limits (the published CANDELS cuts, defined in cutouts).
_MAG_LIMIT = SELECTION['MAG_AUTO'][1]
_MIN_FLUX_RADIUS = SELECTION['FLUX_RADIUS'][1]     # pixels
_MIN_FWHM = SELECTION['FWHM_IMAGE'][1]             # pixels
#: Detection isophote of the FWHM measurement, nJy per square arcsec.
_DETECTION_SB = 100.0
#: Number of isophotal levels of the FWHM fit (as in SExtractor).
_N_ISO = 8
#: Default HST-like noise, nJy per 0.05" pixel: a selected galaxy scaled to
#: mag 25 has a median peak of about 4.4 nJy per pixel, a peak SNR of ~18.
_DEFAULT_HST_NOISE = 0.25
#: HST-like Airy PSF (F606W).
_AIRY = {'lam': 606.0, 'diam': 2.4, 'obscuration': 0.33}
#: Kinds of stamps (the ``morphology`` of `simulate_galaxies`).
MORPHOLOGIES = ('bulge_disk', 'clumpy', 'irregular', 'merger', 'field',
                'crowded', 'sky')
#: Kinds with a central system, to which the selection applies.
_CENTRAL = ('bulge_disk', 'clumpy', 'irregular', 'merger', 'field')
#: Last entry of the seed of the generator that picks the kind of a stamp
#: in a mix, and of the generators of the attempts of each kind other than
#: 'bulge_disk' (non-zero: numpy ignores trailing zeros of a seed).
_KIND_TAG = 0x6B696E64
_STREAM_TAGS = {kind: 0x6D6F7200 + i for i, kind in enumerate(MORPHOLOGIES)}
#: Attempts per galaxy before giving up.
_MAX_ATTEMPTS = 200
#: Galaxies per task when running in parallel.
_CHUNK = 16

_COLUMNS = (
    ('index', int, None, 'galaxy index in the set'),
    ('seed', int, None, 'seed of the set'),
    ('attempt', int, None, 'attempt that passed the selection'),
    ('mag', float, u.mag, 'total AB magnitude'),
    ('flux', float, u.nJy, 'total flux'),
    ('mag_stamp', float, u.mag, 'AB magnitude of the flux in the stamp'),
    ('flux_stamp', float, u.nJy, 'noiseless flux inside the stamp'),
    ('bt', float, None, 'bulge-to-total flux ratio'),
    ('flux_bulge', float, u.nJy, 'bulge flux'),
    ('flux_disk', float, u.nJy, 'disk flux (smooth disk + clumps)'),
    ('sersic_n', float, None, 'bulge Sersic index'),
    ('r_half_bulge', float, u.arcsec, 'bulge half-light radius'),
    ('q_bulge', float, None, 'bulge axis ratio'),
    ('r_half_disk', float, u.arcsec, 'disk face-on half-light radius'),
    ('inclination', float, u.deg, 'disk inclination (0 = face-on)'),
    ('q_disk', float, None, 'cos(inclination), thin-disk axis ratio'),
    ('h_over_r', float, None, 'disk scale height / scale radius'),
    ('pa', float, u.deg, 'position angle of the major axis, east of '
     'north (north up, east left)'),
    ('pa_bulge', float, u.deg, 'position angle of the bulge'),
    ('x_offset', float, u.pix, 'centre offset along x from the stamp '
     'centre'),
    ('y_offset', float, u.pix, 'centre offset along y from the stamp '
     'centre'),
    ('n_clumps', int, None, 'number of star-forming clumps'),
    ('clump_flux', float, u.nJy, 'total flux of the clumps'),
    ('flux_radius_80', float, u.pix, 'radius enclosing 80% of the stamp '
     'flux'),
    ('fwhm', float, u.pix, 'isophotal Gaussian-core FWHM (selection)'),
    ('fwhm_half_max', float, u.pix, '2 sqrt(area above half peak / pi)'),
    ('morphology', str, None, 'kind of stamp (see MORPHOLOGIES)'),
    ('n_objects', int, None, 'number of galaxies in the stamp'),
    ('n_stars', int, None, 'number of stars in the stamp'),
    ('flux_ratio', float, None, 'merger: flux of the primary / flux of '
     'the first companion'),
    ('flux_image', float, u.nJy, 'noiseless flux of the whole image'),
)


# ---------------------------------------------------------------------------
# Measurements (on noiseless images)
# ---------------------------------------------------------------------------

def _peak_footprint(image, threshold):
    """Pixels above ``threshold`` connected to the peak (8-connectivity)."""
    labels, _ = ndimage.label(image > threshold,
                              structure=np.ones((3, 3), dtype=bool))
    peak = np.unravel_index(np.argmax(image), image.shape)
    return labels == labels[peak]


def _isophotal_fwhm(image, threshold):
    """
    Gaussian-core FWHM fitted to isophotal areas (pixels).

    The areas above ``_N_ISO`` levels spaced logarithmically between
    ``threshold`` and the peak are fitted with ``A = a - 2 pi s**2 ln t``.
    Returns 0 when the peak does not exceed the threshold.
    """
    peak = float(image.max())
    if not peak > threshold > 0:
        return 0.0
    values = np.sort(image[_peak_footprint(image, threshold)])
    log_levels = np.log(threshold) + (np.arange(_N_ISO) / _N_ISO
                                      * np.log(peak / threshold))
    areas = values.size - np.searchsorted(values, np.exp(log_levels),
                                          side='right')
    slope = np.polyfit(log_levels, areas.astype(float), 1)[0]
    if not slope < 0:
        return 0.0
    return float(2 * np.sqrt(2 * np.log(2)) * np.sqrt(-slope / (2 * np.pi)))


def _half_max_fwhm(image):
    """``2 sqrt(A / pi)`` with ``A`` the area above half the peak."""
    peak = float(image.max())
    if not peak > 0:
        return 0.0
    area = np.count_nonzero(_peak_footprint(image, 0.5 * peak))
    return float(2 * np.sqrt(area / np.pi))


def _flux_radius(image, fraction):
    """Radius (pixels) around the centroid enclosing ``fraction`` of flux."""
    total = float(image.sum())
    weights = np.clip(image, 0, None)
    if not total > 0 or not weights.sum() > 0:
        return 0.0
    yy, xx = np.indices(image.shape)
    cy = float((weights * yy).sum() / weights.sum())
    cx = float((weights * xx).sum() / weights.sum())
    radius = np.hypot(yy - cy, xx - cx).ravel()
    order = np.argsort(radius)
    cumulative = np.cumsum(image.ravel()[order], dtype=float)
    stop = np.searchsorted(cumulative, fraction * total)
    stop = min(stop, radius.size - 1)
    return float(radius[order][stop])


class _Simulator:
    """Draws galaxies by index; one instance per process."""

    def __init__(self, *, stamp_size, pixel_scale, seed, mag_range,
                 hst_noise, n_clumps, select, morphology=(1.0,)):
        galsim = import_optional('galsim', purpose='to simulate galaxies')
        self.galsim = galsim
        self.stamp_size = stamp_size
        self.pixel_scale = pixel_scale
        self.seed = seed
        self.mag_range = mag_range
        self.hst_noise = hst_noise
        self.n_clumps = n_clumps
        self.select = select
        # probabilities of the kinds, in the order of MORPHOLOGIES
        self.morphology = tuple(morphology) + (0.0,) * (
            len(MORPHOLOGIES) - len(morphology))
        self.gsparams = galsim.GSParams(folding_threshold=1e-2,
                                        maxk_threshold=2e-3)
        self.psf = galsim.Airy(lam=_AIRY['lam'], diam=_AIRY['diam'],
                               obscuration=_AIRY['obscuration'],
                               scale_unit=galsim.arcsec,
                               gsparams=self.gsparams)
        self.threshold = _DETECTION_SB * pixel_scale ** 2
        # the other kinds draw most objects on sub-images: no 128-pixel
        # floor on the FFT size (the size GalSim recommends is kept)
        self.gsparams_small = galsim.GSParams(
            folding_threshold=1e-2, maxk_threshold=2e-3,
            minimum_fft_size=32)
        self.psf_small = self.psf.withGSParams(self.gsparams_small)
        self._templates = None

    def _measure(self, clean, row):
        """Store the measurements of ``clean``; True if it is selected."""
        flux_stamp = float(clean.sum())
        row['flux_stamp'] = flux_stamp
        row['mag_stamp'] = (_ZERO_POINT - 2.5 * np.log10(flux_stamp)
                            if flux_stamp > 0 else np.inf)
        row['flux_radius_80'] = _flux_radius(clean, 0.8)
        row['fwhm'] = _isophotal_fwhm(clean, self.threshold)
        row['fwhm_half_max'] = _half_max_fwhm(clean)
        return (row['mag_stamp'] < _MAG_LIMIT
                and row['flux_radius_80'] > _MIN_FLUX_RADIUS
                and row['fwhm'] > _MIN_FWHM)

    def _add_noise(self, image, noise_seed):
        if self.hst_noise > 0:
            galsim = self.galsim
            noise = galsim.GaussianNoise(galsim.BaseDeviate(noise_seed),
                                         sigma=self.hst_noise)
            image.addNoise(noise)

    def _attempt(self, index, attempt):
        """One attempt of a 'bulge_disk' galaxy (the original population)."""
        galsim = self.galsim
        rng = np.random.default_rng([self.seed, index, attempt])
        p = _draw_parameters(rng, self.mag_range)
        if self.n_clumps is not None:
            p['n_clumps'] = self.n_clumps
        galaxy, fluxes = _galaxy_profile(galsim, p, self.gsparams,
                                         self.pixel_scale)
        final = galsim.Convolve([galaxy, self.psf], gsparams=self.gsparams)
        size = self.stamp_size
        image = final.drawImage(nx=size, ny=size, scale=self.pixel_scale)
        row = dict(p, **fluxes)
        passed = self._measure(image.array.astype(float), row)
        row.update(morphology='bulge_disk', n_objects=1, n_stars=0,
                   flux_ratio=np.nan, flux_image=row['flux_stamp'])
        if self.select and not passed:
            return None, row
        self._add_noise(image, p['noise_seed'])
        return image.array.astype(np.float32), row

    @property
    def templates(self):
        """Images of knots and stars (`scenes._Templates`), made once."""
        if self._templates is None:
            from .scenes import _Templates

            self._templates = _Templates(self.galsim, self.psf,
                                         self.pixel_scale)
        return self._templates

    def _add_object(self, image, parts, dx, dy):
        """
        Add `scenes._Parts` centred ``(dx, dy)`` arcsec from the stamp centre.

        The smooth profile is drawn on a sub-image of the size GalSim
        recommends, cut by the stamp edges; the knots from templates.
        """
        galsim = self.galsim
        if parts.profile is not None:
            final = galsim.Convolve([parts.profile, self.psf_small],
                                    gsparams=self.gsparams_small)
            scale = self.pixel_scale
            centre = image.true_center + galsim.PositionD(dx / scale,
                                                          dy / scale)
            half = final.getGoodImageSize(scale) // 2 + 1
            x, y = int(round(centre.x)), int(round(centre.y))
            bounds = galsim.BoundsI(x - half, x + half, y - half, y + half)
            bounds = bounds & image.bounds
            if bounds.isDefined():
                final.drawImage(image=image[bounds], add_to_image=True,
                                center=centre)
        self.templates.add(image.array, parts.knots, dx, dy)

    def _attempt_kind(self, index, attempt, kind):
        """One attempt of a stamp of any other ``kind``."""
        from . import scenes

        galsim = self.galsim
        rng = np.random.default_rng([self.seed, index, attempt,
                                     _STREAM_TAGS[kind]])
        noise_seed = int(rng.integers(1, 2 ** 31 - 1))
        size = self.stamp_size
        if kind in _CENTRAL:
            parts, row = scenes._central(self, rng, kind)
            final = galsim.Convolve([parts.profile, self.psf_small],
                                    gsparams=self.gsparams_small)
            image = final.drawImage(nx=size, ny=size, scale=self.pixel_scale)
            self.templates.add(image.array, parts.knots)
            passed = self._measure(image.array.astype(float), row)
            if self.select and not passed:
                return None, row
            objects = (scenes._field_objects(self, rng, row)
                       if kind == 'field' else [])
            n_objects = row['n_objects']
        else:
            image = galsim.ImageF(size, size, scale=self.pixel_scale)
            objects = scenes._scene_objects(self, rng, kind)
            flux = float(sum(obj[0].flux for obj in objects))
            row = dict(scenes._NO_CENTRAL, flux=flux, mag=(
                _ZERO_POINT - 2.5 * np.log10(flux) if flux > 0 else np.inf))
            n_objects = 0
        for parts, dx, dy, _ in objects:
            self._add_object(image, parts, dx, dy)
        n_stars = sum(obj[3] for obj in objects)
        clean = image.array.astype(float)
        if kind not in _CENTRAL:
            self._measure(clean, row)
        row.update(morphology=kind, n_stars=n_stars,
                   n_objects=n_objects + len(objects) - n_stars,
                   flux_image=float(clean.sum()))
        self._add_noise(image, noise_seed)
        return image.array.astype(np.float32), row

    def kind(self, index):
        """The kind of stamp ``index`` (drawn from the mix if there is one)."""
        weights = np.asarray(self.morphology)
        if np.count_nonzero(weights) == 1:
            return MORPHOLOGIES[int(np.flatnonzero(weights)[0])]
        u = np.random.default_rng([self.seed, index, _KIND_TAG]).uniform()
        k = np.searchsorted(np.cumsum(weights), u, side='right')
        # (a rounding error could put u above the last cumulative sum)
        return MORPHOLOGIES[min(int(k), int(np.flatnonzero(weights)[-1]))]

    def galaxy(self, index):
        """Image and catalogue row of galaxy ``index``; attempts count."""
        kind = self.kind(index)
        for attempt in range(_MAX_ATTEMPTS):
            if kind == 'bulge_disk':
                image, row = self._attempt(index, attempt)
            else:
                image, row = self._attempt_kind(index, attempt, kind)
            if image is not None:
                row.update(index=index, seed=self.seed, attempt=attempt)
                return image, row, attempt + 1
        msg = (f'galaxy {index} (morphology {kind!r}) failed the selection '
               f'(MAG < {_MAG_LIMIT:g}, FLUX_RADIUS_80 > '
               f'{_MIN_FLUX_RADIUS:g} px, FWHM > {_MIN_FWHM:g} px) in '
               f'{_MAX_ATTEMPTS} attempts with stamp_size={self.stamp_size} '
               f'and pixel_scale={self.pixel_scale}; use a larger stamp, a '
               'finer pixel scale or select=False')
        raise RuntimeError(msg)

    def run(self, indices):
        # GalSim's OpenMP threads cost more than they give on small stamps
        # (about 1.5 times slower with 2 threads, more on a busy machine):
        # draw with one thread, then restore the caller's setting.
        previous = self.galsim.get_omp_threads()
        self.galsim.set_omp_threads(1)
        try:
            images, rows, attempts = [], [], 0
            for index in indices:
                image, row, n_attempts = self.galaxy(int(index))
                images.append(image)
                rows.append(row)
                attempts += n_attempts
        finally:
            self.galsim.set_omp_threads(previous)
        return images, rows, attempts


_WORKER = {}


def _worker_run(config, indices):
    """Process-pool task: simulate ``indices`` (one simulator per process)."""
    key = tuple(sorted((k, repr(v)) for k, v in config.items()))
    if _WORKER.get('key') != key:
        _WORKER['key'] = key
        _WORKER['sim'] = _Simulator(**config)
    return _WORKER['sim'].run(indices)


def _check_range(value, name, *, minimum=None):
    """A ``(low, high)`` pair of finite floats with low < high."""
    if not isinstance(value, (tuple, list, np.ndarray)) or len(value) != 2:
        msg = f'{name} must be a (low, high) pair, got {value!r}'
        raise ValueError(msg)
    lo = check_real(value[0], f'{name}[0]', minimum=minimum)
    hi = check_real(value[1], f'{name}[1]', minimum=minimum)
    if not lo < hi:
        msg = f'{name} must satisfy low < high, got ({lo}, {hi})'
        raise ValueError(msg)
    return lo, hi


def _check_morphology(value):
    """
    Probabilities of the kinds, in the order of `MORPHOLOGIES`.

    ``value`` is one name, a dict name -> probability (weights >= 0,
    normalised) or a non-empty sequence of names (drawn uniformly, a name
    given twice counts twice).
    """
    valid = ', '.join(repr(name) for name in MORPHOLOGIES)

    def check_name(name):
        if not isinstance(name, str) or name not in MORPHOLOGIES:
            msg = (f'morphology must name kinds among {valid}, got '
                   f'{name!r}')
            raise ValueError(msg)
        return MORPHOLOGIES.index(name)

    weights = np.zeros(len(MORPHOLOGIES))
    if isinstance(value, str):
        weights[check_name(value)] = 1.0
    elif isinstance(value, dict):
        for name, weight in value.items():
            k = check_name(name)
            if (isinstance(weight, (bool, np.bool_))
                    or not isinstance(weight, numbers.Real)
                    or not np.isfinite(weight) or weight < 0):
                msg = (f'morphology probabilities must be finite numbers '
                       f'>= 0, got {weight!r} for {name!r}')
                raise ValueError(msg)
            weights[k] += float(weight)
    elif isinstance(value, (list, tuple)) and len(value) > 0:
        for name in value:
            weights[check_name(name)] += 1.0
    else:
        msg = (f'morphology must be one of {valid}, a dict of these names '
               f'to probabilities or a non-empty sequence of them, got '
               f'{value!r}')
        raise ValueError(msg)
    if not weights.sum() > 0:
        msg = f'morphology probabilities must not all be 0, got {value!r}'
        raise ValueError(msg)
    return tuple(float(w) for w in weights / weights.sum())


def _make_table(rows, attempts):
    table = Table()
    for name, dtype, unit, description in _COLUMNS:
        values = np.array([row[name] for row in rows], dtype=dtype)
        table[name] = values
        table[name].description = description
        if unit is not None:
            table[name].unit = unit
    table.meta['attempts'] = int(attempts)
    table.meta['acceptance'] = (len(rows) / attempts if attempts else 1.0)
    return table


@renamed_keyword('progress_bar', 'progress', since='0.1')
@renamed_keyword('n_jobs', 'workers', since='0.1')
def simulate_galaxies(n, *, stamp_size=128, pixel_scale=0.05, seed=0,
                      mag_range=(20.0, 25.5), hst_noise=_DEFAULT_HST_NOISE,
                      n_clumps=None, select=True, indices=None, workers=1,
                      progress=False, morphology='bulge_disk'):
    """
    Simulate space-based galaxy images (the training targets).

    Bulge + inclined disk galaxies with star-forming clumps (by default;
    clumpy, irregular, merging, crowded and other stamps with
    ``morphology``), convolved with an HST-like Airy PSF, integrated over
    the pixels and with white Gaussian noise, selected with the published
    cuts (MAG < 26, FLUX_RADIUS_80 > 10 px, FWHM > 10 px). The
    population, the morphologies, the selection and the seeding are
    described in the module docstring of ``astrodeconv.datasets.simulate``.
    Requires GalSim.

    Parameters
    ----------
    n : int
        Number of galaxies (ignored when ``indices`` is given).
    stamp_size : int, optional
        Side of the square stamps, in pixels.
    pixel_scale : float, optional
        Pixel scale in arcsec (0.05" for the HST-like grid).
    seed : int, optional
        Seed of the set. Galaxy ``i`` depends only on ``(seed, i)``.
    mag_range : tuple of float, optional
        Range of total AB magnitudes; the upper limit must not exceed 26
        (the selection limit).
    hst_noise : float, optional
        Standard deviation of the white Gaussian noise added to the truth,
        in nJy per pixel (0 for noiseless images). The default 0.25 gives
        a peak signal-to-noise ratio of about 18 (median over the selected
        population scaled to magnitude 25) to a galaxy of magnitude 25.
    n_clumps : int, optional
        Force the number of clumps of every bulge + disk galaxy (0 to 8),
        including those inside the stamps of other kinds; by default it is
        drawn uniformly in 0..8. The other parameters do not change.
    select : bool, optional
        Apply the selection cuts (redrawing the galaxies that fail). With
        False, attempt 0 of every galaxy is kept.
    indices : array_like of int, optional
        Simulate these galaxy indices of the set instead of ``0 .. n-1``
        (to regenerate a subset).
    workers : int, optional
        Number of processes. The result does not depend on it. Workers
        are started with the ``'spawn'`` method (forking after GalSim's
        OpenMP runtime has started can deadlock), about a second each, so
        a script using ``workers > 1`` needs the usual
        ``if __name__ == '__main__':`` guard. Each process draws with one
        OpenMP thread (faster than GalSim's default on small stamps).
    progress : bool, optional
        Show a `tqdm` progress bar.
    morphology : str, dict or sequence of str, optional
        Kind of the stamps, one of ``astrodeconv.datasets.MORPHOLOGIES``:
        ``'bulge_disk'`` (the default, unchanged), ``'clumpy'``,
        ``'irregular'``, ``'merger'``, ``'field'`` (a galaxy with
        neighbours and stars), ``'crowded'`` and ``'sky'`` (these two
        without a central galaxy and without selection). A dict
        ``{name: probability}`` (non-negative weights, normalised) or a
        sequence of names (drawn uniformly) mixes kinds; the kind of each
        stamp depends only on ``(seed, index)``.

    Returns
    -------
    images : `~numpy.ndarray`
        ``float32`` array of shape ``(n, stamp_size, stamp_size)`` in nJy
        per pixel.
    catalogue : `~astropy.table.Table`
        One row per galaxy with every parameter (magnitudes, fluxes in
        nJy, radii in arcsec, angles in deg, offsets and measured sizes in
        pixels, ``n_clumps``, ``clump_flux``, ``index``, ``seed``,
        ``attempt``), the ``morphology`` of the stamp, its numbers of
        galaxies (``n_objects``) and stars (``n_stars``), the merger
        ``flux_ratio`` and the noiseless flux of the whole image
        (``flux_image``). In stamps of other kinds than ``'bulge_disk'``
        the galaxy parameters are those of the central galaxy (of the
        primary one for a merger, with the magnitude and flux of the whole
        system), NaN where they do not apply (e.g. the bulge of an
        irregular galaxy). ``'crowded'`` and ``'sky'`` stamps have NaN
        galaxy parameters (and ``n_clumps`` 0), the total ``flux`` and
        ``mag`` of their objects and measurements of the whole stamp.
        ``catalogue.meta`` holds the number of ``attempts`` and the
        ``acceptance`` rate of the selection.

    Examples
    --------
    >>> from astrodeconv.datasets import simulate_galaxies
    >>> images, cat = simulate_galaxies(2, stamp_size=64, seed=3)
    >>> images.shape, images.dtype
    ((2, 64, 64), dtype('float32'))
    >>> bool((cat['mag'] < 26).all() and (cat['fwhm'] > 10).all())
    True
    >>> again, _ = simulate_galaxies(1, stamp_size=64, seed=3, indices=[1])
    >>> bool((again[0] == images[1]).all())
    True

    A mix of kinds:

    >>> images, cat = simulate_galaxies(
    ...     4, stamp_size=64, seed=3,
    ...     morphology={'clumpy': 0.5, 'merger': 0.25, 'sky': 0.25})
    >>> set(cat['morphology']) <= {'clumpy', 'merger', 'sky'}
    True
    """
    stamp_size = check_positive_int(stamp_size, 'stamp_size', minimum=8)
    pixel_scale = check_real(pixel_scale, 'pixel_scale', minimum=0,
                             strict=True)
    seed = check_positive_int(seed, 'seed', minimum=0)
    mag_range = _check_range(mag_range, 'mag_range')
    if mag_range[1] > _MAG_LIMIT:
        msg = (f'mag_range must lie below the selection limit MAG < '
               f'{_MAG_LIMIT:g}, got {mag_range}')
        raise ValueError(msg)
    hst_noise = check_real(hst_noise, 'hst_noise', minimum=0)
    if n_clumps is not None:
        n_clumps = check_positive_int(n_clumps, 'n_clumps', minimum=0)
        if n_clumps > _MAX_CLUMPS:
            msg = f'n_clumps must be <= {_MAX_CLUMPS}, got {n_clumps}'
            raise ValueError(msg)
    workers = check_positive_int(workers, 'workers')
    morphology = _check_morphology(morphology)
    if indices is None:
        n = check_positive_int(n, 'n', minimum=0)
        indices = np.arange(n)
    else:
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and (
                not np.issubdtype(indices.dtype, np.integer)
                or indices.min() < 0)):
            msg = (f'indices must be a 1D array of non-negative integers, '
                   f'got {indices!r}')
            raise ValueError(msg)
    config = {'stamp_size': stamp_size, 'pixel_scale': pixel_scale,
              'seed': seed, 'mag_range': mag_range, 'hst_noise': hst_noise,
              'n_clumps': n_clumps, 'select': bool(select),
              'morphology': morphology}
    from tqdm.auto import tqdm

    images, rows, attempts = [], [], 0
    chunks = [indices[i:i + _CHUNK] for i in range(0, len(indices), _CHUNK)]
    with tqdm(total=len(indices), disable=not progress,
              desc='simulating galaxies', unit='gal') as bar:
        if workers == 1 or len(chunks) <= 1:
            simulator = _Simulator(**config)
            results = (simulator.run(chunk) for chunk in chunks)
            for chunk_images, chunk_rows, chunk_attempts in results:
                images += chunk_images
                rows += chunk_rows
                attempts += chunk_attempts
                bar.update(len(chunk_rows))
        else:
            # 'spawn': forking after GalSim (OpenMP) has run can deadlock
            context = multiprocessing.get_context('spawn')
            with concurrent.futures.ProcessPoolExecutor(
                    max_workers=workers, mp_context=context) as pool:
                futures = [pool.submit(_worker_run, config, chunk)
                           for chunk in chunks]
                for future in futures:
                    chunk_images, chunk_rows, chunk_attempts = \
                        future.result()
                    images += chunk_images
                    rows += chunk_rows
                    attempts += chunk_attempts
                    bar.update(len(chunk_rows))
    size = stamp_size
    stack = (np.stack(images) if images
             else np.zeros((0, size, size), dtype=np.float32))
    return stack, _make_table(rows, attempts)
