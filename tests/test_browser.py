"""A real browser renders the pages: headless Chromium screenshots summary.html and a statement.

The screenshot is decoded with a small PNG reader (no imaging dependency) and must show the page:
many colours, ink on most of the top of the page, and the green of a met target's bar, which only
appears if the inline-styled table bars really render.

Skipped only on a developer machine without Chromium; in CI (`CI` set) a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from pipeline.report.write import statement_paths, write_week
from tests.test_reports import ZHANG, sample_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("chromium is not installed (CI installs it and never skips)", allow_module_level=True)

GREEN = (0x16, 0xA3, 0x4A)       # context.GREEN: the bar of a met target


def screenshot(page: Path, png: Path, profile: Path, size: str = "1200,1600") -> None:
    assert CHROMIUM is not None, "chromium is required in CI"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}", page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert png.exists(), done.stderr.decode(errors="replace")[-2000:]


def read_png(path: Path, max_rows: int = 1600) -> tuple[int, int, list[bytes]]:
    """Width, height and the first `max_rows` rows of RGB(A) pixels of an 8-bit, non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, bytearray()
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(min(height, max_rows)):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [bytes(r) for r in rows]


def pixels(rows: list[bytes], channels: int) -> set[tuple[int, ...]]:
    colours: set[tuple[int, ...]] = set()
    for row in rows:
        colours.update(tuple(row[i:i + 3]) for i in range(0, len(row), channels))
    return colours


def check_rendered(png: Path) -> None:
    width, height, rows = read_png(png, max_rows=900)
    assert (width, height) == (1200, 1600)
    channels = len(rows[0]) // width
    colours = pixels(rows, channels)
    assert len(colours) > 50, f"only {len(colours)} colours: the page looks blank"
    assert GREEN in colours, "no bar of a met target was drawn"
    inked = sum(1 for row in rows if len(set(row)) > 4)
    assert inked > len(rows) // 2, "most of the top of the page is empty"


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    report = sample_report()
    folder = tmp_path_factory.mktemp("pages")
    write_week(report, folder)
    return folder / "summary.html", statement_paths(report, folder)[ZHANG][1]


def test_summary_renders(pages: tuple[Path, Path], tmp_path: Path) -> None:
    png = tmp_path / "summary.png"
    screenshot(pages[0], png, tmp_path / "profile")
    check_rendered(png)


def test_statement_renders(pages: tuple[Path, Path], tmp_path: Path) -> None:
    png = tmp_path / "manager.png"
    screenshot(pages[1], png, tmp_path / "profile")
    check_rendered(png)
