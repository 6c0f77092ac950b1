"""Helpers shared by the ingest tests: bundled real DICOM files, dcm2niix runs, world-space comparison."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from pipeline.volume import Volume


def pydicom_file(name: str) -> Path:
    """A real file bundled with pydicom (offline: never download)."""
    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"pydicom test file {name} not bundled")
    return Path(found)


def pydicom_folder(relative: str) -> Path:
    """A folder of pydicom's bundled test files, e.g. ``dicomdirtests/98892001/CT5N``."""
    return pydicom_file("CT_small.dcm").parent / relative


def nibabel_data(name: str) -> Path:
    return Path(nib.__file__).parent / "nicom" / "tests" / "data" / name


def siemens_dwi_folder(tmp: Path) -> Path:
    """nibabel's two Siemens mosaic DWI files (b=0 and b=1000, CSA header), gunzipped into ``tmp``."""
    folder = tmp / "siemens_dwi"
    folder.mkdir()
    for name in ("siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz"):
        with gzip.open(nibabel_data(name)) as source:
            (folder / name.removesuffix(".gz")).write_bytes(source.read())
    return folder


def dcm2niix() -> str:
    """The dcm2niix executable (PATH or beside the running Python); skip when absent."""
    found = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    if not Path(found).exists():
        pytest.skip("dcm2niix not installed (pip install dcm2niix)")
    return found


def run_dcm2niix(source: Path, out: Path) -> list[Path]:
    """Convert ``source`` with dcm2niix (uncompressed, default tilt/equalisation); returns the .nii files."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [dcm2niix(), "-z", "n", "-f", "%s_%d", "-o", str(out), str(source)], check=True, capture_output=True
    )
    return sorted(out.glob("*.nii"))


def copy_series(source: Path, destination: Path) -> Path:
    """Copy a folder's files (never modify the bundled inputs) and make them writable."""
    shutil.copytree(source, destination)
    for path in destination.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return destination


def aligned_to_reference(
    volume: Volume, reference: Path, atol_mm: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Our voxels and the reference NIfTI's voxels at the same world points.

    Maps every voxel centre of ``volume`` to RAS and into the reference's index space; asserts the
    mapping is a signed axis permutation landing on voxel centres within ``atol_mm`` (this absorbs
    dcm2niix's row flip and slice order). Returns the two arrays in our index order.
    """
    image = nib.load(reference)
    data = np.asanyarray(image.dataobj).astype(np.float32)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    ours = volume.array
    to_reference = np.linalg.inv(image.affine) @ volume.affine_ras
    permutation = np.round(to_reference[:3, :3])
    assert np.all(np.abs(permutation).sum(axis=0) == 1), f"not an axis permutation:\n{to_reference}"
    shape = np.array(ours.shape[:3])
    corners = np.array(
        [[i, j, k, 1.0] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)]
    )
    ras_ours = (volume.affine_ras @ corners.T).T[:, :3]
    indices = (to_reference @ corners.T).T[:, :3]
    ras_reference = (image.affine @ np.c_[np.round(indices), np.ones(8)].T).T[:, :3]
    assert np.max(np.linalg.norm(ras_ours - ras_reference, axis=1)) < atol_mm
    grid = np.indices(ours.shape[:3]).reshape(3, -1)
    reference_index = (permutation @ grid + np.round(to_reference[:3, 3])[:, None]).astype(int)
    assert np.all(reference_index >= 0)
    assert np.all(reference_index.max(axis=1) < np.array(data.shape[:3]))
    theirs = data[tuple(reference_index)].reshape(ours.shape[:3] + data.shape[3:])
    return ours, theirs


def read_dcm2niix_encoding(nii: Path) -> tuple[np.ndarray, np.ndarray]:
    stem = nii.name.removesuffix(".nii")
    bvals = np.loadtxt(nii.with_name(stem + ".bval"), ndmin=1)
    bvecs = np.loadtxt(nii.with_name(stem + ".bvec"), ndmin=2).T
    return bvals, bvecs


def bvecs_to_world_ras(bvecs: np.ndarray, affine_ras: np.ndarray) -> np.ndarray:
    """FSL .bvec rows to world (RAS) directions: undo the x flip for positive determinants, rotate."""
    vectors = np.array(bvecs, dtype=np.float64)
    if np.linalg.det(affine_ras[:3, :3]) > 0:
        vectors[:, 0] = -vectors[:, 0]
    directions = affine_ras[:3, :3] / np.linalg.norm(affine_ras[:3, :3], axis=0)
    return vectors @ directions.T


def write_dataset(ds: pydicom.Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"


def enhanced_header(
    first: pydicom.Dataset, sop_class_uid: str, image_type: list[str], number_of_frames: int
) -> pydicom.Dataset:
    """Multi-frame header built from a classic slice: identity, pixel format and shared geometry.

    Copies the study/series/pixel-format attributes of ``first``, gives the file a new series UID and
    puts the orientation and pixel measures into the Shared Functional Groups (PS3.3 C.7.6.16). The
    caller adds the Per-Frame Functional Groups and the pixel data.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class_uid
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class_uid
    for keyword in (
        "StudyInstanceUID",
        "SeriesNumber",
        "SeriesDescription",
        "Modality",
        "Manufacturer",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "StudyDate",
    ):
        if keyword in first:
            setattr(ds, keyword, first.get(keyword))
    ds.SeriesInstanceUID = generate_uid()
    ds.ImageType = image_type
    ds.NumberOfFrames = number_of_frames
    shared = Dataset()
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = first.ImageOrientationPatient
    measures.PixelSpacing = first.PixelSpacing
    measures.SliceThickness = first.SliceThickness
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    return ds


def enhanced_ct_from_series(folder: Path, path: Path, frame_order: list[int] | None = None) -> Path:
    """Pack a classic single-frame CT series into one Enhanced CT multi-frame file (PS3.3 A.38).

    Every frame keeps its source slice's pixels, position and rescale, in ``frame_order`` (default:
    reversed slice order, so that the loader must sort by position). The result is a real CT volume
    encoded the enhanced way, which dcm2niix also reads.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    sources = sorted(
        (pydicom.dcmread(p) for p in folder.iterdir() if p.is_file()),
        key=lambda d: float(d.ImagePositionPatient[2]),
    )
    order = frame_order if frame_order is not None else list(range(len(sources)))[::-1]
    ds = enhanced_header(
        sources[0], ENHANCED_CT_STORAGE, ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"], len(order)
    )
    ds.InstanceNumber = 1
    per_frame = []
    for number, index in enumerate(order, start=1):
        source = sources[index]
        item, position, transform, content = Dataset(), Dataset(), Dataset(), Dataset()
        position.ImagePositionPatient = source.ImagePositionPatient
        transform.RescaleSlope = source.get("RescaleSlope", 1)
        transform.RescaleIntercept = source.get("RescaleIntercept", 0)
        transform.RescaleType = "HU"
        content.FrameAcquisitionNumber = number
        content.DimensionIndexValues = [1, index + 1]
        item.PlanePositionSequence = Sequence([position])
        item.PixelValueTransformationSequence = Sequence([transform])
        item.FrameContentSequence = Sequence([content])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = b"".join(sources[i].PixelData for i in order)
    return write_dataset(ds, path)
