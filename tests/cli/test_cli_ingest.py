"""``cordotomy inspect`` and ``cordotomy convert`` in-process, including a table of broken inputs.

Broken inputs are built from real bundled CT files (pydicom's CT5N series) copied to tmp_path; the
originals are never modified. Each must give the documented exit code, a message that names the file
or series and the fault, no traceback, and nothing in the output folder.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from pipeline import cli
from pipeline.ingest import load_series

BUNDLED = Path(get_testdata_file("CT_small.dcm", download=False)).parent
CT5N = BUNDLED / "dicomdirtests" / "98892001" / "CT5N"
SCOUT = BUNDLED / "dicomdirtests" / "98892001" / "CT2N"


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """cli.main binds the root logger to the stderr of its test; unbind it so that later log records
    (pydicom warns through logging) never go to a stream pytest has already closed."""
    yield
    logging.getLogger().handlers.clear()


def _siemens_dwi(tmp_path: Path) -> Path:
    """nibabel's two real Siemens mosaic DWI files (b=0, b=1000), gunzipped into a folder."""
    folder = tmp_path / "dwi"
    folder.mkdir()
    data = Path(nib.__file__).parent / "nicom" / "tests" / "data"
    for name in ("siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz"):
        (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress((data / name).read_bytes()))
    return folder


def _copy_ct(tmp_path: Path) -> Path:
    folder = tmp_path / "input"
    shutil.copytree(CT5N, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    folder.chmod(0o755)
    return folder


def _files(folder: Path) -> list[Path]:
    """The series' files in slice order (the middle one is index 2)."""
    return sorted(folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))


def _edit(path: Path, change: Callable[[pydicom.Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _truncated(folder: Path) -> str:
    path = _files(folder)[2]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    return path.name


def _not_dicom(folder: Path) -> str:
    for path in folder.iterdir():
        path.unlink()
    (folder / "notes.txt").write_text("not an image\n")
    return str(folder)


def _missing_pixels(folder: Path) -> str:
    path = _files(folder)[2]
    _edit(path, lambda ds: ds.pop("PixelData"))
    return path.name


def _missing_slice(folder: Path) -> str:
    _files(folder)[2].unlink()
    return "series 5"


def _duplicate_slice(folder: Path) -> str:
    source = _files(folder)[2]
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / "copy_of_slice")
    return "series 5"


def _mixed_series(folder: Path) -> str:
    for path in SCOUT.iterdir():
        shutil.copy(path, folder / f"scout_{path.name}")
    return "holds 2 series"


def _mixed_sizes(folder: Path) -> str:
    path = _files(folder)[2]

    def shrink(ds: pydicom.Dataset) -> None:
        ds.PixelData = ds.pixel_array[:8, :8].copy().tobytes()
        ds.Rows = ds.Columns = 8

    _edit(path, shrink)
    return path.name


def _mixed_orientations(folder: Path) -> str:
    path = _files(folder)[2]
    _edit(path, lambda ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 0.8, -0.6]))
    return path.name


def _mixed_modalities(folder: Path) -> str:
    _edit(_files(folder)[2], lambda ds: setattr(ds, "Modality", "MR"))
    return "series 5"


def _empty(folder: Path) -> str:
    for path in folder.iterdir():
        path.unlink()
    return str(folder)


def _unreadable(folder: Path) -> str:
    # A file that cannot be opened even by root: a symbolic link that points to itself (ELOOP).
    path = _files(folder)[2]
    path.unlink()
    path.symlink_to(path.name)
    return path.name


def _fifo(folder: Path) -> str:
    # A named pipe among the slices: opening it would block forever, so it must be refused unopened.
    path = _files(folder)[2]
    path.unlink()
    os.mkfifo(path)
    return path.name


def _no_permission(folder: Path) -> str:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode; the symlink-loop and FIFO cases cover root")
    path = _files(folder)[2]
    path.chmod(0)
    return path.name


