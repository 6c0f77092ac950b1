"""Regions of interest given as files (NIfTI or DICOM SEG), brought onto the DWI grid.

A mask drawn on the DWI (same grid) is used as is. A mask on another grid of the same patient space
(e.g. drawn on a T2 or on the mean b0 exported at another resolution) is resampled with nearest
neighbour through both affines, which is exact for geometry because both are in LPS mm (DESIGN.md §3).
DICOM SEG (PS3.3 A.51) is read with highdicom, whose ``get_volume`` returns the label array with its
LPS affine; all segments are merged into one region.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from pipeline.errors import InputDataError
from pipeline.nifti import load_nifti
from pipeline.volume import Provenance, Volume

_NIFTI_SUFFIXES = (".nii", ".nii.gz")
GRID_TOLERANCE_MM = 1e-3
"""Affines closer than this (in every entry) are the same grid."""


def _read_dicom_seg(path: Path, label: str) -> Volume:
    import highdicom as hd

    try:
        dataset = pydicom.dcmread(path)
    except Exception as exc:
        raise InputDataError(f"{label} {path}: not readable as DICOM ({exc})") from exc
    if getattr(dataset, "Modality", None) != "SEG":
        raise InputDataError(f"{label} {path}: a DICOM file but not a segmentation (Modality is not SEG)")
    try:
        segmentation = hd.seg.Segmentation.from_dataset(dataset)
        volume = segmentation.get_volume(combine_segments=True, relabel=True)
    except Exception as exc:
        raise InputDataError(f"{label} {path}: DICOM SEG is not a regular 3-D volume ({exc})") from exc
    array = np.asarray(volume.array)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    return Volume(array > 0, volume.affine, Provenance(source="dicom-seg"))


def _read_nifti(path: Path, label: str) -> Volume:
    volume = load_nifti(path, what=label, ndim=(3,))
    return volume.with_array(np.asarray(volume.array) > 0)


def load_mask(path: str | Path, reference: Volume, *, label: str = "mask") -> np.ndarray:
    """Read a mask file and return it as a bool array on ``reference``'s grid.

    Parameters
    ----------
    path : path
        NIfTI (``.nii``/``.nii.gz``) or DICOM SEG file.
    reference : Volume
        The DWI (3-D or 4-D); only its first three axes and affine are used.
    label : str
        What the mask is (``"lesion mask"``, ``"cord mask"``), for messages.

    Raises
    ------
    InputDataError
        Unreadable file, not a mask, or no overlap with the DWI.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{label} {path}: no such file")
    if path.name.lower().endswith(_NIFTI_SUFFIXES):
        mask = _read_nifti(path, label)
    else:
        mask = _read_dicom_seg(path, label)
    shape = reference.array.shape[:3]
    same_grid = mask.array.shape == shape and np.allclose(
        mask.affine_lps, reference.affine_lps, atol=GRID_TOLERANCE_MM, rtol=0
    )
    if same_grid:
        result = np.asarray(mask.array, dtype=bool)
    else:
        resampled = mask.with_array(mask.array.astype(np.uint8)).resample_to(
            reference.affine_lps, shape, order=0
        )
        result = resampled.array > 0
    if not result.any():
        raise InputDataError(
            f"{label} {path}: empty on the DWI grid (no voxel set, or no overlap with the DWI)"
        )
    return result
