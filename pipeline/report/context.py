"""Typed contexts for the report writers: the week grouped once, and one dataclass per page.

`index_week` makes one pass over the week's lists and groups deals, rejections, leads, visits and
units by manager, managers by team, and leaders by team. The workbook and page writers read from
that index only, so 500 statements cost one pass over 100,000 rows, not 500.

Templates do no arithmetic: percentages, bar widths, colours, masked phones and every formatted
label are computed here (datasette's `template_contexts.py` habit), and a template only places them.

Manager statements never show a raw rejection message. Messages such as `ALREADY_REGISTERED`
name the phone's other owner, who may be another manager; a statement shows the reason's label and
a fix hint built from the reason code alone, with the source file, sheet and row to find it by.
The leaders' summary keeps the raw messages.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, NamedTuple

from ..normalise import mask_phone
from ..records import Person
from ..texts import KIND_NAMES, TEXTS, t
from .model import TREND_WEEKS, Lead, Unit, Visit, WeekReport

ITEMS = ("units", "visits", "leads")        # SPEC §1 order: the weekly tasks as the office lists them
COMMISSION_KINDS = ("visit", "lead")
ZERO = Decimal("0.00")

GREEN, AMBER, RED, GREY = "#16a34a", "#d97706", "#dc2626", "#9ca3af"
TRACK = "#e5e7eb"
REVIEW_BG, WARN_BG, TOTAL_BG, SUBTOTAL_BG = "#fde2e2", "#fef3c7", "#dbeafe", "#eef2ff"


# --- small helpers -------------------------------------------------------------------------------

def money(value: Any) -> Decimal:
    """A results.json amount ("1987.00") as an exact Decimal; None counts as zero."""
    return ZERO if value is None else Decimal(str(value))


def fmt_cny(amount: Decimal) -> str:
    """`12,345.00`, `-213.00`: the CNY display of pages (workbooks format numbers themselves)."""
    return f"{amount:,.2f}"


def fmt_when(iso: str | None) -> str:
    """An ISO date-time for a page: `2026-11-25 14:30`, or the date alone at midnight."""
    if not iso:
        return ""
    day, _, clock = iso.partition("T")
    if not clock or clock.startswith("00:00:00"):
        return day
    return f"{day} {clock[:5]}"


def mask(value: str | None) -> str:
    """A customer phone for pages: `138****8000`.

    Valid numbers go through `normalise.mask_phone`; anything else that carries seven or more digits
    (a rejected `INVALID_PHONE` value as read) is masked the same way, so no page shows a number whole.
    """
    if not value:
        return ""
    masked = mask_phone(value)
    if masked != value:
        return masked
    if sum(ch.isdigit() for ch in value) >= 7 and len(value) >= 7:
        return value[:3] + "****" + value[-4:]
    return value


def week_of(iso: str | None) -> str:
    """The ISO week (`2026-W48`) of an ISO date-time."""
    if not iso:
        return ""
    year, week, _ = date.fromisoformat(iso[:10]).isocalendar()
    return f"{year}-W{week:02d}"


def correction_lines(lang: str, results: dict[str, Any], name: str, phone: Any = mask) -> list[str]:
    """Each correction of manager `name` in the week (SPEC §7), in one plain sentence, in the
    order results.json lists them: clawbacks (which unit was given back, which week's deal,
    how much), adjustments (who approved how much and why), rulings giving them a customer or
    taking one away. `phone` shows a customer's number (masked for pages and emails)."""
    lines: list[str] = []

    def late(entry: dict[str, Any]) -> str:
        return t(lang, "correction.late") if entry.get("late") else ""

    for c in results.get("clawbacks", []):
        if c.get("manager") != name:
            continue
        deal = c.get("deal") or {}
        room = t(lang, "correction.clawback_room", room=c["room"]) if c.get("room") else ""
        lines.append(t(lang, "correction.clawback", cancelled=fmt_when(c.get("cancelled_at")), phone=phone(c["phone"]),
                       room=room, deal_week=week_of(deal.get("deal_at")), deal_at=fmt_when(deal.get("deal_at")),
                       amount=fmt_cny(-money(c["amount"]))) + late(c))  # "taken back 2,000.00"
    for a in results.get("adjustments", []):
        if a.get("manager") != name:
            continue
        lines.append(t(lang, "correction.adjustment", approver=a["approved_by"], at=fmt_when(a.get("adjusted_at")),
                       amount=fmt_cny(money(a["amount"])), reason=a.get("reason") or t(lang, "correction.no_reason"))
                     + late(a))
    for r in results.get("rulings", []):
        if r.get("owner") == name:
            previous = (t(lang, "correction.ruled_previous", owner=r["previous_owner"])
                        if r.get("previous_owner") else "")
            lines.append(t(lang, "correction.ruled_to", approver=r["approved_by"], at=fmt_when(r.get("ruled_at")),
                           phone=phone(r["phone"]), previous=previous) + late(r))
        elif r.get("previous_owner") == name:
            lines.append(t(lang, "correction.ruled_away", approver=r["approved_by"], at=fmt_when(r.get("ruled_at")),
                           phone=phone(r["phone"]), owner=r["owner"]) + late(r))
    return lines


