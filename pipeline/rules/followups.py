"""SPEC §9: the client-visit log's follow-ups as of each computed week's end (谁走访谁督办).

`followups` is pure: the stored log rows, the roster, the weeks to compute and the settings come
in; each week's `FollowUps` (followups.json) and its rejections come out. It reads the log as
it is now (the latest read of every row, SPEC §9's update rule) and judges each week as of its
end E, Sunday 23:59:59:

- `check`        UNKNOWN_MANAGER, UNKNOWN_PERSON: a rejected row counts for nothing
- `item_of`      an issue: its owner, due date, answered or open, overdue
- `recontacts`   keen clients whose latest contact is `recontact_days` or more before E
- `birthdays`    clients whose birthday falls in the 7 days after E (29 Feb: 28 Feb in other years)
- `contacts`     each manager's rows dated in the week, by attitude

A rejection is reported in the week its row is dated in; a row this run stored dated in a week
closed earlier, in the first week computed; a row dated before the first week ever computed
(history), never. Rows of any date count for items, recontacts and birthdays.
"""

from __future__ import annotations

import bisect
from calendar import isleap
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from ..config import Followups
from ..records import ClientVisit, Person
from ..results import Birthday, ContactCount, FollowUpItem, FollowUps, OwnerCount, Recontact, Rejection
from ..weeks import Week

ANSWERED = frozenset({"answered", "closed"})
ATTITUDES = ("keen", "neutral", "resistant")


@dataclass
class WeekFollowUps:
    """One computed week's follow-ups and the log's rejections reported in it (seq, rejection)."""

    followups: FollowUps
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)


def check(visit: ClientVisit, roster: dict[str, Person]) -> Rejection | None:
    """A log row's rejection, if any: its manager is not a roster manager (`UNKNOWN_MANAGER`),
    or a filled `follow_up_by` is nobody in the roster (`UNKNOWN_PERSON`). Whether either is
    active is not checked."""
    manager = roster.get(visit.manager)
    if manager is None or manager.role != "manager":
        return _reject(visit, "UNKNOWN_MANAGER")
    if visit.follow_up_by and visit.follow_up_by not in roster:
        return _reject(visit, "UNKNOWN_PERSON", person=visit.follow_up_by)
    return None


def _reject(visit: ClientVisit, reason: str, **params: str) -> Rejection:
    return Rejection("client_visits", visit.source, reason, visit.manager or None, visit.phone or None,
                     {"client": visit.client, **params})


def due_on(visit: ClientVisit, settings: Followups) -> str:
    """An issue's due date: 答复期限, or the visit's date plus `answer_days`."""
    if visit.due_on:
        return visit.due_on
    return (date.fromisoformat(visit.contacted_at[:10]) + timedelta(days=settings.answer_days)).isoformat()


def item_of(visit: ClientVisit, week: Week, settings: Followups) -> FollowUpItem | None:
    """The row's issue as of the week's end, if it belongs in followups.json: open (overdue when
    due on or before the week's Sunday), or answered during the week; None when it raised no
    issue, or was answered before the week (or answered with no date)."""
    if not visit.issue:
        return None
    sunday = week.sunday.isoformat()
    due = due_on(visit, settings)
    answered = visit.status in ANSWERED and (not visit.answered_at or visit.answered_at <= sunday)
    if answered:
        if not visit.answered_at or visit.answered_at < week.monday.isoformat():
            return None
        state, overdue = "answered", False
    else:
        state, overdue = "open", due <= sunday
    return FollowUpItem(visit.source, visit.manager, visit.client, visit.contacted_at, visit.issue,
                        visit.follow_up_by or visit.manager, due, state, overdue)


def _latest(visits: list[ClientVisit]) -> dict[tuple[str, str], ClientVisit]:
    """Each (manager, client) pair's latest row: by contact time, then order read."""
    latest: dict[tuple[str, str], ClientVisit] = {}
    for v in sorted(visits, key=lambda v: (v.contacted_at, v.seq)):
        latest[v.manager, v.client] = v
    return latest


