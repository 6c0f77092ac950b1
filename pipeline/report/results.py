"""``results.json`` ("cordotomy.results/1"): everything a case produced, in one document.

It gathers the contract documents of the stages (``plan.json``, ``dti.json``), a summary of the myelogram
stage, the patient-selection checklist, the series used (with the reason each was chosen), the flags of
every stage in one list, every parameter with its source, the software versions and the stage timings.
The report, the DICOM SR and the cohort table read this document, never the stages' objects.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.contract import validate_document
from pipeline.errors import InputDataError

SCHEMA = "cordotomy.results/1"
_SOFTWARE = ("numpy", "scipy", "pydicom", "highdicom", "SimpleITK", "nibabel", "dipy", "matplotlib", "Jinja2")


def software_versions() -> dict[str, str]:
    """Versions of the pipeline, Python and the libraries whose numbers shape the results."""
    versions = {"cordotomy-pipeline": __version__, "python": platform.python_version()}
    for name in _SOFTWARE:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def myelogram_summary(myelogram: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``myelogram.json`` the report needs (frame, level, cord, dentate and artery findings)."""
    artery = myelogram.get("vertebral_artery", {})
    dentate = {
        side: (myelogram.get("dentate_ligament", {}).get(side, {}) or {}).get("planning_level")
        for side in ("left", "right")
    }
    vertebrae = myelogram.get("vertebrae") or {}
    return {
        "contrast": myelogram.get("contrast"),
        "frame": myelogram["frame"],
        "level": myelogram.get("level"),
        "cord": myelogram.get("cord"),
        "dentate_ligament": dentate,
        "interlaminar_window": vertebrae.get("interlaminar_window"),
        "vertebral_artery": {
            "source": artery.get("source"),
            "overlaps_window": artery.get("overlaps_window"),
            "clearance_mm": artery.get("clearance_mm"),
        },
    }


def selection_flags(selection: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flags for the patient-selection findings (contraindication: danger; relative: warning)."""
    flags = []
    for item in selection.get("items", []):
        if item["status"] == "contraindication":
            flags.append(
                {
                    "code": "SELECTION_CONTRAINDICATION",
                    "severity": "danger",
                    "message": f"{item['item']}: {item['finding']} (risk: {item['risk']})",
                }
            )
        elif item["status"] == "relative_contraindication":
            flags.append(
                {
                    "code": "SELECTION_RELATIVE_CONTRAINDICATION",
                    "severity": "warning",
                    "message": f"{item['item']}: {item['finding']} (risk: {item['risk']})",
                }
            )
    if selection.get("overall") == "not_assessed":
        flags.append(
            {
                "code": "SELECTION_NOT_ASSESSED",
                "severity": "info",
                "message": "no clinical data given (--clinical): patient selection not assessed",
            }
        )
    return flags


def dti_flags(dti: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flags of the DTI follow-up (lesion smaller than the share linked with pain relief)."""
    threshold = dti.get("lesion_cord_fraction_threshold", {})
    if threshold and not threshold.get("meets", True):
        return [
            {
                "code": "LESION_BELOW_CORD_FRACTION",
                "severity": "warning",
                "message": (
                    f"lesion covers {dti['lesion_cord_fraction_percent']:.1f} % of the cord cross-section, "
                    f"below the {threshold['min_percent']:.1f} % linked with pain relief"
                ),
            }
        ]
    return []


def results_document(
    *,
    case: str,
    request: Mapping[str, Any],
    series: Sequence[Mapping[str, Any]],
    stages: Mapping[str, Mapping[str, Any]],
    plan: Mapping[str, Any] | None,
    myelogram: Mapping[str, Any] | None,
    dti: Mapping[str, Any] | None,
    selection: Mapping[str, Any],
    parameters: Mapping[str, Any],
    files: Sequence[str],
) -> dict[str, Any]:
    """Assemble and validate ``results.json`` (raises ``ContractError`` if it breaks its schema)."""
    flags: list[dict[str, Any]] = []
    for stage, stage_flags in (
        ("plan", (plan or {}).get("flags", [])),
        ("dti", dti_flags(dti) if dti is not None else []),
        ("selection", selection_flags(selection)),
    ):
        flags += [{**flag, "stage": stage} for flag in stage_flags]
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "case": case,
        "request": dict(request),
        "series": [dict(s) for s in series],
        "stages": {name: dict(stage) for name, stage in stages.items()},
        "flags": flags,
        "plan": dict(plan) if plan is not None else None,
        "myelogram": myelogram_summary(myelogram) if myelogram is not None else None,
        "dti": dict(dti) if dti is not None else None,
        "selection": dict(selection),
        "parameters": dict(parameters),
        "software": software_versions(),
        "files": sorted(files),
    }
    validate_document(document, "results")
    return document


def read_results(case_dir: Path) -> dict[str, Any]:
    """``case_dir/results.json`` of a case folder written by ``cordotomy run`` (exit 3 when missing or broken)."""
    path = Path(case_dir) / "results.json"
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputDataError(f"{path}: not found; is {case_dir} the output folder of `cordotomy run`?") from None
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    return document
