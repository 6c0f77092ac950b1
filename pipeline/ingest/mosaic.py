"""Mosaic images (Siemens and United Imaging): one file holds all slices of a volume tiled in a grid.

Siemens EPI (diffusion, fMRI) stores each volume as a "mosaic": the slices tiled into one large image,
with the true slice count (NumberOfImagesInMosaic) and the slice normal in the private CSA header
(0029,1010). ImagePositionPatient refers to the whole mosaic, not the first slice, so it must be
corrected. nibabel.nicom's MosaicWrapper implements that unpacking and the corrected position
(Brett et al., nibabel ``dicomwrappers.py``); we use it and convert to our axis order.

United Imaging (UIH) EPI mosaics ("VFRAME" images) have no top-level ImagePositionPatient: the slice
count is in (0065,1050) and each slice's ImagePositionPatient in an item of the sequence (0065,1051),
creator "Image Private Header"; tiles fill a grid of ceil(sqrt(n)) columns and as many rows as needed,
left to right then top to bottom, in the order of those items (dcm2niix ``nii_dicom.cpp``
``nii_demosaic``, kNumberOfImagesInGridUIH; dcm2niix issue 225; dcm_qa_uih).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pydicom

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # nibabel.nicom announces itself as experimental
    from nibabel.nicom import dicomwrappers

from pipeline.errors import InputDataError
from pipeline.ingest.gradients._values import first_float, floats, header_dataset, private_value
from pipeline.ingest.gradients.uih import CREATOR as UIH_CREATOR
from pipeline.ingest.header import Header, provenance, short_reason
from pipeline.limits import check_affine, check_finite_voxels, is_decoder_panic
from pipeline.volume import Volume

_UIH_SLICES = 0x50  # (0065,1050) number of images in the grid
_UIH_SLICE_ITEMS = 0x51  # (0065,1051) one item per slice, with its ImagePositionPatient


def is_uih_mosaic(header: Header) -> bool:
    """True for a United Imaging mosaic: no top-level position, a slice count > 1 in (0065,1050)."""
    name = header.manufacturer.upper()
    if header.position_lps_mm is not None or not (name.startswith("UIH") or "UNITED IMAGING" in name):
        return False
    count = first_float(private_value(header_dataset(header.path), 0x0065, UIH_CREATOR, _UIH_SLICES))
    return count is not None and count > 1


def is_mosaic(headers: Sequence[Header]) -> bool:
    """True for Siemens mosaic series (ImageType contains MOSAIC) and United Imaging mosaics."""
    return any("MOSAIC" in h.image_type for h in headers) or (bool(headers) and is_uih_mosaic(headers[0]))


def mosaic_order(headers: Sequence[Header]) -> list[Header]:
    """Mosaic files (one volume each) in acquisition order."""
    return sorted(headers, key=lambda h: (h.acquisition_number or 0, h.instance_number or 0, str(h.path)))


def _wrapper(header: Header) -> dicomwrappers.MosaicWrapper:
    try:
        ds = pydicom.dcmread(header.path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # nibabel flags its readers as experimental
            wrapper = dicomwrappers.wrapper_from_data(ds)
    except Exception as exc:
        raise InputDataError(f"{header.path}: cannot read Siemens mosaic ({exc})") from exc
    if not isinstance(wrapper, dicomwrappers.MosaicWrapper):
        raise InputDataError(f"{header.path}: MOSAIC image without a readable Siemens CSA header")
    return wrapper


def mosaic_geometry(header: Header) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """Unpacked (columns, rows, slices) and voxel size of one mosaic file, from its headers only."""
    if is_uih_mosaic(header):
        grid = _uih_grid(header)
        spacing = np.linalg.norm(grid.affine_lps[:3, :3], axis=0)
        return (grid.tile_columns, grid.tile_rows, grid.slices), (
            float(spacing[0]),
            float(spacing[1]),
            float(spacing[2]),
        )
    try:
        ds = pydicom.dcmread(header.path, stop_before_pixels=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            wrapper = dicomwrappers.wrapper_from_data(ds)
            rows, columns, slices = (int(n) for n in wrapper.image_shape)
            row_mm, column_mm, slice_mm = (float(v) for v in wrapper.voxel_sizes)
    except Exception as exc:
        raise InputDataError(f"{header.path}: cannot read Siemens mosaic header ({exc})") from exc
    return (columns, rows, slices), (column_mm, row_mm, slice_mm)


@dataclass(frozen=True)
class _UihGrid:
    """Tiling and geometry of one UIH mosaic file."""

    grid_columns: int
    grid_rows: int
    tile_columns: int
    tile_rows: int
    slices: int
    affine_lps: np.ndarray


def _uih_grid(header: Header) -> _UihGrid:
    """Tiles and affine of a UIH mosaic, from (0065,1050), (0065,1051) and the top-level geometry."""
    ds = header_dataset(header.path)
    count = first_float(private_value(ds, 0x0065, UIH_CREATOR, _UIH_SLICES))
    items = private_value(ds, 0x0065, UIH_CREATOR, _UIH_SLICE_ITEMS)
    orientation = floats(ds.get("ImageOrientationPatient"))
    spacing = floats(ds.get("PixelSpacing"))
    rows, columns = header.rows, header.columns
    if count is None or count < 2 or count != int(count):
        raise InputDataError(f"{header.path}: UIH mosaic without a valid slice count (0065,1050)")
    slices = int(count)
    if not isinstance(items, pydicom.Sequence) or len(items) != slices:
        raise InputDataError(
            f"{header.path}: UIH mosaic of {slices} slices needs as many slice positions in (0065,1051)"
        )
    positions = [floats(item.get("ImagePositionPatient")) for item in items]
    if orientation is None or len(orientation) != 6 or spacing is None or len(spacing) != 2:
        raise InputDataError(f"{header.path}: UIH mosaic without ImageOrientationPatient/PixelSpacing")
    if any(p is None or len(p) != 3 for p in positions) or not rows or not columns:
        raise InputDataError(f"{header.path}: UIH mosaic with a missing slice position or image size")
    grid_columns = int(np.ceil(np.sqrt(slices)))
    grid_rows = int(np.ceil(slices / grid_columns))
    if columns % grid_columns or rows % grid_rows:
        raise InputDataError(
            f"{header.path}: UIH mosaic of {columns}x{rows} pixels cannot hold {slices} equal tiles"
        )
    points = np.asarray(positions, dtype=np.float64)
    row_dir = np.asarray(orientation[:3])
    column_dir = np.asarray(orientation[3:])
    normal = np.cross(row_dir, column_dir)
    step = (points[-1] - points[0]) / (slices - 1)
    expected = points[0] + np.arange(slices)[:, None] * step
    if np.max(np.abs(points - expected)) > 1e-2 or np.linalg.norm(np.cross(step, normal)) > 1e-3 * max(
        1.0, float(np.linalg.norm(step))
    ):
        raise InputDataError(
            f"{header.path}: UIH mosaic slice positions are not evenly spaced along the slice normal"
        )
    affine = np.eye(4)
    affine[:3, 0] = row_dir * float(spacing[1])  # along a row: column spacing
    affine[:3, 1] = column_dir * float(spacing[0])  # down a column: row spacing
    affine[:3, 2] = step
    affine[:3, 3] = points[0]
    return _UihGrid(grid_columns, grid_rows, columns // grid_columns, rows // grid_rows, slices, affine)


def _uih_volume(header: Header, grid: _UihGrid) -> np.ndarray:
    """(columns, rows, slices) float32 real-world values of one UIH mosaic file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(header.path)
            tiled = np.asarray(ds.pixel_array, dtype=np.float32)
    except Exception as exc:  # pydicom raises many types on corrupt or undecodable pixel data
        raise InputDataError(f"{header.path}: cannot read UIH mosaic pixels ({exc})") from exc
    if tiled.shape != (grid.grid_rows * grid.tile_rows, grid.grid_columns * grid.tile_columns):
        raise InputDataError(
            f"{header.path}: UIH mosaic pixel data of shape {tiled.shape} do not fit its grid"
        )
    slope = first_float(ds.get("RescaleSlope"))
    intercept = first_float(ds.get("RescaleIntercept"))
    if slope is not None or intercept is not None:
        tiled = tiled * np.float32(1.0 if slope is None else slope) + np.float32(intercept or 0.0)
    # (grid rows, tile rows, grid columns, tile columns) -> tiles in row-major grid order.
    blocks = tiled.reshape(grid.grid_rows, grid.tile_rows, grid.grid_columns, grid.tile_columns)
    tiles = blocks.transpose(0, 2, 1, 3).reshape(-1, grid.tile_rows, grid.tile_columns)[: grid.slices]
    return np.ascontiguousarray(tiles.transpose(2, 1, 0))


