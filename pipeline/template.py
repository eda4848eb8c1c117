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

# One file per kind, named in the template's language; the demo inbox uses the zh names too.
FILE_NAMES: dict[str, dict[str, str]] = {
    "zh": {
        "roster": "团队名单.xlsx",
        "registrations": "客户登记备案.xlsx",
        "leads": "诚意客户号码汇总表.xlsx",
        "visits": "到访登记.xlsx",
        "units": "拓展单位登记.xlsx",
        "deals": "成交记录.xlsx",
    },
    "en": {
        "roster": "roster.xlsx",
        "registrations": "registrations.xlsx",
        "leads": "leads.xlsx",
        "visits": "visits.xlsx",
        "units": "units.xlsx",
        "deals": "deals.xlsx",
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
    "note": 30,
}

_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "name": {"zh": "填写全名，与其他表中经理、销售员的写法完全一致；名单内不能重名",
             "en": "the full name, spelled exactly as in the other sheets; names must be unique"},
    "role": {"zh": "从下拉列表选择 大客户经理、销售员 或 负责人（也可写 客户经理、置业顾问、主管、组长）",
             "en": "pick manager, salesperson or leader from the dropdown"},
    "team": {"zh": "如 一组、二组；客户须交给本团队的销售员",
             "en": "e.g. Team 1; managers hand customers to salespeople of their own team"},
    "email": {"zh": "用于发送每周个人对账单和团队汇总",
              "en": "where the weekly statement and the team summary are sent"},
    "active_from": {"zh": "从这一天起参加考核，留空表示一直在岗",
                    "en": "assessed from this day on; leave it empty if always active"},
    "active_to": {"zh": "这一天之后不再考核，留空表示仍在岗",
                  "en": "not assessed after this day; leave it empty while the person stays"},
    "phone": {"zh": "11 位大陆手机号，可带 +86、空格或短横线，系统会自动整理；本列已设为文本格式，请勿改成数字",
              "en": "the 11-digit mainland mobile number; +86, spaces and dashes are cleaned up; the column is text on purpose"},
    "customer": {"zh": "如 王先生", "en": "e.g. Mr Wang"},
    "registered_at": {"zh": "客户登记备案的日期时间", "en": "when the customer was registered"},
    "registered_by": {"zh": "登记的大客户经理姓名，或渠道名称（如 自然到访、中介）",
                      "en": "the manager who registered the customer, or a channel (walk-in, agency, ...)"},
    "manager": {"zh": "大客户经理姓名，须与团队名单一致", "en": "the manager's name, exactly as in the roster"},
    "submitted_at": {"zh": "提交号码的日期时间", "en": "when the number was submitted"},
    "visited_at": {"zh": "客户到售楼处的日期时间，每批客户一行",
                   "en": "when the customer came to the sales office; one row per visiting batch"},
    "salesperson": {"zh": "接待或成交的销售员姓名，须与团队名单一致",
                    "en": "the salesperson who received or sold, exactly as in the roster"},
    "party_size": {"zh": "本批到访的人数", "en": "how many people came in this batch"},
    "expanded_at": {"zh": "拜访该单位的日期时间", "en": "when the unit was canvassed"},
    "unit_name": {"zh": "单位全称，同一单位只计一次", "en": "the organisation's full name; each unit counts once"},
    "photo": {"zh": "照片文件名或链接，没有照片的单位不计数",
              "en": "the photo's file name or link; a unit without a photo does not count"},
    "address": {"zh": "单位地址", "en": "the unit's address"},
    "deal_at": {"zh": "签约的日期时间，每套房一行", "en": "when the contract was signed; one row per unit sold"},
    "room": {"zh": "如 3-1201", "en": "e.g. 3-1201"},
    "commission": {"zh": "该套房销售员的佣金，如 4000 或 4,000.50（元）",
                   "en": "the salesperson's commission on this sale, e.g. 4000 or 4,000.50 (CNY)"},
    "note": {"zh": "任意补充说明", "en": "anything worth adding"},
}

_KIND_TITLES = {
    "zh": {"roster": "团队名单", "registrations": "客户登记备案", "leads": "诚意客户号码汇总表",
           "visits": "到访登记", "units": "拓展单位登记", "deals": "成交记录"},
    "en": {"roster": "Roster", "registrations": "Registrations", "leads": "Leads",
           "visits": "Visits", "units": "Units", "deals": "Deals"},
}

_GENERAL: dict[str, dict[str, str]] = {
    "title": {"zh": "{title}：填写说明", "en": "{title}: how to fill in this workbook"},
    "where": {"zh": "请在工作表「{sheet}」第 1 行的表头下方逐行填写，每行一条记录。",
              "en": "Fill in the sheet '{sheet}' below the header in row 1, one record per row."},
    "headers": {"zh": "请勿修改表头文字；列的顺序可以调整，也可以在右侧增加自己的列，系统会忽略不认识的列。",
                "en": "Keep the header texts as they are; columns may be reordered, and extra columns of your own are ignored."},
    "required": {"zh": "「{header}」（必填）：{text}。", "en": "'{header}' (required): {text}."},
    "optional": {"zh": "「{header}」（选填）：{text}。", "en": "'{header}' (optional): {text}."},
    "dates": {"zh": "日期时间可写成 2026-11-24 14:30、2026/11/24 14:30 或 2026年11月24日 14:30；只写日期表示当天 00:00。",
              "en": "Dates may be written as 2026-11-24 14:30, 2026/11/24 14:30 or 2026年11月24日 14:30; a date alone means 00:00."},
    "check": {"zh": "放入收件箱前，可运行 pipeline validate 检查每一行是否有问题。",
              "en": "Before dropping the file into the inbox, pipeline validate lists any row it would reject."},
    "inbox": {"zh": "填好后把文件放入收件箱文件夹，每周自动统计；本说明页不会被读取，可以保留。",
              "en": "Drop the filled-in file into the inbox folder; it is read every week. This sheet is never read as data."},
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
    if ctype == "money":
        return formats["money"]
    return None


def instructions(kind: str, lang: str) -> list[str]:
    """The instruction sentences of one kind's template, one per row of the instructions sheet."""
    lang = lang if lang in _GENERAL["title"] else "zh"
    spec = KINDS[kind]
    title = _KIND_TITLES[lang][kind]
    lines = [
        _GENERAL["title"][lang].format(title=title),
        _GENERAL["where"][lang].format(sheet=title),
        _GENERAL["headers"][lang],
    ]
    for column in spec.columns:
        key = "required" if column in spec.required else "optional"
        lines.append(_GENERAL[key][lang].format(header=canonical_header(column, lang),
                                                text=_DESCRIPTIONS[column][lang]))
    if any(column_type(c) == "datetime" for c in spec.columns):
        lines.append(_GENERAL["dates"][lang])
    lines.append(_GENERAL["check"][lang])
    lines.append(_GENERAL["inbox"][lang])
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
