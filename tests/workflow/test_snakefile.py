"""The Snakemake cohort workflow runs every stage on the sample case and its summary matches the truth."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "sample_data" / "normal"


@pytest.mark.slow
@pytest.mark.snakemake
def test_cohort_workflow_on_sample_case(tmp_path: Path) -> None:
    cohort = {
        "out": str(tmp_path / "results"),
        "cases": {
            "sample": {
                "ct": str(SAMPLE / "dicom" / "ct_myelogram"),
                "vascular": str(SAMPLE / "dicom" / "vascular"),
                "dwi": str(SAMPLE / "dicom" / "dwi"),
            }
        },
    }
    config = tmp_path / "cohort.yaml"
    config.write_text(yaml.safe_dump(cohort), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "MPLBACKEND": "Agg"}
    completed = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "snakefile"),
         "--directory", str(PROJECT_ROOT), "--configfile", str(config), "--cores", "2", "--quiet"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]

    results = tmp_path / "results"
    assert (results / "sample" / "segment" / "segmentation.nii.gz").exists()
    assert (results / "sample" / "dti" / "dti.json").exists()
    with (results / "cohort_summary.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [row["case"] for row in rows] == ["sample"]
    row = rows[0]

    truth = json.loads((SAMPLE / "truth" / "truth.json").read_text(encoding="utf-8"))
    # cord size at the planning level within one voxel-ish of the generator's ellipse
    assert float(row["cord_ap_mm"]) == pytest.approx(truth["cord"]["ap_mm"], abs=0.8)
    assert float(row["cord_transverse_mm"]) == pytest.approx(truth["cord"]["transverse_mm"], abs=0.8)
    assert row["vertebral_artery_source"] == "vascular_series"
    assert row["lesion_side"] == truth["dwi"]["lesion_side"]
    assert row["lesion_source"] == "detected"
    for name in ("fa", "ad"):
        assert float(row[f"{name}_change_percent"]) == pytest.approx(
            truth["dwi"]["change_percent"][name], abs=10.0
        )
