"""Assessment (SPEC §4.5): active days, prorated targets, shortfalls, fines, streaks.

Pure functions of the roster, the configuration and the counts: no disk, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ..config import Config
from ..normalise import fmt_money
from ..weeks import Week

TASKS = ("leads", "visits", "units")


@dataclass(frozen=True)
class Person:
    name: str
    role: str
    team: str
    email: str
    active_from: date | None
    active_to: date | None

    def active_on(self, day: date) -> bool:
        """Roster dates only, inclusive; holidays do not matter here (work on a holiday counts)."""
        return (self.active_from is None or self.active_from <= day) and (
            self.active_to is None or day <= self.active_to)


def active_days(person: Person, week: Week, holidays: frozenset[date]) -> int:
    """Days of the week the person is active on the roster and that are not configured holidays."""
    return sum(1 for day in week.days() if person.active_on(day) and day not in holidays)


def target(weekly: int, days: int) -> int:
    """round-half-up(weekly × days / 7), exactly (integers, no floats)."""
    return int((Decimal(weekly * days) / Decimal(7)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def streak(met: bool, previous: int) -> int:
    """Consecutive assessed weeks not met, ending with this one; `previous` is the stored streak
    of the manager's last assessed week (0 if none was ever computed)."""
    return 0 if met else previous + 1


def assess(person: Person, week: Week, counts: dict[str, int], commission: dict[str, Decimal],
           previous_streak: int, config: Config) -> dict[str, object]:
    """One manager's entry of results.json `managers`."""
    days = active_days(person, week, frozenset(config.holidays))
    visit_c, lead_c = commission.get("visit", Decimal(0)), commission.get("lead", Decimal(0))
    commission_total = visit_c + lead_c
    money = {"visit": fmt_money(visit_c), "lead": fmt_money(lead_c), "total": fmt_money(commission_total)}
    if days == 0:
        zeros = dict.fromkeys(TASKS, 0)
        return {
            "name": person.name, "team": person.team, "active_days": 0,
            "targets": dict(zeros), "achieved": dict(zeros), "shortfall": dict(zeros),
            "fines": {**dict.fromkeys(TASKS, "0.00"), "total": "0.00"},
            "commission": money, "net": fmt_money(commission_total),
            "met": True, "streak": 0, "dismissal_review": False,
        }
    weekly = {"leads": config.targets.leads, "visits": config.targets.visits, "units": config.targets.units}
    rates = {"leads": config.fines.leads, "visits": config.fines.visits, "units": config.fines.units}
    targets = {k: target(weekly[k], days) for k in TASKS}
    achieved = {k: counts.get(k, 0) for k in TASKS}
    shortfall = {k: max(0, targets[k] - achieved[k]) for k in TASKS}
    fines = {k: shortfall[k] * rates[k] for k in TASKS}
    fine_total = sum(fines.values(), Decimal(0))
    met = not any(shortfall.values())
    run = streak(met, previous_streak)
    return {
        "name": person.name, "team": person.team, "active_days": days,
        "targets": targets, "achieved": achieved, "shortfall": shortfall,
        "fines": {**{k: fmt_money(v) for k, v in fines.items()}, "total": fmt_money(fine_total)},
        "commission": money, "net": fmt_money(commission_total - fine_total),
        "met": met, "streak": run, "dismissal_review": run >= config.assessment.dismissal_after_weeks,
    }
