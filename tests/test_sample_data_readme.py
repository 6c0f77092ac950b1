"""Every project path that sample_data/README.md names exists (it once gave one that did not)."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_paths_in_sample_data_readme_exist() -> None:
    text = (PROJECT_ROOT / "sample_data" / "README.md").read_text(encoding="utf-8")
    quoted = re.findall(r"`([^`\s]+)`", text)
    paths = [q for q in quoted if q.startswith(("sample_data/", "pipeline/", "seeds/", "tests/"))]
    assert len(paths) >= 8
    missing = [p for p in paths if not (PROJECT_ROOT / p).exists()]
    assert missing == []
