"""DICOM ingest: discover series, load them with exact geometry, read diffusion encodings, write NIfTI.

Public face of the subpackage (DESIGN.md §4):

* :class:`Study` scans a case folder once, gives each series a role (with the reason) and loads them.
* :func:`discover` lists the series under a folder (:class:`SeriesInfo`, with problems found).
* :func:`load_series` loads one series (or a NIfTI file) as a :class:`~pipeline.volume.Volume`;
  :func:`pipeline.nifti.load_nifti` reads a NIfTI file, refusing damaged, non-finite or singular ones.
* :func:`series_datasets` returns the headers of a series' instances in slice order.
* :func:`load_dwi` loads a diffusion series with b-values and b-vectors (:class:`DiffusionData`).
* :func:`write_nifti`, :func:`write_bvals_bvecs`, :func:`read_bvals_bvecs` write and read files.
* :func:`convert` (one series to NIfTI + .bval/.bvec) and :func:`format_table` back the ``cordotomy
  convert`` and ``cordotomy inspect`` commands.
"""

from pipeline.ingest.convert import convert
from pipeline.ingest.diffusion import DiffusionData, load_dwi, read_bvals_bvecs, write_bvals_bvecs
from pipeline.ingest.discover import ROLES, SeriesInfo, discover
from pipeline.ingest.listing import format_table
from pipeline.ingest.nifti import write_nifti
from pipeline.ingest.series import load_series, series_datasets
from pipeline.ingest.study import Role, Study, StudySeries, VascularKind
from pipeline.nifti import save_nifti

__all__ = [
    "ROLES",
    "DiffusionData",
    "Role",
    "SeriesInfo",
    "Study",
    "StudySeries",
    "VascularKind",
    "convert",
    "discover",
    "format_table",
    "load_dwi",
    "load_series",
    "read_bvals_bvecs",
    "save_nifti",
    "series_datasets",
    "write_bvals_bvecs",
    "write_nifti",
]
