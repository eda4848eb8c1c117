"""The state: history, roster, closed weeks, runs, sent mail; in the embedded database under
`--state` (this module), or in a PostgreSQL server's database (`postgres.py`, SPEC §10).

All storage goes through `State`; `open_state` picks the engine from the configuration. A run
opens one transaction (`begin`), makes every change inside it, and `commit`s only after the
week's outputs are in place; a dry run or a failure rolls back, leaving the state as it was.

The SQL is written once, in SQLite's words; the PostgreSQL engine translates the few that
differ (placeholders, `INSERT OR IGNORE`/`OR REPLACE`, `BLOB`, SQLite's index hints) and
overrides the bulk paths (`COPY`). The migrations below are the schema of both engines.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from . import ledgerstore, pagestore
from .config import Backups
from .records import CLIENT_VISIT_CELLS, SORTED, ClientVisit, Event, Ledger, LedgerChain, Person, Registered
from .weeks import Week

DB_NAME = "pipeline.db"
BACKUPS = "backups"
# The longest a backup goes without the whole integrity check while the database file is written
# by the state alone (`_vouched_for`): about monthly, as the monthly backups are kept.
CHECK_EVERY = timedelta(days=28)

# Schema 7: a closed week's ledger.csv is kept whole only for the newest closed week; each
# earlier one as a delta against the week after it (`ledgerstore`), which earlier versions
# cannot read: the version number makes them refuse the state. Migrating turns the whole
# ledgers stored so far into deltas (`State._delta_ledgers`, in the migration's transaction).
LEDGER_DELTAS = """
    INSERT OR IGNORE INTO block_formats (format, since) VALUES ('ldelta1', 'schema 7')
    """

# Schema 10: each manager's streak in their newest assessed closed week, kept as weeks close
# (`close_week`): a run read every closed week's results for it. Filled from the closed weeks
# when migrating (`State._fill_streaks`).
STREAKS = """
    CREATE TABLE IF NOT EXISTS streaks (name TEXT PRIMARY KEY, week TEXT NOT NULL, streak INTEGER NOT NULL)
    """

# Schema 16: each deal a closed week paid, by its identity (SPEC §2.4), with what it paid its
# manager then: what a cancellation claws back (§7.3). A run read every closed week's results
# for it (a year's 65,000 deals: 0.7 s each run that met a cancellation); now it looks up the
# deal cancelled. Kept as weeks close (`close_week`); filled from the closed weeks when
# migrating (`State._fill_paid_deals`, on both engines).
PAID_DEALS = """
    CREATE TABLE IF NOT EXISTS paid_deals (
        phone TEXT, deal_at TEXT, room TEXT, salesperson TEXT, commission TEXT, week TEXT NOT NULL,
        manager TEXT, manager_commission TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS paid_deals_key ON paid_deals (phone, deal_at, room, salesperson, commission, week)
    """

# Schema 13: a row's identity is stored after its day (`intake.row_identity`), so that a week's
# new rows go to one end of the identity index instead of every page of it (a year's index is
# 47 MB; each week's 29,000 random keys rewrote all of it). Rows stored before keep their bare
# digest: the newest date among them is kept (`BARE_IDENTS_UNTIL`), and a row dated up to it is
# also looked up by its bare digest (`intake.Intake`). Earlier versions would store bare digests
# again: the version number makes them refuse the state.
BARE_IDENTS_UNTIL = "bare_idents_until"
BARE_IDENTS = f"""
    INSERT OR IGNORE INTO meta (key, value)
    SELECT '{BARE_IDENTS_UNTIL}', (SELECT MAX(at) FROM rows) WHERE EXISTS (SELECT 1 FROM rows)
    """

# Each entry migrates the schema from version i to i+1; never edit a released step, append one.
# The same list makes the PostgreSQL schema (`postgres.pg_migration` translates each step: BLOB
# as bytea, text compared by code point, an `INTEGER PRIMARY KEY` numbered by the server), in
# each office's own schema of the shared database.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE rows (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        ident BLOB NOT NULL UNIQUE,
        phone TEXT NOT NULL, who TEXT NOT NULL, salesperson TEXT NOT NULL, customer TEXT NOT NULL,
        unit_name TEXT NOT NULL, unit_key TEXT NOT NULL, photo TEXT NOT NULL, address TEXT NOT NULL,
        party_size TEXT NOT NULL, amount TEXT NOT NULL, room TEXT NOT NULL, note TEXT NOT NULL,
        file TEXT NOT NULL, sheet TEXT NOT NULL, row INTEGER NOT NULL
    );
    CREATE TABLE rejected (fingerprint BLOB PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE roster (
        ord INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, team TEXT NOT NULL,
        email TEXT NOT NULL, active_from TEXT, active_to TEXT
    );
    CREATE TABLE weeks (
        week TEXT PRIMARY KEY, run_id TEXT NOT NULL, results TEXT NOT NULL, report BLOB NOT NULL,
        ledger BLOB
    );
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, now TEXT NOT NULL,
        weeks TEXT NOT NULL, config_hash TEXT NOT NULL, files TEXT NOT NULL, outcome TEXT NOT NULL
    );
    CREATE TABLE pending_moves (run_id TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
        PRIMARY KEY (run_id, name));
    CREATE TABLE sent (week TEXT NOT NULL, recipient TEXT NOT NULL, digest TEXT NOT NULL, key TEXT NOT NULL,
        at TEXT NOT NULL, PRIMARY KEY (week, recipient, digest));
    """,
    # Registrations as compressed column blocks, one per sheet and run: a million-row ledger is
    # stored and read back in about a second, where a row per registration took ten or more.
    # The identity of a registration (phone, registered_at, registered_by) is checked by the intake.
    """
    CREATE TABLE registrations (
        block INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL, file TEXT NOT NULL, sheet TEXT NOT NULL,
        first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, rows INTEGER NOT NULL,
        first_at TEXT NOT NULL, last_at TEXT NOT NULL,
        data BLOB NOT NULL
    );
    """,
    # Schema 3 writes registration blocks as text columns (`encode_block`), which earlier
    # versions cannot read: the version number makes them refuse the state instead of failing.
    """
    CREATE TABLE IF NOT EXISTS block_formats (format TEXT PRIMARY KEY, since TEXT NOT NULL);
    INSERT OR IGNORE INTO block_formats (format, since) VALUES ('cols1', 'schema 3')
    """,
    # Schema 4 writes registration blocks as compressed Arrow streams (`encode_block`).
    """
    INSERT OR IGNORE INTO block_formats (format, since) VALUES ('arrow1', 'schema 4')
    """,
    # Snapshots: what the rules carry past a closed week's end (`put_snapshot`), so that a run
    # replays only the rows after it. A cache beside the history, never its truth: `version`
    # names the format and rules that wrote it, `roster` the roster's view it holds for, and
    # `max_seq` the last row stored when it was taken (a row stored later but dated before
    # `until` makes it stale).
    """
    CREATE TABLE snapshots (
        week TEXT PRIMARY KEY, until TEXT NOT NULL, max_seq INTEGER NOT NULL, version TEXT NOT NULL,
        roster TEXT NOT NULL, owners BLOB NOT NULL, visited BLOB NOT NULL, visits BLOB NOT NULL,
        units BLOB NOT NULL
    );
    CREATE INDEX rows_at ON rows (at)
    """,
    # The corrections (SPEC §7): who approved a ruling or an adjustment, and an adjustment's
    # reason. The snapshots carry the deals (what each paid, whether it is cancelled) and the
    # ownerships that may lapse; older snapshots have neither and are ignored (their version).
    """
    ALTER TABLE rows ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE rows ADD COLUMN reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE snapshots ADD COLUMN deals BLOB;
    ALTER TABLE snapshots ADD COLUMN lapses BLOB;
    ALTER TABLE weeks ADD COLUMN max_seq INTEGER
    """,
    LEDGER_DELTAS,
    # Registrations stored one per row (by schema 1) found through an index of their own: the
    # run asks for them every week, and without it read the whole `rows` table (a year's
    # history, through the page cache) to find none.
    """
    CREATE INDEX IF NOT EXISTS rows_registrations ON rows (at) WHERE kind = 'registrations'
    """,
    # What a run read of each registrations sheet (`set_sheet_prefix`): the next run tells the
    # rows of a cumulative ledger dropped again by a digest, without reading the stored ones.
    """
    CREATE TABLE IF NOT EXISTS sheet_prefixes (
        file TEXT NOT NULL, sheet TEXT NOT NULL, rows INTEGER NOT NULL, digest BLOB NOT NULL,
        PRIMARY KEY (file, sheet)
    )
    """,
    STREAKS,
    # Schema 11, the client-visit log (SPEC §9): the one kind whose re-read rows replace the stored ones
    # (`intake.Intake._store_client_visits`), so it lives beside `rows`, not in it: an update
    # changes no row the replay or its snapshots hold. `seq` and `run_id` are the last storing
    # read's, `sheet_index` its sheet's place in the workbook (follow-ups sort by it). A closed
    # week keeps its followups.json beside its results (the month's log review reads them).
    """
    CREATE TABLE client_visits (
        ident BLOB PRIMARY KEY,
        seq INTEGER NOT NULL, run_id TEXT NOT NULL,
        manager TEXT NOT NULL, client TEXT NOT NULL, contacted_at TEXT NOT NULL, phone TEXT NOT NULL,
        attitude TEXT NOT NULL, issue TEXT NOT NULL, follow_up_by TEXT NOT NULL, due_on TEXT NOT NULL,
        status TEXT NOT NULL, answered_at TEXT NOT NULL, birthday TEXT NOT NULL, note TEXT NOT NULL,
        file TEXT NOT NULL, sheet TEXT NOT NULL, sheet_index INTEGER NOT NULL, row INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX client_visits_at ON client_visits (contacted_at);
    ALTER TABLE weeks ADD COLUMN followups TEXT
    """,
    # Schema 12: `landings` reads each closed week's `max_seq`, stored after the week's results,
    # report and ledger: without this covering index SQLite walks every closed week's stored
    # pages to reach it (about 200 MB at the end of a year).
    """
    CREATE INDEX weeks_landings ON weeks (week, run_id, max_seq)
    """,
    BARE_IDENTS,
    # Schema 14: a snapshot's ledger (`owners`) is either whole (`parent` null) or the rows that
    # changed since the snapshot it started from (`parent`), with the ledger's phones in order
    # (`phones`): a run reads and writes what its week changed, not the year's ledger.
    """
    ALTER TABLE snapshots ADD COLUMN parent TEXT;
    ALTER TABLE snapshots ADD COLUMN phones BLOB
    """,
    # Schema 15: the roster's view (`replay.roster_view`) at a closed week's end, under which its
    # ledger.csv was made: a later run keeps that file's lines only under a roster with the same
    # view (`run._lines_kept`); weeks closed before it have none, and their lines are not kept.
    """
    ALTER TABLE weeks ADD COLUMN roster TEXT
    """,
    PAID_DEALS,
]

# The snapshots kept: the newest few closed weeks' (a row dated in one of them, a late
# registration, starts the replay from the one before it; older ones from a full replay). A run
# that replays from before its first week also takes the snapshot of the week before it.
KEEP_SNAPSHOTS = 3
# The version of a snapshot kept only for the ledger rows a newer one is chained to (`put_snapshot`).
CHAINED_ONLY = "chained ledger"
# The page cache after the rows are stored (`State.let_go_of_cache`): measured on a year's state,
# the commit took as long with 32 MB as with 256 MB, and the run's peak memory was 100 MB lower.
SMALL_CACHE_KB = 32_768
# The page cache of the connections a backup copies and checks through (`make_backup`): it reads
# each page once. With SQLite's default (2,000 KB) the copy of a year's state held 32 MB more in the
# run's process, while the run replays; with this it holds 4 MB, and the copy and its check take
# 0.60 s of CPU instead of 0.68 s.
BACKUP_CACHE_KB = 256
SNAPSHOT_TABLES = ("owners", "visited", "visits", "units", "deals", "lapses")

ROW_COLUMNS = ("seq", "run_id", "kind", "at", "phone", "who", "salesperson", "customer", "unit_name",
               "unit_key", "photo", "address", "party_size", "amount", "room", "note", "approved_by", "reason", "file", "sheet", "row")


# What `history` keeps of a row dated before the weeks a run computes (deals excepted): the
# columns the rules read; each other column blanked as below (SQL, and the same in Python for
# `history_events`), `photo` kept only as whether there is one.
HISTORY_KEEPS = frozenset({"seq", "kind", "at", "phone", "who", "salesperson", "customer", "unit_key"})
_BLANK: tuple[str, Callable[[Any], Any]] = ("''", lambda value: "")
_HISTORY_BLANK: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "photo": ("CASE WHEN photo = '' THEN '' ELSE '1' END", lambda value: "1" if value else ""),
    "row": ("0", lambda value: 0),
}
# The kinds `history` keeps whole whenever dated: a late deal is paid, and a late correction
# lands, in a later week and is shown there; a ruling's approver and a cancellation's room
# decide what they do.
KEPT_WHOLE = frozenset({"deals", "rulings", "cancellations", "adjustments"})
_KEPT_SQL = ", ".join(f"'{k}'" for k in sorted(KEPT_WHOLE))
_BLANKERS = [(i, _HISTORY_BLANK.get(c, _BLANK)[1]) for i, c in enumerate(ROW_COLUMNS) if c not in HISTORY_KEEPS]
_AT, _KIND = ROW_COLUMNS.index("at"), ROW_COLUMNS.index("kind")


# A row as `add_rows` takes it: `ROW_COLUMNS` with the identity digest after `at`.
STORED_COLUMNS = (*ROW_COLUMNS[:_AT + 1], "ident", *ROW_COLUMNS[_AT + 1:])


def history_events(stored: Iterable[tuple[Any, ...]], until: str, details_from: str) -> list[Event]:
    """Rows as given to `add_rows` (`STORED_COLUMNS`), as `history` reads them back: dated
    before `until`, registrations left out (`registrations` has those), and blanked as above
    when dated before `details_from` and not a deal. A run makes its own rows' events so,
    instead of reading back what it has just stored."""
    out = []
    for row in stored:
        if row[_AT] >= until or row[_KIND] == "registrations":
            continue
        values = [*row[:_AT + 1], *row[_AT + 2:]]
        if values[_AT] < details_from and values[_KIND] not in KEPT_WHOLE:
            for i, blank in _BLANKERS:
                values[i] = blank(values[i])
        out.append(Event._make(values))
    return out


class StateError(Exception):
    """The state cannot be used (corrupt, newer schema): the message says how to recover."""


def open_state(folder: Path, url: str = "", office: str = "", create: bool = True, check: bool = True) -> State:
    """The state of an office: the embedded database under `folder` when `url` is empty, else
    the office's part of the PostgreSQL database at `url` (`folder` then keeps only run logs).
    `check=False` leaves the embedded database's integrity check to the caller (`State.check`,
    or the backup's, `State.backup_aside`)."""
    if not url:
        return State(folder, create, check)
    from .postgres import PgState

    return PgState(url, office, create)


def state_exists(folder: Path, url: str = "", office: str = "") -> bool:
    """Whether the office has a state to open (`open_state` with `create=False`)."""
    if not url:
        return (folder / DB_NAME).exists()
    from .postgres import office_exists

    return office_exists(url, office)


def week_closed(folder: Path, url: str, week: str) -> bool:
    """Whether `week` is a closed week of the embedded database under `folder`, looked up
    read-only without opening the state (no migration, no check, no lock): the command line's
    hint, before anything starts, that the run asked for re-renders a closed week. False where
    it cannot tell (no database yet, a state on a server, a database it cannot read)."""
    path = folder / DB_NAME
    if url or not path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT 1 FROM weeks WHERE week = ?", (week,)).fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


class State:
    engine = "sqlite"
    backs_up = True  # compressed copies under the state folder (`backup`); a server keeps its own
    checked = False  # whether the integrity check passed (`check`)
    _file: tuple[int, int] | None = None  # the database file's identity while open (`_raw_file`)

    def __init__(self, folder: Path, create: bool = True, check: bool = True) -> None:
        self.folder = folder
        self.path = folder / DB_NAME
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        self.conn: Any = sqlite3.connect(self.path, isolation_level=None)
        self._blocks_at_hand()
        try:
            # Pages of 64 KB (taken by a new database only; an existing one keeps its size): a
            # big week commits 90 MB, and its commit wrote 4 KB pages in 0.38-0.44 s, 64 KB ones
            # in 0.17-0.19 s (both the same file size).
            self.conn.execute("PRAGMA page_size=65536")
            self.conn.execute("PRAGMA journal_mode=WAL")
            # The log is written back into the database file only where the state counts its
            # pages first (`close`, `make_backup`): the next backup reads only the pages written.
            self.conn.execute("PRAGMA wal_autocheckpoint=0")
            self.conn.execute("PRAGMA synchronous=FULL")
            # The identity index takes random keys: a big page cache keeps a million inserts in memory.
            self.conn.execute("PRAGMA cache_size=-262144")  # 256 MB
            self.conn.execute("PRAGMA temp_store=MEMORY")
            # Deleted content is not overwritten with zeros on pages that are freed (some builds of
            # SQLite do so by default): a run rewrites the last closed week's row (its ledger as
            # a delta) and drops old snapshots, and zeroing their freed pages doubled what a late
            # week's commit wrote (119 MB against 61 MB at the end of a year), in the log, the
            # database and the next backup's pages. A free page is kept as zeros in a backup anyway.
            self.conn.execute("PRAGMA secure_delete=FAST")
            if check or self.conn.execute("PRAGMA user_version").fetchone()[0] < len(MIGRATIONS):
                self._check()  # a migration writes: never into a database not checked
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StateError(self._corrupt_message(str(exc))) from None
        self._file = _state_opened(self.path)  # `_raw_file`

    def _blocks_at_hand(self) -> None:
        self._fresh: dict[int, Any] = {}  # registration blocks at hand, decoded (Arrow tables)
        # Blocks added in this transaction whose data is not written yet (`write_blocks_aside`),
        # and the thread encoding them, if one was started.
        self._unwritten: dict[int, Any] = {}
        self._encoding: tuple[threading.Thread, dict[int, bytes]] | None = None

    @property
    def where(self) -> str:
        """The state's place, for messages."""
        return str(self.path)

    # ---- the whole state, table by table (`pipeline migrate`)

    def tables(self) -> list[str]:
        """The state's tables, by name."""
        return [r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]

    def dump(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        """Every row of `table`, in the order of its first column."""
        cursor = self.conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {columns[0]}")
        for chunk in iter(lambda: cursor.fetchmany(10_000), []):
            yield from chunk

    def load(self, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows into `table` as they are (inside the caller's transaction)."""
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                              rows)

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def is_empty(self) -> bool:
        """Whether nothing of the office is stored yet (no run committed, no row, no week)."""
        return all(self.count(t) == 0 for t in ("runs", "rows", "registrations", "weeks", "roster"))

    def results_digest(self) -> str:
        """SHA-256 of every closed week's stored results, report and followups.json, in week order."""
        digest = hashlib.sha256()
        for week, results, report, ledger, followups in self.conn.execute(
                "SELECT week, results, report, ledger, followups FROM weeks ORDER BY week"):
            for part in (week.encode(), results.encode(), bytes(report), b"" if ledger is None else bytes(ledger),
                         b"" if followups is None else followups.encode()):
                digest.update(hashlib.sha256(part).digest())
        return digest.hexdigest()

    # ---- integrity and backups

    def check(self) -> None:
        """The integrity check (`_check`), once: a damaged database raises `StateError` with
        the message that says how to recover."""
        if self.checked:
            return
        try:
            self._check()
        except sqlite3.DatabaseError as exc:
            raise StateError(self._corrupt_message(str(exc))) from None

    def _check(self) -> None:
        """SQLite's quick check of the whole file, through a page cache of its own size: it reads
        every page, and through the run's 256 MB cache it left that much of a year's database in
        the run's memory for the rest of the run."""
        (cache,) = self.conn.execute("PRAGMA cache_size").fetchone()
        self.conn.execute("PRAGMA cache_size=-4096")  # 4 MB
        try:
            quick_check(self.conn)
        finally:
            self.conn.execute("PRAGMA shrink_memory")
            self.conn.execute(f"PRAGMA cache_size={int(cache)}")
        self.checked = True

    def _corrupt_message(self, detail: str) -> str:
        backups = list_backups(self.folder)
        if backups:
            last = backups[-1]
            return (f"the state database {self.path} is damaged ({detail}). The last good copy is {last.path} "
                    f"(taken {last.taken:%Y-%m-%d %H:%M}). To restore it: pipeline state restore --state "
                    f"{self.folder} (the damaged file is kept aside); weeks closed after that copy will be "
                    f"recomputed from the archived inputs (move them back from the inbox's archive folder).")
        return (f"the state database {self.path} is damaged ({detail}) and no backup copy exists. "
                f"Move it aside and rerun with the archived inputs to rebuild the history.")

    def backup(self, run_id: str, taken: datetime, halfway: Callable[[], None] | None = None) -> Path:
        """A compressed copy of the state as last committed (`make_backup`), dated `taken` (the
        run's clock). The caller waits for it: its pages are hashed by `BACKUP_HASHERS` threads."""
        return make_backup(self.conn, self.folder, run_id, taken, halfway, hashers=BACKUP_HASHERS)

    def backup_aside(self, run_id: str, taken: datetime, halfway: Callable[[], None] | None = None,
                     check: bool = False) -> BackingUp:
        """`backup`, made by a thread while the run goes on; call what is returned to wait for
        it (and to see its error). The thread reads through a connection of its own, which sees
        the state as last committed (WAL) whatever this connection writes meanwhile: a big
        state's copy (a second or so) leaves the run's critical path. Wait before committing.

        With `check` the integrity check (`check`) is made on the copy, which holds every page
        as last committed, instead of reading the whole database a second time: `BackingUp.checked`
        waits for it, and a damaged database makes no backup and raises `StateError`."""
        aside = BackingUp()

        def checked(copy: sqlite3.Connection | None) -> None:
            try:
                if copy is not None:  # None: vouched for by the last check (`_vouched_for`)
                    quick_check(copy)
            except sqlite3.DatabaseError as exc:
                aside.damage = StateError(self._corrupt_message(str(exc)))
                aside.checking.set()
                raise aside.damage from None
            aside.ran = self.checked = True
            aside.checking.set()

        def work() -> None:
            try:
                source = sqlite3.connect(self.path)
                source.execute(f"PRAGMA cache_size=-{BACKUP_CACHE_KB}")  # `make_backup`
                try:
                    aside.done["path"] = make_backup(source, self.folder, run_id, taken, halfway,
                                                     checked if check else None)
                finally:
                    source.close()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                aside.done["error"] = exc
            finally:
                aside.checking.set()

        aside.thread = threading.Thread(target=work, name="state-backup", daemon=True)
        aside.thread.start()
        return aside

    def has_backup(self) -> bool:
        return bool(list_backups(self.folder))

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StateError(f"{self.path} was written by a newer version (schema {version}); upgrade the pipeline")
        for step in range(version, len(MIGRATIONS)):
            self.conn.execute("BEGIN")
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            if MIGRATIONS[step] is LEDGER_DELTAS:
                self._delta_ledgers()
            elif MIGRATIONS[step] is STREAKS:
                self._fill_streaks()
            elif MIGRATIONS[step] is PAID_DEALS:
                self._fill_paid_deals()
            self.conn.execute(f"PRAGMA user_version = {step + 1}")
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self._drop_unwritten()
        counted = self._count_written()
        self.conn.close()
        if counted is not None:
            try:
                pagestore.write_written(self.folder / BACKUPS,
                                        replace(counted, stamp=pagestore.file_stamp(self.path)))
            except OSError:
                pagestore.forget_written(self.folder / BACKUPS)
        if self._file is not None:
            _state_closed(self._file)
            self._file = None

    def _count_written(self) -> pagestore.Written | None:
        """The log written back into the database file (a checkpoint) once its pages are added
        to those written since the last backup (`pagestore.Written`); the record to keep, its
        stamp taken once the connection is closed. None, and no record kept, where the file was
        written otherwise since it was counted (its stamp differs). A connection that wrote
        nothing (`pipeline status`, which takes no lock and may close while a run goes on)
        neither counts nor writes back: what it leaves is for the writer's own close, and
        SQLite's last-connection checkpoint, if any, changes the stamp."""
        if self.engine != "sqlite" or not self.conn.total_changes:
            return None  # a server's database has no file here; a reader leaves the record alone
        folder = self.folder / BACKUPS
        written = pagestore.read_written(folder)
        if written is None:
            return None
        try:
            if pagestore.file_stamp(self.path) != written.stamp:
                raise OSError("written by another hand")
            pages = written.pages | pagestore.log_pages(self.path)
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except (OSError, sqlite3.Error):
            pagestore.forget_written(folder)
            return None
        return replace(written, pages=frozenset(pages))

    # ---- transactions

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.write_blocks()
        self.conn.execute("COMMIT")
        self._fresh.clear()

    def let_go_of_cache(self) -> None:
        """Free the page cache and keep it small from now on: by the replay the rows are stored
        (the identity index's random inserts are what the big cache is for) and the run's reading
        of the state is mostly done. A year's state left 200 MB of pages in it (the snapshot, the
        weeks' rows read for the landings), which each process the reports fork would start
        with, and the commit as much again (its new pages go to the log once the cache is full)."""
        self.conn.execute(f"PRAGMA cache_size=-{SMALL_CACHE_KB}")
        self.conn.execute("PRAGMA shrink_memory")

    def rollback(self) -> None:
        self._drop_unwritten()
        self._fresh.clear()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    # ---- meta

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ---- weeks

    def closed_weeks(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT week FROM weeks ORDER BY week")]

    def week_report(self, week: str) -> tuple[bytes, list[bytes] | None] | None:
        """The stored report of a closed week (compressed) and its ledger.csv as a chain
        (`ledgerstore.resolve`): the whole file of the newest week it leads to, then the deltas
        back to this week's (one blob alone: stored whole)."""
        row = self.conn.execute("SELECT report, ledger FROM weeks WHERE week = ?", (week,)).fetchone()
        if row is None:
            return None
        return bytes(row[0]), None if row[1] is None else self._ledger_chain(bytes(row[1]))

    def _ledger_chain(self, blob: bytes) -> list[bytes]:
        chain = [blob]
        while ledgerstore.is_delta(chain[-1]):
            base = ledgerstore.delta_base(chain[-1])
            row = self.conn.execute("SELECT ledger FROM weeks WHERE week = ?", (base,)).fetchone()
            if row is None or row[0] is None:
                raise StateError(f"{self.path}: the stored ledger of a closed week refers to {base}, which has none")
            chain.append(bytes(row[0]))
        return chain[::-1]

    def close_week(self, week: str, run_id: str, results: dict[str, Any], report: bytes, ledger: bytes | None,
                   max_seq: int | None = None, followups: dict[str, Any] | None = None,
                   roster: str | None = None) -> None:
        """`max_seq`: the last row stored when the week closed (what its cancellations could see);
        `followups`: the week's followups.json (SPEC §9), which the month's review of the log reads;
        `roster`: the roster's view at the week's end its ledger was made under (`closed_week_source`)."""
        self.conn.execute(
            "INSERT INTO weeks (week, run_id, results, report, ledger, max_seq, followups, roster) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (week, run_id, json.dumps(results, ensure_ascii=False), report, ledger, max_seq,
             None if followups is None else json.dumps(followups, ensure_ascii=False), roster))
        self._keep_streaks(week, results)
        self._keep_paid_deals(week, results)

    def week_followups(self, weeks: Iterable[str]) -> list[dict[str, Any]]:
        """The followups.json (SPEC §9) of these closed weeks, oldest first; weeks closed before
        the client-visit log existed have none."""
        wanted = sorted(set(weeks))
        if not wanted:
            return []
        rows = self.conn.execute(
            f"SELECT followups FROM weeks WHERE followups IS NOT NULL AND week IN ({', '.join('?' * len(wanted))}) "
            "ORDER BY week", wanted)
        return [json.loads(text) for (text,) in rows]

    def landings(self) -> tuple[dict[str, int], dict[str, str]]:
        """What decides which deals a stored cancellation could see (SPEC §7.3: it keeps the
        outcome it had in the week it landed): each closed week's last row stored when it closed
        (ISO start of the week -> seq; weeks closed before this was kept are left out), and each
        run's first closed week (run -> ISO start of the week)."""
        bounds: dict[str, int] = {}
        firsts: dict[str, str] = {}
        for week, run_id, max_seq in self.conn.execute("SELECT week, run_id, max_seq FROM weeks ORDER BY week"):
            start = _week_start(week)
            if max_seq is not None:
                bounds[start] = int(max_seq)
            firsts.setdefault(run_id, start)
        return bounds, firsts

    def paid_deal(self, key: tuple[str, str, str, str, str]) -> tuple[str | None, str] | None:
        """What the closed weeks paid for the deal of this identity (phone, deal_at, room,
        salesperson, commission: SPEC §2.4): the manager and the manager commission the newest of
        them showed; None if none paid it. What a cancellation claws back (§7.3), whatever the
        rules would decide about the deal today."""
        row = self.conn.execute(
            "SELECT manager, manager_commission FROM paid_deals WHERE phone = ? AND deal_at = ? AND room = ? "
            "AND salesperson = ? AND commission = ? ORDER BY week DESC LIMIT 1", key).fetchone()
        return None if row is None else (row[0], str(row[1]))

    def _keep_paid_deals(self, week: str, results: dict[str, Any]) -> None:
        """The deals a closed week paid (`paid_deal`), from its results (none where they list none)."""
        self.conn.executemany(
            "INSERT INTO paid_deals (phone, deal_at, room, salesperson, commission, week, manager, manager_commission) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(d["phone"], d["deal_at"], d["room"] or "", d["salesperson"], d["salesperson_commission"], week,
              d["manager"], d["manager_commission"]) for d in results.get("deals") or ()])

    def _fill_paid_deals(self) -> None:
        """Schema 16: the paid deals from the closed weeks' results (those of a step run again
        replaced)."""
        self.conn.execute("DELETE FROM paid_deals")
        for week, text in self.conn.execute("SELECT week, results FROM weeks ORDER BY week").fetchall():
            self._keep_paid_deals(week, json.loads(text))

    def week_managers(self, weeks: Iterable[str]) -> list[dict[str, Any]]:
        """What a month or quarter is made of (SPEC §8): `{"week", "managers"}` of each closed
        week of `weeks`, oldest first, from its stored results. Only the managers are parsed (by
        SQLite), not the weeks' deals and rejections, which are most of a big office's results."""
        wanted = sorted(set(weeks))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        return [{"week": week, "managers": json.loads(managers)} for week, managers in self.conn.execute(
            f"SELECT week, json_extract(results, '$.managers') FROM weeks WHERE week IN ({marks}) "  # noqa: S608
            "ORDER BY week", wanted)]

    def recent_managers(self, before: str, limit: int) -> list[tuple[str, list[dict[str, Any]]]]:
        """The `managers` of results.json of the last `limit` closed weeks before `before`, oldest
        first: the weeks' trends in the reports. Only that list is parsed (by SQLite), not the
        weeks' deals and rejections."""
        rows = self.conn.execute(
            "SELECT week, json_extract(results, '$.managers') FROM weeks WHERE week < ? ORDER BY week DESC LIMIT ?",
            (before, limit)).fetchall()
        return [(week, json.loads(managers)) for week, managers in reversed(rows)]


    def _keep_streaks(self, week: str, results: dict[str, Any]) -> None:
        """The streaks of the managers assessed in a closed week, where it is their newest."""
        self.conn.executemany(
            "INSERT INTO streaks (name, week, streak) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "week = excluded.week, streak = excluded.streak WHERE excluded.week >= streaks.week",
            [(m["name"], week, int(m["streak"])) for m in results["managers"] if m["active_days"] > 0])

    def _fill_streaks(self) -> None:
        """Schema 10: the streaks table from the closed weeks' results, oldest first."""
        for week, text in self.conn.execute("SELECT week, results FROM weeks ORDER BY week").fetchall():
            self._keep_streaks(week, json.loads(text))

    def ledger_before(self, week: str) -> tuple[str, bytes] | None:
        """(week, blob) of the newest closed week before `week`, if its ledger.csv is stored:
        a run closing `week` makes `week`'s from it and stores it as a delta against it
        (`ledgerstore.Before`)."""
        row = self.conn.execute("SELECT week, ledger FROM weeks WHERE week < ? ORDER BY week DESC LIMIT 1",
                                (week,)).fetchone()
        if row is None or row[1] is None:
            return None
        return str(row[0]), bytes(row[1])

    def ledger_chain(self, week: str) -> list[bytes]:
        """A closed week's stored ledger.csv as a chain (`week_report`'s), [] where it has none."""
        row = self.conn.execute("SELECT ledger FROM weeks WHERE week = ?", (week,)).fetchone()
        return [] if row is None or row[0] is None else self._ledger_chain(bytes(row[0]))

    def closed_week_source(self, week: str) -> tuple[int | None, str | None, str | None]:
        """(max_seq, config hash, roster view) of a closed week: the last row stored when it
        closed, the configuration of the run that closed it and the view of its roster at the
        week's end (None where not kept)."""
        row = self.conn.execute("SELECT w.max_seq, r.config_hash, w.roster FROM weeks w "
                                "LEFT JOIN runs r ON r.run_id = w.run_id WHERE w.week = ?", (week,)).fetchone()
        return (None, None, None) if row is None else (None if row[0] is None else int(row[0]), row[1], row[2])

    def set_week_ledger(self, week: str, blob: bytes) -> None:
        """A closed week's ledger.csv stored again, as a delta (`ledgerstore.make_delta`) giving
        the same bytes."""
        self.conn.execute("UPDATE weeks SET ledger = ? WHERE week = ?", (blob, week))

    def _delta_ledgers(self) -> None:
        """Schema 7: each closed week's whole ledger.csv followed by a closed week's whole one
        stored as a delta against it, oldest first (one pair of files in memory at a time)."""
        weeks = [r[0] for r in self.conn.execute("SELECT week FROM weeks WHERE ledger IS NOT NULL ORDER BY week")]
        for week, later in zip(weeks, weeks[1:], strict=False):
            (old,), (new,) = (self.conn.execute("SELECT ledger FROM weeks WHERE week = ?", (w,)).fetchone()
                              for w in (week, later))
            if ledgerstore.is_delta(old) or ledgerstore.is_delta(new):
                continue
            self.set_week_ledger(week, ledgerstore.delta_of_stored(old, ledgerstore.unpack(new), later))

    def last_streaks(self) -> dict[str, int]:
        """Each manager's streak in their newest assessed closed week (SPEC §4.5: stored, never
        re-derived), as closing weeks kept them (`close_week`)."""
        return {str(name): int(streak) for name, streak in self.conn.execute("SELECT name, streak FROM streaks")}

    # ---- roster

    def roster(self) -> dict[str, Person] | None:
        rows = self.conn.execute(
            "SELECT name, role, team, email, active_from, active_to FROM roster ORDER BY ord").fetchall()
        if not rows:
            return None
        return {
            r[0]: Person(r[0], r[1], r[2], r[3],
                         date.fromisoformat(r[4]) if r[4] else None, date.fromisoformat(r[5]) if r[5] else None)
            for r in rows
        }

    def set_roster(self, people: Iterable[Person]) -> None:
        self.conn.execute("DELETE FROM roster")
        self.conn.executemany(
            "INSERT INTO roster (ord, name, role, team, email, active_from, active_to) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i, p.name, p.role, p.team, p.email,
              p.active_from.isoformat() if p.active_from else None,
              p.active_to.isoformat() if p.active_to else None) for i, p in enumerate(people)])

    # ---- history

    def next_seq(self) -> int:
        rows = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM rows").fetchone()[0]
        blocks = self.conn.execute("SELECT COALESCE(MAX(last_seq), 0) FROM registrations").fetchone()[0]
        visits = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM client_visits").fetchone()[0]
        return max(int(rows), int(blocks), int(visits)) + 1

    # ---- registrations (column blocks)

    def add_registrations(self, run_id: str, file: str, sheet: str, seq: Any, at: Any, phone: Any, who: Any,
                          customer: Any, note: Any, row: Any) -> None:
        """One sheet's new registrations (already deduplicated; lists or Arrow arrays) as one
        compressed block."""
        if not len(seq):
            return
        import pyarrow.compute as pc

        table = block_table([seq, at, phone, who, customer, note, row])
        first_at, last_at = pc.min_max(table.column("at")).values()
        # The data is written later in the transaction (`write_blocks`): encoded on a thread
        # while the run goes on, where it asks (`write_blocks_aside`).
        (block,) = self.conn.execute(
            "INSERT INTO registrations (run_id, file, sheet, first_seq, last_seq, rows, first_at, last_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING block",
            (run_id, file, sheet, table.column("seq")[0].as_py(), table.column("seq")[-1].as_py(), table.num_rows,
             first_at.as_py(), last_at.as_py(), b"")).fetchone()
        # The columns stay at hand (`forget_registrations`): the replay of this run needs them
        # and need not decode what it has just encoded.
        self._fresh[block] = self._unwritten[block] = table

    def write_blocks_aside(self) -> None:
        """Encode the blocks added so far on a thread, while the run goes on (a million
        registrations: 0.12-0.25 s of zstd, which runs without the interpreter lock);
        `write_blocks` (at the latest `commit`) waits for it and writes them. Call it only
        when no process will be forked before `write_blocks`: a fork while the thread holds an
        allocator's lock could leave the child stuck."""
        if self._encoding is not None or not self._unwritten:
            return
        blocks, done = dict(self._unwritten), {}

        def work() -> None:
            for block, table in blocks.items():
                done[block] = encode_block(table)

        thread = threading.Thread(target=work, name="state-blocks", daemon=True)
        thread.start()
        self._encoding = (thread, done)

    def write_blocks(self) -> None:
        """Write the data of the blocks added in this transaction (waiting for the thread of
        `write_blocks_aside`, if one runs). A block its thread could not encode is encoded here,
        so its error, if any, is raised here."""
        done: dict[int, bytes] = {}
        if self._encoding is not None:
            thread, done = self._encoding
            thread.join()
            self._encoding = None
        for block, table in sorted(self._unwritten.items()):
            data = done.get(block)
            self.conn.execute("UPDATE registrations SET data = ? WHERE block = ?",
                              (data if data is not None else encode_block(table), block))
        self._unwritten.clear()

    def _drop_unwritten(self) -> None:
        if self._encoding is not None:
            self._encoding[0].join()
            self._encoding = None
        self._unwritten.clear()

    def registrations(self, until: str = "\uffff", since: str = "") -> Registered:
        """Every stored registration dated before `until` (ISO), and from `since` on, as Arrow
        columns in the order stored. Registrations stored one per row by earlier versions are
        included."""
        import pyarrow as pa
        import pyarrow.compute as pc

        parts = []
        for block, file, sheet, first_at, last_at in self.conn.execute(
                "SELECT block, file, sheet, first_at, last_at FROM registrations WHERE first_at < ? AND last_at >= ? "
                "ORDER BY block", (until, since)):
            table = self._fresh.get(block, self._unwritten.get(block))
            if table is None:
                (data,) = self.conn.execute("SELECT data FROM registrations WHERE block = ?", (block,)).fetchone()
                table = self._fresh[block] = decode_block(data)
            if last_at >= until:
                table = table.filter(pc.less(table.column("at"), pa.scalar(until, pa.string())))
            if first_at < since:
                table = table.filter(pc.greater_equal(table.column("at"), pa.scalar(since, pa.string())))
            parts.append(table.append_column("file", _same_text(file, table.num_rows))
                         .append_column("sheet", _same_text(sheet, table.num_rows)))
        old = list(self.conn.execute(
            "SELECT seq, at, phone, who, customer, note, file, sheet, row FROM rows "
            "WHERE kind = 'registrations' AND at < ? AND at >= ? ORDER BY seq", (until, since)))
        return _joined(parts, old)

    def has_registrations(self) -> bool:
        """Whether any registration is stored: in blocks, or one per row (as schema 1 stored them)."""
        return (self.conn.execute("SELECT 1 FROM registrations LIMIT 1").fetchone() is not None
                or self.conn.execute("SELECT 1 FROM rows WHERE kind = 'registrations' LIMIT 1").fetchone() is not None)

    def registrations_of(self, phones: Any) -> Registered:
        """The stored registrations whose phone is among `phones` (Arrow text), as `registrations`
        gives them; the blocks are read one at a time and let go, so that only the matches stay
        in memory (a week's new registrations share a phone with a few stored ones)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = pc.cast(phones, pa.string())
        parts = []
        for block, file, sheet in self.conn.execute("SELECT block, file, sheet FROM registrations ORDER BY block"):
            table = self._fresh.get(block, self._unwritten.get(block))
            if table is None:
                (data,) = self.conn.execute("SELECT data FROM registrations WHERE block = ?", (block,)).fetchone()
                # Its phones first, alone (a seventh of the decoding): most of a year's blocks
                # share none with a week's new registrations, and are let go undecoded.
                phones_only = _block_phones(data)
                if phones_only is not None and not pc.any(pc.is_in(phones_only, value_set=wanted)).as_py():
                    continue
                table = decode_block(data)
            table = table.filter(pc.is_in(pc.cast(table.column("phone"), pa.string()), value_set=wanted))
            if table.num_rows:
                parts.append(table.append_column("file", _same_text(file, table.num_rows))
                             .append_column("sheet", _same_text(sheet, table.num_rows)))
        old: list[Any] = []
        # registrations stored one per row by schema 1, if any (their own index says so at once)
        if self.conn.execute("SELECT 1 FROM rows WHERE kind = 'registrations' LIMIT 1").fetchone() is not None:
            listed = {str(p) for p in wanted.to_pylist() if p is not None}
            old = [r for r in self.conn.execute("SELECT seq, at, phone, who, customer, note, file, sheet, row FROM rows "
                                                "WHERE kind = 'registrations' ORDER BY seq") if r[2] in listed]
        return _joined(parts, old)

    def sheet_prefixes(self) -> dict[tuple[str, str], tuple[int, bytes]]:
        """Every (rows, digest) of `sheet_prefix`, by file and sheet."""
        return {(file, sheet): (int(rows), bytes(digest)) for file, sheet, rows, digest
                in self.conn.execute("SELECT file, sheet, rows, digest FROM sheet_prefixes")}

    def sheet_prefix(self, file: str, sheet: str) -> tuple[int, bytes] | None:
        """(rows, digest) of what the last run that read this registrations sheet read of it
        (`intake.prefix_digest`), or None."""
        row = self.conn.execute("SELECT rows, digest FROM sheet_prefixes WHERE file = ? AND sheet = ?",
                                (file, sheet)).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def set_sheet_prefix(self, file: str, sheet: str, rows: int, digest: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO sheet_prefixes (file, sheet, rows, digest) VALUES (?, ?, ?, ?)",
                          (file, sheet, rows, digest))

    def forget_registrations(self) -> None:
        """Let go of the registration blocks kept decoded in memory: the ones this transaction
        added, and the stored ones decoded once already (a run asks for them twice: for
        identities while storing, then for the replay). Blocks whose data is not written yet
        are held until it is (`write_blocks`)."""
        self._fresh.clear()

    def existing_identities(self, idents: list[bytes]) -> set[bytes]:
        """Which of these identities are already stored (one indexed join, not a full scan)."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS probe (ident BLOB PRIMARY KEY) WITHOUT ROWID")
        self.conn.execute("DELETE FROM probe")
        self.conn.executemany("INSERT OR IGNORE INTO probe (ident) VALUES (?)", ((i,) for i in idents))
        found = {r[0] for r in self.conn.execute("SELECT p.ident FROM probe p JOIN rows r ON r.ident = p.ident")}
        self.conn.execute("DELETE FROM probe")
        return found

    def add_rows(self, rows: Iterable[tuple[Any, ...]], lowest_seq_wins: bool = False) -> int:
        """Rows as (seq, run_id, kind, at, ident, phone, who, ... file, sheet, row); a row whose
        identity is already stored is ignored. Returns how many new rows the table has.

        With `lowest_seq_wins` a row replaces a stored one of the same identity that has a
        higher seq: a run that stores a file read ahead of an earlier one (SPEC §2.4: the row
        read first counts, and seq is the order read) then stores the earlier file so."""
        columns = ", ".join(STORED_COLUMNS)
        values = f"VALUES ({', '.join('?' * len(STORED_COLUMNS))})"
        if not lowest_seq_wins:
            before = self.conn.total_changes
            self.conn.executemany(f"INSERT OR IGNORE INTO rows ({columns}) {values}", rows)
            return self.conn.total_changes - before
        count = "SELECT COUNT(*) FROM rows"
        before = self.conn.execute(count).fetchone()[0]
        kept = ", ".join(f"{c} = excluded.{c}" for c in STORED_COLUMNS if c != "ident")
        self.conn.executemany(f"INSERT INTO rows ({columns}) {values} "
                              f"ON CONFLICT (ident) DO UPDATE SET {kept} WHERE excluded.seq < rows.seq", rows)
        return int(self.conn.execute(count).fetchone()[0] - before)

    def stored_seqs(self, first: int, last: int) -> set[int]:
        """The seqs from `first` to `last` that rows hold (one range of the primary key)."""
        return {r[0] for r in self.conn.execute("SELECT seq FROM rows WHERE seq BETWEEN ? AND ?", (first, last))}

    def history(self, until: str, details_from: str = "", run_id: str | None = None,
                other_runs: bool = False, since: str = "") -> Iterator[Event]:
        """Every stored row but registrations (`registrations` has those) dated before `until`
        (ISO), as events; with `run_id`, only that run's rows, or with `other_runs` every other
        run's (a run reads the earlier runs' rows while it waits for its own files).

        Rows dated before `details_from` only decide ownership, first visits and counted units:
        their descriptive columns (where they came from, address, note, ...) are returned empty,
        so a million-row history holds no more text than the rules need. Deals and corrections
        keep everything (`KEPT_WHOLE`: a late one is paid, and shown, in a later week). With `since`, only rows dated from
        then on (the replay starts from a snapshot there).
        """
        columns = [
            c if c in HISTORY_KEEPS else
            f"CASE WHEN at >= :detail OR kind IN ({_KEPT_SQL}) THEN {c} ELSE {_HISTORY_BLANK.get(c, _BLANK)[0]} END"
            for c in ROW_COLUMNS
        ]
        which = "" if run_id is None else " AND run_id != :run" if other_runs else " AND run_id = :run"
        # From a snapshot, the rows after it are a range of the index on `at`; the whole history
        # is read in one pass over the table instead (`+at`: not through the index).
        after = " AND at >= :since" if since else ""
        cursor = self.conn.execute(f"SELECT {', '.join(columns)} FROM rows WHERE {'at' if since else '+at'} < :until "
                                   "AND kind != 'registrations'" + after + which,
                                   {"until": until, "detail": details_from, "run": run_id, "since": since})
        make = Event._make
        for chunk in iter(lambda: cursor.fetchmany(50_000), []):
            yield from map(make, chunk)

    # ---- the client-visit log (SPEC §9)

    def client_visit_cells(self, ident: bytes) -> tuple[str, ...] | None:
        """The stored cells (`CLIENT_VISIT_CELLS`) of the client visit of this identity, if any."""
        row = self.conn.execute(f"SELECT {', '.join(CLIENT_VISIT_CELLS)} FROM client_visits WHERE ident = ?",
                                (ident,)).fetchone()
        return None if row is None else tuple(row)

    def put_client_visit(self, ident: bytes, visit: ClientVisit) -> None:
        """Store a client visit, replacing the one of the same identity (the intake decides when)."""
        columns = ("ident", *ClientVisit._fields)
        self.conn.execute(f"INSERT OR REPLACE INTO client_visits ({', '.join(columns)}) "
                          f"VALUES ({', '.join('?' * len(columns))})", (ident, *visit))

    def client_visits(self, until: str = "\uffff") -> list[ClientVisit]:
        """Every stored client visit dated before `until` (ISO), in the order last read."""
        return [ClientVisit._make(r) for r in self.conn.execute(
            f"SELECT {', '.join(ClientVisit._fields)} FROM client_visits WHERE contacted_at < ? ORDER BY seq",
            (until,))]

    def rejected_fingerprints(self, fingerprints: list[bytes]) -> set[bytes]:
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS probe_fp (fp BLOB PRIMARY KEY) WITHOUT ROWID")
        self.conn.execute("DELETE FROM probe_fp")
        self.conn.executemany("INSERT OR IGNORE INTO probe_fp (fp) VALUES (?)", ((f,) for f in fingerprints))
        found = {r[0] for r in self.conn.execute(
            "SELECT p.fp FROM probe_fp p JOIN rejected r ON r.fingerprint = p.fp")}
        self.conn.execute("DELETE FROM probe_fp")
        return found

    def add_rejected(self, fingerprints: Iterable[bytes]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO rejected (fingerprint) VALUES (?)", ((f,) for f in fingerprints))

    def holds_rows(self) -> bool:
        """Whether any row is stored (`row_count` > 0, without counting a year's rows)."""
        return self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM rows) OR EXISTS (SELECT 1 FROM registrations)"
            " OR EXISTS (SELECT 1 FROM client_visits)").fetchone()[0] == 1

    def row_count(self) -> int:
        return int(self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM rows) + (SELECT COALESCE(SUM(rows), 0) FROM registrations)"
            " + (SELECT COUNT(*) FROM client_visits)").fetchone()[0])

    # ---- snapshots

    def snapshots(self) -> list[tuple[str, str, int, str, str]]:
        """(week, until, max_seq, version, roster) of each stored snapshot, newest first."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT week, until, max_seq, version, roster FROM snapshots ORDER BY until DESC")]

    def snapshot_is_fresh(self, until: str, max_seq: int) -> bool:
        """Whether no row stored after a snapshot (seq above `max_seq`) is dated before its
        `until`: such a row (a late registration or deal) was not in it."""
        later_row = self.conn.execute("SELECT 1 FROM rows WHERE seq > ? AND +at < ? LIMIT 1", (max_seq, until))
        later_block = self.conn.execute("SELECT 1 FROM registrations WHERE last_seq > ? AND first_at < ? LIMIT 1",
                                        (max_seq, until))
        return later_row.fetchone() is None and later_block.fetchone() is None

    def earliest_since(self, seq: int) -> str:
        """The earliest time of the rows stored from `seq` on ("\uffff" if none): a range of the
        primary key, and of the registration blocks."""
        row = self.conn.execute("SELECT MIN(+at) FROM rows WHERE seq >= ?", (seq,)).fetchone()[0]
        block = self.conn.execute("SELECT MIN(first_at) FROM registrations WHERE last_seq >= ?", (seq,)).fetchone()[0]
        return min(t for t in (row, block, "\uffff") if t is not None)

    def snapshot_chain(self, week: str) -> list[str] | None:
        """The snapshots a snapshot's ledger is read from: itself, the one it started from, and
        so on back to a whole one; None if one of them is gone."""
        chain = [week]
        while True:
            row = self.conn.execute("SELECT parent FROM snapshots WHERE week = ?", (chain[-1],)).fetchone()
            if row is None:
                return None
            if row[0] is None:
                return chain
            chain.append(str(row[0]))

    def snapshot(self, week: str) -> dict[str, Any]:
        """A stored snapshot's tables (`SNAPSHOT_TABLES`), decoded; its ledger (`owners`) as a
        `LedgerChain`, read where it is asked."""
        rest = [name for name in SNAPSHOT_TABLES if name != "owners"]
        row = self.conn.execute(f"SELECT {', '.join(rest)} FROM snapshots WHERE week = ?", (week,)).fetchone()
        tables = {name: _decode_snapshot_table(data) if data else None for name, data in zip(rest, row, strict=True)}
        return {**tables, "owners": LedgerChain(week, *self.snapshot_ledger(week), snapshot_reader)}

    def snapshot_ledger(self, week: str) -> tuple[list[bytes], bytes | None]:
        """What a stored snapshot's ledger is read from (`LedgerChain`): the encoded tables of it
        and of the snapshots it is chained to (newest first), and its phones."""
        chain = self.snapshot_chain(week)
        if chain is None:
            raise StateError(f"snapshot {week}: a snapshot it was chained to is gone")
        blobs = [self.conn.execute("SELECT owners FROM snapshots WHERE week = ?", (w,)).fetchone()[0] for w in chain]
        return blobs, self.conn.execute("SELECT phones FROM snapshots WHERE week = ?", (week,)).fetchone()[0]

    def store_whole_ledger(self, week: str, owners: bytes) -> None:
        """A stored snapshot's ledger stored whole (`whole_ledger`): the same rows, chained to
        no other snapshot. The snapshots chained to it read the same ledger from it."""
        self.conn.execute("UPDATE snapshots SET owners = ?, parent = NULL, phones = NULL WHERE week = ?",
                          (owners, week))

    def put_snapshot(self, week: str, until: str, max_seq: int, version: str, roster: str,
                     data: dict[str, bytes], parent: str | None = None) -> None:
        """Store a closed week's snapshot (`encode_snapshot`), its ledger whole or chained to
        `parent`'s; let go of stale ones and of all but the newest `KEEP_SNAPSHOTS` and the ones
        they are chained to. A snapshot taken again replaces the old one, and drops those
        chained to it."""
        self._drop_snapshots(self._chained_to({week}) - {week})
        self.conn.execute(
            f"INSERT OR REPLACE INTO snapshots (week, until, max_seq, version, roster, parent, phones, "
            f"{', '.join(SNAPSHOT_TABLES)}) VALUES (?, ?, ?, ?, ?, ?, ?, {', '.join('?' * len(SNAPSHOT_TABLES))})",
            (week, until, max_seq, version, roster, parent, data.get("phones"),
             *(data[name] for name in SNAPSHOT_TABLES)))
        stale = {old for old, old_until, old_seq, *_ in self.snapshots()
                 if not self.snapshot_is_fresh(old_until, old_seq)}
        self._drop_snapshots(self._chained_to(stale))
        kept = [old for old, *_ in self.snapshots()][:KEEP_SNAPSHOTS]
        needed = {w for old in kept for w in self.snapshot_chain(old) or ()}
        self._drop_snapshots({old for old, *_ in self.snapshots()} - needed)
        # one kept only for the ledger rows a kept one is chained to: its ledger alone (no run
        # starts from it, as from one of the older snapshots dropped)
        self.conn.executemany(
            "UPDATE snapshots SET version = ?, visited = ?, visits = ?, units = ?, deals = NULL, lapses = NULL, "
            "phones = NULL WHERE week = ? AND version != ?",
            [(CHAINED_ONLY, b"", b"", b"", w, CHAINED_ONLY) for w in sorted(needed - set(kept))])

    def _chained_to(self, weeks: set[str]) -> set[str]:
        """These snapshots and every one chained to one of them (whose ledger reads them)."""
        found = set(weeks)
        parents = dict(self.conn.execute("SELECT week, parent FROM snapshots").fetchall())
        grew = True
        while grew:
            more = {w for w, p in parents.items() if p in found and w not in found}
            found |= more
            grew = bool(more)
        return found

    def _drop_snapshots(self, weeks: set[str]) -> None:
        self.conn.executemany("DELETE FROM snapshots WHERE week = ?", [(w,) for w in sorted(weeks)])

    # ---- runs and archive moves

    def log_run(self, run_id: str, started: str, finished: str, now: str, weeks: list[str], config_hash: str,
                files: list[tuple[str, str]], outcome: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, started, finished, now, weeks, config_hash, files, outcome) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, started, finished, now, json.dumps(weeks), config_hash,
             json.dumps(files, ensure_ascii=False), outcome))

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        cols = ("run_id", "started", "finished", "now", "weeks", "config_hash", "files", "outcome")
        rows = self.conn.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY started DESC LIMIT ?", (limit,))
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def add_pending_moves(self, run_id: str, files: list[tuple[str, str]]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO pending_moves (run_id, name, sha256) VALUES (?, ?, ?)",
                              [(run_id, name, sha) for name, sha in files])

    def pending_moves(self) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self.conn.execute(
            "SELECT run_id, name, sha256 FROM pending_moves ORDER BY run_id, name")]

    def done_move(self, run_id: str, name: str) -> None:
        self.conn.execute("DELETE FROM pending_moves WHERE run_id = ? AND name = ?", (run_id, name))

    # ---- mail

    def sent(self, week: str) -> set[tuple[str, str]]:
        return {(r[0], r[1]) for r in self.conn.execute(
            "SELECT recipient, digest FROM sent WHERE week = ?", (week,))}

    def record_sent(self, week: str, items: Iterable[tuple[str, str, str]], at: str) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO sent (week, recipient, digest, key, at) VALUES (?, ?, ?, ?, ?)",
                              [(week, recipient, dig, key, at) for recipient, dig, key in items])


# The columns of a snapshot with few distinct texts (the managers, how a phone was won), stored
# as Arrow dictionaries: a sixth less to store for a million-row ledger. (Customers' names too
# took 0.15 s more for 4 % less.)
_SNAPSHOT_WORDS = frozenset({"owner", "via", "manager", "who"})


def _week_start(week: str) -> str:
    return Week.parse(week).start_iso


def encode_snapshot(tables: dict[str, Any]) -> dict[str, bytes]:
    """A snapshot's tables (`SNAPSHOT_TABLES`: Arrow tables of text) as `put_snapshot` stores
    them; `snapshot` reads them back as they were (metadata included)."""
    import pyarrow as pa

    encoded = {name: encode_snapshot_table(tables[name]) for name in SNAPSHOT_TABLES}
    if tables.get("phones") is not None:
        encoded["phones"] = _encode_table(pa.table({"phone": tables["phones"]}))
    return encoded


def encode_snapshot_table(table: Any) -> bytes:
    """One of a snapshot's tables (`encode_snapshot`): a table, or a reader of record batches."""
    import pyarrow as pa

    def compact(table: Any) -> Any:
        columns = [table.column(c).combine_chunks() for c in table.column_names]
        return pa.table([c.dictionary_encode() if name in _SNAPSHOT_WORDS else c
                         for name, c in zip(table.column_names, columns, strict=True)],
                        names=table.column_names, metadata=table.schema.metadata)

    if not isinstance(table, pa.RecordBatchReader):
        return _encode_table(compact(table))
    # batches made as they are asked for (a year's ledger put in order a part at a time),
    # each encoded and let go; read back as one table (`_decode_table`)
    schema = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in _SNAPSHOT_WORDS else f
                        for f in table.schema], metadata=table.schema.metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        for batch in table:
            writer.write_table(compact(pa.Table.from_batches([batch])).replace_schema_metadata(
                schema.metadata))
    return b"".join((_ARROW_MARK, memoryview(sink.getvalue())))


def whole_ledger_into(path: str, week: str, blobs: list[bytes], phones: bytes | None) -> int:
    """`whole_ledger` in a process of its own, written to the file `path` (its size returned):
    the run reads it at its commit instead of holding it through the reports. Arrow's memory
    from the C library's allocator, which gives back what a batch let go: measured on a year's
    ledger, a peak of 300 MB against 400 MB with the default one, and less time."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    data = whole_ledger(week, blobs, phones)
    Path(path).write_bytes(data)
    return len(data)


def whole_ledger(week: str, blobs: list[bytes], phones: bytes | None) -> bytes:
    """A stored snapshot's ledger (`State.snapshot_ledger`: its own encoded table and those of the
    snapshots it is chained to, its phones) encoded whole, as a snapshot not chained to any
    stores it (`State.store_whole_ledger`). Made a batch at a time (`LedgerChain.batches`): run in
    a process of its own (`run._replay`), it takes a batch's memory and the encoded result."""
    import pyarrow as pa

    chain = LedgerChain(week, blobs, phones, snapshot_reader)
    metadata = {"ordered": str(chain.size), SORTED.decode(): "1", **({"lines": "1"} if chain.lines else {})}
    schema = pa.schema([(c, pa.string()) for c in Ledger.COLUMNS], metadata=metadata)
    return encode_snapshot_table(pa.RecordBatchReader.from_batches(schema, chain.batches()))


def snapshot_reader(data: bytes) -> Any:
    """A stored snapshot table as a reader of its record batches (`LedgerChain`), each batch
    decompressed on the thread that reads it: measured on a year's whole ledger (56 batches),
    0.067 s of CPU against 0.096 s with Arrow's threads, which the run's other work keeps busy."""
    import pyarrow as pa

    assert bytes(data[:len(_ARROW_MARK)]) == _ARROW_MARK
    return pa.ipc.open_stream(pa.py_buffer(memoryview(data)[len(_ARROW_MARK):]),
                              options=pa.ipc.IpcReadOptions(use_threads=False))


def _decode_snapshot_table(data: bytes) -> Any:
    import pyarrow as pa

    table = _decode_table(data)
    columns = [table.column(c) for c in table.column_names]
    return pa.table([c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in columns],
                    names=table.column_names, metadata=table.schema.metadata)


def _same_text(value: str, n: int) -> Any:
    """`n` times the same text, as an Arrow dictionary column: a block's file and sheet for each
    of its rows without a million copies of the name (0.2 s and 30 MB for the big ledger)."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.repeat(pa.scalar(0, pa.int32()), n), pa.array([value], pa.string()))


# ---- backups: copies of the state, kept by a retention rule, restorable

# A backup is the database as last committed, its pages read from the database file while a read
# transaction keeps it so (`_hold_committed`; else copied page for page by SQLite's backup API into
# a temporary file), its caches left out (`_without_caches`, `_drop_caches`), then kept as a list
# of its pages in the store of unique pages under `backups/pages/` (`pagestore`): each backup adds
# only the pages that changed since the ones before. Reading the file saves the copy's writes and
# reads: at the end of the quarter-size year a backup with its check took 1.0 s of CPU instead of
# 1.7 s. After a year of a quarter-size office (`make bench-year`) the six backups kept of a 743 MB
# database take 580 MB, where compressed whole copies took 1,446 MB; a backup then costs about 1.3 s
# of CPU (copy 0.3-0.4 s, hashing and packing 0.6 s) against 2.0-2.4 s for `VACUUM INTO` and zstd.
# Backups made by earlier versions are still listed, kept by the same
# rule and restored: `VACUUM INTO` copies compressed as one zstd frame followed by the SHA-256 of
# the database in a skippable frame (`<taken>_<run>.db.zst`), and whole database files (`.db`).
BACKUP_SUFFIX = pagestore.SUFFIX
_OLD_SUFFIXES = (".db.zst", ".db")
_STAMP = "%Y%m%dT%H%M%S"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_HASH_FRAME = struct.pack("<II", 0x184D2A5E, 40) + b"sha256\x00\x00"  # + 32 bytes of digest


def quick_check(conn: sqlite3.Connection) -> None:
    """SQLite's quick check of the database `conn` reads; raises `sqlite3.DatabaseError` saying
    what is wrong."""
    result = conn.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise sqlite3.DatabaseError(result)


class BackingUp:
    """A backup made by a thread (`State.backup_aside`): called, waits for it and returns its
    path (or raises its error); `checked` waits only for the integrity check of its copy."""

    def __init__(self) -> None:
        self.done: dict[str, Any] = {}
        self.checking = threading.Event()  # set once the check is made (or the backup failed before it)
        self.damage: StateError | None = None
        self.ran = False  # whether the check ran (and passed)
        self.thread: threading.Thread | None = None

    def checked(self) -> bool:
        """Wait for the check: whether it was made (not when the copy failed before it); a
        damaged database raises `StateError` (the message says how to recover)."""
        self.checking.wait()
        if self.damage is not None:
            raise self.damage
        return self.ran

    def __call__(self) -> Path:
        assert self.thread is not None
        self.thread.join()
        if "error" in self.done:
            raise self.done["error"]
        path: Path = self.done["path"]
        return path


@dataclass(frozen=True)
class Backup:
    """One backup: when it was taken (the run's clock) and its size in bytes: for a list of
    pages, the database it restores (`database`) and the pages it added to the store (`size`)."""

    path: Path
    taken: datetime
    size: int
    database: int | None = None

    @property
    def name(self) -> str:
        name = self.path.name
        for suffix in (BACKUP_SUFFIX, *_OLD_SUFFIXES):
            if name.endswith(suffix):
                return name.removesuffix(suffix)
        return name


def list_backups(state_folder: Path) -> list[Backup]:
    """The backups under `state_folder`, oldest first: lists of pages, and the compressed copies
    and whole database files kept by earlier versions (`<run>.db`, dated by their run's start)."""
    folder = state_folder / BACKUPS
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not path.name.endswith((BACKUP_SUFFIX, *_OLD_SUFFIXES)) or not path.is_file():
            continue
        try:
            taken = datetime.strptime(path.name[:15], _STAMP)
        except ValueError:
            continue
        if path.name.endswith(BACKUP_SUFFIX):
            try:
                m = pagestore.read_manifest(path)
                found.append(Backup(path, taken, m.added, m.size))
            except (OSError, pagestore.DamagedBackup):
                found.append(Backup(path, taken, path.stat().st_size))  # listed; its restore says it is damaged
        else:
            found.append(Backup(path, taken, path.stat().st_size))
    return sorted(found, key=lambda b: (b.taken, b.path.name))


# Threads hashing and compressing a backup's pages where the run waits for it (`State.backup`, a
# first run's at its end); one, its own, for a backup made beside the run's reading (`backup_aside`).
BACKUP_HASHERS = 2


def make_backup(source: sqlite3.Connection, state_folder: Path, run_id: str, taken: datetime,
                halfway: Callable[[], None] | None = None,
                check: Callable[[sqlite3.Connection | None], None] | None = None, hashers: int = 1) -> Path:
    """The database `source` reads, as last committed, into the backup `backups/<taken>_<run>.pages`
    (its new pages into the store, `pagestore.store`). Until it is whole it has a `.part` name: a
    crash leaves nothing that looks like a backup (and the next backup clears what it left).
    `halfway` is called before the rename; `check` with a connection that reads the database
    as last committed, before its pages are stored (what it raises leaves no backup), or with
    None where the last whole check vouches for the file (`_vouched_for`).

    The pages are read from the database file itself when it holds the last commit whole
    (`_hold_committed`), the caches left out as `_drop_caches` would (`_without_caches`);
    otherwise (another reader keeps the log from being written back, a database whose free
    list does not add up) SQLite's backup API copies it into a temporary file first. `hashers`:
    the threads hashing and compressing the pages (`pagestore.store_pages`)."""
    folder = state_folder / BACKUPS
    folder.mkdir(exist_ok=True)
    pagestore.clear_halves(folder)  # half copies of runs that crashed (one run at a time: the lock)
    target = folder / f"{taken:{_STAMP}}_{run_id}{BACKUP_SUFFIX}"
    held = _hold_committed(source)
    if held is not None:
        try:
            record = pagestore.read_written(folder)
            if record is not None and record.stamp != held.before:
                record = None  # the file was written otherwise since: nothing it says holds
            checked = record.checked if record is not None else ""
            if check is not None:
                if _vouched_for(checked, taken):
                    check(None)
                else:
                    check(source)
                    checked = taken.isoformat()
                check = None
            read = _page_reader(held.fd, held.page_size)
            pages = _without_caches(source, read, held.page_count, _unchanged(folder, record, held))
            if pages is not None:
                made = pagestore.store_pages(pages, held.page_size, bytes(held.page_size), folder, target,
                                             halfway, read, hashers)
                pagestore.write_written(folder, pagestore.Written(made.name, held.stamp, frozenset(), checked))
                return made
        finally:
            if source.in_transaction:
                source.execute("ROLLBACK")
    pagestore.forget_written(folder)  # SQLite's copy: the next backup reads every page again
    copy = folder / f"{target.name}.db.part"
    try:
        dest = sqlite3.connect(copy, isolation_level=None)
        try:
            dest.execute("PRAGMA journal_mode=OFF")  # a temporary file: a crash leaves a .part
            dest.execute("PRAGMA synchronous=OFF")
            dest.execute(f"PRAGMA cache_size=-{BACKUP_CACHE_KB}")
            source.backup(dest)  # page for page: an unchanged page keeps its number and bytes
            if check is not None:
                check(dest)
        finally:
            dest.close()
        _drop_caches(copy)
        return pagestore.store(copy, folder, target, halfway, hashers)
    finally:
        copy.unlink(missing_ok=True)


@dataclass(frozen=True)
class Held:
    """The database file held as last committed (`_hold_committed`)."""
    fd: int                  # a descriptor of the file (`_raw_file`)
    page_size: int
    page_count: int
    before: tuple[int, ...]  # the file's stamp before the log was written back into it (`pagestore.file_stamp`)
    logged: set[int]         # the pages the log held then (`pagestore.log_pages`)
    stamp: tuple[int, ...]   # its stamp while held


def _hold_committed(source: sqlite3.Connection) -> Held | None:
    """A read transaction begun on `source` in which its database file, as it is on disk, is
    the database as last committed, and stays so until it ends (ROLLBACK): the log's committed
    pages all written back into the file (a passive checkpoint, which waits for no one), and no
    commit since. While it lasts no checkpoint writes into the file (it would need this
    reader's lock); the run's own connection writes only to the log until it commits. The
    log's pages are counted before they are written back (`Held.logged`). None, with no
    transaction begun, where that cannot be had: a database not in WAL mode, a log another
    reader keeps from being written back, a commit meanwhile."""
    if source.in_transaction:
        return None
    try:
        path = next((row[2] for row in source.execute("PRAGMA database_list") if row[1] == "main"), "")
        if not path or source.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return None
        (before,) = source.execute("PRAGMA data_version").fetchone()
        stamp_before = pagestore.file_stamp(Path(path))
        logged = pagestore.log_pages(Path(path))
        busy, log, written = source.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy or log != written:
            return None
        source.execute("BEGIN")
        try:
            (page_size,) = source.execute("PRAGMA page_size").fetchone()
            (page_count,) = source.execute("PRAGMA page_count").fetchone()
            (after,) = source.execute("PRAGMA data_version").fetchone()
            fd = _raw_file(Path(path))
            if after != before or os.fstat(fd).st_size != page_size * page_count:
                source.execute("ROLLBACK")
                return None
            stamp = pagestore.file_stamp(Path(path))
        except BaseException:
            source.execute("ROLLBACK")
            raise
    except (sqlite3.Error, OSError):
        return None
    return Held(fd, page_size, page_count, stamp_before, logged, stamp)


def _vouched_for(checked: str, taken: datetime) -> bool:
    """Whether the whole integrity check (SQLite's quick check: it reads every page, 0.7 s of a
    year's database and growing with the history) may be left out of this backup: the last one
    passed less than `CHECK_EVERY` before (by the run's clock) and the database file has been
    written by nothing but the state's own connections since (the caller's `pagestore.Written`,
    whose stamp changes with any other write: a damaged or replaced file is checked at once)."""
    if not checked:
        return False
    try:
        return timedelta(0) <= taken - datetime.fromisoformat(checked) < CHECK_EVERY
    except (ValueError, TypeError):
        return False


def _unchanged(folder: Path, written: pagestore.Written | None, held: Held) -> tuple[list[bytes], set[int]] | None:
    """The hashes the last backup lists for its pages, and the pages written since
    (`pagestore.Written`, its record as it holds for the file before this backup wrote the log
    back); None where every page is to be read again."""
    if written is None:
        return None
    try:
        base = pagestore.read_manifest(folder / written.base)
    except (OSError, pagestore.DamagedBackup):
        return None
    if base.page_size != held.page_size:
        return None
    return base.hashes, set(written.pages) | held.logged


def _page_reader(fd: int, page_size: int) -> Callable[[int], bytes]:
    def read(number: int) -> bytes:
        if hasattr(os, "pread"):
            page = os.pread(fd, page_size, (number - 1) * page_size)
        else:  # Windows: this thread alone reads through the descriptor
            os.lseek(fd, (number - 1) * page_size, os.SEEK_SET)
            page = os.read(fd, page_size)
        if len(page) != page_size:
            raise OSError(f"the database file ends before its page {number}")
        return page

    return read


def _without_caches(source: sqlite3.Connection, read: Callable[[int], bytes], page_count: int,
                    unchanged: tuple[list[bytes], set[int]] | None = None) -> Iterator[bytes | pagestore.Same] | None:
    """The pages of the database file `read` reads (held as last committed, `_hold_committed`) as
    `_drop_caches` leaves a copy of it: the snapshots' b-trees emptied, their pages free, free
    pages as zeros (`pagestore.emptied`). With `unchanged` (`_unchanged`), a page not written
    since the last backup and not one the emptying decides is given as its hash there
    (`pagestore.Same`), not read. None where it cannot say which pages those are (a build of
    SQLite without the `dbstat` table, a free list that does not add up)."""
    try:
        trees = source.execute("SELECT name, rootpage FROM sqlite_master "
                               "WHERE tbl_name = 'snapshots' AND rootpage > 0").fetchall()
        roots, dropped = [], set()
        for name, root in trees:
            tree = {p for (p,) in source.execute("SELECT pageno FROM dbstat WHERE name = ?", (name,))}
            if root not in tree:
                return None
            roots.append(root)
            dropped |= tree - {root}
    except sqlite3.Error:
        return None

    changed = pagestore.emptied(read, page_count, roots, dropped)
    if changed is None:
        return None
    zero = bytes(len(changed[1]))  # page 1 is always among them (`pagestore.emptied`)
    hashes, written = unchanged if unchanged is not None else ([], set())

    def pages() -> Iterator[bytes | pagestore.Same]:
        for number in range(1, page_count + 1):
            page = changed.get(number)
            if page is not None:
                yield zero if page == zero else page
            elif number <= len(hashes) and number not in written:
                yield pagestore.Same(hashes[number - 1], number)
            else:
                yield read(number)

    return pages()


# Descriptors of database files a backup reads directly (`_hold_committed`), one per file, left
# open while a `State` of this process has the file open: closing any descriptor of a file drops
# every POSIX lock the process holds on it, SQLite's included. The last `State.close` of the
# process on a file closes it.
_RAW_FILES: dict[tuple[int, int], int] = {}
_STATES_OPEN: dict[tuple[int, int], int] = {}
_RAW_LOCK = threading.Lock()


def _file_key(path: Path) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _raw_file(path: Path) -> int:
    with _RAW_LOCK:
        key = _file_key(path)
        fd = _RAW_FILES.get(key)
        if fd is None:
            fd = _RAW_FILES[key] = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return fd


def _state_opened(path: Path) -> tuple[int, int] | None:
    with _RAW_LOCK:
        try:
            key = _file_key(path)
        except OSError:
            return None
        _STATES_OPEN[key] = _STATES_OPEN.get(key, 0) + 1
        return key


def _state_closed(key: tuple[int, int]) -> None:
    with _RAW_LOCK:
        left = _STATES_OPEN[key] = _STATES_OPEN[key] - 1
        if left <= 0:
            del _STATES_OPEN[key]
            fd = _RAW_FILES.pop(key, None)
            if fd is not None:
                os.close(fd)


def _drop_caches(copy: Path) -> None:
    """A backup keeps the history, not what is computed from it: the snapshots (a cache, see
    `put_snapshot`; the first run after a restore replays the whole history) are deleted from
    the copy, what they leave on pages still in use overwritten with zeros (`secure_delete`);
    the pages they free are kept as zeros by the backup (`pagestore.free_pages`), not written
    here. They change every week: kept, they would add their size to each backup."""
    conn = sqlite3.connect(copy, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA secure_delete=FAST")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'").fetchone():
            conn.execute("DELETE FROM snapshots")
    finally:
        conn.close()


def prune_backups(state_folder: Path, keep: Backups, step: Callable[[str], None] | None = None) -> list[Path]:
    """Delete the backups the retention rule does not keep (`kept_backups`), then the pages no
    backup left needs (`pagestore.collect`); returns the backups deleted. `step` is called with
    `during_prune` between the two and `during_repack` inside the second (the crash tests')."""
    backups = list_backups(state_folder)
    kept = kept_backups(backups, keep)
    gone = [b.path for b in backups if b not in kept]
    for path in gone:
        path.unlink()
    folder = state_folder / BACKUPS
    if gone:
        pagestore.sync_folder(folder)
    if step is not None:
        step("during_prune")
    if folder.is_dir():
        pagestore.collect(folder, None if step is None else partial(step, "during_repack"))
    return gone


def kept_backups(backups: list[Backup], keep: Backups) -> set[Backup]:
    """The newest `keep_last`, and the newest of each of the last `keep_weekly` ISO weeks and
    `keep_monthly` months that have a backup (as restic and borg keep snapshots)."""
    newest_first = sorted(backups, key=lambda b: (b.taken, b.path.name), reverse=True)
    kept = set(newest_first[:keep.keep_last])
    buckets: list[tuple[int, Callable[[datetime], tuple[int, int]]]] = [
        (keep.keep_weekly, lambda t: (t.isocalendar()[0], t.isocalendar()[1])),
        (keep.keep_monthly, lambda t: (t.year, t.month)),
    ]
    for count, bucket in buckets:
        seen: set[tuple[int, int]] = set()
        for b in newest_first:
            if len(seen) == count:
                break
            if bucket(b.taken) not in seen:
                seen.add(bucket(b.taken))
                kept.add(b)
    return kept


def find_backup(state_folder: Path, which: str | None) -> Path:
    """The newest backup, or the one named (as `list_backups` names it, or a file's path)."""
    backups = list_backups(state_folder)
    if which is None:
        if not backups:
            raise StateError(f"no backup in {state_folder / BACKUPS}: nothing to restore")
        return backups[-1].path
    for b in backups:
        if which in (b.name, b.path.name):
            return b.path
    if Path(which).is_file():
        return Path(which)
    raise StateError(f"no backup {which!r}; the backups are listed by: pipeline state backups --state {state_folder}")


def restore_backup(state_folder: Path, backup: Path, stamp: str) -> Path | None:
    """Replace the state's database by `backup` (compressed, or a database file such as one a
    restore kept aside), checked whole first. The database replaced is kept aside as
    `replaced/pipeline-<stamp>.db` (returned; None when there was none), so that a restore can be
    undone by restoring that file. The caller holds the run lock. At every moment the database
    is either the old one or the restored one, never a half of either."""
    state_folder.mkdir(parents=True, exist_ok=True)
    db = state_folder / DB_NAME
    incoming = state_folder / f"{DB_NAME}.restoring"
    try:
        _unpack(backup, incoming, state_folder / BACKUPS)
        _check_restorable(incoming, backup)
    except BaseException:
        incoming.unlink(missing_ok=True)
        raise
    aside = None
    if db.exists():
        aside_folder = state_folder / "replaced"
        aside_folder.mkdir(exist_ok=True)
        aside = aside_folder / f"pipeline-{stamp}.db"
        try:  # the log written back into the file, so that the file alone is the whole database
            conn = sqlite3.connect(db)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            pass  # a damaged database is kept aside as it is, with its log
        shutil.copyfile(db, aside)
        _sync_file(aside)
        for extra in ("-wal", "-shm"):  # never let an old log be applied to the restored file
            side = state_folder / f"{DB_NAME}{extra}"
            if side.exists():
                os.replace(side, aside.with_name(aside.name + extra))
    os.replace(incoming, db)
    pagestore.sync_folder(state_folder)
    pagestore.forget_written(state_folder / BACKUPS)  # another file: every page is read again
    return aside


def _unpack(backup: Path, target: Path, folder: Path) -> None:
    """The database `backup` holds into `target`: a list of pages (from the store in `folder`),
    a compressed copy, or a database file."""
    import pyarrow as pa

    if pagestore.is_manifest(backup):
        try:
            pagestore.restore(backup, target, folder)
        except (OSError, ValueError, KeyError, pagestore.DamagedBackup) as exc:
            raise StateError(f"the backup {backup} is damaged ({exc}); choose another: pipeline state backups") from None
        _sync_file(target)
        return
    with open(backup, "rb") as fh:
        head = fh.read(16)
        fh.seek(max(0, backup.stat().st_size - len(_HASH_FRAME) - 32))
        tail = fh.read()
    if head.startswith(_ZSTD_MAGIC):
        digest = hashlib.sha256()
        try:
            with pa.CompressedInputStream(str(backup), "zstd") as packed, open(target, "wb") as out:
                for chunk in iter(lambda: packed.read(1 << 22), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, pa.ArrowException) as exc:
            raise StateError(f"the backup {backup} is damaged ({exc}); choose another: pipeline state backups") from None
        # A backup zstd made by hand has no hash: the integrity check alone judges it.
        if tail.startswith(_HASH_FRAME) and tail[len(_HASH_FRAME):] != digest.digest():
            raise StateError(f"the backup {backup} is damaged (its content does not match its hash); "
                             f"choose another: pipeline state backups")
    elif head == _SQLITE_MAGIC:
        shutil.copyfile(backup, target)
    else:
        raise StateError(f"{backup} is neither a backup nor a database file")
    _sync_file(target)


def _check_restorable(path: Path, backup: Path) -> None:
    """A whole database (`integrity_check`) of a schema this version reads."""
    try:
        conn = sqlite3.connect(path)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        result, version, tables = str(exc), 0, set()
    if result != "ok":
        raise StateError(f"the backup {backup} is damaged ({result}); choose another: pipeline state backups")
    if version > len(MIGRATIONS):
        raise StateError(f"{backup} was written by a newer version (schema {version}); upgrade the pipeline")
    if "weeks" not in tables:
        raise StateError(f"{backup} is not a state database of this pipeline")


def _sync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


# Blocks written by schema 4 on are Arrow IPC streams compressed with zstd, after a marker: a
# million rows encode and decode in a few hundredths of a second, and come back as the Arrow
# columns the replay sorts. Blocks of schema 3 (text columns: each column's values joined by
# NUL, the columns by RS, after their marker) and earlier (JSON) are still read.
_ARROW_MARK = b"\x00arrow1\x1e"
BLOCK_MARK = b"\x00cols1\x1e"


def _block_schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([("seq", pa.int64()), ("at", text), ("phone", text), ("who", text), ("customer", text),
                      ("note", text), ("row", pa.int64())])


def block_table(columns: list[Any]) -> Any:
    """A block's seven columns (lists or Arrow arrays) as an Arrow table."""
    import pyarrow as pa

    schema = _block_schema()
    return pa.table([c if isinstance(c, pa.Array) else pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)],
                    schema=schema)


def encode_block(table: Any) -> bytes:
    return _encode_table(table)


def _encode_table(table: Any) -> bytes:
    """An Arrow table as a compressed Arrow stream after a marker (`_decode_table`)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return b"".join((_ARROW_MARK, memoryview(sink.getvalue())))  # one copy of the block, not two


def _decode_table(data: bytes) -> Any:
    import pyarrow as pa

    assert data.startswith(_ARROW_MARK)
    return pa.ipc.open_stream(pa.py_buffer(memoryview(data)[len(_ARROW_MARK):])).read_all().combine_chunks()


def decode_block(data: bytes) -> Any:
    """A stored block as an Arrow table, whichever format it was written in."""
    import pyarrow as pa

    if data.startswith(_ARROW_MARK):
        return pa.ipc.open_stream(pa.py_buffer(memoryview(data)[len(_ARROW_MARK):])).read_all().combine_chunks()
    return block_table(_decode_old_block(zlib.decompress(data)))


def _block_phones(data: bytes) -> Any:
    """The phones of a stored block (Arrow text), decoded alone; None for a block of an older
    format (`decode_block` reads it whole)."""
    import pyarrow as pa

    if not data.startswith(_ARROW_MARK):
        return None
    only = pa.ipc.IpcReadOptions(included_fields=[_block_schema().get_field_index("phone")])
    return pa.ipc.open_stream(pa.py_buffer(memoryview(data)[len(_ARROW_MARK):]), options=only).read_all().column(0)


def _decode_old_block(data: bytes) -> list[list[Any]]:
    """A block of schema 3 (text columns) or earlier (JSON), zlib-decompressed, as lists."""
    if not data.startswith(BLOCK_MARK):
        return list(json.loads(data))
    parts = data[len(BLOCK_MARK):].decode("utf-8").split("\x1e")
    seq, row = ([int(v) for v in p.split(",")] if p else [] for p in parts[:2])
    at, phone, who, customer, note = (p.split("\x00") for p in parts[2:])
    return [seq, at, phone, who, customer, note, row]


def _joined(parts: list[Any], old: list[Any]) -> Registered:
    """Registration blocks (Arrow tables with their file and sheet) and rows stored one per row
    by schema 1 (`old`, tuples of `Registered.COLUMNS`), as one `Registered`."""
    import pyarrow as pa

    if old:
        legacy = Registered(**{c: list(v) for c, v in zip(Registered.COLUMNS, zip(*old, strict=True), strict=True)})
        parts.append(pa.table({c: legacy.array(c).dictionary_encode() if c in ("file", "sheet") else legacy.array(c)
                               for c in Registered.COLUMNS}))
    if not parts:
        return Registered()
    both = pa.concat_tables([p.select(list(Registered.COLUMNS)) for p in parts])
    return Registered(**{c: both.column(c).combine_chunks() for c in Registered.COLUMNS})
