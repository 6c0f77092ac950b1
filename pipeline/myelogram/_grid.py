"""Axial working grid: the input array viewed with its axes permuted and flipped to the nearest LPS axes.

Scanners store volumes in any axis order (a sagittal T2 is often P-S-R on disk, an axial CT is L-P-S).
The myelogram stage works slice by slice in the patient's axial plane, so it looks at the array through
the axis permutation and flips that bring it closest to L, P, S (no resampling, so no interpolation
error: the same idea as nibabel's ``as_closest_canonical``). Masks made on this view map back exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pipeline.volume import Volume


@dataclass(frozen=True)
class AxialGrid:
    """The input volume seen as (L, P, S)-ordered axes.

    Attributes
    ----------
    array : (NL, NP, NS) ndarray
        A view of the input voxels; axis 2 runs from inferior to superior.
    spacing_mm : (3,) ndarray
        Voxel size along the view's axes.
    affine_lps : (4, 4) ndarray
        Maps view indices to LPS mm.
    permutation, flips
        How the view was made from the input array (``array = flip(transpose(input, permutation), flips)``).
    """

    array: np.ndarray
    spacing_mm: np.ndarray
    affine_lps: np.ndarray
    permutation: tuple[int, int, int]
    flips: tuple[bool, bool, bool]

    @classmethod
    def from_volume(cls, volume: Volume) -> AxialGrid:
        if volume.array.ndim != 3:
            raise ValueError(f"expected a 3-D volume, got shape {volume.array.shape}")
        direction = volume.direction_lps  # columns: array axes in LPS
        # Greedy assignment of each LPS axis to the array axis most parallel to it.
        weights = np.abs(direction)
        permutation = [-1, -1, -1]
        free = {0, 1, 2}
        for lps_axis in np.argsort(-weights.max(axis=1)):
            array_axis = max(free, key=lambda a: weights[lps_axis, a])
            permutation[int(lps_axis)] = array_axis
            free.discard(array_axis)
        flips = (
            bool(direction[0, permutation[0]] < 0),
            bool(direction[1, permutation[1]] < 0),
            bool(direction[2, permutation[2]] < 0),
        )
        perm = (permutation[0], permutation[1], permutation[2])
        array = np.transpose(volume.array, perm)
        index_affine = np.eye(4)  # view index -> input index
        index_affine[:3, :3] = 0.0
        for view_axis, (array_axis, flip) in enumerate(zip(perm, flips, strict=True)):
            if flip:
                array = np.flip(array, axis=view_axis)
                index_affine[array_axis, view_axis] = -1.0
                index_affine[array_axis, 3] = volume.array.shape[array_axis] - 1
            else:
                index_affine[array_axis, view_axis] = 1.0
        affine = volume.affine_lps @ index_affine
        return cls(
            array=array,
            spacing_mm=np.linalg.norm(affine[:3, :3], axis=0),
            affine_lps=affine,
            permutation=perm,
            flips=flips,
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.array.shape[0], self.array.shape[1], self.array.shape[2])

    def to_input(self, view_array: np.ndarray) -> np.ndarray:
        """Map an array on this view (e.g. a mask) back to the input array's axis order."""
        data = view_array
        for view_axis, flip in enumerate(self.flips):
            if flip:
                data = np.flip(data, axis=view_axis)
        inverse = np.argsort(self.permutation)
        return np.ascontiguousarray(np.transpose(data, inverse))

    def from_input(self, input_array: np.ndarray) -> np.ndarray:
        """Map an array on the input grid (e.g. a reference mask) onto this view."""
        data = np.transpose(input_array, self.permutation)
        for view_axis, flip in enumerate(self.flips):
            if flip:
                data = np.flip(data, axis=view_axis)
        return data

    @functools.cached_property
    def volume(self) -> Volume:
        """The view as a :class:`Volume`, whose index/LPS maps the grid's own maps use."""
        return Volume(self.array, self.affine_lps)

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Map view indices ``(..., 3)`` to LPS mm."""
        return self.volume.index_to_lps(ijk)

    def lps_to_index(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Map LPS mm points ``(..., 3)`` to continuous view indices."""
        return self.volume.lps_to_index(points_lps_mm)
