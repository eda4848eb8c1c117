"""SPEC §8 in one place: months and quarters (一周一小结，每月一大结) and `period.json`.

A week belongs to the month that holds its Thursday (so 2026-W44, Monday 2026-10-26, is
October's, and 2026-W49, Monday 2026-11-30, December's); a quarter is three months. A period is
a pure function of its closed weeks' stored results (`build`): nothing is re-derived from rows,
so it always agrees with the weeks people were paid by.

Neutral ground like `weeks` and `results`: the run, the reports and the mail import it; it
imports none of them. The client-visit log's monthly review (`LogReview`) is built here too,
from the weeks' `followups.json` documents (SPEC §9), so that the month's report only places it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .normalise import fmt_money
from .results import ZERO, Earned, Fines, Tasks
from .weeks import Week

SCHEMA = 1
TASKS = ("leads", "visits", "units")           # the order of period.json's task objects (§5.1)
ITEMS_ORDER = ("units", "visits", "leads")     # SPEC §1's order, as the reports list the tasks
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")


def attainment(achieved: Mapping[str, int], targets: Mapping[str, int]) -> int | None:
    """A week's (or a group's) attainment in whole percent, rounded down: the mean over the tasks
    with a target of min(achieved / target, 1), so 100 only when every target is met. None when
    nothing had a target (not assessed)."""
    # In whole numbers (a period's pages ask this tens of thousands of times): the sum of the
    # fractions as numerator / denominator, truncated towards zero like int() of the Fraction.
    numerator, denominator, parts = 0, 1, 0
    for i in TASKS:
        target = targets[i]
        if target > 0:
            numerator = numerator * target + min(achieved[i], target) * denominator
            denominator *= target
            parts += 1
    if not parts:
        return None
    value, divisor = numerator * 100, denominator * parts
    return value // divisor if value >= 0 else -(-value // divisor)


def thursday(week: Week) -> date:
    return week.monday + timedelta(days=3)


@dataclass(frozen=True, order=True)
class Period:
    """A month (`2026-11`) or a quarter (`2026-Q4`)."""

    year: int
    kind: str          # month | quarter
    number: int        # 1..12 for a month, 1..4 for a quarter

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2026-11` (or `2026-1`) or `2026-Q4`; anything else raises ValueError saying what to write."""
        value = text.strip()
        if match := _MONTH.fullmatch(value):
            month = int(match.group(2))
            if not 1 <= month <= 12:
                raise ValueError(f"{text!r}: there is no month {match.group(2)}; "
                                 "write a month like 2026-11 or a quarter like 2026-Q4")
            return cls(int(match.group(1)), "month", month)
        if match := _QUARTER.fullmatch(value):
            return cls(int(match.group(1)), "quarter", int(match.group(2)))
        raise ValueError(f"{text!r} is not a period: write a month like 2026-11 or a quarter like 2026-Q4")

    @classmethod
    def month_of(cls, week: Week) -> Period:
        day = thursday(week)
        return cls(day.year, "month", day.month)

    @classmethod
    def quarter_of(cls, week: Week) -> Period:
        day = thursday(week)
        return cls(day.year, "quarter", (day.month - 1) // 3 + 1)

    @property
    def is_quarter(self) -> bool:
        return self.kind == "quarter"

    def months(self) -> list[Period]:
        if not self.is_quarter:
            return [self]
        return [Period(self.year, "month", 3 * (self.number - 1) + i) for i in (1, 2, 3)]

    def weeks(self) -> list[Week]:
        """Every week of the period, oldest first: those whose Thursday lies in its months."""
        out: list[Week] = []
        for month in self.months():
            first = date(month.year, month.number, 1)
            day = first + timedelta(days=(3 - first.weekday()) % 7)      # the month's first Thursday
            while day.month == month.number:
                out.append(Week.of(day))
                day += timedelta(days=7)
        return out

    @property
    def start(self) -> date:
        """The Monday of the period's first week."""
        return self.weeks()[0].monday

    @property
    def end(self) -> date:
        """The Sunday of the period's last week."""
        return self.weeks()[-1].sunday

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}" if self.is_quarter else f"{self.year}-{self.number:02d}"


