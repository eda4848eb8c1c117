"""SPEC §2.4 in one place: what a run takes from its inbox, and what it drops as seen before.

- identity: `schema.IDENTITY` names a row's identity columns; `identity_digest` makes the one
  key the database's unique index holds (`stored_form` puts it beside the row's columns);
- stored before: a row whose identity is stored is a duplicate. Most kinds leave that to the
  unique index (INSERT OR IGNORE); registrations, a million-row ledger dropped again every week,
  are compared as Arrow columns (`Known`, `_stored_before`, `_store_registrations`);
- rejected before: a rejected row whose cells as read equal a row an earlier run rejected is a
  duplicate too (`rejected_fingerprint`); so is a late row (SPEC §3, `weeks.may_be_late`)
  stored or rejected before;
- updated (SPEC §9, `UPDATED_KINDS`): a client-visit log row whose identity is stored but whose
  cells differ replaces the stored row instead of being a duplicate (`_store_client_visits`).
  This is the one place where that difference lives.

The reader hands over rows with their provenance; `prepare` and `shortcut`, run where a file is
read, turn them into stored forms there, so a file crosses to the run in half the bytes.
`Intake.store` takes each file's sheets in turn.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from . import normalise as nz
from .io.read import Problem, Row, Sheet, as_read
from .records import CLIENT_VISIT_CELLS, PHONE, ClientVisit, Event, Registered, as_number
from .results import Rejection
from .schema import IDENTITY, KINDS, TIME_COLUMN, column_type
from .state import BARE_IDENTS_UNTIL, STORED_COLUMNS, State, history_events
from .weeks import Week, may_be_late

# ---------------------------------------------------------------------------------------------
# identity and the stored form


def digest(text: str) -> bytes:
    """The 16-byte digest the database keeps of an identity or of a rejected row."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def identity_digest(kind: str, texts: list[str]) -> bytes:
    """A row's identity as stored: its kind and its identity columns' texts (`schema.IDENTITY`
    order), digested."""
    return digest(kind + "\x1f" + "\x1f".join(texts))


@lru_cache(maxsize=4096)
def _day(at: str) -> bytes:
    """The day of an ISO time as 3 bytes that sort as the days do (its proleptic ordinal)."""
    return date.fromisoformat(at[:10]).toordinal().to_bytes(DAY_BYTES, "big")


DAY_BYTES = 3


def row_identity(kind: str, texts: list[str], at: str) -> bytes:
    """A row's identity as the `rows` table keeps it: its day (`at`, the row's time as stored,
    which is among its identity's columns) then `identity_digest`. The identity index is
    ordered by day: a week's new rows go to its end, not to every page of it. Rows stored by
    schema 12 and earlier keep the bare digest (`bare_identity`; `state.BARE_IDENTS`)."""
    return _day(at) + identity_digest(kind, texts)


def bare_identity(ident: bytes) -> bytes:
    """`row_identity` without its day: the identity as schema 12 and earlier stored it."""
    return ident[DAY_BYTES:]


def rejected_fingerprint(kind: str, as_read: tuple[str, ...] | list[str]) -> bytes:
    """A rejected (or late) row as remembered: its kind and its cells' texts as read, in the
    kind's column order (`read.as_read`), digested."""
    return digest(kind + "\x1f" + "\x1f".join(as_read))


# A row's stored form as made where its file is read: `state.STORED_COLUMNS` from `kind` on
# (the run prefixes seq and run_id when it stores the row).
FORM = STORED_COLUMNS[2:]
_POS = {name: i for i, name in enumerate(FORM)}
_AT = _POS["at"]
_IDENT_AT = _POS["ident"]
# SPEC §9: the kinds whose re-read rows update the stored row of their identity (the latest
# read wins) instead of being dropped as duplicates. Every other kind keeps the row read first.
UPDATED_KINDS = frozenset({"client_visits"})

# The stored column an input column fills; any other fills the column of its own name.
STORED_AS = {"registered_by": "who", "manager": "who", "owner": "who", "commission": "amount",
             **{column: "at" for column in TIME_COLUMN.values()}}


def stored_name(column: str) -> str:
    return STORED_AS.get(column, column)


# Per kind: the identity's positions in the form, and (column, position) of every other text
# the form takes from a row's values (identity columns not among the kind's, like a unit's
# key, are made by the reader).
_IDENT = {kind: tuple(_POS[stored_name(c)] for c in columns) for kind, columns in IDENTITY.items()
          if kind not in UPDATED_KINDS}
