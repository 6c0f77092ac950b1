"""Diffusion ingest: grouping frames into volumes, b-values and b-vectors against generator truth."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _ingest_support import (
    ENHANCED_MR_STORAGE,
    bvecs_to_world_ras,
    enhanced_header,
    pydicom_file,
    write_dataset,
)
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pipeline.errors import InputDataError
from pipeline.ingest import load_dwi, read_bvals_bvecs, write_bvals_bvecs, write_nifti
from pipeline.ingest.diffusion import sidecar_paths
from pipeline.volume import fsl_bvecs_from_lps

ANGLE = np.radians(20.0)
ORIENTATION = [np.cos(ANGLE), np.sin(ANGLE), 0.0, 0.0, 0.0, -1.0]  # oblique coronal-ish
GRADIENTS_LPS = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.6, 0.8], [0.0, -1.0, 0.0]])
BVALS = np.array([0.0, 1000.0, 1000.0, 1000.0])


def _write_dwi(folder: Path, *, drop_gradient: int | None = None, mixed_b: bool = False) -> None:
    """Classic (one file per slice per volume) MR diffusion series with standard diffusion tags.

    Files have random names and InstanceNumbers that run through the volumes in acquisition order but
    against slice position within a volume, so only the diffusion attributes can group them and only the
    positions can sort them. Volume v's stored value at slice k is 100*v + k.
    """
    template = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    row = np.asarray(ORIENTATION[:3])
    column = np.asarray(ORIENTATION[3:])
    normal = np.cross(row, column)
    series_uid = pydicom.uid.generate_uid()
    rng = np.random.default_rng(3)
    for volume, (b_value, gradient) in enumerate(zip(BVALS, GRADIENTS_LPS, strict=True)):
        for k in range(3):
            ds = copy.deepcopy(template)
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.ImageOrientationPatient = [float(v) for v in ORIENTATION]
            ds.ImagePositionPatient = [float(v) for v in (np.array([5.0, -3.0, 12.0]) + 4.0 * k * normal)]
            ds.InstanceNumber = 3 * volume + (2 - k) + 1
            ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
            ds.DiffusionBValue = float(b_value + (50.0 if mixed_b and k == 1 and volume == 2 else 0.0))
            if volume != drop_gradient:
                ds.DiffusionGradientOrientation = [float(g) for g in gradient]
            ds.PixelData = np.full((64, 64), 100 * volume + k, dtype=np.int16).tobytes()
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.RescaleSlope, ds.RescaleIntercept = 1, 0
            write_dataset(ds, folder / f"{rng.integers(10**9):09d}.dcm")


def test_volumes_grouped_and_encoding_in_image_frame(tmp_path: Path) -> None:
    _write_dwi(tmp_path / "dwi")
    dwi = load_dwi(tmp_path / "dwi")
    assert dwi.volume.shape == (64, 64, 3, 4)
    for v in range(4):
        np.testing.assert_array_equal(dwi.volume.array[0, 0, :, v], 100 * v + np.arange(3))
    np.testing.assert_array_equal(dwi.bvals_s_mm2, BVALS)
    # Back in the world, each .bvec row is the gradient the generator wrote (LPS -> RAS flips x and y).
    world_ras = bvecs_to_world_ras(dwi.bvecs, dwi.volume.affine_ras)
    np.testing.assert_allclose(world_ras, GRADIENTS_LPS * [-1.0, -1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(dwi.bvecs[1:], axis=1), 1.0, atol=1e-9)


def test_bvecs_follow_fsl_determinant_rule() -> None:
    # Identity LPS affine: RAS matrix diag(-1,-1,1) has positive determinant, so x is negated.
    gradient = np.array([[0.6, 0.8, 0.0]])
    np.testing.assert_allclose(fsl_bvecs_from_lps(gradient, np.eye(4)), [[-0.6, 0.8, 0.0]])
    # Flipping one axis (negative determinant) keeps x as projected.
    flipped = np.diag([1.0, -1.0, 1.0, 1.0])
    np.testing.assert_allclose(fsl_bvecs_from_lps(gradient, flipped), [[0.6, -0.8, 0.0]])


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param({"drop_gradient": 2}, "gradients missing", id="gradients-missing"),
        pytest.param({"mixed_b": True}, "inconsistent b-values", id="inconsistent-b"),
    ],
)
def test_bad_encodings_refused(tmp_path: Path, fault: dict[str, object], message: str) -> None:
    _write_dwi(tmp_path / "dwi", **fault)  # type: ignore[arg-type]
    with pytest.raises(InputDataError, match=message):
        load_dwi(tmp_path / "dwi")


def test_non_diffusion_series_refused() -> None:
    with pytest.raises(InputDataError, match="no diffusion b-values"):
        load_dwi(pydicom_file("CT_small.dcm").parent / "dicomdirtests" / "98892001" / "CT5N")


def test_nifti_with_sidecars_round_trips(tmp_path: Path) -> None:
    _write_dwi(tmp_path / "dwi")
    dwi = load_dwi(tmp_path / "dwi")
    nifti = write_nifti(dwi.volume, tmp_path / "dwi.nii.gz")
    bval_path, bvec_path = sidecar_paths(nifti)
    assert (bval_path.name, bvec_path.name) == ("dwi.bval", "dwi.bvec")
    write_bvals_bvecs(dwi.bvals_s_mm2, dwi.bvecs, bval_path, bvec_path)
    again = load_dwi(nifti)
    np.testing.assert_array_equal(again.volume.array, dwi.volume.array)
    np.testing.assert_allclose(again.bvals_s_mm2, dwi.bvals_s_mm2)
    np.testing.assert_allclose(again.bvecs, dwi.bvecs, atol=1e-6)
    bvals, bvecs = read_bvals_bvecs(bval_path, bvec_path)
    np.testing.assert_array_equal(bvals, BVALS)
    assert bvecs.shape == (4, 3)
    assert bval_path.read_text().split() == ["0", "1000", "1000", "1000"]


def test_nifti_volume_count_mismatch_refused(tmp_path: Path) -> None:
    _write_dwi(tmp_path / "dwi")
    dwi = load_dwi(tmp_path / "dwi")
    nifti = write_nifti(dwi.volume, tmp_path / "dwi.nii.gz")
    bval_path, bvec_path = sidecar_paths(nifti)
    write_bvals_bvecs(dwi.bvals_s_mm2[:3], dwi.bvecs[:3], bval_path, bvec_path)
    with pytest.raises(InputDataError, match="4 volume"):
        load_dwi(nifti)


def test_nifti_without_sidecars_refused(tmp_path: Path) -> None:
    _write_dwi(tmp_path / "dwi")
    nifti = write_nifti(load_dwi(tmp_path / "dwi").volume, tmp_path / "dwi.nii.gz")
    with pytest.raises(InputDataError, match="gradients missing"):
        load_dwi(nifti)


def test_enhanced_per_frame_diffusion_sequence(tmp_path: Path) -> None:
    """Enhanced MR: b-value and gradient per frame inside the MR Diffusion Sequence (PS3.3 C.8.13.5.9)."""
    _write_dwi(tmp_path / "classic")
    classic = load_dwi(tmp_path / "classic")
    # Frames in acquisition order (as scanners store them); within a volume against slice position.
    sources = sorted(
        (pydicom.dcmread(p) for p in (tmp_path / "classic").iterdir()), key=lambda d: d.InstanceNumber
    )
    ds = enhanced_header(
        sources[0], ENHANCED_MR_STORAGE, ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"], len(sources)
    )
    items = []
    for source in sources:
        item, position, diffusion = Dataset(), Dataset(), Dataset()
        position.ImagePositionPatient = source.ImagePositionPatient
        diffusion.DiffusionBValue = source.DiffusionBValue
        diffusion.DiffusionDirectionality = "DIRECTIONAL" if source.DiffusionBValue else "NONE"
        if "DiffusionGradientOrientation" in source:
            direction = Dataset()
            direction.DiffusionGradientOrientation = source.DiffusionGradientOrientation
            diffusion.DiffusionGradientDirectionSequence = Sequence([direction])
        item.PlanePositionSequence = Sequence([position])
        item.MRDiffusionSequence = Sequence([diffusion])
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(items)
    ds.PixelData = b"".join(s.PixelData for s in sources)
    write_dataset(ds, tmp_path / "enhanced" / "dwi.dcm")
    dwi = load_dwi(tmp_path / "enhanced")
    np.testing.assert_array_equal(dwi.volume.array, classic.volume.array)
    np.testing.assert_array_equal(dwi.bvals_s_mm2, classic.bvals_s_mm2)
    np.testing.assert_allclose(dwi.bvecs, classic.bvecs, atol=1e-9)
