"""load_series on series built from real bundled CT headers with known truth.

Each test writes a variant of a real series (pydicom's CT5N, or CT_small resampled to a known world
function) into tmp_path and checks the loader against what the generator knows.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _ingest_support import copy_series, pydicom_file, pydicom_folder, write_dataset

from pipeline.errors import InputDataError, UsageError
from pipeline.ingest import load_series, series_datasets
from pipeline.ingest.pixels import CT_PADDING_HU

CT5N = "dicomdirtests/98892001/CT5N"


def _ramp(points_lps_mm: np.ndarray) -> np.ndarray:
    """A linear function of world position: linear interpolation reproduces it exactly."""
    return 2.0 * points_lps_mm[..., 0] - 3.0 * points_lps_mm[..., 1] + 5.0 * points_lps_mm[..., 2] + 100.0


def _write_world_series(
    folder: Path,
    positions_lps_mm: list[list[float]],
    orientation: list[float],
    spacing_mm: float = 1.0,
    size: int = 24,
) -> list[Path]:
    """CT slices whose stored values are :func:`_ramp` at each pixel's true world position."""
    template = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    row = np.asarray(orientation[:3])
    column = np.asarray(orientation[3:])
    series_uid = pydicom.uid.generate_uid()
    jj, ii = np.mgrid[:size, :size]  # jj = row index, ii = column index
    paths = []
    for number, position in enumerate(positions_lps_mm):
        points = np.asarray(position) + ii[..., None] * spacing_mm * row + jj[..., None] * spacing_mm * column
        ds = copy.deepcopy(template)
        ds.Rows = ds.Columns = size
        ds.PixelSpacing = [spacing_mm, spacing_mm]
        ds.ImagePositionPatient = [float(p) for p in position]
        ds.ImageOrientationPatient = [float(o) for o in orientation]
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = len(positions_lps_mm) - number  # deliberately not spatial
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.pop("PixelPaddingValue", None)
        ds.PixelData = np.round(_ramp(points)).astype(np.int16).tobytes()
        paths.append(write_dataset(ds, folder / f"slice_{number:03d}.dcm"))
    return paths


def _world_values(volume_array: np.ndarray, affine_lps: np.ndarray) -> np.ndarray:
    grid = np.indices(volume_array.shape).reshape(3, -1).T
    points = grid @ affine_lps[:3, :3].T + affine_lps[:3, 3]
    return _ramp(points).reshape(volume_array.shape)


def test_order_comes_from_positions_not_names_or_numbers(tmp_path: Path) -> None:
    reference = load_series(pydicom_folder(CT5N))
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    sources = sorted(pydicom_folder(CT5N).iterdir())
    for rank, source in enumerate(sources[::-1]):
        ds = pydicom.dcmread(source)
        ds.InstanceNumber = (rank * 7) % 5 + 1
        write_dataset(ds, shuffled / f"z{rank}")
    volume = load_series(shuffled)
    np.testing.assert_array_equal(volume.array, reference.array)
    np.testing.assert_allclose(volume.affine_lps, reference.affine_lps)
    positions = [float(pydicom.dcmread(p).ImagePositionPatient[2]) for p in list(volume.provenance.source_files)]
    assert positions == sorted(positions)


def test_rescale_and_padding_are_applied(tmp_path: Path) -> None:
    folder = copy_series(pydicom_folder(CT5N), tmp_path / "ct")
    stored = {}
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array.copy()
        pixels[0, :4] = -2000  # outside the field of view
        ds.PixelData = pixels.astype(np.int16).tobytes()
        ds.RescaleSlope, ds.RescaleIntercept = 0.5, -1000
        ds.PixelPaddingValue = -2000
        ds.save_as(path)
        stored[str(path)] = pixels
    volume = load_series(folder)
    for k, source in enumerate(list(volume.provenance.source_files)):
        expected = stored[source].T * 0.5 - 1000.0
        expected[:4, 0] = CT_PADDING_HU
        np.testing.assert_array_equal(volume.array[:, :, k], expected)
    assert volume.provenance.padding_voxels == 4 * 5
    assert volume.array.dtype == np.float32


