"""DICOM Segmentation (SEG) of the myelogram labels, referencing the CT series (highdicom).

Segments carry SNOMED CT codes where a concept exists in the DICOM content-mapping resource
(PS3.16, CID 7150/7151 via pydicom's code dictionary):

========================  ==========================================  ==============================
label                     segmented property type                     category
========================  ==========================================  ==============================
1 contrast-filled CSF     SCT 65216001 Cerebrospinal fluid            SCT 91720002 Body substance
2 spinal cord             SCT 2748008 Spinal cord                     SCT 91723000 Anatomical structure
3 C1                      SCT 14806007 Bone structure of atlas        SCT 91723000 Anatomical structure
4 C2                      SCT 39976000 Bone structure of axis         SCT 91723000 Anatomical structure
5 other bone              SCT 272673000 Bone                          SCT 91723000 Anatomical structure
6 left vertebral artery   SCT 85234005 Vertebral artery + Left        SCT 91723000 Anatomical structure
7 right vertebral artery  SCT 85234005 Vertebral artery + Right       SCT 91723000 Anatomical structure
8 dentate ligament        SCT 52082005 Ligament (no specific code)    SCT 91723000 Anatomical structure
========================  ==========================================  ==============================

Concepts without their own code: the dentate (denticulate) ligament is coded as the generic "Ligament"
with the segment label naming it; "contrast-filled" CSF has no code for the contrast and is coded as CSF.
Laterality of the arteries is a property-type modifier (SCT 7771000 Left / 24028007 Right).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from pipeline import __version__
from pipeline.contract import Label
from pipeline.errors import InputDataError
from pipeline.volume import Volume

# highdicom narrates every module it copies at INFO level; keep the command's log readable.
logging.getLogger("highdicom").setLevel(logging.WARNING)

SERIES_DESCRIPTION = "Myelogram labels (cordotomy-pipeline)"
_ANATOMY = codes.SCT.AnatomicalStructure
_SEGMENTS: dict[int, tuple[str, Code, Code, Code | None]] = {
    1: ("contrast-filled CSF", codes.SCT.BodySubstance, codes.SCT.CerebrospinalFluid, None),
    2: ("spinal cord", _ANATOMY, codes.SCT.SpinalCord, None),
    3: ("C1 (atlas)", _ANATOMY, codes.SCT.BoneStructureOfAtlas, None),
    4: ("C2 (axis)", _ANATOMY, codes.SCT.BoneStructureOfAxis, None),
    5: ("other bone", _ANATOMY, codes.SCT.Bone, None),
    6: ("left vertebral artery", _ANATOMY, codes.SCT.VertebralArtery, codes.SCT.Left),
    7: ("right vertebral artery", _ANATOMY, codes.SCT.VertebralArtery, codes.SCT.Right),
    8: ("dentate ligament", _ANATOMY, codes.SCT.Ligament, None),
}


def _slice_order(labels: Volume, sources: Sequence[pydicom.Dataset], name: str) -> list[int]:
    """Slice index of the label volume for each source image, checked against its position."""
    order = []
    for dataset in sources:
        position = np.asarray([float(v) for v in dataset.ImagePositionPatient])
        index = labels.lps_to_index(position)
        k = round(float(index[2]))
        if np.abs(index[:2]).max() > 0.05 or abs(index[2] - k) > 0.05 or not 0 <= k < labels.shape[2]:
            raise InputDataError(
                f"{name}: a source image does not lie on a slice of the segmentation grid; "
                "the DICOM SEG cannot reference it"
            )
        order.append(k)
    return order


def write_dicom_seg(
    labels: Volume, sources: Sequence[pydicom.Dataset], path: str | Path, *, name: str
) -> None:
    """Write the label volume as a binary DICOM SEG referencing ``sources`` (the CT slices).

    The label volume must be on the grid of ``sources`` (array axes: column, row, slice), as
    :func:`pipeline.ingest.load_series` returns it.
    """
    if not sources:
        raise InputDataError(f"{name}: no source DICOM images to reference")
    order = _slice_order(labels, sources, name)
    data = np.asarray(labels.array, dtype=np.uint8)
    frames = np.stack([data[:, :, k].T for k in order])  # (frames, rows, columns)
    descriptions = []
    algorithm = hd.AlgorithmIdentificationSequence(
        name="cordotomy-pipeline myelogram stage",
        family=codes.cid7162.EdgeDetection,
        version=__version__,
    )
    # Segment number = label value (pipeline.contract.Label) in every case, so that "segment 8 is the
    # dentate ligament" holds for any reader; BINARY SEGs need numbers 1..N, so all eight are described
    # even when a structure is absent (its segment then has no frame).
    for label in Label:
        name, category, property_type, laterality = _SEGMENTS[int(label)]
        description = hd.seg.SegmentDescription(
            segment_number=int(label),
            segment_label=name,
            segmented_property_category=category,
            segmented_property_type=property_type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        if laterality is not None:
            description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept.from_code(laterality)
            ]
        descriptions.append(description)
    if not frames.any():
        raise InputDataError(f"{name}: the segmentation is empty; no DICOM SEG written")
    seg = hd.seg.Segmentation(
        source_images=list(sources),
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=9901,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="cordotomy-pipeline",
        manufacturer_model_name="myelogram stage",
        software_versions=__version__,
        device_serial_number="none",
        content_description="CT myelogram labels (cordotomy-pipeline)",
        content_label="MYELOGRAM",
        omit_empty_frames=True,
    )
    seg.SeriesDescription = SERIES_DESCRIPTION
    seg.save_as(str(path))
