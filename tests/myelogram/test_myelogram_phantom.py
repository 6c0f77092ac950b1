"""The myelogram stage on every sample-case variant against the generator's ground truth.

Acceptance figures (issue 5): Dice >= 0.95 cord, >= 0.93 contrast CSF, >= 0.90 C1 and C2; dentate
attachment on the planning level within 0.5 mm (median) and 1.0 mm (max); vertebral-artery centreline
within 1.0 mm (mean) from the vascular series and the window overlap detected on the right side; rotated
heads no worse than straight ones; no-contrast and out-of-view cases refused with exit code 4.

Each variant runs at two noise levels: the generator's default (30 HU) and 70 HU (its high-noise value).
The default-noise normal case runs in the fast suite; the full table is marked slow.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.errors import AnalysisError
from pipeline.myelogram import bone
from pipeline.myelogram.analysis import MyelogramResult, analyse_myelogram
from pipeline.phantom.ct import CtCase, make_ct_case
from pipeline.seeds import load_seeds
from pipeline.trajectory import assess_window

ANALYSABLE = [
    "normal",
    "head-rotated",
    "cord-displaced",
    "va-loop",
    "pfia",
    "small-cord",
    "large-cord",
    "coarse",
    "fine",
    "high-noise",
]
NOISE_HU = (30.0, 70.0)


# Cases known to miss an acceptance figure (marked strict xfail, so a fix is noticed).
KNOWN_SHORTFALLS: dict[tuple[str, float], str] = {}


def _params(
    variants: list[str], noises: tuple[float, ...] = NOISE_HU, shortfalls: dict | None = None
) -> list[object]:
    params = []
    for variant in variants:
        for noise in noises:
            fast = variant == "normal" and noise == NOISE_HU[0]
            marks: list[pytest.MarkDecorator] = [] if fast else [pytest.mark.slow]
            if shortfalls and (variant, noise) in shortfalls:
                marks.append(pytest.mark.xfail(reason=shortfalls[(variant, noise)], strict=True))
            params.append(pytest.param(variant, noise, id=f"{variant}-{noise:.0f}HU", marks=marks))
    return params


@functools.cache
def _seeds_with_noise(noise_hu: float, folder: str) -> object:
    path = Path(folder) / f"noise-{noise_hu:.0f}.yaml"
    path.write_text(yaml.safe_dump({"ct": {"noise_sd_hu": float(noise_hu)}}))
    return load_seeds(path)


# Cases that also carry a CT angiogram at the default noise (one generation serves every test of them).
WITH_CTA = ("normal", "head-rotated", "va-loop", "pfia")


def _run(variant: str, noise_hu: float, vascular: str | None, folder: str) -> tuple[CtCase, MyelogramResult]:
    if vascular is None and noise_hu == NOISE_HU[0] and variant in WITH_CTA:
        vascular = "cta"
    return _run_cached(variant, noise_hu, vascular, folder)


@functools.cache
def _run_cached(
    variant: str, noise_hu: float, vascular: str | None, folder: str
) -> tuple[CtCase, MyelogramResult]:
    case = make_ct_case(variant, seed=1, vascular=vascular, seeds=_seeds_with_noise(noise_hu, folder))
    result = analyse_myelogram(case.ct, vascular=case.vascular, vascular_modality=vascular or "cta")
    return case, result


@pytest.fixture(scope="session")
def seeds_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("seeds"))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))


def _dices(case: CtCase, result: MyelogramResult) -> dict[str, float]:
    truth, found = case.labels.array, result.labels.array
    # The dentate ligament (label 8) is a sub-voxel sheet inside the CSF: count it as CSF on both sides.
    return {
        "cord": _dice(found == 2, truth == 2),
        "csf": _dice(np.isin(found, (1, 8)), np.isin(truth, (1, 8))),
        "c1": _dice(found == 3, truth == 3),
        "c2": _dice(found == 4, truth == 4),
    }


def _dentate_errors_mm(case: CtCase, result: MyelogramResult) -> dict[str, float]:
    """Distance from the true attachment to ours, both taken on the true planning plane."""
    level = case.truth["level"]
    errors = {}
    for side in ("left", "right"):
        found = result.dentate.at_level(side, np.array(level["slice_lps_mm"]), np.array(level["normal_lps"]))
        assert found is not None
        truth = np.array(case.truth["dentate_ligament_lps_mm"][side])
        errors[side] = float(np.linalg.norm(found.pial_lps_mm - truth))
    return errors


@pytest.mark.parametrize(("variant", "noise_hu"), _params(ANALYSABLE, shortfalls=KNOWN_SHORTFALLS))
def test_segmentation_matches_truth(variant: str, noise_hu: float, seeds_folder: str) -> None:
    case, result = _run(variant, noise_hu, None, seeds_folder)
    dice = _dices(case, result)
    assert dice["cord"] >= 0.95, dice
    assert dice["csf"] >= 0.93, dice
    assert dice["c1"] >= 0.90, dice
    assert dice["c2"] >= 0.90, dice


@pytest.mark.parametrize(("variant", "noise_hu"), _params(ANALYSABLE))
def test_dentate_attachment_on_planning_level(variant: str, noise_hu: float, seeds_folder: str) -> None:
    case, result = _run(variant, noise_hu, None, seeds_folder)
    errors = _dentate_errors_mm(case, result)
    assert max(errors.values()) <= 1.0, errors
    # Each result says where it came from and how sure it is.
    for side in ("left", "right"):
        attachment = result.dentate_at_planning_level(side)
        assert attachment is not None
        assert attachment.source.value in ("filling_defect", "cord_equator")
        assert 0.0 < attachment.uncertainty_mm <= 1.0


@pytest.mark.slow
def test_dentate_median_error_over_all_cases(seeds_folder: str) -> None:
    errors = [
        error
        for variant in ANALYSABLE
        for noise in NOISE_HU
        for error in _dentate_errors_mm(*_run(variant, noise, None, seeds_folder)).values()
    ]
    assert float(np.median(errors)) <= 0.5, errors
    assert max(errors) <= 1.0, errors


def test_planning_frame_matches_truth(seeds_folder: str) -> None:
    case, result = _run("normal", NOISE_HU[0], None, seeds_folder)
    axes = case.truth["axes_lps"]
    assert np.dot(result.frame.superior_lps, axes["superior"]) > np.cos(np.radians(2.0))
    assert np.dot(result.frame.left_lps, axes["left"]) > np.cos(np.radians(3.0))
    # The planning level lies inside the C1-C2 interlaminar space (true level +- 1.5 mm along the cord).
    offset = result.frame.origin_lps_mm - np.array(case.truth["level"]["slice_lps_mm"])
    assert abs(float(np.dot(offset, axes["superior"]))) <= 1.5


@pytest.mark.slow
@pytest.mark.parametrize("noise_hu", NOISE_HU, ids=lambda n: f"{n:.0f}HU")
def test_rotated_head_no_worse_than_straight(noise_hu: float, seeds_folder: str) -> None:
    straight = _run("normal", noise_hu, None, seeds_folder)
    rotated = _run("head-rotated", noise_hu, None, seeds_folder)
    dice_straight, dice_rotated = _dices(*straight), _dices(*rotated)
    for name, value in dice_rotated.items():
        assert value >= dice_straight[name] - 0.01, (name, value, dice_straight[name])
    assert max(_dentate_errors_mm(*rotated).values()) <= max(
        0.5, max(_dentate_errors_mm(*straight).values()) + 0.2
    )
    # The frame follows the head: its axes are the true anatomical axes, not the scanner's.
    axes = rotated[0].truth["axes_lps"]
    assert np.dot(rotated[1].frame.left_lps, axes["left"]) > np.cos(np.radians(3.0))
    assert np.dot(rotated[1].frame.superior_lps, axes["superior"]) > np.cos(np.radians(2.0))


VASCULAR_CASES = [
    pytest.param("normal", "cta", id="normal-cta"),
    pytest.param("va-loop", "cta", id="va-loop-cta", marks=pytest.mark.slow),
    pytest.param("pfia", "cta", id="pfia-cta", marks=pytest.mark.slow),
    pytest.param("head-rotated", "cta", id="head-rotated-cta", marks=pytest.mark.slow),
    pytest.param("va-loop", "t2", id="va-loop-t2", marks=pytest.mark.slow),
    pytest.param("normal", "t2", id="normal-t2", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("variant", "vascular"), VASCULAR_CASES)
def test_vertebral_arteries_from_vascular_series(variant: str, vascular: str, seeds_folder: str) -> None:
    case, result = _run(variant, NOISE_HU[0], vascular, seeds_folder)
    assert result.artery_source.value == "vascular_series"
    assert result.registration is not None
    truth = case.truth["vertebral_artery"]
    for side in ("left", "right"):
        ours = result.arteries[side].centerline_lps_mm
        reference = np.array(truth["centreline_lps_mm"][side])
        distance = np.linalg.norm(ours[:, None, :] - reference[None, :, :], axis=2).min(axis=1)
        assert distance.mean() <= 1.0, (side, distance.mean())
        # Our centreline covers the C1-C2 course, not a fragment: at least 30 mm of it.
        assert np.linalg.norm(np.diff(ours, axis=0), axis=1).sum() >= 30.0
        # The overlap question itself belongs to the trajectory stage (pipeline.trajectory.assess_window).
        assert assess_window(result, load_seeds()).overlaps[side] == truth["overlaps_window"][side], side


def test_without_vascular_series_the_course_is_an_estimate(seeds_folder: str) -> None:
    _, result = _run("small-cord", NOISE_HU[0], None, seeds_folder)
    summary = result.to_json()["vertebral_artery"]
    assert summary["source"] == "foramina_estimate"
    assert all(artery["estimate"] for artery in summary["arteries"].values())


REFUSED = [
    pytest.param("no-contrast", "no contrast in the thecal sac", id="no-contrast"),
    pytest.param("outside-fov", "C1-C2 not in the field of view", id="outside-fov"),
]


@pytest.mark.parametrize(("variant", "reason"), REFUSED)
def test_refused_variants(variant: str, reason: str) -> None:
    case = make_ct_case(variant, seed=0, vascular=None)
    assert case.variant.expected_exit_code == 4
    with pytest.raises(AnalysisError, match=reason) as caught:
        analyse_myelogram(case.ct)
    assert caught.value.exit_code == 4


def test_interlaminar_windows_match_truth_labels(seeds_folder: str) -> None:
    from dataclasses import replace

    from pipeline.myelogram.planning_frame import interlaminar_windows

    case, result = _run("normal", NOISE_HU[0], None, seeds_folder)
    assert result.vertebrae is not None
    labels = case.labels.array
    truth_vertebrae = replace(result.vertebrae, c1_mask=labels == 3, c2_mask=labels == 4)
    expected = interlaminar_windows(truth_vertebrae, result.frame, case.ct.affine_lps)
    for side in ("left", "right"):
        found = result.windows[side]
        # Same corridor measured on the true C1/C2: the bounds agree within about one slice (0.8 mm).
        for key in ("inferior_lps_mm", "superior_lps_mm"):
            assert np.linalg.norm(np.subtract(found[key], expected[side][key])) <= 1.2, (side, key)
        assert 4.0 <= found["height_mm"] <= 15.0


@pytest.mark.parametrize(
    ("trim", "vertebra"), [("_trim_above_atlas", "C1"), ("_trim_below_axis", "C2")], ids=["c1", "c2"]
)
def test_vertebra_trimmed_of_its_midline_is_not_separated(
    monkeypatch: pytest.MonkeyPatch, trim: str, vertebra: str
) -> None:
    """A trim (C1 from the occiput, C2 at the axis) that leaves the vertebra none of its midline bone: the
    stage goes on with the sac and cord and a warning naming what was lost, C1/C2 absent (this was an
    ``argmin of an empty sequence`` traceback)."""
    original = getattr(bone, trim)

    def strip_vertebra(pieces: np.ndarray, label: int, *args: object) -> None:
        original(pieces, label, *args)
        pieces[pieces == label] = 0

    monkeypatch.setattr(bone, trim, strip_vertebra)
    case = make_ct_case("normal", seed=0, vascular=None)
    result = analyse_myelogram(case.ct)
    assert result.vertebrae is None
    assert any(w.startswith(f"{vertebra} not found in") and "midline" in w for w in result.warnings)
    found, truth = result.labels.array, case.labels.array
    assert not np.isin(found, (3, 4)).any()
    assert _dice(found == 2, truth == 2) >= 0.9
