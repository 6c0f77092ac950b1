"""Candidate straight needle paths from the lateral neck through the C1-C2 window to the target.

Every path passes through the pial entry point fixed by the somatotopic rule (:mod:`target`); what varies
is its direction, sampled every ``targeting.path_search_step_deg`` over the allowed angles to the
anatomical axial plane (``targeting.needle_axial_angle_deg``) and coronal plane
(``targeting.needle_coronal_angle_deg``). All rays are sampled at once through the label map, the bone
distance map and the CT (numpy, one ``map_coordinates`` call each): dura and skin crossings, bone
clearance, crossing of the dentate ligament; artery clearances are exact point-to-segment distances.
Each path gets a score in [0, 1]; the best feasible one is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.contract import Label
from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.seeds import Seeds
from pipeline.trajectory.safety import (
    DISTANCE_CAP_MM,
    ArteryModel,
    artery_mask,
    bone_mask,
    segment_artery_clearance_mm,
    surface_distance_mm,
)
from pipeline.volume import Volume

__all__ = ["PathCandidate", "SearchResult", "search_paths"]

# Rays are followed outwards from the pia this far (beyond any neck's skin) in steps of RAY_STEP_MM.
RAY_REACH_MM = 120.0
RAY_STEP_MM = 0.25
# Score weights (a planning design choice, not clinical values): angles, pial incidence, bone and artery
# clearance, skin-to-target depth.
SCORE_WEIGHTS = {"angles": 0.30, "incidence": 0.20, "bone": 0.15, "artery": 0.25, "depth": 0.10}
_SAC_LABELS = (int(Label.CSF), int(Label.CORD), int(Label.DENTATE_LIGAMENT))


@dataclass(frozen=True)
class PathCandidate:
    """One straight path: skin entry -> pial entry -> target (LPS mm), with its measures."""

    direction_lps: np.ndarray  # unit, skin -> target
    skin_entry_lps_mm: np.ndarray
    skin_in_field_of_view: bool
    target_lps_mm: np.ndarray
    axial_angle_deg: float  # to the anatomical axial plane; + : skin entry superior (needle runs caudally)
    coronal_angle_deg: float  # to the anatomical coronal plane; + : skin entry posterior
    pial_incidence_deg: float  # between the needle and the pial normal
    skin_to_dura_mm: float
    skin_to_pia_mm: float
    pia_to_target_mm: float
    bone_clearance_mm: float
    artery_clearance_mm: float | None
    crosses_dentate_ligament: bool
    feasible: bool
    reasons: tuple[str, ...]
    score: float

    @property
    def skin_to_target_mm(self) -> float:
        return self.skin_to_pia_mm + self.pia_to_target_mm

    def to_json(self) -> dict[str, object]:
        return {
            "direction_lps": [round(float(v), 5) for v in self.direction_lps],
            "skin_entry_lps_mm": [round(float(v), 3) for v in self.skin_entry_lps_mm],
            "target_lps_mm": [round(float(v), 3) for v in self.target_lps_mm],
            "angles_deg": {
                "axial": round(self.axial_angle_deg, 2),
                "coronal": round(self.coronal_angle_deg, 2),
                "pial_incidence": round(self.pial_incidence_deg, 2),
            },
            "skin_to_target_mm": round(self.skin_to_target_mm, 2),
            "clearances_mm": {
                "vertebral_artery": (
                    None if self.artery_clearance_mm is None else round(self.artery_clearance_mm, 2)
                ),
                "bone": round(self.bone_clearance_mm, 2),
            },
            "feasible": self.feasible,
            "reasons": list(self.reasons),
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class SearchResult:
    """All candidates, best first; ``chosen`` is the best feasible one (or the least unsafe)."""

    candidates: tuple[PathCandidate, ...]
    chosen: PathCandidate
    safe_path_found: bool


def _angles_deg(seeds: Seeds, key: str, step: float) -> np.ndarray:
    lo, hi = seeds.numbers(key)
    values = np.unique(np.concatenate([np.arange(0.0, hi + 1e-9, step), -np.arange(0.0, -lo + 1e-9, step)]))
    return values[(values >= lo - 1e-9) & (values <= hi + 1e-9)]


def _sample(volume_array: np.ndarray, index: np.ndarray, order: int, cval: float) -> np.ndarray:
    shape = index.shape[:-1]
    coords = index.reshape(-1, 3).T
    # float output: CT HU may come as int16, and interpolated values are not whole numbers.
    values = ndimage.map_coordinates(
        volume_array, coords, output=np.float32, order=order, mode="constant", cval=cval
    )
    return values.reshape(shape)


def search_paths(
    *,
    frame: AnatomicalFrame,
    side: str,
    pial_entry_frame_mm: np.ndarray,
    pial_normal_frame: np.ndarray,
    ligament_y_mm: float,
    depth_mm: float,
    ct: Volume,
    labels: Volume,
    arteries: ArteryModel,
    seeds: Seeds,
) -> SearchResult:
    """Sample, measure and score straight paths through the pial entry; choose the best.

    Parameters
    ----------
    frame : AnatomicalFrame
        Planning frame (x left, y posterior, z superior; origin on the planning plane).
    side : {"left", "right"}
        Cordotomy side; the needle comes from that side.
    pial_entry_frame_mm : (2,) ndarray
        Pial entry on the planning plane (frame x, y).
    pial_normal_frame : (2,) ndarray
        Outward unit normal of the pia there.
    ligament_y_mm : float
        The dentate ligament's frame y; the path must stay ventral to it inside the sac.
    depth_mm : float
        Tip depth beyond the pia along the path.
    ct, labels : Volume
        The CT (HU) and the contract label map on the same grid (bone and, from a vascular series,
        artery lumens: the artery clearance is the smaller of the centreline's and the lumen mask's).
    arteries : ArteryModel
    seeds : Seeds
    """
    sign = 1.0 if side == "left" else -1.0
    step = seeds.number("targeting.path_search_step_deg")
    axial = np.radians(_angles_deg(seeds, "targeting.needle_axial_angle_deg", step))
    coronal = np.radians(_angles_deg(seeds, "targeting.needle_coronal_angle_deg", step))
    elevation, azimuth = (a.ravel() for a in np.meshgrid(axial, coronal, indexing="ij"))
    outward = np.stack(
        [sign * np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)],
        axis=1,
    )  # (N, 3) frame, from the pia towards the skin
    entry = np.array([pial_entry_frame_mm[0], pial_entry_frame_mm[1], 0.0])
    distances = np.arange(0.0, RAY_REACH_MM + 1e-9, RAY_STEP_MM)
    points_frame = entry[None, None, :] + distances[None, :, None] * outward[:, None, :]  # (N, T, 3)
    index = ct.lps_to_index(frame.to_lps(points_frame).reshape(-1, 3)).reshape(*points_frame.shape)
    shape = np.asarray(ct.array.shape[:3])
    inside = np.all((index >= -0.5) & (index <= shape - 0.5), axis=2)
    label = _sample(np.asarray(labels.array), index, 0, 0.0).astype(np.int16)
    # Distance maps only over the box the rays cross (padded by the cap): the transform of the whole
    # grid cost seconds, the box a fraction of that.
    pad = np.ceil(DISTANCE_CAP_MM / np.asarray(labels.spacing_mm)).astype(int) + 1
    reached = index[inside]
    box = (
        np.maximum(np.floor(reached.min(axis=0)).astype(int) - pad, 0),
        np.minimum(np.ceil(reached.max(axis=0)).astype(int) + pad + 1, shape),
    )
    local_index = index - box[0]
    bone_map = surface_distance_mm(bone_mask(labels), labels.spacing_mm, box)
    bone = _sample(bone_map, local_index, 1, DISTANCE_CAP_MM)
    air_hu = 0.5 * (seeds.number("ct.hu.air") + seeds.number("ct.hu.fat"))
    hu = _sample(ct.array, index, 1, np.nan)

    n_rays, n_steps = label.shape
    in_sac = np.isin(label, _SAC_LABELS)
    # Dura: the first sample outside the sac, going outwards from the pia.
    outside = ~in_sac & inside
    dura_k = np.where(outside.any(axis=1), np.argmax(outside, axis=1), n_steps - 1)
    after_dura = np.arange(n_steps)[None, :] >= dura_k[:, None]
    # Skin: the first air sample beyond the dura, or the edge of the field of view.
    air = (hu < air_hu) & inside & after_dura
    leaves = ~inside & after_dura
    skin_found = air.any(axis=1)
    skin_k = np.where(skin_found, np.argmax(air, axis=1), np.argmax(leaves, axis=1) - 1)
    skin_k = np.where(~skin_found & ~leaves.any(axis=1), n_steps - 1, np.maximum(skin_k, dura_k))
    within = after_dura & (np.arange(n_steps)[None, :] <= skin_k[:, None])
    bone_clearance = np.where(within, bone, DISTANCE_CAP_MM).min(axis=1)
    dura_mm = distances[dura_k]
    skin_mm = distances[skin_k]

    y_at_dura = entry[1] + dura_mm * outward[:, 1]
    crosses = np.maximum(entry[1], y_at_dura) >= ligament_y_mm
    normal = np.array([pial_normal_frame[0], pial_normal_frame[1], 0.0])
    incidence = np.degrees(np.arccos(np.clip(outward @ normal, -1.0, 1.0)))

    skin_frame = entry[None, :] + skin_mm[:, None] * outward
    target_frame = entry[None, :] - depth_mm * outward
    skin_lps = frame.to_lps(skin_frame)
    target_lps = frame.to_lps(target_frame)
    artery: np.ndarray | None = None
    # Without the needle side's artery the clearance is unknown, whatever is known of the far side's.
    if side in arteries.arteries:
        artery = np.min(
            [segment_artery_clearance_mm(skin_lps, target_lps, a) for a in arteries.arteries.values()], axis=0
        )
        lumens = artery_mask(labels) if arteries.source.value == "vascular_series" else None
        if lumens is not None:
            lumen_map = surface_distance_mm(lumens, labels.spacing_mm, box)
            lumen = _sample(lumen_map, local_index, 1, DISTANCE_CAP_MM)
            on_path = np.arange(n_steps)[None, :] <= skin_k[:, None]
            artery = np.minimum(artery, np.where(on_path, lumen, np.inf).min(axis=1))

    bone_margin = seeds.number("safety.bone_margin_mm")
    required = arteries.required_clearance_mm
    feasible = (bone_clearance >= bone_margin) & ~crosses & (dura_mm > 0)
    if artery is not None:
        feasible &= artery >= required
    depth_total = skin_mm + depth_mm
    span = float(np.ptp(depth_total)) or 1.0
    parts = {
        "angles": 1.0
        - 0.5
        * (
            np.abs(elevation) / max(np.abs(axial).max(), 1e-9)
            + np.abs(azimuth) / max(np.abs(coronal).max(), 1e-9)
        ),
        "incidence": np.cos(np.radians(incidence)),
        "bone": np.clip(bone_clearance / (3.0 * bone_margin), 0.0, 1.0),
        "artery": (np.full(n_rays, 0.0) if artery is None else np.clip(artery / (2.0 * required), 0.0, 1.0)),
        "depth": 1.0 - (depth_total - depth_total.min()) / span,
    }
    score = sum(SCORE_WEIGHTS[name] * np.clip(value, 0.0, 1.0) for name, value in parts.items())

    direction_lps = -(outward @ frame.rotation.T)
    candidates = []
    for i in range(n_rays):
        reasons = []
        if bone_clearance[i] < bone_margin:
            reasons.append(f"bone within {bone_margin:g} mm of the needle ({bone_clearance[i]:.1f} mm)")
        if artery is not None and artery[i] < required:
            reasons.append(f"vertebral artery within {required:g} mm of the needle ({artery[i]:.1f} mm)")
        if crosses[i]:
            reasons.append("crosses the dentate ligament inside the thecal sac")
        if dura_mm[i] <= 0:
            reasons.append("the pial entry is not inside the segmented thecal sac")
        candidates.append(
            PathCandidate(
                direction_lps=direction_lps[i],
                skin_entry_lps_mm=skin_lps[i],
                skin_in_field_of_view=bool(skin_found[i]),
                target_lps_mm=target_lps[i],
                axial_angle_deg=float(np.degrees(elevation[i])),
                coronal_angle_deg=float(np.degrees(azimuth[i])),
                pial_incidence_deg=float(incidence[i]),
                skin_to_dura_mm=float(skin_mm[i] - dura_mm[i]),
                skin_to_pia_mm=float(skin_mm[i]),
                pia_to_target_mm=float(depth_mm),
                bone_clearance_mm=float(bone_clearance[i]),
                artery_clearance_mm=None if artery is None else float(artery[i]),
                crosses_dentate_ligament=bool(crosses[i]),
                feasible=bool(feasible[i]),
                reasons=tuple(reasons),
                score=float(score[i]),
            )
        )
    ranked = sorted(candidates, key=lambda c: (not c.feasible, -c.score))
    if ranked[0].feasible:
        return SearchResult(tuple(ranked), ranked[0], True)
    # No safe path: the least unsafe one (clear of bone and ligament, largest artery clearance).
    usable = [c for c in candidates if c.bone_clearance_mm >= bone_margin and not c.crosses_dentate_ligament]
    pool = usable or candidates
    chosen = max(
        pool, key=lambda c: (c.artery_clearance_mm if c.artery_clearance_mm is not None else 0.0, c.score)
    )
    return SearchResult(tuple(ranked), chosen, False)