_FILLS = {kind: [(c, _POS[stored_name(c)])
                 for c in dict.fromkeys([*KINDS[kind].columns, *columns]) if c != TIME_COLUMN[kind]]
          for kind, columns in IDENTITY.items() if kind not in UPDATED_KINDS}
_BLANK_FORM = tuple("" for _ in FORM)


def stored_form(row: Row) -> tuple[Any, ...]:
    """A row's stored form from `kind` on (`FORM`): every value once as text, the identity
    digested from those texts. Runs once per row the reader's shortcut did not take."""
    v = row.values
    kind = row.kind
    form: list[Any] = list(_BLANK_FORM)
    form[0] = kind
    form[_AT] = v[TIME_COLUMN[kind]].isoformat()
    for column, i in _FILLS[kind]:
        value = v.get(column)
        if value is not None:
            form[i] = value if value.__class__ is str else str(value)
    source = row.source
    form[-3], form[-2], form[-1] = source.file, source.sheet, source.row
    form[_POS["ident"]] = row_identity(kind, [form[i] for i in _IDENT[kind]], form[_AT])
    return tuple(form)


def client_visit(row: Row, seq: int, run_id: str, sheet_index: int) -> tuple[bytes, ClientVisit]:
    """A client-visit log row (SPEC §9) as stored: its identity digest and its cells as text."""
    v = row.values

    def text(column: str) -> str:
        value = v.get(column)
        return "" if value is None else value.isoformat() if isinstance(value, date) else str(value)

    ident = identity_digest(row.kind, [text(c) for c in IDENTITY[row.kind]])
    source = row.source
    return ident, ClientVisit._make([seq, run_id, *(text(c) for c in CLIENT_VISIT_CELLS), source.file, source.sheet,
                                     sheet_index, source.row])


