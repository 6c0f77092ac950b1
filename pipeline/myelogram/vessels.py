"""Vertebral arteries at C1-C2: segmented on a registered vascular series, or estimated from bone.

On a CT myelogram without intravenous contrast the artery has soft-tissue density and cannot be told from
muscle or veins (domain-facts §5), so:

* with a vascular series (CTA: lumen 250-500 HU; 3D T2 MRI: flow void), registered to the CT by
  :mod:`pipeline.myelogram.registration`, the arteries are segmented there: bright (CTA) or dark (T2)
  tubes outside the CT's bone and thecal sac, lateral to the canal, the largest on each side;
* without one, the course is estimated through the C2 and C1 transverse foramina and along the top of the
  C1 posterior arch (the V3 groove, IMAIOS e-Anatomy "Atlantic part"), and marked as an estimate.

The clinically important question is whether an artery lies over the lateral C1-C2 window in the
straight lateral needle path (31 % of cases, Katoh et al. Spine 1990, via Shepherd et al. 2017).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import ndimage

from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.volume import Volume

# V3 diameter about 4.4-4.6 mm (domain-facts §5).
VA_RADIUS_MM = 2.25
# Needle-to-vessel margin: no published value; EST >= 3 mm (domain-facts §5).
SAFETY_MARGIN_MM = 3.0
# CTA lumen (EST 250-500 HU; domain-facts §5): accept 180-800 HU (partial volume, dense boluses).
CTA_LUMEN_HU = (180.0, 800.0)
# Region searched for the arteries in the anatomical frame (mm): lateral to the canal, C2 to foramen magnum.
SEARCH_X_MM = (6.0, 40.0)
SEARCH_Y_MM = (-22.0, 16.0)
SEARCH_Z_MM = (-30.0, 32.0)


class ArterySource(StrEnum):
    """Where the vertebral-artery course comes from (``plan.json`` ``vertebral_artery.source``)."""

    VASCULAR_SERIES = "vascular_series"
    FORAMINA_ESTIMATE = "foramina_estimate"
    NONE = "none"


@dataclass(frozen=True)
class VertebralArtery:
    """One side's artery: centreline points (LPS mm, ordered inferior to superior) and lumen mask."""

    side: str
    centerline_lps_mm: np.ndarray
    mask: np.ndarray | None  # on the CT grid, only when segmented from a vascular series
    radius_mm: float


def segment_arteries(
    vascular_on_ct: Volume,
    *,
    modality: str,
    frame: AnatomicalFrame,
    exclude: np.ndarray,
    ct_hu: np.ndarray,
) -> dict[str, VertebralArtery]:
    """Vertebral arteries on a vascular image already resampled onto the CT grid.

    Parameters
    ----------
    vascular_on_ct : Volume
        Registered vascular image on the CT grid.
    modality : {"cta", "t2"}
        Bright lumen (CTA) or flow void (T2).
    frame : AnatomicalFrame
        Patient frame at C1-C2 (sides, search region).
    exclude : ndarray of bool
        Voxels that cannot be artery: the CT's bone, thecal sac and cord.
    ct_hu : ndarray
        The CT myelogram (air, below -500 HU, is excluded too: it is dark on T2).
    """
    image = np.asarray(vascular_on_ct.array, dtype=np.float32)
    index = np.indices(image.shape, dtype=np.float32).reshape(3, -1).T
    points = vascular_on_ct.index_to_lps(index)
    local = frame.to_frame(points).reshape(*image.shape, 3)
    region = (
        (np.abs(local[..., 0]) >= SEARCH_X_MM[0])
        & (np.abs(local[..., 0]) <= SEARCH_X_MM[1])
        & (local[..., 1] >= SEARCH_Y_MM[0])
        & (local[..., 1] <= SEARCH_Y_MM[1])
        & (local[..., 2] >= SEARCH_Z_MM[0])
        & (local[..., 2] <= SEARCH_Z_MM[1])
    )
    spacing = vascular_on_ct.spacing_mm
    # One voxel around the CT's bone also removes the partial-volume rim of cortex, which passes
    # through the lumen's intensity range on CTA.
    guard = ndimage.binary_dilation(exclude)
    smooth = ndimage.gaussian_filter(image, sigma=0.4 / spacing)
    if modality == "cta":
        lumen = (smooth >= CTA_LUMEN_HU[0]) & (smooth <= CTA_LUMEN_HU[1])
    else:
        # Flow void: darker than a fifth of the CSF level (CSF is the bright reference on T2).
        csf_level = float(np.percentile(smooth[region], 99.0)) if region.any() else float(smooth.max())
        lumen = smooth < 0.15 * csf_level
        lumen &= ct_hu > -500.0
    lumen &= region & ~guard
    labels, count = ndimage.label(lumen)
    result: dict[str, VertebralArtery] = {}
    if count == 0:
        return result
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    side_of = np.zeros(count + 1)
    np.add.at(side_of, labels.ravel(), np.sign(local[..., 0]).ravel())
    voxel_mm3 = float(np.prod(spacing))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        # The lumen can be cut into pieces where it hugs the foramina; keep every sizeable piece on the
        # side (at least a 1.5 mm stretch of a 4.5 mm artery).
        on_side = (np.sign(side_of) == sign) & (sizes * voxel_mm3 >= 25.0)
        if not on_side.any():
            continue
        mask = on_side[labels]
        centerline = _tube_centerline(mask, vascular_on_ct, frame)
        length_mm = _path_length(centerline)
        radius = (
            float(np.sqrt(mask.sum() * voxel_mm3 / (np.pi * length_mm))) if length_mm > 0 else VA_RADIUS_MM
        )
        result[side] = VertebralArtery(side, centerline, mask, radius)
    return result


