"""Every flag code the trajectory stage can raise is UPPER_SNAKE_CASE and documented in README's table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_flag_codes_are_in_the_readme_table() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "pipeline" / "trajectory").glob("*.py"))
    codes = set(re.findall(r'Flag\(\s*"([A-Za-z_0-9]+)"', source))
    assert len(codes) >= 9
    readme = (ROOT / "README.md").read_text()
    documented = set(
        re.findall(r"^\| `([A-Z0-9_]+)` \| (?:info|warning|danger) \|", readme, flags=re.MULTILINE)
    )
    for code in codes:
        assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", code), code
    assert codes == documented
