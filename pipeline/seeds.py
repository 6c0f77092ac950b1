"""Reference parameters from the literature (``seeds/*.yaml``), with their citations.

Every clinical number the pipeline uses (offsets, margins, thresholds, impedances, reference DTI changes,
phantom tissue values) lives in ``seeds/`` at the repository root, one YAML file per topic, each value with
its source and whether it is an estimate (DESIGN.md §3 "Parameters"). Code reads them here and never copies
them. A user may override values with a YAML file of the same nesting; overridden entries keep their key,
take the new value and record ``"user override (<file>)"`` as their source, so outputs echo what was used.

Layout of a seed file::

    cord:                       # optional nesting groups
      ap_mm:                    # an entry is a mapping with a ``value``
        value: 8.5
        unit: mm
        source: Sherman et al. AJNR 1990 ...
        estimate: false

Keys are addressed as dotted paths starting with the file stem: ``"anatomy.cord.ap_mm"``.

The seed files are found beside the source tree (``<repo>/seeds``) or, after a regular (non-editable)
installation, inside the installed package ``pipeline._seeds`` (pyproject maps ``seeds/`` there).
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import InputDataError, UsageError

__all__ = ["Seed", "Seeds", "load_seeds", "seeds_directory"]

_ENTRY_FIELDS = frozenset({"value", "unit", "source", "estimate", "note", "valid"})
# An entry may state its own range with ``valid: [low, high]`` (either bound may be null).


@dataclass(frozen=True)
class Seed:
    """One reference value with its provenance.

    Attributes
    ----------
    key : str
        Dotted path, e.g. ``"diffusion.white_matter_eigenvalues_mm2_s"``.
    value : Any
        Number, list, string or table as written in YAML.
    source : str
        Citation (or ``"user override (...)"``).
    estimate : bool
        True where no published value was found (domain-facts "EST"); outputs must say so.
    unit : str or None
    note : str or None
    """

    key: str
    value: Any
    source: str
    estimate: bool = False
    unit: str | None = None
    note: str | None = None
    valid: tuple[float | None, float | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the ``parameters`` echo of the outputs."""
        out: dict[str, Any] = {"value": self.value, "source": self.source, "estimate": self.estimate}
        if self.unit is not None:
            out["unit"] = self.unit
        return out


