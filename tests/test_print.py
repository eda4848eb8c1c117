"""Workbooks print for the Monday meeting: LibreOffice prints each one to PDF, and every sheet
comes out one page wide, landscape where wide, its header rows on every page, the office, week
and sheet in the page header and the page number in the footer.

Skipped only on a developer machine without LibreOffice; in CI (`CI` set) a missing one fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from pipeline.report.write import statement_paths, write_week
from tests.test_reports import EVIL, ZHANG
from tests.trend_sample import report_with_history

pypdf = pytest.importorskip("pypdf")
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
if SOFFICE is None and not os.environ.get("CI"):
    pytest.skip("LibreOffice is not installed (CI installs it and never skips)", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:.*extension is not supported:UserWarning")
A4_PORTRAIT, A4_LANDSCAPE = (595, 842), (842, 595)


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Each kind of workbook of a week (and the PDF LibreOffice prints it to)."""
    assert SOFFICE is not None, "LibreOffice (soffice) is required in CI"
    root = tmp_path_factory.mktemp("print")
    report = report_with_history(rejected=40)
    folder = root / "out"
    write_week(report, folder)
    paths = statement_paths(report, folder)
    books = {"summary": folder / "summary.xlsx", "statement": paths[ZHANG][0], "hostile": paths[EVIL][0],
             "ledger": folder / "ledger.xlsx"}
    pdfs = root / "pdf"
    command = [SOFFICE, f"-env:UserInstallation={(root / 'profile').as_uri()}", "--headless",
               "--convert-to", "pdf", "--outdir", str(pdfs), *map(str, books.values())]
    done = subprocess.run(command, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")
    return {kind: (book, pdfs / f"{book.stem}.pdf") for kind, book in books.items()}


def _flat(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("kind", ["summary", "statement", "hostile", "ledger"])
def test_every_sheet_prints_one_page_wide_with_its_header_on_every_page(
        printed: dict[str, tuple[Path, Path]], kind: str) -> None:
    book_path, pdf_path = printed[kind]
    book = openpyxl.load_workbook(book_path)
    reader = pypdf.PdfReader(str(pdf_path))
    pages = [(page.extract_text() or "", (round(float(page.mediabox.width)), round(float(page.mediabox.height))))
             for page in reader.pages]
    total = len(pages)
    assert total >= len(book.sheetnames)
    seen = 0
    for number, (text, _size) in enumerate(pages, start=1):
        assert f"第{number}页，共{total}页" in _flat(text)          # the footer: &P and &N
    for ws in book.worksheets:
        setup = ws.page_setup
        assert (ws.sheet_properties.pageSetUpPr.fitToPage, setup.fitToWidth, setup.fitToHeight) == (True, 1, 0)
        assert setup.paperSize == 9 and ws.oddHeader.right.text == "&A" and "&P" in ws.oddFooter.center.text
        mine = [(text, size) for text, size in pages if text.splitlines()[0].endswith(ws.title)]
        assert mine, f"{ws.title}: no page"
        seen += len(mine)
        first_line = mine[0][0].splitlines()[0]
        assert first_line.startswith("滨江壹号") and "2026-W48" in first_line
        wide = setup.orientation == "landscape"
        assert all(size == (A4_LANDSCAPE if wide else A4_PORTRAIT) for _text, size in mine)
        if ws.print_title_rows:
            last = int(ws.print_title_rows.split(":")[1].lstrip("$"))
            headers = [c.value for c in ws[last] if c.value]
            assert ws.freeze_panes == f"A{last + 1}" and headers
            for text, _size in mine:        # every column's header on every page: one page wide
                assert all(_flat(str(h)) in _flat(text) for h in headers), (ws.title, headers)
        else:                               # several tables on a sheet: the overview, one page
            assert len(mine) == 1
    assert seen == total


def test_wide_sheets_print_landscape_and_narrow_ones_portrait(printed: dict[str, tuple[Path, Path]]) -> None:
    summary = openpyxl.load_workbook(printed["summary"][0])
    statement = openpyxl.load_workbook(printed["statement"][0])
    assert summary["团队汇总"].page_setup.orientation == "landscape"
    assert summary["罚款明细"].page_setup.orientation == "portrait"
    assert statement["本周概览"].page_setup.orientation == "portrait"
    # the team sheet's 23 columns on one page: it took four pages across before
    assert summary["团队汇总"].print_title_rows == "$1:$1"
