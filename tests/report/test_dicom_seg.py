"""DICOM SEG: fixed segment numbers (= contract label values), series description, lossless read-back."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from pipeline.contract import Label
from pipeline.ingest import load_series, series_datasets
from pipeline.report.dicom_seg import SERIES_DESCRIPTION, write_dicom_seg
from pipeline.volume import Volume

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "normal"


@pytest.fixture(scope="module")
def ct_and_truth() -> tuple[Volume, np.ndarray, list]:
    ct = load_series(SAMPLE / "dicom" / "ct_myelogram")
    truth = Volume.from_nifti(SAMPLE / "truth" / "segmentation.nii.gz")
    np.testing.assert_allclose(truth.affine_lps, ct.affine_lps, atol=1e-4)
    return ct, np.asarray(truth.array, dtype=np.uint8), series_datasets(SAMPLE / "dicom" / "ct_myelogram")


def _label_voxels_from_seg(path: Path, grid: Volume) -> dict[int, np.ndarray]:
    """Each segment's voxels as indices of ``grid``, through highdicom's own geometry (LPS affine)."""
    seg = hd.seg.segread(path)
    numbers = [int(s.SegmentNumber) for s in seg.SegmentSequence]
    volume = seg.get_volume(combine_segments=False, segment_numbers=numbers)
    result = {}
    for i, number in enumerate(numbers):
        index = np.argwhere(volume.array[..., i] > 0).astype(float)
        lps = index @ volume.affine[:3, :3].T + volume.affine[:3, 3]
        result[number] = np.rint(grid.lps_to_index(lps)).astype(int)
    return result


@pytest.mark.parametrize("dropped", [(), (Label.LEFT_VERTEBRAL_ARTERY, Label.DENTATE_LIGAMENT)])
def test_segment_numbers_are_label_values_and_masks_read_back(ct_and_truth, tmp_path: Path, dropped) -> None:
    ct, truth, sources = ct_and_truth
    labels = truth.copy()
    for label in dropped:  # a case without these structures keeps the same numbering
        labels[labels == label] = 0
    path = tmp_path / "seg.dcm"
    write_dicom_seg(ct.with_array(labels), sources, path, name="sample")
    seg = hd.seg.segread(path)
    assert seg.SeriesDescription == SERIES_DESCRIPTION
    numbering = {int(s.SegmentNumber): s.SegmentLabel for s in seg.SegmentSequence}
    assert numbering == {int(label): label.description for label in Label}
    read_back = _label_voxels_from_seg(path, ct)
    for label in Label:
        expected = np.argwhere(labels == label)
        got = read_back[int(label)]
        assert len(got) == len(expected), label
        if len(got):
            np.testing.assert_array_equal(np.unique(got, axis=0), np.unique(expected, axis=0))
