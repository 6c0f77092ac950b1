"""Standard DICOM diffusion attributes: the MR Diffusion Macro (PS3.3 C.8.13.5.9).

* Diffusion b-value (0018,9087), FD, s/mm²;
* Diffusion Gradient Orientation (0018,9089), FD x3, a direction in the patient frame (LPS), top level
  (classic images of Philips, Canon/Toshiba, GE b>0 slices) or inside the Diffusion Gradient Direction
  Sequence (0018,9076);
* Diffusion Directionality (0018,9075): NONE (b=0), DIRECTIONAL, BMATRIX, ISOTROPIC (a derived trace
  image).

Enhanced multi-frame images carry these per frame in the MR Diffusion Sequence (0018,9117) of the
Per-frame (or Shared) Functional Groups; :func:`read_item` reads one such item. dcm2niix reads the same
attributes (``nii_dicom.cpp``: kDiffusion_bValue, kDiffusionOrientation, kDiffusionDirectionality).
"""

from __future__ import annotations

import pydicom

from pipeline.ingest.gradients._values import first_float, floats, text
from pipeline.ingest.gradients.encoding import Encoding, lps_tuple

NAME = "DICOM MR Diffusion (0018,9087)/(0018,9089)"


def read_item(item: pydicom.Dataset) -> Encoding | None:
    """Encoding from a dataset or an MR Diffusion Sequence item; ``None`` without a b-value."""
    b_value = first_float(item.get("DiffusionBValue"))
    gradient = floats(item.get("DiffusionGradientOrientation"))
    sequence = item.get("DiffusionGradientDirectionSequence")
    if gradient is None and sequence:
        gradient = floats(sequence[0].get("DiffusionGradientOrientation"))
    directionality = text(item.get("DiffusionDirectionality")).upper()
    if b_value is None:
        return None
    if directionality == "NONE":
        gradient = (0.0, 0.0, 0.0)
    return Encoding(
        b_value_s_mm2=b_value,
        gradient_lps=None if gradient is None or len(gradient) != 3 else lps_tuple(gradient),
        source=NAME,
        derived=directionality == "ISOTROPIC",
    )


def read(ds: pydicom.Dataset) -> Encoding | None:
    """Top-level standard attributes of a classic image."""
    return read_item(ds)
