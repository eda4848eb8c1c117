"""The workbooks of a week: summary.xlsx, managers/<name>.xlsx and ledger.xlsx (SPEC §5).

Two layers. The builders below turn a `WeekReport` into plain `Sheet`s of typed `Column`s and rows;
`write_workbook` is the only code that knows xlsxwriter. Another backend (openpyxl, .ods) would
replace `write_workbook` and keep every builder.

Choices, stated once:
- Every text goes through `write_string`: no input text ever becomes a formula or a link
  (`=HYPERLINK(...)`, `+1`, `-1`, `@SUM(A1)` stay literal). The workbook options turn xlsxwriter's
  string conversions off as well, and no cell anywhere is a formula (totals are computed here).
- Money is written as a number with the format `#,##0.00` from the exact two-decimal string; dates
  and times are real Excel dates; phone numbers are text (full, not masked: workbooks are internal).
- Big workbooks use xlsxwriter's `constant_memory` mode: rows stream to disk in order, so 100,000
  rows take the same memory as 100. Column widths are measured while streaming (CJK counts as 2)
  and set at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from ..texts import t
from .context import (
    COMMISSION_KINDS,
    ITEMS,
    WeekIndex,
    commission_kind_label,
    fix_hint,
    index_week,
    kind_label,
    money,
    reason_label,
    team_name,
    totals_of,
    warning_text,
)
from .model import WeekReport

ColType = Literal["text", "int", "money", "datetime", "date", "pct"]
Style = Literal["header", "title", "subtotal", "total", "review", "warn", "bad"]


@dataclass(frozen=True)
class Column:
    header: str
    type: ColType = "text"
    flag_positive: bool = False      # highlight values above zero (shortfalls)
    bar: bool = False                # a data bar over 0..1 (progress)


class Styled(NamedTuple):
    """A row with a style for all its cells and an outline level (1 = collapsible under a subtotal)."""

    values: Sequence[Any]
    style: Style | None = None
    level: int = 0


@dataclass
class Table:
    columns: list[Column]
    rows: Iterable[Sequence[Any] | Styled]


@dataclass
class Sheet:
    """A sheet: optional title lines, then one table (frozen header, autofilter) or several blocks."""

    name: str
    blocks: list[Table]
    title: list[tuple[str, Style | None]] = field(default_factory=list)


# --- the one xlsxwriter-specific part -----------------------------------------------------------

MONEY_FORMAT = "#,##0.00"
STYLE_PROPS: dict[str, dict[str, Any]] = {
    "header": {"bold": True, "bg_color": "#D9E1F2", "bottom": 1, "text_wrap": True, "valign": "top"},
    "title": {"bold": True, "font_size": 14},
    "subtotal": {"bold": True, "bg_color": "#EEF2FF", "top": 1},
    "total": {"bold": True, "bg_color": "#D9D9D9", "top": 2},
    "review": {"bold": True, "bg_color": "#FFC7CE", "font_color": "#9C0006"},
    "warn": {"bg_color": "#FFEB9C", "font_color": "#7F6000"},
    "bad": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
}
NUM_FORMATS: dict[str, str | None] = {
    "text": "@", "int": "0", "money": MONEY_FORMAT, "datetime": "yyyy-mm-dd hh:mm:ss",
    "date": "yyyy-mm-dd", "pct": "0%",
}
FIXED_WIDTH = {"datetime": 19, "date": 10, "pct": 6}
MAX_WIDTH = 60


# East Asian wide and full-width ranges (Unicode EastAsianWidth W/F): two columns each in a sheet.
_WIDE = re.compile("[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
                   "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]")
EXCEL_EPOCH = datetime(1899, 12, 30)      # 1900 date system; every date written is after 1900-03-01
DAY = timedelta(days=1)


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: CJK and full-width characters count as 2."""
    if text.isascii():
        return len(text)
    return len(text) + len(_WIDE.findall(text))


