"""``cordotomy segment``: the myelogram stage."""

from __future__ import annotations

import argparse
import logging
import time

from pipeline.cli._myelogram_inputs import add_myelogram_inputs, open_myelogram_inputs

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
    add_myelogram_inputs(parser, echoed_in="myelogram.json")
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
    parser.set_defaults(run=_cmd_segment)


def _cmd_segment(args: argparse.Namespace) -> int:
    from pipeline.errors import AnalysisError
    from pipeline.myelogram import io as myelogram_io
    from pipeline.myelogram.analysis import analyse_myelogram
    from pipeline.myelogram.mri_contrast import header_hints
    from pipeline.outputs import staged_directory
    from pipeline.report.myelogram_outputs import write_segment_outputs
    from pipeline.trajectory import assess_window

    inputs, seeds, study = open_myelogram_inputs(args)
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
    for warning in result.warnings:  # also in myelogram.json; said here so a batch log shows it
        log.warning("%s", warning)
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