def registration_keys(block: Registered) -> Any:
    """Each registration's identity (`schema.IDENTITY`) as one Arrow string: rows with the same
    one are the same registration. The parts are joined by U+001F; the phone (11 characters)
    and the time (19) have fixed lengths, so no two identities share a key."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Large strings (64-bit offsets): tens of millions of keys pass 2 GB of text.
    parts = [pc.cast(block.array(column), pa.large_string()) for column in REGISTRATION_IDENTITY]
    return pc.binary_join_element_wise(*parts, pa.scalar("\x1f", pa.large_string()))


# The `Registered` fields holding a registration's identity (its fields are stored columns' names).
REGISTRATION_IDENTITY = tuple(stored_name(c) for c in IDENTITY["registrations"])
assert set(REGISTRATION_IDENTITY) <= set(Registered.COLUMNS)


# ---------------------------------------------------------------------------------------------
# where a file is read: stored forms


# The kinds stored one row each (`State.add_rows`): every dated kind but registrations, which
# are stored as column blocks (`State.add_registrations`). Derived from the schema, so a new
# dated kind is stored without a change here.
ROW_KINDS = frozenset(TIME_COLUMN) - {"registrations"} - UPDATED_KINDS


def prepare(sheets: list[Sheet], late_range: tuple[str, str] | None = None,
            prefixes: dict[tuple[str, str], tuple[int, bytes]] | None = None) -> None:
    """`read_files`' `prepare`, in the reading child: each row's stored form (`stored_form`), so
    the run only prefixes seq and run when it stores the file. The row objects are dropped but
    those that may be late (`Sheet.late_rows`): the file crosses to the run in half the bytes,
    and is decoded there in half the time.

    A registrations sheet whose first rows are those an earlier run read of it (`prefixes`, by
    file and sheet: `State.sheet_prefixes`) crosses without them (`_seen_before_here`): a
    cumulative ledger dropped again every week sends the run its new rows only."""
    for sheet in sheets:
        if sheet.kind in ROW_KINDS and sheet.rows:
            _stored_forms(sheet, late_range)
        elif sheet.registrations is not None and prefixes is not None:
            _seen_before_here(sheet, prefixes.get((sheet.file, sheet.sheet)))


def _seen_before_here(sheet: Sheet, known: tuple[int, bytes] | None) -> None:
    """The digest of a registrations sheet's rows (`prefix_digest`, which the run keeps for the
    next), and its first rows left out when an earlier run read them unchanged (`known`: how
    many, and their digest): they are duplicates, told without the run seeing them."""
    import numpy as np
    import pyarrow as pa

    block = sheet.registrations
    assert block is not None
    # The known rows' digest made from the same keys as the whole sheet's: a ledger dropped
    # again made them twice (with a copy of the block), a tenth of a second of its worker.
    earlier = known is not None and 0 < known[0] <= len(block)
    digests = prefix_digests(block, [len(block), *([known[0]] if known is not None and earlier else [])])
    sheet.digest = digests[0]
    if not len(block):
        return
    sheet.last_row = int(block.array("row")[-1].as_py())
    seen = known[0] if known is not None and earlier and digests[1] == known[1] else 0
    if seen:
        sheet.seen_before = seen
        sheet.registrations = block.take(pa.array(np.arange(seen, len(block), dtype=np.int64)))


def _matching_prefix(block: Registered, known: tuple[int, bytes] | None) -> int:
    """How many of the block's first rows are those `known` (rows, digest) describes: 0 when
    none or when they changed."""
    if known is None or not 0 < known[0] <= len(block):
        return 0
    return known[0] if prefix_digest(block, known[0]) == known[1] else 0


def _stored_forms(sheet: Sheet, late_range: tuple[str, str] | None) -> None:
    """A sheet's rows as stored forms (`Sheet.stored`, in row order with those the reader's
    `shortcut` made), those that may be late kept as rows (`Sheet.late_rows`), the others let go."""
    forms = [stored_form(row) for row in sheet.rows]
    late = {form[-1]: row for form, row in zip(forms, sheet.rows, strict=True)
            if may_be_late(sheet.kind, form[_AT], late_range)}
    if sheet.stored:  # two runs in row order (numbers are distinct): the sort merges them
        forms = sorted([*sheet.stored, *forms], key=itemgetter(-1))
    sheet.stored = forms
    sheet.late_rows = {k: late[form[-1]] for k, form in enumerate(forms) if form[-1] in late} if late else {}
    sheet.released += len(sheet.rows)
    sheet.rows = []


# The kinds the reader's shortcut takes: their columns are text but one phone and one time.
_SHORT_KINDS = frozenset({"leads", "visits"})


def shortcut(kind: str, at: dict[str, int], file: str, sheet: str,
             late_range: tuple[str, str] | None = None) -> Callable[[list[Any], int], tuple[Any, ...] | None] | None:
    """`read.Shortcut` for leads and visits, run where the file is read: a row whose phone and
    time take the bulk short path (`nz.quick_phone`, `nz.quick_time`) and whose required text
    columns are not blank goes straight to the stored form `parse_row` then `stored_form` would
    give it (a property test compares the two on messy cells). Any other row, and a row that may
    be late (§3: it is compared with what earlier runs rejected), is left to `parse_row`. A
    week's 100,000 leads become stored forms in 0.31-0.38 s instead of 0.90-1.43 s."""
    if kind not in _SHORT_KINDS or "phone" not in at or TIME_COLUMN[kind] not in at:
        return None
    ip, it = at["phone"], at[TIME_COLUMN[kind]]
    required = set(KINDS[kind].required)
    texts = [(_POS[stored_name(c)], at[c], c in required) for c in KINDS[kind].columns
             if c in at and column_type(c) == "text"]
    ident = _IDENT[kind]
    blank: list[Any] = list(_BLANK_FORM)  # the stored form of a row of empty texts
    blank[0], blank[-3], blank[-2], blank[-1] = kind, file, sheet, 0
    at_pos, phone_pos, ident_pos = _AT, _POS["phone"], _POS["ident"]
    quick_phone, quick_time, text = nz.quick_phone, nz.quick_time, nz.text

    def stored(cells: list[Any], number: int) -> tuple[Any, ...] | None:
        phone, when = quick_phone(cells[ip]), quick_time(cells[it])
        if phone is None or when is None or may_be_late(kind, when, late_range):
            return None
        form = blank.copy()
        for slot, i, needed in texts:
            value = form[slot] = text(cells[i])
            if needed and not value:
                return None
        form[at_pos], form[phone_pos], form[-1] = when, phone, number
        form[ident_pos] = row_identity(kind, [form[s] for s in ident], when)
        return tuple(form)

    return stored


# ---------------------------------------------------------------------------------------------
# registrations: stored before, as Arrow columns


