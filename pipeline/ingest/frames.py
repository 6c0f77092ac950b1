"""Frames: the 2-D images a series is made of, with their own geometry, scaling and diffusion keys.

A classic DICOM file holds one frame; an enhanced multi-frame file holds many, each described by its
per-frame functional groups (PS3.3 C.7.6.16): Plane Position, Plane Orientation, Pixel Measures,
Pixel Value Transformation, MR Diffusion and Frame Content. Working with frames lets the geometry and
grouping code treat both the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom

from pipeline.errors import InputDataError
from pipeline.ingest.gradients.standard import read_item
from pipeline.ingest.header import Header, short_reason
from pipeline.limits import check_geometry


@dataclass(frozen=True)
class Frame:
    """One 2-D image of a series.

    ``frame_index`` is the 0-based frame number inside a multi-frame file (0 for classic files).
    The diffusion encoding, ``temporal_position``, ``acquisition_number`` and ``stack_key`` are the
    values that may separate volumes acquired at the same positions, tried in order by :mod:`.volumes`.
    """

    header: Header
    frame_index: int
    position_lps_mm: np.ndarray
    orientation: tuple[float, ...]
    pixel_spacing_mm: tuple[float, float]
    rescale_slope: float
    rescale_intercept: float
    b_value_s_mm2: float | None
    gradient_lps: tuple[float, ...] | None
    temporal_position: int | None
    acquisition_number: int | None
    stack_key: tuple[Any, ...] | None

    @property
    def label(self) -> str:
        """File name (and frame number for multi-frame files) for messages."""
        name = str(self.header.path)
        return f"{name} frame {self.frame_index + 1}" if self.header.frame_count > 1 else name


def _floats(value: Any) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    return tuple(float(v) for v in value)


def classic_frame(header: Header) -> Frame:
    """The single frame of a classic (one image per file) DICOM instance."""
    if header.position_lps_mm is None or header.orientation is None:
        raise InputDataError(
            f"{header.path}: no ImagePositionPatient/ImageOrientationPatient; cannot place the image in space"
        )
    if len(header.position_lps_mm) != 3 or len(header.orientation) != 6:
        raise InputDataError(f"{header.path}: malformed ImagePositionPatient or ImageOrientationPatient")
    spacing = header.pixel_spacing_mm
    if spacing is None or len(spacing) != 2 or min(spacing) <= 0:
        raise InputDataError(f"{header.path}: missing or invalid PixelSpacing")
    check_geometry(str(header.path), header.position_lps_mm, header.orientation, spacing)
    b_value = header.b_value_s_mm2 if header.b_value_s_mm2 is not None else header.siemens_b_value
    return Frame(
        header=header,
        frame_index=0,
        position_lps_mm=np.asarray(header.position_lps_mm, dtype=np.float64),
        orientation=header.orientation,
        pixel_spacing_mm=(float(spacing[0]), float(spacing[1])),
        rescale_slope=1.0 if header.rescale_slope is None else header.rescale_slope,
        rescale_intercept=0.0 if header.rescale_intercept is None else header.rescale_intercept,
        b_value_s_mm2=b_value,
        gradient_lps=header.gradient_lps,
        temporal_position=header.temporal_position,
        acquisition_number=header.acquisition_number,
        stack_key=None,
    )


def _group(ds: pydicom.Dataset, shared: pydicom.Dataset | None, keyword: str) -> pydicom.Dataset | None:
    """A functional-group item from the per-frame item, else from the shared groups (PS3.3 C.7.6.16)."""
    for source in (ds, shared):
        if source is not None and keyword in source and len(source[keyword].value) > 0:
            return source[keyword].value[0]
    return None


def enhanced_frames(header: Header) -> list[Frame]:
    """Frames of an enhanced multi-frame instance, from its per-frame and shared functional groups.

    pydicom parses the functional groups lazily, so a damaged file fails anywhere in here with
    whatever the parser raises; every such failure is this file's fault and becomes InputDataError.
    """
    if header.truncated:
        raise InputDataError(
            f"{header.path}: DICOM file is truncated ({header.file_size} bytes, pixel data need "
            f"{header.pixel_offset + header.pixel_length})"  # type: ignore[operator]
        )
    try:
        frames = _enhanced_frames(header)
    except InputDataError:
        raise
    except Exception as exc:  # pydicom parses lazily and raises its own types (BytesLengthException, ...)
        raise InputDataError(
            f"{header.path}: malformed enhanced multi-frame functional groups ({short_reason(exc)})"
        ) from exc
    for frame in frames:
        if len(frame.position_lps_mm) != 3 or len(frame.orientation) != 6:
            raise InputDataError(f"{frame.label}: malformed ImagePositionPatient or ImageOrientationPatient")
        check_geometry(frame.label, frame.position_lps_mm, frame.orientation, frame.pixel_spacing_mm)
        if not (math.isfinite(frame.rescale_slope) and math.isfinite(frame.rescale_intercept)):
            raise InputDataError(f"{frame.label}: RescaleSlope/RescaleIntercept are not finite")
    return frames


def _enhanced_frames(header: Header) -> list[Frame]:
    ds = pydicom.dcmread(header.path, stop_before_pixels=True)
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    count = header.frame_count
    if len(per_frame) != count:
        raise InputDataError(
            f"{header.path}: {len(per_frame)} per-frame functional group items for {count} frames"
        )
    frames = []
    for index, item in enumerate(per_frame):
        position = _group(item, shared, "PlanePositionSequence")
        orientation = _group(item, shared, "PlaneOrientationSequence")
        measures = _group(item, shared, "PixelMeasuresSequence")
        if position is None or orientation is None or measures is None:
            raise InputDataError(
                f"{header.path} frame {index + 1}: missing plane position/orientation/spacing"
            )
        transform = _group(item, shared, "PixelValueTransformationSequence")
        diffusion = _group(item, shared, "MRDiffusionSequence")
        content = _group(item, None, "FrameContentSequence")
        encoding = None if diffusion is None else read_item(diffusion)
        b_value = None if encoding is None else encoding.b_value_s_mm2
        gradient = None if encoding is None else encoding.gradient_lps
        slope = header.rescale_slope if header.rescale_slope is not None else 1.0
        intercept = header.rescale_intercept if header.rescale_intercept is not None else 0.0
        if transform is not None:
            slope = float(transform.get("RescaleSlope", slope))
            intercept = float(transform.get("RescaleIntercept", intercept))
        temporal = stack = None
        if content is not None:
            temporal = content.get("TemporalPositionIndex")
            stack = (content.get("StackID"),)
        spacing = _floats(measures.get("PixelSpacing"))
        iop = _floats(orientation.get("ImageOrientationPatient"))
        ipp = _floats(position.get("ImagePositionPatient"))
        if spacing is None or iop is None or ipp is None:
            raise InputDataError(
                f"{header.path} frame {index + 1}: missing plane position/orientation/spacing"
            )
        frames.append(
            Frame(
                header=header,
                frame_index=index,
                position_lps_mm=np.asarray(ipp, dtype=np.float64),
                orientation=iop,
                pixel_spacing_mm=(spacing[0], spacing[1]),
                rescale_slope=slope,
                rescale_intercept=intercept,
                b_value_s_mm2=b_value,
                gradient_lps=gradient,
                temporal_position=None if temporal is None else int(temporal),
                acquisition_number=header.acquisition_number,
                stack_key=stack,
            )
        )
    return frames


def frames_of(header: Header) -> list[Frame]:
    """All frames of one instance (classic or enhanced multi-frame)."""
    if header.enhanced:
        return enhanced_frames(header)
    if header.frame_count > 1:
        raise InputDataError(
            f"{header.path}: multi-frame image without per-frame functional groups; "
            "its frames cannot be placed in space"
        )
    return [classic_frame(header)]


def exact_in_int16(
    modality: str, bits_allocated: int | None, slope: float | None, intercept: float | None
) -> bool:
    """Whether a CT frame's HU are ``stored + intercept`` with a whole intercept, on 16-bit pixels: then
    they are stored as int16 (each frame's range is still checked when read)."""
    slope = 1.0 if slope is None else slope
    intercept = 0.0 if intercept is None else intercept
    return (
        modality == "CT"
        and bits_allocated == 16
        and slope == 1.0
        and float(intercept).is_integer()
        and abs(intercept) < np.iinfo(np.int16).max
    )
