"""What ingest refuses before it trusts a file: sizes, geometry, values, and decoder failures.

Every check here turns a fault in the data into :class:`~pipeline.errors.InputDataError` (exit 3) with
a message naming the file or series, *before* the fault can allocate gigabytes, hang, crash a
decoder, or give a volume of NaNs that a later stage would analyse as if it were an image.

The memory limit of one loaded array is ``CORDOTOMY_MAX_ARRAY_GIB`` GiB (default
:data:`DEFAULT_MAX_ARRAY_GIB`), checked on the sizes the headers declare, before allocating.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from pipeline.errors import InputDataError

DEFAULT_MAX_ARRAY_GIB = 8.0
MAX_ARRAY_ENV = "CORDOTOMY_MAX_ARRAY_GIB"
# No patient is a kilometre from the scanner's origin; beyond this, slice arithmetic overflows.
MAX_POSITION_MM = 1e6
# BitsAllocated values of greyscale images (PS3.5 §8.1.1; 1 for bit-packed segmentations).
VALID_BITS_ALLOCATED = frozenset({1, 8, 16, 32, 64})


def max_array_bytes() -> int:
    """The configured limit of one array in bytes (environment ``CORDOTOMY_MAX_ARRAY_GIB``)."""
    raw = os.environ.get(MAX_ARRAY_ENV, "")
    try:
        gib = float(raw) if raw.strip() else DEFAULT_MAX_ARRAY_GIB
    except ValueError:
        gib = DEFAULT_MAX_ARRAY_GIB
    if not math.isfinite(gib) or gib <= 0:
        gib = DEFAULT_MAX_ARRAY_GIB
    return int(gib * 2**30)


def check_array_size(shape: Sequence[int], itemsize: int, what: str) -> None:
    """Refuse an array of ``shape`` x ``itemsize`` bytes over the memory limit (nothing allocated yet)."""
    count = 1
    for n in shape:
        count *= max(int(n), 0)
    limit = max_array_bytes()
    if count * itemsize > limit:
        dims = "x".join(str(int(n)) if int(n) < 10**9 else f"{float(n):.2e}" for n in shape)
        gib = count * itemsize // 2**30
        needed = f"{gib} GiB" if gib < 10**9 else "an impossible amount of memory"
        raise InputDataError(
            f"{what}: declared size {dims} needs {needed}, over the limit of {limit / 2**30:.1f} GiB "
            f"(set {MAX_ARRAY_ENV} to raise it)"
        )


def is_decoder_panic(exc: BaseException) -> bool:
    """True for a Rust decoder's panic surfaced by pyo3 (``pyo3_runtime.PanicException``).

    It derives from BaseException, so ``except Exception`` misses it; we match exactly that type, never
    KeyboardInterrupt or SystemExit.
    """
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime"


def check_geometry(
    what: str,
    position_lps_mm: Sequence[float] | np.ndarray | None,
    orientation: Sequence[float] | np.ndarray | None,
    pixel_spacing_mm: Sequence[float] | np.ndarray | None,
) -> None:
    """Position, orientation and spacing must be finite, and the orientation two non-parallel unit vectors."""
    for name, values in (
        ("ImagePositionPatient", position_lps_mm),
        ("ImageOrientationPatient", orientation),
        ("PixelSpacing", pixel_spacing_mm),
    ):
        if values is not None and not all(math.isfinite(float(v)) for v in values):
            raise InputDataError(f"{what}: {name} is not finite ({', '.join(str(v) for v in values)})")
    if position_lps_mm is not None and max((abs(float(v)) for v in position_lps_mm), default=0.0) > MAX_POSITION_MM:
        raise InputDataError(
            f"{what}: ImagePositionPatient ({', '.join(str(v) for v in position_lps_mm)}) is more than "
            f"{MAX_POSITION_MM:g} mm from the scanner origin"
        )
    if orientation is not None and len(orientation) == 6 and not _orientation_ok(tuple(map(float, orientation))):
        raise InputDataError(
            f"{what}: ImageOrientationPatient is degenerate (row and column directions are not two "
            "perpendicular unit vectors)"
        )
    if (
        pixel_spacing_mm is not None
        and len(pixel_spacing_mm) == 2
        and (min(pixel_spacing_mm) <= 0 or max(pixel_spacing_mm) > 1e4)
    ):
        raise InputDataError(f"{what}: PixelSpacing {tuple(pixel_spacing_mm)} mm is out of range")


@functools.lru_cache(maxsize=64)
def _orientation_ok(orientation: tuple[float, ...]) -> bool:
    """Two near-unit, near-perpendicular direction cosines (cached: a series repeats one orientation, and
    this runs for every slice on the loading path, where numpy's small-array overhead would show)."""
    rx, ry, rz, cx, cy, cz = orientation
    norms = (math.hypot(rx, ry, rz), math.hypot(cx, cy, cz))
    cross = math.hypot(ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)
    return 0.9 <= min(norms) and max(norms) <= 1.1 and cross >= 0.9


def check_affine(affine_lps: np.ndarray, what: str) -> None:
    """A loaded volume's affine must be finite and invertible."""
    affine = np.asarray(affine_lps, dtype=np.float64)
    if not np.isfinite(affine).all():
        raise InputDataError(f"{what}: the image geometry (affine) is not finite")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputDataError(f"{what}: the image geometry (affine) is singular (zero voxel size or spacing)")


def check_finite_voxels(array: np.ndarray, what: str) -> None:
    """Refuse NaN or infinite voxel values (float data only: integer data are always finite)."""
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputDataError(f"{what}: {bad} voxel(s) are NaN or infinite")


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Silence what native decoders print straight to file descriptor 2 (a Rust panic message, OpenJPEG
    errors), unless debug logging is on: the failure reaches the user as our one-line message instead.

    Used only around a single-threaded decode call.
    """
    if logging.getLogger("cordotomy").isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
