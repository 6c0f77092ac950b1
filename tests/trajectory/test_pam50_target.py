"""Independent anatomical check of the target rule with the PAM50 white-matter atlas at C2.

The planned tip (seeds' default offsets and depths) is carried into PAM50's cord section at the middle
of C2 (z 923 of 908-938) by scaling the cord outline (see ``_pam50``); there it must fall in the spinal
lemniscus (spinothalamic tract) on the cordotomy side and not in the lateral corticospinal tract.

The depths of seeds/ are absolute for a 12 mm wide cord and scaled by the patient's cord width; the
domain-facts estimates they replace (2-4 mm leg, 3-5 mm arm) put the arm tip in PAM50's ventral horn on
every cord size and the leg tip past the tract on a 9.6 mm wide cord (seeds/targeting.yaml says so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _pam50 import load_pam50_slice, map_to_pam50
from _trajectory_cases import plan_for

# Reading the 36 compressed atlas volumes takes about 15 s: the whole module is in the slow suite.
pytestmark = pytest.mark.slow

C2_MIDDLE_SLICE = 923
SPINAL_LEMNISCUS = {"left": 12, "right": 13}
LATERAL_CORTICOSPINAL = {"left": 4, "right": 5}

CASES = [
    pytest.param(variant, region, id=f"{variant}-{region}")
    for variant in ("normal", "head-rotated", "cord-displaced", "large-cord", "small-cord")
    for region in ("leg", "arm")
]


@pytest.fixture(scope="module")
def pam50_root(real_data: Path) -> str:
    root = real_data / "PAM50"
    if not (root / "atlas" / "PAM50_atlas_12.nii.gz").exists():
        pytest.skip(f"PAM50 atlas not found under {root}")
    return str(root)


def test_pam50_sides_read_from_the_affine(pam50_root: str) -> None:
    """Label 12 (left spinal lemniscus) lies on the atlas's left, label 4 (left CST) dorsal to it."""
    atlas = load_pam50_slice(pam50_root, C2_MIDDLE_SLICE)
    gx, gy = np.meshgrid(atlas.x_mm, atlas.y_mm, indexing="ij")

    def centre(label: int) -> np.ndarray:
        weight = atlas.fractions[label]
        return np.array([(gx * weight).sum(), (gy * weight).sum()]) / weight.sum()

    assert centre(12)[0] > atlas.centroid_mm[0] > centre(13)[0]
    assert centre(4)[1] > centre(12)[1]  # corticospinal tract dorsal (+y posterior) to the lemniscus


@pytest.mark.parametrize(("variant", "region"), CASES)
@pytest.mark.parametrize("pain_side", ["left", "right"])
def test_target_in_the_spinothalamic_tract(
    variant: str, region: str, pain_side: str, pam50_root: str
) -> None:
    _, result, plan = plan_for(variant, None, pain_side, region)
    side = plan.cordotomy_side
    atlas = load_pam50_slice(pam50_root, C2_MIDDLE_SLICE)
    target = result.frame.to_frame(plan.target_lps_mm)[:2]
    _, fractions = map_to_pam50(target, plan.section.outline_frame_mm, atlas)
    assert fractions["argmax"] == SPINAL_LEMNISCUS[side], fractions
    assert fractions[f"{side}_spinal_lemniscus"] >= 0.5, fractions
    assert fractions[f"{side}_lateral_corticospinal"] < 0.5, fractions
    assert fractions["argmax"] not in LATERAL_CORTICOSPINAL.values()
