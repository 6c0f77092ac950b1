"""Report stage: the output layer (JSON documents, NIfTI maps, figures, DICOM SEG/SR)."""
