"""The bad-input table: every command, every kind of broken input and every dangerous OUT (issue 10).

Each row builds its inputs in a fresh workspace from small files (pydicom's bundled CT5N series and
test files, nibabel's Siemens mosaic DWI, a synthetic NIfTI DWI), runs the command in-process, and
asserts:

* the exit code (2 usage, 3 input data);
* a one-line message naming the problem (a regular expression per row);
* no traceback;
* nothing written anywhere in the workspace, which holds both the inputs and OUT: every file's sha256
  and every link's target are the same before and after (so inputs are unchanged and OUT is empty).

Rows for a new command (``plan``, ``run``, ``report``) are added by appending :class:`Row` entries to
:data:`ROWS` with a builder that returns the argv.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate

from pipeline import cli

BUNDLED = Path(get_testdata_file("CT_small.dcm", download=False)).parent
CT5N = BUNDLED / "dicomdirtests" / "98892001" / "CT5N"
NIBABEL_DATA = Path(nib.__file__).parent / "nicom" / "tests" / "data"
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """cli.main binds the root logger to this test's stderr; unbind it afterwards."""
    yield
    logging.getLogger().handlers.clear()


# -- building blocks --------------------------------------------------------------------------------------


def ct_series(ws: Path, name: str = "ct") -> Path:
    """A valid 5-slice CT series (pydicom's CT5N), writable copy."""
    folder = ws / name
    shutil.copytree(CT5N, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def ct_files(folder: Path) -> list[Path]:
    """The series' files in slice order."""
    return sorted(folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))


def edit(path: Path, change: Callable[[pydicom.Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path, enforce_file_format=False)


def edit_all(folder: Path, change: Callable[[pydicom.Dataset], None]) -> None:
    for path in folder.iterdir():
        edit(path, change)


def siemens_dwi(ws: Path) -> Path:
    """nibabel's two real Siemens mosaic DWI files (b=0, b=1000)."""
    folder = ws / "dwi"
    folder.mkdir()
    for name in ("siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz"):
        (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress((NIBABEL_DATA / name).read_bytes()))
    return folder


def nifti_dwi(
    ws: Path,
    *,
    bvals: list[float] | None = None,
    bvecs: np.ndarray | None = None,
    data: np.ndarray | None = None,
    affine_lps: np.ndarray | None = None,
    sidecars: bool = True,
) -> Path:
    """A small synthetic NIfTI DWI (b0 + 6 directions) with .bval/.bvec beside it."""
    folder = ws / "niftidwi"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    values = [0.0, 1000, 1000, 1000, 1000, 1000, 1000] if bvals is None else bvals
    directions = np.array(
        [
            [0, 0, 0],
            [1, 0, 0],
            [0, 1, 0],
            [0, 0, 1],
            [0.7071, 0.7071, 0],
            [0.7071, 0, 0.7071],
            [0, 0.7071, 0.7071],
        ]
    )
    vectors = directions if bvecs is None else bvecs
    array = rng.uniform(100, 200, (8, 8, 4, len(values))).astype(np.float32) if data is None else data
    affine = np.diag([2.0, 2.0, 3.0, 1.0]) if affine_lps is None else affine_lps
    path = save_nifti(array, affine, folder / "dwi.nii.gz")
    if sidecars:
        (folder / "dwi.bval").write_text(" ".join(f"{b:g}" for b in values) + "\n")
        (folder / "dwi.bvec").write_text(
            "\n".join(" ".join(f"{v:g}" for v in row) for row in vectors.T) + "\n"
        )
    return path


def save_nifti(array: np.ndarray, affine_lps: np.ndarray, path: Path) -> Path:
    """NIfTI with the sform only (a singular affine has no qform, and nibabel would refuse to make one)."""
    image = nib.Nifti1Image(array, None)
    image.set_sform(LPS_TO_RAS @ affine_lps, code=1)
    image.set_qform(None, code=0)
    image.to_filename(path)
    return path


def nifti_image(ws: Path, *, data: np.ndarray | None = None, affine_lps: np.ndarray | None = None) -> Path:
    """A small synthetic 3-D NIfTI (an MRI for segment)."""
    array = np.random.default_rng(1).uniform(0, 100, (12, 12, 6)).astype(np.float32) if data is None else data
    affine = np.diag([0.5, 0.5, 1.0, 1.0]) if affine_lps is None else affine_lps
    return save_nifti(array, affine, ws / "image.nii.gz")


def single_file(ws: Path, content: bytes, name: str = "image.dcm") -> Path:
    folder = ws / "single"
    folder.mkdir()
    (folder / name).write_bytes(content)
    return folder


# -- the broken DICOM inputs (a folder each) ----------------------------------------------------------------
# name -> (builder, regex naming the fault). Each is run through convert, segment and dti (exit 3).


def _truncated(ws: Path) -> Path:
    folder = ct_series(ws)
    path = ct_files(folder)[2]
    path.write_bytes(path.read_bytes()[:-3000])
    return folder


def _zero_length(ws: Path) -> Path:
    folder = ct_series(ws)
    ct_files(folder)[1].write_bytes(b"")
    return folder


def _garbage_file(ws: Path) -> Path:
    return single_file(ws, b"DICM" * 10 + os.urandom(2000))


def _garbage_with_preamble(ws: Path) -> Path:
    return single_file(ws, bytes(128) + b"DICM" + np.random.default_rng(3).bytes(3000))


def _only_zero_length(ws: Path) -> Path:
    return single_file(ws, b"")


def _header_only(ws: Path) -> Path:
    folder = ct_series(ws)
    path = ct_files(folder)[0]
    path.write_bytes(path.read_bytes()[:200])
    return folder


def _claim_syntax(ds: pydicom.Dataset, uid: str) -> None:
    """Declare ``uid`` for pixel data that are not in it (raw pixels wrapped as one fragment)."""
    ds.file_meta.TransferSyntaxUID = uid
    ds.PixelData = encapsulate([ds.PixelData])
    ds["PixelData"].VR = "OB"


def _wrong_transfer_syntax(ws: Path) -> Path:
    folder = ct_series(ws)
    edit(ct_files(folder)[2], lambda ds: _claim_syntax(ds, "1.2.840.10008.1.2.4.90"))  # "JPEG 2000"
    return folder


def _unknown_transfer_syntax(ws: Path) -> Path:
    folder = ct_series(ws)
    edit_all(folder, lambda ds: _claim_syntax(ds, "1.2.3.4.5.6.7"))
    return folder


def _garbage_jpeg2000(ws: Path) -> Path:
    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm", download=False))
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, 0], [1, 0, 0, 0, 1, 0]
    ds.SeriesInstanceUID, ds.Modality = "1.2.3.4", "CT"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = bytearray(buffer.getvalue())
    start = data.index(b"\xff\x4f\xff\x51")  # the JPEG 2000 codestream (SOC, SIZ markers)
    data[start + 60 : start + 560] = np.random.default_rng(4).bytes(500)
    return single_file(ws, bytes(data))


def _rle_panic(ws: Path) -> Path:
    source = Path(get_testdata_file("MR_small_RLE.dcm", download=False))
    ds = pydicom.dcmread(source)
    ds.Columns = 65
    folder = ws / "single"
    folder.mkdir()
    ds.save_as(folder / "rle.dcm", enforce_file_format=False)
    return folder


def _set(keyword: str, value: object, which: int | None = None) -> Callable[[Path], Path]:
    def build(ws: Path) -> Path:
        folder = ct_series(ws)

        def change(ds: pydicom.Dataset) -> None:
            setattr(ds, keyword, value)

        if which is None:
            edit_all(folder, change)
        else:
            edit(ct_files(folder)[which], change)
        return folder

    return build


def _delete(keyword: str) -> Callable[[Path], Path]:
    def build(ws: Path) -> Path:
        folder = ct_series(ws)

        def change(ds: pydicom.Dataset) -> None:
            del ds[keyword]

        edit_all(folder, change)
        return folder

    return build


def _missing_slice(ws: Path) -> Path:
    folder = ct_series(ws)
    ct_files(folder)[2].unlink()
    return folder


def _duplicate_slice(ws: Path) -> Path:
    folder = ct_series(ws)
    files = ct_files(folder)
    position = pydicom.dcmread(files[1]).ImagePositionPatient
    edit(files[2], lambda ds: setattr(ds, "ImagePositionPatient", position))
    return folder


def _mixed_orientation(ws: Path) -> Path:
    folder = ct_series(ws)
    edit(ct_files(folder)[3], lambda ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 0, -1]))
    return folder


