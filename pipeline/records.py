"""The records every part of the program shares: who the people are, where a row came from,
the history as the rules see it (one `Event` per stored row, registrations as columns), and the
ownership ledger at a week's end.

This module is neutral ground: the reader, the state, the rules and the reports all import it,
and it imports none of them (only `schema`, the standard library and Arrow), so no part has to
reach into another for a shared type.

Times stay ISO strings (`YYYY-MM-DDTHH:MM:SS`): they sort like the times they name, and a
million of them need no parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple


class Source(NamedTuple):
    """Where a row came from: the file's name in the inbox, the sheet, the row number Excel shows.
    (Named tuples, not frozen dataclasses: a big ledger makes a million of them.)"""

    file: str
    sheet: str
    row: int

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sheet": self.sheet, "row": self.row}


@dataclass(frozen=True)
class Person:
    """A roster entry (SPEC §2.2). Dates are the roster's, inclusive; None where left empty."""

    name: str
    role: str            # manager | salesperson | leader
    team: str
    email: str
    active_from: date | None
    active_to: date | None

    def active_on(self, day: date) -> bool:
        """Roster dates only, inclusive; holidays do not matter here (work on a holiday counts)."""
        return (self.active_from is None or self.active_from <= day) and (
            self.active_to is None or day <= self.active_to)

    def to_json(self) -> dict[str, Any]:
        """As a stored report keeps it: the dates as ISO text."""
        return {"name": self.name, "role": self.role, "team": self.team, "email": self.email,
                "active_from": _iso_day(self.active_from), "active_to": _iso_day(self.active_to)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Person:
        """From `to_json`'s form (a date, or a date-time as some stored reports have it)."""
        return cls(d["name"], d["role"], d["team"], d["email"], _day(d["active_from"]), _day(d["active_to"]))


def _iso_day(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


class Event(NamedTuple):
    """One stored row as the rules see it (registrations also come as columns: `Registered`)."""

    seq: int            # order read: earlier runs first; within a run file, sheet, row
    run_id: str
    kind: str           # registrations | leads | visits | units | deals | rulings | cancellations | adjustments
    at: str             # ISO local time of the event
    phone: str          # '' for units
    who: str            # manager, registered_by for registrations, owner for rulings
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
    approved_by: str    # rulings and adjustments (SPEC §7)
    reason: str         # adjustments
    file: str
    sheet: str
    row: int

    @property
    def source(self) -> Source:
        return Source(self.file, self.sheet, self.row)


class ClientVisit(NamedTuple):
    """A stored row of the client-visit log (SPEC §9) as the follow-up rules see it: its cells
    as text after §2.3 ('' where empty; dates ISO), the order it was last read in (`seq`), the
    run that last stored it, and where that row was (`sheet_index`: the sheet's place in its
    workbook)."""

    seq: int
    run_id: str
    manager: str
    client: str
    contacted_at: str   # ISO local date-time
    phone: str
    attitude: str       # keen | neutral | resistant | ''
    issue: str
    follow_up_by: str
    due_on: str         # ISO date or ''
    status: str         # open | in_progress | answered | closed | ''
    answered_at: str    # ISO date or ''
    birthday: str       # ISO date or ''
    note: str
    file: str
    sheet: str
    sheet_index: int
    row: int

    @property
    def source(self) -> Source:
        return Source(self.file, self.sheet, self.row)


# The cells of a client visit that its kind's columns give, in `ClientVisit` order: what an
# update compares (SPEC §9: after §2.3 normalisation, in the kind's columns only).
CLIENT_VISIT_CELLS = ("manager", "client", "contacted_at", "phone", "attitude", "issue", "follow_up_by", "due_on",
                      "status", "answered_at", "birthday", "note")


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
                      note, "", "", file, sheet, row)
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


def phone_keys(phones: Any) -> Any:
    """Phones (Arrow text) as a numpy array that sorts and compares as Arrow sorts the texts:
    int64 where every one is 11 ASCII digits (`as_number`), else the texts themselves (objects:
    Python compares them by code point, as Arrow does by their UTF-8 bytes). A year's ledger
    holds a million phones: looked up by `numpy.searchsorted` among its keys in order, not
    hashed again each week."""
    import numpy as np
    import pyarrow as pa

    if isinstance(phones, pa.ChunkedArray):
        phones = phones.combine_chunks()
    keys = as_number(phones, PHONE)
    if pa.types.is_integer(keys.type):
        return keys.to_numpy()
    return np.array(keys.to_pylist(), dtype=object)


def key_texts(keys: Any) -> Any:
    """`phone_keys` back to the phones (Arrow text): an integer key is 11 digits, leading zeros
    put back."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if keys.dtype == object:
        return pa.array(list(keys), pa.string())
    return pc.utf8_lpad(pc.cast(pa.array(keys, pa.int64()), pa.string()), 11, "0")


def same_kind(a: Any, b: Any) -> tuple[Any, Any]:
    """Two arrays of `phone_keys` made comparable: both integers, or both texts (an empty one
    takes the other's kind)."""
    import numpy as np

    if a.dtype == b.dtype:
        return a, b
    if not len(a):
        return np.empty(0, b.dtype), b
    if not len(b):
        return a, np.empty(0, a.dtype)
    as_text = [np.array(key_texts(k).to_pylist(), dtype=object) if k.dtype != object else k for k in (a, b)]
    return as_text[0], as_text[1]


def among_sorted(asked: Any, keys: Any) -> Any:
    """Which of `asked` (phone keys, any order) are among `keys` (phone keys, in order, distinct):
    a numpy bool per asked one, and where it is in `keys` (numpy int64; meaningless where not)."""
    import numpy as np

    asked, keys = same_kind(asked, keys)
    at = np.searchsorted(keys, asked)
    found = np.zeros(len(asked), bool)
    inside = at < len(keys)
    found[inside] = keys[at[inside]] == asked[inside]
    return found, at


def replay_key(event: Event) -> tuple[str, int, int]:
    """Time; then registrations before other kinds; then the order read."""
    return (event.at, 0 if event.kind == "registrations" else 1, event.seq)


class Ledger:
    """The whole registration ledger at a week's end (owner of every phone, first visit), in
    phone order, as an Arrow table of text columns: a big office's ledger is a million rows, and
    as columns it is built from the registrations by position, sorted and written to ledger.csv
    without a Python object per row (`report.write.write_ledger_csv`)."""

    COLUMNS = ("phone", "customer", "owner", "at", "via", "first_visit")  # via: registrations | leads

    __slots__ = ("_table", "_alone", "origin")

    def __init__(self, table: Any = None) -> None:
        self._table = table  # None: empty
        self._alone: Any = None  # with `merged`: the part already in phone order
        # Where the part in phone order comes from, when it is the rows of a closed week's
        # ledger.csv less some: (the end of that week (ISO), their positions among its rows (numpy,
        # ascending), its rows). ledger.csv is then that file's lines with this week's changed
        # ones (`report.write`): none of the year's million rows is made into text again.
        self.origin: tuple[str, Any, int] | None = None

    @classmethod
    def merged(cls, walked: Any, alone: Any) -> Ledger:
        """The ledger of two tables of distinct phones, no phone in both: `walked` in no order,
        `alone` in phone order (a big office's million rows). Nothing is sorted or copied until
        asked: `in_runs` gives the phone order as runs of the two, from which ledger.csv is
        written without copying the million rows; `table` puts them in one table."""
        ledger = cls(walked)
        ledger._alone = alone
        return ledger

    def in_runs(self) -> tuple[Any, Any, Any]:
        """(walked, alone, before): the ledger in phone order as the walked rows sorted, the
        alone rows as they are, and for each walked row how many alone rows come before it (a
        numpy array, non-decreasing). A ledger not `merged` is all alone."""
        import numpy

        if self._alone is None:
            return self._table.slice(0, 0), self._table, numpy.zeros(0, numpy.int64)
        walked, _, before = self.walked_runs()
        alone = self._alone.load() if isinstance(self._alone, KeptRows) else self._alone
        return walked, alone, before

    def walked_runs(self) -> tuple[Any, int, Any]:
        """(walked, alone, before) as `in_runs` gives them, but only how many alone rows there
        are: their phones are all it reads of them (rows a snapshot keeps, `KeptRows`, are not
        decoded: a week's ledger.csv spliced from the week before's needs no more)."""
        import numpy
        import pyarrow as pa

        if self._alone is None:
            return self._table.slice(0, 0), len(self), numpy.zeros(0, numpy.int64)
        walked, alone = self._table, self._alone
        # Both sides numbers or both text (`same_kind`); a snapshot's rows give their keys as
        # stored, none of their phones made text.
        alone_keys = alone.keys() if isinstance(alone, KeptRows) else phone_keys(alone.column("phone"))
        walked_keys, alone_keys = same_kind(phone_keys(walked.column("phone")), alone_keys)
        order = numpy.argsort(walked_keys, kind="stable")
        before = numpy.searchsorted(alone_keys, walked_keys[order])
        return walked.take(pa.array(order, pa.int64())), int(alone.num_rows), before

    @property
    def table(self) -> Any:
        if self._alone is not None:
            self._table = self.in_order()
            self._alone = None
        return self._table

    def in_order(self) -> Any:
        """The rows in phone order as one table, the ledger left as it is (a `merged` one is
        still written from its runs)."""
        if self._alone is None:
            return self._table
        import pyarrow as pa

        return pa.Table.from_batches(list(self.in_order_batches()), ledger_schema())

    IN_ORDER_STEP = 131_072  # rows a batch of `in_order_batches`

    def in_order_batches(self) -> Iterator[Any]:
        """The rows in phone order as record batches of `IN_ORDER_STEP` rows, each made when
        asked: a year's ledger is put in order for storing without a second copy of it whole."""
        import numpy
        import pyarrow as pa

        if self._table is None:
            return
        if self._alone is None:
            yield from self._table.to_batches(self.IN_ORDER_STEP)
            return
        if isinstance(self._alone, KeptRows):
            # rows a snapshot keeps: read from it a batch at a time, the walked ones put among them
            walked, _, before = self.walked_runs()
            yield from _interleaved(walked, before, self._alone.batches())
            return
        walked, alone, before = self.in_runs()
        size = walked.num_rows + alone.num_rows
        lands = before + numpy.arange(walked.num_rows)  # where each walked row goes
        order = numpy.empty(size, numpy.int64)
        order[lands] = numpy.arange(walked.num_rows)
        rest = numpy.ones(size, bool)
        rest[lands] = False
        order[rest] = walked.num_rows + numpy.arange(alone.num_rows)
        both = pa.concat_tables([walked, alone])
        for start in range(0, size, self.IN_ORDER_STEP):
            part = both.take(pa.array(order[start:start + self.IN_ORDER_STEP])).combine_chunks()
            yield from part.to_batches()

    def parts(self) -> tuple[Any, Any]:
        """(ordered, loose): the rows in phone order and the rest in none (None if there are
        none), as they are, nothing sorted or copied. A ledger not `merged` is all in order."""
        if self._table is None:
            return Ledger.from_columns(*([] for _ in self.COLUMNS))._table, None
        if self._alone is None:
            return self._table, None
        return self._alone, self._table

    @classmethod
    def from_columns(cls, *columns: Any) -> Ledger:
        """From the six columns (lists or Arrow arrays of text; first_visit may hold None)."""
        import pyarrow as pa

        return cls(pa.table([c if isinstance(c, pa.Array) else pa.array(c, pa.string()) for c in columns],
                            schema=ledger_schema()))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str, str, str, str | None]]) -> Ledger:
        listed = list(rows)
        return cls.from_columns(*([r[k] for r in listed] for k in range(len(cls.COLUMNS))))

    def __len__(self) -> int:
        return sum(int(t.num_rows) for t in (self._table, self._alone) if t is not None)

    def column(self, name: str) -> list[Any]:
        return [] if self.table is None else list(self.table.column(name).to_pylist())

    def rows(self) -> Iterator[tuple[str, str, str, str, str, str | None]]:
        return zip(*(self.column(c) for c in self.COLUMNS), strict=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ledger) and list(self.rows()) == list(other.rows())

    def __getstate__(self) -> tuple[Any]:
        return (self.table,)

    def __setstate__(self, state: tuple[Any]) -> None:
        (self._table,) = state
        self._alone = None
        self.origin = None


