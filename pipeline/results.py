"""`results.json` (SPEC §5.1) as one typed model: the week's managers, deals, rejections, the
corrections that landed in it (rulings, clawbacks, adjustments: SPEC §7) and stats.

The rules return these types (a `Deal`, a `Rejection` with its message's parameters, a
`ManagerResult`); the run puts them together as `WeekResults` and writes `to_json()`, the exact
document of §5.1 (keys in the spec's order, money as two-decimal text). A closed week's stored
results read back with `from_json`, whichever schema stored them: a week closed under schema 1
(before corrections existed) reads back as schema 2 with no corrections (`from_json`).

Neutral ground like `records`: the rules, the run and the reports may all import it, and it
imports none of them. No message is translated here: a rule's rejection carries its reason and
parameters, and the run words it in the office's language where the results are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .normalise import fmt_money
from .records import Source

SCHEMA = 2
READS = (1, 2)  # the schemas a stored week may have: 1, closed before corrections existed
ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Tasks:
    """A count per assessed task: targets, achieved or shortfall."""

    leads: int
    visits: int
    units: int

    def to_json(self) -> dict[str, Any]:
        return {"leads": self.leads, "visits": self.visits, "units": self.units}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Tasks:
        return cls(d["leads"], d["visits"], d["units"])


@dataclass(frozen=True, slots=True)
class Fines:
    leads: Decimal
    visits: Decimal
    units: Decimal
    total: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"leads": fmt_money(self.leads), "visits": fmt_money(self.visits), "units": fmt_money(self.units),
                "total": fmt_money(self.total)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Fines:
        return cls(Decimal(d["leads"]), Decimal(d["visits"]), Decimal(d["units"]), Decimal(d["total"]))


@dataclass(frozen=True, slots=True)
class Earned:
    """A manager's commission of the week, by kind of deal (SPEC §4.4)."""

    visit: Decimal
    lead: Decimal
    total: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"visit": fmt_money(self.visit), "lead": fmt_money(self.lead), "total": fmt_money(self.total)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Earned:
        return cls(Decimal(d["visit"]), Decimal(d["lead"]), Decimal(d["total"]))


@dataclass(frozen=True, slots=True)
class ManagerResult:
    """A manager's entry of `managers` (SPEC §4.5, §7.7): `clawback` is the sum of the week's
    clawbacks (zero or less), `adjustment` of its adjustments; net = commission total +
    clawback + adjustment − fines total."""

    name: str
    team: str
    active_days: int
    targets: Tasks
    achieved: Tasks
    shortfall: Tasks
    fines: Fines
    commission: Earned
    clawback: Decimal
    adjustment: Decimal
    net: Decimal
    met: bool
    streak: int
    dismissal_review: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "team": self.team, "active_days": self.active_days,
            "targets": self.targets.to_json(), "achieved": self.achieved.to_json(),
            "shortfall": self.shortfall.to_json(), "fines": self.fines.to_json(),
            "commission": self.commission.to_json(), "clawback": fmt_money(self.clawback),
            "adjustment": fmt_money(self.adjustment), "net": fmt_money(self.net),
            "met": self.met, "streak": self.streak, "dismissal_review": self.dismissal_review,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ManagerResult:
        """Schema 2's entry, or schema 1's (no corrections then: clawback and adjustment zero)."""
        return cls(d["name"], d["team"], d["active_days"], Tasks.from_json(d["targets"]),
                   Tasks.from_json(d["achieved"]), Tasks.from_json(d["shortfall"]), Fines.from_json(d["fines"]),
                   Earned.from_json(d["commission"]), Decimal(d.get("clawback", ZERO)),
                   Decimal(d.get("adjustment", ZERO)), Decimal(d["net"]), d["met"], d["streak"],
                   d["dismissal_review"])


