"""A group of offices on one PostgreSQL server (SPEC §10): offices side by side in one database,
one run per office at a time, `migrate` between the engines, and the configuration's checks.
Every run is the real command line in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Store, office_name
from tests.helpers import run_cli
from tests.pgserver import PgServer
from tests.test_delivery import Inbox as Mailbox
from tests.test_delivery import smtp  # noqa: F401 - the fixture: a real SMTP server on 127.0.0.1

MONDAYS = ["2026-11-30T08:00:00", "2026-12-07T08:00:00", "2026-12-14T08:00:00"]
WEEKS = ["2026-W48", "2026-W49", "2026-W50"]


class Office:
    """An office's folders and configuration; `store` says where its state lives."""

    def __init__(self, root: Path, store: Store, seed: int = 0, body: str = 'lang = "zh"\n') -> None:
        self.root, self.store, self.seed = root, store, seed
        self.inbox, self.out, self.state = root / "in", root / "out", root / "state"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.config = store.write_config(root / "pipeline.toml", body)

    def argv(self, command: str, *args: str) -> list[str]:
        paths = {"run": ("--inbox", str(self.inbox), "--out", str(self.out)), "send": ("--out", str(self.out))}
        return [command, *paths.get(command, ()), "--state", str(self.state), "--config", str(self.config), *args]

    def week_inbox(self, k: int) -> None:
        """The demo's inbox for week k (a realistic week: leads, visits, units, deals, history)."""
        done = run_cli("demo", str(self.inbox), "--now", MONDAYS[k])
        assert done.returncode == 0, done.stderr
        if self.seed:  # another office: other phones, the same people
            for path in self.inbox.glob("*.xlsx"):
                path.rename(path.with_name(f"{self.seed}-{path.name}"))

    def run(self, k: int, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*self.argv("run", "--now", MONDAYS[k], *args))

    def popen(self, k: int, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "pipeline", *self.argv("run", "--now", MONDAYS[k])],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def results(self, week: str) -> str:
        return (self.out / week / "results.json").read_text(encoding="utf-8")


@pytest.fixture
def server(pg_server: PgServer) -> PgServer:
    return pg_server


def pg(server: PgServer, request: pytest.FixtureRequest, name: str, url: str | None = None) -> Store:
    return Store("postgresql", url or server.url, office_name(f"{request.node.nodeid} {name}"))


def test_two_offices_interleaved_in_one_database_give_the_results_of_sqlite(
        tmp_path: Path, server: PgServer, request: pytest.FixtureRequest) -> None:
    """Two offices' weeks run one after the other, alternately, in one database: each office's
    results.json are byte for byte those of its own embedded database."""
    url = server.database("interleaved")
    offices = [Office(tmp_path / f"pg{i}", pg(server, request, str(i), url), seed=i) for i in range(2)]
    alone = [Office(tmp_path / f"lite{i}", Store("sqlite"), seed=i) for i in range(2)]
    for k in range(2):
        for o in (*offices, *alone):
            o.week_inbox(k)
            done = o.run(k)
            assert done.returncode == 0, done.stderr
    for o, ref in zip(offices, alone, strict=True):
        for week in WEEKS[:2]:
            assert o.results(week) == ref.results(week)


def test_two_offices_at_once_both_finish(tmp_path: Path, server: PgServer, request: pytest.FixtureRequest) -> None:
    """Runs of two offices at the same time, in processes of their own: neither waits for the
    other's lock, both close their week."""
    offices = [Office(tmp_path / f"o{i}", pg(server, request, str(i)), seed=i) for i in range(2)]
    for o in offices:
        o.week_inbox(0)
    running = [o.popen(0) for o in offices]
    for p in running:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    for o in offices:
        assert json.loads(o.results(WEEKS[0]))["week"] == WEEKS[0]


