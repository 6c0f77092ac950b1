"""GE: b-value in (0043,1039), gradient direction in (0019,10BB/10BC/10BD), in the image's own frame.

* (0043,1039) "Slop_int_6..slop_int_9", creator "GEMS_PARM_01": the first value is the b-value, in some
  software versions with 1,000,000,000 added (dcm2niix issue 602, ``nii_dicom.cpp`` ``set_bValGE``);
  b=0 slices of GE classic series may carry no (0018,9087) at all, only this.
* (0019,10BB), (0019,10BC), (0019,10BD) "User data 20-22", creator "GEMS_ACQU_01": the gradient
  direction relative to the acquisition's logical axes, not the patient (GE MR DICOM conformance
  statements list them as DTI diffusion directions; dcm2niix ``nii_dicom_batch.cpp``
  ``geCorrectBvecs``, after Xiangrui Li's dicm2nii).

Mapping to image axes, as dcm2niix (and dicm2nii) do: with the phase encoding along the columns
(In-plane Phase Encoding Direction (0018,1312) = COL) the vector's components (x, y, z) lie along
(row, column, slice normal) with signs that depend on the slice plane (axial: -x, -y, +z; sagittal:
+x, +y, -z; coronal: -x, +y, +z); with ROW phase encoding x and y swap first. Validated here on the
axial dcm_qa_ge series (oblique, 43 degree in-plane rotation); dcm2niix warns that the sagittal,
coronal and ROW cases have limited validation, and so do we. A vector whose length is between 0.03
and 0.97 encodes a reduced b-value (b·|g|², rounded to 5 s/mm²; dcm2niix issues 163 and 245).
"""

from __future__ import annotations

import numpy as np
import pydicom

from pipeline.ingest.gradients._values import (
    first_float,
    image_axes,
    manufacturer,
    private_value,
    text,
)
from pipeline.ingest.gradients.encoding import Encoding, lps_tuple

NAME = "GE (0043,1039) / (0019,10BB-10BD)"
_ACQU = "GEMS_ACQU_01"
_PARM = "GEMS_PARM_01"
_B_OFFSET = 1_000_000_000
# Signs of the (x, y, z) components along (row, column, normal) per slice plane (normal's main axis).
_PLANE_SIGNS = {
    0: np.array([1.0, 1.0, -1.0]),  # sagittal
    1: np.array([-1.0, 1.0, 1.0]),  # coronal
    2: np.array([-1.0, -1.0, 1.0]),  # axial
}


def logical_to_lps(vector: tuple[float, ...], axes: np.ndarray, phase_along_columns: bool) -> np.ndarray:
    """A GE logical-frame gradient vector in patient LPS, for an image with ``axes`` (row, column,
    normal as columns)."""
    v = np.asarray(vector, dtype=np.float64)
    if not phase_along_columns:
        v = np.array([v[1], -v[0], v[2]])
    plane = int(np.argmax(np.abs(axes[:, 2])))
    return np.asarray(axes @ (_PLANE_SIGNS[plane] * v))


def read(ds: pydicom.Dataset) -> Encoding | None:
    if not manufacturer(ds).startswith("GE"):
        return None
    b_raw = first_float(private_value(ds, 0x0043, _PARM, 0x39))
    if b_raw is None:
        return None
    b_value = float(round(b_raw) % _B_OFFSET)
    parts = [first_float(private_value(ds, 0x0019, _ACQU, element)) for element in (0xBB, 0xBC, 0xBD)]
    axes = image_axes(ds)
    phase = text(ds.get("InPlanePhaseEncodingDirection")).upper()
    if any(p is None for p in parts) or axes is None or phase not in ("ROW", "COL"):
        return Encoding(b_value_s_mm2=b_value, gradient_lps=None, source=NAME)
    vector = np.array([float(p) for p in parts if p is not None])
    length = float(np.linalg.norm(vector))
    if length <= 1e-6 or b_value <= 0:
        return Encoding(b_value_s_mm2=b_value, gradient_lps=(0.0, 0.0, 0.0), source=NAME)
    if 0.03 < length < 0.97:
        scaled = b_value * length**2
        b_value = 5.0 if 0 < scaled < 5 else float(int((scaled + 2.5) / 5) * 5)
    lps = logical_to_lps(tuple(vector / length), axes, phase == "COL")
    return Encoding(b_value_s_mm2=b_value, gradient_lps=lps_tuple(lps), source=NAME)
