"""The state on a PostgreSQL server (SPEC §10): a group's offices in one database.

Each office has a schema of its own in the database (`office_<hash of its name>`, listed in
`public.pipeline_offices` with its schema version), holding the same tables as the embedded
database: every table is the office's, and a connection of an office sees only its schema
(`search_path`), so the rules never see another office's rows. The migrations are
`state.MIGRATIONS`, translated (`pg_migration`); the state's SQL is `State`'s, translated
statement by statement (`PgConn`); the bulk paths (new rows, identities probed, fingerprints,
`migrate`'s copy) go through `COPY`.

One run per office at a time: a session advisory lock keyed by the office's name
(`office_lock`), which the server releases when the run's connection ends, a crash included.
The password comes only from `PIPELINE_DB_PASSWORD`.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .config import DB_PASSWORD_ENV
from .state import MIGRATIONS, PAID_DEALS, STORED_COLUMNS, BackingUp, State, StateError

OFFICES = "public.pipeline_offices"
# The key of the lock taken while an office's schema is made (two first runs at once).
_SETUP_KEY = 0x70697065_6c696e65  # "pipeline"


class OfficeLocked(Exception):
    """Another run of the office holds its lock."""


def describe(url: str) -> str:
    """The server and database of `url`, for messages (`host:port/db`)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def schema_of(office: str) -> str:
    """The office's schema: a name PostgreSQL takes unquoted whatever the office's name."""
    return "office_" + hashlib.sha256(office.encode("utf-8")).hexdigest()[:20]


def lock_key(office: str) -> int:
    """The office's advisory lock: 64 bits of the hash of its name."""
    return int.from_bytes(hashlib.sha256(("pipeline office " + office).encode("utf-8")).digest()[:8], "big",
                          signed=True)


def connect(url: str, office: str = "", what: str = "run") -> Any:
    """A connection in autocommit (transactions are begun and committed by `State`), named after
    the office, the process and the machine (seen in `pg_stat_activity` and in the lock message)."""
    try:
        import psycopg
    except ImportError:
        raise StateError("[state] url needs the PostgreSQL driver: pip install 'kam-pipeline[postgres]'") from None
    # The server keeps 63 bytes of printable ASCII of it: the office's name goes last.
    label = f"pipeline {what} pid {os.getpid()} on {socket.gethostname()} office {office}"
    kwargs: dict[str, Any] = {"autocommit": True, "application_name": label.encode()[:63].decode(errors="ignore")}
    password = os.environ.get(DB_PASSWORD_ENV)
    if password:
        kwargs["password"] = password
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(f"cannot connect to the state's database {describe(url)}: {detail}") from None


# ---- the SQL of `State`, in PostgreSQL's words

_PLACEHOLDER = re.compile(r"\?|(?<![:\w]):([A-Za-z_]\w*)")
_INSERT_OR = re.compile(r"^\s*INSERT OR (IGNORE|REPLACE) INTO (\w+) \(([^)]*)\)(.*)$", re.S)


@lru_cache(maxsize=512)
def translate(statement: str, keys: tuple[str, ...] = ()) -> str:
    """One statement of `State` for PostgreSQL: `?`/`:name` placeholders as psycopg's,
    `INSERT OR IGNORE` as `ON CONFLICT DO NOTHING`, `INSERT OR REPLACE` as an upsert on the
    table's primary key (`keys`), SQLite's index hints (`+at`) dropped, `json_extract(c, '$.k')`
    as `c::json ->> 'k'`."""
    sql = statement.replace("%", "%%").replace("BEGIN IMMEDIATE", "BEGIN")
    sql = re.sub(r"(?<![\w)])\+at\b", "at", sql)
    # SQLite's json_extract(column, '$.key'): text for a scalar, JSON text for a list or object
    sql = re.sub(r"json_extract\((\w+), '\$\.(\w+)'\)", r"((\1)::json ->> '\2')", sql)
    sql = _PLACEHOLDER.sub(lambda m: "%s" if m.group(0) == "?" else f"%({m.group(1)})s", sql)
    found = _INSERT_OR.match(sql)
    if found:
        how, table, columns, rest = found.groups()
        if how == "IGNORE":
            conflict = " ON CONFLICT DO NOTHING"
        else:
            assert keys, f"INSERT OR REPLACE into {table} needs its primary key"
            names = [c.strip() for c in columns.split(",")]
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in keys)
            conflict = f" ON CONFLICT ({', '.join(keys)}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
        sql = f"INSERT INTO {table} ({columns}){rest.rstrip()}{conflict}"
    return sql


