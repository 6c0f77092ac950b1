"""Cord/CSF segmentation on analytic tubes whose truth is known exactly (independent of the phantom package).

An elliptic cord (AP 8.5 x transverse 12 mm, domain-facts §1) inside an elliptic dural sac (15 x 20 mm),
surrounded by soft tissue and a bony ring, rendered with partial volume (3x3 in-plane supersampling).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import AnalysisError
from pipeline.myelogram import segment_cord
from pipeline.volume import Volume


def _tube(
    *,
    spacing_mm: tuple[float, float, float] = (0.5, 0.5, 1.0),
    shape: tuple[int, int, int] = (90, 90, 30),
    csf_hu: float = 500.0,
    cord_hu: float = 35.0,
    noise_hu: float = 20.0,
    tilt_deg: float = 0.0,
    cord_shift_mm: float = 0.0,
    layering_hu: float = 0.0,
    seed: int = 0,
) -> tuple[Volume, np.ndarray, np.ndarray]:
    """Volume (L, P, S axes) and the true cord and CSF masks (voxel centres inside)."""
    rng = np.random.default_rng(seed)
    sub = 3
    offsets = (np.arange(sub) - (sub - 1) / 2) / sub
    i = (np.arange(shape[0])[:, None] + offsets[None, :]).ravel() * spacing_mm[0]
    j = (np.arange(shape[1])[:, None] + offsets[None, :]).ravel() * spacing_mm[1]
    k = np.arange(shape[2]) * spacing_mm[2]
    x, y, z = np.meshgrid(i, j, k, indexing="ij")
    centre = np.array([shape[0] * spacing_mm[0] / 2, shape[1] * spacing_mm[1] / 2])
    tilt = np.tan(np.radians(tilt_deg))
    zc = z - k.mean()
    sx, sy = x - centre[0] - tilt * zc, y - centre[1]
    # Cut obliquely, the cross-section of a tilted tube is stretched by 1/cos along the tilt.
    stretch = np.sqrt(1 + tilt**2)
    sac = (sx / (10.0 * stretch)) ** 2 + (sy / 7.5) ** 2 <= 1
    cx = sx - cord_shift_mm
    cord = (cx / (6.0 * stretch)) ** 2 + (sy / 4.25) ** 2 <= 1
    bone = ((sx / 16) ** 2 + (sy / 13) ** 2 <= 1) & ((sx / 13.5) ** 2 + (sy / 10.5) ** 2 > 1)
    # Contrast pools dorsally (posterior = +y in LPS) when supine.
    csf_level = csf_hu + layering_hu * np.clip(sy / 7.5, -1, 1)
    fine = np.where(cord, cord_hu, np.where(sac, csf_level, np.where(bone, 1000.0, 20.0)))
    image = fine.reshape(shape[0], sub, shape[1], sub, shape[2]).mean(axis=(1, 3))
    image = image + rng.normal(0.0, noise_hu, image.shape)
    centres = (slice(1, None, sub), slice(1, None, sub), slice(None))
    affine = np.diag([*spacing_mm, 1.0])
    return Volume(image.astype(np.float32), affine), cord[centres], sac[centres] & ~cord[centres]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))


CASES = [
    pytest.param({}, id="plain"),
    pytest.param({"noise_hu": 60.0}, id="high-noise"),
    pytest.param({"noise_hu": 90.0, "seed": 4}, id="very-high-noise"),
    pytest.param({"tilt_deg": 20.0}, id="tilted-20deg"),
    pytest.param({"cord_shift_mm": 2.5}, id="cord-displaced"),
    pytest.param({"layering_hu": 200.0}, id="layered-contrast"),
    pytest.param({"spacing_mm": (0.4, 0.4, 0.6), "shape": (110, 110, 30)}, id="fine-voxels"),
]


@pytest.mark.parametrize("options", CASES)
def test_ct_tube_matches_truth(options: dict) -> None:
    volume, cord, csf = _tube(**options)
    result = segment_cord(volume, contrast="ct-myelogram")
    assert _dice(result.cord_mask, cord) >= 0.95
    assert _dice(result.csf_mask, csf) >= 0.93


def test_coarse_slices_t2_like_b0() -> None:
    # A DWI mean b0: T2-weighted, 1.25 x 1.25 x 5 mm voxels, arbitrary scale, cord slightly tilted.
    volume, cord, _ = _tube(
        spacing_mm=(1.25, 1.25, 5.0),
        shape=(40, 40, 12),
        csf_hu=900.0,
        cord_hu=300.0,
        noise_hu=25.0,
        tilt_deg=8.0,
    )
    positive = volume.with_array(np.clip(volume.array + 100.0, 0, None))
    result = segment_cord(positive, contrast="t2")
    assert _dice(result.cord_mask, cord) >= 0.9
    # The centerline runs along the slices' superior axis, one point per slice.
    assert result.centerline_lps_mm.shape == (12, 3)


def test_reoriented_array_gives_the_same_mask() -> None:
    volume, _, _ = _tube()
    # Store the same image as S-P-R (axes permuted and flipped), with a matching affine.
    array = np.flip(volume.array.transpose(2, 1, 0), axis=2)
    index_map = np.zeros((4, 4))
    index_map[2, 0] = 1.0
    index_map[1, 1] = 1.0
    index_map[0, 2] = -1.0
    index_map[0, 3] = volume.array.shape[0] - 1
    index_map[3, 3] = 1.0
    moved = Volume(np.ascontiguousarray(array), volume.affine_lps @ index_map)
    straight = segment_cord(volume).cord_mask
    permuted = segment_cord(moved).cord_mask
    np.testing.assert_array_equal(np.flip(permuted, axis=2).transpose(2, 1, 0), straight)


def test_no_contrast_is_an_analysis_error() -> None:
    volume, _, _ = _tube(csf_hu=15.0)
    with pytest.raises(AnalysisError, match="no contrast in the thecal sac"):
        segment_cord(volume, contrast="ct-myelogram")


def test_uniform_mri_has_no_cord() -> None:
    volume = Volume(np.full((40, 40, 20), 100.0, dtype=np.float32), np.eye(4))
    with pytest.raises(AnalysisError, match="cord not found"):
        segment_cord(volume, contrast="t2")
