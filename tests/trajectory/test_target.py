"""The target rule against the phantom's ground truth on every variant.

Acceptance (issue 12): cordotomy side always opposite the pain; pial entry within 0.5 mm (median) and
1.0 mm (max) of the truth point for leg and arm; tip depth as configured; rotated, tilted and displaced
cords as accurate as the normal one.

How the error is measured: the truth's pial points lie on the phantom's anatomical z = 0 plane, which is
0.75 mm below the middle of its own C1-C2 interlaminar space (C1 arch bottom z 6.5, C2 lamina top z -5),
while the rule puts the planning plane at that middle. The cord is a straight cylinder there (its section
is constant from z -5 to 14), so the pial point the rule asks for has the truth's in-plane coordinates:
the entry error is the distance in the anatomical axial plane, and the level is checked against the
rule's height from the truth landmarks separately.
"""

from __future__ import annotations

import numpy as np
import pytest
from _trajectory_cases import anatomical, plan_for

from pipeline.contract import validate_document
from pipeline.seeds import load_seeds

VARIANTS = [
    "normal",
    "head-rotated",
    "tilted",
    "cord-displaced",
    "small-cord",
    "large-cord",
    "coarse",
    "fine",
    "high-noise",
    "va-loop",
    "pfia",
]
PAINS = [("right", "left"), ("left", "right")]  # (pain side, expected cordotomy side)


def _param(variant: str) -> object:
    return pytest.param(variant, id=variant, marks=[] if variant == "normal" else [pytest.mark.slow])


def entry_errors_mm(variant: str, region: str) -> dict[str, float]:
    """In-plane pial entry error per cordotomy side for one variant and pain region."""
    errors = {}
    for pain_side, side in PAINS:
        case, _, plan = plan_for(variant, None, pain_side, region)
        assert plan.cordotomy_side == side
        truth = anatomical(case, np.asarray(case.truth["pial_entry_lps_mm"][side][region]))
        ours = anatomical(case, plan.pial_entry_lps_mm)
        errors[side] = float(np.hypot(*(ours - truth)[:2]))
    return errors


@pytest.mark.parametrize("variant", [_param(v) for v in VARIANTS])
@pytest.mark.parametrize("region", ["leg", "arm"])
def test_pial_entry_matches_truth(variant: str, region: str) -> None:
    errors = entry_errors_mm(variant, region)
    assert max(errors.values()) <= 1.0, errors
    assert float(np.median(list(errors.values()))) <= 0.5, errors


@pytest.mark.parametrize("variant", [_param(v) for v in VARIANTS])
def test_side_level_depth_and_target_inside_cord(variant: str) -> None:
    for pain_side, side in PAINS:
        for region in ("leg", "arm"):
            case, result, plan = plan_for(variant, None, pain_side, region)
            document = plan.to_json()
            validate_document(document, "plan")
            assert document["cordotomy_side"] == side
            sign = 1.0 if side == "left" else -1.0
            entry = anatomical(case, plan.pial_entry_lps_mm)
            target = anatomical(case, plan.target_lps_mm)
            shift = case.truth["cord"]["shift_in_sac_mm"]
            assert sign * (entry[0] - shift) > 0
            assert sign * (target[0] - shift) > 0
            # Tip depth beyond the pia, along the path, as configured in seeds/.
            depth = float(np.linalg.norm(plan.target_lps_mm - plan.pial_entry_lps_mm))
            configured = plan.somatotopy.depth_mm
            # The seeds' depth for the reference cord width, scaled by this cord's measured width.
            seeds = load_seeds()
            expected = seeds.number(f"targeting.target_depth_mm.{region}_default") * (
                plan.section.transverse_mm / seeds.number("targeting.target_depth_mm.reference_cord_transverse_mm")
            )
            assert configured == pytest.approx(expected, rel=1e-9)
            assert depth == pytest.approx(configured, abs=1e-6)
            assert document["depths_mm"]["pia_to_target"] == pytest.approx(configured, abs=0.005)  # JSON: 0.01 mm
            direction = plan.target_lps_mm - plan.pial_entry_lps_mm
            assert np.dot(direction / depth, plan.direction_lps) == pytest.approx(1.0)
            # The target lies in the true cord (labels of the generator).
            index = np.rint(case.labels.lps_to_index(plan.target_lps_mm[None, :])[0]).astype(int)
            assert case.labels.array[tuple(index)] == 2
            # The planning level is the middle of the C1-C2 interlaminar space (within a slice).
            window = case.truth["interlaminar_window"]
            middle = 0.5 * (np.asarray(window["superior_lps_mm"]) + np.asarray(window["inferior_lps_mm"]))
            assert abs(anatomical(case, result.frame.origin_lps_mm)[2] - anatomical(case, middle)[2]) <= 0.8


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["head-rotated", "tilted", "cord-displaced"])
def test_rotated_tilted_and_displaced_as_accurate_as_normal(variant: str) -> None:
    for region in ("leg", "arm"):
        normal = max(entry_errors_mm("normal", region).values())
        other = max(entry_errors_mm(variant, region).values())
        assert other <= max(0.5, normal + 0.3), (region, normal, other)
    # Same plan relative to the anatomy: the chosen needle's angles to the anatomical planes stay in range.
    _, _, plan = plan_for(variant, None, "right", "leg")
    assert abs(plan.chosen.axial_angle_deg) <= 10.0
    assert abs(plan.chosen.coronal_angle_deg) <= 15.0
    codes = {flag.code for flag in plan.flags}
    if variant != "cord-displaced":
        assert "HEAD_ROTATED" in codes
