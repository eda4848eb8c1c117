"""ISO weeks (SPEC §3): Monday 00:00:00 to Sunday 23:59:59, named like `2026-W48`."""

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
