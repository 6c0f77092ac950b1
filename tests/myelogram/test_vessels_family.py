"""Vertebral arteries from the vascular series, each error source scored alone on random family draws.

Issue 13: the artery Dice on the family is limited by (a) registration of the vascular series to the CT,
(b) the lumen found on the vascular series, (c) label-map precedence and (d) partial volume at resampling.
Here (a) is scored against the generator's pose, (b) with the vascular series resampled through the
generator's own transform (no registration error) against the generator's labels, and (c) on a label map
built from known masks. The whole stage on 20 draws is ``test_myelogram_family.py``.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pipeline.contract import Label
from pipeline.myelogram.analysis import _label_map
from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.myelogram.registration import register_rigid
from pipeline.myelogram.vessels import VertebralArtery, segment_arteries
from pipeline.phantom.ct import CtCase
from pipeline.phantom.family import make_family_case, random_case_parameters
from pipeline.seeds import load_seeds
from pipeline.volume import Volume

# Family draws outside the family test and benchmark lists: two with a CTA, two with a 3D T2 (checked below).
CTA_DRAWS = (2000, 2001)
T2_DRAWS = (2002, 2003)
# The lumen alone (no registration, no precedence), per side, against the generator's labels.
MIN_LUMEN_DICE = 0.85
MAX_REGISTRATION_ERROR_MM = 0.5


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return float(2 * np.logical_and(a, b).sum() / total) if total else 1.0


@functools.cache
def _case(seed: int) -> CtCase:
    return make_family_case(seed)


def _true_transform(case: CtCase) -> np.ndarray:
    return np.asarray(case.truth["vascular"]["ct_lps_from_vascular_lps"], dtype=float)


def _truth_frame(case: CtCase) -> AnatomicalFrame:
    axes = case.truth["axes_lps"]
    return AnatomicalFrame(
        origin_lps_mm=np.asarray(case.truth["level"]["slice_lps_mm"], dtype=float),
        left_lps=np.asarray(axes["left"], dtype=float),
        posterior_lps=-np.asarray(axes["anterior"], dtype=float),
        superior_lps=np.asarray(axes["superior"], dtype=float),
        posterior_source="truth",
    )


def _lumen_through_true_pose(case: CtCase) -> dict[str, VertebralArtery]:
    """The arteries segmented on the vascular series resampled by the generator's own transform."""
    assert case.vascular is not None
    placed = Volume(
        np.asarray(case.vascular.array, dtype=np.float32), _true_transform(case) @ case.vascular.affine_lps
    )
    low = float(np.min(case.vascular.array))
    on_ct = placed.resample_to(case.ct.affine_lps, case.ct.shape[:3], order=1, cval=low)  # type: ignore[arg-type]
    covered = placed.with_array(np.ones(placed.shape, dtype=np.float32))
    field_of_view = covered.resample_to(case.ct.affine_lps, case.ct.shape[:3], order=0).array > 0  # type: ignore[arg-type]
    labels = case.labels.array
    return segment_arteries(
        on_ct,
        modality=case.truth["family"]["vascular_kind"],
        frame=_truth_frame(case),
        exclude=np.isin(labels, (Label.C1, Label.C2, Label.OTHER_BONE)),
        ct_hu=np.asarray(case.ct.array),
        seeds=load_seeds(),
        field_of_view=field_of_view,
        sac=np.isin(labels, (Label.CSF, Label.CORD, Label.DENTATE_LIGAMENT)),
    )


def test_the_chosen_draws_have_the_vascular_kind_they_claim() -> None:
    assert all(random_case_parameters(s).vascular_kind == "cta" for s in CTA_DRAWS)
    assert all(random_case_parameters(s).vascular_kind == "t2" for s in T2_DRAWS)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [*CTA_DRAWS, *T2_DRAWS])
def test_lumen_on_the_vascular_series_matches_the_generator(seed: int) -> None:
    """Error source (b)+(d): lumen and resampling, with the true pose."""
    case = _case(seed)
    arteries = _lumen_through_true_pose(case)
    for side, label in (("left", Label.LEFT_VERTEBRAL_ARTERY), ("right", Label.RIGHT_VERTEBRAL_ARTERY)):
        mask = arteries[side].mask
        assert mask is not None
        dice = _dice(mask, case.labels.array == label)
        print(f"draw {seed} {side}: lumen Dice {dice:.3f}")
        assert dice >= MIN_LUMEN_DICE, (seed, side, dice)


