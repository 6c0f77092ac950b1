"""Myelogram stage: thecal sac, cord, C1/C2, dentate ligaments, vertebral arteries, anatomical frame.

Public face of the subpackage:

* :func:`segment_cord` (cord and CSF on a CT myelogram, T2 or T1 MRI) -> :class:`CordSegmentation`;
* :func:`segment_vertebrae` (C1, C2, other bone, landmarks, transverse foramina) -> :class:`Vertebrae`;
* :func:`find_dentate_ligaments` -> :class:`DentateLigaments` of :class:`DentateAttachment`;
* :class:`AnatomicalFrame` (left, posterior, superior axes of the patient's anatomy);
* :func:`analyse_myelogram` (all of it, with the contract label map) -> :class:`MyelogramResult`.
"""

from pipeline.myelogram.analysis import LABEL_NAMES, MyelogramResult, analyse_myelogram
from pipeline.myelogram.bone import Vertebrae, segment_vertebrae
from pipeline.myelogram.cord import CordCrossSection, CordSegmentation, segment_cord
from pipeline.myelogram.dentate import (
    DentateAttachment,
    DentateLigaments,
    DentateSource,
    find_dentate_ligaments,
)
from pipeline.myelogram.frame import AnatomicalFrame
from pipeline.myelogram.vessels import ArterySource, VertebralArtery

__all__ = [
    "LABEL_NAMES",
    "AnatomicalFrame",
    "ArterySource",
    "CordCrossSection",
    "CordSegmentation",
    "DentateAttachment",
    "DentateLigaments",
    "DentateSource",
    "MyelogramResult",
    "Vertebrae",
    "VertebralArtery",
    "analyse_myelogram",
    "find_dentate_ligaments",
    "segment_cord",
    "segment_vertebrae",
]
