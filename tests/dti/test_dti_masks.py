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
    with pytest.raises(InputDataError, match="no overlap"):
        load_mask(path, phantom.volume, label="lesion mask")
