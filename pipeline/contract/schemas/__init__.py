"""JSON Schemas of the contract documents, shipped in the package, and their validation.

Each document carries ``"schema": "cordotomy.<name>/1"``; the schema of that name lives beside this file
as ``<name>.schema.json`` (JSON Schema draft 2020-12). Validation failures are internal errors: the
pipeline wrote something that breaks its own contract.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_IDS = {
    "plan": "cordotomy.plan/1",
    "dti": "cordotomy.dti/1",
    "results": "cordotomy.results/1",
}


class ContractError(RuntimeError):
    """A document the pipeline produced does not follow its schema (a bug, exit 1)."""


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of document ``name`` (``"plan"``, ``"dti"``, ``"results"``)."""
    if name not in SCHEMA_IDS:
        raise KeyError(f"no contract schema named {name!r}; known: {', '.join(SCHEMA_IDS)}")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_document(document: dict[str, Any], name: str) -> None:
    """Raise :class:`ContractError` listing every violation of schema ``name`` in ``document``."""
    import jsonschema

    schema = load_schema(name)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors[:20]]
        raise ContractError(f"{SCHEMA_IDS[name]} document breaks its schema:\n  " + "\n  ".join(lines))
