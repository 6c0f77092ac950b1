"""The plan: :func:`plan_trajectory` runs the stage and :class:`Plan` is its result and ``plan.json``.

``plan.json`` (``"schema": "cordotomy.plan/1"``) follows DESIGN.md §4 and is validated against
``pipeline/contract/schemas/plan.schema.json`` by the writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.errors import AnalysisError, UsageError
from pipeline.myelogram import MyelogramResult
from pipeline.seeds import Seeds
from pipeline.trajectory.impedance import ImpedanceSegment, expected_impedance
from pipeline.trajectory.safety import (
    ArteryModel,
    Flag,
    Severity,
    WindowAssessment,
    artery_flags,
    artery_model,
    window_assessment,
)
from pipeline.trajectory.search import PathCandidate, SearchResult, search_paths
from pipeline.trajectory.target import (
    PainRegion,
    PainSide,
    PlanningSection,
    Somatotopy,
    cordotomy_side,
    frame_point_lps,
    ligament_on_plane_frame_mm,
    pial_entry_frame_mm,
    planning_section,
    somatotopy,
)
from pipeline.volume import Volume

__all__ = ["SCHEMA", "Plan", "assess_window", "plan_trajectory"]

SCHEMA = "cordotomy.plan/1"
# Seed groups echoed in ``parameters`` (every value the stage reads).
_PARAMETER_PREFIXES = ("targeting.", "safety.", "electrode.impedance_ohm.", "electrode.electrode.")


def _vector(values: np.ndarray, digits: int = 3) -> list[float]:
    return [round(float(v), digits) for v in values]


@dataclass(frozen=True)
class Plan:
    """Result of the trajectory stage (LPS mm throughout); :meth:`to_json` is ``plan.json``."""

    cordotomy_side: str
    pain_side: str
    pain_region: str
    level: dict[str, Any]
    dentate_ligament_lps_mm: np.ndarray
    dentate: dict[str, Any]
    pial_entry_lps_mm: np.ndarray
    target_lps_mm: np.ndarray
    chosen: PathCandidate
    search: SearchResult
    arteries: ArteryModel
    window: WindowAssessment
    section: PlanningSection
    cord_centroid_lps_mm: np.ndarray
    impedance: tuple[ImpedanceSegment, ...]
    flags: tuple[Flag, ...]
    somatotopy: Somatotopy
    parameters: dict[str, dict[str, Any]]
    interlaminar_window: dict[str, Any] = field(default_factory=dict)
    source_series: dict[str, Any] | None = None

    @property
    def skin_entry_lps_mm(self) -> np.ndarray:
        return self.chosen.skin_entry_lps_mm

    @property
    def direction_lps(self) -> np.ndarray:
        return self.chosen.direction_lps

    @property
    def safe(self) -> bool:
        """True when no danger flag was raised."""
        return not any(f.severity is Severity.DANGER for f in self.flags)

    def to_json(self) -> dict[str, Any]:
        """The complete ``plan.json`` document."""
        chosen = self.chosen
        artery_clearance = chosen.artery_clearance_mm  # None when the needle side's artery is unknown
        arteries = {
            side: {
                "centerline_lps_mm": [_vector(p, 2) for p in artery.centerline_lps_mm],
                "radius_mm": round(float(artery.radius_mm), 3),
            }
            for side, artery in self.arteries.arteries.items()
        }
        return {
            "schema": SCHEMA,
            "cordotomy_side": self.cordotomy_side,
            "pain": {"side": self.pain_side, "region": self.pain_region},
            "level": self.level,
            "dentate_ligament_lps_mm": _vector(self.dentate_ligament_lps_mm),
            "dentate_ligament": self.dentate,
            "pial_entry_lps_mm": _vector(self.pial_entry_lps_mm),
            "target_lps_mm": _vector(self.target_lps_mm),
            "skin_entry_lps_mm": _vector(chosen.skin_entry_lps_mm),
            "skin_entry_in_field_of_view": chosen.skin_in_field_of_view,
            "direction_lps": _vector(chosen.direction_lps, 5),
            "angles_deg": {
                "axial": round(chosen.axial_angle_deg, 2),
                "coronal": round(chosen.coronal_angle_deg, 2),
                "pial_incidence": round(chosen.pial_incidence_deg, 2),
            },
            "depths_mm": {
                "skin_to_dura": round(chosen.skin_to_dura_mm, 2),
                "skin_to_pia": round(chosen.skin_to_pia_mm, 2),
                "pia_to_target": round(chosen.pia_to_target_mm, 2),
            },
            "clearances_mm": {
                "vertebral_artery": None if artery_clearance is None else round(artery_clearance, 2),
                "bone": round(chosen.bone_clearance_mm, 2),
            },
            "vertebral_artery": {
                "source": self.arteries.source.value,
                **self.window.to_json(),
                "uncertainty_mm": self.arteries.uncertainty_mm,
                "margin_mm": self.arteries.margin_mm,
                "required_clearance_mm": self.arteries.required_clearance_mm,
                "estimate": self.arteries.source.value != "vascular_series",
                "arteries": arteries,
            },
            "interlaminar_window": self.interlaminar_window,
            "cord": {
                "ap_mm": round(self.section.ap_mm, 3),
                "transverse_mm": round(self.section.transverse_mm, 3),
                "area_mm2": round(self.section.area_mm2, 3),
                "centroid_lps_mm": _vector(self.cord_centroid_lps_mm),
            },
            "expected_impedance": [segment.to_json() for segment in self.impedance],
            "flags": [flag.to_json() for flag in self.flags],
            "safe_trajectory_found": self.search.safe_path_found,
            "candidates": [candidate.to_json() for candidate in self.search.candidates],
            "somatotopy": self.somatotopy.to_json(),
            "parameters": self.parameters,
            "source_series": self.source_series,
        }


def _source_series(ct: Volume) -> dict[str, Any]:
    """Series number, description and UID of the CT (never patient data), from its provenance."""
    return ct.provenance.to_json()


def _pial_entries(
    myelogram: MyelogramResult, section: PlanningSection, seeds: Seeds
) -> dict[str, list[np.ndarray]]:
    """Leg and arm pial entries (LPS) on both sides, for the window-overlap question."""
    result: dict[str, list[np.ndarray]] = {}
    for side in ("left", "right"):
        try:
            ligament, _, _ = ligament_on_plane_frame_mm(myelogram, side)
        except AnalysisError:
            continue
        result[side] = [
            frame_point_lps(
                myelogram.frame,
                pial_entry_frame_mm(section, ligament, side, somatotopy(seeds, r, section.transverse_mm).offset_mm)[0],
            )
            for r in PainRegion
        ]
    return result


def assess_window(myelogram: MyelogramResult, seeds: Seeds) -> WindowAssessment:
    """Vertebral-artery overlap of the lateral C1-C2 window on both sides (also for ``segment``)."""
    section = planning_section(myelogram)
    return window_assessment(
        artery_model(myelogram, seeds), myelogram.frame, _pial_entries(myelogram, section, seeds)
    )


def _head_rotation_deg(myelogram: MyelogramResult) -> float:
    """Angle (degrees) of the anatomical frame from the scanner's LPS axes."""
    rotation = myelogram.frame.rotation
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))