@dataclass
class Known:
    """Registrations a sheet's are compared with (stored, or read earlier in this run): their
    phones as numbers (`as_number`), and their identity keys (`registration_keys`) made only
    when asked. A key includes its phone, so only rows whose phone is known can repeat a key."""

    block: Registered
    numbers: Any
    _keys: Any = None

    @classmethod
    def of(cls, block: Registered, keys: Any = None) -> Known:
        return cls(block, as_number(block.array("phone"), PHONE), keys)

    @property
    def keyed(self) -> bool:
        """Whether the keys are made already (the stored registrations': made ahead)."""
        return self._keys is not None

    def keys(self) -> Any:
        if self._keys is None:
            self._keys = registration_keys(self.block)
        return self._keys

    def keys_of(self, numbers: Any) -> Any:
        """The keys of the rows whose phone is among `numbers`."""
        import pyarrow.compute as pc

        return registration_keys(self.block.take(pc.indices_nonzero(pc.is_in(self.numbers, value_set=numbers))))


def stored_before(block: Registered, numbers: Any, known: list[Known]) -> Any:
    """Which of the block's rows are stored or read already, as a boolean array (None: none).

    Known registrations whose keys are made (the stored ones, made while the big file is read)
    are compared key for key (`_repeated_keys`). For the others (this run's), rows whose phone
    none of them has cannot repeat one, so keys are made and compared only for the rest:
    storing a million-row ledger beside another sheet compared a million keys (0.5 s) where a
    few thousand phones are shared."""
    known = [k for k in known if len(k.numbers)]
    keyed = [k for k in known if k.keyed]
    keys = registration_keys(block) if keyed else None
    return _either(_repeated_keys(keys, keyed) if keyed else None,
                   _shared_phones(block, numbers, [k for k in known if not k.keyed]))


def _repeated_keys(keys: Any, known: list[Known]) -> Any:
    """Which of these keys the known registrations have (None: none); the hash table is built on
    the smaller side (a few new rows against a million stored: the new rows' keys)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    every = known[0].keys() if len(known) == 1 else pa.concat_arrays([k.keys() for k in known])
    if 4 * len(keys) < len(every):
        every = every.filter(pc.is_in(every, value_set=keys))
    repeated = pc.is_in(keys, value_set=every)
    return repeated if pc.any(repeated).as_py() else None


def _shared_phones(block: Registered, numbers: Any, known: list[Known]) -> Any:
    """`stored_before` against registrations without keys made: keys only where a phone is shared."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not known:
        return None
    types = {numbers.type, *(k.numbers.type for k in known)}
    if len(types) > 1:  # phones that are not all numbers on one side: compared as texts
        numbers = pc.cast(block.array("phone"), pa.large_string())
        known = [Known(k.block, pc.cast(k.block.array("phone"), pa.large_string())) for k in known]
    every = known[0].numbers if len(known) == 1 else pa.concat_arrays([k.numbers for k in known])
    shared = pc.is_in(numbers, value_set=every)
    if not pc.any(shared).as_py():
        return None
    rows = pc.indices_nonzero(shared)
    if 2 * len(rows) > len(block):  # most phones known (a ledger dropped twice in one run): every key
        return _repeated_keys(registration_keys(block), known)
    phones = pc.unique(numbers.take(rows))
    earlier = pa.concat_arrays([k.keys_of(phones) for k in known])
    repeated = pc.is_in(registration_keys(block.take(rows)), value_set=earlier)
    if not pc.any(repeated).as_py():
        return None
    return pc.replace_with_mask(pa.repeat(pa.scalar(False), len(block)), shared, repeated)


def _either(a: Any, b: Any) -> Any:
    """Two row masks of `stored_before` (None: no row) as one."""
    import pyarrow.compute as pc

    return b if a is None else a if b is None else pc.or_(a, b)


def _stored_before_file(state: State, sheets: list[Sheet], known: list[Known]) -> dict[int, tuple[Any, Any]]:
    """For a file's registrations sheets: each sheet's phones (`as_number`) and which of its rows
    were stored or read before the file, by `id` of the sheet. `known`: the sheets read earlier
    in this run.

    A cumulative ledger dropped again begins with the rows an earlier run read from it, in the
    same order (`prefix_digest`, kept per file and sheet): those are seen before, told by one
    digest, without reading what is stored. The other rows of all the sheets (a week's few
    hundred new ones) are compared in one pass (`stored_before`) with this run's sheets and with
    the stored registrations sharing a phone with them (`State.registrations_of`, found a block
    at a time): the stored history is never in memory whole."""
    import pyarrow as pa
    import pyarrow.compute as pc

    blocks = [s.registrations for s in sheets if s.registrations is not None]
    numbers = _numbers(blocks)
    prefixes = [_read_before(state, s, b) for s, b in zip(sheets, blocks, strict=True)]
    seen = pa.concat_arrays([pa.concat_arrays([pa.repeat(pa.scalar(True), n), pa.repeat(pa.scalar(False), len(b) - n)])
                             for b, n in zip(blocks, prefixes, strict=True)])
    rest = pc.indices_nonzero(pc.invert(seen))
    others = None
    stored_any = len(rest) > 0 and state.has_registrations()  # none on an office's first run
    if stored_any or (len(rest) and known):
        block = _rows_of(blocks, rest)
        stored = state.registrations_of(pc.unique(block.array("phone"))) if stored_any else Registered()
        keyed = [Known.of(stored, registration_keys(stored))] if len(stored) else []
        others = stored_before(block, numbers.take(rest), keyed + known)
    old: Any = seen if others is None else pc.replace_with_mask(seen, pc.invert(seen), others)
    if not pc.any(old).as_py():
        old = None
    out: dict[int, tuple[Any, Any]] = {}
    start = 0
    for sheet, block in zip(sheets, blocks, strict=True):
        out[id(sheet)] = (numbers.slice(start, len(block)), None if old is None else old.slice(start, len(block)))
        start += len(block)
    return out


