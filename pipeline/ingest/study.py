"""A patient's imaging for one cordotomy case: every series found, each with a role and the reason for it.

:class:`Study` scans a folder **once** (or takes explicit series: a DICOM folder or a NIfTI file per
role) and then serves every stage from what it found: which series is the CT myelogram, the vascular
series (CTA, MRA or 3D T2) and the post-procedure DWI, their loaded volumes and the DICOM headers a
SEG or SR must reference. Commands, ``cordotomy run`` and the Snakemake rules all get their inputs
here, so the choice of series is made in one place and can be explained (``cordotomy inspect --json``,
``-v``).

A "study" in this sense is the case's folder; it may hold several DICOM studies (the pre-procedure CT
myelogram and the MRI 48 h later usually have different StudyInstanceUIDs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pydicom

from pipeline.errors import AnalysisError, InputDataError, UsageError
from pipeline.ingest.diffusion import DiffusionData, checked_diffusion, load_dwi, load_dwi_selected
from pipeline.ingest.discover import Scan, SeriesInfo, describe, scan
from pipeline.ingest.series import (
    NIFTI_SUFFIXES,
    SelectedSeries,
    load_selected,
    load_series,
    selected_datasets,
    selection,
)
from pipeline.volume import Volume

__all__ = ["Role", "Study", "StudySeries", "VascularKind"]

_SPINE = re.compile(r"myel|spine|spinal|cervical|c-spine|cspine|neck|c1|c2", re.IGNORECASE)
_MRA = re.compile(r"\bmra\b|\btof\b|angio", re.IGNORECASE)


class Role(StrEnum):
    """What a series is for in the cordotomy work-up."""

    CT_MYELOGRAM = "ct_myelogram"
    VASCULAR = "vascular"
    DWI = "dwi"
    OTHER = "other"


class VascularKind(StrEnum):
    """How the vertebral arteries look in a vascular series (``--vascular-modality``)."""

    CTA = "cta"  # bright lumen in HU
    MRA = "mra"  # bright lumen (time of flight, contrast MRA)
    T2 = "t2"  # flow void in a 3D T2


@dataclass(frozen=True, eq=False)
class StudySeries:
    """One series of the study, with its role and why it got it.

    ``selected`` holds the headers read by the one scan (None for a NIfTI file); ``info`` the series'
    description from :func:`pipeline.ingest.discover.describe` (None for NIfTI).
    """

    role: Role
    reason: str
    path: Path
    label: str
    selected: SelectedSeries | None = None
    info: SeriesInfo | None = None
    vascular_kind: VascularKind | None = None

    @property
    def is_nifti(self) -> bool:
        return self.selected is None

    def as_dict(self) -> dict[str, object]:
        described = self.info.as_dict() if self.info is not None else {"nifti": self.path.name}
        return {
            **described,
            "role": self.role.value,
            "role_reason": self.reason,
            "vascular_kind": self.vascular_kind.value if self.vascular_kind else None,
        }


class Study:
    """Every series of a case with its role; loads each on demand without scanning again."""

    def __init__(self, series: list[StudySeries], *, problems: tuple[str, ...] = ()) -> None:
        self.series = tuple(series)
        self.problems = problems

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def scan(cls, path: str | Path) -> Study:
        """Scan a case folder once and give each series a role (one CT myelogram, vascular, DWI).

        Raises
        ------
        InputDataError
            ``path`` does not exist or holds no DICOM image.
        """
        path = Path(path)
        found = scan(path)
        if not found.groups:
            _raise_empty(path, found)
        described = [_study_series(path, key, headers, found) for key, headers in found.groups.items()]
        described.sort(key=lambda s: (s.info.series_number if s.info and s.info.series_number else -1, s.label))
        return cls(_one_myelogram(described), problems=tuple(found.unreadable.values()))

    @classmethod
    def open(cls, path: str | Path, *, role: Role, series: str | int | None = None) -> Study:
        """The input of a single-stage command: a NIfTI file, or a DICOM folder/file holding ``role``.

        In a DICOM folder the series is the one chosen with ``series`` (number or UID), else the only
        image series, else the one whose detected role is ``role``.

        Raises
        ------
        UsageError
            Several series and none (or more than one) fits; the message lists them.
        """
        return cls.from_inputs({role: path}, series=series)

    @classmethod
    def from_inputs(cls, inputs: Mapping[Role, str | Path | None], *, series: str | int | None = None) -> Study:
        """Explicit inputs per role (``segment CT --vascular DIR``); each distinct folder is scanned once."""
        scanned: dict[Path, Study] = {}
        chosen: list[StudySeries] = []
        for role, given in inputs.items():
            if given is None:
                continue
            path = Path(given)
            if not path.exists() and not path.is_symlink():
                raise InputDataError(f"{path}: no such file or folder")
            if path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES):
                chosen.append(StudySeries(role, "NIfTI file given for this role", path, path.name))
                continue
            key = path.resolve()
            if key not in scanned:
                scanned[key] = cls.scan(path)
            chosen.append(scanned[key]._choose(path, role, series))
        problems = tuple(p for study in scanned.values() for p in study.problems)
        return cls(chosen, problems=problems)

    def _choose(self, path: Path, role: Role, series: str | int | None) -> StudySeries:
        images = [s for s in self.series if s.info is None or s.info.n_slices > 1 or s.role is Role.DWI]
        if series is not None:
            wanted = str(series).strip()
            matches = [
                s
                for s in self.series
                if s.info is not None
                and (s.info.series_uid == wanted or str(s.info.series_number) == wanted)
            ]
            if len(matches) != 1:
                problem = "no series" if not matches else "several series"
                raise UsageError(f"{path}: {problem} {wanted!r}; available:\n{self.listing()}")
            return _as_role(matches[0], role, f"chosen with --series {wanted}")
        if len(images) == 1:
            return _as_role(images[0], role, "the only image series in the input")
        if not images and len(self.series) == 1:
            return _as_role(self.series[0], role, "the only series in the input")
        fitting = [s for s in images if s.role is role]
        if len(fitting) == 1:
            return fitting[0]
        if self.problems:  # the series asked for may be among the files that could not be read
            raise InputDataError(f"{path}: no {role.value} series could be read; first problem: {self.problems[0]}")
        problem = "none" if not fitting else "more than one"
        raise UsageError(
            f"{path} holds {len(images)} series and {problem} has the role {role.value!r}; choose one with "
            f"--series or point to the series' own folder:\n{self.listing()}"
        )

    # -- access ----------------------------------------------------------------------------------------
    def get(self, role: Role) -> StudySeries | None:
        """The series with ``role``; when several, the preferred one (see :func:`_preference`)."""
        candidates = [s for s in self.series if s.role is role]
        if not candidates:
            return None
        return max(candidates, key=_preference)

    def replacing(self, role: Role, series: StudySeries, reason: str) -> Study:
        """This study with ``series`` taking ``role``; the series that had it become ``other``."""
        demoted = [
            StudySeries(Role.OTHER, f"{role.value} replaced: {reason}", s.path, s.label, s.selected, s.info)
            if s.role is role
            else s
            for s in self.series
        ]
        given = StudySeries(role, reason, series.path, series.label, series.selected, series.info, series.vascular_kind)
        return Study([*demoted, given], problems=self.problems)

    def require(self, role: Role) -> StudySeries:
        found = self.get(role)
        if found is None:
            raise AnalysisError(f"no {role.value} series found; series present:\n{self.listing()}")
        return found

    def load(self, role: Role, *, resample: bool = True) -> Volume:
        """The volume of the series with ``role`` (HU for CT)."""
        chosen = self.require(role)
        if chosen.selected is None:
            return load_series(chosen.path)
        volume, _stacks = load_selected(chosen.selected, resample=resample)
        return volume

    def load_dwi(self) -> DiffusionData:
        """The post-procedure diffusion series with its b-values and gradients."""
        chosen = self.require(Role.DWI)
        if chosen.selected is None:
            return load_dwi(chosen.path)
        return checked_diffusion(load_dwi_selected(chosen.selected), chosen.label)

    def source_datasets(self, role: Role) -> list[pydicom.Dataset] | None:
        """Headers (no pixels) of the series' instances in slice order, for SEG/SR references."""
        chosen = self.require(role)
        return None if chosen.selected is None else selected_datasets(chosen.selected)

    # -- description -----------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, object]:
        """JSON-ready description (``cordotomy inspect --json``)."""
        return {
            "schema": "cordotomy.inspect/1",
            "series": [s.as_dict() for s in self.series],
            "roles": {role.value: (chosen.label if (chosen := self.get(role)) else None) for role in Role},
            "problems": list(self.problems),
        }

    def listing(self) -> str:
        return "\n".join(f"  {s.label}: {s.role.value} ({s.reason})" for s in self.series)