class KeptRows:
    """Rows of a stored snapshot's ledger (`LedgerChain`) at `positions` (ascending, in its phone
    order), as the alone part of a `Ledger.merged`: the phones no newer row names. Only their
    phones are at hand; the rows are decoded when asked (`load`): a week's ledger.csv spliced
    from the week before's lines needs none of them, so the year's ledger is never decoded."""

    __slots__ = ("chain", "positions", "_phones")

    def __init__(self, chain: LedgerChain, positions: Any) -> None:
        self.chain = chain
        self.positions = positions  # numpy int64
        self._phones: Any = None

    @property
    def num_rows(self) -> int:
        return len(self.positions)

    def column(self, name: str) -> Any:
        if name != "phone":
            return self.load().column(name)
        if self._phones is None:
            import pyarrow as pa

            self._phones = pa.chunked_array([key_texts(self.keys())])
        return self._phones

    def keys(self) -> Any:
        """Their phones' keys (`phone_keys`), in order: taken from the snapshot's."""
        return self.chain.keys[self.positions]

    def load(self) -> Any:
        return self.chain.whole(self.positions)

    def batches(self) -> Iterator[Any]:
        """The rows in phone order as record batches, read from the snapshot a batch at a time
        (`LedgerChain.batches`): never all of them at once."""
        return self.chain.batches(self.positions)


