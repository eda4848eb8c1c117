"""A run killed at any step loses nothing: the next run ends with the same results. One lock per state."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.state import open_state
from tests.conftest import Store
from tests.helpers import (
    DEALS,
    LEADS,
    REGISTRATIONS,
    VISITS,
    db_content,
    roster,
    run_cli,
    workbook,
    written_anew,
)

NOW = "2026-11-30T08:00:00"
# what a backup leaves out (the snapshots, a cache) and what the next run changed first (its archive moves)
NOT_RESTORED = ("snapshots", "pending_moves")
PEOPLE = [
    ["张伟", "大客户经理", "一组", "", None, None],
    ["王强", "大客户经理", "二组", "", None, None],
    ["李娜", "销售员", "一组", "", None, None],
]


def make_inbox(inbox: Path) -> None:
    roster(inbox / "名单.xlsx", PEOPLE)
    workbook(inbox / "号码.xlsx", {"号码": (LEADS, [
        ["张伟", 13800138000 + i, datetime(2026, 11, 24, 9, i), ""] for i in range(20)
    ] + [["王强", 13800138000, datetime(2026, 11, 25, 9), ""]])})
    workbook(inbox / "到访.xlsx", {"到访": (VISITS, [["张伟", 13800138001, datetime(2026, 11, 26, 9), "李娜"]])})
    workbook(inbox / "登记.xlsx", {"登记": (REGISTRATIONS, [
        [13900139000 + i, datetime(2026, 11, 10 + i, 9), "自然到访", ""] for i in range(15)])})
    workbook(inbox / "成交.xlsx", {"成交": (DEALS, [[13800138001, datetime(2026, 11, 27), "李娜", 4000, "1-1"]])})


def run(root: Path, crash: str | None = None, now: str = NOW, store: Store | None = None
        ) -> subprocess.CompletedProcess[str]:
    """The real command line; with `store`, its office's configuration (else the default one)."""
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CRASH_AT"}
    if crash:
        env["PIPELINE_CRASH_AT"] = crash
    return run_cli("run", "--inbox", str(root / "in"), "--out", str(root / "out"), "--state", str(root / "state"),
                   "--now", now, *(store.args(root) if store else []), env=env)


def stored_rows(root: Path, store: Store = Store("sqlite")) -> list[tuple[str, str, str]]:
    """Every stored row as (kind, time, phone): registrations (column blocks) included."""
    state = open_state(root / "state", store.url, store.office, create=False)
    try:
        rows = [tuple(r) for r in state.conn.execute("SELECT kind, at, phone FROM rows").fetchall()]
        registered = state.registrations()
    finally:
        state.close()
    return sorted(rows + [("registrations", at, phone) for at, phone in zip(registered.at, registered.phone, strict=True)])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[tuple[str, str, str]]]:
    root = tmp_path_factory.mktemp("reference")
    make_inbox(root / "in")
    assert run(root).returncode == 0
    return (root / "out" / "2026-W48" / "results.json").read_text(encoding="utf-8"), stored_rows(root)


@pytest.mark.parametrize("step", ["after_read", "after_snapshot", "after_outputs", "after_commit", "during_backup",
                                  "during_archive"])
def test_killed_run_is_finished_by_the_next(tmp_path: Path, step: str, reference: tuple[str, list],
                                            store: Store) -> None:
    """On either engine: killed before the commit (`after_snapshot`: inside the transaction, its
    last write done), the state is as before; after it, the next run finishes the archive moves.
    On PostgreSQL the server rolls back the dead run's transaction and lets go of its lock."""
    if step == "during_backup" and store.engine != "sqlite":
        pytest.skip("backups are the embedded database's")
    make_inbox(tmp_path / "in")
    crashed = run(tmp_path, crash=step)
    assert crashed.returncode == -9, crashed.stderr
    after = run(tmp_path)
    assert after.returncode == 0, after.stderr
    results, rows = reference
    assert (tmp_path / "out" / "2026-W48" / "results.json").read_text(encoding="utf-8") == results
    assert stored_rows(tmp_path, store) == rows, "no row lost or stored twice"
    assert [p.name for p in (tmp_path / "in").iterdir() if p.is_file()] == [], "every input archived"
    archived = sorted(p.name for p in (tmp_path / "in" / "archive").rglob("*.xlsx"))
    assert archived == sorted(["到访.xlsx", "名单.xlsx", "号码.xlsx", "成交.xlsx", "登记.xlsx"])
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")], "no temporary folder left"


def second_week(inbox: Path) -> None:
    workbook(inbox / "号码49.xlsx", {"号码": (LEADS, [
        ["张伟", 13700137000 + i, datetime(2026, 12, 1, 9, i), ""] for i in range(5)])})


