"""``cordotomy plan``: the trajectory stage (myelogram segmentation, then the needle plan)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from pipeline.cli._myelogram_inputs import add_myelogram_inputs, open_myelogram_inputs

log = logging.getLogger("cordotomy")


def _add_plan(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="plan the lateral C1-C2 needle path to the spinothalamic tract",
        description=(
            "Segment a CT myelogram and plan a percutaneous C1-C2 cordotomy on the side opposite the pain: "
            "pial entry ventral to the dentate ligament, electrode target, skin entry and direction through "
            "the C1-C2 window, clearances from bone and the vertebral arteries, expected impedance and "
            "flags. Writes OUT/plan.json, OUT/segmentation.nii.gz, OUT/myelogram.json and, for DICOM "
            "input, OUT/dicom/seg.dcm. A plan with danger flags is still a success (exit 0)."
        ),
    )
    add_myelogram_inputs(parser, echoed_in="plan.json")
    parser.add_argument("--pain-side", required=True, choices=["left", "right"], help="side of the pain")
    parser.add_argument("--pain-region", required=True, choices=["leg", "arm"], help="region of the pain")
    parser.add_argument(
        "--contrast",
        choices=["ct-myelogram"],
        default="ct-myelogram",
        help="image contrast; planning needs a CT myelogram (C1/C2 bone and contrast-filled CSF)",
    )
    parser.add_argument("--json", action="store_true", help="print plan.json on standard output")
    parser.set_defaults(run=_cmd_plan)


def _cmd_plan(args: argparse.Namespace) -> int:
    from pipeline.myelogram import io as myelogram_io
    from pipeline.myelogram.analysis import analyse_myelogram
    from pipeline.outputs import staged_directory
    from pipeline.report.plan_outputs import write_plan_outputs
    from pipeline.trajectory import plan_trajectory

    inputs, seeds, study = open_myelogram_inputs(args)
    images = myelogram_io.stage_images(study, vascular_modality=args.vascular_modality)
    result = analyse_myelogram(
        images.image,
        contrast=args.contrast,
        vascular=images.vascular,
        vascular_modality=images.vascular_modality,
        seeds=seeds,
    )
    plan = plan_trajectory(
        result, images.image, pain_side=args.pain_side, pain_region=args.pain_region, seeds=seeds
    )
    with staged_directory(args.out, force=args.force, inputs=inputs) as staging:
        write_plan_outputs(plan, result, staging, sources=images.sources, name=str(args.input))
    for flag in plan.flags:
        log.info("%s %s: %s", flag.severity.value.upper(), flag.code, flag.message)
    log.info("plan written to %s", args.out)
    if args.json:
        json.dump(plan.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


ADDERS = [_add_plan]
