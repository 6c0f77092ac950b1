"""Clearances of a needle path from bone and the vertebral arteries, window overlap, and the plan's flags.

Margins come from seeds/safety.yaml: bone ``bone_margin_mm``; artery ``vertebral_artery_margin_mm`` from
the artery's wall to the needle axis (domain-facts §5 EST, 3 mm: 20G needle radius plus registration
error). An artery course estimated from the transverse foramina (no vascular series) is off by up to
``vertebral_artery_estimate_uncertainty_mm`` (4.5 mm: the 90th-percentile distance of the true course near
the window is at most 3.7 mm on the fixed phantom variants and 4.4 mm on random family draws with normal
courses) and cannot show a loop or a persistent first intersegmental artery at all, so its clearance must
exceed the margin plus that uncertainty, and such a plan always asks for a CTA/MRA review. An artery that
is not known (at all, or on the needle's side) is never reported as clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import ndimage

from pipeline.contract import Label
from pipeline.myelogram import ArterySource, MyelogramResult, VertebralArtery
from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.seeds import Seeds
from pipeline.volume import Volume

__all__ = [
    "ArteryModel",
    "Flag",
    "Severity",
    "artery_mask",
    "artery_model",
    "bone_mask",
    "lateral_path_clearance_mm",
    "segment_artery_clearance_mm",
    "surface_distance_mm",
]

# The straight lateral path used for the window-overlap question reaches this far from the cord centre:
# past the vertebral arteries (~27 mm from the midline, domain-facts §5).
LATERAL_REACH_MM = 45.0
# Clearance maps are exact up to this distance (mm); larger clearances are reported as this value.
DISTANCE_CAP_MM = 10.0


class Severity(StrEnum):
    """How much a flag matters to the operator (``plan.json`` ``flags[].severity``)."""

    INFO = "info"
    WARNING = "warning"
    DANGER = "danger"


@dataclass(frozen=True)
class Flag:
    """One finding for the operator; codes are UPPER_SNAKE_CASE and documented in README."""

    code: str
    severity: Severity
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity.value, "message": self.message}


@dataclass(frozen=True)
class ArteryModel:
    """What is known of the vertebral arteries and how far to trust it.

    Attributes
    ----------
    source : ArterySource
    arteries : dict
        ``side -> VertebralArtery`` (centreline and radius), possibly empty.
    uncertainty_mm : float or None
        Extra distance the course may be off (foramina estimate); None when segmented on a vascular
        series (its registration error is inside the margin itself) or when unknown.
    required_clearance_mm : float
        Margin (+ uncertainty for an estimate) a path must keep from the artery wall.
    """

    source: ArterySource
    arteries: dict[str, VertebralArtery]
    uncertainty_mm: float | None
    margin_mm: float
    required_clearance_mm: float


def artery_model(myelogram: MyelogramResult, seeds: Seeds) -> ArteryModel:
    """The arteries of the myelogram result with the margin a path must keep from them."""
    margin = seeds.number("safety.vertebral_artery_margin_mm")
    source = myelogram.artery_source
    if source is ArterySource.FORAMINA_ESTIMATE and myelogram.arteries:
        uncertainty = seeds.number("safety.vertebral_artery_estimate_uncertainty_mm")
        return ArteryModel(source, dict(myelogram.arteries), uncertainty, margin, margin + uncertainty)
    if source is ArterySource.VASCULAR_SERIES and myelogram.arteries:
        return ArteryModel(source, dict(myelogram.arteries), None, margin, margin)
    return ArteryModel(ArterySource.NONE, {}, None, margin, margin)


def surface_distance_mm(
    mask: np.ndarray, spacing_mm: np.ndarray, box: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Distance (mm) from every voxel centre of ``box`` to the surface of ``mask`` (negative inside).

    The Euclidean distance transform measures centre to centre; half the smallest voxel edge brings it
    to the structure's surface, so a path grazing bone has a clearance near zero, through it negative.
    ``box`` (low, high voxel indices) restricts the transform to the region the paths cross, padded by
    ``DISTANCE_CAP_MM``: distances up to the cap are exact there, larger ones are capped.
    """
    lo, hi = box if box is not None else (np.zeros(3, dtype=int), np.asarray(mask.shape))
    crop = np.asarray(mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], dtype=bool)
    half_voxel = 0.5 * float(np.min(spacing_mm))
    if not crop.any():
        return np.full(crop.shape, DISTANCE_CAP_MM, dtype=np.float32)
    distance = ndimage.distance_transform_edt(~crop, sampling=spacing_mm)
    return np.minimum(np.where(crop, -half_voxel, distance - half_voxel), DISTANCE_CAP_MM).astype(np.float32)