class Seeds(Mapping[str, Seed]):
    """Read-only mapping ``dotted key -> Seed`` with typed accessors."""

    def __init__(self, entries: Mapping[str, Seed]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, key: str) -> Seed:
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f"no seed parameter {key!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def value(self, key: str) -> Any:
        """The raw value of ``key``."""
        return self[key].value

    def number(self, key: str) -> float:
        """The value of ``key`` as a float (ints allowed)."""
        value = self[key].value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"seed {key!r} is not a number: {value!r}")
        return float(value)

    def integer(self, key: str) -> int:
        """The value of ``key`` as an int."""
        value = self[key].value
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"seed {key!r} is not an integer: {value!r}")
        return value

    def numbers(self, key: str) -> tuple[float, ...]:
        """The value of ``key`` as a tuple of floats (a YAML list of numbers)."""
        value = self[key].value
        if not isinstance(value, list) or not all(_is_number(v) for v in value):
            raise TypeError(f"seed {key!r} is not a list of numbers: {value!r}")
        return tuple(float(v) for v in value)

    def group(self, prefix: str) -> dict[str, Seed]:
        """All entries below ``prefix`` (e.g. ``"electrode.impedance"``), keyed by the remaining path."""
        head = prefix.rstrip(".") + "."
        return {k[len(head) :]: s for k, s in self._entries.items() if k.startswith(head)}

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Every entry as JSON-ready dicts (for echoing parameters in outputs)."""
        return {k: s.as_dict() for k, s in sorted(self._entries.items())}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def seeds_directory() -> Path:
    """Folder holding the seed YAML files (source tree first, then the installed package copy)."""
    root = Path(__file__).resolve().parents[1]
    if (root / "seeds").is_dir() and (root / "pyproject.toml").is_file():
        return root / "seeds"
    installed = importlib.resources.files("pipeline") / "_seeds"
    return Path(str(installed))


def _flatten(node: Any, prefix: str, origin: str, out: dict[str, Seed]) -> None:
    """Walk nested groups down to entries (mappings with ``value``)."""
    if not isinstance(node, dict):
        raise InputDataError(
            f"{origin}: {prefix!r} must be a mapping of parameters, got {type(node).__name__}"
        )
    if "value" in node:
        unknown = set(node) - _ENTRY_FIELDS
        if unknown:
            raise InputDataError(f"{origin}: entry {prefix!r} has unknown fields {sorted(unknown)}")
        if not isinstance(node.get("source"), str) or not node["source"].strip():
            raise InputDataError(f"{origin}: entry {prefix!r} has no source (citation)")
        out[prefix] = Seed(
            key=prefix,
            value=node["value"],
            source=" ".join(node["source"].split()),
            estimate=bool(node.get("estimate", False)),
            unit=node.get("unit"),
            note=node.get("note"),
            valid=_valid_range(node.get("valid"), prefix, origin),
        )
        return
    for name, child in node.items():
        _flatten(child, f"{prefix}.{name}" if prefix else str(name), origin, out)


@lru_cache(maxsize=1)
def _packaged_seeds() -> Seeds:
    directory = seeds_directory()
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise InputDataError(f"no seed files found in {directory}")
    entries: dict[str, Seed] = {}
    for path in files:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputDataError(f"seed file {path}: not valid YAML ({' '.join(str(exc).split())})") from None
        _flatten(document, path.stem, path.name, entries)
    return Seeds(entries)


def _valid_range(node: Any, key: str, origin: str) -> tuple[float | None, float | None] | None:
    if node is None:
        return None
    if not (isinstance(node, list) and len(node) == 2 and all(v is None or _is_number(v) for v in node)):
        raise InputDataError(f"{origin}: entry {key!r}: 'valid' must be [low, high] (numbers or null)")
    return (node[0], node[1])


def _out_of_range(seed: Seed, value: Any) -> str | None:
    """Why ``value`` cannot replace ``seed``, or None.

    Every number must be finite and inside the entry's ``valid`` range; without one, it keeps the sign of
    the value it replaces (a margin, size or impedance stays positive) unless its unit is signed (HU, %).
    """
    low, high = seed.valid or (None, None)
    for before, after in zip(_numbers(seed.value), _numbers(value), strict=False):
        if not math.isfinite(after):
            return f"{after!r} is not a finite number"
        if low is not None and after < low:
            return f"{after!r} is below {low!r} {seed.unit or ''}".rstrip()
        if high is not None and after > high:
            return f"{after!r} is above {high!r} {seed.unit or ''}".rstrip()
        if seed.valid is None and seed.unit not in _SIGNED_UNITS:
            if before > 0 and after <= 0:
                return f"must be positive ({seed.unit or 'no unit'}), got {after!r}"
            if before >= 0 and after < 0:
                return f"must not be negative ({seed.unit or 'no unit'}), got {after!r}"
    return None


def _same_kind(old: Any, new: Any) -> bool:
    """An override must keep the shape of the value it replaces (number, list of same length, text...)."""
    if _is_number(old):
        return _is_number(new)
    if isinstance(old, list):
        return (
            isinstance(new, list)
            and len(new) == len(old)
            and all(_same_kind(o, n) for o, n in zip(old, new, strict=True))
        )
    return type(old) is type(new)


# Units of quantities that may take either sign; every other number (sizes, impedances, diffusivities,
# counts, times) must keep the sign of its packaged value: a negative cord diameter is not a parameter.
_SIGNED_UNITS = frozenset({"HU", "percent", "deg", "degC"})


def _numbers(value: Any) -> list[float]:
    if _is_number(value):
        return [float(value)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def _override_values(node: Any, prefix: str, out: dict[str, Any]) -> None:
    """Collect ``dotted key -> new value`` from an override document (entries or bare values)."""
    if isinstance(node, dict) and "value" not in node:
        for name, child in node.items():
            _override_values(child, f"{prefix}.{name}" if prefix else str(name), out)
        return
    out[prefix] = node["value"] if isinstance(node, dict) else node


def load_seeds(overrides: str | Path | None = None) -> Seeds:
    """Load the reference parameters, optionally overridden by a user YAML file.

    Parameters
    ----------
    overrides : path, optional
        YAML file with the same nesting as the seed files, starting with the file stem, e.g.
        ``{"anatomy": {"cord": {"ap_mm": 9.0}}}``. Leaves may be bare values or ``{value: ...}`` entries.

    Returns
    -------
    Seeds

    Raises
    ------
    UsageError
        The override file is unreadable, not YAML, names an unknown parameter, changes a value's kind
        or gives a value out of its range (a bad option: exit 2).
    """
    base = _packaged_seeds()
    if overrides is None:
        return base
    path = Path(overrides)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"parameter override file {path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UsageError(
            f"parameter override file {path}: not valid YAML ({' '.join(str(exc).split())})"
        ) from None
    if document is None:
        return base
    if not isinstance(document, dict):
        raise UsageError(f"parameter override file {path}: top level must be a mapping")
    values: dict[str, Any] = {}
    _override_values(document, "", values)
    entries = dict(base)
    for key, value in values.items():
        if key not in entries:
            raise UsageError(f"parameter override file {path}: unknown parameter {key!r}")
        old = entries[key]
        if not _same_kind(old.value, value):
            raise UsageError(
                f"parameter override file {path}: {key!r} must be like {old.value!r}, got {value!r}"
            )
        problem = _out_of_range(old, value)
        if problem is not None:
            raise UsageError(f"parameter override file {path}: {key!r}: {problem}")
        entries[key] = Seed(key, value, f"user override ({path.name})", False, old.unit, old.note, old.valid)
    return Seeds(entries)
