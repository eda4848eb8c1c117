"""Templates must be read back exactly as the kind they are for, and stay valid once filled in."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from pipeline.io.read import read_file
from pipeline.schema import KINDS, canonical_header
from pipeline.template import FILE_NAMES, INSTRUCTIONS_SHEET, ROLE_CHOICES, instructions, write_templates
from pipeline.validate import validate_files

LANGS = ["zh", "en"]

# One valid value per column; the roster's role comes from the dropdown's own choices.
SAMPLE: dict[str, str | int | datetime | None] = {
    "name": "张伟",
    "team": "一组",
    "email": "zhangwei@example.com",
    "active_from": datetime(2026, 1, 5),
    "active_to": None,
    "phone": "13800138000",
    "customer": "王先生",
    "registered_at": datetime(2026, 11, 20, 10, 0),
    "registered_by": "张伟",
    "manager": "张伟",
    "submitted_at": datetime(2026, 11, 24, 14, 30),
    "visited_at": datetime(2026, 11, 25, 15, 0),
    "salesperson": "李娜",
    "party_size": 3,
    "expanded_at": datetime(2026, 11, 26, 9, 30),
    "unit_name": "杭州某某科技有限公司",
    "photo": "IMG_20261126_0930.jpg",
    "address": "文三路 100 号",
    "deal_at": datetime(2026, 11, 27, 16, 0),
    "room": "3-1201",
    "commission": "4,000元",
    "note": "意向三房",
    "owner": "王强",
    "ruled_at": datetime(2026, 11, 27, 10, 0),
    "approved_by": "刘总",
    "cancelled_at": datetime(2026, 11, 28, 10, 0),
    "amount": "-¥150",
    "adjusted_at": datetime(2026, 11, 28, 9, 0),
    "reason": "申诉成立",
}


@pytest.mark.parametrize("lang", LANGS)
def test_each_template_reads_back_as_its_kind_with_no_rows(tmp_path: Path, lang: str) -> None:
    paths = write_templates(tmp_path, lang)
    assert [p.name for p in paths] == [FILE_NAMES[lang][k] for k in KINDS]
    for kind, path in zip(KINDS, paths, strict=True):
        sheets = read_file(path)
        assert len(sheets) == 2
        data, notes = sheets
        assert (data.kind, data.header_row, data.error) == (kind, 1, None)
        assert data.rows == [] and data.problems == []
        # The instructions are never taken for data, nor for a partial header.
        assert notes.sheet == INSTRUCTIONS_SHEET[lang]
        assert (notes.kind, notes.error, notes.data_rows) == (None, None, 0)


@pytest.mark.parametrize("lang", LANGS)
def test_headers_layout_and_formats(tmp_path: Path, lang: str) -> None:
    for kind, path in zip(KINDS, write_templates(tmp_path, lang), strict=True):
        wb = openpyxl.load_workbook(path)
        ws = wb.worksheets[0]
        spec = KINDS[kind]
        headers = [c.value for c in ws[1]]
        assert headers == [canonical_header(c, lang) for c in spec.required + spec.optional]
        assert all(c.font.b for c in ws[1])
        assert ws.freeze_panes == "A2"
        formats = {}
        for dim in ws.column_dimensions.values():
            assert dim.width and dim.width >= 8
            assert dim.min is not None and dim.max is not None
            for idx in range(dim.min, dim.max + 1):
                formats[spec.columns[idx - 1]] = dim.number_format
        if "phone" in spec.columns:
            assert formats["phone"] == "@"
        for column in ("registered_at", "submitted_at", "visited_at", "expanded_at", "deal_at"):
            if column in spec.columns:
                assert formats[column] == "yyyy-mm-dd hh:mm"
        if kind == "roster":
            assert formats["active_from"] == "yyyy-mm-dd"
            validations = ws.data_validations.dataValidation
            assert len(validations) == 1
            role_col = get_column_letter(spec.columns.index("role") + 1)
            assert str(validations[0].sqref).startswith(f"{role_col}2:")
            assert validations[0].formula1 == '"' + ",".join(ROLE_CHOICES[lang]) + '"'
        # One sentence per row, in the first column only.
        notes = wb.worksheets[1]
        assert notes.max_column == 1
        assert [r[0].value for r in notes.iter_rows()] == instructions(kind, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_filled_template_validates_without_problems(tmp_path: Path, lang: str) -> None:
    paths = write_templates(tmp_path, lang)
    for kind, path in zip(KINDS, paths, strict=True):
        wb = openpyxl.load_workbook(path)
        ws = wb.worksheets[0]
        values = dict(SAMPLE, role=ROLE_CHOICES[lang][0])
        for col, column in enumerate(KINDS[kind].columns, start=1):
            ws.cell(row=2, column=col, value=values[column])
        wb.save(path)

    reports, ok = validate_files(paths, lang)
    assert ok
    data_sheets = [r for r in reports if r["kind"] is not None]
    assert [r["kind"] for r in data_sheets] == list(KINDS)
    for r in data_sheets:
        assert (r["header_row"], r["rows"], r["problems"], r["error"]) == (1, 1, [], None)
    assert all(r["error"] is None and r["rows"] == 0 for r in reports if r["kind"] is None)


def test_unknown_language_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_templates(tmp_path, "fr")
