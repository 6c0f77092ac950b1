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


# -- segment (myelogram stage) -------------------------------------------------------------------
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
    parser.add_argument("input", help="DICOM folder or NIfTI file (.nii/.nii.gz)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--contrast",
        choices=["ct-myelogram", "t2", "t1"],
        default="ct-myelogram",
        help="image contrast: CT myelogram in HU (default), T2 MRI (CSF bright), T1 MRI (CSF dark)",
    )
    parser.add_argument("--vascular", metavar="PATH", help="CTA or 3D T2 MRI (DICOM folder or NIfTI)")
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

    image = myelogram_io.load_image(args.input)
    vascular = myelogram_io.load_image(args.vascular) if args.vascular else None
    modality = myelogram_io.vascular_modality(vascular, args.vascular_modality) if vascular else "cta"
    sources = myelogram_io.source_datasets(args.input)
    result = analyse_myelogram(image, contrast=args.contrast, vascular=vascular, vascular_modality=modality)
    with staged_directory(args.out, force=args.force) as staging:
        myelogram_io.write_segment_outputs(result, staging, sources=sources, name=str(args.input))
    log.info("segmentation written to %s", args.out)
    return 0


_SUBCOMMANDS.append(_add_segment)


if __name__ == "__main__":
    sys.exit(main())
