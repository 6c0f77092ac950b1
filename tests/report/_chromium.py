"""Open a page in headless Chromium through the DevTools protocol over a pipe (no extra dependency).

Chromium with ``--remote-debugging-pipe`` reads protocol messages (JSON, NUL-terminated) on file
descriptor 3 and writes on 4. We attach to one page target and record, for that page only, every
network request (``Network.requestWillBeSent``), console message and uncaught exception, then take a
full-page screenshot. The browser's own background traffic (update checks) belongs to other targets and
is not seen, so a request recorded here was made by the page.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def chromium_executable() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageVisit:
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    text: str = ""
    images: int = 0
    broken_images: int = 0

    @property
    def errors(self) -> list[str]:
        return [text for level, text in self.console if level in ("error", "assert")] + self.exceptions


class _Pipe:
    def __init__(self, executable: str, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log_path = profile / "chromium.log"
        self._log = self.log_path.open("wb")
        to_browser_read, self._write = os.pipe()
        self._read, from_browser_write = os.pipe()
        arguments = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            f"--user-data-dir={profile}", "about:blank",
        ]  # fmt: skip
        # The protocol wants fds 3 (in) and 4 (out); bash moves our pipe ends there (dash refuses fds > 9).
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser_read} 4>&{from_browser_write}', "bash", *arguments],
            pass_fds=(to_browser_read, from_browser_write),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
        )  # fmt: skip
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._write, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"chromium closed the DevTools pipe; its log ends:\n{log}") from None
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                log = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"chromium closed the DevTools pipe; its log ends:\n{log}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def wait_for(self, method: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(e.get("method") == method for e in self.events):
                return
            self.events.append(self._receive())
        raise TimeoutError(f"no {method} within {timeout_s} s")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._read)
        os.close(self._write)
        self._log.close()


def visit(page: Path, screenshot: Path, *, width: int = 1300, profile: Path) -> PageVisit:
    """Load ``page`` (a local file), record what it did, and save a full-page PNG screenshot."""
    executable = chromium_executable()
    if executable is None:
        raise RuntimeError("no chromium executable")
    pipe = _Pipe(executable, profile)
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        pipe.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        pipe.wait_for("Page.loadEventFired", 60.0)
        probe = pipe.send(
            "Runtime.evaluate",
            {"expression": "JSON.stringify({text: document.body.innerText, images: document.images.length,"
                           " broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length})",
             "returnByValue": True},
            session=session,
        )  # fmt: skip
        found = json.loads(probe["result"]["value"])
        shot = pipe.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session
        )
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        result = PageVisit(text=found["text"], images=found["images"], broken_images=found["broken"])
        for event in pipe.events:
            params = event.get("params", {})
            if event.get("sessionId") != session:
                continue
            if event.get("method") == "Network.requestWillBeSent":
                result.requests.append(params["request"]["url"])
            elif event.get("method") == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                result.console.append((params.get("type", ""), text))
            elif event.get("method") == "Log.entryAdded":
                entry = params.get("entry", {})
                result.console.append((entry.get("level", ""), entry.get("text", "")))
            elif event.get("method") == "Runtime.exceptionThrown":
                result.exceptions.append(str(params.get("exceptionDetails", {}).get("text")))
        return result
    finally:
        pipe.close()
