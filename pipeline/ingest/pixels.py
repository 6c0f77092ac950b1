"""Pixel data: read stored values of many frames fast, then rescale to real-world values.

Uncompressed little-endian frames are read by a small thread pool, one contiguous slab of frames per
thread, each frame straight from its file (``preadv``) into a per-thread frame buffer that stays in
cache, and rescaled from there into its slot of the preallocated float32 output: file reads and numpy
ufuncs release the GIL, so I/O and the rescale of different frames overlap, and no frame is copied
twice. The output's fresh pages are faulted in by a helper thread just ahead of the readers
(:mod:`.prefault`), which on a 2-core machine takes about a third off the pixel time. (Reading ahead
while headers are still parsed was tried: it needs fresh buffers for every file and was slower on a
busy 2-core machine.) Everything else (JPEG 2000, JPEG-LS, JPEG lossless, RLE, big
endian, deflate) goes through pydicom's pixel-data plugins (pylibjpeg-openjpeg, -libjpeg, -rle,
pyjpegls), one file at a time.

Real-world values: ``stored * RescaleSlope + RescaleIntercept`` (PS3.3 C.11.1.1.2), which is HU for CT.
They are whole numbers whenever the slope is 1 and the intercept whole, as CT scanners store HU; such a
series is returned as int16 (:func:`.frames.exact_in_int16`), as ITK/GDCM and dcm2niix also keep it: the same
values, half the memory of float32, and the frames are read straight into their slots with no
conversion pass. A frame whose values would not fit int16 makes the loader fall back to float32
(:class:`NotExactInInt16`).
Pixels equal to PixelPaddingValue, or within [PixelPaddingValue, PixelPaddingRangeLimit] (PS3.3
C.7.5.1.1.2), are outside the reconstructed field of view; they get the value of air (-1024 HU) for CT
and 0 otherwise, instead of an arbitrary number such as -2000 or -3024.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import JPEGLSLossless, JPEGLSNearLossless

from pipeline.errors import InputDataError
from pipeline.ingest.frames import Frame
from pipeline.ingest.header import EXPLICIT_BE, UNCOMPRESSED, Header, short_reason
from pipeline.ingest.prefault import Prefault
from pipeline.limits import is_decoder_panic, native_stderr_silenced

CT_PADDING_HU = -1024.0
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_PREADV = getattr(os, "preadv", None)
_INT16 = np.iinfo(np.int16)


class NotExactInInt16(Exception):
    """A frame's real-world values do not fit int16 (the loader then reads the series as float32)."""


def fill_value(modality: str) -> float:
    """The value of voxels without acquired data: air (:data:`CT_PADDING_HU`) for CT, else 0."""
    return CT_PADDING_HU if modality == "CT" else 0.0


def stored_dtype(header: Header) -> np.dtype:
    """Numpy dtype of the stored pixel values (BitsAllocated, PixelRepresentation, byte order)."""
    bits = header.bits_allocated
    if bits not in (8, 16, 32):
        raise InputDataError(f"{header.path}: unsupported BitsAllocated {bits}")
    kind = "i" if header.pixel_representation == 1 else "u"
    order = ">" if header.transfer_syntax == EXPLICIT_BE else "<"
    return np.dtype(f"{order}{kind}{bits // 8}")


def _check_image(header: Header) -> None:
    if not header.has_pixel_data:
        raise InputDataError(f"{header.path}: no pixel data (image attributes present but PixelData missing)")
    if header.samples_per_pixel != 1:
        raise InputDataError(
            f"{header.path}: colour image ({header.photometric}, {header.samples_per_pixel} samples/pixel); "
            "only greyscale series can be loaded"
        )
    if header.rows is None or header.columns is None:
        raise InputDataError(f"{header.path}: Rows/Columns missing")
    if header.truncated:
        raise InputDataError(
            f"{header.path}: DICOM file is truncated ({header.file_size} bytes, pixel data need "
            f"{header.pixel_offset + header.pixel_length})"  # type: ignore[operator]
        )


def _fast_path(header: Header) -> bool:
    return (
        header.transfer_syntax in UNCOMPRESSED
        and header.transfer_syntax != EXPLICIT_BE
        and header.pixel_offset is not None
        and header.pixel_length is not None
        and header.pixel_length >= 0
        and header.bits_allocated in (8, 16, 32)
    )


def _check_length(header: Header, frame_bytes: int) -> None:
    if header.pixel_length is not None and header.pixel_length < frame_bytes * header.frame_count:
        raise InputDataError(
            f"{header.path}: PixelData holds {header.pixel_length} bytes, "
            f"{frame_bytes * header.frame_count} expected for {header.frame_count} frame(s) of "
            f"{header.columns}x{header.rows}"
        )