def test_the_same_office_twice_one_exits_75_naming_the_office(
        tmp_path: Path, server: PgServer, request: pytest.FixtureRequest) -> None:
    """A run of an office is under way (it waits for its files to settle, holding the office's
    lock); a second run of the same office from another folder (another machine, as far as the
    lock knows) exits 75 at once naming the office, and the first one finishes."""
    store = pg(server, request, "one")
    first = Office(tmp_path / "first", store)
    first.week_inbox(0)
    first.config.write_text(store.config('lang = "zh"\n[limits]\nsettle_seconds = 10\nsettle_wait = true\n'),
                            encoding="utf-8")
    second = Office(tmp_path / "second", store)
    second.week_inbox(0)
    for path in first.inbox.glob("*.xlsx"):
        path.touch()
    holder = first.popen(0)
    try:
        _wait_for_lock(store, holder.pid)
        blocked = second.run(0)
        assert blocked.returncode == 75, blocked.stderr
        assert repr(store.office) in blocked.stderr and "lock" in blocked.stderr
        assert f"pid {holder.pid}" in blocked.stderr, "the message says who holds the lock"
        assert holder.poll() is None, "refused at once, while the first run still holds the lock"
        assert sorted(p.name for p in second.inbox.glob("*.xlsx")), "the refused run moved nothing"
    finally:
        out, err = holder.communicate(timeout=300)
    assert holder.returncode == 0, err
    assert second.run(0).returncode == 0, "the lock is let go when the first run ends"


def _wait_for_lock(store: Store, pid: int) -> None:
    """Until the run `pid` holds its office's lock (its connection is named after it)."""
    import psycopg

    with psycopg.connect(store.url, autocommit=True) as conn:
        for _ in range(600):
            if conn.execute("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE %s",
                            (f"pipeline lock pid {pid} %",)).fetchone():
                return
            time.sleep(0.1)
    raise AssertionError("the first run never took the lock")


def test_a_run_killed_mid_commit_leaves_the_office_as_before(
        tmp_path: Path, server: PgServer, request: pytest.FixtureRequest) -> None:
    """Killed inside its transaction (its last write done, the commit not): the server rolls the
    transaction back and lets go of the lock; another office's committed week is untouched; the
    next run closes the week as an unbroken run does."""
    store, other = pg(server, request, "killed"), pg(server, request, "neighbour")
    office, neighbour, plain = (Office(tmp_path / "k", store), Office(tmp_path / "n", other, seed=1),
                                Office(tmp_path / "p", Store("sqlite")))
    for o in (office, neighbour, plain):
        o.week_inbox(0)
    assert neighbour.run(0).returncode == 0
    env = {**os.environ, "PIPELINE_CRASH_AT": "after_snapshot"}
    killed = office.popen(0, env=env)
    killed.communicate(timeout=300)
    assert killed.returncode == -9
    from pipeline.state import state_exists

    assert not state_exists(office.state, store.url, store.office) or _empty(store, office)
    again = office.run(0)
    assert again.returncode == 0, again.stderr
    assert plain.run(0).returncode == 0
    assert office.results(WEEKS[0]) == plain.results(WEEKS[0])
    assert json.loads(neighbour.results(WEEKS[0]))["week"] == WEEKS[0]


def _empty(store: Store, office: Office) -> bool:
    from pipeline.state import open_state

    state = open_state(office.state, store.url, store.office, create=False)
    try:
        return state.is_empty()
    finally:
        state.close()


