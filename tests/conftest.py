"""The state's two engines for the tests: the embedded SQLite database, and a real PostgreSQL
server started for the session (initdb and pg_ctl on a free port of 127.0.0.1, in a temporary
folder, stopped at the end; as an unprivileged user when the tests run as root, which initdb
requires). Tests that take the `store` fixture run once per engine; on PostgreSQL each test is
an office of its own in the one database, so offices side by side are exercised all along.
Without any PostgreSQL binaries on the machine the PostgreSQL half is skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pgserver import PgServer, pg_bin


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bin_dir = pg_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries on this machine (initdb, pg_ctl)")
    server = PgServer(bin_dir)
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Store:
    """Where a test's office keeps its state: `engine` "sqlite" (the state folder) or
    "postgresql" (`url`, as the office `office`)."""

    engine: str
    url: str = ""
    office: str = ""

    def config(self, body: str = "") -> str:
        """A configuration file's text: `body` (TOML) with this store's `office` and `[state]`."""
        if self.engine == "sqlite":
            return body
        # An office named in `body` keeps its name, made this test's own by a suffix.
        named = [i for i, x in enumerate(body.splitlines()) if re.match(r"office\s*=", x)]
        lines = body.splitlines()
        if named:
            name = tomllib.loads(lines[named[0]])["office"]
            if self.office not in name:
                lines[named[0]] = f"office = {json.dumps(f'{name} {self.office}', ensure_ascii=False)}"
        else:
            lines.insert(0, f"office = {json.dumps(self.office, ensure_ascii=False)}")
        return "\n".join([*lines, "", "[state]", f"url = {json.dumps(self.url)}", ""])

    def other(self, suffix: str) -> Store:
        """Another office of the same database (the same engine on SQLite)."""
        return Store(self.engine, self.url, f"{self.office} {suffix}" if self.engine != "sqlite" else "")

    def args(self, root: Path) -> list[str]:
        """`--config` of a configuration of this store written under `root` (none on SQLite:
        the default configuration)."""
        return [] if self.engine == "sqlite" else ["--config", str(self.write_config(root / "store.toml"))]

    def contents(self, state_folder: Path) -> bytes:
        """The whole stored state, to compare before and after: the database file's bytes on
        SQLite; every table's rows, in order, on PostgreSQL."""
        if self.engine == "sqlite":
            return (state_folder / "pipeline.db").read_bytes()
        from pipeline.state import open_state

        state = open_state(state_folder, self.url, self.office, create=False)
        try:
            digest = hashlib.sha256()
            for table in state.tables():
                columns = state.columns(table)
                digest.update(repr((table, columns, list(state.dump(table, columns)))).encode())
            return digest.digest()
        finally:
            state.close()

    def write_config(self, path: Path, body: str = "") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.config(body), encoding="utf-8")
        return path


def office_name(node: str) -> str:
    return "测试 " + hashlib.sha256(node.encode()).hexdigest()[:10]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          monkeypatch: pytest.MonkeyPatch) -> Store:
    """Each engine in turn. On PostgreSQL the working folder gets a `pipeline.toml` naming the
    server and an office of this test's own, so that every run the test makes without
    `--config` (in process or in a subprocess) uses it; tests that write a configuration file
    of their own build it with `store.config`."""
    if request.param == "sqlite":
        return Store("sqlite")
    server: PgServer = request.getfixturevalue("pg_server")
    chosen = Store("postgresql", server.url, office_name(request.node.nodeid))
    cwd = tmp_path_factory.mktemp("cwd")
    chosen.write_config(cwd / "pipeline.toml")
    monkeypatch.chdir(cwd)
    return chosen