@dataclass(frozen=True, slots=True)
class Deal:
    """A sold unit paid in the week (SPEC §4.4): `manager` and `kind` None, `reason` set, when
    no manager earns from it. Amounts keep the form they were read in (two decimals)."""

    source: Source
    phone: str
    deal_at: str
    room: str | None
    salesperson: str
    salesperson_commission: Decimal
    manager: str | None
    kind: str | None               # visit | lead
    manager_commission: Decimal
    salesperson_net: Decimal
    reason: str | None             # NOT_REGISTERED | OWNER_NOT_MANAGER
    late: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.as_dict(), "phone": self.phone, "deal_at": self.deal_at, "room": self.room,
            "salesperson": self.salesperson, "salesperson_commission": str(self.salesperson_commission),
            "manager": self.manager, "kind": self.kind, "manager_commission": str(self.manager_commission),
            "salesperson_net": str(self.salesperson_net), "reason": self.reason, "late": self.late,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Deal:
        return cls(_source(d["source"]), d["phone"], d["deal_at"], d["room"], d["salesperson"],
                   Decimal(d["salesperson_commission"]), d["manager"], d["kind"], Decimal(d["manager_commission"]),
                   Decimal(d["salesperson_net"]), d["reason"], d["late"])


@dataclass(frozen=True, slots=True)
class Ruling:
    """An accepted 归属裁定 (SPEC §7.2) landing in the week: the phone's owner from `ruled_at`
    on, and the one it replaced (None: nobody, or only a lapsed ownership)."""

    source: Source
    phone: str
    owner: str
    previous_owner: str | None
    ruled_at: str
    approved_by: str
    late: bool

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.as_dict(), "phone": self.phone, "owner": self.owner,
                "previous_owner": self.previous_owner, "ruled_at": self.ruled_at, "approved_by": self.approved_by,
                "late": self.late}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Ruling:
        return cls(_source(d["source"]), d["phone"], d["owner"], d["previous_owner"], d["ruled_at"],
                   d["approved_by"], d["late"])


@dataclass(frozen=True, slots=True)
class CancelledDeal:
    """The deal a cancellation cancelled, as a person finds it: its row, time and room."""

    source: Source
    deal_at: str
    room: str | None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.as_dict(), "deal_at": self.deal_at, "room": self.room}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CancelledDeal:
        return cls(_source(d["source"]), d["deal_at"], d["room"])


@dataclass(frozen=True, slots=True)
class Clawback:
    """An accepted 退房 (SPEC §7.3) landing in the week: what the cancelled deal paid its manager,
    as a negative `amount` from that manager (None and 0.00 when it paid no manager). `room` is
    the cancellation's (None when its cell was empty)."""

    source: Source
    phone: str
    room: str | None
    cancelled_at: str
    deal: CancelledDeal
    manager: str | None
    amount: Decimal
    late: bool

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.as_dict(), "phone": self.phone, "room": self.room,
                "cancelled_at": self.cancelled_at, "deal": self.deal.to_json(), "manager": self.manager,
                "amount": fmt_money(self.amount), "late": self.late}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Clawback:
        return cls(_source(d["source"]), d["phone"], d["room"], d["cancelled_at"], CancelledDeal.from_json(d["deal"]),
                   d["manager"], Decimal(d["amount"]), d["late"])


@dataclass(frozen=True, slots=True)
class Adjustment:
    """An accepted 调整 (SPEC §7.4) landing in the week: a signed amount added to the manager's
    pay, who approved it and why (`reason` None when its cell was empty)."""

    source: Source
    manager: str
    amount: Decimal
    adjusted_at: str
    approved_by: str
    reason: str | None
    late: bool

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.as_dict(), "manager": self.manager, "amount": fmt_money(self.amount),
                "adjusted_at": self.adjusted_at, "approved_by": self.approved_by, "reason": self.reason,
                "late": self.late}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Adjustment:
        return cls(_source(d["source"]), d["manager"], Decimal(d["amount"]), d["adjusted_at"], d["approved_by"],
                   d["reason"], d["late"])


@dataclass(frozen=True, slots=True)
class Corrections:
    """A manager's corrections of the week (SPEC §7.7): the sum of their clawbacks (zero or less)
    and of their adjustments."""

    clawback: Decimal = ZERO
    adjustment: Decimal = ZERO


