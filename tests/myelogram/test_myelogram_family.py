"""The myelogram stage on random draws of the phantom family, scored against the generator's labels.

Issue 13 acceptance: over >= 20 draws nobody hand-picked (a fixed list of consecutive family seeds),
median Dice >= 0.90 for C1, C2 and each vertebral artery (from the drawn vascular series, CTA or 3D T2)
and >= 0.95 for the contrast-filled CSF and the cord; the CSF volume within 15 % of the truth. The worst
draw of every measure is printed and recorded (``record_property``) so that a regression shows where.

The draws keep their random anatomy, pose, contrast, noise and voxel size; only the field of view is
narrowed to the small end of the family's range (``FOV_OVERRIDE``) to keep the test affordable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.errors import CordotomyError
from pipeline.myelogram.analysis import analyse_myelogram
from pipeline.phantom.family import make_family_case, random_case_parameters
from pipeline.seeds import Seeds, load_seeds

FAMILY_SEEDS = tuple(range(1000, 1020))
FOV_OVERRIDE = {"family": {"fov_in_plane_mm": [76.0, 80.0], "fov_superior_mm": [54.0, 57.0]}}
MEDIAN_DICE = {"csf": 0.95, "cord": 0.95, "c1": 0.90, "c2": 0.90, "va_left": 0.90, "va_right": 0.90}
CSF_VOLUME_TOLERANCE_PERCENT = 15.0
# Measures whose median still misses the figure on these draws (strict xfail, so a fix is
# noticed): medians measured on FAMILY_SEEDS at the time of writing.
KNOWN_SHORTFALLS: dict[str, str] = {}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return float(2 * np.logical_and(a, b).sum() / total) if total else 1.0


def _score(seed: int, seeds: Seeds) -> dict[str, float]:
    case = make_family_case(seed, seeds=seeds)
    kind = case.truth["family"]["vascular_kind"]
    try:
        result = analyse_myelogram(case.ct, vascular=case.vascular, vascular_modality=kind, seeds=seeds)
    except CordotomyError:
        # A refused draw scores zero everywhere (every draw of the family is analysable by design).
        return {**dict.fromkeys(MEDIAN_DICE, 0.0), "csf_volume_error_percent": -100.0}
    truth, found = case.labels.array, result.labels.array
    csf_found, csf_truth = np.isin(found, (1, 8)), np.isin(truth, (1, 8))
    scores = {
        "csf": _dice(csf_found, csf_truth),
        "cord": _dice(found == 2, truth == 2),
        "c1": _dice(found == 3, truth == 3),
        "c2": _dice(found == 4, truth == 4),
        "va_left": _dice(found == 6, truth == 6),
        "va_right": _dice(found == 7, truth == 7),
    }
    scores["csf_volume_error_percent"] = 100.0 * (int(csf_found.sum()) / int(csf_truth.sum()) - 1.0)
    return scores


@pytest.fixture(scope="module")
def family_scores(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, float]]:
    path = Path(tmp_path_factory.mktemp("family")) / "small-fov.yaml"
    path.write_text(yaml.safe_dump(FOV_OVERRIDE))
    seeds = load_seeds(path)
    return {seed: _score(seed, seeds) for seed in FAMILY_SEEDS}


def _worst(
    scores: dict[int, dict[str, float]], name: str, key: Callable[[float], float]
) -> tuple[int, float]:
    seed = min(scores, key=lambda s: key(scores[s][name]))
    return seed, scores[seed][name]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[pytest.mark.xfail(reason=KNOWN_SHORTFALLS[name], strict=True)])
        if name in KNOWN_SHORTFALLS
        else name
        for name in MEDIAN_DICE
    ],
)
def test_family_median_dice(
    family_scores: dict[int, dict[str, float]],
    name: str,
    record_property: Callable[[str, object], None],
) -> None:
    values = [scores[name] for scores in family_scores.values()]
    worst_seed, worst = _worst(family_scores, name, lambda v: v)
    record_property(f"{name}_median_dice", round(float(np.median(values)), 4))
    record_property(f"{name}_worst", f"{worst:.4f} (family seed {worst_seed})")
    print(f"{name}: median Dice {np.median(values):.3f}, worst {worst:.3f} (family seed {worst_seed})")
    assert float(np.median(values)) >= MEDIAN_DICE[name], (name, sorted(values))


@pytest.mark.slow
def test_family_csf_volume(
    family_scores: dict[int, dict[str, float]], record_property: Callable[[str, object], None]
) -> None:
    errors = np.array([abs(scores["csf_volume_error_percent"]) for scores in family_scores.values()])
    worst_seed, worst = _worst(family_scores, "csf_volume_error_percent", lambda v: -abs(v))
    record_property("csf_volume_worst_error_percent", f"{worst:.1f} (family seed {worst_seed})")
    print(f"CSF volume: median error {np.median(errors):.1f} %, worst {worst:+.1f} % (seed {worst_seed})")
    assert float(np.median(errors)) <= CSF_VOLUME_TOLERANCE_PERCENT, sorted(errors.round(1))


def test_family_draws_are_seeded_and_span_the_ranges() -> None:
    """Same seed, same case; the draws cover the issue's ranges (contrast, voxels, both vascular kinds)."""
    assert random_case_parameters(7) == random_case_parameters(7)
    draws = [random_case_parameters(seed) for seed in range(60)]
    contrast = [d.csf_contrast_hu for d in draws]
    pixel = [d.spacing_mm[0] for d in draws]
    thickness = [d.spacing_mm[2] for d in draws]
    assert 200.0 <= min(contrast) < 300.0
    assert 900.0 < max(contrast) <= 1000.0
    assert 0.3 <= min(pixel) < 0.4
    assert 0.9 < max(pixel) <= 1.0
    assert 0.5 <= min(thickness) < 0.7
    assert 1.8 < max(thickness) <= 2.0
    assert {d.vascular_kind for d in draws} == {"cta", "t2"}
    assert len({d.va_courses["left"] for d in draws}) >= 2
    for d in draws:  # the cord always fits inside its sac
        assert d.cord_transverse_mm + 2 * abs(d.cord_shift_mm) < d.sac_transverse_mm


