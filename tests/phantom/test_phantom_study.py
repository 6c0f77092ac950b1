"""Written studies are valid DICOM with the truth's geometry (dcm2niix, pydicom, SimpleITK as references)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from phantom_cases import study_in_memory

from pipeline.phantom import Study, save_study
from pipeline.volume import LPS_TO_RAS

STUDIES = {
    "normal-cta": {"variant": "normal", "seed": 0, "vascular": "cta", "transfer_syntax": "explicit"},
    "rotated-t2-rle": {"variant": "head-rotated", "seed": 1, "vascular": "t2", "transfer_syntax": "rle"},
}
SERIES = ["ct_myelogram", "vascular", "dwi"]
CASES = [pytest.param(study, series, id=f"{study}-{series}") for study in STUDIES for series in SERIES]


def _dcm2niix() -> str:
    found = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    if not Path(found).exists():
        pytest.skip("dcm2niix not installed")
    return found


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> dict[str, tuple[Path, dict, Study]]:
    out = {}
    for name, options in STUDIES.items():
        study = study_in_memory(options["variant"], options["seed"], options["vascular"])
        folder = tmp_path_factory.mktemp(name)
        truth = save_study(study, folder, transfer_syntax=options["transfer_syntax"])
        out[name] = (folder, truth, study)
    return out


def _to_our_grid(
    data: np.ndarray, their_affine_ras: np.ndarray, our_affine_lps: np.ndarray, shape
) -> np.ndarray:
    """Reorder another tool's array onto our voxel grid; fails unless the grids coincide exactly."""
    mapping = np.linalg.inv(LPS_TO_RAS @ our_affine_lps) @ their_affine_ras
    rotation, shift = mapping[:3, :3], mapping[:3, 3]
    assert np.allclose(np.abs(rotation), np.round(np.abs(rotation)), atol=1e-4), rotation
    assert np.allclose(shift, np.round(shift), atol=1e-3), shift
    index = np.indices(data.shape[:3]).reshape(3, -1)
    ours = np.rint(np.round(rotation) @ index + shift[:, None]).astype(int)
    out = np.zeros(tuple(shape[:3]) + data.shape[3:], dtype=data.dtype)
    out[tuple(ours)] = data.reshape(index.shape[1], *data.shape[3:])
    return out


def _expected_array(study: Study, series: str) -> np.ndarray:
    """The generator's own array (ground truth), not one of our written files."""
    case = study.case
    if series == "ct_myelogram":
        return case.ct.array.astype(np.float64)
    if series == "vascular":
        return case.vascular.array.astype(np.float64)
    # DICOM stores the DWI magnitude as unsigned integers: the generator's values, rounded.
    return np.clip(np.rint(study.dwi.volume.array.astype(np.float64)), 0, 65535)


@pytest.mark.reference
@pytest.mark.parametrize(("study", "series"), CASES)
def test_dcm2niix_converts_with_truth_geometry(studies, tmp_path, study: str, series: str) -> None:
    folder, truth, generated = studies[study]
    result = subprocess.run(
        [_dcm2niix(), "-z", "n", "-f", "%s", "-o", str(tmp_path), str(folder / "dicom" / series)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()
    outputs = sorted(tmp_path.glob("*.nii"))
    assert len(outputs) == 1, result.stdout
    image = nib.load(str(outputs[0]))
    info = truth["series"][series]
    assert sorted(image.shape) == sorted(info["shape"])  # dcm2niix may store the axes in another order
    data = _to_our_grid(image.get_fdata(), image.affine, np.asarray(info["affine_lps"]), info["shape"])
    np.testing.assert_allclose(data, _expected_array(generated, series), atol=1e-3)
    if series == "dwi":
        bvals = np.loadtxt(outputs[0].with_suffix(".bval"))
        bvecs = np.loadtxt(outputs[0].with_suffix(".bvec")).T
        np.testing.assert_allclose(bvals, truth["dwi"]["bvals_s_mm2"])
        # dcm2niix's FSL b-vectors, mapped back to patient LPS, are the true gradient directions.
        axes_ras = image.affine[:3, :3] / np.linalg.norm(image.affine[:3, :3], axis=0)
        voxel = bvecs.copy()
        if np.linalg.det(image.affine[:3, :3]) > 0:
            voxel[:, 0] *= -1
        lps = (voxel @ axes_ras.T) * np.array([-1.0, -1.0, 1.0])
        true = np.asarray(truth["dwi"]["directions_lps"])
        sign = np.sign(np.sum(lps * true, axis=1, keepdims=True))
        sign[sign == 0] = 1
        np.testing.assert_allclose(lps * sign, true, atol=1e-3)


@pytest.mark.reference
@pytest.mark.parametrize(("study", "series"), CASES)
def test_simpleitk_reads_series_with_truth_geometry(studies, study: str, series: str) -> None:
    folder, truth, _generated = studies[study]
    info = truth["series"][series]
    files = sorted(str(p) for p in (folder / "dicom" / series).glob("*.dcm"))
    n_slices = info["shape"][2]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files[:n_slices])  # DWI: the first diffusion volume (files go volume by volume)
    image = reader.Execute()
    affine = np.asarray(info["affine_lps"])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    np.testing.assert_allclose(image.GetSpacing(), spacing, atol=1e-4)
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), affine[:3, :3] / spacing, atol=1e-6)
    np.testing.assert_allclose(image.GetOrigin(), affine[:3, 3], atol=1e-4)


