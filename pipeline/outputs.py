"""Atomic outputs: results appear complete or not at all (DESIGN.md §4-5).

A stage writes into a temporary sibling of its destination; only on success is it renamed into place,
so a failure never leaves a folder or file that looks finished.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import UsageError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def staged_directory(destination: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``destination`` when the block succeeds.

    An existing non-empty ``destination`` is refused unless ``force`` is true, in which case it is
    replaced only after the new result is complete.
    """
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():
        raise UsageError(f"output {destination} exists and is not a folder")
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise UsageError(f"output folder {destination} is not empty; use --force to replace it")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    # mkdtemp makes the folder private (0700); a result folder gets the permissions mkdir would give.
    staging.chmod(0o777 & ~_current_umask())
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if destination.exists():
        retired = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        destination.rename(retired)
        staging.rename(destination)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(destination)


@contextmanager
def staged_files(*destinations: str | Path, force: bool = False) -> Iterator[list[Path]]:
    """Yield temporary paths for several files that are renamed into place together on success.

    Used where one result is several sibling files (``OUT.nii.gz`` with ``OUT.bval`` and ``OUT.bvec``).
    """
    targets = [Path(d) for d in destinations]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise UsageError(f"output {existing[0]} exists; use --force to replace it")
    temporaries = []
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Keep the suffix so that writers that choose the format by extension (nibabel) still work.
        temporaries.append(target.with_name(f".partial-{os.getpid()}-{target.name}"))
    try:
        yield temporaries
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in zip(temporaries, targets, strict=True):
        if temporary.exists():
            os.replace(temporary, target)
