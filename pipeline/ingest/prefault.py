"""Fault in a fresh output array's memory on a helper thread while other threads fill it.

Why: a freshly allocated array is not yet backed by memory; the first write to each page traps into
the kernel, which finds and zeroes a page. For the 315 MB float32 volume of a 300-slice CT series
that costs about as much as the int16 -> float32 conversion itself, and the traps cannot be shared
out (they serialise in the kernel), but they can run *beside* the threads that read and convert:
``madvise(MADV_POPULATE_WRITE)`` (Linux >= 5.14, madvise(2)) maps the pages writable without
touching their contents, so it is safe to race with the writers: a page a writer reached first is
simply skipped, and nothing written is ever overwritten. Where the call is unavailable (other
systems, older kernels) nothing is done and the writers fault the pages in themselves, as before.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
import threading
from collections.abc import Sequence
from typing import Self

import numpy as np

from pipeline.ingest.frames import exact_in_int16
from pipeline.ingest.header import Header

_MADV_POPULATE_WRITE = 23  # linux/mman.h (asm-generic/mman-common.h)
_CHUNK_BYTES = 4 << 20  # a few huge pages per call: small enough to keep ahead of the writers
_MIN_BYTES = 16 << 20  # below this the helper thread costs more than it saves
_PAGE = mmap.PAGESIZE


def _madvise() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_MADVISE = _madvise()


class Prefault:
    """Context manager: populate ``array``'s pages on a daemon thread for the duration of the block.

    ``parts`` are (first, stop) byte ranges inside the array, each filled front to back by one writer;
    the helper advances through them in turn (round robin), so it stays just ahead of every writer.
    """

    def __init__(self, array: np.ndarray, parts: Sequence[tuple[int, int]]) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if _MADVISE is None or not array.flags.c_contiguous or array.nbytes < _MIN_BYTES:
            return
        self._array = array  # keeps the memory alive while the helper works on it
        base = array.ctypes.data
        self._queues = [self._chunks(base + first, base + stop) for first, stop in parts]
        self._thread = threading.Thread(target=self._run, name="prefault", daemon=True)

    @staticmethod
    def _chunks(first: int, stop: int) -> list[tuple[int, int]]:
        start = -(-first // _PAGE) * _PAGE  # whole pages only: partial ones are the writers' business
        end = stop // _PAGE * _PAGE
        return [(a, min(_CHUNK_BYTES, end - a)) for a in range(start, end, _CHUNK_BYTES)]

    def _run(self) -> None:
        for step in range(max((len(q) for q in self._queues), default=0)):
            for queue in self._queues:
                if self._stop.is_set():
                    return
                if step < len(queue):
                    address, length = queue[step]
                    if _MADVISE(address, length, _MADV_POPULATE_WRITE) != 0:  # type: ignore[misc]
                        return  # unsupported here (EINVAL) or out of memory: the writers fault pages in

    def __enter__(self) -> Self:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()


class EarlyOutput:
    """The output volume of a folder (int16 or float32, as the first header says), allocated and faulted
    in while its headers are read.

    Why: reading headers is Python work on one core; the page faults of the output (see above) can
    run on the other core meanwhile, instead of beside the pixel readers later. The shape is a guess
    from the first image header, (files listed, rows, columns): every file a single-frame slice of one
    series. Each further header must fit the guess (same series, size, one frame); the first that does
    not cancels it, and :meth:`take` hands the array over only if the loader needs exactly that shape.
    """

    def __init__(self, max_bytes: int = 2 << 30) -> None:
        self._max_bytes = max_bytes
        self._files = 0
        self._key: tuple[object, ...] | None = None
        self._array: np.ndarray | None = None
        self._prefault: Prefault | None = None
        self._cancelled = False

    def expect(self, files: int) -> None:
        """Number of files listed in the folder (before any header is read)."""
        self._files = files

    def see(self, header: Header) -> None:
        """One image header of the folder, in scan order."""
        if self._cancelled:
            return
        key = (header.series_key, header.rows, header.columns, header.frame_count)
        if self._key is None:
            rows, columns = header.rows, header.columns
            whole = exact_in_int16(
                header.modality, header.bits_allocated, header.rescale_slope, header.rescale_intercept
            )
            dtype = np.dtype(np.int16 if whole else np.float32)
            nbytes = self._files * (rows or 0) * (columns or 0) * dtype.itemsize
            if header.frame_count != 1 or not _MIN_BYTES <= nbytes <= self._max_bytes:
                self.cancel()
                return
            self._key = key
            self._array = np.empty((self._files, rows, columns), dtype=dtype)  # type: ignore[arg-type]
            self._prefault = Prefault(self._array, [(0, self._array.nbytes)]).__enter__()
        elif key != self._key:
            self.cancel()

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
        """The array if it has exactly ``shape`` and ``dtype`` (then it is the caller's), else None."""
        array = self._array if not self._cancelled else None
        self.cancel()
        return array if array is not None and array.shape == shape and array.dtype == dtype else None

    def cancel(self) -> None:
        """Stop faulting in and drop the array (idempotent)."""
        self._cancelled = True
        if self._prefault is not None:
            self._prefault.__exit__()
            self._prefault = None
        self._array = None
