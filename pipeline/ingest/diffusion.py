"""Diffusion series: b-values and gradient directions in the image frame, as dcm2niix writes them.

Sources, per volume, in order of preference:

* the standard attributes Diffusion b-value (0018,9087) and Diffusion Gradient Orientation (0018,9089)
  (PS3.3 C.8.13.5.9, MR Diffusion Macro), top level in classic images or in the per-frame MR Diffusion
  Sequence of enhanced multi-frame images;
* the Siemens CSA image header (0029,1010): ``B_value`` and ``DiffusionGradientDirection``, read with
  nibabel.nicom.csareader.

DICOM gives the gradient in the patient frame (LPS). FSL's ``.bvec`` (the convention dipy and dcm2niix
use) gives it along the image's voxel axes, with the first component negated when the voxel-to-world
matrix has a positive determinant (FSL FAQ "What conventions do the bvecs use?"; dcm2niix
``nii_dicom_batch.cpp``). :func:`bvecs_image_frame` implements exactly that for our volume's affine,
so the .bvec we write goes with the NIfTI we write.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # nibabel.nicom announces itself as experimental
    from nibabel.nicom import csareader

from pipeline.errors import InputDataError
from pipeline.ingest.geometry import Stack
from pipeline.ingest.header import Header
from pipeline.ingest.limits import check_affine, check_finite_voxels
from pipeline.ingest.mosaic import is_mosaic, mosaic_order
from pipeline.ingest.series import NIFTI_SUFFIXES, SelectedSeries, load_selected, select_series
from pipeline.outputs import staged_files
from pipeline.volume import Volume

_B_ZERO_S_MM2 = 1.0  # b-values below this are b=0 volumes (no gradient needed)


@dataclass(frozen=True)
class DiffusionData:
    """A 4-D diffusion volume (volumes on the last axis) with its encoding.

    ``bvals_s_mm2`` (N,) in s/mm²; ``bvecs`` (N, 3) unit vectors (zero for b=0) in the FSL .bvec
    convention for ``volume.to_nifti()``'s voxel axes, as dcm2niix writes them.
    """

    volume: Volume
    bvals_s_mm2: np.ndarray
    bvecs: np.ndarray


def bvecs_image_frame(gradients_lps: np.ndarray, affine_lps: np.ndarray) -> np.ndarray:
    """Gradient directions (N, 3) in LPS to the FSL .bvec convention of a volume with ``affine_lps``.

    Components are projections on the voxel axes; the first is negated when the NIfTI (RAS)
    voxel-to-world matrix has a positive determinant (FSL's radiological storage convention).
    """
    directions = affine_lps[:3, :3] / np.linalg.norm(affine_lps[:3, :3], axis=0)
    vectors = np.asarray(gradients_lps, dtype=np.float64) @ directions
    ras = np.diag([-1.0, -1.0, 1.0]) @ affine_lps[:3, :3]
    if np.linalg.det(ras) > 0:
        vectors[:, 0] = -vectors[:, 0]
    return vectors


def _csa(header: Header) -> tuple[float | None, tuple[float, ...] | None]:
    """Nominal b-value and gradient direction (LPS) from the Siemens CSA image header, if present."""
    try:
        ds = pydicom.dcmread(header.path, stop_before_pixels=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            csa = csareader.get_csa_header(ds, "image")
    except (OSError, ValueError, KeyError, IndexError, csareader.CSAError, pydicom.errors.InvalidDicomError):
        return None, None
    if csa is None:
        return None, None
    b_value = csareader.get_b_value(csa)
    gradient = csareader.get_vector(csa, "DiffusionGradientDirection", 3)
    return (
        None if b_value is None else float(b_value),
        None if gradient is None else tuple(float(g) for g in gradient),
    )


def _encoding(
    headers: list[Header], b_values: list[float | None], gradients: list[tuple[float, ...] | None], label: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate per-volume encodings; return bvals (N,) and unit gradients (N, 3) in LPS."""
    if all(b is None for b in b_values):
        raise InputDataError(
            f"{label}: no diffusion b-values found (0018,9087 or Siemens CSA); not a DWI series?"
        )
    bvals = np.zeros(len(b_values))
    grads = np.zeros((len(b_values), 3))
    for index, (b_value, gradient) in enumerate(zip(b_values, gradients, strict=True)):
        if b_value is None:
            raise InputDataError(f"{label}: volume {index + 1} ({headers[index].path}) has no b-value")
        bvals[index] = b_value
        if b_value < _B_ZERO_S_MM2:
            continue
        norm = 0.0 if gradient is None else float(np.linalg.norm(gradient))
        if norm < 1e-6:
            raise InputDataError(
                f"{label}: volume {index + 1} ({headers[index].path}) has b={b_value:g} s/mm² but no "
                "gradient direction (gradients missing; isotropic/trace image?)"
            )
        grads[index] = np.asarray(gradient) / norm
    return bvals, grads


def _volume_encodings(
    stacks: list[Stack], label: str
) -> tuple[list[Header], list[float | None], list[tuple[float, ...] | None]]:
    headers, b_values, gradients = [], [], []
    for number, stack in enumerate(stacks, start=1):
        values = {None if f.b_value_s_mm2 is None else round(f.b_value_s_mm2, 3) for f in stack.frames}
        if len(values) > 1:
            raise InputDataError(
                f"{label}: volume {number} mixes b-values {sorted(map(str, values))}; inconsistent b-values"
            )
        first = stack.frames[0]
        b_value, gradient = first.b_value_s_mm2, first.gradient_lps
        if gradient is None or b_value is None:
            csa_b, csa_gradient = _csa(first.header)
            b_value = b_value if b_value is not None else csa_b
            gradient = gradient if gradient is not None else csa_gradient
        headers.append(first.header)
        b_values.append(b_value)
        gradients.append(gradient)
    return headers, b_values, gradients


def load_dwi_selected(selected: SelectedSeries) -> DiffusionData:
    """Diffusion data of an already selected DICOM series."""
    volume, stacks = load_selected(selected)
    if stacks is None:
        ordered = mosaic_order(selected.headers)
        encodings = [_csa(h) for h in ordered]
        headers = ordered
        b_values = [
            e[0] if h.b_value_s_mm2 is None else h.b_value_s_mm2
            for e, h in zip(encodings, ordered, strict=True)
        ]
        gradients = [
            e[1] if h.gradient_lps is None else h.gradient_lps
            for e, h in zip(encodings, ordered, strict=True)
        ]
    else:
        headers, b_values, gradients = _volume_encodings(stacks, selected.label)
    bvals, grads = _encoding(headers, b_values, gradients, selected.label)
    if volume.array.ndim == 3:
        volume = volume.with_array(volume.array[..., np.newaxis])
    if volume.array.shape[3] != len(bvals):
        raise InputDataError(
            f"{selected.label}: {volume.array.shape[3]} volumes but {len(bvals)} diffusion encodings"
        )
    bvecs = bvecs_image_frame(grads, volume.affine_lps)
    bvecs[bvals < _B_ZERO_S_MM2] = 0.0
    return DiffusionData(volume=volume, bvals_s_mm2=bvals, bvecs=bvecs)


def is_diffusion_series(selected: SelectedSeries) -> bool:
    """True when the series carries diffusion encodings (standard tags, Siemens b-value, or DIFFUSION type)."""
    return any(
        h.b_value_s_mm2 is not None or h.siemens_b_value is not None or "DIFFUSION" in h.image_type
        for h in selected.headers
    ) or (is_mosaic(selected.headers) and any(_csa(h)[0] is not None for h in selected.headers[:1]))


def sidecar_paths(nifti_path: str | Path) -> tuple[Path, Path]:
    """``X.bval`` and ``X.bvec`` beside ``X.nii`` or ``X.nii.gz``."""
    path = Path(nifti_path)
    name = path.name
    for suffix in NIFTI_SUFFIXES[::-1]:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".bval"), path.with_name(name + ".bvec")


