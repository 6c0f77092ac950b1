"""Cord segmentation on MRI across contrasts: real data with augmentations, a phantom family, detection.

Real data: sct_errsm30 T2 and T1 against their manual masks (SCT testing data, independent of this code),
as given and resampled to 3 mm slices, cropped to a 9-slice slab, under a 30 % bias field, with a
CSF-like lesion inside the cord (issue #14: Dice >= 0.90 each). Phantoms: random cord/sac sizes and
shapes, tilt, noise, bias, axial or sagittal thick slices, T2/T2*/MT/T1 tissue levels; truth known by
construction. The worst cases measured are printed by benchmarks/cord_mri.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from pipeline import cli
from pipeline.errors import AnalysisError
from pipeline.myelogram import segment_cord
from pipeline.myelogram.contrast import Contrast
from pipeline.myelogram.mri_contrast import contrast_from_header
from pipeline.myelogram.shape_prior import cervical_cord_prior
from pipeline.phantom.mri import add_lesion, apply_bias_field, crop_slab, make_mri_cord_phantom, thick_slices
from pipeline.volume import Volume


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))


# --- real data --------------------------------------------------------------------------------------

REAL = {
    "t2": ("t2/t2.nii.gz", "t2/t2_seg-manual.nii.gz"),
    "t1": ("t1/t1w.nii.gz", "t1/t1w_seg-manual.nii.gz"),
}


@pytest.fixture(scope="module")
def errsm30(real_data: Path) -> dict[str, tuple[Volume, np.ndarray]]:
    folder = real_data / "sct_errsm30"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return {
        contrast: (Volume.from_nifti(folder / image), Volume.from_nifti(folder / mask).array > 0.5)
        for contrast, (image, mask) in REAL.items()
    }


def _augment(name: str, volume: Volume, manual: np.ndarray, contrast: str) -> tuple[Volume, np.ndarray]:
    if name == "original":
        return volume, manual
    if name == "3mm-axial":
        image, (mask,) = thick_slices(volume, [manual], 2, 3.0)
        return image, mask
    if name == "3mm-sagittal":
        image, (mask,) = thick_slices(volume, [manual], 0, 3.0)
        return image, mask
    if name == "9-slice-slab":
        image, (mask,) = thick_slices(volume, [manual], 2, 3.0)
        image, (mask,) = crop_slab(image, [mask], 2, 9)
        return image, mask
    if name == "bias-30pct":
        return apply_bias_field(volume, 0.3, seed=1), manual
    if name == "lesion":
        return add_lesion(volume, manual, hyperintense=contrast != "t1", seed=2), manual
    if name == "lesion-bias-slab":
        image = apply_bias_field(
            add_lesion(volume, manual, hyperintense=contrast != "t1", seed=3), 0.3, seed=4
        )
        image, (mask,) = thick_slices(image, [manual], 2, 3.0)
        image, (mask,) = crop_slab(image, [mask], 2, 9)
        return image, mask
    raise ValueError(name)


AUGMENTATIONS = [
    "original",
    "3mm-axial",
    "3mm-sagittal",
    "9-slice-slab",
    "bias-30pct",
    "lesion",
    "lesion-bias-slab",
]


@pytest.mark.realdata
@pytest.mark.parametrize("augmentation", AUGMENTATIONS)
@pytest.mark.parametrize("contrast", ["t2", "t1"])
def test_real_mri_cord_matches_manual_mask(
    errsm30: dict[str, tuple[Volume, np.ndarray]], contrast: str, augmentation: str
) -> None:
    volume, manual = errsm30[contrast]
    image, truth = _augment(augmentation, volume, manual, contrast)
    result = segment_cord(image, contrast=contrast)
    assert result.cord_mask.shape == image.array.shape
    assert _dice(result.cord_mask, truth) >= 0.90
    assert not np.logical_and(result.cord_mask, result.csf_mask).any()


@pytest.mark.realdata
def test_real_t2_contrast_detected_from_header_file_name(
    errsm30: dict[str, tuple[Volume, np.ndarray]],
) -> None:
    volume, manual = errsm30["t2"]
    result = segment_cord(volume, contrast="auto", header_hints={"file_name": "t2.nii.gz"})
    assert result.contrast == "t2"
    assert "file name" in result.contrast_source
    assert _dice(result.cord_mask, manual) >= 0.90


@pytest.mark.realdata
@pytest.mark.parametrize("contrast", ["t2", "t1"])
def test_real_polarity_detected_from_the_image(
    errsm30: dict[str, tuple[Volume, np.ndarray]], contrast: str
) -> None:
    volume, manual = errsm30[contrast]
    result = segment_cord(Volume(volume.array, volume.affine_lps), contrast="auto")
    assert result.contrast == contrast
    assert result.contrast_source.startswith("detected from the image")
    assert _dice(result.cord_mask, manual) >= 0.90


@pytest.mark.realdata
def test_cli_auto_contrast_states_choice(real_data: Path, tmp_path: Path) -> None:
    source = real_data / "sct_errsm30" / "t1" / "t1w.nii.gz"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    out = tmp_path / "out"
    assert cli.main(["segment", str(source), "--out", str(out), "--contrast", "auto"]) == 0
    document = json.loads((out / "myelogram.json").read_text())
    assert document["contrast"] == "t1"
    assert "t1w" in document["contrast_source"]


@pytest.mark.realdata
def test_shipped_shape_table_is_reproducible(real_data: Path) -> None:
    """The shipped prior is what tools/pam50_cord_shape.py derives from the PAM50 template."""
    import importlib.util

    pam50 = real_data / "PAM50"
    if not (pam50 / "template" / "PAM50_cord.nii.gz").is_file():
        pytest.skip("PAM50 template not found")
    tool = Path(__file__).resolve().parents[2] / "tools" / "pam50_cord_shape.py"
    spec = importlib.util.spec_from_file_location("pam50_cord_shape", tool)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = json.loads(
        (
            Path(__file__).resolve().parents[2] / "pipeline" / "myelogram" / "data" / "pam50_cord_shape.json"
        ).read_text()
    )
    assert module.build_table(pam50) == shipped


# --- phantom family ---------------------------------------------------------------------------------

PHANTOMS = [
    pytest.param(
        seed, contrast, orientation, slice_mm, n_slices, id=f"{contrast}-{orientation}-{slice_mm:g}mm-s{seed}"
    )
    for seed, contrast, orientation, slice_mm, n_slices in [
        (11, "t2", "axial", 3.0, 9),
        (12, "t2star", "axial", 4.0, 12),
        (13, "mt", "axial", 2.0, 15),
        (14, "t1", "axial", 3.0, 9),
        (15, "t2", "sagittal", 3.0, None),
        (16, "t2star", "sagittal", 2.0, None),
        (17, "t1", "sagittal", 3.0, None),
        (18, "mt", "axial", 1.0, None),
    ]
]


@pytest.mark.parametrize(("seed", "contrast", "orientation", "slice_mm", "n_slices"), PHANTOMS)
def test_phantom_family_cord_dice(
    seed: int, contrast: str, orientation: str, slice_mm: float, n_slices: int | None
) -> None:
    phantom = make_mri_cord_phantom(
        seed, contrast=contrast, orientation=orientation, slice_mm=slice_mm, n_slices=n_slices
    )
    result = segment_cord(phantom.image, contrast=contrast)
    assert result.contrast == contrast
    # Worst case over the family in benchmarks/cord_mri.py is ~0.88 (sagittal 3 mm, tight sac).
    assert _dice(result.cord_mask, phantom.cord_mask) >= 0.85


@pytest.mark.parametrize(("contrast", "expected"), [("t2", "t2"), ("t2star", "t2"), ("t1", "t1")])
def test_phantom_polarity_detected_without_header(contrast: str, expected: str) -> None:
    phantom = make_mri_cord_phantom(21, contrast=contrast, orientation="axial", slice_mm=3.0, n_slices=12)
    image = Volume(phantom.image.array, phantom.image.affine_lps)
    result = segment_cord(image, contrast="auto")
    assert result.contrast == expected
    assert _dice(result.cord_mask, phantom.cord_mask) >= 0.85


# --- contrast from the header -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ({"description": "T2_TSE_SAG"}, Contrast.T2),
        ({"description": "ax T2* MEDIC"}, Contrast.T2STAR),
        ({"description": "gre_me_t2star"}, Contrast.T2STAR),
        ({"description": "MT_on_gre"}, Contrast.MT),
        ({"scan_options": "PFP\\MT"}, Contrast.MT),
        ({"file_name": "sub-01_T1w.nii.gz"}, Contrast.T1),
        ({"echo_time_ms": 95.0, "repetition_time_ms": 3000.0}, Contrast.T2),
        ({"echo_time_ms": 20.0, "scanning_sequence": "GR"}, Contrast.T2STAR),
        ({"echo_time_ms": 5.8, "repetition_time_ms": 600.0}, Contrast.T1),
    ],
)
def test_contrast_from_header(hints: dict[str, object], expected: Contrast) -> None:
    found = contrast_from_header(hints)
    assert found is not None
    assert found[0] is expected


def test_contrast_from_header_says_nothing_without_evidence() -> None:
    assert contrast_from_header({"file_name": "image.nii.gz", "echo_time_ms": 30.0}) is None


# --- failure: exit 4, never a mask elsewhere ------------------------------------------------------------


def test_noise_only_exits_4_naming_the_slices() -> None:
    rng = np.random.default_rng(0)
    volume = Volume(
        rng.normal(300.0, 30.0, (60, 60, 9)).astype(np.float32) ** 1, np.diag([0.8, 0.8, 3.0, 1.0])
    )
    with pytest.raises(AnalysisError, match=r"cord not found.*slices"):
        segment_cord(volume, contrast="t2")


def test_no_canal_exits_4() -> None:
    """Soft tissue with a bias field and noise but no canal (sac, cord, fat and bone at muscle level)."""
    phantom = make_mri_cord_phantom(5, contrast="t2", orientation="axial", slice_mm=3.0, n_slices=9)
    image = phantom.image.array.copy()
    canal = ndimage.binary_dilation(phantom.cord_mask | phantom.csf_mask, iterations=12)
    rng = np.random.default_rng(1)
    image[canal] = np.median(image[~canal]) + rng.normal(0.0, 40.0, int(canal.sum()))
    with pytest.raises(AnalysisError, match=r"cord not found.*slices"):
        segment_cord(phantom.image.with_array(np.abs(image)), contrast="t2")


def test_csf_without_contrast_never_gives_a_mask_outside_the_canal() -> None:
    """CSF with the cord's signal: either exit 4 or a mask inside the dural sac (the canal), never elsewhere."""
    phantom = make_mri_cord_phantom(5, contrast="t2", orientation="axial", slice_mm=3.0, n_slices=9, bias=0.0)
    image = phantom.image.array.copy()
    csf, cord = phantom.csf_mask, phantom.cord_mask
    image[csf] = np.median(image[cord])
    try:
        result = segment_cord(phantom.image.with_array(image), contrast="t2")
    except AnalysisError as exc:
        message = str(exc)
        result = None
    if result is None:
        assert "cord not found" in message
        return
    canal = ndimage.binary_dilation(csf | cord, iterations=1)
    assert result.cord_mask[~canal].sum() <= 0.05 * result.cord_mask.sum()