def _rewrite_ct5n(
    folder: Path, change: Callable[[pydicom.Dataset, np.ndarray], np.ndarray]
) -> dict[str, np.ndarray]:
    """CT5N with each file's stored pixels and header changed by ``change(ds, pixels) -> pixels``."""
    stored = {}
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        pixels = change(ds, ds.pixel_array.astype(np.int64))
        dtype = np.int16 if ds.PixelRepresentation == 1 else np.uint16
        ds.PixelData = pixels.astype(dtype).tobytes()
        ds.save_as(path)
        stored[str(path)] = pixels
    return stored


# name: (PixelRepresentation, intercept, value written in pixel [0, 0..3], padding value, dtype expected)
WHOLE_HU_CASES = {
    "int16-intercept": (1, -1024, None, None, np.int16),
    "int16-padding-exempt": (1, -1024, -32768, -32768, np.int16),  # -32768 - 1024 would wrap: padding
    "int16-would-wrap": (1, -1024, -32000, None, np.float32),  # -33024 HU is not int16: float32
    "uint16-intercept": (0, -1024, 4095, None, np.int16),
    "uint16-beyond-int16": (0, -1024, 40000, None, np.float32),  # 38976 HU is not int16
    "positive-intercept": (1, 1000, 32000, None, np.float32),
}


@pytest.mark.parametrize("case", list(WHOLE_HU_CASES), ids=list(WHOLE_HU_CASES))
def test_whole_hu_come_as_int16_when_exact(tmp_path: Path, case: str) -> None:
    """CT with slope 1 and a whole intercept: int16 HU, equal to stored + intercept everywhere; a series
    whose values would not fit int16 is read as float32, with the same exact values."""
    representation, intercept, written, padding, dtype = WHOLE_HU_CASES[case]

    def change(ds: pydicom.Dataset, pixels: np.ndarray) -> np.ndarray:
        ds.PixelRepresentation = representation
        ds.RescaleSlope, ds.RescaleIntercept = 1, intercept
        ds.pop("PixelPaddingValue", None)
        pixels = np.clip(pixels, 0, 4095)
        if written is not None:
            pixels[0, :4] = written
        if padding is not None:
            ds.add_new(0x00280120, "SS", padding)  # PixelPaddingValue, VR fixed for signed pixels
        return pixels

    stored = _rewrite_ct5n(copy_series(pydicom_folder(CT5N), tmp_path / "ct"), change)
    volume = load_series(tmp_path / "ct")
    assert volume.array.dtype == dtype
    for k, source in enumerate(list(volume.provenance.source_files)):
        expected = (stored[source] + intercept).T.astype(np.float64)
        if padding is not None:
            expected[:4, 0] = CT_PADDING_HU
        np.testing.assert_array_equal(volume.array[:, :, k], expected)
    assert volume.provenance.padding_voxels == (20 if padding is not None else 0)


def test_provenance_has_series_but_no_patient(tmp_path: Path) -> None:
    volume = load_series(pydicom_folder(CT5N))
    provenance = volume.provenance
    assert provenance.series_number == 5
    assert provenance.modality == "CT"
    assert provenance.description == "SmartScore - Gated 0.5 sec"
    assert len(provenance.source_files) == 5
    ds = pydicom.dcmread(provenance.source_files[0])
    assert ds.SeriesInstanceUID == provenance.series_uid
    text = repr(provenance) + repr(provenance.to_json())
    for identifier in (str(ds.PatientName), str(ds.PatientID)):
        if identifier:
            assert identifier not in text


def test_series_datasets_follow_slice_order() -> None:
    volume = load_series(pydicom_folder(CT5N))
    datasets = series_datasets(pydicom_folder(CT5N), 5)
    assert [str(d.filename) for d in datasets] == list(volume.provenance.source_files)
    assert all("PixelData" not in d for d in datasets)
    origins = [volume.index_to_lps(np.array([0, 0, k])) for k in range(5)]
    np.testing.assert_allclose([d.ImagePositionPatient for d in datasets], origins, atol=1e-4)


