"""Resample a gantry-tilted or unevenly spaced stack onto a regular orthogonal grid.

With a tilted gantry every slice is a plane with the same normal, but successive slices are shifted
within that plane (the table moves along the scanner axis, not along the normal), so the stack is a
sheared grid that no affine can describe. With uneven spacing the planes are parallel but not equally
spaced. Both are corrected without approximation beyond linear interpolation:

* in-plane, every slice is shifted onto the first slice's pixel lattice (linear interpolation of the
  fractional shift; the lattice is extended so that no acquired pixel is cut off);
* along the normal, output planes are placed at equal steps and interpolated linearly between the two
  acquired planes around them.

The output grid is the one dcm2niix writes for such series (files ``*_Tilt_1``/``*_Eq_1``; Rorden,
nii_dicom_batch.cpp: ``nii_saveNII3Dtilt`` and ``nii_saveNII3Deq``), so that our volume and
dcm2niix's overlay voxel for voxel: rows/columns extended by the whole-pixel ceiling of the largest
shift, and for uneven spacing a step equal to the smallest gap, with dcm2niix's cap of twice the
number of acquired slices.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.ingest.geometry import Stack, grid_affine_lps
from pipeline.limits import check_array_size

_EPS = 1e-6


def _extent(shifts_px: np.ndarray, size: int) -> tuple[int, int]:
    """First index and count of the lattice covering every shifted slice along one axis."""
    start = math.floor(min(0.0, float(shifts_px.min())) + _EPS)
    stop = math.ceil(max(size - 1.0, size - 1.0 + float(shifts_px.max())) - _EPS)
    return start, stop - start + 1


def regular_distances_mm(distances_mm: np.ndarray, uneven: bool) -> np.ndarray:
    """Output plane positions along the normal (relative to the first acquired slice)."""
    count = len(distances_mm)
    if not uneven:
        return np.linspace(0.0, float(distances_mm[-1]), count)
    gaps = np.diff(distances_mm)
    step = float(gaps[gaps > 0].min())
    last = float(distances_mm[-1])
    # dcm2niix's count ("-0.5: fence post") and its cap at twice the acquired slices.
    planes = math.ceil((last - 0.5 * (last - float(distances_mm[-2]))) / step)
    if planes > 2 * count:
        planes = 2 * count
        step = last / (planes - 1)
    return np.arange(planes) * step


def _shift_axis(
    image: np.ndarray, axis: int, start: int, count: int, shift_px: float, fill: float
) -> np.ndarray:
    """Sample ``image`` along ``axis`` at coordinates ``start + i - shift_px`` (linear, ``fill`` outside)."""
    size = image.shape[axis]
    coords_first = start - shift_px
    base = math.floor(coords_first + _EPS)
    frac = coords_first - base
    if abs(frac) < _EPS:
        frac = 0.0
    index = base + np.arange(count)
    low = np.clip(index, 0, size - 1)
    high = np.clip(index + 1, 0, size - 1)
    lo_values = np.take(image, low, axis=axis)
    result = lo_values if frac == 0.0 else (1.0 - frac) * lo_values + frac * np.take(image, high, axis=axis)
    valid = (index >= 0) & (index + (1 if frac > 0 else 0) <= size - 1)
    shape = [1, 1]
    shape[axis] = count
    return np.where(valid.reshape(shape), result, np.float32(fill)).astype(np.float32, copy=False)


def regularise(data: np.ndarray, stack: Stack, fill: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Resample ``data`` (K, rows, columns) of a sheared and/or uneven ``stack`` onto a regular grid.

    Returns the new (K', rows', columns') float32 array, its affine (index (column, row, slice) ->
    LPS mm) and a list of human-readable corrections applied.
    """
    spacing_row_mm, spacing_col_mm = stack.spacing_mm  # between rows, between columns
    shift_cols = stack.in_plane_mm[:, 0] / spacing_col_mm
    shift_rows = stack.in_plane_mm[:, 1] / spacing_row_mm
    col_start, n_cols = _extent(shift_cols, stack.columns)
    row_start, n_rows = _extent(shift_rows, stack.rows)
    targets = regular_distances_mm(stack.distances_mm, stack.uneven)
    # A wild position can ask for a huge lattice: refuse it before allocating (and before numpy does).
    check_array_size((len(targets), n_rows, n_cols), 4, "tilt-corrected grid")
    distances = stack.distances_mm
    cache: dict[int, np.ndarray] = {}

    def shifted(k: int) -> np.ndarray:
        if k not in cache:
            if len(cache) > 2:
                cache.pop(min(cache))
            # NaN marks "no acquired data here" through both interpolation steps; it becomes ``fill``
            # at the end, so a voxel is never a blend of tissue and an invented background value.
            image = data[k]
            image = _shift_axis(image, 0, row_start, n_rows, float(shift_rows[k]), np.nan)
            cache[k] = _shift_axis(image, 1, col_start, n_cols, float(shift_cols[k]), np.nan)
        return cache[k]

    out = np.empty((len(targets), n_rows, n_cols), dtype=np.float32)
    for index, target in enumerate(targets):
        high = int(np.searchsorted(distances, target - _EPS, side="left"))
        high = min(max(high, 0), len(distances) - 1)
        low = max(high - 1, 0)
        if abs(distances[high] - target) < 1e-4 or high == low:
            out[index] = shifted(high)
            continue
        weight = (target - distances[low]) / (distances[high] - distances[low])
        out[index] = (1.0 - weight) * shifted(low) + weight * shifted(high)
    np.nan_to_num(out, copy=False, nan=fill)
    step = float(targets[1] - targets[0]) if len(targets) > 1 else stack.slice_spacing_mm
    affine = grid_affine_lps(
        stack.rotation,
        (spacing_col_mm, spacing_row_mm, step),
        stack.origin_lps_mm
        + col_start * spacing_col_mm * stack.rotation[:, 0]
        + row_start * spacing_row_mm * stack.rotation[:, 1],
    )
    corrections = []
    if stack.sheared:
        corrections.append(
            f"gantry tilt {stack.tilt_deg:.2f} deg corrected: slices shifted in-plane onto an orthogonal grid "
            f"({n_cols}x{n_rows} pixels)"
        )
    if stack.uneven:
        gaps = np.diff(distances)
        corrections.append(
            f"uneven slice spacing ({gaps.min():.2f}-{gaps.max():.2f} mm) resampled to {len(targets)} "
            f"slices at {step:.4f} mm"
        )
    return out, affine, corrections
