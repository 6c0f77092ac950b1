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


def _first_crossing(
    profiles: np.ndarray, level: np.ndarray, above: bool, start: np.ndarray, sustain: int = 1
) -> np.ndarray:
    """Sub-sample index of the first crossing of ``level`` at or after ``start`` on each row (NaN if none).

    With ``sustain`` > 1 the profile must stay across the level for that many samples, so a single noisy
    sample does not end a region (a noise dip inside the CSF is not the dura).
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
        hit = (ahead >= level[:, None]) if above else (ahead < level[:, None])
    else:
        hit = (profiles >= level[:, None]) if above else (profiles < level[:, None])
    hit &= positions >= start[:, None]
    found = hit.any(axis=1)
    first = np.argmax(hit, axis=1)
    rows = np.arange(profiles.shape[0])
    before = np.clip(first - 1, 0, n_samples - 1)
    p0, p1 = profiles[rows, before], profiles[rows, first]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(np.abs(p1 - p0) > 1e-12, (level - p0) / (p1 - p0), 0.0)
    fraction = np.clip(fraction, 0.0, 1.0)
    exact = np.where(first > start, before + fraction, first.astype(np.float64))
    return np.where(found, exact, np.nan)


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
    core = profiles[:, radii <= 1.0]
    cord_level = float(np.median(core))
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
    entry_index = np.where(valid, np.ceil(np.nan_to_num(entry)), 0).astype(np.int64)
    offsets = np.arange(window + 1)[None, :]
    peak_index = np.clip(entry_index[:, None] + offsets, 0, radii.size - 1)
    peak_values = np.take_along_axis(profiles, peak_index, axis=1)
    peak = peak_values.max(axis=1)
    peak_at = entry_index + np.argmax(peak_values, axis=1)
    # Cord edge: half-way between the cord level and this ray's CSF level.
    half_inner = (cord_level + peak) / 2
    inner = _first_crossing(profiles, half_inner, above=True, start=np.zeros(N_RAYS, dtype=np.int64))
    inner = np.where(valid & (inner <= peak_at + 0.5), inner, np.nan)
    # Dura: where the profile falls back half-way to soft-tissue level (the cord level is soft tissue
    # too: cord ~35 HU, dura/epidural tissue 0-60 HU on CT; cord and muscle are both dark on T2).
    sustain = round(SUSTAIN_MM / RAY_STEP_MM)
    outer = _first_crossing(profiles, half_inner, above=False, start=peak_at, sustain=sustain)
    if bone_level is not None:
        # Bone is denser than this ray's CSF by at least half the CSF-cord step, so dense contrast pooling
        # dorsally (up to ~1000 HU) is not taken for the cortex.
        half_bone = np.maximum((peak + np.maximum(bone_level, peak)) / 2, peak + (peak - cord_level) / 2)
        into_bone = _first_crossing(profiles, half_bone, above=True, start=peak_at, sustain=sustain)
        outer = np.fmin(outer, into_bone)
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
