"""Patient selection: the clinical YAML judged row by row against the reference table (seeds/selection.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import InputDataError, UsageError
from pipeline.report.selection import evaluate_selection, read_clinical, validate_clinical
from pipeline.seeds import load_seeds

SEEDS = load_seeds(None)
IDEAL = {
    "pain_laterality": "unilateral",
    "pain_site": "leg",
    "pain_type": "nociceptive",
    "spo2_percent": 96,
    "po2_percent": 85,
    "life_expectancy_months": 6,
    "intracranial_mass": False,
    "psychiatric_comorbidity": False,
    "opiate_dependence": False,
    "autonomic_dysfunction": False,
    "orthopnea": False,
    "supine_tolerance_minutes": 90,
    "prior_contralateral_cordotomy": False,
}


def _status(selection: dict, item: str) -> str:
    return next(i["status"] for i in selection["items"] if i["item"] == item)


def test_ideal_patient_is_ideal_on_every_row() -> None:
    selection = evaluate_selection(IDEAL, SEEDS, pain_region="leg")
    assert selection["overall"] == "ideal"
    assert {i["status"] for i in selection["items"]} == {"ideal"}
    assert len(selection["items"]) == 8
    # every row carries the reference table's risk text and its citation
    table = SEEDS["selection.table"]
    assert {i["risk"] for i in selection["items"]} <= {row["risk"] for row in table.value}
    assert all(table.source in i["sources"] for i in selection["items"])


# (change to the ideal patient, row, expected status); thresholds from seeds/selection.yaml
CASES = [
    pytest.param({"pain_laterality": "bilateral", "pain_site": "arm"}, "pain laterality and site",
                 "contraindication", id="bilateral-arm"),
    pytest.param({"pain_laterality": "bilateral"}, "pain laterality and site", "relative_contraindication",
                 id="bilateral-leg"),
    pytest.param({"pain_site": "arm"}, "pain laterality and site", "relative_contraindication",
                 id="site-differs-from-plan"),
    pytest.param({"spo2_percent": 89.9}, "respiratory reserve (pO2, SpO2)", "contraindication", id="spo2-low"),
    pytest.param({"spo2_percent": 90.0}, "respiratory reserve (pO2, SpO2)", "ideal", id="spo2-at-limit"),
    pytest.param({"po2_percent": 80.0}, "respiratory reserve (pO2, SpO2)", "relative_contraindication",
                 id="po2-not-above-80"),
    pytest.param({"life_expectancy_months": 2.0}, "life expectancy", "relative_contraindication", id="survival-2m"),
    pytest.param({"life_expectancy_months": 0.5}, "life expectancy", "contraindication", id="survival-2w"),
    pytest.param({"life_expectancy_months": 13.0}, "life expectancy", "contraindication", id="survival-13m"),
    pytest.param({"life_expectancy_months": 12.0}, "life expectancy", "ideal", id="survival-12m"),
    pytest.param({"intracranial_mass": True}, "intracranial mass", "contraindication", id="mass"),
    pytest.param({"opiate_dependence": True}, "psychiatric comorbidity", "contraindication", id="opiates"),
    pytest.param({"autonomic_dysfunction": True}, "autonomic function", "relative_contraindication",
                 id="autonomic"),
    pytest.param({"orthopnea": True}, "orthopnea / supine tolerance", "relative_contraindication", id="orthopnea"),
    pytest.param({"supine_tolerance_minutes": 30}, "orthopnea / supine tolerance", "relative_contraindication",
                 id="supine-30min"),
    pytest.param({"prior_contralateral_cordotomy": True, "prior_cordotomy_days_ago": 3},
                 "prior contralateral cordotomy", "contraindication", id="bilateral-3-days"),
    pytest.param({"prior_contralateral_cordotomy": True, "prior_cordotomy_days_ago": 30},
                 "prior contralateral cordotomy", "relative_contraindication", id="bilateral-30-days"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "item", "status"), CASES)
def test_each_finding_is_judged_on_its_row(change: dict, item: str, status: str) -> None:
    selection = evaluate_selection({**IDEAL, **change}, SEEDS, pain_region="leg")
    assert _status(selection, item) == status
    others = {i["status"] for i in selection["items"] if i["item"] != item}
    assert others == {"ideal"}
    assert selection["overall"] == status


def test_no_clinical_data_is_not_assessed() -> None:
    selection = evaluate_selection(None, SEEDS)
    assert selection["overall"] == "not_assessed"
    assert {i["status"] for i in selection["items"]} == {"not_given"}


def test_thresholds_follow_the_seeds(tmp_path: Path) -> None:
    override = tmp_path / "params.yaml"
    override.write_text("selection:\n  spo2_flag_below_percent: {value: 95.0}\n", encoding="utf-8")
    seeds = load_seeds(override)
    selection = evaluate_selection({"spo2_percent": 94.0}, seeds)
    assert _status(selection, "respiratory reserve (pO2, SpO2)") == "contraindication"


BAD = [
    pytest.param("weight_kg: 70\n", UsageError, "unknown clinical item", id="unknown-key"),
    pytest.param("spo2_percent: 130\n", UsageError, "outside the plausible range", id="out-of-range"),
    pytest.param("spo2_percent: high\n", UsageError, "must be a number", id="not-a-number"),
    pytest.param("pain_site: foot\n", UsageError, "must be one of", id="bad-choice"),
    pytest.param("orthopnea: maybe\n", UsageError, "true or false", id="not-boolean"),
    pytest.param("prior_cordotomy_days_ago: 3\n", UsageError, "without prior_contralateral_cordotomy",
                 id="days-without-prior"),
    pytest.param("spo2_percent: [\n", InputDataError, "not valid YAML", id="broken-yaml"),
    pytest.param("- a list\n", UsageError, "expected a mapping", id="not-a-mapping"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "error", "words"), BAD)
def test_bad_clinical_files_are_refused(tmp_path: Path, text: str, error: type, words: str) -> None:
    path = tmp_path / "clinical.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(error, match=words) as caught:
        read_clinical(path)
    assert str(path) in str(caught.value)


def test_validated_values_are_typed() -> None:
    checked = validate_clinical({"spo2_percent": 95, "orthopnea": False, "pain_site": "arm"})
    assert checked == {"spo2_percent": 95.0, "orthopnea": False, "pain_site": "arm"}
