"""Which form of a small bar chart renders: the same 8 bars drawn four ways, screenshot by
headless Chromium as they are and as a mail client leaves them.

Forms: (a) table cells, each bar the cell's background under a top border the colour of the
page (the one the reports use, `templates/_macros.html` `sparkline`); (b) table cells holding a
div with a height; (c) divs with display:inline-block and a height, no table; (d) inline SVG.
"As a mail client leaves them" approximates the strictest common client, Outlook for Windows
(Word's HTML engine, which lays out tables and honours cell borders, backgrounds and the
height/bgcolor attributes) together with the webmails' sanitisers: <svg> and <style> removed,
`display:inline-block` and a div's `height` dropped. For each form and each condition the script
counts the bars whose bottom pixel shows their colour in the screenshot.

Usage: python bench/chart_forms.py   (needs chromium on PATH)
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.devtools import Browser  # noqa: E402
from tests.test_browser import read_png  # noqa: E402

HEIGHTS = [24, 20, 16, 12, 8, 4, 2, 22]
COLOUR = (0xD9, 0x77, 0x06)
HEX = "#d97706"


def form_a() -> str:
    cells = "".join(f'<td width="8" height="{h}" bgcolor="{HEX}" style="width:8px;height:{h}px;padding:0;'
                    f'border-top:{24 - h}px solid #fff;border-left:1px solid #fff;border-right:1px solid #fff;'
                    f'background:{HEX};font-size:0;line-height:0;"></td>' for h in HEIGHTS)
    return f'<table cellpadding="0" cellspacing="0" border="0" style="border-collapse:separate;"><tr>{cells}</tr></table>'


def form_b() -> str:
    cells = "".join(f'<td valign="bottom" style="width:8px;height:24px;padding:0 1px;vertical-align:bottom;">'
                    f'<div style="height:{h}px;background:{HEX};font-size:0;line-height:0;"></div></td>' for h in HEIGHTS)
    return f'<table cellpadding="0" cellspacing="0" border="0"><tr>{cells}</tr></table>'


def form_c() -> str:
    bars = "".join(f'<div style="display:inline-block;width:8px;height:{h}px;margin:0 1px;background:{HEX};"></div>'
                   for h in HEIGHTS)
    return f'<div style="height:24px;line-height:0;font-size:0;">{bars}</div>'


def form_d() -> str:
    rects = "".join(f'<rect x="{i * 10 + 1}" y="{24 - h}" width="8" height="{h}" fill="{HEX}"/>'
                    for i, h in enumerate(HEIGHTS))
    return f'<svg width="80" height="24" xmlns="http://www.w3.org/2000/svg">{rects}</svg>'


def as_mail_client(html: str) -> str:
    html = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    html = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    html = html.replace("display:inline-block;", "")
    return re.sub(r'(<div style="[^"]*?)height:\d+px;', r"\1", html)


def page(body: str) -> str:
    return f'<!DOCTYPE html><html><body style="margin:0;background:#fff;"><div style="padding:20px;">{body}</div></body></html>'


def bars_drawn(browser: Browser, path: Path, png: Path) -> str:
    """How many bars show on the chart's bottom line, and whether each is as high as it should be."""
    browser.open(path, 600, 100)
    browser.screenshot(png, full_page=False)
    width, _h, rows = read_png(png)
    channels = len(rows[0]) // width

    def coloured(x: int, y: int) -> bool:
        return tuple(rows[y][x * channels:x * channels + 3]) == COLOUR

    bottom = 20 + 23                          # the bars' bottom line: 20 px of padding, 24 px high
    xs = [x for x in range(width) if coloured(x, bottom)]
    starts = [x for i, x in enumerate(xs) if i == 0 or x != xs[i - 1] + 1]
    heights = [sum(1 for y in range(bottom + 1) if coloured(x + 3, y)) for x in starts]
    return f"{len(starts)}" + (", heights right" if heights == HEIGHTS else "")


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed")
    folder = Path(tempfile.mkdtemp(prefix="chart-forms-"))
    forms = {"a: table cells, bar = background under a top border": form_a(),
             "b: table cells holding a div with a height": form_b(),
             "c: inline-block divs with a height": form_c(), "d: inline SVG": form_d()}
    print(f"| form | bars drawn in Chromium (of {len(HEIGHTS)}) | as a mail client leaves it |\n| --- | ---: | ---: |")
    with Browser(chromium, folder / "profile") as browser:
        for i, (name, html) in enumerate(forms.items()):
            counts = []
            for j, text in enumerate((page(html), as_mail_client(page(html)))):
                path = folder / f"{i}-{j}.html"
                path.write_text(text, encoding="utf-8")
                counts.append(bars_drawn(browser, path, folder / f"{i}-{j}.png"))
            print(f"| {name} | {counts[0]} | {counts[1]} |")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
