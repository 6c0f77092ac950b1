"""Siemens mosaic images: one file holds all slices of a volume tiled in a grid.

Siemens EPI (diffusion, fMRI) stores each volume as a "mosaic": the slices tiled into one large image,
with the true slice count (NumberOfImagesInMosaic) and the slice normal in the private CSA header
(0029,1010). ImagePositionPatient refers to the whole mosaic, not the first slice, so it must be
corrected. nibabel.nicom's MosaicWrapper implements that unpacking and the corrected position
(Brett et al., nibabel ``dicomwrappers.py``); we use it and convert to our axis order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pydicom

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # nibabel.nicom announces itself as experimental
    from nibabel.nicom import dicomwrappers

from pipeline.errors import InputDataError
from pipeline.ingest.header import Header, provenance, short_reason
from pipeline.ingest.limits import check_affine, check_finite_voxels, is_decoder_panic
from pipeline.volume import Volume


def is_mosaic(headers: Sequence[Header]) -> bool:
    """True for Siemens mosaic series (ImageType contains MOSAIC)."""
    return any("MOSAIC" in h.image_type for h in headers)


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


def load_mosaic(headers: Sequence[Header], label: str) -> Volume:
    """Load a mosaic series: each file one volume; 4-D when there are several files."""
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
    metadata = {**provenance(ordered[0], [str(h.path) for h in ordered], len(ordered)), "mosaic": True}
    check_affine(affine_lps, label)
    check_finite_voxels(array, label)
    return Volume(np.ascontiguousarray(array) if array.ndim == 3 else array, affine_lps, metadata)
