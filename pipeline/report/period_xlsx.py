"""The period's summary.xlsx with native Excel charts (SPEC §8), through xlsxwriter.

The weekly workbooks are written by our own writer (`pipeline/xlsx/`, for speed), which draws
no charts. A period workbook is small (a row per manager and per week), and leaders restyle its
charts in Excel, so it is written by xlsxwriter, whose charts are real chart parts (lines and
columns over cell ranges), not pictures.

Sheets: the managers' period figures (grouped by team, team subtotals and the office total), the
breakdown of their fines and commission, the teams, the weekly trend (office and teams' attainment, commission, fines and net per week,
with a line and a column chart), the managers' weekly attainment (a column chart per team), and
the client-visit log review. Every sheet is set up for printing: landscape, one page wide,
header rows repeated, office, period and sheet in the header and page numbers in the footer.
Input text is written as text (never a formula), and the file is the same bytes for the same
period (fixed creation time), so the email that carries it is sent once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from ..periods import ITEMS_ORDER, Figures, attainment
from ..results import ZERO
from ..texts import t
from .context import team_name
from .excel import _header_text, display_width
from .period import PeriodReport

CREATED = datetime(2000, 1, 1)
MONEY = "#,##0.00"
PCT = "0%"
COLOURS = ["#1d4ed8", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#9ca3af",
           "#92400e"]


class _Book:
    """The workbook, its formats, and the page setup every sheet gets."""

    def __init__(self, path: Path, report: PeriodReport) -> None:
        self.report = report
        self.lang = report.lang
        self.book = xlsxwriter.Workbook(str(path), {
            "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
        })
        self.book.set_properties({"title": report.title(), "created": CREATED})
        self.head = self.book.add_format({"bold": True, "bg_color": "#DBEAFE", "border": 1, "text_wrap": True,
                                          "valign": "top"})
        self.money = self.book.add_format({"num_format": MONEY})
        self.pct = self.book.add_format({"num_format": PCT})
        self.bold = self.book.add_format({"bold": True, "bg_color": "#EEF2FF"})
        self.bold_money = self.book.add_format({"bold": True, "bg_color": "#EEF2FF", "num_format": MONEY})
        self.bold_pct = self.book.add_format({"bold": True, "bg_color": "#EEF2FF", "num_format": PCT})
        self.review = self.book.add_format({"bg_color": "#FDE2E2"})

    def sheet(self, key: str, header: Sequence[str], widths: Sequence[int] | None = None) -> Worksheet:
        """A sheet with its header row, frozen, and the page setup for printing."""
        name = t(self.lang, f"report.period.sheet.{key}")
        ws = self.book.add_worksheet(name)
        for col, text in enumerate(header):
            ws.write_string(0, col, text, self.head)
            width = widths[col] if widths else max(8, min(40, display_width(text) + 2))
            ws.set_column(col, col, width)
        ws.freeze_panes(1, 0)
        ws.set_landscape()
        ws.set_paper(9)                      # A4
        ws.fit_to_pages(1, 0)                # one page wide, as many long as it takes
        ws.repeat_rows(0)
        ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
        ws.set_header(f"&L{_header_text(self.report.office)}&C{_header_text(self.report.title(with_office=False))}&R&A")
        ws.set_footer("&C" + t(self.lang, "report.print.footer"))
        return ws

    def text(self, ws: Worksheet, row: int, col: int, value: str, fmt: Any = None) -> None:
        ws.write_string(row, col, value, fmt)

    def close(self) -> None:
        self.book.close()


def _f(value: Decimal) -> float:
    return float(value)


# The figures' columns of the two per-manager sheets (and the teams'): (header, width, value, money).
# The task sheet keeps what leaders compare (achieved against target, shortfall, the totals), the
# money sheet the breakdown of fines and commission, so that each prints legibly one page wide.
Spec = tuple[str, int, Any, bool]


def _task_specs(lang: str) -> list[Spec]:
    items = [(i, t(lang, f"report.item.{i}")) for i in ITEMS_ORDER]
    return [
        *((t(lang, "report.col.achieved_of", item=label), 8, lambda f, i=i: getattr(f.achieved, i), False)
          for i, label in items),
        *((t(lang, "report.col.target_of", item=label), 8, lambda f, i=i: getattr(f.targets, i), False)
          for i, label in items),
        *((t(lang, "report.col.shortfall_of", item=label), 8, lambda f, i=i: getattr(f.shortfall, i), False)
          for i, label in items),
        (t(lang, "report.col.fines_total"), 11, lambda f: f.fines.total, True),
        (t(lang, "report.col.commission_total"), 11, lambda f: f.commission.total, True),
        (t(lang, "report.col.net"), 11, lambda f: f.net, True),
    ]


def _money_specs(lang: str) -> list[Spec]:
    return [
        *((t(lang, "report.col.fine_of", item=t(lang, f"report.item.{i}")), 10, lambda f, i=i: getattr(f.fines, i),
           True) for i in ITEMS_ORDER),
        (t(lang, "report.col.fines_total"), 11, lambda f: f.fines.total, True),
        (t(lang, "report.col.commission_visit"), 11, lambda f: f.commission.visit, True),
        (t(lang, "report.col.commission_lead"), 11, lambda f: f.commission.lead, True),
        (t(lang, "report.col.commission_total"), 11, lambda f: f.commission.total, True),
        (t(lang, "report.period.col.clawback"), 10, lambda f: f.clawback, True),
        (t(lang, "report.period.col.adjustment"), 10, lambda f: f.adjustment, True),
        (t(lang, "report.col.net"), 11, lambda f: f.net, True),
    ]


def _write_figures(b: _Book, ws: Worksheet, row: int, col: int, f: Figures, specs: list[Spec],
                   bold: bool = False) -> int:
    """The figures' cells from `col` on; returns the next column."""
    for _, _, value, money in specs:
        if money:
            ws.write_number(row, col, _f(value(f)), b.bold_money if bold else b.money)
        else:
            ws.write_number(row, col, value(f), b.bold if bold else None)
        col += 1
    return col


