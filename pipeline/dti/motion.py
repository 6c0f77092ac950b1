"""Rigid motion correction of diffusion volumes, with the gradient directions rotated to match.

Each volume is registered rigidly (SimpleITK ``Euler3DTransform``) to the mean b0 and resampled onto its
grid. Mattes mutual information is the metric because diffusion weighting changes the contrast (CSF is
bright on b0 and dark at b = 1000 s/mm²).

Why the b-vectors must turn too (Leemans & Jones, Magn Reson Med 2009;61:1336-1349): if the head was
rotated by ``Q`` while volume *i* was acquired, the tissue saw the scanner gradient ``g`` as ``Qᵀg`` in
the reference pose. The registration transform maps reference points to volume-*i* points,
``p_i = A p_ref + t``, so ``A`` estimates ``Q`` and the gradient to fit with is ``Aᵀg`` (in LPS). FSL
b-vectors are converted to LPS and back through the image axes (with FSL's first-axis flip).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from pipeline.volume import Volume

SHRINK_FACTORS = (2, 1)
SMOOTHING_SIGMAS_MM = (1.0, 0.0)
HISTOGRAM_BINS = 32
ITERATIONS = 200


@dataclass(frozen=True)
class MotionCorrection:
    """Corrected series and the transforms found.

    Attributes
    ----------
    volume : Volume
        4-D series resampled onto the reference (mean b0) grid.
    bvecs : (N, 3) ndarray
        Gradient directions rotated into the reference pose (FSL convention).
    rotations_lps : (N, 3, 3) ndarray
        Rotation ``A`` of each volume (reference -> volume); identity for b0 volumes.
    translations_mm : (N, 3) ndarray
        Translation of each volume (LPS mm).
    """

    volume: Volume
    bvecs: np.ndarray
    rotations_lps: np.ndarray
    translations_mm: np.ndarray

    @property
    def rotation_deg(self) -> np.ndarray:
        """Rotation angle of each volume, degrees."""
        cosine = (np.trace(self.rotations_lps, axis1=1, axis2=2) - 1.0) / 2.0
        return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _fsl_to_lps(affine_lps: np.ndarray) -> np.ndarray:
    """Matrix taking FSL b-vectors (voxel axes, first flipped if det(RAS) > 0) to LPS directions."""
    linear = np.asarray(affine_lps, dtype=np.float64)[:3, :3]
    axes = linear / np.linalg.norm(linear, axis=0)
    flip = np.eye(3)
    if np.linalg.det(np.diag([-1.0, -1.0, 1.0]) @ linear) > 0:
        flip[0, 0] = -1.0
    return axes @ flip


def rotate_bvecs(bvecs: np.ndarray, rotations_lps: np.ndarray, affine_lps: np.ndarray) -> np.ndarray:
    """Gradient directions seen by the tissue in the reference pose: ``g' = Aᵀ g`` in LPS.

    Parameters
    ----------
    bvecs : (N, 3) ndarray
        FSL-convention directions of the image with ``affine_lps``.
    rotations_lps : (N, 3, 3) ndarray
        Rotation of each volume, reference -> volume (the registration transform's matrix).
    """
    to_lps = _fsl_to_lps(affine_lps)
    lps = np.asarray(bvecs, dtype=np.float64) @ to_lps.T
    turned = np.einsum("nji,nj->ni", rotations_lps, lps)  # Aᵀ g
    return turned @ np.linalg.inv(to_lps).T


def _register(fixed: sitk.Image, moving: sitk.Image) -> sitk.Euler3DTransform:
    initial = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    method.SetMetricSamplingStrategy(method.NONE)  # all voxels: deterministic
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=ITERATIONS, relaxationFactor=0.6
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    method.SetSmoothingSigmasPerLevel(list(SMOOTHING_SIGMAS_MM))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    result = method.Execute(fixed, moving)
    composite = sitk.CompositeTransform(result)
    euler = sitk.Euler3DTransform()
    euler.SetCenter(initial.GetCenter())
    # Flatten the (possibly composite) result into one Euler transform about the same centre.
    probe = np.array(initial.GetCenter())
    matrix = np.column_stack(
        [
            np.array(composite.TransformPoint(tuple(probe + e)))
            - np.array(composite.TransformPoint(tuple(probe)))
            for e in np.eye(3)
        ]
    )
    euler.SetMatrix(tuple(matrix.ravel()))
    euler.SetTranslation(tuple(np.array(composite.TransformPoint(tuple(probe))) - probe))
    return euler


def correct_motion(
    volume: Volume, bvals_s_mm2: np.ndarray, bvecs: np.ndarray, b0_mask: np.ndarray
) -> MotionCorrection:
    """Register every volume to the mean b0 and rotate its gradient direction accordingly.

    Loops over volumes (a few tens), never over voxels.
    """
    data = np.asarray(volume.array, dtype=np.float32)
    reference = volume.with_array(data[..., b0_mask].mean(axis=-1))
    fixed = reference.to_sitk()
    n = data.shape[-1]
    rotations = np.tile(np.eye(3), (n, 1, 1))
    translations = np.zeros((n, 3))
    corrected = np.empty_like(data)
    for index in range(n):
        moving = reference.with_array(data[..., index]).to_sitk()
        transform = _register(fixed, moving)
        matrix = np.array(transform.GetMatrix()).reshape(3, 3)
        rotations[index] = matrix
        translations[index] = np.array(transform.GetTranslation())
        resampled = sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        corrected[..., index] = sitk.GetArrayFromImage(resampled).transpose(2, 1, 0)
    turned = rotate_bvecs(bvecs, rotations, volume.affine_lps)
    turned[np.asarray(bvals_s_mm2) <= 0] = 0.0
    return MotionCorrection(
        volume=volume.with_array(corrected, motion_corrected=True),
        bvecs=turned,
        rotations_lps=rotations,
        translations_mm=translations,
    )
