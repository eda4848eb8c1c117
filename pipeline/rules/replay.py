"""The weekly rules (SPEC §4.1–§4.4) as one ordered pass over the whole history.

`replay` is pure: history, roster, the weeks to compute and the configuration come in; decisions
come out as data. It is linear in the history: one sort, then one pass with dictionary lookups.
Each rule of the spec is one function below, named after its section:

- `registration` / `lead`  §4.1 ownership: first registration wins
- `visit`                  §4.2 first visits, registered before, same owner, same team
- `unit`                   §4.3 photo, unit identity
- `deal`                   §4.4 commission by the owner at the deal time
- `ruling`                 §7.2 a leader's ruling changes the owner from its time on
- `cancellation`           §7.3 the latest deal not cancelled yet, and what it paid, clawed back
- `adjustment`             §7.4 an approved amount added to a manager's pay
- `_holder` / `_lapse_at`  §7.5 the protection window: a lead's ownership lapses unless visited
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from ..config import Config
from ..normalise import unit_key
from ..records import (
    PHONE,
    SORTED,
    TIME,
    Event,
    KeptRows,
    Ledger,
    LedgerChain,
    Person,
    Registered,
    Source,
    among_sorted,
    as_number,
    key_texts,
    phone_keys,
    replay_key,
    same_kind,
)
from ..results import Adjustment, CancelledDeal, Clawback, Deal, Rejection, Ruling
from ..weeks import Week

CENT = Decimal("0.01")
NOTHING = Decimal("0.00")


@dataclass(slots=True)
class Owner:
    """A ledger entry: who registered a phone first, when, and from which row."""

    owner: str
    at: str
    via: str          # registrations | leads | rulings
    customer: str
    event: Event
    # §7.5: a lead's ownership lapses after this moment (ISO) unless its manager's visit counts
    # by then; None: it never lapses (registrations, rulings, a counted visit, no window)
    lapse_at: str | None = None


# The key a cancellation finds the deal's pay by in the closed weeks' results (`Replay.paid_before`):
# the deal's identity (SPEC §2.4: phone, deal_at, room, salesperson, commission).
DealKey = tuple[str, str, str, str, str]


@dataclass(slots=True)
class Sold:
    """A deal as a later cancellation finds it (§7.3): where it is, what it paid its manager in
    the week it was paid (`paid`: (manager or None, manager commission); None while not looked
    up: a deal paid in a week closed before this run), and whether it is cancelled. The deal's
    row is its `Event` (a week has thousands of deals, few of them ever cancelled)."""

    event: Event
    paid: tuple[str | None, Decimal] | None
    cancelled: bool = False

    @property
    def seq(self) -> int:
        return self.event.seq

    @property
    def phone(self) -> str:
        return self.event.phone

    @property
    def at(self) -> str:
        return self.event.at

    @property
    def room(self) -> str:
        return self.event.room

    @property
    def source(self) -> Source:
        return self.event.source

    @property
    def room_key(self) -> str:
        return unit_key(self.event.room)

    @property
    def key(self) -> DealKey:
        e = self.event
        return (e.phone, e.at, e.room, e.salesperson, e.amount)


@dataclass
class WeekOutcome:
    week: Week
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    commission: dict[str, dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Decimal)))
    deals: list[Deal] = field(default_factory=list)
    # the corrections landing in the week (SPEC §7), in replay order: the pay of each manager is
    # taken from `clawbacks` and `adjustments` (`results.corrections_by_manager`)
    rulings: list[Ruling] = field(default_factory=list)
    clawbacks: list[Clawback] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)  # (seq, rejection)
    leads: list[Event] = field(default_factory=list)
    visits: list[Event] = field(default_factory=list)
    units: list[Event] = field(default_factory=list)
    new_registrations: list[Owner] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    # the last week's: what the rules carry past its end, or past the end of the week before
    # the first computed one (`replay`)
    carried: list[Carried] = field(default_factory=list)


    def worked(self) -> bool:
        """SPEC §3: whether any `leads`, `visits` or `units` row is dated in the week among the
        stored rows (counted, or rejected by a rule: those are stored too). A week without one
        most likely has its workbooks not dropped yet (`EMPTY_WEEK`)."""
        return bool(self.leads or self.visits or self.units) or any(
            r.kind in WORK_KINDS for _, r in self.rejections)


WORK_KINDS = frozenset({"leads", "visits", "units"})  # the kinds whose rows show that a week was worked


@dataclass
class Replay:
    """The state the rules carry through time."""

    roster: dict[str, Person]
    config: Config
    owners: dict[str, Owner] = field(default_factory=dict)
    visited: dict[str, str] = field(default_factory=dict)       # phone -> time of its first visit row
    counted_visits: dict[tuple[str, str], str] = field(default_factory=dict)  # (manager, phone) -> first time
    counted_units: dict[str, Event] = field(default_factory=dict)
    active: dict[tuple[str, str], str] = field(default_factory=dict)  # (name, day) -> yes | no | "" (not a manager)
    sold: dict[str, list[Sold]] = field(default_factory=dict)  # phone -> its deals, in replay order
    # §7.3: what a deal paid in a week closed before this run, by its identity (None: not found)
    paid_before: Callable[[DealKey], tuple[str | None, str] | None] | None = None
    # §7.3: which deals a cancellation of an earlier run could see (`Landings`)
    landings: Landings | None = None
    run_id: str = ""
    lapsing: bool = False  # §7.5: a window is configured at some time (`may_lapse`)

    # ---- helpers

    def manager(self, name: str) -> Person | None:
        person = self.roster.get(name)
        return person if person is not None and person.role == "manager" else None

    def _reject(self, event: Event, reason: str, **params: str) -> Rejection:
        """The rejection of `event` for `reason`; `params` are what its message names besides
        the manager and the phone (the message is worded where the results are built)."""
        manager = event.who if event.kind != "rulings" else ""  # a ruling names an owner, not a manager
        return Rejection(event.kind, event.source, reason, manager or None, event.phone or None, params)

    def _manager_check(self, event: Event) -> Rejection | None:
        """UNKNOWN_MANAGER / INACTIVE_MANAGER, shared by leads, visits and units."""
        day = event.at[:10]
        verdict = self.active.get((event.who, day))
        if verdict is None:  # decided once per manager and day: a big week has 100,000 rows, 3,500 of these
            person = self.manager(event.who)
            verdict = "" if person is None else "yes" if person.active_on(date.fromisoformat(day)) else "no"
            self.active[event.who, day] = verdict
        if verdict == "yes":
            return None
        if verdict == "":
            return self._reject(event, "UNKNOWN_MANAGER")
        return self._reject(event, "INACTIVE_MANAGER", day=day)

    # ---- §4.1

    def leader(self, name: str) -> bool:
        person = self.roster.get(name)
        return person is not None and person.role == "leader"

    # ---- §7.5

    def _holder(self, phone: str, at: str) -> tuple[Owner | None, Owner | None]:
        """(owner, lapsed): who owns `phone` at `at`, or None and the ownership that lapsed
        strictly before it (§7.5: `PROTECTION_EXPIRED` while the latest ownership is a lapsed one)."""
        entry = self.owners.get(phone)
        if entry is not None and entry.lapse_at is not None and at > entry.lapse_at:
            return None, entry
        return entry, None

    def _lapse_at(self, submitted_at: str) -> str | None:
        """When a lead submitted then lapses: N × 24 hours later, N the `protection_days` in
        force at `submitted_at`; None with no window (N = 0)."""
        if not self.lapsing:  # no window anywhere: asked of every accepted lead, answered at once
            return None
        days = protection_days(self.config, submitted_at)
        if days <= 0:
            return None
        return (datetime.fromisoformat(submitted_at) + timedelta(days=days)).isoformat(timespec="seconds")

    # ---- §4.1

    def registration(self, event: Event) -> Owner | None:
        """A registrations row owns its phone for `registered_by` unless someone owns it (§7.5:
        an ownership that lapsed before it does not count)."""
        if self._holder(event.phone, event.at)[0] is not None:
            return None
        entry = Owner(event.who, event.at, "registrations", event.customer, event)
        self.owners[event.phone] = entry
        return entry

    def lead(self, event: Event) -> tuple[Owner | None, Rejection | None]:
        problem = self._manager_check(event)
        if problem:
            return None, problem
        current = self.owners.get(event.phone)
        if current is not None and current.lapse_at is not None and event.at > current.lapse_at:
            current = None  # §7.5: lapsed (`_holder`, inline: every lead asks)
        if current is not None and current.owner == event.who:
            return None, self._reject(event, "DUPLICATE_OWN", at=current.at[:10])
        if current is not None:
            return None, self._reject(event, "ALREADY_REGISTERED", at=current.at[:10], owner=current.owner)
        entry = Owner(event.who, event.at, "leads", event.customer, event, self._lapse_at(event.at))
        self.owners[event.phone] = entry
        return entry, None

    # ---- §4.2

    def visit(self, event: Event) -> Rejection | None:
        """None when the visit counts as a batch for its manager, else the rejection."""
        try:
            return self._visit_reason(event)
        finally:
            # Any visit row, whatever its outcome, makes later ones not first visits.
            self.visited.setdefault(event.phone, event.at)

    def _visit_reason(self, event: Event) -> Rejection | None:
        problem = self._manager_check(event)
        if problem:
            return problem
        manager = self.roster[event.who]
        sales = self.roster.get(event.salesperson)
        if sales is None or sales.role != "salesperson":
            return self._reject(event, "UNKNOWN_SALESPERSON", salesperson=event.salesperson)
        if sales.team != manager.team:
            return self._reject(event, "SALESPERSON_OTHER_TEAM", salesperson=event.salesperson,
                                sp_team=sales.team, team=manager.team)
        owner, lapsed = self._holder(event.phone, event.at)
        if lapsed is not None:
            return self._reject(event, "PROTECTION_EXPIRED", owner=lapsed.owner,
                                lapsed=str(lapsed.lapse_at).replace("T", " "))
        if owner is None:
            return self._reject(event, "NOT_REGISTERED", at=event.at.replace("T", " "))
        if owner.owner != event.who:
            return self._reject(event, "REGISTERED_BY_OTHER", owner=owner.owner, reg_at=owner.at[:10])
        if event.phone in self.visited:
            return self._reject(event, "NOT_FIRST_VISIT", first=self.visited[event.phone].replace("T", " "))
        self.counted_visits.setdefault((event.who, event.phone), event.at)
        owner.lapse_at = None  # §7.5: visited in time, the ownership no longer lapses
        return None

    # ---- §4.3

    def unit(self, event: Event) -> Rejection | None:
        problem = self._manager_check(event)
        if problem:
            return problem
        if not event.photo:
            return self._reject(event, "NO_PHOTO", unit=event.unit_name)
        first = self.counted_units.get(event.unit_key)
        if first is not None:
            return self._reject(event, "DUPLICATE_UNIT", unit=event.unit_name, at=first.at[:10], owner=first.who)
        self.counted_units[event.unit_key] = event
        return None

    # ---- §4.4

    def deal(self, event: Event, late: bool) -> Deal:
        """One sold unit, decided by the owner at the deal time."""
        amount = Decimal(event.amount)

        def paid(manager: str | None, kind: str | None, commission: Decimal, net: Decimal, reason: str | None) -> Deal:
            return Deal(event.source, event.phone, event.at, event.room or None, event.salesperson, amount,
                        manager, kind, commission, net, reason, late)

        owner, lapsed = self._holder(event.phone, event.at)
        if owner is None:
            return paid(None, None, NOTHING, amount, "NOT_REGISTERED" if lapsed is None else "PROTECTION_EXPIRED")
        if self.manager(owner.owner) is None:
            return paid(None, None, NOTHING, amount, "OWNER_NOT_MANAGER")
        commission = self.config.at(event.at).commission  # SPEC §7.6: as in force at the deal's time
        visit_at = self.counted_visits.get((owner.owner, event.phone))
        if visit_at is not None and visit_at <= event.at:
            share = (amount * commission.visit_share).quantize(CENT, rounding=ROUND_HALF_UP)
            return paid(owner.owner, "visit", share, amount - share, None)
        fee = commission.lead_fee.quantize(CENT, rounding=ROUND_HALF_UP)
        return paid(owner.owner, "lead", fee, amount, None)


    # ---- §7.2

    def ruling(self, event: Event, late: bool) -> Ruling | Rejection:
        """A leader's ruling: the phone is the named owner's from its time on, whoever owned it
        before; it counts toward no target and never lapses."""
        if not self.leader(event.approved_by):
            return self._reject(event, "NOT_APPROVED", approver=event.approved_by)
        before = self.owners.get(event.phone)
        current = self._holder(event.phone, event.at)[0]
        customer = event.customer or (before.customer if before is not None else "")
        self.owners[event.phone] = Owner(event.who, event.at, "rulings", customer, event)
        return Ruling(event.source, event.phone, event.who, current.owner if current is not None else None, event.at,
                      event.approved_by, late)

    # ---- §7.3

    def cancellation(self, event: Event, late: bool) -> Clawback | Rejection:
        """The latest deal of the phone (and room, when given) at or before the cancellation
        that is not cancelled yet is cancelled: what it paid its manager in the week it was paid
        comes back as a negative amount. A cancellation of an earlier run sees only the deals
        stored when it landed (`Landings`): it keeps the outcome it had then."""
        room = f" {event.room}" if event.room else ""
        bound = self.landings.bound(event, self.run_id) if self.landings is not None else None
        key = unit_key(event.room) if event.room else ""
        deals = [d for d in self.sold.get(event.phone, ())
                 if (bound is None or d.seq <= bound) and (not key or d.room_key == key)]
        if not deals:
            return self._reject(event, "NO_SUCH_DEAL", room=room, at=event.at.replace("T", " "))
        standing = [d for d in deals if not d.cancelled]
        if not standing:
            return self._reject(event, "ALREADY_CANCELLED", room=room)
        deal = standing[-1]
        deal.cancelled = True
        manager, commission = self._paid(deal)
        return Clawback(event.source, event.phone, event.room or None, event.at,
                        CancelledDeal(deal.source, deal.at, deal.room or None), manager,
                        -commission if manager is not None else NOTHING, late)

    def _paid(self, deal: Sold) -> tuple[str | None, Decimal]:
        """What the deal paid its manager in the week it was paid (None, 0.00: nothing)."""
        if deal.paid is None:
            found = self.paid_before(deal.key) if self.paid_before is not None else None
            deal.paid = (None, NOTHING) if found is None else (found[0], Decimal(found[1]))
        return deal.paid

    # ---- §7.4

    def adjustment(self, event: Event, late: bool) -> Adjustment | Rejection:
        """An approved amount added to a manager's pay (a leaver can be corrected)."""
        if self.manager(event.who) is None:
            return self._reject(event, "UNKNOWN_MANAGER")
        if not self.leader(event.approved_by):
            return self._reject(event, "NOT_APPROVED", approver=event.approved_by)
        return Adjustment(event.source, event.who, Decimal(event.amount), event.at, event.approved_by,
                          event.reason or None, late)


