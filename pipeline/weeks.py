"""SPEC §3 in one place: ISO weeks (Monday 00:00:00 to Sunday 23:59:59, named like `2026-W48`),
which weeks a run computes, and which rows are late."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        match = _WEEK.fullmatch(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a week like 2026-W48")
        week = cls(int(match.group(1)), int(match.group(2)))
        try:
            week.monday  # noqa: B018 - validates the week number
        except ValueError:
            raise ValueError(f"{text!r}: {match.group(1)} has no week {match.group(2)}") from None
        return week

    @classmethod
    def of(cls, day: date) -> Week:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.monday, datetime.min.time())

    @property
    def end(self) -> datetime:
        """The last second of the week."""
        return datetime.combine(self.sunday, datetime.min.time()) + timedelta(hours=23, minutes=59, seconds=59)

    @property
    def start_iso(self) -> str:
        return self.start.isoformat(timespec="seconds")

    @property
    def next_start_iso(self) -> str:
        return (self.start + timedelta(days=7)).isoformat(timespec="seconds")

    def days(self) -> list[date]:
        return [self.monday + timedelta(days=i) for i in range(7)]

    def next(self) -> Week:
        return Week.of(self.monday + timedelta(days=7))

    def previous(self) -> Week:
        return Week.of(self.monday - timedelta(days=7))

    def ended_by(self, now: datetime) -> bool:
        return now > self.end

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"


def last_complete(now: datetime) -> Week:
    """The newest week whose Sunday 23:59:59 is before `now`."""
    return Week.of(now.date()).previous()


def span(first: Week, last: Week) -> list[Week]:
    weeks = []
    week = first
    while week <= last:
        weeks.append(week)
        week = week.next()
    return weeks


class NotComputable(Exception):
    """The week asked for cannot be computed now (its rows are history)."""


def choose_weeks(closed: list[str], now: datetime, week: Week | None) -> tuple[list[Week], Week | None]:
    """(weeks to compute, closed week to re-render): the asked week, or every week from the one
    after the last closed to the last complete one."""
    last_closed = Week.parse(closed[-1]) if closed else None
    if week is not None:
        if str(week) in closed:
            return [], week
        if last_closed is None:
            return [week], None
        if week < last_closed:
            raise NotComputable(f"{week} was never computed and lies before the last closed week {last_closed}: "
                                f"its rows are history and it cannot be computed now")
        return span(last_closed.next(), week), None
    latest = last_complete(now)
    if last_closed is None:
        return [latest], None
    return span(last_closed.next(), latest), None


def history_start(first_week: str | None, weeks: list[Week]) -> str:
    """Where the history begins: the first week ever computed, or the first of these."""
    return Week.parse(first_week).start_iso if first_week else weeks[0].start_iso


def late_range(start: str, closed: list[str]) -> tuple[str, str] | None:
    """The times a late row can have: from the history's start to the end of the last closed
    week (None: no week is closed, no row is late)."""
    return (start, Week.parse(closed[-1]).next_start_iso) if closed else None


LATE_KINDS = frozenset({"leads", "visits", "units"})


def may_be_late(kind: str | None, at: str, late: tuple[str, str] | None) -> bool:
    """A leads, visits or units row dated in a closed week (`late_range`) is late unless it was
    stored before (SPEC §2.4 decides that). `at` as stored (ISO text)."""
    return late is not None and kind in LATE_KINDS and late[0] <= at < late[1]