@cache
def labels(lang: str) -> dict[str, str]:
    """Every fixed report label of `lang`, keyed without the `report.` prefix (for templates).

    Computed once per language and shared by every page: read it, do not change it."""
    out: dict[str, str] = {}
    for key, entry in TEXTS.items():
        if key.startswith("report.") and "{" not in entry["zh"]:
            out[key[len("report."):]] = entry.get(lang, entry["zh"])
    return out


def reason_label(lang: str, code: str | None) -> str:
    if not code:
        return ""
    key = f"report.reason.{code}"
    return t(lang, key) if key in TEXTS else code


def fix_hint(lang: str, code: str | None) -> str:
    key = f"report.fix.{code}"
    return t(lang, key) if code and key in TEXTS else ""


def kind_label(lang: str, kind: str | None) -> str:
    if not kind:
        return ""
    names = KIND_NAMES.get(kind)
    return names.get(lang, kind) if names else kind


def commission_kind_label(lang: str, kind: str | None) -> str:
    return t(lang, f"report.kind.{kind}") if kind in COMMISSION_KINDS else ""


_UNSAFE_FILE_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


def _stem(name: str) -> tuple[str, bool]:
    """A file-name stem for `name` and whether it had to be changed."""
    stem = _UNSAFE_FILE_CHARS.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    if len(stem.encode()) > 150:           # leave room for the suffix and the extension
        stem = stem.encode()[:150].decode(errors="ignore")
    return stem or "_", stem != name


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def manager_stems(names: list[str]) -> dict[str, str]:
    """File-name stem of each manager's statement: `managers/<stem>.xlsx` and `.html`.

    A name that is safe as a file name on Windows, macOS and Linux is its own stem (张伟 -> 张伟).
    Any other gets the unsafe characters replaced and a short hash of the full name appended, so
    `a/b` and `a_b` stay two files; names equal up to case (one file on case-insensitive disks)
    both get the hash too. Deterministic: the mail writer finds the same files from the same names.
    """
    first = {}
    for name in names:
        stem, changed = _stem(name)
        first[name] = f"{stem}-{_digest(name)}" if changed else stem
    folded = Counter(stem.casefold() for stem in first.values())
    return {name: f"{stem}-{_digest(name)}" if folded[stem.casefold()] > 1 else stem
            for name, stem in first.items()}


# --- the week, grouped once ---------------------------------------------------------------------

@dataclass
class WeekIndex:
    """The week's lists grouped by manager and by team, in one pass each."""

    managers: list[dict[str, Any]]
    deals_by: dict[str, list[dict[str, Any]]]
    rejections_by: dict[str, list[dict[str, Any]]]
    leads_by: dict[str, list[Lead]]
    visits_by: dict[str, list[Visit]]
    units_by: dict[str, list[Unit]]
    teams: list[tuple[str, list[dict[str, Any]]]]   # (team, its managers) in roster order
    leaders: dict[str, list[str]]
    dismissal_after: int
    stems: dict[str, str] = field(default_factory=dict)
    # The weeks the trends show, oldest first, this one last: (week, its managers by name).
    trend: list[tuple[str, dict[str, dict[str, Any]]]] = field(default_factory=list)
    # followups.json's items by owner, its recontacts and birthdays by manager, each in the file's order.
    followup_items_by: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    recontact_by: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    birthdays_by: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def leaders_text(self, lang: str, team: str) -> str:
        names = self.leaders.get(team) or []
        return t(lang, "report.leaders_sep").join(names) if names else t(lang, "report.none")

    def warn_streak(self) -> int:
        """The streak at which a statement warns: one missed week before dismissal review."""
        return max(1, self.dismissal_after - 1)


