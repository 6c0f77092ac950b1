"""A plan.json document built from a myelogram.json by straight geometry, for report tests only.

It follows the contract of DESIGN.md §4 (field names, LPS mm) so that the report, SR and results code can
be tested on their own; the real plan comes from pipeline.trajectory and is tested end to end.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def plan_document(
    myelogram: dict[str, Any], *, pain_side: str = "right", region: str = "leg"
) -> dict[str, Any]:
    side = "left" if pain_side == "right" else "right"
    frame = myelogram["frame"]
    left = np.asarray(frame["left_lps"])
    posterior = np.asarray(frame["posterior_lps"])
    outward = left if side == "left" else -left
    ligament = np.asarray(myelogram["dentate_ligament"][side]["planning_level"]["pial_lps_mm"])
    pial = ligament - 1.5 * posterior
    direction = -outward
    target = pial + 3.0 * direction
    skin = target - 60.0 * direction
    return {
        "schema": "cordotomy.plan/1",
        "cordotomy_side": side,
        "pain": {"side": pain_side, "region": region},
        "level": {
            "name": "C1-C2",
            "slice_lps_mm": myelogram["level"]["slice_lps_mm"],
            "normal_lps": myelogram["level"]["normal_lps"],
        },
        "dentate_ligament_lps_mm": ligament.tolist(),
        "pial_entry_lps_mm": pial.tolist(),
        "target_lps_mm": target.tolist(),
        "skin_entry_lps_mm": skin.tolist(),
        "direction_lps": direction.tolist(),
        "depths_mm": {"skin_to_dura": 53.0, "skin_to_pia": 57.0, "pia_to_target": 3.0},
        "clearances_mm": {"vertebral_artery": 4.2, "bone": 2.5},
        "vertebral_artery": {"source": "vascular_series", "overlaps_window": {"left": False, "right": False}},
        "cord": {k: myelogram["cord"][k] for k in ("ap_mm", "transverse_mm", "area_mm2", "centroid_lps_mm")},
        "expected_impedance": [
            {"from_depth_mm": 0.0, "to_depth_mm": 53.0, "tissue": "soft tissue", "ohm_range": [None, None]},
            {"from_depth_mm": 53.0, "to_depth_mm": 57.0, "tissue": "CSF", "ohm_range": [None, 200.0]},
            {"from_depth_mm": 57.0, "to_depth_mm": 57.5, "tissue": "pia", "ohm_range": [200.0, 400.0]},
            {"from_depth_mm": 57.5, "to_depth_mm": 60.0, "tissue": "cord", "ohm_range": [700.0, None]},
        ],
        "flags": [
            {"code": "VERTEBRAL_ARTERY_ESTIMATED", "severity": "warning", "message": "test warning"},
            {"code": "CORD_DISPLACEMENT_EXPECTED", "severity": "info", "message": "test info"},
        ],
        "candidates": [
            {
                "skin_entry_lps_mm": skin.tolist(),
                "score": 1.0,
                "clearances_mm": {"vertebral_artery": 4.2, "bone": 2.5},
            }
        ],
        "parameters": {
            "safety.vertebral_artery_margin_mm": {"value": 3.0, "source": "test", "estimate": True}
        },
    }