def _mixed_modality(ws: Path) -> Path:
    folder = ct_series(ws)
    edit(ct_files(folder)[0], lambda ds: setattr(ds, "Modality", "MR"))
    return folder


def _mixed_size(ws: Path) -> Path:
    folder = ct_series(ws)

    def change(ds: pydicom.Dataset) -> None:
        ds.Rows, ds.Columns = 64, 64
        ds.PixelData = np.zeros((64, 64), dtype=np.int16).tobytes()

    edit(ct_files(folder)[1], change)
    return folder


def _tilted(ws: Path) -> Path:
    folder = ct_series(ws)
    for k, path in enumerate(ct_files(folder)):

        def change(ds: pydicom.Dataset, k: int = k) -> None:
            x, y, z = (float(v) for v in ds.ImagePositionPatient)
            ds.ImagePositionPatient = [x, y + 2.0 * k, z]

        edit(path, change)
    return folder


def _unreadable_entry(ws: Path) -> Path:
    folder = ct_series(ws)
    (folder / "dangling").symlink_to(ws / "nowhere")
    return folder


def _fifo(ws: Path) -> Path:
    folder = ct_series(ws)
    os.mkfifo(folder / "pipe")
    return folder


def _empty_folder(ws: Path) -> Path:
    folder = ws / "empty"
    folder.mkdir()
    return folder


def _not_dicom(ws: Path) -> Path:
    folder = ws / "text"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image\n")
    return folder


def _nan_voxels_float(ws: Path) -> Path:
    """A float-pixel MR (Float Pixel Data would be the DICOM way); here a NaN rescale on one slice."""
    folder = ct_series(ws)
    edit(ct_files(folder)[0], lambda ds: setattr(ds, "RescaleSlope", "NaN"))
    return folder


