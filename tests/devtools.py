"""Headless Chromium driven over the DevTools protocol on a pipe (no port, no extra package):
open a page at a given viewport width, read its layout, take a screenshot.

Chromium's `--window-size` cannot go below 500 px wide in headless mode, so phone widths are
set by `Emulation.setDeviceMetricsOverride`, as the browser's own device toolbar does. The page
is never changed: measurements run as an expression evaluated in it after it has loaded.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any


class Browser:
    """One headless Chromium; `open` a page, then `evaluate` and `screenshot` it."""

    def __init__(self, chromium: str, profile: Path) -> None:
        ours_read, chrome_write = os.pipe()
        chrome_read, ours_write = os.pipe()

        def child_fds() -> None:     # Chromium reads commands from fd 3 and writes replies to fd 4
            read, write = os.dup(chrome_read), os.dup(chrome_write)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds)  # noqa: PLW1509 - only os calls between fork and exec
        os.close(chrome_read)
        os.close(chrome_write)
        self.reader, self.writer = os.fdopen(ours_read, "rb"), os.fdopen(ours_write, "wb")
        self.next_id, self.buffer = 0, b""
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True,
             timeout: float = 60) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.writer.write(json.dumps(message).encode() + b"\0")
        self.writer.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)
        raise TimeoutError(method)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            chunk = os.read(self.reader.fileno(), 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def open(self, page: Path, width: int, height: int = 900) -> None:
        """`page` loaded in a new tab whose viewport is `width` x `height` CSS pixels."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
        self.send("Page.enable")
        self.events = []
        self.send("Page.navigate", {"url": page.resolve().as_uri()})
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError("the page did not load")
            self.events.append(self._read())

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(str(reply["exceptionDetails"])[:2000])
        return reply["result"].get("value")

    def screenshot(self, png: Path, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            params["captureBeyondViewport"] = True
        png.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", params)["data"]))

    def print_pdf(self, pdf: Path) -> None:
        """The page printed as the browser prints it, the page size its print stylesheet asks for."""
        reply = self.send("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})
        pdf.write_bytes(base64.b64decode(reply["data"]))

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.close()
        self.writer.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Every table cell that shows text, with the width its text gets (the cell's box less padding
# and borders) and its font size, in CSS pixels.
TEXT_CELLS = """(() => [...document.querySelectorAll('td, th')].flatMap(cell => {
  const text = (cell.innerText || '').replace(/\\s+/g, '');
  if (!text) return [];
  const s = getComputedStyle(cell), box = cell.getBoundingClientRect();
  const inner = box.width - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)
              - parseFloat(s.borderLeftWidth) - parseFloat(s.borderRightWidth);
  return [[text.slice(0, 40), inner, parseFloat(s.fontSize)]];
}))()"""
