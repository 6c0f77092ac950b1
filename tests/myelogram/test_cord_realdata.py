"""Cord segmentation on a real cervical MRI against its manual masks (sct_errsm30, SCT testing data).

The data were never used to design the sample-case generator, so these figures are an independent check.
Thresholds are the issue's acceptance figures: Dice >= 0.92, mean centerline distance <= 1 mm on T2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.myelogram import segment_cord
from pipeline.volume import Volume

pytestmark = pytest.mark.realdata


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))


def _mean_centerline_distance_mm(reference_lps_mm: np.ndarray, centerline_lps_mm: np.ndarray) -> float:
    """Mean distance of the manual centerline points to our centerline (as a densely sampled polyline)."""
    steps = np.linspace(0.0, 1.0, 21)[:, None, None]
    dense = (centerline_lps_mm[:-1] + steps * np.diff(centerline_lps_mm, axis=0)).reshape(-1, 3)
    distances = np.linalg.norm(reference_lps_mm[:, None, :] - dense[None, :, :], axis=2).min(axis=1)
    return float(distances.mean())


@pytest.fixture(scope="module")
def errsm30(real_data: Path) -> Path:
    folder = real_data / "sct_errsm30"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


def test_t2_cord_matches_manual_mask(errsm30: Path) -> None:
    volume = Volume.from_nifti(errsm30 / "t2" / "t2.nii.gz")
    manual = Volume.from_nifti(errsm30 / "t2" / "t2_seg-manual.nii.gz").array > 0.5
    result = segment_cord(volume, contrast="t2")
    assert result.cord_mask.shape == volume.array.shape
    assert _dice(result.cord_mask, manual) >= 0.92
    # The cord never overlaps the CSF, and the CSF surrounds it.
    assert not np.logical_and(result.cord_mask, result.csf_mask).any()
    assert result.csf_mask.sum() > result.cord_mask.sum() * 0.5


def test_t2_centerline_matches_manual_centerline(errsm30: Path) -> None:
    volume = Volume.from_nifti(errsm30 / "t2" / "t2.nii.gz")
    manual = Volume.from_nifti(errsm30 / "t2" / "t2_centerline-manual.nii.gz").array > 0.5
    reference_lps_mm = volume.index_to_lps(np.argwhere(manual))
    result = segment_cord(volume, contrast="t2")
    assert _mean_centerline_distance_mm(reference_lps_mm, result.centerline_lps_mm) <= 1.0


def test_t1_inverted_mode_finds_the_cord(errsm30: Path) -> None:
    # T1: CSF dark, cord bright. No acceptance figure is set for it; the measured Dice is about 0.92.
    volume = Volume.from_nifti(errsm30 / "t1" / "t1w.nii.gz")
    manual = Volume.from_nifti(errsm30 / "t1" / "t1w_seg-manual.nii.gz").array > 0.5
    result = segment_cord(volume, contrast="t1")
    assert _dice(result.cord_mask, manual) >= 0.88