def _read_direct(header: Header, frame_index: int, out: np.ndarray) -> None:
    """Read one uncompressed frame's bytes into ``out`` (a C-contiguous (rows, columns) array).

    Positional reads on a raw descriptor (``preadv``, where the system has it): no buffered file
    object, no seek, the bytes land straight in ``out``.
    """
    frame_bytes = out.nbytes
    _check_length(header, frame_bytes)
    offset = header.pixel_offset + frame_index * frame_bytes  # type: ignore[operator]
    target = out.data.cast("B")
    got = 0
    try:
        if _PREADV is None:
            with open(header.path, "rb") as handle:
                handle.seek(offset)
                got = handle.readinto(target)
        else:
            descriptor = os.open(header.path, os.O_RDONLY)
            try:
                while got < frame_bytes:
                    step = _PREADV(descriptor, [target[got:]], offset + got)
                    if step == 0:
                        break
                    got += step
            finally:
                os.close(descriptor)
    except OSError as exc:
        raise InputDataError(f"{header.path}: cannot read pixel data ({exc.strerror or exc})") from exc
    if got != frame_bytes:
        raise InputDataError(f"{header.path}: DICOM file is truncated (pixel data end early)")


_JPEG_LS = frozenset({JPEGLSLossless, JPEGLSNearLossless})


def _read_pydicom(header: Header) -> np.ndarray:
    """All frames of one file decoded by pydicom, as (frames, rows, columns) stored values."""
    try:
        with native_stderr_silenced():
            ds = pydicom.dcmread(header.path, force=True)
            if header.transfer_syntax in _JPEG_LS:
                # libjpeg loops for ever on some corrupt JPEG-LS streams (found by fuzzing); CharLS
                # (pyjpegls) decodes valid ones to the same values and refuses corrupt ones at once.
                ds.pixel_array_options(decoding_plugin="pyjpegls")
            array = ds.pixel_array
    except Exception as exc:  # decoders raise many types on corrupt data
        raise InputDataError(f"{header.path}: cannot decode pixel data ({short_reason(exc)})") from exc
    except BaseException as exc:  # a Rust decoder's panic (pylibjpeg-rle) is a BaseException
        if is_decoder_panic(exc):
            raise InputDataError(
                f"{header.path}: cannot decode pixel data (decoder failed: corrupt data)"
            ) from None
        raise
    if header.frame_count == 1:
        array = array[np.newaxis]
    if array.ndim != 3 or array.shape != (header.frame_count, header.rows, header.columns):
        raise InputDataError(
            f"{header.path}: decoded pixel data have shape {array.shape}, header says {header.frame_count} "
            f"frame(s) of {header.rows}x{header.columns}"
        )
    if array.dtype.kind not in "iub" and not np.isfinite(array).all():
        raise InputDataError(f"{header.path}: pixel data hold NaN or infinite values")
    return array


_local = threading.local()


