"""The ``cordotomy`` command: one thin subcommand per stage, no analysis logic here.

Exit codes (DESIGN.md §5): 0 success, 1 internal error, 2 usage error, 3 invalid input data,
4 analysis could not proceed on valid data.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from pipeline import __version__
from pipeline.cli import _dti, _ingest, _phantom, _segment
from pipeline.errors import CordotomyError

log = logging.getLogger("cordotomy")

EXIT_CODES_HELP = """exit codes:
  0  success (a plan with danger flags is still a success)
  1  unexpected internal error (a bug: please report it)
  2  usage error
  3  invalid or inconsistent input data (unreadable file, missing slices, mixed series, no gradients)
  4  analysis could not proceed on valid data (no contrast, cord not found, C1-C2 not in view)
"""

# Each entry adds one subcommand to the parser and sets ``run`` to its function; one module per stage.
SubcommandAdder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
_SUBCOMMANDS: list[SubcommandAdder] = [*_ingest.ADDERS, *_segment.ADDERS, *_dti.ADDERS, *_phantom.ADDERS]

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
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    logging.basicConfig(level=level, format="cordotomy: %(message)s", stream=sys.stderr, force=True)
    # Libraries narrate their internals at INFO (highdicom: every attribute module it copies).
    for library in ("highdicom", "snakemake"):
        logging.getLogger(library).setLevel(logging.DEBUG if verbose else logging.WARNING)
    # Readers of damaged files narrate (and print tracebacks of) what they recover from; the error that
    # matters reaches the user as our one-line message, so at default verbosity they stay silent.
    for library in ("pydicom", "openjpeg", "pylibjpeg", "libjpeg", "nibabel", "PIL"):
        logging.getLogger(library).setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    if not verbose:
        warnings.simplefilter("ignore")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code so that tests can call ``main([...])`` in-process."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 on usage errors
    _configure_logging(args.verbose, args.quiet)
    from pipeline.outputs import command_context

    try:
        with command_context(args.command):
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
