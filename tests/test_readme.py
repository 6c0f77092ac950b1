"""README.md and .ci/run must name the same test command (CI runs exactly the README's)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci_lines = (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
    command = next(line for line in ci_lines if "pytest" in line and not line.startswith("#"))
    assert command.strip() in (PROJECT_ROOT / "README.md").read_text()
