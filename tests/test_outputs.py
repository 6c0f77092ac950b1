"""Atomic outputs: a failure leaves nothing that looks complete."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import UsageError
from pipeline.outputs import (
    MARKER,
    check_output_directory,
    check_output_files,
    staged_directory,
    staged_files,
)


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


def test_existing_output_needs_force_and_our_marker(tmp_path) -> None:
    out = tmp_path / "out"
    with staged_directory(out) as staging:
        (staging / "old.txt").write_text("old")
    marker = json.loads((out / MARKER).read_text())
    assert marker["tool"] == "cordotomy"
    assert {"version", "command"} <= set(marker)
    with pytest.raises(UsageError, match="not empty"), staged_directory(out):
        pass
    with staged_directory(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "new.txt"]


def test_force_never_replaces_a_folder_we_did_not_write(tmp_path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "IM0001.dcm").write_bytes(b"patient data")
    with pytest.raises(UsageError, match="not written by cordotomy"), staged_directory(study, force=True):
        raise AssertionError("never reached")
    assert (study / "IM0001.dcm").read_bytes() == b"patient data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]


@pytest.mark.parametrize(
    ("out", "message"),
    [("in", "is the input"), ("in/results", "lies inside the input"), (".", "contains the input")],
)
def test_output_against_inputs_is_refused_before_anything_is_made(tmp_path, out: str, message: str) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.dcm").write_bytes(b"x")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(UsageError, match=message), staged_directory(tmp_path / out, force=True, inputs=[source]):
        raise AssertionError("never reached")
    with pytest.raises(UsageError, match=message):
        check_output_directory(tmp_path / out, force=True, inputs=[source])
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_symlinks_are_resolved_both_ways(tmp_path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    link = tmp_path / "link"
    link.symlink_to(source)
    with pytest.raises(UsageError, match="is the input"):
        check_output_directory(link, force=True, inputs=[source])
    with pytest.raises(UsageError, match="is the input"):
        check_output_directory(source, force=True, inputs=[link])


def test_a_single_output_file_never_replaces_an_input_file(tmp_path) -> None:
    source = tmp_path / "image.nii"
    source.write_bytes(b"input")
    with pytest.raises(UsageError, match="is the input"), staged_files(source, force=True, inputs=[source]):
        raise AssertionError("never reached")
    assert source.read_bytes() == b"input"


def test_parent_folders_are_made_only_after_validation(tmp_path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_output_directory(tmp_path / "afile" / "deeper" / "out")
    with pytest.raises(UsageError, match="exists; use --force"):
        check_output_files(tmp_path / "afile")
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(UsageError, match="lies inside the input"), staged_directory(out, inputs=[out.parent]):
        raise AssertionError("never reached")
    assert not (tmp_path / "new").exists()


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
