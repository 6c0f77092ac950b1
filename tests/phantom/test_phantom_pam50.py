"""Realism against an independent reference: the phantom's spinothalamic region and lesion sit where the
PAM50 white-matter atlas puts the spinal lemniscus (atlas 12/13) at C1-C2, both cords scaled to one size.

PAM50 (De Leener et al. NeuroImage 2018) is read from the shared real-data folder only here; nothing of it
is copied into the generator.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pipeline.phantom.cord_section import CordSection

C1_C2_SLICES = range(908, 985)  # PAM50 README: C2 = z 908-938, C1 = z 939-984
TRACTS = {"left_lemniscus": 12, "right_lemniscus": 13, "left_cst": 4, "right_cst": 5}


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(str(path))
    return np.asanyarray(image.dataobj).astype(np.float32), image.affine


@pytest.fixture(scope="module")
def pam50_in_phantom_frame(real_data: Path):
    """Per C1-C2 slice: PAM50 tract maps and the phantom cord's (u, v) coordinates of every voxel, after
    scaling the PAM50 cord outline to the phantom cord (centroid and extents matched)."""
    root = real_data / "PAM50"
    cord, affine = _load(root / "template" / "PAM50_cord.nii.gz")
    tracts = {name: _load(root / "atlas" / f"PAM50_atlas_{n:02d}.nii.gz")[0] for name, n in TRACTS.items()}
    section = CordSection()
    semi_u, semi_v = section.semi_axes_mm
    ii, jj = np.meshgrid(np.arange(cord.shape[0]), np.arange(cord.shape[1]), indexing="ij")
    slices = []
    for k in C1_C2_SLICES:
        inside = cord[:, :, k] > 0.5
        world = np.stack([ii, jj, np.full(ii.shape, k)], axis=-1) @ affine[:3, :3].T + affine[:3, 3]
        left, posterior = -world[..., 0], -world[..., 1]  # RAS -> our anatomical (left, posterior)
        half_width = (np.ptp(left[inside]) + 0.5) / 2.0
        half_depth = (np.ptp(posterior[inside]) + 0.5) / 2.0
        u = (left - left[inside].mean()) / half_width * semi_u
        v = (posterior - posterior[inside].mean()) / half_depth * semi_v
        slices.append((u, v, {name: t[:, :, k] for name, t in tracts.items()}))
    return section, slices


def _mass_fraction(slices, region, tract: str) -> float:
    inside = sum(float((maps[tract] * region(u, v)).sum()) for u, v, maps in slices)
    total = sum(float(maps[tract].sum()) for _, _, maps in slices)
    return inside / total


@pytest.mark.realdata
@pytest.mark.parametrize("side", ["left", "right"])
def test_spinothalamic_region_overlaps_pam50_spinal_lemniscus(pam50_in_phantom_frame, side: str) -> None:
    section, slices = pam50_in_phantom_frame
    other = "right" if side == "left" else "left"

    def region(u, v):
        return section.spinothalamic(u, v, side)

    lemniscus = _mass_fraction(slices, region, f"{side}_lemniscus")
    corticospinal = _mass_fraction(slices, region, f"{side}_cst")
    # Most of PAM50's lemniscus falls in our region; little of the lateral corticospinal tract does.
    assert lemniscus > 0.55
    assert corticospinal < 0.2
    assert _mass_fraction(slices, region, f"{other}_lemniscus") == 0.0  # sides not swapped


@pytest.mark.realdata
@pytest.mark.parametrize("side", ["left", "right"])
def test_lesion_centre_inside_pam50_spinal_lemniscus(pam50_in_phantom_frame, side: str) -> None:
    section, slices = pam50_in_phantom_frame
    cu, cv = section.lesion_centre_mm(side)
    # Probability of the lemniscus at the lesion centre, averaged over C1-C2 (nearest PAM50 voxel).
    values = []
    for u, v, maps in slices:
        nearest = np.unravel_index(np.argmin((u - cu) ** 2 + (v - cv) ** 2), u.shape)
        values.append(maps[f"{side}_lemniscus"][nearest])
    assert np.mean(values) > 0.3
