"""Files of the myelogram stage (DESIGN.md §4): the label map, the findings JSON and the DICOM SEG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom

from pipeline.myelogram.analysis import MyelogramResult
from pipeline.nifti import save_nifti
from pipeline.report.dicom_seg import write_dicom_seg
from pipeline.trajectory import WindowAssessment


def write_segment_outputs(
    result: MyelogramResult,
    folder: Path,
    *,
    sources: list[pydicom.Dataset] | None,
    name: str,
    window: WindowAssessment | None = None,
) -> list[Path]:
    """Write the stage's files into ``folder`` (already staged by the caller); returns their paths.

    ``window`` (from :func:`pipeline.trajectory.assess_window`, or a plan's) adds the vertebral-artery
    window overlap to ``myelogram.json``; the myelogram stage itself only segments.
    """
    folder = Path(folder)
    written = []
    nifti = folder / "segmentation.nii.gz"
    save_nifti(result.labels, nifti, dtype=np.uint8)
    written.append(nifti)
    summary = result.to_json()
    summary["source_series"] = result.labels.provenance.to_json()
    summary["dicom_seg"] = "dicom/seg.dcm" if sources else None
    if window is not None:
        artery = summary["vertebral_artery"]
        assert isinstance(artery, dict)
        artery.update(window.to_json())
    document = folder / "myelogram.json"
    document.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    written.append(document)
    if sources:
        (folder / "dicom").mkdir(exist_ok=True)
        seg = folder / "dicom" / "seg.dcm"
        write_dicom_seg(result.labels, sources, seg, name=name)
        written.append(seg)
    return written