def read_bvals_bvecs(bval_path: str | Path, bvec_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read FSL-style .bval (N values) and .bvec (3 rows of N, or N rows of 3) files."""
    try:
        bvals = np.loadtxt(bval_path, dtype=np.float64, ndmin=1).ravel()
        bvecs = np.loadtxt(bvec_path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise InputDataError(f"cannot read {bval_path} / {bvec_path}: {exc}") from exc
    if bvecs.shape[0] == 3 and bvecs.shape[1] == len(bvals):
        bvecs = bvecs.T
    if bvecs.shape != (len(bvals), 3):
        raise InputDataError(
            f"{bvec_path}: shape {bvecs.shape} does not match {len(bvals)} b-values in {bval_path}"
        )
    if not (np.isfinite(bvals).all() and np.isfinite(bvecs).all()):
        raise InputDataError(f"{bval_path} / {bvec_path}: non-finite values")
    return bvals, bvecs


def _load_nifti_dwi(path: Path) -> DiffusionData:
    bval_path, bvec_path = sidecar_paths(path)
    if not bval_path.is_file() or not bvec_path.is_file():
        raise InputDataError(f"{path}: no {bval_path.name} / {bvec_path.name} beside it (gradients missing)")
    bvals, bvecs = read_bvals_bvecs(bval_path, bvec_path)
    try:
        volume = Volume.from_nifti(path)
    except Exception as exc:
        raise InputDataError(f"{path}: cannot read NIfTI file ({exc})") from exc
    if volume.array.ndim != 4 or volume.array.shape[3] != len(bvals):
        count = volume.array.shape[3] if volume.array.ndim == 4 else 1
        raise InputDataError(f"{path}: {count} volume(s) but {len(bvals)} b-values in {bval_path.name}")
    array = volume.array.astype(np.float32, copy=False)
    metadata = {"source": "nifti", "source_files": [str(path)], "corrections": []}
    return DiffusionData(Volume(array, volume.affine_lps, metadata), bvals, bvecs)


def load_dwi(path: str | Path, series: str | int | None = None) -> DiffusionData:
    """Load a diffusion series (DICOM folder/file) or a NIfTI file with .bval/.bvec beside it.

    Raises
    ------
    InputDataError
        No b-values or gradients, inconsistent b-values within a volume, or volume count not matching
        the encodings.
    UsageError
        Several series and no valid choice.
    """
    path = Path(path)
    if path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES):
        return checked_diffusion(_load_nifti_dwi(path), str(path))
    return checked_diffusion(load_dwi_selected(select_series(path, series)), str(path))


# Diffusion-weighted volumes need a direction; at or below this b-value a volume counts as b0 (dipy's
# default b0_threshold), where scanners often store no direction at all.
_DW_MIN_B_S_MM2 = 50.0


def checked_diffusion(data: DiffusionData, what: str) -> DiffusionData:
    """Refuse an encoding or a volume that no analysis can trust (exit 3), whatever reader produced it.

    b-values finite and >= 0; gradient vectors finite, and non-zero on diffusion-weighted volumes;
    voxels and affine finite.
    """
    bvals = np.asarray(data.bvals_s_mm2, dtype=np.float64)
    bvecs = np.asarray(data.bvecs, dtype=np.float64)
    if not np.isfinite(bvals).all():
        raise InputDataError(f"{what}: b-values are not finite ({_format(bvals[~np.isfinite(bvals)][:3])})")
    if (bvals < 0).any():
        raise InputDataError(
            f"{what}: b-values must be non-negative; negative b-values ({_format(bvals[bvals < 0][:3])} s/mm²)"
        )
    if bvecs.shape != (len(bvals), 3) or not np.isfinite(bvecs).all():
        raise InputDataError(f"{what}: gradient directions are missing or not finite")
    weighted = bvals > _DW_MIN_B_S_MM2
    lengths = np.linalg.norm(bvecs, axis=1)
    if (weighted & (lengths < 1e-6)).any():
        volume = int(np.flatnonzero(weighted & (lengths < 1e-6))[0]) + 1
        raise InputDataError(
            f"{what}: diffusion-weighted volume {volume} (b={bvals[volume - 1]:g} s/mm²) has no unit gradient direction (zero vector)"
        )
    check_affine(data.volume.affine_lps, what)
    check_finite_voxels(data.volume.array, what)
    return data


def _format(values: np.ndarray) -> str:
    return " ".join(f"{v:.6g}" if abs(v) >= 1e-12 else "0" for v in values)


def save_bvals_bvecs(bvals: np.ndarray, bvecs: np.ndarray, bval_path: Path, bvec_path: Path) -> None:
    """Write FSL .bval (one row) and .bvec (three rows), as dcm2niix does."""
    bvals = np.asarray(bvals, dtype=np.float64)
    bvecs = np.asarray(bvecs, dtype=np.float64)
    if bvecs.shape != (len(bvals), 3):
        raise ValueError(f"bvecs shape {bvecs.shape} does not match {len(bvals)} b-values")
    bval_path.write_text(_format(bvals) + "\n")
    bvec_path.write_text("\n".join(_format(bvecs[:, axis]) for axis in range(3)) + "\n")


def write_bvals_bvecs(
    bvals: np.ndarray, bvecs: np.ndarray, bval_path: str | Path, bvec_path: str | Path, *, force: bool = False
) -> None:
    """Write .bval/.bvec atomically (both appear together or not at all)."""
    with staged_files(bval_path, bvec_path, force=force) as (bval_tmp, bvec_tmp):
        save_bvals_bvecs(bvals, bvecs, bval_tmp, bvec_tmp)
