"""Where each scanner vendor keeps the diffusion b-value and gradient direction of an image.

One small module per source, each citing where its attributes are documented, and
:func:`encoding_of` that tries them in order:

1. :mod:`.standard`: DICOM MR Diffusion attributes (0018,9087)/(0018,9089) (also per frame, read by
   :mod:`pipeline.ingest.frames` through :func:`.standard.read_item`);
2. :mod:`.siemens`: the CSA header (0029,1010) and (0019,100C/100E);
3. :mod:`.ge`: (0043,1039) and (0019,10BB/10BC/10BD);
4. :mod:`.philips`: (2001,1003) and (2005,10B0-10B2), and the isotropic (trace) image;
5. :mod:`.canon`: the Canon/Toshiba image comment;
6. :mod:`.uih`: the United Imaging group 0065.

Vendor modules read only files whose Manufacturer names that vendor, so a private element that merely
shares a tag number with another vendor's attribute is never taken for a gradient. Every source returns
the direction in patient LPS; :func:`pipeline.volume.fsl_bvecs_from_lps` turns it into the FSL .bvec
of the volume we write.
"""

from __future__ import annotations

from collections.abc import Callable

import pydicom

from pipeline.errors import InputDataError
from pipeline.ingest.gradients import canon, ge, philips, siemens, standard, uih
from pipeline.ingest.gradients._values import header_dataset
from pipeline.ingest.gradients.encoding import UNWEIGHTED_B_S_MM2, Encoding
from pipeline.ingest.header import Header, short_reason

SOURCES: tuple[tuple[str, Callable[[pydicom.Dataset], Encoding | None]], ...] = (
    (standard.NAME, standard.read),
    (siemens.NAME, siemens.read),
    (ge.NAME, ge.read),
    (philips.NAME, philips.read),
    (canon.NAME, canon.read),
    (uih.NAME, uih.read),
)

__all__ = ["SOURCES", "UNWEIGHTED_B_S_MM2", "Encoding", "dataset_encoding", "header_encoding"]


def dataset_encoding(ds: pydicom.Dataset) -> Encoding | None:
    """The first complete encoding the sources give (see :attr:`Encoding.complete`); else the first
    partial one (a b-value without a needed direction); ``None`` when no source has a b-value."""
    partial: Encoding | None = None
    for _name, read in SOURCES:
        found = read(ds)
        if found is None or found.b_value_s_mm2 is None:
            continue
        if found.complete:
            return found
        partial = partial or found
    return partial


def header_encoding(header: Header) -> Encoding | None:
    """Encoding of one classic image: from the attributes the fast header already holds when they
    suffice, else from the full header (no pixel data) of its file."""
    if header.b_value_s_mm2 is not None:
        fast = Encoding(
            b_value_s_mm2=header.b_value_s_mm2,
            gradient_lps=None
            if header.gradient_lps is None or len(header.gradient_lps) != 3
            else (header.gradient_lps[0], header.gradient_lps[1], header.gradient_lps[2]),
            source=standard.NAME,
        )
        if fast.has_direction or header.b_value_s_mm2 < UNWEIGHTED_B_S_MM2:
            return fast
    dataset = header_dataset(header.path)
    try:
        return dataset_encoding(dataset)
    except Exception as exc:  # pydicom parses lazily: a damaged element raises its own types here
        raise InputDataError(f"{header.path}: unreadable diffusion attributes ({short_reason(exc)})") from exc
