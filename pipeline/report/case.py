"""A whole case, study to report: the flow behind ``cordotomy run`` (DESIGN.md §4 output tree).

Stages run when their inputs allow: the plan (myelogram segmentation + trajectory) when the study holds a
CT myelogram, the DTI follow-up when it holds a diffusion series. Each stage's files can also be made on
their own (``only=``, one Snakemake rule per stage) and taken over later (``reuse=``), so that the
workflow and a hand run write the same tree. Every stage writes ``stage.json`` (status, seconds, reason)
when run alone, so the assembly knows why a stage is missing.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom

from pipeline.errors import AnalysisError, InputDataError, UsageError
from pipeline.ingest import Role, Study
from pipeline.seeds import Seeds
from pipeline.volume import Volume

log = logging.getLogger("cordotomy")

STAGES = ("plan", "dti")
PLAN_FILES = ("plan.json", "segmentation.nii.gz", "myelogram.json", "dicom/seg.dcm")
DTI_FILES = ("dti.json", "dti")
STAGE_FILE = "stage.json"
_OPPOSITE = {"left": "right", "right": "left"}


# -- which series ----------------------------------------------------------------------------------------


def open_case(study: str | Path, *, vascular: str | Path | None = None) -> Study:
    """The case's series with their roles (one scan of ``study``; ``vascular`` replaces its vascular role).

    Raises
    ------
    InputDataError
        The study holds neither a CT myelogram nor a diffusion series.
    """
    found = Study.scan(study)
    if vascular is not None:
        given = Study.open(vascular, role=Role.VASCULAR).require(Role.VASCULAR)
        found = found.replacing(Role.VASCULAR, given, "given with --vascular")
    if found.get(Role.CT_MYELOGRAM) is None and found.get(Role.DWI) is None:
        raise InputDataError(f"{study}: no CT myelogram and no diffusion series found:\n{found.listing()}")
    return found


def series_listing(study: Study) -> list[dict[str, Any]]:
    """Every series with its role, whether it is used and why (``results.json`` ``series``)."""
    used = {id(chosen) for role in Role if (chosen := study.get(role)) is not None and role is not Role.OTHER}
    listing = []
    for series in study.series:
        info = series.info
        listing.append(
            {
                "role": series.role.value,
                "series_number": info.series_number if info else None,
                "description": info.description if info else series.path.name,
                "modality": info.modality if info else "",
                "series_uid": info.series_uid if info else "",
                "used": id(series) in used,
                "reason": series.reason if id(series) in used else f"not used: {series.reason}",
                "path": str(series.path.resolve()),
            }
        )
    return listing


# -- running ----------------------------------------------------------------------------------------------


@dataclass
class CaseRequest:
    """What the user asked for."""

    pain_side: str
    pain_region: str
    seeds: Seeds
    clinical: Mapping[str, Any] | None = None
    case: str = "case"
    only: str | None = None
    reuse: Sequence[Path] = ()

    @property
    def cordotomy_side(self) -> str:
        return _OPPOSITE[self.pain_side]


@dataclass
class CaseOutcome:
    """What a case run produced (for the command's summary)."""

    stages: dict[str, dict[str, Any]]
    results: dict[str, Any] | None
    files: list[str]


@contextmanager
def _stage(name: str, stages: dict[str, dict[str, Any]]) -> Iterator[None]:
    log.info("%s: running", name)
    start = time.perf_counter()
    yield
    seconds = round(time.perf_counter() - start, 3)
    stages[name] = {"status": "done", "seconds": seconds}
    log.info("%s: done in %.1f s", name, seconds)


def _skip(name: str, reason: str, stages: dict[str, dict[str, Any]]) -> None:
    stages[name] = {"status": "skipped", "seconds": None, "reason": reason}
    log.info("%s: skipped (%s)", name, reason)


def _reused_stage(name: str, reuse: Sequence[Path], marker: str) -> Path | None:
    for folder in reuse:
        if (folder / marker).exists():
            return folder
        stage_file = folder / STAGE_FILE
        if stage_file.exists() and json.loads(stage_file.read_text(encoding="utf-8")).get("stage") == name:
            return folder
    return None


def _copy_stage(source: Path, folder: Path, names: Sequence[str]) -> None:
    for name in names:
        path = source / name
        target = folder / name
        if path.is_dir():
            shutil.copytree(path, target)
        elif path.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def _load_ct(study: Study) -> tuple[Volume, list[pydicom.Dataset]]:
    from pipeline.myelogram import io as myelogram_io

    return myelogram_io.load_image(study, Role.CT_MYELOGRAM), study.source_datasets(Role.CT_MYELOGRAM) or []


def run_plan_stage(study: Study, request: CaseRequest, folder: Path) -> tuple[Volume, list[pydicom.Dataset]]:
    """Segment the CT myelogram and plan the path; writes plan.json, segmentation, myelogram.json, SEG."""
    from pipeline.myelogram import io as myelogram_io
    from pipeline.myelogram.analysis import analyse_myelogram
    from pipeline.report.plan_outputs import write_plan_outputs
    from pipeline.trajectory import plan_trajectory

    images = myelogram_io.stage_images(study)
    ct, sources = images.image, images.sources or []
    start = time.perf_counter()
    myelogram = analyse_myelogram(
        ct, vascular=images.vascular, vascular_modality=images.vascular_modality, seeds=request.seeds
    )
    log.debug(
        "myelogram stage %.1f s (vertebral arteries: %s)",
        time.perf_counter() - start,
        myelogram.artery_source.value,
    )
    start = time.perf_counter()
    plan = plan_trajectory(
        myelogram, ct, pain_side=request.pain_side, pain_region=request.pain_region, seeds=request.seeds
    )
    log.debug("trajectory stage %.1f s", time.perf_counter() - start)
    write_plan_outputs(plan, myelogram, folder, sources=sources)
    return ct, sources


def run_dti_stage(study: Study, request: CaseRequest, folder: Path) -> list[pydicom.Dataset]:
    """Fit the tensors of the post-procedure DWI; lesion searched on the cordotomy side."""
    from pipeline import dti
    from pipeline.report.dti_outputs import write_dti_outputs

    chosen = study.require(Role.DWI)
    log.debug("DWI: %s, lesion searched on the %s side", chosen.label, request.cordotomy_side)
    data = study.load_dwi()
    analysis = dti.analyse_dwi(
        data.volume, data.bvals_s_mm2, data.bvecs, lesion_side=request.cordotomy_side, seeds=request.seeds
    )
    write_dti_outputs(analysis, folder)
    return study.source_datasets(Role.DWI) or []


def _write_stage_file(folder: Path, name: str, stage: Mapping[str, Any]) -> None:
    (folder / STAGE_FILE).write_text(json.dumps({"stage": name, **stage}, indent=2) + "\n", encoding="utf-8")


def _parameters(seeds: Seeds, *documents: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every seed with its source, updated with the entries the stages report as used."""
    parameters: dict[str, Any] = seeds.as_dict()
    for document in documents:
        for key, entry in ((document or {}).get("parameters") or {}).items():
            if isinstance(entry, Mapping) and "value" in entry and "source" in entry:
                parameters[key] = dict(entry)
    return parameters


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def run_case(study: Study, request: CaseRequest, folder: Path) -> CaseOutcome:
    """Run the case into ``folder`` (an empty staging folder the caller renames into place)."""
    from pipeline.report.dicom_sr import write_dicom_sr
    from pipeline.report.html import write_report
    from pipeline.report.results import results_document
    from pipeline.report.selection import evaluate_selection

    stages: dict[str, dict[str, Any]] = {}
    ct: Volume | None = None
    ct_sources: list[pydicom.Dataset] = []
    dwi_sources: list[pydicom.Dataset] = []

    if request.only in (None, "plan"):
        reused = _reused_stage("plan", request.reuse, "plan.json")
        if reused is not None:
            _check_reused_plan(reused, request)
            _copy_stage(reused, folder, PLAN_FILES)
            stages["plan"] = _reused_status(reused, "plan")
        elif study.get(Role.CT_MYELOGRAM) is None:
            _skip("plan", "no CT myelogram series in the study", stages)
        else:
            with _stage("plan", stages):
                ct, ct_sources = run_plan_stage(study, request, folder)
    if request.only in (None, "dti"):
        reused = _reused_stage("dti", request.reuse, "dti.json")
        if reused is not None:
            _check_reused_dti(reused, request)
            _copy_stage(reused, folder, DTI_FILES)
            stages["dti"] = _reused_status(reused, "dti")
        elif study.get(Role.DWI) is None:
            _skip("dti", "no diffusion series in the study", stages)
        else:
            try:
                with _stage("dti", stages):
                    dwi_sources = run_dti_stage(study, request, folder)
            except AnalysisError as exc:
                _skip("dti", f"analysis could not proceed: {exc}", stages)
                shutil.rmtree(folder / "dti", ignore_errors=True)
                (folder / "dti.json").unlink(missing_ok=True)
    if request.only is not None:
        _write_stage_file(folder, request.only, stages[request.only])
        return CaseOutcome(stages=stages, results=None, files=_files(folder))
    if all(stage["status"] == "skipped" for stage in stages.values()):
        reasons = "; ".join(f"{name}: {stage.get('reason')}" for name, stage in stages.items())
        raise AnalysisError(f"no stage could run ({reasons})")

    plan = _read_optional(folder / "plan.json")
    myelogram = _read_optional(folder / "myelogram.json")
    dti_doc = _read_optional(folder / "dti.json")
    if plan is not None and not ct_sources and study.get(Role.CT_MYELOGRAM) is not None:
        ct, ct_sources = _load_ct(study)
    if dti_doc is not None and not dwi_sources and study.get(Role.DWI) is not None:
        dwi_sources = study.source_datasets(Role.DWI) or []
    selection = evaluate_selection(request.clinical, request.seeds, pain_region=request.pain_region)

    seg_path = folder / "dicom" / "seg.dcm"
    if ct_sources or dwi_sources:
        (folder / "dicom").mkdir(exist_ok=True)
        start = time.perf_counter()
        write_dicom_sr(
            folder / "dicom" / "sr.dcm",
            plan=plan,
            dti=dti_doc,
            ct_datasets=ct_sources,
            dwi_datasets=dwi_sources,
            seg=pydicom.dcmread(seg_path, stop_before_pixels=True) if seg_path.exists() else None,
        )
        log.debug("DICOM SR written in %.1f s", time.perf_counter() - start)
    results = results_document(
        case=request.case,
        request={"pain_side": request.pain_side, "pain_region": request.pain_region},
        series=series_listing(study),
        stages=stages,
        plan=plan,
        myelogram=myelogram,
        dti=dti_doc,
        selection=selection,
        parameters=_parameters(request.seeds, plan, dti_doc),
        files=[*_files(folder), "results.json", "report.html"],
    )
    (folder / "results.json").write_text(
        json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    with _stage("report", stages):
        write_report(folder, ct=ct)
    return CaseOutcome(stages=stages, results=results, files=_files(folder))


def _check_reused_plan(folder: Path, request: CaseRequest) -> None:
    """A reused plan must answer the same question (pain side and region) as this run."""
    plan = _read_optional(folder / "plan.json") or {}
    pain = plan.get("pain", {})
    asked = {"side": request.pain_side, "region": request.pain_region}
    if {k: pain.get(k) for k in asked} != asked:
        raise UsageError(
            f"--reuse {folder}: its plan is for {pain.get('side')} {pain.get('region')} pain, this run for "
            f"{request.pain_side} {request.pain_region} pain"
        )


def _check_reused_dti(folder: Path, request: CaseRequest) -> None:
    """A reused DTI result must have its lesion on this run's cordotomy side."""
    dti = _read_optional(folder / "dti.json") or {}
    if dti.get("lesion_side") not in (None, request.cordotomy_side):
        raise UsageError(
            f"--reuse {folder}: its DTI lesion is on the {dti.get('lesion_side')} side, this run's cordotomy "
            f"is on the {request.cordotomy_side} side"
        )


def _reused_status(folder: Path, name: str) -> dict[str, Any]:
    stage_file = folder / STAGE_FILE
    if stage_file.exists():
        stage = json.loads(stage_file.read_text(encoding="utf-8"))
        status = {k: stage.get(k) for k in ("status", "seconds", "reason") if k in stage}
        if status.get("status") == "done":
            status["status"] = "reused"
        status.setdefault("seconds", None)
        log.info("%s: taken from %s (%s)", name, folder, status["status"])
        return status
    log.info("%s: taken from %s", name, folder)
    return {"status": "reused", "seconds": None}


def _read_optional(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    return document
