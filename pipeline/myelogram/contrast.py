"""Contrast modes: how the cord and CSF look in each supported image type.

Every mode is turned into one working scale on which the CSF is bright and the cord dark, so the
cord and thecal-sac code is the same for a CT myelogram, a T2-weighted MRI (or a DWI mean b0, which
is T2-weighted) and a T1-weighted MRI (inverted).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from pipeline.errors import UsageError

# Cortical bone is about +1000 HU (range 400 to > 1500; uvm.edu CT series, domain-facts §6).
CORTICAL_BONE_HU = 1000.0
# Contrast-filled CSF is 500 ± 150 HU (EST, domain-facts §6); allow dense pooling up to 850 HU.
MAX_CONTRAST_CSF_HU = 850.0
# Cord 35 ± 10 HU early after injection, enhancing slowly (domain-facts §6): anything denser is not cord.
MAX_CORD_HU = 150.0


class Contrast(StrEnum):
    """Image contrast of the series being segmented."""

    CT_MYELOGRAM = "ct-myelogram"
    T2 = "t2"
    T1 = "t1"
    # Also CSF-bright (the working scale treats them as T2); the name is kept for the output.
    T2STAR = "t2star"
    MT = "mt"


@dataclass(frozen=True)
class ContrastModel:
    """Working-scale levels used by the segmentation for one image.

    Attributes
    ----------
    hole_levels : tuple of float
        Intensities at which the bright CSF is thresholded to look for the dark cord it encloses.
        Several levels make the search robust to dim (layered, ventral) contrast and to bright noise.
    min_step : float
        Smallest CSF-minus-cord step that counts as an edge along a ray.
    smoothing_mm : float
        In-plane Gaussian sigma applied before edges are located.
    units : str
        Unit of the working scale (``"HU"`` for CT, ``"normalised"`` for MRI).
    bone_level : float or None
        Cortical bone level on CT, where the sac may touch bone; None on MRI (bone is dark there).
    max_csf_level : float or None
        Brightest plausible CSF (CT): a dark hole ringed by anything brighter is enclosed by bone (the
        canal of a scan without intrathecal contrast, a transverse foramen), not by contrast.
    max_cord_level : float or None
        Densest plausible cord (CT): soft tissue, not the cancellous bone (~300 HU) inside a cortex ring.
    """

    contrast: Contrast
    hole_levels: tuple[float, ...]
    min_step: float
    smoothing_mm: float
    units: str
    bone_level: float | None = None
    max_csf_level: float | None = None
    max_cord_level: float | None = None


def parse_contrast(contrast: str | Contrast) -> Contrast:
    try:
        return Contrast(contrast)
    except ValueError:
        names = ", ".join(c.value for c in Contrast)
        raise UsageError(f"unknown contrast {contrast!r}; choose one of: {names}") from None


def working_image(array: np.ndarray, contrast: Contrast) -> tuple[np.ndarray, ContrastModel]:
    """Image on the CSF-bright working scale, and the levels that go with it.

    CT keeps Hounsfield units: contrast-filled CSF is about 500 ± 150 HU and the cord about 35 HU
    (domain-facts §6), so fixed HU levels between them are meaningful on every scanner. MRI has no
    absolute scale: it is divided by a robust bright level (99.5th percentile of the non-zero voxels, where
    the CSF lies on a T2 image) and a T1 image is inverted first (its CSF is dark and its cord bright).
    """
    data = np.asarray(array, dtype=np.float32)
    if not np.all(np.isfinite(data)):
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    if contrast is Contrast.CT_MYELOGRAM:
        # Levels between cord (~35 HU) and diluted contrast (>= ~200 HU ventrally when layered).
        model = ContrastModel(
            contrast,
            (140.0, 220.0, 320.0),
            80.0,
            0.5,
            "HU",
            CORTICAL_BONE_HU,
            MAX_CONTRAST_CSF_HU,
            MAX_CORD_HU,
        )
        return data, model
    foreground = data[data > 0]
    if foreground.size == 0:
        return data, ContrastModel(contrast, (0.5,), 0.1, 0.5, "normalised")
    if contrast is Contrast.T1:
        top = float(np.percentile(foreground, 99.5))
        data = np.where(data > 0, np.clip(top - data, 0.0, None), 0.0).astype(np.float32)
        foreground = data[data > 0]
        if foreground.size == 0:
            return data, ContrastModel(contrast, (0.5,), 0.1, 0.5, "normalised")
    scale = float(np.percentile(foreground, 99.5))
    if scale <= 0:
        scale = 1.0
    data = data / np.float32(scale)
    return data, ContrastModel(contrast, (0.35, 0.5, 0.65), 0.12, 0.5, "normalised")
