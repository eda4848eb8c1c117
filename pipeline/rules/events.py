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


def replay_key(event: Event) -> tuple[str, int, int]:
    """Time; then registrations before other kinds; then the order read."""
    return (event.at, 0 if event.kind == "registrations" else 1, event.seq)
