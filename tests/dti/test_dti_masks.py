"""Masks from files: NIfTI on the DWI grid or another grid, and DICOM SEG (highdicom) on the DWI series."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from pipeline.dti.masks import load_mask
from pipeline.errors import InputDataError
from pipeline.ingest import load_dwi
from pipeline.phantom.dicom_series import SeriesInfo, StudyInfo, write_mr_series
from pipeline.phantom.dwi import make_dwi_phantom
from pipeline.volume import Volume


@pytest.fixture(scope="module")
def phantom():
    return make_dwi_phantom(cordotomy_side="left", cord_offset_mm=(1.6, -2.4), rotation_deg=8.0)


def test_nifti_on_the_dwi_grid_is_used_as_is(phantom, tmp_path: Path) -> None:
    path = tmp_path / "lesion.nii.gz"
    phantom.volume.with_array(phantom.lesion_mask.astype(np.uint8)).to_nifti().to_filename(path)
    np.testing.assert_array_equal(load_mask(path, phantom.volume), phantom.lesion_mask)


def test_nifti_on_a_finer_grid_is_resampled(phantom, tmp_path: Path) -> None:
    """A cord mask drawn at twice the in-plane resolution lands on the same DWI voxels."""
    fine_affine = phantom.volume.affine_lps.copy()
    fine_affine[:3, 0] /= 2
    fine_affine[:3, 1] /= 2
    fine_affine[:3, 3] -= 0.25 * (phantom.volume.affine_lps[:3, 0] + phantom.volume.affine_lps[:3, 1])
    fine = np.repeat(np.repeat(phantom.cord_mask, 2, axis=0), 2, axis=1)
    path = tmp_path / "cord.nii.gz"
    Volume(fine.astype(np.uint8), fine_affine).to_nifti().to_filename(path)
    np.testing.assert_array_equal(load_mask(path, phantom.volume), phantom.cord_mask)


def test_dicom_seg_on_the_dwi_series(phantom, tmp_path: Path) -> None:
    stored = phantom.volume.with_array(np.clip(np.rint(phantom.volume.array), 0, 65535).astype(np.uint16))
    write_mr_series(
        stored,
        tmp_path / "dwi",
        StudyInfo(key="dti-seg-test"),
        SeriesInfo(5, "DTI cord", frame_key="session"),
        bvals_s_mm2=phantom.bvals_s_mm2,
        directions_lps=phantom.directions_lps,
    )
    n_slices = phantom.volume.shape[2]
    sources = [pydicom.dcmread(tmp_path / "dwi" / f"IM{k + 1:05d}.dcm") for k in range(n_slices)]  # b0 volume
    lesion = phantom.lesion_mask
    pixels = np.stack([lesion[:, :, k].T for k in range(n_slices)]).astype(np.uint8)  # (frames, rows, cols)
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="cordotomy lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=hd.UID(),
        series_number=100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="cordotomy-pipeline tests",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="0",
    )
    path = tmp_path / "lesion_seg.dcm"
    seg.save_as(path)
    dwi = load_dwi(tmp_path / "dwi")
    np.testing.assert_array_equal(load_mask(path, dwi.volume, label="lesion mask"), lesion)


def test_a_plain_dicom_image_is_not_a_mask(phantom, tmp_path: Path) -> None:
    write_mr_series(
        phantom.volume.with_array(np.rint(phantom.volume.array[..., :1]).astype(np.uint16)),
        tmp_path / "dwi",
        StudyInfo(key="dti-notseg"),
        SeriesInfo(5, "DTI", frame_key="session"),
        bvals_s_mm2=[0.0],
        directions_lps=np.zeros((1, 3)),
    )
    with pytest.raises(InputDataError, match="not a segmentation"):
        load_mask(tmp_path / "dwi" / "IM00001.dcm", phantom.volume, label="lesion mask")


def test_mask_outside_the_dwi_is_refused(phantom, tmp_path: Path) -> None:
    far = phantom.volume.affine_lps.copy()
    far[:3, 3] += 500.0
    path = tmp_path / "far.nii.gz"
    Volume(phantom.lesion_mask.astype(np.uint8), far).to_nifti().to_filename(path)
    with pytest.raises(InputDataError, match="does not overlap the DWI"):
        load_mask(path, phantom.volume, label="lesion mask")


def _analytic_cord(volume_shape: tuple[int, int, int], affine_lps: np.ndarray, phantom) -> np.ndarray:
    """The phantom's cord ellipse (truth geometry, LPS) sampled at the voxel centres of any grid."""
    truth = phantom.truth
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in volume_shape), indexing="ij"), axis=-1)
    points = grid @ affine_lps[:3, :3].T + affine_lps[:3, 3]
    relative = points - np.asarray(truth["cord_centre_lps_mm"])
    u = relative @ np.asarray(truth["left_axis_lps"])
    v = relative @ np.asarray(truth["posterior_axis_lps"])
    return (u / (truth["cord_transverse_mm"] / 2)) ** 2 + (v / (truth["cord_ap_mm"] / 2)) ** 2 <= 1.0


