"""Myelogram stage: thecal sac, cord, C1/C2, dentate ligaments, vertebral arteries, anatomical frame."""

from pipeline.myelogram.cord import CordCrossSection, CordSegmentation, segment_cord

__all__ = ["CordCrossSection", "CordSegmentation", "segment_cord"]
