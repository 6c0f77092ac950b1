"""ROI statistics: lesion and homolog metrics, their change, and the lesion's share of the cord."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from pipeline.dti.maps import TensorMaps
from pipeline.errors import AnalysisError

METRICS = ("fa", "md", "ad", "rd")


@dataclass(frozen=True)
class RoiMetrics:
    """Mean tensor scalars over an ROI (DESIGN.md §4 names)."""

    voxels: int
    volume_mm3: float
    fa: float
    md_mm2_s: float
    ad_mm2_s: float
    rd_mm2_s: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def value(self, metric: str) -> float:
        return self.fa if metric == "fa" else float(getattr(self, f"{metric}_mm2_s"))


def roi_metrics(maps: TensorMaps, mask: np.ndarray, voxel_volume_mm3: float, *, name: str) -> RoiMetrics:
    """Means of FA, MD, AD and RD over ``mask`` (voxel means, as ROI analyses in the literature report).

    Raises
    ------
    AnalysisError
        The ROI is empty or lies outside the fitted voxels.
    """
    roi = np.asarray(mask, dtype=bool)
    if not roi.any():
        raise AnalysisError(f"the {name} ROI is empty")
    if not np.all(maps.mask[roi]):
        raise AnalysisError(f"the {name} ROI reaches voxels outside the tensor fit")
    count = int(roi.sum())
    return RoiMetrics(
        voxels=count,
        volume_mm3=float(count * voxel_volume_mm3),
        fa=float(maps.fa[roi].mean()),
        md_mm2_s=float(maps.md[roi].mean()),
        ad_mm2_s=float(maps.ad[roi].mean()),
        rd_mm2_s=float(maps.rd[roi].mean()),
    )


def change_percent(lesion: RoiMetrics, homolog: RoiMetrics) -> dict[str, float]:
    """100·(lesion − homolog)/homolog for FA, MD, AD and RD (DESIGN.md §4)."""
    return {m: 100.0 * (lesion.value(m) - homolog.value(m)) / homolog.value(m) for m in METRICS}


def lesion_cord_fraction_percent(lesion_mask: np.ndarray, cord_mask: np.ndarray) -> float:
    """Lesion area as a percentage of the cord cross-section, over the slices the lesion occupies.

    Berger et al. (cervical cordotomy, n=15) related pain relief to the lesion's share of the cord's
    cross-sectional area (>= 6.2 % on DTI); summed over the lesion's slices this is the area-weighted
    mean of the per-slice shares. Lesion voxels outside the cord mask do not count.
    """
    lesion = np.asarray(lesion_mask, dtype=bool) & np.asarray(cord_mask, dtype=bool)
    slices = lesion.any(axis=(0, 1))
    cord_area = float(np.asarray(cord_mask, dtype=bool)[:, :, slices].sum())
    if cord_area == 0:
        return 0.0
    return 100.0 * float(lesion.sum()) / cord_area


PARTIAL_VOLUME_REACH_PIXELS = 2
"""How far (in-plane) around the lesion ROI partial-volume lesion is looked for."""

_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)


def lesion_partial_volume_fraction_percent(
    md_mm2_s: np.ndarray,
    lesion_mask: np.ndarray,
    cord_mask: np.ndarray,
    *,
    lesion_md_mm2_s: float,
    homolog_md_mm2_s: float,
) -> float | None:
    """Lesion share of the cord cross-section with partial-volume voxels counted by their lesion fraction.

    A detected lesion ROI keeps only voxels that are mostly lesion (their MD reached the reference
    reduction), so its voxel count underestimates the lesion's area: the voxels around it hold some
    lesion too. Diffusion signals add within a voxel, and near b = 1000 s/mm² a voxel's MD is close to
    the volume-weighted mean of its parts, so the lesion fraction of a voxel is
    ``f = (MD_homolog − MD) / (MD_homolog − MD_lesion)`` clipped to [0, 1]. The share is
    ``Σ f / cord area`` over the ROI and the cord voxels within two pixels of it, on the ROI's slices.

    Returns None when the lesion's MD is not below the homolog's (no MD contrast to measure with).
    """
    contrast = homolog_md_mm2_s - lesion_md_mm2_s
    if not contrast > 0:
        return None
    lesion = np.asarray(lesion_mask, dtype=bool)
    cord = np.asarray(cord_mask, dtype=bool)
    region = (
        ndimage.binary_dilation(lesion, _IN_PLANE, iterations=PARTIAL_VOLUME_REACH_PIXELS) & cord
    ) | lesion
    fraction = np.clip((homolog_md_mm2_s - np.asarray(md_mm2_s)[region]) / contrast, 0.0, 1.0)
    slices = lesion.any(axis=(0, 1))
    cord_area = float(cord[:, :, slices].sum())
    if cord_area == 0:
        return None
    return 100.0 * float(fraction.sum()) / cord_area
