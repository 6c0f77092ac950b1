"""A complete sample study on disk: DICOM series, DWI NIfTI, label NIfTIs and the truth JSON.

Layout (all paths relative to the study folder)::

    dicom/ct_myelogram/IM0001.dcm ...   CT Image IOD, series 2
    dicom/vascular/IM0001.dcm ...       CTA (CT Image IOD) or 3D T2 (MR Image IOD), series 3, own frame
    dicom/dwi/IM00001.dcm ...           MR Image IOD with diffusion attributes, series 5, own frame
    nifti/dwi.nii.gz, dwi.bval, dwi.bvec
    truth/segmentation.nii.gz           contract labels on the CT grid (DESIGN §4)
    truth/vascular_labels.nii.gz        the same labels on the vascular grid
    truth/dwi_cord.nii.gz, dwi_lesion.nii.gz, dwi_homolog.nii.gz
    truth/truth.json                    LPS-mm ground truth, "schema": "cordotomy.phantom-truth/1"

Everything is a pure function of (variant, seed, vascular kind, transfer syntax, seeds): the same
arguments give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.nifti import save_nifti
from pipeline.phantom.ct import CtCase, make_ct_case
from pipeline.phantom.dicom_series import (
    SeriesInfo,
    StudyInfo,
    deterministic_uid,
    write_ct_series,
    write_mr_series,
)
from pipeline.phantom.dwi import DwiPhantom, make_dwi_phantom
from pipeline.seeds import Seeds, load_seeds
from pipeline.volume import Volume

__all__ = ["CT_SERIES", "DWI_SERIES", "VASCULAR_SERIES", "Study", "make_study", "save_study", "write_study"]

CT_SERIES = SeriesInfo(2, "CT myelogram C1-C2 bone 0.8mm", frame_key="ct-session", time="101500")
VASCULAR_SERIES = {
    "cta": SeriesInfo(3, "CTA neck arterial 1.0mm", frame_key="vascular-session", time="083000"),
    "t2": SeriesInfo(3, "T2 SPACE 3D cervical 0.8mm iso", frame_key="vascular-session", time="083000"),
}
DWI_SERIES = SeriesInfo(5, "DTI cord 20dir b1000", frame_key="followup-session", time="140000")

# Post-procedure DWI placement: the cord is neither centred nor aligned with the image axes.
_DWI_CORD_OFFSET_MM = (1.6, -2.4)
_DWI_ROTATION_DEG = 8.0


def _geometry(volume: Volume) -> dict[str, Any]:
    return {
        "shape": list(volume.shape),
        "spacing_mm": [float(s) for s in volume.spacing_mm],
        "affine_lps": [[float(v) for v in row] for row in volume.affine_lps],
    }


@dataclass(frozen=True)
class Study:
    """A generated study in memory: the CT case (with its vascular series) and the DWI phantom."""

    case: CtCase
    dwi: DwiPhantom
    vascular_kind: str
    seed: int
    seeds: Seeds


def make_study(
    *, variant: str = "normal", seed: int = 0, vascular: str = "cta", seeds: Seeds | None = None
) -> Study:
    """Generate a study in memory (see :func:`write_study` for the parameters)."""
    seeds = seeds if seeds is not None else load_seeds()
    case = make_ct_case(variant, seed=seed, vascular=vascular, seeds=seeds)
    cord_size = {
        "small": seeds.numbers("anatomy.cord.small_ap_transverse_mm"),
        "large": seeds.numbers("anatomy.cord.large_ap_transverse_mm"),
    }.get(case.variant.cord_size)
    dwi = make_dwi_phantom(
        seed=seed,
        snr=seeds.number("diffusion.dwi_protocol.snr_b0_cord"),
        cordotomy_side=case.truth["case"]["cordotomy_side"],
        cord_offset_mm=_DWI_CORD_OFFSET_MM,
        rotation_deg=_DWI_ROTATION_DEG,
        cord_ap_mm=None if cord_size is None else cord_size[0],
        cord_transverse_mm=None if cord_size is None else cord_size[1],
        seeds=seeds,
    )
    return Study(case=case, dwi=dwi, vascular_kind=vascular, seed=seed, seeds=seeds)


def write_study(
    folder: str | Path,
    *,
    variant: str = "normal",
    seed: int = 0,
    vascular: str = "cta",
    transfer_syntax: str = "explicit",
    seeds: Seeds | None = None,
) -> dict[str, Any]:
    """Generate and write one study into ``folder`` (an empty or new folder); return the truth dict.

    Parameters
    ----------
    folder : path
        Destination; callers write atomically by passing a staging folder
        (:func:`pipeline.outputs.staged_directory`).
    variant : str
        Case variant (:data:`pipeline.phantom.VARIANTS`).
    seed : int
        Noise seed; also part of every UID.
    vascular : {"cta", "t2"}
        Vascular series kind.
    transfer_syntax : {"explicit", "rle"}
        DICOM encoding: Explicit VR Little Endian or RLE Lossless (smaller, for committed samples).
    seeds : Seeds, optional
    """
    study = make_study(variant=variant, seed=seed, vascular=vascular, seeds=seeds)
    return save_study(study, folder, transfer_syntax=transfer_syntax)


def save_study(study_data: Study, folder: str | Path, *, transfer_syntax: str = "explicit") -> dict[str, Any]:
    """Write a generated study into ``folder``; return the truth dict (also written as truth.json)."""
    folder = Path(folder)
    case, dwi, seeds, vascular, seed = (
        study_data.case,
        study_data.dwi,
        study_data.seeds,
        study_data.vascular_kind,
        study_data.seed,
    )
    variant = case.variant.name
    truth = dict(case.truth)
    study = StudyInfo(key=f"{variant}-seed{seed}-{vascular}")
    dicom = folder / "dicom"
    # The description names the slice thickness, as scanners do (0.8 mm default, 0.6/1.25 mm variants).
    ct_series = replace(CT_SERIES, description=f"CT myelogram C1-C2 bone {case.ct.spacing_mm[2]:.3g}mm")
    write_ct_series(case.ct, dicom / "ct_myelogram", study, ct_series, transfer_syntax=transfer_syntax)
    vascular_series = VASCULAR_SERIES[vascular]
    if case.vascular is None or case.vascular_labels is None:
        raise RuntimeError(f"make_ct_case returned no {vascular} series")  # cannot happen: it was requested
    if vascular == "cta":
        write_ct_series(
            case.vascular,
            dicom / "vascular",
            study,
            vascular_series,
            kernel="STANDARD",
            window=(300.0, 800.0),
            transfer_syntax=transfer_syntax,
        )
    else:
        write_mr_series(
            case.vascular, dicom / "vascular", study, vascular_series, transfer_syntax=transfer_syntax
        )
    # The DWI is stored as integers in DICOM; the NIfTI holds exactly the same values.
    dwi_stored = dwi.volume.with_array(np.clip(np.rint(dwi.volume.array), 0, 65535).astype(np.uint16))
    write_mr_series(
        dwi_stored,
        dicom / "dwi",
        study,
        DWI_SERIES,
        bvals_s_mm2=dwi.bvals_s_mm2,
        directions_lps=dwi.directions_lps,
        transfer_syntax=transfer_syntax,
    )

    nifti = folder / "nifti"
    nifti.mkdir(parents=True, exist_ok=True)
    save_nifti(dwi_stored, nifti / "dwi.nii.gz")
    (nifti / "dwi.bval").write_text(" ".join(f"{b:g}" for b in dwi.bvals_s_mm2) + "\n")
    (nifti / "dwi.bvec").write_text(
        "\n".join(" ".join(f"{v:.8f}" for v in row) for row in dwi.bvecs.T) + "\n"
    )

    truth_dir = folder / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    save_nifti(case.labels, truth_dir / "segmentation.nii.gz", dtype=np.uint8)
    save_nifti(case.vascular_labels, truth_dir / "vascular_labels.nii.gz", dtype=np.uint8)
    for name, mask in (("cord", dwi.cord_mask), ("lesion", dwi.lesion_mask), ("homolog", dwi.homolog_mask)):
        mask_volume = Volume(mask.astype(np.uint8), dwi.volume.affine_lps)
        save_nifti(mask_volume, truth_dir / f"dwi_{name}.nii.gz", dtype=np.uint8)

    reference = {
        name: seeds.number(f"diffusion.reference_change_percent.{name}") for name in ("fa", "md", "ad", "rd")
    }
    dwi_truth = {
        key: dwi.truth[key]
        for key in (
            "lesion",
            "homolog",
            "tissues_mm2_s",
            "cord_centre_lps_mm",
            "cord_axis_lps",
            "left_axis_lps",
            "posterior_axis_lps",
            "lesion_centre_lps_mm",
            "lesion_cord_fraction_percent",
            "snr",
            "noise_sigma",
        )
    }
    dwi_truth.update(
        {
            "change_percent": dwi.change_percent,
            "reference_change_percent": reference,
            "lesion_side": dwi.lesion_side,
            "pain_side": dwi.pain_side,
            "bvals_s_mm2": [float(b) for b in dwi.bvals_s_mm2],
            "directions_lps": [[float(v) for v in row] for row in dwi.directions_lps],
            "note": "lesion/homolog values are the true tensors of pure voxels (what a perfect fit returns)",
        }
    )
    truth["dwi"] = dwi_truth
    truth["series"] = {
        "ct_myelogram": {
            "folder": "dicom/ct_myelogram",
            "series_number": CT_SERIES.number,
            "series_instance_uid": str(deterministic_uid(study.key, "series", CT_SERIES.number)),
            "modality": "CT",
            **_geometry(case.ct),
        },
        "vascular": {
            "folder": "dicom/vascular",
            "series_number": vascular_series.number,
            "series_instance_uid": str(deterministic_uid(study.key, "series", vascular_series.number)),
            "modality": "CT" if vascular == "cta" else "MR",
            "kind": vascular,
            **_geometry(case.vascular),
        },
        "dwi": {
            "folder": "dicom/dwi",
            "series_number": DWI_SERIES.number,
            "series_instance_uid": str(deterministic_uid(study.key, "series", DWI_SERIES.number)),
            "modality": "MR",
            **_geometry(dwi.volume),
        },
    }
    truth["study_instance_uid"] = str(study.study_uid)
    truth["transfer_syntax"] = transfer_syntax
    truth["files"] = {
        "segmentation": "truth/segmentation.nii.gz",
        "vascular_labels": "truth/vascular_labels.nii.gz",
        "dwi_nifti": "nifti/dwi.nii.gz",
        "dwi_bval": "nifti/dwi.bval",
        "dwi_bvec": "nifti/dwi.bvec",
        "dwi_cord": "truth/dwi_cord.nii.gz",
        "dwi_lesion": "truth/dwi_lesion.nii.gz",
        "dwi_homolog": "truth/dwi_homolog.nii.gz",
    }
    truth["parameters"] = seeds.as_dict()
    text = json.dumps(_round_floats(truth), indent=1, sort_keys=True)
    (truth_dir / "truth.json").write_text(text + "\n")
    return truth


def _round_floats(value: Any, decimals: int = 9) -> Any:
    """Floats rounded to 1e-9 (mm, HU, ...): the file is then the same on every BLAS and numpy build,
    whose matrix inverses differ in the last bits."""
    if isinstance(value, float):
        return round(value, decimals)
    if isinstance(value, dict):
        return {k: _round_floats(v, decimals) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round_floats(v, decimals) for v in value]
    return value