def test_migrate_there_and_back_gives_the_same_results_and_sends_nothing_again(
        tmp_path: Path, server: PgServer, request: pytest.FixtureRequest,
        smtp: tuple[Mailbox, int]) -> None:  # noqa: F811 - the fixture imported above
    """SQLite → PostgreSQL → SQLite: every closed week re-rendered from each copy gives
    results.json byte for byte; a week run on the server after the move is the week run on the
    embedded database; what was sent is not sent again; a target that already holds the office
    is refused (exit 2)."""
    received, port = smtp
    store = pg(server, request, "moved")
    body = (f'office = "{store.office}"\n[mail]\nfrom = "report@example.com"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n')
    lite = Office(tmp_path / "lite", Store("sqlite"), body=body)
    for k in range(2):
        lite.week_inbox(k)
        assert lite.run(k, "--send").returncode == 0
    sent = len(received.messages)
    assert sent > 0
    closed = {w: lite.results(w) for w in WEEKS[:2]}

    there = run_cli(*lite.argv("migrate", "--to", store.url))
    assert there.returncode == 0, there.stderr
    assert "verified" in there.stdout
    again = run_cli(*lite.argv("migrate", "--to", store.url))
    assert again.returncode == 2 and "already holds" in again.stderr

    moved = Office(tmp_path / "lite", store, body=body)  # the same folders, the state on the server
    for week in WEEKS[:2]:
        (moved.out / week / "results.json").unlink()
        assert moved.run(1, "--week", week, "--send").returncode == 0
        assert moved.results(week) == closed[week]
        assert run_cli(*moved.argv("send", "--week", week)).returncode == 0
    assert len(received.messages) == sent, "nothing sent again from the copy"
    moved.week_inbox(2)
    assert moved.run(2, "--send").returncode == 0
    sent = len(received.messages)
    reference = Office(tmp_path / "reference", Store("sqlite"), body=body)
    for k in range(3):
        reference.week_inbox(k)
        assert reference.run(k).returncode == 0
    assert moved.results(WEEKS[2]) == reference.results(WEEKS[2])

    back = tmp_path / "back"
    done = run_cli(*moved.argv("migrate", "--to", f"sqlite://{back / 'state'}"))
    assert done.returncode == 0, done.stderr
    returned = Office(back, Store("sqlite"), body=body)
    for week in WEEKS:
        assert returned.run(2, "--week", week, "--send").returncode == 0
        assert returned.results(week) == (closed.get(week) or reference.results(week))
    assert len(received.messages) == sent, "nothing sent again from the copy of the copy"
    refused = run_cli(*moved.argv("migrate", "--to", f"sqlite://{back / 'state'}"))
    assert refused.returncode == 2 and "already holds" in refused.stderr


@pytest.mark.parametrize(("body", "says"), [
    ('office = "甲"\n[state]\nurl = "postgresql://kam:secret@127.0.0.1:5432/sales"\n', "PIPELINE_DB_PASSWORD"),
    ('[state]\nurl = "postgresql://kam@127.0.0.1:5432/sales"\n', "office"),
    ('office = "甲"\n[state]\nurl = "mysql://kam@127.0.0.1/sales"\n', "postgresql://"),
])
def test_a_bad_state_configuration_exits_2_naming_the_key(tmp_path: Path, body: str, says: str) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_text(body, encoding="utf-8")
    done = run_cli("run", "--inbox", str(tmp_path / "in"), "--state", str(tmp_path / "state"), "--config", str(config))
    assert done.returncode == 2 and says in done.stderr
    assert not (tmp_path / "state").exists()


