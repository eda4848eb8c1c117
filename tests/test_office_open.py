"""An office suite opens the workbooks: LibreOffice converts each one to PDF without error.

openpyxl reading a file back proves the values; LibreOffice proves a real spreadsheet program
accepts the file as written (styles, data bars, frozen panes, outline levels, inline strings).
Skipped only on a developer machine without LibreOffice; in CI (`CI` set) a missing one fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.report.write import statement_paths, write_week
from tests.test_reports import EVIL, ZHANG, sample_report

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
if SOFFICE is None and not os.environ.get("CI"):
    pytest.skip("LibreOffice is not installed (CI installs it and never skips)", allow_module_level=True)


def test_libreoffice_converts_every_kind_of_workbook(tmp_path: Path) -> None:
    assert SOFFICE is not None, "LibreOffice (soffice) is required in CI"
    report = sample_report()
    folder = tmp_path / "out"
    write_week(report, folder)
    paths = statement_paths(report, folder)
    books = [folder / "summary.xlsx", paths[ZHANG][0], paths[EVIL][0], folder / "ledger.xlsx"]
    pdfs = tmp_path / "pdf"
    command = [SOFFICE, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless",
               "--convert-to", "pdf", "--outdir", str(pdfs), *map(str, books)]
    done = subprocess.run(command, capture_output=True, timeout=300, check=False)
    log = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, log
    for book in books:
        pdf = pdfs / f"{book.stem}.pdf"
        assert pdf.exists(), f"{book.name} was not converted\n{log}"
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000, book.name
    assert "Error" not in log, log
