"""Where the cord is, roughly: dark holes enclosed by bright CSF, linked into the longest tube.

On a CT myelogram (and on a T2 MRI) the cord is the one long structure that is darker than, and fully
surrounded by, bright CSF. Thresholding the CSF and filling holes slice by slice finds every dark region
enclosed by bright tissue; most are noise, marrow or a transverse foramen (enclosed by bone), but only
the cord forms a hole in (nearly) every slice along one continuous line. Linking the holes across slices
with a longest-path search picks that line without any prior about where the cord is in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.myelogram._morphology import fill_holes_in_planes, in_plane_disc

# In-plane 8-connectivity, nothing along the slice axis: every operation is per axial slice.
_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = True

# Plausible cord cross-section on an axial slice: cord area at C1-C5 is about 60-125 mm²
# (AP 7-11.4 mm x transverse 9-14 mm, Kanpolat 1995, domain-facts §1); a cord tilted by up to ~35°
# against the slice is cut obliquely and looks up to ~1.25x larger; atrophic cords are smaller.
MIN_CORD_AREA_MM2 = 15.0
MAX_CORD_AREA_MM2 = 250.0


@dataclass(frozen=True)
class HoleCandidates:
    """Dark holes in bright CSF on the axial slices (one row per hole)."""

    slice_index: np.ndarray  # (N,) int
    center_mm: np.ndarray  # (N, 2) in-plane position in mm from the view's voxel (0, 0)
    area_mm2: np.ndarray  # (N,)
    contrast: np.ndarray  # (N,) ring mean minus hole mean (working scale)


def find_hole_candidates(
    image: np.ndarray,
    spacing_mm: np.ndarray,
    levels: tuple[float, ...],
    min_step: float,
    max_ring: float | None = None,
    max_hole: float | None = None,
    close_mm: float = 0.0,
) -> HoleCandidates:
    """Dark, compact holes enclosed by ``image > level`` on each slice, for every level.

    Parameters
    ----------
    image : (NX, NY, NZ) ndarray
        Working-scale image (CSF bright), axial slices along the last axis.
    spacing_mm : (3,) ndarray
        Voxel size of ``image``.
    levels : tuple of float
        Thresholds of the bright CSF.
    min_step : float
        Minimal ring-minus-hole contrast.
    max_ring : float, optional
        Brightest plausible ring (CSF); brighter rings are bone.
    max_hole : float, optional
        Brightest plausible cord; brighter holes are cancellous bone inside cortex.
    """
    pixel_mm2 = float(spacing_mm[0] * spacing_mm[1])
    rows: list[tuple[np.ndarray, ...]] = []
    ring_size = max(3, round(1.5 / min(spacing_mm[0], spacing_mm[1])) * 2 + 1)
    ring_footprint = np.zeros((ring_size, ring_size, 1), dtype=bool)
    ring_footprint[:, :, 0] = True
    close_footprint: np.ndarray | None = None
    if close_mm > 0:
        # A disk of this radius in the slice plane: bridges gaps of up to twice it in the CSF ring.
        close_footprint = in_plane_disc(close_mm, spacing_mm)
    for level in levels:
        bright = image > level
        closed = bright
        if close_footprint is not None:
            closed = ndimage.binary_closing(bright, structure=close_footprint, border_value=0)
        holes = fill_holes_in_planes(closed, axis=2) & ~closed
        labels, count = ndimage.label(holes, structure=_IN_PLANE)
        if count == 0:
            continue
        flat = labels.ravel()
        area = np.bincount(flat, minlength=count + 1).astype(np.float64)
        keep = (area * pixel_mm2 >= MIN_CORD_AREA_MM2) & (area * pixel_mm2 <= MAX_CORD_AREA_MM2)
        keep[0] = False
        if not keep.any():
            continue
        remap = np.zeros(count + 1, dtype=np.int64)
        remap[keep] = np.arange(1, int(keep.sum()) + 1)
        labels = remap[labels]
        n = int(keep.sum())
        # Sums over the labelled voxels only (holes are a small part of the volume).
        flat_index = np.flatnonzero(labels)
        member = labels.ravel()[flat_index]
        ii, jj, kk = np.unravel_index(flat_index, labels.shape)
        x = ii * spacing_mm[0]
        y = jj * spacing_mm[1]
        z = kk.astype(np.float64)
        values = image.ravel()[flat_index]

        def total(weights: np.ndarray, member: np.ndarray = member, n: int = n) -> np.ndarray:
            return np.bincount(member, weights=weights, minlength=n + 1)[1:]

        area = total(np.ones_like(x))
        mx, my = total(x) / area, total(y) / area
        sxx = total(x * x) / area - mx**2 + spacing_mm[0] ** 2 / 12
        syy = total(y * y) / area - my**2 + spacing_mm[1] ** 2 / 12
        sxy = total(x * y) / area - mx * my
        slice_of = np.rint(total(z.astype(np.float64)) / area).astype(np.int64)
        hole_mean = total(values) / area
        # Eigenvalues of the second-moment matrix: an ellipse of semi-axes a, b has lambda = a²/4, b²/4.
        half_trace = (sxx + syy) / 2
        root = np.sqrt(np.maximum(half_trace**2 - (sxx * syy - sxy**2), 0.0))
        lam1, lam2 = half_trace + root, np.maximum(half_trace - root, 1e-9)
        ellipse_area = 4 * np.pi * np.sqrt(lam1 * lam2)
        compactness = area * pixel_mm2 / ellipse_area  # 1 for a filled ellipse, < 1 for rings/branches
        axis_ratio = np.sqrt(lam2 / lam1)
        # Ring: the bright voxels within ~1.5 mm of the hole, labelled with the hole they surround.
        grown = ndimage.grey_dilation(labels, footprint=ring_footprint)
        ring = (grown > 0) & (labels == 0)
        ring_flat = np.where(ring.ravel(), grown.ravel(), 0)
        ring_count = np.bincount(ring_flat, minlength=n + 1)[1:]
        ring_mean = np.bincount(ring_flat, weights=image.ravel(), minlength=n + 1)[1:] / np.maximum(
            ring_count, 1
        )
        contrast = ring_mean - hole_mean
        good = (compactness >= 0.75) & (axis_ratio >= 0.35) & (contrast >= min_step)
        if max_ring is not None:
            good &= ring_mean <= max_ring
        if max_hole is not None:
            good &= hole_mean <= max_hole
        if good.any():
            rows.append(
                (
                    slice_of[good],
                    np.stack([mx[good], my[good]], axis=1),
                    area[good] * pixel_mm2,
                    contrast[good],
                )
            )
    if not rows:
        empty = np.zeros(0)
        return HoleCandidates(empty.astype(np.int64), np.zeros((0, 2)), empty, empty)
    return HoleCandidates(
        np.concatenate([r[0] for r in rows]),
        np.concatenate([r[1] for r in rows]),
        np.concatenate([r[2] for r in rows]),
        np.concatenate([r[3] for r in rows]),
    )


def longest_chain(
    candidates: HoleCandidates,
    slice_spacing_mm: float,
    weights: np.ndarray | None = None,
    position_tolerance_mm: float = 0.0,
) -> np.ndarray:
    """Indices of the candidates on the longest slice-to-slice continuous line (sorted by slice).

    Consecutive members may be a few slices apart (a slice where the CSF ring is broken); the in-plane
    step allowed grows with the distance along the cord, allowing a cord tilted up to ~35° to the slices.
    Each member scores 1 (or its ``weight``, e.g. its contrast relative to the best candidates'), each
    skipped slice costs 0.5, so the longest, least interrupted (and clearest) tube wins.
    ``position_tolerance_mm`` widens every step by how far a candidate's centre may be off the cord's
    (a dark-disk maximum on a blurred image wanders within the disk).
    """
    n = candidates.slice_index.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((-candidates.contrast, candidates.slice_index))
    slices = candidates.slice_index[order]
    centers = candidates.center_mm[order]
    max_gap = max(2, int(np.ceil(6.0 / slice_spacing_mm)))
    member = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    score = member.copy()
    back = np.full(n, -1, dtype=np.int64)
    starts = np.searchsorted(slices, slices, side="left")
    for j in range(n):
        first = np.searchsorted(slices, slices[j] - max_gap, side="left")
        previous = np.arange(first, starts[j])
        if previous.size == 0:
            continue
        gap = slices[j] - slices[previous]
        step_mm = np.linalg.norm(centers[previous] - centers[j], axis=1)
        allowed = 1.5 + position_tolerance_mm + 0.7 * gap * slice_spacing_mm
        ok = step_mm <= allowed
        if not ok.any():
            continue
        gain = score[previous] - 0.5 * (gap - 1)
        gain = np.where(ok, gain, -np.inf)
        best = int(np.argmax(gain))
        if gain[best] + member[j] > score[j]:
            score[j] = gain[best] + member[j]
            back[j] = previous[best]
    chain = [int(np.argmax(score))]
    while back[chain[-1]] >= 0:
        chain.append(int(back[chain[-1]]))
    return order[np.asarray(chain[::-1], dtype=np.int64)]


# MRI centerline search: the cord is a dark disk (mean over a ~5 mm box) inside a brighter ring of CSF
# (the rest of a 10 mm box)
# (cord transverse 9-14 mm, sac 15-22 mm, domain-facts §1).
BLOB_INNER_MM = 5.0
BLOB_OUTER_MM = 10.0
BLOB_PER_SLICE = 3
BLOB_TESTED_PER_SLICE = 12
# A cord is enclosed by the CSF ring: along most directions from its centre the signal rises by at least
# the minimal step within the cord's reach, and falls again outside the sac (dura, fat, bone) - the
# "target" pattern. Directions sampled, reach of the rise and of the fall, and the fraction required.
RING_DIRECTIONS = 16
RING_RISE_MM = (2.0, 10.0)
RING_FALL_MM = 22.0
RING_FRACTION = 0.6
# Dark-disk maxima are kept when they are the strongest within this window (mm).
BLOB_PEAK_MM = 8.0


def find_blob_candidates(
    image: np.ndarray,
    spacing_mm: np.ndarray,
    min_step: float,
    min_inner: float = 0.05,
    max_ring: float | None = None,
    max_inner: float | None = None,
) -> HoleCandidates:
    """Dark disks ringed by brighter signal on each slice: local minima of a 5 mm disk mean, ring-tested.

    A complement to :func:`find_hole_candidates` for images where the CSF ring is not closed on a slice
    (thick slices cutting the thin lateral CSF, a sagittal acquisition's coarse left-right pixels, a cord
    touching the dura): it needs no threshold. Each local maximum (within 8 mm) of the contrast between a
    5 mm disk and the rest of a 10 mm box around it (which holds the CSF ring of a cord, and little of the
    fat or bone beyond it) is kept when, along most directions, the signal rises into a ring within the cord's reach and falls
    again outside it (:func:`_ring_test`); its score is that fraction times the median rise. ``min_inner``
    excludes air (the cord is never as dark as the background), ``max_inner`` anything denser than a cord
    (the cancellous bone inside a vertebral body's cortex on CT); a direction whose ring is brighter than
    ``max_ring`` (bone on CT) does not count.
    """
    inner_size = [max(1, round(BLOB_INNER_MM / float(s))) for s in spacing_mm[:2]]
    outer_size = [max(3, round(BLOB_OUTER_MM / float(s))) for s in spacing_mm[:2]]
    inner = ndimage.uniform_filter(image, size=(*inner_size, 1), mode="nearest")
    outer = ndimage.uniform_filter(image, size=(*outer_size, 1), mode="nearest")
    n_in, n_out = inner_size[0] * inner_size[1], outer_size[0] * outer_size[1]
    contrast = (outer * n_out - inner * n_in) / max(n_out - n_in, 1) - inner
    peak_size = [max(3, round(BLOB_PEAK_MM / float(s))) for s in spacing_mm[:2]]
    minima = (contrast == ndimage.maximum_filter(contrast, size=(*peak_size, 1))) & (contrast > 0)
    minima &= inner >= min_inner
    if max_inner is not None:
        minima &= inner <= max_inner
    ii, jj, kk = np.nonzero(minima)
    # Ring-test only the clearest few per slice (speed on large fields of view).
    strength = contrast[ii, jj, kk]
    order = np.lexsort((-strength, kk))
    ii, jj, kk = ii[order], jj[order], kk[order]
    rank = np.arange(kk.size) - np.searchsorted(kk, kk, side="left")
    ii, jj, kk = (
        ii[rank < BLOB_TESTED_PER_SLICE],
        jj[rank < BLOB_TESTED_PER_SLICE],
        kk[rank < BLOB_TESTED_PER_SLICE],
    )
    fraction, rise = _ring_test(image, spacing_mm, ii, jj, kk, min_step, max_ring)
    good = (fraction >= RING_FRACTION) & (rise >= min_step)
    ii, jj, kk = ii[good], jj[good], kk[good]
    values = fraction[good] * rise[good]
    # Keep the strongest few per slice.
    order = np.lexsort((-values, kk))
    ii, jj, kk, values = ii[order], jj[order], kk[order], values[order]
    first = np.searchsorted(kk, kk, side="left")
    keep = (np.arange(kk.size) - first) < BLOB_PER_SLICE
    ii, jj, kk, values = ii[keep], jj[keep], kk[keep], values[keep]
    centre_mm = np.stack([ii * spacing_mm[0], jj * spacing_mm[1]], axis=1).astype(np.float64)
    area = np.full(kk.size, np.pi * (BLOB_INNER_MM / 2) ** 2)
    return HoleCandidates(kk.astype(np.int64), centre_mm, area, values.astype(np.float64))


def _ring_test(
    image: np.ndarray,
    spacing_mm: np.ndarray,
    ii: np.ndarray,
    jj: np.ndarray,
    kk: np.ndarray,
    step: float,
    max_ring: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per point: fraction of directions that rise into a ring and fall again, and the median rise."""
    if ii.size == 0:
        return np.zeros(0), np.zeros(0)
    angles = np.linspace(0, 2 * np.pi, RING_DIRECTIONS, endpoint=False)
    radii = np.arange(0.0, RING_FALL_MM + 0.25, 0.75)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    offsets = radii[None, :, None] * directions[:, None, :] / spacing_mm[None, None, :2]  # (D, R, 2)
    x = ii[:, None, None] + offsets[None, :, :, 0]
    y = jj[:, None, None] + offsets[None, :, :, 1]
    z = np.broadcast_to(kk[:, None, None], x.shape).astype(np.float64)
    profiles = ndimage.map_coordinates(image, [x.ravel(), y.ravel(), z.ravel()], order=1, mode="nearest")
    profiles = profiles.reshape(x.shape)  # (N, D, R)
    centre = profiles[:, :, radii <= 1.5].mean(axis=(1, 2))
    reach = (radii >= RING_RISE_MM[0]) & (radii <= RING_RISE_MM[1])
    ring_peak = np.where(reach[None, None, :], profiles, -np.inf).max(axis=2)
    peak_at = np.argmax(np.where(reach[None, None, :], profiles, -np.inf), axis=2)
    after = np.arange(radii.size)[None, None, :] > peak_at[:, :, None]
    beyond_min = np.where(after, profiles, np.inf).min(axis=2)
    rise = ring_peak - centre[:, None]
    ok = (rise >= step) & (ring_peak - beyond_min >= step)
    if max_ring is not None:
        ok &= ring_peak <= max_ring
    return np.asarray(ok.mean(axis=1), dtype=np.float64), np.asarray(
        np.median(rise, axis=1), dtype=np.float64
    )


def merge_candidates(first: HoleCandidates, second: HoleCandidates) -> HoleCandidates:
    return HoleCandidates(
        np.concatenate([first.slice_index, second.slice_index]),
        np.concatenate([first.center_mm, second.center_mm]),
        np.concatenate([first.area_mm2, second.area_mm2]),
        np.concatenate([first.contrast, second.contrast]),
    )