def bone_mask(labels: Volume) -> np.ndarray:
    """C1, C2 and other bone of the contract label map."""
    return np.isin(np.asarray(labels.array), [int(Label.C1), int(Label.C2), int(Label.OTHER_BONE)])


def artery_mask(labels: Volume) -> np.ndarray | None:
    """Segmented vertebral-artery lumens (labels 6, 7; only a vascular series gives them), else None.

    The mask follows a loop exactly as segmented, where a centreline (a skeleton path, smoothed) may cut
    across it: on the phantom's looping artery the centreline-based clearance was about 2 mm too
    optimistic, the mask's within 0.2 mm. The plan takes the smaller of the two.
    """
    lumen = np.isin(
        np.asarray(labels.array), [int(Label.LEFT_VERTEBRAL_ARTERY), int(Label.RIGHT_VERTEBRAL_ARTERY)]
    )
    return lumen if lumen.any() else None


def segment_artery_clearance_mm(
    starts_lps_mm: np.ndarray, ends_lps_mm: np.ndarray, artery: VertebralArtery
) -> np.ndarray:
    """Clearance (mm) from the artery wall to each needle segment (negative: the needle crosses it).

    Parameters
    ----------
    starts_lps_mm, ends_lps_mm : (N, 3) ndarray
        Needle segments, skin entry to target.
    artery : VertebralArtery
        Centreline (M points) and radius.
    """
    points = np.asarray(artery.centerline_lps_mm, dtype=np.float64)
    starts = np.asarray(starts_lps_mm, dtype=np.float64)
    segments = np.asarray(ends_lps_mm, dtype=np.float64) - starts
    squared = np.maximum((segments**2).sum(axis=1), 1e-12)
    relative = points[None, :, :] - starts[:, None, :]  # (N, M, 3)
    t = np.clip((relative * segments[:, None, :]).sum(axis=2) / squared[:, None], 0.0, 1.0)
    nearest = starts[:, None, :] + t[..., None] * segments[:, None, :]
    distance = np.linalg.norm(points[None, :, :] - nearest, axis=2).min(axis=1)
    return distance - float(artery.radius_mm)


def lateral_path_clearance_mm(
    artery: VertebralArtery, pial_entry_lps_mm: np.ndarray, frame: AnatomicalFrame, side: str
) -> float:
    """Clearance between the artery's wall and a straight lateral needle path (negative: it is crossed).

    The path is Rosomoff's coronal-plane puncture (domain-facts §4): from the pial entry point straight
    out along the frame's left-right axis, in the planning plane, to ``LATERAL_REACH_MM`` from the cord
    centre (beyond the vertebral arteries, ~27 mm from the midline). This is the question "does the
    artery lie over the lateral C1-C2 window" (31 %, Katoh et al. 1990 via Shepherd et al. 2017).
    """
    sign = 1.0 if side == "left" else -1.0
    start = frame.to_frame(pial_entry_lps_mm)
    end = np.array([sign * LATERAL_REACH_MM, start[1], start[2]])
    start_lps, end_lps = frame.to_lps(start), frame.to_lps(end)
    return float(segment_artery_clearance_mm(start_lps[None, :], end_lps[None, :], artery)[0])


