"""``cordotomy report``: (re)write OUT/report.html from OUT/results.json and the files beside it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.cli._args import existing_input
from pipeline.errors import InputDataError

log = logging.getLogger("cordotomy")


def _add_report(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the self-contained report.html of a case folder written by `cordotomy run`",
        description=(
            "Write OUT/report.html (one file, figures embedded, opens offline) from OUT/results.json, "
            "OUT/segmentation.nii.gz, OUT/dti/*.nii.gz and the CT series recorded in results.json "
            "(the reformats show the labels only when that series has moved)."
        ),
    )
    parser.add_argument("out", type=Path, help="output folder of `cordotomy run`")
    parser.set_defaults(run=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from pipeline.outputs import MARKER, read_marker
    from pipeline.report.html import write_report

    existing_input(args.out, "OUT", kind="dir")
    # OUT is also the input; only report.html is (re)written, and only in a folder of our own.
    if read_marker(args.out) is None or not (args.out / "results.json").is_file():
        raise InputDataError(
            f"{args.out}: not an output folder of cordotomy run (no results.json and {MARKER} marker); nothing written"
        )
    path = write_report(args.out)
    log.info("report: %s", path.resolve())
    return 0


ADDERS = [_add_report]