def _numbers(blocks: list[Registered]) -> Any:
    """The phones of the blocks one after another, `as_number`: each block's made alone (a
    million-row ledger's columns are not copied into one first), unless they differ in kind."""
    import pyarrow as pa

    each = [as_number(b.array("phone"), PHONE) for b in blocks]
    if len({a.type for a in each}) == 1:
        return each[0] if len(each) == 1 else pa.concat_arrays(each)
    return as_number(pa.concat_arrays([b.array("phone") for b in blocks]), PHONE)


def _rows_of(blocks: list[Registered], rows: Any) -> Registered:
    """The rows at the positions `rows` (ascending) of the blocks one after another, with the
    columns an identity needs: taken from each block, only the rows asked for copied."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts, start = [], 0
    for block in blocks:
        mine = rows.filter(pc.and_(pc.greater_equal(rows, start), pc.less(rows, start + len(block))))
        parts.append(block.take(pc.subtract(mine, pa.scalar(start, mine.type))))
        start += len(block)
    return Registered(**{c: pa.concat_arrays([p.array(c) for p in parts]) for c in ("row", *REGISTRATION_IDENTITY)})


def prefix_digest(block: Registered, rows: int) -> bytes:
    """A digest of a registrations sheet's first `rows` rows as read: their row numbers and
    identities (`registration_keys`), in order."""
    import numpy as np
    import pyarrow as pa

    part = block.take(pa.array(np.arange(rows, dtype=np.int64))) if rows < len(block) else block
    return prefix_digests(part, [rows])[0]


def prefix_digests(block: Registered, counts: list[int]) -> list[bytes]:
    """`prefix_digest` of the block's first rows, for each of `counts` (at most its length):
    the identities are made once, for the whole block."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pc.cast(pc.fill_null(registration_keys(block), "\x00"), pa.large_string())
    numbers = pc.cast(pc.fill_null(pc.cast(block.array("row"), pa.int64()), -1), pa.int64())
    return [_digest(keys.slice(0, rows), numbers.slice(0, rows)) for rows in counts]


def _digest(keys: Any, numbers: Any) -> bytes:
    import numpy as np

    digest = hashlib.blake2b(digest_size=16)
    digest.update(numbers.to_numpy(zero_copy_only=False).tobytes())
    offsets = np.frombuffer(keys.buffers()[1], np.int64)[keys.offset:keys.offset + len(keys) + 1]
    digest.update((offsets - offsets[0]).tobytes())
    data = keys.buffers()[2]
    if data is not None and len(keys):
        digest.update(memoryview(data)[int(offsets[0]):int(offsets[-1])])
    return digest.digest()


def _read_before(state: State, sheet: Sheet, block: Registered) -> int:
    """How many of the block's first rows an earlier run read, unchanged, from the same file and
    sheet (`State.sheet_prefix`): 0 when none or when they changed, or when the reader compared
    them already (`_seen_before_here`: those it found are not in the block)."""
    if sheet.digest is not None:
        return 0
    return _matching_prefix(block, state.sheet_prefix(sheet.file, sheet.sheet))


