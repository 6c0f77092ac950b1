"""Diffusion series: b-values and gradient directions in the image frame, as dcm2niix writes them.

Where each vendor keeps the encoding is in :mod:`pipeline.ingest.gradients` (one module per source,
tried in order); :mod:`pipeline.ingest.encodings` gives every image of the series its b-value and
LPS direction before the frames are grouped into volumes, and leaves out non-image objects and derived
trace images. Here the volumes' encodings are checked and turned into FSL's ``.bval``/``.bvec``:
the directions along our NIfTI's voxel axes, first component negated for a positive RAS determinant
(:func:`pipeline.volume.fsl_bvecs_from_lps`), which is the convention dcm2niix writes and FSL, dipy
and MRtrix read. The .bvec goes with the NIfTI we write (whose rows are not flipped as dcm2niix's are),
so the vectors are the same directions in the world as dcm2niix's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.errors import InputDataError
from pipeline.ingest.encodings import has_diffusion_encoding, resolve_headers
from pipeline.ingest.geometry import Stack
from pipeline.ingest.gradients import UNWEIGHTED_B_S_MM2
from pipeline.ingest.header import Header
from pipeline.ingest.mosaic import mosaic_order
from pipeline.ingest.series import NIFTI_SUFFIXES, SelectedSeries, load_selected, select_series
from pipeline.limits import check_affine, check_finite_voxels
from pipeline.nifti import load_nifti
from pipeline.outputs import staged_files
from pipeline.volume import Volume, fsl_bvecs_from_lps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiffusionData:
    """A 4-D diffusion volume (volumes on the last axis) with its encoding.

    ``bvals_s_mm2`` (N,) in s/mm²; ``bvecs`` (N, 3) unit vectors (zero for b=0) in the FSL .bvec
    convention for ``volume.to_nifti()``'s voxel axes, as dcm2niix writes them.
    """

    volume: Volume
    bvals_s_mm2: np.ndarray
    bvecs: np.ndarray


def _encoding(
    headers: list[Header], b_values: list[float | None], gradients: list[tuple[float, ...] | None], label: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate per-volume encodings; return bvals (N,) and unit gradients (N, 3) in LPS."""
    if all(b is None for b in b_values):
        raise InputDataError(
            f"{label}: no diffusion b-values found (0018,9087, Siemens CSA or a vendor's private "
            "b-value); not a DWI series?"
        )
    bvals = np.zeros(len(b_values))
    grads = np.zeros((len(b_values), 3))
    for index, (b_value, gradient) in enumerate(zip(b_values, gradients, strict=True)):
        norm = 0.0 if gradient is None else float(np.linalg.norm(gradient))
        if b_value is None:
            if norm > 1e-6:
                raise InputDataError(
                    f"{label}: volume {index + 1} ({headers[index].path}) has a gradient direction "
                    "but no b-value"
                )
            log.debug("%s: volume %d has no b-value; read as b = 0", label, index + 1)
            continue
        bvals[index] = b_value
        if norm < 1e-6:
            if b_value >= UNWEIGHTED_B_S_MM2:
                raise InputDataError(
                    f"{label}: volume {index + 1} ({headers[index].path}) has b={b_value:g} s/mm² but no "
                    "readable gradient direction (gradients missing, or in a private tag of another "
                    "vendor)"
                )
            continue
        if b_value > 0:
            grads[index] = np.asarray(gradient) / norm
    return bvals, grads


def _volume_encodings(
    stacks: list[Stack], label: str
) -> tuple[list[Header], list[float | None], list[tuple[float, ...] | None]]:
    headers, b_values, gradients = [], [], []
    for number, stack in enumerate(stacks, start=1):
        values = {None if f.b_value_s_mm2 is None else float(f"{f.b_value_s_mm2:.6g}") for f in stack.frames}
        if len(values) > 1:
            raise InputDataError(
                f"{label}: volume {number} mixes b-values {sorted(map(str, values))}; inconsistent b-values"
            )
        first = stack.frames[0]
        headers.append(first.header)
        b_values.append(first.b_value_s_mm2)
        gradients.append(first.gradient_lps)
    return headers, b_values, gradients


def load_dwi_selected(selected: SelectedSeries) -> DiffusionData:
    """Diffusion data of an already selected DICOM series."""
    if not has_diffusion_encoding(selected.headers):
        raise InputDataError(
            f"{selected.label}: no diffusion b-values found (0018,9087, Siemens CSA or a vendor's "
            "private b-value); not a DWI series?"
        )
    resolved = replace(selected, headers=resolve_headers(selected.headers, selected.label))
    volume, stacks = load_selected(resolved)
    if stacks is None:
        headers = mosaic_order(resolved.headers)
        b_values = [h.b_value_s_mm2 for h in headers]
        gradients = [h.gradient_lps for h in headers]
    else:
        headers, b_values, gradients = _volume_encodings(stacks, selected.label)
    bvals, grads = _encoding(headers, b_values, gradients, selected.label)
    if volume.array.ndim == 3:
        volume = volume.with_array(volume.array[..., np.newaxis])
    if volume.array.shape[3] != len(bvals):
        raise InputDataError(
            f"{selected.label}: {volume.array.shape[3]} volumes but {len(bvals)} diffusion encodings"
        )
    bvecs = fsl_bvecs_from_lps(grads, volume.affine_lps)
    bvecs[bvals <= 0] = 0.0
    return DiffusionData(volume=volume, bvals_s_mm2=bvals, bvecs=bvecs)


def is_diffusion_series(selected: SelectedSeries) -> bool:
    """True when the series carries diffusion encodings by any vendor's attributes (see
    :func:`pipeline.ingest.encodings.has_diffusion_encoding`)."""
    return has_diffusion_encoding(selected.headers)


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
    """Read FSL-style .bval (N values) and .bvec (3 rows of N, or N rows of 3) files with dipy's reader
    (``dipy.io.gradients.read_bvals_bvecs``), our errors on failure."""
    from dipy.io.gradients import read_bvals_bvecs as dipy_read_bvals_bvecs

    try:
        bvals, bvecs = dipy_read_bvals_bvecs(str(bval_path), str(bvec_path))
    except (OSError, ValueError) as exc:
        if type(exc) is OSError:  # dipy's own shape checks (file-system errors are OSError subclasses)
            raise InputDataError(
                f"{bvec_path}: does not match {bval_path} ({exc}; FSL files hold one row of N b-values and "
                "three rows of N vector components)"
            ) from exc
        raise InputDataError(f"cannot read {bval_path} / {bvec_path}: {exc}") from exc
    bvals = np.atleast_1d(np.asarray(bvals, dtype=np.float64))
    bvecs = np.atleast_2d(np.asarray(bvecs, dtype=np.float64))
    if bvals.ndim != 1 or bvecs.shape != (len(bvals), 3):
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
    volume = load_nifti(path, what="DWI", ndim=(3, 4))
    if volume.array.ndim != 4 or volume.array.shape[3] != len(bvals):
        count = volume.array.shape[3] if volume.array.ndim == 4 else 1
        raise InputDataError(f"{path}: {count} volume(s) but {len(bvals)} b-values in {bval_path.name}")
    array = volume.array.astype(np.float32, copy=False)
    return DiffusionData(Volume(array, volume.affine_lps, volume.provenance), bvals, bvecs)


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