def _sac_offset_mm(myelogram: MyelogramResult) -> float | None:
    """Lateral offset (mm, + left) of the cord centre from the dural sac's centre near the planning level."""
    frame = myelogram.frame
    sections = myelogram.cord.cross_sections
    if not sections:
        return None
    heights = np.array([np.dot(s.center_lps_mm - frame.origin_lps_mm, frame.superior_lps) for s in sections])
    nearest = sections[int(np.argmin(np.abs(heights)))]
    sac = frame.to_frame(nearest.sac_outline_lps_mm)
    cord = frame.to_frame(nearest.cord_outline_lps_mm)
    return float(0.5 * (cord[:, 0].max() + cord[:, 0].min()) - 0.5 * (sac[:, 0].max() + sac[:, 0].min()))


def plan_trajectory(
    myelogram: MyelogramResult,
    ct: Volume,
    *,
    pain_side: PainSide | str,
    pain_region: PainRegion | str,
    seeds: Seeds,
) -> Plan:
    """Plan the lateral C1-C2 percutaneous cordotomy for one patient.

    Parameters
    ----------
    myelogram : MyelogramResult
        The myelogram stage's result on ``ct`` (labels, frame, dentate ligaments, arteries).
    ct : Volume
        The CT myelogram (HU) the labels live on (skin is found on it).
    pain_side : {"left", "right"}
    pain_region : {"leg", "arm"}
    seeds : Seeds
        Parameters (offsets, depths, margins, angle ranges, impedances) with their sources.

    Raises
    ------
    AnalysisError
        The myelogram has no C1/C2 (planning needs the CT myelogram's bone) or no dentate ligament.
    """
    try:
        side_of_pain = PainSide(pain_side)
        region = PainRegion(pain_region)
    except ValueError as exc:
        raise UsageError(f"unknown pain side or region: {exc}") from None
    myelogram.require_vertebrae()
    side = cordotomy_side(side_of_pain)
    frame = myelogram.frame
    section = planning_section(myelogram)
    rule = somatotopy(seeds, region, section.transverse_mm)
    ligament, ligament_uncertainty, ligament_source = ligament_on_plane_frame_mm(myelogram, side)
    entry, attachment, normal = pial_entry_frame_mm(section, ligament, side, rule.offset_mm)
    arteries = artery_model(myelogram, seeds)
    window = window_assessment(arteries, frame, _pial_entries(myelogram, section, seeds))
    search = search_paths(
        frame=frame,
        side=side,
        pial_entry_frame_mm=entry,
        pial_normal_frame=normal,
        ligament_y_mm=float(attachment[1]),
        depth_mm=rule.depth_mm,
        ct=ct,
        labels=myelogram.labels,
        arteries=arteries,
        seeds=seeds,
    )
    chosen = search.chosen
    impedance = expected_impedance(
        skin_to_dura_mm=chosen.skin_to_dura_mm,
        skin_to_pia_mm=chosen.skin_to_pia_mm,
        skin_to_target_mm=chosen.skin_to_target_mm,
        seeds=seeds,
    )

    flags = artery_flags(arteries, window, side, chosen.artery_clearance_mm)
    if not search.safe_path_found:
        reasons = "; ".join(chosen.reasons) or "no candidate met the margins"
        flags.append(
            Flag(
                "NO_SAFE_TRAJECTORY",
                Severity.DANGER,
                f"no straight path within the allowed angles keeps the margins; the least unsafe one is shown "
                f"({reasons})",
            )
        )
    if ligament_source != "filling_defect":
        flags.append(
            Flag(
                "DENTATE_LIGAMENT_ESTIMATED",
                Severity.WARNING,
                f"the {side} dentate ligament is not visible as a filling defect at C1-C2; its attachment is "
                f"placed by the cord-equator rule, uncertain by about {ligament_uncertainty:.1f} mm",
            )
        )
    csf_mm = chosen.skin_to_pia_mm - chosen.skin_to_dura_mm
    shift = _sac_offset_mm(myelogram)
    shift_text = (
        ""
        if shift is None
        else f"; the cord lies {abs(shift):.1f} mm to the {'left' if shift >= 0 else 'right'} of the sac's centre"
    )
    flags.append(
        Flag(
            "CORD_DISPLACEMENT_EXPECTED",
            Severity.INFO,
            f"the needle crosses {csf_mm:.1f} mm of CSF before the pia{shift_text}; the cord is usually pushed "
            "away from the electrode (all three cases of the primary reference): confirm the tip on CT and by "
            "impedance before lesioning",
        )
    )
    rotation = _head_rotation_deg(myelogram)
    if rotation > seeds.number("targeting.head_rotation_report_deg"):
        flags.append(
            Flag(
                "HEAD_ROTATED",
                Severity.INFO,
                f"the head is turned {rotation:.1f}° from the scanner axes; the plan is made in the patient's "
                "anatomical frame, so angles are relative to the anatomy, not to the gantry",
            )
        )
    if not chosen.skin_in_field_of_view:
        flags.append(
            Flag(
                "SKIN_OUTSIDE_FIELD_OF_VIEW",
                Severity.INFO,
                "the path leaves the image before reaching the skin: the skin entry shown is where it leaves "
                "the field of view and the skin depths are lower bounds",
            )
        )
    if rule.uncertain:
        flags.append(
            Flag(
                "SOMATOTOPY_UNCERTAIN",
                Severity.INFO,
                "the layout of the spinothalamic tract is contested (Honey et al. vs Lahuerta et al. 1994); the "
                "classic/Honey scheme is used: confirm with sensory stimulation before lesioning",
            )
        )
    order = {Severity.DANGER: 0, Severity.WARNING: 1, Severity.INFO: 2}
    flags.sort(key=lambda f: order[f.severity])

    parameters = {
        key: seed.as_dict()
        for key, seed in sorted(seeds.items())
        if key.startswith(_PARAMETER_PREFIXES) or key in ("ct.hu.air", "ct.hu.fat")
    }
    windows = dict(myelogram.windows)
    return Plan(
        cordotomy_side=side,
        pain_side=side_of_pain.value,
        pain_region=region.value,
        level={
            "name": "C1-C2",
            "slice_lps_mm": _vector(frame.origin_lps_mm),
            "normal_lps": _vector(frame.superior_lps, 5),
        },
        dentate_ligament_lps_mm=frame_point_lps(frame, attachment),
        dentate={"source": ligament_source, "uncertainty_mm": round(ligament_uncertainty, 3)},
        pial_entry_lps_mm=frame_point_lps(frame, entry),
        target_lps_mm=chosen.target_lps_mm,
        chosen=chosen,
        search=search,
        arteries=arteries,
        window=window,
        section=section,
        cord_centroid_lps_mm=frame_point_lps(frame, section.centroid_frame_mm),
        impedance=tuple(impedance),
        flags=tuple(flags),
        somatotopy=rule,
        parameters=parameters,
        interlaminar_window=windows,
        source_series=_source_series(ct),
    )
