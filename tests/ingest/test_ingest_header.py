"""The fast header walker against pydicom on every real file bundled with pydicom and nibabel."""

from __future__ import annotations

import gzip
from pathlib import Path

import pydicom
import pytest
from _ingest_support import nibabel_data, pydicom_file

from pipeline.errors import InputDataError
from pipeline.ingest import header as header_module
from pipeline.ingest.header import UNCOMPRESSED, header_from_dataset, read_header

PYDICOM_FILES = sorted(
    p
    for p in pydicom_file("CT_small.dcm").parent.rglob("*")
    if p.is_file() and p.suffix not in (".txt", ".json", ".dump", ".icc", ".gz", ".py", ".bin")
)
# pydicom's bundled files include deliberately malformed ones; pydicom warns while reading them.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FIELDS = (
    "sop_instance_uid",
    "series_uid",
    "study_uid",
    "series_number",
    "modality",
    "description",
    "rows",
    "columns",
    "number_of_frames",
    "bits_allocated",
    "pixel_representation",
    "position_lps_mm",
    "orientation",
    "pixel_spacing_mm",
    "rescale_slope",
    "rescale_intercept",
    "padding_value",
    "image_type",
    "instance_number",
)


def _reference(path: Path) -> pydicom.Dataset | None:
    """pydicom's reading; files without the PS3.10 preamble are read with force, as our fallback does."""
    for force in (False, True):
        try:
            ds = pydicom.dcmread(path, force=force)
        except Exception:  # noqa: BLE001, S112 - anything pydicom cannot read is "not DICOM" here
            continue
        if not force or "SOPInstanceUID" in ds:
            return ds
    return None


@pytest.mark.parametrize("path", PYDICOM_FILES, ids=[p.name for p in PYDICOM_FILES])
def test_fast_header_agrees_with_pydicom(path: Path) -> None:
    reference = _reference(path)
    refusal = ""
    try:
        header = read_header(path)
    except InputDataError as exc:
        refusal = str(exc)
    if refusal:
        # Only broken files may be refused, and the message must say so.
        assert reference is None or "truncated" in refusal or "malformed" in refusal
        return
    if reference is None:
        assert header is None or not header.series_uid
        return
    assert header is not None
    expected = header_from_dataset(path, reference)
    for name in FIELDS:
        assert getattr(header, name) == getattr(expected, name), name
    if header.pixel_offset is not None and header.transfer_syntax in UNCOMPRESSED and header.pixel_length:
        with open(path, "rb") as handle:
            handle.seek(header.pixel_offset)
            assert handle.read(64) == bytes(reference.PixelData[:64])


@pytest.mark.parametrize("name", ["siemens_dwi_1000.dcm.gz", "0.dcm", "csa_slice_norm.dcm"])
def test_large_siemens_headers(tmp_path: Path, name: str) -> None:
    """Headers longer than the first read (Siemens CSA) are read to their pixel data (csa_slice_norm is
    a header-only file: it must come out without pixel data, not as truncated)."""
    source = nibabel_data(name)
    path = tmp_path / name.removesuffix(".gz")
    path.write_bytes(gzip.decompress(source.read_bytes()) if name.endswith(".gz") else source.read_bytes())
    header = read_header(path)
    reference = pydicom.dcmread(path)
    assert header is not None
    assert header.has_pixel_data == ("PixelData" in reference)
    if 0x0019100C in reference:
        assert header.siemens_b_value == float(reference[0x0019100C].value)
    if not header.has_pixel_data:
        return
    assert header.pixel_offset is not None
    assert header.pixel_offset > 16384
    with open(path, "rb") as handle:
        handle.seek(header.pixel_offset)
        assert handle.read(64) == bytes(reference.PixelData[:64])


def _variant(path: Path, position: list[float], sop_uid: str, description: str) -> Path:
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.ImagePositionPatient = position
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SeriesDescription = description
    ds.save_as(path, enforce_file_format=True)
    return path


# Each case is read right after the first file (position "-99.5\\99.25\\1.0", UID "9.8.7.6.5",
# description "wxyz"), whose layout the reader has then learnt: the same layout with other values
# (must not give the first file's values; no new walk), and layouts that differ in one length.
LAYOUT_CASES = {
    "same-layout": ([-12.5, 13.25, 7.0], "1.2.3.4.5", "abcd", False),
    "longer-uid": ([-12.5, 13.25, 7.0], "1.2.3.4.555", "abcd", True),
    "longer-position": ([-1200.5, 13.25, 7.0], "1.2.3.4.5", "abcd", True),
    "longer-description": ([-12.5, 13.25, 7.0], "1.2.3.4.5", "abcdef", True),
}


@pytest.mark.parametrize("case", list(LAYOUT_CASES), ids=list(LAYOUT_CASES))
def test_learnt_layout_gives_each_files_own_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    position, uid, description, walks = LAYOUT_CASES[case]
    first = _variant(tmp_path / "first", [-99.5, 99.25, 1.0], "9.8.7.6.5", "wxyz")
    assert read_header(first) is not None  # learns the layout
    path = _variant(tmp_path / "second", position, uid, description)
    learnt: list[int] = []
    learn = header_module._learn_layout
    monkeypatch.setattr(header_module, "_learn_layout", lambda *a: learnt.append(1) or learn(*a))
    header = read_header(path)
    assert bool(learnt) == walks
    expected = header_from_dataset(path, pydicom.dcmread(path))
    assert header is not None
    for name in (*FIELDS, "media_sop_instance_uid"):
        assert getattr(header, name) == getattr(expected, name), name
    with open(path, "rb") as handle:
        handle.seek(header.pixel_offset)  # type: ignore[arg-type]
        assert handle.read(64) == bytes(pydicom.dcmread(path).PixelData[:64])


def test_every_learnt_layout_of_a_series_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values of varying length give one series many layouts (here 12, more than the 8 that the
    walker once kept in all): read a second time, in another order, every file is sliced without a
    walk, and every file gives its own values."""
    monkeypatch.setattr(header_module, "_LAYOUTS", {})
    monkeypatch.setattr(header_module, "_TAILS", {})
    paths = []
    for k in range(12):  # 3 UID lengths x 4 position lengths: 12 layouts, 9 Pixel Data positions
        uid = "1.2.3." + "4" * (1 + 2 * (k % 3))
        position = [(-1.5, -1.125, -1.03125, -1.0078125)[k % 4], 13.25, 7.0]
        paths.append(_variant(tmp_path / f"f{k}", position, uid, "abcd"))
    for path in paths:
        assert read_header(path) is not None
    kept = {id(layout) for layouts in header_module._LAYOUTS.values() for layout in layouts}
    walks: list[int] = []
    learn = header_module._learn_layout
    monkeypatch.setattr(header_module, "_learn_layout", lambda *a: walks.append(1) or learn(*a))
    for path in reversed(paths):
        header = read_header(path)
        expected = header_from_dataset(path, pydicom.dcmread(path))
        assert header is not None
        for name in (*FIELDS, "media_sop_instance_uid"):
            assert getattr(header, name) == getattr(expected, name), (path.name, name)
    assert len(kept) == 12
    assert not walks


def test_learnt_layout_still_detects_truncation(tmp_path: Path) -> None:
    """A file laid out like a learnt one but cut short inside its header is refused, not sliced."""
    first = _variant(tmp_path / "first", [-99.5, 99.25, 1.0], "9.8.7.6.5", "wxyz")
    assert read_header(first) is not None
    cut = tmp_path / "cut"
    cut.write_bytes(first.read_bytes()[:600])
    with pytest.raises(InputDataError, match="truncated"):
        read_header(cut)
