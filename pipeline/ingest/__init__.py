"""DICOM ingest: discover series, load them with exact geometry, read diffusion encodings, write NIfTI.

Public face of the subpackage (DESIGN.md §4):

* :func:`discover` lists the series under a folder (:class:`SeriesInfo`, with problems found).
* :func:`load_series` loads one series (or a NIfTI file) as a :class:`~pipeline.volume.Volume`;
  :func:`read_nifti` reads a NIfTI file, refusing damaged, non-finite or singular ones.
* :func:`series_datasets` returns the headers of a series' instances in slice order.
* :func:`load_dwi` loads a diffusion series with b-values and b-vectors (:class:`DiffusionData`).
* :func:`write_nifti`, :func:`write_bvals_bvecs`, :func:`read_bvals_bvecs` write and read files.
* :func:`convert` (one series to NIfTI + .bval/.bvec) and :func:`inspect_folder`/:func:`format_table`
  back the ``cordotomy convert`` and ``cordotomy inspect`` commands.
"""

from pipeline.ingest.convert import convert
from pipeline.ingest.diffusion import DiffusionData, load_dwi, read_bvals_bvecs, write_bvals_bvecs
from pipeline.ingest.discover import ROLES, SeriesInfo, discover
from pipeline.ingest.listing import format_table, inspect_folder
from pipeline.ingest.nifti import save_nifti, write_nifti
from pipeline.ingest.series import load_series, read_nifti, series_datasets

__all__ = [
    "ROLES",
    "DiffusionData",
    "SeriesInfo",
    "convert",
    "discover",
    "format_table",
    "inspect_folder",
    "load_dwi",
    "load_series",
    "read_bvals_bvecs",
    "read_nifti",
    "save_nifti",
    "series_datasets",
    "write_bvals_bvecs",
    "write_nifti",
]