def test_a_run_killed_inside_its_backup_loses_nothing(tmp_path: Path) -> None:
    """A second run is killed while it copies the state aside (before its commit): nothing is
    committed, no half copy looks like a backup, the next run ends as an uninterrupted one, and
    every backup listed is whole."""
    from pipeline.config import Backups
    from pipeline.state import list_backups, prune_backups, restore_backup

    week2 = "2026-12-07T08:00:00"
    reference = tmp_path / "reference"
    make_inbox(reference / "in")
    assert run(reference).returncode == 0
    second_week(reference / "in")
    assert run(reference, now=week2).returncode == 0

    make_inbox(tmp_path / "in")
    assert run(tmp_path).returncode == 0
    second_week(tmp_path / "in")
    crashed = run(tmp_path, crash="during_backup", now=week2)
    assert crashed.returncode == -9, crashed.stderr
    assert list((tmp_path / "state" / "backups").glob("*.part")), "killed inside the backup, before its rename"
    assert [b.taken.isoformat() for b in list_backups(tmp_path / "state")] == [NOW], "no half file named as a backup"
    after = run(tmp_path, now=week2)
    assert after.returncode == 0, after.stderr
    assert (tmp_path / "out" / "2026-W49" / "results.json").read_text(encoding="utf-8") == \
        (reference / "out" / "2026-W49" / "results.json").read_text(encoding="utf-8")
    assert stored_rows(tmp_path) == stored_rows(reference)
    backups = list_backups(tmp_path / "state")
    assert [b.taken.isoformat() for b in backups] == [NOW, week2]
    assert not list((tmp_path / "state" / "backups").glob("*.part"))
    assert prune_backups(tmp_path / "state", Backups()) == []
    for i, b in enumerate(backups):  # each one whole: restored into a folder of its own
        assert restore_backup(tmp_path / f"check{i}", b.path, "check") is None


def third_week(inbox: Path) -> None:
    workbook(inbox / "号码50.xlsx", {"号码": (LEADS, [
        ["王强", 13600136000 + i, datetime(2026, 12, 8, 9, i), ""] for i in range(5)])})


def fourth_week(inbox: Path) -> None:
    workbook(inbox / "号码51.xlsx", {"号码": (LEADS, [
        ["张伟", 13500135000 + i, datetime(2026, 12, 15, 9, i), ""] for i in range(5)])})


@pytest.mark.parametrize("crash", ["after_commit", "during_backup"])
def test_the_backup_after_a_killed_run_restores_the_state_it_was_taken_of(tmp_path: Path, crash: str) -> None:
    """A backup reads only the pages written since the last (the record beside the backups), the
    others' hashes taken from it. A run killed after its commit never counted its log's pages
    (the state counts them when it closes): the next run's backup counts them from the log
    itself, before writing it back. A run killed inside its backup leaves the record as the last
    backup wrote it: the log it wrote back before (if any) changed the file's stamp, and the next
    backup reads every page; otherwise the record holds. Either way the next run's backup
    restores to the state as it was when that run began."""
    import shutil

    from pipeline import pagestore
    from pipeline.state import list_backups, restore_backup

    state, backups = tmp_path / "state", tmp_path / "state" / "backups"
    make_inbox(tmp_path / "in")
    assert run(tmp_path).returncode == 0
    second_week(tmp_path / "in")
    assert run(tmp_path, now="2026-12-07T08:00:00").returncode == 0
    third_week(tmp_path / "in")
    crashed = run(tmp_path, crash=crash, now="2026-12-14T08:00:00")
    assert crashed.returncode == -9, crashed.stderr
    record = pagestore.read_written(backups)
    assert record is not None
    log = pagestore.log_pages(state / "pipeline.db")
    if crash == "after_commit":  # the commit is in the log, not yet counted; the record still holds
        assert log and record.stamp == pagestore.file_stamp(state / "pipeline.db")
        fourth_week(tmp_path / "in")
        again = "2026-12-21T08:00:00"
    else:
        assert record.base == list_backups(state)[-1].path.name, "no record of the half backup"
        again = "2026-12-14T08:00:00"
    # the state as the next run will find it, read from a copy (a connection closed on the state
    # itself would write its log back)
    aside = tmp_path / "aside"
    aside.mkdir()
    for name in ("pipeline.db", "pipeline.db-wal"):
        if (state / name).exists():
            shutil.copy2(state / name, aside / name)
    expected = db_content(aside / "pipeline.db", NOT_RESTORED)

    after = run(tmp_path, now=again)
    assert after.returncode == 0, after.stderr
    taken = [b for b in list_backups(state) if b.taken.isoformat() == again]
    assert len(taken) == 1
    assert restore_backup(tmp_path / "check", taken[0].path, "check") is None
    assert db_content(tmp_path / "check" / "pipeline.db", NOT_RESTORED) == expected


