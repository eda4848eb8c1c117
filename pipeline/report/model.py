"""What a computed week hands to the writers: `results.json` plus the lists the reports show.

A `WeekReport` is stored whole when the week closes (JSON, and its new registrations as Arrow
columns: `WeekReport.to_bytes`), so a closed week re-renders from it without reading any input
or recomputing anything. Everything in it is plain data: strings,
ints, ISO date-times (`YYYY-MM-DDTHH:MM:SS`) and money as two-decimal strings, exactly like
`results.json` (made by its one model, `results.WeekResults`), and the roster's `records.Person`.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from .. import ledgerstore
from ..records import Ledger, Person, Source
from ..results import FollowUps, WeekResults
from ..xlsx import zlib_compress


class Lead(NamedTuple):
    """An accepted number (诚意客户号码汇总表)."""

    manager: str
    phone: str
    customer: str
    at: str
    source: Source


class Visit(NamedTuple):
    """A counted batch (批)."""

    manager: str
    phone: str
    customer: str
    at: str
    salesperson: str
    party_size: str
    source: Source


class Unit(NamedTuple):
    """A counted organisation."""

    manager: str
    unit_name: str
    address: str
    at: str
    photo: str
    source: Source


class LedgerEntry(NamedTuple):
    """Who owns a phone: registered first by `owner` at `at`, from a `registrations` or `leads` row."""

    phone: str
    customer: str
    owner: str
    at: str
    via: str                 # registrations | leads
    source: Source
    first_visit: str | None = None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    now: str                 # the run's clock (--now), ISO
    config: dict[str, Any]   # the configuration values used (no secrets)
    files: list[tuple[str, str]]  # (file name in the inbox, SHA-256) read by the run


_Row = TypeVar("_Row", Lead, Visit, Unit, LedgerEntry)

TREND_WEEKS = 8          # the weeks a trend shows: the week written and the closed ones before it


@dataclass
class WeekReport:
    week: str
    start: str               # ISO date of the Monday
    end: str                 # ISO date of the Sunday
    lang: str
    office: str
    results: dict[str, Any]  # exactly results.json (SPEC §5.1): `WeekResults.to_json()`
    run: RunInfo
    roster: list[Person] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    # `Registrations` (Arrow columns) as the run makes them and as a closed week reads them back.
    new_registrations: Sequence[LedgerEntry] = field(default_factory=list)
    # The whole ledger as of the week's end, phone order. Large: kept as columns.
    ledger: Ledger = field(default_factory=lambda: Ledger())
    # ledger.csv as written when the week closed, packed as the state keeps it (`pack_ledger_csv`,
    # or a chain of deltas: `ledgerstore.resolve`):
    # a re-render writes these bytes back instead of the rows above (which are not stored: a
    # million of them would make closing slow). Unpacked only where ledger.csv is written: in a
    # big week's re-render, by the second report process, beside the summary.
    ledger_stored: bytes | list[bytes] | None = None
    # The closed weeks before this one that its trends show, oldest first: (week, the managers of
    # its results.json). Read from the state when the week is written or re-rendered (closed
    # weeks never change, so a re-render shows the same), never stored with the week.
    earlier: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    # followups.json (SPEC §9): the client-visit log's follow-ups as of the week's end
    # (`results.FollowUps.to_json()`); an empty one for weeks closed before the log existed.
    followups: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.followups:
            self.followups = FollowUps(self.week).to_json()

    def without_ledger(self) -> WeekReport:
        """This report without the ledger's rows and stored ledger.csv: all that the summary, the
        statements and the emails are made from (only `write.ASIDE` reads the ledger), for a
        process given the report to write them (pickled: a year's ledger is tens of MB)."""
        if self.ledger_stored is None and self.ledger.origin is None and not len(self.ledger):
            return self
        return dataclasses.replace(self, ledger=Ledger(), ledger_stored=None)

    def for_emails(self) -> WeekReport:
        """What the emails are made from (`mail`): this report without its rows (leads, visits,
        units, new registrations: the statements that list them are attached as written) nor
        the ledger, for the processes that build them (pickled)."""
        return dataclasses.replace(self, leads=[], visits=[], units=[], new_registrations=[], ledger=Ledger(),
                                   ledger_stored=None)

    def ledger_head(self) -> WeekReport:
        """What the ledger's files need of this report but the ledger (`ledger_part`'s fields):
        the head and the new registrations."""
        return WeekReport(week=self.week, start=self.start, end=self.end, lang=self.lang, office=self.office,
                          results={}, run=self.run, new_registrations=self.new_registrations)

    def to_bytes(self) -> bytes:
        """Everything but the ledger, in two parts (`_REPORT_MARK`, the first part's size, the
        parts): compressed JSON of all but the week's new registrations, then those as Arrow
        columns (`Registrations.to_bytes`). On a big office they are half the report, and only
        ledger.xlsx reads them: a re-render takes them as columns, with no Python object per
        row. The rows in the JSON (named tuples) go in as arrays, which the encoder writes
        without a Python call per row."""
        doc = {
            "format": 3,
            "week": self.week, "start": self.start, "end": self.end, "lang": self.lang, "office": self.office,
            "results": self.results,
            "run": {"run_id": self.run.run_id, "now": self.run.now, "config": self.run.config,
                    "files": [list(f) for f in self.run.files]},
            "roster": [p.to_json() for p in self.roster],
            "leads": self.leads, "visits": self.visits, "units": self.units,
            "followups": self.followups,
        }
        # zlib's format (read back by zlib.decompress), made by ISA-L where installed: the big
        # office's 31 MB of JSON in 0.04 s instead of 0.14 s.
        head = zlib_compress(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(), 1)
        return b"".join((_REPORT_MARK, len(head).to_bytes(8, "little"), head,
                         Registrations.of(self.new_registrations).to_bytes()))

    @classmethod
    def from_bytes(cls, blob: bytes) -> WeekReport:
        """A stored report, in any format a version of this program stored: 3 (`to_bytes`), 2
        (one JSON, rows as arrays) or 1 (rows as objects)."""
        new: Sequence[LedgerEntry]
        if blob.startswith(_REPORT_MARK):
            size = int.from_bytes(blob[len(_REPORT_MARK):len(_REPORT_MARK) + 8], "little")
            start = len(_REPORT_MARK) + 8
            d = json.loads(zlib.decompress(blob[start:start + size]))
            new = Registrations.from_bytes(memoryview(blob)[start + size:])
        else:
            d = json.loads(zlib.decompress(blob))
            new = _stored_rows(LedgerEntry, d["new_registrations"], d.get("format", 1))

        def rows(kind: type[_Row], items: list[Any]) -> list[_Row]:
            return _stored_rows(kind, items, d.get("format", 1))

        return cls(
            week=d["week"], start=d["start"], end=d["end"], lang=d["lang"], office=d["office"],
            results=WeekResults.from_json(d["results"]).to_json(),  # read through the one model
            run=RunInfo(d["run"]["run_id"], d["run"]["now"], d["run"]["config"],
                        [tuple(f) for f in d["run"]["files"]]),
            roster=[Person.from_json(p) for p in d["roster"]],
            leads=rows(Lead, d["leads"]),
            visits=rows(Visit, d["visits"]),
            units=rows(Unit, d["units"]),
            new_registrations=new,
            followups=FollowUps.from_json(d["followups"]).to_json() if d.get("followups") else {},
        )

    @classmethod
    def ledger_part(cls, blob: bytes, ledger: bytes | list[bytes] | None) -> WeekReport | None:
        """What the ledger's files need of a stored week (`write.ASIDE`), read without decoding
        the rest: the head's fields (week, dates, language, office), the new registrations and
        the stored ledger.csv; no results, no rows. None for a report stored in another form
        than `to_bytes`'s, or whose head is not where `to_bytes` puts it."""
        if not blob.startswith(_REPORT_MARK):
            return None
        size = int.from_bytes(blob[len(_REPORT_MARK):len(_REPORT_MARK) + 8], "little")
        start = len(_REPORT_MARK) + 8
        head = _json_head(memoryview(blob)[start:start + size])
        if head is None:
            return None
        return cls(week=head["week"], start=head["start"], end=head["end"], lang=head["lang"], office=head["office"],
                   results={}, run=RunInfo("", "", {}, []),
                   new_registrations=Registrations.from_bytes(memoryview(blob)[start + size:]), ledger_stored=ledger)

    def manager_names(self) -> list[str]:
        return [m["name"] for m in self.results["managers"]]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (for a report writer's process) with its rows as columns (`_row_columns`): a
        big week's hundred thousand named tuples, pickled one by one, took the run half a second
        to pickle and the writer as long to load, where a few lists of plain values take a
        fifth of that."""
        state = dict(self.__dict__)
        for name in _ROWS:
            state[name] = _row_columns(state[name])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, kind in _ROWS.items():
            state[name] = _column_rows(kind, state[name])
        self.__dict__.update(state)


# The report's rows pickled as columns (`WeekReport.__getstate__`): each kind's source comes last.
_ROWS: dict[str, type[Any]] = {"leads": Lead, "visits": Visit, "units": Unit}


def _row_columns(rows: Sequence[Any]) -> Any:
    """Rows whose last field is a `Source` as (their other fields' columns, their sources'
    columns); other values (rows of another form) as they are."""
    if not rows or not isinstance(rows, list) or not all(type(r.source) is Source for r in rows):
        return rows
    *values, sources = zip(*rows, strict=True)
    return _Columns(values, list(zip(*sources, strict=True)))


class _Columns(NamedTuple):
    values: list[tuple[Any, ...]]
    sources: list[tuple[Any, ...]]


def _column_rows(kind: type[Any], packed: Any) -> Any:
    """`_row_columns` undone."""
    if not isinstance(packed, _Columns):
        return packed
    return list(map(kind._make, zip(*packed.values, map(Source._make, zip(*packed.sources, strict=True)),
                                    strict=True)))


_REPORT_MARK = b"\x00kamreport3\x1e"   # a zlib stream (formats 1 and 2) never starts with a zero byte
# In `to_bytes`'s JSON the head's short fields come first, then "results": text that no string
# value can hold (its quotes would be escaped), so the first of it ends the head.
_HEAD_END = b',"results":'
_HEAD_FIELDS = ("format", "week", "start", "end", "lang", "office")


def _json_head(compressed: memoryview) -> dict[str, Any] | None:
    """The fields before "results" of a stored report's JSON, decompressed only as far as they go."""
    stream = zlib.decompressobj()
    text = b""
    step = 4096
    while _HEAD_END not in text:
        more = stream.decompress(stream.unconsumed_tail or compressed, step)
        if not more:
            return None
        compressed = memoryview(b"")
        text += more
    head = json.loads(text[:text.index(_HEAD_END)] + b"}")
    if not isinstance(head, dict) or tuple(head) != _HEAD_FIELDS or head["format"] != 3:
        return None
    return head


def _stored_rows(kind: type[_Row], items: list[Any], version: int) -> list[_Row]:
    """Stored rows as named tuples: JSON arrays (format 2 and later) or, as weeks closed by the
    first versions stored them, objects."""
    if version == 1:
        return [kind(**{**x, "source": Source(**x["source"])}) for x in items]
    cut: int = kind._fields.index("source")
    width, new = len(kind._fields), tuple.__new__
    # Made as `_make` makes a named tuple (tuple's own constructor), without its Python call per
    # row, and with the lengths it checks checked once for all: a big week's hundred thousand
    # rows were a fifth of a re-render's decoding. The lists are the JSON just decoded: each
    # row's source is put in its place.
    if any(len(x) != width or len(x[cut]) != len(Source._fields) for x in items):
        raise TypeError(f"a stored {kind.__name__} row has not the fields {kind._fields}")
    for x in items:
        x[cut] = new(Source, x[cut])
    return [new(kind, x) for x in items]


def _entries(columns: Sequence[Sequence[Any]]) -> list[LedgerEntry]:
    """`Registrations.COLUMNS` (lists) as rows."""
    return [LedgerEntry(phone, customer, owner, at, via, Source(file, sheet, row), first)
            for phone, customer, owner, at, via, file, sheet, row, first in zip(*columns, strict=True)]


def _registration_types() -> list[Any]:
    """The Arrow type of each of `Registrations.COLUMNS`: text, but the source's row number."""
    import pyarrow as pa

    return [pa.int64() if name == "row" else pa.string() for name in Registrations.COLUMNS]


class Registrations(Sequence[LedgerEntry]):
    """A week's new registrations as Arrow columns (`COLUMNS`: the entry's fields, its source's
    three in place of the source), read as `LedgerEntry` rows when asked.

    A stored report keeps them this way (Arrow's IPC stream, zstd): ledger.xlsx takes the
    columns (`columns`) as they are, where a hundred thousand rows decoded from JSON into named
    tuples, then turned back into columns, were most of a big re-render's one-core start. Values
    Arrow's types do not hold (a row number that is not an int) are stored as compressed JSON
    rows, as they were in the first version of this format. Read back from a stored report, they
    are decoded when first used: a re-render's processes but the one writing ledger.xlsx never
    use them (nor need Arrow for them)."""

    COLUMNS = ("phone", "customer", "owner", "at", "via", "file", "sheet", "row", "first_visit")
    _ARROW = b"A"   # then Arrow's IPC stream; otherwise the bytes are a zlib stream of JSON rows

    __slots__ = ("_rows", "_stored", "_table")

    def __init__(self, table: Any = None, rows: list[LedgerEntry] | None = None,
                 stored: bytes | memoryview | None = None) -> None:
        self._table = table
        self._rows = rows
        self._stored = stored   # `to_bytes`'s form, not decoded yet (`_decoded`)

    @classmethod
    def of(cls, rows: Sequence[LedgerEntry]) -> Registrations:
        """`rows` as registrations: as they are when they are, else `from_columns` of them."""
        if isinstance(rows, Registrations):
            return rows
        listed = list(rows)
        return cls.from_columns([[getattr(r, f) for r in listed] for f in cls.COLUMNS[:5]]
                                + [[getattr(r.source, f) for r in listed] for f in Source._fields]
                                + [[r.first_visit for r in listed]])

    @classmethod
    def from_columns(cls, columns: Sequence[Sequence[Any]]) -> Registrations:
        """From `COLUMNS` given as lists, as the run has them: made into Arrow once, for both
        ledger.xlsx and the stored report (as rows, when a value does not fit its type)."""
        import pyarrow as pa

        try:
            return cls(pa.table([pa.array(v, t) for v, t in zip(columns, _registration_types(), strict=True)],
                                names=list(cls.COLUMNS)))
        except (pa.ArrowException, TypeError, ValueError):
            return cls(rows=_entries(columns))

    def table_ready(self) -> bool:
        """Whether the rows are held as Arrow columns (all but those `from_columns` kept as rows)."""
        self._decoded()
        return self._table is not None

    def columns(self) -> list[Any]:
        """Each of `COLUMNS`, one Arrow array (`table_ready` only)."""
        self._decoded()
        assert self._table is not None
        return [column.combine_chunks() for column in self._table.columns]

    def to_bytes(self) -> bytes:
        self._decoded()
        if self._table is None:
            return zlib_compress(json.dumps(self._rows, ensure_ascii=False).encode(), 1)
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self._table.schema,
                               options=pa.ipc.IpcWriteOptions(compression="zstd")) as out:
            out.write_table(self._table)
        return self._ARROW + sink.getvalue().to_pybytes()

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> Registrations:
        """`to_bytes`'s form read back, decoded when first used."""
        return cls(stored=data)

    def __getstate__(self) -> tuple[Any, Any, bytes | None]:
        """Pickled (for a report writer's process) as they are: decoded or not (a view of the
        stored report goes as its bytes)."""
        return self._table, self._rows, None if self._stored is None else bytes(self._stored)

    def __setstate__(self, state: tuple[Any, Any, bytes | None]) -> None:
        self._table, self._rows, self._stored = state

    def _decoded(self) -> None:
        data, self._stored = self._stored, None
        if data is None:
            return
        if bytes(data[:1]) != self._ARROW:   # a zlib stream never starts with "A"
            self._rows = _stored_rows(LedgerEntry, json.loads(zlib.decompress(data)), 3)
            return
        import pyarrow as pa

        self._table = pa.ipc.open_stream(pa.py_buffer(data[1:])).read_all()

    def _all(self) -> list[LedgerEntry]:
        self._decoded()
        if self._rows is None:
            self._rows = _entries([column.to_pylist() for column in self.columns()])
        return self._rows

    def __len__(self) -> int:
        self._decoded()
        return len(self._rows) if self._rows is not None else int(self._table.num_rows)

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Registrations({len(self)} rows)"


# A closed week's ledger.csv as the state keeps it (`ledgerstore`): whole, or as a chain of
# deltas from a later week's (a list of blobs, `ledgerstore.resolve`).
pack_ledger_csv = ledgerstore.pack
unpack_ledger_csv = ledgerstore.unpack
ledger_csv_size = ledgerstore.size
