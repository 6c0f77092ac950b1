"""Rigid poses: where the anatomical frame sits in a scanner's LPS frame, and axis-aligned scan grids.

A head turned in the scanner is a rigid rotation of the anatomy relative to the image axes (DESIGN §3
"Anatomical frame"): yaw about the superior axis (turning), pitch about the left axis (flexion), roll
about the posterior axis (tilt towards a shoulder), composed as ``R = Rz(yaw) · Ry(roll) · Rx(pitch)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SAGITTAL_AXES_LPS", "Pose", "axial_grid_affine", "grid_affine", "voxel_centres_anatomical"]


def _rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    yaw, pitch, roll = np.deg2rad([yaw_deg, pitch_deg, roll_deg])
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    ry = np.array([[np.cos(roll), 0, np.sin(roll)], [0, 1, 0], [-np.sin(roll), 0, np.cos(roll)]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Pose:
    """``p_lps = origin_lps_mm + rotation · p_anatomical``."""

    origin_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        """Columns: the anatomical left, posterior and superior axes in LPS."""
        return _rotation(self.yaw_deg, self.pitch_deg, self.roll_deg)

    @property
    def matrix(self) -> np.ndarray:
        """4x4 homogeneous map anatomical mm -> LPS mm."""
        out = np.eye(4)
        out[:3, :3] = self.rotation
        out[:3, 3] = self.origin_lps_mm
        return out

    def to_lps(self, points_anatomical: np.ndarray) -> np.ndarray:
        return np.asarray(points_anatomical, dtype=np.float64) @ self.rotation.T + np.asarray(
            self.origin_lps_mm
        )


# Sagittal slices as scanners write them: rows run posterior, columns inferior, slices towards the right.
SAGITTAL_AXES_LPS = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def grid_affine(
    centre_lps_mm: np.ndarray,
    shape: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    axes_lps: np.ndarray,
) -> np.ndarray:
    """Affine of a scan grid whose array axes point along the columns of ``axes_lps`` (orthonormal)."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(axes_lps, dtype=np.float64) * np.asarray(spacing_mm)
    affine[:3, 3] = np.asarray(centre_lps_mm) - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return affine


def axial_grid_affine(
    centre_lps_mm: np.ndarray, shape: tuple[int, int, int], spacing_mm: tuple[float, float, float]
) -> np.ndarray:
    """Affine of an axial scan grid (rows along +x L, columns along +y P, slices towards +z S) centred on
    ``centre_lps_mm``; the DICOM ImageOrientationPatient is then ``[1, 0, 0, 0, 1, 0]``."""
    affine = np.diag([*spacing_mm, 1.0])
    affine[:3, 3] = np.asarray(centre_lps_mm) - (np.asarray(shape) - 1) / 2.0 * np.asarray(spacing_mm)
    return affine


def voxel_centres_anatomical(
    affine_lps: np.ndarray, shape: tuple[int, int, int], pose: Pose
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anatomical x, y, z (float32 arrays of ``shape``) of every voxel centre of a grid."""
    # anatomical = Rᵀ (A·ijk + t - origin): one affine from indices to anatomical mm.
    to_anat = np.linalg.inv(pose.matrix) @ np.asarray(affine_lps, dtype=np.float64)
    axes = [np.arange(n, dtype=np.float32) for n in shape]
    i, j, k = axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]
    coords = []
    for row in range(3):
        m = to_anat[row].astype(np.float32)
        coords.append(np.broadcast_to(m[0] * i + m[1] * j + m[2] * k + m[3], shape).copy())
    return coords[0], coords[1], coords[2]