@pytest.mark.parametrize("step", ["during_prune", "during_repack"])
def test_a_run_killed_while_deleting_old_backups_loses_nothing(tmp_path: Path, step: str) -> None:
    """Backups kept one at a time: the third run, after its commit, deletes the backup before
    and then the pages only that one needed (rewriting a pack mostly unneeded). Killed between
    the two (`during_prune`) or after the rewritten pack is written and before the old one is
    deleted (`during_repack`): every backup listed restores whole, the next run finishes the
    week as an uninterrupted one does, and the next week's pruning leaves each needed page
    stored once, and of the pages no backup needs no more than a rewrite would have dropped."""
    from pipeline import pagestore
    from pipeline.state import list_backups, restore_backup

    week2, week3, week4 = "2026-12-07T08:00:00", "2026-12-14T08:00:00", "2026-12-21T08:00:00"

    def run_kept(root: Path, now: str, crash: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CRASH_AT"}
        done = run_cli("run", "--inbox", str(root / "in"), "--out", str(root / "out"), "--state", str(root / "state"),
                       "--now", now, "--config", str(root / "pipeline.toml"),
                       env={**env, "PIPELINE_CRASH_AT": crash} if crash else env)
        assert done.returncode == (-9 if crash else 0), done.stderr

    for root in (tmp_path / "plain", tmp_path / "killed"):
        root.mkdir()
        (root / "pipeline.toml").write_text("[backups]\nkeep_last = 1\nkeep_weekly = 0\nkeep_monthly = 0\n",
                                            encoding="utf-8")
        make_inbox(root / "in")
        run_kept(root, NOW)
        second_week(root / "in")
        run_kept(root, week2)
        third_week(root / "in")
        run_kept(root, week3, step if root.name == "killed" else None)
    killed = tmp_path / "killed"
    folder = killed / "state" / "backups"
    assert len(list(folder.glob("*.pages"))) == 1, "the backup before deleted"
    held = pagestore.stored(folder)
    if step == "during_repack":
        assert len(held) > len({h for _, h, _ in held}), "killed with the needed pages in two packs"
    for i, b in enumerate(list_backups(killed / "state")):  # whole, as the crash left them
        assert restore_backup(tmp_path / f"check{i}", b.path, "check") is None

    run_kept(killed, week3)  # finishes the archive moves
    for root in (tmp_path / "plain", killed):
        fourth_week(root / "in")
        run_kept(root, week4)
    for week in ("2026-W48", "2026-W49", "2026-W50", "2026-W51"):
        assert (killed / "out" / week / "results.json").read_bytes() == \
            (tmp_path / "plain" / "out" / week / "results.json").read_bytes()
    assert stored_rows(killed) == stored_rows(tmp_path / "plain")
    (last,) = list_backups(killed / "state")
    needed = set(pagestore.read_manifest(last.path).hashes)
    held = pagestore.stored(folder)
    assert len(held) == len({h for _, h, _ in held}) and needed <= {h for _, h, _ in held}, "each needed page once"
    for pack in {p for p, _, _ in held}:  # a pack keeps a few unneeded pages: at most a quarter of its bytes
        assert sum(n for p, h, n in held if p == pack and h not in needed) <= sum(n for p, _, n in held if p == pack) / 4
    assert not list(folder.rglob("*.part"))
    assert restore_backup(tmp_path / "last", last.path, "check") is None
    with sqlite3.connect(tmp_path / "last" / "pipeline.db") as db:
        assert [r[0] for r in db.execute("SELECT week FROM weeks ORDER BY week")] == ["2026-W48", "2026-W49", "2026-W50"]


def test_second_run_exits_75_while_the_lock_is_held(tmp_path: Path) -> None:
    make_inbox(tmp_path / "in")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from pipeline.run import state_lock\n"
         "with state_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n",
         str(tmp_path / "state")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        blocked = run(tmp_path)
        assert blocked.returncode == 75
        assert "lock" in blocked.stderr and f"pid {holder.pid}" in blocked.stderr
        assert holder.poll() is None  # the holder still has the lock: the run refused, it did not wait
        assert sorted(p.name for p in (tmp_path / "in").iterdir()) == sorted(["到访.xlsx", "名单.xlsx", "号码.xlsx", "成交.xlsx", "登记.xlsx"])
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert run(tmp_path).returncode == 0, "a dead holder leaves no stale lock"


def test_killed_while_storing_the_snapshot_of_a_second_week_loses_nothing(tmp_path: Path, store: Store) -> None:
    """The snapshot is written in the run's one transaction: killed there, the next run replays
    from the week before's snapshot, closes the week as an unbroken run does and stores its
    snapshot."""
    later = "2026-12-07T08:00:00"

    offices = {"plain": store.other("plain"), "killed": store.other("killed")}

    def second_week(root: Path, crash: str | None = None) -> subprocess.CompletedProcess[str]:
        workbook(root / "in" / "号码2.xlsx", {"号码": (LEADS, [["张伟", 13800139000, datetime(2026, 12, 1, 9), ""]])})
        workbook(root / "in" / "登记2.xlsx", {"登记": (REGISTRATIONS, [[13800138005, datetime(2026, 11, 20, 9), "王强", ""]])})
        return run(root, crash, later, offices[root.name])

    for root in (tmp_path / "plain", tmp_path / "killed"):
        make_inbox(root / "in")
        assert run(root, store=offices[root.name]).returncode == 0
    assert second_week(tmp_path / "plain").returncode == 0
    assert second_week(tmp_path / "killed", crash="after_snapshot").returncode == -9
    assert run(tmp_path / "killed", now=later, store=offices["killed"]).returncode == 0
    expected = (tmp_path / "plain" / "out" / "2026-W49" / "results.json").read_text(encoding="utf-8")
    assert (tmp_path / "killed" / "out" / "2026-W49" / "results.json").read_text(encoding="utf-8") == expected
    assert stored_rows(tmp_path / "killed", offices["killed"]) == stored_rows(tmp_path / "plain", offices["plain"])
    killed = offices["killed"]
    state = open_state(tmp_path / "killed" / "state", killed.url, killed.office, create=False)
    try:
        # the second week's registration is dated in W47: the snapshot of W47's end (the first
        # run's history) is stale, and the run replayed the whole history; its rows reach back,
        # so it took the state at its week's start
        assert sorted(s[0] for s in state.snapshots()) == ["2026-W48"]
    finally:
        state.close()


@pytest.mark.parametrize("crash", ["after_writing_a_week", "after_closing_a_week"])
def test_killed_after_writing_a_weeks_ledger_loses_nothing(tmp_path: Path, crash: str) -> None:
    """A week's ledger.csv is written into its folder, made from the week before's, then stored
    as a delta against it in the run's one transaction: killed after either, nothing is
    committed (the week is not closed), the next run closes the week as an unbroken run does
    (reading the week before's file again), and both weeks re-render to their first bytes."""
    from pipeline import ledgerstore

    later = "2026-12-07T08:00:00"
    for root in (tmp_path / "plain", tmp_path / "killed"):
        make_inbox(root / "in")
        assert run(root).returncode == 0
        second_week(root / "in")
    first = (tmp_path / "killed" / "out" / "2026-W48" / "ledger.csv").read_bytes()
    assert run(tmp_path / "plain", now=later).returncode == 0
    assert run(tmp_path / "killed", crash=crash, now=later).returncode == -9

    def ledgers() -> dict[str, bytes]:
        with sqlite3.connect(tmp_path / "killed" / "state" / "pipeline.db") as db:
            return {week: bytes(blob) for week, blob in db.execute("SELECT week, ledger FROM weeks")}

    assert list(ledgers()) == ["2026-W48"], "nothing committed"
    assert run(tmp_path / "killed", now=later).returncode == 0
    stored = ledgers()
    assert not ledgerstore.is_delta(stored["2026-W48"]) and ledgerstore.delta_base(stored["2026-W49"]) == "2026-W48"
    for week in ("2026-W48", "2026-W49"):
        for name in ("results.json", "ledger.csv"):
            assert (tmp_path / "killed" / "out" / week / name).read_bytes() == \
                (tmp_path / "plain" / "out" / week / name).read_bytes()
    assert stored_rows(tmp_path / "killed") == stored_rows(tmp_path / "plain")
    second = (tmp_path / "killed" / "out" / "2026-W49" / "ledger.csv").read_bytes()
    for week, data in (("2026-W48", first), ("2026-W49", second)):
        written_anew(tmp_path / "killed" / "out" / week)
        rerender = run_cli("run", "--inbox", str(tmp_path / "killed" / "in"), "--out", str(tmp_path / "killed" / "out"),
                           "--state", str(tmp_path / "killed" / "state"), "--now", later, "--week", week)
        assert rerender.returncode == 0 and "re-rendered" in rerender.stdout, rerender.stdout + rerender.stderr
        assert (tmp_path / "killed" / "out" / week / "ledger.csv").read_bytes() == data