def _nan_rescale(folder: Path) -> str:
    path = _files(folder)[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pydicom rightly warns that "NaN" is not a valid DS
        _edit(path, lambda ds: setattr(ds, "RescaleSlope", "NaN"))
    return path.name


def _tilted(folder: Path) -> str:
    # Slice origins shifted within the slice plane as a tilted gantry does (0.4 mm per mm of table).
    for path in folder.iterdir():

        def shear(ds: pydicom.Dataset) -> None:
            x, y, z = (float(v) for v in ds.ImagePositionPatient)
            ds.ImagePositionPatient = [x, y + 0.4 * z, z]

        _edit(path, shear)
    return "series 5"


def _uneven(folder: Path) -> str:
    path = _files(folder)[-1]
    _edit(
        path,
        lambda ds: setattr(
            ds,
            "ImagePositionPatient",
            [*ds.ImagePositionPatient[:2], float(ds.ImagePositionPatient[2]) + 1.0],
        ),
    )
    return "series 5"


def _missing(folder: Path) -> str:
    shutil.rmtree(folder)
    return str(folder)


BROKEN = [
    pytest.param(_truncated, [], 3, "truncated", id="truncated-file"),
    pytest.param(_not_dicom, [], 3, "no DICOM images", id="not-dicom"),
    pytest.param(_missing_pixels, [], 3, "no pixel data", id="missing-pixel-data"),
    pytest.param(_missing_slice, [], 3, "slice(s) missing", id="missing-slice"),
    pytest.param(_duplicate_slice, [], 3, "duplicate slice position", id="duplicate-slice"),
    pytest.param(_mixed_series, [], 2, "--series", id="mixed-series"),
    pytest.param(_mixed_sizes, [], 3, "mixed image sizes", id="mixed-sizes"),
    pytest.param(_mixed_orientations, [], 3, "mixed orientations", id="mixed-orientations"),
    pytest.param(_mixed_modalities, [], 3, "mixed modalities", id="mixed-modalities"),
    pytest.param(_empty, [], 3, "no DICOM images", id="empty-folder"),
    pytest.param(_unreadable, [], 3, "cannot read file", id="unreadable-file"),
    pytest.param(_fifo, [], 3, "not a regular file", id="fifo-among-slices"),
    pytest.param(_no_permission, [], 3, "Permission denied", id="no-read-permission"),
    pytest.param(_nan_rescale, [], 3, "non-finite", id="nan-rescale"),
    pytest.param(_tilted, ["--no-resample"], 3, "gantry tilt", id="tilt-refused"),
    pytest.param(_uneven, ["--no-resample"], 3, "uneven slice spacing", id="uneven-spacing-refused"),
    pytest.param(_missing, [], 3, "no such file or folder", id="no-such-folder"),
    pytest.param(lambda folder: "no series '42'", ["--series", "42"], 2, "available", id="unknown-series"),
]


@pytest.mark.parametrize(("breaker", "options", "code", "fault"), BROKEN)
def test_convert_rejects_broken_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    breaker: Callable[[Path], str],
    options: list[str],
    code: int,
    fault: str,
) -> None:
    folder = _copy_ct(tmp_path)
    names = breaker(folder)
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["convert", str(folder), str(out / "ct.nii.gz"), *options]) == code
    err = capsys.readouterr().err
    assert fault in err
    assert names in err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("breaker", "fault"),
    [
        pytest.param(_truncated, "truncated", id="truncated-file"),
        pytest.param(_missing_pixels, "no pixel data", id="missing-pixel-data"),
        pytest.param(_missing_slice, "slice(s) missing", id="missing-slice"),
        pytest.param(_mixed_orientations, "mixed orientations", id="mixed-orientations"),
        pytest.param(_unreadable, "cannot read file", id="unreadable-file"),
        pytest.param(_nan_rescale, "non-finite", id="nan-rescale"),
        pytest.param(_tilted, "gantry tilt", id="tilt"),
    ],
)
def test_inspect_reports_problems_per_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], breaker: Callable[[Path], str], fault: str
) -> None:
    folder = _copy_ct(tmp_path)
    breaker(folder)
    assert cli.main(["inspect", str(folder), "--json"]) == 0
    (series,) = json.loads(capsys.readouterr().out)["series"]
    assert series["series_number"] == 5
    assert any(fault in problem for problem in series["problems"])


