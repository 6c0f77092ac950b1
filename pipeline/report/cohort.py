"""Cohort summary: one row per case from its ``results.json``, and an ``index.html`` linking the reports.

Each case folder is the output of ``cordotomy run`` (DESIGN.md §4). The table carries what a cohort
review needs at a glance: the plan's flags (worst severity first) and clearances, the depths, the
vertebral-artery source, the cord size, the DTI changes and the patient-selection verdict. A stage that
did not run for a case leaves its columns empty.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.outputs import staged_files
from pipeline.report.results import read_results

COLUMNS = (
    "case",
    "pain_side",
    "pain_region",
    "cordotomy_side",
    "worst_severity",
    "danger_flags",
    "flags",
    "vertebral_artery_source",
    "vertebral_artery_clearance_mm",
    "bone_clearance_mm",
    "vertebral_artery_overlaps_left",
    "vertebral_artery_overlaps_right",
    "skin_to_dura_mm",
    "skin_to_pia_mm",
    "pia_to_target_mm",
    "cord_ap_mm",
    "cord_transverse_mm",
    "cord_area_mm2",
    "lesion_side",
    "lesion_source",
    "lesion_cord_fraction_percent",
    "fa_change_percent",
    "md_change_percent",
    "ad_change_percent",
    "rd_change_percent",
    "selection",
    "report",
)
_SEVERITIES = ("danger", "warning", "info")


def _rounded(value: Any, digits: int = 3) -> Any:
    return round(float(value), digits) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def case_row(case_dir: str | Path) -> dict[str, Any]:
    """The cohort-table row of one case folder (None where a stage has no result)."""
    case_dir = Path(case_dir)
    results = read_results(case_dir)
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    flags = results.get("flags", [])
    row.update(
        {
            "case": results.get("case") or case_dir.name,
            "pain_side": results["request"]["pain_side"],
            "pain_region": results["request"]["pain_region"],
            "worst_severity": next((s for s in _SEVERITIES if any(f["severity"] == s for f in flags)), None),
            "danger_flags": ";".join(f["code"] for f in flags if f["severity"] == "danger"),
            "flags": ";".join(f"{f['severity']}:{f['code']}" for f in flags),
            "selection": results.get("selection", {}).get("overall"),
            "report": str(case_dir / "report.html"),
        }
    )
    plan = results.get("plan")
    if plan is not None:
        clearances = plan.get("clearances_mm", {})
        depths = plan.get("depths_mm", {})
        overlaps = plan.get("vertebral_artery", {}).get("overlaps_window", {})
        cord = plan.get("cord", {})
        row.update(
            {
                "cordotomy_side": plan.get("cordotomy_side"),
                "vertebral_artery_source": plan.get("vertebral_artery", {}).get("source"),
                "vertebral_artery_clearance_mm": _rounded(clearances.get("vertebral_artery")),
                "bone_clearance_mm": _rounded(clearances.get("bone")),
                "vertebral_artery_overlaps_left": overlaps.get("left"),
                "vertebral_artery_overlaps_right": overlaps.get("right"),
                "skin_to_dura_mm": _rounded(depths.get("skin_to_dura")),
                "skin_to_pia_mm": _rounded(depths.get("skin_to_pia")),
                "pia_to_target_mm": _rounded(depths.get("pia_to_target")),
                "cord_ap_mm": _rounded(cord.get("ap_mm")),
                "cord_transverse_mm": _rounded(cord.get("transverse_mm")),
                "cord_area_mm2": _rounded(cord.get("area_mm2")),
            }
        )
    dti = results.get("dti")
    if dti is not None:
        change = dti.get("change_percent", {})
        row.update(
            {
                "lesion_side": dti.get("lesion_side"),
                "lesion_source": dti.get("lesion_source"),
                "lesion_cord_fraction_percent": _rounded(dti.get("lesion_cord_fraction_percent")),
                **{f"{name}_change_percent": _rounded(change.get(name)) for name in ("fa", "md", "ad", "rd")},
            }
        )
    return row


def cohort_rows(case_dirs: Iterable[str | Path]) -> list[dict[str, Any]]:
    """One row per case folder, in the order given."""
    return [case_row(case_dir) for case_dir in case_dirs]


def write_cohort_summary(rows: Iterable[Mapping[str, Any]], out_tsv: str | Path) -> Path:
    """Write the cohort table as tab-separated values (empty cell where a value is missing)."""
    out_tsv = Path(out_tsv)
    with (
        staged_files(out_tsv, force=True) as (temporary,),
        temporary.open("w", newline="", encoding="utf-8") as handle,
    ):
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: "" if row[key] is None else row[key] for key in COLUMNS} for row in rows)
    return out_tsv


def index_rows(rows: Iterable[Mapping[str, Any]], index_html: str | Path) -> list[dict[str, Any]]:
    """Rows for ``index.html``: report links relative to the index, so the cohort folder can move."""
    base = Path(index_html).resolve().parent
    out = []
    for row in rows:
        entry = {key: ("" if value is None else value) for key, value in row.items()}
        entry["report"] = Path(os.path.relpath(Path(str(row["report"])).resolve(), base)).as_posix()
        entry["worst_severity"] = row["worst_severity"]
        entry["flags"] = ", ".join(code.split(":", 1)[1] for code in str(row["flags"]).split(";") if code)
        out.append(entry)
    return out
