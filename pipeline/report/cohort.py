"""Cohort summary: one row per case from the stages' JSON outputs, for cohort statistics.

Reads ``OUT/<case>/segment/myelogram.json`` and ``OUT/<case>/dti/dti.json`` (DESIGN.md §4) as the
Snakemake workflow lays them out; a stage that did not run for a case leaves its columns empty.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import InputDataError
from pipeline.outputs import staged_files

COLUMNS = (
    "case",
    "cord_ap_mm",
    "cord_transverse_mm",
    "cord_area_mm2",
    "dentate_source_left",
    "dentate_source_right",
    "vertebral_artery_source",
    "vertebral_artery_overlaps_left",
    "vertebral_artery_overlaps_right",
    "lesion_side",
    "lesion_source",
    "lesion_cord_fraction_percent",
    "fa_change_percent",
    "md_change_percent",
    "ad_change_percent",
    "rd_change_percent",
)


def _read_json(path: Path) -> Mapping[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc


def _myelogram_columns(myelogram: Mapping[str, Any]) -> dict[str, Any]:
    cord = myelogram.get("cord", {})
    dentate = myelogram.get("dentate_ligament", {})
    artery = myelogram.get("vertebral_artery", {})
    overlaps = artery.get("overlaps_window", {})
    return {
        "cord_ap_mm": cord.get("ap_mm"),
        "cord_transverse_mm": cord.get("transverse_mm"),
        "cord_area_mm2": cord.get("area_mm2"),
        "dentate_source_left": dentate.get("left", {}).get("planning_level", {}).get("source"),
        "dentate_source_right": dentate.get("right", {}).get("planning_level", {}).get("source"),
        "vertebral_artery_source": artery.get("source"),
        "vertebral_artery_overlaps_left": overlaps.get("left"),
        "vertebral_artery_overlaps_right": overlaps.get("right"),
    }


def _dti_columns(dti: Mapping[str, Any]) -> dict[str, Any]:
    change = dti.get("change_percent", {})
    return {
        "lesion_side": dti.get("lesion_side"),
        "lesion_source": dti.get("lesion_source"),
        "lesion_cord_fraction_percent": dti.get("lesion_cord_fraction_percent"),
        **{f"{name}_change_percent": change.get(name) for name in ("fa", "md", "ad", "rd")},
    }


def cohort_rows(results_dir: str | Path, cases: Iterable[str]) -> list[dict[str, Any]]:
    """One dict per case with the columns of :data:`COLUMNS` (None where a stage has no result)."""
    results_dir = Path(results_dir)
    rows = []
    for case in cases:
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row["case"] = case
        myelogram = _read_json(results_dir / case / "segment" / "myelogram.json")
        if myelogram is not None:
            row.update(_myelogram_columns(myelogram))
        dti = _read_json(results_dir / case / "dti" / "dti.json")
        if dti is not None:
            row.update(_dti_columns(dti))
        rows.append(row)
    return rows


def write_cohort_summary(results_dir: str | Path, cases: Iterable[str], out_tsv: str | Path) -> None:
    """Write the cohort table as tab-separated values (empty cell where a value is missing)."""
    rows = cohort_rows(results_dir, cases)
    with (
        staged_files(out_tsv, force=True) as (temporary,),
        temporary.open("w", newline="", encoding="utf-8") as handle,
    ):
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
