"""`cordotomy run --only/--reuse`: one stage's files, and assembling refuses stage outputs of another question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import cli

SAMPLE_DWI = Path(__file__).resolve().parents[2] / "sample_data" / "normal" / "dicom" / "dwi"
ARGS = ["--pain-side", "right", "--pain-region", "leg", "-q"]


def test_only_dti_writes_the_stage_files_and_stage_json(tmp_path: Path) -> None:
    out = tmp_path / "dti"
    assert cli.main(["run", str(SAMPLE_DWI), *ARGS, "--only", "dti", "--out", str(out)]) == 0
    stage = json.loads((out / "stage.json").read_text(encoding="utf-8"))
    assert stage["stage"] == "dti"
    assert stage["status"] == "done"
    assert (out / "dti.json").is_file()
    assert (out / "dti" / "fa.nii.gz").is_file()
    assert not (out / "results.json").exists()
    assert json.loads((out / "dti.json").read_text(encoding="utf-8"))["lesion_side"] == "left"


def test_only_plan_without_a_ct_records_why_it_was_skipped(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    assert cli.main(["run", str(SAMPLE_DWI), *ARGS, "--only", "plan", "--out", str(out)]) == 0
    stage = json.loads((out / "stage.json").read_text(encoding="utf-8"))
    assert stage["status"] == "skipped"
    assert "no CT myelogram" in stage["reason"]


@pytest.mark.parametrize(
    ("document", "name", "words"),
    [
        pytest.param({"pain": {"side": "right", "region": "arm"}}, "plan.json", "right arm pain", id="plan-region"),
        pytest.param({"pain": {"side": "left", "region": "leg"}}, "plan.json", "left leg pain", id="plan-side"),
        pytest.param({"lesion_side": "right"}, "dti.json", "lesion is on the right side", id="dti-side"),
    ],
)
def test_reuse_refuses_stage_outputs_of_another_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict, name: str, words: str
) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / name).write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "case"
    assert cli.main(["run", str(SAMPLE_DWI), *ARGS, "--reuse", str(stage), "--out", str(out)]) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_only_and_reuse_do_not_go_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", str(SAMPLE_DWI), *ARGS, "--only", "dti", "--reuse", str(tmp_path),
                     "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 2
    assert "--only and --reuse" in capsys.readouterr().err
