"""Vertebral arteries at C1-C2: segmented on a registered vascular series, or estimated from bone.

On a CT myelogram without intravenous contrast the artery has soft-tissue density and cannot be told from
muscle or veins (domain-facts §5), so:

* with a vascular series (CTA: lumen 250-500 HU; 3D T2 MRI: flow void), registered to the CT by
  :mod:`pipeline.myelogram.registration`, the arteries are segmented there: bright (CTA) or dark (T2)
  tubes where the CT shows soft tissue (its soft-tissue density also keeps out bone the bone stage
  missed), lateral to the canal, the largest on each side, with the lumen's edge half-way to its own
  local surround;
* without one, the course is estimated through the C2 and C1 transverse foramina and along the top of the
  C1 posterior arch (the V3 groove, IMAIOS e-Anatomy "Atlantic part"), and marked as an estimate.

Whether an artery lies over the lateral C1-C2 window in the needle's path (31 % of cases, Katoh et al.
Spine 1990, via Shepherd et al. 2017) is the trajectory stage's question (:mod:`pipeline.trajectory.safety`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import ndimage

from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.seeds import Seeds
from pipeline.volume import Volume

# Skeleton pieces closer than this are joined when tracing an artery's centreline.
BRIDGE_MM = 6.0
# Region searched for the arteries in the anatomical frame (mm): lateral to the canal, C2 to foramen magnum.
SEARCH_X_MM = (2.0, 40.0)
SEARCH_Y_MM = (-22.0, 16.0)
SEARCH_Z_MM = (-45.0, 45.0)
# Gaussian smoothing of the resampled vascular image against voxel noise only: wider smoothing narrows a
# 4.5 mm lumen's profile and loses its edge (0.4 mm: median Dice 0.907, 0.25 mm: 0.910-0.913, 0.6 mm: 0.888
# on family draws 1000-1019).
SMOOTH_MM = 0.25


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
    seeds: Seeds,
    field_of_view: np.ndarray | None = None,
    sac: np.ndarray | None = None,
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
        Voxels that cannot be artery: the CT's bone (the intradural V4 runs through the thecal sac, so the
        sac is not excluded).
    ct_hu : ndarray
        The CT myelogram (air, below -500 HU, is excluded too: it is dark on T2).
    seeds : Seeds
        CTA lumen range, edge and flow-void fractions (``seeds/myelogram.yaml``), artery diameter.
    field_of_view : ndarray of bool, optional
        CT voxels covered by the vascular series (outside it the resampled image is only padding).
    sac : ndarray of bool, optional
        The CT's thecal sac (contrast-filled CSF and cord): the intradural V4 is a filling defect there,
        whose edge the contrast brightens on the CT, so on T2 the CT's density does not exclude lumen in
        it. Not on CTA, where bone the bone stage missed next to the sac has the lumen's density.
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
        # Also by distance from the canal's axis, which does not depend on the frame's turn about it.
        & (np.hypot(local[..., 0], local[..., 1]) <= seeds.number("myelogram.vascular.search_radius_mm"))
    )
    if field_of_view is not None:
        # Only the vascular series' own edge is unreliable (padding), not the edge of the CT grid.
        region &= ndimage.binary_erosion(field_of_view, iterations=2, border_value=1)
    spacing = vascular_on_ct.spacing_mm
    smooth = ndimage.gaussian_filter(image, sigma=SMOOTH_MM / spacing)
    searched = region & ~_not_artery_on_ct(exclude, ct_hu, spacing, seeds, sac if modality != "cta" else None)
    lumen = _lumen(smooth, searched, region, modality, spacing, seeds)
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
        # The artery is the largest piece; pieces at least a third its size are parts of it cut apart.
        largest = int(np.max(np.where(on_side, sizes, 0)))
        on_side &= sizes >= largest / 3
        mask = on_side[labels]
        centerline = _tube_centerline(mask, vascular_on_ct, frame)
        length_mm = _path_length(centerline)
        radius = (
            float(np.sqrt(mask.sum() * voxel_mm3 / (np.pi * length_mm)))
            if length_mm > 0
            else seeds.number("anatomy.vertebral_artery.diameter_mm") / 2.0
        )
        result[side] = VertebralArtery(side, centerline, mask, radius)
    return result


def _not_artery_on_ct(
    bone: np.ndarray, ct_hu: np.ndarray, spacing: np.ndarray, seeds: Seeds, sac: np.ndarray | None = None
) -> np.ndarray:
    """CT voxels that cannot be lumen: the CT's bone with a rim, anything denser than blood, and air.

    On the myelogram an artery is unenhanced blood (~50 HU) even inside the contrast-filled sac, where
    the intradural V4 is a filling defect (domain-facts §5-6); bone the bone stage missed and the
    contrast-filled CSF are denser, and on CTA bone has the lumen's density. One voxel around the bone
    removes the partial-volume rim of cortex, which passes through the lumen's intensity range on CTA.
    Air (below -500 HU) is as dark as a flow void on T2.
    """
    smooth = ndimage.gaussian_filter(ct_hu.astype(np.float32), sigma=0.4 / spacing)
    dense = smooth >= seeds.number("myelogram.vascular.ct_max_lumen_hu")
    if sac is not None:
        # Inside the sac (with a voxel of partial volume round it) only bone is excluded.
        dense &= ~ndimage.binary_dilation(ndimage.binary_fill_holes(sac))
    return ndimage.binary_dilation(bone) | dense | (ct_hu <= -500.0)


def _lumen(
    smooth: np.ndarray,
    searched: np.ndarray,
    region: np.ndarray,
    modality: str,
    spacing: np.ndarray,
    seeds: Seeds,
) -> np.ndarray:
    """Lumen voxels: the edge half-way between the lumen's level and its own local surround.

    The tissue around an artery changes along it (muscle, fat, venous plexus, the CSF round the
    intradural V4: ~180 to ~950 on T2), so a single surround level puts the edge too far inside the lumen
    wherever the surround is brighter (T2) or darker (CTA) than the median. The surround of each voxel is
    the mean of the non-lumen, non-excluded voxels within about one artery radius (normalised
    convolution), and the edge is half-way from the lumen level to it (half-maximum rule).
    """
    edge = seeds.number("myelogram.vascular.lumen_edge_fraction")
    surround = float(np.median(smooth[searched])) if searched.any() else 0.0
    if modality == "cta":
        # Candidates from the published lumen range, then the edge half-way between the surrounding
        # tissue and this scan's own lumen level (boluses differ: 250-500 HU).
        low, high = seeds.numbers("myelogram.vascular.cta_lumen_hu")
        first = searched & (smooth >= surround + edge * (low - surround))
        level = float(np.percentile(smooth[first], 75.0)) if first.any() else low
        level = min(max(level, low), high)
        sign = 1.0
        ceiling = smooth <= 2.0 * high
    else:
        # Flow void: far darker than the CSF (the bright reference on T2), edge half-way to its surround.
        csf_level = float(np.percentile(smooth[region], 99.0)) if region.any() else float(smooth.max())
        first = searched & (smooth < seeds.number("myelogram.vascular.t2_flow_void_fraction") * csf_level)
        level = float(np.percentile(smooth[first], 25.0)) if first.any() else 0.0
        sign = -1.0
        ceiling = np.ones(smooth.shape, dtype=bool)
    # The provisional lumen: the edge half-way to the median surround.
    provisional = searched & ceiling & (sign * (smooth - (level + edge * (surround - level))) > 0)
    sigma = seeds.number("anatomy.vertebral_artery.diameter_mm") / 2.0 / spacing
    background = searched & ~ndimage.binary_dilation(provisional, iterations=2)
    weight = ndimage.gaussian_filter(background.astype(np.float32), sigma=sigma)
    local = ndimage.gaussian_filter(np.where(background, smooth, 0.0).astype(np.float32), sigma=sigma)
    local_surround = np.where(weight > 1e-3, local / np.maximum(weight, 1e-3), surround)
    lumen = searched & ceiling & (sign * (smooth - (level + edge * (local_surround - level))) > 0)
    # The local edge may move out from the provisional one by about the blur (it corrects where the
    # median surround was wrong), not run along dark neighbours such as cortex or air.
    shift_mm = seeds.number("myelogram.vascular.lumen_edge_shift_mm")
    near = ndimage.distance_transform_edt(~provisional, sampling=spacing) <= shift_mm
    return provisional | (lumen & near)


def _path_length(points: np.ndarray) -> float:
    if len(points) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def _tube_centerline(mask: np.ndarray, grid: Volume, frame: AnatomicalFrame) -> np.ndarray:
    """Centreline of a tubular mask: the shortest skeleton path between its lowest and highest ends.

    The skeleton (Lee et al. 1994, as in scikit-image) of a tube is its axis plus short spurs. The
    vertebral artery enters the field of view from below (through C2) and leaves it above (towards the
    foramen magnum), so the geodesic path through the skeleton graph from its lowest to its highest point
    follows the axis and ignores spurs; steps are weighted by the inverse squared depth inside the lumen
    so that the path keeps to the thick lumen rather than to thin false bridges. Skeleton pieces up to 6 mm apart are linked (at a high cost),
    bridging places where the lumen was cut (an artery hugging its foramen). The path is smoothed over
    about 1.5 mm to remove the voxel staircase.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree
    from skimage.morphology import skeletonize

    nonzero = np.argwhere(mask)
    lo = np.maximum(nonzero.min(axis=0) - 2, 0)
    hi = nonzero.max(axis=0) + 3
    crop = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    skeleton = skeletonize(crop)
    depth_mm = ndimage.distance_transform_edt(crop, sampling=grid.spacing_mm)
    points_index = np.argwhere(skeleton) + lo
    node_depth = np.maximum(depth_mm[tuple((points_index - lo).T)], 0.3)
    if len(points_index) < 2:
        return grid.index_to_lps(nonzero.mean(axis=0)[None, :].astype(float))
    points = grid.index_to_lps(points_index.astype(float))
    tree = cKDTree(points)
    neighbour_mm = 1.01 * float(np.linalg.norm(grid.spacing_mm))
    pairs = tree.query_pairs(BRIDGE_MM, output_type="ndarray")
    lengths = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)
    # Adjacent skeleton voxels cost their distance; a bridge across a gap costs far more, so that it is
    # used only to join pieces (never as a short cut across a loop of the artery).
    cost = np.where(lengths <= neighbour_mm, lengths, 10.0 * lengths + 50.0)
    # Travel along the lumen's axis is cheap, along thin rims (partial volume next to bone) dear: the
    # cost is divided by the squared depth inside the mask (a minimal path in a vesselness-like metric).
    cost = cost / (node_depth[pairs[:, 0]] * node_depth[pairs[:, 1]])
    n = len(points)
    graph = coo_matrix((cost, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    heights = frame.to_frame(points)[:, 2]
    start = int(np.argmin(heights))
    distances, predecessors = dijkstra(graph, directed=False, indices=start, return_predecessors=True)
    reachable = np.isfinite(distances)
    end = int(np.argmax(np.where(reachable, heights, -np.inf)))
    path = [end]
    while path[-1] != start and predecessors[path[-1]] >= 0:
        path.append(int(predecessors[path[-1]]))
    ordered = points[np.asarray(path[::-1])]
    if frame.to_frame(ordered[-1])[2] < frame.to_frame(ordered[0])[2]:
        ordered = ordered[::-1]
    window = max(1, round(1.5 / float(min(grid.spacing_mm))))
    if len(ordered) > 2 * window + 1:
        kernel = np.ones(2 * window + 1) / (2 * window + 1)
        smoothed = np.stack(
            [np.convolve(np.pad(ordered[:, a], window, mode="edge"), kernel, mode="valid") for a in range(3)],
            axis=1,
        )
        ordered = smoothed
    return ordered


def estimate_arteries(
    foramina_lps_mm: dict[str, dict[str, np.ndarray | None]],
    c1_mask: np.ndarray,
    ct: Volume,
    frame: AnatomicalFrame,
    *,
    radius_mm: float,
) -> dict[str, VertebralArtery]:
    """Course estimated through the C2 and C1 transverse foramina and over the C1 posterior arch.

    From the C2 foramen the artery rises vertically (V3v) to the C1 foramen, then runs posteromedially in
    the groove on the upper surface of the C1 posterior arch (V3h) to pierce the dura about 11 mm from the
    midline (domain-facts §5). The groove is followed on the segmented C1: at lateral distances from the
    foramen to 11 mm, the top of the posterior arch plus one artery radius (``radius_mm``, half the
    V3 diameter of ``seeds/anatomy.yaml``).

    Without the C1 foramen the side is not located. Without the C2 foramen (its thin wall is often open
    on CT) the V3v drops straight down from the C1 foramen to the other side's C2 foramen height, or as
    far below the planning level as the C1 foramen lies above it: the V3v always crosses the level of the
    lateral atlanto-axial joint between the two foramina, so the course near the needle window is never
    left out.
    """
    arch = np.argwhere(c1_mask)
    arch_local = frame.to_frame(ct.index_to_lps(arch.astype(float))) if len(arch) else np.zeros((0, 3))
    c2_heights = [
        frame.to_frame(c2)[2] for found in foramina_lps_mm.values() if (c2 := found.get("C2")) is not None
    ]
    result: dict[str, VertebralArtery] = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        c2 = foramina_lps_mm.get(side, {}).get("C2")
        c1 = foramina_lps_mm.get(side, {}).get("C1")
        if c1 is None:
            continue
        c1_local = frame.to_frame(c1)
        if c2 is not None:
            c2_local = frame.to_frame(c2)
        else:
            below = c2_heights[0] if c2_heights else -c1_local[2]
            c2_local = np.array([c1_local[0], c1_local[1], min(below, 0.0)])
        points = [c2_local - np.array([0.0, 0.0, 6.0]), c2_local, c1_local]
        posterior_arch = arch_local[(arch_local[:, 1] > 0.0) & (sign * arch_local[:, 0] > 0)]
        for x_mm in np.linspace(abs(c1_local[0]) - 4.0, 11.0, 5):
            near = posterior_arch[np.abs(np.abs(posterior_arch[:, 0]) - x_mm) <= 1.0]
            if len(near) < 3:
                continue
            top = near[:, 2].max()
            y_mid = float(np.median(near[:, 1]))
            points.append(np.array([sign * x_mm, y_mid, top + radius_mm]))
        local = np.asarray(points)
        dense = _densify(local, 0.5)
        result[side] = VertebralArtery(side, frame.to_lps(dense), None, radius_mm)
    return result


def _densify(points: np.ndarray, step_mm: float) -> np.ndarray:
    pieces = [points[:1]]
    for a, b in itertools.pairwise(points):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step_mm)))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        pieces.append(a + t * (b - a))
    return np.concatenate(pieces)
