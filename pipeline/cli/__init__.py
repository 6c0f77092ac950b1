"""The ``cordotomy`` command: one thin subcommand per stage, no analysis logic here.

Exit codes (DESIGN.md §5): 0 success, 1 internal error, 2 usage error, 3 invalid input data,
4 analysis could not proceed on valid data.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence

from pipeline import __version__
from pipeline.cli import _cohort, _dti, _ingest, _phantom, _plan, _report, _run, _segment
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
_SUBCOMMANDS: list[SubcommandAdder] = [
    *_ingest.ADDERS,
    *_segment.ADDERS,
    *_plan.ADDERS,
    *_dti.ADDERS,
    *_phantom.ADDERS,
    *_run.ADDERS,
    *_report.ADDERS,
    *_cohort.ADDERS,
]

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
    _add_common_options(parser, top_level=True)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(subparsers)
    # Every subcommand also takes --version, -v and -q (`cordotomy segment --version`, `cordotomy run ... -v`).
    for subparser in subparsers.choices.values():
        _add_common_options(subparser, top_level=False)
    return parser


def _add_common_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """--version, -v and -q; below the top level their defaults are suppressed so that
    `cordotomy -v run ...` and `cordotomy run ... -v` both work."""
    parser.add_argument("--version", action="version", version=f"cordotomy {__version__}")
    default = False if top_level else argparse.SUPPRESS
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="show the decisions (series chosen and why, parameters, timings) and debug messages",
    )
    verbosity.add_argument("-q", "--quiet", action="store_true", default=default, help="show errors only")


def _configure_logging(verbose: bool, quiet: bool) -> None:
    """Our messages at INFO (DEBUG with -v: the decisions and timings); libraries at WARNING.

    With -v only our own loggers (``cordotomy``, ``pipeline.*``) go to DEBUG: matplotlib and PIL
    narrate font searches at DEBUG, which would bury the decisions -v is meant to show.
    """
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.WARNING,
        format="cordotomy: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for ours in ("cordotomy", "pipeline"):
        logging.getLogger(ours).setLevel(level)
    # Libraries narrate their internals at INFO (highdicom: every attribute module it copies).
    for library in ("highdicom", "snakemake", "matplotlib", "PIL"):
        logging.getLogger(library).setLevel(logging.ERROR if quiet else logging.WARNING)
    # Readers of damaged files narrate (and print tracebacks of) what they recover from; the error that
    # matters reaches the user as our one-line message, so at default verbosity they stay silent.
    for library in ("pydicom", "openjpeg", "pylibjpeg", "libjpeg", "nibabel"):
        logging.getLogger(library).setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    if not verbose:
        warnings.simplefilter("ignore")


def _peak_memory_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is in kB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code so that tests can call ``main([...])`` in-process."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 on usage errors
    _configure_logging(args.verbose, args.quiet)
    from pipeline.outputs import command_context

    options = {k: v for k, v in sorted(vars(args).items()) if k not in ("run", "verbose", "quiet")}
    log.debug("cordotomy %s, options: %s", __version__, ", ".join(f"{k}={v}" for k, v in options.items()))
    start = time.perf_counter()
    try:
        with command_context(args.command):
            code = int(args.run(args))
        log.debug("finished in %.1f s, peak memory %.0f MB", time.perf_counter() - start, _peak_memory_mb())
        return code
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
