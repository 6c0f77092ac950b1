"""Label values of ``segmentation.nii.gz`` and of the DICOM SEG segments (DESIGN.md §4, contract).

The SEG segment number of each structure equals its label value, whatever the case, so that a PACS
hanging protocol or a downstream script can rely on "segment 8 is the dentate ligament".
"""

from __future__ import annotations

from enum import IntEnum


class Label(IntEnum):
    """One structure of the label map; the value is the voxel value and the SEG segment number."""

    CSF = 1
    CORD = 2
    C1 = 3
    C2 = 4
    OTHER_BONE = 5
    LEFT_VERTEBRAL_ARTERY = 6
    RIGHT_VERTEBRAL_ARTERY = 7
    DENTATE_LIGAMENT = 8

    @property
    def description(self) -> str:
        """Human-readable name, as in the contract and in the SEG segment labels."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Label.CSF: "contrast-filled CSF",
    Label.CORD: "spinal cord",
    Label.C1: "C1",
    Label.C2: "C2",
    Label.OTHER_BONE: "other bone",
    Label.LEFT_VERTEBRAL_ARTERY: "left vertebral artery",
    Label.RIGHT_VERTEBRAL_ARTERY: "right vertebral artery",
    Label.DENTATE_LIGAMENT: "dentate ligament",
}