def _load_uih_mosaic(headers: Sequence[Header], label: str) -> Volume:
    ordered = mosaic_order(headers)
    first = _uih_grid(ordered[0])
    arrays = []
    for header in ordered:
        grid = first if header is ordered[0] else _uih_grid(header)
        if (grid.slices, grid.tile_rows, grid.tile_columns) != (
            first.slices,
            first.tile_rows,
            first.tile_columns,
        ) or (not np.allclose(grid.affine_lps, first.affine_lps, atol=1e-3)):
            raise InputDataError(f"{label}: {header.path} has a different geometry from {ordered[0].path}")
        arrays.append(_uih_volume(header, grid))
    array = arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=-1)
    source = provenance(ordered[0], [str(h.path) for h in ordered]).with_note("UIH mosaic")
    return Volume(array, first.affine_lps, source)


def load_mosaic(headers: Sequence[Header], label: str) -> Volume:
    """Load a mosaic series: each file one volume; 4-D when there are several files."""
    if is_uih_mosaic(headers[0]):
        return _load_uih_mosaic(headers, label)
    ordered = mosaic_order(headers)
    arrays = []
    affine_rcs = None
    for header in ordered:
        wrapper = _wrapper(header)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                data = np.asarray(wrapper.get_data(), dtype=np.float32)
                affine = np.asarray(wrapper.affine, dtype=np.float64)
        except Exception as exc:
            raise InputDataError(f"{header.path}: cannot unpack Siemens mosaic ({short_reason(exc)})") from exc
        except BaseException as exc:  # a Rust decoder's panic is a BaseException; nothing else is caught
            if is_decoder_panic(exc):
                raise InputDataError(f"{header.path}: cannot unpack Siemens mosaic (decoder failed)") from None
            raise
        if affine_rcs is None:
            affine_rcs = affine
        elif data.shape != arrays[0].shape or not np.allclose(affine, affine_rcs, atol=1e-3):
            raise InputDataError(f"{label}: {header.path} has a different geometry from {ordered[0].path}")
        arrays.append(data)
    assert affine_rcs is not None
    # nibabel's axes are (row, column, slice); ours (column, row, slice): swap the first two.
    affine_lps = affine_rcs[:, [1, 0, 2, 3]]
    stacked = np.stack([a.transpose(1, 0, 2) for a in arrays], axis=-1)
    array = stacked[..., 0] if stacked.shape[-1] == 1 else stacked
    source = provenance(ordered[0], [str(h.path) for h in ordered]).with_note("Siemens mosaic")
    check_affine(affine_lps, label)
    check_finite_voxels(array, label)
    return Volume(np.ascontiguousarray(array) if array.ndim == 3 else array, affine_lps, source)
