"""A month's or a quarter's folder (SPEC §8): period.json, summary.xlsx, summary.html and a page
per manager, all made from `PeriodReport` (period.json's model and the closed weeks' stored results).

The pages follow the weekly ones (inline styles, tables for layout, no script, no SVG, no
external file, so that they read the same in a browser and in a mail client). The weekly trend
of each manager, each team and the office is a row of bars: a table cell per week whose filled
part is a cell of a fixed pixel height with a background colour, which every mail client draws
(Outlook's Word engine included; it ignores heights on divs). The templates only place what the
typed contexts below computed. The workbook with its native charts is `period_xlsx.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from ..periods import ITEMS_ORDER, LogLine, LogReview, ManagerPeriod, PeriodResults, attainment
from ..records import Person
from ..texts import t
from .context import (
    AMBER,
    GREEN,
    GREY,
    RED,
    REVIEW_BG,
    SUBTOTAL_BG,
    TOTAL_BG,
    Bar,
    bar,
    fmt_cny,
    labels,
    manager_stems,
    team_name,
)
from .html import environment

CHART_PX = 40          # the height of a full (100 %) bar in the summary's rows
PAGE_CHART_PX = 90     # in a manager's own page


@dataclass
class PeriodReport:
    """What a period's folder is written from."""

    results: PeriodResults
    is_quarter: bool
    weekly: list[dict[str, Any]]   # the closed weeks' results.json documents (their week and managers), oldest first
    all_weeks: list[str]           # every week of the period, closed or not, oldest first
    lang: str
    office: str
    roster: list[Person] = field(default_factory=list)
    log: LogReview = field(default_factory=LogReview)
    trends: dict[tuple[str, int], list[Point]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.results.period

    @cached_property
    def managers(self) -> dict[str, ManagerPeriod]:
        return {m.name: m for m in self.results.managers}

    @cached_property
    def entries(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Each closed week's managers by name (week -> name -> its entry of the week's
        `managers`): what the trends and the pages look a manager's week up in."""
        return {doc["week"]: {m["name"]: m for m in doc["managers"]} for doc in self.weekly}

    def title(self, with_office: bool = True) -> str:
        office = (self.office + (" " if self.lang == "en" and self.office else "")) if with_office else ""
        kind = "quarter" if self.is_quarter else "month"
        return t(self.lang, f"report.period.title.{kind}", office=office, period=self.name)

    def stems(self) -> dict[str, str]:
        return manager_stems([m.name for m in self.results.managers])

    def leaders(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for person in self.roster:
            if person.role == "leader":
                out.setdefault(person.team, []).append(person.name)
        return out


# --- the weekly series ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One week's bar: `height` px filled in `colour` below `rest` px of track; `closed` false
    for a week of the period not closed yet (drawn as an empty dashed box)."""

    label: str         # W45
    value: str         # 87% | not assessed | not closed
    short: str         # 87 | – | (empty): under the bar
    height: int
    rest: int
    colour: str
    closed: bool


def _point(week: str, pct: int | None, met: bool | None, lang: str, px: int) -> Point:
    label = "W" + week.rpartition("W")[2]
    if pct is None:
        return Point(label, t(lang, "report.period.not_assessed"), "–", 0, px, GREY, True)
    height = max(1, round(px * pct / 100)) if pct else 0
    colour = GREEN if (met if met is not None else pct >= 100) else AMBER if pct >= 50 else RED
    return Point(label, f"{pct}%", str(pct), height, px - height, colour, True)


def _open_point(week: str, lang: str, px: int) -> Point:
    return Point("W" + week.rpartition("W")[2], t(lang, "report.period.not_closed"), "", 0, px, GREY, False)


def series(report: PeriodReport, names: set[str] | None, single: bool = False, px: int = CHART_PX) -> list[Point]:
    """The weekly attainment of the managers `names` (all when None) over every week of the
    period: a manager's own (`single`, coloured by `met`), or a group's from its summed figures.
    A manager's own is worked out once for the summary and the page (`PeriodReport.trends`)."""
    if single and names is not None and len(names) == 1:
        key = (next(iter(names)), px)
        if key not in report.trends:
            report.trends[key] = _series(report, names, True, px)
        return report.trends[key]
    return _series(report, names, single, px)


def _series(report: PeriodReport, names: set[str] | None, single: bool, px: int) -> list[Point]:
    points = []
    for week in report.all_weeks:
        entries = report.entries.get(week)
        if entries is None:
            points.append(_open_point(week, report.lang, px))
            continue
        if names is None:
            rows = [m for m in entries.values() if m["active_days"] > 0]
        else:
            rows = [m for name in names if (m := entries.get(name)) is not None and m["active_days"] > 0]
        if not rows:
            points.append(_point(week, None, None, report.lang, px))
            continue
        achieved = {i: sum(m["achieved"][i] for m in rows) for i in ITEMS_ORDER}
        targets = {i: sum(m["targets"][i] for m in rows) for i in ITEMS_ORDER}
        met = rows[0]["met"] if single else all(m["met"] for m in rows)
        points.append(_point(week, attainment(achieved, targets), met, report.lang, px))
    return points


# --- page contexts -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PeriodLine:
    """A manager's, a team's or the office's row of the period summary."""

    name: str
    note: str
    met_of: str        # "3 / 4"
    bars: list[Bar]
    fines: str
    commission: str
    corrections: str   # clawback + adjustment
    net: str
    net_colour: str
    max_streak: str
    trend: list[Point]
    bg: str
    bold: bool
    link: str          # the manager's page, relative to the summary ("" for totals)


@dataclass(frozen=True)
class PeriodTeam:
    name: str
    heading: str
    lines: list[PeriodLine]
    total: PeriodLine


@dataclass(frozen=True)
class PeriodSummaryPage:
    lang: str
    L: dict[str, str]
    title: str
    period: str
    partial: str       # "" when complete
    generated: str
    legend: str
    item_labels: list[str]
    office: PeriodLine
    teams: list[PeriodTeam]
    review: list[PeriodLine]
    log: LogReview
    log_total: LogLine
    see_workbook: str


def _money(value: Decimal) -> str:
    return fmt_cny(value)


def _line(lang: str, name: str, figures: Any, met: int, assessed: int | None, trend: list[Point], *,
          note: str = "", streak: str = "", bg: str = "", bold: bool = False, link: str = "") -> PeriodLine:
    met_of = f"{met} / {assessed}" if assessed is not None else str(met)
    net = figures.net
    return PeriodLine(name, note, met_of,
                      [bar(getattr(figures.achieved, i), getattr(figures.targets, i)) for i in ITEMS_ORDER],
                      _money(figures.fines.total), _money(figures.commission.total),
                      _money(figures.clawback + figures.adjustment), _money(net), RED if net < 0 else "#111827",
                      streak, trend, bg, bold, link)


def _dates(report: PeriodReport) -> str:
    r = report.results
    weeks = report.all_weeks
    return t(report.lang, "report.period.dates", start=r.start, end=r.end, n=len(weeks), first=weeks[0], last=weeks[-1])


def _partial(report: PeriodReport) -> str:
    if report.results.complete:
        return ""
    missing = [w for w in report.all_weeks if w not in set(report.results.weeks)]
    return t(report.lang, "report.period.partial", closed=len(report.results.weeks), total=len(report.all_weeks),
             missing=t(report.lang, "report.leaders_sep").join(missing))


def _source(report: PeriodReport) -> str:
    weeks = report.results.weeks
    listed = f"{weeks[0]} – {weeks[-1]}" if weeks else t(report.lang, "report.period.no_weeks")
    return t(report.lang, "report.period.source", weeks=listed)


def summary_page(report: PeriodReport) -> PeriodSummaryPage:
    lang, r = report.lang, report.results
    stems = report.stems()
    leaders = report.leaders()
    sep = t(lang, "report.leaders_sep")
    lines = {}
    for m in r.managers:
        note = t(lang, "report.col.dismissal_review") if m.dismissal_review else ""
        lines[m.name] = _line(lang, m.name, m.figures, m.weeks_met, m.weeks_assessed, series(report, {m.name}, True),
                              note=note, streak=str(m.max_streak), bg=REVIEW_BG if m.dismissal_review else "",
                              link=f"managers/{stems[m.name]}.html")
    teams = []
    for team, group in r.teams:
        members = [m for m in r.managers if m.team == team]
        shown = team_name(lang, team)
        names = leaders.get(team)
        leaders_text = sep.join(names) if names else t(lang, "report.none")
        teams.append(PeriodTeam(
            shown, t(lang, "report.team_heading", leaders=leaders_text, n=group.managers),
            [lines[m.name] for m in members],
            _line(lang, t(lang, "report.subtotal", team=shown, leaders=leaders_text), group.figures, group.weeks_met,
                  None, series(report, {m.name for m in members}), bg=SUBTOTAL_BG, bold=True)))
    return PeriodSummaryPage(
        lang=lang, L=labels(lang), title=report.title(), period=_dates(report), partial=_partial(report),
        generated=_source(report), legend=t(lang, "report.period.legend"),
        item_labels=[t(lang, f"report.item.{i}") for i in ITEMS_ORDER],
        office=_line(lang, t(lang, "report.office_total"), r.office.figures, r.office.weeks_met, None,
                     series(report, None), bg=TOTAL_BG, bold=True),
        teams=teams, review=[lines[m.name] for m in r.managers if m.dismissal_review],
        log=report.log, log_total=report.log.total(),
        see_workbook=t(lang, "report.period.see_workbook", file="summary.xlsx"),
    )


@dataclass(frozen=True)
class WeekRow:
    """One week of a manager's period page."""

    week: str
    assessed: bool
    attainment: str
    tasks: list[str]   # "87 / 100" per item
    fines: str
    commission: str
    net: str
    net_colour: str
    met: str
    bg: str


@dataclass(frozen=True)
class PeriodManagerPage:
    lang: str
    L: dict[str, str]
    title: str
    name: str
    team: str
    period: str
    partial: str
    generated: str
    legend: str
    line: PeriodLine
    trend: list[Point]
    item_labels: list[str]
    weeks: list[WeekRow]
    amounts: list[tuple[str, str, bool, str]]   # (label, amount, bold, colour)


def manager_page(report: PeriodReport, name: str) -> PeriodManagerPage:
    lang = report.lang
    m = report.managers[name]
    f = m.figures
    line = _line(lang, name, f, m.weeks_met, m.weeks_assessed, series(report, {name}, True), streak=str(m.max_streak))
    rows = []
    for week in report.all_weeks:
        entries = report.entries.get(week)
        entry = entries.get(name) if entries is not None else None
        if entry is None:
            why = "report.period.not_closed" if entries is None else "report.period.not_assessed"
            rows.append(WeekRow(week, False, t(lang, why), ["", "", ""], "", "", "", "#111827", "", "#f9fafb"))
            continue
        assessed = entry["active_days"] > 0
        pct = attainment(entry["achieved"], entry["targets"]) if assessed else None
        net = Decimal(entry["net"])
        rows.append(WeekRow(
            week, assessed, f"{pct}%" if pct is not None else t(lang, "report.period.not_assessed"),
            [f"{entry['achieved'][i]} / {entry['targets'][i]}" for i in ITEMS_ORDER],
            _money(Decimal(entry["fines"]["total"])), _money(Decimal(entry["commission"]["total"])), _money(net),
            RED if net < 0 else "#111827",
            (t(lang, "report.yes") if entry["met"] else t(lang, "report.no")) if assessed else "",
            "" if entry["met"] or not assessed else "#fff7ed"))
    black = "#111827"
    amounts = [
        (t(lang, "report.col.commission_visit"), _money(f.commission.visit), False, black),
        (t(lang, "report.col.commission_lead"), _money(f.commission.lead), False, black),
        (t(lang, "report.col.commission_total"), _money(f.commission.total), True, black),
        (t(lang, "report.period.col.clawback"), _money(f.clawback), False, RED if f.clawback < 0 else black),
        (t(lang, "report.period.col.adjustment"), _money(f.adjustment), False, RED if f.adjustment < 0 else black),
        (t(lang, "report.col.fines_total"), _money(-f.fines.total), False, RED if f.fines.total else black),
        (t(lang, "report.col.net"), _money(f.net), True, RED if f.net < 0 else black),
    ]
    return PeriodManagerPage(
        lang=lang, L=labels(lang), title=t(lang, "report.period.title.manager", name=name, period=report.name),
        name=name, team=team_name(lang, m.team), period=_dates(report), partial=_partial(report),
        generated=_source(report), legend=t(lang, "report.period.legend"), line=line,
        trend=series(report, {name}, True, PAGE_CHART_PX),
        item_labels=[t(lang, f"report.item.{i}") for i in ITEMS_ORDER], weeks=rows, amounts=amounts)


# --- writing -------------------------------------------------------------------------------------

def render_summary(report: PeriodReport) -> str:
    return environment().get_template("period_summary.html").render(page=summary_page(report))


def write_period_json(report: PeriodReport, folder: Path) -> None:
    (folder / "period.json").write_text(json.dumps(report.results.to_json(), ensure_ascii=False, indent=2) + "\n",
                                        encoding="utf-8")


def write_period_html(report: PeriodReport, folder: Path) -> None:
    # streamed to the file: a quarter's summary of a big office is tens of MB as one string
    environment().get_template("period_summary.html").stream(page=summary_page(report)).dump(
        str(folder / "summary.html"), encoding="utf-8")
    template = environment().get_template("period_manager.html")
    out = folder / "managers"
    out.mkdir(parents=True, exist_ok=True)
    for name, stem in report.stems().items():
        (out / f"{stem}.html").write_text(template.render(page=manager_page(report, name)), encoding="utf-8")


def write_period(report: PeriodReport, folder: Path) -> None:
    """Every file of the period's folder into `folder` (the run renames it into place)."""
    from .period_xlsx import write_period_xlsx

    folder.mkdir(parents=True, exist_ok=True)
    write_period_json(report, folder)
    write_period_xlsx(report, folder / "summary.xlsx")
    write_period_html(report, folder)


__all__ = ["PeriodReport", "Point", "manager_page", "series", "summary_page", "write_period"]
