"""Axial working grid: the input array viewed with its axes permuted and flipped to the nearest LPS axes.

Scanners store volumes in any axis order (a sagittal T2 is often P-S-R on disk, an axial CT is L-P-S).
The myelogram stage works slice by slice in the patient's axial plane, so it looks at the array through
the axis permutation and flips that bring it closest to L, P, S (no resampling, so no interpolation
error), with nibabel's orientation functions. Masks made on this view map back exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

from pipeline.volume import Volume

_IDENTITY = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)


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
    orientation : (3, 2) ndarray
        nibabel orientation of the input axes in the LPS world (``io_orientation``): the view is
        ``apply_orientation(input, orientation)``.
    """

    array: np.ndarray
    spacing_mm: np.ndarray
    affine_lps: np.ndarray
    orientation: np.ndarray

    @classmethod
    def from_volume(cls, volume: Volume) -> AxialGrid:
        if volume.array.ndim != 3:
            raise ValueError(f"expected a 3-D volume, got shape {volume.array.shape}")
        # io_orientation is world-agnostic: with an LPS affine, "increasing world axis k" is L, P, S.
        orientation = io_orientation(volume.affine_lps)
        array = apply_orientation(volume.array, orientation)
        affine = volume.affine_lps @ inv_ornt_aff(orientation, volume.array.shape)
        return cls(
            array=array,
            spacing_mm=np.linalg.norm(affine[:3, :3], axis=0),
            affine_lps=affine,
            orientation=orientation,
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.array.shape[0], self.array.shape[1], self.array.shape[2])

    def to_input(self, view_array: np.ndarray) -> np.ndarray:
        """Map an array on this view (e.g. a mask) back to the input array's axis order."""
        back = ornt_transform(_IDENTITY, self.orientation)
        return np.ascontiguousarray(apply_orientation(view_array, back))

    def from_input(self, input_array: np.ndarray) -> np.ndarray:
        """Map an array on the input grid (e.g. a reference mask) onto this view."""
        return np.asarray(apply_orientation(input_array, self.orientation))

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
