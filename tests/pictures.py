"""The pictures in docs/ of trends, phones and printing, made again from the sample weeks.

    python -m tests.pictures [docs]

- trends-summary.png: the weekly summary with 8 weeks of history (headless Chromium, 1200 px);
- statement-390.png, statement-1100.png: a statement with a dozen rejected rows on a phone and
  on a desk;
- print-summary.png: the first printed page of the weekly summary.xlsx (LibreOffice prints it to
  PDF, poppler's pdftoppm makes the page a picture);
- period.png, print-period.png: a month's summary.html (four cron runs of `tests.period_sample`)
  and the printed weekly-trend page of its summary.xlsx, with its native charts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.report.write import statement_paths, write_week
from tests.devtools import Browser
from tests.period_sample import month_office
from tests.test_reports import ZHANG
from tests.trend_sample import report_with_history


def main(docs: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    pdftoppm = shutil.which("pdftoppm")
    if chromium is None or soffice is None or pdftoppm is None:
        raise SystemExit("needs chromium, soffice and pdftoppm (poppler-utils)")
    work = Path(tempfile.mkdtemp(prefix="pictures-"))
    try:
        report = report_with_history(rejected=12)
        write_week(report, work / "week")
        statement = statement_paths(report, work / "week")[ZHANG][1]
        with Browser(chromium, work / "profile") as browser:
            browser.open(work / "week" / "summary.html", 1200, 1150)
            browser.screenshot(docs / "trends-summary.png", full_page=False)
            browser.open(statement, 390, 844)
            browser.screenshot(docs / "statement-390.png")
            browser.open(statement, 1100, 900)
            browser.screenshot(docs / "statement-1100.png")
        subprocess.run([soffice, f"-env:UserInstallation={(work / 'lo').as_uri()}", "--headless", "--convert-to",
                        "pdf", "--outdir", str(work), str(work / "week" / "summary.xlsx")],
                       check=True, capture_output=True, timeout=300)
        subprocess.run([pdftoppm, "-png", "-r", "150", "-f", "1", "-l", "1", "-singlefile",
                        str(work / "summary.pdf"), str(docs / "print-summary")], check=True, timeout=120)
        month = month_office(work / "office") / "2026-11"
        with Browser(chromium, work / "profile") as browser:
            browser.open(month / "summary.html", 1200, 1500)
            browser.screenshot(docs / "period.png", full_page=False)
        subprocess.run([soffice, f"-env:UserInstallation={(work / 'lo').as_uri()}", "--headless", "--convert-to",
                        "pdf", "--outdir", str(work / "month-pdf"), str(month / "summary.xlsx")],
                       check=True, capture_output=True, timeout=300)
        page = _trend_page(work / "month-pdf" / "summary.pdf")
        subprocess.run([pdftoppm, "-png", "-r", "110", "-f", str(page), "-l", str(page), "-singlefile",
                        str(work / "month-pdf" / "summary.pdf"), str(docs / "print-period")], check=True, timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _trend_page(pdf: Path) -> int:
    """The page of the printed period workbook where its weekly trend sheet (with the charts) starts."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, timeout=120).stdout
    pages = text.decode("utf-8", errors="replace").split("\f")
    return next((i + 1 for i, page in enumerate(pages) if "每周趋势" in page), 1)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