def _per_manager_sheet(b: _Book, key: str, specs: list[Spec], with_counts: bool) -> None:
    """A row per manager, grouped by team (teams by name), each team's subtotal, the office total."""
    lang, r = b.lang, b.report.results
    counts = [(t(lang, "report.period.col.weeks_assessed"), 7), (t(lang, "report.period.col.weeks_met"), 7)]
    tail = [(t(lang, "report.period.col.max_streak"), 9), (t(lang, "report.col.dismissal_review"), 7)]
    columns = [(t(lang, "report.col.team"), 10), (t(lang, "report.col.manager"), 10),
               *(counts if with_counts else []), *((h, w) for h, w, _, _ in specs), *(tail if with_counts else [])]
    ws = b.sheet(key, [h for h, _ in columns], [w for _, w in columns])
    ws.set_row(0, 42)
    first = 4 if with_counts else 2
    row = 1
    for team, group in r.teams:
        for m in (x for x in r.managers if x.team == team):
            fmt = b.review if m.dismissal_review else None
            b.text(ws, row, 0, team_name(lang, team), fmt)
            b.text(ws, row, 1, m.name, fmt)
            if with_counts:
                ws.write_number(row, 2, m.weeks_assessed)
                ws.write_number(row, 3, m.weeks_met)
            col = _write_figures(b, ws, row, first, m.figures, specs)
            if with_counts:
                ws.write_number(row, col, m.max_streak)
                b.text(ws, row, col + 1, t(lang, "report.yes") if m.dismissal_review else t(lang, "report.no"), fmt)
            row += 1
        b.text(ws, row, 0, team_name(lang, team), b.bold)
        b.text(ws, row, 1, t(lang, "report.period.team_total", team=team_name(lang, team)), b.bold)
        if with_counts:
            ws.write_blank(row, 2, None, b.bold)
            ws.write_number(row, 3, group.weeks_met, b.bold)
        _write_figures(b, ws, row, first, group.figures, specs, bold=True)
        row += 1
    b.text(ws, row, 0, t(lang, "report.office_total"), b.bold)
    ws.write_blank(row, 1, None, b.bold)
    if with_counts:
        ws.write_blank(row, 2, None, b.bold)
        ws.write_number(row, 3, r.office.weeks_met, b.bold)
    _write_figures(b, ws, row, first, r.office.figures, specs, bold=True)
    ws.autofilter(0, 0, max(1, row - 1), len(columns) - 1)


def _teams_sheet(b: _Book) -> None:
    lang, r = b.lang, b.report.results
    specs = _task_specs(lang)
    columns = [(t(lang, "report.col.team"), 12), (t(lang, "report.period.col.managers"), 8),
               (t(lang, "report.period.col.weeks_met"), 7), *((h, w) for h, w, _, _ in specs)]
    ws = b.sheet("teams", [h for h, _ in columns], [w for _, w in columns])
    ws.set_row(0, 42)
    row = 1
    for team, group in r.teams:
        b.text(ws, row, 0, team_name(lang, team))
        ws.write_number(row, 1, group.managers)
        ws.write_number(row, 2, group.weeks_met)
        _write_figures(b, ws, row, 3, group.figures, specs)
        row += 1
    b.text(ws, row, 0, t(lang, "report.office_total"), b.bold)
    ws.write_number(row, 1, r.office.managers, b.bold)
    ws.write_number(row, 2, r.office.weeks_met, b.bold)
    _write_figures(b, ws, row, 3, r.office.figures, specs, bold=True)


