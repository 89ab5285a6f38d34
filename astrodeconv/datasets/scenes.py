# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Morphologies and scenes of `~astrodeconv.datasets.simulate_galaxies`.

The default ``morphology='bulge_disk'`` galaxies are drawn by
`astrodeconv.datasets.simulate` itself; this module builds the other
kinds of `~astrodeconv.datasets.MORPHOLOGIES`. It is imported by the
simulator when it first draws a stamp of another kind, and receives GalSim
from it. Lengths are in arcsec, fluxes in nJy (``m_AB = 31.4 - 2.5
log10(F / nJy)``) and angles in degrees.

Galaxies
--------
Every galaxy of a stamp (central galaxy, merger member, neighbour, faint
field galaxy) is one of three kinds, built around a total magnitude ``m``
and a half-light radius drawn from the size-magnitude relation of the
default population (log-normal, median ``0.5" * 10**(-0.08 (m -
22.5))``, scatter 0.4 in ``ln r``, clipped to [0.15", 1.3"]):

* ``'bulge_disk'``: a default galaxy (module docstring of
  `astrodeconv.datasets.simulate`) with all its sizes scaled to the drawn
  radius, its clumps drawn as knots (see *Rendering*);
* ``'clumpy'``: an inclined exponential disk with a small Sersic bulge
  (bulge-to-total 0 to 0.15) and 5 to 30 knots holding 20% to 60% of the
  disk flux, shared with Gamma(1) weights. The knot FWHM is log-uniform
  in [0.05", 0.4"] (1 to 8 pixels of 0.05"); 30% of the knots are
  instead clusters of 5 to 15 point sources sampled, like
  `galsim.RandomKnots`, from an exponential profile whose half-light
  radius is half that FWHM. Knots lie in the disk plane at radii
  following the disk surface density (truncated at 3 scale lengths) and
  are projected and rotated with the disk;
* ``'irregular'``: a sheared exponential body (axis ratio 0.3 to 1);
  20 to 100 star-forming knots (round Gaussians of one FWHM in [0.03",
  0.1"]) at positions sampled from an exponential profile of 0.7 to 1.3
  times the half-light radius, like `galsim.RandomKnots`, holding 40% to
  80% of the flux, sheared by ``|g| < 0.3`` and offset from the body by
  0.2 to 0.7 half-light radius (lopsided); 0 to 2 elongated tidal-like
  exponential components (axis ratio 0.1 to 0.3, 5% to 15% of the flux
  each, 0.8 to 2 half-light radii out, roughly tangential); then a random
  overall shear ``|g| < 0.3``. The body keeps at least 5% of the flux.

Stamps
------
``'clumpy'`` and ``'irregular'`` stamps hold one such galaxy, offset from
the centre like the default galaxies. A ``'merger'`` holds two galaxies
(three with probability 0.2) whose kinds are drawn with probabilities
0.5, 0.25 and 0.25 among ``'bulge_disk'``, ``'clumpy'`` and
``'irregular'``; the total magnitude follows the number counts in
``mag_range``, each companion is fainter than the primary by a flux ratio
uniform in [1, 5] and lies 0.3 to 2 times the larger of the two
half-light radii away from it, and the flux-weighted centre of the system
is at the (offset) centre. A ``'field'`` stamp holds a central galaxy of
one of the three kinds (same probabilities) and, once that galaxy has
passed the selection, 1 to 4 neighbour galaxies (magnitudes 21 to 27
following the number counts) and 0 to 3 stars (magnitudes uniform in 21
to 26) at 0.15 to 0.7 stamp sides from the centre (and at least 1.5
half-light radii of the central galaxy), so that many overlap the stamp
edges.

A ``'crowded'`` stamp has no central object: 5 to 40 small faint galaxies
(numbers for a 6.4" stamp, scaled with the stamp area; kinds drawn as
above; magnitudes 23 to 27.5 following the number counts) and 0 to 5
stars (magnitudes uniform in 21 to 26, numbers scaled likewise), at
positions uniform over the stamp and a margin of 5% of its side around
it. A ``'sky'`` stamp holds 0 to 3 very faint (magnitudes 26.5 to 28.5)
objects, small galaxies (70%) or stars.

Rendering
---------
The smooth components (bulges, disks, bodies, tidal features) are drawn
by GalSim, convolved with the HST-like PSF, like the default galaxies: the
central system on the whole stamp, other galaxies each on a sub-image of
the size GalSim recommends, cut by the stamp edges. Knots and stars,
numerous and round, are added from *templates*: images of a point source
and of Gaussians of 8 FWHMs log-spaced from 0.03" to 0.4" (a knot's FWHM
is rounded to the nearest one, in log), convolved with the PSF and
integrated over the pixels, drawn once per process by GalSim on a grid 4
times finer than the pixels and cut into 65 x 65-pixel images at the 16
quarter-pixel phases (a knot position is rounded to a quarter of a
pixel). A template misses the ~0.9% of the flux of the PSF beyond 32
pixels (1.6" at 0.05" per pixel). This keeps a stamp with a hundred knots
about as fast to draw as a default galaxy.
"""

import numpy as np

from .population import (_COUNT_SLOPE, _HLR_TO_SCALE, _MAX_OFFSET,
                         _SERSIC_N, _SIZE_MEDIAN, _SIZE_PIVOT, _SIZE_RANGE,
                         _SIZE_SCATTER, _SIZE_SLOPE, _ZERO_POINT,
                         _disk_radius, _draw_parameters)

__all__ = []

#: Kinds of the galaxies inside stamps, and their probabilities.
_GALAXY_KINDS = ('bulge_disk', 'clumpy', 'irregular')
_GALAXY_PROBABILITIES = (0.5, 0.25, 0.25)

# clumpy disks
_CLUMPY_BT = (0.0, 0.15)
_CLUMPY_N_KNOTS = (5, 30)
_CLUMPY_KNOT_FRACTION = (0.2, 0.6)
_CLUMPY_KNOT_FWHM = (0.05, 0.4)          # arcsec, log-uniform
_CLUMPY_CLUSTER_PROBABILITY = 0.3
_CLUMPY_CLUSTER_POINTS = (5, 15)
# irregular systems
_IRR_KNOT_FRACTION = (0.4, 0.8)
_IRR_KNOT_POINTS = (20, 100)
_IRR_KNOT_FWHM = (0.03, 0.1)             # arcsec
_IRR_KNOT_RADIUS = (0.7, 1.3)            # half-light radii
_IRR_LOPSIDED = (0.2, 0.7)               # half-light radii
_IRR_MAX_TIDAL = 2
_IRR_TIDAL_FRACTION = (0.05, 0.15)
_IRR_TIDAL_Q = (0.1, 0.3)
_IRR_TIDAL_DISTANCE = (0.8, 2.0)         # half-light radii
_IRR_MAX_SHEAR = 0.3
_IRR_MIN_BODY = 0.05
# mergers
_MERGER_THIRD = 0.2
_MERGER_FLUX_RATIO = (1.0, 5.0)
_MERGER_SEPARATION = (0.3, 2.0)          # larger half-light radius
# fields and crowded crops
_NEIGHBOURS = (1, 4)
_FIELD_STARS = (0, 3)
_NEIGHBOUR_MAGS = (21.0, 27.0)
_STAR_MAGS = (21.0, 26.0)
_FIELD_DISTANCE = (0.15, 0.7)            # stamp sides
_CROWDED_GALAXIES = (5, 40)              # in a 6.4" x 6.4" stamp
_CROWDED_STARS = (0, 5)
_CROWDED_AREA = 6.4 ** 2                 # arcsec^2
_CROWDED_MAGS = (23.0, 27.5)
_CROWDED_MARGIN = 0.05                   # stamp sides
# sky crops
_SKY_OBJECTS = (0, 3)
_SKY_MAGS = (26.5, 28.5)
_SKY_GALAXY_PROBABILITY = 0.7
# templates of knots and stars (index 0: a point source)
_KNOT_FWHM = np.geomspace(0.03, 0.4, 8)  # arcsec
_TEMPLATE_HALF = 32                      # pixels
_OVERSAMPLING = 4

_NAN = float('nan')
#: Catalogue values of the stamps without a central galaxy.
_NO_CENTRAL = {'bt': _NAN, 'flux_bulge': _NAN, 'flux_disk': _NAN,
               'sersic_n': _NAN, 'r_half_bulge': _NAN, 'q_bulge': _NAN,
               'pa_bulge': _NAN, 'r_half_disk': _NAN, 'inclination': _NAN,
               'q_disk': _NAN, 'h_over_r': _NAN, 'pa': _NAN, 'n_clumps': 0,
               'clump_flux': _NAN, 'x_offset': _NAN, 'y_offset': _NAN,
               'flux_ratio': _NAN}


def _flux(mag):
    return 10 ** ((_ZERO_POINT - mag) / 2.5)


def _draw_mag(rng, lo, hi):
    """A magnitude following the number counts ``10**(0.3 m)``."""
    a = _COUNT_SLOPE
    t = rng.uniform()
    low, high = 10 ** (a * lo), 10 ** (a * hi)
    return float(np.log10(low + t * (high - low)) / a)


def _draw_size(rng, mag):
    """Half-light radius (arcsec) from the size-magnitude relation."""
    median = _SIZE_MEDIAN * 10 ** (_SIZE_SLOPE * (mag - _SIZE_PIVOT))
    return float(np.clip(median * np.exp(rng.normal(0, _SIZE_SCATTER)),
                         *_SIZE_RANGE))


def _draw_kind(rng):
    return _GALAXY_KINDS[rng.choice(len(_GALAXY_KINDS),
                                    p=_GALAXY_PROBABILITIES)]


def _rotation(galsim, pa):
    """GalSim angle of a position angle (east of north, north up)."""
    return (90.0 + pa) * galsim.degrees


def _template_index(fwhm):
    """Index of the template nearest (in log) to each knot FWHM."""
    log = np.log(np.atleast_1d(fwhm))
    return 1 + np.abs(log[:, None] - np.log(_KNOT_FWHM)).argmin(axis=1)


def _exponential_points(rng, n, half_light_radius):
    """``n`` positions sampled from an exponential profile (arcsec)."""
    radius = rng.gamma(2.0, half_light_radius / _HLR_TO_SCALE, n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


# ---------------------------------------------------------------------------
# Galaxies: a smooth GalSim profile and round knots
# ---------------------------------------------------------------------------

class _Parts:
    """
    An object before the PSF: a GalSim profile and a list of knots.

    ``knots`` is an ``(n, 4)`` array of ``x, y`` (arcsec), flux and template
    index (0 for a point source).
    """

    def __init__(self, profile=None, knots=None):
        self.profile = profile
        self.knots = np.zeros((0, 4)) if knots is None else knots

    @property
    def flux(self):
        smooth = 0.0 if self.profile is None else self.profile.flux
        return float(smooth + self.knots[:, 2].sum())

    def transform(self, matrix):
        """The parts transformed by a 2 x 2 matrix (a shear, a rotation)."""
        profile = (None if self.profile is None
                   else self.profile.transform(*np.ravel(matrix)))
        knots = self.knots.copy()
        knots[:, :2] = knots[:, :2] @ np.asarray(matrix).T
        return _Parts(profile, knots)

    def shift(self, dx, dy):
        profile = (None if self.profile is None
                   else self.profile.shift(dx, dy))
        knots = self.knots.copy()
        knots[:, :2] += (dx, dy)
        return _Parts(profile, knots)

    def __add__(self, other):
        profiles = [p.profile for p in (self, other) if p.profile is not None]
        profile = (profiles[0] if len(profiles) == 1
                   else profiles[0] + profiles[1] if profiles else None)
        return _Parts(profile, np.concatenate([self.knots, other.knots]))


def _rotation_matrix(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _bulge_disk(sim, rng, mag, r_half):
    """
    A default galaxy of magnitude ``mag`` and disk radius ``r_half``.

    The profile of `population._galaxy_profile`, with the clumps as knots
    (their FWHM rounded to that of the nearest template).
    """
    galsim, gsparams = sim.galsim, sim.gsparams_small
    p = _draw_parameters(rng, sim.mag_range)
    if sim.n_clumps is not None:
        p['n_clumps'] = sim.n_clumps
    factor = r_half / p['r_half_disk']
    p.update(mag=mag, r_half_disk=r_half,
             r_half_bulge=max(p['r_half_bulge'] * factor, 0.05))
    flux = _flux(mag)
    n_clumps = p['n_clumps']
    flux_bulge = p['bt'] * flux
    flux_disk = flux - flux_bulge
    clump_flux = p['clump_fractions'][:n_clumps] * flux_disk
    bulge = galsim.Sersic(n=p['sersic_n'], half_light_radius=p[
        'r_half_bulge'], flux=flux_bulge, gsparams=gsparams)
    bulge = bulge.shear(q=p['q_bulge'], beta=_rotation(galsim,
                                                       p['pa_bulge']))
    disk = galsim.InclinedExponential(
        inclination=p['inclination'] * galsim.degrees,
        half_light_radius=r_half, scale_h_over_r=p['h_over_r'],
        flux=flux_disk - clump_flux.sum(), gsparams=gsparams)
    radii = p['clump_radii'][:n_clumps] * factor
    phi = p['clump_phi'][:n_clumps]
    knots = np.column_stack([
        radii * np.cos(phi), radii * np.sin(phi) * p['q_disk'], clump_flux,
        _template_index(p['clump_fwhm'][:n_clumps])])
    disk = _Parts(disk, knots).transform(_rotation_matrix(
        _rotation(galsim, p['pa']).rad))
    info = {name: p[name] for name in (
        'bt', 'sersic_n', 'r_half_bulge', 'q_bulge', 'pa_bulge',
        'r_half_disk', 'inclination', 'q_disk', 'h_over_r', 'pa',
        'n_clumps')}
    info.update(flux=flux, flux_bulge=flux_bulge, flux_disk=flux_disk,
                clump_flux=float(clump_flux.sum()))
    return _Parts(bulge) + disk, info


def _clumpy(sim, rng, mag, r_half):
    """A clumpy disk: disk + small bulge + knots of many sizes."""
    galsim, gsparams = sim.galsim, sim.gsparams_small
    flux = _flux(mag)
    bt = rng.uniform(*_CLUMPY_BT)
    sersic_n = float(_SERSIC_N[rng.integers(len(_SERSIC_N))])
    r_bulge = max(r_half * rng.uniform(0.1, 0.3), 0.05)
    q_bulge = rng.uniform(0.6, 1.0)
    q_disk = rng.uniform(0.2, 1.0)
    h_over_r = rng.uniform(0.08, 0.15)
    pa = rng.uniform(0.0, 180.0)
    pa_bulge = (pa + rng.normal(0.0, 10.0)) % 180.0
    n_knots = int(rng.integers(_CLUMPY_N_KNOTS[0], _CLUMPY_N_KNOTS[1] + 1))
    knot_fraction = rng.uniform(*_CLUMPY_KNOT_FRACTION)
    weights = rng.gamma(1.0, size=n_knots)
    fwhm = np.exp(rng.uniform(*np.log(_CLUMPY_KNOT_FWHM), n_knots))
    radii = r_half / _HLR_TO_SCALE * _disk_radius(rng.uniform(size=n_knots))
    phi = rng.uniform(0.0, 2 * np.pi, n_knots)
    cluster = rng.uniform(size=n_knots) < _CLUMPY_CLUSTER_PROBABILITY

    flux_bulge = bt * flux
    flux_disk = flux - flux_bulge
    clump_flux = knot_fraction * flux_disk
    knot_flux = clump_flux * weights / weights.sum()
    inclination = float(np.degrees(np.arccos(q_disk)))
    bulge = galsim.Sersic(n=sersic_n, half_light_radius=r_bulge,
                          flux=flux_bulge, gsparams=gsparams)
    bulge = bulge.shear(q=q_bulge, beta=_rotation(galsim, pa_bulge))
    disk = galsim.InclinedExponential(
        inclination=inclination * galsim.degrees, half_light_radius=r_half,
        scale_h_over_r=h_over_r, flux=flux_disk - clump_flux,
        gsparams=gsparams)
    # knot centres in the disk plane, projected along y (the
    # InclinedExponential is elongated along x) before the rotation
    centres = np.column_stack([radii * np.cos(phi),
                               radii * np.sin(phi) * q_disk])
    knots = [np.column_stack([centres[~cluster], knot_flux[~cluster],
                              _template_index(fwhm[~cluster])])]
    for k in np.flatnonzero(cluster):
        n_points = int(rng.integers(_CLUMPY_CLUSTER_POINTS[0],
                                    _CLUMPY_CLUSTER_POINTS[1] + 1))
        points = centres[k] + _exponential_points(rng, n_points,
                                                  0.5 * fwhm[k])
        knots.append(np.column_stack([points, np.full(
            n_points, knot_flux[k] / n_points), np.zeros(n_points)]))
    rot = _rotation(galsim, pa)
    disk = _Parts(disk, np.concatenate(knots)).transform(
        _rotation_matrix(rot.rad))
    info = {'bt': bt, 'sersic_n': sersic_n, 'r_half_bulge': r_bulge,
            'q_bulge': q_bulge, 'pa_bulge': pa_bulge, 'r_half_disk': r_half,
            'inclination': inclination, 'q_disk': q_disk,
            'h_over_r': h_over_r, 'pa': pa, 'n_clumps': n_knots,
            'flux': flux, 'flux_bulge': flux_bulge, 'flux_disk': flux_disk,
            'clump_flux': clump_flux}
    return _Parts(bulge) + disk, info


def _irregular(sim, rng, mag, r_half):
    """A lopsided body + random knots + tidal-like features, sheared."""
    galsim, gsparams = sim.galsim, sim.gsparams_small
    flux = _flux(mag)
    knot_fraction = rng.uniform(*_IRR_KNOT_FRACTION)
    n_tidal = int(rng.integers(0, _IRR_MAX_TIDAL + 1))
    tidal_fractions = rng.uniform(*_IRR_TIDAL_FRACTION, n_tidal)
    q = rng.uniform(0.3, 1.0)
    pa = rng.uniform(0.0, 180.0)
    n_points = int(rng.integers(_IRR_KNOT_POINTS[0],
                                _IRR_KNOT_POINTS[1] + 1))
    points = _exponential_points(rng, n_points,
                                 r_half * rng.uniform(*_IRR_KNOT_RADIUS))
    knot_fwhm = rng.uniform(*_IRR_KNOT_FWHM)
    knot_shear = galsim.Shear(g=rng.uniform(0.0, _IRR_MAX_SHEAR),
                              beta=rng.uniform(0.0, 180.0) * galsim.degrees)
    lopsided = r_half * rng.uniform(*_IRR_LOPSIDED)
    lopsided_phi = rng.uniform(0.0, 2 * np.pi)
    tidal_r = r_half * rng.uniform(0.5, 1.5, n_tidal)
    tidal_q = rng.uniform(*_IRR_TIDAL_Q, n_tidal)
    tidal_d = r_half * rng.uniform(*_IRR_TIDAL_DISTANCE, n_tidal)
    tidal_phi = rng.uniform(0.0, 2 * np.pi, n_tidal)
    tidal_tilt = rng.normal(0.0, 20.0, n_tidal)
    shear = galsim.Shear(g=rng.uniform(0.0, _IRR_MAX_SHEAR),
                         beta=rng.uniform(0.0, 180.0) * galsim.degrees)

    taken = knot_fraction + tidal_fractions.sum()
    if taken > 1 - _IRR_MIN_BODY:
        knot_fraction *= (1 - _IRR_MIN_BODY) / taken
        tidal_fractions *= (1 - _IRR_MIN_BODY) / taken
    knot_flux = knot_fraction * flux
    tidal_flux = tidal_fractions * flux
    body_flux = flux - knot_flux - tidal_flux.sum()
    body = galsim.Exponential(half_light_radius=r_half, flux=body_flux,
                              gsparams=gsparams)
    parts = [body.shear(q=q, beta=_rotation(galsim, pa))]
    for i in range(n_tidal):
        # elongated roughly perpendicular to the direction of the centre
        beta = np.degrees(tidal_phi[i]) + 90.0 + tidal_tilt[i]
        tail = galsim.Exponential(half_light_radius=tidal_r[i],
                                  flux=tidal_flux[i], gsparams=gsparams)
        tail = tail.shear(q=tidal_q[i], beta=beta * galsim.degrees)
        parts.append(tail.shift(tidal_d[i] * np.cos(tidal_phi[i]),
                                tidal_d[i] * np.sin(tidal_phi[i])))
    knots = np.column_stack([points, np.full(n_points, knot_flux / n_points),
                             np.full(n_points, _template_index(knot_fwhm))])
    knots = _Parts(None, knots).transform(knot_shear.getMatrix()).shift(
        lopsided * np.cos(lopsided_phi), lopsided * np.sin(lopsided_phi))
    galaxy = (_Parts(galsim.Add(parts)) + knots).transform(shear.getMatrix())
    info = {'bt': 0.0, 'sersic_n': _NAN, 'r_half_bulge': _NAN,
            'q_bulge': _NAN, 'pa_bulge': _NAN, 'r_half_disk': r_half,
            'inclination': _NAN, 'q_disk': q, 'h_over_r': _NAN, 'pa': pa,
            'n_clumps': n_points, 'flux': flux, 'flux_bulge': 0.0,
            'flux_disk': flux, 'clump_flux': knot_flux}
    return galaxy, info


_BUILDERS = {'bulge_disk': _bulge_disk, 'clumpy': _clumpy,
             'irregular': _irregular}


def _galaxy(sim, rng, kind, mag):
    """Parts and catalogue values of a galaxy of magnitude ``mag``."""
    r_half = _draw_size(rng, mag)
    parts, info = _BUILDERS[kind](sim, rng, mag, r_half)
    info['mag'] = float(mag)
    return parts, info


def _merger(sim, rng, mag):
    """Two or three galaxies around their flux-weighted centre."""
    n_gal = 3 if rng.uniform() < _MERGER_THIRD else 2
    ratios = np.ones(n_gal)
    ratios[1:] = rng.uniform(*_MERGER_FLUX_RATIO, n_gal - 1)
    fluxes = _flux(mag) / ratios / np.sum(1 / ratios)
    mags = _ZERO_POINT - 2.5 * np.log10(fluxes)
    galaxies = [_galaxy(sim, rng, _draw_kind(rng), m) for m in mags]
    sizes = [info['r_half_disk'] for _, info in galaxies]
    positions = np.zeros((n_gal, 2))
    for i in range(1, n_gal):
        distance = (rng.uniform(*_MERGER_SEPARATION)
                    * max(sizes[0], sizes[i]))
        angle = rng.uniform(0.0, 2 * np.pi)
        positions[i] = distance * np.cos(angle), distance * np.sin(angle)
    positions -= (fluxes[:, None] * positions).sum(axis=0) / fluxes.sum()
    system = galaxies[0][0].shift(*positions[0])
    for (parts, _), xy in zip(galaxies[1:], positions[1:]):
        system = system + parts.shift(*xy)
    info = dict(galaxies[0][1])
    info.update(mag=float(mag), flux=float(fluxes.sum()), n_objects=n_gal,
                flux_ratio=float(ratios[1]))
    return system, info


# ---------------------------------------------------------------------------
# Stamps
# ---------------------------------------------------------------------------

def _central(sim, rng, kind):
    """
    The central system of a stamp of ``kind`` (selected kinds only).

    Returns its `_Parts`, offset from the stamp centre, and its catalogue
    values (those of the primary galaxy for a merger, with the magnitude
    and flux of the whole system).
    """
    mag = _draw_mag(rng, *sim.mag_range)
    dx, dy = rng.uniform(-_MAX_OFFSET, _MAX_OFFSET, 2)
    if kind == 'merger':
        parts, info = _merger(sim, rng, mag)
    else:
        if kind == 'field':
            kind = _draw_kind(rng)
        parts, info = _galaxy(sim, rng, kind, mag)
        info.update(n_objects=1, flux_ratio=_NAN)
    info.update(x_offset=float(dx), y_offset=float(dy))
    scale = sim.pixel_scale
    return parts.shift(dx * scale, dy * scale), info


def _star(sim, rng, lo, hi):
    """A point source, magnitude uniform in [lo, hi]."""
    return _Parts(None, np.array([[0.0, 0.0, _flux(rng.uniform(lo, hi)),
                                  0.0]]))


def _around(rng, sim, low, high):
    """A position (arcsec) ``low`` to ``high`` stamp sides from the centre."""
    side = sim.stamp_size * sim.pixel_scale
    distance = side * rng.uniform(low, high)
    angle = rng.uniform(0.0, 2 * np.pi)
    return distance * np.cos(angle), distance * np.sin(angle)


def _anywhere(rng, sim, margin):
    """A position (arcsec) uniform over the stamp and a margin around it."""
    side = sim.stamp_size * sim.pixel_scale
    return tuple(side * rng.uniform(-0.5 - margin, 0.5 + margin, 2))


def _field_objects(sim, rng, info):
    """
    Neighbours and stars around a central galaxy (``'field'`` stamps).

    Returns a list of ``(parts, dx, dy, is_star)``, the parts centred on
    the origin and to be placed ``(dx, dy)`` arcsec from the stamp centre.
    """
    side = sim.stamp_size * sim.pixel_scale
    low = max(_FIELD_DISTANCE[0], 1.5 * info['r_half_disk'] / side)
    high = max(_FIELD_DISTANCE[1], low)
    n_neighbours = int(rng.integers(_NEIGHBOURS[0], _NEIGHBOURS[1] + 1))
    n_stars = int(rng.integers(_FIELD_STARS[0], _FIELD_STARS[1] + 1))
    objects = []
    for _ in range(n_neighbours):
        parts, _ = _galaxy(sim, rng, _draw_kind(rng),
                           _draw_mag(rng, *_NEIGHBOUR_MAGS))
        objects.append((parts, *_around(rng, sim, low, high), False))
    for _ in range(n_stars):
        objects.append((_star(sim, rng, *_STAR_MAGS),
                        *_around(rng, sim, low, high), True))
    return objects


def _scene_objects(sim, rng, kind):
    """
    The objects of a ``'crowded'`` or ``'sky'`` stamp (no central object).

    Returns a list of ``(parts, dx, dy, is_star)`` as `_field_objects`.
    """
    objects = []
    if kind == 'crowded':
        area = (sim.stamp_size * sim.pixel_scale) ** 2 / _CROWDED_AREA
        lo, hi = (max(int(round(n * area)), 1) for n in _CROWDED_GALAXIES)
        n_gal = int(rng.integers(lo, hi + 1))
        n_stars = int(rng.integers(
            _CROWDED_STARS[0], int(round(_CROWDED_STARS[1] * area)) + 1))
        for _ in range(n_gal):
            parts, _ = _galaxy(sim, rng, _draw_kind(rng),
                               _draw_mag(rng, *_CROWDED_MAGS))
            objects.append((parts, *_anywhere(rng, sim, _CROWDED_MARGIN),
                            False))
        for _ in range(n_stars):
            objects.append((_star(sim, rng, *_STAR_MAGS),
                            *_anywhere(rng, sim, _CROWDED_MARGIN), True))
    else:
        n_objects = int(rng.integers(_SKY_OBJECTS[0], _SKY_OBJECTS[1] + 1))
        for _ in range(n_objects):
            mag = _draw_mag(rng, *_SKY_MAGS)
            star = not rng.uniform() < _SKY_GALAXY_PROBABILITY
            parts = (_star(sim, rng, mag, mag) if star
                     else _galaxy(sim, rng, _draw_kind(rng), mag)[0])
            objects.append((parts, *_anywhere(rng, sim, 0.0), star))
    return objects


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------

class _Templates:
    """
    Images of knots and point sources through the PSF, at 1/4-pixel phases.

    ``images[t, fy, fx]`` is the ``(2 H + 1)``-pixel square image (``H =
    32``) of template ``t`` (0: a point source, ``t``: a Gaussian of FWHM
    ``_KNOT_FWHM[t - 1]``), of unit flux, convolved with ``psf`` and
    integrated over the pixels, centred at ``(fx / 4, fy / 4)`` pixel
    from the central pixel.
    """

    def __init__(self, galsim, psf, pixel_scale):
        half, over = _TEMPLATE_HALF, _OVERSAMPLING
        # more accurate than the stamps (folding_threshold=1e-2), still
        # fast: ~10 ms a template
        gsparams = galsim.GSParams(folding_threshold=5e-3,
                                   maxk_threshold=1e-3)
        pixel = galsim.Pixel(pixel_scale, gsparams=gsparams)
        psf = psf.withGSParams(gsparams)
        kernels = [[]] + [[galsim.Gaussian(fwhm=f, gsparams=gsparams)]
                          for f in _KNOT_FWHM]
        # fine pixel c is the centre; the samples at c + 4 d - f (d = -H
        # .. H, f = 0 .. 3) are those at d - f / 4 pixels from it
        c = over * half + over - 1
        size = 2 * half + 1
        self.images = np.empty((len(kernels), over, over, size, size))
        for t, kernel in enumerate(kernels):
            profile = galsim.Convolve(kernel + [psf, pixel],
                                      gsparams=gsparams)
            fine = profile.drawImage(nx=2 * c + 1, ny=2 * c + 1,
                                     scale=pixel_scale / over,
                                     method='no_pixel').array
            # no_pixel samples the surface brightness (of the profile
            # already integrated over a pixel) times the fine pixel area
            fine = fine.astype(float) * over ** 2
            for fy in range(over):
                for fx in range(over):
                    self.images[t, fy, fx] = fine[
                        c - fy - over * half:c - fy + over * half + 1:over,
                        c - fx - over * half:c - fx + over * half + 1:over]
        self.pixel_scale = pixel_scale

    def add(self, array, knots, dx=0.0, dy=0.0):
        """
        Add ``knots`` (see `_Parts`), shifted by ``(dx, dy)`` arcsec, to
        ``array``, a stamp whose centre is the origin (GalSim's
        convention: between pixels for an even size).
        """
        if not len(knots):
            return
        half, over = _TEMPLATE_HALF, _OVERSAMPLING
        ny, nx = array.shape
        x = (nx - 1) / 2 + (knots[:, 0] + dx) / self.pixel_scale
        y = (ny - 1) / 2 + (knots[:, 1] + dy) / self.pixel_scale
        qx = np.rint(over * x).astype(int)
        qy = np.rint(over * y).astype(int)
        for i in range(len(knots)):
            cx, fx = divmod(int(qx[i]), over)
            cy, fy = divmod(int(qy[i]), over)
            x0, x1 = max(cx - half, 0), min(cx + half + 1, nx)
            y0, y1 = max(cy - half, 0), min(cy + half + 1, ny)
            if x0 >= x1 or y0 >= y1:
                continue
            image = self.images[int(knots[i, 3]), fy, fx]
            array[y0:y1, x0:x1] += knots[i, 2] * image[
                y0 - cy + half:y1 - cy + half, x0 - cx + half:x1 - cx + half]
