"""``cordotomy dti``: tensor fit, lesion vs mirrored contralateral homolog."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.cli._args import existing_input, finite_float, parameters_file

if TYPE_CHECKING:
    import numpy as np

    from pipeline.volume import Volume

log = logging.getLogger("cordotomy")


def _add_dti(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dti",
        help="fit the diffusion tensor and compare the cordotomy lesion with its contralateral homolog",
        description="Fit the diffusion tensor of a post-procedure DWI (our vectorised WLS, equal to dipy's), "
        "find the cord (given, or segmented on the mean b0), the lesion (given, or detected as the focal "
        "reduced-MD region) and its homolog (the lesion mirrored across the cord's own midline), and write "
        "OUT/dti.json with OUT/dti/{fa,md,ad,rd,lesion,homolog,cord,color_fa,v1,mean_b0}.nii.gz.",
    )
    parser.add_argument("input", type=Path, help="DWI DICOM folder/file, or NIfTI with .bval/.bvec beside it")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--series", help="SeriesNumber or SeriesInstanceUID when INPUT holds several series")
    parser.add_argument(
        "--lesion-mask", type=Path, help="lesion ROI (NIfTI or DICOM SEG); detected without it"
    )
    parser.add_argument("--cord-mask", type=Path, help="cord mask (NIfTI or DICOM SEG); segmented without it")
    parser.add_argument(
        "--mask-interpolation",
        default="linear",
        choices=["linear", "nearest"],
        help="resampling of a mask drawn on another grid, by world (LPS) coordinates (default linear: "
        "voxels at least half inside the drawn region)",
    )
    parser.add_argument(
        "--lesion-side",
        choices=["left", "right"],
        help="side of the lesion (cordotomy side); either without it",
    )
    parser.add_argument(
        "--fit-method",
        default="WLS",
        choices=["WLS", "OLS", "NLLS", "RESTORE"],
        help="tensor fit (default WLS)",
    )
    parser.add_argument(
        "--noise-sigma",
        type=float,
        metavar="SIGNAL",
        help="noise standard deviation for RESTORE (signal units); estimated from the series without it",
    )
    parser.add_argument(
        "--motion-correction",
        action="store_true",
        help="register each volume rigidly to the mean b0 and turn its gradient direction (SimpleITK)",
    )
    parser.add_argument(
        "--md-threshold",
        type=float,
        metavar="PERCENT",
        help="MD asymmetry threshold of the lesion detection (default: the reference MD change from seeds/)",
    )
    parser.add_argument("--parameters", type=Path, help="YAML file overriding reference parameters in seeds/")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.set_defaults(run=_cmd_dti)


def _optional_mask(path: Path | None, grid: Volume, label: str, interpolation: str) -> np.ndarray | None:
    from pipeline import dti

    return None if path is None else dti.load_mask(path, grid, label=label, interpolation=interpolation)


def _cmd_dti(args: argparse.Namespace) -> int:
    from pipeline import dti
    from pipeline.ingest import Role, Study
    from pipeline.ingest.diffusion import sidecar_paths
    from pipeline.outputs import check_output_directory, staged_directory
    from pipeline.report.dti_outputs import write_dti_outputs
    from pipeline.seeds import load_seeds

    existing_input(args.input, "input")
    existing_input(args.cord_mask, "--cord-mask")
    existing_input(args.lesion_mask, "--lesion-mask")
    parameters_file(args.parameters)
    finite_float(args.md_threshold, "--md-threshold", minimum=-100.0, maximum=0.0, inclusive=False)
    finite_float(args.noise_sigma, "--noise-sigma", minimum=0.0, inclusive=False)
    inputs = [p for p in (args.input, args.cord_mask, args.lesion_mask, args.parameters) if p is not None]
    if args.input.is_file() and args.input.name.lower().endswith((".nii", ".nii.gz")):
        inputs.extend(sidecar_paths(args.input))
    check_output_directory(args.out, force=args.force, inputs=inputs)
    seeds = load_seeds(args.parameters)
    dwi = Study.open(args.input, role=Role.DWI, series=args.series).load_dwi()
    analysis = dti.analyse_dwi(
        dwi.volume,
        dwi.bvals_s_mm2,
        dwi.bvecs,
        cord_mask=_optional_mask(args.cord_mask, dwi.volume, "cord mask", args.mask_interpolation),
        lesion_mask=_optional_mask(args.lesion_mask, dwi.volume, "lesion mask", args.mask_interpolation),
        lesion_side=args.lesion_side,
        fit_method=args.fit_method,
        motion_correction=args.motion_correction,
        detection_threshold_percent=args.md_threshold,
        noise_sigma=args.noise_sigma,
        seeds=seeds,
    )
    with staged_directory(args.out, force=args.force, inputs=inputs) as staging:
        write_dti_outputs(analysis, staging)
    change = ", ".join(f"{k.upper()} {v:+.1f} %" for k, v in analysis.change_percent.items())
    log.info(
        "lesion (%s, %s side, %d voxels) vs homolog: %s; lesion %.1f %% of the cord cross-section",
        analysis.lesion_source,
        analysis.lesion_side,
        analysis.lesion.voxels,
        change,
        analysis.lesion_cord_fraction_percent,
    )
    log.info("wrote %s", args.out / "dti.json")
    return 0


ADDERS = [_add_dti]
