"""United Imaging (UIH): diffusion in the private group 0065, creator "Image Private Header".

* (0065,1009) FD: the actual b-value (s/mm²; non-integer, e.g. 929.75 for a nominal 1000, and 1.25
  for the "b0" volume); (0065,100A) FD is the nominal one;
* (0065,1037) FD x3: the gradient direction along the image's (row, column, slice normal) axes;
* the UIH mosaic geometry, (0065,1050) and (0065,1051), is read by :mod:`pipeline.ingest.mosaic`.

Documented in dcm2niix (``nii_dicom.cpp`` kDiffusion_bValueUIH, kDiffusionGradientDirectionUIH;
``nii_dicom_batch.cpp`` siemensPhilipsCorrectBvecs, UIH branch; dcm2niix issue 225) and the dcm_qa_uih
validation data.
"""

from __future__ import annotations

import pydicom

from pipeline.ingest.gradients._values import first_float, floats, image_to_lps, manufacturer, private_value
from pipeline.ingest.gradients.encoding import Encoding

NAME = "UIH (0065,1009) / (0065,1037)"
CREATOR = "Image Private Header"


def is_uih(ds: pydicom.Dataset) -> bool:
    name = manufacturer(ds)
    return name.startswith("UIH") or "UNITED IMAGING" in name


def read(ds: pydicom.Dataset) -> Encoding | None:
    if not is_uih(ds):
        return None
    b_value = first_float(private_value(ds, 0x0065, CREATOR, 0x09), "d")
    if b_value is None:
        return None
    vector = floats(private_value(ds, 0x0065, CREATOR, 0x37), "d")
    gradient = None if vector is None or len(vector) != 3 else image_to_lps(vector, ds)
    return Encoding(b_value_s_mm2=b_value, gradient_lps=gradient, source=NAME)
