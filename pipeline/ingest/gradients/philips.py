"""Philips: b-value (2001,1003) and gradient (2005,10B0/10B1/10B2), besides the standard attributes.

* (2001,1003) Diffusion B-Factor, FL, creator "Philips Imaging DD 001";
* (2001,1004) Diffusion Direction, CS, same creator: "I" marks an isotropic image;
* (2005,10B0), (2005,10B1), (2005,10B2) Diffusion Direction RL / AP / FH, FL, creator
  "Philips MR Imaging DD 001": the gradient in the patient frame, read exactly like (0018,9089)
  (Philips MR DICOM conformance statements; dcm2niix ``nii_dicom.cpp`` kDiffusion_bValuePhilips,
  kDiffusionDirectionRL/AP/FH).

Philips stores a computed isotropic (trace) image in the DWI series: b > 0 with a zero gradient vector
(and direction "I"). It is not a diffusion-encoded volume; dcm2niix writes it to a separate ``_ADC``
file and leaves it out of the .bval/.bvec, and we leave it out too.
"""

from __future__ import annotations

import numpy as np
import pydicom

from pipeline.ingest.gradients._values import first_float, manufacturer, private_value, text
from pipeline.ingest.gradients.encoding import UNWEIGHTED_B_S_MM2, Encoding, lps_tuple

NAME = "Philips (2001,1003) / (2005,10B0-10B2)"
_IMAGING = "Philips Imaging DD 001"
_MR_IMAGING = "Philips MR Imaging DD 001"


def is_isotropic(ds: pydicom.Dataset, b_value: float, gradient: tuple[float, ...] | None) -> bool:
    """A Philips derived trace image: diffusion-weighted but without a direction."""
    if b_value < UNWEIGHTED_B_S_MM2:
        return False
    no_vector = gradient is None or float(np.linalg.norm(gradient)) <= 1e-6
    return no_vector or text(private_value(ds, 0x2001, _IMAGING, 0x04)).upper() == "I"


def read(ds: pydicom.Dataset) -> Encoding | None:
    if "PHILIPS" not in manufacturer(ds):
        return None
    b_value = first_float(private_value(ds, 0x2001, _IMAGING, 0x03), "f")
    if b_value is None:
        b_value = first_float(ds.get("DiffusionBValue"))
    if b_value is None:
        return None
    parts = [first_float(private_value(ds, 0x2005, _MR_IMAGING, e), "f") for e in (0xB0, 0xB1, 0xB2)]
    gradient = None if any(p is None for p in parts) else lps_tuple(tuple(float(p or 0.0) for p in parts))
    return Encoding(
        b_value_s_mm2=b_value,
        gradient_lps=gradient,
        source=NAME,
        derived=is_isotropic(ds, b_value, gradient),
    )
