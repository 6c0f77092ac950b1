"""`cordotomy phantom`: options, variant listing, refusals with exit codes and nothing written.

The success path (and bit-for-bit output) is covered by tests/phantom/test_phantom_sample_data.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import cli
from pipeline.phantom import VARIANTS


def test_help_lists_every_variant(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["phantom", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for name, spec in VARIANTS.items():
        assert name in text
        assert spec.description[:30] in text


def test_unknown_variant_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["phantom", str(tmp_path / "out"), "--variant", "upside-down"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_refuses_non_empty_output_without_force(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert cli.main(["phantom", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_bad_parameter_file_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    override = tmp_path / "params.yaml"
    override.write_text("anatomy: {cord: {ap_mm: thick}}\n")
    out = tmp_path / "out"
    assert cli.main(["phantom", str(out), "--parameters", str(override)]) == 2
    err = capsys.readouterr().err
    assert "params.yaml" in err
    assert "anatomy.cord.ap_mm" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
