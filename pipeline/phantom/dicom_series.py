"""Write phantom volumes as DICOM series: CT Image IOD (CT myelogram, CTA) and MR Image IOD (3D T2, DWI).

One file per slice (and, for DWI, per slice per diffusion volume), as most scanners export. Geometry comes
from the :class:`~pipeline.volume.Volume` affine: ImageOrientationPatient holds the directions of the
array's axis 0 (along a row) and axis 1 (down a column), ImagePositionPatient the LPS centre of the first
voxel of each slice, PixelSpacing is (row spacing, column spacing) = (axis-1, axis-0 spacing) (PS3.3
C.7.6.2). Diffusion volumes carry the standard attributes DiffusionBValue (0018,9087),
DiffusionGradientOrientation (0018,9089, patient LPS frame) and DiffusionDirectionality (0018,9075)
(PS3.3 C.8.13.5.9).

Every UID is derived from the case name, seed and series (``generate_uid`` with fixed entropy), and dates
are fixed, so regenerating a study gives identical bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
)

from pipeline.volume import Volume

__all__ = ["SeriesInfo", "StudyInfo", "deterministic_uid", "write_ct_series", "write_mr_series"]

# A fixed study date: phantoms are not acquisitions; bit-for-bit regeneration needs no clock.
_DATE = "20260101"
_MANUFACTURER = "cordotomy-pipeline phantom"
_TRANSFER_SYNTAXES = {"explicit": ExplicitVRLittleEndian, "rle": RLELossless}


def deterministic_uid(*parts: object) -> UID:
    """A UID under the 2.25 root (PS3.5 B.2) from a name-based (SHA-1, RFC 4122 version 5) UUID of
    ``parts``: the same parts always give the same UID, different parts practically never collide."""
    name = "/".join(["cordotomy-phantom", *(str(p) for p in parts)])
    return UID(f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, name).int}")


@dataclass(frozen=True)
class StudyInfo:
    """Patient and study attributes shared by every series of a phantom study (no real person)."""

    key: str  # e.g. "normal-seed0": feeds every UID
    patient_name: str = "PHANTOM^CORDOTOMY"
    patient_id: str = "PHANTOM"
    study_description: str = "Cordotomy phantom study"

    @property
    def study_uid(self) -> UID:
        return deterministic_uid(self.key, "study")


@dataclass(frozen=True)
class SeriesInfo:
    """Per-series attributes."""

    number: int
    description: str
    frame_key: str  # series acquired in the same session share a frame of reference
    time: str = "090000"


def _base_dataset(study: StudyInfo, series: SeriesInfo, sop_class: UID, modality: str, index: int) -> Dataset:
    series_uid = deterministic_uid(study.key, "series", series.number)
    sop_uid = deterministic_uid(study.key, "series", series.number, "instance", index)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "CORDOTOMY_PH"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    # SOP Common, Patient, General Study (PS3.3 C.12.1, C.7.1.1, C.7.2.1).
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = _DATE
    ds.StudyTime = "090000"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.StudyDescription = study.study_description
    # General Series, Frame of Reference, General Equipment (C.7.3.1, C.7.4.1, C.7.5.1).
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series.number
    ds.SeriesDescription = series.description
    ds.SeriesDate = _DATE
    ds.SeriesTime = series.time
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = deterministic_uid(study.key, "frame", series.frame_key)
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = _MANUFACTURER
    ds.ManufacturerModelName = "synthetic"
    ds.SoftwareVersions = "1"
    # General Image (C.7.6.1).
    ds.InstanceNumber = index + 1
    ds.ContentDate = _DATE
    ds.ContentTime = series.time
    ds.AcquisitionDate = _DATE
    ds.AcquisitionTime = series.time
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    return ds


def _set_plane(ds: Dataset, volume: Volume, k: int) -> None:
    """Image Plane module (C.7.6.2) for slice ``k`` of ``volume``."""
    direction = volume.direction_lps
    spacing = volume.spacing_mm
    position = volume.index_to_lps(np.array([0.0, 0.0, float(k)]))
    normal = np.cross(direction[:, 0], direction[:, 1])
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*direction[:, 0], *direction[:, 1])]
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[0]:.6f}"]
    ds.SliceThickness = f"{spacing[2]:.6f}"
    ds.SpacingBetweenSlices = f"{spacing[2]:.6f}"
    ds.SliceLocation = f"{float(position @ normal):.6f}"


def _set_pixels(ds: Dataset, slice_array: np.ndarray, signed: bool, bits_stored: int) -> None:
    """Image Pixel module (C.7.6.3); ``slice_array`` is (axis0, axis1) and is stored rows = axis 1."""
    pixels = np.ascontiguousarray(slice_array.T)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = pixels.astype("<i2" if signed else "<u2").tobytes()


def _save(ds: Dataset, path: Path, transfer_syntax: str) -> None:
    syntax = _TRANSFER_SYNTAXES[transfer_syntax]
    if syntax != ExplicitVRLittleEndian:
        # Lossless: the same image, so the same SOP Instance UID (PS3.5 8.2; pydicom would mint a new one).
        ds.compress(syntax, encoding_plugin="pydicom", generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)


def write_ct_series(
    volume: Volume,
    folder: Path,
    study: StudyInfo,
    series: SeriesInfo,
    *,
    kvp: float = 120.0,
    kernel: str = "BONE",
    window: tuple[float, float] = (400.0, 1800.0),
    transfer_syntax: str = "explicit",
) -> list[Path]:
    """Write a 3-D HU volume as a CT Image IOD series (PS3.3 A.3), one file per slice.

    Stored values are unsigned with RescaleIntercept −1024 (as many scanners do), so readers must apply
    the Modality LUT to get HU.
    """
    folder.mkdir(parents=True, exist_ok=True)
    hu = np.asarray(volume.array)
    stored = np.clip(np.rint(hu).astype(np.int32) + 1024, 0, 4095)
    paths = []
    for k in range(hu.shape[2]):
        ds = _base_dataset(study, series, CTImageStorage, "CT", k)
        _set_plane(ds, volume, k)
        _set_pixels(ds, stored[:, :, k], signed=False, bits_stored=12)
        # CT Image module (C.8.2.1).
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.KVP = f"{kvp:g}"
        ds.AcquisitionNumber = 1
        ds.ConvolutionKernel = kernel
        ds.WindowCenter = f"{window[0]:g}"
        ds.WindowWidth = f"{window[1]:g}"
        path = folder / f"IM{k + 1:04d}.dcm"
        _save(ds, path, transfer_syntax)
        paths.append(path)
    return paths


def _mr_common(ds: Dataset, *, tr_ms: float, te_ms: float, sequence: str, three_d: bool) -> None:
    """MR Image module (PS3.3 C.8.3.1) attributes common to our MR series."""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.ScanningSequence = ["SE"] if sequence == "t2" else ["EP"]
    ds.SequenceVariant = ["SK", "SP"]
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "3D" if three_d else "2D"
    ds.RepetitionTime = f"{tr_ms:g}"
    ds.EchoTime = f"{te_ms:g}"
    ds.EchoTrainLength = 1 if sequence == "dwi" else 80
    ds.MagneticFieldStrength = "3"
    ds.ImagingFrequency = "123.2"
    ds.ImagedNucleus = "1H"
    ds.SequenceName = "ep_b" if sequence == "dwi" else "spc"
    ds.AngioFlag = "N"
    ds.AcquisitionNumber = 1


def write_mr_series(
    volume: Volume,
    folder: Path,
    study: StudyInfo,
    series: SeriesInfo,
    *,
    bvals_s_mm2: Sequence[float] | np.ndarray | None = None,
    directions_lps: np.ndarray | None = None,
    transfer_syntax: str = "explicit",
) -> list[Path]:
    """Write a 3-D (3D T2) or 4-D (DWI, volumes last) MR volume as an MR Image IOD series (PS3.3 A.4).

    Values are stored as unsigned integers (rounded); DWI files are ordered volume by volume, each
    slice carrying its volume's b-value and LPS gradient direction (zero vector and "NONE" for b=0).
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = np.asarray(volume.array)
    is_dwi = data.ndim == 4
    if is_dwi and (bvals_s_mm2 is None or directions_lps is None):
        raise ValueError("a 4-D MR volume needs bvals_s_mm2 and directions_lps")
    stored = np.clip(np.rint(data), 0, 65535).astype(np.uint16)
    n_volumes = data.shape[3] if is_dwi else 1
    n_slices = data.shape[2]
    paths = []
    for t in range(n_volumes):
        for k in range(n_slices):
            index = t * n_slices + k
            ds = _base_dataset(study, series, MRImageStorage, "MR", index)
            _set_plane(ds, volume, k)
            _set_pixels(ds, stored[:, :, k, t] if is_dwi else stored[:, :, k], signed=False, bits_stored=16)
            if is_dwi:
                _mr_common(ds, tr_ms=4000.0, te_ms=75.0, sequence="dwi", three_d=False)
                b = float(bvals_s_mm2[t])  # type: ignore[index]
                g = np.asarray(directions_lps)[t]
                ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
                ds.AcquisitionNumber = t + 1
                ds.TemporalPositionIdentifier = t + 1
                ds.DiffusionBValue = b
                ds.DiffusionDirectionality = "DIRECTIONAL" if b > 0 else "NONE"
                if b > 0:
                    ds.DiffusionGradientOrientation = [float(v) for v in g]
            else:
                _mr_common(ds, tr_ms=1500.0, te_ms=130.0, sequence="t2", three_d=True)
            path = folder / f"IM{index + 1:05d}.dcm"
            _save(ds, path, transfer_syntax)
            paths.append(path)
    return paths