@pytest.mark.slow
def test_bone_missed_by_the_bone_stage_is_not_taken_for_a_cta_lumen() -> None:
    """On CTA cancellous bone has the lumen's density: the CT's own density keeps it out of the lumen."""
    case = _case(CTA_DRAWS[0])
    assert case.vascular is not None
    placed = Volume(
        np.asarray(case.vascular.array, dtype=np.float32), _true_transform(case) @ case.vascular.affine_lps
    )
    on_ct = placed.resample_to(case.ct.affine_lps, case.ct.shape[:3], order=1, cval=-1024.0)  # type: ignore[arg-type]
    bone = np.isin(case.labels.array, (Label.C1, Label.C2, Label.OTHER_BONE))
    arteries = segment_arteries(
        on_ct,
        modality="cta",
        frame=_truth_frame(case),
        exclude=np.zeros_like(bone),  # the bone stage found no bone at all
        ct_hu=np.asarray(case.ct.array),
        seeds=load_seeds(),
    )
    for side, label in (("left", Label.LEFT_VERTEBRAL_ARTERY), ("right", Label.RIGHT_VERTEBRAL_ARTERY)):
        mask = arteries[side].mask
        assert mask is not None
        assert (mask & bone).sum() <= 0.05 * mask.sum(), side
        assert _dice(mask, case.labels.array == label) >= 0.8, side


@pytest.mark.slow
@pytest.mark.parametrize("seed", [CTA_DRAWS[0], T2_DRAWS[0]])
def test_registration_recovers_the_generators_pose_at_the_arteries(seed: int) -> None:
    """Error source (a): the registered transform against the generator's, at the true lumen."""
    case = _case(seed)
    assert case.vascular is not None
    centre = np.asarray(case.truth["level"]["slice_lps_mm"], dtype=float)
    found = register_rigid(case.ct, case.vascular, centre_lps_mm=centre).vascular_to_ct_lps
    lumen = np.isin(case.labels.array, (Label.LEFT_VERTEBRAL_ARTERY, Label.RIGHT_VERTEBRAL_ARTERY))
    on_ct = case.ct.index_to_lps(np.argwhere(lumen).astype(float))
    to_vascular = np.linalg.inv(_true_transform(case))
    vascular_points = on_ct @ to_vascular[:3, :3].T + to_vascular[:3, 3]
    mapped = vascular_points @ found[:3, :3].T + found[:3, 3]
    error = np.linalg.norm(mapped - on_ct, axis=1)
    print(
        f"draw {seed}: registration error at the arteries mean {error.mean():.2f} mm, max {error.max():.2f} mm"
    )
    assert float(error.max()) <= MAX_REGISTRATION_ERROR_MM


def test_a_lumen_from_the_vascular_series_wins_over_csf_and_cord_but_not_bone() -> None:
    """Error source (c): the intradural V4 beside the cord keeps its label; bone keeps its own."""
    shape = (12, 12, 6)
    volume = Volume(np.zeros(shape, dtype=np.int16), np.eye(4))
    cord = np.zeros(shape, dtype=bool)
    cord[2:6, 2:10] = True
    csf = np.zeros(shape, dtype=bool)
    csf[6:9, 2:10] = True
    bone = np.zeros(shape, dtype=bool)
    bone[9:12, 2:10] = True
    artery = np.zeros(shape, dtype=bool)
    artery[4:11, 4:7] = True
    segmentation: Any = SimpleNamespace(cord_mask=cord, csf_mask=csf)
    dentate: Any = SimpleNamespace(left=(), right=())
    left = VertebralArtery("left", np.zeros((2, 3)), artery, 2.25)
    labels = _label_map(volume, segmentation, None, {"left": left}, dentate, unseparated_bone=bone).array
    assert (labels[artery & ~bone] == Label.LEFT_VERTEBRAL_ARTERY).all()
    assert (labels[artery & bone] == Label.OTHER_BONE).all()
    assert (labels[cord & ~artery] == Label.CORD).all()
    assert (labels[csf & ~artery] == Label.CSF).all()


@pytest.mark.slow
def test_registration_is_reproducible() -> None:
    """The same series give the same transform (the metric sample is seeded, not drawn from the clock)."""
    case = _case(T2_DRAWS[1])
    assert case.vascular is not None
    centre = np.asarray(case.truth["level"]["slice_lps_mm"], dtype=float)
    first = register_rigid(case.ct, case.vascular, centre_lps_mm=centre).vascular_to_ct_lps
    again = register_rigid(case.ct, case.vascular, centre_lps_mm=centre).vascular_to_ct_lps
    # SimpleITK sums the metric over threads in whatever order they finish, and the optimizer carries
    # those last-bit differences on: up to 3.5e-6 (mm, and matrix entries) was seen under load. A
    # different metric sample (seed 7 or 23 instead of 1) moves the transform by 0.09, so 1e-4 still tells.
    np.testing.assert_allclose(first, again, rtol=0.0, atol=1e-4)
