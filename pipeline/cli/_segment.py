"""``cordotomy segment``: the myelogram stage."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from pipeline.cli._args import existing_input, parameters_file

log = logging.getLogger("cordotomy")


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
        choices=["ct-myelogram", "t2", "t2star", "mt", "t1", "auto"],
        default="ct-myelogram",
        help=(
            "image contrast: CT myelogram in HU (default); MRI: t2, t2star, mt (CSF bright) or t1 (CSF dark); "
            "auto: from the DICOM/NIfTI header (modality, description, sequence, TE/TR), else from the "
            "image; the choice and its evidence are written to myelogram.json"
        ),
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
    parser.add_argument(
        "--parameters",
        type=Path,
        metavar="FILE.yaml",
        help="YAML file overriding reference parameters in seeds/ (echoed in myelogram.json)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.set_defaults(run=_cmd_segment)


def _cmd_segment(args: argparse.Namespace) -> int:
    from pipeline.errors import AnalysisError
    from pipeline.ingest import Role, Study
    from pipeline.myelogram import io as myelogram_io
    from pipeline.myelogram.analysis import analyse_myelogram
    from pipeline.myelogram.mri_contrast import header_hints
    from pipeline.outputs import check_output_directory, staged_directory
    from pipeline.report.myelogram_outputs import write_segment_outputs
    from pipeline.seeds import load_seeds
    from pipeline.trajectory import assess_window

    existing_input(args.input, "input")
    existing_input(args.vascular, "--vascular")
    parameters_file(args.parameters)
    inputs = [p for p in (args.input, args.vascular, args.parameters) if p is not None]
    check_output_directory(args.out, force=args.force, inputs=inputs)
    seeds = load_seeds(args.parameters)
    study = Study.from_inputs({Role.CT_MYELOGRAM: args.input, Role.VASCULAR: args.vascular})
    images = myelogram_io.stage_images(study, vascular_modality=args.vascular_modality)
    hints = header_hints(args.input, images.sources) if args.contrast == "auto" else None
    start = time.perf_counter()
    result = analyse_myelogram(
        images.image,
        contrast=args.contrast,
        vascular=images.vascular,
        vascular_modality=images.vascular_modality,
        header_hints=hints,
        seeds=seeds,
    )
    log.debug(
        "myelogram analysis %.1f s; artery source %s", time.perf_counter() - start, result.artery_source.value
    )
    window = None
    if result.vertebrae is not None:
        try:
            window = assess_window(result, seeds)
        except AnalysisError as exc:  # the segmentation stands on its own; say why the overlap is missing
            log.warning("vertebral-artery window overlap not assessed: %s", exc)
    with staged_directory(args.out, force=args.force, inputs=inputs) as staging:
        write_segment_outputs(result, staging, sources=images.sources, name=str(args.input), window=window)
    log.info("segmentation written to %s", args.out)
    return 0


ADDERS = [_add_segment]