def test_backups_on_a_server_are_the_servers(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_text('office = "甲"\n[state]\nurl = "postgresql://kam@127.0.0.1:1/sales"\n', encoding="utf-8")
    done = run_cli("state", "backups", "--config", str(config))
    assert done.returncode == 2 and "server's own" in done.stderr


def test_group_puts_the_offices_that_closed_the_week_side_by_side(
        tmp_path: Path, server: PgServer, request: pytest.FixtureRequest) -> None:
    """group.json from the stored results of each office that closed the week (an office that
    has not is left out): per office its totals and its teams', the sums of its managers'
    figures in its results.json; group.xlsx and group.html show the same."""
    from decimal import Decimal

    import openpyxl

    url = server.database("group")
    names = ["滨江壹号", "<b>西溪</b>"]
    offices = [Office(tmp_path / f"o{i}", Store("postgresql", url, name), seed=i) for i, name in enumerate(names)]
    late = Office(tmp_path / "late", Store("postgresql", url, "之江"), seed=2)
    for o in offices:
        o.week_inbox(0)
        assert o.run(0).returncode == 0
    late.week_inbox(1)
    assert late.run(1, "--week", WEEKS[1]).returncode == 0, "closes W49 only"
    done = run_cli("group", "--week", WEEKS[0], "--out", str(tmp_path / "group"), "--config", str(offices[0].config),
                   "--now", "2026-12-01T09:00:00")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "group" / f"group-{WEEKS[0]}"
    doc = json.loads((folder / "group.json").read_text(encoding="utf-8"))
    assert (doc["schema"], doc["week"]) == (1, WEEKS[0])
    assert [o["office"] for o in doc["offices"]] == sorted(names)
    fields = ["managers", "weeks_met", "targets", "achieved", "shortfall", "fines", "commission", "clawback",
              "adjustment", "net"]
    for entry in doc["offices"]:
        results = json.loads(offices[names.index(entry["office"])].results(WEEKS[0]))
        managers = results["managers"]
        totals = entry["totals"]
        assert list(totals) == fields
        assert [t["team"] for t in entry["teams"]] == sorted({m["team"] for m in managers})
        assert all(list(t) == ["team", *fields] for t in entry["teams"])
        assert totals["managers"] == len(managers)
        assert totals["weeks_met"] == sum(1 for m in managers if m["active_days"] > 0 and m["met"])
        assert totals["achieved"]["leads"] == sum(m["achieved"]["leads"] for m in managers)
        assert Decimal(totals["net"]) == sum(Decimal(m["net"]) for m in managers)
        assert totals["fines"]["total"] == f'{sum(Decimal(m["fines"]["total"]) for m in managers):.2f}'
        assert sum(Decimal(t["net"]) for t in entry["teams"]) == Decimal(totals["net"])
        assert sum(t["managers"] for t in entry["teams"]) == totals["managers"]
    sheet = openpyxl.load_workbook(folder / "group.xlsx").worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:] if r[1] in ("全部团队", "All teams")] == sorted(names)
    net_of = {r[0]: r[-1] for r in rows[1:] if r[1] in ("全部团队", "All teams")}
    assert {o["office"]: float(o["totals"]["net"]) for o in doc["offices"]} == net_of
    page = (folder / "group.html").read_text(encoding="utf-8")
    assert "滨江壹号" in page and "&lt;b&gt;西溪&lt;/b&gt;" in page and "<b>西溪" not in page
    assert "之江" not in page
    none = run_cli("group", "--week", "2026-W40", "--out", str(tmp_path / "group"), "--config", str(offices[0].config))
    assert none.returncode == 2 and "2026-W40" in none.stderr


def test_group_on_the_embedded_database_is_the_one_office(tmp_path: Path) -> None:
    office = Office(tmp_path, Store("sqlite"), body='office = "滨江壹号"\n')
    office.week_inbox(0)
    assert office.run(0).returncode == 0
    done = run_cli(*office.argv("group", "--week", WEEKS[0], "--out", str(tmp_path / "group")))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "group" / f"group-{WEEKS[0]}" / "group.json").read_text(encoding="utf-8"))
    assert [o["office"] for o in doc["offices"]] == ["滨江壹号"]
    assert doc["offices"][0]["totals"]["managers"] == len(json.loads(office.results(WEEKS[0]))["managers"])


def test_a_server_that_cannot_be_reached_fails_the_run_naming_it(tmp_path: Path) -> None:
    """Exit 1 with what to look at; the inbox is left as it was."""
    config = tmp_path / "pipeline.toml"
    config.write_text('office = "甲"\n[state]\nurl = "postgresql://kam@127.0.0.1:1/sales"\n', encoding="utf-8")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "名单.xlsx").write_bytes(b"")
    for command in (["run", "--inbox", str(tmp_path / "in")], ["status", "--inbox", str(tmp_path / "in")],
                    ["send", "--week", "2026-W48"], ["group", "--week", "2026-W48"]):
        done = run_cli(*command, "--state", str(tmp_path / "state"), "--config", str(config))
        assert done.returncode == 1, done.stderr
        assert "127.0.0.1:1/sales" in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in (tmp_path / "in").iterdir()] == ["名单.xlsx"]
