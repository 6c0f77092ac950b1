"""Vertebral-artery safety of the plan on the phantom's artery variants, with and without a vascular series.

Cases with a vascular series register and segment it (15-20 s each to generate and analyse), so they are
marked slow; the estimate and unknown-artery cases run in the fast suite.

Acceptance (issue 12): an artery over the window is flagged danger on the correct side in every case
(100 % sensitivity); a safe alternative is chosen when one exists (clearance >= margin) and
``NO_SAFE_TRAJECTORY`` is raised otherwise; normal anatomy with a vascular series carries no danger flag;
an artery that is only estimated is never reported as clear.

"Exists" is judged on the truth: every candidate path the planner considered is measured against the
generator's artery centreline (clearance from its wall). With a measurement tolerance of 0.5 mm, the plan
must not call a path safe whose true clearance is under margin - 0.5 mm, and must find a safe path when
one has a true clearance of at least margin + 1.0 mm.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from _trajectory_cases import analysed_case, default_seeds, plan_for

from pipeline.myelogram import ArterySource, MyelogramResult, VertebralArtery, analyse_myelogram
from pipeline.phantom.family import make_family_case
from pipeline.seeds import load_seeds
from pipeline.trajectory import Plan, plan_trajectory
from pipeline.trajectory.safety import segment_artery_clearance_mm

ARTERY_CASES = [
    pytest.param("va-loop", "cta", id="va-loop-cta", marks=pytest.mark.slow),
    pytest.param("pfia", "cta", id="pfia-cta", marks=pytest.mark.slow),
    pytest.param("va-loop", "t2", id="va-loop-t2", marks=pytest.mark.slow),
    pytest.param("va-loop", None, id="va-loop-no-vascular", marks=pytest.mark.slow),
    pytest.param("pfia", None, id="pfia-no-vascular", marks=pytest.mark.slow),
]


def _codes(plan: Plan) -> dict[str, str]:
    return {flag.code: flag.severity.value for flag in plan.flags}


@pytest.mark.parametrize(("variant", "vascular"), ARTERY_CASES)
@pytest.mark.parametrize("region", ["leg", "arm"])
def test_artery_over_the_window_is_flagged_on_its_side(
    variant: str, vascular: str | None, region: str
) -> None:
    case, _, plan = plan_for(variant, vascular, "right", region)  # cordotomy left, the variant's side
    assert case.truth["vertebral_artery"]["overlaps_window"] == {"left": True, "right": False}
    document = plan.to_json()
    assert document["vertebral_artery"]["overlaps_window"]["left"] is True
    assert "left" in _window_danger(plan)
    assert not plan.safe
    if vascular is not None:
        assert document["vertebral_artery"]["source"] == "vascular_series"
        assert document["vertebral_artery"]["overlaps_window"]["right"] is False
        # Planning on the normal side: no window flag there.
        _, _, other = plan_for(variant, vascular, "left", region)
        assert "VERTEBRAL_ARTERY_OVER_WINDOW" not in _codes(other)
    else:
        assert document["vertebral_artery"]["source"] == "foramina_estimate"
        assert _codes(plan)["VERTEBRAL_ARTERY_ESTIMATED"] == "warning"


def _window_danger(plan: Plan) -> str:
    """The message of the plan's one VERTEBRAL_ARTERY_OVER_WINDOW flag, which must be a danger."""
    over = [flag for flag in plan.flags if flag.code == "VERTEBRAL_ARTERY_OVER_WINDOW"]
    assert len(over) == 1
    assert over[0].severity.value == "danger"
    return over[0].message


def _truth_clearances(case: object, plan: Plan, side: str) -> np.ndarray:
    truth = case.truth["vertebral_artery"]  # type: ignore[attr-defined]
    artery = VertebralArtery(
        side, np.asarray(truth["centreline_lps_mm"][side]), None, truth["diameter_mm"] / 2
    )
    candidates = plan.search.candidates
    starts = np.array([c.skin_entry_lps_mm for c in candidates])
    ends = np.array([c.target_lps_mm for c in candidates])
    return segment_artery_clearance_mm(starts, ends, artery)