def test_inspect_lists_series_with_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "study"
    shutil.copytree(BUNDLED / "dicomdirtests" / "98892001", study)
    (study / "README.txt").write_text("export notes\n")
    assert cli.main(["inspect", str(study)]) == 0
    table = capsys.readouterr().out
    assert "SmartScore - Gated 0.5 sec" in table
    assert "16x16x5" in table
    assert "mixed orientations" in table  # the two-plane scout
    assert cli.main(["inspect", str(study), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["schema"] == "cordotomy.inspect/1"
    by_number = {s["series_number"]: s for s in listing["series"]}
    assert set(by_number) == {4, 5}
    assert by_number[5]["shape"] == [16, 16, 5]
    assert by_number[5]["problems"] == []
    assert by_number[4]["problems"]
    assert "PatientName" not in json.dumps(listing)


def test_inspect_empty_folder_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(tmp_path)]) == 3
    assert "no DICOM images" in capsys.readouterr().err


def test_convert_writes_nifti_equal_to_loader(tmp_path: Path) -> None:
    out = tmp_path / "ct.nii.gz"
    assert cli.main(["convert", str(CT5N), str(out), "--series", "5"]) == 0
    image = nib.load(out)
    volume = load_series(CT5N)
    np.testing.assert_array_equal(np.asanyarray(image.dataobj), volume.array)
    np.testing.assert_allclose(image.affine, volume.affine_ras, atol=1e-5)
    assert int(image.header["sform_code"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz"]
    # Ground truth from pydicom, independent of the loader: slice k (in position order) holds that
    # file's rescaled pixels (axis 0 along a row), and its first voxel sits at the file's
    # ImagePositionPatient (LPS -> RAS negates x and y).
    data = np.asanyarray(image.dataobj)
    for k, path in enumerate(_files(CT5N)):
        ds = pydicom.dcmread(path)
        expected = ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(data[:, :, k], expected)
        origin_ras = image.affine @ np.array([0.0, 0.0, k, 1.0])
        np.testing.assert_allclose(
            origin_ras[:3], np.array(ds.ImagePositionPatient, float) * [-1.0, -1.0, 1.0], atol=1e-4
        )


def test_convert_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ct.nii"
    out.write_text("keep me")
    assert cli.main(["convert", str(CT5N), str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert cli.main(["convert", str(CT5N), str(out), "--force"]) == 0
    assert nib.load(out).shape == (16, 16, 5)


def test_convert_needs_nifti_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["convert", str(CT5N), str(tmp_path / "ct.img")]) == 2
    assert ".nii" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_convert_dwi_writes_bval_bvec(tmp_path: Path) -> None:
    source = _siemens_dwi(tmp_path)
    out = tmp_path / "out" / "dwi.nii.gz"
    assert cli.main(["convert", str(source), str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["dwi.bval", "dwi.bvec", "dwi.nii.gz"]
    assert (out.parent / "dwi.bval").read_text().split() == ["0", "1000"]
    bvecs = np.loadtxt(out.parent / "dwi.bvec")
    assert bvecs.shape == (3, 2)
    assert nib.load(out).shape == (128, 128, 48, 2)


def test_original_inputs_untouched(tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in CT5N.iterdir()}
    assert cli.main(["convert", str(CT5N), str(tmp_path / "ct.nii.gz")]) == 0
    assert {p.name: p.read_bytes() for p in CT5N.iterdir()} == before
