"""Load one series into a :class:`~pipeline.volume.Volume` with its exact LPS affine (DESIGN.md §4).

Steps: find the series' files (:mod:`.discover`), expand them into frames (:mod:`.frames`), group
frames into volumes (:mod:`.volumes`), sort and validate each volume's slices along the normal
(:mod:`.geometry`), read and rescale pixels (:mod:`.pixels`), and, for a gantry tilt or uneven spacing,
resample onto a regular grid (:mod:`.tilt`) or refuse. The array's axes are (column, row, slice
[, volume]): axis 0 runs along a row, axis 1 down a column, as in :mod:`pipeline.volume`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom

from pipeline.errors import InputDataError, UsageError
from pipeline.ingest.discover import Scan, scan, series_label
from pipeline.ingest.frames import Frame, exact_in_int16, frames_of
from pipeline.ingest.geometry import Stack, build_stack
from pipeline.ingest.header import Header, provenance, short_reason
from pipeline.ingest.mosaic import is_mosaic, load_mosaic
from pipeline.ingest.pixels import NotExactInInt16, fill_value, read_frames
from pipeline.ingest.prefault import EarlyOutput
from pipeline.ingest.tilt import regularise
from pipeline.ingest.volumes import split_volumes
from pipeline.limits import check_affine, check_array_size, check_finite_voxels
from pipeline.nifti import load_nifti
from pipeline.volume import Provenance, Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class SelectedSeries:
    """The headers of the chosen series and the label used in messages."""

    key: tuple[str, str]
    headers: list[Header]
    label: str
    faults: tuple[str, ...] = ()

    def refuse_faults(self) -> None:
        """Raise the first fault found for this series (unreadable sibling file, mixed modalities)."""
        if self.faults:
            raise InputDataError(self.faults[0])


def _choices(found: Scan) -> str:
    lines = []
    for _key, headers in sorted(
        found.groups.items(), key=lambda item: (item[1][0].series_number or -1, item[0])
    ):
        first = headers[0]
        uid = first.series_uid or "(no SeriesInstanceUID)"
        lines.append(
            f"  {first.series_number if first.series_number is not None else '-':>5}  {uid}  "
            f"{first.modality} {first.description!r} ({len(headers)} files)"
        )
    return "\n".join(lines)


def select_series(
    path: str | Path, series: str | int | None = None, *, early: EarlyOutput | None = None
) -> SelectedSeries:
    """Find the files of one series under ``path``.

    ``series`` is a SeriesInstanceUID or a SeriesNumber; it may be omitted when ``path`` holds exactly
    one series. ``early`` is passed to :func:`~pipeline.ingest.discover.scan`.

    Raises
    ------
    InputDataError
        No DICOM images under ``path``; a file of the folder cannot be read or is broken.
    UsageError
        Several series and no (or an unknown, or an ambiguous) choice.
    """
    path = Path(path)
    found = scan(path, early)
    if not found.groups:
        if found.unreadable:
            file, reason = next(iter(found.unreadable.items()))
            raise InputDataError(reason if str(file) in reason else f"{file}: {reason}")
        raise InputDataError(f"{path}: no DICOM images found ({found.non_dicom} other file(s) skipped)")
    keys = list(found.groups)
    if series is None:
        if len(keys) > 1:
            raise UsageError(
                f"{path} holds {len(keys)} series; choose one with --series (SeriesNumber or "
                f"SeriesInstanceUID):\n{_choices(found)}"
            )
        chosen = keys
    else:
        wanted = str(series).strip()
        chosen = [k for k in keys if k[1] == wanted]
        if not chosen and wanted.lstrip("-").isdigit():
            chosen = [k for k in keys if found.groups[k][0].series_number == int(wanted)]
        if not chosen:
            raise UsageError(f"{path}: no series {wanted!r}; available:\n{_choices(found)}")
        if len(chosen) > 1:
            raise UsageError(
                f"{path}: series number {wanted} is ambiguous ({len(chosen)} series); use the "
                f"SeriesInstanceUID:\n{_choices(found)}"
            )
    return selection(found, chosen[0])


def selection(found: Scan, key: tuple[str, str]) -> SelectedSeries:
    """The series ``key`` of a scan, with the faults that must stop its loading.

    A file that could not be read in one of the series' folders (or anywhere, when the scan found only
    this series) may be one of its slices: loading then fails rather than return a volume with a hole.
    """
    headers = found.groups[key]
    label = series_label(headers[0])
    folders = {h.path.parent for h in headers}
    faults = [
        f"{label}: {reason}"
        for file, reason in found.unreadable.items()
        if file.parent in folders or len(found.groups) == 1
    ]
    modalities = sorted({h.modality for h in headers})
    if len(modalities) > 1:
        faults.append(f"{label}: mixed modalities in one series ({', '.join(modalities)})")
    return SelectedSeries(key=key, headers=headers, label=label, faults=tuple(faults))


def _stacks(selected: SelectedSeries) -> list[Stack]:
    frames: list[Frame] = []
    for header in selected.headers:
        frames.extend(frames_of(header))
    volumes = split_volumes(frames, selected.label)
    stacks = [build_stack(v, selected.label) for v in volumes]
    reference = stacks[0]
    for number, stack in enumerate(stacks[1:], start=2):
        same_positions = (
            len(stack.frames) == len(reference.frames)
            and np.allclose(stack.distances_mm, reference.distances_mm, atol=1e-2)
            and np.allclose(stack.origin_lps_mm, reference.origin_lps_mm, atol=1e-2)
        )
        if not same_positions:
            raise InputDataError(
                f"{selected.label}: volume {number} has {len(stack.frames)} slices at different positions "
                f"from volume 1 ({len(reference.frames)} slices); slices missing?"
            )
    return stacks


def _provenance(selected: SelectedSeries, stacks: list[Stack]) -> Provenance:
    """Source files in load order: slice order of volume 1, then of volume 2, ..."""
    files = [str(f.header.path) for s in stacks for f in s.frames]
    return provenance(selected.headers[0], list(dict.fromkeys(files)))


def load_series(path: str | Path, series: str | int | None = None, *, resample: bool = True) -> Volume:
    """Load one series (or a NIfTI file) as a :class:`Volume` of real-world values (HU for CT).

    Parameters
    ----------
    path : folder or file
        A folder searched recursively for DICOM files (any names, DICOMDIR not needed), a single
        DICOM file, or a ``.nii``/``.nii.gz`` file.
    series : SeriesInstanceUID or SeriesNumber, optional
        Required when the folder holds several series.
    resample : bool
        For a gantry tilt or uneven slice spacing: resample onto a regular orthogonal grid (recorded
        in ``provenance.geometry_notes``), or, if False, refuse.

    Returns
    -------
    Volume
        ``array`` (columns, rows, slices[, volumes]): int16 for CT whose HU are whole numbers (slope 1,
        whole intercept, as scanners store them), else float32; ``affine_lps`` exact; ``provenance`` with
        series number, UIDs, description, modality, source files (slice order) and geometry notes. No
        patient identifiers.

    Raises
    ------
    UsageError
        Several series and no valid choice.
    InputDataError
        Missing, duplicate or inconsistent slices; unreadable, truncated or undecodable files; tilt or
        uneven spacing when ``resample`` is False.
    """
    path = Path(path)
    if path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES):
        return _load_nifti(path)
    # The output is allocated and faulted in on another thread while the headers are read.
    early = EarlyOutput()
    try:
        volume, _stacks_used = load_selected(
            select_series(path, series, early=early), resample=resample, early=early
        )
    finally:
        early.cancel()
    return volume


def load_selected(
    selected: SelectedSeries, *, resample: bool = True, early: EarlyOutput | None = None
) -> tuple[Volume, list[Stack] | None]:
    """Load an already selected series; also returns its volumes' stacks (None for mosaics).

    ``early`` may hold the output array, prepared while the series was selected.
    """
    selected.refuse_faults()
    if is_mosaic(selected.headers):
        mosaic = load_mosaic(selected.headers, selected.label)
        check_affine(mosaic.affine_lps, selected.label)
        check_finite_voxels(mosaic.array, selected.label)
        return mosaic, None
    stacks = _stacks(selected)
    stack = stacks[0]
    if (stack.sheared or stack.uneven) and not resample:
        faults = []
        if stack.sheared:
            faults.append(f"gantry tilt of {stack.tilt_deg:.1f} degrees")
        if stack.uneven:
            gaps = np.diff(stack.distances_mm)
            faults.append(f"uneven slice spacing ({gaps.min():.2f} to {gaps.max():.2f} mm)")
        raise InputDataError(
            f"{selected.label}: {' and '.join(faults)}; the slices do not form a regular grid "
            "(resample, i.e. convert without --no-resample, to correct it)"
        )
    modality = selected.headers[0].modality
    n_slices, n_volumes = len(stack.frames), len(stacks)
    shape = (n_volumes * n_slices, stack.rows, stack.columns)
    check_array_size(shape, 4, selected.label)
    frames = [f for s in stacks for f in s.frames]
    regular = not (stack.sheared or stack.uneven)
    whole = regular and all(
        exact_in_int16(modality, f.header.bits_allocated, f.rescale_slope, f.rescale_intercept)
        for f in frames
    )
    dtype = np.dtype(np.int16 if whole else np.float32)
    prepared = early.take(shape, dtype) if early is not None else None
    data = prepared if prepared is not None else np.empty(shape, dtype=dtype)
    try:
        try:
            padded = read_frames(frames, modality, data)
        except NotExactInInt16:
            data = np.empty(shape, dtype=np.float32)
            padded = read_frames(frames, modality, data)
    except InputDataError as exc:
        raise InputDataError(f"{selected.label}: {exc}") from exc
    source = replace(_provenance(selected, stacks), padding_voxels=padded)
    if stack.sheared or stack.uneven:
        fill = fill_value(modality)
        volumes = []
        for v in range(n_volumes):
            try:
                resampled, affine, corrections = regularise(
                    data[v * n_slices : (v + 1) * n_slices], stack, fill
                )
            except InputDataError as exc:
                raise InputDataError(f"{selected.label}: {exc}") from exc
            volumes.append(resampled)
        data = np.concatenate(volumes) if n_volumes > 1 else volumes[0]
        n_slices = volumes[0].shape[0]
        source = replace(source, geometry_notes=(*source.geometry_notes, *corrections))
    else:
        affine = stack.affine_lps()
    check_affine(affine, selected.label)
    # (V*K, R, C) C-order reversed is an F-ordered (C, R, K, V) view: no copy, and NIfTI writes it as is.
    array: np.ndarray
    if n_volumes > 1:
        array = data.reshape(n_volumes, n_slices, data.shape[1], data.shape[2]).transpose(3, 2, 1, 0)
    else:
        array = data.transpose(2, 1, 0)
    return Volume(array, affine, source), stacks


def _load_nifti(path: Path) -> Volume:
    volume = load_nifti(path)
    return volume.with_array(volume.array.astype(np.float32, copy=False))


def series_datasets(path: str | Path, series: str | int | None = None) -> list[pydicom.Dataset]:
    """Headers (no pixel data) of the series' instances, in the loaded slice order.

    For building objects that reference the series (a DICOM SEG needs every source instance's
    SOP Class/Instance UIDs and its geometry). Multi-frame files appear once.
    """
    return selected_datasets(select_series(path, series))


def selected_datasets(selected: SelectedSeries) -> list[pydicom.Dataset]:
    """:func:`series_datasets` of an already selected series (no new scan)."""
    selected.refuse_faults()
    if is_mosaic(selected.headers):
        ordered = sorted(selected.headers, key=lambda h: (h.instance_number or 0, str(h.path)))
        paths = [h.path for h in ordered]
    else:
        unique = {frame.header.path: None for frame in _stacks(selected)[0].frames}
        paths = list(unique)
    datasets: list[pydicom.Dataset] = []
    for p in paths:
        try:
            datasets.append(pydicom.dcmread(p, stop_before_pixels=True))
        except Exception as exc:  # pydicom raises many types on corrupt headers
            raise InputDataError(
                f"{selected.label}: {p}: cannot read DICOM header ({short_reason(exc)})"
            ) from exc
    return datasets