def _raise_empty(path: Path, found: Scan) -> None:
    if found.unreadable:
        file, reason = next(iter(found.unreadable.items()))
        reason = reason if str(file) in reason else f"{file}: {reason}"
        raise InputDataError(
            f"{path}: no readable DICOM images ({len(found.unreadable)} file(s) failed; first: {reason})"
        )
    raise InputDataError(f"{path}: no DICOM images found ({found.non_dicom} other file(s) skipped)")


def _study_series(path: Path, key: tuple[str, str], headers: list, found: Scan) -> StudySeries:
    folders = {h.path.parent for h in headers}
    extra = [reason for file, reason in found.unreadable.items() if file.parent in folders]
    info = describe(key, headers, extra)
    role, reason = _role_and_reason(info)
    selected = selection(found, key)
    label = selected.label
    kind = _vascular_kind(info) if role is Role.VASCULAR else None
    return StudySeries(role, reason, path, label, selected, info, kind)


def _role_and_reason(info: SeriesInfo) -> tuple[Role, str]:
    """Why discover's role fits: the evidence, in words a radiographer would check."""
    role = Role(info.role)
    if role is Role.DWI:
        return role, "MR series with diffusion encoding (b-values) or a diffusion description"
    if role is Role.VASCULAR:
        return role, f"description {info.description!r} names an angiogram or a 3D T2 sequence"
    if role is Role.CT_MYELOGRAM:
        return role, f"CT volume of {info.n_slices} slices"
    return role, f"{info.modality} series with no cordotomy role"


