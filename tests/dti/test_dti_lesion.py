"""Lesion detection (focal reduced MD vs the mirror voxel) against the DWI phantom's truth."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.dti import analyse_dwi, fit_tensors
from pipeline.dti.homolog import cord_fraction_from_b0, cord_midline
from pipeline.dti.lesion import detect_lesion, md_asymmetry_percent
from pipeline.errors import AnalysisError
from pipeline.phantom.dwi import DwiPhantom, make_dwi_phantom
from pipeline.seeds import load_seeds

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import dti_share  # benchmarks/ is not a package: imported from its folder

# The reference MD change (Shepherd et al. AJNR 2017), the default threshold of the stage.
THRESHOLD_PERCENT = load_seeds().number("diffusion.reference_change_percent.md")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def _inputs(phantom: DwiPhantom):
    maps = fit_tensors(phantom.volume.array, phantom.bvals_s_mm2, phantom.bvecs, mask=phantom.cord_mask)
    b0 = phantom.volume.array[..., phantom.bvals_s_mm2 < 50].mean(axis=-1)
    midline = cord_midline(
        phantom.cord_mask,
        phantom.volume.affine_lps,
        cord_fraction=cord_fraction_from_b0(b0, phantom.cord_mask),
    )
    return maps.md, midline


DETECTED_LESION_FRACTION_MIN = 0.8

CASES = [
    pytest.param(0, "left", (0.0, 0.0), 0.0, id="left-centred"),
    pytest.param(1, "right", (3.1, -2.3), 17.0, id="right-offcentre-rot17"),
    pytest.param(2, "left", (-2.5, 1.7), -30.0, id="left-offcentre-rot-30"),
    pytest.param(3, "right", (1.2, 2.9), 40.0, id="right-offcentre-rot40"),
]


@pytest.mark.parametrize(("seed", "side", "offset", "rotation"), CASES)
def test_detected_without_side_on_default_grid(seed: int, side: str, offset: tuple, rotation: float) -> None:
    phantom = make_dwi_phantom(seed=seed, cordotomy_side=side, cord_offset_mm=offset, rotation_deg=rotation)
    md, midline = _inputs(phantom)
    found = detect_lesion(md, phantom.cord_mask, midline, threshold_percent=THRESHOLD_PERCENT)
    assert found.side == side
    # The detection is the lesion's reduced-MD centre: its voxels are mostly lesion (the pure-voxel
    # truth mask holds only voxels wholly inside the lesion, 8-12 here, so a Dice against it mostly
    # measures the pixel lottery). Measured mean lesion fraction 0.91-0.99 on these cases, worst 0.84
    # over 12 random poses (seeds 0-11); the partial-volume rim is the lesion share's job (share.py).
    assert phantom.lesion_fraction[found.mask].mean() >= DETECTED_LESION_FRACTION_MIN
    assert found.mean_asymmetry_percent <= THRESHOLD_PERCENT


@pytest.mark.parametrize(("seed", "side", "offset", "rotation"), CASES)
def test_detected_on_fine_grid(fine_phantom, seed: int, side: str, offset: tuple, rotation: float) -> None:
    phantom = fine_phantom(seed=seed, cordotomy_side=side, cord_offset_mm=offset, rotation_deg=rotation)
    md, midline = _inputs(phantom)
    found = detect_lesion(md, phantom.cord_mask, midline, threshold_percent=THRESHOLD_PERCENT)
    assert found.side == side
    assert _dice(found.mask, phantom.lesion_mask) >= 0.8


def test_given_side_restricts_the_search() -> None:
    phantom = make_dwi_phantom(seed=4, cordotomy_side="right", cord_offset_mm=(3.1, -2.3), rotation_deg=17.0)
    md, midline = _inputs(phantom)
    either = detect_lesion(md, phantom.cord_mask, midline, threshold_percent=THRESHOLD_PERCENT)
    right = detect_lesion(md, phantom.cord_mask, midline, threshold_percent=THRESHOLD_PERCENT, side="right")
    np.testing.assert_array_equal(either.mask, right.mask)
    # The healthy side has no reduced-MD region: its voxels are compared with the lesion, so MD is higher.
    with pytest.raises(AnalysisError, match="on the left side"):
        detect_lesion(md, phantom.cord_mask, midline, threshold_percent=THRESHOLD_PERCENT, side="left")


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed{s}")
def test_no_lesion_is_reported_in_a_healthy_cord(tmp_path: Path, seed: int) -> None:
    """False-positive control: the phantom with the lesion tensor set to healthy white matter."""
    override = tmp_path / "healthy.yaml"
    override.write_text(
        "diffusion:\n  lesion_eigenvalues_mm2_s: [1.69e-3, 0.44e-3, 0.44e-3]\n", encoding="utf-8"
    )
    phantom = make_dwi_phantom(
        seed=seed, cord_offset_mm=(1.1, 0.7), rotation_deg=10.0, seeds=load_seeds(override)
    )
    md, midline = _inputs(phantom)
    with pytest.raises(AnalysisError, match="give the lesion with --lesion-mask"):
        detect_lesion(md, phantom.cord_mask, midline, threshold_percent=THRESHOLD_PERCENT)


def test_asymmetry_of_the_true_lesion_matches_the_tensors() -> None:
    """Noise-free: pure lesion voxels sit at the true MD change against their mirror voxels."""
    phantom = make_dwi_phantom(snr=None)
    md, midline = _inputs(phantom)
    asymmetry = md_asymmetry_percent(md, phantom.cord_mask, midline)
    core = phantom.lesion_mask & np.isfinite(asymmetry)
    assert core.sum() >= 6
    # Smoothing (0.5 pixel) mixes in a little healthy tissue: within 3 points of -17.1 %.
    assert abs(float(np.median(asymmetry[core])) - phantom.change_percent["md"]) < 3.0


def test_threshold_must_be_a_reduction() -> None:
    phantom = make_dwi_phantom()
    md, midline = _inputs(phantom)
    with pytest.raises(AnalysisError, match="reduction"):
        detect_lesion(md, phantom.cord_mask, midline, threshold_percent=5.0)


def _share_error(phantom: DwiPhantom, lesion_mask: np.ndarray | None) -> float:
    analysis = analyse_dwi(
        phantom.volume,
        phantom.bvals_s_mm2,
        phantom.bvecs,
        cord_mask=phantom.cord_mask,
        lesion_mask=lesion_mask,
    )
    assert analysis.lesion_cord_fraction_method == "signal_partial_volume"
    return analysis.lesion_cord_fraction_percent - float(phantom.truth["lesion_cord_fraction_percent"])


# Noise-free draws of benchmarks/dti_share.py (0.79-0.98 mm pixels, lesion radius 1.5-2.0 mm, cord turned
# up to 37°): what is left is the method's own error. Before the CSF contrast was projected out of the
# fraction reading these read 0.58-0.80 points too high (the interpolated mirror image rounds off the
# cord's convex edge and its extra CSF read as lesion). Draw 49 guards the lesion-slice test: reading the
# core's neighbouring slices too, a lesion-free slice reading 0.08 voxel with zero noise spread counted
# as a lesion slice (5 points low) until a slice had to hold half a voxel. Measured now |error| 0.01-0.22.
NOISE_FREE_DRAWS = [27, 39, 49, 71, 168]
NOISE_FREE_TOLERANCE_POINTS = 0.35


@pytest.mark.parametrize("draw", NOISE_FREE_DRAWS, ids=lambda d: f"draw{d}")
def test_share_without_noise_is_the_truth(draw: int) -> None:
    phantom, _ = dti_share.make_draw(draw, snr=None)
    mask_error = _share_error(phantom, phantom.lesion_mask)
    assert abs(mask_error) < NOISE_FREE_TOLERANCE_POINTS
    assert _share_error(phantom, None) == mask_error


def test_share_reads_the_lesion_slice_its_core_misses() -> None:
    """Draw 173 (0.98 mm pixels): the true lesion mask's reduced-MD core lies on one of the lesion's two
    slices; the share still reads both (0.96 points off when it read only the core's slice; now 0.03)."""
    phantom, _ = dti_share.make_draw(173)
    assert abs(_share_error(phantom, phantom.lesion_mask)) < 0.5


def test_share_on_a_round_cord() -> None:
    """Draw 224: a round cord (10.17 x 10.20 mm) turned 35.5°, whose outline gives no axis. Compared on the
    lesion's slices only, the symmetry search left the midline at the image axis (3.25 points low);
    compared on every slice with cord it finds the grey matter's axis (now 0.64 points)."""
    phantom, params = dti_share.make_draw(224)
    assert abs(float(params["cord_transverse_mm"]) / float(params["cord_ap_mm"]) - 1.0) < 0.01
    assert abs(_share_error(phantom, phantom.lesion_mask)) < 1.0


def test_reader_is_blind_to_csf_unless_the_lesion_looks_like_csf() -> None:
    """The fraction reader reads the lesion contrast as 1 and CSF's as 0; a lesion contrast nearly along
    CSF's (less than MIN_CSF_FREE_CONTRAST left) falls back to the plain projection (noise bounded)."""
    from pipeline.dti.share import MIN_CSF_FREE_CONTRAST, _reader

    lesion = np.array([250.0, 60.0, 40.0, 80.0])
    csf = np.array([800.0, -300.0, -250.0, -350.0])
    w = _reader(lesion, csf)
    assert w @ lesion == pytest.approx(1.0)
    assert w @ csf == pytest.approx(0.0, abs=1e-12)
    alike = csf + 0.1 * MIN_CSF_FREE_CONTRAST * np.linalg.norm(csf) * np.array([0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(_reader(alike, csf), alike / (alike @ alike))
