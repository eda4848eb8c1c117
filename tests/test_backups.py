"""Backups of the state: which are kept, and `pipeline state restore` through the command line."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

from pipeline import pagestore
from pipeline.config import Backups
from pipeline.state import Backup, State, kept_backups, list_backups, prune_backups, restore_backup
from tests.helpers import LEADS, db_content, roster, run_cli, workbook

PEOPLE = [["张伟", "大客户经理", "一组", "", None, None], ["王强", "大客户经理", "二组", "", None, None]]
WEEK1, WEEK2 = "2026-11-30T08:00:00", "2026-12-07T08:00:00"


def test_retention_keeps_the_newest_and_the_newest_of_each_recent_week_and_month() -> None:
    """A backup every Monday of a year plus a rerun on the last Monday: kept are the two newest,
    the newest of each of the last 4 ISO weeks and of each of the last 12 months (as restic does)."""
    mondays = [datetime(2026, 1, 5, 8) + timedelta(weeks=i) for i in range(52)]
    taken = [*mondays, mondays[-1] + timedelta(hours=2)]
    backups = [Backup(Path(f"{t:%Y%m%dT%H%M%S}_r.db.zst"), t, 1) for t in taken]
    kept = sorted(b.taken for b in kept_backups(backups, Backups(keep_last=2, keep_weekly=4, keep_monthly=12)))
    last_of_month = {(t.year, t.month): t for t in taken}
    expected = sorted({*taken[-2:], *mondays[-4:-1], taken[-1], *last_of_month.values()})
    assert kept == expected
    assert len(kept) == 2 + 3 + 11  # the newest is also its week's and its month's
    only_last = kept_backups(backups, Backups(keep_last=1, keep_weekly=0, keep_monthly=0))
    assert [b.taken for b in only_last] == [taken[-1]]


def week(inbox: Path, day: int) -> None:
    """A week's inbox: the roster and leads on one day of that week (`day` of November 2026, or
    of December from 1 to 22)."""
    roster(inbox / "名单.xlsx", PEOPLE)
    month = 12 if day < 23 else 11
    workbook(inbox / f"号码{day}.xlsx", {"号码": (LEADS, [
        ["张伟" if i % 2 else "王强", 13800138000 + 100 * day + i, datetime(2026, month, day) + timedelta(hours=9 + i % 8), ""]
        for i in range(12)])})


class Office:
    def __init__(self, root: Path) -> None:
        self.root, self.inbox, self.out, self.state = root, root / "in", root / "out", root / "state"

    def run(self, now: str) -> subprocess.CompletedProcess[str]:
        return run_cli("run", "--inbox", str(self.inbox), "--out", str(self.out), "--state", str(self.state), "--now", now)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("state", *args, "--state", str(self.state))

    def closed(self) -> tuple[list[str], int]:
        with closing(sqlite3.connect(self.state / "pipeline.db")) as db:
            return [r[0] for r in db.execute("SELECT week FROM weeks ORDER BY week")], \
                db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]


def test_restore_takes_the_state_back_and_the_week_runs_again_the_same(tmp_path: Path) -> None:
    office = Office(tmp_path)
    week(office.inbox, 24)  # 2026-W48
    assert office.run(WEEK1).returncode == 0
    after_week1 = office.closed()
    week(office.inbox, 1)  # 2026-W49
    done = office.run(WEEK2)
    assert done.returncode == 0, done.stderr
    week2 = (office.out / "2026-W49" / "results.json").read_bytes()
    after_week2 = office.closed()
    assert after_week2[0] == ["2026-W48", "2026-W49"]

    listed = office.cli("backups")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert [line.split()[1:3] for line in lines] == [["2026-11-30", "08:00"], ["2026-12-07", "08:00"]]
    assert all(line.endswith(" MB") for line in lines)

    with sqlite3.connect(office.state / "pipeline.db") as db:
        assert db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] > 0
    restored = office.cli("restore")  # the newest: the state as it was before week 2's run
    assert restored.returncode == 0, restored.stderr
    assert office.closed() == after_week1
    with sqlite3.connect(office.state / "pipeline.db") as db:  # a backup keeps no snapshot (a cache)
        assert db.execute("SELECT COUNT(*) FROM snapshots").fetchone() == (0,)
    aside = next((office.state / "replaced").glob("*.db"))
    assert str(aside) in restored.stdout

    # week 2 again, its inputs moved back from the archive: the same results
    (run2,) = [f.parent for f in (office.inbox / "archive").rglob("号码1.xlsx")]
    for f in run2.iterdir():
        shutil.copy(f, office.inbox / f.name)
    done = office.run(WEEK2)
    assert done.returncode == 0, done.stderr
    assert (office.out / "2026-W49" / "results.json").read_bytes() == week2
    assert office.closed() == after_week2

    # a restore undone: the database it replaced restored in turn
    first = sorted(line.split()[0] for line in lines)[0]
    kept_before = set((office.state / "replaced").glob("*.db"))
    assert office.cli("restore", first).returncode == 0
    assert office.closed() == after_week1
    [undo] = set((office.state / "replaced").glob("*.db")) - kept_before  # what this restore kept aside
    assert office.cli("restore", str(undo)).returncode == 0
    assert office.closed() == after_week2


def test_a_run_whose_inbox_cannot_be_read_takes_no_backup_and_the_next_one_does(tmp_path: Path) -> None:
    """The backup is copied once the inbox is read (the reading has both processors busy): a run
    that fails while reading changes nothing and leaves no backup; the next run takes one, of
    the state as last committed, which restores."""
    office = Office(tmp_path)
    week(office.inbox, 24)  # 2026-W48
    assert office.run(WEEK1).returncode == 0
    after_week1 = office.closed()
    before = list_backups(office.state)
    week(office.inbox, 1)  # 2026-W49
    cut = office.inbox / "号码1.xlsx"
    good = cut.read_bytes()
    cut.write_bytes(good[: len(good) // 2])  # a copy interrupted half way
    done = office.run(WEEK2)
    assert done.returncode == 1 and "号码1.xlsx" in done.stderr, done.stdout + done.stderr
    assert office.closed() == after_week1
    assert list_backups(office.state) == before
    assert not list((office.state / "backups").rglob("*.part"))

    cut.write_bytes(good)
    done = office.run(WEEK2)
    assert done.returncode == 0, done.stderr
    assert office.closed()[0] == ["2026-W48", "2026-W49"]
    backups = list_backups(office.state)
    assert len(backups) == len(before) + 1 and backups[-1].taken == datetime(2026, 12, 7, 8)
    assert office.cli("restore").returncode == 0
    assert office.closed() == after_week1


def test_restore_refuses_what_it_cannot_use_and_changes_nothing(tmp_path: Path) -> None:
    office = Office(tmp_path)
    week(office.inbox, 24)
    assert office.run(WEEK1).returncode == 0
    db = office.state / "pipeline.db"
    before = office.closed()

    unknown = office.cli("restore", "20990101T000000_nothing")
    assert (unknown.returncode, "no backup" in unknown.stderr) == (2, True)

    def refused(backup: Path, what: object) -> None:
        done = office.cli("restore", str(backup))
        assert done.returncode == 1 and "damaged" in done.stderr and "Traceback" not in done.stderr, what
        assert office.closed() == before and not (office.state / "replaced").exists()
        assert db.exists() and not list(office.state.glob("*.restoring")), "nothing left half made"

    (listed,) = list_backups(office.state)
    good = listed.path.read_bytes()
    damaged = tmp_path / "damaged.pages"
    # a flipped byte anywhere in the list of pages (header, hashes, its checksum) is found before
    # anything is replaced
    for at in (5, 20, *(len(good) * k // 6 for k in range(1, 6)), len(good) - 5):
        data = bytearray(good)
        data[at] ^= 0xFF
        damaged.write_bytes(bytes(data))
        refused(damaged, at)
    # and anywhere in the store's pages: each page is checked against its hash, not only by
    # SQLite's integrity check (which does not read the bytes of stored blobs)
    (pack,) = (office.state / "backups" / "pages").glob("*.pack")
    whole = pack.read_bytes()
    try:
        for at in (10, *(len(whole) * k // 6 for k in range(1, 6)), len(whole) - 5):
            data = bytearray(whole)
            data[at] ^= 0xFF
            pack.write_bytes(bytes(data))
            refused(listed.path, ("pack", at))
    finally:
        pack.write_bytes(whole)

    # a copy made by an earlier version: compressed whole, with the database's hash after it
    old = old_backup(db, tmp_path / "old.db.zst")
    good = old.read_bytes()
    for at in (20, *(len(good) * k // 6 for k in range(1, 6)), len(good) - 5):
        data = bytearray(good)
        data[at] ^= 0xFF
        old.write_bytes(bytes(data))
        refused(old, ("old", at))

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from pipeline.run import state_lock\n"
         "with state_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n",
         str(office.state)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        blocked = office.cli("restore")
        assert blocked.returncode == 75 and "lock" in blocked.stderr
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert office.closed() == before


def old_backup(db: Path, target: Path) -> Path:
    """The database as earlier versions backed it up: a `VACUUM INTO` copy compressed as one zstd
    frame, then its SHA-256 in a skippable frame."""
    import hashlib
    import struct

    import pyarrow as pa

    copy = target.with_name(target.name + ".tmp")
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("VACUUM INTO ?", (str(copy),))
    data = copy.read_bytes()
    copy.unlink()
    with pa.CompressedOutputStream(str(target), "zstd") as packed:
        packed.write(data)
    with open(target, "ab") as out:
        out.write(struct.pack("<II", 0x184D2A5E, 40) + b"sha256\x00\x00" + hashlib.sha256(data).digest())
    return target


def test_backups_keep_each_page_once_and_each_restores_whole_through_the_command_line(tmp_path: Path) -> None:
    """Three weeks run: a backup after the first commit and one before each later run. The second
    adds the page or two the first run changed after its backup (its files marked archived), the
    third the pages the second week changed. `pipeline state restore NAME` gives back each
    state's content exactly, checked."""
    office = Office(tmp_path)
    states = []
    for day, now in ((24, WEEK1), (1, WEEK2), (8, "2026-12-14T08:00:00")):
        week(office.inbox, day)
        done = office.run(now)
        assert done.returncode == 0, done.stderr
        states.append(db_content(office.state / "pipeline.db"))
    backups = list_backups(office.state)
    assert [b.taken.isoformat() for b in backups] == [WEEK1, WEEK2, "2026-12-14T08:00:00"]
    first, second, third = backups
    h1, h2, h3 = (pagestore.read_manifest(b.path).hashes for b in backups)
    assert len(set(h2) - set(h1)) <= 2 < len(h2), "after the first backup the run only marked its files archived"
    assert len(set(h3) - set(h1) - set(h2)) < len(h3) / 2, "the second week changed a part of the pages"
    assert 0 < second.size < third.size < first.size
    pages = pagestore.stored(office.state / "backups")
    assert len(pages) == len({h for _, h, _ in pages}), "each page stored once"
    stored_bytes = sum(p.stat().st_size for p in (office.state / "backups" / "pages").glob("*.pack"))
    assert stored_bytes == first.size + second.size + third.size
    assert stored_bytes < sum(b.database or 0 for b in backups) / 2

    listed = office.cli("backups").stdout.splitlines()
    assert [line.split()[0] for line in listed] == [b.name for b in backups]
    assert all(" database " in line and line.endswith(" MB") for line in listed)

    # the first backup was taken after the first commit, before its files were marked archived
    undo = None  # the state before the first restore, as that restore kept it aside
    for b, expected in zip(backups, [states[0], states[0], states[1]], strict=True):
        done = office.cli("restore", b.name)
        assert done.returncode == 0, done.stderr
        if undo is None:
            [undo] = (office.state / "replaced").glob("*.db")
        restored = db_content(office.state / "pipeline.db")
        if b is first:
            assert sorted(name for _, name, _ in restored.pop("pending_moves")) == sorted(["名单.xlsx", "号码24.xlsx"])
            expected = {**expected}
            assert expected.pop("pending_moves") == []
        assert restored == expected
        with closing(sqlite3.connect(office.state / "pipeline.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("SELECT COUNT(*) FROM snapshots").fetchone() == (0,)
    # (the names kept aside are dated to the second with a random suffix: restores within one
    # second do not sort in the order they were made)
    assert undo is not None and office.cli("restore", str(undo)).returncode == 0
    assert db_content(office.state / "pipeline.db") == states[2]


def registrations(state: State, run: str, first: int, n: int) -> None:
    """`n` registrations with random phones (pages that do not compress), in one transaction."""
    import random

    rng = random.Random(first)
    state.begin()
    state.add_registrations(run, "登记.xlsx", "登记", list(range(first, first + n)), ["2026-11-02T09:00:00"] * n,
                            [f"1{rng.randrange(10**10):010d}" for _ in range(n)], ["张伟"] * n, [""] * n,
                            [f"{rng.random()}" for _ in range(n)], list(range(2, n + 2)))
    state.write_blocks_aside()
    state.commit()


def test_pruning_deletes_the_pages_no_backup_needs_and_keeps_the_others_restorable(tmp_path: Path) -> None:
    """Backups of a state whose stored rows are replaced: when the rule keeps only the newer ones,
    the pages only the deleted backups held leave the store (a pack mostly unneeded is written
    again with its needed pages), and every backup kept restores to its state."""
    folder = tmp_path / "state"
    state = State(folder)
    registrations(state, "r1", 1, 60_000)
    first = db_content(state.path)
    state.backup("r1", datetime(2026, 11, 2, 8))
    state.begin()
    state.conn.execute("DELETE FROM registrations")  # its pages freed: a later backup keeps them as zeros
    state.commit()
    registrations(state, "r2", 100_000, 60_000)
    second = db_content(state.path)
    state.backup("r2", datetime(2026, 11, 9, 8))
    state.backup("r3", datetime(2026, 11, 16, 8))
    state.close()
    assert first != second

    backups = list_backups(folder)
    needed = {h for b in backups[1:] for h in pagestore.read_manifest(b.path).hashes}
    before = pagestore.stored(folder / "backups")
    assert {h for _, h, _ in before} > needed, "the first backup's own pages are stored"
    gone = prune_backups(folder, Backups(keep_last=2, keep_weekly=0, keep_monthly=0))
    assert gone == [backups[0].path]
    after = pagestore.stored(folder / "backups")
    assert sorted(h for _, h, _ in after) == sorted(needed), "no page left that no backup needs, none twice"
    assert prune_backups(folder, Backups(keep_last=2, keep_weekly=0, keep_monthly=0)) == []
    assert pagestore.stored(folder / "backups") == after
    for i, b in enumerate(backups[1:]):
        assert restore_backup(tmp_path / f"check{i}", b.path, "check") is None
        assert db_content(tmp_path / f"check{i}" / "pipeline.db") == second

    # the last backup deleted too: nothing is left in the store
    assert prune_backups(folder, Backups(keep_last=1, keep_weekly=0, keep_monthly=0)) == [backups[1].path]
    restore_backup(tmp_path / "last", backups[2].path, "check")
    assert db_content(tmp_path / "last" / "pipeline.db") == second


def test_a_backup_holds_no_byte_of_the_snapshots_and_pages_the_run_freed_as_zeros(tmp_path: Path) -> None:
    """The snapshots (a cache) are left out of a backup: none of their bytes is in its pages,
    neither where they were nor on the pages a run freed (a week's whole ledger replaced by a
    delta: the state does not write zeros over them, the backup keeps them as zeros)."""
    import os

    folder = tmp_path / "state"
    state = State(folder)
    registrations(state, "r1", 1, 2_000)
    cache, ledger = os.urandom(3 << 20), os.urandom(2 << 20)  # random: stored as they are, not compressed
    state.begin()
    state.put_snapshot("2026-W44", "2026-11-02T00:00:00", 1, "v", "roster", {
        "owners": cache, "visited": b"", "visits": b"", "units": b"", "deals": b"", "lapses": b""})
    state.close_week("2026-W44", "r1", {"managers": []}, b"report", ledger)
    state.commit()
    state.begin()
    state.set_week_ledger("2026-W44", b"delta")  # the whole ledger's pages freed
    state.commit()
    state.backup("r2", datetime(2026, 11, 9, 8))
    state.close()
    with sqlite3.connect(folder / "pipeline.db") as db:
        assert db.execute("SELECT COUNT(*) FROM snapshots").fetchone() == (1,)
    stored = b"".join(path.read_bytes() for path in (folder / "backups" / "pages").iterdir())
    for secret in (cache, ledger):
        assert all(secret[i:i + 4096] not in stored for i in range(0, len(secret), 256 << 10))
    assert restore_backup(tmp_path / "check", list_backups(folder)[0].path, "check") is None
    with sqlite3.connect(tmp_path / "check" / "pipeline.db") as db:
        assert db.execute("SELECT COUNT(*) FROM snapshots").fetchone() == (0,)
        assert db.execute("SELECT ledger FROM weeks").fetchone() == (b"delta",)


def test_copies_made_by_earlier_versions_are_listed_kept_by_the_rule_and_restored(tmp_path: Path) -> None:
    """A state upgraded from a version that backed up whole copies (`.db.zst`, and before that
    `.db`): its old copies are listed beside the new backups, deleted by the same rule, and
    restore as before through the command line."""
    office = Office(tmp_path)
    week(office.inbox, 24)
    assert office.run(WEEK1).returncode == 0
    after_week1 = office.closed()
    folder = office.state / "backups"
    for p in folder.glob("*.pages"):
        p.unlink()
    shutil.rmtree(folder / "pages")
    old_backup(office.state / "pipeline.db", folder / "20261123T080000_r0.db.zst")
    shutil.copyfile(office.state / "pipeline.db", folder / "20261116T080000_r00.db")
    week(office.inbox, 1)
    assert office.run(WEEK2).returncode == 0
    listed = office.cli("backups").stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["20261116T080000_r00", "20261123T080000_r0",
                                                    next(b.name for b in list_backups(office.state) if b.taken.day == 7)]
    assert listed[1].endswith(" MB") and " database " not in listed[1]
    for name in ("20261116T080000_r00", "20261123T080000_r0"):
        done = office.cli("restore", name)
        assert done.returncode == 0, done.stderr
        assert office.closed() == after_week1
    gone = prune_backups(office.state, Backups(keep_last=1, keep_weekly=0, keep_monthly=0))
    assert sorted(p.name for p in gone) == ["20261116T080000_r00.db", "20261123T080000_r0.db.zst"]
    assert [b.path.suffix for b in list_backups(office.state)] == [".pages"]


def test_pages_of_emptied_tables_become_a_free_list_sqlite_accepts(tmp_path: Path) -> None:
    """`pagestore.emptied` gives the pages that change when b-trees are emptied as SQLite's
    `DELETE` would: written over a copy of the file, the database passes SQLite's integrity
    check, the emptied table and its index hold nothing, every other row is as it was, and the
    free pages (more than one trunk page lists, in pages of 512 bytes) are all counted."""
    import os

    db = tmp_path / "small.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA page_size=512")
        conn.execute("CREATE TABLE cache (week TEXT PRIMARY KEY, data BLOB)")
        conn.execute("CREATE TABLE kept (k INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("CREATE TABLE gone (v BLOB)")
        conn.executemany("INSERT INTO cache VALUES (?, ?)", [(f"2026-W{i:02d}", os.urandom(3000)) for i in range(60)])
        conn.executemany("INSERT INTO kept VALUES (?, ?)", [(i, f"row {i}" * 20) for i in range(2000)])
        conn.executemany("INSERT INTO gone VALUES (?)", [(os.urandom(2000),) for _ in range(100)])
        conn.commit()
        conn.execute("DELETE FROM gone")  # a free list before the tables are emptied
        conn.commit()
        kept = conn.execute("SELECT * FROM kept ORDER BY k").fetchall()
        free_before = conn.execute("PRAGMA freelist_count").fetchone()[0]
        trees = conn.execute("SELECT name, rootpage FROM sqlite_master WHERE tbl_name = 'cache' AND rootpage > 0").fetchall()
        pages = {name: {p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (name,))}
                 for name, _ in trees}
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    roots = [root for _, root in trees]
    dropped = set().union(*pages.values()) - set(roots)
    assert len(roots) == 2 and free_before > 0 and len(dropped) + free_before > 2 * (512 // 4 - 8)
    data = bytearray(db.read_bytes())

    def read(number: int) -> bytes:
        return bytes(data[(number - 1) * 512:number * 512])

    changed = pagestore.emptied(read, page_count, roots, dropped)
    assert changed is not None
    for number, page in changed.items():
        data[(number - 1) * 512:number * 512] = page
    out = tmp_path / "emptied.db"
    out.write_bytes(bytes(data))
    with closing(sqlite3.connect(out)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT COUNT(*) FROM cache").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM cache WHERE week = '2026-W01'").fetchone() == (0,)  # by its index
        assert conn.execute("SELECT * FROM kept ORDER BY k").fetchall() == kept
        assert conn.execute("PRAGMA freelist_count").fetchone() == (free_before + len(dropped),)
        conn.execute("INSERT INTO cache VALUES ('2027-W01', zeroblob(5000))")  # the free pages are used again
        conn.commit()
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert pagestore.emptied(read, page_count, roots, dropped | {roots[0]}) is None  # a page freed twice


def test_a_backup_reads_only_the_pages_written_since_the_last_and_lists_what_a_full_read_lists(tmp_path: Path) -> None:
    """Seeded sequences of what happens to a state between backups (rows added and deleted,
    snapshots put and emptied, a week's ledger replaced, the state closed and opened again,
    another program writing into the database): each backup made from the pages written since
    the last (`pagestore.Written`) lists exactly the hashes a backup that reads every page lists,
    restores to the state's content, and after a small change has only a few pages to read."""
    import random

    for seed in range(4):
        rng = random.Random(seed)
        folder = tmp_path / f"state{seed}"
        state = State(folder)
        registrations(state, "r0", 1, 20_000)
        taken = datetime(2026, 1, 5, 8)
        state.backup("b0", taken)
        first = 100_000
        for step in range(12):
            action = rng.choice(["add", "add", "delete", "snapshot", "ledger", "reopen", "other", "none"])
            if action == "add":
                registrations(state, f"r{step}", first, rng.choice([50, 3_000, 20_000]))
                first += 100_000
            elif action == "delete":
                state.begin()
                state.conn.execute("DELETE FROM registrations WHERE rowid % 7 = ?", (rng.randrange(7),))
                state.commit()
            elif action == "snapshot":
                state.begin()
                state.conn.execute("DELETE FROM snapshots")
                state.put_snapshot(f"2026-W{10 + step:02d}", "2026-03-02T00:00:00", 1, "v", "roster",
                                   {"owners": rng.randbytes(rng.choice([1_000, 300_000])), "visited": b"",
                                    "visits": b"", "units": b"", "deals": b"", "lapses": b""})
                state.commit()
            elif action == "ledger":
                state.begin()
                state.close_week(f"2026-W{10 + step:02d}", "r", {"managers": []}, b"report", rng.randbytes(200_000))
                state.commit()
            elif action == "reopen":
                state.close()
                state = State(folder)
            elif action == "other":  # another program: its close writes the log back, unseen by the state
                state.close()
                with closing(sqlite3.connect(folder / "pipeline.db")) as db:
                    db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{step}", "v"))
                    db.commit()
                state = State(folder)
            taken += timedelta(weeks=1)
            before = pagestore.read_written(folder / "backups")
            assert before is not None
            # the record holds (the pages written since are counted) unless another program wrote
            assert (before.stamp == pagestore.file_stamp(folder / "pipeline.db")) == (action != "other")
            made = state.backup(f"b{step}", taken)
            record = pagestore.read_written(folder / "backups")
            assert record is not None and record.base == made.name and record.pages == frozenset()
            pagestore.forget_written(folder / "backups")
            full = state.backup(f"f{step}", taken + timedelta(hours=1))  # every page read and hashed
            assert pagestore.read_manifest(made).hashes == pagestore.read_manifest(full).hashes, (seed, step, action)
        registrations(state, "last", first, 50)
        state.close()
        record = pagestore.read_written(folder / "backups")
        pages = (folder / "pipeline.db").stat().st_size // 65536
        assert record is not None and 0 < len(record.pages) < pages / 4, "a small change: a few pages to read"
        expected = db_content(folder / "pipeline.db")
        state = State(folder)
        last = state.backup("last", taken + timedelta(weeks=1))
        state.close()
        assert restore_backup(tmp_path / f"check{seed}", last, "check") is None
        assert db_content(tmp_path / f"check{seed}" / "pipeline.db") == expected


def test_a_command_that_only_reads_leaves_the_record_of_written_pages_alone(tmp_path: Path) -> None:
    """`pipeline status` takes no lock and may close while a run goes on: it neither counts the
    log's pages nor writes the log back for the record, so the record stays as the run left it,
    byte for byte, even with a log full of a killed run's commit; and the next run's backup
    restores to the state it was taken of."""
    import os

    office = Office(tmp_path)
    week(office.inbox, 24)
    assert office.run(WEEK1).returncode == 0
    week(office.inbox, 1)
    env = {**os.environ, "PIPELINE_CRASH_AT": "after_commit"}  # its commit left in the log, uncounted
    killed = run_cli("run", "--inbox", str(office.inbox), "--out", str(office.out), "--state", str(office.state),
                     "--now", WEEK2, env=env)
    assert killed.returncode == -9, killed.stderr
    assert pagestore.log_pages(office.state / "pipeline.db")
    record = office.state / "backups" / pagestore.WRITTEN
    before = record.read_bytes()
    done = run_cli("status", "--inbox", str(office.inbox), "--out", str(office.out), "--state", str(office.state))
    assert done.returncode == 0, done.stderr
    assert record.read_bytes() == before
    expected = db_content(office.state / "pipeline.db")
    week(office.inbox, 8)
    assert office.run("2026-12-14T08:00:00").returncode == 0
    last = list_backups(office.state)[-1]
    assert restore_backup(tmp_path / "check", last.path, "check") is None
    restored, expected = db_content(tmp_path / "check" / "pipeline.db"), {**expected}
    restored.pop("pending_moves"), expected.pop("pending_moves")  # the next run finished the moves first
    assert restored == expected