def _buffer(shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """A per-thread reusable frame buffer: fresh 0.5 MB allocations would each be page-faulted in."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        buffer = np.empty(shape, dtype=dtype)
        _local.buffer = buffer
    return buffer


def _padding_mask(
    header: Header, stored: np.ndarray, lowest: int | None = None, highest: int | None = None
) -> np.ndarray | None:
    """Where ``stored`` holds padding, or None if nowhere: the range test (fast reductions over a cached
    frame, skipped when the frame's ``lowest``/``highest`` are known, and the second one when the first
    decides) spares the comparison pass and its boolean array on the many frames without any."""
    if header.padding_value is None:
        return None
    value = header.padding_value
    low, high = sorted((value, header.padding_limit)) if header.padding_limit is not None else (value, value)
    if (stored.min() if lowest is None else lowest) > high:
        return None
    if (stored.max() if highest is None else highest) < low:
        return None
    if low == high:
        return stored == value
    return (stored >= low) & (stored <= high)


def check_rescale(frame: Frame) -> None:
    """Refuse a rescale that makes NaN or infinity from some stored value (checked on the header,
    so no extra pass over the voxels): the largest stored magnitude times the slope plus the
    intercept must stay finite in float32."""
    slope, intercept = frame.rescale_slope, frame.rescale_intercept
    bits = frame.header.bits_allocated or 16
    largest = float(2 ** min(max(bits, 1), 64))
    finite = np.isfinite(slope) and np.isfinite(intercept)
    if not finite or abs(slope) * largest + abs(intercept) >= float(np.finfo(np.float32).max):
        raise InputDataError(
            f"{frame.label}: RescaleSlope {slope} / RescaleIntercept {intercept} give non-finite "
            "(NaN or infinite) values"
        )


def _to_int16(header: Header, stored: np.ndarray, target: np.ndarray, intercept: int, fill: float) -> int:
    """``target`` (int16) = ``stored`` + ``intercept``, padding set to ``fill``; returns the padded count.

    ``stored`` may be ``target`` itself seen as the stored dtype (so stored values must fit int16 too,
    not only the results). The range is checked first, by a reduction only on a side that the dtype and
    intercept could push beyond int16 (for int16 HU with a negative intercept: the minimum only), shared
    with the padding test; padding is exempt, it is overwritten.
    """
    if stored.dtype.kind not in "iu":
        raise NotExactInInt16(f"{header.path}: decoded pixels are {stored.dtype}")
    limits = np.iinfo(stored.dtype)
    lift = max(intercept, 0)
    low_side = limits.min + intercept < _INT16.min
    high_side = limits.max + lift > _INT16.max
    lowest = int(stored.min()) if low_side else None
    highest = int(stored.max()) if high_side else None
    mask = _padding_mask(header, stored, lowest, highest)
    if mask is not None:  # the extremes without the padding
        if low_side:
            lowest = int(np.min(stored, where=~mask, initial=limits.max))
        if high_side:
            highest = int(np.max(stored, where=~mask, initial=limits.min))
    if (lowest is not None and lowest + intercept < _INT16.min) or (
        highest is not None and highest + lift > _INT16.max
    ):
        raise NotExactInInt16(f"{header.path}: values beyond int16")
    if not np.may_share_memory(stored, target):
        np.copyto(target, stored, casting="unsafe")
    if intercept:
        target += np.int16(intercept)
    if mask is None:
        return 0
    target[mask] = np.int16(fill)
    return int(np.count_nonzero(mask))


def read_frames(frames: Sequence[Frame], modality: str, out: np.ndarray) -> int:
    """Fill ``out[k]`` (float32, or int16 when :func:`exact_in_int16`; shape (K, rows, columns)) with
    frame k's real-world values.

    Returns the number of padding pixels replaced. Raises InputDataError on unreadable, truncated,
    undecodable data, or a rescale that would give non-finite values; NotExactInInt16 when ``out`` is
    int16 and a frame's values do not fit it.
    """
    for frame in frames:
        _check_image(frame.header)
        check_rescale(frame)
        if (frame.header.rows, frame.header.columns) != out.shape[1:]:
            raise InputDataError(
                f"{frame.label}: image size {frame.header.columns}x{frame.header.rows} differs from the "
                f"series' {out.shape[2]}x{out.shape[1]}"
            )
    fill = fill_value(modality)
    decoded: dict[Path, np.ndarray] = {}
    for frame in frames:
        header = frame.header
        if not _fast_path(header) and header.path not in decoded:
            decoded[header.path] = _read_pydicom(header)

    as_int16 = out.dtype == np.int16

    def work(k: int) -> int:
        frame = frames[k]
        header = frame.header
        target = out[k]
        stored_all = decoded.get(header.path)
        if stored_all is not None:
            stored = stored_all[frame.frame_index]
        elif as_int16:
            stored = target.view(stored_dtype(header))  # read straight into the slot: no copy at all
            _read_direct(header, frame.frame_index, stored)
        else:
            stored = _buffer((header.rows, header.columns), stored_dtype(header))  # type: ignore[arg-type]
            _read_direct(header, frame.frame_index, stored)
        if as_int16:
            return _to_int16(header, stored, target, int(frame.rescale_intercept), fill)
        slope, intercept = frame.rescale_slope, frame.rescale_intercept
        # Cast first, then scale in place while the frame is in cache: numpy's direct cast loop is
        # about 1.6x faster than a ufunc with ``dtype=float32``, whose mixed-type inputs go through
        # buffered casting (benchmarks/load_series.py); the float32 results are the same.
        np.copyto(target, stored, casting="unsafe")
        if slope != 1.0:
            target *= np.float32(slope)
        if intercept != 0.0:
            target += np.float32(intercept)
        mask = _padding_mask(header, stored)
        padded = 0
        if mask is not None:
            padded = int(np.count_nonzero(mask))
            if padded:
                target[mask] = fill
        return padded

    def slab(bounds: tuple[int, int]) -> int:
        return sum(work(k) for k in range(*bounds))

    # One contiguous slab of frames per thread, not one task per frame: no per-frame future or
    # queue overhead. Meanwhile a helper thread faults in the slabs' fresh pages just ahead of them.
    workers = min(_WORKERS, max(1, len(frames) // 8))
    edges = np.linspace(0, len(frames), workers + 1).round().astype(int)
    slabs = [(int(a), int(b)) for a, b in itertools.pairwise(edges)]
    frame_nbytes = out[0].nbytes if len(out) else 0
    with Prefault(out, [(a * frame_nbytes, b * frame_nbytes) for a, b in slabs]):
        if workers == 1:
            return slab(slabs[0])
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return sum(pool.map(slab, slabs))
