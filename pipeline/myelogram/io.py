"""Reading the stage's inputs and writing its outputs (DESIGN.md §4).

Inputs: a DICOM folder (through :mod:`pipeline.ingest`) or a NIfTI file. Outputs, into a folder that the
caller stages atomically: ``segmentation.nii.gz`` (contract labels on the input grid), ``myelogram.json``
and, for DICOM input, ``dicom/seg.dcm``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from pipeline import ingest
from pipeline.errors import InputDataError, UsageError
from pipeline.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def _choose_series(path: Path, role: str) -> str | None:
    """SeriesInstanceUID to load from a DICOM folder: its only series, or the one with ``role``."""
    infos = [info for info in ingest.discover(path) if info.n_slices > 1]
    if len(infos) <= 1:
        return infos[0].series_uid if infos else None
    chosen = [info for info in infos if info.role == role]
    if len(chosen) == 1:
        return chosen[0].series_uid
    listing = "; ".join(f"{info.series_number} {info.description!r} ({info.role})" for info in infos)
    raise UsageError(
        f"{path} holds several series and {'none' if not chosen else 'more than one'} has the role "
        f"{role!r}: {listing}; point to the series' own folder"
    )


def load_image(path: str | Path, *, role: str = "ct_myelogram") -> Volume:
    """A 3-D image from a NIfTI file or a DICOM folder (its single series, or the one with ``role``)."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{path}: no such file or folder")
    if is_nifti(path):
        volume = ingest.read_nifti(path)
        array = np.asarray(volume.array)
        if array.ndim == 4 and array.shape[3] == 1:
            array = array[..., 0]
        if array.ndim != 3:
            raise InputDataError(f"{path}: expected a 3-D image, got shape {array.shape}")
        return Volume(array.astype(np.float32), volume.affine_lps, {"path": path.name, "source": "nifti"})
    series = _choose_series(path, role) if path.is_dir() else None
    volume = ingest.load_series(path, series)
    if volume.array.ndim != 3:
        raise InputDataError(f"{path}: expected a 3-D image series, got shape {volume.array.shape}")
    return volume


def source_datasets(path: str | Path, *, role: str = "ct_myelogram") -> list[pydicom.Dataset] | None:
    """Headers of the DICOM images a SEG must reference (None for NIfTI input)."""
    path = Path(path)
    if is_nifti(path):
        return None
    series = _choose_series(path, role) if path.is_dir() else None
    return list(ingest.series_datasets(path, series))


def vascular_modality(volume: Volume, requested: str) -> str:
    """``"cta"`` or ``"t2"``: as requested, else from the DICOM modality, else from the value range."""
    if requested in ("cta", "t2"):
        return requested
    modality = str(volume.metadata.get("modality", volume.metadata.get("Modality", ""))).upper()
    if modality == "CT":
        return "cta"
    if modality == "MR":
        return "t2"
    # CT numbers go below -500 (air, fat); MR magnitudes do not.
    return "cta" if float(np.min(volume.array)) < -500.0 else "t2"
