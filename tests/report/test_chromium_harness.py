"""The headless-Chromium harness sees what a page does: a control page with a request and an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report._chromium import chromium_executable, visit


@pytest.mark.skipif(chromium_executable() is None, reason="chromium not installed (.ci/run installs it)")
def test_harness_records_requests_and_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "control.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>control</p>'
        '<img src="http://127.0.0.1:9/x.png"><script>console.error("control-error");</script></body></html>',
        encoding="utf-8",
    )
    result = visit(page, tmp_path / "shot.png", profile=tmp_path / "profile")
    assert "http://127.0.0.1:9/x.png" in result.requests
    assert "control-error" in " ".join(result.errors)
    assert result.broken_images == 1
    assert result.text.strip() == "control"
    assert (tmp_path / "shot.png").read_bytes().startswith(b"\x89PNG")
