"""Independent anatomical check: where a planned target falls in the PAM50 white-matter atlas at C2.

PAM50 (De Leener et al. NeuroImage 2018; ``../shared/data/PAM50``) is a 0.5 mm template in LAS
orientation: array axis 0 increases towards the patient's left, axis 1 towards anterior, axis 2 towards
superior (read from the NIfTI affine, not assumed). C2 spans z 908-938. Its tract atlas gives, per voxel,
the fraction of each tract (``atlas/info_label.txt``: 12/13 left/right spinal lemniscus, i.e. the
spinothalamic tract; 4/5 left/right lateral corticospinal tract).

A point of our plan is mapped by scaling the cord outline: in the cord's own frame (centroid; left and
posterior axes of the anatomical frame) the point's normalised radius (its distance from the centroid over
the outline's distance in the same direction, after scaling each axis by the cord's half-diameters) is
carried to the same direction in the PAM50 cord, whose outline comes from the atlas's cord (sum of all
tract and grey-matter labels) on the C2 slice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

C2_SLICES = (908, 938)
LABELS = {"spinal_lemniscus": (12, 13), "lateral_corticospinal": (4, 5)}
N_CORD_LABELS = 36  # 0-35: white-matter tracts and grey-matter regions (36 is the CSF contour)
N_DIRECTIONS = 360


@dataclass(frozen=True)
class Pam50Slice:
    """One axial PAM50 slice in mm (x towards the patient's left, y towards posterior)."""

    fractions: np.ndarray  # (36, I, J) tract/grey-matter fractions
    x_mm: np.ndarray  # (I,) left coordinate of each index along axis 0
    y_mm: np.ndarray  # (J,) posterior coordinate along axis 1
    centroid_mm: np.ndarray
    half_axes_mm: np.ndarray  # (half transverse, half AP)
    outline_radius: np.ndarray  # (N_DIRECTIONS,) normalised outline radius by direction


@functools.cache
def load_pam50_slice(root: str, z: int) -> Pam50Slice:
    folder = Path(root) / "atlas"
    first = nib.load(str(folder / "PAM50_atlas_00.nii.gz"))
    codes = nib.aff2axcodes(first.affine)
    stack = np.stack(
        [
            np.asarray(
                nib.load(str(folder / f"PAM50_atlas_{i:02d}.nii.gz")).dataobj[:, :, z], dtype=np.float64
            )
            for i in range(N_CORD_LABELS)
        ]
    )
    # Millimetre coordinates of the array axes, signed so that x is left and y posterior.
    spacing = np.abs(np.diag(first.affine)[:2])
    x_mm = np.arange(stack.shape[1]) * spacing[0] * (1.0 if codes[0] == "L" else -1.0)
    y_mm = np.arange(stack.shape[2]) * spacing[1] * (1.0 if codes[1] == "P" else -1.0)
    if codes[0] not in "LR" or codes[1] not in "AP":
        raise ValueError(f"PAM50 slice axes are {codes[:2]}, expected an axial L/R x A/P layout")
    cord = stack.sum(axis=0)
    mask = cord >= 0.5
    gx, gy = np.meshgrid(x_mm, y_mm, indexing="ij")
    centroid = np.array([(gx * cord).sum() / cord.sum(), (gy * cord).sum() / cord.sum()])
    edge = mask & ~ndimage.binary_erosion(mask)
    points = np.stack([gx[edge], gy[edge]], axis=1)
    half = 0.5 * (np.ptp(points, axis=0) + spacing)
    return Pam50Slice(stack, x_mm, y_mm, centroid, half, _outline_radius(cord, x_mm, y_mm, centroid, half))


def _outline_radius(
    cord: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, centroid: np.ndarray, half: np.ndarray
) -> np.ndarray:
    """Normalised radius of the 0.5 iso-line of the cord fraction, per direction (sub-voxel)."""
    angles = np.linspace(0.0, 2 * np.pi, N_DIRECTIONS, endpoint=False)
    rho = np.linspace(0.0, 1.6, 801)
    u = np.cos(angles)[:, None] * rho[None, :]
    v = np.sin(angles)[:, None] * rho[None, :]
    values = _interpolate(cord, x_mm, y_mm, centroid[0] + u * half[0], centroid[1] + v * half[1])
    inside = values >= 0.5
    last = inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)
    return rho[np.minimum(last + 1, len(rho) - 1)]


def _interpolate(
    image: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    i = (x - x_mm[0]) / (x_mm[1] - x_mm[0])
    j = (y - y_mm[0]) / (y_mm[1] - y_mm[0])
    return ndimage.map_coordinates(image, [i.ravel(), j.ravel()], order=1, mode="constant").reshape(x.shape)


def outline_radius_of(outline_xy: np.ndarray, centroid: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Normalised radius per direction of a closed outline (our planning-plane pia)."""
    rel = (outline_xy - centroid) / half
    angle = np.mod(np.arctan2(rel[:, 1], rel[:, 0]), 2 * np.pi)
    radius = np.hypot(rel[:, 0], rel[:, 1])
    order = np.argsort(angle)
    grid = np.linspace(0.0, 2 * np.pi, N_DIRECTIONS, endpoint=False)
    return np.interp(grid, angle[order], radius[order], period=2 * np.pi)


def map_to_pam50(
    point_xy: np.ndarray, outline_xy: np.ndarray, atlas: Pam50Slice
) -> tuple[np.ndarray, dict[str, float]]:
    """A point of our cord section (frame mm: x left, y posterior) in PAM50 mm, and the atlas fractions there.

    Returns the PAM50 point and ``{"left_spinal_lemniscus": f, ..., "argmax": label id}``.
    """
    ours_centroid = outline_xy.mean(axis=0)
    ours_half = 0.5 * np.ptp(outline_xy, axis=0)
    ours_radius = outline_radius_of(outline_xy, ours_centroid, ours_half)
    rel = (np.asarray(point_xy, dtype=np.float64) - ours_centroid) / ours_half
    angle = float(np.mod(np.arctan2(rel[1], rel[0]), 2 * np.pi))
    grid = np.linspace(0.0, 2 * np.pi, N_DIRECTIONS, endpoint=False)
    fraction = float(np.hypot(*rel)) / float(np.interp(angle, grid, ours_radius, period=2 * np.pi))
    target_radius = fraction * float(np.interp(angle, grid, atlas.outline_radius, period=2 * np.pi))
    mapped = atlas.centroid_mm + target_radius * np.array([np.cos(angle), np.sin(angle)]) * atlas.half_axes_mm
    values = np.array(
        [
            _interpolate(
                atlas.fractions[k], atlas.x_mm, atlas.y_mm, np.array([mapped[0]]), np.array([mapped[1]])
            )[0]
            for k in range(N_CORD_LABELS)
        ]
    )
    result = {
        "left_spinal_lemniscus": float(values[12]),
        "right_spinal_lemniscus": float(values[13]),
        "left_lateral_corticospinal": float(values[4]),
        "right_lateral_corticospinal": float(values[5]),
        "argmax": float(np.argmax(values)),
        "max": float(values.max()),
    }
    return mapped, result
