"""The Snakemake workflow over a two-case cohort: both reports, the cohort table with the danger, the index."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "sample_data" / "normal"


def _snakemake(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "snakefile"), *args],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip


def test_workflow_is_lint_clean() -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    completed = _snakemake("--directory", str(PROJECT_ROOT), "--lint", env=env)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "Congratulations" in completed.stdout + completed.stderr


@pytest.mark.slow
@pytest.mark.snakemake
def test_cohort_workflow_on_two_phantom_cases(tmp_path: Path) -> None:
    # a vertebral artery looping over the left C1-C2 window; right-sided pain, so a left cordotomy
    va_loop = tmp_path / "va-loop"
    assert cli.main(["phantom", str(va_loop), "--variant", "va-loop", "--seed", "0", "-q"]) == 0
    truth = json.loads((va_loop / "truth" / "truth.json").read_text(encoding="utf-8"))
    assert truth["vertebral_artery"]["overlaps_window"] == {"left": True, "right": False}
    cohort = tmp_path / "cohort.tsv"
    cohort.write_text(
        "case\tstudy\tpain_side\tpain_region\tclinical\n"
        f"normal\t{SAMPLE / 'dicom'}\tright\tleg\t{PROJECT_ROOT / 'config' / 'clinical' / 'sample-normal.yaml'}\n"
        f"va-loop\t{va_loop / 'dicom'}\tright\tarm\t\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"out: {tmp_path / 'results'}\ncohort: {cohort}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "MPLBACKEND": "Agg"}
    # one thread per plan job, so that the two cases' plans run side by side on the two cores
    completed = _snakemake("--directory", str(PROJECT_ROOT), "--configfile", str(config), "--cores", "2",
                           "--set-threads", "plan=1", "--quiet", env=env)  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]

    results = tmp_path / "results"
    for case in ("normal", "va-loop"):
        assert (results / case / "report.html").is_file()
        assert (results / case / "dicom" / "sr.dcm").is_file()
        assert (results / "logs" / f"{case}.plan.log").is_file()
    with (results / "cohort_summary.tsv").open(encoding="utf-8") as handle:
        rows = {row["case"]: row for row in csv.DictReader(handle, delimiter="\t")}
    assert set(rows) == {"normal", "va-loop"}
    # the danger is visible in the table, on the correct case and side only
    loop, normal = rows["va-loop"], rows["normal"]
    assert loop["worst_severity"] == "danger"
    assert loop["danger_flags"]
    assert loop["cordotomy_side"] == "left"
    assert loop["vertebral_artery_overlaps_left"] == "True"
    assert normal["danger_flags"] == ""
    assert normal["vertebral_artery_overlaps_left"] == "False"
    # the DTI changes are there, with the truth's lesion side
    assert normal["lesion_side"] == json.loads((SAMPLE / "truth" / "truth.json").read_text())["dwi"]["lesion_side"]
    assert float(normal["fa_change_percent"]) < 0
    assert normal["selection"] == "ideal"
    assert loop["selection"] == "not_assessed"
    # the index links both reports, relative to itself
    index = (results / "index.html").read_text(encoding="utf-8")
    assert 'href="normal/report.html"' in index
    assert 'href="va-loop/report.html"' in index
