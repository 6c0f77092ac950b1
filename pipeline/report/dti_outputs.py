"""Files of the DTI stage: ``OUT/dti.json`` ("cordotomy.dti/1") and the NIfTI maps under ``OUT/dti/``.

Contract (DESIGN.md §4): ``dti.json`` holds ``lesion`` and ``homolog`` ({voxels, volume_mm3, fa, md_mm2_s,
ad_mm2_s, rd_mm2_s}), ``change_percent`` = 100·(lesion − homolog)/homolog, ``reference_change_percent``
(the primary reference's values, from seeds/), ``lesion_source``, ``lesion_side`` and
``lesion_cord_fraction_percent``; the maps ``OUT/dti/{fa,md,ad,rd}.nii.gz``, ``lesion.nii.gz`` and
``homolog.nii.gz`` lie on the DWI grid (RAS NIfTI with sform/qform, so they overlay the DWI exactly).
Beside them: ``cord.nii.gz``, ``mean_b0.nii.gz``, ``color_fa.nii.gz`` (RGB = |v1|·FA) and ``v1.nii.gz``
(principal eigenvector); the vector components of the last two are along the image's voxel axes in the
FSL b-vector convention (as FSL ``dtifit`` writes V1), the frame the tensors were fitted in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.contract import validate_document
from pipeline.dti import DtiAnalysis
from pipeline.dti.share import DEFINITION as SHARE_DEFINITION
from pipeline.nifti import save_nifti
from pipeline.outputs import staged_directory

SCHEMA = "cordotomy.dti/1"
MAP_FILES = {
    "fa": "dti/fa.nii.gz",
    "md": "dti/md.nii.gz",
    "ad": "dti/ad.nii.gz",
    "rd": "dti/rd.nii.gz",
    "color_fa": "dti/color_fa.nii.gz",
    "principal_eigenvector": "dti/v1.nii.gz",
    "mean_b0": "dti/mean_b0.nii.gz",
    "cord": "dti/cord.nii.gz",
    "lesion": "dti/lesion.nii.gz",
    "homolog": "dti/homolog.nii.gz",
}

CONSISTENCY_NOTE = (
    "The reference's four changes (MD -12 %, FA -30 %, RD +13 %, AD -33 %) cannot all hold for one "
    "axisymmetric tensor because MD = (AD + 2 RD)/3; they are given beside the measured changes, not as "
    "targets (domain-facts §7)."
)


def _rounded(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def dti_document(analysis: DtiAnalysis) -> dict[str, Any]:
    """The ``dti.json`` document of one analysis (plain JSON types), validated against its schema."""
    threshold = analysis.parameters["lesion_cord_fraction_min_percent"]
    reference = analysis.parameters["reference_change_percent"]
    grid = analysis.grid
    voxel_mm3 = float(abs(np.linalg.det(grid.affine_lps[:3, :3])))
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "input": {
            "series_description": grid.provenance.description or None,
            "series_number": grid.provenance.series_number,
            "source": grid.provenance.source,
            "grid_shape": list(grid.array.shape),
            "voxel_size_mm": [float(s) for s in grid.spacing_mm],
            "volumes": int(analysis.bvals_s_mm2.size),
            "b_values_s_mm2": analysis.parameters["b_values_s_mm2"],
            "directions": analysis.parameters["directions"],
        },
        "fit": {
            "method": analysis.maps.method,
            "implementation": (
                "pipeline.dti.fit_tensors: vectorised log-linear fit equal to dipy TensorModel "
                "(WLS/OLS); NLLS/RESTORE run by dipy (RESTORE with one noise sigma for the series)"
            ),
            "noise_sigma": analysis.maps.noise_sigma,
        },
        "cord": {
            "source": analysis.cord_source,
            "voxels": int(analysis.cord_mask.sum()),
            "volume_mm3": float(analysis.cord_mask.sum() * voxel_mm3),
        },
        "lesion": analysis.lesion.as_dict(),
        "homolog": analysis.homolog.as_dict(),
        "change_percent": {k: _rounded(v) for k, v in analysis.change_percent.items()},
        "reference_change_percent": dict(analysis.reference_change_percent),
        "reference_change_source": reference["md"]["source"],
        "lesion_source": analysis.lesion_source,
        "lesion_side": analysis.lesion_side,
        "lesion_cord_fraction_percent": _rounded(analysis.lesion_cord_fraction_percent),
        "lesion_cord_fraction_method": analysis.lesion_cord_fraction_method,
        "lesion_cord_fraction_definition": SHARE_DEFINITION,
        "lesion_cord_fraction_core_voxels": analysis.share.core_voxels,
        "lesion_roi_cord_fraction_percent": _rounded(analysis.lesion_roi_cord_fraction_percent),
        "lesion_cord_fraction_threshold": {
            "min_percent": float(threshold["value"]),
            "meets": bool(analysis.meets_cord_fraction_threshold),
            "source": threshold["source"],
            "meaning": "pain relief was linked with lesions covering at least this share of the cord on DTI",
        },
        "homolog_method": (
            "lesion mirrored across the cord's own midsagittal line, slice by slice (centroid and "
            "orientation from the cord's moments), inside the cord interior"
        ),
        "notes": [CONSISTENCY_NOTE],
        "outputs": dict(MAP_FILES),
        "parameters": analysis.parameters,
    }
    if analysis.detection:
        document["detection"] = {k: _rounded(v) for k, v in analysis.detection.items()}
    if analysis.motion is not None:
        document["motion_correction"] = {
            "applied": True,
            "degrees_of_freedom": analysis.motion.degrees_of_freedom,
            "rotation_deg": [_rounded(float(a), 4) for a in analysis.motion.rotation_deg],
            "displacement_mm": [_rounded(float(t), 4) for t in analysis.motion.displacement_mm],
            "displacement_meaning": "displacement of the field of view's centre, per volume, against the mean b0",
        }
    else:
        document["motion_correction"] = {"applied": False}
    validate_document(document, "dti")
    return document


def write_dti_outputs(analysis: DtiAnalysis, directory: str | Path) -> list[Path]:
    """Write ``dti.json`` and the maps into an existing (staging) folder; returns the files written."""
    directory = Path(directory)
    (directory / "dti").mkdir(parents=True, exist_ok=True)
    grid = analysis.grid
    maps = analysis.maps
    images = {
        "fa": grid.with_array(maps.fa.astype(np.float32)),
        "md": grid.with_array(maps.md.astype(np.float32)),
        "ad": grid.with_array(maps.ad.astype(np.float32)),
        "rd": grid.with_array(maps.rd.astype(np.float32)),
        "color_fa": grid.with_array(maps.color_fa.astype(np.float32)),
        "principal_eigenvector": grid.with_array(maps.principal_eigenvector.astype(np.float32)),
        "mean_b0": grid.with_array(grid.array.astype(np.float32)),
        "cord": grid.with_array(analysis.cord_mask.astype(np.uint8)),
        "lesion": grid.with_array(analysis.lesion_mask.astype(np.uint8)),
        "homolog": grid.with_array(analysis.homolog_mask.astype(np.uint8)),
    }
    written = []
    for name, relative in MAP_FILES.items():
        path = directory / relative
        save_nifti(images[name], path)
        written.append(path)
    document = dti_document(analysis)
    path = directory / "dti.json"
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    written.append(path)
    return written


def write_dti(analysis: DtiAnalysis, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write the DTI outputs atomically into ``out`` (a folder; replaced only with ``force``)."""
    with staged_directory(out, force=force) as staging:
        written = write_dti_outputs(analysis, staging)
    return [Path(out) / p.relative_to(staging) for p in written]