def _group(items: Any, key: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for item in items:
        name = item[key] if isinstance(item, dict) else getattr(item, key)
        if name:
            out.setdefault(name, []).append(item)
    return out


def _team_order(roster: list[Person], managers: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for person in roster:
        seen.setdefault(person.team, None)
    rest = sorted({m.get("team") or "" for m in managers} - set(seen))
    return [team for team in [*seen, *rest] if any((m.get("team") or "") == team for m in managers)]


# While a week's files are written, each writer asks for the index; within `indexed_once` the
# first computes it and the others reuse it (the report does not change while it is written).
_INDEXES: ContextVar[dict[int, tuple[tuple[Any, ...], WeekIndex]] | None] = ContextVar("week_indexes", default=None)


@contextmanager
def indexed_once() -> Iterator[None]:
    """Within the block, `index_week` of the same report object is computed once; a block
    within another shares the outer one's indexes."""
    if _INDEXES.get() is not None:
        yield
        return
    token = _INDEXES.set({})
    try:
        yield
    finally:
        _INDEXES.reset(token)


def index_week(report: WeekReport) -> WeekIndex:
    """The week's index (`_index_week`), made once within `indexed_once` for the same report or
    a copy of it that shares what the index is made of (`WeekReport.without_ledger`, which a
    writer's process is given: forked, it finds the index made before the fork)."""
    cache = _INDEXES.get()
    if cache is None:
        return _index_week(report)
    made_of = _indexed(report)
    hit = cache.get(id(report.results))
    if hit is None or any(a is not b for a, b in zip(hit[0], made_of, strict=True)):
        hit = cache[id(report.results)] = (made_of, _index_week(report))
    return hit[1]


def _indexed(report: WeekReport) -> tuple[Any, ...]:
    """What `_index_week` reads of the report (the cache keeps them, so their identities stay theirs)."""
    return (report.results, report.roster, report.run, report.leads, report.visits, report.units, report.earlier,
            report.week, report.followups)


def _index_week(report: WeekReport) -> WeekIndex:
    managers = list(report.results.get("managers", []))
    by_team: dict[str, list[dict[str, Any]]] = {}
    for m in managers:
        by_team.setdefault(m.get("team") or "", []).append(m)
    leaders: dict[str, list[str]] = {}
    for person in report.roster:
        if person.role == "leader":
            leaders.setdefault(person.team, []).append(person.name)
    assessment = report.run.config.get("assessment") if isinstance(report.run.config, dict) else None
    after = assessment.get("dismissal_after_weeks", 4) if isinstance(assessment, dict) else 4
    return WeekIndex(
        managers=managers,
        deals_by=_group(report.results.get("deals", []), "manager"),
        rejections_by=_group(report.results.get("rejections", []), "manager"),
        leads_by=_group(report.leads, "manager"),
        visits_by=_group(report.visits, "manager"),
        units_by=_group(report.units, "manager"),
        teams=[(team, by_team[team]) for team in _team_order(report.roster, managers)],
        leaders=leaders,
        dismissal_after=int(after),
        stems=manager_stems([m["name"] for m in managers]),
        trend=[(week, {m["name"]: m for m in rows})
               for week, rows in [*report.earlier[-(TREND_WEEKS - 1):], (report.week, managers)]],
        followup_items_by=_group(report.followups.get("items", []), "owner"),
        recontact_by=_group(report.followups.get("recontact", []), "manager"),
        birthdays_by=_group(report.followups.get("birthdays", []), "manager"),
    )


@dataclass(frozen=True)
class Totals:
    """Sums over some managers, exact."""

    targets: dict[str, int]
    achieved: dict[str, int]
    shortfall: dict[str, int]
    fines: dict[str, Decimal]          # per item and "total"
    commission: dict[str, Decimal]     # per kind and "total"
    clawback: Decimal
    adjustment: Decimal
    net: Decimal
    count: int
    met: int
    reviews: int


def totals_of(managers: list[dict[str, Any]]) -> Totals:
    targets = dict.fromkeys(ITEMS, 0)
    achieved = dict.fromkeys(ITEMS, 0)
    shortfall = dict.fromkeys(ITEMS, 0)
    fines = dict.fromkeys([*ITEMS, "total"], ZERO)
    commission = dict.fromkeys([*COMMISSION_KINDS, "total"], ZERO)
    clawback = adjustment = net = ZERO
    for m in managers:
        for item in ITEMS:
            targets[item] += m["targets"][item]
            achieved[item] += m["achieved"][item]
            shortfall[item] += m["shortfall"][item]
        for key in fines:
            fines[key] += money(m["fines"][key])
        for key in commission:
            commission[key] += money(m["commission"][key])
        clawback += money(m["clawback"])
        adjustment += money(m["adjustment"])
        net += money(m["net"])
    return Totals(targets, achieved, shortfall, fines, commission, clawback, adjustment, net, len(managers),
                  sum(1 for m in managers if m["met"]), sum(1 for m in managers if m["dismissal_review"]))


# --- page contexts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    """A progress bar: `pct` of the track filled in `colour`, `rest` left empty."""

    text: str          # "87 / 100"
    pct_text: str      # "87%", or "—" when there is no target
    pct: int           # 0..100
    rest: int          # 100 - pct
    colour: str


def bar(achieved: int, target: int, colour: str | None = None) -> Bar:
    """Progress of `achieved` toward `target`: green when met, amber from half way, red below."""
    if target <= 0:
        return Bar(f"{achieved}", "—", 0, 100, GREY)
    pct = min(100, achieved * 100 // target)
    colour = colour or (GREEN if achieved >= target else AMBER if pct >= 50 else RED)
    return Bar(f"{achieved} / {target}", f"{pct}%", pct, 100 - pct, colour)


# --- trends: the last weeks as small bar charts -------------------------------------------------

TREND_HEIGHT = 24      # px of a full (100 %) trend bar


def attainment(managers: list[dict[str, Any]]) -> int | None:
    """How much of their targets `managers` achieved in a week, in whole percent (rounded down).

    Per task, each manager's achieved is capped at their target (one manager's surplus does not
    hide another's shortfall), summed, and divided by the targets' sum; the result is the mean of
    the tasks that had a target. None when none had (nobody was assessed)."""
    shares = []
    for item in ITEMS:
        target = sum(m["targets"][item] for m in managers)
        if target > 0:
            shares.append(Decimal(sum(min(m["achieved"][item], m["targets"][item]) for m in managers)) / target)
    if not shares:
        return None
    return int(sum(shares) * 100 / len(shares))


@dataclass(frozen=True)
class TrendBar:
    """One week of a trend chart: a bar `height` px high under a `gap` (the two add up to
    `TREND_HEIGHT`), so every bar cell is the same height in any mail client."""

    week: str
    height: int
    gap: int
    colour: str
    label: str         # "2026-W48：达成 87%": the bar's title and its text for screen readers


def trend_bar(lang: str, week: str, managers: list[dict[str, Any]]) -> TrendBar:
    """The bar of `managers` (one, a team or everyone) in `week`: green when all met every target,
    amber from half of the targets, red below; no bar when nobody was assessed."""
    pct = attainment(managers)
    if pct is None:
        return TrendBar(week, 0, TREND_HEIGHT, GREY, t(lang, "report.trend.absent", week=week))
    height = max(2, min(TREND_HEIGHT, (pct * TREND_HEIGHT + 50) // 100))
    met = all(m["met"] for m in managers if m["active_days"])
    colour = GREEN if met else AMBER if pct >= 50 else RED
    return TrendBar(week, height, TREND_HEIGHT - height, colour, t(lang, "report.trend.bar", week=week, pct=pct))


@dataclass(frozen=True)
class TrendHead:
    """The trend column's heading on the summary, and how to read it."""

    heading: str       # 近8周达成率
    legend: str        # the weeks shown and how to read the bars
    note: str


def trend_head(lang: str, index: WeekIndex) -> TrendHead:
    weeks = [week for week, _ in index.trend] or [""]
    heading, note = t(lang, "report.col.trend", n=TREND_WEEKS), t(lang, "report.trend.note")
    return TrendHead(heading, t(lang, "report.trend.legend", heading=heading, first=weeks[0], last=weeks[-1],
                                note=note), note)


def _assessed(managers: Any) -> list[dict[str, Any]]:
    return [m for m in managers if m["active_days"]]


def manager_trend(lang: str, index: WeekIndex, name: str) -> list[TrendBar]:
    """`name`'s bar in each week of the trend (`trend_bar` of them alone, when assessed)."""
    bars = []
    for week, by_name in index.trend:
        m = by_name.get(name)
        if m is None or not m["active_days"]:
            bars.append(_one_bar(lang, week))
        else:
            achieved, targets = m["achieved"], m["targets"]
            bars.append(_one_bar(lang, week, tuple(achieved[i] for i in ITEMS), tuple(targets[i] for i in ITEMS),
                                 bool(m["met"])))
    return bars


@lru_cache(maxsize=8192)
def _one_bar(lang: str, week: str, achieved: tuple[int, ...] = (), targets: tuple[int, ...] = (),
             met: bool = False) -> TrendBar:
    """`trend_bar` of one manager (none when `achieved` is empty: not assessed), made once for
    each week's figures: what it reads of the manager's row, given by value."""
    if not achieved:
        return trend_bar(lang, week, [])
    m = {"achieved": dict(zip(ITEMS, achieved, strict=True)), "targets": dict(zip(ITEMS, targets, strict=True)),
         "met": met, "active_days": 1}
    return trend_bar(lang, week, [m])


def team_trends(lang: str, index: WeekIndex) -> tuple[dict[str, list[TrendBar]], list[TrendBar]]:
    """Each team's trend (its members as each week's results list them) and the office's."""
    teams: dict[str, list[TrendBar]] = {team: [] for team, _ in index.teams}
    office = []
    for week, by_name in index.trend:
        assessed = _assessed(by_name.values())
        office.append(trend_bar(lang, week, assessed))
        members: dict[str, list[dict[str, Any]]] = {}
        for m in assessed:
            members.setdefault(m.get("team") or "", []).append(m)
        for team, bars in teams.items():
            bars.append(trend_bar(lang, week, members.get(team, [])))
    return teams, office


@dataclass(frozen=True)
class HistoryWeek:
    """One week of a statement's history: per task achieved against target, then fines and net."""

    week: str
    note: str          # "本周" for the week of the statement, "本周未考核" when not assessed
    bars: list[Bar]    # per task (ITEMS order); empty when not assessed
    amounts: str       # "罚款 213.00 · 净额 1,987.00"
    net_colour: str
    bold: bool


@dataclass(frozen=True)
class History:
    heading: str
    item_labels: list[str]
    weeks: list[HistoryWeek]   # oldest first, the statement's week last


def manager_history(lang: str, index: WeekIndex, name: str) -> History:
    """The manager's own last weeks, as the closed weeks' results say (never recomputed)."""
    words = _history_words(lang)
    weeks = []
    last = len(index.trend) - 1
    for i, (week, by_name) in enumerate(index.trend):
        m = by_name.get(name)
        if m and m["active_days"]:
            note = words.this_week if i == last else ""
            targets, achieved = m["targets"], m["achieved"]
            bars = [_bar_of(achieved[item], targets[item]) for item in ITEMS]
        else:
            note = words.not_assessed if i == last else words.absent
            bars = []
        fines, (net, colour) = (_cny_of(m["fines"]["total"]), _net_of(m["net"])) if m else (_ZERO_CNY, _ZERO_NET)
        weeks.append(HistoryWeek(week, note, bars, words.fines_net.format(fines=fines, net=net), colour, i == last))
    return History(words.heading, list(words.item_labels), weeks)


class _HistoryWords(NamedTuple):
    """The fixed words of a statement's history in one language."""

    heading: str
    item_labels: tuple[str, ...]
    this_week: str
    not_assessed: str
    absent: str
    fines_net: str     # the format of a week's amounts, {fines} and {net}


@cache
def _history_words(lang: str) -> _HistoryWords:
    entry = TEXTS["report.history.fines_net"]
    return _HistoryWords(t(lang, "report.h.history", n=TREND_WEEKS), tuple(t(lang, f"report.item.{i}") for i in ITEMS),
                         t(lang, "report.this_week"), t(lang, "report.not_assessed"), t(lang, "report.absent"),
                         entry.get(lang, entry["zh"]))


@lru_cache(maxsize=4096)
def _bar_of(achieved: int, target: int) -> Bar:
    """`bar(achieved, target)`, each made once: a history's bars repeat from manager to manager."""
    return bar(achieved, target)


@lru_cache(maxsize=4096)
def _cny_of(amount: Any) -> str:
    """`fmt_cny(money(amount))` of a results.json amount, each made once (fines repeat)."""
    return fmt_cny(money(amount))


@lru_cache(maxsize=4096)
def _net_of(amount: Any) -> tuple[str, str]:
    """A net amount as a page shows it, and its colour (`_net_colour`)."""
    net = money(amount)
    return fmt_cny(net), _net_colour(net)


_ZERO_CNY = fmt_cny(ZERO)
_ZERO_NET = (_ZERO_CNY, "#111827")


@dataclass(frozen=True)
class Line:
    """One row of the dashboard: a manager, a team total or the office total."""

    name: str
    note: str          # "" or a short flag such as the streak warning
    bars: list[Bar]
    fines: str
    commission: str
    clawback: str
    adjustment: str
    net: str
    net_colour: str
    streak: str
    bg: str            # row background ("" for none)
    bold: bool
    trend: list[TrendBar] = field(default_factory=list)   # attainment over the trend's weeks


@dataclass(frozen=True)
class TeamBlock:
    name: str
    heading: str       # leaders and head count
    lines: list[Line]
    total: Line


@dataclass(frozen=True)
class Flagged:
    name: str
    team: str
    streak: int
    shortfall: str     # e.g. "拓展单位 2、诚意号码 13"


@dataclass(frozen=True)
class ReasonCount:
    code: str
    label: str
    count: int
    bar: Bar


@dataclass(frozen=True)
class SummaryPage:
    lang: str
    L: dict[str, str]
    title: str
    period: str
    generated: str
    counts: str
    item_labels: list[str]
    office: Line
    teams: list[TeamBlock]
    review_heading: str
    review: list[Flagged]
    warning: list[Flagged]
    reasons: list[ReasonCount]
    rejected: int
    see_workbook: str
    trend: TrendHead
    corrections: list[str]   # "name: sentence", every manager's corrections (`correction_lines`)
    followups: TeamFollowUps | None = None


def _count_bar(count: int, top: int) -> Bar:
    """A bar relative to the largest count, labelled with the count alone."""
    pct = count * 100 // top if top else 0
    return Bar(str(count), "", pct, 100 - pct, "#6b7280")


def _net_colour(net: Decimal) -> str:
    return RED if net < 0 else "#111827"


def _line_of_manager(lang: str, m: dict[str, Any], warn_at: int, trend: list[TrendBar]) -> Line:
    streak = int(m["streak"])
    if m["dismissal_review"]:
        bg, note = REVIEW_BG, t(lang, "report.col.dismissal_review")
    elif streak >= warn_at:
        bg, note = WARN_BG, t(lang, "report.col.streak") + f" {streak}"
    else:
        bg, note = "", ""
    if not m["active_days"]:
        note = t(lang, "report.not_assessed")
    net = money(m["net"])
    return Line(m["name"], note, [bar(m["achieved"][i], m["targets"][i]) for i in ITEMS],
                fmt_cny(money(m["fines"]["total"])), fmt_cny(money(m["commission"]["total"])),
                fmt_cny(money(m["clawback"])), fmt_cny(money(m["adjustment"])),
                fmt_cny(net), _net_colour(net), str(streak), bg, False, trend)


def _line_of_totals(name: str, totals: Totals, bg: str, trend: list[TrendBar]) -> Line:
    return Line(name, "", [bar(totals.achieved[i], totals.targets[i]) for i in ITEMS],
                fmt_cny(totals.fines["total"]), fmt_cny(totals.commission["total"]),
                fmt_cny(totals.clawback), fmt_cny(totals.adjustment), fmt_cny(totals.net), _net_colour(totals.net),
                "", bg, True, trend)


def _shortfall_text(lang: str, m: dict[str, Any]) -> str:
    parts = [f"{t(lang, f'report.item.{i}')} {m['shortfall'][i]}" for i in ITEMS if m["shortfall"][i]]
    return t(lang, "report.leaders_sep").join(parts)


def team_name(lang: str, team: str) -> str:
    return team or t(lang, "report.no_team")


def _title_office(lang: str, office: str) -> str:
    if not office:
        return ""
    return office + (" " if lang == "en" else "")


def summary_page(report: WeekReport, index: WeekIndex) -> SummaryPage:
    lang = report.lang
    warn_at = index.warn_streak()
    team_trend, office_trend = team_trends(lang, index)
    teams = []
    for team, members in index.teams:
        teams.append(TeamBlock(
            team_name(lang, team),
            t(lang, "report.team_heading", leaders=index.leaders_text(lang, team), n=len(members)),
            [_line_of_manager(lang, m, warn_at, manager_trend(lang, index, m["name"])) for m in members],
            _line_of_totals(t(lang, "report.subtotal", team=team_name(lang, team),
                                leaders=index.leaders_text(lang, team)),
                            totals_of(members), SUBTOTAL_BG, team_trend[team])))
    office = totals_of(index.managers)
    rejections = report.results.get("rejections", [])
    counted = Counter(r.get("reason") for r in rejections).most_common(10)
    top = counted[0][1] if counted else 0
    reasons = [ReasonCount(code or "", reason_label(lang, code), n, _count_bar(n, top)) for code, n in counted]
    flagged = [Flagged(m["name"], team_name(lang, m.get("team") or ""), int(m["streak"]), _shortfall_text(lang, m))
               for m in index.managers]
    review = [f for f, m in zip(flagged, index.managers, strict=True) if m["dismissal_review"]]
    warning = [f for f, m in zip(flagged, index.managers, strict=True)
               if not m["dismissal_review"] and int(m["streak"]) >= warn_at]
    corrections = [f"{m['name']}: {line}" for m in index.managers
                   for line in correction_lines(lang, report.results, m["name"])]
    return SummaryPage(
        corrections=corrections,
        lang=lang, L=labels(lang),
        title=t(lang, "report.title.summary", office=_title_office(lang, report.office), week=report.week),
        period=t(lang, "report.period", start=report.start, end=report.end),
        generated=t(lang, "report.generated", now=fmt_when(report.run.now) or report.run.now, run_id=report.run.run_id),
        counts=t(lang, "report.managers_count", n=office.count, met=office.met),
        item_labels=[t(lang, f"report.item.{i}") for i in ITEMS],
        office=_line_of_totals(t(lang, "report.office_total"), office, TOTAL_BG, office_trend),
        trend=trend_head(lang, index),
        teams=teams,
        review_heading=t(lang, "report.h.review", weeks=index.dismissal_after),
        review=review, warning=warning, reasons=reasons, rejected=len(rejections),
        see_workbook=t(lang, "report.see_workbook", file="summary.xlsx"),
        followups=team_followups(report),
    )


@dataclass(frozen=True)
class TargetRow:
    item: str
    target: int
    achieved: int
    shortfall: int
    bar: Bar
    fine: str
    shortfall_colour: str


@dataclass(frozen=True)
class AmountRow:
    label: str
    amount: str
    bold: bool
    colour: str


@dataclass(frozen=True)
class DealRow:
    when: str
    phone: str         # masked
    room: str
    salesperson: str
    kind: str
    salesperson_commission: str
    manager_commission: str
    late: str


@dataclass(frozen=True)
class RejectionRow:
    where: str         # file / sheet / row
    kind: str
    phone: str         # masked
    reason: str        # label, never the raw message
    fix: str


@dataclass(frozen=True)
class ManagerPage:
    lang: str
    L: dict[str, str]
    title: str
    name: str
    team: str
    period: str
    generated: str
    warning: str       # "" when there is nothing to warn about
    warning_bg: str
    warning_colour: str
    not_assessed: str
    targets: list[TargetRow]
    fines_total: str
    amounts: list[AmountRow]
    deals: list[DealRow]
    rejections: list[RejectionRow]
    history: History
    corrections: list[str]   # one sentence each (`correction_lines`)
    followups: MyFollowUps | None = None


def warning_text(lang: str, m: dict[str, Any], warn_at: int) -> str:
    streak = int(m["streak"])
    if m["dismissal_review"]:
        return t(lang, "report.warn.review", streak=streak)
    if streak >= warn_at:
        return t(lang, "report.warn.streak", streak=streak)
    return ""


def where(source: dict[str, Any] | None) -> str:
    if not source:
        return ""
    return f"{source.get('file', '')} / {source.get('sheet', '')} / {source.get('row', '')}"


def manager_page(report: WeekReport, index: WeekIndex, m: dict[str, Any]) -> ManagerPage:
    lang = report.lang
    name = m["name"]
    targets = [TargetRow(t(lang, f"report.item.{i}"), m["targets"][i], m["achieved"][i], m["shortfall"][i],
                         bar(m["achieved"][i], m["targets"][i]), fmt_cny(money(m["fines"][i])),
                         RED if m["shortfall"][i] else "#111827")
               for i in ITEMS]
    net = money(m["net"])
    amounts = [
        AmountRow(t(lang, "report.col.commission_visit"), fmt_cny(money(m["commission"]["visit"])), False, "#111827"),
        AmountRow(t(lang, "report.col.commission_lead"), fmt_cny(money(m["commission"]["lead"])), False, "#111827"),
        AmountRow(t(lang, "report.col.commission_total"), fmt_cny(money(m["commission"]["total"])), True, "#111827"),
        AmountRow(t(lang, "report.col.clawback"), fmt_cny(money(m["clawback"])), False,
                  RED if money(m["clawback"]) else "#111827"),
        AmountRow(t(lang, "report.col.adjustment"), fmt_cny(money(m["adjustment"])), False,
                  RED if money(m["adjustment"]) < 0 else "#111827"),
        AmountRow(t(lang, "report.col.fines_total"), fmt_cny(-money(m["fines"]["total"])), False,
                  RED if money(m["fines"]["total"]) else "#111827"),
        AmountRow(t(lang, "report.h.net"), fmt_cny(net), True, _net_colour(net)),
    ]
    yes = t(lang, "report.yes")
    deals = [DealRow(fmt_when(d.get("deal_at")), mask(d.get("phone")), d.get("room") or "", d.get("salesperson") or "",
                     commission_kind_label(lang, d.get("kind")),
                     fmt_cny(money(d.get("salesperson_commission"))), fmt_cny(money(d.get("manager_commission"))),
                     yes if d.get("late") else "")
             for d in index.deals_by.get(name, [])]
    rejections = [RejectionRow(where(r.get("source")), kind_label(lang, r.get("kind")), mask(r.get("phone")),
                               reason_label(lang, r.get("reason")), fix_hint(lang, r.get("reason")))
                  for r in index.rejections_by.get(name, [])]
    warning = warning_text(lang, m, index.warn_streak())
    return ManagerPage(
        lang=lang, L=labels(lang),
        title=t(lang, "report.title.manager", name=name, week=report.week),
        name=name, team=team_name(lang, m.get("team") or ""),
        period=t(lang, "report.period", start=report.start, end=report.end),
        generated=t(lang, "report.generated", now=fmt_when(report.run.now) or report.run.now, run_id=report.run.run_id),
        warning=warning,
        warning_bg=REVIEW_BG if m["dismissal_review"] else WARN_BG,
        warning_colour="#991b1b" if m["dismissal_review"] else "#92400e",
        not_assessed="" if m["active_days"] else t(lang, "report.not_assessed"),
        targets=targets, fines_total=fmt_cny(money(m["fines"]["total"])), amounts=amounts,
        deals=deals, rejections=rejections, history=manager_history(lang, index, name),
        corrections=correction_lines(lang, report.results, name),
        followups=my_followups(report, name, index),
    )


# --- follow-ups of the client-visit log (SPEC §9) --------------------------------------------------

@dataclass(frozen=True)
class FollowUpRow:
    """An item of followups.json as a page shows it; `status` says overdue, due soon or answered."""

    due_on: str
    client: str
    issue: str
    contacted: str
    manager: str       # who made the visit
    owner: str         # who follows it up
    status: str
    colour: str
    where: str         # file / sheet / row


@dataclass(frozen=True)
class RecontactRow:
    client: str
    last_contact: str
    days: int


@dataclass(frozen=True)
class BirthdayRow:
    client: str
    birthday: str      # MM-DD


@dataclass(frozen=True)
class MyFollowUps:
    """A person's own part of the week's follow-ups: the items they follow up (overdue first,
    then by due date; answered this week last), their keen clients to visit again, and their
    clients' birthdays next week."""

    items: list[FollowUpRow]
    recontact: list[RecontactRow]
    birthdays: list[BirthdayRow]

    @property
    def empty(self) -> bool:
        return not (self.items or self.recontact or self.birthdays)


@dataclass(frozen=True)
class OwnerBlock:
    """The overdue items of one owner, for the leaders."""

    owner: str
    count: int
    items: list[FollowUpRow]


@dataclass(frozen=True)
class ContactRow:
    manager: str
    logged: int
    keen: int
    neutral: int
    resistant: int
    bold: bool


@dataclass(frozen=True)
class TeamFollowUps:
    """The summary's part of the follow-ups: overdue items by owner, contacts by attitude."""

    open: int
    overdue: int
    answered: int
    overdue_by_owner: list[OwnerBlock]
    contacts: list[ContactRow]
    recontact: int
    birthdays: int

    @property
    def empty(self) -> bool:
        return not (self.open or self.answered or self.contacts or self.recontact or self.birthdays)


def _days_between(first: str, last: str) -> int:
    from datetime import date

    return (date.fromisoformat(last[:10]) - date.fromisoformat(first[:10])).days


def followup_row(lang: str, item: dict[str, Any], end: str) -> FollowUpRow:
    """An item of followups.json as of the week's end (`end`: its Sunday, ISO)."""
    if item["state"] == "answered":
        status, colour = t(lang, "report.fu.answered"), GREEN
    elif item["overdue"]:
        status, colour = t(lang, "report.fu.overdue", days=_days_between(item["due_on"], end)), RED
    elif _days_between(end, item["due_on"]) <= 7:
        status, colour = t(lang, "report.fu.due_soon"), AMBER
    else:
        status, colour = t(lang, "report.fu.open"), "#111827"
    return FollowUpRow(item["due_on"], item["client"], item["issue"], fmt_when(item["contacted_at"]), item["manager"],
                       item["owner"], status, colour, where(item.get("source")))


def _item_order(item: dict[str, Any]) -> tuple[int, str]:
    """Overdue first, then open ones by due date, then those answered this week."""
    rank = 0 if item["overdue"] else 1 if item["state"] == "open" else 2
    return rank, item["due_on"]


def my_followups(report: WeekReport, name: str, index: WeekIndex | None = None) -> MyFollowUps:
    """`name`'s own follow-ups: items they own, recontacts and birthdays of their own clients;
    nothing of anyone else. With the week's `index`, found there (`WeekIndex.followup_items_by`
    and the like: open items and recontacts pile up with the weeks, and every statement reads
    its own), else picked from followups.json."""
    doc, lang = report.followups, report.lang
    if index is None:
        items = [i for i in doc.get("items", []) if i["owner"] == name]
        recontact = [r for r in doc.get("recontact", []) if r["manager"] == name]
        birthdays = [b for b in doc.get("birthdays", []) if b["manager"] == name]
    else:
        items, recontact, birthdays = (index.followup_items_by.get(name, []), index.recontact_by.get(name, []),
                                       index.birthdays_by.get(name, []))
    return MyFollowUps(
        [followup_row(lang, i, report.end) for i in sorted(items, key=_item_order)],
        [RecontactRow(r["client"], fmt_when(r["last_contact"]), _days_between(r["last_contact"], report.end))
         for r in recontact],
        [BirthdayRow(b["client"], b["birthday"]) for b in birthdays],
    )


def team_followups(report: WeekReport) -> TeamFollowUps:
    """The leaders' view: every overdue item by owner, and each manager's contacts by attitude."""
    doc, lang = report.followups, report.lang
    items = doc.get("items", [])
    overdue: dict[str, list[dict[str, Any]]] = {}
    for i in items:
        if i["overdue"]:
            overdue.setdefault(i["owner"], []).append(i)
    blocks = []
    for person in doc.get("people", []):
        if person["overdue"]:
            mine = [followup_row(lang, i, report.end) for i in overdue.get(person["name"], [])]
            blocks.append(OwnerBlock(person["name"], person["overdue"], mine))
    contacts = [ContactRow(c["manager"], c["logged"], c["keen"], c["neutral"], c["resistant"], False)
                for c in doc.get("contacts", [])]
    if contacts:
        contacts.append(ContactRow(t(lang, "report.office_total"), sum(c.logged for c in contacts),
                                   sum(c.keen for c in contacts), sum(c.neutral for c in contacts),
                                   sum(c.resistant for c in contacts), True))
    return TeamFollowUps(
        open=sum(i["state"] == "open" for i in items), overdue=sum(bool(i["overdue"]) for i in items),
        answered=sum(i["state"] == "answered" for i in items), overdue_by_owner=blocks, contacts=contacts,
        recontact=len(doc.get("recontact", [])), birthdays=len(doc.get("birthdays", [])))
