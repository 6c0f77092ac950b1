"""AxialGrid: any stored axis order and direction is viewed as L, P, S without resampling."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.myelogram._grid import AxialGrid
from pipeline.volume import Volume


@pytest.mark.parametrize("seed", range(12))
def test_view_is_lps_ordered_and_maps_back_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    affine = np.eye(4)
    affine[:3, :3] = 0.0
    for array_axis, (world_axis, sign) in enumerate(zip(rng.permutation(3), rng.choice([-1, 1], 3), strict=True)):
        affine[world_axis, array_axis] = sign * rng.uniform(0.3, 2.0)
    angle = np.radians(rng.uniform(-20, 20))  # an oblique acquisition, still nearest to these axes
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine[:3, :3] = rotation @ affine[:3, :3]
    affine[:3, 3] = rng.normal(size=3) * 20
    data = rng.normal(size=(5, 6, 7))
    volume = Volume(data, affine)
    grid = AxialGrid.from_volume(volume)
    # Each view axis points along +L, +P, +S (its diagonal is the largest, positive component).
    direction = grid.affine_lps[:3, :3]
    assert np.all(np.argmax(np.abs(direction), axis=0) == [0, 1, 2])
    assert np.all(np.diag(direction) > 0)
    # The same voxel sits at the same patient position in the view and in the input.
    index = np.argwhere(np.ones(grid.shape, dtype=bool))
    source = np.rint(volume.lps_to_index(grid.index_to_lps(index))).astype(int)
    np.testing.assert_array_equal(grid.array[tuple(index.T)], data[tuple(source.T)])
    np.testing.assert_array_equal(grid.to_input(grid.array), data)
    np.testing.assert_array_equal(grid.from_input(data), grid.array)
