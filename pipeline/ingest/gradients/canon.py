"""Canon / Toshiba: standard attributes in the patient frame, else the "b=...(x,y,z)" image comment.

* Canon/Toshiba classic images put (0018,9087) and (0018,9089) (patient frame) on diffusion-weighted
  slices only: their b=0 slices carry no diffusion attribute at all (dcm_qa_toshiba), which the loader
  reads as b = 0 (see :mod:`pipeline.ingest.diffusion`).
* Older Canon classic images give the direction only in Image Comments (0020,4000) as
  ``b=1000(x,y,z)``, in the acquisition's logical frame with x and y exchanged; dcm2niix reads it that
  way and reorients it like GE's logical vector (``nii_dicom.cpp``, issue 388; ``nii_dicom_batch.cpp``
  ``geCorrectBvecs``, kMANUFACTURER_CANON). We do the same with :func:`.ge.logical_to_lps`; no sample of
  this form is in our validation data, so it is checked only against that rule.
"""

from __future__ import annotations

import re

import pydicom

from pipeline.ingest.gradients._values import first_float, image_axes, manufacturer, text
from pipeline.ingest.gradients.encoding import Encoding, lps_tuple
from pipeline.ingest.gradients.ge import logical_to_lps

NAME = "Canon/Toshiba image comment b=...(x,y,z)"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_COMMENT = re.compile(rf"b=\s*(\d+)\s*\(\s*({_NUMBER})[\s,/\\]+({_NUMBER})[\s,/\\]+({_NUMBER})\s*\)")


def read(ds: pydicom.Dataset) -> Encoding | None:
    name = manufacturer(ds)
    if "TOSHIBA" not in name and "CANON" not in name:
        return None
    b_value = first_float(ds.get("DiffusionBValue"))
    match = _COMMENT.search(text(ds.get("ImageComments")))
    if match is None:
        return None
    if b_value is None:
        b_value = float(match.group(1))
    x, y, z = (float(match.group(k)) for k in (2, 3, 4))
    axes = image_axes(ds)
    phase = text(ds.get("InPlanePhaseEncodingDirection")).upper()
    if axes is None or phase not in ("ROW", "COL"):
        return Encoding(b_value_s_mm2=b_value, gradient_lps=None, source=NAME)
    lps = logical_to_lps((y, x, z), axes, phase == "COL")
    return Encoding(b_value_s_mm2=b_value, gradient_lps=lps_tuple(lps), source=NAME)
