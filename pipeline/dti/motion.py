"""Rigid motion correction of diffusion volumes, with the gradient directions rotated to match.

Each volume is registered rigidly (SimpleITK ``Euler3DTransform``) to the mean b0 and resampled onto its
grid. Mattes mutual information is the metric because diffusion weighting changes the contrast (CSF is
bright on b0 and dark at b = 1000 s/mm²); all voxels are used (no random sampling), so the result is
deterministic.

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

from pipeline.errors import AnalysisError
from pipeline.volume import Volume

HISTOGRAM_BINS = 32
MAX_ITERATIONS = 300
MAX_ROTATION_DEG = 15.0
MAX_TRANSLATION_MM = 15.0
"""Head motion within one DWI series is a few degrees and millimetres; a transform beyond these limits
means the registration failed (too little shared structure between the volume and the b0), not that
the patient turned that far, so it is refused rather than applied."""


@dataclass(frozen=True)
class MotionCorrection:
    """Corrected series and the transforms found.

    Attributes
    ----------
    volume : Volume
        4-D series resampled onto the reference (mean b0) grid.
    bvecs : (N, 3) ndarray
        Gradient directions rotated into the reference pose (FSL convention; zero rows for b0).
    rotations_lps : (N, 3, 3) ndarray
        Rotation ``A`` of each volume (reference -> volume).
    translations_mm : (N, 3) ndarray
        Translation of each volume (LPS mm): ``p_i = A p_ref + t``.
    """

    volume: Volume
    bvecs: np.ndarray
    rotations_lps: np.ndarray
    translations_mm: np.ndarray

    @property
    def rotation_deg(self) -> np.ndarray:
        """Rotation angle of each volume, degrees."""
        return _rotation_angle_deg(self.rotations_lps)


def _rotation_angle_deg(rotations: np.ndarray) -> np.ndarray:
    """Angle of (..., 3, 3) rotation matrices, degrees (trace = 1 + 2 cos θ)."""
    cosine = (np.trace(rotations, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def fsl_to_lps(affine_lps: np.ndarray) -> np.ndarray:
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
    to_lps = fsl_to_lps(affine_lps)
    lps = np.asarray(bvecs, dtype=np.float64) @ to_lps.T
    turned = np.einsum("nji,nj->ni", rotations_lps, lps)  # Aᵀ g
    return turned @ np.linalg.inv(to_lps).T


def _register(fixed: sitk.Image, moving: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Rigid transform ``p -> A p + t`` (LPS) mapping fixed-image points to moving-image points.

    The rotation parameters (radians) are scaled by a radius of the field of view (mm), the lever arm
    that turns a rotation into a shift, so one optimizer step moves rotations and translations alike.
    """
    initial = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    method.SetMetricSamplingStrategy(method.NONE)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0,
        minStep=1e-4,
        numberOfIterations=MAX_ITERATIONS,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    extent_mm = np.array(fixed.GetSize()) * np.array(fixed.GetSpacing())
    radius_mm = 0.25 * float(np.linalg.norm(extent_mm))
    method.SetOptimizerScales([radius_mm] * 3 + [1.0] * 3)
    method.SetInitialTransform(initial, inPlace=True)
    method.Execute(fixed, moving)
    centre = np.array(initial.GetCenter())
    matrix = np.array(initial.GetMatrix()).reshape(3, 3)
    # Euler transform: T(p) = A (p - c) + c + t = A p + (c + t - A c).
    translation = centre + np.array(initial.GetTranslation()) - matrix @ centre
    return matrix, translation


def correct_motion(
    volume: Volume, bvals_s_mm2: np.ndarray, bvecs: np.ndarray, b0_mask: np.ndarray
) -> MotionCorrection:
    """Register every volume to the mean b0 and rotate its gradient direction accordingly.

    Loops over volumes (a few tens), never over voxels.
    """
    data = np.asarray(volume.array, dtype=np.float32)
    b0 = np.asarray(b0_mask, dtype=bool)
    reference = volume.with_array(data[..., b0].mean(axis=-1))
    fixed = reference.to_sitk()
    centre = reference.index_to_lps((np.array(reference.shape) - 1) / 2.0)  # displacement measured here
    n = data.shape[-1]
    rotations = np.tile(np.eye(3), (n, 1, 1))
    translations = np.zeros((n, 3))
    corrected = np.empty_like(data)
    for index in range(n):
        moving = reference.with_array(data[..., index]).to_sitk()
        rotations[index], translations[index] = _register(fixed, moving)
        angle = float(_rotation_angle_deg(rotations[index]))
        shift = float(np.linalg.norm(rotations[index] @ centre + translations[index] - centre))
        if angle > MAX_ROTATION_DEG or shift > MAX_TRANSLATION_MM:
            raise AnalysisError(
                f"motion correction failed on volume {index + 1}: registration to the mean b0 gave an "
                f"implausible {angle:.0f} degree rotation / {shift:.0f} mm shift (limits {MAX_ROTATION_DEG:g} "
                f"degrees, {MAX_TRANSLATION_MM:g} mm); the images share too little structure; run without "
                "--motion-correction"
            )
        transform = sitk.AffineTransform(3)
        transform.SetMatrix(tuple(rotations[index].ravel()))
        transform.SetTranslation(tuple(translations[index]))
        resampled = sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        corrected[..., index] = Volume.from_sitk(resampled).array
    turned = rotate_bvecs(bvecs, rotations, volume.affine_lps)
    turned[b0 | (np.asarray(bvals_s_mm2) <= 0)] = 0.0
    return MotionCorrection(
        volume=volume.with_array(corrected, note="motion corrected (rigid, to the mean b0)"),
        bvecs=turned,
        rotations_lps=rotations,
        translations_mm=translations,
    )
