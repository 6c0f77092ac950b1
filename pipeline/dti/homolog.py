"""The cord's own midsagittal line, slice by slice, and mirroring across it (the contralateral homolog).

Why the cord's own midline: the cord is rarely at the image centre and the head is often rotated (one
of the reference cases turned his head during the procedure, Shepherd et al. AJNR 2017), so a mirror
across the image centre or the image's left-right axis would compare the lesion with the wrong tissue.

On each slice (array axis 2, an axial DWI slice) the cord mask's first moments give its centroid and its
second moments (the inertia ellipse) give its orientation. The cord's cross-section is wider than it is
deep at C1-C2 (transverse 12.4 mm vs AP 8.8 mm, Sherman et al. AJNR 1990; Kanpolat et al. 1995), so the
major axis of the ellipse is the left-right axis and the midsagittal line is the minor axis through the
centroid. Mirroring reflects a point across that line. All geometry is in mm in the slice plane, so
anisotropic pixels need no special case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.errors import AnalysisError

MIN_ELONGATION = 1.08
"""Major/minor axis ratio below which a slice's cord is too round to give its own orientation.

Such slices take the median orientation of the elongated slices (the cord does not twist between
neighbouring slices); a cord round on every slice takes the image's left-right axis.
"""

MIRROR_SUBSAMPLES = 3
"""Each voxel's area is mirrored as 3 x 3 points (see :func:`mirror_mask`)."""

_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)

MIN_CORD_PIXELS = 5
"""Slices with fewer cord pixels than this have no usable moments (cord ends, partial volume)."""


@dataclass(frozen=True)
class CordMidline:
    """Per-slice centroid and left-right axis of the cord, in the slice's in-plane mm frame.

    The in-plane frame has coordinates ``(i·s0, j·s1)`` for array indices ``(i, j)`` and pixel spacing
    ``(s0, s1)``.

    Attributes
    ----------
    centroid_mm : (K, 2) ndarray
        Cord centroid per slice (NaN on slices without cord).
    left_axis : (K, 2) ndarray
        Unit vector along the cord's transverse (major) axis, pointing to the patient's left (NaN on
        slices without cord).
    spacing_mm : (2,) ndarray
        In-plane pixel spacing.
    elongation : (K,) ndarray
        Major/minor axis ratio of each slice's cord (NaN without cord).
    """

    centroid_mm: np.ndarray
    left_axis: np.ndarray
    spacing_mm: np.ndarray
    elongation: np.ndarray

    def lateral_mm(self, ijk: np.ndarray) -> np.ndarray:
        """Signed distance (mm) of voxels ``(M, 3)`` from the midsagittal line; positive on the left."""
        k = ijk[:, 2].astype(int)
        points = ijk[:, :2] * self.spacing_mm
        return np.einsum("mi,mi->m", points - self.centroid_mm[k], self.left_axis[k])

    def mirror_indices(self, ijk: np.ndarray) -> np.ndarray:
        """Continuous indices ``(M, 3)`` of the mirror images of voxels ``(M, 3)`` (same slice)."""
        k = ijk[:, 2].astype(int)
        points = ijk[:, :2] * self.spacing_mm
        lateral = np.einsum("mi,mi->m", points - self.centroid_mm[k], self.left_axis[k])
        mirrored = points - 2.0 * lateral[:, None] * self.left_axis[k]
        return np.column_stack([mirrored / self.spacing_mm, ijk[:, 2]])


def _patient_left_in_plane(affine_lps: np.ndarray) -> np.ndarray:
    """The patient's left (LPS +x) projected into the slice plane's (i, j) mm frame, unit length."""
    directions = affine_lps[:3, :3] / np.linalg.norm(affine_lps[:3, :3], axis=0)
    left = np.array([directions[0, 0], directions[0, 1]])  # components of +x along axes 0 and 1
    norm = float(np.linalg.norm(left))
    if norm < 0.5:
        raise AnalysisError(
            "the DWI slices are not axial (patient left-right lies out of the slice plane); the lesion "
            "homolog is mirrored slice by slice and needs axial slices"
        )
    return left / norm


