"""The ``cordotomy`` command: one thin subcommand per stage, no analysis logic here.

Exit codes (DESIGN.md §5): 0 success, 1 internal error, 2 usage error, 3 invalid input data,
4 analysis could not proceed on valid data.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import __version__
from pipeline.errors import CordotomyError

if TYPE_CHECKING:
    import numpy as np

    from pipeline.volume import Volume

log = logging.getLogger("cordotomy")

EXIT_CODES_HELP = """exit codes:
  0  success (a plan with danger flags is still a success)
  1  unexpected internal error (a bug: please report it)
  2  usage error
  3  invalid or inconsistent input data (unreadable file, missing slices, mixed series, no gradients)
  4  analysis could not proceed on valid data (no contrast, cord not found, C1-C2 not in view)
"""

# Each entry adds one subcommand to the parser and sets ``run`` to its function.
SubcommandAdder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
_SUBCOMMANDS: list[SubcommandAdder] = []


# -- ingest: inspect, convert --------------------------------------------------------------------------------


def _add_inspect(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="list the DICOM studies/series under a folder, with roles, geometry and problems",
        description="List every DICOM series under DIR (any file names, DICOMDIR not needed): modality, "
        "role guess (ct_myelogram, vascular, dwi, other), size, spacing, plane and any problem found "
        "(missing or duplicate slices, gantry tilt, uneven spacing, unreadable files).",
    )
    parser.add_argument("dir", type=Path, help="folder (searched recursively) or single file")
    parser.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")
    parser.set_defaults(run=_cmd_inspect)


def _cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from pipeline.ingest import format_table, inspect_folder

    infos = inspect_folder(args.dir)
    if args.json:
        print(json.dumps({"schema": "cordotomy.inspect/1", "series": [i.as_dict() for i in infos]}, indent=2))
    else:
        print(format_table(infos))
    return 0


def _add_convert(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert one DICOM series to NIfTI (+ .bval/.bvec for diffusion)",
        description="Convert one series to NIfTI (RAS, float32 real-world values, HU for CT). Gantry tilt "
        "and uneven slice spacing are resampled onto a regular grid unless --no-resample. A diffusion "
        "series also writes OUT.bval and OUT.bvec (FSL convention, as dcm2niix).",
    )
    parser.add_argument("dir", type=Path, help="DICOM folder (searched recursively) or single file")
    parser.add_argument("out", type=Path, help="output file, .nii or .nii.gz")
    parser.add_argument("--series", help="SeriesNumber or SeriesInstanceUID (needed if DIR holds several)")
    parser.add_argument(
        "--no-resample",
        dest="resample",
        action="store_false",
        help="refuse (exit 3) a gantry tilt or uneven slice spacing instead of resampling",
    )
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    parser.set_defaults(run=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from pipeline.ingest import convert

    written = convert(args.dir, args.out, args.series, resample=args.resample, force=args.force)
    for path in written:
        log.info("wrote %s", path)
    return 0


_SUBCOMMANDS.extend([_add_inspect, _add_convert])


# -- segment (myelogram stage) -------------------------------------------------------------------------------
def _add_segment(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment cord, CSF, C1/C2, dentate ligaments and vertebral arteries",
        description=(
            "Segment a CT myelogram (or a T2/T1 MRI: cord, CSF and dentate ligaments only). Writes "
            "OUT/segmentation.nii.gz (labels 1 CSF, 2 cord, 3 C1, 4 C2, 5 other bone, 6/7 left/right "
            "vertebral artery, 8 dentate ligament), OUT/myelogram.json and, for DICOM input, "
            "OUT/dicom/seg.dcm."
        ),
    )
    parser.add_argument(
        "input",
        help="DICOM folder (its only series, or the one whose role is ct_myelogram) or NIfTI file",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--contrast",
        choices=["ct-myelogram", "t2", "t1"],
        default="ct-myelogram",
        help="image contrast: CT myelogram in HU (default), T2 MRI (CSF bright), T1 MRI (CSF dark)",
    )
    parser.add_argument(
        "--vascular",
        metavar="PATH",
        help="CTA or 3D T2 MRI: NIfTI or DICOM folder (its only series, or the one whose role is vascular)",
    )
    parser.add_argument(
        "--vascular-modality",
        choices=["auto", "cta", "t2"],
        default="auto",
        help="bright arteries (cta) or flow voids (t2); auto reads the DICOM modality",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.set_defaults(run=_cmd_segment)


def _cmd_segment(args: argparse.Namespace) -> int:
    from pipeline.myelogram import io as myelogram_io
    from pipeline.myelogram.analysis import analyse_myelogram
    from pipeline.outputs import staged_directory
    from pipeline.report.myelogram_outputs import write_segment_outputs

    image = myelogram_io.load_image(args.input)
    vascular = myelogram_io.load_image(args.vascular, role="vascular") if args.vascular else None
    modality = myelogram_io.vascular_modality(vascular, args.vascular_modality) if vascular else "cta"
    sources = myelogram_io.source_datasets(args.input)
    result = analyse_myelogram(image, contrast=args.contrast, vascular=vascular, vascular_modality=modality)
    with staged_directory(args.out, force=args.force) as staging:
        write_segment_outputs(result, staging, sources=sources, name=str(args.input))
    log.info("segmentation written to %s", args.out)
    return 0


_SUBCOMMANDS.append(_add_segment)


# -- dti: tensor fit, lesion vs mirrored contralateral homolog -----------------------------------------------
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


def _optional_mask(path: Path | None, grid: Volume, label: str) -> np.ndarray | None:
    from pipeline import dti

    return None if path is None else dti.load_mask(path, grid, label=label)


def _cmd_dti(args: argparse.Namespace) -> int:
    from pipeline import dti
    from pipeline.ingest import load_dwi
    from pipeline.outputs import staged_directory
    from pipeline.report.dti_outputs import write_dti_outputs
    from pipeline.seeds import load_seeds

    seeds = load_seeds(args.parameters)
    with staged_directory(args.out, force=args.force) as staging:
        dwi = load_dwi(args.input, args.series)
        analysis = dti.analyse_dwi(
            dwi.volume,
            dwi.bvals_s_mm2,
            dwi.bvecs,
            cord_mask=_optional_mask(args.cord_mask, dwi.volume, "cord mask"),
            lesion_mask=_optional_mask(args.lesion_mask, dwi.volume, "lesion mask"),
            lesion_side=args.lesion_side,
            fit_method=args.fit_method,
            motion_correction=args.motion_correction,
            detection_threshold_percent=args.md_threshold,
            seeds=seeds,
        )
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


_SUBCOMMANDS.append(_add_dti)


# -- cordotomy phantom ---------------------------------------------------------------------------------------
def _add_phantom(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pipeline.phantom import VARIANTS, VASCULAR_KINDS

    variants = "\n".join(f"  {name:<15} {spec.description}" for name, spec in VARIANTS.items())
    parser = subparsers.add_parser(
        "phantom",
        help="write a sample study with ground truth (CT myelogram, vascular series, post-procedure DWI)",
        description=(
            "Write a deterministic sample study: DICOM series (CT myelogram, CTA or 3D T2, DWI), the DWI as "
            "NIfTI + .bval/.bvec, label NIfTIs and truth/truth.json (LPS mm). Same options, same bytes."
        ),
        epilog=f"variants:\n{variants}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", metavar="OUT", help="output study folder (must not exist or be empty)")
    parser.add_argument(
        "--variant",
        default="normal",
        choices=list(VARIANTS),
        metavar="NAME",
        help="case variant (listed below; default: normal)",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed, also part of every UID (default: 0)")
    parser.add_argument(
        "--vascular",
        default="cta",
        choices=VASCULAR_KINDS,
        help="vascular series: CT angiography or 3D T2 MRI (default: cta)",
    )
    parser.add_argument(
        "--compress",
        action="store_true",
        help="store DICOM pixel data RLE Lossless (smaller; default: uncompressed)",
    )
    parser.add_argument(
        "--parameters",
        metavar="FILE.yaml",
        help="YAML file overriding values of seeds/ (same nesting, e.g. anatomy: {cord: {ap_mm: 9}})",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing OUT")
    parser.set_defaults(run=_cmd_phantom)


def _cmd_phantom(args: argparse.Namespace) -> int:
    from pipeline.outputs import staged_directory
    from pipeline.phantom import write_study
    from pipeline.seeds import load_seeds

    seeds = load_seeds(args.parameters)
    with staged_directory(args.out, force=args.force) as staging:
        truth = write_study(
            staging,
            variant=args.variant,
            seed=args.seed,
            vascular=args.vascular,
            transfer_syntax="rle" if args.compress else "explicit",
            seeds=seeds,
        )
    log.info(
        "wrote %s study (seed %d) to %s; expected exit code of later stages: %d",
        args.variant,
        args.seed,
        args.out,
        truth["expected_exit_code"],
    )
    return 0


_SUBCOMMANDS.append(_add_phantom)


# -- the command frame ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cordotomy",
        description=(
            "Imaging pipeline for CT-guided percutaneous C1-2 cordotomy: DICOM ingest, CT-myelogram "
            "segmentation, trajectory planning, post-procedure DTI and reports. Research software, "
            "not a medical device."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cordotomy {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="show errors only")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    logging.basicConfig(level=level, format="cordotomy: %(message)s", stream=sys.stderr, force=True)
    # Libraries narrate their internals at INFO (highdicom: every attribute module it copies).
    for library in ("highdicom", "snakemake"):
        logging.getLogger(library).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code so that tests can call ``main([...])`` in-process."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 on usage errors
    _configure_logging(args.verbose, args.quiet)
    try:
        return int(args.run(args))
    except CordotomyError as exc:
        log.error("error: %s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`cordotomy inspect DIR | head`): not an error of ours.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())
