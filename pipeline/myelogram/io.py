"""The stage's images from a :class:`~pipeline.ingest.Study`: a 3-D volume per role, and its artery look.

Which series plays which role is decided in :mod:`pipeline.ingest.study`; this module only turns the
chosen series into what the myelogram stage needs.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import InputDataError
from pipeline.ingest import Role, Study, VascularKind
from pipeline.volume import Volume


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


def vascular_modality(study: Study, volume: Volume, requested: str) -> str:
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