def test_choosing_a_series(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    shutil.copytree(pydicom_folder("dicomdirtests/98892001"), folder)
    with pytest.raises(UsageError, match="holds 2 series") as caught:
        load_series(folder)
    assert "SmartScore" in str(caught.value)
    assert "Scout" in str(caught.value)
    by_number = load_series(folder, 5)
    uid = by_number.provenance.series_uid
    by_uid = load_series(folder, uid)
    np.testing.assert_array_equal(by_number.array, by_uid.array)
    with pytest.raises(UsageError, match="no series '99'"):
        load_series(folder, "99")


@pytest.mark.parametrize(
    ("orientation", "description"),
    [
        pytest.param([1, 0, 0, 0, 1, 0], "axial", id="axial"),
        pytest.param([0, 1, 0, 0, 0, -1], "sagittal", id="sagittal"),
        pytest.param(
            [np.cos(0.3), np.sin(0.3), 0, -np.sin(0.3) * np.cos(0.2), np.cos(0.3) * np.cos(0.2), np.sin(0.2)],
            "oblique",
            id="oblique",
        ),
    ],
)
def test_affine_maps_voxels_to_their_world_positions(
    tmp_path: Path, orientation: list[float], description: str
) -> None:
    row, column = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row, column)
    positions = [list(np.array([-10.0, 20.0, 5.0]) + 1.5 * k * normal) for k in range(6)]
    _write_world_series(tmp_path / description, positions, orientation, spacing_mm=0.8)
    volume = load_series(tmp_path / description)
    assert volume.shape == (24, 24, 6)
    np.testing.assert_allclose(volume.spacing_mm, [0.8, 0.8, 1.5], atol=1e-6)
    expected = _world_values(volume.array, volume.affine_lps)
    np.testing.assert_allclose(volume.array, np.round(expected), atol=1e-4)


def _tilted_positions(tilt_deg: float, gaps_mm: list[float]) -> tuple[list[list[float]], list[float]]:
    """Slice origins of a gantry-tilted acquisition: image planes tilted about x, table moving along z."""
    angle = np.radians(tilt_deg)
    orientation = [1.0, 0.0, 0.0, 0.0, np.cos(angle), -np.sin(angle)]
    z = np.concatenate([[0.0], np.cumsum(gaps_mm)])
    return [[-12.0, -12.0, float(value)] for value in z], orientation


@pytest.mark.parametrize(
    ("tilt_deg", "gaps_mm", "fault"),
    [
        pytest.param(15.0, [2.0] * 7, "gantry tilt", id="tilt"),
        pytest.param(0.0, [2.0, 2.0, 3.0, 2.0, 1.0, 2.0], "uneven slice spacing", id="uneven"),
        pytest.param(18.5, [2.0, 2.0, 0.5, 3.5, 3.5], "gantry tilt", id="tilt-and-uneven"),
    ],
)
def test_tilt_and_uneven_spacing_resampled_exactly(
    tmp_path: Path, tilt_deg: float, gaps_mm: list[float], fault: str
) -> None:
    positions, orientation = _tilted_positions(tilt_deg, gaps_mm)
    _write_world_series(tmp_path / "series", positions, orientation, spacing_mm=1.0)
    with pytest.raises(InputDataError, match=fault):
        load_series(tmp_path / "series", resample=False)
    volume = load_series(tmp_path / "series")
    assert volume.provenance.geometry_notes
    # The grid is orthogonal: axes along row, column and slice normal.
    directions = volume.direction_lps
    np.testing.assert_allclose(directions.T @ directions, np.eye(3), atol=1e-9)
    # Linear interpolation of a linear world function is exact wherever a voxel has acquired data on
    # both sides; the stored ramp was rounded to integers, hence 0.5.
    expected = _world_values(volume.array, volume.affine_lps)
    acquired = volume.array != CT_PADDING_HU
    assert acquired.mean() > 0.5
    np.testing.assert_allclose(volume.array[acquired], expected[acquired], atol=0.5 + 1e-3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param("missing", r"1 slice\(s\) missing", id="missing-slice"),
        pytest.param("duplicate", "duplicate slice position", id="duplicate-slice"),
    ],
)
def test_missing_and_duplicate_slices_refused(tmp_path: Path, change: str, message: str) -> None:
    positions = [[0.0, 0.0, 2.0 * k] for k in range(8)]
    if change == "missing":
        del positions[4]
    else:
        positions[4] = positions[3]
    _write_world_series(tmp_path / "series", positions, [1, 0, 0, 0, 1, 0])
    with pytest.raises(InputDataError, match=message):
        load_series(tmp_path / "series")


def test_nifti_input_round_trips(tmp_path: Path) -> None:
    volume = load_series(pydicom_folder(CT5N))
    from pipeline.ingest import write_nifti

    path = write_nifti(volume, tmp_path / "ct.nii.gz")
    again = load_series(path)
    np.testing.assert_array_equal(again.array, volume.array)
    np.testing.assert_allclose(again.affine_lps, volume.affine_lps, atol=1e-4)