BROKEN_DICOM: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated-file": (_truncated, r"truncated"),
    "zero-length-file": (_zero_length, r"slice\(s\) missing"),
    "garbage-file": (_garbage_file, r"no DICOM images found"),
    "garbage-with-preamble": (_garbage_with_preamble, r"malformed|truncated|no DICOM images found"),
    "only-zero-length": (_only_zero_length, r"no DICOM images found"),
    "header-only": (_header_only, r"truncated|malformed"),
    "wrong-transfer-syntax": (_wrong_transfer_syntax, r"cannot decode pixel data"),
    "unknown-transfer-syntax": (_unknown_transfer_syntax, r"cannot decode|malformed|transfer syntax"),
    "garbage-jpeg2000": (_garbage_jpeg2000, r"cannot decode pixel data|PixelData"),
    "rle-decoder-panic": (_rle_panic, r"cannot decode pixel data|decoded pixel data"),
    "rows-65535": (_set("Rows", 65535), r"PixelData holds|GiB|truncated"),
    "rows-columns-65535-frames": (_set("NumberOfFrames", 2**30, which=0), r"GiB|NumberOfFrames|PixelData"),
    "rows-0": (_set("Rows", 0), r"Rows 0 .* is empty"),
    "columns-0-one-file": (_set("Columns", 0, which=3), r"Columns 0 is empty"),
    "bits-allocated-12345": (_set("BitsAllocated", 12345), r"BitsAllocated 12345"),
    "nan-position": (
        _set("ImagePositionPatient", ["NaN", "0", "0"], which=1),
        r"ImagePositionPatient is not finite",
    ),
    "inf-position": (_set("ImagePositionPatient", ["inf", "0", "0"]), r"ImagePositionPatient is not finite"),
    "far-position": (  # found by the fuzzer: position differences overflowed in the tilt grid
        _set("ImagePositionPatient", ["-1e308", "-1e308", "-1e308"], which=2),
        r"more than 1e\+06 mm from the scanner origin",
    ),
    "nan-orientation": (
        _set("ImageOrientationPatient", ["NaN", 0, 0, 0, 1, 0]),
        r"ImageOrientationPatient is not finite",
    ),
    "singular-orientation": (
        _set("ImageOrientationPatient", [1, 0, 0, 1, 0, 0]),
        r"ImageOrientationPatient is degenerate",
    ),
    "zero-orientation": (
        _set("ImageOrientationPatient", [0, 0, 0, 0, 0, 0]),
        r"ImageOrientationPatient is degenerate",
    ),
    "nan-spacing": (_set("PixelSpacing", ["NaN", "1"]), r"PixelSpacing"),
    "zero-spacing": (_set("PixelSpacing", ["0", "0"]), r"PixelSpacing"),
    "nan-rescale-slope": (_nan_voxels_float, r"rescale slope is non-finite"),
    "inf-rescale-intercept": (_set("RescaleIntercept", "inf"), r"rescale intercept is non-finite"),
    "huge-rescale-slope": (_set("RescaleSlope", "1e38"), r"non-finite"),
    "missing-position": (_delete("ImagePositionPatient"), r"no ImagePositionPatient"),
    "missing-pixel-data": (_delete("PixelData"), r"no pixel data|PixelData"),
    "missing-slice": (_missing_slice, r"slice\(s\) missing"),
    "duplicate-slice": (_duplicate_slice, r"duplicate slice position"),
    "mixed-orientation": (_mixed_orientation, r"mixed orientations"),
    "mixed-modality": (_mixed_modality, r"mixed modalities"),
    "mixed-size": (_mixed_size, r"mixed image sizes"),
    "dangling-link-in-series": (_unreadable_entry, r"cannot read file"),
    "fifo-in-series": (_fifo, r"not a regular file"),
    "empty-folder": (_empty_folder, r"no DICOM images found"),
    "not-dicom": (_not_dicom, r"no DICOM images found"),
}


@dataclass(frozen=True)
class Row:
    """One bad call: ``build(workspace)`` makes the inputs and returns the argv."""

    id: str
    build: Callable[[Path], list[str]]
    code: int
    message: str


def _dicom_rows() -> list[Row]:
    rows = []
    for name, (builder, message) in BROKEN_DICOM.items():

        def convert(ws: Path, builder: Callable[[Path], Path] = builder) -> list[str]:
            return ["convert", str(builder(ws)), str(ws / "out" / "image.nii.gz")]

        def segment(ws: Path, builder: Callable[[Path], Path] = builder) -> list[str]:
            return ["segment", str(builder(ws)), "--out", str(ws / "out")]

        def dti(ws: Path, builder: Callable[[Path], Path] = builder) -> list[str]:
            return ["dti", str(builder(ws)), "--out", str(ws / "out")]

        rows += [Row(f"convert-{name}", convert, 3, message), Row(f"segment-{name}", segment, 3, message)]
        # A broken series that is not a DWI at all is refused as such by dti, which is also right.
        rows.append(Row(f"dti-{name}", dti, 3, f"(?:{message})|not a DWI series"))
    # inspect succeeds on a folder with broken series (it lists the problems); it fails on no images.
    for name in ("garbage-file", "only-zero-length", "empty-folder", "not-dicom"):
        builder, message = BROKEN_DICOM[name]
        rows.append(Row(f"inspect-{name}", lambda ws, b=builder: ["inspect", str(b(ws))], 3, message))
    rows.append(Row("inspect-missing", lambda ws: ["inspect", str(ws / "absent")], 3, r"no such file"))
    rows.append(
        Row(
            "convert-tilted-no-resample",
            lambda ws: ["convert", str(_tilted(ws)), str(ws / "o.nii"), "--no-resample"],
            3,
            r"gantry tilt",
        )
    )
    return rows