@dataclass(frozen=True)
class WindowAssessment:
    """Does a vertebral artery lie over the lateral C1-C2 window, per side?

    ``overlaps`` is True where the artery crosses the straight lateral path to the leg or arm pial entry
    (vascular series), or where that cannot be excluded: an estimated course within the margin plus its
    uncertainty, or no artery information at all. ``clearance_mm`` is the wall-to-path clearance of the
    artery as known (None when unknown).
    """

    overlaps: dict[str, bool]
    clearance_mm: dict[str, float | None]

    def to_json(self) -> dict[str, object]:
        return {
            "overlaps_window": dict(self.overlaps),
            "lateral_path_clearance_mm": {
                side: (None if value is None else round(value, 3))
                for side, value in self.clearance_mm.items()
            },
        }


def window_assessment(
    arteries: ArteryModel, frame: AnatomicalFrame, pial_entries_lps_mm: dict[str, list[np.ndarray]]
) -> WindowAssessment:
    """Window overlap on both sides from the pial entries of the leg and arm targets of each side."""
    overlaps: dict[str, bool] = {}
    clearance: dict[str, float | None] = {}
    for side in ("left", "right"):
        artery = arteries.arteries.get(side)
        entries = pial_entries_lps_mm.get(side, [])
        if artery is None or not entries:
            overlaps[side] = True
            clearance[side] = None
            continue
        distance = min(lateral_path_clearance_mm(artery, entry, frame, side) for entry in entries)
        clearance[side] = float(distance)
        if arteries.source is ArterySource.VASCULAR_SERIES:
            overlaps[side] = bool(distance < 0.0)
        else:
            overlaps[side] = bool(distance < arteries.required_clearance_mm)
    return WindowAssessment(overlaps, clearance)


def artery_flags(
    arteries: ArteryModel,
    window: WindowAssessment,
    side: str,
    chosen_clearance_mm: float | None,
) -> list[Flag]:
    """Flags about the vertebral arteries for the cordotomy ``side`` and the chosen path."""
    flags: list[Flag] = []
    margin = arteries.margin_mm
    if arteries.source is ArterySource.NONE:
        flags.append(
            Flag(
                "VERTEBRAL_ARTERY_UNKNOWN",
                Severity.DANGER,
                "the vertebral arteries could not be located (no vascular series and no transverse foramina "
                "found): their clearance is unknown, not clear; review a CTA or MRA before the puncture",
            )
        )
    elif arteries.source is ArterySource.FORAMINA_ESTIMATE:
        flags.append(
            Flag(
                "VERTEBRAL_ARTERY_ESTIMATED",
                Severity.WARNING,
                "vertebral arteries only estimated from the C1/C2 transverse foramina (CT myelogram without "
                f"intravenous contrast; about {arteries.uncertainty_mm:g} mm uncertain, and a loop or a "
                "persistent first intersegmental artery cannot be seen): review a CTA or MRA",
            )
        )
    if window.overlaps.get(side, True) and arteries.source is not ArterySource.NONE:
        if side not in arteries.arteries:
            missing = (
                "its C1 transverse foramen was not found"
                if arteries.source is ArterySource.FORAMINA_ESTIMATE
                else "not found on the vascular series"
            )
            how = f"could not be located ({missing}): it may lie over the window"
        elif arteries.source is ArterySource.VASCULAR_SERIES:
            how = "crosses the straight lateral path"
        else:
            how = "may lie over the window (estimate within the margin plus its uncertainty)"
        flags.append(
            Flag(
                "VERTEBRAL_ARTERY_OVER_WINDOW",
                Severity.DANGER,
                f"the {side} vertebral artery {how} at the {side} C1-C2 window, the cordotomy side",
            )
        )
    if chosen_clearance_mm is not None and chosen_clearance_mm < arteries.required_clearance_mm:
        extra = (
            f" (margin {margin:g} mm + estimate uncertainty {arteries.uncertainty_mm:g} mm)"
            if arteries.uncertainty_mm is not None
            else f" (margin {margin:g} mm)"
        )
        flags.append(
            Flag(
                "VERTEBRAL_ARTERY_WITHIN_MARGIN",
                Severity.DANGER,
                f"the planned needle passes {chosen_clearance_mm:.1f} mm from the vertebral artery wall, less "
                f"than the required {arteries.required_clearance_mm:g} mm{extra}",
            )
        )
    return flags