def cord_midline(
    cord_mask: np.ndarray, affine_lps: np.ndarray, *, cord_fraction: np.ndarray | None = None
) -> CordMidline:
    """Centroid and left-right axis of the cord on every slice, from the mask's moments.

    Parameters
    ----------
    cord_mask : (X, Y, Z) bool ndarray
        Cord on the DWI grid.
    affine_lps : (4, 4) ndarray
        The grid's affine (for pixel spacing and which way is the patient's left).
    cord_fraction : (X, Y, Z) ndarray, optional
        Partial-volume cord fraction (0-1), e.g. from :func:`cord_fraction_from_b0`. Its moments give
        the orientation far more precisely than a binary mask of ~100 pixels, whose staircase outline
        can tilt the inertia axes by several degrees; the binary mask is used without it.

    Raises
    ------
    AnalysisError
        Empty cord mask, or slices that are not axial.
    """
    cord = np.asarray(cord_mask, dtype=bool)
    if not cord.any():
        raise AnalysisError("the cord mask is empty; no midline to mirror across")
    spacing = np.linalg.norm(np.asarray(affine_lps, dtype=np.float64)[:3, :3], axis=0)[:2]
    left_image = _patient_left_in_plane(np.asarray(affine_lps, dtype=np.float64))
    n_slices = cord.shape[2]
    weights = cord.astype(np.float64) if cord_fraction is None else np.clip(cord_fraction, 0.0, 1.0)
    ii, jj, kk = np.nonzero(weights > 0)
    w = weights[ii, jj, kk]
    x = ii * spacing[0]
    y = jj * spacing[1]
    usable = np.bincount(np.nonzero(cord)[2], minlength=n_slices) >= MIN_CORD_PIXELS
    total = np.bincount(kk, w, n_slices)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x = np.bincount(kk, w * x, n_slices) / total
        mean_y = np.bincount(kk, w * y, n_slices) / total
        dx, dy = x - mean_x[kk], y - mean_y[kk]
        cxx = np.bincount(kk, w * dx * dx, n_slices) / total
        cyy = np.bincount(kk, w * dy * dy, n_slices) / total
        cxy = np.bincount(kk, w * dx * dy, n_slices) / total
    # Major axis of the 2x2 covariance [[cxx, cxy], [cxy, cyy]] in closed form.
    half_trace = (cxx + cyy) / 2.0
    spread = np.sqrt(((cxx - cyy) / 2.0) ** 2 + cxy**2)
    major, minor = half_trace + spread, half_trace - spread
    angle = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)
    axis = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        elongation = np.sqrt(major / np.maximum(minor, 1e-12))
    oriented = usable & (elongation >= MIN_ELONGATION)
    if oriented.any():
        # Orientation is an axis (sign-free): average the doubled angle, then halve.
        signs = np.where(axis[oriented] @ left_image < 0, -1.0, 1.0)
        aligned = axis[oriented] * signs[:, None]
        fallback_angle = np.arctan2(np.median(aligned[:, 1]), np.median(aligned[:, 0]))
        fallback = np.array([np.cos(fallback_angle), np.sin(fallback_angle)])
    else:
        fallback = left_image
    axis = np.where(oriented[:, None], axis, fallback)
    axis = axis * np.where(axis @ left_image < 0, -1.0, 1.0)[:, None]
    centroid = np.stack([mean_x, mean_y], axis=-1)
    centroid[~usable] = np.nan
    axis[~usable] = np.nan
    elongation[~usable] = np.nan
    return CordMidline(centroid, axis, spacing, elongation)


