"""The one NIfTI reader and writer: RAS on disk, LPS in memory, errors that name the file.

Every module that reads or writes a ``.nii``/``.nii.gz`` goes through here, so that a corrupt file is
always refused the same way (exit 3, naming it) and every file we write has the same header
conventions (sform and qform code 1, float32 real-world values or the given integer type) and the same
bytes for the same data (gzip timestamp 0).
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from pipeline.errors import InputDataError
from pipeline.limits import check_array_size
from pipeline.volume import LPS_TO_RAS, Provenance, Volume

SUFFIXES = (".nii", ".nii.gz")
# What nibabel raises on broken files: truncated data (EOFError, ValueError), bad gzip (OSError,
# zlib.error), not an image (ImageFileError), wrong header fields (HeaderDataError, TypeError).
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    TypeError,
    zlib.error,
    nib.filebasedimages.ImageFileError,
    nib.spatialimages.HeaderDataError,
)


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(SUFFIXES)


def load_nifti(path: str | Path, *, what: str = "NIfTI file", ndim: tuple[int, ...] = (3, 4)) -> Volume:
    """Read ``path`` as a :class:`Volume` (LPS); a single-volume 4-D image becomes 3-D when 3-D is allowed.

    Raises
    ------
    InputDataError
        Unreadable or truncated file, non-finite or singular affine, unexpected dimensionality,
        non-finite voxels.
    """
    path = Path(path)
    try:
        image = nib.load(str(path))
        if not isinstance(image, nib.spatialimages.SpatialImage) or image.affine is None:
            raise TypeError("not an image with an affine")
        # The declared size is checked before the voxels are read (a 2 GB header is only 348 bytes).
        check_array_size(image.shape, 4, f"{what} {path}")
        data = np.asarray(np.asanyarray(image.dataobj))
        affine = np.asarray(image.affine, dtype=np.float64)
    except _READ_ERRORS as exc:
        raise InputDataError(f"{what} {path}: cannot read NIfTI file ({type(exc).__name__}: {exc})") from None
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InputDataError(f"{what} {path}: the voxel-to-world affine is non-finite or singular")
    if min(data.shape, default=0) <= 0:
        raise InputDataError(f"{what} {path}: empty image of shape {data.shape}")
    if data.ndim == 4 and data.shape[3] == 1 and 3 in ndim:
        data = data[..., 0]
    if data.ndim not in ndim:
        wanted = " or ".join(f"{n}-D" for n in ndim)
        raise InputDataError(f"{what} {path}: expected a {wanted} image, got shape {data.shape}")
    if data.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            raise InputDataError(f"{what} {path}: {bad} voxels are not finite numbers (NaN or infinite)")
    return Volume(data, LPS_TO_RAS @ affine, Provenance(source="nifti", source_files=(str(path),)))


def save_nifti(volume: Volume, path: str | Path, *, dtype: np.dtype | type | None = None) -> None:
    """Write ``volume`` to ``path``; floats as float32 unless ``dtype`` says otherwise.

    ``.nii.gz`` is compressed with a zero timestamp, so the same volume always gives the same bytes.
    """
    path = Path(path)
    if dtype is None and volume.array.dtype.kind == "f":
        dtype = np.float32
    image = volume.to_nifti(dtype=dtype)
    if not str(path).lower().endswith(".gz"):
        nib.save(image, str(path))
        return
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=6) as handle:
        handle.write(image.to_bytes())
    path.write_bytes(buffer.getvalue())
