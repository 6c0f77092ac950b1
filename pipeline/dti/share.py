"""The lesion's share of the cord cross-section: one definition for a given mask and a detected lesion.

Why one definition: the published threshold (pain relief went with lesions covering >= 6.2 % of the
cord on DTI, Berger et al., n = 15) is a share of *area*, and a lesion 3 mm across on a 0.8 mm grid
lives to a large part in partial-volume voxels. Counting ROI voxels gives a number that depends on how
the ROI was drawn (a conservative core or a generous outline), so a mask and a detection of the same
lesion disagreed (5.8 % against 9.6 % on the sample, truth 8.9 %). Here the ROI only says *which*
lesion is meant; the area comes from the MD map the same way for both.

Method
------
1. Core: the cord-interior voxels whose MD lies at least the detection threshold below their mirror
   voxel's (the candidates of :func:`pipeline.dti.lesion.detect_lesion`, step 4), in the 3-D connected
   regions that touch the ROI (dilated by one pixel in-plane). A ROI that touches no such region is its
   own core.
2. Reference diffusivities: ``MD_homolog``, the mean MD of the core's mirror image in the cord interior;
   ``MD_lesion``, the mean MD of the core's more reduced half (asymmetry at or below the core's median),
   the lesion's centre, least mixed with healthy tissue.
3. Near b = 1000 s/mm² a voxel's MD is close to the volume-weighted mean of its compartments, so a voxel
   holds the lesion fraction ``f = (MD_homolog - MD) / (MD_homolog - MD_lesion)``, clipped to [0, 1].
4. Share = 100 · Σ f over the cord voxels within ``REACH_PIXELS`` of the core (in-plane) / the cord's
   voxel count, on the core's slices.

Without MD contrast (``MD_lesion >= MD_homolog``) the fractions are undefined; the share is then the
ROI's voxel count over the cord's on its slices, and ``method`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.dti.homolog import CordMidline, cord_interior, mirror_mask
from pipeline.dti.lesion import md_asymmetry_percent

REACH_PIXELS = 2
"""In-plane reach around the core in which partial-volume lesion is counted (a lesion edge is blurred
over about one voxel on each side; two keep the whole edge without adding much noise)."""

_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)
_CONNECTIVITY_3D = np.ones((3, 3, 3), dtype=bool)

DEFINITION = (
    "lesion area / cord area on the slices the lesion occupies, partial volume included: cord voxels "
    "within 2 pixels of the lesion's reduced-MD core count with their lesion fraction "
    "f = (MD_homolog - MD) / (MD_homolog - MD_lesion) clipped to [0, 1]; the core is the set of cord-interior "
    "voxels whose MD is at least the detection threshold below their mirror voxel, connected to the lesion "
    "ROI; MD_lesion is the mean MD of the core's more reduced half, MD_homolog that of the core's mirror "
    "image. The same computation for a given mask and for a detected lesion."
)


@dataclass(frozen=True)
class LesionShare:
    """The lesion's share of the cord cross-section and what it was computed from.

    Attributes
    ----------
    percent : float
    method : str
        ``"md_partial_volume"`` (the definition) or ``"roi_voxels"`` (no MD contrast, see the module).
    core_voxels : int
    md_lesion_mm2_s, md_homolog_mm2_s : float
    """

    percent: float
    method: str
    core_voxels: int
    md_lesion_mm2_s: float
    md_homolog_mm2_s: float


def _roi_voxel_share(roi: np.ndarray, cord: np.ndarray) -> float:
    slices = roi.any(axis=(0, 1))
    area = float(cord[:, :, slices].sum())
    return 0.0 if area == 0 else 100.0 * float((roi & cord).sum()) / area


def lesion_cord_share(
    md_mm2_s: np.ndarray,
    roi_mask: np.ndarray,
    cord_mask: np.ndarray,
    midline: CordMidline,
    *,
    threshold_percent: float,
) -> LesionShare:
    """Share of the cord cross-section the lesion marked by ``roi_mask`` covers (module docstring)."""
    md = np.asarray(md_mm2_s, dtype=np.float64)
    roi = np.asarray(roi_mask, dtype=bool)
    cord = np.asarray(cord_mask, dtype=bool)
    asymmetry = md_asymmetry_percent(md, cord, midline)
    candidates = np.nan_to_num(asymmetry, nan=0.0) <= threshold_percent
    labels, _ = ndimage.label(candidates, _CONNECTIVITY_3D)
    touched = np.unique(labels[ndimage.binary_dilation(roi, _IN_PLANE) & (labels > 0)])
    core = np.isin(labels, touched) if touched.size else roi & cord
    if not core.any():
        core = roi
    interior = cord_interior(cord)
    homolog = mirror_mask(core, interior, midline) & ~core
    if not homolog.any():
        homolog = interior & ~core
    md_homolog = float(md[homolog].mean()) if homolog.any() else float("nan")
    core_asymmetry = asymmetry[core]
    finite = np.isfinite(core_asymmetry)
    if finite.any():
        deep = core.copy()
        deep[core] = finite & (core_asymmetry <= np.median(core_asymmetry[finite]))
    else:
        deep = core
    md_lesion = float(md[deep].mean())
    if not md_homolog > md_lesion:
        return LesionShare(_roi_voxel_share(roi, cord), "roi_voxels", int(core.sum()), md_lesion, md_homolog)
    region = (ndimage.binary_dilation(core, _IN_PLANE, iterations=REACH_PIXELS) & cord) | core
    fraction = np.clip((md_homolog - md[region]) / (md_homolog - md_lesion), 0.0, 1.0)
    slices = core.any(axis=(0, 1))
    area = float(cord[:, :, slices].sum())
    percent = 0.0 if area == 0 else 100.0 * float(fraction.sum()) / area
    return LesionShare(percent, "md_partial_volume", int(core.sum()), md_lesion, md_homolog)
