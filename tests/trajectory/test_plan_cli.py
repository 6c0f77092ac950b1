"""``cordotomy plan`` on the committed sample case and on refused inputs (exit codes of DESIGN §5)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pipeline import cli
from pipeline.contract import validate_document

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "normal"


@pytest.mark.slow
def test_plan_on_sample_data_writes_the_contract_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import highdicom as hd

    out = tmp_path / "out"
    arguments = [
        "plan",
        str(SAMPLE / "dicom"),
        "--pain-side",
        "right",
        "--pain-region",
        "leg",
        "--out",
        str(out),
    ]
    code = cli.main([*arguments, "--json"])
    assert code == 0
    plan = json.loads((out / "plan.json").read_text())
    assert json.loads(capsys.readouterr().out) == plan
    validate_document(plan, "plan")
    truth = json.loads((SAMPLE / "truth" / "truth.json").read_text())
    assert plan["cordotomy_side"] == truth["case"]["cordotomy_side"] == "left"
    assert plan["pain"] == {"side": "right", "region": "leg"}
    assert plan["source_series"]["series_number"] == 2
    # Without a vascular series the arteries are an estimate: never reported as clear.
    assert plan["vertebral_artery"]["source"] == "foramina_estimate"
    codes = {flag["code"]: flag["severity"] for flag in plan["flags"]}
    assert codes["VERTEBRAL_ARTERY_ESTIMATED"] == "warning"
    assert codes["SOMATOTOPY_UNCERTAIN"] == "info"
    labels = np.asarray(nib.load(str(out / "segmentation.nii.gz")).dataobj)
    assert {1, 2, 3, 4} <= set(np.unique(labels))
    seg = hd.seg.segread(out / "dicom" / "seg.dcm")
    assert len(seg.SegmentSequence) >= 4
    assert (out / "myelogram.json").exists()
    myelogram = json.loads((out / "myelogram.json").read_text())
    assert myelogram["vertebral_artery"]["overlaps_window"] == plan["vertebral_artery"]["overlaps_window"]


REFUSED = [
    pytest.param("outside-fov", "C1-C2 not in the field of view", id="outside-fov"),
    pytest.param("no-contrast", "no contrast", id="no-contrast"),
]


@pytest.mark.parametrize(("variant", "words"), REFUSED)
def test_plan_refuses_cases_it_cannot_plan(
    variant: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.phantom.ct import make_ct_case

    case = make_ct_case(variant, seed=0, vascular=None)
    source = tmp_path / "ct.nii.gz"
    case.ct.to_nifti().to_filename(str(source))
    out = tmp_path / "out"
    code = cli.main(["plan", str(source), "--pain-side", "left", "--pain-region", "arm", "--out", str(out)])
    assert code == 4
    assert words in capsys.readouterr().err
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))