def protection_days(config: Config, at: str) -> int:
    """`ownership.protection_days` in force at `at`, a lead's `submitted_at` (§7.5, §7.6)."""
    return config.at(at).ownership.protection_days


def may_lapse(config: Config) -> bool:
    """Whether any ownership can lapse under this configuration (a window at some time)."""
    return any(o.protection_days > 0 for o in (config.ownership, *(c.ownership for c in config.changes)))


@dataclass(frozen=True)
class Landings:
    """Which deals a cancellation stored by an earlier run could see (§7.3: it keeps the outcome
    it had in the week it landed): those stored when that week closed. A cancellation lands in
    the week of its date, or, dated before the first week its run computed (late, or history),
    in that week. `bounds`: a closed week's start -> the last row stored when it closed;
    `firsts`: a run -> the start of the first week it closed."""

    bounds: dict[str, int] = field(default_factory=dict)
    firsts: dict[str, str] = field(default_factory=dict)

    def bound(self, event: Event, run_id: str) -> int | None:
        """The last row (seq) the cancellation could see; None: every row (it lands now)."""
        if event.run_id == run_id or event.run_id not in self.firsts:
            return None
        landed = max(Week.of(date.fromisoformat(event.at[:10])).start_iso, self.firsts[event.run_id])
        return self.bounds.get(landed)


