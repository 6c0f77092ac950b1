"""MRI-like cord phantoms with known truth, and augmentations of a real MRI with its manual cord mask.

Used to check that the MRI cord segmentation generalises (benchmarks/cord_mri.py, tests/myelogram):

* :func:`make_mri_cord_phantom`: a random member of a family of cervical-cord MRI phantoms. Cord and dural
  sac are ellipses whose sizes are drawn around the PAM50 cervical figures (cord area ~50-110 mm², AP
  6-9 mm, transverse 9-14 mm; sac 150-300 mm²), on a curved, tilted centerline, in a bony canal with
  epidural fat and muscle; T2 (CSF bright), T2* (CSF bright, grey matter brighter than white), MT and T1
  (CSF dark, fat bright) tissue levels; axial or sagittal acquisition with thick slices (partial volume
  by supersampling), Rician noise and a multiplicative bias field. Truth: voxels at least half cord.
* :func:`thick_slices`, :func:`crop_slab`, :func:`apply_bias_field`, :func:`add_lesion`: the
  augmentations of a real image (resampled to thick slices, a short slab, a bias field, a lesion), each
  applied to the image and to its reference mask alike.

Only the bottom layer (:class:`pipeline.volume.Volume`) is used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from pipeline.volume import Volume

# Tissue levels per contrast (CSF, white matter, grey matter, muscle, bone marrow, fat), on a 0-1 scale.
# Marrow is fatty (bright on T1, intermediate on T2); epidural fat lies dorsal and lateral to the sac.
TISSUE_LEVELS: dict[str, tuple[float, float, float, float, float, float]] = {
    "t2": (1.00, 0.30, 0.34, 0.28, 0.40, 0.55),
    "t2star": (0.85, 0.28, 0.50, 0.30, 0.20, 0.25),
    "mt": (0.80, 0.30, 0.40, 0.35, 0.30, 0.30),
    "t1": (0.18, 0.62, 0.58, 0.50, 0.80, 1.00),
}


@dataclass(frozen=True)
class MriCordPhantom:
    """A phantom image with its truth and the parameters drawn for it."""

    image: Volume
    cord_mask: np.ndarray
    csf_mask: np.ndarray
    contrast: str
    orientation: str
    slice_mm: float
    parameters: dict[str, float]


def _lps_affine(spacing_mm: np.ndarray, origin_mm: np.ndarray) -> np.ndarray:
    affine = np.diag([*spacing_mm, 1.0])
    affine[:3, 3] = origin_mm
    return affine


def make_mri_cord_phantom(
    seed: int,
    *,
    contrast: str = "t2",
    orientation: str = "axial",
    slice_mm: float = 3.0,
    n_slices: int | None = None,
    pixel_mm: float = 0.8,
    noise: float = 0.04,
    bias: float = 0.3,
) -> MriCordPhantom:
    """Random cervical-cord MRI phantom (see module docstring); deterministic for a seed.

    Parameters
    ----------
    orientation : {"axial", "sagittal"}
        Axial: slices along S (array axes L, P, S). Sagittal: slices along L (array axes P, S, L).
    slice_mm : float
        Slice thickness (= spacing) along the slice axis; partial volume is rendered exactly.
    n_slices : int, optional
        Number of slices (default: a 45 mm axial extent, or a 36 mm sagittal one).
    bias : float
        Peak deviation of the multiplicative bias field (0.3: the field spans 0.7-1.3).
    """
    rng = np.random.default_rng(seed)
    levels = TISSUE_LEVELS[contrast]
    cord_a = rng.uniform(4.5, 7.0)  # transverse semi-axis
    cord_b = rng.uniform(3.0, 4.5)  # AP semi-axis
    sac_a = cord_a + rng.uniform(2.0, 4.5)
    sac_b = cord_b + rng.uniform(1.8, 4.0)
    cord_shift = rng.uniform(-1.0, 1.0)  # AP offset of the cord in the sac (mm)
    roll = np.radians(rng.uniform(-15, 15))  # in-plane rotation of the cord/sac
    tilt_x, tilt_y = np.tan(np.radians(rng.uniform(-12, 12, size=2)))
    bend_mm, bend_period = rng.uniform(0, 3), rng.uniform(60, 120)
    thick = np.array([pixel_mm, pixel_mm, pixel_mm])
    if orientation == "axial":
        thick[2] = slice_mm
        extent = np.array([48.0, 48.0, (n_slices or round(45 / slice_mm)) * slice_mm])
    elif orientation == "sagittal":
        thick[0] = slice_mm
        extent = np.array([(n_slices or round(36 / slice_mm)) * slice_mm, 48.0, 60.0])
    else:
        raise ValueError(f"unknown orientation {orientation!r}")
    shape = np.maximum(np.rint(extent / thick).astype(int), 1)
    sub = np.maximum(np.rint(thick / 0.25).astype(int), 1)  # supersampling to ~0.25 mm
    axes = [
        ((np.arange(n)[:, None] + (np.arange(s)[None, :] + 0.5) / s - 0.5).ravel() - (n - 1) / 2) * t
        for n, s, t in zip(shape, sub, thick, strict=True)
    ]
    # Render one supersampled slice row at a time along S to bound memory.
    labels = np.empty((shape[0] * sub[0], shape[1] * sub[1], shape[2] * sub[2]), dtype=np.uint8)
    x2, y2 = np.meshgrid(axes[0], axes[1], indexing="ij")
    cos_r, sin_r = np.cos(roll), np.sin(roll)
    for k, z in enumerate(axes[2]):
        cx = tilt_x * z + bend_mm * np.sin(2 * np.pi * z / bend_period)
        cy = tilt_y * z
        dx, dy = x2 - cx, y2 - cy
        u, v = cos_r * dx + sin_r * dy, -sin_r * dx + cos_r * dy
        sac = (u / sac_a) ** 2 + (v / sac_b) ** 2 <= 1
        cu, cv = u, v - cord_shift
        cord = (cu / cord_a) ** 2 + (cv / cord_b) ** 2 <= 1
        # Grey matter: an H of two ventral-dorsal bars and a commissure (T2* shows it).
        gm = cord & (
            (((np.abs(cu) - 0.45 * cord_a) / (0.2 * cord_a)) ** 2 + (cv / (0.85 * cord_b)) ** 2 <= 1)
            | ((np.abs(cu) <= 0.5 * cord_a) & (np.abs(cv) <= 0.15 * cord_b))
        )
        # Dorsal (+v: posterior) and lateral epidural fat, a crescent.
        fat = ((u / (sac_a + 2.0)) ** 2 + ((v - 1.0) / (sac_b + 2.5)) ** 2 <= 1) & ~sac & (v > -0.3 * sac_b)
        bone = ((u / (sac_a + 6.0)) ** 2 + (v / (sac_b + 7.0)) ** 2 <= 1) & ~sac & ~fat
        label = np.full(u.shape, 3, dtype=np.uint8)  # muscle
        label[bone] = 4
        label[fat] = 5
        label[sac] = 0
        label[cord] = 1
        label[gm] = 2
        labels[:, :, k] = label
    values = np.asarray(levels, dtype=np.float32)[labels]
    block = (shape[0], sub[0], shape[1], sub[1], shape[2], sub[2])
    image = values.reshape(block).mean(axis=(1, 3, 5))
    cord_fraction = np.isin(labels, (1, 2)).reshape(block).mean(axis=(1, 3, 5))
    csf_fraction = (labels == 0).reshape(block).mean(axis=(1, 3, 5))
    origin = -(shape - 1) / 2 * thick
    grid = np.stack(
        np.meshgrid(*[origin[i] + np.arange(shape[i]) * thick[i] for i in range(3)], indexing="ij")
    )
    field = _smooth_field(rng, grid, bias)
    sigma = noise * levels[0] if contrast != "t1" else noise * levels[5]
    real = image * field + rng.normal(0, sigma, image.shape)
    imag = rng.normal(0, sigma, image.shape)
    image = np.sqrt(real**2 + imag**2).astype(np.float32)  # Rician magnitude
    affine = _lps_affine(thick, origin)
    cord_mask, csf_mask = cord_fraction >= 0.5, csf_fraction >= 0.5
    if orientation == "sagittal":
        # Stored P, S, L as a sagittal series often is.
        order = (1, 2, 0)
        image, cord_mask, csf_mask = (
            np.ascontiguousarray(np.transpose(a, order)) for a in (image, cord_mask, csf_mask)
        )
        permuted = np.eye(4)
        permuted[:3, :3] = affine[:3, :3][:, order]
        permuted[:3, 3] = affine[:3, 3]
        affine = permuted
    volume = Volume(image * 1000.0, affine)
    return MriCordPhantom(
        image=volume,
        cord_mask=cord_mask,
        csf_mask=csf_mask,
        contrast=contrast,
        orientation=orientation,
        slice_mm=slice_mm,
        parameters={
            "cord_area_mm2": float(np.pi * cord_a * cord_b),
            "sac_area_mm2": float(np.pi * sac_a * sac_b),
            "tilt_deg": float(np.degrees(np.arctan(np.hypot(tilt_x, tilt_y)))),
        },
    )


def _smooth_field(rng: np.random.Generator, grid_mm: np.ndarray, amplitude: float) -> np.ndarray:
    """Multiplicative field 1 ± amplitude: a random linear ramp plus a broad bump, rescaled to the range."""
    if amplitude <= 0:
        return np.ones(grid_mm.shape[1:], dtype=np.float32)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    ramp = np.tensordot(direction, grid_mm, axes=1)
    centre = rng.uniform(-20, 20, size=3)
    bump = np.exp(-((grid_mm - centre[:, None, None, None]) ** 2).sum(axis=0) / (2 * 30.0**2))
    raw = ramp / max(np.ptp(ramp), 1e-6) + rng.uniform(0.3, 1.0) * bump
    span = max(float(np.ptp(raw)), 1e-6)
    return (1 - amplitude + 2 * amplitude * (raw - raw.min()) / span).astype(np.float32)


def _axis_along(volume: Volume, lps_axis: int) -> int:
    return int(np.argmax(np.abs(volume.direction_lps[lps_axis, :])))


def thick_slices(
    volume: Volume, masks: list[np.ndarray], lps_axis: int, slice_mm: float
) -> tuple[Volume, list[np.ndarray]]:
    """Average blocks of slices into thick ones along the array axis nearest ``lps_axis`` (0 L, 1 P, 2 S).

    Masks become "at least half of the thick voxel", the partial-volume reading of a manual mask.
    """
    axis = _axis_along(volume, lps_axis)
    factor = max(1, round(slice_mm / float(volume.spacing_mm[axis])))
    n = volume.array.shape[axis] // factor

    def block_mean(array: np.ndarray) -> np.ndarray:
        moved = np.moveaxis(np.asarray(array, dtype=np.float32), axis, 0)[: n * factor]
        return np.moveaxis(moved.reshape(n, factor, *moved.shape[1:]).mean(axis=1), 0, axis)

    affine = volume.affine_lps.copy()
    affine[:3, 3] = affine[:3, 3] + affine[:3, axis] * (factor - 1) / 2
    affine[:3, axis] = affine[:3, axis] * factor
    thick = replace(volume, array=block_mean(volume.array), affine_lps=affine)
    return thick, [block_mean(m) >= 0.5 for m in masks]


def crop_slab(
    volume: Volume, masks: list[np.ndarray], lps_axis: int, n_slices: int
) -> tuple[Volume, list[np.ndarray]]:
    """Keep ``n_slices`` slices along ``lps_axis`` around the middle of the first mask's extent."""
    axis = _axis_along(volume, lps_axis)
    other = tuple(a for a in range(3) if a != axis)
    present = np.where(masks[0].any(axis=other))[0]
    middle = (present.min() + present.max()) // 2 if present.size else volume.array.shape[axis] // 2
    start = int(np.clip(middle - n_slices // 2, 0, max(volume.array.shape[axis] - n_slices, 0)))
    index = [slice(None)] * 3
    index[axis] = slice(start, start + n_slices)
    affine = volume.affine_lps.copy()
    affine[:3, 3] = affine[:3, 3] + affine[:3, axis] * start
    cropped = replace(volume, array=np.ascontiguousarray(volume.array[tuple(index)]), affine_lps=affine)
    return cropped, [np.ascontiguousarray(m[tuple(index)]) for m in masks]


def apply_bias_field(volume: Volume, amplitude: float, seed: int) -> Volume:
    """The image times a smooth field spanning 1 ± ``amplitude`` over the field of view."""
    rng = np.random.default_rng(seed)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in volume.array.shape], indexing="ij"), axis=-1)
    grid = np.moveaxis(volume.index_to_lps(ijk), -1, 0)
    grid = grid - grid.reshape(3, -1).mean(axis=1)[:, None, None, None]
    field = _smooth_field(rng, grid, amplitude)
    return replace(volume, array=(volume.array * field).astype(np.float32))


