"""seeds/ loader: every value cited, typed access, user overrides, clear errors, packaged with the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from pipeline.errors import UsageError
from pipeline.seeds import load_seeds, seeds_directory

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Values issue 3 requires, with the number domain-facts gives (primary reference defaults).
REQUIRED = [
    pytest.param("targeting.pial_entry_offset_mm.leg", [1.0, 2.0], id="leg-offset"),
    pytest.param("targeting.pial_entry_offset_mm.arm", [2.0, 3.0], id="arm-offset"),
    pytest.param("electrode.impedance_ohm.primary.csf_max", 200.0, id="impedance-csf-primary"),
    pytest.param("electrode.impedance_ohm.primary.cord_min", 700.0, id="impedance-cord-primary"),
    pytest.param("electrode.impedance_ohm.kanpolat.cord_min", 1000.0, id="impedance-cord-kanpolat"),
    pytest.param("electrode.stimulation.sensory_frequency_hz", [50.0, 100.0], id="sensory-hz"),
    pytest.param("electrode.ablation.test_lesion_temperature_c", 80.0, id="ablation-temperature"),
    pytest.param("safety.vertebral_artery_margin_mm", 3.0, id="va-margin"),
    pytest.param("ct.hu.cortical_bone", 1200.0, id="hu-cortical"),
    pytest.param("ct.hu.csf_contrast", 500.0, id="hu-contrast-csf"),
    pytest.param("diffusion.white_matter_eigenvalues_mm2_s", [1.69e-3, 0.44e-3, 0.44e-3], id="wm-tensor"),
    pytest.param("diffusion.lesion_eigenvalues_mm2_s", [1.13e-3, 0.50e-3, 0.50e-3], id="lesion-tensor"),
    pytest.param("diffusion.reference_change_percent.md", -12.0, id="ref-md"),
    pytest.param("diffusion.reference_change_percent.fa", -30.0, id="ref-fa"),
    pytest.param("diffusion.reference_change_percent.rd", 13.0, id="ref-rd"),
    pytest.param("diffusion.reference_change_percent.ad", -33.0, id="ref-ad"),
    pytest.param("diffusion.dwi_protocol.directions", 20, id="dwi-directions"),
    pytest.param("diffusion.dwi_protocol.b_value_s_mm2", 1000.0, id="dwi-b"),
]


@pytest.mark.parametrize(("key", "expected"), REQUIRED)
def test_required_values_present(key: str, expected: object) -> None:
    seed = load_seeds()[key]
    assert seed.value == pytest.approx(expected)
    assert seed.source.strip()


def test_every_entry_has_a_source_and_estimates_are_marked() -> None:
    seeds = load_seeds()
    assert len(seeds) > 60
    assert all(seed.source for seed in seeds.values())
    # domain-facts marks these EST; the seeds must say so.
    for key in ("anatomy.dural_sac.ap_mm", "safety.vertebral_artery_margin_mm", "ct.hu.csf_contrast"):
        assert seeds[key].estimate, key
    assert not seeds["diffusion.reference_change_percent.md"].estimate


def test_contralateral_rule_and_selection_table() -> None:
    seeds = load_seeds()
    assert "opposite" in seeds.value("targeting.contralateral_rule")
    table = seeds.value("selection.table")
    assert len(table) == 7
    assert set(table[0]) == {"ideal", "contraindication", "risk"}


def test_typed_accessors() -> None:
    seeds = load_seeds()
    assert seeds.number("ct.hu.fat") == -90.0
    assert seeds.integer("diffusion.dwi_protocol.directions") == 20
    assert seeds.numbers("targeting.pial_entry_offset_mm.leg") == (1.0, 2.0)
    with pytest.raises(TypeError, match="not a number"):
        seeds.number("targeting.contralateral_rule")
    with pytest.raises(KeyError, match="no seed parameter"):
        seeds["nope.nothing"]
    assert set(seeds.group("electrode.impedance_ohm.primary")) == {"csf_max", "pia_max", "cord_min"}
    echoed = seeds.as_dict()["ct.hu.fat"]
    assert echoed == {"value": -90.0, "source": seeds["ct.hu.fat"].source, "estimate": False, "unit": "HU"}


def test_user_override(tmp_path: Path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "safety": {"vertebral_artery_margin_mm": 4.5},
                "targeting": {"pial_entry_offset_mm": {"leg": {"value": [1.5, 2.5]}}},
            }
        )
    )
    seeds = load_seeds(override)
    assert seeds.number("safety.vertebral_artery_margin_mm") == 4.5
    assert seeds["safety.vertebral_artery_margin_mm"].source == "user override (mine.yaml)"
    assert seeds.numbers("targeting.pial_entry_offset_mm.leg") == (1.5, 2.5)
    assert load_seeds().number("safety.vertebral_artery_margin_mm") == 3.0  # defaults untouched


BAD_OVERRIDES = [
    pytest.param("safety: {vertebral_artery_margin_mm: [1, 2]}\n", "must be like", id="wrong-kind"),
    pytest.param(
        "safety: {no_such_value: 2}\n", "unknown parameter 'safety.no_such_value'", id="unknown-key"
    ),
    pytest.param("targeting: {pial_entry_offset_mm: {leg: [1]}}\n", "must be like", id="wrong-length"),
    pytest.param("safety: [1, 2\n", "not valid YAML", id="broken-yaml"),
    pytest.param("- 1\n- 2\n", "top level must be a mapping", id="not-a-mapping"),
    pytest.param("safety: {vertebral_artery_margin_mm: -1}\n", "must be positive", id="negative-length"),
    pytest.param("safety: {vertebral_artery_margin_mm: .nan}\n", "not a finite number", id="nan"),
    pytest.param("targeting: {pial_entry_offset_mm: {leg: [1, .inf]}}\n", "not a finite", id="infinite"),
]


@pytest.mark.parametrize(("text", "message"), BAD_OVERRIDES)
def test_bad_override_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    override = tmp_path / "bad.yaml"
    override.write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        load_seeds(override)
    assert caught.value.exit_code == 2
    assert "bad.yaml" in str(caught.value)


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_seeds(tmp_path / "absent.yaml")


@pytest.mark.slow
def test_wheel_carries_seeds_in_the_package(tmp_path: Path) -> None:
    """A regular (non-editable) install gets seeds/ as pipeline/_seeds: build the wheel as pip would."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(PROJECT_ROOT), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("cordotomy_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    built = sorted(Path(n).name for n in names if n.startswith("pipeline/_seeds/") and n.endswith(".yaml"))
    assert built == sorted(p.name for p in seeds_directory().glob("*.yaml"))
    assert "pipeline/seeds.py" in names
    assert "pipeline/py.typed" in names


@pytest.mark.parametrize(
    "tissue", ["fat", "muscle", "unenhanced_blood", "cord", "contrast_csf", "cortical_bone"]
)
def test_phantom_hu_values_lie_in_their_published_ranges(tissue: str) -> None:
    seeds = load_seeds()
    low, high = seeds.numbers(f"ct.hu_range.{tissue}")
    phantom_value = {
        "fat": "fat",
        "muscle": "muscle",
        "unenhanced_blood": "unenhanced_vessel",
        "cord": "cord_white_matter",
        "contrast_csf": "csf_contrast",
        "cortical_bone": "cortical_bone",
    }[tissue]
    assert low <= seeds.number(f"ct.hu.{phantom_value}") <= high
