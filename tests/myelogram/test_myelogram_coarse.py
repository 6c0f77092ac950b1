"""The myelogram stage on coarse CTs like issue 13's held-out real head-and-neck scans.

Those scans had 2.7-3.9 mm pixels resampled to 0.6 mm and thin contrast (270-315 HU); ``segment`` refused
them although contrast and C1-C2 were there. The coarse family (:func:`make_coarse_case`) reproduces
them with exact labels. What must hold on every draw: the contrast is seen (no "no contrast" refusal);
a cord found only on dim or open CSF rings is flagged, warned about and refused for planning; a cord
found the ordinary way is right. What still falls short is kept as strict xfails with the measured figures.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import AnalysisError, CordotomyError
from pipeline.myelogram._grid import AxialGrid
from pipeline.myelogram.analysis import MyelogramResult, analyse_myelogram
from pipeline.myelogram.ct_sac import anatomical_reach_mm
from pipeline.phantom.ct import CtCase
from pipeline.phantom.family import make_coarse_case, make_family_case
from pipeline.seeds import load_seeds

COARSE_SEEDS = tuple(range(6))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum() + b.sum())
    return float(2 * np.logical_and(a, b).sum() / total) if total else 1.0


@pytest.fixture(scope="module")
def coarse_results() -> dict[int, tuple[CtCase, MyelogramResult | CordotomyError]]:
    results: dict[int, tuple[CtCase, MyelogramResult | CordotomyError]] = {}
    for seed in COARSE_SEEDS:
        case = make_coarse_case(seed)
        try:
            results[seed] = (case, analyse_myelogram(case.ct))
        except CordotomyError as exc:
            results[seed] = (case, exc)
    return results


@pytest.mark.slow
def test_coarse_contrast_is_seen(coarse_results: dict[int, tuple[CtCase, object]]) -> None:
    refused = {seed: str(r) for seed, (_, r) in coarse_results.items() if isinstance(r, CordotomyError)}
    assert not [seed for seed, message in refused.items() if "no contrast" in message], refused


@pytest.mark.slow
def test_coarse_cord_is_right_or_flagged(coarse_results: dict[int, tuple[CtCase, object]]) -> None:
    """Weak rings: warned and refused for planning (exit 4). Usual rings: the cord is right."""
    for seed, (case, result) in coarse_results.items():
        if not isinstance(result, MyelogramResult):
            continue
        if result.cord.weak_rings:
            assert any("dim or open CSF rings" in w for w in result.warnings), seed
            with pytest.raises(AnalysisError, match="dim or open CSF rings") as caught:
                result.require_vertebrae()
            assert caught.value.exit_code == 4
        else:
            assert _dice(result.labels.array == 2, case.labels.array == 2) >= 0.8, seed


@pytest.mark.slow
def test_coarse_field_of_view_is_never_refused(coarse_results: dict[int, tuple[CtCase, object]]) -> None:
    """C1-C2 is in view on every draw: a refusal may say the cord is unreliable, never that C1-C2 is absent."""
    refused = [seed for seed, (_, r) in coarse_results.items() if str(r).startswith("C1-C2 not in the field")]
    assert not refused


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="found CSF in true bone, share of the true CSF volume: this test's seeds 0-5 median 2.9 %, worst 55 % "
    "(seed 0); coarse family seeds 0-11 (benchmarks/segment_family.py --coarse) median 0.3 %, worst 55 % (seed 0; "
    "19 % seed 8); was median 6 %, worst 88 % before weak-ring CSF stopped at bone. Seed 0's cord, found on weak "
    "rings, is off the true cord (flagged, not used for planning)",
)
def test_coarse_csf_stays_out_of_bone(coarse_results: dict[int, tuple[CtCase, object]]) -> None:
    shares = []
    for case, result in coarse_results.values():
        if isinstance(result, MyelogramResult):
            truth, found = case.labels.array, result.labels.array
            csf = np.isin(found, (1, 8))
            shares.append((csf & np.isin(truth, (3, 4, 5))).sum() / np.isin(truth, (1, 8)).sum())
    assert shares
    assert max(shares) <= 0.05, shares


@pytest.mark.slow
def test_true_sac_lies_within_its_anatomical_reach() -> None:
    """The seed's reach holds the generator's sac (any pose, size, cord shift) about the true cord centre."""
    lateral_mm, anterior_mm = load_seeds().numbers("myelogram.ct.max_sac_reach_mm")
    for seed in (3, 11):
        case = make_family_case(seed, vascular=None)
        grid = AxialGrid.from_volume(case.labels)
        labels, spacing = grid.array, grid.spacing_mm
        for z in range(0, labels.shape[2], 3):
            cord = np.argwhere(labels[:, :, z] == 2)
            csf = np.argwhere(np.isin(labels[:, :, z], (1, 8)))
            if len(cord) < 10 or len(csf) == 0:
                continue
            offsets_mm = (csf - cord.mean(axis=0)) * spacing[:2]
            distance = np.linalg.norm(offsets_mm, axis=1)
            angles = np.arctan2(offsets_mm[:, 1], offsets_mm[:, 0])
            assert (distance <= anatomical_reach_mm(angles, lateral_mm, anterior_mm) + 1.0).all(), (seed, z)
