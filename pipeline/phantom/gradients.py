"""Diffusion gradient directions and their conventions.

Directions are spread on a hemisphere by a Fibonacci (golden-angle) lattice: deterministic, no random
state, and near-uniform for any count, which is all a tensor fit needs (a 20-direction clinical scheme,
Shepherd et al. AJNR 2017).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fibonacci_hemisphere", "fsl_bvecs_from_lps"]


def fibonacci_hemisphere(count: int) -> np.ndarray:
    """``count`` unit vectors on the upper hemisphere (z >= 0), shape (count, 3)."""
    if count < 6:
        raise ValueError(f"a tensor needs at least 6 gradient directions, got {count}")
    index = np.arange(count, dtype=np.float64) + 0.5
    z = 1.0 - index / count  # uniform in z on (0, 1): equal-area on the hemisphere
    radius = np.sqrt(1.0 - z**2)
    azimuth = np.pi * (3.0 - np.sqrt(5.0)) * index
    return np.stack([radius * np.cos(azimuth), radius * np.sin(azimuth), z], axis=1)


def fsl_bvecs_from_lps(directions_lps: np.ndarray, affine_lps: np.ndarray) -> np.ndarray:
    """Gradient directions in the FSL ``.bvec`` convention for an image with this affine.

    FSL (and dcm2niix, which writes FSL files) express b-vectors in the image's voxel axes, with the first
    axis negated when the NIfTI (RAS) affine has a positive determinant, because FSL reasons in radiological
    voxel order (FSL FDT user guide; dcm2niix ``nii_dicom_batch.c``). dipy's ``gradient_table`` uses such
    vectors directly with the voxel array.

    Parameters
    ----------
    directions_lps : (N, 3) array
        Unit gradient directions in patient LPS (the DICOM (0018,9089) frame); zero rows for b=0 stay zero.
    affine_lps : (4, 4) array
        Voxel index -> LPS mm affine of the diffusion volume.
    """
    linear = np.asarray(affine_lps, dtype=np.float64)[:3, :3]
    axes_lps = linear / np.linalg.norm(linear, axis=0)
    voxel = np.asarray(directions_lps, dtype=np.float64) @ axes_lps  # components along each voxel axis
    ras_determinant = np.linalg.det(np.diag([-1.0, -1.0, 1.0]) @ linear)
    if ras_determinant > 0:
        voxel[:, 0] = -voxel[:, 0]
    return voxel
