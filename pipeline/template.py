"""`pipeline template`: blank input workbooks that the reader accepts as they are.

Admins build their own spreadsheets, and most rejected rows of a first week come from a header
typed slightly wrong or a phone column Excel turned into `1.38E+10`. A template per kind removes
both: row 1 holds the canonical headers (required columns first, then optional), the phone column
is text so the digits stay, date columns show dates, and the roster's role column offers the
three roles in a dropdown.

The instructions go on a second sheet. Every sheet is classified on its own by its header row
(SPEC §2.1), so the instructions are written as one sentence per row in a single cell: a row with
two column names in separate cells would look like a partial header and fail the run with
`MISSING_COLUMN`.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import xlsxwriter

from .schema import KINDS, canonical_header, column_type
from .texts import t

# One file per kind, named in the template's language; the demo inbox uses the zh names too.
FILE_NAMES: dict[str, dict[str, str]] = {
    "zh": {
        "roster": "团队名单.xlsx",
        "registrations": "客户登记备案.xlsx",
        "leads": "诚意客户号码汇总表.xlsx",
        "visits": "到访登记.xlsx",
        "units": "拓展单位登记.xlsx",
        "deals": "成交记录.xlsx",
        "rulings": "归属裁定.xlsx",
        "cancellations": "退房记录.xlsx",
        "adjustments": "调整记录.xlsx",
    },
    "en": {
        "roster": "roster.xlsx",
        "registrations": "registrations.xlsx",
        "leads": "leads.xlsx",
        "visits": "visits.xlsx",
        "units": "units.xlsx",
        "deals": "deals.xlsx",
        "rulings": "rulings.xlsx",
        "cancellations": "cancellations.xlsx",
        "adjustments": "adjustments.xlsx",
    },
}

INSTRUCTIONS_SHEET = {"zh": "说明", "en": "Instructions"}

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
# Roster start/end are calendar days (SPEC §4.5): a time of day there would only be noise.
DAY_COLUMNS = {"active_from", "active_to"}

# The roles offered in the roster's dropdown. Other spellings the reader accepts (客户经理, 置业顾问,
# 组长, ...) stay possible: the dropdown warns instead of refusing.
ROLE_CHOICES = {"zh": ["大客户经理", "销售员", "负责人"], "en": ["manager", "salesperson", "leader"]}

# Typical content width per column (in Excel's width units, a CJK character counting 2).
_CONTENT_WIDTH = {
    "name": 10, "role": 12, "team": 8, "email": 26, "active_from": 12, "active_to": 12,
    "phone": 16, "customer": 12, "registered_at": 17, "registered_by": 12, "manager": 10,
    "submitted_at": 17, "visited_at": 17, "salesperson": 10, "party_size": 6, "expanded_at": 17,
    "unit_name": 28, "photo": 26, "address": 32, "deal_at": 17, "room": 10, "commission": 12,
    "note": 30, "owner": 10, "ruled_at": 17, "approved_by": 10, "cancelled_at": 17, "amount": 12,
    "adjusted_at": 17, "reason": 30,
}


_KIND_TITLES = {
    "zh": {"roster": "团队名单", "registrations": "客户登记备案", "leads": "诚意客户号码汇总表",
           "visits": "到访登记", "units": "拓展单位登记", "deals": "成交记录", "rulings": "归属裁定",
           "cancellations": "退房记录", "adjustments": "调整记录"},
    "en": {"roster": "Roster", "registrations": "Registrations", "leads": "Leads",
           "visits": "Visits", "units": "Units", "deals": "Deals", "rulings": "Rulings",
           "cancellations": "Cancellations", "adjustments": "Adjustments"},
}



def display_width(text: str) -> int:
    """Width of a text in Excel's units, wide (CJK) characters counting two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def column_width(column: str, lang: str) -> int:
    """A width that fits both the header and typical content, with a little air."""
    return max(display_width(canonical_header(column, lang)), _CONTENT_WIDTH.get(column, 12)) + 2


def column_formats(workbook: Any) -> dict[str, Any]:
    """Cell formats shared by the templates and the demo: header, text, date-time, day, money."""
    return {
        "header": workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1,
                                       "valign": "vcenter"}),
        "text": workbook.add_format({"num_format": "@"}),
        "datetime": workbook.add_format({"num_format": DATETIME_FORMAT}),
        "date": workbook.add_format({"num_format": DATE_FORMAT}),
        "money": workbook.add_format({"num_format": "#,##0.00"}),
    }


def column_format(column: str, formats: dict[str, Any]) -> Any:
    """The default format of a column: phones as text, dates as dates, money as money."""
    ctype = column_type(column)
    if ctype == "phone":
        return formats["text"]
    if ctype == "datetime":
        return formats["date"] if column in DAY_COLUMNS else formats["datetime"]
    if ctype in ("money", "signed_money"):
        return formats["money"]
    return None


def instructions(kind: str, lang: str) -> list[str]:
    """The instruction sentences of one kind's template, one per row of the instructions sheet."""
    lang = lang if lang in ("zh", "en") else "zh"
    spec = KINDS[kind]
    title = _KIND_TITLES[lang][kind]
    lines = [
        t(lang, "template.title", title=title),
        t(lang, "template.where", sheet=title),
        t(lang, "template.headers"),
    ]
    for column in spec.columns:
        key = "required" if column in spec.required else "optional"
        lines.append(t(lang, f"template.{key}", header=canonical_header(column, lang),
                       text=t(lang, f"column.help.{column}")))
    if any(column_type(c) == "datetime" for c in spec.columns):
        lines.append(t(lang, "template.dates"))
    lines.append(t(lang, "template.check"))
    lines.append(t(lang, "template.inbox"))
    return lines


def _write_template(path: Path, kind: str, lang: str) -> None:
    spec = KINDS[kind]
    title = _KIND_TITLES[lang][kind]
    workbook = xlsxwriter.Workbook(str(path))
    try:
        formats = column_formats(workbook)
        sheet = workbook.add_worksheet(title)
        for col, column in enumerate(spec.columns):
            sheet.set_column(col, col, column_width(column, lang), column_format(column, formats))
            sheet.write_string(0, col, canonical_header(column, lang), formats["header"])
            if column == "role":
                choices = ROLE_CHOICES[lang]
                sheet.data_validation(1, col, 1_048_575, col, {
                    "validate": "list",
                    "source": choices,
                    "error_type": "warning",
                    "error_title": title,
                    "error_message": "、".join(choices) if lang == "zh" else ", ".join(choices),
                })
        sheet.set_row(0, 20)
        sheet.freeze_panes(1, 0)

        notes = workbook.add_worksheet(INSTRUCTIONS_SHEET[lang])
        notes.set_column(0, 0, 110, workbook.add_format({"text_wrap": True, "valign": "top"}))
        bold = workbook.add_format({"bold": True, "font_size": 13})
        for row, line in enumerate(instructions(kind, lang)):
            notes.write_string(row, 0, line, bold if row == 0 else None)
        sheet.activate()
    finally:
        workbook.close()


def write_templates(folder: Path, lang: str = "zh") -> list[Path]:
    """Write one blank workbook per kind into `folder` (created if missing) and return their paths.

    Existing files of the same names are replaced: a template holds no data worth keeping.
    `lang` picks the headers, file names, roles and instructions (zh or en).
    """
    if lang not in FILE_NAMES:
        raise ValueError(f"unknown language {lang!r}: use zh or en")
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for kind in KINDS:
        path = folder / FILE_NAMES[lang][kind]
        _write_template(path, kind, lang)
        paths.append(path)
    return paths
