"""Dentate ligaments: where each attaches to the pia, slice by slice through C1-C2, and its line to the dura.

The ligament is a pial sheet about 0.1-0.3 mm thick spanning the lateral CSF from the cord's equator to
the dura (domain-facts §2). It is sub-voxel, so on an axial CT myelogram (or a T2 MRI) it shows at most as
a faint linear filling defect in the bright lateral CSF. In the anatomical frame the sheet is coronal, so
on a slice it runs left-right: averaging the CSF along left-right lines at each anteroposterior offset
turns the faint sheet into a clear dip of that profile (the line integral gains the sheet's whole length,
the noise only its square root). The dip is measured against a smooth baseline, because contrast layers
denser dorsally (domain-facts §6).

Where no dip stands out of the noise, the classic anatomical rule is used instead: the ligament attaches
at the lateral point of the cord's coronal equator (its transverse diameter line), which the ligament is
known to follow within about 0-1 mm dorsally (EST, domain-facts §2); the rule takes 0.5 mm dorsal. Each result says which source it
came from and carries an uncertainty in mm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
from scipy import ndimage

from pipeline.myelogram._grid import AxialGrid
from pipeline.myelogram.contrast import parse_contrast, working_image
from pipeline.myelogram.cord import CordCrossSection, CordSegmentation
from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.seeds import Seeds, load_seeds
from pipeline.volume import Volume

# Anteroposterior offsets searched for the sheet (within 3 mm of the equator; the baseline is fitted
# over a wider band so that the search range has no edge effects), and the profile step (mm).
SEARCH_HALF_RANGE_MM = 3.0
PROFILE_HALF_RANGE_MM = 4.5
PROFILE_STEP_MM = 0.1
# CSF samples keep this distance from the pia and the dura (partial volume there is not the ligament).
EDGE_MARGIN_MM = 0.4
# Profiles of the slices within this distance along the cord are pooled (the sheet is continuous).
POOL_HALF_LENGTH_MM = 1.5
# A dip counts as a visible filling defect when it is this many noise standard deviations deep.
MIN_DIP_SNR = 4.0
# Fallback rule: the ligament lies 0-1 mm dorsal to the transverse diameter (EST, domain-facts §2, value
# in seeds anatomy.dentate_ligament.dorsal_offset_mm); the rule takes the middle of that range, so the
# attachment is within about half of it (plus the outline).
EQUATOR_RULE_UNCERTAINTY_MM = 0.7


class DentateSource(StrEnum):
    """How an attachment point was found."""

    FILLING_DEFECT = "filling_defect"
    CORD_EQUATOR = "cord_equator"


@dataclass(frozen=True)
class DentateAttachment:
    """One side's dentate ligament on one axial slice (LPS mm)."""

    side: str
    slice_index: int
    pial_lps_mm: np.ndarray
    dural_lps_mm: np.ndarray
    source: DentateSource
    uncertainty_mm: float
    dip_snr: float

    def to_json(self) -> dict[str, object]:
        return {
            "side": self.side,
            "pial_lps_mm": [float(v) for v in self.pial_lps_mm],
            "dural_lps_mm": [float(v) for v in self.dural_lps_mm],
            "source": self.source.value,
            "uncertainty_mm": float(self.uncertainty_mm),
            "dip_snr": float(self.dip_snr),
        }


@dataclass(frozen=True)
class DentateLigaments:
    """Per-slice attachments for both sides, inferior to superior."""

    left: tuple[DentateAttachment, ...]
    right: tuple[DentateAttachment, ...]

    def side(self, name: str) -> tuple[DentateAttachment, ...]:
        return self.left if name == "left" else self.right

    def at_level(
        self, name: str, point_lps_mm: np.ndarray, normal_lps: np.ndarray
    ) -> DentateAttachment | None:
        """Attachment on the plane through ``point_lps_mm`` with ``normal_lps``, interpolated between slices."""
        items = self.side(name)
        if not items:
            return None
        heights = np.array([np.dot(a.pial_lps_mm - point_lps_mm, normal_lps) for a in items])
        order = np.argsort(heights)
        heights = heights[order]
        items = tuple(items[i] for i in order)
        if heights[0] > 0 or heights[-1] < 0:
            nearest = int(np.argmin(np.abs(heights)))
            return items[nearest]
        upper = int(np.searchsorted(heights, 0.0))
        upper = min(max(upper, 1), len(items) - 1)
        lower = upper - 1
        span = heights[upper] - heights[lower]
        t = 0.0 if span <= 0 else float(-heights[lower] / span)
        a, b = items[lower], items[upper]
        source = a.source if a.source == b.source else DentateSource.CORD_EQUATOR
        return DentateAttachment(
            side=name,
            slice_index=a.slice_index if t < 0.5 else b.slice_index,
            pial_lps_mm=(1 - t) * a.pial_lps_mm + t * b.pial_lps_mm,
            dural_lps_mm=(1 - t) * a.dural_lps_mm + t * b.dural_lps_mm,
            source=source,
            uncertainty_mm=max(a.uncertainty_mm, b.uncertainty_mm),
            dip_snr=min(a.dip_snr, b.dip_snr),
        )


