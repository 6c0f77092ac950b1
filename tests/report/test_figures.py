"""Reformats along the planned path: planes in the anatomical frame, sampled through the Volume affine."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.report import figures
from pipeline.volume import Volume


def _rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.radians(angle_deg)
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def _case(seed: int) -> tuple[dict, dict, Volume, np.ndarray]:
    """A rotated anatomical frame, a path in it, and a CT whose voxels encode LPS x (so sampling is checkable)."""
    rng = np.random.default_rng(seed)
    rotation = _rotation(rng.normal(size=3), float(rng.uniform(5, 25)))
    left, posterior, superior = rotation.T
    frame = {
        "left_lps": left.tolist(),
        "posterior_lps": posterior.tolist(),
        "superior_lps": superior.tolist(),
    }
    target = np.array([3.0, 20.0, -90.0]) + rng.normal(scale=2.0, size=3)
    tilt = _rotation(superior, float(rng.uniform(-10, 10))) @ _rotation(posterior, float(rng.uniform(-8, 8)))
    direction = -(tilt @ left)  # skin -> target, from the left side towards the midline
    skin = target - 55.0 * direction
    plan = {
        "direction_lps": direction.tolist(),
        "target_lps_mm": target.tolist(),
        "skin_entry_lps_mm": skin.tolist(),
        "pial_entry_lps_mm": (target - 3.0 * direction).tolist(),
        "dentate_ligament_lps_mm": (target - 3.0 * direction + 1.5 * posterior).tolist(),
    }
    # an oblique CT grid (1.1 mm voxels, rotated axes) whose value is the LPS x coordinate of the voxel
    grid_rotation = _rotation(rng.normal(size=3), float(rng.uniform(0, 20)))
    n = 120
    affine = np.eye(4)
    affine[:3, :3] = grid_rotation * 1.1
    affine[:3, 3] = target - grid_rotation @ np.full(3, 1.1 * n / 2)
    i, j, k = np.meshgrid(*(np.arange(n, dtype=np.float32),) * 3, indexing="ij", sparse=True)
    x = (affine[0, 0] * i + affine[0, 1] * j + affine[0, 2] * k + affine[0, 3]).astype(np.float32)
    return plan, frame, Volume(x, affine), target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planes_hold_the_path_in_the_anatomical_frame(seed: int) -> None:
    plan, frame, _, target = _case(seed)
    axial, coronal, sagittal = figures.planes_along_path(plan, frame)
    skin = np.asarray(plan["skin_entry_lps_mm"])
    direction = np.asarray(plan["direction_lps"])
    for plane in (axial, coronal):
        normal = np.cross(plane.column_lps, plane.row_lps)
        # the whole needle lies in the axial and coronal planes
        assert abs(np.dot(skin - plane.centre_lps_mm, normal)) < 1e-9
        assert abs(np.dot(target - plane.centre_lps_mm, normal)) < 1e-9
        # radiological display: patient left on the viewer's right
        assert np.dot(plane.column_lps, frame["left_lps"]) > 0.9
    assert np.dot(axial.row_lps, frame["posterior_lps"]) > 0.9  # anterior up
    assert np.dot(coronal.row_lps, frame["superior_lps"]) < -0.9  # superior up
    # sagittal: perpendicular to the needle, anterior on the left, superior up
    assert abs(np.dot(sagittal.column_lps, direction)) < 1e-9
    assert abs(np.dot(sagittal.row_lps, direction)) < 1e-9
    assert np.dot(sagittal.column_lps, frame["posterior_lps"]) > 0.9
    assert np.dot(sagittal.row_lps, frame["superior_lps"]) < -0.9
    # the target and the skin entry project inside the images
    for plane in (axial, coronal):
        pixels = plane.to_pixels(np.stack([skin, target]))
        assert (pixels >= 0).all()
        assert (pixels <= plane.size - 1).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_reformat_samples_the_volume_at_the_planes_lps_points(seed: int) -> None:
    plan, frame, volume, _ = _case(seed)
    for plane in figures.planes_along_path(plan, frame):
        sampled = figures._sample(volume, plane, order=1, cval=np.nan)
        expected = plane.points_lps_mm()[..., 0]
        inside = np.isfinite(sampled) & (np.abs(sampled) > 0)
        assert inside.mean() > 0.5
        # trilinear interpolation of a linear field is exact (float32 voxels)
        assert np.abs(sampled[inside] - expected[inside]).max() < 1e-3


def test_reformat_figure_renders_labels_only_without_ct() -> None:
    plan, frame, volume, target = _case(0)
    labels = np.zeros(volume.shape, dtype=np.uint8)
    centre = np.rint(volume.lps_to_index(target)).astype(int)
    labels[tuple(slice(c - 6, c + 7) for c in centre)] = 2
    png = figures.path_reformats(plan, frame, volume.with_array(labels), None, arteries_estimated=True)
    assert png.startswith(b"\x89PNG")