def closed_by(week: Week) -> list[Period]:
    """The periods whose last week is `week` (the next week's Thursday is in another month): its
    month, and its quarter too when that month ends one. Empty for any other week."""
    month = Period.month_of(week)
    if Period.month_of(week.next()) == month:
        return []
    return [month, Period.quarter_of(week)] if month.number % 3 == 0 else [month]


# --- period.json ---------------------------------------------------------------------------------



@dataclass(frozen=True, slots=True)
class Figures:
    """Counts and money summed over weeks (a manager's) or over managers (a team's, the office's)."""

    targets: Tasks
    achieved: Tasks
    shortfall: Tasks
    fines: Fines
    commission: Earned
    clawback: Decimal
    adjustment: Decimal
    net: Decimal

    @classmethod
    def of_week(cls, m: dict[str, Any]) -> Figures:
        """A manager's entry of a weekly results.json; `clawback` and `adjustment` read as 0.00
        where the week's results predate them."""
        return cls(Tasks.from_json(m["targets"]), Tasks.from_json(m["achieved"]), Tasks.from_json(m["shortfall"]),
                   Fines.from_json(m["fines"]), Earned.from_json(m["commission"]),
                   Decimal(m.get("clawback", "0.00")), Decimal(m.get("adjustment", "0.00")), Decimal(m["net"]))

    @classmethod
    def sum(cls, parts: Iterable[Figures]) -> Figures:
        items = list(parts)

        def tasks(pick: str) -> Tasks:
            got = [getattr(f, pick) for f in items]
            return Tasks(*(sum(getattr(t, k) for t in got) for k in ("leads", "visits", "units")))

        def money(pick: str, keys: tuple[str, ...]) -> list[Decimal]:
            got = [getattr(f, pick) for f in items]
            return [sum((getattr(x, k) for x in got), ZERO) for k in keys]

        return cls(tasks("targets"), tasks("achieved"), tasks("shortfall"),
                   Fines(*money("fines", ("leads", "visits", "units", "total"))),
                   Earned(*money("commission", ("visit", "lead", "total"))),
                   sum((f.clawback for f in items), ZERO), sum((f.adjustment for f in items), ZERO),
                   sum((f.net for f in items), ZERO))

    def to_json(self) -> dict[str, Any]:
        return {"targets": self.targets.to_json(), "achieved": self.achieved.to_json(),
                "shortfall": self.shortfall.to_json(), "fines": self.fines.to_json(),
                "commission": self.commission.to_json(), "clawback": fmt_money(self.clawback),
                "adjustment": fmt_money(self.adjustment), "net": fmt_money(self.net)}


@dataclass(frozen=True, slots=True)
class ManagerPeriod:
    name: str
    team: str              # the team of the manager's latest week in the period
    weeks_assessed: int    # weeks with active_days > 0
    weeks_met: int         # of those, weeks with met true
    figures: Figures
    max_streak: int
    dismissal_review: bool  # any week had it

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "team": self.team, "weeks_assessed": self.weeks_assessed,
                "weeks_met": self.weeks_met, **self.figures.to_json(), "max_streak": self.max_streak,
                "dismissal_review": self.dismissal_review}


@dataclass(frozen=True, slots=True)
class Group:
    """A team's or the office's sums over its managers."""

    managers: int
    weeks_met: int
    figures: Figures

    @classmethod
    def of(cls, managers: Sequence[ManagerPeriod]) -> Group:
        return cls(len(managers), sum(m.weeks_met for m in managers), Figures.sum(m.figures for m in managers))

    def to_json(self) -> dict[str, Any]:
        return {"managers": self.managers, "weeks_met": self.weeks_met, **self.figures.to_json()}


@dataclass(frozen=True, slots=True)
class PeriodResults:
    """period.json (SPEC §8)."""

    period: str
    start: str
    end: str
    weeks: list[str]       # the period's closed weeks, oldest first
    complete: bool         # every week of the period is closed
    managers: list[ManagerPeriod]
    teams: list[tuple[str, Group]]
    office: Group

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "period": self.period, "start": self.start, "end": self.end,
            "weeks": list(self.weeks), "complete": self.complete,
            "managers": [m.to_json() for m in self.managers],
            "teams": [{"team": name, **group.to_json()} for name, group in self.teams],
            "office": self.office.to_json(),
        }


