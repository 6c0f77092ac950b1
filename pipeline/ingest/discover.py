"""Find every DICOM file under a folder, group the files by study and series, and describe each series.

Files are recognised by content, not by name (scanners and PACS exports use any name, or none); a
DICOMDIR, if present, is not needed and is skipped like any non-image object. Files that are not DICOM
are skipped. Files that cannot be read, or are DICOM but truncated or malformed, are kept as problems:
they may be slices of a series, so loading a series from that folder fails rather than silently
building a volume with holes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pipeline.errors import InputDataError
from pipeline.ingest.encodings import has_diffusion_encoding, resolve_headers
from pipeline.ingest.frames import Frame, frames_of
from pipeline.ingest.geometry import build_stack
from pipeline.ingest.header import Header, orientation_matrix, read_header
from pipeline.ingest.mosaic import is_mosaic, is_uih_mosaic, mosaic_geometry
from pipeline.ingest.pixels import check_rescale
from pipeline.ingest.prefault import EarlyOutput
from pipeline.ingest.volumes import split_volumes

ROLES = ("ct_myelogram", "vascular", "dwi", "other")
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (PS3.4 Annex F)
_VASCULAR = re.compile(r"angio|\bcta\b|\bmra\b|\btof\b|arterial|vessel|vascular", re.IGNORECASE)
_T2_3D = re.compile(
    r"t2.*(3d|space|cube|vista|ciss|fiesta|drive)|(3d|space|cube|vista|ciss|fiesta|drive).*t2", re.IGNORECASE
)
_MYELO = re.compile(r"myel|spine|spinal|cervical|c-spine|cspine|neck|c1|c2", re.IGNORECASE)
_DIFFUSION = re.compile(r"dwi|dti|diff|tensor|ep2d_diff|resolve", re.IGNORECASE)


@dataclass(frozen=True)
class SeriesInfo:
    """One series found under a folder (no patient identifiers).

    ``shape`` is (columns, rows, slices[, volumes]) in the loader's axis order; ``spacing_mm`` the
    voxel size along those axes; ``orientation`` a plane label (axial, coronal, sagittal, oblique)
    from ImageOrientationPatient. ``problems`` lists what would stop or change loading.
    """

    study_uid: str
    series_uid: str
    series_number: int | None
    description: str
    modality: str
    n_files: int
    n_slices: int
    n_volumes: int
    shape: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    orientation: str
    role: str
    problems: tuple[str, ...] = ()
    files: tuple[Path, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready description (used by ``cordotomy inspect --json``)."""
        return {
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "series_number": self.series_number,
            "description": self.description,
            "modality": self.modality,
            "n_files": self.n_files,
            "n_slices": self.n_slices,
            "n_volumes": self.n_volumes,
            "shape": list(self.shape),
            "spacing_mm": [round(s, 6) for s in self.spacing_mm],
            "orientation": self.orientation,
            "role": self.role,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Scan:
    """Everything found under a folder: headers grouped by series, plus files that failed."""

    groups: dict[tuple[str, str], list[Header]]
    unreadable: dict[Path, str]
    non_dicom: int
    dicom_files: int


def _walk(path: Path, unreadable: dict[Path, str]) -> Iterable[Path]:
    """Every directory entry under ``path`` that is not a folder (sorted, so results are stable).

    A sub-folder that cannot be listed, or a link to a folder (not followed, it may loop), goes into
    ``unreadable``: it may hold slices, so loading from here must fail rather than return a partial volume.
    """
    if not path.is_dir():
        yield path
        return

    def failed(error: OSError) -> None:
        where = Path(error.filename) if error.filename else path
        unreadable[where] = f"{where}: cannot read folder ({error.strerror or error})"

    for root, dirs, files in os.walk(path, onerror=failed):
        dirs.sort()
        folder = Path(root)
        for name in [d for d in dirs if (folder / d).is_symlink()]:
            unreadable[folder / name] = f"{folder / name}: link to a folder, not followed (copy the files instead)"
        for name in sorted(files):
            yield folder / name
        # os.walk lists dangling links and FIFOs among files; links to folders among dirs.


def scan(path: str | Path, early: EarlyOutput | None = None) -> Scan:
    """Read the header of every file under ``path`` and group images by (study, series).

    ``early``, if given, is shown the number of files and then every image header, so it can start
    preparing the output volume while the scan goes on.

    Raises
    ------
    InputDataError
        ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise InputDataError(f"{path}: no such file or folder")
    groups: dict[tuple[str, str], list[Header]] = {}
    unreadable: dict[Path, str] = {}
    non_dicom = 0
    dicom_files = 0
    files = list(_walk(path, unreadable))
    if early is not None:
        early.expect(len(files))
    for file in files:
        try:
            header = read_header(file)
        except InputDataError as exc:
            unreadable[file] = str(exc)
            continue
        if header is None:
            non_dicom += 1
            continue
        dicom_files += 1
        if header.sop_class_uid == _DICOMDIR_SOP_CLASS:
            continue
        if header.rows is None and not header.has_pixel_data:
            continue  # not an image (structured report, presentation state, ...)
        groups.setdefault(header.series_key, []).append(header)
        if early is not None:
            early.see(header)
    return Scan(groups=groups, unreadable=unreadable, non_dicom=non_dicom, dicom_files=dicom_files)


def plane_label(orientation: tuple[float, ...]) -> str:
    """Axial/coronal/sagittal when the normal is within 10 degrees of a patient axis, else oblique."""
    normal = orientation_matrix(orientation)[:, 2]
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < np.cos(np.radians(10.0)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _is_diffusion(headers: list[Header], frames: list[Frame]) -> bool:
    first = headers[0]
    if first.modality != "MR":
        return False
    if any(f.b_value_s_mm2 is not None for f in frames) or has_diffusion_encoding(headers):
        return True
    return bool(_DIFFUSION.search(first.description) or re.search(r"ep_b\d", first.sequence_name))


def _role(headers: list[Header], frames: list[Frame], n_slices: int) -> str:
    first = headers[0]
    text = f"{first.description} {first.sequence_name}"
    if _is_diffusion(headers, frames):
        return "dwi"
    if _VASCULAR.search(text) or (first.modality == "MR" and _T2_3D.search(text)):
        return "vascular"
    if first.modality == "CT" and n_slices >= 10 and "LOCALIZER" not in first.image_type:
        return "ct_myelogram"
    return "other"


def describe(key: tuple[str, str], headers: list[Header], extra_problems: Iterable[str] = ()) -> SeriesInfo:
    """Describe one series; faults found while checking its geometry become ``problems``."""
    first = headers[0]
    problems = list(extra_problems)
    if not first.series_uid:
        problems.append("no SeriesInstanceUID: files grouped by folder, series number and description")
    modalities = sorted({h.modality for h in headers})
    if len(modalities) > 1:
        problems.append(f"mixed modalities in one series: {', '.join(modalities)}")
    name = series_label(first)
    frames: list[Frame] = []
    shape: tuple[int, ...] = (first.columns or 0, first.rows or 0, len(headers))
    spacing: tuple[float, ...] = ()
    orientation = "unknown"
    n_slices, n_volumes = len(headers), 1
    problems.extend(f"{h.path}: DICOM file is truncated" for h in headers if h.truncated)
    problems.extend(f"{h.path}: no pixel data" for h in headers if not h.has_pixel_data)
    try:
        images = headers
        if first.modality == "MR" and has_diffusion_encoding(headers):
            # Vendors' diffusion attributes group the slices into volumes (and trace images drop out).
            images = resolve_headers(headers, name)
        uih_mosaic = is_uih_mosaic(first)  # slices placed by private attributes, not as frames
        for header in [] if uih_mosaic else images:
            frames.extend(frames_of(header))
        orientation = plane_label(
            first.orientation if uih_mosaic and first.orientation else frames[0].orientation
        )
        for frame in frames:
            try:
                check_rescale(frame)
            except InputDataError as exc:
                problems.append(str(exc))
                break
        if is_mosaic(headers):
            grid, spacing = mosaic_geometry(first)
            n_slices, n_volumes = grid[2], len(headers)
            shape = grid + ((n_volumes,) if n_volumes > 1 else ())
        else:
            volumes = split_volumes(frames, name)
            stacks = [build_stack(v, name) for v in volumes]
            stack = stacks[0]
            n_slices, n_volumes = len(stack.frames), len(volumes)
            if len({len(s.frames) for s in stacks}) > 1:
                problems.append(f"{name}: volumes have different numbers of slices")
            shape = (stack.columns, stack.rows, n_slices) + ((n_volumes,) if n_volumes > 1 else ())
            spacing = (stack.spacing_mm[1], stack.spacing_mm[0], stack.slice_spacing_mm)
            if stack.sheared:
                problems.append(
                    f"gantry tilt {stack.tilt_deg:.1f} deg (resampled to an orthogonal grid on load)"
                )
            if stack.uneven:
                gaps = np.diff(stack.distances_mm)
                problems.append(
                    f"uneven slice spacing {gaps.min():.2f}-{gaps.max():.2f} mm (resampled on load)"
                )
    except InputDataError as exc:
        problems.append(str(exc))
    n_slices = n_slices if frames or is_mosaic(headers) else len(headers)
    return SeriesInfo(
        study_uid=key[0],
        series_uid=first.series_uid,
        series_number=first.series_number,
        description=first.description,
        modality=first.modality,
        n_files=len(headers),
        n_slices=n_slices,
        n_volumes=n_volumes,
        shape=shape,
        spacing_mm=spacing,
        orientation=orientation,
        role=_role(headers, frames, n_slices),
        problems=tuple(problems),
        files=tuple(h.path for h in headers),
    )


def series_label(header: Header) -> str:
    """How messages name a series: number and description, never patient data."""
    number = header.series_number if header.series_number is not None else "?"
    description = f" ({header.description!r})" if header.description else ""
    return f"series {number}{description}"


def _assign_myelogram(infos: list[SeriesInfo]) -> list[SeriesInfo]:
    """One ct_myelogram per study: the CT volume whose description names the spine, else the one with
    the most slices; other qualifying CT series of that study become ``other``."""
    keep: set[int] = set()
    for study in {i.study_uid for i in infos}:
        candidates = [i for i in infos if i.study_uid == study and i.role == "ct_myelogram"]
        if candidates:
            best = max(candidates, key=lambda i: (bool(_MYELO.search(i.description)), i.n_slices))
            keep.add(id(best))
    return [replace(i, role="other") if i.role == "ct_myelogram" and id(i) not in keep else i for i in infos]


def discover(path: str | Path) -> list[SeriesInfo]:
    """Describe every series under ``path`` (a folder, or one file), sorted by study and series number.

    Files that cannot be read or are broken DICOM are reported as problems of the series they belong to
    when their header says which, otherwise of every series in the same folder.
    """
    found = scan(path)
    by_folder: dict[Path, list[str]] = {}
    for file, reason in found.unreadable.items():
        by_folder.setdefault(file.parent, []).append(reason)
    infos = []
    for key, headers in found.groups.items():
        folders = {h.path.parent for h in headers}
        extra = [reason for folder in sorted(folders) for reason in by_folder.get(folder, [])]
        infos.append(describe(key, headers, extra))
    infos.sort(
        key=lambda i: (i.study_uid, i.series_number if i.series_number is not None else -1, i.series_uid)
    )
    return _assign_myelogram(infos)
