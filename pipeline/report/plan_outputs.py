"""Files of the trajectory stage (DESIGN.md §4): ``plan.json`` plus what the myelogram stage writes."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom

from pipeline.contract import validate_document
from pipeline.myelogram import MyelogramResult
from pipeline.report.myelogram_outputs import write_segment_outputs
from pipeline.trajectory import Plan


def write_plan_outputs(
    plan: Plan,
    myelogram_result: MyelogramResult,
    folder: Path,
    *,
    sources: list[pydicom.Dataset] | None,
    name: str = "CT myelogram",
) -> list[Path]:
    """Write ``plan.json`` (validated against its schema), ``segmentation.nii.gz``, ``myelogram.json``
    and, for DICOM input, ``dicom/seg.dcm`` into ``folder`` (staged by the caller); returns the paths.

    Raises
    ------
    pipeline.contract.schemas.ContractError
        The plan breaks its own schema (a bug: exit 1).
    """
    folder = Path(folder)
    written = write_segment_outputs(myelogram_result, folder, sources=sources, name=name, window=plan.window)
    document = plan.to_json()
    validate_document(document, "plan")
    path = folder / "plan.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written