# -- NIfTI and DWI -------------------------------------------------------------------------------------------


def _truncated_nifti(ws: Path) -> Path:
    path = nifti_dwi(ws)
    path.write_bytes(path.read_bytes()[:300])
    return path


def _truncated_image(ws: Path) -> Path:
    path = nifti_image(ws)
    path.write_bytes(path.read_bytes()[:400])
    return path


def _nan_image(ws: Path) -> Path:
    data = np.ones((12, 12, 6), dtype=np.float32)
    data[3, 4, 2] = np.nan
    return nifti_image(ws, data=data)


def _singular_image(ws: Path) -> Path:
    return nifti_image(ws, affine_lps=np.diag([1.0, 0.0, 1.0, 1.0]))


def _zero_length_image(ws: Path) -> Path:
    path = ws / "image.nii.gz"
    path.write_bytes(b"")
    return path


def _garbage_image(ws: Path) -> Path:
    path = ws / "image.nii"
    path.write_bytes(np.random.default_rng(5).bytes(1000))
    return path


def _two_d_image(ws: Path) -> Path:
    path = ws / "image.nii.gz"
    nib.Nifti1Image(np.ones((8, 8), dtype=np.float32), np.eye(4)).to_filename(path)
    return path


NIFTI_IMAGES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated-nifti": (_truncated_image, r"cannot read NIfTI"),
    "nan-voxels-nifti": (_nan_image, r"NaN or infinite"),
    "singular-nifti": (_singular_image, r"singular|cannot read NIfTI"),
    "zero-length-nifti": (_zero_length_image, r"cannot read NIfTI"),
    "garbage-nifti": (_garbage_image, r"cannot read NIfTI"),
    "2d-nifti": (_two_d_image, r"3-D or 4-D"),
}

_DIRECTIONS = np.array(
    [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0.7071, 0.7071, 0],
        [0.7071, 0, 0.7071],
        [0, 0.7071, 0.7071],
    ]
)


def _dwi_nan_voxels(ws: Path) -> Path:
    data = np.full((8, 8, 4, 7), 150.0, dtype=np.float32)
    data[2, 2, 2, 3] = np.nan
    return nifti_dwi(ws, data=data)


def _dwi_bad_vector(row: int, value: float) -> Callable[[Path], Path]:
    def build(ws: Path) -> Path:
        vectors = _DIRECTIONS.copy()
        vectors[row] = value
        return nifti_dwi(ws, bvecs=vectors)

    return build


DWI_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "dwi-no-gradients": (lambda ws: nifti_dwi(ws, sidecars=False), r"gradients missing"),
    "dwi-nan-b": (
        lambda ws: nifti_dwi(ws, bvals=[0, 1000, float("nan"), 1000, 1000, 1000, 1000]),
        r"non-finite|not finite",
    ),
    "dwi-negative-b": (
        lambda ws: nifti_dwi(ws, bvals=[0, 1000, -1000, 1000, 1000, 1000, 1000]),
        r"negative b-values",
    ),
    "dwi-nan-vector": (_dwi_bad_vector(2, float("nan")), r"non-finite|not finite"),
    "dwi-inf-vector": (_dwi_bad_vector(4, float("inf")), r"non-finite|not finite"),
    "dwi-zero-vector": (_dwi_bad_vector(3, 0.0), r"no unit gradient direction"),
    "dwi-count-mismatch": (
        lambda ws: nifti_dwi(ws, bvals=[0, 1000, 1000, 1000, 1000, 1000]),
        r"volume|does not match",
    ),
    "dwi-nan-voxels": (_dwi_nan_voxels, r"NaN or infinite"),
    "dwi-singular": (
        lambda ws: nifti_dwi(ws, affine_lps=np.diag([2.0, 2.0, 0.0, 1.0])),
        r"singular|cannot read NIfTI",
    ),
    "dwi-truncated": (_truncated_nifti, r"cannot read NIfTI"),
}


def _siemens_negative_b(ws: Path) -> Path:
    folder = siemens_dwi(ws)
    edit_all(folder, lambda ds: setattr(ds, "DiffusionBValue", -1.0))
    return folder


def _siemens_nan_slope(ws: Path) -> Path:
    folder = siemens_dwi(ws)
    edit(folder / "siemens_dwi_0.dcm", lambda ds: setattr(ds, "RescaleSlope", "NaN"))
    return folder


