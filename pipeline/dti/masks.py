"""Regions of interest given as files (NIfTI or DICOM SEG), brought onto the DWI grid.

A mask drawn on the DWI (same grid) is used as is. A mask on another grid of the same patient space
(e.g. drawn on a T2 or on the mean b0 exported at another resolution, shifted or turned) is resampled by
world coordinates: each DWI voxel centre goes through the DWI's LPS affine to patient space and through
the inverse of the mask's affine to the mask's continuous indices (DESIGN.md §3). ``linear`` (the
default) interpolates the mask's 0/1 values there and keeps voxels at or above one half, i.e. voxels
more than half inside the drawn region, whatever the ratio of the two grids; ``nearest`` takes the mask
voxel the centre falls in. A mask none of whose voxels falls inside the DWI's field of view is refused
(exit 3) with the distance between the two, as is an empty one.
DICOM SEG (PS3.3 A.51) is read with highdicom, whose ``get_volume`` returns the label array with its
LPS affine; all segments are merged into one region.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from pipeline.errors import InputDataError, UsageError
from pipeline.nifti import load_nifti
from pipeline.volume import Provenance, Volume

_NIFTI_SUFFIXES = (".nii", ".nii.gz")
GRID_TOLERANCE_MM = 1e-3
"""Affines closer than this (in every entry) are the same grid."""

INTERPOLATIONS = {"nearest": 0, "linear": 1}
"""Resampling of a mask on another grid: spline order of ``scipy.ndimage``."""


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


def _overlap_check(mask: Volume, reference: Volume, path: Path, label: str) -> None:
    """Refuse a mask none of whose voxels lies in the DWI's field of view (voxel boxes in LPS)."""
    ijk = np.argwhere(np.asarray(mask.array, dtype=bool))
    if ijk.size == 0:
        raise InputDataError(f"{label} {path}: no voxel is set (empty mask)")
    inside = reference.lps_to_index(mask.index_to_lps(ijk.astype(np.float64)))
    shape = np.array(reference.array.shape[:3])
    if np.any(np.all((inside >= -0.5) & (inside <= shape - 0.5), axis=1)):
        return
    centre_mask = mask.index_to_lps(ijk.mean(axis=0))
    centre_dwi = reference.index_to_lps((shape - 1) / 2.0)
    raise InputDataError(
        f"{label} {path}: does not overlap the DWI (no mask voxel inside its field of view; the mask's "
        f"centre lies {float(np.linalg.norm(centre_mask - centre_dwi)):.0f} mm from the DWI's): drawn on "
        "another patient or study, or a wrong affine?"
    )


def load_mask(
    path: str | Path, reference: Volume, *, label: str = "mask", interpolation: str = "linear"
) -> np.ndarray:
    """Read a mask file and return it as a bool array on ``reference``'s grid.

    Parameters
    ----------
    path : path
        NIfTI (``.nii``/``.nii.gz``) or DICOM SEG file.
    reference : Volume
        The DWI (3-D or 4-D); only its first three axes and affine are used.
    label : str
        What the mask is (``"lesion mask"``, ``"cord mask"``), for messages.
    interpolation : {"linear", "nearest"}
        How a mask on another grid is resampled (module docstring).

    Raises
    ------
    InputDataError
        Unreadable file, not a mask, empty, or no overlap with the DWI.
    UsageError
        Unknown interpolation.
    """
    if interpolation not in INTERPOLATIONS:
        raise UsageError(
            f"mask interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}"
        )
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
        _overlap_check(mask, reference, path, label)
        order = INTERPOLATIONS[interpolation]
        values = mask.array.astype(np.uint8) if order == 0 else mask.array.astype(np.float32)
        resampled = mask.with_array(values).resample_to(reference.affine_lps, shape, order=order)
        result = resampled.array > 0 if order == 0 else resampled.array >= 0.5
    if not result.any():
        raise InputDataError(
            f"{label} {path}: empty on the DWI grid (no voxel set, or the drawn region is smaller than "
            "half a DWI voxel)"
        )
    return result
