"""Slice-stack geometry: sort frames along the slice normal, validate them, build the LPS affine.

Slices are ordered by their position projected on the slice normal (ImagePositionPatient ·
(row × column), PS3.3 C.7.6.2.1.1), never by file name or InstanceNumber, which scanners do not
guarantee to be spatial. Spacing comes from those positions, not from SliceThickness (they differ for
overlapping or gapped reconstructions).

A stack is *regular* when every slice origin lies on one straight line along the normal at equal
steps; then one affine describes it exactly. A *gantry tilt* shifts successive slices within their
own plane (the table moves along the scanner axis while the image plane is tilted), and uneven
spacing breaks the equal steps; both need resampling (:mod:`.tilt`) or refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.errors import InputDataError
from pipeline.ingest.frames import Frame
from pipeline.ingest.header import orientation_matrix

# Tolerances, in mm unless stated. Positions are written with ~1e-5 mm precision by scanners; these
# are far above that noise and far below anything that matters anatomically.
ORIENTATION_TOLERANCE = 1e-4  # direction cosines
SPACING_TOLERANCE_MM = 1e-3  # pixel spacing differences between slices
DUPLICATE_TOLERANCE_MM = 1e-3  # two slices closer than this along the normal are the same position
REGULAR_TOLERANCE_MM = 0.02  # largest allowed deviation of a slice from the regular grid
IN_PLANE_TOLERANCE_MM = 0.02  # largest allowed in-plane shift of a slice origin (else: tilt/shear)


@dataclass(frozen=True)
class Stack:
    """A validated stack of frames sorted along the slice normal.

    Attributes
    ----------
    frames : sorted frames, first slice first.
    rotation : (3, 3) columns = row direction, column direction, slice normal (LPS, unit).
    spacing_mm : (row spacing, column spacing) in-plane, i.e. (between columns, between rows).
    distances_mm : (K,) position of each slice along the normal, relative to the first.
    in_plane_mm : (K, 2) shift of each slice origin along (row direction, column direction)
        relative to the first slice: non-zero for gantry tilt.
    """

    frames: tuple[Frame, ...]
    rotation: np.ndarray
    spacing_mm: tuple[float, float]
    distances_mm: np.ndarray
    in_plane_mm: np.ndarray
    rows: int
    columns: int

    @property
    def origin_lps_mm(self) -> np.ndarray:
        return self.frames[0].position_lps_mm

    @property
    def sheared(self) -> bool:
        """True when slice origins shift within the slice plane (gantry tilt)."""
        return bool(np.max(np.abs(self.in_plane_mm)) > IN_PLANE_TOLERANCE_MM)

    @property
    def tilt_deg(self) -> float:
        """Angle between the slice-to-slice direction and the normal (gantry tilt), degrees."""
        if len(self.frames) < 2:
            return 0.0
        step = np.array([*self.in_plane_mm[-1], self.distances_mm[-1]])
        return float(np.degrees(np.arctan2(np.linalg.norm(step[:2]), abs(step[2]))))

    @property
    def uneven(self) -> bool:
        """True when slices are not equally spaced along the normal."""
        if len(self.frames) < 3:
            return False
        regular = np.linspace(0.0, self.distances_mm[-1], len(self.distances_mm))
        return bool(np.max(np.abs(self.distances_mm - regular)) > REGULAR_TOLERANCE_MM)

    @property
    def slice_spacing_mm(self) -> float:
        """Mean spacing along the normal (the true spacing when the stack is regular)."""
        if len(self.frames) < 2:
            # One slice has no spacing; like dcm2niix, use SpacingBetweenSlices, else SliceThickness.
            header = self.frames[0].header
            for value in (header.spacing_between_slices_mm, header.slice_thickness_mm):
                if value is not None and value > 0:
                    return float(value)
            return 1.0
        return float(self.distances_mm[-1] / (len(self.frames) - 1))

    def affine_lps(self) -> np.ndarray:
        """Exact affine of a regular, unsheared stack: index (column, row, slice) -> LPS mm."""
        return grid_affine_lps(
            self.rotation, (self.spacing_mm[1], self.spacing_mm[0], self.slice_spacing_mm), self.origin_lps_mm
        )


def grid_affine_lps(
    rotation: np.ndarray, steps_mm: tuple[float, float, float], origin_lps_mm: np.ndarray
) -> np.ndarray:
    """Affine of an orthogonal grid: index (column, row, slice) -> LPS mm.

    ``rotation`` columns are the row direction, column direction and slice normal; ``steps_mm`` are the
    voxel steps along them (between columns, between rows, between slices); ``origin_lps_mm`` is the
    centre of voxel (0, 0, 0) (PS3.3 C.7.6.2.1.1).
    """
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.asarray(steps_mm)
    affine[:3, 3] = origin_lps_mm
    return affine


def _first_outlier(values: np.ndarray, tolerance: float) -> int | None:
    """Index of the first row of ``values`` that differs from row 0 by more than ``tolerance``."""
    bad = np.flatnonzero(np.abs(values - values[0]).max(axis=1) > tolerance)
    return int(bad[0]) if bad.size else None


def _check_uniform(frames: Sequence[Frame], what: str, series: str) -> None:
    """One image size, orientation and pixel spacing for all frames (one array test each, not per frame)."""
    first = frames[0]
    sizes = np.array([(f.header.rows or 0, f.header.columns or 0) for f in frames], dtype=np.int64)
    k = _first_outlier(sizes, 0)
    if k is not None:
        header = frames[k].header
        raise InputDataError(
            f"{series}: mixed image sizes: {frames[k].label} is {header.columns}x{header.rows}, "
            f"{first.label} is {first.header.columns}x{first.header.rows}"
        )
    k = _first_outlier(np.array([f.orientation for f in frames], dtype=np.float64), ORIENTATION_TOLERANCE)
    if k is not None:
        raise InputDataError(
            f"{series}: mixed orientations: {frames[k].label} differs from {first.label} "
            f"(ImageOrientationPatient); a {what} must be one stack of parallel slices"
        )
    k = _first_outlier(np.array([f.pixel_spacing_mm for f in frames], dtype=np.float64), SPACING_TOLERANCE_MM)
    if k is not None:
        raise InputDataError(
            f"{series}: mixed pixel spacing: {frames[k].label} {frames[k].pixel_spacing_mm} mm vs "
            f"{first.label} {first.pixel_spacing_mm} mm"
        )


def build_stack(frames: Sequence[Frame], series: str, *, what: str = "volume") -> Stack:
    """Sort ``frames`` along the normal and check they form one stack.

    Raises
    ------
    InputDataError
        Mixed sizes/orientations/spacing, duplicate positions, or missing slices (a gap that is a
        whole multiple of the usual spacing).
    """
    if not frames:
        raise InputDataError(f"{series}: no images")
    _check_uniform(frames, what, series)
    rotation = orientation_matrix(frames[0].orientation)
    normal_norm = np.linalg.norm(rotation[:, 2])
    if not 0.99 < normal_norm < 1.01 or abs(rotation[:, 0] @ rotation[:, 1]) > 1e-3:
        raise InputDataError(f"{series}: ImageOrientationPatient of {frames[0].label} is not orthonormal")
    # Re-orthonormalise the rows/columns (scanners round cosines to ~6 digits).
    q, r = np.linalg.qr(rotation[:, :2])
    q = q * np.sign(np.diag(r))
    rotation = np.column_stack([q[:, 0], q[:, 1], np.cross(q[:, 0], q[:, 1])])
    positions = np.array([f.position_lps_mm for f in frames])
    along = positions @ rotation[:, 2]
    order = np.argsort(along, kind="stable")
    sorted_frames = tuple(frames[i] for i in order)
    relative = positions[order] - positions[order[0]]
    if not np.isfinite(relative).all():
        raise InputDataError(f"{series}: slice positions (ImagePositionPatient) are not finite or out of range")
    distances = relative @ rotation[:, 2]
    in_plane = relative @ rotation[:, :2]
    gaps = np.diff(distances)
    duplicates = np.flatnonzero(gaps < DUPLICATE_TOLERANCE_MM)
    if duplicates.size:
        k = int(duplicates[0])
        raise InputDataError(
            f"{series}: duplicate slice position: {sorted_frames[k].label} and "
            f"{sorted_frames[k + 1].label} are both at {distances[k]:.3f} mm along the normal"
        )
    if len(gaps) >= 2:
        usual = float(np.median(gaps))
        multiples = gaps / usual
        missing_at = np.flatnonzero((multiples > 1.5) & (np.abs(multiples - np.round(multiples)) < 0.1))
        if missing_at.size:
            k = int(missing_at[0])
            raise InputDataError(
                f"{series}: gap of {gaps[k]:.2f} mm (usual spacing {usual:.2f} mm) between "
                f"{sorted_frames[k].label} and {sorted_frames[k + 1].label}: "
                f"{round(multiples[k]) - 1} slice(s) missing"
            )
    first = sorted_frames[0]
    return Stack(
        frames=sorted_frames,
        rotation=rotation,
        spacing_mm=first.pixel_spacing_mm,
        distances_mm=distances,
        in_plane_mm=in_plane,
        rows=int(first.header.rows or 0),
        columns=int(first.header.columns or 0),
    )
