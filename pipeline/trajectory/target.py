"""The somatotopic target rule: cordotomy side, the cord outline on the planning plane, pial entry and tip.

Rule (seeds/targeting.yaml; domain-facts §0, §3): the cordotomy is on the side opposite the pain
(Shepherd et al. AJNR 2017). On the planning plane (midway between the lower edge of the C1 posterior arch
and the upper edge of the C2 lamina, :mod:`pipeline.myelogram.planning_frame`), the needle crosses the pia
ventral to the dentate-ligament attachment by the pain region's offset (leg 1-2 mm, arm 2-3 mm; the
defaults are the midpoints), measured along the cord outline; the electrode tip lies beyond the pia along
the needle by the region's depth. The layout of the tract is contested (Honey et al. vs Lahuerta et al.
1994); the classic/Honey scheme is encoded and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from pipeline.errors import AnalysisError
from pipeline.myelogram import MyelogramResult
from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.seeds import Seeds

__all__ = [
    "PainRegion",
    "PainSide",
    "PlanningSection",
    "Somatotopy",
    "cordotomy_side",
    "pial_entry_frame_mm",
    "planning_section",
    "somatotopy",
]

# Outline points whose slice lies within this height of the planning plane (or 1.6 slice spacings,
# whichever is larger) are fitted to find where the pial surface cuts the plane.
OUTLINE_FIT_HALF_HEIGHT_MM = 2.0


class PainSide(StrEnum):
    """Side of the patient's pain (the cordotomy is on the other side)."""

    LEFT = "left"
    RIGHT = "right"


class PainRegion(StrEnum):
    """Body region of the pain; selects the somatotopic offsets and depths."""

    LEG = "leg"
    ARM = "arm"


def cordotomy_side(pain_side: PainSide | str) -> str:
    """The side to lesion: contralateral to the pain (seeds ``targeting.contralateral_rule``)."""
    return "right" if PainSide(pain_side) is PainSide.LEFT else "left"


def side_sign(side: str) -> float:
    """+1 for the patient's left (the frame's +x), -1 for the right."""
    return 1.0 if side == "left" else -1.0


@dataclass(frozen=True)
class PlanningSection:
    """The cord where the planning plane cuts it (frame mm: x left, y posterior; z = 0 on the plane).

    Attributes
    ----------
    outline_frame_mm : (K, 2) ndarray
        Closed pial outline, counter-clockwise seen from above, sub-voxel.
    centroid_frame_mm : (2,) ndarray
    area_mm2, ap_mm, transverse_mm : float
    """

    outline_frame_mm: np.ndarray
    centroid_frame_mm: np.ndarray
    area_mm2: float
    ap_mm: float
    transverse_mm: float