def excel_serial(value: Any) -> float:
    """An ISO date-time (or datetime) as an Excel serial number: a real date once formatted."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment - EXCEL_EPOCH) / DAY


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book = book
        self.cache: dict[tuple[str, str | None], Format] = {}

    def get(self, coltype: str, style: str | None) -> Format:
        key = (coltype, style)
        if key not in self.cache:
            props = dict(STYLE_PROPS.get(style or "", {}))
            if coltype in NUM_FORMATS:
                props["num_format"] = NUM_FORMATS[coltype]
            self.cache[key] = self.book.add_format(props)
        return self.cache[key]


class _SheetWriter:
    def __init__(self, book: xlsxwriter.Workbook, formats: _Formats, sheet: Sheet) -> None:
        self.ws: Worksheet = book.add_worksheet(sheet.name)
        self.formats = formats
        self.sheet = sheet
        self.widths: dict[int, int] = {}
        self.row = 0

    def _fit(self, col: int, width: int) -> None:
        if width > self.widths.get(col, 0):
            self.widths[col] = width

    def table(self, table: Table, single: bool) -> None:
        """Header, then the rows. The hot loop of every workbook: one branch per column type, no lookups."""
        ws, columns = self.ws, table.columns
        first = self.row
        for col, column in enumerate(columns):
            ws.write_string(first, col, column.header, self.formats.get("text", "header"))
            self._fit(col, min(display_width(column.header), 24))
            if column.type in FIXED_WIDTH:
                self._fit(col, FIXED_WIDTH[column.type])
        if single:
            ws.freeze_panes(first + 1, 0)
        kinds = [c.type for c in columns]
        flags = [c.flag_positive for c in columns]
        plain = [self.formats.get(kind, None) for kind in kinds]
        bad = [self.formats.get(kind, "bad") for kind in kinds]
        styled: dict[str, list[Format]] = {}
        widths = [self.widths.get(col, 0) for col in range(len(columns))]
        largest = [0.0] * len(columns)        # numbers: the width follows the largest magnitude
        write_string, write_number, write_blank = ws.write_string, ws.write_number, ws.write_blank
        row = first + 1
        for entry in table.rows:
            style: str | None = None
            fmts = plain
            if isinstance(entry, Styled):
                values, style, level = entry
                if level:
                    ws.set_row(row, None, None, {"level": level})
                if style:
                    fmts = styled.get(style) or styled.setdefault(style, [self.formats.get(k, style) for k in kinds])
            else:
                values = entry
            for col, kind in enumerate(kinds):
                value = values[col]
                if value is None or value == "":
                    if style:
                        write_blank(row, col, None, fmts[col])
                elif kind == "text":
                    text = value if isinstance(value, str) else str(value)
                    write_string(row, col, text, fmts[col])
                    if 2 * len(text) > widths[col]:
                        widths[col] = max(widths[col], display_width(text))
                elif kind == "datetime" or kind == "date":
                    write_number(row, col, excel_serial(value), fmts[col])
                else:   # int, money, pct
                    number = float(value)
                    fmt = bad[col] if flags[col] and style is None and number > 0 else fmts[col]
                    write_number(row, col, int(value) if kind == "int" else number, fmt)
                    if abs(number) > largest[col]:
                        largest[col] = abs(number)
                        shown = f"{number:,.2f}" if kind == "money" else f"{number:.0f}"
                        widths[col] = max(widths[col], len(shown) + 1)
            row += 1
        self.row = row
        for col, width in enumerate(widths):
            self._fit(col, width)
        last = max(row - 1, first)
        if single:
            ws.autofilter(first, 0, last, len(columns) - 1)
        for col, column in enumerate(columns):
            if column.bar and last > first:
                ws.conditional_format(first + 1, col, last, col, {
                    "type": "data_bar", "bar_color": "#63BE7B", "bar_solid": True,
                    "min_type": "num", "min_value": 0, "max_type": "num", "max_value": 1})

    def write(self) -> None:
        span = max((len(block.columns) for block in self.sheet.blocks), default=1)
        for text, style in self.sheet.title:
            if text:
                self.ws.write_string(self.row, 0, text, self.formats.get("text", style))
            if style in ("review", "warn"):        # a filled band as wide as the tables below
                for col in range(1, span):
                    self.ws.write_blank(self.row, col, None, self.formats.get("text", style))
            self.row += 1
        if self.sheet.title:
            self.row += 1
        single = len(self.sheet.blocks) == 1
        for i, block in enumerate(self.sheet.blocks):
            if i:
                self.row += 1
            self.table(block, single)
        for col, width in self.widths.items():
            self.ws.set_column(col, col, min(MAX_WIDTH, width + 2))


def write_workbook(path: Path, sheets: Iterable[Sheet], big: bool = False, created: datetime | None = None) -> None:
    """Write `sheets` to `path`; `big` streams rows to disk (constant memory) instead of holding them.

    `created` fixes the document's creation time, so the same week renders to the same bytes (the
    mail digests that make "each message once" work depend on it)."""
    options: dict[str, Any] = {
        "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
        "default_date_format": "yyyy-mm-dd hh:mm:ss",
    }
    options["constant_memory" if big else "in_memory"] = True
    book = xlsxwriter.Workbook(str(path), options)
    book.set_properties({"created": created or datetime(2000, 1, 1)})
    formats = _Formats(book)
    for sheet in sheets:
        _SheetWriter(book, formats, sheet).write()
    book.close()


# --- builders: WeekReport -> sheets -------------------------------------------------------------

def _h(lang: str, key: str, **fields: Any) -> str:
    return t(lang, f"report.col.{key}", **fields)


def _src_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "file")), Column(_h(lang, "sheet")), Column(_h(lang, "row"), "int")]


def _src(source: Any) -> tuple[Any, Any, Any]:
    if source is None:
        return ("", "", None)
    if isinstance(source, dict):
        return (source.get("file", ""), source.get("sheet", ""), source.get("row"))
    return (source.file, source.sheet, source.row)


def _yes_no(lang: str, value: bool) -> str:
    return t(lang, "report.yes") if value else t(lang, "report.no")


def summary_columns(lang: str) -> list[Column]:
    cols = [Column(_h(lang, "team")), Column(_h(lang, "manager")), Column(_h(lang, "active_days"), "int")]
    for item in ITEMS:
        label = t(lang, f"report.item.{item}")
        cols += [Column(_h(lang, "target_of", item=label), "int"),
                 Column(_h(lang, "achieved_of", item=label), "int"),
                 Column(_h(lang, "shortfall_of", item=label), "int", flag_positive=True)]
    cols += [Column(_h(lang, "fine_of", item=t(lang, f"report.item.{item}")), "money") for item in ITEMS]
    cols += [Column(_h(lang, "fines_total"), "money"), Column(_h(lang, "commission_visit"), "money"),
             Column(_h(lang, "commission_lead"), "money"), Column(_h(lang, "commission_total"), "money"),
             Column(_h(lang, "net"), "money"), Column(_h(lang, "met")), Column(_h(lang, "streak"), "int"),
             Column(_h(lang, "dismissal_review"))]
    return cols


def _summary_rows(lang: str, index: WeekIndex) -> Iterable[Styled]:
    warn_at = index.warn_streak()
    for team, members in index.teams:
        for m in members:
            values: list[Any] = [team_name(lang, team), m["name"], m["active_days"]]
            for item in ITEMS:
                values += [m["targets"][item], m["achieved"][item], m["shortfall"][item]]
            values += [m["fines"][item] for item in ITEMS]
            values += [m["fines"]["total"], m["commission"]["visit"], m["commission"]["lead"],
                       m["commission"]["total"], m["net"], _yes_no(lang, m["met"]), m["streak"],
                       _yes_no(lang, m["dismissal_review"])]
            style: Style | None = "review" if m["dismissal_review"] else "warn" if m["streak"] >= warn_at else None
            yield Styled(values, style, 1)
        label = t(lang, "report.subtotal", team=team_name(lang, team), leaders=index.leaders_text(lang, team))
        yield Styled(_totals_values(label, totals_of(members)), "subtotal")
    yield Styled(_totals_values(t(lang, "report.office_total"), totals_of(index.managers)), "total")


def _totals_values(label: str, totals: Any) -> list[Any]:
    values: list[Any] = [label, "", None]
    for item in ITEMS:
        values += [totals.targets[item], totals.achieved[item], totals.shortfall[item]]
    values += [totals.fines[item] for item in ITEMS]
    values += [totals.fines["total"], totals.commission["visit"], totals.commission["lead"],
               totals.commission["total"], totals.net, "", None, ""]
    return values


def deal_columns(lang: str, with_manager: bool = True) -> list[Column]:
    cols = [Column(_h(lang, "deal_at"), "datetime"), Column(_h(lang, "phone")), Column(_h(lang, "room")),
            Column(_h(lang, "salesperson")), Column(_h(lang, "salesperson_commission"), "money")]
    if with_manager:
        cols.append(Column(_h(lang, "manager")))
    cols += [Column(_h(lang, "kind")), Column(_h(lang, "manager_commission"), "money"),
             Column(_h(lang, "salesperson_net"), "money")]
    if with_manager:
        cols.append(Column(_h(lang, "reason")))
    return [*cols, Column(_h(lang, "late")), *_src_columns(lang)]


def deal_rows(lang: str, deals: Iterable[dict[str, Any]], with_manager: bool = True) -> Iterable[list[Any]]:
    for d in deals:
        row: list[Any] = [d.get("deal_at"), d.get("phone") or "", d.get("room") or "", d.get("salesperson") or "",
                          d.get("salesperson_commission")]
        if with_manager:
            row.append(d.get("manager") or "")
        row += [commission_kind_label(lang, d.get("kind")), d.get("manager_commission"), d.get("salesperson_net")]
        if with_manager:
            row.append(reason_label(lang, d.get("reason")))
        yield [*row, t(lang, "report.yes") if d.get("late") else "", *_src(d.get("source"))]


def fine_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "team")), Column(_h(lang, "manager")), Column(_h(lang, "item")),
            Column(_h(lang, "target"), "int"), Column(_h(lang, "achieved"), "int"),
            Column(_h(lang, "shortfall"), "int"), Column(_h(lang, "rate"), "money"), Column(_h(lang, "fine"), "money")]


def _fine_rows(lang: str, index: WeekIndex) -> Iterable[list[Any]]:
    for team, members in index.teams:
        for m in members:
            for item in ITEMS:
                short = m["shortfall"][item]
                if short:
                    fine = money(m["fines"][item])
                    yield [team_name(lang, team), m["name"], t(lang, f"report.item.{item}"), m["targets"][item],
                           m["achieved"][item], short, fine / short, fine]


def lead_columns(lang: str, with_manager: bool = True) -> list[Column]:
    cols = [Column(_h(lang, "manager"))] if with_manager else []
    return [*cols, Column(_h(lang, "customer")), Column(_h(lang, "phone")),
            Column(_h(lang, "submitted_at"), "datetime"), *_src_columns(lang)]


def lead_rows(leads: Iterable[Any], with_manager: bool = True) -> Iterable[list[Any]]:
    for x in leads:
        yield [*([x.manager] if with_manager else []), x.customer, x.phone, x.at, *_src(x.source)]


def visit_columns(lang: str, with_manager: bool = True) -> list[Column]:
    cols = [Column(_h(lang, "manager"))] if with_manager else []
    return [*cols, Column(_h(lang, "customer")), Column(_h(lang, "phone")),
            Column(_h(lang, "visited_at"), "datetime"), Column(_h(lang, "salesperson")),
            Column(_h(lang, "party_size")), *_src_columns(lang)]


def visit_rows(visits: Iterable[Any], with_manager: bool = True) -> Iterable[list[Any]]:
    for x in visits:
        yield [*([x.manager] if with_manager else []), x.customer, x.phone, x.at, x.salesperson, x.party_size,
               *_src(x.source)]


def unit_columns(lang: str, with_manager: bool = True) -> list[Column]:
    cols = [Column(_h(lang, "manager"))] if with_manager else []
    return [*cols, Column(_h(lang, "unit_name")), Column(_h(lang, "address")),
            Column(_h(lang, "expanded_at"), "datetime"), Column(_h(lang, "photo")), *_src_columns(lang)]


def unit_rows(units: Iterable[Any], with_manager: bool = True) -> Iterable[list[Any]]:
    for x in units:
        yield [*([x.manager] if with_manager else []), x.unit_name, x.address, x.at, x.photo, *_src(x.source)]


def rejection_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "sheet_kind")), *_src_columns(lang), Column(_h(lang, "reason_code")),
            Column(_h(lang, "reason")), Column(_h(lang, "message")), Column(_h(lang, "manager")),
            Column(_h(lang, "phone"))]


def _rejection_rows(lang: str, rejections: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    for r in rejections:
        yield [kind_label(lang, r.get("kind")), *_src(r.get("source")), r.get("reason") or "",
               reason_label(lang, r.get("reason")), r.get("message") or "", r.get("manager") or "",
               r.get("phone") or ""]


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), sub)
    elif isinstance(value, list | tuple):
        yield prefix, ", ".join(str(v) for v in value)
    else:
        yield prefix, "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _about_sheet(report: WeekReport) -> Sheet:
    lang = report.lang

    def a(key: str) -> str:
        return t(lang, f"report.about.{key}")

    run, cfg, files, stats = a("run"), a("config"), a("file"), a("stats")
    rows: list[Styled] = [
        Styled([run, a("week"), report.week]), Styled([run, a("start"), report.start]),
        Styled([run, a("end"), report.end]), Styled([run, a("office"), report.office]),
        Styled([run, a("run_id"), report.run.run_id]), Styled([run, a("run_time"), report.run.now]),
    ]
    rows += [Styled([cfg, key, value]) for key, value in _flatten("", report.run.config)]
    rows += [Styled([files, name, digest]) for name, digest in report.run.files]
    stat = report.results.get("stats", {})
    rows += [Styled([stats, a(key), str(stat.get(key, 0))])
             for key in ("rows_read", "rows_stored", "duplicates_dropped", "rejected")]
    return Sheet(t(lang, "report.sheet.about"), [Table(
        [Column(_h(lang, "section")), Column(_h(lang, "item")), Column(_h(lang, "value"))], rows)])


def summary_sheets(report: WeekReport, index: WeekIndex) -> list[Sheet]:
    lang = report.lang
    results = report.results

    def name(key: str) -> str:
        return t(lang, f"report.sheet.{key}")

    return [
        Sheet(name("summary"), [Table(summary_columns(lang), _summary_rows(lang, index))]),
        Sheet(name("commission"), [Table(deal_columns(lang), deal_rows(lang, results.get("deals", [])))]),
        Sheet(name("fines"), [Table(fine_columns(lang), _fine_rows(lang, index))]),
        Sheet(name("leads"), [Table(lead_columns(lang), lead_rows(report.leads))]),
        Sheet(name("visits"), [Table(visit_columns(lang), visit_rows(report.visits))]),
        Sheet(name("units"), [Table(unit_columns(lang), unit_rows(report.units))]),
        Sheet(name("rejections"), [Table(rejection_columns(lang), _rejection_rows(lang, results.get("rejections", [])))]),
        _about_sheet(report),
    ]


def _overview_sheet(report: WeekReport, index: WeekIndex, m: dict[str, Any]) -> Sheet:
    lang = report.lang
    title: list[tuple[str, Style | None]] = [
        (t(lang, "report.title.manager", name=m["name"], week=report.week), "title"),
        (f"{_h(lang, 'team')}: {team_name(lang, m.get('team') or '')}    "
         f"{t(lang, 'report.period', start=report.start, end=report.end)}", None),
        (f"{_h(lang, 'streak')}: {m['streak']}", None),
    ]
    warning = warning_text(lang, m, index.warn_streak())
    if warning:
        title.append((warning, "review" if m["dismissal_review"] else "warn"))
    if not m["active_days"]:
        title.append((t(lang, "report.not_assessed"), None))
    targets = [Column(_h(lang, "item")), Column(_h(lang, "target"), "int"), Column(_h(lang, "achieved"), "int"),
               Column(_h(lang, "shortfall"), "int", flag_positive=True), Column(_h(lang, "progress"), "pct", bar=True),
               Column(_h(lang, "fine"), "money")]
    rows: list[Styled] = []
    for item in ITEMS:
        target, achieved = m["targets"][item], m["achieved"][item]
        progress = min(1.0, achieved / target) if target else None
        rows.append(Styled([t(lang, f"report.item.{item}"), target, achieved, m["shortfall"][item], progress,
                            m["fines"][item]]))
    rows.append(Styled([_h(lang, "fines_total"), None, None, None, None, m["fines"]["total"]], "total"))
    amounts = [Styled([_h(lang, f"commission_{kind}"), m["commission"][kind]]) for kind in COMMISSION_KINDS]
    amounts += [Styled([_h(lang, "commission_total"), m["commission"]["total"]], "subtotal"),
                Styled([_h(lang, "fines_total"), -money(m["fines"]["total"])]),
                Styled([t(lang, "report.h.net"), m["net"]], "total")]
    return Sheet(t(lang, "report.sheet.overview"),
                 [Table(targets, rows), Table([Column(_h(lang, "item")), Column(_h(lang, "amount"), "money")], amounts)],
                 title)


def manager_rejection_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "sheet_kind")), *_src_columns(lang), Column(_h(lang, "phone")),
            Column(_h(lang, "reason")), Column(_h(lang, "fix"))]


def manager_sheets(report: WeekReport, index: WeekIndex, m: dict[str, Any]) -> list[Sheet]:
    """A manager's statement: only rows whose manager is this manager, and no raw rejection message."""
    lang, name = report.lang, m["name"]

    def sheet(key: str) -> str:
        return t(lang, f"report.sheet.{key}")

    rejections = ([kind_label(lang, r.get("kind")), *_src(r.get("source")), r.get("phone") or "",
                   reason_label(lang, r.get("reason")), fix_hint(lang, r.get("reason"))]
                  for r in index.rejections_by.get(name, []))
    return [
        _overview_sheet(report, index, m),
        Sheet(sheet("commission"), [Table(deal_columns(lang, False),
                                          deal_rows(lang, index.deals_by.get(name, []), False))]),
        Sheet(sheet("leads"), [Table(lead_columns(lang, False), lead_rows(index.leads_by.get(name, []), False))]),
        Sheet(sheet("visits"), [Table(visit_columns(lang, False), visit_rows(index.visits_by.get(name, []), False))]),
        Sheet(sheet("units"), [Table(unit_columns(lang, False), unit_rows(index.units_by.get(name, []), False))]),
        Sheet(sheet("rejections"), [Table(manager_rejection_columns(lang), rejections)]),
    ]


