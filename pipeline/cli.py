"""The ``cordotomy`` command: one thin subcommand per stage, no analysis logic here.

Exit codes (DESIGN.md §5): 0 success, 1 internal error, 2 usage error, 3 invalid input data,
4 analysis could not proceed on valid data.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pipeline import __version__
from pipeline.errors import CordotomyError

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


# -- cordotomy phantom ----------------------------------------------------------------------------------
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


if __name__ == "__main__":
    sys.exit(main())