def pg_migration(step: str) -> list[str]:
    """A step of `state.MIGRATIONS` as PostgreSQL statements: BLOB as bytea; text compared and
    sorted by code point (`COLLATE "C"`, as SQLite does: the rules compare ISO times as text);
    integers of 64 bits, and an `INTEGER PRIMARY KEY` numbered by the server when not given; SQLite's pragmas and
    `WITHOUT ROWID` dropped."""
    out = []
    for statement in step.split(";"):
        sql = statement.strip()
        if not sql or sql.upper().startswith("PRAGMA"):
            continue
        sql = sql.replace("WITHOUT ROWID", "")
        if re.match(r"(CREATE|ALTER)\s+TABLE", sql, re.I):
            sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
            sql = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)
            sql = re.sub(r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
            sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)  # SQLite's integers have 64 bits
        found = _INSERT_OR.match(sql)
        if found and found.group(1) == "IGNORE":
            sql = f"INSERT INTO {found.group(2)} ({found.group(3)}){found.group(4).rstrip()} ON CONFLICT DO NOTHING"
        out.append(sql)
    return out


class PgConn:
    """The few calls `State` makes of a sqlite3 connection, on a psycopg one."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._keys: dict[str, tuple[str, ...]] = {}

    def _primary_key(self, table: str) -> tuple[str, ...]:
        if table not in self._keys:
            self._keys[table] = tuple(r[0] for r in self.raw.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                "ORDER BY a.attnum", (table,)))
        return self._keys[table]

    def _sql(self, statement: str) -> str:
        found = _INSERT_OR.match(statement)
        keys = self._primary_key(found.group(2)) if found and found.group(1) == "REPLACE" else ()
        return translate(statement, keys)

    def execute(self, statement: str, params: Any = ()) -> Any:
        return self.raw.execute(self._sql(statement), params or None)

    def executemany(self, statement: str, rows: Iterable[Any]) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(self._sql(statement), list(rows))
        return cursor

    @property
    def in_transaction(self) -> bool:
        from psycopg import pq

        return bool(self.raw.info.transaction_status != pq.TransactionStatus.IDLE)

    def close(self) -> None:
        self.raw.close()


# ---- offices

def _setup(raw: Any, office: str | None = None) -> None:
    """The offices' list, and `office`'s schema (once; two first runs at once wait for each other)."""
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_KEY,))
        raw.execute(f'CREATE TABLE IF NOT EXISTS {OFFICES} (office TEXT COLLATE "C" PRIMARY KEY, '
                    'schema TEXT NOT NULL UNIQUE, version INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL)')
        if office is not None:
            raw.execute(f"INSERT INTO {OFFICES} (office, schema, created) VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        (office, schema_of(office), datetime.now().isoformat(timespec="seconds")))
            raw.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_of(office)}")


def _registered(raw: Any) -> dict[str, str]:
    """Every office of the database and its schema."""
    if raw.execute("SELECT to_regclass(%s)", (OFFICES,)).fetchone()[0] is None:
        return {}
    return {office: schema for office, schema in raw.execute(f"SELECT office, schema FROM {OFFICES} ORDER BY office")}


def office_exists(url: str, office: str) -> bool:
    raw = connect(url, office, "status")
    try:
        return office in _registered(raw)
    finally:
        raw.close()


def week_results(url: str, week: str) -> list[tuple[str, str]]:
    """(office, stored results.json text) of every office of the database that closed `week`,
    by office name."""
    raw = connect(url, "", "group")
    try:
        found = []
        for office, schema in _registered(raw).items():
            if raw.execute("SELECT to_regclass(%s)", (f"{schema}.weeks",)).fetchone()[0] is None:
                continue
            row = raw.execute(f"SELECT results FROM {schema}.weeks WHERE week = %s", (week,)).fetchone()
            if row is not None:
                found.append((office, row[0]))
        return found
    finally:
        raw.close()


@contextmanager
def office_lock(url: str, office: str) -> Iterator[None]:
    """One run of `office` at a time, from any machine: a session advisory lock, which the
    server lets go of when this connection ends, however the process ends."""
    raw = connect(url, office, "lock")
    held = False
    try:
        key = lock_key(office)
        if not raw.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            holder = raw.execute(
                "SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
            who = f": {holder[0]} since {holder[1]:%Y-%m-%d %H:%M:%S}" if holder else ""
            raise OfficeLocked(f"another run of office {office!r} holds its lock on {describe(url)}{who}")
        held = True
        yield
    finally:
        if held:
            # Let go of it before closing: the server ends a closed session's lock on its own
            # time, and a command started right after this one could still find it held.
            try:
                raw.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except Exception:  # noqa: BLE001,S110 - the session's end lets go of it anyway
                pass
        raw.close()


# ---- the state of one office

class PgState(State):
    engine = "postgresql"
    backs_up = False  # the server's own backups (pg_dump, base backups) apply

    def let_go_of_cache(self) -> None:
        """The server keeps its cache: nothing of it is in this process."""

    def __init__(self, url: str, office: str, create: bool = True) -> None:
        self.url, self.office, self.schema = url, office, schema_of(office)
        self.folder = Path()
        self.path = Path()
        raw = connect(url, office)
        try:
            if create:
                _setup(raw, office)
            elif office not in _registered(raw):
                raise StateError(f"office {office!r} has no state in {describe(url)} yet")
            raw.execute(f"SET search_path TO {self.schema}")
            self.conn = PgConn(raw)
            self._blocks_at_hand()
            self._migrate()
        except BaseException:
            raw.close()
            raise

    @property
    def where(self) -> str:
        return f"office {self.office!r} in {describe(self.url)}"

    def _migrate(self) -> None:
        raw = self.conn.raw
        (version,) = raw.execute(f"SELECT version FROM {OFFICES} WHERE office = %s", (self.office,)).fetchone()
        if version > len(MIGRATIONS):
            raise StateError(f"{self.where} was written by a newer version (schema {version}); upgrade the pipeline")
        for step in range(version, len(MIGRATIONS)):
            with raw.transaction():
                for sql in pg_migration(MIGRATIONS[step]):
                    raw.execute(sql)
                if MIGRATIONS[step] is PAID_DEALS:  # an office migrated from schema 15 keeps its clawbacks
                    self._fill_paid_deals()
                raw.execute(f"UPDATE {OFFICES} SET version = %s WHERE office = %s", (step + 1, self.office))

    def _check(self) -> None:
        pass

    # ---- backups are the server's

    def has_backup(self) -> bool:
        return True

    def backup(self, run_id: str, taken: datetime, halfway: Callable[[], None] | None = None) -> Path:
        raise StateError("backups of a PostgreSQL state are the server's own (pg_dump, base backups)")

    def backup_aside(self, run_id: str, taken: datetime, halfway: Callable[[], None] | None = None,
                     check: bool = False) -> BackingUp:
        raise StateError("backups of a PostgreSQL state are the server's own (pg_dump, base backups)")

    # ---- the whole state, table by table

    def tables(self) -> list[str]:
        return [r[0] for r in self.conn.raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE' "
            "ORDER BY table_name COLLATE \"C\"", (self.schema,))]

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.conn.raw.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position", (self.schema, table))]

    def load(self, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
        raw = self.conn.raw
        with raw.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        for (column,) in raw.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                     "AND table_name = %s AND is_identity = 'YES'", (self.schema, table)).fetchall():
            raw.execute(f"SELECT setval(pg_get_serial_sequence(%s, %s), "
                        f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)", (table, column))

    # ---- the bulk paths, through COPY

    def _probe(self, name: str, column: str, values: Iterable[Any]) -> None:
        """A temporary one-column table of `values` (emptied first)."""
        raw = self.conn.raw
        raw.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({column} BYTEA)")
        raw.execute(f"TRUNCATE {name}")
        with raw.cursor().copy(f"COPY {name} ({column}) FROM STDIN") as copy:
            for value in values:
                copy.write_row((value,))

    def existing_identities(self, idents: list[bytes]) -> set[bytes]:
        self._probe("probe", "ident", idents)
        return {bytes(r[0]) for r in self.conn.raw.execute(
            "SELECT DISTINCT p.ident FROM probe p JOIN rows r ON r.ident = p.ident")}

    def rejected_fingerprints(self, fingerprints: list[bytes]) -> set[bytes]:
        self._probe("probe_fp", "fp", fingerprints)
        return {bytes(r[0]) for r in self.conn.raw.execute(
            "SELECT DISTINCT p.fp FROM probe_fp p JOIN rejected r ON r.fingerprint = p.fp")}

    def add_rejected(self, fingerprints: Iterable[bytes]) -> None:
        self._probe("probe_fp", "fp", fingerprints)
        self.conn.raw.execute("INSERT INTO rejected (fingerprint) SELECT DISTINCT fp FROM probe_fp ON CONFLICT DO NOTHING")

    def add_rows(self, rows: Iterable[tuple[Any, ...]], lowest_seq_wins: bool = False) -> int:
        """As `State.add_rows`: the rows copied into a temporary table, then inserted at once.
        Of rows of one identity in `rows`, the first given counts (or the lowest seq with
        `lowest_seq_wins`), as one insert after another would."""
        raw = self.conn.raw
        raw.execute("CREATE TEMP TABLE IF NOT EXISTS new_rows AS SELECT * FROM rows WITH NO DATA")
        raw.execute("ALTER TABLE new_rows ADD COLUMN IF NOT EXISTS pos BIGINT")
        raw.execute("TRUNCATE new_rows")
        columns = ", ".join(STORED_COLUMNS)
        with raw.cursor().copy(f"COPY new_rows ({columns}, pos) FROM STDIN") as copy:
            for pos, row in enumerate(rows):
                copy.write_row((*row, pos))
        first = "seq" if lowest_seq_wins else "pos"
        chosen = f"SELECT DISTINCT ON (ident) {columns} FROM new_rows ORDER BY ident, {first}"
        if not lowest_seq_wins:
            return int(raw.execute(f"INSERT INTO rows ({columns}) {chosen} ON CONFLICT (ident) DO NOTHING").rowcount)
        before = raw.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        kept = ", ".join(f"{c} = EXCLUDED.{c}" for c in STORED_COLUMNS if c != "ident")
        raw.execute(f"INSERT INTO rows ({columns}) {chosen} ON CONFLICT (ident) DO UPDATE SET {kept} "
                    "WHERE EXCLUDED.seq < rows.seq")
        return int(raw.execute("SELECT COUNT(*) FROM rows").fetchone()[0] - before)


def forget_office(url: str, office: str) -> None:
    """The office's part of the database dropped, if nothing is stored in it (a first run that
    failed or was a dry run leaves nothing behind). The caller holds the office's lock."""
    raw = connect(url, office, "run")
    try:
        with raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_KEY,))
            if office not in _registered(raw):
                return
            schema = schema_of(office)
            for table in ("runs", "rows", "registrations", "weeks", "roster"):
                if raw.execute("SELECT to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0] is None:
                    continue
                if raw.execute(f"SELECT EXISTS (SELECT 1 FROM {schema}.{table})").fetchone()[0]:
                    return
            raw.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            raw.execute(f"DELETE FROM {OFFICES} WHERE office = %s", (office,))
    finally:
        raw.close()