def _outline_radii(
    section: CordCrossSection, grid: AxialGrid
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ray origin (view mm), ray angles, pial and dural radii of a cross-section."""
    spacing = grid.spacing_mm[:2]

    def to_view(points: np.ndarray) -> np.ndarray:
        return grid.lps_to_index(points)[:, :2] * spacing

    cord = to_view(section.cord_outline_lps_mm)
    sac = to_view(section.sac_outline_lps_mm)
    origin = to_view(section.ray_origin_lps_mm[None, :])[0]
    angles = np.mod(np.arctan2(cord[:, 1] - origin[1], cord[:, 0] - origin[0]), 2 * np.pi)
    order = np.argsort(angles)
    pial = np.linalg.norm(cord - origin, axis=1)[order]
    dural = np.linalg.norm(sac - origin, axis=1)[order]
    return origin, angles[order], pial, dural


def find_dentate_ligaments(
    volume: Volume,
    cord: CordSegmentation,
    frame: AnatomicalFrame,
    *,
    superior_limit_mm: float,
    inferior_limit_mm: float,
    seeds: Seeds | None = None,
) -> DentateLigaments:
    """Dentate-ligament attachments on every cord slice within a height range of the frame origin.

    Parameters
    ----------
    volume : Volume
        The image the cord was segmented on.
    cord : CordSegmentation
    frame : AnatomicalFrame
        Gives the ligament's plane (coronal) and the sides.
    superior_limit_mm, inferior_limit_mm : float
        Heights along the frame's superior axis (relative to its origin) bounding the slices analysed,
        e.g. the C1-C2 region.
    seeds : Seeds, optional
        The equator rule's dorsal offset (``anatomy.dentate_ligament.dorsal_offset_mm``) and the CT levels;
        defaults to :func:`pipeline.seeds.load_seeds`.
    """
    seeds = seeds if seeds is not None else load_seeds()
    equator_offset_mm = seeds.number("anatomy.dentate_ligament.dorsal_offset_mm")
    grid = AxialGrid.from_volume(volume)
    image, model = working_image(grid.array, parse_contrast(cord.contrast), seeds)
    spacing = grid.spacing_mm
    slice_normal = grid.affine_lps[:3, 2] / spacing[2]
    axis0 = grid.affine_lps[:3, 0] / spacing[0]
    axis1 = grid.affine_lps[:3, 1] / spacing[1]
    # The ligament's line on a slice: where the frame's coronal plane cuts the slice.
    along = np.cross(slice_normal, frame.posterior_lps)
    along /= np.linalg.norm(along)
    if np.dot(along, frame.left_lps) < 0:
        along = -along
    across = np.cross(along, slice_normal)
    if np.dot(across, frame.posterior_lps) < 0:
        across = -across
    along_2d = np.array([np.dot(along, axis0), np.dot(along, axis1)])
    across_2d = np.array([np.dot(across, axis0), np.dot(across, axis1)])
    along_2d /= np.linalg.norm(along_2d)
    across_2d /= np.linalg.norm(across_2d)
    smoothing = (model.smoothing_mm / spacing[0], model.smoothing_mm / spacing[1])

    profiles: dict[str, list[_SliceProfile]] = {"left": [], "right": []}
    for section in cord.cross_sections:
        height = float(np.dot(section.center_lps_mm - frame.origin_lps_mm, frame.superior_lps))
        if height < inferior_limit_mm or height > superior_limit_mm:
            continue
        z = section.slice_index
        slice_image = ndimage.gaussian_filter(np.asarray(image[:, :, z], dtype=np.float32), smoothing)
        ray_centre, angles, pial, dural = _outline_radii(section, grid)
        centre = _section_centre(section, grid)
        for side, sign in (("left", 1.0), ("right", -1.0)):
            profile = _profile_on_slice(
                slice_image, spacing, centre, ray_centre, angles, pial, dural, sign * along_2d, across_2d
            )
            profiles[side].append(replace(profile, slice_index=z, height_mm=height))
    found: dict[str, list[DentateAttachment]] = {"left": [], "right": []}
    pool_half = max(POOL_HALF_LENGTH_MM, 0.5 * float(spacing[2]))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        items = profiles[side]
        heights = np.array([p.height_mm for p in items])
        for item in items:
            near = [p for p, h in zip(items, heights, strict=True) if abs(h - item.height_mm) <= pool_half]
            offset, k, snr, uncertainty, source = _detect_dip(
                near, min(spacing[0], spacing[1]), model.min_step * 0.25, equator_offset_mm
            )
            z = item.slice_index
            pial_2d = item.centre + offset * across_2d + item.lateral_pia[k] * sign * along_2d
            dural_2d = item.centre + offset * across_2d + item.lateral_dura[k] * sign * along_2d
            to_lps = _view_mm_to_lps(grid, z)
            found[side].append(
                DentateAttachment(
                    side=side,
                    slice_index=z,
                    pial_lps_mm=to_lps(pial_2d),
                    dural_lps_mm=to_lps(dural_2d),
                    source=source,
                    uncertainty_mm=uncertainty,
                    dip_snr=snr,
                )
            )
    return DentateLigaments(left=_consistent(tuple(found["left"])), right=_consistent(tuple(found["right"])))


def _section_centre(section: CordCrossSection, grid: AxialGrid) -> np.ndarray:
    return grid.lps_to_index(section.center_lps_mm[None, :])[0, :2] * grid.spacing_mm[:2]


def _view_mm_to_lps(grid: AxialGrid, z: int) -> Callable[[np.ndarray], np.ndarray]:
    spacing = grid.spacing_mm

    def convert(point_mm: np.ndarray) -> np.ndarray:
        ijk = np.array([point_mm[0] / spacing[0], point_mm[1] / spacing[1], float(z)])
        return grid.index_to_lps(ijk)

    return convert


def _radius_at(angles: np.ndarray, radii: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.interp(np.mod(query, 2 * np.pi), angles, radii, period=2 * np.pi)


@dataclass(frozen=True)
class _SliceProfile:
    """Mean lateral-CSF intensity against the anteroposterior offset on one slice and side."""

    centre: np.ndarray  # cord centre, view mm
    profile: np.ndarray  # (n_offsets,), NaN where the lateral CSF is too narrow
    lateral_pia: np.ndarray  # (n_offsets,) lateral distance of the pia from the centre line, mm
    lateral_dura: np.ndarray
    slice_index: int = -1
    height_mm: float = 0.0


OFFSETS_MM = np.arange(-PROFILE_HALF_RANGE_MM, PROFILE_HALF_RANGE_MM + 1e-9, PROFILE_STEP_MM)


def _profile_on_slice(
    slice_image: np.ndarray,
    spacing: np.ndarray,
    centre: np.ndarray,
    ray_centre: np.ndarray,
    angles: np.ndarray,
    pial: np.ndarray,
    dural: np.ndarray,
    lateral_2d: np.ndarray,
    across_2d: np.ndarray,
) -> _SliceProfile:
    offsets = OFFSETS_MM
    distances = np.arange(0.0, 25.0, 0.1)
    points = (
        centre[None, None, :]
        + offsets[:, None, None] * across_2d[None, None, :]
        + distances[None, :, None] * lateral_2d[None, None, :]
    )
    rel = points - ray_centre
    radius = np.hypot(rel[..., 0], rel[..., 1])
    theta = np.arctan2(rel[..., 1], rel[..., 0])
    r_pia = _radius_at(angles, pial, theta)
    r_dura = _radius_at(angles, dural, theta)
    csf = (radius >= r_pia + EDGE_MARGIN_MM) & (radius <= r_dura - EDGE_MARGIN_MM)
    coords = (points / spacing[:2]).reshape(-1, 2).T
    values = ndimage.map_coordinates(slice_image, coords, order=1, mode="nearest").reshape(radius.shape)
    counts = csf.sum(axis=1)
    inside_cord = radius <= r_pia
    last_inside = inside_cord.shape[1] - 1 - np.argmax(inside_cord[:, ::-1], axis=1)
    pia_index = np.where(inside_cord.any(axis=1), last_inside, 0)
    beyond = radius > r_dura
    dura_index = np.where(beyond.any(axis=1), np.argmax(beyond, axis=1), len(distances) - 1)
    profile = np.where(counts >= 5, (values * csf).sum(axis=1) / np.maximum(counts, 1), np.nan)
    return _SliceProfile(
        centre=centre,
        profile=profile,
        lateral_pia=distances[pia_index] + 0.05,
        lateral_dura=distances[dura_index] - 0.05,
    )


def _detect_dip(
    items: list[_SliceProfile], pixel_mm: float, noise_floor: float, equator_offset_mm: float
) -> tuple[float, int, float, float, DentateSource]:
    """(AP offset, its profile index, dip SNR, uncertainty, source) from profiles pooled along the cord.

    The ligament is a continuous sheet, so the profiles of the slices within ``POOL_HALF_LENGTH_MM``
    are averaged before the dip is sought (noise falls with the square root of their number).
    """
    offsets = OFFSETS_MM
    searched = np.abs(offsets) <= SEARCH_HALF_RANGE_MM + 1e-9
    equator = int(np.argmin(np.abs(offsets - equator_offset_mm)))
    stack = np.stack([item.profile for item in items])
    valid_rows = np.isfinite(stack)
    count = valid_rows.sum(axis=0)
    profile = np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)
    valid = np.isfinite(profile)

    def fallback(snr: float) -> tuple[float, int, float, float, DentateSource]:
        return (
            float(offsets[equator]),
            equator,
            snr,
            EQUATOR_RULE_UNCERTAINTY_MM,
            DentateSource.CORD_EQUATOR,
        )

    if (valid & searched).sum() < 0.6 * searched.sum():
        return fallback(0.0)
    # Smooth baseline (quadratic in the offset) fitted away from the deepest point, iteratively.
    weights = valid.copy()
    residual = np.zeros_like(profile)
    trough = equator
    for _ in range(3):
        coeffs = np.polyfit(offsets[weights], profile[weights], 2)
        residual = profile - np.polyval(coeffs, offsets)
        trough = int(np.argmin(np.where(valid & searched, residual, np.inf)))
        weights = valid & (np.abs(offsets - offsets[trough]) > 0.8)
        if weights.sum() < 8:
            return fallback(0.0)
    noise = max(float(np.std(residual[weights])), noise_floor / 10, 1e-9)
    depth = float(-residual[trough])
    snr = depth / noise
    edge = not (searched[trough - 1] and searched[trough + 1]) or not valid[trough - 1 : trough + 2].all()
    if snr < MIN_DIP_SNR or edge or depth < noise_floor:
        return fallback(snr)
    # Sub-sample minimum by a parabola through the trough and its neighbours.
    r0, r1, r2 = residual[trough - 1], residual[trough], residual[trough + 1]
    denom = r0 - 2 * r1 + r2
    shift = 0.5 * (r0 - r2) / denom if abs(denom) > 1e-12 else 0.0
    offset = float(offsets[trough] + np.clip(shift, -1.0, 1.0) * PROFILE_STEP_MM)
    k = int(np.clip(round((offset + PROFILE_HALF_RANGE_MM) / PROFILE_STEP_MM), 0, len(offsets) - 1))
    # Width of the dip at half depth gives the localisation uncertainty (width / SNR), plus half a pixel.
    half = residual < -depth / 2
    width = PROFILE_STEP_MM * max(1, int(half[max(0, trough - 20) : trough + 21].sum()))
    uncertainty = float(np.hypot(0.5 * pixel_mm, width / snr))
    return offset, k, snr, uncertainty, DentateSource.FILLING_DEFECT


def _consistent(items: tuple[DentateAttachment, ...]) -> tuple[DentateAttachment, ...]:
    """Filling-defect detections that jump away from their neighbours along the cord fall back.

    The ligament is a continuous sheet, so its attachment moves smoothly from slice to slice; a lone
    detection more than 1 mm from the median of its neighbours is noise.
    """
    if len(items) < 3:
        return items
    points = np.stack([a.pial_lps_mm for a in items])
    median = np.stack([ndimage.median_filter(points[:, i], size=5, mode="nearest") for i in range(3)], axis=1)
    result = []
    for item, point, centre in zip(items, points, median, strict=True):
        if item.source is DentateSource.FILLING_DEFECT and np.linalg.norm(point - centre) > 1.0:
            result.append(
                DentateAttachment(
                    side=item.side,
                    slice_index=item.slice_index,
                    pial_lps_mm=centre,
                    dural_lps_mm=item.dural_lps_mm,
                    source=item.source,
                    uncertainty_mm=max(item.uncertainty_mm, 1.0),
                    dip_snr=item.dip_snr,
                )
            )
        else:
            result.append(item)
    return tuple(result)
