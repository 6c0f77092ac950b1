"""The fast header walker against pydicom on every real file bundled with pydicom and nibabel."""

from __future__ import annotations

import gzip
from pathlib import Path

import pydicom
import pytest
from _ingest_support import nibabel_data, pydicom_file

from pipeline.errors import InputDataError
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
