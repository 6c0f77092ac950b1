"""``cordotomy convert`` on broken diffusion series: wrong private tag, missing directions, mixed b-values.

Built from the real GE and UIH series of ../shared/data/dwi_vendors copied to tmp_path (the originals
are never modified). Each case must exit with its code and a message naming the series or file and the
fault, without a traceback, and write nothing: never a 4-D NIfTI without its gradients.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

from pipeline import cli

GE_ACQU = "GEMS_ACQU_01"
GE_PARM = "GEMS_PARM_01"
PHILIPS_MR = "Philips MR Imaging DD 001"


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """cli.main binds the root logger to this test's stderr; unbind it afterwards."""
    yield
    logging.getLogger().handlers.clear()


def _copy(real_data: Path, name: str, tmp_path: Path) -> Path:
    source = real_data / "dwi_vendors" / name / "dicom"
    if not source.is_dir():
        pytest.skip(f"{source} not found: the vendor DWI data (see shared/data/dwi_vendors/README.md)")
    folder = tmp_path / "input"
    shutil.copytree(source, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def _ge_volume(folder: Path, volume: int) -> list[Path]:
    """The two files (slices) of 0-based volume ``volume`` of the GE series (instance order)."""
    files = sorted(folder.iterdir(), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    return files[2 * volume : 2 * volume + 2]


def _edit(path: Path, change: Callable[[pydicom.Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _ge_gradient_in_philips_tag(folder: Path) -> str:
    """Every GE gradient moved from (0019,10BB-10BD) into Philips' (2005,10B0-10B2)."""

    def move(ds: pydicom.Dataset) -> None:
        ge = ds.private_block(0x0019, GE_ACQU)
        philips = ds.private_block(0x2005, PHILIPS_MR, create=True)
        for ge_element, philips_element in ((0xBB, 0xB0), (0xBC, 0xB1), (0xBD, 0xB2)):
            value = float(ds[ge.get_tag(ge_element)].value)
            philips.add_new(philips_element, "FL", value)
            del ds[ge.get_tag(ge_element)]

    for path in folder.iterdir():
        _edit(path, move)
    return _ge_volume(folder, 1)[0].name


def _ge_missing_direction(folder: Path) -> str:
    """Volume 4 (b=1000) without its gradient direction."""

    def drop(ds: pydicom.Dataset) -> None:
        ge = ds.private_block(0x0019, GE_ACQU)
        for element in (0xBB, 0xBC, 0xBD):
            del ds[ge.get_tag(element)]

    files = _ge_volume(folder, 3)
    for path in files:
        _edit(path, drop)
    return files[0].name


def _ge_mixed_b_values(folder: Path) -> str:
    """One slice of volume 5 with b = 500 s/mm², its other slice b = 1000 s/mm²."""

    def halve(ds: pydicom.Dataset) -> None:
        ds[ds.private_block(0x0043, GE_PARM).get_tag(0x39)].value = [500, 8, 0, 0]
        ds.DiffusionBValue = 500.0

    _edit(_ge_volume(folder, 4)[1], halve)
    return "series 1"


def _uih_slice_positions_missing(folder: Path) -> str:
    """A UIH mosaic whose per-slice positions (0065,1051) lost an item."""
    path = sorted(folder.iterdir())[3]

    def drop_item(ds: pydicom.Dataset) -> None:
        items = ds[ds.private_block(0x0065, "Image Private Header").get_tag(0x51)].value
        del items[-1]

    _edit(path, drop_item)
    return path.name


BROKEN = [
    pytest.param(
        "ge_classic",
        _ge_gradient_in_philips_tag,
        3,
        "no readable gradient direction",
        id="gradient-in-wrong-private-tag",
    ),
    pytest.param(
        "ge_classic", _ge_missing_direction, 3, "no readable gradient direction", id="missing-direction"
    ),
    pytest.param(
        "ge_classic", _ge_mixed_b_values, 3, "b-values 0, 500, 1000 s/mm²", id="mixed-b-values-in-a-volume"
    ),
    pytest.param("uih_mosaic_rot", _uih_slice_positions_missing, 3, "(0065,1051)", id="uih-slice-positions"),
]


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "breaker", "code", "fault"), BROKEN)
def test_convert_rejects_broken_dwi(
    real_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    breaker: Callable[[Path], str],
    code: int,
    fault: str,
) -> None:
    folder = _copy(real_data, name, tmp_path)
    names = breaker(folder)
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["convert", str(folder), str(out / "dwi.nii.gz")]) == code
    err = capsys.readouterr().err
    assert fault in err
    assert names in err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []
