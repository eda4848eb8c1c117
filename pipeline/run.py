"""`pipeline run`: the weekly job, as an ordered list of steps around the pure rules.

lock → choose weeks → read inbox → store rows (one transaction) → replay → assess → write each
week's outputs to a temporary folder and rename it into place → commit → move the inputs to
`INBOX/archive/<run>/` → send mail. A failure before the commit rolls back and moves nothing; a
crash after it is finished by the next run (pending moves are part of the committed state).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

from . import mail
from . import normalise as nz
from .config import Config
from .io.read import FileError, InboxFile, Problem, Row, Sheet, list_inbox, read_files
from .report.model import Lead, Registrations, RunInfo, Src, Unit, Visit, WeekReport
from .report.model import Person as ReportPerson
from .report.write import gc_paused, write_week
from .rules.assess import Person, assess
from .rules.events import PHONE, Event, Registered, as_number
from .rules.replay import Owner, WeekOutcome, replay
from .schema import IDENTITY, KINDS, TIME_COLUMN, column_type
from .state import State, StateError, digest, history_events
from .texts import t
from .weeks import Week, last_complete, span

Echo = Callable[[str], None]


class RunFailed(Exception):
    """The run failed and changed nothing (exit 1)."""


class RunRefused(Exception):
    """Bad usage: the run cannot do what was asked (exit 2)."""


class Locked(Exception):
    """Another run holds the state folder's lock (exit 75)."""


@dataclass(frozen=True)
class RunOptions:
    inbox: Path
    out: Path
    state: Path
    now: datetime
    week: Week | None = None
    dry_run: bool = False
    force: bool = False
    send: bool = False


@dataclass
class RunResult:
    run_id: str
    weeks: list[str] = field(default_factory=list)
    rerendered: str | None = None
    stats: dict[str, int] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    mail_failures: list[tuple[str, str, str]] = field(default_factory=list)
    mail_sent: int = 0


def progress(items: list[Any], label: str) -> Any:
    """A progress bar on an interactive terminal; under cron (no terminal) the items unchanged."""
    import sys

    if not sys.stderr.isatty() or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="file", leave=False)


def _crash_point(name: str) -> None:
    """Fault injection for the crash tests: PIPELINE_CRASH_AT=<step> kills the process there."""
    if os.environ.get("PIPELINE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# lock


@contextmanager
def state_lock(folder: Path) -> Iterator[None]:
    """One run per state folder. flock is released by the OS if the process dies: no stale lock."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lock"
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise Locked(f"another run holds the lock on {folder}: {holder}") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now().isoformat(timespec='seconds')}\n")
        fh.flush()
        yield
    finally:
        fh.seek(0)
        fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


# ---------------------------------------------------------------------------------------------
# choosing weeks


def choose_weeks(closed: list[str], now: datetime, week: Week | None) -> tuple[list[Week], Week | None]:
    """(weeks to compute, closed week to re-render) per SPEC §3."""
    last_closed = Week.parse(closed[-1]) if closed else None
    if week is not None:
        if str(week) in closed:
            return [], week
        if last_closed is None:
            return [week], None
        if week < last_closed:
            raise RunRefused(f"{week} was never computed and lies before the last closed week {last_closed}: "
                             f"its rows are history and it cannot be computed now")
        return span(last_closed.next(), week), None
    latest = last_complete(now)
    if last_closed is None:
        return [latest], None
    return span(last_closed.next(), latest), None


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class Inbox:
    files: list[InboxFile]
    sha: dict[str, str]
    sheets: list[Sheet]
    skipped: list[tuple[str, str]]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_inbox(inbox: Path, config: Config, echo: Echo, wall_now: float,
               on_file: Callable[[int, list[Sheet]], None] | None = None,
               idle: Callable[[], None] | None = None,
               early: Callable[[int, list[Sheet]], None] | None = None,
               late_range: tuple[str, str] | None = None) -> Inbox:
    """Read every file of the inbox; `on_file(position, sheets)` takes each file's sheets in
    order as soon as they are read (the run stores them and lets their rows go, so a big ledger
    is never held whole); `idle` runs while the run waits for the largest file, and `early`
    gets a file read ahead of an earlier one (`read_files`)."""
    files, skipped = list_inbox(inbox)
    settle = config.limits.settle_seconds
    if settle:
        # A modification time in the future (a skewed clock on a share) does not count as copying.
        young = [f for f in files if 0 <= wall_now - f.mtime < settle]
        if young and config.limits.settle_wait:
            # wait until the newest of them has been still for `settle` seconds, then look again
            time.sleep(min(settle, max(0.0, settle - (wall_now - max(f.mtime for f in young)))))
            files, skipped = list_inbox(inbox)
            now = time.time()
            young = [f for f in files if 0 <= now - f.mtime < settle]
        for f in young:
            skipped.append((f.name, "why.settling"))
        files = [f for f in files if f not in young]
    for name, why in skipped:
        echo(t(config.lang, "warn.skipped_file", file=name, why=t(config.lang, why)))
    sheets: list[Sheet] = []
    sha: dict[str, str] = {}
    # Files are read by children side by side (read_files) and handed over in order.
    with closing(read_files([(f.path, f.name) for f in files], config.lang, config.limits.max_unzipped_mb,
                            config.limits.max_file_mb, idle=idle, prepare=partial(_prepare, late_range=late_range),
                            early=early, shortcut=partial(_shortcut, late_range=late_range))) as found_each:
        for position, f in enumerate(progress(files, "reading")):
            sha[f.name] = sha256(f.path)
            try:
                found = next(found_each)
            except FileError as exc:
                raise RunFailed(f"{exc.code}: {exc.message}") from None
            for s in found:
                if s.error:
                    raise RunFailed(f"{s.error}: {s.message}")
                if s.kind is None:
                    echo(t(config.lang, "warn.unrecognised_sheet", file=s.file, sheet=s.sheet))
            if on_file is not None:
                on_file(position, found)
            sheets.extend(found)
    return Inbox(files, sha, sheets, skipped)


def choose_roster(inbox: Inbox) -> Sheet | None:
    """The newest roster read: by file modification time, then last file name, then last sheet."""
    mtimes = {f.name: f.mtime for f in inbox.files}
    rosters = [(mtimes[s.file], s.file, s.index, s) for s in inbox.sheets if s.kind == "roster"]
    if not rosters:
        return None
    return max(rosters, key=lambda r: r[:3])[3]


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def roster_people(sheet: Sheet) -> list[Person]:
    return [Person(r.values["name"], r.values["role"], r.values["team"], r.values["email"],
                   _day(r.values["active_from"]), _day(r.values["active_to"])) for r in sheet.rows]


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value if value is not None else "")


# Where each column sits in the stored tuple below (identity columns: SPEC §2.4, schema.IDENTITY).
_SLOT = {"phone": 5, "registered_by": 6, "manager": 6, "salesperson": 7, "customer": 8, "unit_name": 9,
         "unit_key": 10, "photo": 11, "address": 12, "party_size": 13, "commission": 14, "room": 15, "note": 16,
         "registered_at": 3, "submitted_at": 3, "visited_at": 3, "expanded_at": 3, "deal_at": 3}
_IDENTITY_SLOTS = {kind: tuple(_SLOT[c] for c in columns) for kind, columns in IDENTITY.items()}


def event_tuple(row: Row, seq: int, run_id: str) -> tuple[Any, ...]:
    """The stored form of a row (`state.STORED_COLUMNS`: ROW_COLUMNS with the identity digest after `at`).

    Runs once per input row, so every value is turned into text once and the identity is made
    from those texts."""
    v = row.values
    kind = row.kind
    amount = v.get("commission")
    fields = [seq, run_id, kind, v[TIME_COLUMN[kind]].isoformat(), b"",
              v.get("phone") or "", v.get("manager") or v.get("registered_by") or "", v.get("salesperson") or "",
              v.get("customer") or "", v.get("unit_name") or "", v.get("unit_key") or "", v.get("photo") or "",
              v.get("address") or "", v.get("party_size") or "", str(amount) if amount is not None else "",
              v.get("room") or "", v.get("note") or "", row.source.file, row.source.sheet, row.source.row]
    fields[4] = _identity_digest(kind, [fields[i] for i in _IDENTITY_SLOTS[kind]])
    return tuple(fields)


def _identity_digest(kind: str, texts: list[str]) -> bytes:
    """A row's identity as stored (SPEC §2.4): its kind and its identity columns' texts, in
    `schema.IDENTITY` order, digested."""
    return digest(kind + "\x1f" + "\x1f".join(texts))


_STORED_AT = 1  # where a stored form made by `_prepare` (the `event_tuple` from `kind` on) holds the time


def _may_be_late(kind: str | None, at: str, late_range: tuple[str, str] | None) -> bool:
    """SPEC §3: a leads, visits or units row dated in a closed week (`late_range`: from the
    history's start to the end of the last closed week) is late. `at` as stored (ISO text)."""
    return late_range is not None and kind in ("leads", "visits", "units") and late_range[0] <= at < late_range[1]


def _prepare(sheets: list[Sheet], late_range: tuple[str, str] | None = None) -> None:
    """In the reading child: each row's stored form but for its seq and run (`event_tuple`
    from `kind` on), so the run only prefixes those when it stores the file. The row objects
    are dropped but those that may be late (`Sheet.late_rows`): the file crosses to the run in
    half the bytes, and is decoded there in half the time."""
    for sheet in sheets:
        if sheet.kind in ("leads", "visits", "units", "deals") and sheet.rows:
            _stored_forms(sheet, late_range)


def _stored_forms(sheet: Sheet, late_range: tuple[str, str] | None) -> None:
    """A sheet's rows as stored forms (`Sheet.stored`, in row order with those the reader's
    `_shortcut` made), those that may be late kept as rows (`Sheet.late_rows`), the others let go."""
    forms = [event_tuple(row, 0, "")[2:] for row in sheet.rows]
    late = {form[-1]: row for form, row in zip(forms, sheet.rows, strict=True)
            if _may_be_late(sheet.kind, form[_STORED_AT], late_range)}
    if sheet.stored:  # two runs in row order (numbers are distinct): the sort merges them
        forms = sorted([*sheet.stored, *forms], key=itemgetter(-1))
    sheet.stored = forms
    sheet.late_rows = {k: late[form[-1]] for k, form in enumerate(forms) if form[-1] in late} if late else {}
    sheet.released += len(sheet.rows)
    sheet.rows = []


# The kinds a reader's shortcut takes: their columns are text but one phone and one time.
_SHORT_KINDS = frozenset({"leads", "visits"})


def _shortcut(kind: str, at: dict[str, int], file: str, sheet: str,
              late_range: tuple[str, str] | None = None) -> Callable[[list[Any], int], tuple[Any, ...] | None] | None:
    """`read.Shortcut` for leads and visits, run where the file is read: a row whose phone and
    time take the bulk short path (`nz.quick_phone`, `nz.quick_time`) and whose required text
    columns are not blank goes straight to the stored form `parse_row` then `event_tuple` would
    give it (a property test compares the two on messy cells). Any other row, and a row that may
    be late (§3: it is compared with what earlier runs rejected), is left to `parse_row`. A
    week's 100,000 leads become stored forms in 0.31-0.38 s instead of 0.90-1.43 s."""
    if kind not in _SHORT_KINDS or "phone" not in at or TIME_COLUMN[kind] not in at:
        return None
    ip, it = at["phone"], at[TIME_COLUMN[kind]]
    required = set(KINDS[kind].required)
    texts = [(_SLOT[c] - 2, at[c], c in required) for c in KINDS[kind].columns
             if c in at and column_type(c) == "text"]
    ident_slots = [s - 2 for s in _IDENTITY_SLOTS[kind]]
    blank: list[Any] = [kind, "", b"", *[""] * 12, file, sheet, 0]  # the stored form of a row of empty texts
    quick_phone, quick_time, text = nz.quick_phone, nz.quick_time, nz.text

    def stored(cells: list[Any], number: int) -> tuple[Any, ...] | None:
        phone, when = quick_phone(cells[ip]), quick_time(cells[it])
        if phone is None or when is None or _may_be_late(kind, when, late_range):
            return None
        form = blank.copy()
        for slot, i, needed in texts:
            value = form[slot] = text(cells[i])
            if needed and not value:
                return None
        form[1], form[3], form[-1] = when, phone, number
        form[2] = _identity_digest(kind, [form[s] for s in ident_slots])
        return tuple(form)

    return stored


def identity(row: Row) -> bytes:
    return bytes(event_tuple(row, 0, "")[4])


def _problem_entry(p: Problem) -> dict[str, Any]:
    return {"kind": p.kind, "source": p.source.as_dict(), "reason": p.reason, "message": p.message,
            "manager": p.manager, "phone": p.phone}


@dataclass
class Intake:
    """What a run takes from its inbox: rows to store, reading rejections, counters."""

    rejections: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    new_fingerprints: list[bytes] = field(default_factory=list)
    rows_read: int = 0
    rows_stored: int = 0
    duplicates: int = 0
    registered: list[Known] | None = None  # stored registrations and this run's, once asked
    # The rows this run stored, as `history(until, details_from)` would read them back: the
    # replay takes them from here instead of reading them back. Made as each sheet is stored
    # (while the run waits for the big ledger); a sheet with duplicates keeps the rows whose
    # seq was stored. None once a file stored ahead of an earlier one lost rows to it.
    kept: list[Event] | None = field(default_factory=list)
    until: str = "\uffff"
    details_from: str = ""


@dataclass
class Known:
    """Registrations a sheet's are compared with (stored, or read earlier in this run): their
    phones as numbers (`as_number`), and their identity keys (`Registered.keys`) made only when
    asked. A key includes its phone, so only rows whose phone is known can repeat a key."""

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
            self._keys = self.block.keys()
        return self._keys

    def keys_of(self, numbers: Any) -> Any:
        """The keys of the rows whose phone is among `numbers`."""
        import pyarrow.compute as pc

        return self.block.take(pc.indices_nonzero(pc.is_in(self.numbers, value_set=numbers))).keys()


def _stored_before(block: Registered, numbers: Any, known: list[Known]) -> Any:
    """Which of the block's rows are stored or read already, as a boolean array (None: none).

    Known registrations whose keys are made (the stored ones, made while the big file is read)
    are compared key for key (`_repeated_keys`). For the others (this run's), rows whose phone
    none of them has cannot repeat one, so keys are made and compared only for the rest:
    storing a million-row ledger beside another sheet compared a million keys (0.5 s) where a
    few thousand phones are shared."""
    known = [k for k in known if len(k.numbers)]
    keyed = [k for k in known if k.keyed]
    keys = block.keys() if keyed else None
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
    """`_stored_before` against registrations without keys made: keys only where a phone is shared."""
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
        return _repeated_keys(block.keys(), known)
    phones = pc.unique(numbers.take(rows))
    earlier = pa.concat_arrays([k.keys_of(phones) for k in known])
    repeated = pc.is_in(block.take(rows).keys(), value_set=earlier)
    if not pc.any(repeated).as_py():
        return None
    return pc.replace_with_mask(pa.repeat(pa.scalar(False), len(block)), shared, repeated)


def _either(a: Any, b: Any) -> Any:
    """Two row masks of `_stored_before` (None: no row) as one."""
    import pyarrow.compute as pc

    return b if a is None else a if b is None else pc.or_(a, b)


def _stored_before_file(sheets: list[Sheet], state: State, result: Intake) -> dict[int, tuple[Any, Any]]:
    """For a file's registrations sheets: each sheet's phones (`as_number`) and which of its rows
    were stored or read before the file, by `id` of the sheet.

    A cumulative ledger dropped again holds, row for row, the registrations stored from it
    before (`_same_rows`): those are told by comparing columns in place, without hashing. The
    other rows of all the sheets are compared in one pass (`_stored_before`): the stored keys'
    hash table was built once per sheet, over a million keys each time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if result.registered is None:
        result.registered = [Known.of(state.registrations())]
    blocks = [s.registrations for s in sheets if s.registrations is not None]
    stored = result.registered[0].block
    same = [_same_rows(b, stored, s.file, s.sheet) for s, b in zip(sheets, blocks, strict=True)]
    both = Registered(**{c: pa.concat_arrays([b.array(c) for b in blocks]) for c in ("row", *Registered.IDENTITY)})
    numbers = as_number(both.array("phone"), PHONE)
    old: Any = None
    if any(m is not None for m in same):
        known = pa.concat_arrays([pa.repeat(pa.scalar(False), len(b)) if m is None else m
                                  for b, m in zip(blocks, same, strict=True)])
        rest = pc.indices_nonzero(pc.invert(known))
        others = _stored_before(both.take(rest), numbers.take(rest), result.registered) if len(rest) else None
        old = known if others is None else pc.replace_with_mask(known, pc.invert(known), others)
    else:
        old = _stored_before(both, numbers, result.registered)
    out: dict[int, tuple[Any, Any]] = {}
    start = 0
    for sheet, block in zip(sheets, blocks, strict=True):
        out[id(sheet)] = (numbers.slice(start, len(block)), None if old is None else old.slice(start, len(block)))
        start += len(block)
    return out


def _same_rows(block: Registered, stored: Registered, file: str, sheet: str) -> Any:
    """Which of the sheet's rows are, in place, the stored registrations read from the same file
    and sheet (the same row numbers in the same order, and the same identity: `Registered.IDENTITY`):
    a boolean array, or None where the stored rows of that sheet do not line up with these."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(block) or not len(stored) or not len(stored.array("file")):
        return None
    mine = _equal_to(stored.array("file"), file)
    if mine is None:
        return None
    also = _equal_to(stored.array("sheet"), sheet)
    if also is None:
        return None
    at = pc.indices_nonzero(pc.and_(mine, also))
    size = min(len(at), len(block))
    if not size:
        return None
    at = at.slice(0, size)
    if not pc.cast(stored.array("row").take(at), pa.int64()).equals(pc.cast(block.array("row").slice(0, size),
                                                                           pa.int64())):
        return None

    def same(column: str) -> Any:
        text = pa.large_string()
        return pc.equal(pc.cast(stored.array(column).take(at), text), pc.cast(block.array(column).slice(0, size), text))

    equal = same(Registered.IDENTITY[0])
    for column in Registered.IDENTITY[1:]:
        equal = pc.and_(equal, same(column))
    equal = pc.fill_null(equal, False)
    return pa.concat_arrays([equal, pa.repeat(pa.scalar(False), len(block) - size)])


def _equal_to(column: Any, value: str) -> Any:
    """Where a text column (dictionary-encoded or not) holds `value`; None where it never does."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        found = pc.equal(column.dictionary, value)
        if not pc.any(found).as_py():
            return None
        return pc.is_in(column.indices, value_set=pc.cast(pc.indices_nonzero(found), column.indices.type))
    equal = pc.fill_null(pc.equal(column, value), False)
    return equal if pc.any(equal).as_py() else None


def _store_registrations(sheet: Sheet, state: State, run_id: str, base: int, result: Intake,
                         before: tuple[Any, Any, int]) -> int:
    """Store a registrations sheet's new rows as one block; a row whose identity is stored
    already, or was read earlier in this run, is a duplicate (SPEC §2.4). Returns the sheet's
    last row number. `before`: the sheet's phones and which of its rows were stored or read
    before its file (`_stored_before_file`), and where the file's own sheets start in
    `result.registered`. Identities are compared as Arrow arrays (`_stored_before`,
    `_all_distinct`): a million rows take a few hash-table passes over their phones."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    block = sheet.registrations
    assert block is not None and result.registered is not None
    numbers, old, since = before
    old = _either(old, _stored_before(block, numbers, result.registered[since:]))
    fresh = None if old is None or not pc.any(old).as_py() else pc.indices_nonzero(pc.invert(old))
    keep: Any = fresh  # None: every row
    if not _all_distinct(block, numbers, fresh):  # the sheet holds a registration twice: the first read counts
        rows = pa.array(np.arange(len(block))) if fresh is None else fresh
        codes = pc.dictionary_encode(block.take(rows).keys()).indices.to_numpy(zero_copy_only=False)
        keep = rows.take(pa.array(np.sort(np.unique(codes, return_index=True)[1])))
    kept = block if keep is None else block.take(keep)
    result.registered.append(Known(kept, numbers if keep is None else numbers.take(keep)))
    result.duplicates += len(block) - len(kept)
    result.rows_stored += len(kept)
    row = kept.array("row")
    state.add_registrations(run_id, sheet.file, sheet.sheet, pc.add(row, base), kept.array("at"), kept.array("phone"),
                            kept.array("who"), kept.array("customer"), kept.array("note"), row)
    return int(block.array("row")[-1].as_py()) if len(block) else 0


def _all_distinct(block: Registered, numbers: Any, rows: Any = None) -> bool:
    """Whether no identity key repeats among the block's `rows` (None: all of them; `numbers`:
    the block's phones, `as_number`). A key includes its phone, so only the rows whose phone
    repeats can repeat a key, and only those are compared whole: hashing a million keys took
    0.4 s, counting their phones a tenth of it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if rows is not None:
        numbers = numbers.take(rows)
    coded = pc.dictionary_encode(numbers)  # counted by their codes: half the time of value_counts
    if len(coded.dictionary) == len(numbers):
        return True
    counts = np.bincount(coded.indices.to_numpy(zero_copy_only=False), minlength=len(coded.dictionary))
    repeated = coded.dictionary.take(pa.array(np.flatnonzero(counts > 1)))
    subset = pc.indices_nonzero(pc.is_in(numbers, value_set=repeated))
    keys = block.take(subset if rows is None else rows.take(subset)).keys()
    return len(pc.unique(keys)) == len(keys)


# A file's rows are numbered (seq) from `run base + position × FILE_SEQ_STRIDE`, so a file read
# ahead of an earlier one can be stored before it (`_run_locked`'s `early`): its numbers do not
# depend on how many rows the files before it have. 2**40 rows is past any file; 2**63 is eight
# million files' strides, runs included.
FILE_SEQ_STRIDE = 1 << 40


def intake(sheets: list[Sheet], state: State, run_id: str, late_range: tuple[str, str] | None, lang: str,
           result: Intake, base: int, lowest_seq_wins: bool = False) -> None:
    """Store a file's new rows (its rows numbered from `base`, in sheet and row order) and sort
    the rest into duplicates and rejections (SPEC §2.4, §3 late rows).

    Identity duplicates are left to the database's unique index (INSERT OR IGNORE: the row read
    first wins), so the common case costs one insert per row; `lowest_seq_wins` when a later
    file was stored first (`State.add_rows`). Only rejected rows and late candidates are
    compared cell for cell with what earlier runs rejected.
    """
    late: list[tuple[int, Row]] = []
    problems: list[tuple[int, Problem]] = []
    offered = 0
    forms: list[tuple[Any, ...]] = []  # a sheet's rows offered, while `result.kept` is kept

    def stored_rows(sheet: Sheet) -> Iterator[tuple[Any, ...]]:
        """A sheet's rows to insert, from the stored forms (`_stored_forms`, made where the file
        was read), prefixed one at a time: never all in memory twice."""
        nonlocal offered
        late_rows = sheet.late_rows or {}
        for k, tail in enumerate(sheet.stored or ()):
            stored = (base + tail[-1], run_id, *tail)
            late_row = late_rows.get(k)
            if late_row is not None:
                late.append((stored[0], late_row))
                continue
            offered += 1
            if result.kept is not None:
                forms.append(stored)
            yield stored

    several = [s for s in sheets if s.kind not in (None, "roster") and s.registrations is not None]
    file_known = _stored_before_file(several, state, result) if several else {}
    since = len(result.registered or ())  # where this file's own sheets will start
    for sheet in sheets:
        if sheet.kind is None:
            continue
        # Sequence numbers follow the order read (file, sheet, row), so rejections sort like the inputs.
        result.rows_read += sheet.data_rows
        problems.extend((base + p.source.row, p) for p in sheet.problems)
        last = max([0, *(p.source.row for p in sheet.problems)])
        if sheet.kind == "roster":
            result.rows_stored += len(sheet.rows)
            last = max([last, *(r.source.row for r in sheet.rows)])
        elif sheet.registrations is not None:
            last = max(last, _store_registrations(sheet, state, run_id, base, result, (*file_known[id(sheet)], since)))
        else:
            if sheet.rows:  # not made where it was read (a registrations sheet read cell by cell)
                _stored_forms(sheet, late_range)
            last = max([last, *(t[-1] for t in sheet.stored or ())])
            before = offered
            stored = state.add_rows(stored_rows(sheet), lowest_seq_wins)  # a row stored already: a duplicate
            result.rows_stored += stored
            result.duplicates += offered - before - stored
            if offered - before != stored and result.kept is not None:
                if lowest_seq_wins:
                    result.kept = None  # rows stored earlier in this run were replaced: read back
                elif forms:  # rows already stored were left out: the others are the sheet's seqs stored
                    present = state.stored_seqs(forms[0][0], forms[-1][0])
                    forms[:] = [form for form in forms if form[0] in present]
            if result.kept is not None:
                result.kept += history_events(forms, result.until, result.details_from)
            forms.clear()
        if sheet.kind != "roster":
            sheet.release_rows()  # stored now; the replay reads them back from the state
        base += last + 1

    compared: list[Row | Problem] = [p for _, p in problems] + [r for _, r in late]
    fingerprints = {id(item): digest(item.fingerprint) for item in compared}
    rejected_before = state.rejected_fingerprints(list(fingerprints.values()))
    stored_before = state.existing_identities([identity(r) for _, r in late])
    for seq, problem in problems:
        fp = fingerprints[id(problem)]
        if fp in rejected_before:
            result.duplicates += 1
            continue
        result.rejections.append((seq, _problem_entry(problem)))
        result.new_fingerprints.append(fp)
    for seq, row in late:
        fp = fingerprints[id(row)]
        if identity(row) in stored_before or fp in rejected_before:
            result.duplicates += 1
            continue
        at = _iso(row.values[TIME_COLUMN[row.kind]])
        week = Week.of(date.fromisoformat(at[:10]))
        result.rejections.append((seq, {
            "kind": row.kind, "source": row.source.as_dict(), "reason": "LATE",
            "message": t(lang, "reason.LATE", value=at.replace("T", " "), week=str(week)),
            "manager": row.values.get("manager") or None, "phone": row.values.get("phone") or None}))
        result.new_fingerprints.append(fp)
    result.rejections.sort(key=lambda r: r[0])


# ---------------------------------------------------------------------------------------------
# building each week's report


def _src(e: Event) -> Src:
    return Src(e.file, e.sheet, e.row)


def _new_registrations(owners: list[Owner]) -> Registrations:
    """The week's new ledger rows for the report, as columns (`Registrations.COLUMNS`): a big
    office's hundred thousand go to ledger.xlsx and the stored report as Arrow arrays, with no
    named tuple per row."""
    events = [o.event for o in owners]
    return Registrations.from_columns([
        [e.phone for e in events], [o.customer for o in owners], [o.owner for o in owners], [o.at for o in owners],
        [o.via for o in owners], [e.file for e in events], [e.sheet for e in events], [e.row for e in events],
        [None] * len(owners)])


def build_report(outcome: WeekOutcome, roster: dict[str, Person], previous: dict[str, int], config: Config,
                 reading: list[tuple[int, dict[str, Any]]], stats: dict[str, int], run: RunInfo) -> WeekReport:
    """results.json (SPEC §5.1) and the lists behind the reports, for one computed week."""
    week = outcome.week
    managers = []
    for person in roster.values():
        if person.role != "manager":
            continue
        entry = assess(person, week, outcome.counts.get(person.name, {}), outcome.commission.get(person.name, {}),
                       previous.get(person.name, 0), config)
        paid = person.name in outcome.commission
        if entry["active_days"] or paid:
            managers.append(entry)
    managers.sort(key=lambda m: str(m["name"]))
    rejections = [entry for _, entry in sorted(outcome.rejections + reading, key=lambda r: r[0])]
    results = {
        "schema": 1,
        "week": str(week), "start": week.monday.isoformat(), "end": week.sunday.isoformat(),
        "managers": managers,
        "deals": outcome.deals,
        "rejections": rejections,
        "stats": {**stats, "rejected": len(rejections)},
    }
    return WeekReport(
        week=str(week), start=week.monday.isoformat(), end=week.sunday.isoformat(), lang=config.lang,
        office=config.office, results=results, run=run,
        roster=[ReportPerson(p.name, p.role, p.team, p.email,
                             p.active_from.isoformat() if p.active_from else None,
                             p.active_to.isoformat() if p.active_to else None) for p in roster.values()],
        leads=[Lead(e.who, e.phone, e.customer, e.at, _src(e)) for e in outcome.leads],
        visits=[Visit(e.who, e.phone, e.customer, e.at, e.salesperson, e.party_size, _src(e)) for e in outcome.visits],
        units=[Unit(e.who, e.unit_name, e.address, e.at, e.photo, _src(e)) for e in outcome.units],
        new_registrations=_new_registrations(outcome.new_registrations),
        ledger=outcome.ledger,
    )


# ---------------------------------------------------------------------------------------------
# outputs


def publish(report: WeekReport, out: Path, run_id: str, config: Config,
            stored: list[tuple[bytes, bytes]] | None = None, with_data: bool = True) -> list[mail.Outgoing]:
    """Write the week's folder (reports, then the emails built from them into its outbox) beside
    its final place, then swap it in with renames. Returns the week's messages, so sending does
    not build them again; without `with_data`, only their names, recipients and digests (the
    bytes are in the outbox). With `stored`, the week's stored form (`write.stored_form`) is
    appended to it."""
    out.mkdir(parents=True, exist_ok=True)
    final = out / report.week
    tmp = out / f".{report.week}.tmp-{run_id}"
    if tmp.exists():
        shutil.rmtree(tmp)
    built = write_week(report, tmp, store=stored is not None)
    if stored is not None and built.stored is not None:
        stored.append(built.stored)
    with gc_paused():
        messages = mail.write_messages(report, tmp, config)
    if with_data:
        messages = [m.with_data((tmp / "outbox" / m.filename).read_bytes()) for m in messages]
    old = out / f".{report.week}.old-{run_id}"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return messages


def _send(report: WeekReport, messages: list[mail.Outgoing], config: Config, state: State, resend: bool,
          result: RunResult, at: str) -> None:
    outcome = mail.send_messages(messages, config, state.sent(report.week), resend=resend)
    state.record_sent(report.week, outcome.sent, at)
    result.mail_sent += len(outcome.sent)
    result.mail_failures.extend(outcome.failed)


# ---------------------------------------------------------------------------------------------
# the run


def new_run_id(now: datetime) -> str:
    return f"{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def finish_moves(state: State, inbox: Path) -> None:
    """Archive moves a crashed run committed to but did not finish."""
    for run_id, name, sha in state.pending_moves():
        src = inbox / name
        if src.is_file() and sha256(src) == sha:
            dest = inbox / "archive" / run_id
            dest.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest / name)
        state.done_move(run_id, name)


def run(opts: RunOptions, config: Config, echo: Echo = print) -> RunResult:
    """The weekly job. Raises RunFailed (exit 1), RunRefused (exit 2), Locked (exit 75)."""
    fresh_state = not (opts.state / "pipeline.db").exists()
    try:
        with state_lock(opts.state), gc_paused():
            result = _run_locked(opts, config, echo)
    except (RunFailed, RunRefused, StateError):
        if fresh_state:
            # A failed first run leaves no state behind, not even an empty database.
            shutil.rmtree(opts.state, ignore_errors=True)
        raise
    if fresh_state and opts.dry_run:
        shutil.rmtree(opts.state, ignore_errors=True)  # a dry run stores nothing
    return result


def _run_locked(opts: RunOptions, config: Config, echo: Echo) -> RunResult:
    run_id = new_run_id(opts.now)
    started = datetime.now().isoformat(timespec="seconds")
    result = RunResult(run_id)
    sending = opts.send and not opts.dry_run  # a dry run sends nothing: the emails stay in the outbox
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.stages[name] = round(result.stages.get(name, 0.0) + now - clock, 3)
        clock = now

    try:
        state = State(opts.state)
    except StateError as exc:
        raise RunFailed(str(exc)) from None
    backed_up: Callable[[], Path] | None = None
    try:
        if not opts.dry_run:
            finish_moves(state, opts.inbox)
        closed = state.closed_weeks()
        weeks, rerender = choose_weeks(closed, opts.now, opts.week)
        if rerender is not None:
            report = load_week(state, str(rerender))
            assert report is not None
            messages = publish(report, opts.out, run_id, config, with_data=sending)
            stage("reports")
            result.rerendered = str(rerender)
            if sending:
                _send(report, messages, config, state, False, result, opts.now.isoformat())
            return result
        if not weeks:
            echo("nothing to compute: every complete week is closed")
            return result
        unfinished = [w for w in weeks if not w.ended_by(opts.now)]
        if unfinished and not (opts.dry_run or opts.force):
            raise RunRefused(f"{unfinished[0]} has not ended yet ({unfinished[0].end:%Y-%m-%d %H:%M:%S}); "
                             f"preview it with --dry-run or force it with --force")

        first_week = state.meta("first_week")
        history_start = Week.parse(first_week).start_iso if first_week else weeks[0].start_iso
        late_range = (history_start, Week.parse(closed[-1]).next_start_iso) if closed else None

        if not opts.dry_run and (state.row_count() or closed):
            backed_up = state.backup_aside(run_id)  # waited for before the commit (and on failure)
        state.begin()
        until = weeks[-1].next_start_iso  # the replay reads the history up to the last week's end
        details_from = weeks[0].start_iso  # rows before it decide ownership only (`State.history`)
        taken = Intake(until=until, details_from=details_from)
        storing = 0.0
        run_base = state.next_seq()
        stored: set[int] = set()  # positions of the files stored

        def store(position: int, sheets: list[Sheet]) -> None:
            """A file's rows stored, at its turn or (`early`) ahead of it; once."""
            nonlocal storing
            if position in stored:
                return
            began = time.perf_counter()
            later = any(p > position for p in stored)
            intake(sheets, state, run_id, late_range, config.lang, taken, run_base + position * FILE_SEQ_STRIDE, later)
            stored.add(position)
            storing += time.perf_counter() - began

        def early(position: int, sheets: list[Sheet]) -> None:
            """A file read while the run waits for an earlier one (the big ledger): stored now,
            unless it holds registrations, which are checked against the earlier files' in
            order (`_store_registrations`), or a sheet that fails the run anyway."""
            if not any(s.error or s.kind == "registrations" for s in sheets):
                store(position, sheets)

        earlier: list[Event] | None = None  # the earlier runs' rows, once read ahead

        def ahead() -> None:
            """While the big file is read: the stored registrations' identities, which storing a
            registrations sheet needs (decoded once; the replay reuses the decoded blocks), and
            the earlier runs' rows the replay needs."""
            nonlocal storing, earlier
            if taken.registered is None:
                began = time.perf_counter()
                registered = state.registrations()
                taken.registered = [Known.of(registered, registered.keys())]
                storing += time.perf_counter() - began
            earlier = list(state.history(until, details_from=details_from, run_id=run_id, other_runs=True))

        inbox = read_inbox(opts.inbox, config, echo, time.time(), on_file=store, idle=ahead, early=early,
                           late_range=late_range)
        taken.registered = None  # the identities were for storing; the replay needs none
        state.write_blocks_aside()  # no process is forked before the reports: written before them
        stage("read")
        result.stages["read"] = round(result.stages["read"] - storing, 3)
        result.stages["store"] = round(storing, 3)
        _crash_point("after_read")

        roster_sheet = choose_roster(inbox)
        stored_roster = state.roster()
        if roster_sheet is None and stored_roster is None:
            raise RunFailed("NO_ROSTER: " + t(config.lang, "file.NO_ROSTER"))
        people = roster_people(roster_sheet) if roster_sheet is not None else list((stored_roster or {}).values())
        roster = {p.name: p for p in people}
        state.add_rejected(taken.new_fingerprints)
        if roster_sheet is not None:
            state.set_roster(people)
        stage("store")

        # The replay sorts the events: the earlier runs' rows (read ahead, if the run waited), then
        # this run's, as `history` would read them back (kept in memory when every one was stored).
        if earlier is None:
            earlier = list(state.history(until, details_from=details_from, run_id=run_id, other_runs=True))
        mine = (taken.kept if taken.kept is not None
                else list(state.history(until, details_from=details_from, run_id=run_id)))
        taken.kept = None
        events = earlier + mine
        del mine
        registered = state.registrations(until)
        state.forget_registrations()
        outcomes = replay(events, roster, weeks, history_start, run_id, config, config.lang, registered)
        del events, registered
        stage("replay")

        run_info = RunInfo(run_id, opts.now.isoformat(timespec="seconds"), config.as_dict(),
                           sorted(inbox.sha.items()))
        previous = state.last_streaks()
        stats = {"rows_read": taken.rows_read, "rows_stored": taken.rows_stored,
                 "duplicates_dropped": taken.duplicates}
        zero = dict.fromkeys(stats, 0)
        reports = []
        for i, outcome in enumerate(outcomes):
            last = i == len(outcomes) - 1
            report = build_report(outcome, roster, previous, config, taken.rejections if last else [],
                                  stats if last else zero, run_info)
            for m in report.results["managers"]:
                if m["active_days"] > 0:
                    previous[m["name"]] = m["streak"]
            reports.append(report)
        stage("assess")

        state.write_blocks()  # before the reports fork their second process (`write_blocks_aside`)
        kept: list[tuple[bytes, bytes]] = []
        # The emails' bytes are read back from the outbox only when they are to be sent.
        outboxes = [publish(report, opts.out, run_id, config, None if opts.dry_run else kept,
                            with_data=sending)
                    for report in progress(reports, "reports")]
        stage("reports")
        _crash_point("after_outputs")

        result.weeks = [r.week for r in reports]
        result.stats = {**stats, "rejected": sum(r.results["stats"]["rejected"] for r in reports)}
        if opts.dry_run:
            state.rollback()
            return result

        for report, (blob, ledger) in zip(reports, kept, strict=True):
            state.close_week(report.week, run_id, report.results, blob, ledger)
        if not first_week:
            state.set_meta("first_week", str(weeks[0]))
        finished = datetime.now().isoformat(timespec="seconds")
        state.log_run(run_id, started, finished, opts.now.isoformat(timespec="seconds"), result.weeks,
                      config.digest(), sorted(inbox.sha.items()), "ok")
        state.add_pending_moves(run_id, sorted(inbox.sha.items()))
        if backed_up is not None:
            backed_up()
            backed_up = None
        state.commit()
        if not state.has_backup():
            state.backup(run_id)  # the first run had nothing to copy before; keep its result
        stage("store")
        _crash_point("after_commit")

        for i, f in enumerate(inbox.files):
            dest = opts.inbox / "archive" / run_id
            dest.mkdir(parents=True, exist_ok=True)
            os.replace(f.path, dest / f.name)
            state.done_move(run_id, f.name)
            if i == 0:
                _crash_point("during_archive")

        if sending:
            for report, messages in zip(reports, outboxes, strict=True):
                _send(report, messages, config, state, False, result, opts.now.isoformat())
        stage("outbox")
        return result
    finally:
        if backed_up is not None:  # a failed run: the copy is finished, not left half made
            try:
                backed_up()
            except Exception:  # noqa: BLE001,S110 - the run's own failure is what is reported
                pass
        state.rollback()
        state.close()
        _write_log(opts.state, result, started)


