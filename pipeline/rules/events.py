"""The history as the rules see it: one `Event` per stored row, and the replay order (SPEC §4).

Times stay ISO strings (`YYYY-MM-DDTHH:MM:SS`): they sort like the times they name, and a
million of them need no parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from ..schema import IDENTITY


class Event(NamedTuple):
    seq: int            # order read: earlier runs first; within a run file, sheet, row
    run_id: str
    kind: str           # registrations | leads | visits | units | deals
    at: str             # ISO local time of the event
    phone: str          # '' for units
    who: str            # manager, or registered_by for registrations
    salesperson: str
    customer: str
    unit_name: str
    unit_key: str
    photo: str
    address: str
    party_size: str
    amount: str         # salesperson commission of a deal, two decimals
    room: str
    note: str
    file: str
    sheet: str
    row: int


class Registered:
    """Registrations as columns (one list per field, position i is one row): a registrations
    sheet's rows that passed reading, and the stored ones the replay takes.

    A big office's ledger is a million rows that only ever register phones: as columns they are
    read, deduplicated, stored and replayed without an object per row, and the replay takes from
    them only what can matter (`replay.py`). A sheet's rows as read have no `seq`, `file` and
    `sheet` yet (those are the sheet's, and the order read is given when they are stored)."""

    __slots__ = ("seq", "at", "phone", "who", "customer", "note", "file", "sheet", "row")

    def __init__(self) -> None:
        self.seq: list[int] = []
        self.at: list[str] = []        # ISO, to the second
        self.phone: list[str] = []
        self.who: list[str] = []       # registered_by: the owner if this row is the phone's first
        self.customer: list[str] = []
        self.note: list[str] = []
        self.file: list[str] = []
        self.sheet: list[str] = []
        self.row: list[int] = []

    def __len__(self) -> int:
        return len(self.row)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registered) and self.columns() == other.columns()

    def __repr__(self) -> str:
        return f"Registered({len(self)} rows)"

    def columns(self) -> tuple[list[Any], ...]:
        return tuple(getattr(self, c) for c in self.__slots__)

    def append(self, row: int, values: dict[str, Any]) -> None:
        """A row read (its clean values by column name), without `seq`, `file` and `sheet`."""
        self.row.append(row)
        self.phone.append(values["phone"])
        self.at.append(values["registered_at"].isoformat())
        self.who.append(values["registered_by"])
        self.customer.append(values["customer"])
        self.note.append(values["note"])

    def subset(self, keep: list[int]) -> Registered:
        """The rows at these positions, in this order (columns not filled stay empty)."""
        out = Registered()
        for column in self.__slots__:
            values = getattr(self, column)
            setattr(out, column, [values[i] for i in keep] if values else [])
        return out

    def identities(self) -> Iterator[tuple[str, ...]]:
        """Each row's identity (SPEC §2.4, `schema.IDENTITY`): rows with the same one are the
        same registration."""
        return zip(*(getattr(self, _FIELD[column]) for column in IDENTITY["registrations"]), strict=True)

    def event(self, i: int, run_id: str = "") -> Event:
        """Row i as an `Event`, for the few rows the replay walks one by one."""
        return Event(self.seq[i], run_id, "registrations", self.at[i], self.phone[i], self.who[i], "",
                     self.customer[i], "", "", "", "", "", "", "", self.note[i], self.file[i], self.sheet[i],
                     self.row[i])


# The field of `Registered` holding each column of a registrations row.
_FIELD = {"phone": "phone", "registered_at": "at", "registered_by": "who", "customer": "customer", "note": "note"}


def replay_key(event: Event) -> tuple[str, int, int]:
    """Time; then registrations before other kinds; then the order read."""
    return (event.at, 0 if event.kind == "registrations" else 1, event.seq)