def planning_section(myelogram: MyelogramResult) -> PlanningSection:
    """The pial outline on the planning plane, from the per-slice outlines of the cord segmentation.

    Each slice's outline has one point per ray, the rays at the same angles on every slice, so the
    points of one ray across slices trace a line on the pial surface. Fitting each ray's points as a
    straight line against their height above the plane (slices within ``OUTLINE_FIT_HALF_HEIGHT_MM``)
    and evaluating it at height zero gives the surface's cut by the oblique plane, with sub-voxel
    precision and the noise of several slices averaged: a rotated or tilted head is handled as a
    straight one.
    """
    frame = myelogram.frame
    sections = myelogram.cord.cross_sections
    counts = {len(s.cord_outline_lps_mm) for s in sections}
    if not sections or len(counts) != 1:
        raise AnalysisError("cord outline not available on the planning level")
    outlines = np.stack([s.cord_outline_lps_mm for s in sections])  # (S, K, 3)
    local = frame.to_frame(outlines)
    heights = local[..., 2]
    slice_step = float(np.median(np.abs(np.diff(heights.mean(axis=1))))) if len(sections) > 1 else 1.0
    half = max(OUTLINE_FIT_HALF_HEIGHT_MM, 1.6 * slice_step)
    weight = (np.abs(heights) <= half).astype(np.float64)
    n = weight.sum(axis=0)
    if np.any(n < 1):
        raise AnalysisError("the cord segmentation does not reach the C1-C2 planning level")
    sh = (weight * heights).sum(axis=0)
    shh = (weight * heights**2).sum(axis=0)
    denominator = n * shh - sh**2
    xy = np.empty((local.shape[1], 2))
    for axis in (0, 1):
        values = local[..., axis]
        sv = (weight * values).sum(axis=0)
        shv = (weight * heights * values).sum(axis=0)
        fitted = np.where(
            np.abs(denominator) > 1e-9,
            (shh * sv - sh * shv) / np.where(denominator == 0, 1, denominator),
            sv / n,
        )
        xy[:, axis] = fitted
    # Light circular smoothing over neighbouring rays removes per-ray edge jitter (a 3-point mean shrinks
    # a 6 mm radius by under 0.01 mm).
    xy = (np.roll(xy, 1, axis=0) + xy + np.roll(xy, -1, axis=0)) / 3.0
    centre = xy.mean(axis=0)
    order = np.argsort(np.arctan2(xy[:, 1] - centre[1], xy[:, 0] - centre[0]))
    xy = xy[order]
    x, y = xy[:, 0], xy[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = 0.5 * float(cross.sum())
    if abs(area) < 1e-6:
        raise AnalysisError("degenerate cord outline on the planning level")
    cx = float(((x + np.roll(x, -1)) * cross).sum() / (6.0 * area))
    cy = float(((y + np.roll(y, -1)) * cross).sum() / (6.0 * area))
    if area < 0:
        xy = xy[::-1]
    return PlanningSection(
        outline_frame_mm=xy,
        centroid_frame_mm=np.array([cx, cy]),
        area_mm2=abs(area),
        ap_mm=float(np.ptp(y)),
        transverse_mm=float(np.ptp(x)),
    )


def _arc_lengths(closed: np.ndarray) -> np.ndarray:
    steps = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _point_at_arc(closed: np.ndarray, lengths: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Point and unit tangent of a closed polyline at arc length ``s`` (wrapped)."""
    total = lengths[-1]
    s = float(np.mod(s, total))
    k = int(np.clip(np.searchsorted(lengths, s, side="right") - 1, 0, len(closed) - 2))
    segment = closed[k + 1] - closed[k]
    length = float(np.linalg.norm(segment))
    t = 0.0 if length == 0 else (s - lengths[k]) / length
    return closed[k] + t * segment, segment / max(length, 1e-12)


def pial_entry_frame_mm(
    section: PlanningSection, ligament_frame_mm: np.ndarray, side: str, offset_mm: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pial entry ventral to the dentate ligament by ``offset_mm`` along the outline.

    Parameters
    ----------
    section : PlanningSection
    ligament_frame_mm : (2,) array-like
        The ligament's pial attachment on the plane (frame x, y); it is projected onto the outline.
    side : {"left", "right"}
    offset_mm : float
        Arc length along the pia, ventral (towards -y) from the attachment; seeds/targeting.yaml.

    Returns
    -------
    entry, attachment, normal : (2,) ndarrays
        The pial entry, the attachment projected onto the outline, and the outward unit normal of the
        pia at the entry (frame x, y).
    """
    closed = np.vstack([section.outline_frame_mm, section.outline_frame_mm[:1]])
    lengths = _arc_lengths(closed)
    point = np.asarray(ligament_frame_mm, dtype=np.float64)[:2]
    starts, segments = closed[:-1], np.diff(closed, axis=0)
    squared = np.maximum((segments**2).sum(axis=1), 1e-12)
    t = np.clip(((point - starts) * segments).sum(axis=1) / squared, 0.0, 1.0)
    nearest = starts + t[:, None] * segments
    k = int(np.argmin(np.linalg.norm(nearest - point, axis=1)))
    s_attachment = lengths[k] + t[k] * float(np.sqrt(squared[k]))
    attachment = nearest[k]
    options = [_point_at_arc(closed, lengths, s_attachment + sign * offset_mm) for sign in (1.0, -1.0)]
    # Ventral is -y; on the chosen side the attachment is lateral, so one direction goes ventrally.
    entry, tangent = min(options, key=lambda item: item[0][1])
    normal = np.array([tangent[1], -tangent[0]])  # outline is counter-clockwise: outward is to the right
    if np.dot(normal, entry - section.centroid_frame_mm) < 0:
        normal = -normal
    if side_sign(side) * (attachment[0] - section.centroid_frame_mm[0]) <= 0:
        raise AnalysisError(f"the {side} dentate ligament was found on the other side of the cord")
    return entry, attachment, normal / np.linalg.norm(normal)


@dataclass(frozen=True)
class Somatotopy:
    """The somatotopic rule used for the offsets and depths, with its uncertainty."""

    scheme: str
    rule: str
    uncertain: bool
    offset_mm: float
    offset_range_mm: tuple[float, float]
    depth_mm: float
    depth_range_mm: tuple[float, float]
    source: str
    alternatives: str

    def to_json(self) -> dict[str, object]:
        return {
            "scheme": self.scheme,
            "rule": self.rule,
            "uncertain": self.uncertain,
            "pial_entry_offset_mm": self.offset_mm,
            "pial_entry_offset_range_mm": list(self.offset_range_mm),
            "tip_depth_mm": self.depth_mm,
            "tip_depth_range_mm": list(self.depth_range_mm),
            "source": self.source,
            "alternatives": self.alternatives,
        }


def somatotopy(seeds: Seeds, region: PainRegion | str, cord_transverse_mm: float) -> Somatotopy:
    """The classic/Honey rule for one pain region, with the seeds' values and citations.

    The tip depths of seeds/ refer to a cord of ``targeting.target_depth_mm.reference_cord_transverse_mm``;
    they are scaled by this cord's transverse diameter, so the tip keeps its place in the tract.
    """
    region = PainRegion(region)
    name = region.value
    offset_key = f"targeting.pial_entry_offset_mm.{name}_default"
    depth_key = f"targeting.target_depth_mm.{name}_default"
    scale = cord_transverse_mm / seeds.number("targeting.target_depth_mm.reference_cord_transverse_mm")
    lo, hi = seeds.numbers(f"targeting.pial_entry_offset_mm.{name}")
    dlo, dhi = (scale * d for d in seeds.numbers(f"targeting.target_depth_mm.{name}"))
    depth_mm = scale * seeds.number(depth_key)
    where = (
        "dorsolateral and superficial, just anterior to the dentate ligament"
        if region is PainRegion.LEG
        else "ventromedial and deeper"
    )
    return Somatotopy(
        scheme="classic/Honey (lower limb dorsolateral-superficial, upper limb ventromedial-deep)",
        rule=(
            f"{name} fibres lie {where}: pial entry {seeds.number(offset_key):g} mm ventral to the dentate "
            f"ligament along the pia, tip {depth_mm:.2f} mm beyond the pia along the needle "
            f"({seeds.number(depth_key):g} mm scaled by the cord's transverse diameter, {cord_transverse_mm:.1f} mm)"
        ),
        uncertain=bool(seeds.value("targeting.somatotopy_uncertain")),
        offset_mm=seeds.number(offset_key),
        offset_range_mm=(lo, hi),
        depth_mm=depth_mm,
        depth_range_mm=(dlo, dhi),
        source=f"{seeds[offset_key].source}; {seeds[depth_key].source}",
        alternatives=seeds["targeting.somatotopy_uncertain"].source,
    )


def ligament_on_plane_frame_mm(myelogram: MyelogramResult, side: str) -> tuple[np.ndarray, float, str]:
    """The dentate ligament's pial attachment on the planning plane: (frame x, y), uncertainty, source."""
    attachment = myelogram.dentate_at_planning_level(side)
    if attachment is None:
        raise AnalysisError(f"dentate ligament not found on the {side} side at the C1-C2 planning level")
    local = myelogram.frame.to_frame(attachment.pial_lps_mm)
    return local[:2], float(attachment.uncertainty_mm), str(attachment.source.value)


def frame_point_lps(frame: AnatomicalFrame, xy: np.ndarray) -> np.ndarray:
    """A point on the planning plane (frame x, y; z = 0) in LPS mm."""
    return frame.to_lps(np.array([float(xy[0]), float(xy[1]), 0.0]))
