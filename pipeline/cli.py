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


# -- ingest: inspect, convert ------------------------------------------------------------------------


def _add_inspect(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pathlib import Path

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
    from pathlib import Path

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


if __name__ == "__main__":
    sys.exit(main())
