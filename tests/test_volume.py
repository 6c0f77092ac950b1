"""Volume geometry: round trips through NIfTI (RAS) and SimpleITK (LPS) keep voxels and world positions."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from pipeline.volume import Volume


def _oblique_volume() -> Volume:
    rng = np.random.default_rng(0)
    angle = np.deg2rad(17.0)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.4, 0.45, 0.8])
    affine[:3, 3] = [-30.0, 12.5, 100.0]
    return Volume(rng.normal(size=(7, 6, 5)).astype(np.float32), affine)


def test_index_world_round_trip() -> None:
    volume = _oblique_volume()
    ijk = np.array([[0, 0, 0], [6, 5, 4], [1.5, 2.25, 3.0]])
    np.testing.assert_allclose(volume.lps_to_index(volume.index_to_lps(ijk)), ijk, atol=1e-12)
    np.testing.assert_allclose(volume.spacing_mm, [0.4, 0.45, 0.8])


def test_nifti_is_ras_and_round_trips(tmp_path) -> None:
    volume = _oblique_volume()
    path = tmp_path / "v.nii.gz"
    nib.save(volume.to_nifti(), path)
    image = nib.load(path)
    # voxel (1,2,3) in RAS is the LPS point with x and y negated
    lps = volume.index_to_lps(np.array([1, 2, 3]))
    ras = image.affine @ np.array([1, 2, 3, 1.0])
    np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-5)
    assert int(image.header["sform_code"]) == 1
    assert int(image.header["qform_code"]) == 1
    back = Volume.from_nifti(path)
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.affine_lps, volume.affine_lps, atol=1e-5)


def test_sitk_round_trip_keeps_geometry() -> None:
    volume = _oblique_volume()
    image = volume.to_sitk()
    # SimpleITK's own index->point mapping must agree with ours
    point = image.TransformContinuousIndexToPhysicalPoint((1.0, 2.0, 3.0))
    np.testing.assert_allclose(point, volume.index_to_lps(np.array([1.0, 2.0, 3.0])), atol=1e-9)
    assert image.GetPixel(1, 2, 3) == pytest.approx(float(volume.array[1, 2, 3]))
    back = Volume.from_sitk(image)
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.affine_lps, volume.affine_lps, atol=1e-12)


def test_resample_to_shifted_grid_matches_known_values() -> None:
    # a linear ramp is reproduced exactly by trilinear interpolation at any point inside the grid
    i, j, k = np.meshgrid(np.arange(10), np.arange(9), np.arange(8), indexing="ij")
    volume = Volume((2.0 * i + 3.0 * j - k).astype(np.float32), np.diag([1.0, 1.0, 1.0, 1.0]))
    target = np.eye(4)
    target[:3, 3] = [0.5, 0.25, 1.0]
    out = volume.resample_to(target, (5, 5, 5))
    ii, jj, kk = np.meshgrid(np.arange(5) + 0.5, np.arange(5) + 0.25, np.arange(5) + 1.0, indexing="ij")
    np.testing.assert_allclose(out.array, 2 * ii + 3 * jj - kk, atol=1e-4)
