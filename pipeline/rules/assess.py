"""Assessment (SPEC §4.5) and pay (§7.7): active days, prorated targets, shortfalls, fines,
streaks, and net = commission + clawback + adjustment − fines.

Pure functions of the roster, the configuration and the counts: no disk, no clock.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ..config import Config
from ..records import Person
from ..results import Corrections, Earned, Fines, ManagerResult, Tasks
from ..weeks import Week

TASKS = ("leads", "visits", "units")


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
           previous_streak: int, config: Config, corrections: Corrections = Corrections()) -> ManagerResult:
    """One manager's entry of results.json `managers`; `corrections` are the week's clawbacks
    and adjustments of the manager (`results.corrections_by_manager`)."""
    days = active_days(person, week, frozenset(config.holidays))
    visit_c, lead_c = commission.get("visit", Decimal(0)), commission.get("lead", Decimal(0))
    earned = Earned(visit_c, lead_c, visit_c + lead_c)
    pay = earned.total + corrections.clawback + corrections.adjustment
    if days == 0:
        zeros = Tasks(0, 0, 0)
        return ManagerResult(person.name, person.team, 0, zeros, zeros, zeros, Fines(*[Decimal(0)] * 4), earned,
                             corrections.clawback, corrections.adjustment, pay, met=True, streak=0,
                             dismissal_review=False)
    in_force = config.at(week.monday)  # SPEC §7.6: targets and fines as on the week's Monday
    weekly = {k: getattr(in_force.targets, k) for k in TASKS}
    rates = {k: getattr(in_force.fines, k) for k in TASKS}
    targets = {k: target(weekly[k], days) for k in TASKS}
    achieved = {k: counts.get(k, 0) for k in TASKS}
    shortfall = {k: max(0, targets[k] - achieved[k]) for k in TASKS}
    fines = {k: shortfall[k] * rates[k] for k in TASKS}
    fine_total = sum(fines.values(), Decimal(0))
    met = not any(shortfall.values())
    run = streak(met, previous_streak)
    return ManagerResult(person.name, person.team, days, Tasks(**targets), Tasks(**achieved), Tasks(**shortfall),
                         Fines(**fines, total=fine_total), earned, corrections.clawback, corrections.adjustment,
                         pay - fine_total, met=met, streak=run,
                         dismissal_review=run >= config.assessment.dismissal_after_weeks)
