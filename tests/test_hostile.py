"""Bad, odd and hostile input files through the real command line (a subprocess with a timeout).

Each file ends in a located row rejection, or a file-level failure that changes nothing (exit 1,
no state on a first run, no output, no file moved), always with a message a person can act on:
never a traceback, never a hang, never unbounded memory.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.io.read import read_file
from pipeline.state import list_backups
from tests import corpus
from tests.helpers import LEADS, results, roster, run_cli, workbook

NOW = "2026-11-30T08:00:00"  # W48 (2026-11-23 .. 2026-11-29) is the last complete week
WEEK = "2026-W48"
PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["李娜", "销售员", "一组", None, None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]


class Office:
    """An inbox holding a good roster, output and state folders, a config, and the CLI."""

    def __init__(self, root: Path, config: str = "") -> None:
        self.root = root
        self.inbox, self.out, self.state = root / "in", root / "out", root / "state"
        self.inbox.mkdir(parents=True)
        self.config = root / "pipeline.toml"
        self.config.write_text(config, encoding="utf-8")
        roster(self.inbox / "名单.xlsx", PEOPLE)
        old = time.time() - 3600
        os.utime(self.inbox / "名单.xlsx", (old, old))

    def run(self, *args: str, now: str = NOW) -> Any:
        return run_cli("run", "--inbox", str(self.inbox), "--out", str(self.out), "--state", str(self.state),
                       "--config", str(self.config), "--now", now, *args, cwd=self.root)

    def validate(self, *files: Path) -> tuple[Any, list[dict[str, Any]]]:
        done = run_cli("validate", "--json", "--config", str(self.config), *map(str, files), cwd=self.root)
        return done, json.loads(done.stdout) if done.stdout.strip() else []

    def inbox_files(self) -> list[str]:
        return sorted(p.name for p in self.inbox.iterdir() if p.is_file())


def unpacked(backup: Path, folder: Path) -> Path:
    """A backup restored into a state folder of its own; its database file."""
    from pipeline.state import DB_NAME, restore_backup

    target = folder / f"unpacked-{backup.name}"
    assert restore_backup(target, backup, "check") is None
    return target / DB_NAME


def no_traceback(done: Any) -> None:
    assert "Traceback" not in done.stderr + done.stdout
    assert "panicked" not in done.stderr and "stack backtrace" not in done.stderr


# ---------------------------------------------------------------------------------------------
# files that fail the run: exit 1, nothing changed, a message saying what to do

FAILING: dict[str, tuple[str, Callable[[Path], Path], str, str]] = {
    # id: (file name, builder, words the message must hold (zh), the same in en)
    "truncated": ("号码.xlsx", corpus.truncated_xlsx, "损坏或不完整", "damaged or truncated"),
    "password": ("号码.xlsx", corpus.encrypted_xlsx, "取消密码", "remove the password"),
    "zip bomb": ("号码.xlsx", lambda p: corpus.zip_bomb(p, 60), "压缩炸弹", "zip bomb"),
    "lying zip bomb": ("号码.xlsx", lambda p: corpus.lying_zip_bomb(p, 60), "损坏", "damaged"),
    "billion laughs": ("号码.xlsx", corpus.entity_bomb, "XML 实体", "XML entities"),
    "entities after a long comment": ("号码.xlsx", lambda p: corpus.entity_bomb(p, late=True), "XML 实体", "XML entities"),
    "cell at XFD1048576": ("名单2.xlsx", corpus.far_cell, "Ctrl+End", "Ctrl+End"),
    "far cell without references": ("名单2.xlsx", corpus.far_cell_without_refs, "Ctrl+End", "Ctrl+End"),
    "far cell in single quotes": ("名单2.xlsx", corpus.far_cell_odd_quotes, "Ctrl+End", "Ctrl+End"),
    "picture named xlsx": ("号码.xlsx", corpus.binary_as_xlsx, "改了扩展名", "renamed"),
    "word document named xlsx": ("号码.xlsx", corpus.docx_as_xlsx, "不是工作簿", "not a workbook"),
    "empty xlsx": ("号码.xlsx", corpus.empty_file, "0 字节", "0 bytes"),
    "compound file without a workbook": ("号码.xls", corpus.garbage_cfb_xls, "损坏", "damaged"),
}
LIMITS = "[limits]\nmax_unzipped_mb = 50\n"  # the 60 MB bombs are over it; every real workbook here is far below


@pytest.mark.parametrize("case", list(FAILING), ids=list(FAILING))
def test_a_bad_file_fails_the_first_run_and_changes_nothing(tmp_path: Path, case: str) -> None:
    name, build, words, _ = FAILING[case]
    office = Office(tmp_path, LIMITS)
    corpus.good_leads(office.inbox / "a_好的号码.xlsx")
    build(office.inbox / name)
    before = office.inbox_files()
    started = time.monotonic()
    done = office.run()
    assert done.returncode == 1, done.stdout + done.stderr
    assert time.monotonic() - started < 60  # refused within the reading limits, not hung: not a speed check
    no_traceback(done)
    assert "run failed, nothing changed" in done.stderr
    assert "UNREADABLE" in done.stderr and name in done.stderr and words in done.stderr
    # nothing changed: no state (first run), no output, every file where it was
    assert not office.state.exists()
    assert not office.out.exists()
    assert office.inbox_files() == before
    assert not (office.inbox / "archive").exists()


def test_a_bad_file_fails_a_later_run_and_changes_nothing(tmp_path: Path) -> None:
    office = Office(tmp_path, LIMITS)
    corpus.good_leads(office.inbox / "号码.xlsx")
    assert office.run().returncode == 0
    db = (office.state / "pipeline.db").read_bytes()
    weeks = sorted(p.name for p in office.out.iterdir())
    corpus.far_cell(office.inbox / "名单.xlsx")
    done = office.run("--week", "2026-W49", now="2026-12-07T08:00:00")
    assert done.returncode == 1, done.stderr
    no_traceback(done)
    assert "Ctrl+End" in done.stderr
    assert (office.state / "pipeline.db").read_bytes() == db
    assert sorted(p.name for p in office.out.iterdir()) == weeks
    assert office.inbox_files() == ["名单.xlsx"]


def test_validate_reports_every_bad_file_in_plain_words_in_both_languages(tmp_path: Path) -> None:
    for lang, words_at in (("zh", 2), ("en", 3)):
        office = Office(tmp_path / lang, f'lang = "{lang}"\n' + LIMITS)
        files = []
        for case, (name, build, *_words) in FAILING.items():
            folder = office.root / "files" / case.replace(" ", "_")
            folder.mkdir(parents=True)
            files.append(build(folder / name))
        done, reports = office.validate(*files)
        assert done.returncode == 1
        no_traceback(done)
        assert len(reports) == len(FAILING)
        for case, report in zip(FAILING, reports, strict=True):
            words = FAILING[case][words_at]
            assert report["error"] == "UNREADABLE", case
            assert report["file"] == FAILING[case][0]
            assert words in report["message"], (case, report["message"])
            assert report["problems"] == [] and report["rows"] == 0


def test_the_zip_bomb_is_refused_from_the_directory_before_any_parsing(tmp_path: Path) -> None:
    """3 GB of declared content refused from the zip directory's sizes, before anything is inflated:
    the message gives the declared size (the part's real bytes are a few hundred)."""
    office = Office(tmp_path)  # default limit: 2000 MB
    bomb = corpus.raw_xlsx(tmp_path / "bomb.xlsx", corpus.roster_sheet_data())
    # Declare a 3 GB part without writing it: only the central directory and local header say so.
    data = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(bomb) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    struct.pack_into("<I", data, info.header_offset + 22, 3_000_000_000)
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(b"xl/worksheets/sheet1.xml"))
    struct.pack_into("<I", data, at + 24, 3_000_000_000)
    bomb.write_bytes(bytes(data))
    done, reports = office.validate(bomb)
    assert done.returncode == 1
    assert "2861 MB" in reports[0]["message"] and "2000 MB" in reports[0]["message"]


