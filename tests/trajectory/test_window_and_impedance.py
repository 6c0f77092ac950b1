"""The C1-C2 interlaminar window on symmetric phantoms, and the expected impedance profile of a plan."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _trajectory_cases import analysed_case, default_seeds, plan_for

from pipeline.seeds import load_seeds
from pipeline.trajectory.impedance import expected_impedance

WINDOW_VARIANTS = ["normal", "head-rotated", "tilted", "cord-displaced", "coarse", "fine", "high-noise"]


@pytest.mark.parametrize(
    "variant", [pytest.param(v, marks=[] if v == "normal" else [pytest.mark.slow]) for v in WINDOW_VARIANTS]
)
def test_interlaminar_window_symmetric_and_true(variant: str) -> None:
    """Issue 12: measured 6.4 mm left vs 10.4 mm right on a symmetric phantom whose window is 11.5 mm.

    Each side within 1 mm of the truth. The bounds are voxel centres of the label map, so each is
    quantised by a slice: the two sides may differ by up to 1 mm plus one slice spacing (1.25 mm on the
    coarse variant, where they differ by exactly one slice; the bone shapes also carry a smooth warp of
    0.5 mm SD that differs between the sides).
    """
    case, result = analysed_case(variant, None)
    truth = case.truth["interlaminar_window"]["height_mm"]
    heights = {side: float(result.windows[side]["height_mm"]) for side in ("left", "right")}
    for side, height in heights.items():
        assert abs(height - truth) <= 1.0, (side, height, truth)
    slice_mm = float(case.ct.spacing_mm[2])
    assert abs(heights["left"] - heights["right"]) <= max(1.0, slice_mm) + 1e-6, heights


def test_impedance_profile_follows_the_path_and_the_primary_reference() -> None:
    _, _, plan = plan_for("normal", None, "right", "leg")
    profile = [segment.to_json() for segment in plan.impedance]
    assert [p["tissue"] for p in profile] == ["extradural soft tissue", "csf", "pia", "cord"]
    depths = plan.to_json()["depths_mm"]
    assert profile[1]["from_depth_mm"] == pytest.approx(depths["skin_to_dura"], abs=0.01)
    assert profile[2]["from_depth_mm"] == pytest.approx(depths["skin_to_pia"], abs=0.01)
    assert profile[3]["to_depth_mm"] == pytest.approx(
        depths["skin_to_pia"] + depths["pia_to_target"], abs=0.01
    )
    seeds = default_seeds()
    assert profile[1]["ohm_range"] == [None, seeds.number("electrode.impedance_ohm.primary.csf_max")]
    assert profile[2]["ohm_range"] == [
        seeds.number("electrode.impedance_ohm.primary.csf_max"),
        seeds.number("electrode.impedance_ohm.primary.pia_max"),
    ]
    assert profile[3]["ohm_range"] == [seeds.number("electrode.impedance_ohm.primary.cord_min"), None]
    # The CSF stretch is the lateral CSF the needle crosses: a few millimetres (EST 3-5 mm per side).
    assert 1.0 <= depths["skin_to_pia"] - depths["skin_to_dura"] <= 8.0


def test_impedance_profile_with_the_kanpolat_set(tmp_path: Path) -> None:
    path = tmp_path / "kanpolat.yaml"
    path.write_text(yaml.safe_dump({"electrode": {"impedance_ohm": {"default_set": "kanpolat"}}}))
    seeds = load_seeds(path)
    profile = expected_impedance(
        skin_to_dura_mm=40.0, skin_to_pia_mm=44.0, skin_to_target_mm=47.0, seeds=seeds
    )
    csf = seeds.number("electrode.impedance_ohm.kanpolat.csf")
    rise = seeds.number("electrode.impedance_ohm.kanpolat.pia_rise")
    assert profile[1].ohm_range == (csf, csf)
    assert profile[2].ohm_range == (csf + rise, csf + rise)
    assert profile[3].ohm_range == (seeds.number("electrode.impedance_ohm.kanpolat.cord_min"), None)
