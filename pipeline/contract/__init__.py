"""The output contract (DESIGN.md §4) in one place: label values, JSON Schemas, document validation.

Every writer and reader of the contract files imports from here, so a label value or a schema name is
defined exactly once. This package sits in the bottom layer: it imports nothing of the stages.
"""

from pipeline.contract.labels import Label
from pipeline.contract.schemas import SCHEMA_IDS, load_schema, validate_document

__all__ = ["SCHEMA_IDS", "Label", "load_schema", "validate_document"]
