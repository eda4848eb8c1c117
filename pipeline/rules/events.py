"""The history as the rules see it: one `Event` per stored row, and the replay order (SPEC §4).

Times stay ISO strings (`YYYY-MM-DDTHH:MM:SS`): they sort like the times they name, and a
million of them need no parsing.
"""

from __future__ import annotations

from typing import Any, NamedTuple


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
    """Registrations as columns (position i is one row): a registrations sheet's rows that
    passed reading, and the stored ones the replay takes.

    A big office's ledger is a million rows that only ever register phones: as columns they are
    read, deduplicated, stored and replayed without an object per row, and the replay takes from
    them only what can matter (`replay.py`). A sheet's rows as read have no `seq`, `file` and
    `sheet` yet (those are the sheet's, and the order read is given when they are stored).

    Each column is a Python list or an Arrow array, whichever its maker had: the columnar reader,
    the state and the replay work on arrays (a million rows cross from the reading process,
    are stored and sorted without becoming Python strings), the cell reader and the tests build
    lists. `array(name)` and the column attributes turn one into the other when asked."""

    COLUMNS = ("seq", "at", "phone", "who", "customer", "note", "file", "sheet", "row")
    _NUMBERS = ("seq", "row")

    seq: list[int]
    at: list[str]        # ISO, to the second
    phone: list[str]
    who: list[str]       # registered_by: the owner if this row is the phone's first
    customer: list[str]
    note: list[str]
    file: list[str]
    sheet: list[str]
    row: list[int]

    __slots__ = ("_data",)

    def __init__(self, **columns: Any) -> None:
        """Empty, or from columns given by name (lists or Arrow arrays; those not given are empty)."""
        self._data: dict[str, Any] = {c: columns.get(c, []) for c in self.COLUMNS}

    def _list(self, name: str) -> list[Any]:
        values = self._data[name]
        if not isinstance(values, list):
            values = self._data[name] = _pylist(values)
        return values

    def array(self, name: str) -> Any:
        """The column as an Arrow array (int64 or string; `file` and `sheet` from the state are
        dictionary-encoded strings, which read back as the same texts)."""
        import pyarrow as pa

        values = self._data[name]
        if isinstance(values, list):
            values = self._data[name] = pa.array(values, pa.int64() if name in self._NUMBERS else pa.string())
        return values

    def __len__(self) -> int:
        return len(self._data["row"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registered) and self.columns() == other.columns()

    def __repr__(self) -> str:
        return f"Registered({len(self)} rows)"

    def __getstate__(self) -> dict[str, Any]:
        return self._data

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._data = state

    def columns(self) -> tuple[list[Any], ...]:
        return tuple(self._list(c) for c in self.COLUMNS)

    def append(self, row: int, values: dict[str, Any]) -> None:
        """A row read (its clean values by column name), without `seq`, `file` and `sheet`."""
        self.row.append(row)
        self.phone.append(values["phone"])
        self.at.append(values["registered_at"].isoformat())
        self.who.append(values["registered_by"])
        self.customer.append(values["customer"])
        self.note.append(values["note"])

    def take(self, positions: Any) -> Registered:
        """The rows at these positions (a list or an Arrow array), in this order, as arrays
        (columns not filled stay empty)."""
        return Registered(**{c: self.array(c).take(positions) for c in self.COLUMNS if len(self._data[c])})

    def events(self, positions: Any, run_id: str = "") -> list[Event]:
        """The rows at these positions as `Event`s, for the few rows the replay walks one by one."""
        part = self.take(positions) if len(positions) else Registered()
        return [Event(seq, run_id, "registrations", at, phone, who, "", customer, "", "", "", "", "", "", "",
                      note, file, sheet, row)
                for seq, at, phone, who, customer, note, file, sheet, row in zip(*part.columns(), strict=True)]


def _pylist(array: Any) -> list[Any]:
    """An Arrow array as a list. A dictionary-encoded one (the stored `file` and `sheet`) is
    decoded through its dictionary: pyarrow's `to_pylist` boxes each of its values one by one,
    measured 2.5 µs a value (0.13 s for 50,000), against 0.03 µs this way."""
    import pyarrow as pa

    if pa.types.is_dictionary(array.type) and not array.null_count:
        words = array.dictionary.to_pylist()
        return [words[i] for i in array.indices.to_pylist()]
    return list(array.to_pylist())


def _column(name: str) -> property:
    """A column of `Registered` as a list (`Registered._list`); setting it sets the column."""

    def get(self: Registered) -> list[Any]:
        return self._list(name)

    def put(self: Registered, values: Any) -> None:
        self._data[name] = values

    return property(get, put)


for _name in Registered.COLUMNS:
    setattr(Registered, _name, _column(_name))


PHONE, TIME = "phone", "time"  # the kinds of text `as_number` turns into integers


def as_number(column: Any, kind: str) -> Any:
    """A text column to sort by, as integers that sort the same where that is certain: phones
    when every one is 11 ASCII digits, times when every one is ISO to the second (19
    characters). Integers sort about four times faster than text, and hash faster; otherwise the
    text as it is. Equal texts give equal integers either way."""
    import pyarrow as pa
    import pyarrow.compute as pc

    size = 11 if kind == PHONE else 19
    if not len(column) or not pc.all(pc.equal(pc.utf8_length(column), size)).as_py():
        return column
    try:
        if kind == PHONE:
            if not (pc.all(pc.string_is_ascii(column)).as_py() and pc.all(pc.utf8_is_digit(column)).as_py()):
                return column
            return pc.cast(column, pa.int64())
        return pc.cast(pc.cast(column, pa.timestamp("s")), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return column


def replay_key(event: Event) -> tuple[str, int, int]:
    """Time; then registrations before other kinds; then the order read."""
    return (event.at, 0 if event.kind == "registrations" else 1, event.seq)
