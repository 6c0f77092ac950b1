"""Transverse foramina of a vertebra whose ring is closed in-plane around a cord displaced in the canal.

The foramina are the enclosed holes lateral to the canal; a closed ring encloses the canal too, and on the
side the cord leaves the canal reaches past the lateral cut-off. Ground truth: the generator's foramen
centres.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.myelogram._grid import AxialGrid
from pipeline.myelogram.bone import _CordAxes, _foramina
from pipeline.volume import Volume

SPACING_MM = (0.5, 0.5, 1.0)
FORAMEN_X_MM = 27.0  # LPS x: + is the patient's left


def _ring_vertebra(canal_radius_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed ring (the arches and lateral masses) around the canal, and a small bone ring enclosing each
    transverse foramen (radius 3 mm) at x = +-FORAMEN_X_MM; 10 slices. Returns the mask and its affine."""
    half = 36.0
    affine = np.diag([*SPACING_MM, 1.0])
    affine[:3, 3] = (-half, -half, -5.0)
    x = -half + SPACING_MM[0] * np.arange(int(2 * half / SPACING_MM[0]) + 1)
    gx, gy = np.meshgrid(x, x, indexing="ij")
    radius = np.hypot(gx, gy)
    plane = (radius > canal_radius_mm) & (radius < canal_radius_mm + 6.0)
    for centre in (FORAMEN_X_MM, -FORAMEN_X_MM):
        around = np.hypot(gx - centre, gy)
        plane |= (around > 3.0) & (around < 5.0)
    return np.repeat(plane[:, :, None], 10, axis=2), affine


@pytest.mark.parametrize("canal_radius_mm", [12.0, 14.0])
@pytest.mark.parametrize("cord_x_mm", [-3.0, 0.0, 3.0])
def test_foramina_are_not_pulled_onto_the_canal(canal_radius_mm: float, cord_x_mm: float) -> None:
    """A cord 3 mm off the canal's centre leaves the canal reaching 15-17 mm from it on the far side; the
    foramina stay at the generator's centres (within 0.3 mm). Before, the canal's voxels past the
    cut-off moved the foramen on that side 5 mm medially here (8 mm on the cord-displaced variant's C1
    once its ring closed)."""
    piece, affine = _ring_vertebra(canal_radius_mm)
    grid = AxialGrid.from_volume(Volume(piece.astype(np.uint8), affine))
    centerline = np.array([[cord_x_mm, 0.0, z] for z in np.arange(-5.0, 5.0)])
    axes = _CordAxes(centerline, np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0]))
    found = _foramina(piece, grid, axes)
    assert set(found) == {"left", "right"}
    for side, x in (("left", FORAMEN_X_MM), ("right", -FORAMEN_X_MM)):
        error_mm = float(np.hypot(found[side][0] - x, found[side][1]))
        assert error_mm <= 0.3, (side, round(error_mm, 2))
