"""Siemens: the CSA image header and the "SIEMENS MR HEADER" private elements.

* CSA Image Header Info (0029,1010), creator "SIEMENS CSA HEADER": ``B_value`` and
  ``DiffusionGradientDirection`` (patient frame, LPS), parsed with nibabel.nicom.csareader (format:
  nibabel documentation "Siemens CSA header");
* (0019,100C) B_value (IS) and (0019,100E) DiffusionGradientDirection (FD x3, LPS), creator
  "SIEMENS MR HEADER" (dcm2niix ``nii_dicom.cpp`` kDiffusionBFactorSiemens / kDiffusionDirectionSiemens;
  Siemens syngo MR conformance statements).

Only files whose Manufacturer (0008,0070) names Siemens are read this way.

Sign convention of sagittal mosaics: when the CSA SliceNormalVector points against row x column (a
"negative determinant", typical of Siemens sagittal mosaics, stored right to left), dcm2niix keeps
Siemens' slice order and reports the antipode of the CSA direction (``nii_dicom.cpp`` headerDcm2Nii2,
kSliceOrientMosaicNegativeDeterminant; ``nii_dicom_batch.cpp`` siemensPhilipsCorrectBvecs). A vector and
its antipode give the same diffusion weighting; we report the antipode too, so that our .bvec has
dcm2niix's sign (which tools such as FSL eddy compare across series).
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # nibabel.nicom announces itself as experimental
    from nibabel.nicom import csareader

from pipeline.ingest.gradients._values import first_float, floats, image_axes, manufacturer, private_value
from pipeline.ingest.gradients.encoding import Encoding, lps_tuple

NAME = "Siemens CSA / (0019,100C/100E)"
_CREATOR = "SIEMENS MR HEADER"


def _csa(ds: pydicom.Dataset) -> tuple[float | None, tuple[float, ...] | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            csa = csareader.get_csa_header(ds, "image")
        if csa is None:
            return None, None
        b_value = csareader.get_b_value(csa)
        gradient = csareader.get_vector(csa, "DiffusionGradientDirection", 3)
        normal = csareader.get_slice_normal(csa)
    except (ValueError, KeyError, IndexError, TypeError, csareader.CSAError):
        return None, None
    if gradient is not None and normal is not None and _against_row_column(ds, normal):
        gradient = -np.asarray(gradient, dtype=np.float64)
    return (
        None if b_value is None else float(b_value),
        None if gradient is None else tuple(float(g) for g in gradient),
    )


def _against_row_column(ds: pydicom.Dataset, normal: np.ndarray) -> bool:
    """True for a mosaic whose CSA slice normal points against row x column (negative determinant)."""
    if "MOSAIC" not in [str(v).upper() for v in ds.get("ImageType") or []]:
        return False
    axes = image_axes(ds)
    return axes is not None and float(np.dot(axes[:, 2], np.asarray(normal, dtype=np.float64))) < 0


def read(ds: pydicom.Dataset) -> Encoding | None:
    if "SIEMENS" not in manufacturer(ds):
        return None
    b_value, gradient = _csa(ds)
    if b_value is None:
        b_value = first_float(private_value(ds, 0x0019, _CREATOR, 0x0C))
    if gradient is None:
        gradient = floats(private_value(ds, 0x0019, _CREATOR, 0x0E), "d")
    if b_value is None:
        return None
    return Encoding(
        b_value_s_mm2=b_value,
        gradient_lps=None if gradient is None or len(gradient) != 3 else lps_tuple(gradient),
        source=NAME,
    )
