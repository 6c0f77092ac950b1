"""Fast DICOM header reading: the few attributes ingest needs, and where the pixel data start.

Why not ``pydicom.dcmread`` for every file? Parsing a full CT header with pydicom costs about 1 ms, which
for a 300-slice series is three times the time needed to read all its pixel bytes. Ingest needs only
some 40 top-level attributes, so :func:`read_header` walks the data elements of the two common
encodings (explicit and implicit VR little endian, PS3.5 §7.1) itself, skipping sequences
(PS3.5 §7.5) without decoding them, and stops at Pixel Data (7FE0,0010). Anything else (big endian,
deflate, files without the PS3.10 preamble, enhanced multi-frame objects whose geometry lives in
functional-group sequences) is read with pydicom, which gives the same :class:`Header`.

The files of a series are nearly always laid out alike, so the walker remembers the layouts it has
seen (:class:`_Layout`) and, for a file that matches one in every byte the walk would decide on,
slices the values out directly: this halves the time of a header. Values whose length varies from
file to file (instance numbers, positions, UIDs) give one series a dozen layouts or more; they are
kept by where their Pixel Data element starts, so the right one is found without trying them all
(with one list of eight tried in turn, 29 of the 400 files of ``benchmarks/load_series.py`` were
walked again on every read and the others took up to 8 comparisons; keyed, with the files read
through raw descriptors, their header pass went from 20 to 11 ms).
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import struct
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from pipeline.errors import InputDataError
from pipeline.limits import VALID_BITS_ALLOCATED, check_array_size
from pipeline.volume import Provenance

# Transfer syntaxes (PS3.5 §10 and Annex A).
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
UNCOMPRESSED = frozenset({IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE})

# VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 Table 7.1-1).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_FIRST_READ_BYTES = 16384

# Attributes read by the fast walker: tag -> (field name, how to decode the value).
_WANTED: dict[int, tuple[str, str]] = {
    0x00020003: ("media_sop_instance_uid", "str"),
    0x00020010: ("transfer_syntax", "str"),
    0x00080008: ("image_type", "strs"),
    0x00080016: ("sop_class_uid", "str"),
    0x00080018: ("sop_instance_uid", "str"),
    0x00080060: ("modality", "str"),
    0x00080070: ("manufacturer", "str"),
    0x0008103E: ("description", "str"),
    0x00180024: ("sequence_name", "str"),
    0x00180050: ("slice_thickness_mm", "float"),
    0x00180088: ("spacing_between_slices_mm", "float"),
    0x00181120: ("gantry_tilt_deg", "float"),
    0x00189087: ("b_value_s_mm2", "fd"),
    0x00189089: ("gradient_lps", "fds"),
    0x0019100C: ("siemens_b_value", "float"),
    0x0020000D: ("study_uid", "str"),
    0x0020000E: ("series_uid", "str"),
    0x00200011: ("series_number", "int"),
    0x00200012: ("acquisition_number", "int"),
    0x00200013: ("instance_number", "int"),
    0x00200032: ("position_lps_mm", "floats"),
    0x00200037: ("orientation", "floats"),
    0x00200100: ("temporal_position", "int"),
    0x00280002: ("samples_per_pixel", "us"),
    0x00280004: ("photometric", "str"),
    0x00280008: ("number_of_frames", "int"),
    0x00280010: ("rows", "us"),
    0x00280011: ("columns", "us"),
    0x00280030: ("pixel_spacing_mm", "floats"),
    0x00280100: ("bits_allocated", "us"),
    0x00280101: ("bits_stored", "us"),
    0x00280103: ("pixel_representation", "us"),
    0x00280120: ("padding_value", "pixel"),
    0x00280121: ("padding_limit", "pixel"),
    0x00281052: ("rescale_intercept", "float"),
    0x00281053: ("rescale_slope", "float"),
}
# Sequences whose presence means the per-frame geometry is inside them (enhanced multi-frame, PS3.3 C.7.6.16).
_FUNCTIONAL_GROUPS = frozenset({0x52009229, 0x52009230})
_INTEREST = frozenset(_WANTED) | _FUNCTIONAL_GROUPS
_NOTHING: frozenset[int] = frozenset()
_EXPLICIT_HEAD = struct.Struct("<HH2sH")  # group, element, VR, 16-bit length
_IMPLICIT_HEAD = struct.Struct("<HHI")  # group, element, 32-bit length
_UINT32 = struct.Struct("<I")
# Most attributes are byte-identical in every file of a series (sizes, spacing, orientation, UIDs of
# study and series): decode each distinct raw value once, into (field name, value). Values are
# immutable (str, int, float, tuple).
_DECODED: dict[tuple[int, bytes, bytes | None, int], tuple[str, Any]] = {}
_Places = tuple[tuple[int, tuple[int, int, bytes | None]], ...]


@dataclass(frozen=True)
class Header:
    """The attributes of one DICOM file that ingest uses (no patient identifiers).

    ``pixel_offset``/``pixel_length`` locate the Pixel Data value in the file for the uncompressed
    fast path; ``pixel_length`` is ``None`` when the file has no Pixel Data and ``-1`` when it is
    encapsulated (compressed).
    """

    path: Path
    transfer_syntax: str = ""
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    series_number: int | None = None
    description: str = ""
    modality: str = ""
    manufacturer: str = ""
    image_type: tuple[str, ...] = ()
    sequence_name: str = ""
    acquisition_number: int | None = None
    instance_number: int | None = None
    temporal_position: int | None = None
    position_lps_mm: tuple[float, ...] | None = None
    orientation: tuple[float, ...] | None = None
    rows: int | None = None
    columns: int | None = None
    pixel_spacing_mm: tuple[float, ...] | None = None
    slice_thickness_mm: float | None = None
    spacing_between_slices_mm: float | None = None
    gantry_tilt_deg: float | None = None
    samples_per_pixel: int = 1
    photometric: str = "MONOCHROME2"
    number_of_frames: int | None = None
    bits_allocated: int | None = None
    bits_stored: int | None = None
    pixel_representation: int = 0
    padding_value: int | None = None
    padding_limit: int | None = None
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    b_value_s_mm2: float | None = None
    gradient_lps: tuple[float, ...] | None = None
    siemens_b_value: float | None = None
    pixel_offset: int | None = None
    pixel_length: int | None = None
    file_size: int = 0
    enhanced: bool = False
    media_sop_instance_uid: str = ""

    @property
    def series_key(self) -> tuple[str, str]:
        """(study, series) grouping key; anonymised files with empty UIDs are grouped by folder,
        series number and description instead (as dcm2niix does)."""
        if self.series_uid:
            return (self.study_uid, self.series_uid)
        return (self.study_uid, f"{self.path.parent}|{self.series_number}|{self.description}|{self.modality}")

    @property
    def has_pixel_data(self) -> bool:
        return self.pixel_length is not None

    @property
    def frame_count(self) -> int:
        return max(1, self.number_of_frames or 1)

    @property
    def truncated(self) -> bool:
        """True when the file ends before its (uncompressed) pixel data do."""
        if self.pixel_offset is None or self.pixel_length is None or self.pixel_length < 0:
            return False
        return self.pixel_offset + self.pixel_length > self.file_size


class _Truncated(Exception):
    """The walker ran past the end of the bytes it has."""


class _Unsupported(Exception):
    """An encoding the fast walker leaves to pydicom."""


def _strip(raw: bytes) -> str:
    return raw.decode("latin-1").strip("\x00 ").strip()


def _decode(kind: str, raw: bytes, vr: bytes | None, pixel_representation: int) -> Any:
    if kind == "str":
        return _strip(raw)
    if kind == "strs":
        return tuple(part.strip() for part in _strip(raw).split("\\"))
    if kind in ("float", "int", "floats"):
        text = _strip(raw)
        if not text:
            return None
        parts = [p.strip() for p in text.split("\\")]
        if kind == "floats":
            return tuple(float(p) for p in parts)
        return float(parts[0]) if kind == "float" else int(float(parts[0]))
    if kind == "us":
        return struct.unpack_from("<H", raw)[0] if len(raw) >= 2 else None
    if kind == "pixel":
        if len(raw) < 2:
            return None
        signed = vr == b"SS" if vr in (b"SS", b"US") else pixel_representation == 1
        return struct.unpack_from("<h" if signed else "<H", raw)[0]
    if kind == "fd":
        return struct.unpack_from("<d", raw)[0] if len(raw) >= 8 else None
    if kind == "fds":
        return tuple(struct.unpack_from(f"<{len(raw) // 8}d", raw)) if len(raw) >= 24 else None
    raise ValueError(kind)


def _skip_undefined(buf: bytes, pos: int, explicit: bool, trace: list[tuple[int, int]] | None) -> int:
    """Position after the delimiter of an undefined-length sequence starting at ``pos`` (PS3.5 §7.5)."""
    end = len(buf)
    while True:
        if pos + 8 > end:
            raise _Truncated
        if trace is not None:
            trace.append((pos, 8))
        group, element, length = struct.unpack_from("<HHI", buf, pos)
        tag = (group << 16) | element
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise _Unsupported(f"unexpected tag {tag:08X} in a sequence")
        if length != _UNDEFINED:
            pos += length
            continue
        pos = _walk(buf, pos, explicit, None, trace, stop_at_item_end=True)


def _walk(
    buf: bytes,
    pos: int,
    explicit: bool,
    found: dict[int, tuple[int, int, bytes | None]] | None,
    trace: list[tuple[int, int]] | None = None,
    *,
    stop_at_item_end: bool = False,
) -> int:
    """Walk data elements from ``pos``; collect where wanted ones are into ``found`` (top level only:
    tag -> (start, stop, VR) of the value).

    Returns the position of the Pixel Data element (top level) or after the item delimiter (nested).
    ``trace``, if given, receives (position, size) of every byte range the walk's decisions read.
    """
    end = len(buf)
    interest = _INTEREST if found is not None else _NOTHING
    while pos + 8 <= end:
        if explicit:
            group, element, vr, length = _EXPLICIT_HEAD.unpack_from(buf, pos)
        else:
            group, element, length = _IMPLICIT_HEAD.unpack_from(buf, pos)
            vr = None
        tag = (group << 16) | element
        if trace is not None:
            trace.append((pos, 12 if explicit and vr in _LONG_VRS and group != 0xFFFE else 8))
        if group == 0xFFFE:
            if tag == _ITEM_END:
                if not stop_at_item_end:
                    raise _Unsupported("item delimiter at top level")
                return pos + 8
            vr = None
            (length,) = _UINT32.unpack_from(buf, pos + 4)
            pos += 8
        elif tag == _PIXEL_DATA and found is not None:
            return pos
        elif explicit and vr in _LONG_VRS:
            if pos + 12 > end:
                raise _Truncated
            (length,) = _UINT32.unpack_from(buf, pos + 8)
            pos += 12
        else:
            pos += 8
        if length == _UNDEFINED:
            if tag in _FUNCTIONAL_GROUPS and found is not None:
                found[tag] = (0, 0, vr)
            # An undefined-length UN element holds an implicit VR sequence (PS3.5 §6.2.2).
            pos = _skip_undefined(buf, pos, explicit and vr != b"UN", trace)
            continue
        if tag in interest:
            if pos + length > end:
                raise _Truncated
            found[tag] = (pos, pos + length, vr)  # type: ignore[index]
        pos += length
    if stop_at_item_end or pos != end:
        raise _Truncated  # ran past the bytes we have (an element longer than what is left)
    return pos  # end of data without Pixel Data


@dataclass(frozen=True)
class _Layout:
    """Where a file's data elements lie, learnt from one fully walked file.

    Files of a series are written by one program and are nearly always laid out identically: same
    elements, same lengths, only the values differ. ``index`` lists every byte the walker read to
    make its decisions (tags, VRs, lengths, the transfer syntax); if another file holds the same bytes
    there, the walker would take exactly the same path through it, so the values can be sliced at
    the learnt positions without walking again (one vectorised comparison instead of a Python step
    per element).
    """

    index: np.ndarray
    expected: bytes
    needed: int
    found: _Places
    pixel_pos: int
    explicit: bool


# Learnt layouts by the position of their Pixel Data element, most recently matched first. Values of
# varying length (instance numbers, positions, UIDs) make a series hold many layouts; where its Pixel
# Data tag is picks the few worth checking. A series' files end alike (same pixel bytes after the tag),
# so the distance from the tag to the end of the file (``_TAILS``) finds the tag without a search.
_LAYOUTS: dict[int, list[_Layout]] = {}
_TAILS: dict[int, None] = {}  # an ordered set, oldest first
_MAX_LAYOUTS = 8  # per Pixel Data position
_MAX_POSITIONS = 64
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian, explicit and implicit VR alike


def _pixel_data_position(buf: bytes, file_size: int) -> int:
    """Where the Pixel Data tag probably is: at a learnt distance from the file's end, else the first
    occurrence of its bytes (a value may hold them too: the layout check then fails, and the file is
    walked, which is only slower)."""
    for tail in tuple(_TAILS):  # a copy: another thread may learn a tail meanwhile
        position = file_size - tail
        if position >= 0 and buf[position : position + 4] == _PIXEL_DATA_TAG:
            return position
    return buf.find(_PIXEL_DATA_TAG)


def _known_layout(buf: bytes, file_size: int) -> _Layout | None:
    """The first remembered layout that ``buf`` matches byte for byte where it matters."""
    candidates = _LAYOUTS.get(_pixel_data_position(buf, file_size))
    if not candidates:
        return None
    view = np.frombuffer(buf, dtype=np.uint8)
    for rank, layout in enumerate(list(candidates)):
        if len(buf) >= layout.needed and view[layout.index].tobytes() == layout.expected:
            if rank:  # to the front; tolerant of another thread having reordered the list meanwhile
                with contextlib.suppress(ValueError):
                    candidates.remove(layout)
                    candidates.insert(0, layout)
            return layout
    return None


def _learn_layout(
    buf: bytes,
    trace: list[tuple[int, int]],
    found: dict[int, tuple[int, int, bytes | None]],
    pixel_pos: int,
    explicit: bool,
    file_size: int,
) -> None:
    trace.append((pixel_pos, 12))  # the Pixel Data element's tag, VR and length
    index = np.concatenate([np.arange(start, start + size, dtype=np.intp) for start, size in trace])
    needed = max(int(index.max()) + 1, *(stop for _tag, (_start, stop, _vr) in found.items()))
    if needed > len(buf):
        return
    expected = np.frombuffer(buf, dtype=np.uint8)[index].tobytes()
    if pixel_pos not in _LAYOUTS and len(_LAYOUTS) >= _MAX_POSITIONS:
        _LAYOUTS.clear()
        _TAILS.clear()
    tail = file_size - pixel_pos
    if tail > 0 and tail not in _TAILS:
        if len(_TAILS) >= _MAX_LAYOUTS:
            _TAILS.pop(next(iter(tuple(_TAILS))), None)
        _TAILS[tail] = None
    candidates = _LAYOUTS.setdefault(pixel_pos, [])
    candidates.insert(0, _Layout(index, expected, needed, tuple(found.items()), pixel_pos, explicit))
    del candidates[_MAX_LAYOUTS:]


def _structure(buf: bytes, file_size: int) -> tuple[_Places, int, bool]:
    """Where the wanted values (tag, (start, stop, VR)) and Pixel Data are in ``buf``, and whether the
    VR is explicit."""
    layout = _known_layout(buf, file_size)
    if layout is not None:
        return layout.found, layout.pixel_pos, layout.explicit
    if len(buf) < 132 or buf[128:132] != b"DICM":
        raise _Unsupported("no PS3.10 preamble")
    found: dict[int, tuple[int, int, bytes | None]] = {}
    trace: list[tuple[int, int]] = [(128, 4)]
    # File meta information: always explicit VR little endian (PS3.10 §7.1).
    pos = 132
    while pos + 8 <= len(buf) and struct.unpack_from("<H", buf, pos)[0] == 0x0002:
        element = struct.unpack_from("<H", buf, pos + 2)[0]
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            trace.append((pos, 12))
            (length,) = struct.unpack_from("<I", buf, pos + 8)
            pos += 12
        else:
            trace.append((pos, 8))
            (length,) = struct.unpack_from("<H", buf, pos + 6)
            pos += 8
        if element in (0x0003, 0x0010):
            found[0x00020000 | element] = (pos, pos + length, vr)
        if element == 0x0010:
            trace.append((pos, length))
        pos += length
    syntax = _strip(buf[found[0x00020010][0] : found[0x00020010][1]]) if 0x00020010 in found else ""
    if syntax in (EXPLICIT_BE, DEFLATED_LE) or not syntax:
        raise _Unsupported(f"transfer syntax {syntax or 'missing'}")
    explicit = syntax != IMPLICIT_LE
    pixel_pos = _walk(buf, pos, explicit, found, trace)
    if pixel_pos + 12 <= len(buf):
        _learn_layout(buf, trace, found, pixel_pos, explicit, file_size)
    return tuple(found.items()), pixel_pos, explicit


def _fast_header(path: Path, buf: bytes, file_size: int) -> Header:
    """Parse ``buf`` (the start of the file, or all of it) with the fast walker."""
    where, pixel_pos, explicit = _structure(buf, file_size)
    if pixel_pos >= len(buf) and len(buf) < file_size:
        raise _Truncated  # no Pixel Data yet, but only part of the file was read
    values: dict[str, Any] = {}
    representation = 0
    for tag, (start, stop, _vr) in where:
        if tag == 0x00280103:
            representation = _decode("us", buf[start:stop], None, 0) or 0
    decoded = _DECODED.get
    for tag, (start, stop, element_vr) in where:
        if tag in _FUNCTIONAL_GROUPS:
            values["enhanced"] = True
            continue
        raw = buf[start:stop]
        key = (tag, raw, element_vr, representation)
        named = decoded(key)
        if named is None:
            name, kind = _WANTED[tag]
            try:
                named = (name, _decode(kind, raw, element_vr, representation))
            except (ValueError, OverflowError, struct.error) as exc:
                raise InputDataError(
                    f"{path}: malformed DICOM file: cannot decode {name.replace('_', ' ')} ({exc})"
                ) from exc
            if len(_DECODED) > 65536:
                _DECODED.clear()
            _DECODED[key] = named
        if named[1] is not None:
            values[named[0]] = named[1]
    pixel_offset = pixel_length = None
    if pixel_pos + 8 <= len(buf):
        if explicit:
            (pixel_length,) = struct.unpack_from("<I", buf, pixel_pos + 8)
            pixel_offset = pixel_pos + 12
        else:
            (pixel_length,) = struct.unpack_from("<I", buf, pixel_pos + 4)
            pixel_offset = pixel_pos + 8
        if pixel_length == _UNDEFINED:
            pixel_length = -1
    return _new_header(
        path=path, pixel_offset=pixel_offset, pixel_length=pixel_length, file_size=file_size, **values
    )


_DEFAULTS = {f.name: f.default for f in fields(Header) if f.default is not MISSING}


def _new_header(**values: Any) -> Header:
    """``Header(**values)`` without the frozen dataclass's per-field ``object.__setattr__`` calls,
    which take half the time of reading a header (the fields are set once, never changed after)."""
    header = object.__new__(Header)
    header.__dict__.update(_DEFAULTS)
    header.__dict__.update(values)
    return header


def _pydicom_header(path: Path, file_size: int) -> Header:
    """Fallback: the same :class:`Header` from a pydicom dataset (any encoding pydicom reads)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size=256, force=False)
    except InvalidDicomError:
        ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size=256, force=True)
        if "SOPInstanceUID" not in ds or "SeriesInstanceUID" not in ds:
            raise
    return header_from_dataset(path, ds, file_size)


