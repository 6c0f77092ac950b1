"""The stage's images from a :class:`~pipeline.ingest.Study`: a 3-D volume per role, and its artery look.

Which series plays which role is decided in :mod:`pipeline.ingest.study`; this module only turns the
chosen series into what the myelogram stage needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pydicom

from pipeline.errors import InputDataError
from pipeline.ingest import Role, Study, VascularKind
from pipeline.volume import Volume

log = logging.getLogger("cordotomy")


@dataclass(frozen=True)
class StageImages:
    """What the myelogram stage reads from a study: the CT (or MRI), the vascular series, the SEG sources."""

    image: Volume
    vascular: Volume | None
    vascular_modality: str  # "cta" (bright lumen) or "t2" (flow void)
    sources: list[pydicom.Dataset] | None  # headers of the image's instances, for the DICOM SEG


def stage_images(study: Study, *, vascular_modality: str = "auto") -> StageImages:
    """Load the CT myelogram and, when the study has one, the vascular series (logging the choices at -v)."""
    for chosen in study.series:
        log.debug("%s: %s (%s)", chosen.role.value, chosen.label, chosen.reason)
    image = load_image(study, Role.CT_MYELOGRAM)
    log.debug(
        "grid %s, voxel %s mm",
        "x".join(str(n) for n in image.shape),
        "x".join(f"{s:.2f}" for s in image.spacing_mm),
    )
    vascular = load_image(study, Role.VASCULAR) if study.get(Role.VASCULAR) is not None else None
    modality = _vascular_modality(study, vascular, vascular_modality) if vascular is not None else "cta"
    log.debug(
        "vertebral arteries: %s",
        f"from the vascular series ({modality})" if vascular is not None else "estimated from the foramina",
    )
    return StageImages(image, vascular, modality, study.source_datasets(Role.CT_MYELOGRAM))


def load_image(study: Study, role: Role = Role.CT_MYELOGRAM) -> Volume:
    """The 3-D float32 image with ``role`` (a 4-D NIfTI with one volume is accepted)."""
    chosen = study.require(role)
    volume = study.load(role)
    array = np.asarray(volume.array)
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise InputDataError(f"{chosen.label}: expected a 3-D image, got shape {array.shape}")
    return Volume(array.astype(np.float32, copy=False), volume.affine_lps, volume.provenance)


def _vascular_modality(study: Study, volume: Volume, requested: str) -> str:
    """``"cta"`` or ``"t2"`` (how the artery looks): as requested, else from the series, else the values.

    A bright-lumen MRA segments like a CTA.
    """
    if requested in ("cta", "t2"):
        return requested
    chosen = study.require(Role.VASCULAR)
    if chosen.vascular_kind is not None:
        return "t2" if chosen.vascular_kind is VascularKind.T2 else "cta"
    modality = volume.provenance.modality.upper()
    if modality in ("CT", "MR"):
        return "cta" if modality == "CT" else "t2"
    # CT numbers go below -500 (air, fat); MR magnitudes do not.
    return "cta" if float(np.min(volume.array)) < -500.0 else "t2"
