"""Deterministic sample cases with ground truth: CT myelogram, vascular series, post-procedure DWI.

Public API: :func:`make_ct_case` (CT myelogram + labels + vascular series + truth), :func:`make_dwi_phantom`
(post-cordotomy DWI with known tensors) and the variant table :data:`VARIANTS`.
"""

from pipeline.phantom.ct import LABELS, VASCULAR_KINDS, CtCase, make_ct_case
from pipeline.phantom.dwi import DwiPhantom, make_dwi_phantom
from pipeline.phantom.study import Study, make_study, save_study, write_study
from pipeline.phantom.variants import VARIANTS, CtVariant

__all__ = [
    "LABELS",
    "VARIANTS",
    "VASCULAR_KINDS",
    "CtCase",
    "CtVariant",
    "DwiPhantom",
    "Study",
    "make_ct_case",
    "make_dwi_phantom",
    "make_study",
    "save_study",
    "write_study",
]