def recontacts(visits: list[ClientVisit], week: Week, settings: Followups) -> list[Recontact]:
    """Pairs whose latest contact at or before the week's end was keen and is dated
    `recontact_days` or more before its Sunday."""
    out = []
    for (manager, client), v in sorted(_latest(visits).items()):
        days = (week.sunday - date.fromisoformat(v.contacted_at[:10])).days
        if v.attitude == "keen" and days >= settings.recontact_days:
            out.append(Recontact(manager, client, v.contacted_at))
    return out


def birthday_days(week: Week) -> set[tuple[int, int]]:
    """The (month, day) birthdays listed at the week's end: those of the 7 days after it, and
    29 February when one of them is 28 February of a year that has no 29th."""
    days = [week.sunday + timedelta(days=k) for k in range(1, 8)]
    found = {(d.month, d.day) for d in days}
    if any(d.month == 2 and d.day == 28 and not isleap(d.year) for d in days):
        found.add((2, 29))
    return found


def birthdays(visits: list[ClientVisit], week: Week) -> list[Birthday]:
    """Pairs whose latest row with a birthday has it in the week after this one."""
    wanted = birthday_days(week)
    out = []
    for (manager, client), v in sorted(_latest([v for v in visits if v.birthday]).items()):
        month, day = int(v.birthday[5:7]), int(v.birthday[8:10])
        if (month, day) in wanted:
            out.append(Birthday(manager, client, v.birthday[5:]))
    return out


def contacts(visits: list[ClientVisit], week: Week) -> list[ContactCount]:
    """Each manager with rows dated in the week: how many, and how many of each attitude. The log
    as stored now: a row first read after its week closed is in no computed week's range."""
    start, stop = week.start_iso, week.next_start_iso
    logged: Counter[str] = Counter()
    moods: Counter[tuple[str, str]] = Counter()
    for v in visits:
        if start <= v.contacted_at < stop:
            logged[v.manager] += 1
            moods[v.manager, v.attitude] += 1
    return [ContactCount(m, logged[m], *(moods[m, a] for a in ATTITUDES)) for m in sorted(logged)]


def week_followups(accepted: list[ClientVisit], week: Week, settings: Followups) -> FollowUps:
    """followups.json of one week, from the accepted rows (any date; those after it are left out)."""
    stop = week.next_start_iso
    seen = [v for v in accepted if v.contacted_at < stop]
    listed = [(item, v) for v in seen if (item := item_of(v, week, settings)) is not None]
    listed.sort(key=lambda p: (p[0].due_on, p[1].file, p[1].sheet_index, p[1].row))
    items = [item for item, _ in listed]
    people = []
    for owner in sorted({i.owner for i in items}):
        mine = [i for i in items if i.owner == owner]
        people.append(OwnerCount(owner, sum(i.state == "open" for i in mine), sum(i.overdue for i in mine),
                                 sum(i.state == "answered" for i in mine)))
    return FollowUps(str(week), items, people, contacts(seen, week), recontacts(seen, week, settings),
                     birthdays(seen, week))


def followups(visits: list[ClientVisit], roster: dict[str, Person], weeks: list[Week], history_start: str,
              run_id: str, settings: Followups) -> list[WeekFollowUps]:
    """Each week's follow-ups (contiguous weeks, oldest first) and the log's rejections reported
    in it. `visits` are the stored log rows (as last read; `run_id`: this run's)."""
    out = [WeekFollowUps(FollowUps(str(w))) for w in weeks]
    starts = [w.start_iso for w in weeks]
    first, stop = starts[0], weeks[-1].next_start_iso
    accepted = []
    for v in visits:
        problem = check(v, roster)
        if problem is None:
            accepted.append(v)
            continue
        at = v.contacted_at
        if first <= at < stop:
            out[bisect.bisect_right(starts, at) - 1].rejections.append((v.seq, problem))
        elif history_start <= at < first and v.run_id == run_id:
            out[0].rejections.append((v.seq, problem))  # dated in a week closed before this run
    for week, result in zip(weeks, out, strict=True):
        result.followups = week_followups(accepted, week, settings)
    return out