def all_distinct(block: Registered, numbers: Any, rows: Any = None) -> bool:
    """Whether no identity key repeats among the block's `rows` (None: all of them; `numbers`:
    the block's phones, `as_number`). A key includes its phone, so only the rows whose phone
    repeats can repeat a key, and only those are compared whole: hashing a million keys took
    0.4 s, counting their phones a tenth of it. Phones as integers are sorted instead (numpy's
    sort of 855,000 of them: 5 ms, where Arrow's hash table takes 65-80 ms)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if rows is not None:
        numbers = numbers.take(rows)
    if pa.types.is_integer(numbers.type) and not numbers.null_count:
        ordered = np.sort(numbers.to_numpy(zero_copy_only=False))
        same = ordered[1:] == ordered[:-1]
        if not same.any():
            return True
        repeated = pa.array(np.unique(ordered[1:][same]), numbers.type)
    else:
        coded = pc.dictionary_encode(numbers)  # counted by their codes: half the time of value_counts
        if len(coded.dictionary) == len(numbers):
            return True
        counts = np.bincount(coded.indices.to_numpy(zero_copy_only=False), minlength=len(coded.dictionary))
        repeated = coded.dictionary.take(pa.array(np.flatnonzero(counts > 1)))
    subset = pc.indices_nonzero(pc.is_in(numbers, value_set=repeated))
    keys = registration_keys(block.take(subset if rows is None else rows.take(subset)))
    return len(pc.unique(keys)) == len(keys)


# ---------------------------------------------------------------------------------------------
# the intake


# A file's rows are numbered (seq) from `run base + position × FILE_SEQ_STRIDE`, so a file read
# ahead of an earlier one can be stored before it (`Intake.store`): its numbers do not depend on
# how many rows the files before it have. 2**40 rows is past any file; 2**63 is eight million
# files' strides, runs included.
FILE_SEQ_STRIDE = 1 << 40


def _problem_entry(p: Problem) -> Rejection:
    """A row rejected while reading, with the message the reader worded (it names the column)."""
    return Rejection(p.kind, p.source, p.reason, p.manager, p.phone, message=p.message)


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value if value is not None else "")


@dataclass
class Intake:
    """What a run takes from its inbox: each file's rows stored in the state (`store`), reading
    rejections, counters. Files are numbered by their place in the inbox (`position`); a file
    may be stored ahead of an earlier one, and the row read first (in file order) still wins."""

    state: State
    run_id: str
    late_range: tuple[str, str] | None = None  # SPEC §3, `weeks.late_range`
    until: str = "\uffff"  # the replay reads the history up to here
    details_from: str = ""  # rows before it decide ownership only (`State.history`)
    base: int = 1  # the run's first seq

    rejections: list[tuple[int, Rejection]] = field(default_factory=list)
    new_fingerprints: list[bytes] = field(default_factory=list)
    rows_read: int = 0
    rows_stored: int = 0
    duplicates: int = 0
    seconds: float = 0.0  # spent storing
    registered: list[Known] | None = None  # this run's registrations sheets, once one is stored
    # The rows this run stored, as `history(until, details_from)` would read them back: the
    # replay takes them from here instead of reading them back. Made as each sheet is stored
    # (while the run waits for the big ledger); a sheet with duplicates keeps the rows whose
    # seq was stored. None once a file stored ahead of an earlier one lost rows to it.
    kept: list[Event] | None = field(default_factory=list)
    stored: set[int] = field(default_factory=set)  # positions of the files stored
    # Rows dated up to here may be stored under their bare identity (`bare_identity`: by schema
    # 12 and earlier; `state.BARE_IDENTS`); "" when none is.
    bare_until: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.bare_until = self.state.meta(BARE_IDENTS_UNTIL) or ""

    def _stored_bare(self, idents: list[tuple[bytes, str]]) -> set[bytes]:
        """Of these (identity, time as stored), the bare identities stored (by schema 12 and
        earlier): looked up only for rows dated when such rows were stored."""
        until = self.bare_until
        bare = [bare_identity(ident) for ident, at in idents if at <= until] if until else []
        return self.state.existing_identities(bare) if bare else set()

    def store(self, position: int, sheets: list[Sheet]) -> None:
        """A file's rows stored, at its turn or ahead of it; once."""
        if position in self.stored:
            return
        began = time.perf_counter()
        later = any(p > position for p in self.stored)
        self._take(sheets, self.base + position * FILE_SEQ_STRIDE, later)
        self.stored.add(position)
        self.seconds += time.perf_counter() - began

    def store_early(self, position: int, sheets: list[Sheet]) -> None:
        """A file read while the run waits for an earlier one (the big ledger): stored now,
        unless it holds registrations, which are checked against the earlier files' in order
        (`_store_registrations`), client visits (the latest read wins: stored in the order
        read), or a sheet that fails the run anyway."""
        if not any(s.error or s.kind == "registrations" or s.kind in UPDATED_KINDS for s in sheets):
            self.store(position, sheets)

    def done_reading(self) -> None:
        """The identities were for storing; the replay needs none."""
        self.registered = None

    def take_kept(self) -> list[Event] | None:
        """The rows this run stored, as the replay reads them (None: read them back); once."""
        kept, self.kept = self.kept, None
        return kept

    def _take(self, sheets: list[Sheet], base: int, lowest_seq_wins: bool) -> None:
        """Store a file's new rows (numbered from `base`, in sheet and row order) and sort the
        rest into duplicates and rejections (SPEC §2.4, §3 late rows).

        Identity duplicates are left to the database's unique index (INSERT OR IGNORE: the row
        read first wins), so the common case costs one insert per row; `lowest_seq_wins` when a
        later file was stored first (`State.add_rows`). Only rejected rows and late candidates
        are compared cell for cell with what earlier runs rejected."""
        late: list[tuple[int, Row]] = []
        problems: list[tuple[int, Problem]] = []
        several = [s for s in sheets if s.kind not in (None, "roster") and s.registrations is not None]
        if several and self.registered is None:
            self.registered = []
        file_known = _stored_before_file(self.state, several, self.registered or []) if several else {}
        since = len(self.registered or ())  # where this file's own sheets will start
        for sheet in sheets:
            if sheet.kind is None:
                continue
            # Sequence numbers follow the order read (file, sheet, row), so rejections sort like the inputs.
            self.rows_read += sheet.data_rows
            problems.extend((base + p.source.row, p) for p in sheet.problems)
            last = max([0, *(p.source.row for p in sheet.problems)])
            if sheet.kind == "roster":
                self.rows_stored += len(sheet.rows)
                last = max([last, *(r.source.row for r in sheet.rows)])
            elif sheet.registrations is not None:
                last = max(last, self._store_registrations(sheet, base, (*file_known[id(sheet)], since)))
            elif sheet.kind in UPDATED_KINDS:
                last = max(last, self._store_client_visits(sheet, base))
            else:
                last = max(last, self._store_rows(sheet, base, lowest_seq_wins, late))
            if sheet.kind != "roster":
                sheet.release_rows()  # stored now; the replay reads them back from the state
            base += last + 1
        self._seen_before(problems, late)

    def _store_rows(self, sheet: Sheet, base: int, lowest_seq_wins: bool, late: list[tuple[int, Row]]) -> int:
        """Store a sheet of any kind but registrations; its rows that may be late go to `late`.
        Returns the sheet's last row number."""
        if sheet.rows:  # not made where it was read (a registrations sheet read cell by cell)
            _stored_forms(sheet, self.late_range)
        last = max([0, *(f[-1] for f in sheet.stored or ())])
        forms: list[tuple[Any, ...]] = []  # the sheet's rows offered, while `kept` is kept
        offered = 0
        stored_bare = self._stored_bare([(f[_IDENT_AT], f[_AT]) for f in sheet.stored or ()])

        def rows() -> Iterator[tuple[Any, ...]]:
            """The rows to insert, from the stored forms, prefixed one at a time: never all in
            memory twice."""
            nonlocal offered
            late_rows = sheet.late_rows or {}
            for k, tail in enumerate(sheet.stored or ()):
                stored = (base + tail[-1], self.run_id, *tail)
                late_row = late_rows.get(k)
                if late_row is not None:
                    late.append((stored[0], late_row))
                    continue
                if stored_bare and bare_identity(tail[_IDENT_AT]) in stored_bare:
                    self.duplicates += 1  # stored by schema 12 or earlier
                    continue
                offered += 1
                if self.kept is not None:
                    forms.append(stored)
                yield stored

        stored = self.state.add_rows(rows(), lowest_seq_wins)  # a row stored already: a duplicate
        self.rows_stored += stored
        self.duplicates += offered - stored
        if offered != stored and self.kept is not None:
            if lowest_seq_wins:
                self.kept = None  # rows stored earlier in this run were replaced: read back
            elif forms:  # rows already stored were left out: the others are the sheet's seqs stored
                present = self.state.stored_seqs(forms[0][0], forms[-1][0])
                forms[:] = [form for form in forms if form[0] in present]
        if self.kept is not None:
            self.kept += history_events(forms, self.until, self.details_from)
        return last

    def _store_client_visits(self, sheet: Sheet, base: int) -> int:
        """SPEC §9's update rule, row by row in the order read: a row whose identity (manager,
        client, contacted_at) is not stored is stored; one whose cells, in the kind's columns
        after §2.3, equal the stored row's is a duplicate; one whose cells differ replaces the
        stored row (the latest read wins) and takes its source, and counts as stored. A row
        rejected while reading never gets here: the stored row stays as it was. Returns the
        sheet's last row number."""
        last = 0
        for row in sheet.rows:
            last = max(last, row.source.row)
            ident, visit = client_visit(row, base + row.source.row, self.run_id, sheet.index)
            cells = visit[2:2 + len(CLIENT_VISIT_CELLS)]
            if self.state.client_visit_cells(ident) == cells:
                self.duplicates += 1
                continue
            self.state.put_client_visit(ident, visit)
            self.rows_stored += 1
        return last

    def _store_registrations(self, sheet: Sheet, base: int, before: tuple[Any, Any, int]) -> int:
        """Store a registrations sheet's new rows as one block; a row whose identity is stored
        already, or was read earlier in this run, is a duplicate. Returns the sheet's last row
        number. `before`: the sheet's phones and which of its rows were stored or read before
        its file (`_stored_before_file`), and where the file's own sheets start in
        `registered`. Identities are compared as Arrow arrays (`stored_before`,
        `all_distinct`): a million rows take a few hash-table passes over their phones."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        block = sheet.registrations
        assert block is not None and self.registered is not None
        numbers, old, since = before
        old = _either(old, stored_before(block, numbers, self.registered[since:]))
        fresh = None if old is None or not pc.any(old).as_py() else pc.indices_nonzero(pc.invert(old))
        keep: Any = fresh  # None: every row
        if not all_distinct(block, numbers, fresh):  # the sheet holds a registration twice: the first read counts
            rows = pa.array(np.arange(len(block))) if fresh is None else fresh
            codes = pc.dictionary_encode(registration_keys(block.take(rows))).indices.to_numpy(zero_copy_only=False)
            keep = rows.take(pa.array(np.sort(np.unique(codes, return_index=True)[1])))
        kept = block if keep is None else block.take(keep)
        self.registered.append(Known(kept, numbers if keep is None else numbers.take(keep)))
        self.duplicates += sheet.seen_before + len(block) - len(kept)
        self.rows_stored += len(kept)
        digest = sheet.digest if sheet.digest is not None else prefix_digest(block, len(block))
        self.state.set_sheet_prefix(sheet.file, sheet.sheet, sheet.seen_before + len(block), digest)
        row = kept.array("row")
        self.state.add_registrations(self.run_id, sheet.file, sheet.sheet, pc.add(row, base), kept.array("at"),
                                     kept.array("phone"), kept.array("who"), kept.array("customer"),
                                     kept.array("note"), row)
        return int(block.array("row")[-1].as_py()) if len(block) else sheet.last_row

    def _seen_before(self, problems: list[tuple[int, Problem]], late: list[tuple[int, Row]]) -> None:
        """Rejected rows and late rows a run rejected before, and late rows stored before, are
        duplicates; the others are this run's rejections (their fingerprints remembered)."""
        fingerprints = [rejected_fingerprint(p.kind, p.as_read) for _, p in problems]
        late_prints = [rejected_fingerprint(row.kind, as_read(row.kind, row.cells)) for _, row in late]
        rejected_before = self.state.rejected_fingerprints(fingerprints + late_prints)
        late_forms = [stored_form(row) for _, row in late]
        late_ids = [bytes(form[_IDENT_AT]) for form in late_forms]
        stored_before_ = self.state.existing_identities(late_ids) if late_ids else set()
        stored_before_ |= self._stored_bare([(form[_IDENT_AT], form[_AT]) for form in late_forms])
        for (seq, problem), fp in zip(problems, fingerprints, strict=True):
            if fp in rejected_before:
                self.duplicates += 1
                continue
            self.rejections.append((seq, _problem_entry(problem)))
            self.new_fingerprints.append(fp)
        for (seq, row), fp, ident in zip(late, late_prints, late_ids, strict=True):
            if ident in stored_before_ or bare_identity(ident) in stored_before_ or fp in rejected_before:
                self.duplicates += 1
                continue
            at = _iso(row.values[TIME_COLUMN[row.kind]])
            week = Week.of(date.fromisoformat(at[:10]))
            self.rejections.append((seq, Rejection(
                row.kind, row.source, "LATE", row.values.get("manager") or None, row.values.get("phone") or None,
                {"value": at.replace("T", " "), "week": str(week)})))
            self.new_fingerprints.append(fp)
        self.rejections.sort(key=lambda r: r[0])
