"""Contrast modes: how the cord and CSF look in each supported image type.

Every mode is turned into one working scale on which the CSF is bright and the cord dark, so the
cord and thecal-sac code is the same for a CT myelogram, a T2-weighted MRI (or a DWI mean b0, which
is T2-weighted) and a T1-weighted MRI (inverted).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from pipeline.errors import InputDataError, UsageError
from pipeline.seeds import Seeds, load_seeds
from pipeline.volume import Volume

# A CT in Hounsfield units holds air (-1000 HU) or at least fat (-50 to -100 HU); MR magnitudes are >= 0.
_CT_AIR_BELOW_HU = -500.0


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
    dim_hole_levels : tuple of float
        Extra CSF thresholds tried when ``hole_levels`` find no cord tube (CT: a thin, dilute or noisy
        contrast rim whose blurred peak stays below them).
    min_contrast_step : float or None
        Smallest CSF-minus-cord step of a contrast-filled sac (CT); below it the sac holds no contrast.
    """

    contrast: Contrast
    hole_levels: tuple[float, ...]
    min_step: float
    smoothing_mm: float
    units: str
    bone_level: float | None = None
    max_csf_level: float | None = None
    max_cord_level: float | None = None
    dim_hole_levels: tuple[float, ...] = ()
    min_contrast_step: float | None = None


def parse_contrast(contrast: str | Contrast) -> Contrast:
    try:
        return Contrast(contrast)
    except ValueError:
        names = ", ".join(c.value for c in Contrast)
        raise UsageError(f"unknown contrast {contrast!r}; choose one of: {names}") from None


def check_modality(volume: Volume, contrast: Contrast, description: str) -> None:
    """Refuse an image that does not fit the chosen contrast mode (exit 3).

    A CT segmented as a T2 MRI finds the dens (dark on the CSF-bright scale once bone is taken for CSF)
    and calls it the cord; an MRI segmented as a CT myelogram has no Hounsfield scale. The DICOM Modality
    decides when there is one; a NIfTI file is judged by its values (CT holds air or fat below 0 HU,
    MR magnitudes are never negative).
    """
    modality = volume.provenance.modality.upper()
    data = np.asarray(volume.array)
    lowest = float(np.nanmin(data)) if data.size else 0.0
    if contrast is Contrast.CT_MYELOGRAM:
        if modality == "MR" or (modality != "CT" and lowest >= 0.0):
            seen = f"Modality {modality}" if modality else f"no negative values (lowest {lowest:.0f})"
            raise InputDataError(
                f"{description} does not look like a CT in Hounsfield units ({seen}); for an MRI use "
                f"--contrast t2 (CSF bright) or t1 (CSF dark)"
            )
        return
    if modality == "CT" or (modality == "" and lowest < _CT_AIR_BELOW_HU):
        seen = "Modality CT" if modality == "CT" else f"values down to {lowest:.0f}, i.e. Hounsfield units"
        raise InputDataError(
            f"{description} is a CT ({seen}) but --contrast {contrast.value} expects an MRI; use "
            f"--contrast ct-myelogram"
        )


def working_image(
    array: np.ndarray, contrast: Contrast, seeds: Seeds | None = None
) -> tuple[np.ndarray, ContrastModel]:
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
        # Levels between cord (~35 HU) and diluted contrast (>= ~170 HU ventrally when layered), the
        # cortex, the brightest plausible contrast and the densest plausible cord: seeds/myelogram.yaml.
        seeds = seeds if seeds is not None else load_seeds()
        model = ContrastModel(
            contrast,
            seeds.numbers("myelogram.ct.hole_levels_hu"),
            80.0,
            0.5,
            "HU",
            seeds.number("myelogram.ct.cortical_bone_hu"),
            seeds.number("myelogram.ct.max_contrast_csf_hu"),
            seeds.number("myelogram.ct.max_cord_hu"),
            (seeds.number("myelogram.ct.dim_hole_level_hu"),),
            seeds.number("myelogram.ct.min_contrast_step_hu"),
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
