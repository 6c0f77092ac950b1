"""The diffusion encoding of every image of a DWI series, resolved before frames are grouped into volumes.

Grouping the slices of a classic (one file per slice) DWI series into volumes needs each slice's
b-value and direction (DESIGN.md §3), but many vendors keep them outside the standard attributes the
fast header reads (GE, UIH, Siemens mosaics: see :mod:`pipeline.ingest.gradients`). Here each header is
given the b-value and unit LPS direction its vendor's attributes say, so that the common frame,
grouping and geometry code works unchanged. On the way, objects of the series folder that are not DWI
volumes are left out and named at debug level (``-v``): vendors' private non-image objects and derived
isotropic (trace) images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from pipeline.errors import InputDataError
from pipeline.ingest.gradients import UNWEIGHTED_B_S_MM2, header_encoding
from pipeline.ingest.gradients._values import header_dataset
from pipeline.ingest.gradients.encoding import Encoding
from pipeline.ingest.gradients.standard import read_item
from pipeline.ingest.header import Header, short_reason
from pipeline.ingest.mosaic import is_mosaic

log = logging.getLogger(__name__)

_SAMPLE_FILES = 16  # files whose full header is read to decide whether a series is diffusion-weighted


def _named(headers: Sequence[Header], limit: int = 3) -> str:
    names = ", ".join(h.path.name for h in headers[:limit])
    return names + (f" and {len(headers) - limit} more" if len(headers) > limit else "")


def _unit(gradient: tuple[float, ...]) -> tuple[float, float, float]:
    vector = np.asarray(gradient, dtype=np.float64)
    unit = vector / np.linalg.norm(vector)
    return (float(unit[0]), float(unit[1]), float(unit[2]))


def _resolved(header: Header, encoding: Encoding, label: str) -> Header:
    b_value = encoding.b_value_s_mm2
    assert b_value is not None
    if encoding.has_direction and encoding.gradient_lps is not None:
        gradient: tuple[float, ...] | None = _unit(encoding.gradient_lps)
    elif b_value < UNWEIGHTED_B_S_MM2:
        gradient = (0.0, 0.0, 0.0)
    else:
        raise InputDataError(
            f"{label}: {header.path} has b={b_value:g} s/mm² but no readable gradient direction "
            f"(b-value from {encoding.source}; gradients missing, or in a private tag of another vendor)"
        )
    return replace(header, b_value_s_mm2=b_value, gradient_lps=gradient, siemens_b_value=None)


def resolve_headers(headers: Sequence[Header], label: str) -> list[Header]:
    """Headers of a DWI series' images with ``b_value_s_mm2`` and ``gradient_lps`` (unit, LPS) set.

    Enhanced multi-frame headers are returned as they are (their encodings are per frame). A classic
    image with no b-value from any source and no direction is a non-diffusion-weighted volume: b = 0
    (Canon/Toshiba and GE omit the b-value on b=0 slices).

    Raises
    ------
    InputDataError
        An image has a gradient direction but no b-value, or is diffusion-weighted without a readable
        direction, or nothing in the series is a DWI image.
    """
    mosaic = is_mosaic(headers)
    kept: list[Header] = []
    no_b_value: list[Header] = []
    derived: list[Header] = []
    not_images: list[Header] = []
    for header in headers:
        if header.enhanced:
            kept.append(header)
            continue
        placed = mosaic or (header.position_lps_mm is not None and header.orientation is not None)
        if not placed or not header.has_pixel_data:
            not_images.append(header)
            continue
        encoding = header_encoding(header)
        if encoding is None:
            if header.gradient_lps is not None and float(np.linalg.norm(header.gradient_lps)) > 1e-6:
                raise InputDataError(
                    f"{label}: {header.path} has a diffusion gradient direction but no b-value "
                    "(0018,9087 or the vendor's private b-value)"
                )
            no_b_value.append(header)
            encoding = Encoding(b_value_s_mm2=0.0, gradient_lps=(0.0, 0.0, 0.0), source="none (b = 0)")
        elif encoding.derived:
            derived.append(header)
            continue
        kept.append(_resolved(header, encoding, label))
    if not_images:
        log.debug(
            "%s: skipped %d object(s) that are not placed images (no ImagePositionPatient/"
            "ImageOrientationPatient or no pixel data; e.g. a vendor's private object): %s",
            label,
            len(not_images),
            _named(not_images),
        )
    if derived:
        log.debug(
            "%s: skipped %d derived isotropic (trace) image(s), not diffusion-encoded volumes: %s",
            label,
            len(derived),
            _named(derived),
        )
    if no_b_value:
        log.debug(
            "%s: %d image(s) carry no b-value and no gradient direction; read as b = 0 "
            "(non-diffusion-weighted): %s",
            label,
            len(no_b_value),
            _named(no_b_value),
        )
    if not kept:
        raise InputDataError(f"{label}: no diffusion-weighted images in the series ({_named(headers)})")
    return kept


def has_diffusion_encoding(headers: Sequence[Header]) -> bool:
    """True when any image of the series is diffusion-weighted, by any vendor's attributes.

    The fast header's attributes decide most series; for MR series without them, the full headers of
    up to 16 evenly spaced files are read and any b-value > 0 from any source counts.
    """
    if any(
        h.b_value_s_mm2 is not None or h.siemens_b_value is not None or "DIFFUSION" in h.image_type
        for h in headers
    ):
        return True
    if not headers or headers[0].modality != "MR":
        return False
    count = len(headers)
    picks = sorted({round(i) for i in np.linspace(0, count - 1, min(count, _SAMPLE_FILES))})
    for index in picks:
        header = headers[index]
        try:
            if header.enhanced:
                if _enhanced_diffusion_weighted(header):
                    return True
                continue
            encoding = header_encoding(header)
        except InputDataError:
            continue
        if encoding is not None and encoding.b_value_s_mm2 is not None and encoding.b_value_s_mm2 > 0:
            return True
    return False


def _enhanced_diffusion_weighted(header: Header) -> bool:
    """True when a frame of an enhanced multi-frame image has an MR Diffusion item with b > 0
    (per-frame or shared functional groups, PS3.3 C.8.13.5.9)."""
    ds = header_dataset(header.path)
    try:
        items = list(ds.get("PerFrameFunctionalGroupsSequence") or []) + list(
            ds.get("SharedFunctionalGroupsSequence") or []
        )
        encodings = [read_item(d) for item in items for d in item.get("MRDiffusionSequence") or []]
    except Exception as exc:  # pydicom parses lazily: a damaged element raises its own types here
        raise InputDataError(f"{header.path}: unreadable functional groups ({short_reason(exc)})") from exc
    return any(e is not None and e.b_value_s_mm2 is not None and e.b_value_s_mm2 > 0 for e in encodings)
