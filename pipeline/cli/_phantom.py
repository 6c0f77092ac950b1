"""``cordotomy phantom``: sample studies with ground truth."""

from __future__ import annotations

import argparse
import logging

from pipeline.cli._args import non_negative_int, parameters_file

log = logging.getLogger("cordotomy")


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
    from pipeline.outputs import check_output_directory, staged_directory
    from pipeline.phantom import write_study
    from pipeline.seeds import load_seeds

    non_negative_int(args.seed, "--seed")
    parameters_file(args.parameters)
    inputs = [args.parameters] if args.parameters is not None else []
    check_output_directory(args.out, force=args.force, inputs=inputs)
    seeds = load_seeds(args.parameters)
    with staged_directory(args.out, force=args.force, inputs=inputs) as staging:
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


ADDERS = [_add_phantom]
