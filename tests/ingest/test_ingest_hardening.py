"""Ingest hardening (issue 10): the shared crash reproducers, a bounded fuzz run, limits, and no PHI in logs."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from pipeline import cli
from pipeline.errors import InputDataError
from pipeline.ingest import discover, load_series
from pipeline.limits import MAX_ARRAY_ENV, check_array_size, is_decoder_panic

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import fuzz_ingest  # benchmarks/ is not a package: imported from its folder

CRASHES = Path(os.environ.get("CORDOTOMY_TEST_DATA", PROJECT_ROOT.parent / "shared" / "data")) / "ingest-crashes"


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """cli.main binds the root logger to this test's stderr; unbind it afterwards."""
    yield
    logging.getLogger().handlers.clear()


# -- every reproducer in ../shared/data/ingest-crashes -----------------------------------------------------


def _reproducers() -> list[tuple[str, Path]]:
    """(name, input) for every reproducer: each folder's case/, and each single file found by atheris."""
    if not CRASHES.is_dir():
        return []
    cases = []
    for folder in sorted(p for p in CRASHES.iterdir() if p.is_dir()):
        if (folder / "case").is_dir():
            cases.append((folder.name, folder / "case"))
        else:
            cases += [(f"{folder.name}/{f.name}", f) for f in sorted(folder.iterdir()) if f.is_file()]
    return cases


def _command(name: str, case: Path, out: Path) -> list[list[str]]:
    """The command(s) that ran into the reproducer's fault; one per series when the case holds several."""
    signature = ""
    mutations = CRASHES / name.split("/")[0] / "mutations.json"
    if mutations.is_file():
        document = json.loads(mutations.read_text())
        signature = str(document.get("signature", "")) if isinstance(document, dict) else ""
    if "load_dwi" in signature:
        return [["dti", str(case), "--out", str(out)]]
    if "series_datasets" in signature:  # reading the source headers for the DICOM SEG
        return [["segment", str(case), "--out", str(out)]]
    found = sorted({info.series_uid for info in _discover_or_empty(case)})
    if len(found) > 1:
        return [["convert", str(case), str(out / f"{k}.nii"), "--series", uid] for k, uid in enumerate(found)]
    return [["convert", str(case), str(out / "image.nii")]]


def _discover_or_empty(case: Path) -> list:  # type: ignore[type-arg]
    try:
        return discover(case)
    except InputDataError:
        return []


REPRODUCERS = _reproducers()


def test_reproducers_present() -> None:
    if not CRASHES.is_dir():
        pytest.skip(f"reproducers not found at {CRASHES}; set CORDOTOMY_TEST_DATA to the shared/data folder")
    assert len(REPRODUCERS) >= 20


