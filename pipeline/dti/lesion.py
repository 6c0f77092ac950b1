"""Lesion ROI detected as the focal region of reduced mean diffusivity in the cord.

Why reduced MD: 48 h after a radiofrequency cordotomy the lesion shows restricted diffusion (cytotoxic
oedema): MD −12 % against the contralateral homolog in the primary reference (Shepherd et al. AJNR
2017;38:387), and MD (and FA) significantly lower than contralateral within a month (Berger et al.).

Method
------
1. The cord interior: the cord mask eroded by one pixel in-plane. Edge pixels are left out of the search
   because they share their volume with CSF, whose MD (~3.0e-3 mm²/s) is about 3.5 times the cord's, so
   their MD says more about the partial volume than about the tissue.
2. MD is smoothed in-plane inside the interior (Gaussian σ = 0.5 pixel, normalised convolution so
   that no CSF leaks in) to damp voxel noise without blurring a lesion a few pixels across.
3. Asymmetry: each interior voxel's MD relative to its mirror voxel across the cord's own midline,
   ``100·(MD(x) / MD(x') − 1)`` %; the mirror must also lie in the interior.
4. Candidates: asymmetry at or below the threshold, by default the reference MD change itself
   (−12 %, ``seeds/diffusion.yaml`` ``reference_change_percent.md``): a voxel counts as lesion when its
   diffusivity has dropped at least as much as the published lesion's did. A partial-volume voxel that
   is mostly healthy does not reach it, so the ROI stays on lesion tissue.
5. The lesion is the 3-D connected candidate region with the largest summed MD reduction (focal), on
   the requested side of the midline or, without one, on either side (its side is then the answer).
6. Edge completion: cord-edge pixels touching that region join it when their MD is at or below the
   threshold relative to the homolog's median MD (they cannot use their own mirror, step 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.dti.homolog import CordMidline, cord_interior, mirror_mask
from pipeline.errors import AnalysisError

SMOOTHING_SIGMA_PIXELS = 0.5
"""In-plane Gaussian σ applied to MD inside the cord before the asymmetry (step 2)."""

MIN_LESION_VOXELS = 3
"""Regions smaller than this are not reported as a lesion: one or two voxels cannot be told from noise."""

_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)
_CONNECTIVITY_3D = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class LesionDetection:
    """A detected lesion and how it was found.

    Attributes
    ----------
    mask : (X, Y, Z) bool ndarray
    side : str
        ``"left"`` or ``"right"`` of the cord midline.
    threshold_percent : float
        MD asymmetry threshold used (negative: a reduction).
    mean_asymmetry_percent : float
        Mean MD asymmetry of the region's interior voxels against their mirror voxels.
    """

    mask: np.ndarray
    side: str
    threshold_percent: float
    mean_asymmetry_percent: float


def md_asymmetry_percent(md_mm2_s: np.ndarray, cord_mask: np.ndarray, midline: CordMidline) -> np.ndarray:
    """MD of each cord-interior voxel relative to its mirror voxel, in percent (NaN elsewhere).

    Steps 1-3 of the module's method.
    """
    interior = cord_interior(cord_mask)
    weights = interior.astype(np.float64)
    sigma = (SMOOTHING_SIGMA_PIXELS, SMOOTHING_SIGMA_PIXELS, 0.0)
    numerator = ndimage.gaussian_filter(np.where(interior, md_mm2_s, 0.0), sigma)
    denominator = ndimage.gaussian_filter(weights, sigma)
    smooth = np.where(interior, numerator / np.maximum(denominator, 1e-12), np.nan)
    asymmetry = np.full(interior.shape, np.nan)
    ijk = np.argwhere(interior & np.isfinite(midline.centroid_mm[:, 0])[None, None, :])
    if ijk.size == 0:
        return asymmetry
    mirrored = np.rint(midline.mirror_indices(ijk.astype(np.float64))).astype(int)
    inside = np.all((mirrored >= 0) & (mirrored < np.array(interior.shape)), axis=1)
    inside[inside] &= interior[tuple(mirrored[inside].T)]
    here = smooth[tuple(ijk[inside].T)]
    there = smooth[tuple(mirrored[inside].T)]
    with np.errstate(divide="ignore", invalid="ignore"):
        asymmetry[tuple(ijk[inside].T)] = 100.0 * (here / there - 1.0)
    return asymmetry


def detect_lesion(
    md_mm2_s: np.ndarray,
    cord_mask: np.ndarray,
    midline: CordMidline,
    *,
    threshold_percent: float,
    side: str | None = None,
) -> LesionDetection:
    """Find the focal reduced-MD region of the cord (method in the module docstring).

    Parameters
    ----------
    md_mm2_s : (X, Y, Z) ndarray
        Mean diffusivity map.
    cord_mask : (X, Y, Z) bool ndarray
    midline : CordMidline
        The cord's own midline (:func:`pipeline.dti.homolog.cord_midline`).
    threshold_percent : float
        MD asymmetry (negative) at or below which a voxel is a lesion candidate.
    side : {"left", "right"}, optional
        Look only on this side of the midline; without it, on either side.

    Raises
    ------
    AnalysisError
        No region reaches the threshold (no lesion visible on MD); the message suggests a lesion mask.
    """
    if threshold_percent >= 0:
        raise AnalysisError(
            f"the lesion MD threshold must be a reduction (< 0 %), got {threshold_percent:g} %"
        )
    cord = np.asarray(cord_mask, dtype=bool)
    asymmetry = md_asymmetry_percent(md_mm2_s, cord, midline)
    candidates = np.nan_to_num(asymmetry, nan=0.0) <= threshold_percent
    if side is not None:
        ijk = np.argwhere(candidates)
        lateral = midline.lateral_mm(ijk)
        keep = lateral > 0 if side == "left" else lateral < 0
        candidates[:] = False
        candidates[tuple(ijk[keep].T)] = True
    labels, count = ndimage.label(candidates, _CONNECTIVITY_3D)
    where = f" on the {side} side" if side else ""
    if count == 0:
        raise AnalysisError(
            f"no focal reduced-MD region found in the cord{where} (threshold {threshold_percent:g} % against "
            "the mirror voxel); give the lesion with --lesion-mask"
        )
    reduction = -np.nan_to_num(asymmetry, nan=0.0)
    scores = ndimage.sum_labels(reduction, labels, np.arange(1, count + 1))
    sizes = ndimage.sum_labels(np.ones_like(reduction), labels, np.arange(1, count + 1))
    scores = np.where(sizes >= MIN_LESION_VOXELS, scores, -np.inf)
    if not np.isfinite(scores.max()):
        raise AnalysisError(
            f"no reduced-MD region of at least {MIN_LESION_VOXELS} voxels in the cord{where} (threshold "
            f"{threshold_percent:g} %); give the lesion with --lesion-mask"
        )
    core = labels == int(np.argmax(scores)) + 1
    mean_asymmetry = float(np.mean(asymmetry[core]))
    lateral = midline.lateral_mm(np.argwhere(core))
    found_side = "left" if float(np.mean(lateral)) > 0 else "right"

    # Edge completion (step 6) against the homolog's median MD.
    interior = cord_interior(cord)
    homolog = mirror_mask(core, interior, midline) & ~core
    reference_md = (
        float(np.median(md_mm2_s[homolog])) if homolog.any() else float(np.median(md_mm2_s[interior]))
    )
    edge = ndimage.binary_dilation(core, _IN_PLANE) & cord & ~interior
    lesion = core | (edge & (md_mm2_s <= reference_md * (1.0 + threshold_percent / 100.0)))
    return LesionDetection(lesion, found_side, float(threshold_percent), mean_asymmetry)
