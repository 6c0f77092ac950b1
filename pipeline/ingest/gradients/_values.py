"""Numbers out of DICOM elements (public or private), whatever VR the file stored them with.

Private elements are found through their private creator (PS3.5 §7.8.1): vendors reserve a block of a
private group under a creator string and the element's low byte is its offset in that block, so
(0019,10BB) of "GEMS_ACQU_01" may sit at (0019,11BB) in another file. A value under a different
creator is not the vendor's attribute and is not read.
"""

from __future__ import annotations

import functools
import math
import os
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from pipeline.errors import InputDataError


def floats(value: Any, binary: str = "d") -> tuple[float, ...] | None:
    """The numbers of an element value; ``None`` when absent, empty, unparsable or not finite.

    Bytes come from elements pydicom could not type (UN, e.g. private elements of an implicit VR
    file): decimal text such as ``b"1000\\\\8\\\\0\\\\0"`` is parsed as text, anything else as
    little-endian binary of the struct code ``binary`` ("d" for FD, "f" for FL).
    """
    if value is None:
        return None
    numbers: list[float]
    try:
        if isinstance(value, bytes):
            raw = value.rstrip(b"\x00 ")
            try:
                text = raw.decode("ascii")
                numbers = [float(part) for part in text.split("\\") if part.strip()]
            except (UnicodeDecodeError, ValueError):
                size = struct.calcsize(binary)
                if not raw or len(value) % size:
                    return None
                numbers = list(struct.unpack(f"<{len(value) // size}{binary}", value))
        elif isinstance(value, str):
            numbers = [float(part) for part in value.split("\\") if part.strip()]
        elif isinstance(value, (MultiValue, list, tuple)):
            numbers = [float(v) for v in value]
        else:
            numbers = [float(value)]
    except (TypeError, ValueError, struct.error):
        return None
    if not numbers or not all(math.isfinite(n) for n in numbers):
        return None
    return tuple(numbers)


def first_float(value: Any, binary: str = "d") -> float | None:
    """The first number of an element value (see :func:`floats`)."""
    numbers = floats(value, binary)
    return None if numbers is None else numbers[0]


def text(value: Any) -> str:
    """An element value as stripped text ('' when absent)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00 ").strip()
    return str(value).strip()


def private_value(ds: pydicom.Dataset, group: int, creator: str, element: int) -> Any:
    """Value of private element ``(group, xx<element>)`` reserved by ``creator``, or ``None``."""
    try:
        block = ds.private_block(group, creator)
    except KeyError:
        return None
    tag = block.get_tag(element & 0xFF)
    if tag not in ds:
        return None
    return ds[tag].value


def manufacturer(ds: pydicom.Dataset) -> str:
    """Manufacturer (0008,0070) in upper case, for choosing a vendor's private attributes."""
    return text(ds.get("Manufacturer")).upper()


def image_axes(ds: pydicom.Dataset) -> np.ndarray | None:
    """Columns: row direction, column direction, slice normal (LPS), from ImageOrientationPatient."""
    orientation = floats(ds.get("ImageOrientationPatient"))
    if orientation is None or len(orientation) != 6:
        return None
    row = np.asarray(orientation[:3])
    column = np.asarray(orientation[3:])
    normal = np.cross(row, column)
    if min(np.linalg.norm(row), np.linalg.norm(column), np.linalg.norm(normal)) < 1e-3:
        return None
    return np.column_stack([row, column, normal / np.linalg.norm(normal)])


def image_to_lps(components: Sequence[float], ds: pydicom.Dataset) -> tuple[float, float, float] | None:
    """A vector given along (row, column, slice normal) of the image, in patient LPS."""
    axes = image_axes(ds)
    if axes is None:
        return None
    lps = axes @ np.asarray(components, dtype=np.float64)
    return (float(lps[0]), float(lps[1]), float(lps[2]))


@functools.lru_cache(maxsize=256)
def _read(path: str, _size: int, _mtime_ns: int) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vendors' private elements often break VR length rules
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def header_dataset(path: Path) -> pydicom.Dataset:
    """The full header (no pixel data) of one file, cached while the file is unchanged."""
    try:
        status = os.stat(path)
        return _read(str(path), status.st_size, status.st_mtime_ns)
    except (OSError, InvalidDicomError, ValueError, EOFError, struct.error) as exc:
        raise InputDataError(f"{path}: cannot read the DICOM header ({exc})") from exc