def _turned_grid(
    reference: np.ndarray, degrees: float, spacing_mm: float, shift_mm: np.ndarray
) -> np.ndarray:
    """A grid of isotropic ``spacing_mm`` turned about LPS z and shifted, covering the same region."""
    t = np.radians(degrees)
    turn = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = turn * spacing_mm
    affine[:3, 3] = reference[:3, 3] + shift_mm
    return affine


@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
@pytest.mark.parametrize(
    ("degrees", "spacing_mm", "shift"),
    [
        pytest.param(0.0, 0.4, (0.1, 0.3, 0.0), id="finer-shifted"),
        pytest.param(12.0, 0.5, (-0.7, 0.4, 1.0), id="turned-finer"),
        pytest.param(-20.0, 1.1, (0.3, -0.2, -1.0), id="turned-coarser"),
    ],
)
def test_mask_on_another_grid_is_resampled_by_world_coordinates(
    phantom, tmp_path: Path, interpolation: str, degrees: float, spacing_mm: float, shift: tuple
) -> None:
    """The truth's cord drawn on a shifted, turned grid lands on the cord of the DWI grid."""
    reference = phantom.volume.affine_lps
    affine = _turned_grid(reference, degrees, spacing_mm, np.asarray(shift))
    extent = np.array(phantom.volume.shape[:3]) * phantom.volume.spacing_mm
    shape = tuple(int(n) for n in np.ceil(extent / spacing_mm * 1.3))
    affine[:3, 3] -= affine[:3, :3] @ (0.15 * np.array(shape))  # the turned grid covers the DWI's
    path = tmp_path / "cord.nii.gz"
    Volume(_analytic_cord(shape, affine, phantom).astype(np.uint8), affine).to_nifti().to_filename(path)
    expected = _analytic_cord(phantom.volume.shape[:3], reference, phantom)
    found = load_mask(path, phantom.volume, label="cord mask", interpolation=interpolation)
    dice = 2 * (found & expected).sum() / (found.sum() + expected.sum())
    # Boundary voxels can go either way within half a mask voxel: Dice of a ~170-pixel ellipse > 0.9.
    assert dice > (0.93 if spacing_mm < 1.0 else 0.9)


def test_unknown_interpolation_is_a_usage_error(phantom, tmp_path: Path) -> None:
    from pipeline.errors import UsageError

    path = tmp_path / "lesion.nii.gz"
    phantom.volume.with_array(phantom.lesion_mask.astype(np.uint8)).to_nifti().to_filename(path)
    with pytest.raises(UsageError, match="interpolation"):
        load_mask(path, phantom.volume, interpolation="cubic")


def test_cord_mask_without_overlap_exits_3_through_the_command(phantom, tmp_path: Path, capsys) -> None:
    from pipeline import cli

    folder = tmp_path / "in"
    folder.mkdir()
    dwi = folder / "dwi.nii.gz"
    phantom.volume.to_nifti().to_filename(dwi)
    (folder / "dwi.bval").write_text(" ".join(f"{b:g}" for b in phantom.bvals_s_mm2) + "\n")
    (folder / "dwi.bvec").write_text(
        "\n".join(" ".join(f"{v:.8f}" for v in row) for row in phantom.bvecs.T) + "\n"
    )
    far = phantom.volume.affine_lps.copy()
    far[:3, 3] += np.array([0.0, 0.0, 300.0])
    mask = tmp_path / "cord.nii.gz"
    Volume(phantom.cord_mask.astype(np.uint8), far).to_nifti().to_filename(mask)
    out = tmp_path / "out"
    assert cli.main(["dti", str(dwi), "--out", str(out), "--cord-mask", str(mask)]) == 3
    assert "does not overlap the DWI" in capsys.readouterr().err
    assert not out.exists()
    # The same mask on a turned 0.5 mm grid is used (exit 0) and the cord it gives is the truth's.
    affine = _turned_grid(phantom.volume.affine_lps, 15.0, 0.5, np.array([-2.0, -2.0, 0.0]))
    affine[:3, 2] = phantom.volume.affine_lps[:3, 2]  # the DWI's slices, turned 0.5 mm pixels
    shape = (80, 80, phantom.volume.shape[2])
    Volume(_analytic_cord(shape, affine, phantom).astype(np.uint8), affine).to_nifti().to_filename(mask)
    assert cli.main(["dti", str(dwi), "--out", str(out), "--cord-mask", str(mask)]) == 0
    cord = np.asarray(Volume.from_nifti(out / "dti" / "cord.nii.gz").array, dtype=bool)
    expected = _analytic_cord(phantom.volume.shape[:3], phantom.volume.affine_lps, phantom)
    assert 2 * (cord & expected).sum() / (cord.sum() + expected.sum()) > 0.93