def build(period: Period, weekly: Iterable[dict[str, Any]]) -> PeriodResults:
    """period.json from the stored results (results.json documents) of the period's closed weeks.
    A document of a week outside the period raises ValueError."""
    own = {str(w) for w in period.weeks()}
    docs = sorted(weekly, key=lambda d: Week.parse(d["week"]))
    strays = [d["week"] for d in docs if d["week"] not in own]
    if strays:
        raise ValueError(f"{', '.join(strays)} not in {period}")
    rows: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        for m in doc["managers"]:
            rows.setdefault(m["name"], []).append(m)
    managers = []
    for name in sorted(rows):
        entries = rows[name]
        assessed = [m for m in entries if m["active_days"] > 0]
        managers.append(ManagerPeriod(
            name, entries[-1]["team"], len(assessed), sum(1 for m in assessed if m["met"]),
            Figures.sum(Figures.of_week(m) for m in entries), max(int(m["streak"]) for m in entries),
            any(m["dismissal_review"] for m in entries)))
    by_team: dict[str, list[ManagerPeriod]] = {}
    for m in managers:
        by_team.setdefault(m.team, []).append(m)
    weeks = [d["week"] for d in docs]
    return PeriodResults(str(period), period.start.isoformat(), period.end.isoformat(), weeks,
                         set(weeks) == own, managers,
                         [(team, Group.of(by_team[team])) for team in sorted(by_team)], Group.of(managers))


# --- the client-visit log's review (SPEC §9 "the month's report reviews the log") ----------------

@dataclass(frozen=True, slots=True)
class LogLine:
    """One person's part of the month's log review: contacts logged and issues raised (by the
    manager who logged them), issues answered during the period and overdue at its end (by the
    person who follows them up, 谁走访谁督办)."""

    name: str
    logged: int
    raised: int
    answered: int
    overdue: int


@dataclass(frozen=True, slots=True)
class LogReview:
    """The period's review of the client-visit log; `lines` by name. Empty (`available` false)
    where the weeks have no log figures."""

    lines: list[LogLine] = field(default_factory=list)
    available: bool = False

    def total(self) -> LogLine:
        return LogLine("", *(sum(getattr(x, k) for x in self.lines) for k in ("logged", "raised", "answered",
                                                                                "overdue")))


def log_review(period: Period, followups: Sequence[dict[str, Any]]) -> LogReview:
    """The log review from the `followups.json` documents (SPEC §9) of the period's closed weeks:
    `logged` sums each week's `contacts`; `raised` counts the distinct items (by manager, client
    and contact time) contacted within the period; `answered` the distinct items a week of the
    period lists as answered during it; `overdue` is the last closed week's `people` figure (the
    month's end when the period is complete). No documents: an empty review."""
    if not followups:
        return LogReview()
    docs = sorted(followups, key=lambda d: Week.parse(d["week"]))
    first, last = period.start.isoformat(), (period.end + timedelta(days=1)).isoformat()
    logged: dict[str, int] = {}
    raised: dict[str, set[tuple[str, str, str]]] = {}
    answered: dict[str, set[tuple[str, str, str]]] = {}
    for doc in docs:
        for c in doc.get("contacts", []):
            logged[c["manager"]] = logged.get(c["manager"], 0) + int(c["logged"])
        for item in doc.get("items", []):
            key = (item["manager"], item["client"], item["contacted_at"])
            if first <= item["contacted_at"] < last:
                raised.setdefault(item["manager"], set()).add(key)
            if item.get("state") == "answered":
                answered.setdefault(item["owner"], set()).add(key)
    overdue = {p["name"]: int(p["overdue"]) for p in docs[-1].get("people", [])}
    names = sorted({*logged, *raised, *answered, *(n for n, k in overdue.items() if k)})
    return LogReview([LogLine(n, logged.get(n, 0), len(raised.get(n, ())), len(answered.get(n, ())),
                              overdue.get(n, 0)) for n in names], available=True)
