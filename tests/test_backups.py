"""Backups of the state: which are kept, and `pipeline state restore` through the command line."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

from pipeline.config import Backups
from pipeline.state import Backup, kept_backups
from tests.helpers import LEADS, roster, run_cli, workbook

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
    assert office.cli("restore", first).returncode == 0
    assert office.closed() == after_week1
    undo = sorted((office.state / "replaced").glob("*.db"))[-1]
    assert office.cli("restore", str(undo)).returncode == 0
    assert office.closed() == after_week2


def test_restore_refuses_what_it_cannot_use_and_changes_nothing(tmp_path: Path) -> None:
    office = Office(tmp_path)
    week(office.inbox, 24)
    assert office.run(WEEK1).returncode == 0
    db = office.state / "pipeline.db"
    before = office.closed()

    unknown = office.cli("restore", "20990101T000000_nothing")
    assert (unknown.returncode, "no backup" in unknown.stderr) == (2, True)

    backup = next((office.state / "backups").glob("*.db.zst"))
    good = backup.read_bytes()
    damaged = tmp_path / "damaged.db.zst"
    # a flipped byte anywhere (frame header, compressed pages, the trailing hash) is found before
    # anything is replaced: the database's hash, not only SQLite's integrity check
    for at in (20, *(len(good) * k // 6 for k in range(1, 6)), len(good) - 5):
        data = bytearray(good)
        data[at] ^= 0xFF
        damaged.write_bytes(bytes(data))
        refused = office.cli("restore", str(damaged))
        assert refused.returncode == 1 and "damaged" in refused.stderr and "Traceback" not in refused.stderr, at
        assert office.closed() == before and not (office.state / "replaced").exists()
        assert db.exists() and not list(office.state.glob("*.restoring")), "nothing left half made"

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