# ---------------------------------------------------------------------------------------------
# disguised files read as what they really are: a normal result, no warning

DISGUISED: dict[str, tuple[str, Callable[[Path], Path], int]] = {
    # id: (file name, builder, header row)
    "CSV named xlsx": ("号码.xlsx", corpus.csv_as_xlsx, 1),
    "HTML named xls (WPS, web systems)": ("号码.xls", corpus.html_as_xls, 2),
    "xlsx named xls": ("号码.xls", corpus.xlsx_as_xls, 2),
    "Unicode text named xls": ("号码.xls", corpus.utf16_text_as_xls, 1),
    "GB18030 CSV": ("号码.csv", lambda p: corpus.csv_file(p, "gb18030"), 1),
    "UTF-8 CSV with BOM": ("号码.csv", lambda p: corpus.csv_file(p, "utf-8", bom=True), 1),
    "UTF-8 CSV": ("号码.csv", lambda p: corpus.csv_file(p, "utf-8"), 1),
}


@pytest.mark.parametrize("case", list(DISGUISED), ids=list(DISGUISED))
def test_a_disguised_file_reads_as_its_real_format(tmp_path: Path, case: str) -> None:
    name, build, header_row = DISGUISED[case]
    office = Office(tmp_path)
    path = build(office.inbox / name)
    done, reports = office.validate(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    rows = 1 if case == "Unicode text named xls" else 2
    assert [(r["kind"], r["header_row"], r["rows"], r["error"], r["problems"]) for r in reports] == [
        ("leads", header_row, rows, None, [])]
    done = office.run()
    assert done.returncode == 0, done.stderr
    assert "skipped" not in done.stderr and "跳过" not in done.stderr and "忽略" not in done.stderr
    zw = results(office.out, WEEK)["managers"][0]
    assert (zw["name"], zw["achieved"]["leads"]) == ("张伟", rows)
    assert results(office.out, WEEK)["rejections"] == []


# ---------------------------------------------------------------------------------------------
# honest but awkward workbooks


def validate_one(tmp_path: Path, build: Callable[[Path], Path], name: str = "号码.xlsx") -> tuple[Any, dict[str, Any]]:
    office = Office(tmp_path)
    done, reports = office.validate(build(tmp_path / name))
    no_traceback(done)
    assert len(reports) == 1, reports
    return done, reports[0]


def test_a_sheet_with_headers_only_is_fine(tmp_path: Path) -> None:
    done, r = validate_one(tmp_path, corpus.headers_only)
    assert done.returncode == 0
    assert (r["kind"], r["header_row"], r["rows"], r["error"], r["problems"]) == ("leads", 1, 0, None, [])


def test_an_empty_workbook_is_a_warning_only(tmp_path: Path) -> None:
    done, r = validate_one(tmp_path, corpus.empty_workbook)
    assert done.returncode == 0
    assert (r["kind"], r["error"], r["rows"]) == (None, None, 0)
    office = Office(tmp_path / "run")
    corpus.empty_workbook(office.inbox / "空白.xlsx")
    corpus.good_leads(office.inbox / "号码.xlsx")  # the week's own rows beside it
    done = office.run()
    assert done.returncode == 0, done.stderr
    assert "空白.xlsx / Sheet1" in done.stderr  # the warning names the sheet it ignored
    assert office.inbox_files() == []  # read (and archived) like any other file


def test_a_merged_title_above_the_header(tmp_path: Path) -> None:
    done, r = validate_one(tmp_path, corpus.merged_title)
    assert done.returncode == 0
    assert (r["kind"], r["header_row"], r["rows"], r["problems"]) == ("leads", 3, 2, [])


def test_formulas_are_read_by_their_cached_values(tmp_path: Path) -> None:
    office = Office(tmp_path)
    corpus.formulas(office.inbox / "号码.xlsx")
    done = office.run()
    assert done.returncode == 0, done.stderr
    r = results(office.out, WEEK)
    assert r["managers"][0]["achieved"]["leads"] == 2 and r["rejections"] == []


def test_formulas_never_calculated_have_no_value(tmp_path: Path) -> None:
    """A library-written formula has no cached value; the product never evaluates formulas."""
    done, r = validate_one(tmp_path, corpus.formulas_without_cache)
    assert [(p["row"], p["column"], p["reason"]) for p in r["problems"]] == [(2, "phone", "MISSING_VALUE")]


def test_error_cells_become_located_rejections(tmp_path: Path) -> None:
    """calamine reads #N/A, #REF!, ... as empty: a required cell holding one is MISSING_VALUE at its
    row; a row of errors only is skipped like an empty row."""
    done, r = validate_one(tmp_path, corpus.error_cells)
    assert done.returncode == 0
    assert r["kind"] == "deals" and r["rows"] == 5
    assert [(p["row"], p["column"], p["reason"]) for p in r["problems"]] == [
        (2, "phone", "MISSING_VALUE"), (3, "deal_at", "MISSING_VALUE"),
        (4, "salesperson", "MISSING_VALUE"), (5, "commission", "MISSING_VALUE")]
    assert all(p["message"] for p in r["problems"])


def test_a_1904_workbook_reads_the_right_dates(tmp_path: Path) -> None:
    office = Office(tmp_path)
    corpus.date_1904(office.inbox / "号码.xlsx")
    assert office.run().returncode == 0
    r = results(office.out, WEEK)
    assert r["managers"][0]["achieved"]["leads"] == 2 and r["rejections"] == []
    sheets = read_file(corpus.date_1904(tmp_path / "d.xlsx"))
    assert [row.values["submitted_at"].isoformat() for row in sheets[0].rows] == ["2026-11-24T09:00:00", "2026-11-25T10:30:00"]


@pytest.mark.parametrize("build", [corpus.huge_dimension, corpus.styled_far_cells, corpus.tall_sparse],
                         ids=["declares A1:XFD1048576", "formatted empty cells far away", "one blank cell 300,000 rows down"])
def test_a_sheet_that_looks_huge_but_holds_little_is_read(tmp_path: Path, build: Callable[[Path], Path]) -> None:
    done, r = validate_one(tmp_path, build)
    assert done.returncode == 0, done.stderr
    assert (r["kind"], r["header_row"], r["rows"], r["problems"]) == ("roster", 1, 1, [])


@pytest.mark.parametrize("name", ["周报 第48周.xlsx", "号码（张伟）😀.xlsx", "  spaces  .xlsx", "名单🏠备份.csv"])
def test_file_names_with_chinese_spaces_and_emoji(tmp_path: Path, name: str) -> None:
    office = Office(tmp_path)
    if name.endswith(".csv"):
        corpus.csv_file(office.inbox / name, "utf-8", bom=True)
    else:
        corpus.good_leads(office.inbox / name)
    done = office.run()
    assert done.returncode == 0, done.stderr
    r = results(office.out, WEEK)
    assert r["managers"][0]["achieved"]["leads"] == 2
    archived = next((office.inbox / "archive").iterdir())
    assert sorted(p.name for p in archived.iterdir()) == sorted(["名单.xlsx", name])
    done, reports = office.validate(archived / name)
    assert done.returncode == 0 and reports[0]["file"] == name


def test_an_office_lock_file_is_skipped_with_a_warning_and_left_in_place(tmp_path: Path) -> None:
    office = Office(tmp_path)
    corpus.good_leads(office.inbox / "周报.xlsx")
    corpus.office_lock_file(office.inbox / "~$周报.xlsx")
    done = office.run()
    assert done.returncode == 0, done.stderr
    assert "~$周报.xlsx" in done.stderr and "Office 临时锁文件" in done.stderr
    assert office.inbox_files() == ["~$周报.xlsx"]
    assert results(office.out, WEEK)["managers"][0]["achieved"]["leads"] == 2


def test_the_inbox_placeholder_is_skipped_silently_and_other_hidden_files_with_a_warning(tmp_path: Path) -> None:
    """The repository's own `input/.gitkeep` is not the admin's mistake: nothing is said of it.
    Any other hidden file is skipped with a warning (SPEC §2.1). Both are left in place."""
    office = Office(tmp_path)
    corpus.good_leads(office.inbox / "周报.xlsx")
    (office.inbox / ".gitkeep").touch()
    corpus.good_leads(office.inbox / ".周报副本.xlsx")
    done = office.run()
    assert done.returncode == 0, done.stderr
    assert ".gitkeep" not in done.stderr
    assert "已跳过" in done.stderr and ".周报副本.xlsx：已跳过（隐藏文件）" in done.stderr
    assert office.inbox_files() == [".gitkeep", ".周报副本.xlsx"]
    assert results(office.out, WEEK)["managers"][0]["achieved"]["leads"] == 2


# ---------------------------------------------------------------------------------------------
# a file still being written


def test_a_file_still_being_copied_is_left_for_the_next_run(tmp_path: Path) -> None:
    office = Office(tmp_path, "[limits]\nsettle_seconds = 30\n")
    workbook(office.inbox / "号码1.xlsx", {"号码": (LEADS, [["张伟", "13700137000", "2026-11-23 09:00", ""]])})
    old = time.time() - 3600
    os.utime(office.inbox / "号码1.xlsx", (old, old))  # dropped an hour ago: settled
    corpus.good_leads(office.inbox / "号码.xlsx")  # modified just now
    done = office.run()
    assert done.returncode == 0, done.stderr
    assert "号码.xlsx" in done.stderr and "留待下次运行" in done.stderr
    assert office.inbox_files() == ["号码.xlsx"]  # not read, not moved
    assert results(office.out, WEEK)["managers"][0]["achieved"]["leads"] == 1


def test_a_file_still_being_copied_is_waited_for(tmp_path: Path) -> None:
    office = Office(tmp_path, "[limits]\nsettle_seconds = 3\nsettle_wait = true\n")
    corpus.good_leads(office.inbox / "号码.xlsx")
    done = office.run()
    assert done.returncode == 0, done.stderr
    assert "留待下次运行" not in done.stderr  # waited for, not left for the next run
    assert office.inbox_files() == []
    assert results(office.out, WEEK)["managers"][0]["achieved"]["leads"] == 2


# ---------------------------------------------------------------------------------------------
# state you can trust


def test_a_committing_run_leaves_a_backup(tmp_path: Path) -> None:
    office = Office(tmp_path)
    corpus.good_leads(office.inbox / "号码.xlsx")
    assert office.run().returncode == 0
    workbook(office.inbox / "号码2.xlsx", {"号码": (LEADS, [["张伟", "13700137000", "2026-12-01 09:00", ""]])})
    assert office.run(now="2026-12-07T08:00:00").returncode == 0
    backups = [b.path for b in list_backups(office.state)]
    # one taken after the very first commit (there was nothing to copy before it), one before the second run
    assert len(backups) == 2 and not list((office.state / "backups").rglob("*.part"))
    for backup in backups:
        with sqlite3.connect(unpacked(backup, tmp_path)) as db:  # the state as the first run left it
            assert db.execute("SELECT week FROM weeks").fetchall() == [(WEEK,)]
            assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)