def _nifti_rows() -> list[Row]:
    rows = []
    for name, (builder, message) in NIFTI_IMAGES.items():
        rows.append(
            Row(
                f"segment-{name}",
                lambda ws, b=builder: ["segment", str(b(ws)), "--out", str(ws / "out")],
                3,
                message,
            )
        )
        rows.append(
            Row(
                f"dti-{name}",
                lambda ws, b=builder: ["dti", str(b(ws)), "--out", str(ws / "out")],
                3,
                message + "|gradients missing",
            )
        )
    for name, (builder, message) in DWI_INPUTS.items():
        rows.append(
            Row(name, lambda ws, b=builder: ["dti", str(b(ws)), "--out", str(ws / "out")], 3, message)
        )
    rows += [
        Row(
            "dti-siemens-negative-b",
            lambda ws: ["dti", str(_siemens_negative_b(ws)), "--out", str(ws / "out")],
            3,
            r"negative b-values|non-negative",
        ),
        Row(
            "convert-siemens-negative-b",
            lambda ws: ["convert", str(_siemens_negative_b(ws)), str(ws / "o.nii")],
            3,
            r"negative b-values|non-negative",
        ),
        Row(
            "dti-siemens-nan-slope",
            lambda ws: ["dti", str(_siemens_nan_slope(ws)), "--out", str(ws / "out")],
            3,
            r"rescale slope is non-finite",
        ),
        Row(
            "convert-siemens-nan-slope",
            lambda ws: ["convert", str(_siemens_nan_slope(ws)), str(ws / "o.nii")],
            3,
            r"rescale slope is non-finite",
        ),
        Row(
            "dti-ct-has-no-gradients",
            lambda ws: ["dti", str(ct_series(ws)), "--out", str(ws / "out")],
            3,
            r"b-value|gradient|diffusion",
        ),
    ]
    return rows


# -- options ---------------------------------------------------------------------------------------------------


def _params(ws: Path, text: str) -> str:
    path = ws / "params.yaml"
    path.write_text(text)
    return str(path)


def _option_rows() -> list[Row]:
    out = "out"
    return [
        Row(
            "phantom-seed-negative",
            lambda ws: ["phantom", str(ws / out), "--seed", "-5"],
            2,
            r"--seed must be between 0",
        ),
        Row(
            "phantom-seed-huge",
            lambda ws: ["phantom", str(ws / out), "--seed", str(2**40)],
            2,
            r"--seed must be between 0",
        ),
        Row(
            "phantom-seed-text",
            lambda ws: ["phantom", str(ws / out), "--seed", "five"],
            2,
            r"invalid int value",
        ),
        Row(
            "phantom-variant-unknown",
            lambda ws: ["phantom", str(ws / out), "--variant", "upside-down"],
            2,
            r"invalid choice",
        ),
        Row(
            "phantom-parameters-negative-size",
            lambda ws: [
                "phantom",
                str(ws / out),
                "--parameters",
                _params(ws, "anatomy: {cord: {ap_mm: -9}}\n"),
            ],
            2,
            r"anatomy.cord.ap_mm.*must be positive",
        ),
        Row(
            "phantom-parameters-zero-size",
            lambda ws: [
                "phantom",
                str(ws / out),
                "--parameters",
                _params(ws, "anatomy: {cord: {ap_mm: 0}}\n"),
            ],
            2,
            r"anatomy.cord.ap_mm.*must be positive",
        ),
        Row(
            "phantom-parameters-nan",
            lambda ws: [
                "phantom",
                str(ws / out),
                "--parameters",
                _params(ws, "anatomy: {cord: {ap_mm: .nan}}\n"),
            ],
            2,
            r"not a finite number",
        ),
        Row(
            "phantom-parameters-inf",
            lambda ws: [
                "phantom",
                str(ws / out),
                "--parameters",
                _params(ws, "anatomy: {cord: {ap_mm: .inf}}\n"),
            ],
            2,
            r"not a finite number",
        ),
        Row(
            "phantom-parameters-text",
            lambda ws: [
                "phantom",
                str(ws / out),
                "--parameters",
                _params(ws, "anatomy: {cord: {ap_mm: wide}}\n"),
            ],
            2,
            r"anatomy.cord.ap_mm",
        ),
        Row(
            "phantom-parameters-unknown",
            lambda ws: [
                "phantom",
                str(ws / out),
                "--parameters",
                _params(ws, "anatomy: {cord: {colour: 1}}\n"),
            ],
            2,
            r"unknown parameter",
        ),
        Row(
            "phantom-parameters-not-yaml",
            lambda ws: ["phantom", str(ws / out), "--parameters", _params(ws, "anatomy: [unclosed\n")],
            2,
            r"not valid YAML",
        ),
        Row(
            "phantom-parameters-missing",
            lambda ws: ["phantom", str(ws / out), "--parameters", str(ws / "absent.yaml")],
            3,
            r"--parameters .*no such file",
        ),
        Row(
            "phantom-parameters-folder",
            lambda ws: ["phantom", str(ws / out), "--parameters", str(ct_series(ws))],
            3,
            r"not a file",
        ),
        Row(
            "dti-md-threshold-nan",
            lambda ws: ["dti", str(nifti_dwi(ws)), "--out", str(ws / out), "--md-threshold", "nan"],
            2,
            r"--md-threshold must be a finite number",
        ),
        Row(
            "dti-md-threshold-inf",
            lambda ws: ["dti", str(nifti_dwi(ws)), "--out", str(ws / out), "--md-threshold=-inf"],
            2,
            r"--md-threshold must be a finite number",
        ),
        Row(
            "dti-md-threshold-positive",
            lambda ws: ["dti", str(nifti_dwi(ws)), "--out", str(ws / out), "--md-threshold", "5"],
            2,
            r"--md-threshold must be < 0",
        ),
        Row(
            "dti-md-threshold-below-100",
            lambda ws: ["dti", str(nifti_dwi(ws)), "--out", str(ws / out), "--md-threshold", "-150"],
            2,
            r"--md-threshold must be > -100",
        ),
        Row(
            "dti-md-threshold-text",
            lambda ws: ["dti", str(nifti_dwi(ws)), "--out", str(ws / out), "--md-threshold", "low"],
            2,
            r"invalid float value",
        ),
        Row(
            "dti-fit-method-unknown",
            lambda ws: ["dti", str(nifti_dwi(ws)), "--out", str(ws / out), "--fit-method", "MAGIC"],
            2,
            r"invalid choice",
        ),
        Row(
            "dti-lesion-mask-missing",
            lambda ws: [
                "dti",
                str(nifti_dwi(ws)),
                "--out",
                str(ws / out),
                "--lesion-mask",
                str(ws / "no.nii.gz"),
            ],
            3,
            r"--lesion-mask .*no such file",
        ),
        Row(
            "dti-cord-mask-missing",
            lambda ws: [
                "dti",
                str(nifti_dwi(ws)),
                "--out",
                str(ws / out),
                "--cord-mask",
                str(ws / "no.nii.gz"),
            ],
            3,
            r"--cord-mask .*no such file",
        ),
        Row(
            "dti-parameters-negative",
            lambda ws: [
                "dti",
                str(nifti_dwi(ws)),
                "--out",
                str(ws / out),
                "--parameters",
                _params(ws, "anatomy: {cord: {ap_mm: -1}}\n"),
            ],
            2,
            r"must be positive",
        ),
        Row(
            "dti-input-missing",
            lambda ws: ["dti", str(ws / "absent"), "--out", str(ws / out)],
            3,
            r"input .*no such file",
        ),
        Row(
            "segment-input-missing",
            lambda ws: ["segment", str(ws / "absent"), "--out", str(ws / out)],
            3,
            r"input .*no such file",
        ),
        Row(
            "segment-vascular-missing",
            lambda ws: ["segment", str(ct_series(ws)), "--out", str(ws / out), "--vascular", str(ws / "no")],
            3,
            r"--vascular .*no such file",
        ),
        Row(
            "segment-contrast-unknown",
            lambda ws: ["segment", str(ct_series(ws)), "--out", str(ws / out), "--contrast", "pet"],
            2,
            r"invalid choice",
        ),
        Row("segment-no-out", lambda ws: ["segment", str(ct_series(ws))], 2, r"required: --out"),
        Row(
            "convert-input-missing",
            lambda ws: ["convert", str(ws / "absent"), str(ws / "o.nii")],
            3,
            r"input .*no such file",
        ),
        Row(
            "convert-bad-suffix",
            lambda ws: ["convert", str(ct_series(ws)), str(ws / "o.txt")],
            2,
            r"must end in .nii",
        ),
        Row(
            "convert-unknown-series",
            lambda ws: ["convert", str(ct_series(ws)), str(ws / "o.nii"), "--series", "99"],
            2,
            r"no series '99'",
        ),
        Row("unknown-command", lambda ws: ["frobnicate"], 2, r"invalid choice"),
    ]