def corrections_by_manager(clawbacks: list[Clawback], adjustments: list[Adjustment]) -> dict[str, Corrections]:
    """Each manager's `Corrections` from the week's clawbacks and adjustments: the one place the
    lists become pay. A manager named by any of them is in it (an accepted 0.00 too, §7.4)."""
    clawed: dict[str, Decimal] = {}
    adjusted: dict[str, Decimal] = {}
    for c in clawbacks:
        if c.manager is not None:
            clawed[c.manager] = clawed.get(c.manager, ZERO) + c.amount
    for a in adjustments:
        adjusted[a.manager] = adjusted.get(a.manager, ZERO) + a.amount
    return {name: Corrections(clawed.get(name, ZERO), adjusted.get(name, ZERO)) for name in {*clawed, *adjusted}}


@dataclass(slots=True)
class Rejection:
    """A row that does not count (SPEC §5.2), where a person can find it.

    A rule's rejection carries the parameters of its message (`params`, beside the manager and
    phone) and no `message`; `worded` gives it the message in the office's language where the
    results are built. A rejection made while reading has its message already."""

    kind: str
    source: Source
    reason: str
    manager: str | None
    phone: str | None
    params: dict[str, str] = field(default_factory=dict)
    message: str | None = None

    def message_args(self) -> dict[str, str]:
        """Everything the reason's message may name: the manager, the phone and `params`."""
        return {"manager": self.manager or "", "phone": self.phone or "", **self.params}

    def worded(self, message: str) -> Rejection:
        return Rejection(self.kind, self.source, self.reason, self.manager, self.phone, self.params, message)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source.as_dict(), "reason": self.reason, "message": self.message,
                "manager": self.manager, "phone": self.phone}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Rejection:
        return cls(d["kind"], _source(d["source"]), d["reason"], d["manager"], d["phone"], message=d["message"])


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts of the whole run (reported in the last week it computed, else 0) and the week's
    rejections."""

    rows_read: int
    rows_stored: int
    duplicates_dropped: int
    rejected: int

    def to_json(self) -> dict[str, Any]:
        return {"rows_read": self.rows_read, "rows_stored": self.rows_stored,
                "duplicates_dropped": self.duplicates_dropped, "rejected": self.rejected}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stats:
        return cls(d["rows_read"], d["rows_stored"], d["duplicates_dropped"], d["rejected"])


@dataclass(slots=True)
class WeekResults:
    """One computed week: results.json. The three lists of corrections are always there
    (empty when none landed in the week)."""

    week: str            # 2026-W48
    start: str           # ISO date of the Monday
    end: str             # ISO date of the Sunday
    managers: list[ManagerResult]
    deals: list[Deal]
    rejections: list[Rejection]
    stats: Stats
    rulings: list[Ruling] = field(default_factory=list)
    clawbacks: list[Clawback] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The document of SPEC §5.1, keys in its order: what results.json holds."""
        return {
            "schema": SCHEMA, "week": self.week, "start": self.start, "end": self.end,
            "managers": [m.to_json() for m in self.managers],
            "deals": [d.to_json() for d in self.deals],
            "rejections": [r.to_json() for r in self.rejections],
            "rulings": [r.to_json() for r in self.rulings],
            "clawbacks": [c.to_json() for c in self.clawbacks],
            "adjustments": [a.to_json() for a in self.adjustments],
            "stats": self.stats.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WeekResults:
        """A results document `to_json` made (a closed week's, as stored). A week closed under
        schema 1, before corrections existed, reads back as schema 2 with none: zero clawback
        and adjustment for every manager (its net unchanged) and three empty lists."""
        if d.get("schema") not in READS:
            raise ValueError(f"results.json schema {d.get('schema')!r}: this version reads schemas "
                             f"{', '.join(map(str, READS))}")
        return cls(d["week"], d["start"], d["end"], [ManagerResult.from_json(m) for m in d["managers"]],
                   [Deal.from_json(x) for x in d["deals"]], [Rejection.from_json(x) for x in d["rejections"]],
                   Stats.from_json(d["stats"]), [Ruling.from_json(x) for x in d.get("rulings", [])],
                   [Clawback.from_json(x) for x in d.get("clawbacks", [])],
                   [Adjustment.from_json(x) for x in d.get("adjustments", [])])


def _source(d: dict[str, Any]) -> Source:
    return Source(d["file"], d["sheet"], d["row"])