def test_a_backup_made_aside_holds_the_committed_state_not_the_run_in_progress(tmp_path: Path) -> None:
    """The run copies the state on a thread while it stores the week's rows: the copy is the
    state as last committed, and no half copy is ever left under a backup's name."""
    from datetime import datetime

    from pipeline.state import State

    state = State(tmp_path / "state")
    state.begin()
    state.set_meta("first_week", "2026-W48")
    state.commit()
    state.begin()
    state.set_meta("first_week", "2026-W49")  # uncommitted while the copy is made
    state.add_registrations("r2", "登记.xlsx", "登记", list(range(1, 20_001)), ["2026-11-02T09:00:00"] * 20_000,
                            [f"1380{k:07d}" for k in range(20_000)], ["张伟"] * 20_000, [""] * 20_000,
                            [""] * 20_000, list(range(2, 20_002)))
    (tmp_path / "state" / "backups").mkdir()
    (tmp_path / "state" / "backups" / "20261130T080000_r1.db.zst.part").write_bytes(b"half a copy of a crashed run")
    backup = state.backup_aside("r2", datetime(2026, 12, 7, 8))()
    assert state.meta("first_week") == "2026-W49"  # this connection still sees its own writes
    state.rollback()
    state.close()
    with sqlite3.connect(unpacked(backup, tmp_path)) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'first_week'").fetchall() == [("2026-W48",)]
        assert db.execute("SELECT COUNT(*) FROM registrations").fetchone() == (0,)
    assert backup.name == "20261207T080000_r2.pages" and not list(backup.parent.rglob("*.part"))