def registration_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "phone")), Column(_h(lang, "customer")), Column(_h(lang, "owner")),
            Column(_h(lang, "registered_at"), "datetime"), Column(_h(lang, "via")), *_src_columns(lang)]


def _registration_rows(report: WeekReport) -> Iterable[list[Any]]:
    lang = report.lang
    via = {key: t(lang, f"report.via.{key}") for key in ("registrations", "leads")}
    for e in report.new_registrations:
        yield [e.phone, e.customer, e.owner, e.at, via.get(e.via, e.via), *_src(e.source)]


# --- writers: (report, folder) -> None -----------------------------------------------------------

def created_at(report: WeekReport) -> datetime:
    """The Monday after the week: a creation time that does not change when a week re-renders."""
    return datetime.fromisoformat(report.end) + timedelta(days=1)


def write_summary_xlsx(report: WeekReport, folder: Path) -> None:
    write_workbook(folder / "summary.xlsx", summary_sheets(report, index_week(report)), big=True,
                   created=created_at(report))


def write_manager_xlsx(report: WeekReport, folder: Path) -> None:
    index = index_week(report)
    out = folder / "managers"
    out.mkdir(parents=True, exist_ok=True)
    for m in index.managers:
        write_workbook(out / f"{index.stems[m['name']]}.xlsx", manager_sheets(report, index, m),
                       created=created_at(report))


def write_ledger_xlsx(report: WeekReport, folder: Path) -> None:
    sheet = Sheet(t(report.lang, "report.sheet.registrations"),
                  [Table(registration_columns(report.lang), _registration_rows(report))])
    write_workbook(folder / "ledger.xlsx", [sheet], big=True, created=created_at(report))