def add_lesion(volume: Volume, cord_mask: np.ndarray, *, hyperintense: bool, seed: int) -> Volume:
    """A CSF-like lesion inside the cord: an ellipsoid 5 mm across and 12 mm long, off the cord centre.

    On T2 the lesion is as bright as the surrounding CSF (hyperintense, the hardest case for an edge
    search from the cord centre); on T1 it is as dark as CSF (MS lesions are T1-hypointense).
    """
    rng = np.random.default_rng(seed)
    points = np.argwhere(cord_mask)
    lps = volume.index_to_lps(points)
    centre = lps.mean(axis=0)
    # Lesion centred 1.5 mm off the cord centre in a random in-plane direction.
    angle = rng.uniform(0, 2 * np.pi)
    centre = centre + 1.5 * np.array([np.cos(angle), np.sin(angle), 0.0])
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in volume.array.shape], indexing="ij"), axis=-1)
    d = volume.index_to_lps(ijk) - centre
    # Supersampling-free partial volume: a soft edge over one voxel.
    r = np.sqrt((d[..., 0] / 2.5) ** 2 + (d[..., 1] / 2.5) ** 2 + (d[..., 2] / 6.0) ** 2)
    weight = np.clip((1.0 - r) / max(float(volume.spacing_mm.min()) / 2.5, 0.2) + 0.5, 0, 1) * cord_mask
    near = ndimage.binary_dilation(cord_mask, iterations=4) & ~cord_mask
    surround = volume.array[near]
    level = float(np.percentile(surround, 95 if hyperintense else 5))
    array = volume.array.astype(np.float32)
    return replace(volume, array=(array + weight * (level - array)).astype(np.float32))