# -- dangerous OUT ------------------------------------------------------------------------------------------


def _marked_foreign(ws: Path) -> Path:
    """A non-empty folder that we did not write (no marker): a study someone keeps there."""
    folder = ws / "keep"
    folder.mkdir()
    (folder / "report.txt").write_text("someone's work\n")
    return folder


def _out_rows() -> list[Row]:
    rows: list[Row] = []
    # Directory commands: every input-relative danger.
    dir_commands: dict[str, Callable[[Path], tuple[list[str], Path]]] = {
        "segment": lambda ws: (["segment"], ct_series(ws)),
        "dti": lambda ws: (["dti"], siemens_dwi(ws)),
        "dti-nifti": lambda ws: (["dti"], nifti_dwi(ws)),
        "plan": lambda ws: (["plan", *PAIN], ct_series(ws)),
        "run": lambda ws: (["run", *PAIN], ct_series(ws)),
    }
    for command, make in dir_commands.items():

        def equal(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            return [*argv, str(source), "--out", str(source), "--force"]

        def inside(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            return [*argv, str(source), "--out", str(source.parent / source.name / "results")]

        def containing(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            return [*argv, str(source), "--out", str(ws), "--force"]

        def symlink(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            link = ws / "link"
            link.symlink_to(source)
            return [*argv, str(source), "--out", str(link), "--force"]

        def symlinked_input(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            link = ws / "input-link"
            link.symlink_to(source)
            return [*argv, str(link), "--out", str(source.parent), "--force"]

        def dotdot(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            return [*argv, str(source), "--out", str(source / ".." / source.name), "--force"]

        def parent_file(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            (ws / "afile").write_text("x")
            return [*argv, str(source), "--out", str(ws / "afile" / "out")]

        def out_is_file(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            (ws / "afile").write_text("x")
            return [*argv, str(source), "--out", str(ws / "afile"), "--force"]

        def read_only(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            return [*argv, str(source), "--out", "/sys/cordotomy-test-out"]

        def foreign(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            return [*argv, str(source), "--out", str(_marked_foreign(ws)), "--force"]

        def not_empty(ws: Path, make: Callable = make) -> list[str]:  # type: ignore[type-arg]
            argv, source = make(ws)
            return [*argv, str(source), "--out", str(_marked_foreign(ws))]

        rows += [
            Row(f"{command}-out-equals-input", equal, 2, r"is the input"),
            Row(f"{command}-out-inside-input", inside, 2, r"lies inside the input"),
            Row(f"{command}-out-contains-input", containing, 2, r"contains the input"),
            Row(f"{command}-out-symlink-to-input", symlink, 2, r"is the input"),
            Row(f"{command}-input-symlink-out-contains", symlinked_input, 2, r"contains the input"),
            Row(f"{command}-out-dotdot-input", dotdot, 2, r"is the input"),
            Row(f"{command}-out-parent-is-file", parent_file, 2, r"is a file, not a folder"),
            Row(f"{command}-out-is-file", out_is_file, 2, r"exists and is not a folder"),
            Row(f"{command}-out-read-only", read_only, 2, r"cannot (write|create)|not writable"),
            Row(f"{command}-force-foreign-folder", foreign, 2, r"not written by cordotomy"),
            Row(f"{command}-out-not-empty", not_empty, 2, r"not empty; use --force"),
        ]
    rows += [
        Row(
            "dti-out-equals-lesion-mask-folder",
            lambda ws: [
                "dti",
                str(nifti_dwi(ws)),
                "--out",
                str(ws / "masks"),
                "--force",
                "--lesion-mask",
                str(_mask(ws)),
            ],
            2,
            r"contains the input",
        ),
        Row(
            "dti-out-contains-bval",
            lambda ws: ["dti", str(nifti_dwi(ws)), "--out", str(ws / "niftidwi"), "--force"],
            2,
            r"contains the input",
        ),
        Row(
            "phantom-out-contains-parameters",
            lambda ws: ["phantom", str(ws), "--force", "--parameters", _params(ws, "{}\n")],
            2,
            r"contains the input",
        ),
        Row(
            "phantom-out-parent-is-file",
            lambda ws: ["phantom", str(_touch(ws / "afile") / "study")],
            2,
            r"is a file, not a folder",
        ),
        Row(
            "phantom-out-read-only",
            lambda ws: ["phantom", "/sys/cordotomy-test-study"],
            2,
            r"cannot (write|create)|not writable",
        ),
        Row(
            "phantom-force-foreign-folder",
            lambda ws: ["phantom", str(_marked_foreign(ws)), "--force"],
            2,
            r"not written by cordotomy",
        ),
        Row(
            "phantom-out-not-empty",
            lambda ws: ["phantom", str(_marked_foreign(ws))],
            2,
            r"not empty; use --force",
        ),
        Row(
            "phantom-out-is-file",
            lambda ws: ["phantom", str(_touch(ws / "afile")), "--force"],
            2,
            r"exists and is not a folder",
        ),
    ]
    # convert writes files: never onto an input file, never inside an input folder.
    rows += [
        Row(
            "convert-out-replaces-input-file",
            lambda ws: ["convert", str(ct_series(ws)), str(_nii_named_input(ws)), "--force"],
            2,
            r"input",
        ),
        Row(
            "convert-out-inside-input",
            lambda ws: ["convert", str(ct_series(ws)), str(ws / "ct" / "image.nii"), "--force"],
            2,
            r"lies inside the input",
        ),
        Row(
            "convert-out-is-input-folder",
            lambda ws: ["convert", str(ct_series(ws)), str(ws / "ct"), "--force"],
            2,
            r"is the input|must end in .nii",
        ),
        Row(
            "convert-out-symlink-into-input",
            lambda ws: [
                "convert",
                str(ct_series(ws)),
                str(_link(ws / "ln.nii", ws / "ct" / "x.nii")),
                "--force",
            ],
            2,
            r"lies inside the input",
        ),
        Row(
            "convert-out-exists",
            lambda ws: ["convert", str(ct_series(ws)), str(_touch(ws / "o.nii"))],
            2,
            r"exists; use --force",
        ),
        Row(
            "convert-out-parent-is-file",
            lambda ws: ["convert", str(ct_series(ws)), str(_touch(ws / "afile") / "o.nii")],
            2,
            r"is a file, not a folder",
        ),
        Row(
            "convert-out-read-only",
            lambda ws: ["convert", str(ct_series(ws)), "/sys/cordotomy-test.nii"],
            2,
            r"cannot (write|create)|not writable",
        ),
        Row(
            "convert-out-is-folder",
            lambda ws: ["convert", str(ct_series(ws)), str(_folder(ws / "o.nii")), "--force"],
            2,
            r"is a folder",
        ),
        Row("convert-single-file-onto-itself", _onto_itself, 2, r"is the input"),
    ]
    return rows


def _onto_itself(ws: Path) -> list[str]:
    ct_series(ws)
    source = _nii_named_input(ws)
    return ["convert", str(source), str(source), "--force"]


def _mask(ws: Path) -> Path:
    folder = ws / "masks"
    folder.mkdir()
    path = folder / "lesion.nii.gz"
    nib.Nifti1Image(
        np.zeros((8, 8, 4), dtype=np.uint8), LPS_TO_RAS @ np.diag([2.0, 2.0, 3.0, 1.0])
    ).to_filename(path)
    return path


def _touch(path: Path) -> Path:
    path.write_text("x")
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _link(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


def _nii_named_input(ws: Path) -> Path:
    """A series file renamed ``IM.nii``: an input file that convert's output name could hit."""
    folder = ws / "ct"
    first = ct_files(folder)[0]
    target = folder / "IM.nii"
    first.rename(target)
    return target


PAIN = ["--pain-side", "right", "--pain-region", "leg"]


def _case_folder(ws: Path, *, marker: bool) -> Path:
    """A folder that looks like a case output (results.json), with or without our marker."""
    folder = ws / "case"
    folder.mkdir()
    (folder / "results.json").write_text("{}\n")
    if marker:
        (folder / ".cordotomy-output").write_text('{"tool": "cordotomy"}\n')
    return folder


def _stage_rows() -> list[Row]:
    """plan, run, report and cohort: their own inputs and options."""
    out = "out"
    return [
        Row("plan-missing-input", lambda ws: ["plan", str(ws / "absent"), *PAIN, "--out", str(ws / out)], 3,
            r"no such file"),
        Row("plan-bad-pain-side", lambda ws: ["plan", str(ct_series(ws)), "--pain-side", "both",
                                              "--pain-region", "leg", "--out", str(ws / out)], 2, r"invalid choice"),
        Row("plan-bad-pain-region", lambda ws: ["plan", str(ct_series(ws)), "--pain-side", "left",
                                                "--pain-region", "face", "--out", str(ws / out)], 2,
            r"invalid choice"),
        Row("plan-truncated-file", lambda ws: ["plan", str(_truncated(ws)), *PAIN, "--out", str(ws / out)], 3,
            r"truncated"),
        Row("plan-parameters-negative", lambda ws: ["plan", str(ct_series(ws)), *PAIN, "--out", str(ws / out),
                                                    "--parameters", _params(ws, "safety: {bone_margin_mm: -1}\n")],
            2, r"must be positive"),
        Row("run-missing-study", lambda ws: ["run", str(ws / "absent"), *PAIN, "--out", str(ws / out)], 3,
            r"no such file"),
        Row("run-missing-clinical", lambda ws: ["run", str(ct_series(ws)), *PAIN, "--out", str(ws / out),
                                                "--clinical", str(ws / "absent.yaml")], 3, r"--clinical .*no such"),
        Row("run-only-with-reuse", lambda ws: ["run", str(ct_series(ws)), *PAIN, "--out", str(ws / out),
                                               "--only", "plan", "--reuse", str(ws)], 2, r"do not go together"),
        Row("run-out-contains-clinical", lambda ws: ["run", str(ct_series(ws)), *PAIN, "--out", str(ws / "cl"),
                                                     "--force", "--clinical", _clinical(ws)], 2,
            r"contains the input"),
        Row("run-no-dicom-images", lambda ws: ["run", str(_not_dicom(ws)), *PAIN, "--out", str(ws / out)], 3,
            r"no DICOM images"),
        Row("report-folder-not-ours", lambda ws: ["report", str(_case_folder(ws, marker=False))], 3,
            r"not an output folder of cordotomy run"),
        Row("report-missing-folder", lambda ws: ["report", str(ws / "absent")], 3, r"no such file"),
        Row("cohort-summary-inside-a-case", lambda ws: ["cohort", str(c := _case_folder(ws, marker=True)),
                                                        "--summary", str(c / "results.json")], 2,
            r"is the input|inside the input"),
    ]  # fmt: skip


def _clinical(ws: Path) -> str:
    folder = ws / "cl"
    folder.mkdir()
    path = folder / "clinical.yaml"
    path.write_text("spo2_percent: 97\n")
    return str(path)


def _not_dicom(ws: Path) -> Path:
    folder = ws / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not an image\n")
    return folder


ROWS: list[Row] = [*_dicom_rows(), *_nifti_rows(), *_option_rows(), *_out_rows(), *_stage_rows()]


# -- the test ---------------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file and the target of every link under ``root`` (links not followed)."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                state[relative] = "link:" + os.readlink(path)
            elif path.is_file():
                state[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                state[relative] = "dir"
            else:
                state[relative] = "special"
    return state


def run_cli(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exited:  # argparse's own usage errors
        return int(exited.code or 0)


def test_table_is_large_and_names_unique() -> None:
    assert len(ROWS) >= 120
    assert len({row.id for row in ROWS}) == len(ROWS)
    commands = {row.id.split("-")[0] for row in ROWS}
    assert {"inspect", "convert", "segment", "dti", "phantom"} <= commands


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input(row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    argv = row.build(ws)
    before = snapshot(ws)
    code = run_cli(argv)
    err = capsys.readouterr().err
    assert code == row.code, err
    assert "Traceback" not in err, err
    assert "PanicException" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert any(line.startswith("cordotomy") and "error:" in line for line in lines), err
    if code == 3:  # input-data errors: exactly one line
        assert len(lines) == 1, err
    import re

    assert re.search(row.message, err), err
    assert snapshot(ws) == before, "the workspace changed (input modified or something written)"
    assert not Path("/sys/cordotomy-test-out").exists()