def _week_attainment(entries: dict[str, dict[str, Any]], names: set[str] | None) -> float | None:
    """A closed week's attainment of the managers `names` (all when None), from the week's
    entries by name (`PeriodReport.entries`)."""
    if names is None:
        rows = [m for m in entries.values() if m["active_days"] > 0]
    else:
        rows = [m for name in names if (m := entries.get(name)) is not None and m["active_days"] > 0]
    if not rows:
        return None
    pct = attainment({i: sum(m["achieved"][i] for m in rows) for i in ITEMS_ORDER},
                     {i: sum(m["targets"][i] for m in rows) for i in ITEMS_ORDER})
    return None if pct is None else pct / 100


def _week_money(managers: list[dict[str, Any]]) -> tuple[Decimal, Decimal, Decimal]:
    """A closed week's commission, fines and net, summed over its managers (as `Figures.sum`
    of the week's entries would give them, without the rest of the figures)."""
    commission, fines, net = ZERO, ZERO, ZERO
    for m in managers:
        commission += Decimal(m["commission"]["total"])
        fines += Decimal(m["fines"]["total"])
        net += Decimal(m["net"])
    return commission, fines, net


def _axis_floor(value: float) -> float:
    """0, or a negative value rounded away from zero to one significant digit (-2,392 → -3,000)."""
    if value >= 0:
        return 0.0
    step = 10 ** (len(str(int(-value))) - 1)
    return -float(math.ceil(-value / step) * step)


def _chart_style(chart: Any, title: str, y_title: str, y_format: str | None = None) -> None:
    chart.set_title({"name": title, "name_font": {"size": 12}})
    chart.set_legend({"position": "bottom"})
    axis: dict[str, Any] = {"name": y_title, "major_gridlines": {"visible": True, "line": {"color": "#E5E7EB"}}}
    if y_format:
        axis["num_format"] = y_format
    chart.set_y_axis(axis)
    chart.set_size({"width": 720, "height": 320})


def _trend_sheet(b: _Book) -> None:
    """Per closed week: the office's and each team's attainment, and the office's money, with a
    line chart of the attainment and a column chart of the money."""
    lang, report = b.lang, b.report
    r = report.results
    members = {team: {m.name for m in r.managers if m.team == team} for team, _ in r.teams}
    money_labels = [t(lang, "report.col.commission_total"), t(lang, "report.col.fines_total"), t(lang, "report.col.net")]
    team_labels = [team_name(lang, team) for team, _ in r.teams]
    header = [t(lang, "report.period.col.week"), t(lang, "report.period.chart.office"), *team_labels, *money_labels]
    ws = b.sheet("trend", header)
    docs = report.weekly
    money = [_week_money(doc["managers"]) for doc in docs]
    for row, doc in enumerate(docs, start=1):
        b.text(ws, row, 0, doc["week"])
        for col, names in enumerate([None, *members.values()], start=1):
            value = _week_attainment(report.entries[doc["week"]], names)
            if value is None:
                ws.write_blank(row, col, None, b.pct)
            else:
                ws.write_number(row, col, value, b.pct)
        base = 2 + len(team_labels)
        for i, amount in enumerate(money[row - 1]):
            ws.write_number(row, base + i, _f(amount), b.money)
    if not docs:
        return
    name = ws.get_name()
    last = len(docs)
    line = b.book.add_chart({"type": "line"})
    for col in range(1, 2 + len(team_labels)):
        line.add_series({
            "name": [name, 0, col], "categories": [name, 1, 0, last, 0], "values": [name, 1, col, last, col],
            "marker": {"type": "circle", "size": 5}, "line": {"width": 2.25 if col == 1 else 1.5,
                                                               "color": COLOURS[(col - 1) % len(COLOURS)]},
            "marker_fill": {"color": COLOURS[(col - 1) % len(COLOURS)]},
        })
    _chart_style(line, t(lang, "report.period.chart.attainment"), t(lang, "report.period.col.attainment"), PCT)
    line.set_y_axis({"name": t(lang, "report.period.col.attainment"), "num_format": PCT, "min": 0, "max": 1,
                     "major_gridlines": {"visible": True, "line": {"color": "#E5E7EB"}}})
    ws.insert_chart(last + 3, 0, line)
    columns = b.book.add_chart({"type": "column"})
    base = 2 + len(team_labels)
    for i, colour in enumerate(("#16a34a", "#dc2626")):
        columns.add_series({"name": [name, 0, base + i], "categories": [name, 1, 0, last, 0],
                            "values": [name, 1, base + i, last, base + i], "fill": {"color": colour}})
    net = b.book.add_chart({"type": "line"})
    net.add_series({"name": [name, 0, base + 2], "categories": [name, 1, 0, last, 0],
                    "values": [name, 1, base + 2, last, base + 2], "line": {"color": "#1d4ed8", "width": 2.25},
                    "marker": {"type": "diamond", "size": 6}})
    columns.combine(net)
    _chart_style(columns, t(lang, "report.period.chart.money"), t(lang, "report.col.net"), MONEY)
    # from zero (or below, for a negative net), so that the small fines still show beside commission
    lowest = _axis_floor(min([0.0, *(float(net) for _, _, net in money)]))
    columns.set_y_axis({"name": t(lang, "report.col.amount"), "num_format": MONEY, "min": lowest,
                        "major_gridlines": {"visible": True, "line": {"color": "#E5E7EB"}}})
    ws.insert_chart(last + 21, 0, columns)
    ws.set_h_pagebreaks([last + 20])             # printed, each chart whole on its page