def mirror_mask(
    mask: np.ndarray, cord_mask: np.ndarray, midline: CordMidline, *, min_cover: float = 0.5
) -> np.ndarray:
    """The mirror image of ``mask`` across the cord midline, restricted to the cord.

    Each cord voxel's area is mirrored (sampled at ``MIRROR_SUBSAMPLES``² points, each looking up the
    voxel of ``mask`` it falls in) and the voxel belongs to the mirror image when at least ``min_cover``
    (half) of its area lands in ``mask``. Mirroring areas rather than voxel centres keeps the result from depending on
    where the midline falls between pixel centres, and pulling (each target voxel looks up its source)
    leaves no holes when the reflection does not map the pixel grid onto itself (a rotated cord).
    """
    cord = np.asarray(cord_mask, dtype=bool)
    source = np.asarray(mask, dtype=bool)
    out = np.zeros(cord.shape, dtype=bool)
    ijk = np.argwhere(cord & np.isfinite(midline.centroid_mm[:, 0])[None, None, :])
    if ijk.size == 0:
        return out
    steps = (np.arange(MIRROR_SUBSAMPLES) - (MIRROR_SUBSAMPLES - 1) / 2.0) / MIRROR_SUBSAMPLES
    offsets = np.array([(di, dj, 0.0) for di in steps for dj in steps])
    points = (ijk[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
    mirrored = np.rint(midline.mirror_indices(points)).astype(int)
    inside = np.all((mirrored >= 0) & (mirrored < np.array(cord.shape)), axis=1)
    hit = np.zeros(len(points), dtype=bool)
    m = mirrored[inside]
    hit[inside] = source[m[:, 0], m[:, 1], m[:, 2]]
    cover = hit.reshape(len(ijk), len(offsets)).mean(axis=1)
    covered = cover >= min_cover if min_cover > 0 else cover > 0
    out[tuple(ijk[covered].T)] = True
    return out


def cord_fraction_from_b0(mean_b0: np.ndarray, cord_mask: np.ndarray) -> np.ndarray | None:
    """Partial-volume cord fraction (0-1) at the cord's edge, from the T2-weighted mean b0.

    On a b0 image the CSF is bright and the cord dark (the same contrast as a T2 MRI), so a pixel on the
    cord's edge holding a fraction f of cord has intensity ``f·S_cord + (1 - f)·S_csf`` (signals add
    within a voxel). Per slice, ``S_cord`` is the median inside the mask eroded by one pixel and
    ``S_csf`` the median of the ring two to three pixels outside it; pixels within one pixel of the
    mask's edge get ``f = (S_csf - S) / (S_csf - S_cord)`` clipped to [0, 1], pixels deeper inside 1.

    Returns None when no slice shows CSF brighter than cord (then the binary mask is used).
    """
    cord = np.asarray(cord_mask, dtype=bool)
    b0 = np.asarray(mean_b0, dtype=np.float64)
    in_plane = _IN_PLANE
    inner = ndimage.binary_erosion(cord, in_plane)
    near = ndimage.binary_dilation(cord, in_plane)
    ring = ndimage.binary_dilation(cord, in_plane, iterations=3) & ~ndimage.binary_dilation(
        cord, in_plane, iterations=2
    )
    fraction = inner.astype(np.float64)
    band = near & ~inner
    any_contrast = False
    for k in np.flatnonzero(inner.any(axis=(0, 1)) & ring.any(axis=(0, 1))):
        s_cord = float(np.median(b0[:, :, k][inner[:, :, k]]))
        s_csf = float(np.median(b0[:, :, k][ring[:, :, k]]))
        if s_csf <= s_cord:
            fraction[:, :, k] = cord[:, :, k]
            continue
        any_contrast = True
        edge = band[:, :, k]
        fraction[:, :, k][edge] = np.clip((s_csf - b0[:, :, k][edge]) / (s_csf - s_cord), 0.0, 1.0)
    return fraction if any_contrast else None


def cord_interior(cord_mask: np.ndarray) -> np.ndarray:
    """The cord eroded by one pixel in-plane: voxels that share no volume with the CSF around it."""
    return ndimage.binary_erosion(np.asarray(cord_mask, dtype=bool), _IN_PLANE)


def homolog_mask(lesion_mask: np.ndarray, cord_mask: np.ndarray, midline: CordMidline) -> np.ndarray:
    """Contralateral homolog of a lesion: its mirror image in the cord, minus the lesion itself.

    The mirror image is taken inside the cord interior (:func:`cord_interior`) when it reaches it: a
    pixel on the cord's edge shares its volume with CSF, whose diffusivity is ~3.5 times the cord's, so
    a few such pixels would bias the healthy reference (the lesion itself is measured as given). Only
    a lesion whose mirror lies wholly on the edge gets an edge homolog; and a lesion of a pixel or so,
    whose mirror image (turned against the pixel grid) covers no voxel by half, gets the voxels its mirror
    image overlaps (interior ones when there are).
    """
    lesion = np.asarray(lesion_mask, dtype=bool)
    cords = (cord_interior(cord_mask), np.asarray(cord_mask, dtype=bool))
    found = np.zeros_like(lesion)
    for min_cover in (0.5, 0.0):
        for cord in cords:
            found = mirror_mask(lesion, cord, midline, min_cover=min_cover) & ~lesion
            if found.any():
                return found
    return found


def side_of(mask: np.ndarray, midline: CordMidline) -> str:
    """``"left"`` or ``"right"``: the side of the cord midline holding most of ``mask``.

    Raises
    ------
    AnalysisError
        The mask is empty, lies on slices without cord, or straddles the midline evenly.
    """
    ijk = np.argwhere(np.asarray(mask, dtype=bool))
    ijk = ijk[np.isfinite(midline.centroid_mm[ijk[:, 2], 0])] if ijk.size else ijk
    if ijk.size == 0:
        raise AnalysisError("the lesion lies on no slice with cord; cannot tell its side")
    lateral = midline.lateral_mm(ijk)
    if abs(float(np.mean(lateral))) < 1e-6:
        raise AnalysisError("the lesion straddles the cord midline evenly; cannot tell its side")
    return "left" if float(np.mean(lateral)) > 0 else "right"