def test_found_cord_lies_inside_the_canal() -> None:
    phantom = make_mri_cord_phantom(6, contrast="t2", orientation="axial", slice_mm=3.0, n_slices=9)
    result = segment_cord(phantom.image, contrast="t2")
    sac = phantom.cord_mask | phantom.csf_mask
    assert result.cord_mask[~sac].sum() <= 0.1 * result.cord_mask.sum()


def test_shape_prior_is_cervical_pam50() -> None:
    prior = cervical_cord_prior()
    assert 55.0 <= prior.mean_area_mm2 <= 80.0  # PAM50 C1-C7 cord area
    # Wide enough for atrophic (40 mm²) and large or obliquely cut (120 mm²) cords; edges 3-7 mm out.
    assert prior.min_area_mm2 < 40.0
    assert prior.max_area_mm2 > 120.0
    assert prior.radius_range_mm[0] < 3.0
    assert prior.radius_range_mm[1] > 7.0
    shape = prior.shape_in_view(np.linspace(0, 2 * np.pi, 72, endpoint=False))
    # Wider left-right (view angle 0) than antero-posterior (view angle 90°).
    assert shape[0] > shape[18]


@pytest.mark.realdata
def test_wrong_given_polarity_is_flagged(errsm30: dict[str, tuple[Volume, np.ndarray]]) -> None:
    """A T2 image segmented as T1: the output says the image looks CSF-bright (or the cord is not found)."""
    volume, _ = errsm30["t2"]
    try:
        result = segment_cord(volume, contrast="t1")
    except AnalysisError as exc:
        message = str(exc)
        result = None
    if result is None:
        assert "cord not found" in message
        return
    assert "warning: CSF looks bright" in result.contrast_source
