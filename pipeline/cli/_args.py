"""Argument validators shared by every command: checked before anything is created (validate, then write).

Each returns the checked value or raises :class:`~pipeline.errors.UsageError` (exit 2) naming the option,
so a wrong number never reaches the analysis and no output folder is made for a call that cannot work.
"""

from __future__ import annotations

import math
from pathlib import Path

from pipeline.errors import InputDataError, UsageError


def finite_float(
    value: float | None,
    option: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    inclusive: bool = True,
) -> float | None:
    """``value`` if finite and within [minimum, maximum] (open bounds when ``inclusive`` is False)."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise UsageError(f"{option} must be a finite number, got {value}")
    if minimum is not None and (value < minimum if inclusive else value <= minimum):
        relation = ">=" if inclusive else ">"
        raise UsageError(f"{option} must be {relation} {minimum:g}, got {value:g}")
    if maximum is not None and (value > maximum if inclusive else value >= maximum):
        relation = "<=" if inclusive else "<"
        raise UsageError(f"{option} must be {relation} {maximum:g}, got {value:g}")
    return value


def non_negative_int(value: int | None, option: str, *, maximum: int = 2**32 - 1) -> int | None:
    """``value`` if 0 <= value <= maximum (seeds: numpy's generators take 32-bit and larger seeds)."""
    if value is None:
        return None
    if value < 0 or value > maximum:
        raise UsageError(f"{option} must be between 0 and {maximum}, got {value}")
    return value


def existing_input(path: str | Path | None, option: str, *, kind: str = "any") -> Path | None:
    """``path`` if it exists (``kind``: "any", "file" or "dir"); a missing input is bad input data (exit 3)."""
    if path is None:
        return None
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise InputDataError(f"{option} {path}: dangling symbolic link")
        raise InputDataError(f"{option} {path}: no such file or folder")
    if kind == "file" and not path.is_file():
        raise InputDataError(f"{option} {path}: not a file")
    if kind == "dir" and not path.is_dir():
        raise InputDataError(f"{option} {path}: not a folder")
    return path


def parameters_file(path: str | Path | None) -> Path | None:
    """A ``--parameters`` YAML override: must be an existing file."""
    return existing_input(path, "--parameters", kind="file")