def header_from_dataset(path: Path, ds: pydicom.Dataset, file_size: int = 0) -> Header:
    """Build a :class:`Header` from a pydicom dataset (used by the fallback and for multi-frame)."""
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not syntax:
        syntax = IMPLICIT_LE if ds.is_implicit_VR else (EXPLICIT_LE if ds.is_little_endian else EXPLICIT_BE)

    def get(keyword: str, cast: Any = None) -> Any:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        return cast(value) if cast else value

    def floats(keyword: str) -> tuple[float, ...] | None:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        return tuple(
            float(v)
            for v in (value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value])
        )

    siemens_b = None
    raw = ds[0x0019100C].value if 0x0019100C in ds else None
    if raw not in (None, b"", ""):
        try:
            siemens_b = float(raw.decode("latin-1").strip("\x00 ") if isinstance(raw, bytes) else raw)
        except ValueError:
            siemens_b = None
    pixel_length: int | None = None
    if "PixelData" in ds or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        pixel_length = -1 if syntax not in UNCOMPRESSED else 0
    image_type = ds.get("ImageType")
    gradient = None
    if "DiffusionGradientOrientation" in ds:
        gradient = floats("DiffusionGradientOrientation")
    return Header(
        path=path,
        transfer_syntax=syntax,
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        study_uid=str(ds.get("StudyInstanceUID", "")),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        series_number=get("SeriesNumber", int),
        description=str(ds.get("SeriesDescription", "") or ""),
        modality=str(ds.get("Modality", "") or ""),
        manufacturer=str(ds.get("Manufacturer", "") or ""),
        image_type=tuple(str(v).strip() for v in image_type)
        if isinstance(image_type, (list, tuple, pydicom.multival.MultiValue))
        else ((str(image_type),) if image_type else ()),
        sequence_name=str(ds.get("SequenceName", "") or ""),
        acquisition_number=get("AcquisitionNumber", int),
        instance_number=get("InstanceNumber", int),
        temporal_position=get("TemporalPositionIdentifier", int),
        position_lps_mm=floats("ImagePositionPatient"),
        orientation=floats("ImageOrientationPatient"),
        rows=get("Rows", int),
        columns=get("Columns", int),
        pixel_spacing_mm=floats("PixelSpacing"),
        slice_thickness_mm=get("SliceThickness", float),
        spacing_between_slices_mm=get("SpacingBetweenSlices", float),
        gantry_tilt_deg=get("GantryDetectorTilt", float),
        samples_per_pixel=get("SamplesPerPixel", int) or 1,
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
        number_of_frames=get("NumberOfFrames", int),
        bits_allocated=get("BitsAllocated", int),
        bits_stored=get("BitsStored", int),
        pixel_representation=get("PixelRepresentation", int) or 0,
        padding_value=get("PixelPaddingValue", int),
        padding_limit=get("PixelPaddingRangeLimit", int),
        rescale_slope=get("RescaleSlope", float),
        rescale_intercept=get("RescaleIntercept", float),
        b_value_s_mm2=get("DiffusionBValue", float),
        gradient_lps=gradient,
        siemens_b_value=siemens_b,
        pixel_offset=None,
        pixel_length=pixel_length,
        file_size=file_size,
        enhanced="PerFrameFunctionalGroupsSequence" in ds,
        media_sop_instance_uid=str(meta.get("MediaStorageSOPInstanceUID", "")) if meta is not None else "",
    )