def test_a_corrupt_database_stops_the_run_and_says_how_to_restore(tmp_path: Path) -> None:
    office = Office(tmp_path)
    corpus.good_leads(office.inbox / "号码.xlsx")
    assert office.run().returncode == 0
    workbook(office.inbox / "号码2.xlsx", {"号码": (LEADS, [["张伟", "13700137000", "2026-12-01 09:00", ""]])})
    assert office.run(now="2026-12-07T08:00:00").returncode == 0
    backup = list_backups(office.state)[-1].path
    db = office.state / "pipeline.db"
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")  # the header's page size (1 stands for 65536)
    page = 65536 if page == 1 else page
    middle = len(data) // 2 // page * page  # a whole page in the middle of the file
    data[middle:middle + page] = bytes((i * 7 + 13) % 256 for i in range(page))
    db.write_bytes(bytes(data))
    corrupt = db.read_bytes()
    outputs = sorted(p.name for p in office.out.iterdir())
    workbook(office.inbox / "号码3.xlsx", {"号码": (LEADS, [["张伟", "13600136000", "2026-12-08 09:00", ""],
                                                         ["张伟", "13500135000", "2026-12-02 09:00", ""]])})

    done = office.run(now="2026-12-14T08:00:00")
    assert done.returncode == 1, done.stdout + done.stderr
    no_traceback(done)
    assert "run failed, nothing changed" in done.stderr
    assert "damaged" in done.stderr and str(backup) in done.stderr and "pipeline state restore" in done.stderr
    assert db.read_bytes() == corrupt
    assert sorted(p.name for p in office.out.iterdir()) == outputs
    assert office.inbox_files() == ["号码3.xlsx"]

    # the message's own instructions work: restore (the damaged file is kept aside), run again
    restored = run_cli("state", "restore", "--state", str(office.state), "--config", str(office.config))
    assert restored.returncode == 0, restored.stderr
    assert [p.read_bytes() for p in (office.state / "replaced").glob("*.db")] == [corrupt]
    done = office.run(now="2026-12-14T08:00:00")
    assert done.returncode == 0, done.stderr
    assert results(office.out, "2026-W50")["managers"][0]["achieved"]["leads"] == 1