def _wide_angles(folder: Path) -> object:
    path = folder / "wide.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "targeting": {
                    "needle_axial_angle_deg": [-25.0, 25.0],
                    "needle_coronal_angle_deg": [-25.0, 25.0],
                }
            }
        )
    )
    return load_seeds(path)


SAFE_PATH_CASES = [
    pytest.param("normal", "cta", "default", id="normal-cta", marks=pytest.mark.slow),
    pytest.param("va-loop", "cta", "default", id="va-loop-cta", marks=pytest.mark.slow),
    pytest.param("va-loop", "cta", "wide", id="va-loop-cta-wide-angles", marks=pytest.mark.slow),
    pytest.param("pfia", "cta", "default", id="pfia-cta", marks=pytest.mark.slow),
    pytest.param("va-loop", "t2", "default", id="va-loop-t2", marks=pytest.mark.slow),
    pytest.param("va-loop", "t2", "wide", id="va-loop-t2-wide-angles", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("variant", "vascular", "angles"), SAFE_PATH_CASES)
@pytest.mark.parametrize("region", ["leg", "arm"])
def test_safe_path_found_exactly_when_one_exists(
    variant: str, vascular: str, angles: str, region: str, tmp_path: Path
) -> None:
    seeds = _wide_angles(tmp_path) if angles == "wide" else default_seeds()
    case, _, plan = plan_for(variant, vascular, "right", region, seeds)  # type: ignore[arg-type]
    margin = seeds.number("safety.vertebral_artery_margin_mm")  # type: ignore[attr-defined]
    bone_margin = seeds.number("safety.bone_margin_mm")  # type: ignore[attr-defined]
    truth = _truth_clearances(case, plan, "left")
    usable = np.array(
        [
            c.bone_clearance_mm >= bone_margin and not c.crosses_dentate_ligament
            for c in plan.search.candidates
        ]
    )
    chosen = next(i for i, c in enumerate(plan.search.candidates) if c is plan.chosen)
    codes = _codes(plan)
    if plan.search.safe_path_found:
        assert truth[chosen] >= margin - 0.5, (truth[chosen], margin)
        assert plan.chosen.artery_clearance_mm is not None
        assert plan.chosen.artery_clearance_mm >= margin
        assert "NO_SAFE_TRAJECTORY" not in codes
        assert "VERTEBRAL_ARTERY_WITHIN_MARGIN" not in codes
    else:
        assert not np.any(usable & (truth >= margin + 1.0)), truth[usable].max()
        assert codes["NO_SAFE_TRAJECTORY"] == "danger"
        assert codes["VERTEBRAL_ARTERY_WITHIN_MARGIN"] == "danger"
    if variant == "normal":
        assert plan.search.safe_path_found


@pytest.mark.slow
@pytest.mark.parametrize("pain_side", ["left", "right"])
@pytest.mark.parametrize("region", ["leg", "arm"])
def test_normal_anatomy_with_vascular_series_has_no_danger(pain_side: str, region: str) -> None:
    _, _, plan = plan_for("normal", "cta", pain_side, region)
    assert plan.to_json()["vertebral_artery"]["overlaps_window"] == {"left": False, "right": False}
    assert [f.code for f in plan.flags if f.severity.value == "danger"] == []
    assert plan.chosen.artery_clearance_mm is not None
    assert plan.chosen.artery_clearance_mm >= default_seeds().number("safety.vertebral_artery_margin_mm")


def test_estimated_arteries_are_never_reported_as_clear() -> None:
    case, _, plan = plan_for("normal", None, "right", "leg")
    document = plan.to_json()
    artery = document["vertebral_artery"]
    assert artery["source"] == "foramina_estimate"
    assert artery["uncertainty_mm"] == default_seeds().number(
        "safety.vertebral_artery_estimate_uncertainty_mm"
    )
    assert artery["required_clearance_mm"] == pytest.approx(artery["margin_mm"] + artery["uncertainty_mm"])
    codes = _codes(plan)
    assert codes["VERTEBRAL_ARTERY_ESTIMATED"] == "warning"
    # The estimated course cannot exclude an artery over the window (its clearance from the straight lateral
    # path is inside margin + uncertainty on normal anatomy): danger, so a CTA/MRA gets reviewed.
    assert artery["overlaps_window"]["left"] is True
    assert codes["VERTEBRAL_ARTERY_OVER_WINDOW"] == "danger"
    assert case.truth["vertebral_artery"]["overlaps_window"]["left"] is False


def test_unknown_arteries_give_null_clearance_and_danger() -> None:
    case, result = analysed_case("normal", None)
    unknown = replace(result, arteries={}, artery_source=ArterySource.NONE)
    plan = plan_trajectory(unknown, case.ct, pain_side="right", pain_region="leg", seeds=default_seeds())
    document = plan.to_json()
    assert document["clearances_mm"]["vertebral_artery"] is None
    assert document["vertebral_artery"]["source"] == "none"
    assert document["vertebral_artery"]["overlaps_window"] == {"left": True, "right": True}
    assert _codes(plan)["VERTEBRAL_ARTERY_UNKNOWN"] == "danger"


def test_artery_not_located_on_the_needle_side_is_unknown_not_clear() -> None:
    """Only the far side's artery estimated (the near side's C1 foramen not found: 6 of 141 normal-course
    family sides): the path's artery clearance is unknown and the side is flagged. Before, the clearance
    was measured to the far side's artery alone (21.6 mm here) and reported."""
    case, result = analysed_case("normal", None)
    one_side = replace(result, arteries={"right": result.arteries["right"]})
    plan = plan_trajectory(one_side, case.ct, pain_side="right", pain_region="leg", seeds=default_seeds())
    document = plan.to_json()
    assert plan.cordotomy_side == "left"
    assert document["clearances_mm"]["vertebral_artery"] is None
    assert all(c.artery_clearance_mm is None for c in plan.search.candidates)
    assert document["vertebral_artery"]["overlaps_window"]["left"] is True
    assert "left vertebral artery could not be located" in _window_danger(plan)
    assert not plan.safe


ESTIMATE_CASES = ["normal", "head-rotated", "small-cord", "large-cord", "coarse", "fine", "high-noise"]


# Family draws outside the family test and benchmark lists whose arteries both take the normal course (a loop
# or a persistent first intersegmental artery cannot be seen from bone; checked below).
FAMILY_ESTIMATE_DRAWS = (3000, 3004)


def _assert_estimate_within_uncertainty(case: object, result: MyelogramResult) -> None:
    """90 % of the true course within 12 mm of the planning level lies within the seeds' uncertainty of the
    estimate, and all of it within 1 mm more."""
    uncertainty = default_seeds().number("safety.vertebral_artery_estimate_uncertainty_mm")
    for side in ("left", "right"):
        truth = np.asarray(case.truth["vertebral_artery"]["centreline_lps_mm"][side])  # type: ignore[attr-defined]
        near = truth[np.abs(result.frame.to_frame(truth)[:, 2]) <= 12.0]
        assert side in result.arteries, f"{side} artery not located"
        estimate = result.arteries[side].centerline_lps_mm
        distance = np.linalg.norm(near[:, None, :] - estimate[None, :, :], axis=2).min(axis=1)
        assert np.percentile(distance, 90) <= uncertainty, (side, np.percentile(distance, 90))
        assert distance.max() <= uncertainty + 1.0, (side, distance.max())


@pytest.mark.slow
@pytest.mark.parametrize("variant", ESTIMATE_CASES)
def test_foramina_estimate_within_its_stated_uncertainty(variant: str) -> None:
    """The seeds' estimate uncertainty is a measurement: 90 % of the true course near the window lies within it."""
    case, result = analysed_case(variant, None)
    _assert_estimate_within_uncertainty(case, result)


@pytest.mark.slow
@pytest.mark.parametrize("seed", FAMILY_ESTIMATE_DRAWS)
def test_foramina_estimate_within_its_stated_uncertainty_on_family_draws(seed: int) -> None:
    """The same on random family draws (other sizes, poses, pixels and thin, blurred foramen walls). Before
    the foramina were sought in all bone with thin gaps closed, the estimate's 90th-percentile distance was
    17.6 mm on draw 3000's left and 4.3 mm on draw 3004's left (5.8 mm in the median of the 21 normal-course
    sides of draws 0-19)."""
    case = make_family_case(seed, vascular=None)
    assert case.truth["family"]["va_courses"] == {"left": "normal", "right": "normal"}
    _assert_estimate_within_uncertainty(case, analyse_myelogram(case.ct))
