"""DICOM SEG: segment number = label value in every case, SeriesDescription set, masks read back equal."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from pipeline.contract import Label
from pipeline.ingest import series_datasets
from pipeline.report.dicom_seg import SERIES_DESCRIPTION, write_dicom_seg
from pipeline.volume import Volume

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "normal"


@pytest.fixture(scope="module")
def truth_labels() -> Volume:
    return Volume.from_nifti(SAMPLE / "truth" / "segmentation.nii.gz")


@pytest.mark.parametrize("absent", [(), (Label.LEFT_VERTEBRAL_ARTERY,), (Label.C1, Label.DENTATE_LIGAMENT)])
def test_segment_numbers_are_the_label_values(tmp_path: Path, truth_labels: Volume, absent: tuple) -> None:
    array = np.asarray(truth_labels.array, dtype=np.uint8).copy()
    for label in absent:
        array[array == label] = 0
    sources = series_datasets(SAMPLE / "dicom" / "ct_myelogram")
    path = tmp_path / "seg.dcm"
    write_dicom_seg(truth_labels.with_array(array), sources, path, name="sample")

    seg = hd.seg.segread(path)
    assert seg.SeriesDescription == SERIES_DESCRIPTION
    numbers = {int(d.SegmentNumber): d.SegmentLabel for d in seg.SegmentSequence}
    assert sorted(numbers) == [int(label) for label in Label]
    volume = seg.get_volume(combine_segments=True, relabel=False)
    read = volume.array  # (slices, rows, columns) in highdicom's own slice order
    # map highdicom's voxel (s, r, c) to ours through both affines (LPS mm) to compare voxel by voxel
    corners = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    theirs = (volume.affine @ np.c_[corners, np.ones(4)].T).T[:, :3]
    ours = np.rint(truth_labels.lps_to_index(theirs)).astype(int)
    step = ours[1:] - ours[0]  # our index step for one step along each of their axes
    assert sorted(np.abs(step).sum(axis=0).tolist()) == [1, 1, 1]
    index = np.indices(read.shape).reshape(3, -1).T @ step + ours[0]
    assert np.array_equal(read.reshape(-1), array[tuple(index.T)])
    for label in absent:
        assert not (read == label).any()