def load_week(state: State, week: str) -> WeekReport | None:
    stored = state.week_report(week)
    if stored is None:
        return None
    report = WeekReport.from_bytes(stored[0])
    report.ledger_stored = stored[1]  # unpacked where ledger.csv is written (`write_ledger_csv`)
    return report


def send_week(opts: RunOptions, config: Config, week: Week, resend: bool) -> RunResult:
    """`pipeline send`: (re)send a closed week's messages; re-renders its folder if it is missing."""
    result = RunResult(new_run_id(opts.now))
    if not (opts.state / "pipeline.db").exists():
        raise RunRefused(f"no state in {opts.state}: nothing has been closed yet")
    with state_lock(opts.state):
        state = State(opts.state, create=False)
        try:
            report = load_week(state, str(week))
            if report is None:
                raise RunRefused(f"{week} is not closed; run it first (pipeline run --week {week})")
            folder = opts.out / report.week
            if (folder / "results.json").exists():
                messages = mail.build_messages(report, folder, config)
            else:
                messages = publish(report, opts.out, result.run_id, config)
            _send(report, messages, config, state, resend, result, opts.now.isoformat(timespec="seconds"))
        finally:
            state.close()
    result.weeks = [str(week)]
    return result


def status(opts: RunOptions) -> dict[str, Any]:
    """Closed weeks, recent runs, files waiting in the inbox, messages not yet sent. Reads only."""
    files, skipped = list_inbox(opts.inbox)
    info: dict[str, Any] = {"closed_weeks": [], "runs": [], "waiting": [f.name for f in files],
                            "skipped": [name for name, _ in skipped], "unsent": {}}
    if not (opts.state / "pipeline.db").exists():
        return info
    state = State(opts.state, create=False)
    try:
        info["closed_weeks"] = state.closed_weeks()
        info["runs"] = state.runs(5)
        for week in info["closed_weeks"]:
            outbox = opts.out / week / "outbox"
            if not outbox.is_dir():
                continue
            sent = {d for _, d in state.sent(week)}
            unsent = [p.name for p in sorted(outbox.glob("*.eml"))
                      if hashlib.sha256(p.read_bytes()).hexdigest() not in sent]
            if unsent:
                info["unsent"][week] = unsent
    finally:
        state.close()
    logs = sorted((opts.state / "logs").glob("*.json")) if (opts.state / "logs").is_dir() else []
    if logs:
        info["last_log"] = json.loads(logs[-1].read_text(encoding="utf-8"))
    return info


def notify_failure(config: Config, error: str, now: datetime) -> None:
    """Best effort: tell `admin_to` that the run failed and what to do (when SMTP is configured)."""
    try:
        mail.send_notice(config, error, now)
    except Exception:  # noqa: BLE001 - a failed notice must never hide the run's own failure
        pass


def _write_log(folder: Path, result: RunResult, started: str) -> None:
    """A log file per run under the state folder (stages, weeks, stats) for the admin and the benchmark."""
    if not folder.is_dir():
        return
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{result.run_id}.json").write_text(json.dumps({
        "run_id": result.run_id, "started": started, "weeks": result.weeks, "rerendered": result.rerendered,
        "stats": result.stats, "stages": result.stages, "mail_sent": result.mail_sent,
        "mail_failures": result.mail_failures,
    }, ensure_ascii=False, indent=2), encoding="utf-8")
