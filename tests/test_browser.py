"""A real browser renders the pages: headless Chromium screenshots summary.html and a statement.

The screenshot is decoded with a small PNG reader (no imaging dependency) and must show the page:
many colours, ink on most of the top of the page, and the green of a met target's bar, which only
appears if the inline-styled table bars really render.

Skipped only on a developer machine without Chromium; in CI (`CI` set) a missing browser fails.
"""

from __future__ import annotations

import os
import re
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


# --- trends and phones, laid out by a real browser (tests/devtools.py) ---------------------------

BAR_BOXES = """(() => [...document.querySelectorAll('table.trend td')].map(cell => {
  const box = cell.getBoundingClientRect(), s = getComputedStyle(cell);
  return [box.left, box.bottom - parseFloat(s.borderBottomWidth), box.width, parseFloat(s.height),
          s.backgroundColor];
}))()"""


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


def _pixel(rows: list[bytes], channels: int, x: int, y: int) -> tuple[int, ...]:
    return tuple(rows[y][x * channels:x * channels + 3])


def test_summary_with_eight_weeks_draws_every_trend_bar(tmp_path: Path) -> None:
    """A weekly summary with 8 weeks of history: the page is drawn (not blank) and each week's
    bar of each manager, team and the office shows in its colour where the layout put it."""
    from tests.devtools import Browser
    from tests.trend_sample import report_with_history

    assert CHROMIUM is not None
    write_week(report_with_history(), tmp_path / "out")
    png = tmp_path / "summary.png"
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        browser.open(tmp_path / "out" / "summary.html", 1200, 1600)
        bars = browser.evaluate(BAR_BOXES)
        browser.screenshot(png, full_page=False)
    width, _height, rows = read_png(png)
    channels = len(rows[0]) // width
    colours = pixels(rows, channels)
    assert len(colours) > 50 and GREEN in colours
    drawn = [b for b in bars if b[3] > 0]
    assert len(bars) == 8 * 6 and len(drawn) == 8 * 6 - 2       # W43: one manager and their team absent
    for left, bottom, box, _h, colour in drawn:
        assert _pixel(rows, channels, int(left + box / 2), int(bottom) - 1) == _rgb(colour)
    assert {_rgb(b[4]) for b in drawn} >= {GREEN, (0xD9, 0x77, 0x06), (0xDC, 0x26, 0x26)}


PHONE, DESK = 390, 1100


@pytest.fixture(scope="module")
def phone_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """张伟's statement (page and email) with a dozen rejected rows more, and two deals."""
    import email
    from email.policy import default

    from pipeline.config import Config
    from pipeline.mail import build_messages
    from tests.trend_sample import report_with_history

    report = report_with_history(rejected=12)
    folder = tmp_path_factory.mktemp("phone")
    write_week(report, folder)
    message = next(m for m in build_messages(report, folder, Config()) if m.key == f"manager:{ZHANG}")
    part = email.message_from_bytes(message.data, policy=default).get_body(("html",))
    assert part is not None
    (folder / "email.html").write_text(str(part.get_content()), encoding="utf-8")
    return {"page": statement_paths(report, folder)[ZHANG][1], "email": folder / "email.html"}


@pytest.mark.parametrize("kind", ["page", "email"])
def test_statement_reads_on_a_phone_and_on_a_desk(phone_pages: dict[str, Path], kind: str, tmp_path: Path) -> None:
    """At 390 px no table cell that shows text is narrower than four characters of its font
    (the rejected rows and deals are cards), nothing scrolls sideways, and the screenshots at
    390 and 1100 px are drawn."""
    from tests.devtools import TEXT_CELLS, Browser

    assert CHROMIUM is not None
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        for width in (PHONE, DESK):
            browser.open(phone_pages[kind], width)
            assert browser.evaluate("[window.innerWidth, document.documentElement.scrollWidth]") == [width, width]
            cells = browser.evaluate(TEXT_CELLS)
            assert len(cells) > 40
            narrow = [(text, round(inner), size) for text, inner, size in cells if inner < 4 * size]
            assert narrow == [], f"cells narrower than four characters at {width} px"
            if kind == "page":
                cards = browser.evaluate("document.querySelectorAll('.card').length")
                assert cards == 2 + 2 + 12                  # 张伟's deals and rejected rows
            png = tmp_path / f"{kind}-{width}.png"
            browser.screenshot(png)
            shot_width, height, rows = read_png(png, max_rows=4000)
            assert shot_width == width and height > 1500
            colours = pixels(rows, len(rows[0]) // shot_width)
            assert len(colours) > 50, "the page looks blank"
            assert (0xDC, 0x26, 0x26) in colours             # the rejected rows' red edge


def test_pages_print_as_their_print_stylesheet_says(phone_pages: dict[str, Path], tmp_path: Path) -> None:
    """Printed by the browser, as its @page rules ask: the summary on A4 landscape, a statement
    on A4 portrait."""
    pypdf = pytest.importorskip("pypdf")
    from tests.devtools import Browser

    assert CHROMIUM is not None
    summary = phone_pages["page"].parent.parent / "summary.html"
    sizes = {}
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        for name, page in (("summary", summary), ("statement", phone_pages["page"])):
            browser.open(page, 1100)
            assert browser.evaluate("matchMedia('print').matches") is False
            browser.print_pdf(tmp_path / f"{name}.pdf")
            reader = pypdf.PdfReader(str(tmp_path / f"{name}.pdf"))
            sizes[name] = {(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages}
            text = "".join(p.extract_text() or "" for p in reader.pages)
            assert "2026-W48" in text
    assert sizes == {"summary": {(842, 595)}, "statement": {(595, 842)}}
