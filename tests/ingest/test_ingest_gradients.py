"""Gradient sources one by one on synthetic headers, and the DWI loader's rules on synthetic series.

Each vendor module reads only its own vendor's files (a private element under another vendor's
creator, or in another vendor's file, is not a gradient); near-zero b-values stay distinct volumes; a
missing b-value on a non-diffusion-weighted image is b = 0; non-image objects and trace images of a
series are left out and named at debug level.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _ingest_support import bvecs_to_world_ras, pydicom_file, write_dataset
from pydicom.dataset import Dataset

from pipeline.ingest import load_dwi
from pipeline.ingest.gradients import dataset_encoding, ge, philips, uih
from pipeline.ingest.gradients._values import floats
from pipeline.ingest.gradients.canon import read as canon_read

ANGLE = np.radians(25.0)
ORIENTATION = [np.cos(ANGLE), np.sin(ANGLE), 0.0, -np.sin(ANGLE), np.cos(ANGLE), 0.0]  # axial, rotated
AXES = np.column_stack([ORIENTATION[:3], ORIENTATION[3:], np.cross(ORIENTATION[:3], ORIENTATION[3:])])


def _dataset(manufacturer: str) -> Dataset:
    ds = Dataset()
    ds.Manufacturer = manufacturer
    ds.ImageOrientationPatient = [float(v) for v in ORIENTATION]
    ds.InPlanePhaseEncodingDirection = "COL"
    return ds


def _ge(
    b_value: str, vector: tuple[float, float, float], manufacturer: str = "GE MEDICAL SYSTEMS"
) -> Dataset:
    ds = _dataset(manufacturer)
    ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x39, "IS", [b_value, "8", "0", "0"])
    block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    for element, value in zip((0xBB, 0xBC, 0xBD), vector, strict=True):
        block.add_new(element, "DS", f"{value:.6f}")
    return ds


def test_ge_axial_vector_maps_to_image_axes_with_offset_b() -> None:
    vector = (0.6, 0.0, 0.8)
    encoding = dataset_encoding(_ge("1000001000", vector))
    assert encoding is not None
    assert encoding.source == ge.NAME
    assert encoding.b_value_s_mm2 == 1000.0  # GE's 1e9 offset removed (dcm2niix issue 602)
    # Axial, phase along columns: (-x, -y, +z) along (row, column, normal), as in the dcm_qa_ge reference.
    np.testing.assert_allclose(encoding.gradient_lps, AXES @ np.array([-0.6, 0.0, 0.8]), atol=1e-9)


def test_ge_short_vector_scales_b_value() -> None:
    encoding = dataset_encoding(_ge("1000", (0.0, 0.0, 0.5)))
    assert encoding is not None
    assert encoding.b_value_s_mm2 == 250.0  # b·|g|², rounded to 5 s/mm²
    np.testing.assert_allclose(np.linalg.norm(encoding.gradient_lps), 1.0)


def test_vendor_tags_read_only_in_that_vendors_files() -> None:
    # GE's attributes in a Philips file are not read as GE's.
    assert dataset_encoding(_ge("1000", (1.0, 0.0, 0.0), manufacturer="Philips Medical Systems")) is None
    # Philips' gradient tag in a GE file is not a gradient: b without direction (partial encoding).
    ds = _dataset("GE MEDICAL SYSTEMS")
    ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x39, "IS", ["1000", "8", "0", "0"])
    block = ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
    for element in (0xB0, 0xB1, 0xB2):
        block.add_new(element, "FL", 0.577)
    encoding = dataset_encoding(ds)
    assert encoding is not None
    assert encoding.b_value_s_mm2 == 1000.0
    assert not encoding.complete


def test_philips_private_gradient_and_trace_image() -> None:
    ds = _dataset("Philips Medical Systems")
    ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(0x03, "FL", 2000.0)
    block = ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
    for element, value in zip((0xB0, 0xB1, 0xB2), (0.0, 0.6, 0.8), strict=True):
        block.add_new(element, "FL", value)
    encoding = dataset_encoding(ds)
    assert encoding is not None
    assert encoding.source == philips.NAME
    assert not encoding.derived
    np.testing.assert_allclose(encoding.gradient_lps, (0.0, 0.6, 0.8), atol=1e-6)  # patient frame as given
    for element in (0xB0, 0xB1, 0xB2):
        ds[block.get_tag(element)].value = 0.0
    trace = dataset_encoding(ds)
    assert trace is not None
    assert trace.derived


def test_uih_vector_is_along_image_axes() -> None:
    ds = _dataset("UIH")
    block = ds.private_block(0x0065, uih.CREATOR, create=True)
    block.add_new(0x09, "FD", 929.75)
    block.add_new(0x37, "FD", [0.6, 0.0, -0.8])
    encoding = dataset_encoding(ds)
    assert encoding is not None
    assert encoding.b_value_s_mm2 == 929.75
    np.testing.assert_allclose(encoding.gradient_lps, AXES @ np.array([0.6, 0.0, -0.8]), atol=1e-9)


def test_canon_comment_vector_follows_ge_rule_with_x_y_exchanged() -> None:
    ds = _dataset("CANON_MEC")
    ds.DiffusionBValue = 1000.0
    ds.ImageComments = "b=1000(0.6,0.0,0.8)"
    encoding = canon_read(ds)
    assert encoding is not None
    assert encoding.b_value_s_mm2 == 1000.0
    np.testing.assert_allclose(
        encoding.gradient_lps, ge.logical_to_lps((0.0, 0.6, 0.8), AXES, True), atol=1e-9
    )


def test_private_values_stored_as_unknown_vr() -> None:
    assert floats(b"1000\\8\\0\\0 ") == (1000.0, 8.0, 0.0, 0.0)  # decimal text
    assert floats(np.array([0.5, -0.25], "<f8").tobytes(), "d") == (0.5, -0.25)  # binary FD
    assert floats("nan") is None
    assert floats(b"") is None


def _classic_series(folder: Path, bvals: list[float], *, with_b_on_b0: bool = True) -> None:
    """Standard-tag DWI series, 2 slices per volume; b=0 volumes have no direction, others do."""
    template = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    series_uid = pydicom.uid.generate_uid()
    directions = np.eye(3)
    for volume, b_value in enumerate(bvals):
        for k in range(2):
            ds = copy.deepcopy(template)
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            ds.ImagePositionPatient = [0.0, 0.0, 5.0 * k]
            ds.InstanceNumber = 2 * volume + k + 1
            if b_value >= 50:
                ds.DiffusionBValue = b_value
                ds.DiffusionGradientOrientation = [float(g) for g in directions[volume % 3]]
            elif with_b_on_b0 or b_value > 0:
                ds.DiffusionBValue = b_value
            ds.PixelData = np.full((64, 64), 10 * volume + k, dtype=np.int16).tobytes()
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            write_dataset(ds, folder / f"{volume:02d}_{k}.dcm")


def test_near_zero_b_values_stay_distinct_volumes(tmp_path: Path) -> None:
    bvals = [0.0, 0.001, 0.002, 0.004, 1000.0, 1000.0, 1000.0]
    _classic_series(tmp_path / "dwi", bvals)
    dwi = load_dwi(tmp_path / "dwi")
    np.testing.assert_array_equal(dwi.bvals_s_mm2, bvals)
    for volume in range(len(bvals)):
        np.testing.assert_array_equal(dwi.volume.array[0, 0, :, volume], [10 * volume, 10 * volume + 1])
    world = bvecs_to_world_ras(dwi.bvecs[4:], dwi.volume.affine_ras) * [-1.0, -1.0, 1.0]
    np.testing.assert_allclose(world, np.eye(3)[[4 % 3, 5 % 3, 6 % 3]], atol=1e-9)  # generator: volume % 3


def test_missing_b_value_is_b0_said_at_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _classic_series(tmp_path / "dwi", [0.0, 1000.0, 1000.0, 1000.0], with_b_on_b0=False)
    with caplog.at_level(logging.DEBUG, logger="pipeline.ingest"):
        dwi = load_dwi(tmp_path / "dwi")
    np.testing.assert_array_equal(dwi.bvals_s_mm2, [0.0, 1000.0, 1000.0, 1000.0])
    assert "read as b = 0" in caplog.text
    assert "00_0.dcm" in caplog.text


def test_non_image_object_skipped_and_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _classic_series(tmp_path / "dwi", [0.0, 1000.0, 1000.0, 1000.0])
    # A vendor's private object in the series: same series, pixel data, but no place in space.
    stray = pydicom.dcmread(tmp_path / "dwi" / "01_0.dcm")
    stray.SOPInstanceUID = pydicom.uid.generate_uid()
    del stray.ImagePositionPatient, stray.ImageOrientationPatient
    write_dataset(stray, tmp_path / "dwi" / "XX_private.dcm")
    with caplog.at_level(logging.DEBUG, logger="pipeline.ingest"):
        dwi = load_dwi(tmp_path / "dwi")
    assert dwi.volume.shape[3] == 4
    assert "not placed images" in caplog.text
    assert "XX_private.dcm" in caplog.text