def _damage_middle_page(db: Path) -> bytes:
    """A whole page in the middle of the database overwritten with a pattern; the bytes written."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")  # the header's page size (1 stands for 65536)
    page = 65536 if page == 1 else page
    middle = len(data) // 2 // page * page
    data[middle:middle + page] = bytes((i * 7 + 13) % 256 for i in range(page))
    db.write_bytes(bytes(data))
    return bytes(data)


def test_the_backups_copy_is_checked_and_a_damaged_state_makes_no_backup(tmp_path: Path) -> None:
    """A run that takes a backup checks the copy (every page as last committed) instead of the
    database at open: opened unchecked, the damaged state is found there, before anything is
    written, with the message that says how to restore; no backup of it is kept."""
    from pipeline.state import State, StateError

    office = Office(tmp_path)
    corpus.good_leads(office.inbox / "号码.xlsx")
    assert office.run().returncode == 0
    workbook(office.inbox / "号码2.xlsx", {"号码": (LEADS, [["张伟", "13700137000", "2026-12-01 09:00", ""]])})
    assert office.run(now="2026-12-07T08:00:00").returncode == 0
    good = State(office.state, create=False)
    good.close()
    assert good.checked  # opened as every other command opens it: checked at once
    before = list_backups(office.state)
    corrupt = _damage_middle_page(office.state / "pipeline.db")

    state = State(office.state, create=False, check=False)  # as a run opens it
    try:
        assert not state.checked
        aside = state.backup_aside("r9", datetime(2026, 12, 14, 8), check=True)
        with pytest.raises(StateError) as damaged:
            aside.checked()
        with pytest.raises(StateError):
            aside()
    finally:
        state.close()
    assert "damaged" in str(damaged.value) and str(before[-1].path) in str(damaged.value)
    assert "pipeline state restore" in str(damaged.value)
    assert list_backups(office.state) == before
    assert not list((office.state / "backups").rglob("*.part"))
    assert (office.state / "pipeline.db").read_bytes() == corrupt


def test_the_whole_check_is_made_monthly_and_at_once_when_the_file_was_written_otherwise(tmp_path: Path) -> None:
    """The backup's whole integrity check is left out while the last one is less than 28 days old
    (by the run's clock) and the database file was written by the state alone since: the record
    beside the backups keeps when it was made. A week later it is vouched for; four weeks after
    it is made again; a page overwritten since the last run (the file's stamp changes) is found
    by the very next run, however recent the last check."""
    from pipeline import pagestore

    office = Office(tmp_path)
    backups = office.state / "backups"

    def week(n: int, now: str) -> None:
        saturday = datetime.fromisoformat(now) - timedelta(days=2)  # in the week the run closes
        workbook(office.inbox / f"号码{n}.xlsx", {"号码": (LEADS, [["张伟", f"1370013{n:04d}", f"{saturday:%Y-%m-%d} 09:00", ""]])})
        done = office.run(now=now)
        assert done.returncode == 0, done.stderr

    week(1, "2026-11-30T08:00:00")
    week(2, "2026-12-07T08:00:00")  # its backup: the first with a record before it, so checked
    record = pagestore.read_written(backups)
    assert record is not None and record.checked == "2026-12-07T08:00:00"
    for n, now in ((3, "2026-12-14T08:00:00"), (4, "2026-12-21T08:00:00"), (5, "2026-12-28T08:00:00")):
        week(n, now)
        record = pagestore.read_written(backups)
        assert record is not None and record.checked == "2026-12-07T08:00:00", now  # vouched for
    week(6, "2027-01-04T08:00:00")  # 28 days after the last check: made again
    record = pagestore.read_written(backups)
    assert record is not None and record.checked == "2027-01-04T08:00:00"

    week(7, "2027-01-11T08:00:00")  # vouched for, a week after the check
    last = list_backups(office.state)[-1].path
    corrupt = _damage_middle_page(office.state / "pipeline.db")
    workbook(office.inbox / "号码8.xlsx", {"号码": (LEADS, [["张伟", "13600136000", "2027-01-16 09:00", ""]])})
    done = office.run(now="2027-01-18T08:00:00")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "damaged" in done.stderr and str(last) in done.stderr and "pipeline state restore" in done.stderr
    assert (office.state / "pipeline.db").read_bytes() == corrupt
    assert list_backups(office.state)[-1].path == last


@pytest.mark.parametrize("how", ["dry run", "nothing to compute"])
def test_a_run_that_takes_no_backup_checks_the_state_at_once(tmp_path: Path, how: str) -> None:
    """Where no backup is taken (a dry run; a run with nothing to compute) the state is checked
    as before, when the run begins: refused with the same message, nothing written."""
    office = Office(tmp_path)
    corpus.good_leads(office.inbox / "号码.xlsx")
    assert office.run().returncode == 0
    backup = list_backups(office.state)[-1].path
    corrupt = _damage_middle_page(office.state / "pipeline.db")
    outputs = sorted(p.name for p in office.out.iterdir())
    if how == "dry run":
        workbook(office.inbox / "号码2.xlsx", {"号码": (LEADS, [["张伟", "13700137000", "2026-12-01 09:00", ""]])})
        done = office.run("--dry-run", now="2026-12-07T08:00:00")
    else:
        done = office.run()  # the same clock: every complete week is closed
    assert done.returncode == 1, done.stdout + done.stderr
    no_traceback(done)
    assert "damaged" in done.stderr and str(backup) in done.stderr and "pipeline state restore" in done.stderr
    assert (office.state / "pipeline.db").read_bytes() == corrupt
    assert sorted(p.name for p in office.out.iterdir()) == outputs


def test_validate_works_while_a_run_holds_the_lock(tmp_path: Path) -> None:
    office = Office(tmp_path)
    leads = corpus.good_leads(office.inbox / "号码.xlsx")
    office.state.mkdir()
    with open(office.state / "lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done, reports = office.validate(leads)
        assert done.returncode == 0 and reports[0]["kind"] == "leads"
        done = office.run()
        assert done.returncode == 75
        assert "lock" in done.stderr
        assert office.inbox_files() == ["号码.xlsx", "名单.xlsx"]
    assert office.run().returncode == 0


def test_waiting_covers_every_file_still_being_copied(tmp_path: Path) -> None:
    office = Office(tmp_path, "[limits]\nsettle_seconds = 4\nsettle_wait = true\n")
    first = corpus.good_leads(office.inbox / "号码1.xlsx")
    almost = time.time() - 3.5
    os.utime(first, (almost, almost))  # settles in 0.5 s
    workbook(office.inbox / "号码2.xlsx", {"号码": (LEADS, [["张伟", "13700137000", "2026-11-26 09:00", ""]])})
    done = office.run()
    assert done.returncode == 0, done.stderr
    assert office.inbox_files() == []
    assert results(office.out, WEEK)["managers"][0]["achieved"]["leads"] == 3


CAPPED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GB of address space, for good
from pipeline.cli import main
sys.argv = ["pipeline", "validate", "--json", *sys.argv[1:]]
main()
"""


def test_memory_stays_bounded_under_a_hard_1_gb_ceiling(tmp_path: Path) -> None:
    """Sheets that look or are huge, read by a process that may never hold more than 1 GB."""
    files = [corpus.huge_dimension(tmp_path / "dim.xlsx"), corpus.tall_sparse(tmp_path / "tall.xlsx", 1_048_576),
             corpus.far_cell(tmp_path / "far.xlsx"), corpus.far_cell_without_refs(tmp_path / "norefs.xlsx"),
             corpus.far_cell(tmp_path / "wide.xlsx", "XFD3"), corpus.good_leads(tmp_path / "leads.xlsx")]
    done = subprocess.run([sys.executable, "-c", CAPPED, *map(str, files)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    no_traceback(done)
    reports = {r["file"]: r for r in json.loads(done.stdout)}
    assert done.returncode == 1
    for ok in ("dim.xlsx", "tall.xlsx", "wide.xlsx"):
        assert (reports[ok]["kind"], reports[ok]["error"]) == ("roster", None), reports[ok]
    for bad in ("far.xlsx", "norefs.xlsx"):
        assert reports[bad]["error"] == "UNREADABLE" and "Ctrl+End" in reports[bad]["message"]
    assert reports["leads.xlsx"]["rows"] == 2


# ---------------------------------------------------------------------------------------------
# the reading worker's own failures are file failures too


def refuse_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker process may start: the system refuses (out of memory or processes)."""
    import concurrent.futures

    def refuse(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(concurrent.futures.ProcessPoolExecutor, "submit", refuse)


def touch_while_read(path: Path, kind: str, at: dict[str, int], file: str, sheet: str) -> None:
    """A reader's shortcut (it runs in the reading worker, between reading the file and its last
    check) that writes the file's modification time, as a copy still in progress does."""
    later = time.time() + 5
    os.utime(path, (later, later))


def test_a_reading_worker_that_cannot_start_or_overruns_is_a_plain_file_failure(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from functools import partial

    from pipeline.io.read import FileError, read_files

    path = corpus.good_leads(tmp_path / "号码.xlsx")
    with monkeypatch.context() as m:
        refuse_workers(m)
        with pytest.raises(FileError, match="helper process") as exc:
            read_file(path, lang="en")
        assert exc.value.code == "UNREADABLE" and exc.value.file == "号码.xlsx"
    with pytest.raises(FileError, match="took over 0 seconds") as exc:
        read_file(path, lang="en", timeout=0.0)
    assert exc.value.file == "号码.xlsx"
    with pytest.raises(FileError, match="still being copied"):
        list(read_files([(path, path.name)], "en", shortcut=partial(touch_while_read, path)))
    assert [s.kind for s in read_file(path)] == ["leads"]  # and all is well again


def test_a_text_file_is_read_even_when_no_helper_process_may_start(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV needs no memory ceiling: with no worker, it is read in the run's own process."""
    path = corpus.csv_file(tmp_path / "号码.csv", "utf-8")
    expected = read_file(path)
    refuse_workers(monkeypatch)
    assert read_file(path) == expected and expected[0].kind == "leads"


def test_files_read_side_by_side_come_back_in_order_and_stop_at_the_first_bad_one(tmp_path: Path) -> None:
    """read_files starts the largest file first, but hands files over in the order asked, and a
    bad file raises at its own place: the files before it were handed over, none after it."""
    from pipeline.io import read

    small = corpus.good_leads(tmp_path / "a.xlsx")
    big = corpus.tall_sparse(tmp_path / "b.xlsx", 200_000)
    bad = corpus.truncated_xlsx(tmp_path / "c.xlsx")
    text = corpus.csv_file(tmp_path / "d.csv", "gb18030")
    files = [(p, p.name) for p in (small, big, text)]
    got = list(read.read_files(files, parallel=2))
    assert got == [read.read_file(p) for p, _ in files]
    assert [s.file for found in got for s in found] == ["a.xlsx", "b.xlsx", "d.csv"]

    handed: list[str] = []
    reading = read.read_files([(small, "a.xlsx"), (bad, "c.xlsx"), (big, "b.xlsx")], parallel=2)
    with pytest.raises(read.FileError) as exc:
        for found in reading:
            handed.append(found[0].file)
    assert handed == ["a.xlsx"] and exc.value.file == "c.xlsx"


def test_a_reading_worker_that_dies_fails_its_own_file_and_no_other(tmp_path: Path) -> None:
    """A stray cell at XFD1048576 makes calamine ask for ~550 GB: its worker dies under the
    memory ceiling. The file fails by its name, at its place; the file read beside it comes back
    whole, and so does the one after it if it was read ahead (handed to `early`)."""
    from pipeline.io import read

    small = corpus.good_leads(tmp_path / "a.xlsx")
    far = corpus.far_cell(tmp_path / "b.xlsx")
    text = corpus.csv_file(tmp_path / "c.csv", "utf-8")
    files = [(p, p.name) for p in (small, far, text)]
    early: dict[int, list[Any]] = {}
    handed: list[str] = []
    reading = read.read_files(files, "en", parallel=2, early=lambda k, sheets: early.setdefault(k, sheets))
    with pytest.raises(read.FileError, match="Ctrl\\+End") as exc:
        for found in reading:
            handed.append(found[0].file)
    assert handed == ["a.xlsx"] and (exc.value.file, exc.value.code) == ("b.xlsx", "UNREADABLE")
    assert set(early) <= {2} and all(sheets == read.read_file(text) for sheets in early.values())
    assert [s.file for found in read.read_files([files[0], files[2]]) for s in found] == ["a.xlsx", "c.csv"]


def test_a_backup_while_another_process_reads_still_holds_the_last_commit(tmp_path: Path) -> None:
    """The backup after a committing run holds the last commit, also while a reader (another
    process: `pipeline status`) keeps an older snapshot and the log cannot be emptied."""
    from datetime import datetime

    from pipeline.state import State

    state = State(tmp_path / "state")
    state.begin()
    state.set_meta("first", "1")
    state.commit()
    reader = sqlite3.connect(state.path)
    reader.execute("BEGIN")
    assert reader.execute("SELECT value FROM meta WHERE key = 'first'").fetchone() == ("1",)  # its snapshot
    state.begin()
    state.set_meta("second", "2")
    state.commit()
    busy = state.backup("r1", datetime(2026, 11, 30, 8))
    reader.close()
    quiet = state.backup("r2", datetime(2026, 11, 30, 9))
    state.close()
    for backup in (busy, quiet):
        with sqlite3.connect(unpacked(backup, tmp_path)) as db:
            assert dict(db.execute("SELECT key, value FROM meta WHERE key IN ('first', 'second')")) == \
                {"first": "1", "second": "2"}