def _vascular_kind(info: SeriesInfo) -> VascularKind:
    if info.modality == "CT":
        return VascularKind.CTA
    return VascularKind.MRA if _MRA.search(info.description) else VascularKind.T2


def _preference(series: StudySeries) -> tuple[int, ...]:
    """A DWI: the latest series (the post-procedure scan), then most volumes. Others: named for the spine,
    then most slices, then the latest."""
    info = series.info
    if info is None:
        return (0, 0, 0)
    if series.role is Role.DWI:
        return (info.series_number or 0, info.n_volumes, 0)
    return (int(bool(_SPINE.search(info.description))), info.n_slices, info.series_number or 0)


def _one_myelogram(series: list[StudySeries]) -> list[StudySeries]:
    """Several CT volumes (a scout, a bone-window copy): the spine-named one with most slices is the
    myelogram; the others become ``other`` and say why."""
    cts = [s for s in series if s.role is Role.CT_MYELOGRAM]
    if len(cts) <= 1:
        return series
    best = max(cts, key=_preference)
    reason = f"another CT volume ({best.label}) was preferred as the myelogram"
    return [
        StudySeries(Role.OTHER, reason, s.path, s.label, s.selected, s.info)
        if s.role is Role.CT_MYELOGRAM and s is not best
        else s
        for s in series
    ]


def _as_role(series: StudySeries, role: Role, reason: str) -> StudySeries:
    if series.role is role:
        return series
    kind = series.vascular_kind
    if role is Role.VASCULAR and kind is None and series.info is not None:
        kind = _vascular_kind(series.info)
    return StudySeries(role, reason, series.path, series.label, series.selected, series.info, kind)