CORRECTIONS = frozenset({"rulings", "cancellations", "adjustments"})


# What a stored snapshot's tag names besides the roster: a snapshot written by another format
# or another version of the rules is ignored (the replay starts earlier), never trusted.
# carried3: a chained ledger's phones stored as their keys (`phone_keys`) where they are numbers.
CARRIED_VERSION = "carried3 rules2"
# The versions a replay starts from: this one's, and those whose snapshots it reads as they are
# (carried2: the same tables, its phones stored as text, which `LedgerChain` still reads).
CARRIED_READ = frozenset({CARRIED_VERSION, "carried2 rules2"})

_NOTHING_READ = Event(-1, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", 0)

# The columns of a snapshot's `deals` (`Sold`, its source spread out; `manager` and `commission`
# null while the pay is not looked up, `known` false then).
SOLD_COLUMNS = ("seq", "phone", "at", "room", "salesperson", "amount", "file", "sheet", "row", "known", "manager",
                "commission", "cancelled")


def _sold_row(d: Sold) -> tuple[Any, ...]:
    manager, commission = d.paid if d.paid is not None else (None, None)
    e = d.event
    return (e.seq, e.phone, e.at, e.room, e.salesperson, e.amount, e.file, e.sheet, e.row,
            d.paid is not None, manager, None if commission is None else str(commission), d.cancelled)


def _sold(row: tuple[Any, ...]) -> Sold:
    seq, phone, at, room, salesperson, amount, file, sheet, number, known, manager, commission, cancelled = row
    deal = _NOTHING_READ._replace(seq=seq, kind="deals", phone=phone, at=at, room=room, salesperson=salesperson,
                                  amount=amount, file=file, sheet=sheet, row=number)
    return Sold(deal,
                (manager, Decimal(commission)) if known else None, cancelled)


def _sold_table(rows: list[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    types = {"seq": pa.int64(), "row": pa.int64(), "known": pa.bool_(), "cancelled": pa.bool_()}
    columns: list[Any] = [[row[i] for row in rows] for i in range(len(SOLD_COLUMNS))]
    return pa.table({c: pa.array(v, types.get(c, pa.string())) for c, v in zip(SOLD_COLUMNS, columns, strict=True)})


def _lapses_table(lapses: dict[str, tuple[str, str]]) -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.table({"phone": pa.array(list(lapses), text), "lapse_at": pa.array([v[0] for v in lapses.values()], text),
                     "owner": pa.array([v[1] for v in lapses.values()], text)})


@dataclass(frozen=True)
class Carried:
    """What the rules carry past a week's end (`until`, ISO), as Arrow tables: the state of
    `Replay` there, so that a later replay starts from it and walks only the newer rows.

    - `owners`: the ledger at `until` (`Ledger.COLUMNS`): every owned phone, how it was won and
      its first visit. Read back, a `LedgerChain`; to store, either the whole ledger in phone
      order, or (with `parent`, the snapshot the replay started from) only the rows of the
      phones the replay walked, with `phones`, the ledger's phones in order;
    - `visited`: (phone, at) the first visit of each phone visited but not owned;
    - `visits`: (manager, phone, at) the counted first visits (§4.2), which deals look up;
    - `units`: (unit_key, at, who) the counted units (§4.3);
    - `deals`: every deal (`SOLD_COLUMNS`), what it paid and whether it is cancelled (§7.3);
    - `lapses`: (phone, lapse_at, owner) the phones whose latest ownership may lapse or has
      lapsed (§7.5; the ledger shows a lapsed one without its owner).
    The snapshot is a cache: a full replay of the stored rows gives the same state."""

    until: str
    owners: Any
    visited: Any
    visits: Any
    units: Any
    deals: Any
    lapses: Any
    phones: Any = None
    parent: str | None = None

    TABLES = ("owners", "visited", "visits", "units", "deals", "lapses")

    def tables(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self.TABLES}, "phones": self.phones}

    def find(self, phones: Any, units: Any) -> _Found:
        """What concerns the phones and unit keys the newer rows name (Arrow arrays of text), as
        Arrow tables (`restore` puts them into the replay's state); and the positions in `owners`
        and `visited` of the other phones, which the replay merges as columns (a big office's
        million phones are never objects). Arrow alone, which runs without the interpreter lock:
        `replay` finds them on a thread while it sorts the events."""
        import numpy as np
        import pyarrow.compute as pc

        chain: LedgerChain = self.owners
        found = chain.lookup(phones)  # the ledger's rows of these phones; then its phones' order
        named = chain.named(phones).to_numpy(zero_copy_only=False)
        seen = pc.is_in(self.visited.column("phone"), value_set=phones)
        counted = pc.is_in(self.visits.column("phone"), value_set=phones)
        kept = pc.is_in(self.units.column("unit_key"), value_set=units)
        return _Found(found, self.visited.filter(seen), self.visits.filter(counted), self.units.filter(kept),
                      self.deals.filter(pc.is_in(self.deals.column("phone"), value_set=phones)),
                      self.lapses.filter(pc.is_in(self.lapses.column("phone"), value_set=phones)),
                      (np.flatnonzero(~named), pc.indices_nonzero(pc.invert(seen))))

    def restore(self, state: Replay, found: _Found) -> tuple[Any, Any]:
        """Put into `state` what `find` found; returns its positions of the other phones."""
        for phone, customer, owner, at, via, first in zip(*(found.owners.column(c).to_pylist()
                                                            for c in Ledger.COLUMNS), strict=True):
            state.owners[phone] = Owner(owner, at, via, customer, _NOTHING_READ)
            if first is not None:
                state.visited[phone] = first
        state.visited.update(zip(*(found.visited.column(c).to_pylist() for c in ("phone", "at")), strict=True))
        for manager, phone, at in zip(*(found.visits.column(c).to_pylist() for c in ("manager", "phone", "at")),
                                      strict=True):
            state.counted_visits[manager, phone] = at
        for key, at, who in zip(*(found.units.column(c).to_pylist() for c in ("unit_key", "at", "who")), strict=True):
            state.counted_units[key] = _NOTHING_READ._replace(kind="units", at=at, who=who, unit_key=key)
        for values in zip(*(found.deals.column(c).to_pylist() for c in SOLD_COLUMNS), strict=True):
            deal = _sold(values)
            state.sold.setdefault(deal.phone, []).append(deal)
        for phone, lapse_at, owner in zip(*(found.lapses.column(c).to_pylist() for c in ("phone", "lapse_at", "owner")),
                                          strict=True):
            if phone in state.owners:
                state.owners[phone].lapse_at = lapse_at
                state.owners[phone].owner = owner
        return found.rest


class _Found(NamedTuple):
    """What `Carried.find` found of a snapshot for the phones and unit keys newer rows name."""

    owners: Any
    visited: Any
    visits: Any
    units: Any
    deals: Any
    lapses: Any
    rest: tuple[Any, Any]


def roster_view(roster: dict[str, Person], until: str) -> str:
    """A digest of what the rules take from the roster for rows dated before `until`: the
    salespeople's teams (whether a salesperson is active does not matter), each manager's team
    and active days before it, and who the leaders are (a ruling they approve changes an owner,
    §7.2). A snapshot at `until` holds for another roster with the same view: adding a manager
    who starts later keeps it; anything that could decide a row before `until` differently does
    not."""
    last = date.fromisoformat(until[:10]) - timedelta(days=1)
    view = []
    for person in roster.values():
        if person.role == "salesperson":
            view.append(f"s\x1f{person.name}\x1f{person.team}")
        elif person.role == "manager":
            start, end = person.active_from, person.active_to
            if (start is not None and start > last) or (start is not None and end is not None and end < start):
                continue  # never active before `until`: as if not in the roster
            end = end if end is not None and end < last else None
            view.append(f"m\x1f{person.name}\x1f{person.team}\x1f{start or ''}\x1f{end or ''}")
        elif person.role == "leader":
            view.append(f"l\x1f{person.name}")
    return hashlib.sha256("\x1e".join(sorted(view)).encode("utf-8")).hexdigest()[:32]


class _Firsts:
    """Each phone's first registration (time, then order read) among `registered`, in phone
    order: only a phone's first registration can ever take effect (§4.1: the first to register
    owns it, and nothing takes ownership away), so the replay needs no other.

    The phones `named` by other events (`walked`, a tenth of a big ledger) are found first: the
    walk needs only those. The others' (`alone`, a million) are found on a thread while the walk
    runs: Arrow sorts without the interpreter lock. Both are one Arrow sort (phone, time, order
    read) instead of a Python loop; positions are in `registered`.

    With `every`, the named phones' registrations are all walked: where an ownership can lapse
    (§7.5), a registration after the lapse makes its `registered_by` the owner."""

    def __init__(self, registered: Registered, named: set[str], every: bool = False) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.phone, self.at, self.seq = registered.array("phone"), registered.array("at"), registered.array("seq")
        # Sorted and compared as numbers where they all are (`as_number`): taken by position
        # below, eight bytes a row instead of a text each.
        self._phone_key, self._at_key = as_number(self.phone, PHONE), as_number(self.at, TIME)
        hit = pc.is_in(self.phone, value_set=pa.array(list(named), pa.string()))
        self.walked = pc.indices_nonzero(hit) if every else self._first_of_each(pc.indices_nonzero(hit))
        self._rest = pc.indices_nonzero(pc.invert(hit))

    def alone(self) -> Any:
        """The first registrations of the phones no other event names, in phone order."""
        return self._first_of_each(self._rest)

    def _first_of_each(self, positions: Any) -> Any:
        """Of these positions, each phone's first registration, in phone order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        phone = self._phone_key.take(positions)  # equal phones, equal keys
        order = pc.sort_indices(pa.table({"p": phone, "a": self._at_key.take(positions), "s": self.seq.take(positions)}),
                                sort_keys=[("p", "ascending"), ("a", "ascending"), ("s", "ascending")])
        ordered = phone.take(order)
        if len(ordered) > 1:
            head = pa.concat_arrays([pa.array([True]), pc.not_equal(ordered[1:], ordered[:-1])])
        else:
            head = pa.array([True] * len(ordered), pa.bool_())
        return positions.take(order).filter(head)


def replay(events: list[Event], roster: dict[str, Person], weeks: list[Week], history_start: str,
           run_id: str, config: Config, registered: Registered | None = None,
           start: Carried | None = None, carry_from_start: bool = False,
           paid_before: Callable[[DealKey], tuple[str | None, str] | None] | None = None,
           landings: Landings | None = None) -> list[WeekOutcome]:
    """Replay the history up to the end of the last week in `weeks` (contiguous, oldest first);
    returns each week's outcome, the last one with what the rules carry past its end
    (`WeekOutcome.carried`).

    Without `start` the history is the whole of it; with it, the state at `start.until` (a
    snapshot), and `events` and `registered` are only the rows dated from then on. What is
    carried is the state at the last week's end, or with `carry_from_start` at the first week's
    start (when the replay began before it).

    `events` are the stored rows but registrations, which come as columns in `registered` (a
    big office's ledger is a million of them). A registration matters to another event only
    through its phone: the first registration of each phone some other event names is replayed
    in order with the events; the first registration of every other phone owns it from its
    time, whatever else happens, and goes straight into the ledger.

    Events before `history_start` decide ownership and first visits but are never reported or
    paid. A deal of this run (`run_id`) dated in a week closed earlier (between `history_start`
    and the first computed week) is paid in the first computed week, marked late; so lands a
    correction (§7). `paid_before` gives what a deal paid in a week closed before this run (a
    cancellation claws that back), `landings` which deals an earlier run's cancellation could see.
    """
    import pyarrow as pa

    registered = registered if registered is not None else Registered()
    named = {e.phone for e in events if e.phone}
    if start is not None:  # a registration after a lapse takes the phone: walked, not alone
        named.update(start.lapses.column("phone").to_pylist())
    lapsing = may_lapse(config)
    first_start = weeks[0].start_iso
    before = carry_from_start and (start is None or start.until < first_start)
    # Arrow finds on a thread what the snapshot holds of the phones named (`Carried.find`) while
    # the first registrations of those phones are found and the events put in replay order here;
    # then the lone phones and their columns (`_add_alone`) while the events are walked below:
    # its sorts, takes and lookups run without the interpreter lock.
    pool = ThreadPoolExecutor(1, thread_name_prefix="alone")
    try:
        finding = None if start is None else pool.submit(
            start.find, pa.array(list(named), pa.string()),
            pa.array(list({e.unit_key for e in events if e.kind == "units"}), pa.string()))
        firsts = _Firsts(registered, named, every=lapsing)
        state = Replay(roster, config, paid_before=paid_before, landings=landings, run_id=run_id, lapsing=lapsing)
        events = sorted(events + registered.events(firsts.walked), key=replay_key)
        rest = None if finding is None or start is None else start.restore(state, finding.result())
        del finding
        columns = (firsts.phone, registered.array("customer"), registered.array("who"), firsts.at)

        def lone(firsts: _Firsts) -> tuple[Any, list[Any]]:
            alone = firsts.alone()
            return alone, [column.take(alone) for column in columns]

        found = pool.submit(lone, firsts)
        outcomes, early = _walk(events, state, weeks, history_start, run_id, first_start if before else None)
        alone = _add_alone(outcomes, registered, *found.result(), start, rest)
    finally:
        pool.shutdown(wait=True)
    del firsts, found
    last = outcomes[-1]
    if early is not None:
        ledger = _merge(early[0], alone(first_start))
        last.carried.append(_carried(first_start, ledger, *early[1:], start, rest))
    else:
        # the ledger of the last week's ledger.csv: its rows are that file's lines (`lines`)
        last.carried.append(_carried(last.week.next_start_iso, last.ledger, state.visited, state.counted_visits,
                                     state.counted_units, _sold_rows(state), _lapses(state), start, rest, True))
    release_arrow_memory()
    return outcomes


Taken = tuple[Ledger, dict[str, str], dict[tuple[str, str], str], dict[str, Event], list[tuple[Any, ...]],
              dict[str, tuple[str, str]]]


def _sold_rows(state: Replay) -> list[tuple[Any, ...]]:
    """The walked state's deals as rows of a snapshot's `deals` (as they are now)."""
    return [_sold_row(d) for deals in state.sold.values() for d in deals]


def _lapses(state: Replay) -> dict[str, tuple[str, str]]:
    """The phones whose ownership may lapse or has lapsed: when, and whose it is."""
    return {phone: (o.lapse_at, o.owner) for phone, o in state.owners.items() if o.lapse_at is not None}


def _walk(events: list[Event], state: Replay, weeks: list[Week], history_start: str,
          run_id: str, take_at: str | None = None) -> tuple[list[WeekOutcome], Taken | None]:
    """The events (in time order: `replay_key`), each landed in the week of its date
    (`_Landing`: one method per kind), each week's outcome taken as they pass; with `take_at`,
    the walked state as it is then (its ledger, first visits, counted visits and units)."""
    landing = _Landing(state, weeks, history_start, run_id)
    outcomes, stop = landing.outcomes, landing.stop
    lands = landing.by_kind()
    snapshot_at = [w.next_start_iso for w in weeks]
    snap = 0
    taken: Taken | None = None

    def take() -> Taken:
        return (_ledger(state.owners, state.visited, take_at or ""), dict(state.visited), dict(state.counted_visits),
                dict(state.counted_units), _sold_rows(state), _lapses(state))

    for event in events:
        if take_at is not None and taken is None and event.at >= take_at:
            taken = take()
        while snap < len(weeks) and event.at >= snapshot_at[snap]:
            outcomes[snap].ledger = _ledger(state.owners, state.visited, snapshot_at[snap])
            snap += 1
        if event.at >= stop:
            break
        land = lands.get(event.kind)
        if land is not None:
            land(event, landing.week_of(event.at))
    if take_at is not None and taken is None:
        taken = take()
    while snap < len(weeks):
        outcomes[snap].ledger = _ledger(state.owners, state.visited, snapshot_at[snap])
        snap += 1
    return outcomes, taken


class _Landing:
    """Where each event of a walk lands (`_walk`): the rule of its kind applied to the walked
    state (`Replay`), and what it decided added to the outcome of the week of its date (`out`;
    None for an event dated before the weeks computed, which only changes the state)."""

    def __init__(self, state: Replay, weeks: list[Week], history_start: str, run_id: str) -> None:
        self.state, self.history_start, self.run_id = state, history_start, run_id
        self.outcomes = [WeekOutcome(w) for w in weeks]
        self.starts = [w.start_iso for w in weeks]
        self.first_start, self.stop = self.starts[0], weeks[-1].next_start_iso

    def by_kind(self) -> dict[str, Callable[[Event, WeekOutcome | None], None]]:
        return {"registrations": self.registration, "leads": self.lead, "visits": self.counted,
                "units": self.counted, "deals": self.deal, **dict.fromkeys(CORRECTIONS, self.correction)}

    def week_of(self, at: str) -> WeekOutcome | None:
        if at < self.first_start or at >= self.stop:
            return None
        return self.outcomes[bisect.bisect_right(self.starts, at) - 1]

    def _late(self, event: Event, out: WeekOutcome | None) -> bool:
        """SPEC §3, §7: a row of this run dated in a week closed before lands in the first week
        computed, late."""
        return out is None and event.run_id == self.run_id and self.history_start <= event.at < self.first_start

    def registration(self, event: Event, out: WeekOutcome | None) -> None:
        took = self.state.registration(event)
        if took is not None and out is not None:
            out.new_registrations.append(took)

    def lead(self, event: Event, out: WeekOutcome | None) -> None:
        owner, problem = self.state.lead(event)
        if out is None:
            return
        if problem:
            out.rejections.append((event.seq, problem))
        elif owner is not None:
            out.counts[event.who]["leads"] += 1
            out.leads.append(event)
            out.new_registrations.append(owner)

    def counted(self, event: Event, out: WeekOutcome | None) -> None:
        """A visit (批) or a unit canvassed."""
        kind = event.kind
        problem = self.state.visit(event) if kind == "visits" else self.state.unit(event)
        if out is None:
            return
        if problem:
            out.rejections.append((event.seq, problem))
        else:
            out.counts[event.who][kind] += 1
            (out.visits if kind == "visits" else out.units).append(event)

    def deal(self, event: Event, out: WeekOutcome | None) -> None:
        late = self._late(event, out)
        if late:
            out = self.outcomes[0]
        # what a later cancellation claws back: what it pays now; nothing for a history deal;
        # for a deal paid in a week closed before, what that week showed (looked up if asked)
        known: tuple[str | None, Decimal] | None = (None, NOTHING) if event.at < self.history_start else None
        if out is not None:
            paid = self.state.deal(event, late)
            out.deals.append(paid)
            if paid.manager is not None and paid.kind is not None:
                out.commission[paid.manager][paid.kind] += paid.manager_commission
            known = (paid.manager, paid.manager_commission)
        self.state.sold.setdefault(event.phone, []).append(Sold(event, known))

    def correction(self, event: Event, out: WeekOutcome | None) -> None:
        """§7: a correction lands in the week of its date; one of this run dated in a week closed
        before lands in the first week computed, late; others only take effect."""
        late = self._late(event, out)
        if late:
            out = self.outcomes[0]
        decided: Any
        if event.kind == "rulings":
            decided = self.state.ruling(event, late)
            landed: list[Any] | None = out.rulings if out is not None else None
        elif event.kind == "cancellations":
            decided = self.state.cancellation(event, late)
            landed = out.clawbacks if out is not None else None
        else:
            decided = self.state.adjustment(event, late)
            landed = out.adjustments if out is not None else None
        if out is not None and landed is not None:
            if isinstance(decided, Rejection):
                out.rejections.append((event.seq, decided))
            else:
                landed.append(decided)


def release_arrow_memory() -> None:
    """Give back to the system what Arrow's allocator keeps of tables let go (after the sort:
    measured, 100 MB of peak memory on the big office's week; after a snapshot is encoded), and
    what the C library's allocator keeps of memory freed (the replay's objects, SQLite's pages):
    measured after a year's replay, 200 MB that every process the reports fork would start with."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    _trim_heap()


def _trim_heap() -> None:
    """glibc's `malloc_trim(0)`, where there is glibc; nothing elsewhere."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # another C library (musl): it keeps nothing to trim
        pass


def _add_alone(outcomes: list[WeekOutcome], registered: Registered, alone: Any, lone: list[Any],
               start: Carried | None = None, rest: tuple[Any, Any] | None = None) -> Callable[[str], Ledger]:
    """The phones no other event names (`alone`: positions in the registrations, in phone order):
    their first registration owns them from its time. Each week's ledger gains those registered
    before its end, merged in phone order with the phones the replay walked; its new
    registrations, those registered during it (in replay order among the others). A million of
    them: every step below is an Arrow take, filter or sort.

    From a snapshot (`start`), a phone it owns is not taken again, and the phones of its ledger
    no newer row names (`rest`: positions in its phone order) are in every week's ledger as they
    were: as `KeptRows`, their phones at hand and their rows left in the snapshot."""
    import pyarrow as pa
    import pyarrow.compute as pc

    phones, customers, owners, alone_at = lone  # the lone phones' columns, taken in `replay`
    first_visit = pa.nulls(len(alone), pa.string())
    base = None
    origin = None
    if start is not None and rest is not None:
        chain: LedgerChain = start.owners
        free = pa.array(~among_sorted(phone_keys(phones), chain.keys)[0])
        alone, phones, customers, owners, alone_at = (c.filter(free) for c in (alone, phones, customers, owners,
                                                                                alone_at))
        # a phone visited before the snapshot and registered after it: its first visit is the snapshot's
        visited = start.visited
        first_visit = visited.column("at").combine_chunks().take(
            pc.index_in(phones, value_set=visited.column("phone").combine_chunks()))
        positions = rest[0]
        base = KeptRows(chain, positions)
        if chain.lines:
            # the snapshot's rows are the lines of the ledger.csv of the week it ends (`_carried`)
            origin = (start.until, positions, chain.size)

    def until(end: str | None) -> tuple[Any, Any, Ledger]:
        """The lone phones registered before `end` (None: all of them): their positions, times
        and ledger (from a snapshot, with its phones no newer row named)."""
        taken, columns = alone, [phones, customers, owners, alone_at, first_visit]
        if end is not None:
            before = pc.less(alone_at, pa.scalar(end, pa.string()))
            taken, columns = alone.filter(before), [c.filter(before) for c in columns]
        n = len(taken)
        extra = Ledger.from_columns(*columns[:4], pa.repeat(pa.scalar("registrations", pa.string()), n),
                                    columns[4])
        if base is not None:
            # the snapshot's rows in phone order stay so; the others join the walked ones
            extra = Ledger.merged(extra.table, base)
            extra.origin = origin
        return taken, columns[3], extra

    for outcome in outcomes:
        start_iso = outcome.week.start_iso
        # `registered` stops at the last week's end: earlier ones filter
        taken, taken_at, extra = until(None if outcome is outcomes[-1] else outcome.week.next_start_iso)
        outcome.ledger = _merge(outcome.ledger, extra)
        during = taken.filter(pc.greater_equal(taken_at, pa.scalar(start_iso, pa.string())))
        if len(during) > 1:  # in replay order already (time, then order read): the sort below merges two runs
            order = pa.table({"at": registered.array("at").take(during), "seq": registered.array("seq").take(during)})
            during = during.take(pc.sort_indices(order, sort_keys=[("at", "ascending"), ("seq", "ascending")]))
        new = [Owner(e.who, e.at, "registrations", e.customer, e) for e in registered.events(during)]
        if new:
            outcome.new_registrations += new
            outcome.new_registrations.sort(
                key=lambda o: (o.at, 0 if o.via == "registrations" else 1, o.event.seq))
    return lambda end: until(end)[2]


def _carried(until: str, ledger: Ledger, visited_at: dict[str, str], counted_visits: dict[tuple[str, str], str],
             counted_units: dict[str, Event], sold: list[tuple[Any, ...]], lapses: dict[str, tuple[str, str]],
             start: Carried | None, rest: tuple[Any, Any] | None, lines: bool = False) -> Carried:
    """What the rules carry past `until` (`Carried`): the ledger there, the walked state's first
    visits and counted visits and units, and the snapshot's rows for what no newer row named.
    With `lines`, the ledger's rows are marked as the lines of the ledger.csv of the week ending
    at `until` (`Ledger.origin`).

    From a snapshot, the ledger is stored as the rows of the phones this replay walked, chained
    to it (`LedgerChain`): a week's changes, not the year's ledger. Whole (in phone order, made a
    batch at a time as it is stored: `state.encode_snapshot`) after a full replay, or when this
    replay's changes pass `CHAIN_SHARE` of the ledger (`_compact`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.string()
    flags = {"lines": "1"} if lines else {}
    kept, walked = ledger.parts()
    chain: LedgerChain | None = start.owners if start is not None else None
    phones = parent = in_order = None
    if chain is not None and isinstance(kept, KeptRows) and kept.chain is chain and not _compact(chain, walked):
        walked = walked if walked is not None else Ledger.from_columns(*([] for _ in Ledger.COLUMNS)).table
        owners: Any = walked.combine_chunks().replace_schema_metadata(flags)
        in_order, parent = _merged_keys(chain.keys, phone_keys(walked.column("phone"))), chain.week
        phones = pa.array(in_order, pa.int64()) if in_order.dtype != object else key_texts(in_order)
    else:
        # the whole ledger in phone order: a replay starting from it sorts only its own rows
        metadata = {"ordered": str(len(ledger)), SORTED.decode(): "1", **flags}
        owners = pa.RecordBatchReader.from_batches(Ledger.from_columns(*([] for _ in Ledger.COLUMNS)).table.schema
                                                   .with_metadata(metadata), ledger.in_order_batches())
    visited = pa.table({"phone": pa.array(list(visited_at), text), "at": pa.array(list(visited_at.values()), text)})
    visits = pa.table({"manager": pa.array([k[0] for k in counted_visits], text),
                       "phone": pa.array([k[1] for k in counted_visits], text),
                       "at": pa.array(list(counted_visits.values()), text)})
    counted = list(counted_units.values())
    units = pa.table({"unit_key": pa.array(list(counted_units), text), "at": pa.array([e.at for e in counted], text),
                      "who": pa.array([e.who for e in counted], text)})
    deals = _sold_table(sold)
    if start is not None and rest is not None:
        # the snapshot's deals of the phones no newer row named (the others were restored)
        walked = pa.array(list({row[1] for row in sold}), text)
        deals = pa.concat_tables([deals, start.deals.filter(pc.invert(pc.is_in(start.deals.column("phone"),
                                                                                value_set=walked)))])
        visited = pa.concat_tables([visited, start.visited.take(rest[1])])
        known = pa.array(list(visited_at), text)
        visits = pa.concat_tables([visits, start.visits.filter(pc.invert(pc.is_in(start.visits.column("phone"),
                                                                                  value_set=known)))])
        keys = pa.array(list(counted_units), text)
        units = pa.concat_tables([units, start.units.filter(pc.invert(pc.is_in(start.units.column("unit_key"),
                                                                               value_set=keys)))])
    if in_order is not None:  # the ledger's phones in order: the visited looked up among them
        owned = among_sorted(phone_keys(visited.column("phone")), in_order)[0]
        visited = visited.filter(pa.array(~owned))
    else:
        owned_phones = pa.chunked_array([c for part in ledger.parts() if part is not None
                                         for c in _chunks(part.column("phone"))], text)
        visited = visited.filter(pc.invert(_is_in(visited.column("phone").combine_chunks(), owned_phones)))
    return Carried(until, owners, visited.combine_chunks(), visits.combine_chunks(), units.combine_chunks(),
                   deals.combine_chunks(), _lapses_table(lapses), phones, parent)


# A snapshot's ledger is chained to the one its replay started from (`_carried`) until the chain
# would hold this many snapshots, or its changes pass this share of the whole ledger it starts
# from; then the run stores the one it started from whole again (`stores_whole_again`; a
# quarter-size office's year: about every ten weeks).
CHAIN_WEEKS = 12
CHAIN_SHARE = 0.5


def _compact(chain: LedgerChain, walked: Any) -> bool:
    """Whether the next snapshot's ledger is stored whole rather than chained to `chain`: only
    when the replay's own changes pass `CHAIN_SHARE` of the ledger. A chain grown long is stored
    whole again by the run, outside the replay (`stores_whole_again`)."""
    walked_rows = walked.num_rows if walked is not None else 0
    return walked_rows > CHAIN_SHARE * max(chain.size, 1)


def stores_whole_again(chain: LedgerChain) -> bool:
    """Whether a run starting from the snapshot whose ledger is `chain` stores that ledger whole
    again (`state.whole_ledger`, a process of its own while the run replays) and chains its own
    snapshot to it: once a snapshot chained to `chain` would make the chain `CHAIN_WEEKS` long, or
    its changes pass `CHAIN_SHARE` of the whole one it starts from. The run's own process then
    never holds the year's ledger to store it."""
    if not chain.depth:
        return False
    return chain.depth + 1 >= CHAIN_WEEKS or chain.changed_rows > CHAIN_SHARE * max(chain.base_rows, 1)


def _merged_keys(old: Any, walked: Any) -> Any:
    """The keys of a ledger's phones in order (`phone_keys`): `old`'s (in order) and those of
    `walked` it lacks, each of the week's few looked up among the year's by `searchsorted` and
    put in its place (the year's copied once)."""
    import numpy as np

    old, walked = same_kind(old, walked)
    new = np.sort(walked[~among_sorted(walked, old)[0]])
    if not len(new):
        return old
    lands = np.searchsorted(old, new) + np.arange(len(new))  # where each new one goes
    merged = np.empty(len(old) + len(new), old.dtype)
    merged[lands] = new
    rest = np.ones(len(merged), bool)
    rest[lands] = False
    merged[rest] = old
    return merged


def _chunks(column: Any) -> list[Any]:
    import pyarrow as pa

    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def _is_in(phones: Any, among: Any) -> Any:
    """`pc.is_in` for phones. A week names a few thousand phones, the ledger holds a year's
    million: the larger side is looked up in a hash of the smaller one (hashing the million took
    a second a run, growing with the history), then the few it shares checked the other way."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(among) > len(phones):
        among = among.filter(pc.is_in(among, value_set=phones))
    if isinstance(among, pa.ChunkedArray):
        among = among.combine_chunks()
    return pc.is_in(phones, value_set=among)


def _merge(walked: Ledger, alone: Ledger) -> Ledger:
    """The walked phones' ledger (in no order) and the alone phones' (in phone order, or in two
    parts: `Ledger.parts`), distinct phones, as one ledger in phone order (`Ledger.merged`: put
    in order where it is written)."""
    ordered, loose = alone.parts()
    if loose is not None:
        walked = Ledger(_concat([walked.table, loose]) if len(walked) else loose)
    if not len(walked) and isinstance(ordered, KeptRows):
        merged = Ledger.merged(walked.table if walked.table is not None else
                               Ledger.from_columns(*([] for _ in Ledger.COLUMNS)).table, ordered)
    elif not len(walked):
        merged = alone if loose is None else Ledger(ordered)
    else:
        merged = Ledger.merged(walked.table, ordered)
    merged.origin = alone.origin
    return merged


def _concat(tables: list[Any]) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables)


def _ledger(owners: dict[str, Owner], visited: dict[str, str], until: str) -> Ledger:
    """The ledger of the phones the replay walked, at a week's end (`until`), in the order they
    were first owned (`_add_alone` merges it in phone order: one sort for both). A lead's
    ownership that lapsed before `until` (§7.5) is shown without its owner: nobody owns the
    customer any more."""
    entries = list(owners.values())
    names = [o.owner if o.lapse_at is None or o.lapse_at >= until else "" for o in entries]
    return Ledger.from_columns(list(owners), [o.customer for o in entries], names,
                               [o.at for o in entries], [o.via for o in entries], list(map(visited.get, owners)))