class LedgerChain:
    """A stored snapshot's ledger (`Ledger.COLUMNS`, each row a phone): a whole one (`base`),
    or the rows that changed since the one it started from, chained to it. `blobs` are the
    encoded tables from the snapshot back to its whole one, `phones` the ledger's phones in
    order (None for a whole one: its own column), stored as their keys (`phone_keys`: int64)
    where they are numbers, as text otherwise or where an earlier version stored them. A run
    reads only the rows of the phones it names (`lookup`, the whole one read a batch at a time)
    and their order (`keys`, `phones`)."""

    def __init__(self, week: str, blobs: list[bytes], phones: bytes | None, decode: Any) -> None:
        self.week = week
        self._blobs = blobs
        self._phones_blob = phones
        self._decode = decode  # (bytes) -> a RecordBatchReader of text columns
        self._phones: Any = None
        self._keys: Any = None
        self._overlay: Any = None
        self._named: tuple[Any, Any] | None = None  # (phones, which of its phones are among them): `named`
        meta = decode(blobs[0]).schema.metadata or {}
        self.lines = meta.get(b"lines") == b"1"  # its rows are the lines of a closed week's ledger.csv
        self.depth = len(blobs) - 1
        self._base_meta = decode(blobs[-1]).schema.metadata or {}

    @property
    def encoded(self) -> tuple[list[bytes], bytes | None]:
        """What it is read from: the encoded tables, newest first, and its phones (or None)."""
        return self._blobs, self._phones_blob

    @property
    def base_rows(self) -> int:
        """How many rows its whole one has (the ledger it was chained to)."""
        return int(self._base_meta.get(b"rows", self._base_meta.get(b"ordered", b"0")))

    def _read(self, blob: bytes) -> Any:
        import pyarrow as pa

        return pa.Table.from_batches([_as_text(b) for b in self._decode(blob)], ledger_schema())

    def overlay(self) -> Any:
        """The rows the chain's changes hold, each phone's newest, in no order."""
        if self._overlay is None:
            import pyarrow as pa
            import pyarrow.compute as pc

            parts = [self._read(blob) for blob in self._blobs[:-1]]
            seen: Any = None
            kept = []
            for part in parts:  # newest first
                if seen is not None:
                    part = part.filter(pc.invert(pc.is_in(part.column("phone"), value_set=seen)))
                kept.append(part)
                seen = part.column("phone").combine_chunks() if seen is None else pa.concat_arrays(
                    [seen, part.column("phone").combine_chunks()])
            self._overlay = pa.concat_tables(kept).combine_chunks() if kept else ledger_schema().empty_table()
        return self._overlay

    def read_ahead(self) -> None:
        """Read now what `lookup` reads whatever the phones: the changes (`overlay`) and a
        chained one's stored phones (`keys`)."""
        self.overlay()
        if self._phones_blob is not None:
            self._read_stored_phones()

    def let_go(self) -> None:
        """Let go of what was decoded of the changes (`overlay`): after the replay only the
        phones are read (a ledger.csv spliced from the week before's), and the changes of a long
        chain are a few hundred thousand rows the reports' processes would start with."""
        self._overlay = None

    @property
    def changed_rows(self) -> int:
        """How many rows its changes hold together (the newest of each phone)."""
        return int(self.overlay().num_rows)

    def lookup(self, phones: Any) -> Any:
        """The rows of these phones (an Arrow array of text) the ledger holds, in no order. A
        whole one's phones, read on the way, are kept (`phones`), and where they are in order so
        is which of them are among these (`named`)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        overlay = self.overlay()
        found = [overlay.filter(pc.is_in(overlay.column("phone"), value_set=phones))]
        rest = pc.filter(phones, pc.invert(pc.is_in(phones, value_set=overlay.column("phone").combine_chunks())))
        if self._phones_blob is not None:  # its phones at hand: only those it holds looked for batch by batch
            rest = rest.filter(pa.array(among_sorted(phone_keys(rest), self.keys)[0]))
        whole = self._phones is None and self._phones_blob is None and self.depth == 0
        every: list[Any] = []
        hits: list[Any] = []
        asked = None if whole else _fixed_width(rest)
        # rows past the first `ordered` in no order (stored so by earlier versions): not searched
        ordered = None if self._base_meta.get(SORTED) == b"1" else int(self._base_meta.get(b"ordered", b"0"))
        read = 0
        for batch in self._decode(self._blobs[-1]):
            in_order = ordered is None or (read := read + batch.num_rows) <= ordered
            at = None if asked is None or not in_order else _positions_among(batch.column(0), asked)
            if at is not None:  # found by binary search among the batch's phones in order
                found.append(pa.Table.from_batches([_as_text(batch.take(at))]))
                continue
            hit = pc.is_in(batch.column(0), value_set=_within(rest, batch.column(0)))
            if whole:
                every.append(batch.column(0))
                hits.append(hit)
            # the few rows found made text (the managers' names are a dictionary), not the million
            found.append(pa.Table.from_batches([_as_text(batch.filter(hit))]))
        if whole:
            column = pa.chunked_array(every, pa.string()).combine_chunks()
            self._phones = self._ordered(column)
            if self._phones is column:  # no overlay: the phones looked up are all of `rest`
                self._named = (phones, pa.chunked_array(hits, pa.bool_()).combine_chunks())
        return pa.concat_tables(found).combine_chunks()

    def named(self, phones: Any) -> Any:
        """Which of the ledger's phones (`phones`, in its order) are among these (Arrow text):
        what `lookup` of the same array found on the way, or each of these found among the
        ledger's keys in order (`among_sorted`: the few looked up in the million, not the
        million in a hash of the few)."""
        import numpy as np
        import pyarrow as pa

        if self._named is not None and self._named[0] is phones:
            return self._named[1]
        keys = self.keys
        found, at = among_sorted(phone_keys(phones), keys)
        named = np.zeros(len(keys), bool)
        named[at[found]] = True
        return pa.array(named)

    @property
    def size(self) -> int:
        """How many phones the ledger holds (from its keys where they are stored)."""
        if self._keys is not None:
            return len(self._keys)
        return len(self.keys) if self._phones_blob is not None else len(self.phones)

    @property
    def keys(self) -> Any:
        """The keys of the ledger's phones in its order (`phone_keys`: numpy, ascending)."""
        if self._keys is None:
            self._read_stored_phones()
            if self._keys is None:
                self._keys = phone_keys(self.phones)
        return self._keys

    def _read_stored_phones(self) -> None:
        """The phones stored with a chained one, read once: as keys (int64, `_keys`) where stored
        so, else as text (`_phones`, as earlier versions stored them). A whole one has none."""
        if self._phones_blob is None or self._keys is not None or self._phones is not None:
            return
        stored = pa_column(self._decode(self._phones_blob), "phone")
        if pa_is_integer(stored):
            self._keys = stored.to_numpy()
        else:
            self._phones = stored

    @property
    def phones(self) -> Any:
        """The ledger's phones in its order (an Arrow array of text)."""
        if self._phones is None:
            if self._phones_blob is not None:
                self._read_stored_phones()
                if self._phones is None:
                    self._phones = key_texts(self._keys)
            elif self.depth == 0:
                self._phones = self._ordered(self._read(self._blobs[-1]).column("phone").combine_chunks())
            else:
                self._phones = self.whole().column("phone").combine_chunks()
        return self._phones

    def _ordered(self, phones: Any) -> Any:
        """A whole one's phones, in phone order (one stored in part in no order: sorted)."""
        import pyarrow.compute as pc

        if int(self._base_meta.get(b"ordered", b"0")) == len(phones):
            return phones
        return phones.take(pc.sort_indices(as_number(phones, PHONE)))

    def whole(self, positions: Any = None) -> Any:
        """Every row in phone order (the fallback where a ledger must be written whole), or with
        `positions` (numpy, ascending) the rows there: one copy of them taken from the decoded
        whole one and the changes, nothing else copied."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        overlay = self.overlay()
        base = self._read(self._blobs[-1]).replace_schema_metadata(None)
        both = pa.concat_tables([base, overlay])
        keep: Any = np.arange(both.num_rows, dtype=np.int64)
        if overlay.num_rows:  # the whole one's rows of the phones the changes hold are not kept
            changed = pc.is_in(base.column("phone"), value_set=overlay.column("phone").combine_chunks())
            keep = keep[np.concatenate([~changed.to_numpy(zero_copy_only=False), np.ones(overlay.num_rows, bool)])]
        keys = as_number(both.column("phone"), PHONE).take(pa.array(keep))
        order = keep[pc.sort_indices(keys).to_numpy()]
        if positions is not None:
            order = order[positions]
        return both.take(pa.array(order)).combine_chunks()


    def batches(self, positions: Any = None) -> Iterator[Any]:
        """`whole(positions)` as record batches, made a batch of the whole one at a time: its
        rows (in phone order) less those of the phones the changes hold, merged with the changes
        (a few weeks' rows, put in phone order), only the rows at `positions` kept. The year's
        ledger is never decoded whole: storing it whole again costs a batch of memory, not the
        ledger twice over. A whole one stored in part in no order (before its rows were all put
        in order, `SORTED`) is read twice: first for its rows after the ordered part."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        ordered = None if self._base_meta.get(SORTED) == b"1" else int(self._base_meta.get(b"ordered", b"0"))
        changes = self.overlay()
        if ordered is not None:  # its loose rows are merged as the changes are (the changes' newer)
            loose = _rows_after(self._decode(self._blobs[-1]), ordered)
            loose = loose.filter(pc.invert(pc.is_in(loose.column("phone"),
                                                    value_set=changes.column("phone").combine_chunks())))
            changes = pa.concat_tables([changes, loose])
        changes = changes.combine_chunks()
        changes = changes.take(pc.sort_indices(as_number(changes.column("phone").combine_chunks(), PHONE)))
        changed = changes.column("phone").combine_chunks()
        state = {"at": 0, "done": 0}  # rows of the ledger gone by; changes merged

        def kept(part: Any) -> Any:
            """Of the ledger's rows from `state["at"]` on (`part`), those at `positions`."""
            start = state["at"]
            state["at"] += part.num_rows
            if positions is None:
                return part
            lo, hi = np.searchsorted(positions, [start, start + part.num_rows])
            return part.take(pa.array(positions[lo:hi] - start))

        def pieces() -> Iterator[Any]:
            """The whole one's rows of its ordered part, `STREAM_STEP` at a time."""
            read = 0
            for batch in self._decode(self._blobs[-1]):
                if ordered is not None:
                    batch, read = batch.slice(0, max(0, min(batch.num_rows, ordered - read))), read + batch.num_rows
                for start in range(0, batch.num_rows, STREAM_STEP):
                    yield batch.slice(start, STREAM_STEP)

        for batch in pieces():
            if len(changed):
                batch = batch.filter(pc.invert(pc.is_in(batch.column(0), value_set=changed)))
            if not batch.num_rows:
                continue
            done = state["done"]
            upto = done + int(pc.sum(pc.less_equal(changed.slice(done), batch.column(0)[-1])).as_py() or 0)
            part = pa.Table.from_batches([_as_text(batch)])
            if upto > done:
                part = pa.concat_tables([part, changes.slice(done, upto - done)])
                part = part.take(pc.sort_indices(as_number(part.column("phone").combine_chunks(), PHONE)))
            state["done"] = upto
            yield from kept(part).combine_chunks().to_batches()
        if state["done"] < changes.num_rows:
            yield from kept(changes.slice(state["done"])).combine_chunks().to_batches()


# Rows a batch of `LedgerChain.batches`: each is copied a few times on its way (filtered, merged,
# made text, encoded), so small ones keep the memory it takes small (measured on a 780,000-row
# ledger: 131,072-row batches took 130 MB more at the peak than 32,768-row ones, for the same time).
STREAM_STEP = 32_768

# The metadata of a whole snapshot ledger every row of which is in phone order (`ordered` says how
# many rows are: earlier ones kept the walked rows after them in no order).
SORTED = b"sorted"


def _rows_after(reader: Any, n: int) -> Any:
    """The rows of a reader's batches after its first `n`, as a table of text."""
    import pyarrow as pa

    rows, read = [], 0
    for batch in reader:
        if read + batch.num_rows > n:
            rows.append(_as_text(batch.slice(max(0, n - read))))
        read += batch.num_rows
    return pa.Table.from_batches(rows, ledger_schema())


def _interleaved(walked: Any, before: Any, alone: Iterator[Any]) -> Iterator[Any]:
    """The rows of `walked` (a table in phone order) put among those of the batches `alone` (in
    phone order), walked row `j` before the `before[j]`-th alone row (`Ledger.walked_runs`): one
    batch out for each batch in, the walked rows that fall in it added."""
    import numpy
    import pyarrow as pa

    seen = taken = 0  # alone rows gone by; walked rows put in
    for batch in alone:
        n = batch.num_rows
        upto = int(numpy.searchsorted(before, seen + n, side="left"))  # walked rows before the next batch
        yield from _spliced(pa.Table.from_batches([batch]), walked.slice(taken, upto - taken),
                            before[taken:upto] - seen).to_batches()
        seen, taken = seen + n, upto
    if taken < walked.num_rows:
        yield from walked.slice(taken).combine_chunks().to_batches()


def _spliced(alone: Any, walked: Any, before: Any) -> Any:
    """One batch of `alone`'s rows with `walked`'s among them (walked row `j` before the
    `before[j]`-th alone row; both in phone order)."""
    import numpy
    import pyarrow as pa

    if not walked.num_rows:
        return alone.replace_schema_metadata(None).combine_chunks()
    size = alone.num_rows + walked.num_rows
    lands = before + numpy.arange(walked.num_rows)
    order = numpy.empty(size, numpy.int64)
    order[lands] = alone.num_rows + numpy.arange(walked.num_rows)
    rest = numpy.ones(size, bool)
    rest[lands] = False
    order[rest] = numpy.arange(alone.num_rows)
    both = pa.concat_tables([alone.replace_schema_metadata(None), walked.replace_schema_metadata(None)])
    return both.take(pa.array(order)).combine_chunks()


def pa_column(reader: Any, name: str) -> Any:
    """One column of what a reader gives, as one Arrow array."""
    return reader.read_all().column(name).combine_chunks()


def pa_is_integer(column: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(column.type))


def _within(values: Any, column: Any) -> Any:
    """Those of `values` (text) between the least and the greatest of `column`: the only ones
    it can hold. A whole ledger is stored in phone order, its batches each a range of phones, so
    each is looked up among a part of the phones asked for, not a hash of all of them again."""
    import pyarrow.compute as pc

    least, greatest = pc.min_max(column).values()
    if not least.is_valid:
        return values.slice(0, 0)
    return values.filter(pc.and_(pc.greater_equal(values, least), pc.less_equal(values, greatest)))


PHONE_BYTES = 11  # a mainland mobile number: the width `_fixed_width` compares phones at


def _fixed_width(phones: Any) -> Any:
    """Phones (Arrow text) of `PHONE_BYTES` bytes as numpy fixed-width bytes, in order (the
    others cannot be among phones of that width: left out)."""
    import numpy as np

    encoded = [p.encode("utf-8") for p in phones.to_pylist()]
    return np.sort(np.array([p for p in encoded if len(p) == PHONE_BYTES], dtype=f"S{PHONE_BYTES}"))


def _positions_among(column: Any, asked: Any) -> Any:
    """Where the phones `asked` (`_fixed_width`) are in `column` (a batch of a stored ledger:
    Arrow text in phone order, distinct), as numpy int64, ascending; None unless every phone of
    `column` has `PHONE_BYTES` bytes. Each phone asked is found by a binary search on the
    batch's bytes as they are: none of its phones hashed or copied (a year's ledger is read
    this way each week for a few thousand phones)."""
    import numpy as np
    import pyarrow as pa

    n = len(column)
    if not n or column.null_count or not pa.types.is_string(column.type):
        return None
    _, offsets_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, n + 1, column.offset * 4)
    if not (np.diff(offsets) == PHONE_BYTES).all():
        return None
    data = np.frombuffer(data_buffer, f"S{PHONE_BYTES}", n, int(offsets[0]))
    lo, hi = np.searchsorted(asked, data[0], "left"), np.searchsorted(asked, data[-1], "right")
    within = asked[lo:hi]
    at = np.searchsorted(data, within)
    return at[data[at] == within].astype(np.int64)


def _as_text(batch: Any) -> Any:
    """A batch with its dictionary columns (a snapshot's few distinct texts) as plain text."""
    import pyarrow as pa

    columns = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=ledger_schema())


def ledger_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(c, pa.string()) for c in Ledger.COLUMNS])
