"""One series to NIfTI (+ .bval/.bvec for diffusion), as a researcher would use dcm2niix.

All outputs are written through :func:`pipeline.outputs.staged_files`: they appear together on success
and nothing is left behind on failure.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import UsageError
from pipeline.ingest.diffusion import (
    checked_diffusion,
    is_diffusion_series,
    load_dwi_selected,
    save_bvals_bvecs,
    sidecar_paths,
)
from pipeline.ingest.series import NIFTI_SUFFIXES, load_selected, select_series
from pipeline.nifti import save_nifti
from pipeline.outputs import check_output_files, staged_files


def convert(
    path: str | Path,
    out: str | Path,
    series: str | int | None = None,
    *,
    resample: bool = True,
    force: bool = False,
) -> list[Path]:
    """Convert one DICOM series under ``path`` to ``out`` (``.nii`` or ``.nii.gz``); returns written files.

    A diffusion series also gets ``out`` with ``.bval``/``.bvec`` instead of the NIfTI suffix.
    """
    out = Path(out)
    if not out.name.lower().endswith(NIFTI_SUFFIXES):
        raise UsageError(f"output {out} must end in .nii or .nii.gz")
    check_output_files(out, force=force, inputs=[path])
    selected = select_series(path, series)
    if is_diffusion_series(selected):
        dwi = checked_diffusion(load_dwi_selected(selected), selected.label)
        bval_path, bvec_path = sidecar_paths(out)
        with staged_files(out, bval_path, bvec_path, force=force, inputs=[path]) as (
            nii_tmp,
            bval_tmp,
            bvec_tmp,
        ):
            save_nifti(dwi.volume, nii_tmp)
            save_bvals_bvecs(dwi.bvals_s_mm2, dwi.bvecs, bval_tmp, bvec_tmp)
        return [out, bval_path, bvec_path]
    volume, _stacks = load_selected(selected, resample=resample)
    with staged_files(out, force=force, inputs=[path]) as (nii_tmp,):
        save_nifti(volume, nii_tmp)
    return [out]