# What the fast walker raises on layouts it does not follow (left to pydicom, which decides).
_FAST_FAILURES = (_Unsupported, struct.error, OverflowError, MemoryError)


def read_header(path: str | Path) -> Header | None:
    """Header of one file, or ``None`` if the file is not DICOM.

    Raises
    ------
    InputDataError
        The file cannot be read (permissions, dangling link, not a regular file) or is a DICOM file
        that is truncated or malformed.
    """
    if not isinstance(path, Path):
        path = Path(path)
    try:
        status = os.stat(path)
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(status.st_mode):  # never open a FIFO or device: it could block forever
        raise InputDataError(f"{path}: cannot read file (not a regular file)")
    file_size = status.st_size
    try:
        # A raw descriptor, not a buffered file object: a quarter of the time of a header read goes
        # into opening the file otherwise.
        descriptor = os.open(path, os.O_RDONLY)
        try:
            buf = os.read(descriptor, _FIRST_READ_BYTES)
            try:
                return validated(_fast_header(path, buf, file_size))
            except _Truncated:
                truncated = True
                if len(buf) < file_size:
                    buf += _read_rest(descriptor)
                    try:
                        return validated(_fast_header(path, buf, file_size))
                    except _Truncated:
                        pass
                    except _FAST_FAILURES:
                        truncated = False  # an encoding the walker does not follow: pydicom reads it
                if truncated:
                    raise InputDataError(f"{path}: DICOM file is truncated (its header ends early)") from None
            except _FAST_FAILURES:
                pass
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    magic = len(buf) >= 132 and buf[128:132] == b"DICM"
    # Without the PS3.10 preamble, only a data set that starts with a group 0002 or 0008 element (little
    # or big endian) can be an old-style DICOM file; anything else is skipped without parsing it.
    if not magic and buf[:2] not in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"):
        return None
    try:
        return validated(_pydicom_header(path, file_size))
    except InvalidDicomError:
        if magic:
            raise InputDataError(f"{path}: malformed DICOM file") from None
        return None
    except InputDataError:
        raise
    except Exception as exc:  # pydicom raises many types on corrupt input
        # It started like a DICOM data set (preamble, or a group 0002/0008 element) and pydicom began to
        # read it: a damaged DICOM file, never silently skipped (it may be a slice of the series).
        if magic or buf[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"):
            raise InputDataError(f"{path}: malformed or truncated DICOM file ({short_reason(exc)})") from exc
        return None


def _read_rest(descriptor: int) -> bytes:
    """The bytes from the descriptor's position to the end of the file."""
    parts = []
    while chunk := os.read(descriptor, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def short_reason(exc: BaseException) -> str:
    """First line of an exception's text, bounded: library messages can span lines or kilobytes."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def validated(header: Header) -> Header:
    """Refuse header values that no image can have, before anything is allocated or decoded.

    Rows/Columns 0, an impossible BitsAllocated, a declared size over the memory limit, uncompressed
    pixel data shorter than the declared frames, or non-finite scaling.
    """
    path = header.path
    if not (header.has_pixel_data or header.rows is not None or header.columns is not None):
        if not (header.sop_class_uid or header.series_uid or header.modality):
            # A PS3.10 file whose data set is missing: cut off right after its file meta information.
            raise InputDataError(
                f"{path}: DICOM file is truncated (no data set after its file meta information)"
            )
        return header
    if header.rows is not None and header.columns is not None:
        if header.rows <= 0 or header.columns <= 0:
            raise InputDataError(f"{path}: image size Rows {header.rows} x Columns {header.columns} is empty")
        if header.number_of_frames is not None and header.number_of_frames < 0:
            raise InputDataError(f"{path}: NumberOfFrames {header.number_of_frames} is negative")
        check_array_size((header.frame_count, header.rows, header.columns), 4, str(path))
    if header.bits_allocated is not None and header.bits_allocated not in VALID_BITS_ALLOCATED:
        raise InputDataError(f"{path}: BitsAllocated {header.bits_allocated} is not a valid value")
    for name in ("rescale_slope", "rescale_intercept", "slice_thickness_mm", "spacing_between_slices_mm"):
        value = getattr(header, name)
        if value is not None and not math.isfinite(value):
            raise InputDataError(f"{path}: {name.replace('_', ' ')} is non-finite ({value})")
    if (
        header.transfer_syntax in UNCOMPRESSED
        and header.pixel_length is not None
        and header.pixel_length > 0
        and header.rows
        and header.columns
        and header.bits_allocated in (8, 16, 32, 64)
    ):
        needed = header.frame_count * header.rows * header.columns * header.bits_allocated // 8
        if header.pixel_length < needed:
            raise InputDataError(
                f"{path}: PixelData holds {header.pixel_length} bytes, {needed} declared "
                f"({header.frame_count} frame(s) of {header.columns}x{header.rows}, "
                f"{header.bits_allocated} bits)"
            )
    return header


def orientation_matrix(orientation: tuple[float, ...]) -> np.ndarray:
    """3x3 matrix whose columns are the row direction, the column direction and their normal (LPS).

    ImageOrientationPatient holds the direction cosines of the first row then the first column
    (PS3.3 C.7.6.2.1.1); the slice normal is their cross product.
    """
    row = np.asarray(orientation[:3], dtype=np.float64)
    col = np.asarray(orientation[3:6], dtype=np.float64)
    return np.column_stack([row, col, np.cross(row, col)])


def provenance(first: Header, source_files: list[str]) -> Provenance:
    """What a loaded Volume carries about its series: identifiers and files, never the patient."""
    return Provenance(
        source="dicom",
        series_number=first.series_number,
        series_uid=first.series_uid,
        study_uid=first.study_uid,
        description=first.description,
        modality=first.modality,
        manufacturer=first.manufacturer,
        source_files=tuple(source_files),
    )
