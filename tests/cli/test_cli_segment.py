"""``cordotomy segment`` end to end on NIfTI input (real T2 MRI; synthetic CT without contrast)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pipeline import cli
from pipeline.outputs import MARKER
from pipeline.seeds import load_seeds
from pipeline.volume import Volume


@pytest.mark.realdata
def test_segment_real_t2_nifti(real_data: Path, tmp_path: Path) -> None:
    source = real_data / "sct_errsm30" / "t2" / "t2.nii.gz"
    if not source.exists():
        pytest.skip(f"{source} not found")
    out = tmp_path / "out"
    override = tmp_path / "params.yaml"
    override.write_text("anatomy: {dentate_ligament: {dorsal_offset_mm: 0.7}}\n")
    argv = ["segment", str(source), "--out", str(out), "--contrast", "t2", "--parameters", str(override)]
    assert cli.main(argv) == 0
    labels = nib.load(str(out / "segmentation.nii.gz"))
    reference = nib.load(str(source))
    np.testing.assert_allclose(labels.affine, reference.affine, atol=1e-4)
    data = np.asarray(labels.dataobj)
    manual = np.asarray(nib.load(str(source.parent / "t2_seg-manual.nii.gz")).dataobj) > 0.5
    cord = data == 2
    assert 2 * (cord & manual).sum() / (cord.sum() + manual.sum()) >= 0.92
    summary = json.loads((out / "myelogram.json").read_text())
    assert summary["schema"] == "cordotomy.myelogram/1"
    assert summary["dicom_seg"] is None  # NIfTI input: nothing to reference
    # Every parameter is echoed with its source; the user's override says where it came from.
    used = summary["parameters"]["anatomy.dentate_ligament.dorsal_offset_mm"]
    assert used["value"] == 0.7
    assert used["source"] == "user override (params.yaml)"
    margin = summary["parameters"]["safety.vertebral_artery_margin_mm"]
    assert margin["source"] == load_seeds()["safety.vertebral_artery_margin_mm"].source
    assert margin["estimate"] is True
    assert summary["dentate_ligament"]["left"]["planning_level"]["side"] == "left"
    # The cord's transverse diameter exceeds its AP diameter (Sherman et al. 1990: 12.4 vs 8.8 mm at C2).
    assert summary["cord"]["transverse_mm"] > summary["cord"]["ap_mm"]


def _no_contrast_ct(path: Path) -> None:
    """A CT-like tube whose CSF holds no contrast (15 HU) inside a bony ring."""
    shape = (80, 80, 24)
    x, y = np.meshgrid(np.arange(shape[0]) * 0.5 - 20, np.arange(shape[1]) * 0.5 - 20, indexing="ij")
    image = np.full(shape, 40.0, dtype=np.float32)
    ring = ((x / 16) ** 2 + (y / 13) ** 2 <= 1) & ((x / 13) ** 2 + (y / 10) ** 2 > 1)
    sac = (x / 10) ** 2 + (y / 7.5) ** 2 <= 1
    image[ring] = 1000.0
    image[sac] = 15.0
    image += np.random.default_rng(0).normal(0, 10, shape).astype(np.float32)
    nib.save(Volume(image, np.diag([0.5, 0.5, 1.0, 1.0])).to_nifti(), str(path))


def test_segment_without_contrast_exits_4_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "ct.nii.gz"
    _no_contrast_ct(source)
    out = tmp_path / "out"
    assert cli.main(["segment", str(source), "--out", str(out)]) == 4
    assert "no contrast in the thecal sac" in capsys.readouterr().err
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))


def test_segment_missing_input_exits_3(tmp_path: Path) -> None:
    assert cli.main(["segment", str(tmp_path / "absent.nii.gz"), "--out", str(tmp_path / "o")]) == 3


@pytest.mark.realdata
def test_segment_refuses_existing_output_without_force(tmp_path: Path, real_data: Path) -> None:
    source = real_data / "sct_errsm30" / "t2" / "t2.nii.gz"
    if not source.exists():
        pytest.skip(f"{source} not found")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert cli.main(["segment", str(source), "--out", str(out), "--contrast", "t2"]) == 2
    assert (out / "keep.txt").exists()
    # --force replaces only a folder an earlier run of ours wrote (its marker), never anyone else's.
    assert cli.main(["segment", str(source), "--out", str(out), "--contrast", "t2", "--force"]) == 2
    assert (out / "keep.txt").exists()
    (out / MARKER).write_text(json.dumps({"tool": "cordotomy", "version": "0", "command": "segment"}))
    assert cli.main(["segment", str(source), "--out", str(out), "--contrast", "t2", "--force"]) == 0
    assert (out / "segmentation.nii.gz").exists()
    assert not (out / "keep.txt").exists()


@pytest.fixture(scope="module")
def normal_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.phantom import write_study

    folder = tmp_path_factory.mktemp("study-normal")
    write_study(folder, variant="normal", seed=2, vascular="cta")
    return folder


@pytest.mark.slow
def test_segment_dicom_study_with_cta(normal_study: Path, tmp_path: Path) -> None:
    import highdicom as hd
    import pydicom

    out = tmp_path / "out"
    dicom = normal_study / "dicom"
    assert cli.main(["segment", str(dicom), "--vascular", str(dicom), "--out", str(out)]) == 0
    truth = json.loads((normal_study / "truth" / "truth.json").read_text())
    labels = np.asarray(nib.load(str(out / "segmentation.nii.gz")).dataobj)
    reference = np.asarray(nib.load(str(normal_study / "truth" / "segmentation.nii.gz")).dataobj)
    assert labels.shape == reference.shape
    cord = labels == 2
    assert 2 * (cord & (reference == 2)).sum() / (cord.sum() + (reference == 2).sum()) >= 0.95
    assert set(np.unique(labels)) >= {1, 2, 3, 4, 5, 6, 7}
    summary = json.loads((out / "myelogram.json").read_text())
    ct_header = pydicom.dcmread(next((dicom / "ct_myelogram").iterdir()), stop_before_pixels=True)
    assert summary["source_series"]["series_number"] == ct_header.SeriesNumber
    assert summary["source_series"]["series_description"] == ct_header.SeriesDescription
    assert summary["vertebral_artery"]["source"] == "vascular_series"
    assert summary["vertebral_artery"]["overlaps_window"] == truth["vertebral_artery"]["overlaps_window"]
    assert summary["vertebral_artery"]["registration"]["mattes_mutual_information"] > 0
    # The DICOM SEG references the CT series and decodes back to the same labels.
    seg = hd.seg.segread(out / "dicom" / "seg.dcm")
    ct_series = {
        pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID
        for p in (dicom / "ct_myelogram").iterdir()
    }
    referenced = {item.SeriesInstanceUID for item in seg.ReferencedSeriesSequence}
    assert referenced == ct_series
    codes = {s.SegmentLabel: s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence}
    assert codes["spinal cord"] == "2748008"
    assert codes["C1"] == "14806007"
    assert codes["C2"] == "39976000"


def test_segment_dicom_no_contrast_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.phantom import write_study

    study = tmp_path / "study"
    write_study(study, variant="no-contrast", seed=0, vascular="cta")
    out = tmp_path / "out"
    assert cli.main(["segment", str(study / "dicom"), "--out", str(out)]) == 4
    assert "no contrast in the thecal sac" in capsys.readouterr().err
    assert not out.exists()
