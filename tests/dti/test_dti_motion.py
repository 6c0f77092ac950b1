"""Motion correction: known head rotations are found and the gradient directions turned with them.

The test series is a textured neck-like slab (smooth random S0 and isotropic diffusivity, as muscle and
fat give a real DWI its registration features) around an anisotropic cord-like ellipsoid whose fibres
run in-plane, so that a rotation about the slice axis changes what each gradient sees.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from pipeline.dti import fit_tensors
from pipeline.dti.motion import correct_motion, fsl_to_lps, rotate_bvecs
from pipeline.errors import AnalysisError
from pipeline.phantom.dwi import make_dwi_phantom
from pipeline.volume import Volume

SHAPE = (48, 48, 16)
SPACING_MM = (1.0, 1.0, 2.0)
SNR = 30.0
CORD_EVALS = np.array([1.7e-3, 0.4e-3, 0.4e-3])  # fibres along LPS x


def _rotation_z(degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    return np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])


def _directions(n: int = 20) -> np.ndarray:
    k = np.arange(n) + 0.5
    z = 1 - k / n
    r = np.sqrt(1 - z * z)
    phi = np.pi * (3 - np.sqrt(5)) * k
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _moving_series(angles_deg: np.ndarray, seed: int = 11):
    """Volume i acquired with the head turned by angles_deg[i] about the slice axis.

    Physically consistent: in the reference pose the tissue sees the gradient Qᵀg (Leemans & Jones
    2009), and the image of volume i is the reference-pose image rotated by Q about the centre.
    Returns the series, b-values, scanner b-vectors, the b-vectors the tissue saw, and the cord core.
    """
    rng = np.random.default_rng(seed)
    affine = np.diag([*SPACING_MM, 1.0])
    affine[:3, 3] = -(np.array(SHAPE) - 1) / 2 * np.array(SPACING_MM)
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij"), -1)
    points = grid @ affine[:3, :3].T + affine[:3, 3]
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    body = (x / 21) ** 2 + (y / 18) ** 2 <= 1
    cord = (x / 7) ** 2 + (y / 4) ** 2 + (z / 12) ** 2 <= 1
    texture = ndimage.gaussian_filter(rng.normal(size=SHAPE), (2, 2, 1))
    s0 = np.where(body, 700 + 250 * texture / texture.std(), 0.0)
    md = np.clip(1.2e-3 + 4e-3 * ndimage.gaussian_filter(rng.normal(size=SHAPE), (2, 2, 1)), 0.3e-3, 3e-3)
    tensors = np.where(body, md, 0.0)[..., None, None] * np.eye(3)
    tensors[cord] = np.diag(CORD_EVALS)
    s0[cord] = 1000.0
    directions = np.r_[np.zeros((2, 3)), _directions()]
    bvals = np.r_[0.0, 0.0, np.full(20, 1000.0)]
    reference = Volume(s0, affine)
    images, seen = [], np.zeros_like(directions)
    for index, (g, b, angle) in enumerate(zip(directions, bvals, angles_deg, strict=True)):
        q = _rotation_z(angle)
        seen[index] = q.T @ g
        signal = s0 * np.exp(-b * np.einsum("i,...ij,j->...", seen[index], tensors, seen[index]))
        image = reference.with_array(signal.astype(np.float32)).to_sitk()
        turn = sitk.Euler3DTransform()
        turn.SetCenter((0.0, 0.0, 0.0))
        turn.SetMatrix(tuple(q.T.ravel()))  # output point p samples the reference at Qᵀp
        moved = sitk.GetArrayFromImage(sitk.Resample(image, image, turn, sitk.sitkLinear, 0.0)).transpose(
            2, 1, 0
        )
        noise = 1000.0 / SNR
        images.append(np.hypot(moved + rng.normal(0, noise, SHAPE), rng.normal(0, noise, SHAPE)))
    to_fsl = np.linalg.inv(fsl_to_lps(affine)).T
    core = (x / 5) ** 2 + (y / 2.5) ** 2 + (z / 9) ** 2 <= 1
    return (
        Volume(np.stack(images, -1).astype(np.float32), affine),
        bvals,
        directions @ to_fsl,
        seen @ to_fsl,
        core,
    )


def test_rotate_bvecs_applies_the_transpose_in_lps() -> None:
    affine = np.diag([-0.8, 0.8, 4.0, 1.0])  # axis 0 runs to the patient's right: FSL x is not flipped
    to_lps = fsl_to_lps(affine)
    g_lps = np.array([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    rotation = _rotation_z(10.0)
    turned = rotate_bvecs(g_lps @ np.linalg.inv(to_lps).T, np.stack([rotation, rotation]), affine)
    np.testing.assert_allclose(turned @ to_lps.T, g_lps @ rotation, atol=1e-12)  # rows: (Aᵀg)ᵀ = gᵀA


@pytest.mark.slow
def test_known_rotations_are_recovered_and_directions_turned() -> None:
    """The head turned by about 5 degrees after the b0s (plus ±1 degree between volumes)."""
    angles = np.r_[0.0, 0.0, 5.0 + np.random.default_rng(7).uniform(-1.0, 1.0, 20)]
    series, bvals, bvecs, seen, core = _moving_series(angles)
    corrected = correct_motion(series, bvals, bvecs, bvals < 50)
    np.testing.assert_allclose(corrected.rotation_deg, np.abs(angles), atol=0.5)
    weighted = bvals > 0
    cosine = np.abs(np.sum(corrected.bvecs[weighted] * seen[weighted], axis=1))
    assert np.degrees(np.arccos(np.clip(cosine, -1, 1))).max() < 0.5
    # Fitted with the turned directions the cord's fibres point where they are in the reference pose
    # (LPS x); fitted with the scanner's directions they come out turned by the head's rotation.
    fibre_fsl = np.array([1.0, 0.0, 0.0]) @ np.linalg.inv(fsl_to_lps(series.affine_lps)).T

    def fibre_error_deg(directions: np.ndarray) -> float:
        v1 = fit_tensors(corrected.volume.array, bvals, directions, mask=core).principal_eigenvector[core]
        return float(np.degrees(np.arccos(np.clip(np.median(np.abs(v1 @ fibre_fsl)), -1, 1))))

    assert fibre_error_deg(corrected.bvecs) < 1.5
    assert fibre_error_deg(bvecs) > 3.5


def test_implausible_registration_is_refused() -> None:
    """The cord phantom's diffusion-weighted images share almost no edge with its b0 (CSF and tissue
    look alike at b = 1000): the registration wanders, and the stage says so instead of applying it."""
    phantom = make_dwi_phantom(matrix=(40, 40, 6))
    with pytest.raises(AnalysisError, match="motion correction failed on volume"):
        correct_motion(phantom.volume, phantom.bvals_s_mm2, phantom.bvecs, phantom.bvals_s_mm2 < 50)
