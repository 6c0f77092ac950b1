"""Cord and thecal-sac outlines on one axial slice, from intensity profiles along rays.

From a point inside the cord, rays are cast in the slice plane (in mm, so anisotropic voxels are
handled). Along each ray the profile is dark (cord), rises to the bright CSF, and falls again outside
the dura. Each edge is placed where the profile crosses half-way between the levels on its two sides
(the half-maximum rule used for edges blurred by a symmetric point-spread function; it is also where a
voxel half-filled by the cord has its intensity, so partial volume at the pia is split evenly). The CSF
level is taken per ray, so contrast layered denser dorsally, or thin ventrally, moves the half level with
it instead of shifting the edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.myelogram._csf_level import OUTSIDE_WIDTH_MM, fit_csf_level

N_RAYS = 72
RAY_STEP_MM = 0.1
# The cord boundary is searched up to 11 mm from a point inside it (cord half-width <= 7 mm, plus an
# off-centre start); the dura up to 22 mm (dural sac transverse up to ~22 mm, cord displaced up to 5 mm:
# domain-facts §1); above C1 the sac opens dorsally into the cisterna magna, hence the wider reach.
CORD_SEARCH_MM = 11.0
SAC_SEARCH_MM = 30.0
# Thickness of the bright CSF layer over which its level is measured once the ray has entered it.
PEAK_WINDOW_MM = 1.5
# The dura is where the profile leaves the CSF for good: it must stay out for this length.
SUSTAIN_MM = 0.4
# CT: the CSF level is modelled (pipeline.myelogram._csf_level) from samples at least CORE_MARGIN_MM (or
# CORE_MARGIN_PIXELS pixels) beyond the pia and short of the first dura, over CORE_WIDTH_MM, on the profile
# smoothed along the ray by ALONG_RAY_SIGMA_MM (noise), in LEVEL_PASSES passes, each from the pia placed by
# the last. The margin also bounds how far the pia may move from the first pia.
CORE_MARGIN_MM = 0.8
CORE_MARGIN_PIXELS = 1.5
CORE_WIDTH_MM = 2.0
LEVEL_PASSES = 2
ALONG_RAY_SIGMA_MM = 0.5
# A valley (epidural gap before bone) falls and rises by this fraction of the CSF-cord step (at least
# the model's min_step), rising within VALLEY_REACH_MM; its floor is the lowest sample within
# VALLEY_FLOOR_MM of where it qualifies.
VALLEY_FRACTION = 0.15
VALLEY_REACH_MM = 3.0
VALLEY_FLOOR_MM = 1.5
# Cancellous bone behind a cortex as dense as the contrast: a shelf at least SHELF_MM long, flat within
# SHELF_FLATNESS of the ray's peak-minus-cord rise, at least that above the cord and SHELF_DROP of it below
# the peak.
SHELF_MM = 1.5
SHELF_PEAK_MM = 2.5
SHELF_FLATNESS = 0.2
SHELF_DROP = 0.3
# A dura ray further inside its slice's smooth outline (Fourier order NOTCH_ORDER) than this is a notch.
NOTCH_ORDER = 3
NOTCH_TOLERANCE_MM = 1.5
# Bone is where the profile rises above the CSF level by this many scatters of the core CSF samples.
BONE_SCATTER = 2.5
# The cord level is the median within CORD_CORE_MM of the start, or CORD_CORE_PIXELS pixels if wider.
CORD_CORE_MM = 1.0
CORD_CORE_PIXELS = 2.0
# A ray whose CSF peak stays below this fraction of its slice's CSF-cord step entered on noise.
RING_ENTRY_FRACTION = 0.35
# The slice's CSF level for that test: an upper percentile of the rays' peaks (in a wide cord on a noisy
# scan most rays may enter on noise, so the median is no CSF level; a quarter reaching the ring suffice).
RING_PERCENTILE = 75.0


@dataclass(frozen=True)
class RayOutline:
    """Boundary radii along ``N_RAYS`` equally spaced directions from ``center_mm``."""

    center_mm: np.ndarray  # (2,) in-plane mm (view axes 0 and 1)
    angles: np.ndarray  # (N_RAYS,) radians; direction (cos, sin) in view axes 0, 1
    cord_radius_mm: np.ndarray  # (N_RAYS,)
    sac_radius_mm: np.ndarray  # (N_RAYS,)
    valid_fraction: float
    cord_level: float
    csf_level: float

    def cord_centroid_mm(self) -> np.ndarray:
        return _polygon_centroid(self.center_mm, self.angles, self.cord_radius_mm)

    def cord_area_mm2(self) -> float:
        return _polygon_area(self.angles, self.cord_radius_mm)


def _polygon_points(center: np.ndarray, angles: np.ndarray, radii: np.ndarray) -> np.ndarray:
    return center + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _polygon_area(angles: np.ndarray, radii: np.ndarray) -> float:
    points = _polygon_points(np.zeros(2), angles, radii)
    x, y = points[:, 0], points[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _polygon_centroid(center: np.ndarray, angles: np.ndarray, radii: np.ndarray) -> np.ndarray:
    points = _polygon_points(np.zeros(2), angles, radii)
    x, y = points[:, 0], points[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    if abs(area) < 1e-9:
        return center.copy()
    cx = ((x + np.roll(x, -1)) * cross).sum() / (6 * area)
    cy = ((y + np.roll(y, -1)) * cross).sum() / (6 * area)
    return center + np.array([cx, cy])


def _fill_periodic(values: np.ndarray) -> np.ndarray:
    """Replace NaNs by periodic linear interpolation from the valid neighbours."""
    valid = np.isfinite(values)
    if valid.all() or not valid.any():
        return values
    index = np.arange(values.size)
    return np.interp(index, index[valid], values[valid], period=values.size)


def _circular_median(values: np.ndarray, width: int = 5) -> np.ndarray:
    return ndimage.median_filter(values, size=width, mode="wrap")


def _area_median(samples: np.ndarray, radii: np.ndarray) -> float:
    """Median of ray samples (rays x radii) weighted by the area each stands for.

    Rays crowd together near their origin: unweighted, the few pixels at the centre would outvote the
    rest of the disc, and one dark noise blob there (65 HU noise on 0.5 mm pixels) would set the level.
    """
    weights = np.broadcast_to(np.maximum(radii, RAY_STEP_MM / 2)[None, :], samples.shape).ravel()
    values = samples.ravel()
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _first_crossing(
    profiles: np.ndarray, level: np.ndarray, above: bool, start: np.ndarray, sustain: int = 1
) -> np.ndarray:
    """Sub-sample index of the first crossing of ``level`` at or after ``start`` on each row (NaN if none).

    With ``sustain`` > 1 the profile must stay across the level for that many samples, so a single noisy
    sample does not end a region (a noise dip inside the CSF is not the dura). ``level`` is one value per
    row, or one per sample (a level that follows the profile, e.g. a running CSF level).
    """
    n_samples = profiles.shape[1]
    positions = np.arange(n_samples)[None, :]
    if sustain > 1:
        # Forward-looking window [i, i + sustain): the extreme that must stay across the level.
        origin = -(sustain // 2)
        if above:
            ahead = ndimage.minimum_filter1d(profiles, sustain, axis=1, mode="nearest", origin=origin)
        else:
            ahead = ndimage.maximum_filter1d(profiles, sustain, axis=1, mode="nearest", origin=origin)
    else:
        ahead = profiles
    bound = level if level.ndim == 2 else level[:, None]
    hit = (ahead >= bound) if above else (ahead < bound)
    hit &= positions >= start[:, None]
    found = hit.any(axis=1)
    first = np.argmax(hit, axis=1)
    rows = np.arange(profiles.shape[0])
    before = np.clip(first - 1, 0, n_samples - 1)
    p0, p1 = profiles[rows, before], profiles[rows, first]
    at = level[rows, first] if level.ndim == 2 else level
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(np.abs(p1 - p0) > 1e-12, (at - p0) / (p1 - p0), 0.0)
    fraction = np.clip(fraction, 0.0, 1.0)
    exact = np.where(first > start, before + fraction, first.astype(np.float64))
    return np.where(found, exact, np.nan)


def _first_dura(
    profiles: np.ndarray, peak: np.ndarray, peak_at: np.ndarray, cord_level: float, bone_level: float | None
) -> np.ndarray:
    """Sub-sample index of the dura against this ray's CSF peak (NaN if not found).

    Where the profile falls half-way from the peak back to soft tissue (the cord level is soft tissue too:
    cord ~35 HU, dura/epidural tissue 0-60 HU on CT; cord and muscle are both dark on T2), or, on CT,
    rises into bone: denser than the peak by at least half the CSF-cord step, so dense contrast pooling
    dorsally (up to ~1000 HU) is not taken for the cortex.
    """
    sustain = round(SUSTAIN_MM / RAY_STEP_MM)
    outer = _first_crossing(profiles, (cord_level + peak) / 2, above=False, start=peak_at, sustain=sustain)
    if bone_level is None:
        return outer
    half_bone = np.maximum((peak + np.maximum(bone_level, peak)) / 2, peak + (peak - cord_level) / 2)
    return np.fmin(outer, _first_crossing(profiles, half_bone, above=True, start=peak_at, sustain=sustain))


def _dura_against_level(
    profiles: np.ndarray,
    along: np.ndarray,
    level: np.ndarray,
    scatter: float,
    peak_at: np.ndarray,
    cord_level: float,
    min_step: float,
    margin_mm: float,
) -> np.ndarray:
    """Sub-sample index of the dura against the modelled CSF level ``level`` (per sample), the first of:

    - the fall half-way from the CSF level to the tissue outside, measured beyond the first fall
      (epidural fat or muscle; the cord level when that is not lower than the half-way level);
    - a valley (epidural gap before bone): the profile falls below the CSF level and rises again, each
      by at least VALLEY_FRACTION of the CSF-cord step; the edge is half-way to soft tissue, or the valley
      floor when the gap is too thin (narrower than the blur) to get there;
    - cancellous bone behind a cortex as dense as the contrast (:func:`_shelf_edge`);
    - bone: the profile rises clearly above the CSF level (more than the CSF's own scatter allows); the
      edge is half-way between the CSF level and the densest bone just beyond.
    """
    n_samples = profiles.shape[1]
    positions = np.arange(n_samples)[None, :]
    sustain = round(SUSTAIN_MM / RAY_STEP_MM)
    fall = _first_crossing(profiles, (level + cord_level) / 2, above=False, start=peak_at, sustain=sustain)
    beyond = np.nan_to_num(fall, nan=n_samples) + margin_mm / RAY_STEP_MM
    outside_window = (positions >= beyond[:, None]) & (
        positions <= (beyond + OUTSIDE_WIDTH_MM / RAY_STEP_MM)[:, None]
    )
    count = outside_window.sum(axis=1)
    outside = np.where(
        count > 0, np.where(outside_window, along, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan
    )
    rows = np.arange(profiles.shape[0])
    fall_at = np.clip(np.nan_to_num(fall, nan=0).astype(np.int64), 0, n_samples - 1)
    low_side = np.isfinite(outside) & (outside < (level[rows, fall_at] + cord_level) / 2)
    outside = np.where(low_side, outside, cord_level)
    fall = _first_crossing(
        profiles, (level + outside[:, None]) / 2, above=False, start=peak_at, sustain=sustain
    )
    step = np.maximum(level - cord_level, min_step)
    # Where the CSF reaches its level on this ray (a thin ring blurred by the pia may never reach it).
    depth = np.maximum(min_step, VALLEY_FRACTION * step)
    reached = (along >= level - depth) & (positions >= peak_at[:, None])
    crest = np.where(reached.any(axis=1), np.argmax(reached, axis=1), peak_at)
    after = positions >= crest[:, None]
    reach = round(VALLEY_REACH_MM / RAY_STEP_MM)
    ahead = ndimage.maximum_filter1d(along, reach, axis=1, mode="nearest", origin=-(reach // 2))
    valley = after & (level - along >= depth) & (ahead - along >= depth)
    first = np.argmax(valley, axis=1)
    floor_window = round(VALLEY_FLOOR_MM / RAY_STEP_MM)
    window = (positions >= first[:, None]) & (positions <= first[:, None] + floor_window)
    floor_at = np.argmin(np.where(window, along, np.inf), axis=1).astype(np.float64)
    # Half-way to soft tissue when the valley gets there; else (a gap thinner than the blur) its floor.
    in_valley = np.fmin(
        _first_crossing(profiles, (level + cord_level) / 2, above=False, start=crest, sustain=sustain),
        floor_at,
    )
    dura = np.fmin(fall, np.where(valley.any(axis=1), in_valley, np.nan))
    dura = np.fmin(dura, _shelf_edge(profiles, along, level, cord_level, crest, dura))
    # Bone: clearly above the CSF level; the edge half-way to the densest bone within reach.
    rise = np.maximum(min_step, BONE_SCATTER * scatter)
    dense = after & (along - level >= rise)
    hit = np.argmax(dense, axis=1)
    window = (positions >= hit[:, None]) & (positions <= hit[:, None] + reach)
    top = np.where(window, along, -np.inf).max(axis=1)
    back = np.maximum(crest, hit - reach)
    bone = _first_crossing(profiles, (level + top[:, None]) / 2, above=True, start=back, sustain=sustain)
    return np.fmin(dura, np.where(dense.any(axis=1), bone, np.nan))


def _shelf_edge(
    profiles: np.ndarray,
    along: np.ndarray,
    level: np.ndarray,
    cord_level: float,
    crest: np.ndarray,
    dura: np.ndarray,
) -> np.ndarray:
    """Sub-sample index of the dura where the CSF gives onto the cancellous interior of a bone (NaN if not).

    Dense contrast (600-1000 HU) is as bright as the thin cortex that it touches, so no edge separates
    them; but beyond the cortex the profile settles on a shelf, flat over more than the blur and at a
    level well between soft tissue and the CSF: cancellous bone (~300 HU), which neither CSF (uniform or
    rising dorsally) nor a blurred fall to soft tissue (a ramp) shows. The edge is half-way between the
    brightest sample just before the shelf (CSF and cortex) and the shelf, so at most the cortex stays in.
    """
    n_samples = profiles.shape[1]
    positions = np.arange(n_samples)[None, :]
    length = round(SHELF_MM / RAY_STEP_MM)
    # Window of `length` samples starting at each position, and the brightest sample in the SHELF_PEAK_MM
    # just before it (the cortex: a maximum taken further back would be a noise peak of a wide CSF space).
    origin = -(length // 2)
    high = ndimage.maximum_filter1d(along, length, axis=1, mode="nearest", origin=origin)
    low = ndimage.minimum_filter1d(along, length, axis=1, mode="nearest", origin=origin)
    since_crest = positions >= crest[:, None]
    back = round(SHELF_PEAK_MM / RAY_STEP_MM)
    peak = ndimage.maximum_filter1d(
        np.where(since_crest, along, cord_level), back, axis=1, mode="nearest", origin=(back - 1) // 2
    )
    # Below both the CSF level modelled across the slice (which follows the contrast layering) and this
    # ray's own peak (the model extrapolated far from the cord, in a wide cisterna magna, may lie well
    # above the CSF there).
    rise = peak - cord_level
    shelf = (
        since_crest
        & (positions < np.nan_to_num(dura, nan=n_samples)[:, None])
        & (positions + length < n_samples)
        & (high - low <= SHELF_FLATNESS * rise)
        & (low >= cord_level + SHELF_FLATNESS * rise)
        & (high <= peak - SHELF_DROP * rise)
        & (high <= level - SHELF_FLATNESS * (level - cord_level))
    )
    found = shelf.any(axis=1)
    start = np.argmax(shelf, axis=1)
    rows = np.arange(profiles.shape[0])
    # The peak before the first shelf (the window of `peak` at `start`), and the fall from it to the shelf.
    before = since_crest & (positions <= start[:, None]) & (positions > (start - back)[:, None])
    peak_at = np.argmax(np.where(before, along, -np.inf), axis=1)
    middle = np.minimum(start + length // 2, n_samples - 1)
    half = (along[rows, peak_at] + along[rows, middle]) / 2
    sustain = round(SUSTAIN_MM / RAY_STEP_MM)
    edge = _first_crossing(profiles, half, above=False, start=peak_at, sustain=sustain)
    return np.where(found, edge, np.nan)


def _refine_on_csf_level(
    profiles: np.ndarray,
    points_mm: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    peak_at: np.ndarray,
    cord_level: float,
    min_step: float,
    spacing_mm: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """CT: pia and dura placed again against the CSF level modelled across the slice.

    The peak near the cord underestimates the CSF where the ring is blurred by coarse voxels (the pia
    then moves into the cord) and misses the denser dorsal layers (dense CSF then passes for bone):
    :func:`~pipeline.myelogram._csf_level.fit_csf_level`, fitted to the first CSF ring through its blur,
    gives the level on every sample. The pia is half-way between the cord and that level where the ray
    reaches it within the ring. The dura comes from :func:`_dura_against_level` against the level the
    layer reaches (the plane through the core samples as they are, as before the blur was modelled): with
    the level through the blur, the half-way fall of a thin layer lay inside it (thin-ring test slices: the
    ventral dura 0.3 mm in) and dense bone beyond a thin layer stood out less (family draws: more CSF in
    C2). Unchanged when the ring is too thin to model.
    """
    margin_mm = max(CORE_MARGIN_MM, CORE_MARGIN_PIXELS * float(max(spacing_mm)))
    margin = margin_mm / RAY_STEP_MM
    positions = np.arange(profiles.shape[1])[None, :]
    along = ndimage.gaussian_filter1d(profiles, ALONG_RAY_SIGMA_MM / RAY_STEP_MM, axis=1, mode="nearest")

    def core(pia: np.ndarray) -> np.ndarray:
        return (
            (positions >= (pia + margin)[:, None])
            & (positions <= (pia + margin + CORE_WIDTH_MM / RAY_STEP_MM)[:, None])
            & (positions <= (outer - margin)[:, None])
        )

    # The dura's rules compare the profile with the level the layer reaches (the plane through the core
    # samples as they are): it is the level a thin layer's fall starts from, and against which bone stands
    # out.
    reached = fit_csf_level(
        along, points_mm, inner, outer, core(inner), cord_level, RAY_STEP_MM, through_blur=False
    )
    if reached is None:
        return inner, outer
    pia = _pia_against_level(profiles, reached.level, cord_level, inner, outer, margin)
    # The model's pia is where the last level put it: the first pia, half-way to a peak that a blurred ring
    # keeps below the level, lies inside the cord, and the model would then take the rise for a lower level.
    for _ in range(LEVEL_PASSES):
        fitted = fit_csf_level(along, points_mm, pia, outer, core(pia), cord_level, RAY_STEP_MM)
        if fitted is None:
            break
        pia = _pia_against_level(profiles, fitted.level, cord_level, inner, outer, margin)
    dura = _dura_against_level(
        profiles, along, reached.level, reached.scatter, peak_at, cord_level, min_step, margin_mm
    )
    dura = np.where(np.isfinite(dura), dura, outer)
    return pia, _fill_notches(profiles, along, reached.level, dura, cord_level, min_step, margin_mm)


def _pia_against_level(
    profiles: np.ndarray,
    level: np.ndarray,
    cord_level: float,
    inner: np.ndarray,
    outer: np.ndarray,
    margin: float,
) -> np.ndarray:
    """The pia half-way between the cord and ``level``, where that lies within ``margin`` samples of the first
    pia ``inner`` either way (else ``inner``): where the level is extrapolated low (a tilted fit, a thin
    ring), noise in the cord already crosses its half level and would cut the cord open."""
    crossing = _first_crossing(
        profiles, (level + cord_level) / 2, above=True, start=np.zeros(profiles.shape[0], dtype=np.int64)
    )
    keep = (
        np.isfinite(crossing) & np.isfinite(inner) & (np.abs(crossing - inner) <= margin) & (crossing < outer)
    )
    return np.where(keep, crossing, inner)


def _fill_notches(
    profiles: np.ndarray,
    along: np.ndarray,
    level: np.ndarray,
    dura: np.ndarray,
    cord_level: float,
    min_step: float,
    margin_mm: float,
) -> np.ndarray:
    """Dura radii with inward notches replaced where the CSF resumes beyond them.

    A dark structure inside the sac (the intradural vertebral artery above C1, a nerve root) stops a ray
    as the dura would; the dura is a smooth tube, so a ray far inside the smooth outline of its slice
    (:func:`robust_shape_fit`) whose profile comes back to the CSF level after the dark gap takes the
    next fall from the CSF instead, when that lies nearer the smooth outline.
    """
    angles = np.linspace(0.0, 2 * np.pi, dura.size, endpoint=False)
    fit = robust_shape_fit(angles, dura * RAY_STEP_MM, order=NOTCH_ORDER) / RAY_STEP_MM
    if not np.isfinite(fit).all():
        return dura
    tolerance = NOTCH_TOLERANCE_MM / RAY_STEP_MM
    notch = np.isfinite(dura) & (fit - dura > tolerance)
    if not notch.any():
        return dura
    positions = np.arange(profiles.shape[1])[None, :]
    depth = np.maximum(min_step, VALLEY_FRACTION * np.maximum(level - cord_level, min_step))
    start = np.nan_to_num(dura, nan=0.0) + margin_mm / RAY_STEP_MM
    back = (
        (positions >= start[:, None]) & (positions <= (fit + tolerance)[:, None]) & (along >= level - depth)
    )
    resumed = np.argmax(back, axis=1)
    sustain = round(SUSTAIN_MM / RAY_STEP_MM)
    second = _first_crossing(profiles, (level + cord_level) / 2, above=False, start=resumed, sustain=sustain)
    better = notch & back.any(axis=1) & np.isfinite(second) & (np.abs(second - fit) < np.abs(dura - fit))
    return np.where(better, second, dura)


def _ring_edge(
    profiles: np.ndarray, entry: np.ndarray, window: int, cord_level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each ray's CSF peak within ``window`` samples of its entry, where it is, and the cord edge half-way
    between the cord level and that peak (NaN where the ray has no entry)."""
    entry_index = np.where(np.isfinite(entry), np.ceil(np.nan_to_num(entry)), 0).astype(np.int64)
    offsets = np.arange(window + 1)[None, :]
    peak_index = np.clip(entry_index[:, None] + offsets, 0, profiles.shape[1] - 1)
    peak_values = np.take_along_axis(profiles, peak_index, axis=1)
    peak = peak_values.max(axis=1)
    peak_at = entry_index + np.argmax(peak_values, axis=1)
    half_inner = (cord_level + peak) / 2
    inner = _first_crossing(
        profiles, half_inner, above=True, start=np.zeros(profiles.shape[0], dtype=np.int64)
    )
    inner = np.where(np.isfinite(entry) & (inner <= peak_at + 0.5), inner, np.nan)
    return peak, peak_at, inner


def trace_outline(
    slice_image: np.ndarray,
    spacing_mm: np.ndarray,
    center_mm: np.ndarray,
    min_step: float,
    bone_level: float | None = None,
    edge_image: np.ndarray | None = None,
) -> RayOutline:
    """Cord and sac outline on one (smoothed) slice, seen from ``center_mm`` inside the cord.

    Parameters
    ----------
    slice_image : (NX, NY) ndarray
        Working-scale slice (CSF bright).
    spacing_mm : (2,) ndarray
        In-plane voxel size.
    center_mm : (2,) ndarray
        Start point in mm from voxel (0, 0); must lie inside the cord.
    min_step : float
        Smallest CSF-minus-cord step that counts as entering the CSF.
    bone_level : float, optional
        Typical cortical-bone intensity (CT). Where the sac touches bone the profile rises from the CSF
        level to bone instead of falling; the dura is then put half-way between the two.
    """
    angles = np.linspace(0.0, 2 * np.pi, N_RAYS, endpoint=False)
    radii = np.arange(0.0, SAC_SEARCH_MM + RAY_STEP_MM / 2, RAY_STEP_MM)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points_mm = center_mm[None, None, :] + radii[None, :, None] * directions[:, None, :]
    coords = (points_mm / np.asarray(spacing_mm)[None, None, :]).reshape(-1, 2).T
    detect = ndimage.map_coordinates(slice_image, coords, order=1, mode="nearest").reshape(N_RAYS, radii.size)
    if edge_image is None:
        profiles = detect
    else:
        profiles = ndimage.map_coordinates(edge_image, coords, order=1, mode="nearest").reshape(
            N_RAYS, radii.size
        )
    # The cord level over at least CORD_CORE_PIXELS pixels around the start: on coarse pixels 1 mm is one
    # voxel, and one voxel of noise (+150 HU at 60 HU noise) would pass for the cord.
    within = radii <= max(CORD_CORE_MM, CORD_CORE_PIXELS * float(max(spacing_mm)))
    cord_level = _area_median(profiles[:, within], radii[within])
    cord_samples = round(CORD_SEARCH_MM / RAY_STEP_MM)
    window = round(PEAK_WINDOW_MM / RAY_STEP_MM)
    # Entering the CSF: the first sample clearly brighter than the cord.
    entry = _first_crossing(
        detect[:, : cord_samples + 1],
        np.full(N_RAYS, cord_level + min_step),
        above=True,
        start=np.zeros(N_RAYS, dtype=np.int64),
    )
    valid = np.isfinite(entry)
    peak, peak_at, inner = _ring_edge(profiles, entry, window, cord_level)
    if valid.any():
        # A bright noise blob in the cord (a few voxels of 70 HU noise) passes min_step and ends the cord
        # early on its ray. Where a ray's peak stays below a fraction of the slice's CSF step, it enters
        # again at that fraction, if it reaches it within the cord search (else its dim ring stands).
        ring = float(np.percentile(peak[valid], RING_PERCENTILE))
        entry_step = max(min_step, RING_ENTRY_FRACTION * (ring - cord_level))
        again = _first_crossing(
            detect[:, : cord_samples + 1],
            np.full(N_RAYS, cord_level + entry_step),
            above=True,
            start=np.zeros(N_RAYS, dtype=np.int64),
        )
        dim = valid & (peak < cord_level + entry_step) & np.isfinite(again)
        if dim.any():
            peak2, peak_at2, inner2 = _ring_edge(profiles, again, window, cord_level)
            peak = np.where(dim, peak2, peak)
            peak_at = np.where(dim, peak_at2, peak_at)
            inner = np.where(dim, inner2, inner)
    outer = _first_dura(profiles, peak, peak_at, cord_level, bone_level)
    if bone_level is not None:
        inner, outer = _refine_on_csf_level(
            profiles, points_mm, inner, outer, peak_at, cord_level, min_step, spacing_mm
        )
    outer = np.where(valid, outer, np.nan)
    valid_fraction = float(np.isfinite(inner).mean())
    cord_radius = _fill_periodic(inner * RAY_STEP_MM)
    sac_radius = _fill_periodic(outer * RAY_STEP_MM)
    if np.isfinite(cord_radius).all():
        cord_radius = _circular_median(cord_radius)
    if np.isfinite(sac_radius).all():
        sac_radius = np.maximum(_circular_median(sac_radius), cord_radius)
    csf_level = float(np.median(peak[valid])) if valid.any() else cord_level
    return RayOutline(
        center_mm=np.asarray(center_mm, dtype=np.float64),
        angles=angles,
        cord_radius_mm=cord_radius,
        sac_radius_mm=sac_radius,
        valid_fraction=valid_fraction,
        cord_level=cord_level,
        csf_level=csf_level,
    )


def rasterise(
    shape: tuple[int, int],
    spacing_mm: np.ndarray,
    center_mm: np.ndarray,
    angles: np.ndarray,
    radii_mm: np.ndarray,
) -> np.ndarray:
    """Boolean mask of the voxels whose centres lie inside the star-shaped outline."""
    mask = np.zeros(shape, dtype=bool)
    if not np.isfinite(radii_mm).all():
        return mask
    reach = float(radii_mm.max()) + 1.0
    lo = np.maximum(np.floor((center_mm - reach) / spacing_mm).astype(int), 0)
    hi = np.minimum(np.ceil((center_mm + reach) / spacing_mm).astype(int) + 1, np.asarray(shape))
    if np.any(hi <= lo):
        return mask
    xs = np.arange(lo[0], hi[0]) * spacing_mm[0] - center_mm[0]
    ys = np.arange(lo[1], hi[1]) * spacing_mm[1] - center_mm[1]
    dx, dy = np.meshgrid(xs, ys, indexing="ij")
    radius = np.hypot(dx, dy)
    angle = np.mod(np.arctan2(dy, dx), 2 * np.pi)
    boundary = np.interp(angle, angles, radii_mm, period=2 * np.pi)
    mask[lo[0] : hi[0], lo[1] : hi[1]] = radius <= boundary
    return mask


# --- MRI: the cord edge is the last rise into the CSF, regularised by a smooth cord shape --------------
# Up to this many rises into bright signal are considered per ray (a lesion or bright grey matter inside
# the cord adds rises before the true cord-CSF edge).
MAX_RISES = 4
# Local cord level next to an edge: the darkest signal within this distance inside it.
LOCAL_CORD_MM = 2.0
CORE_MM = 4.0
ENTRY_FRACTION = 0.35
# Boundary points further than this from the robust shape fit (mm, or fraction of the radius) are outliers.
SHAPE_TOLERANCE_MM = 1.0
SHAPE_TOLERANCE_FRACTION = 0.2


def _fourier_design(angles: np.ndarray, order: int) -> np.ndarray:
    columns = [np.ones_like(angles)]
    for k in range(1, order + 1):
        columns += [np.cos(k * angles), np.sin(k * angles)]
    return np.stack(columns, axis=1)


def robust_shape_fit(
    angles: np.ndarray, radii_mm: np.ndarray, prior_shape: np.ndarray | None = None, order: int = 2
) -> np.ndarray:
    """Smooth closed boundary r(θ) fitted robustly (Tukey-weighted least squares) to the valid radii.

    With at least 60 % of the rays valid, a Fourier series up to ``order`` (2 holds an off-centre
    ellipse); with fewer, the prior cord shape (PAM50 mean, :mod:`pipeline.myelogram.shape_prior`) scaled
    and shifted (3 parameters), so a half-traced slice still gets a cord-shaped outline.
    """
    valid = np.isfinite(radii_mm)
    if prior_shape is not None and valid.mean() < 0.6:
        design = np.stack([prior_shape, np.cos(angles), np.sin(angles)], axis=1)
    else:
        design = _fourier_design(angles, order)
    if valid.sum() < design.shape[1] + 2:
        return np.full(angles.shape, np.nan)
    a, r = design[valid], radii_mm[valid]
    weights = np.ones(r.size)
    fit = np.zeros(r.size)
    for _ in range(4):
        w = np.sqrt(weights)[:, None]
        coef, *_ = np.linalg.lstsq(a * w, r * w[:, 0], rcond=None)
        fit = a @ coef
        residual = r - fit
        scale = max(1.4826 * float(np.median(np.abs(residual))), 0.3)
        u = residual / (4.685 * scale)
        weights = np.where(np.abs(u) < 1, (1 - u**2) ** 2, 0.0)
    coef, *_ = np.linalg.lstsq(a * np.sqrt(weights)[:, None], r * np.sqrt(weights), rcond=None)
    return np.asarray(design @ coef, dtype=np.float64)


def _rises(bright: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Sample indices (N_RAYS, MAX_RISES) of the first rises into ``bright`` within [lo, hi], NaN-padded."""
    rise = bright[:, 1:] & ~bright[:, :-1]
    index = np.arange(1, bright.shape[1])
    rise &= (index >= lo)[None, :] & (index <= hi)[None, :]
    # Rank the rises from the innermost outwards.
    rank = np.cumsum(rise, axis=1)
    out = np.full((bright.shape[0], MAX_RISES), np.nan)
    rows, cols = np.nonzero(rise & (rank <= MAX_RISES))
    out[rows, rank[rows, cols] - 1] = index[cols]
    return out  # column 0: the innermost rise


def trace_outline_mri(
    slice_image: np.ndarray,
    spacing_mm: np.ndarray,
    center_mm: np.ndarray,
    min_step: float,
    radius_range_mm: tuple[float, float],
    prior_shape: np.ndarray | None = None,
    edge_image: np.ndarray | None = None,
) -> RayOutline:
    """Cord and sac outline on one MRI slice (CSF-bright working scale), from a point inside the cord.

    Unlike :func:`trace_outline`, the edge is not the first rise met from the centre: on MRI the inside
    of the cord may hold bright signal (a T2-hyperintense lesion, T2* grey matter), so per ray the rises
    into bright signal (above half-way between the cord and CSF levels of the slice) within the plausible
    cord radius (``radius_range_mm``, from the PAM50 shape prior) are candidates, the innermost first.
    The CSF ring gives the first rise on most rays, a lesion only on a few: a robust smooth shape fit
    (:func:`robust_shape_fit`) over all rays then picks, per ray, the candidate nearest to it, twice
    over. The edge is placed at the half-maximum between the local cord level (the
    darkest signal within 2 mm inside the candidate: bias fields and lesions change it) and this ray's
    CSF peak. Rays left without a consistent edge take the shape fit.
    """
    angles = np.linspace(0.0, 2 * np.pi, N_RAYS, endpoint=False)
    radii = np.arange(0.0, SAC_SEARCH_MM + RAY_STEP_MM / 2, RAY_STEP_MM)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points_mm = center_mm[None, None, :] + radii[None, :, None] * directions[:, None, :]
    coords = (points_mm / np.asarray(spacing_mm)[None, None, :]).reshape(-1, 2).T
    detect = ndimage.map_coordinates(slice_image, coords, order=1, mode="nearest").reshape(N_RAYS, radii.size)
    profiles = detect
    if edge_image is not None:
        profiles = ndimage.map_coordinates(edge_image, coords, order=1, mode="nearest").reshape(
            N_RAYS, radii.size
        )
    r_lo, r_hi = radius_range_mm
    lo, hi = round(r_lo / RAY_STEP_MM), round(r_hi / RAY_STEP_MM)
    window = round(PEAK_WINDOW_MM / RAY_STEP_MM)
    # Cord level: the darker part of the central 4 mm (robust to a lesion or grey matter covering less
    # than ~3/4 of it, and to CSF reached within 4 mm along the short axis of a flat cord).
    cord_level = float(np.percentile(detect[:, : round(CORE_MM / RAY_STEP_MM) + 1], 20))
    csf_level = float(np.median(detect[:, lo : hi + window].max(axis=1)))
    nan = np.full(N_RAYS, np.nan)
    if csf_level - cord_level < min_step:
        return RayOutline(np.asarray(center_mm, float), angles, nan, nan, 0.0, cord_level, csf_level)
    # Entering the CSF: a third of the way from cord to CSF (a thin or partial-volumed CSF layer peaks
    # below the slice's median CSF level), sustained for 0.3 mm (one noisy sample is not the CSF).
    half = cord_level + max(min_step, ENTRY_FRACTION * (csf_level - cord_level))
    sustain = max(1, round(0.3 / RAY_STEP_MM))
    ahead = ndimage.minimum_filter1d(detect, sustain, axis=1, mode="nearest", origin=-(sustain // 2))
    candidates = _rises(ahead >= half, lo, hi)  # sample indices
    chosen = candidates[:, 0]
    fit = np.full(N_RAYS, np.nan)
    for _ in range(2):
        fit = robust_shape_fit(angles, chosen * RAY_STEP_MM, prior_shape)
        if not np.isfinite(fit).all():
            break
        distance = np.abs(candidates * RAY_STEP_MM - fit[:, None])
        best = np.argmin(np.where(np.isfinite(distance), distance, np.inf), axis=1)
        picked = candidates[np.arange(N_RAYS), best]
        close = np.abs(picked * RAY_STEP_MM - fit) <= np.maximum(
            SHAPE_TOLERANCE_MM, SHAPE_TOLERANCE_FRACTION * fit
        )
        chosen = np.where(close, picked, np.nan)
    valid = np.isfinite(chosen)
    # Refine each edge at the half-maximum between the local cord level and this ray's CSF peak.
    start = np.nan_to_num(chosen, nan=0).astype(np.int64)
    samples = np.arange(radii.size)[None, :]
    ahead_mask = (samples >= start[:, None]) & (samples <= start[:, None] + window)
    peak = np.where(ahead_mask, profiles, -np.inf).max(axis=1)
    peak_at = np.argmax(np.where(ahead_mask, profiles, -np.inf), axis=1)
    local = round(LOCAL_CORD_MM / RAY_STEP_MM)
    behind_mask = (samples >= np.maximum(start - local, 0)[:, None]) & (samples <= start[:, None])
    local_cord = np.where(behind_mask, profiles, np.inf).min(axis=1)
    level = (local_cord + peak) / 2
    search = (samples >= np.maximum(start - local, 0)[:, None]) & (samples <= peak_at[:, None])
    below = search & (profiles < level[:, None])
    last_below = np.where(
        below.any(axis=1), radii.size - 1 - np.argmax(below[:, ::-1], axis=1), np.maximum(start - 1, 0)
    )
    rows = np.arange(N_RAYS)
    nxt = np.clip(last_below + 1, 0, radii.size - 1)
    p0, p1 = profiles[rows, last_below], profiles[rows, nxt]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.clip(np.where(np.abs(p1 - p0) > 1e-12, (level - p0) / (p1 - p0), 0.0), 0.0, 1.0)
    inner = np.where(valid, (last_below + fraction) * RAY_STEP_MM, np.nan)
    outer_index = _first_crossing(
        profiles, level, above=False, start=peak_at, sustain=round(SUSTAIN_MM / RAY_STEP_MM)
    )
    outer = np.where(valid, outer_index * RAY_STEP_MM, np.nan)
    valid_fraction = float(np.isfinite(inner).mean())
    if np.isfinite(fit).all():
        cord_radius = np.where(np.isfinite(inner), inner, fit)
    else:
        cord_radius = _fill_periodic(inner)
    sac_radius = _fill_periodic(outer)
    if np.isfinite(cord_radius).all():
        cord_radius = _circular_median(cord_radius, 3)
    if np.isfinite(sac_radius).all():
        sac_radius = np.maximum(_circular_median(sac_radius), cord_radius)
    return RayOutline(
        center_mm=np.asarray(center_mm, dtype=np.float64),
        angles=angles,
        cord_radius_mm=cord_radius,
        sac_radius_mm=sac_radius,
        valid_fraction=valid_fraction,
        cord_level=cord_level,
        csf_level=float(np.median(peak[valid])) if valid.any() else csf_level,
    )
