"""``cordotomy run``: a whole case, study to report (DESIGN.md §4 output tree)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pipeline.cli._args import existing_input, parameters_file
from pipeline.errors import UsageError

log = logging.getLogger("cordotomy")


def _add_run(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="whole case: segmentation, plan, DTI, results.json, report.html, DICOM SEG and SR",
        description=(
            "Find the series of STUDY (CT myelogram, vascular series, post-procedure DWI), run every stage "
            "its inputs allow and write OUT/results.json, plan.json, dti.json, segmentation.nii.gz, dti/*, "
            "dicom/seg.dcm, dicom/sr.dcm and report.html. A plan with danger flags is still exit 0."
        ),
    )
    parser.add_argument("study", type=Path, help="study folder (DICOM, searched recursively)")
    parser.add_argument("--pain-side", required=True, choices=["left", "right"], help="side of the pain")
    parser.add_argument("--pain-region", required=True, choices=["leg", "arm"], help="region of the pain")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--clinical", type=Path, metavar="FILE.yaml", help="patient-selection items (see README)"
    )
    parser.add_argument("--parameters", type=Path, metavar="FILE.yaml", help="overrides of seeds/ parameters")
    parser.add_argument(
        "--vascular", type=Path, metavar="DIR", help="vascular series outside STUDY (CTA or 3D T2)"
    )
    parser.add_argument("--case", help="case name shown in the report (default: the name of OUT)")
    parser.add_argument(
        "--only",
        choices=["plan", "dti"],
        help="run one stage and write only its files (one Snakemake rule per stage)",
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="take a stage's files from DIR (written by --only) instead of running it; repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.set_defaults(run=_cmd_run)


def _summary(args: argparse.Namespace, outcome: object) -> dict[str, object]:
    from pipeline.report.case import CaseOutcome

    assert isinstance(outcome, CaseOutcome)
    summary: dict[str, object] = {
        "schema": "cordotomy.run-summary/1",
        "out": str(args.out),
        "stages": outcome.stages,
        "files": outcome.files,
    }
    results = outcome.results
    if results is not None:
        plan = results.get("plan") or {}
        dti = results.get("dti") or {}
        summary.update(
            {
                "results": str(args.out / "results.json"),
                "report": str(args.out / "report.html"),
                "flags": results["flags"],
                "worst_severity": next(
                    (
                        s
                        for s in ("danger", "warning", "info")
                        if any(f["severity"] == s for f in results["flags"])
                    ),
                    None,
                ),
                "cordotomy_side": plan.get("cordotomy_side"),
                "clearances_mm": plan.get("clearances_mm"),
                "depths_mm": plan.get("depths_mm"),
                "dti_change_percent": dti.get("change_percent"),
                "selection": results["selection"]["overall"],
            }
        )
    return summary


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline.outputs import check_output_directory, staged_directory
    from pipeline.report.case import CaseRequest, open_case, run_case
    from pipeline.report.selection import read_clinical
    from pipeline.seeds import load_seeds

    if args.only and args.reuse:
        raise UsageError("--only and --reuse do not go together: --only makes one stage, --reuse assembles")
    existing_input(args.study, "STUDY")
    existing_input(args.vascular, "--vascular")
    existing_input(args.clinical, "--clinical")
    parameters_file(args.parameters)
    for folder in args.reuse:
        existing_input(folder, "--reuse")
    given = (args.study, args.vascular, args.clinical, args.parameters, *args.reuse)
    inputs = [p for p in given if p is not None]
    check_output_directory(args.out, force=args.force, inputs=inputs)
    clinical = read_clinical(args.clinical) if args.clinical else None
    seeds = load_seeds(args.parameters)
    if args.parameters:
        log.debug("parameters: overrides from %s", args.parameters)
    study = open_case(args.study, vascular=args.vascular)
    for series in study.series:
        log.debug("%s: %s (%s)", series.label, series.role.value, series.reason)
    request = CaseRequest(
        pain_side=args.pain_side,
        pain_region=args.pain_region,
        seeds=seeds,
        clinical=clinical,
        case=args.case or args.out.resolve().name,
        only=args.only,
        reuse=list(args.reuse),
    )
    log.debug(
        "pain %s %s: cordotomy on the %s side", args.pain_side, args.pain_region, request.cordotomy_side
    )
    with staged_directory(args.out, force=args.force, inputs=inputs) as staging:
        outcome = run_case(study, request, staging)
    if outcome.results is not None:
        flags = outcome.results["flags"]
        for flag in flags:
            log.info("%s %s: %s", flag["severity"].upper(), flag["code"], flag["message"])
        log.info("report: %s", (args.out / "report.html").resolve())
    if args.json:
        json.dump(_summary(args, outcome), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


ADDERS = [_add_run]