def _attainment_sheet(b: _Book) -> None:
    """A manager per row, a closed week per column (blank where not assessed), grouped by team;
    beside it a column chart per team: its managers' weekly attainment."""
    lang, report = b.lang, b.report
    r = report.results
    weeks = [doc["week"] for doc in report.weekly]
    header = [t(lang, "report.col.team"), t(lang, "report.col.manager"), *weeks]
    ws = b.sheet("attainment", header, [14, 14, *([10] * len(weeks))])
    name = ws.get_name()
    row = 1
    blocks = []
    for team, _ in r.teams:
        first = row
        for m in (x for x in r.managers if x.team == team):
            b.text(ws, row, 0, team_name(lang, team))
            b.text(ws, row, 1, m.name)
            for col, doc in enumerate(report.weekly, start=2):
                entry = report.entries[doc["week"]].get(m.name)
                pct = attainment(entry["achieved"], entry["targets"]) if entry and entry["active_days"] > 0 else None
                if pct is None:
                    ws.write_blank(row, col, None, b.pct)
                else:
                    ws.write_number(row, col, pct / 100, b.pct)
            row += 1
        blocks.append((team, first, row - 1))
    if not weeks:
        return
    anchor = 0
    breaks = []
    for team, first, last in blocks:
        chart = b.book.add_chart({"type": "column"})
        for i, r_ in enumerate(range(first, last + 1)):
            chart.add_series({"name": [name, r_, 1], "categories": [name, 0, 2, 0, 1 + len(weeks)],
                              "values": [name, r_, 2, r_, 1 + len(weeks)],
                              "fill": {"color": COLOURS[i % len(COLOURS)]}})
        _chart_style(chart, t(lang, "report.period.chart.team", team=team_name(lang, team)),
                     t(lang, "report.period.col.attainment"), PCT)
        chart.set_y_axis({"name": t(lang, "report.period.col.attainment"), "num_format": PCT, "min": 0, "max": 1,
                          "major_gridlines": {"visible": True, "line": {"color": "#E5E7EB"}}})
        at = max(row, 1) + 2 + anchor
        ws.insert_chart(at, 0, chart)
        if anchor and anchor % 36 == 0:
            breaks.append(at - 1)                # printed, two charts a page, none cut in two
        anchor += 18
    ws.set_h_pagebreaks(breaks)


def _log_sheet(b: _Book) -> None:
    lang, log = b.lang, b.report.log
    header = [t(lang, "report.period.col.person"), t(lang, "report.period.col.logged"),
              t(lang, "report.period.col.raised"), t(lang, "report.period.col.answered"),
              t(lang, "report.period.col.overdue")]
    ws = b.sheet("log", header, [16, 12, 12, 12, 14])
    if not (log.available and log.lines):
        b.text(ws, 1, 0, t(lang, "report.period.log_empty"))
        return
    row = 1
    for line in log.lines:
        b.text(ws, row, 0, line.name)
        for col, value in enumerate((line.logged, line.raised, line.answered, line.overdue), start=1):
            ws.write_number(row, col, value)
        row += 1
    total = log.total()
    b.text(ws, row, 0, t(lang, "report.office_total"), b.bold)
    for col, value in enumerate((total.logged, total.raised, total.answered, total.overdue), start=1):
        ws.write_number(row, col, value, b.bold)


def write_period_xlsx(report: PeriodReport, path: Path) -> None:
    b = _Book(path, report)
    try:
        _per_manager_sheet(b, "managers", _task_specs(b.lang), with_counts=True)
        _per_manager_sheet(b, "money", _money_specs(b.lang), with_counts=False)
        _teams_sheet(b)
        _trend_sheet(b)
        _attainment_sheet(b)
        _log_sheet(b)
    finally:
        b.close()
