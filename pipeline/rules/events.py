"""The history as the rules see it: one `Event` per stored row, and the replay order (SPEC §4).

Times stay ISO strings (`YYYY-MM-DDTHH:MM:SS`): they sort like the times they name, and a
million of them need no parsing.
"""

from __future__ import annotations

from typing import NamedTuple


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
    """Stored registrations as columns (one list per field, position i is one row).

    A big office's ledger is a million rows that only ever register phones: kept as columns they
    cost no object per row, and the replay takes from them only what can matter (`replay.py`)."""

    __slots__ = ("seq", "at", "phone", "who", "customer", "note", "file", "sheet", "row")

    def __init__(self) -> None:
        self.seq: list[int] = []
        self.at: list[str] = []
        self.phone: list[str] = []
        self.who: list[str] = []       # registered_by: the owner if this row is the phone's first
        self.customer: list[str] = []
        self.note: list[str] = []
        self.file: list[str] = []
        self.sheet: list[str] = []
        self.row: list[int] = []

    def __len__(self) -> int:
        return len(self.seq)

    def event(self, i: int, run_id: str = "") -> Event:
        """Row i as an `Event`, for the few rows the replay walks one by one."""
        return Event(self.seq[i], run_id, "registrations", self.at[i], self.phone[i], self.who[i], "",
                     self.customer[i], "", "", "", "", "", "", "", self.note[i], self.file[i], self.sheet[i],
                     self.row[i])


def replay_key(event: Event) -> tuple[str, int, int]:
    """Time; then registrations before other kinds; then the order read."""
    return (event.at, 0 if event.kind == "registrations" else 1, event.seq)