def _path_length(points: np.ndarray) -> float:
    if len(points) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def _tube_centerline(mask: np.ndarray, grid: Volume, frame: AnatomicalFrame) -> np.ndarray:
    """Centreline of a tubular mask: its 3-D skeleton, ordered along the tube.

    Skeleton points are chained greedily from the lowest one (the artery enters from below through C2);
    the chain follows the nearest unvisited point, which walks along a tube without branches.
    """
    from skimage.morphology import skeletonize

    nonzero = np.argwhere(mask)
    lo = np.maximum(nonzero.min(axis=0) - 2, 0)
    hi = nonzero.max(axis=0) + 3
    crop = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    skeleton = skeletonize(crop)
    points_index = np.argwhere(skeleton) + lo
    if len(points_index) < 2:
        return grid.index_to_lps(nonzero.mean(axis=0)[None, :])
    points = grid.index_to_lps(points_index.astype(float))
    heights = frame.to_frame(points)[:, 2]
    order = [int(np.argmin(heights))]
    remaining = np.ones(len(points), dtype=bool)
    remaining[order[0]] = False
    step_limit = max(6.0, 3.0 * float(max(grid.spacing_mm)))  # bridges short breaks in foramina
    while remaining.any():
        last = points[order[-1]]
        distance = np.where(remaining, np.linalg.norm(points - last, axis=1), np.inf)
        nearest = int(np.argmin(distance))
        if distance[nearest] > step_limit:
            break
        order.append(nearest)
        remaining[nearest] = False
    return points[order]


def estimate_arteries(
    foramina_lps_mm: dict[str, dict[str, np.ndarray | None]],
    c1_mask: np.ndarray,
    ct: Volume,
    frame: AnatomicalFrame,
) -> dict[str, VertebralArtery]:
    """Course estimated through the C2 and C1 transverse foramina and over the C1 posterior arch.

    From the C2 foramen the artery rises vertically (V3v) to the C1 foramen, then runs posteromedially in
    the groove on the upper surface of the C1 posterior arch (V3h) to pierce the dura about 11 mm from the
    midline (domain-facts §5). The groove is followed on the segmented C1: at lateral distances from the
    foramen to 11 mm, the top of the posterior arch plus one artery radius.
    """
    arch = np.argwhere(c1_mask)
    arch_local = frame.to_frame(ct.index_to_lps(arch.astype(float))) if len(arch) else np.zeros((0, 3))
    result: dict[str, VertebralArtery] = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        c2 = foramina_lps_mm.get(side, {}).get("C2")
        c1 = foramina_lps_mm.get(side, {}).get("C1")
        if c1 is None:
            continue
        points = []
        if c2 is not None:
            c2_local = frame.to_frame(c2)
            points.append(c2_local - np.array([0.0, 0.0, 6.0]))
            points.append(c2_local)
        c1_local = frame.to_frame(c1)
        points.append(c1_local)
        posterior_arch = arch_local[(arch_local[:, 1] > 0.0) & (sign * arch_local[:, 0] > 0)]
        for x_mm in np.linspace(abs(c1_local[0]) - 4.0, 11.0, 5):
            near = posterior_arch[np.abs(np.abs(posterior_arch[:, 0]) - x_mm) <= 1.0]
            if len(near) < 3:
                continue
            top = near[:, 2].max()
            y_mid = float(np.median(near[:, 1]))
            points.append(np.array([sign * x_mm, y_mid, top + VA_RADIUS_MM]))
        local = np.asarray(points)
        dense = _densify(local, 0.5)
        result[side] = VertebralArtery(side, frame.to_lps(dense), None, VA_RADIUS_MM)
    return result


def _densify(points: np.ndarray, step_mm: float) -> np.ndarray:
    pieces = [points[:1]]
    for a, b in itertools.pairwise(points):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step_mm)))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        pieces.append(a + t * (b - a))
    return np.concatenate(pieces)


def overlaps_lateral_path(
    artery: VertebralArtery, dural_entry_lps_mm: np.ndarray, frame: AnatomicalFrame, side: str
) -> tuple[bool, float]:
    """Whether the artery lies over the straight lateral path to the dentate ligament, and its clearance.

    The path runs from the dura at the planning level straight out laterally (the frame's left or right
    axis) for 50 mm. It is overlapped when the artery's centreline passes within its radius plus the
    3 mm safety margin (EST, domain-facts §5) of the path. Returns (overlap, wall-to-axis clearance mm).
    """
    sign = 1.0 if side == "left" else -1.0
    start = frame.to_frame(dural_entry_lps_mm)
    points = frame.to_frame(artery.centerline_lps_mm)
    # Distance from each centreline point to the segment start + t * (sign, 0, 0), t in [0, 50].
    t = np.clip(sign * (points[:, 0] - start[0]), 0.0, 50.0)
    nearest = start + np.outer(t, np.array([sign, 0.0, 0.0]))
    distance = np.linalg.norm(points - nearest, axis=1)
    clearance = float(distance.min() - artery.radius_mm)
    return clearance <= SAFETY_MARGIN_MM, clearance
