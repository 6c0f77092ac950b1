"""Ground-truth geometry of a case, computed analytically in the anatomical frame and given in LPS mm.

The points are the ones the planning stages must find (DESIGN §4 ``plan.json``): the planning level, the
dentate-ligament attachment on the pial surface per side, the pial entry points for the leg and arm
offsets, the anatomical axes, whether a vertebral artery lies in the straight lateral path, and the cord
cross-section at C1-C2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.phantom.anatomy import C1_POSTERIOR_ARCH_Z, C2_LAMINA_TOP_Z, Anatomy
from pipeline.phantom.pose import Pose
from pipeline.phantom.shapes import polyline_distance_mm

__all__ = ["case_truth", "lateral_path_anatomical", "pial_point_anatomical", "pose_truth"]

LATERAL_PATH_REACH_MM = 45.0  # from the cord centre outwards: past the vertebral arteries (~27 mm)


def pial_point_anatomical(anatomy: Anatomy, side: str, v_mm: float) -> np.ndarray:
    """Point of the pial surface on the planning level at posterior coordinate ``v_mm`` on one side."""
    a, b = anatomy.cord.semi_axes_mm
    if abs(v_mm) >= b:
        raise ValueError(f"v = {v_mm} mm is outside the cord (AP semi-axis {b} mm)")
    sign = 1.0 if side == "left" else -1.0
    u = a * np.sqrt(1.0 - (v_mm / b) ** 2)
    return np.array([anatomy.cord_shift_mm + sign * u, v_mm, 0.0])


def lateral_path_anatomical(anatomy: Anatomy, side: str, v_mm: float, samples: int = 900) -> np.ndarray:
    """Straight lateral path (in the planning plane, along the left-right axis) from the pial point
    outwards; the coronal-plane needle of Rosomoff's technique (domain-facts §4)."""
    start = pial_point_anatomical(anatomy, side, v_mm)
    sign = 1.0 if side == "left" else -1.0
    end = np.array([sign * LATERAL_PATH_REACH_MM, v_mm, 0.0])
    t = np.linspace(0.0, 1.0, samples)[:, None]
    return start + t * (end - start)


def _as_list(vector: np.ndarray) -> list[float]:
    return [float(v) for v in vector]


def pose_truth(pose: Pose) -> dict[str, Any]:
    """A pose as the truth JSON states it: angles and the anatomical -> LPS matrix."""
    return {
        "yaw_deg": pose.yaw_deg,
        "pitch_deg": pose.pitch_deg,
        "roll_deg": pose.roll_deg,
        "lps_from_anatomical": [_as_list(row) for row in pose.matrix],
    }


def case_truth(anatomy: Anatomy, pose: Pose, *, leg_offset_mm: float, arm_offset_mm: float) -> dict[str, Any]:
    """Truth JSON content for the CT anatomy (LPS mm; vectors unit length)."""
    rotation = pose.rotation
    ligament_v = anatomy.ligament_dorsal_offset_mm
    radius = anatomy.va_diameter_mm / 2.0

    dentate = {}
    entries: dict[str, dict[str, list[float]]] = {}
    overlaps = {}
    clearance = {}
    centrelines = {}
    for side in ("left", "right"):
        dentate[side] = _as_list(pose.to_lps(pial_point_anatomical(anatomy, side, ligament_v)))
        entries[side] = {
            region: _as_list(pose.to_lps(pial_point_anatomical(anatomy, side, ligament_v - offset)))
            for region, offset in (("leg", leg_offset_mm), ("arm", arm_offset_mm))
        }
        path = anatomy.va_path(side)
        distances = [
            float(
                polyline_distance_mm(lateral_path_anatomical(anatomy, side, ligament_v - offset), path).min()
            )
            for offset in (leg_offset_mm, arm_offset_mm)
        ]
        clearance[side] = min(distances) - radius
        overlaps[side] = clearance[side] < 0.0
        centrelines[side] = [_as_list(p) for p in pose.to_lps(path)]

    cord_centre = pose.to_lps(np.array([anatomy.cord_shift_mm, 0.0, 0.0]))
    superior_point = anatomy.bone_point(np.array([0.0, 12.0, C1_POSTERIOR_ARCH_Z[0]]))
    inferior_point = anatomy.bone_point(np.array([0.0, 12.0, C2_LAMINA_TOP_Z]))
    window_superior = pose.to_lps(superior_point)
    window_inferior = pose.to_lps(inferior_point)
    return {
        "level": {
            "name": "C1-C2",
            "slice_lps_mm": _as_list(cord_centre),
            "normal_lps": _as_list(rotation[:, 2]),
        },
        "axes_lps": {
            "left": _as_list(rotation[:, 0]),
            "anterior": _as_list(-rotation[:, 1]),
            "superior": _as_list(rotation[:, 2]),
        },
        "pose": pose_truth(pose),
        "interlaminar_window": {
            "superior_lps_mm": _as_list(window_superior),
            "inferior_lps_mm": _as_list(window_inferior),
            "height_mm": float(superior_point[2] - inferior_point[2]),
        },
        "cord": {
            "ap_mm": anatomy.cord.ap_mm,
            "transverse_mm": anatomy.cord.transverse_mm,
            "area_mm2": anatomy.cord.area_mm2,
            "centroid_lps_mm": _as_list(cord_centre),
            "shift_in_sac_mm": anatomy.cord_shift_mm,
        },
        "dural_sac": {"ap_mm": anatomy.sac_ap_mm, "transverse_mm": anatomy.sac_transverse_mm},
        "dentate_ligament_lps_mm": dentate,
        "pial_entry_lps_mm": entries,
        "pial_entry_offset_mm": {"leg": leg_offset_mm, "arm": arm_offset_mm},
        "vertebral_artery": {
            "courses": dict(anatomy.va_courses),
            "diameter_mm": anatomy.va_diameter_mm,
            "overlaps_window": overlaps,
            "lateral_path_clearance_mm": clearance,
            "centreline_lps_mm": centrelines,
        },
    }
