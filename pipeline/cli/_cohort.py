"""``cordotomy cohort``: the cohort table and index.html over case folders written by `cordotomy run`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.cli._args import existing_input

log = logging.getLogger("cordotomy")


def _add_cohort(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cohort",
        help="cohort table (TSV) and index.html linking every case's report",
        description=(
            "Read CASE_DIR/results.json of every case folder and write one TSV row per case (flags, "
            "clearances, depths, cord size, DTI changes, selection) and an index.html linking the reports."
        ),
    )
    parser.add_argument("cases", type=Path, nargs="+", metavar="CASE_DIR", help="output folders of `cordotomy run`")
    parser.add_argument("--summary", type=Path, required=True, metavar="TSV", help="cohort table to write")
    parser.add_argument("--index", type=Path, metavar="HTML", help="index.html to write")
    parser.set_defaults(run=_cmd_cohort)


def _cmd_cohort(args: argparse.Namespace) -> int:
    from pipeline.outputs import check_output_files
    from pipeline.report.cohort import cohort_rows, index_rows, write_cohort_summary
    from pipeline.report.html import write_cohort_index

    for case in args.cases:
        existing_input(case, "CASE_DIR", kind="dir")
    outputs = [p for p in (args.summary, args.index) if p is not None]
    check_output_files(*outputs, force=True, inputs=args.cases)

    rows = cohort_rows(args.cases)
    write_cohort_summary(rows, args.summary)
    log.info("cohort table: %s (%d cases)", args.summary, len(rows))
    if args.index is not None:
        write_cohort_index(index_rows(rows, args.index), args.index)
        log.info("index: %s", args.index.resolve())
    return 0


ADDERS = [_add_cohort]
