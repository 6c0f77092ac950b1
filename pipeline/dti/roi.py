"""ROI statistics: lesion and homolog metrics, their change, and the lesion's share of the cord."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

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
    """Share of the cord's voxels that the lesion ROI holds, over the slices the ROI occupies.

    Reported beside the lesion's share of the cord (:mod:`pipeline.dti.share`, the number compared with
    the published threshold), for information: it depends on how the ROI was drawn. Lesion voxels
    outside the cord mask do not count.
    """
    lesion = np.asarray(lesion_mask, dtype=bool) & np.asarray(cord_mask, dtype=bool)
    slices = lesion.any(axis=(0, 1))
    cord_area = float(np.asarray(cord_mask, dtype=bool)[:, :, slices].sum())
    if cord_area == 0:
        return 0.0
    return 100.0 * float(lesion.sum()) / cord_area