@pytest.mark.parametrize(("name", "case"), REPRODUCERS, ids=[name for name, _ in REPRODUCERS])
def test_reproducer_exits_3_with_one_line(
    name: str, case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    for argv in _command(name, case, out):
        code = cli.main(argv)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 3, err
        assert len(lines) == 1, err
        assert lines[0].startswith("cordotomy: error:"), err
        assert "Traceback" not in err
        assert str(case.parent if case.is_file() else case) in lines[0] or "series" in lines[0], err
        assert not out.exists() or not any(out.iterdir())


# -- fuzz (bounded, in CI) ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fuzz_ingest_bounded(real_data: Path) -> None:
    """About 40 s of mutated real files: no crash, no hang (2 s per case), no garbage accepted."""
    started = time.monotonic()
    report = fuzz_ingest.run_fuzz(38.0, seed=10, timeout_s=2.0, data_root=real_data)
    assert time.monotonic() - started < 60.0
    assert report.iterations >= 100
    assert not report.findings, fuzz_ingest.format_report(report)


def test_fuzz_classifies_a_crash_and_garbage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself: a foreign exception is a crash with its pipeline frame, NaN voxels are garbage."""
    source = Path(get_testdata_file("CT_small.dcm", download=False))
    (tmp_path / "ct.dcm").write_bytes(source.read_bytes())
    assert fuzz_ingest.load_case(str(tmp_path)) == ("ok", "", "")

    import pipeline.ingest as ingest_api

    def broken(*_args: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(ingest_api, "load_series", broken)
    kind, root, _detail = fuzz_ingest.load_case(str(tmp_path))
    assert kind == "crash"
    assert root.startswith("ZeroDivisionError @ ")
    loaded = load_series(tmp_path)
    volume = loaded.with_array(loaded.array.astype(np.float32))  # CT HU come as int16, which holds no NaN
    volume.array[0, 0, 0] = np.nan
    assert fuzz_ingest._garbage(volume) == "non-finite voxels"


# -- limits -----------------------------------------------------------------------------------------------------


def test_declared_size_is_refused_before_allocating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 1000
    ds.save_as(tmp_path / "huge.dcm", enforce_file_format=False)
    started = time.monotonic()
    with pytest.raises(InputDataError, match=r"huge.dcm: declared size 1000x65535x65535 needs \d+ GiB, over the limit"):
        load_series(tmp_path)
    assert time.monotonic() - started < 2.0
    monkeypatch.setenv(MAX_ARRAY_ENV, "0.001")
    with pytest.raises(InputDataError, match=r"over the limit of 0\.0 GiB"):
        check_array_size((512, 512, 10), 4, "series 1")
    monkeypatch.setenv(MAX_ARRAY_ENV, "2")
    check_array_size((512, 512, 1000), 4, "series 1")  # 1 GiB: allowed


def test_corrupt_large_enhanced_file_is_refused_quickly(tmp_path: Path) -> None:
    """A 23 MB enhanced file cut short is refused on its declared sizes, before its functional groups
    (tens of thousands of elements) are parsed."""
    source = CRASHES / "OSError-pipeline-ingest-frames-py-94-enhanced-frames-pydicom-filereader-py-560" / "case"
    if not source.is_dir():
        pytest.skip(f"reproducers not found at {CRASHES}")
    started = time.monotonic()
    with pytest.raises(InputDataError, match="truncated"):
        load_series(source)
    assert time.monotonic() - started < 1.5


def test_decoder_panic_is_matched_narrowly() -> None:
    panic_type = type("PanicException", (BaseException,), {"__module__": "pyo3_runtime"})
    assert is_decoder_panic(panic_type("index out of bounds"))
    assert not is_decoder_panic(KeyboardInterrupt())
    assert not is_decoder_panic(SystemExit(1))
    assert not is_decoder_panic(type("PanicException", (BaseException,), {})("other module"))


def test_unreadable_sub_folder_is_never_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sub-folder that cannot be listed fails the load (root reads any folder, so listing is made to fail)."""
    series = tmp_path / "study"
    (series / "part2").mkdir(parents=True)
    source = Path(get_testdata_file("CT_small.dcm", download=False))
    (series / "ct.dcm").write_bytes(source.read_bytes())
    real_walk = os.walk

    def walk(top: str | Path, onerror=None, **kwargs):  # type: ignore[no-untyped-def]
        for root, dirs, files in real_walk(top, onerror=onerror, **kwargs):
            if Path(root).name == "part2":
                onerror(PermissionError(13, "Permission denied", root))
                continue
            yield root, dirs, files

    monkeypatch.setattr(os, "walk", walk)
    with pytest.raises(InputDataError, match=r"part2: cannot read folder \(Permission denied\)"):
        load_series(series)


def test_link_to_folder_is_reported_not_followed(tmp_path: Path) -> None:
    series = tmp_path / "study"
    series.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    source = Path(get_testdata_file("CT_small.dcm", download=False))
    (series / "ct.dcm").write_bytes(source.read_bytes())
    (series / "more").symlink_to(elsewhere)
    with pytest.raises(InputDataError, match="link to a folder, not followed"):
        load_series(series)


# -- no patient identifiers in logs ------------------------------------------------------------------------------

NAME, PATIENT_ID, BIRTH = "Zzyzx^Recognisable", "PID-7731-QX", "19230417"


def test_logs_never_contain_patient_identifiers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The sample phantom study relabelled with a recognisable patient: nothing we print names them,
    at debug verbosity, on success and on failure."""
    sample = PROJECT_ROOT / "sample_data" / "normal" / "dicom"
    study = tmp_path / "study"
    for series in ("ct_myelogram", "dwi"):
        (study / series).mkdir(parents=True)
        files = sorted((sample / series).iterdir())
        for path in files[:: max(1, len(files) // 12)] if series == "ct_myelogram" else files:
            ds = pydicom.dcmread(path)
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, PATIENT_ID, BIRTH
            ds.save_as(study / series / path.name, enforce_file_format=True)
    broken = study / "ct_myelogram" / min(p.name for p in (study / "ct_myelogram").iterdir())
    calls = [
        ["-v", "inspect", str(study)],
        ["-v", "inspect", "--json", str(study)],
        ["-v", "convert", str(study / "dwi"), str(tmp_path / "out" / "dwi.nii.gz")],
        ["-v", "convert", str(study / "ct_myelogram"), str(tmp_path / "out" / "ct.nii.gz")],
        ["-v", "dti", str(study / "dwi"), "--out", str(tmp_path / "dti"), "--md-threshold", "-200"],
    ]
    printed = []
    for argv in calls:
        cli.main(argv)
        captured = capsys.readouterr()
        printed.append(captured.out + captured.err)
    broken.write_bytes(broken.read_bytes()[:-500])
    cli.main(["-v", "convert", str(study / "ct_myelogram"), str(tmp_path / "out" / "ct2.nii.gz")])
    captured = capsys.readouterr()
    printed.append(captured.out + captured.err)
    text = "\n".join(printed)
    assert "series" in text  # something was said about the data
    for identifier in (NAME, "Zzyzx", "Recognisable", PATIENT_ID, BIRTH):
        assert identifier not in text
    for path in (tmp_path / "out").rglob("*"):
        if path.suffix in (".bval", ".bvec") or path.name.endswith((".json", ".txt")):
            assert NAME not in path.read_text()


def test_corrupt_jpeg_ls_stream_is_refused_not_decoded_for_ever(tmp_path: Path) -> None:
    """A fuzz-found JPEG-LS stream on which libjpeg loops for ever: CharLS refuses it at once (exit 3).

    Run in a child process with a time limit, so that a regression fails instead of hanging the suite.
    """
    import struct
    import subprocess
    import sys

    from pydicom.data import get_testdata_file

    source = Path(get_testdata_file("MR_small_jpeg_ls_lossless.dcm", download=False))
    data = bytearray(source.read_bytes())
    data[1555:1559] = struct.pack("<I", 0xFFFFFFFE)  # a word inside the JPEG-LS scan
    case = tmp_path / "IM0001.dcm"
    case.write_bytes(bytes(data))
    out = tmp_path / "out.nii.gz"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "convert", str(case), str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 3, done.stderr
    assert "cannot decode pixel data" in done.stderr
    assert not out.exists()