def test_family_case_has_occiput_c1_c2_c3_and_truth_labels() -> None:
    case = make_family_case(3, vascular=None)
    labels = case.labels.array
    for value in (1, 2, 3, 4, 5):
        assert (labels == value).any(), value
    # The occiput (above C1) and C3 (below C2) are in view: "other bone" at both ends of the scan.
    other = np.argwhere(labels == 5)
    superior = case.ct.index_to_lps(other.astype(float)) @ np.array(case.truth["axes_lps"]["superior"])
    level = float(np.dot(case.truth["level"]["slice_lps_mm"], case.truth["axes_lps"]["superior"]))
    assert superior.max() - level > 18.0
    assert superior.min() - level < -20.0
    assert case.truth["family"]["seed"] == 3


@pytest.mark.slow
def test_weak_ring_cord_is_on_the_true_cord_and_its_csf_off_bone() -> None:
    """Family seed 4 (contrast 263 HU, noise 54 HU, 2 mm slices): the sac ring is open where the displaced
    cord touches the dura, so no ring closes at the usual or dim levels. The dark-disk fallback took a pocket
    of soft tissue walled by C2 beside the canal for the cord (cord Dice 0, found CSF in true bone 49 % of the
    true CSF); with the ring's gaps bridged the cord is found where the generator put it, still flagged as
    found on weak rings, and its CSF stops at the bone."""
    case = make_family_case(4, vascular=None)
    result = analyse_myelogram(case.ct)
    truth, found = case.labels.array, result.labels.array
    assert result.cord.weak_rings
    # C1 and C2 searched around such a cord are as approximate as it is (a trial CSF level gave them Dice 0.0
    # and 0.1 here, unwarned; with the bone's mirror plane and the CSF level modelled through the blur they
    # are 0.91 and 0.92, but nothing guarantees that on such a cord): the warning says so.
    assert any("dim or open CSF rings" in w and "any C1 and C2" in w for w in result.warnings)
    # Every traced cord centre lies inside the generator's cord.
    index = np.rint(case.ct.lps_to_index(result.cord.centerline_lps_mm)).astype(int)
    assert (truth[tuple(index.T)] == 2).all()
    assert _dice(found == 2, truth == 2) >= 0.5
    true_csf = np.isin(truth, (1, 8))
    in_bone = np.isin(found, (1, 8)) & np.isin(truth, (3, 4, 5))
    assert in_bone.sum() <= 0.1 * true_csf.sum()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [10, 72])
def test_cord_is_traced_past_a_slice_that_fails(seed: int) -> None:
    """Family seeds 10 (504 HU, 65 HU noise on 0.47 mm pixels) and 72 (405 HU, weak rings): past the end of
    the tube found on the coarse grid one slice's outline failed (on seed 10 a dark noise blob at the start
    point set the cord level), and the tracing stopped there: cord Dice 0.75 and 0.82, CSF volume -46 %
    and -26 %. The cord level now counts the disc around the start by area and a failed slice is bridged."""
    case = make_family_case(seed, vascular=None)
    result = analyse_myelogram(case.ct)
    truth, found = case.labels.array, result.labels.array
    assert _dice(found == 2, truth == 2) >= 0.9
    csf_found, csf_truth = np.isin(found, (1, 8)), np.isin(truth, (1, 8))
    assert abs(int(csf_found.sum()) / int(csf_truth.sum()) - 1.0) <= 0.15


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3005, 3006])
def test_upper_dens_stays_with_c2_on_fresh_draws(seed: int) -> None:
    """Fresh family draws (stop 29, outside every list used to develop the segmentation), where the C1/C2
    cut at the interlaminar gap gave the upper dens to C1: on 3005 a basion touching the dens made the
    anterior run above the gap 24 mm tall, taken for a C2 body over C3 (C1 0.72); on 3006 nothing marked
    the dens above the gap and the watershed flooded it from the C1 anterior arch (C1 not separated)."""
    case = make_family_case(seed, vascular=None)
    truth, found = case.labels.array, analyse_myelogram(case.ct).labels.array
    assert _dice(found == 3, truth == 3) >= 0.90
    assert _dice(found == 4, truth == 4) >= 0.90
