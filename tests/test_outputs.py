"""Atomic outputs: a failure leaves nothing that looks complete."""

from __future__ import annotations

import pytest

from pipeline.errors import UsageError
from pipeline.outputs import staged_directory, staged_files


def test_directory_appears_only_on_success(tmp_path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), staged_directory(out) as staging:
        (staging / "results.json").write_text("{}")
        raise RuntimeError("stage failed")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    with staged_directory(out) as staging:
        (staging / "results.json").write_text("{}")
    assert (out / "results.json").read_text() == "{}"


def test_existing_output_needs_force(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(UsageError, match="not empty"), staged_directory(out):
        pass
    with staged_directory(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]


def test_files_keep_suffix_and_land_together(tmp_path) -> None:
    targets = [tmp_path / "dwi.nii.gz", tmp_path / "dwi.bval"]
    with staged_files(*targets) as temporaries:
        assert temporaries[0].name.endswith(".nii.gz")
        for temporary in temporaries:
            temporary.write_text("x")
    assert all(t.read_text() == "x" for t in targets)
    with pytest.raises(ValueError, match="boom"), staged_files(tmp_path / "other.nii.gz") as temporaries:
        temporaries[0].write_text("partial")
        raise ValueError("boom")
    assert not (tmp_path / "other.nii.gz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dwi.bval", "dwi.nii.gz"]


def test_result_folder_gets_ordinary_permissions(tmp_path) -> None:
    out = tmp_path / "out"
    reference = tmp_path / "made-by-mkdir"
    reference.mkdir()
    with staged_directory(out) as staging:
        (staging / "results.json").write_text("{}")
    assert out.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777
