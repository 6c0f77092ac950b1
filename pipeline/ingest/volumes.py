"""Split a series' frames into volumes acquired at the same slice positions (DESIGN.md §3).

Diffusion and dynamic series repeat every slice position once per volume (b-value and direction,
temporal position). Frames are grouped into volumes *before* sorting by position, and a repeated
position is an error only within one volume. The grouping key is chosen from the data: the first of
(diffusion b-value and gradient, temporal position, acquisition number, enhanced stack) under which
every group has unique positions and all groups cover the same positions. A series whose positions
are all distinct is one volume whatever its other attributes say (some CT scanners number every
rotation as its own acquisition).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipeline.errors import InputDataError
from pipeline.ingest.frames import Frame
from pipeline.ingest.header import orientation_matrix

_POSITION_DECIMALS = 2  # positions compared at 0.01 mm


def _diffusion_key(frame: Frame) -> Any:
    # b to 6 significant digits, not to a fixed decimal: Philips' near-zero b-values (0.001-0.004 s/mm²)
    # are distinct volumes, as dcm2niix keeps them.
    gradient = None if frame.gradient_lps is None else tuple(np.round(frame.gradient_lps, 4))
    b_value = None if frame.b_value_s_mm2 is None else float(f"{frame.b_value_s_mm2:.6g}")
    return (b_value, gradient)


_KEYS: list[tuple[str, Callable[[Frame], Any]]] = [
    ("diffusion", _diffusion_key),
    ("temporal position", lambda f: f.temporal_position),
    ("acquisition number", lambda f: f.acquisition_number),
    ("diffusion + acquisition", lambda f: (_diffusion_key(f), f.acquisition_number)),
    ("stack", lambda f: f.stack_key),
]


def _positions(frames: Sequence[Frame]) -> list[float]:
    normal = orientation_matrix(frames[0].orientation)[:, 2]
    return [round(float(f.position_lps_mm @ normal), _POSITION_DECIMALS) for f in frames]


def _order_key(frames: Sequence[Frame]) -> tuple[float, ...]:
    """Volumes in acquisition order: smallest instance number, then temporal/acquisition index."""
    instance = min(
        (f.header.instance_number for f in frames if f.header.instance_number is not None), default=0
    )
    temporal = min((f.temporal_position for f in frames if f.temporal_position is not None), default=0)
    acquisition = min((f.acquisition_number for f in frames if f.acquisition_number is not None), default=0)
    first_frame = min(f.frame_index for f in frames)
    return (temporal, acquisition, instance, first_frame)


def split_volumes(frames: Sequence[Frame], series: str) -> list[list[Frame]]:
    """Frames grouped into volumes (each unsorted), in acquisition order.

    Raises
    ------
    InputDataError
        Positions repeat but no attribute separates them into consistent volumes (duplicate slices).
    """
    positions = _positions(frames)
    if len(set(positions)) == len(positions):
        return [list(frames)]
    for _name, key in _KEYS:
        groups: dict[Any, list[int]] = {}
        for index, frame in enumerate(frames):
            groups.setdefault(key(frame), []).append(index)
        if len(groups) < 2:
            continue
        position_sets = [sorted(positions[i] for i in members) for members in groups.values()]
        if any(len(set(p)) != len(p) for p in position_sets):
            continue
        if any(p != position_sets[0] for p in position_sets[1:]):
            continue
        volumes = [[frames[i] for i in members] for members in groups.values()]
        return sorted(volumes, key=_order_key)
    if any(f.b_value_s_mm2 is not None for f in frames):
        b_values = sorted({f.b_value_s_mm2 for f in frames if f.b_value_s_mm2 is not None})
        raise InputDataError(
            f"{series}: slice positions repeat, but grouping by diffusion encoding (b-values "
            f"{', '.join(f'{b:g}' for b in b_values)} s/mm²) does not give volumes with the same slices: "
            "inconsistent b-values or gradients, or slices missing from some volume"
        )
    # Name the first repeated position for the message.
    seen: dict[float, Frame] = {}
    for frame, position in zip(frames, positions, strict=True):
        if position in seen:
            raise InputDataError(
                f"{series}: duplicate slice position: {seen[position].label} and {frame.label} are both at "
                f"{position:.2f} mm along the normal, and no diffusion/temporal/acquisition attribute "
                "separates them into volumes"
            )
        seen[position] = frame
    raise InputDataError(f"{series}: inconsistent volumes")  # unreachable: positions repeat above
