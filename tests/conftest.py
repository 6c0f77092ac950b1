"""Shared fixtures: the real public data folder and in-process command calls."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_data_root() -> Path:
    """Folder of real public data: ``CORDOTOMY_TEST_DATA`` or ``../shared/data`` beside the project."""
    return Path(os.environ.get("CORDOTOMY_TEST_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real-data folder; tests using it skip on a machine without it (CI refuses to run without it)."""
    root = test_data_root()
    if not root.is_dir():
        pytest.skip(f"real test data not found at {root}; set CORDOTOMY_TEST_DATA to the shared/data folder")
    return root