CT_REQUIRED = [
    # SOP Common, Patient, General Study, General Series, Frame of Reference, General Equipment,
    # General Image, Image Plane, Image Pixel (PS3.3 A.3 CT Image IOD; Type 1 and 2 attributes).
    "SOPClassUID", "SOPInstanceUID", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
    "Modality", "SeriesInstanceUID", "SeriesNumber", "FrameOfReferenceUID", "PositionReferenceIndicator",
    "Manufacturer", "InstanceNumber", "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient",
    "SliceThickness", "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "PixelData",
]  # fmt: skip
CT_IMAGE = ["ImageType", "RescaleIntercept", "RescaleSlope", "KVP", "AcquisitionNumber"]  # C.8.2.1
MR_IMAGE = [  # C.8.3.1
    "ImageType", "ScanningSequence", "SequenceVariant", "ScanOptions", "MRAcquisitionType",
    "RepetitionTime", "EchoTime", "EchoTrainLength",
]  # fmt: skip


@pytest.mark.parametrize(("study", "series"), CASES)
def test_required_iod_attributes_present(studies, study: str, series: str) -> None:
    folder, truth, _generated = studies[study]
    modality = truth["series"][series]["modality"]
    required = CT_REQUIRED + (CT_IMAGE if modality == "CT" else MR_IMAGE)
    files = sorted((folder / "dicom" / series).glob("*.dcm"))
    uids = set()
    for path in files:
        ds = pydicom.dcmread(path)
        missing = [name for name in required if name not in ds]
        assert not missing, (path.name, missing)
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID
        assert ds.SOPClassUID == (
            "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4"
        )
        assert ds.StudyInstanceUID == truth["study_instance_uid"]
        assert ds.SeriesInstanceUID == truth["series"][series]["series_instance_uid"]
        uids.add(ds.SOPInstanceUID)
        if series == "dwi":
            assert "DiffusionBValue" in ds  # (0018,9087)
            if float(ds.DiffusionBValue) > 0:
                assert len(ds.DiffusionGradientOrientation) == 3  # (0018,9089)
        ds.pixel_array  # decodes (RLE included)  # noqa: B018
    assert len(uids) == len(files)


def test_series_share_patient_and_study_but_not_frames(studies) -> None:
    folder, _, _ = studies["normal-cta"]
    first = {
        s: pydicom.dcmread(next((folder / "dicom" / s).glob("*.dcm")), stop_before_pixels=True)
        for s in SERIES
    }
    assert len({ds.PatientID for ds in first.values()}) == 1
    assert len({ds.StudyInstanceUID for ds in first.values()}) == 1
    assert len({ds.SeriesInstanceUID for ds in first.values()}) == 3
    assert len({ds.FrameOfReferenceUID for ds in first.values()}) == 3  # three sessions, three frames


@pytest.mark.parametrize("study", list(STUDIES))
def test_truth_files_are_consistent(studies, study: str) -> None:
    folder, truth, generated = studies[study]
    on_disk = json.loads((folder / "truth" / "truth.json").read_text())
    assert on_disk["schema"] == "cordotomy.phantom-truth/1"
    assert on_disk["study_instance_uid"] == truth["study_instance_uid"]
    case = generated.case
    labels = nib.load(str(folder / truth["files"]["segmentation"]))
    np.testing.assert_allclose(labels.affine, case.labels.affine_ras, atol=1e-6)
    np.testing.assert_array_equal(np.asanyarray(labels.dataobj), case.labels.array)
    dwi = nib.load(str(folder / truth["files"]["dwi_nifti"]))
    np.testing.assert_array_equal(np.asanyarray(dwi.dataobj), _expected_array(generated, "dwi"))
    np.testing.assert_allclose(dwi.affine, generated.dwi.volume.affine_ras, atol=1e-6)
    lesion = nib.load(str(folder / truth["files"]["dwi_lesion"]))
    np.testing.assert_allclose(lesion.affine, dwi.affine)
    bvecs = np.loadtxt(folder / truth["files"]["dwi_bvec"])
    assert bvecs.shape == (3, dwi.shape[3])
    # The lesion lies on the cordotomy side, opposite the pain (Shepherd et al. 2017), on the images.
    dwi_truth = truth["dwi"]
    assert dwi_truth["lesion_side"] != truth["case"]["pain_side"]
    assert dwi_truth["lesion_side"] == truth["case"]["cordotomy_side"]
    mask = np.asanyarray(lesion.dataobj) > 0
    ras = np.argwhere(mask) @ lesion.affine[:3, :3].T + lesion.affine[:3, 3]
    lps = ras * np.array([-1.0, -1.0, 1.0])
    lateral = (lps.mean(axis=0) - np.asarray(dwi_truth["cord_centre_lps_mm"])) @ np.asarray(
        dwi_truth["left_axis_lps"]
    )
    assert lateral > 1.5 if dwi_truth["lesion_side"] == "left" else lateral < -1.5
