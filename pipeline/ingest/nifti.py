"""Write a Volume as NIfTI-1 (RAS, sform and qform code 1), atomically.

Real-world values are written as loaded (HU for CT: int16 when they are whole numbers, else float32),
with no scaling factors, so every reader sees the same numbers as :func:`pipeline.ingest.load_series`
returned.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.nifti import save_nifti
from pipeline.outputs import staged_files
from pipeline.volume import Volume


def write_nifti(volume: Volume, path: str | Path, *, force: bool = False) -> Path:
    """Write ``volume`` to ``path`` atomically (nothing appears on failure); returns the path."""
    path = Path(path)
    with staged_files(path, force=force) as (temporary,):
        save_nifti(volume, temporary)
    return path
