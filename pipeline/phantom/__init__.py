"""Deterministic sample cases with ground truth: CT myelogram, vascular series, post-procedure DWI."""

from pipeline.phantom.dwi import DwiPhantom, make_dwi_phantom

__all__ = ["DwiPhantom", "make_dwi_phantom"]
