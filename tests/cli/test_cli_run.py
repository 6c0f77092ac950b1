"""`cordotomy run` on the bundled sample study: the whole output tree, read back by independent readers."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from pipeline import cli
from pipeline.contract import validate_document
from pipeline.report.dicom_sr import CHANGE_CONCEPTS, CLEARANCE_CONCEPTS, DEPTH_CONCEPTS, DTI_CONCEPTS
from tests.report._chromium import chromium_executable, visit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "sample_data" / "normal"
CLINICAL = PROJECT_ROOT / "config" / "clinical" / "sample-normal.yaml"
CONTRACT_FILES = [
    "results.json", "plan.json", "dti.json", "segmentation.nii.gz", "dti/fa.nii.gz", "dti/md.nii.gz",
    "dti/ad.nii.gz", "dti/rd.nii.gz", "dti/lesion.nii.gz", "dti/homolog.nii.gz", "dicom/seg.dcm",
    "dicom/sr.dcm", "report.html",
]  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run") / "sample"
    capture = tmp_path_factory.mktemp("stdout") / "summary.json"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(["run", str(SAMPLE), "--pain-side", "right", "--pain-region", "leg",
                         "--clinical", str(CLINICAL), "--out", str(out), "--json", "-q"])  # fmt: skip
    assert code == 0
    capture.write_text(buffer.getvalue(), encoding="utf-8")
    return out, json.loads(buffer.getvalue())


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_run_writes_every_file_of_the_contract(case: tuple[Path, dict]) -> None:
    out, summary = case
    missing = [name for name in CONTRACT_FILES if not (out / name).is_file()]
    assert missing == []
    results = _json(out / "results.json")
    validate_document(results, "results")
    validate_document(_json(out / "plan.json"), "plan")
    assert results["plan"] == _json(out / "plan.json")
    assert results["dti"] == _json(out / "dti.json")
    assert set(results["files"]) >= set(CONTRACT_FILES)
    # the machine summary says the same as results.json
    assert summary["flags"] == results["flags"]
    assert summary["cordotomy_side"] == results["plan"]["cordotomy_side"]
    assert Path(summary["report"]) == out / "report.html"


@pytest.mark.slow
def test_results_agree_with_the_generator_truth(case: tuple[Path, dict]) -> None:
    out, _ = case
    results = _json(out / "results.json")
    truth = _json(SAMPLE / "truth" / "truth.json")
    assert results["plan"]["cordotomy_side"] == "left"  # opposite the right-sided pain
    assert results["dti"]["lesion_side"] == truth["dwi"]["lesion_side"]
    assert results["plan"]["vertebral_artery"]["source"] == "vascular_series"
    assert results["plan"]["cord"]["ap_mm"] == pytest.approx(truth["cord"]["ap_mm"], abs=0.8)
    used = {s["role"]: s["series_number"] for s in results["series"] if s["used"]}
    assert used == {"ct_myelogram": 2, "vascular": 3, "dwi": 5}
    # the clinical file is judged: everything given is ideal, the rest not given
    statuses = {item["item"]: item["status"] for item in results["selection"]["items"]}
    assert statuses["life expectancy"] == "ideal"
    assert results["selection"]["overall"] == "ideal"
    # every parameter carries its source
    assert all(entry["source"] for entry in results["parameters"].values())


def _measurements(group: object) -> dict[str, tuple[float, str]]:
    return {m.name.value: (m.value, m.unit.value) for m in group.get_measurements()}  # type: ignore[attr-defined]


@pytest.mark.slow
def test_sr_reads_back_with_the_json_values(case: tuple[Path, dict]) -> None:
    out, _ = case
    plan = _json(out / "plan.json")
    dti = _json(out / "dti.json")
    sr = hd.sr.srread(out / "dicom" / "sr.dcm")
    ct = pydicom.dcmread(next((SAMPLE / "dicom" / "ct_myelogram").iterdir()), stop_before_pixels=True)
    seg = pydicom.dcmread(out / "dicom" / "seg.dcm", stop_before_pixels=True)
    assert sr.SeriesDescription
    report = sr.content
    planar = {g.finding_type.value: g for g in report.get_planar_roi_measurement_groups()}
    for key, code in (("target_lps_mm", "112162"), ("pial_entry_lps_mm", "PIAL_ENTRY"),
                      ("skin_entry_lps_mm", "SKIN_ENTRY"), ("dentate_ligament_lps_mm", "DENTATE_ATTACHMENT")):  # fmt: skip
        region = planar[code].roi
        assert region.ReferencedFrameOfReferenceUID == ct.FrameOfReferenceUID
        np.testing.assert_allclose(region.value[0], plan[key], atol=1e-3)
    path = _measurements(planar["PLANNED_PATH"])
    for name, concept in DEPTH_CONCEPTS.items():
        assert path[concept.value] == (pytest.approx(plan["depths_mm"][name], abs=1e-6), "mm")
    for name, concept in CLEARANCE_CONCEPTS.items():
        assert path[concept.value] == (pytest.approx(plan["clearances_mm"][name], abs=1e-6), "mm")
    # DTI: lesion and homolog metrics with UCUM units, and the changes in percent
    groups = {g.finding_type.value: g for g in report.get_image_measurement_groups()}
    for roi, code in (("lesion", "52988006"), ("homolog", "CONTRALATERAL_HOMOLOG")):
        values = _measurements(groups[code])
        for key, (concept, unit) in DTI_CONCEPTS.items():
            assert values[concept.value] == (pytest.approx(dti[roi][key], rel=1e-9), unit.value)
    changes = _measurements(groups["DTI_CHANGE"])
    for name, concept in CHANGE_CONCEPTS.items():
        assert changes[concept.value] == (pytest.approx(dti["change_percent"][name], rel=1e-9), "%")
    # the cord group references segment 2 (spinal cord) of our SEG
    (cord,) = report.get_volumetric_roi_measurement_groups()
    reference = cord.referenced_segment
    assert reference.referenced_sop_instance_uid == seg.SOPInstanceUID
    assert reference.referenced_segment_numbers == [2]
    # evidence: the CT series, the DWI series and the SEG
    evidence = [
        s.SeriesInstanceUID
        for item in list(getattr(sr, "CurrentRequestedProcedureEvidenceSequence", []))
        + list(getattr(sr, "PertinentOtherEvidenceSequence", []))
        for s in item.ReferencedSeriesSequence
    ]
    dwi = pydicom.dcmread(next((SAMPLE / "dicom" / "dwi").iterdir()), stop_before_pixels=True)
    assert {ct.SeriesInstanceUID, dwi.SeriesInstanceUID, seg.SeriesInstanceUID} <= set(evidence)


@pytest.mark.slow
def test_seg_numbers_are_label_values(case: tuple[Path, dict]) -> None:
    out, _ = case
    seg = hd.seg.segread(out / "dicom" / "seg.dcm")
    assert seg.SeriesDescription
    assert [int(d.SegmentNumber) for d in seg.SegmentSequence] == list(range(1, 9))


@pytest.mark.slow
@pytest.mark.skipif(chromium_executable() is None, reason="chromium not installed (.ci/run installs it)")
def test_report_opens_offline_in_chromium(case: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = case
    results = _json(out / "results.json")
    screenshot = tmp_path / "report.png"
    page = visit(out / "report.html", screenshot, profile=tmp_path / "profile")
    assert [u for u in page.requests if not u.startswith(("file:", "data:"))] == []
    assert page.errors == []
    assert page.images >= 3
    assert page.broken_images == 0
    assert screenshot.stat().st_size > 100_000
    text = page.text
    for heading in ("Flags", "axial, coronal and sagittal reformats", "Expected impedance", "Post-procedure DTI",
                    "Patient selection checklist", "Series used"):  # fmt: skip
        assert heading in text
    for flag in results["flags"]:
        assert flag["code"] in text
    assert "ADC = mean diffusivity" in text
    assert "reference change" in text
    html = (out / "report.html").read_text(encoding="utf-8")
    for alt in ("reformats along the planned path", "impedance against depth", "ADC (MD), FA and colour FA"):
        assert alt in html


@pytest.mark.slow
def test_report_command_rewrites_the_report(case: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = case
    before = (out / "report.html").read_text(encoding="utf-8")
    (out / "report.html").unlink()
    assert cli.main(["report", str(out), "-q"]) == 0
    after = (out / "report.html").read_text(encoding="utf-8")
    # the same page (figures are re-rendered from the same files)
    assert after.count("data:image/png;base64,") == before.count("data:image/png;base64,") == 3
    strip = [line for line in before.splitlines() if "data:image" not in line]
    assert strip == [line for line in after.splitlines() if "data:image" not in line]


def test_report_of_a_folder_without_results_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["report", str(tmp_path)]) == 3
    assert "results.json" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_bad_clinical_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clinical = tmp_path / "clinical.yaml"
    clinical.write_text("spo2_percent: 150\n", encoding="utf-8")
    out = tmp_path / "out"
    code = cli.main(["run", str(SAMPLE), "--pain-side", "right", "--pain-region", "leg",
                     "--clinical", str(clinical), "--out", str(out)])  # fmt: skip
    assert code == 2
    assert "spo2_percent" in capsys.readouterr().err
    assert not out.exists()
