"""`pipeline run` end to end on real workbooks: weeks, catch-up, late rows, reruns, failures."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import Store
from tests.helpers import DEALS, LEADS, REGISTRATIONS, VISITS, results, roster, workbook, written_anew

# Every test once per engine of the state (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("store")

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王强", "大客户经理", "二组", "wq@example.com", None, None],
    ["李娜", "销售员", "一组", None, None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]


class Office:
    """An inbox, an output and a state folder, and the CLI pointed at them."""

    def __init__(self, root: Path, store: Store | None = None) -> None:
        self.root, self.store = root, store or Store("sqlite")
        self.inbox, self.out, self.state = root / "in", root / "out", root / "state"
        self.inbox.mkdir(parents=True)

    def run(self, *args: str, now: str | None = None) -> Any:
        argv = ["run", "--inbox", str(self.inbox), "--out", str(self.out), "--state", str(self.state), *args]
        if now:
            argv += ["--now", now]
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    def results(self, week: str) -> dict[str, Any]:
        return results(self.out, week)

    def inbox_files(self) -> list[str]:
        return sorted(p.name for p in self.inbox.iterdir() if p.is_file())


@pytest.fixture
def office(tmp_path: Path, store: Store) -> Office:
    o = Office(tmp_path, store)
    roster(o.inbox / "名单.xlsx", PEOPLE)
    return o


def leads(path: Path, rows: list[list[Any]]) -> Path:
    return workbook(path, {"号码": (LEADS, rows)}, title="诚意客户号码汇总表")


def d(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_first_run_computes_the_last_complete_week_and_archives(office: Office) -> None:
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), "王先生"]])
    result = office.run(now="2026-11-30T08:00:00")
    assert result.exit_code == 0, result.output
    r = office.results("2026-W48")
    assert (r["week"], r["start"], r["end"]) == ("2026-W48", "2026-11-23", "2026-11-29")
    zw = next(m for m in r["managers"] if m["name"] == "张伟")
    assert zw["achieved"] == {"leads": 1, "visits": 0, "units": 0}
    assert zw["fines"]["total"] == "559.00"
    assert [m["name"] for m in r["managers"]] == sorted(["张伟", "王强"])
    assert office.inbox_files() == []
    archived = list((office.inbox / "archive").iterdir())
    assert len(archived) == 1 and sorted(p.name for p in archived[0].iterdir()) == ["号码.xlsx", "名单.xlsx"]


def test_rerun_of_the_same_week_changes_nothing(office: Office) -> None:
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    before = office.results("2026-W48")
    again = office.run(now="2026-11-30T09:00:00")
    assert again.exit_code == 0 and "nothing to compute" in again.output
    assert office.results("2026-W48") == before


def test_unfinished_week_is_refused_unless_dry_run_or_force(office: Office) -> None:
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-30 09:00"), ""]])
    refused = office.run("--week", "2026-W49", now="2026-12-02T08:00:00")
    assert refused.exit_code == 2 and "--dry-run" in refused.output
    assert not office.state.exists() and not office.out.exists()
    preview = office.run("--week", "2026-W49", "--dry-run", now="2026-12-02T08:00:00")
    assert preview.exit_code == 0, preview.output
    assert office.results("2026-W49")["managers"][0]["achieved"]["leads"] == 1
    assert not office.state.exists(), "a dry run stores nothing"
    assert office.inbox_files() == ["号码.xlsx", "名单.xlsx"], "a dry run moves no file"
    forced = office.run("--week", "2026-W49", "--force", now="2026-12-02T08:00:00")
    assert forced.exit_code == 0 and office.inbox_files() == []


def test_dry_run_on_existing_state_stores_nothing(office: Office) -> None:
    leads(office.inbox / "号码W48.xlsx", [["王强", 13900139000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    db = office.store.contents(office.state)
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-12-01 09:00"), ""]])
    assert office.run("--dry-run", now="2026-12-07T08:00:00").exit_code == 0
    assert office.results("2026-W49")["managers"][0]["achieved"]["leads"] == 1
    assert office.store.contents(office.state) == db
    assert office.inbox_files() == ["号码.xlsx"]


def test_closed_week_is_rerendered_without_reading(office: Office) -> None:
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    before = office.results("2026-W48")
    leads(office.inbox / "更多号码.xlsx", [["张伟", 13800138001, d("2026-11-24 10:00"), ""]])
    (office.out / "2026-W48" / "results.json").unlink()
    result = office.run("--week", "2026-W48", now="2026-12-10T08:00:00")
    assert result.exit_code == 0 and "re-rendered" in result.output
    assert office.results("2026-W48") == before
    assert office.inbox_files() == ["更多号码.xlsx"], "re-render reads no inbox"


def test_a_closed_week_is_known_before_the_state_is_opened(office: Office) -> None:
    """The command line asks `week_closed` whether `--week` names a closed week (a re-render
    starts no helpers' server): read-only, without opening the state; False wherever it cannot
    tell, and the run then goes on as it would have."""
    from pipeline.state import week_closed

    url = office.store.url
    assert not week_closed(office.state, url, "2026-W48"), "no state yet"
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    db = office.store.contents(office.state)
    if office.store.engine == "sqlite":
        assert week_closed(office.state, url, "2026-W48")
    else:
        assert not week_closed(office.state, url, "2026-W48"), "a server's state: not peeked at"
    assert not week_closed(office.state, url, "2026-W49")
    assert office.store.contents(office.state) == db, "the look changes nothing"
    result = office.run("--week", "2026-W48", now="2026-12-10T08:00:00")
    assert result.exit_code == 0 and "re-rendered" in result.output
    broken = office.root / "broken"
    broken.mkdir()
    (broken / "pipeline.db").write_bytes(b"not a database" * 100)
    assert not week_closed(broken, "", "2026-W48")


def test_a_re_rendered_weeks_old_folder_is_removed_whole(office: Office) -> None:
    """The folder a re-render replaces is removed, its files by several threads at once
    (`remove_folder`): nothing of it is left beside the week's folder, and a folder holding
    many files and folders goes as `shutil.rmtree` would take it."""
    from pipeline.run import remove_folder

    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    before = sorted(p.relative_to(office.out).as_posix() for p in office.out.rglob("*"))
    (office.out / "2026-W48" / "stray.txt").write_text("left by someone", encoding="utf-8")
    assert office.run("--week", "2026-W48", now="2026-12-10T08:00:00").exit_code == 0
    assert sorted(p.relative_to(office.out).as_posix() for p in office.out.rglob("*")) == before
    big = office.root / "big"
    for n in range(60):
        folder = big / f"d{n % 3}" / ("deeper" if n % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{n}.bin").write_bytes(bytes(n))
    (big / "d0" / "link").symlink_to(big / "d1")
    kept = office.root / "kept"
    kept.mkdir()
    for n in range(40):
        (kept / f"k{n}.bin").write_bytes(bytes(n))
    (big / "d2" / "to-kept").symlink_to(kept)
    remove_folder(big)
    assert not big.exists()
    assert len(list(kept.iterdir())) == 40, "a link's target is not removed"
    linked = office.root / "linked"
    linked.symlink_to(kept)
    with pytest.raises(OSError):
        remove_folder(linked)   # as shutil.rmtree: a link is not a folder to remove
    assert len(list(kept.iterdir())) == 40


def test_catch_up_computes_every_missed_week_oldest_first(office: Office) -> None:
    leads(office.inbox / "号码W47.xlsx", [["王强", 13900139000, d("2026-11-17 09:00"), ""]])
    assert office.run(now="2026-11-23T08:00:00").exit_code == 0  # closes W47
    leads(office.inbox / "号码.xlsx", [
        ["张伟", 13800138000, d("2026-11-24 09:00"), ""],
        ["张伟", 13800138001, d("2026-12-01 09:00"), ""],
    ])
    result = office.run(now="2026-12-07T08:00:00")
    assert result.exit_code == 0
    assert "closed 2026-W48" in result.output and "closed 2026-W49" in result.output
    w48, w49 = office.results("2026-W48"), office.results("2026-W49")
    zw = [next(m for m in r["managers"] if m["name"] == "张伟") for r in (w48, w49)]
    assert [z["achieved"]["leads"] for z in zw] == [1, 1]
    assert [z["streak"] for z in zw] == [2, 3]
    assert w48["stats"] == {"rows_read": 0, "rows_stored": 0, "duplicates_dropped": 0, "rejected": 0}
    assert w49["stats"]["rows_read"] == 2  # the roster was archived by the first run; the stored one applies


def test_five_cron_weeks_reach_dismissal_review(office: Office) -> None:
    mondays = ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]
    streaks = []
    for i, monday in enumerate(mondays):
        # one number a week: every week is worked (not EMPTY_WEEK) and every target missed
        leads(office.inbox / "号码.xlsx", [["张伟", 13800138000 + i, d(f"{monday} 09:00") - timedelta(days=6), ""]])
        assert office.run(now=f"{monday}T08:00:00").exit_code == 0
        week = sorted(p.name for p in office.out.iterdir() if not p.name.startswith("."))[-1]
        zw = next(m for m in office.results(week)["managers"] if m["name"] == "张伟")
        streaks.append((zw["streak"], zw["dismissal_review"]))
    assert streaks == [(1, False), (2, False), (3, False), (4, True), (5, True)]


def test_late_leads_are_rejected_and_late_deals_paid_in_the_next_week(office: Office) -> None:
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    leads(office.inbox / "补交号码.xlsx", [
        ["张伟", 13800138001, d("2026-11-25 09:00"), ""],      # in closed W48: LATE
        ["张伟", 13800138002, d("2026-12-01 09:00"), ""],      # W49: counts
    ])
    workbook(office.inbox / "成交.xlsx", {"成交": (DEALS, [[13800138000, d("2026-11-28"), "李娜", "4000", "1-101"]])})
    assert office.run(now="2026-12-07T08:00:00").exit_code == 0
    r = office.results("2026-W49")
    assert [(x["reason"], x["phone"], x["kind"]) for x in r["rejections"]] == [("LATE", "13800138001", "leads")]
    assert [(x["manager"], x["kind"], x["manager_commission"], x["late"]) for x in r["deals"]] == [
        ("张伟", "lead", "200.00", True)]
    zw = next(m for m in r["managers"] if m["name"] == "张伟")
    assert zw["achieved"]["leads"] == 1 and zw["commission"]["total"] == "200.00"


def test_cumulative_workbook_three_weeks_running_counts_nothing_twice(office: Office) -> None:
    rows: list[list[Any]] = [["张伟", 13800138000, d("2026-11-24 09:00"), ""], ["张伟", "bad", d("2026-11-24 09:00"), ""]]
    weeks = [("2026-11-30", "2026-W48"), ("2026-12-07", "2026-W49"), ("2026-12-14", "2026-W50")]
    seen = []
    for i, (monday, week) in enumerate(weeks):
        rows.append(["张伟", 13800138010 + i, d(f"{monday} 09:00"), ""])
        leads(office.inbox / "号码汇总.xlsx", rows)
        roster(office.inbox / "名单.xlsx", PEOPLE)
        workbook(office.inbox / "登记.xlsx", {"登记": (REGISTRATIONS, [[13900000000, d("2026-11-01"), "自然到访", ""]])})
        assert office.run(now=f"{monday}T08:00:00").exit_code == 0
        r = office.results(week)
        zw = next(m for m in r["managers"] if m["name"] == "张伟")
        seen.append((zw["achieved"]["leads"], r["stats"]["duplicates_dropped"], [x["reason"] for x in r["rejections"]]))
    # week 1: the lead and the bad row; later weeks: only the new row counts, the rest are dropped silently
    # dropped: week 2 the 3 old lead rows + the registration; week 3 the 4 old lead rows + the registration
    assert seen == [(1, 0, ["INVALID_PHONE"]), (1, 4, []), (1, 5, [])]


def test_file_level_problem_fails_and_changes_nothing(office: Office) -> None:
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    workbook(office.inbox / "坏表.xlsx", {"S": (["客户经理", "手机号码", "备注"], [["张伟", 13800138000, ""]])})
    result = office.run(now="2026-11-30T08:00:00")
    assert result.exit_code == 1
    assert "MISSING_COLUMN" in result.output and "坏表.xlsx" in result.output and "提交时间" in result.output
    assert not office.state.exists() and not office.out.exists()
    assert office.inbox_files() == ["号码.xlsx", "名单.xlsx", "坏表.xlsx"]


def test_failure_on_existing_state_leaves_it_byte_identical(office: Office) -> None:
    leads(office.inbox / "号码W48.xlsx", [["王强", 13900139000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    db = office.store.contents(office.state)
    workbook(office.inbox / "两种.xlsx", {"S": (LEADS + ["到访时间", "销售员"], [])})
    result = office.run(now="2026-12-07T08:00:00")
    assert result.exit_code == 1 and "AMBIGUOUS_SHEET" in result.output
    assert office.store.contents(office.state) == db
    assert not (office.out / "2026-W49").exists()


def test_no_roster_fails(tmp_path: Path) -> None:
    o = Office(tmp_path)
    leads(o.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    result = o.run(now="2026-11-30T08:00:00")
    assert result.exit_code == 1 and "NO_ROSTER" in result.output
    assert not o.state.exists()


def test_visit_and_deal_through_workbooks(office: Office) -> None:
    leads(office.inbox / "号码.xlsx", [["张伟", "+86 138-0013-8000", "2026/11/24 09:00", ""]])
    workbook(office.inbox / "到访.xlsx", {"到访": (VISITS, [["张伟", "13800138000", "2026年11月25日 10:00", "李娜"]])})
    workbook(office.inbox / "成交.xlsx", {"成交": (DEALS, [["13800138000", d("2026-11-27"), "李娜", "4,001元", "3-1201"]])})
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    r = office.results("2026-W48")
    assert r["deals"] == [{
        "source": {"file": "成交.xlsx", "sheet": "成交", "row": 2},
        "phone": "13800138000", "deal_at": "2026-11-27T00:00:00", "room": "3-1201",
        "salesperson": "李娜", "salesperson_commission": "4001.00",
        "manager": "张伟", "kind": "visit", "manager_commission": "2000.50",
        "salesperson_net": "2000.50", "reason": None, "late": False,
    }]
    zw = next(m for m in r["managers"] if m["name"] == "张伟")
    assert (zw["commission"], zw["net"]) == ({"visit": "2000.50", "lead": "0.00", "total": "2000.50"}, "1451.50")  # fines 99 + 150 + 300


def test_run_log_has_stage_timings(office: Office) -> None:
    leads(office.inbox / "号码W48.xlsx", [["王强", 13900139000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    logs = list((office.state / "logs").glob("*.json"))
    assert len(logs) == 1
    stages = json.loads(logs[0].read_text())["stages"]
    assert {"read", "store", "replay", "assess", "reports"} <= set(stages)


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text('[fines]\nleads = "-1"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "--config", str(cfg)])
    assert result.exit_code == 2 and "fines.leads" in result.output


def test_config_unknown_key(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text('[targets]\nlead = 5\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "--config", str(cfg)])
    assert result.exit_code == 2 and "targets.lead" in result.output


def test_env_is_not_read_inside_rules() -> None:
    """Time comes from --now: the rules package never imports the clock."""
    import pipeline.rules as rules_pkg

    for path in Path(rules_pkg.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "datetime.now" not in text and "time.time" not in text and "os.environ" not in text, path
    assert os.environ.get("PIPELINE_CRASH_AT") is None


def test_rerender_is_byte_identical_so_mail_is_sent_once(office: Office) -> None:
    """Workbooks, pages and .eml files of a closed week re-render to the same bytes: the
    digests that keep each message sent once depend on it."""
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    folder = office.out / "2026-W48"

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    before = snapshot()
    assert any(name.startswith("outbox/") for name in before) and "summary.xlsx" in before
    written_anew(folder)
    assert office.run("--week", "2026-W48", now="2026-12-20T08:00:00").exit_code == 0
    assert snapshot() == before


def test_a_big_weeks_rerender_is_byte_identical(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a big week: written by several processes (the ledger's files by one of their own,
    started from the stored week's head before the rest is decoded; the emails by a pool),
    closed and re-rendered to the same bytes."""
    from pipeline import mail
    from pipeline.report import write

    monkeypatch.setattr(write, "PARALLEL_FROM_ROWS", 0)
    monkeypatch.setattr(write, "ASIDE_FROM_BYTES", 0)
    monkeypatch.setattr(mail, "PARALLEL_FROM", 1)
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""],
                                      ["王强", 13900139000, d("2026-11-25 10:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    folder = office.out / "2026-W48"

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    before = snapshot()
    assert {"ledger.csv", "ledger.xlsx", "results.json", "summary.xlsx"} <= set(before)
    assert any(name.startswith("outbox/") for name in before)
    written_anew(folder)
    assert office.run("--week", "2026-W48", now="2026-12-20T08:00:00").exit_code == 0
    assert snapshot() == before
    assert not [p for p in office.out.iterdir() if p.name.startswith(".")]   # no scratch folder left


def test_history_rows_still_decide_units_and_visits(office: Office) -> None:
    """Rows before the first computed week are read back without their details; they must still
    block a duplicate unit, leave a photo-less unit uncounted, and make a visit not the first."""
    from tests.helpers import UNITS

    workbook(office.inbox / "单位.xlsx", {"单位": (UNITS, [
        ["张伟", "华为 公司", d("2026-11-02 09:00"), "p1.jpg"],    # history: counted
        ["张伟", "腾讯", d("2026-11-02 09:00"), ""],               # history: no photo, not counted
        ["王强", "华为公司", d("2026-11-24 09:00"), "p2.jpg"],      # DUPLICATE_UNIT
        ["王强", "腾讯", d("2026-11-24 10:00"), "p3.jpg"],         # counts
    ])})
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-01 09:00"), ""]])
    workbook(office.inbox / "到访.xlsx", {"到访": (VISITS, [
        ["张伟", 13800138000, d("2026-11-03 09:00"), "李娜"],
        ["张伟", 13800138000, d("2026-11-25 09:00"), "李娜"],
    ])})
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    r = office.results("2026-W48")
    assert [(x["reason"], x["source"]["row"]) for x in r["rejections"]] == [("NOT_FIRST_VISIT", 3), ("DUPLICATE_UNIT", 4)]
    wq = next(m for m in r["managers"] if m["name"] == "王强")
    assert wq["achieved"]["units"] == 1
    assert "2026-11-02" in r["rejections"][1]["message"] and "张伟" in r["rejections"][1]["message"]


def test_newest_roster_wins_by_mtime_then_name_then_sheet(office: Office) -> None:
    """SPEC §2.4: the newest roster read replaces the stored one, for the whole replay."""
    old = office.inbox / "名单.xlsx"                                   # 张伟 is a manager here
    newer = roster(office.inbox / "a-新名单.xlsx", [["张伟", "销售员", "一组", None, None, None],
                                                   ["王强", "大客户经理", "二组", None, None, None]])
    os.utime(old, (1_000_000_000, 1_000_000_000))
    os.utime(newer, (2_000_000_000, 2_000_000_000))                   # named first, but newer: it wins
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""]])
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    assert [x["reason"] for x in office.results("2026-W48")["rejections"]] == ["UNKNOWN_MANAGER"]

    # equal times: the last file by name wins; within it, the last sheet
    workbook(office.inbox / "z-名单.xlsx", {
        "旧": (["姓名", "岗位", "团队"], [["张伟", "大客户经理", "一组"]]),
        "新": (["姓名", "岗位", "团队"], [["张伟", "销售员", "一组"], ["王强", "大客户经理", "二组"]]),
    })
    roster(office.inbox / "y-名单.xlsx", PEOPLE)
    for name in ("z-名单.xlsx", "y-名单.xlsx"):
        os.utime(office.inbox / name, (2_000_000_000, 2_000_000_000))
    leads(office.inbox / "号码2.xlsx", [["张伟", 13800138001, d("2026-12-01 09:00"), ""]])
    assert office.run(now="2026-12-07T08:00:00").exit_code == 0
    assert [x["reason"] for x in office.results("2026-W49")["rejections"]] == ["UNKNOWN_MANAGER"]


def test_registrations_read_twice_in_one_run_are_stored_once_first_read_wins(office: Office) -> None:
    """SPEC §2.4 for registrations within one run: a row whose identity (phone, registered_at,
    registered_by) equals one read earlier (same sheet or another file) is dropped; a row that
    differs in any of the three is a registration of its own."""
    at = d("2026-11-01 09:00")
    workbook(office.inbox / "登记A.xlsx", {"登记": (REGISTRATIONS, [
        [13900000000, at, "自然到访", "先读到的"],
        [13900000000, at, "自然到访", "同一登记"],          # duplicate in the same sheet
        [13900000000, at, "电话来访", "来源不同"],          # near miss: registered_by differs
        [13900000000, d("2026-11-01 09:01"), "自然到访", ""],  # near miss: time differs
    ])})
    workbook(office.inbox / "登记B.xlsx", {"登记": (REGISTRATIONS, [[13900000000, at, "自然到访", "另一文件"]])})
    roster(office.inbox / "名单.xlsx", PEOPLE)
    assert office.run("--force", now="2026-11-30T08:00:00").exit_code == 0  # a week of registrations only
    stats = office.results("2026-W48")["stats"]
    assert (stats["rows_read"], stats["duplicates_dropped"]) == (9, 2)
    assert stats["rows_stored"] == 9 - 2  # 3 registrations + 4 roster rows
    ledger = (office.out / "2026-W48" / "ledger.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[:3] for line in ledger[1:]] == [["13900000000", "先读到的", "自然到访"]]


def test_a_file_stored_ahead_of_an_earlier_one_still_loses_to_it(tmp_path: Path) -> None:
    """A file read while the run waits for an earlier one is stored at once; when the earlier
    file comes, its row of the same identity still counts (SPEC §2.4: the row read first, in
    file order, wins) and the later one is the duplicate. B.xlsx (the second file) is stored
    before A.xlsx (the first)."""
    from pipeline.intake import Intake, prepare
    from pipeline.io.read import read_files
    from pipeline.state import State

    at = d("2026-11-24 10:00")
    a = leads(tmp_path / "A.xlsx", [["张伟", 13900000001, at, "先读到的"]])
    b = leads(tmp_path / "B.xlsx", [["张伟", 13900000001, at, "后读到的"], ["张伟", 13900000002, at, "乙"]])
    state = State(tmp_path / "state")
    state.begin()
    taken = Intake(state, "r1")
    first, second = read_files([(a, a.name), (b, b.name)], prepare=prepare)
    taken.store(1, second)
    taken.store(0, first)
    taken.store(1, second)  # a file is stored once
    assert (taken.rows_read, taken.rows_stored, taken.duplicates) == (3, 2, 1)
    stored = sorted((e.seq, e.phone, e.customer, e.file) for e in state.history("2026-12-01T00:00:00"))
    assert [row[1:] for row in stored] == [("13900000001", "先读到的", "A.xlsx"), ("13900000002", "乙", "B.xlsx")]
    state.rollback()
    state.close()


def test_a_small_file_after_a_big_one_is_counted_after_it(office: Office) -> None:
    """End to end: a small file read (and stored) while the run still reads a bigger file before
    it loses its repeated row to that file, whichever is read first."""
    at = d("2026-11-24 10:00")
    many = [["王强", 13800000000 + k, at, f"客户{k}"] for k in range(3000)]
    leads(office.inbox / "A.xlsx", [["张伟", 13900000001, at, "先读到的"], *many])
    leads(office.inbox / "B.xlsx", [["张伟", 13900000001, at, "后读到的"], ["张伟", 13900000002, at, "乙"]])
    roster(office.inbox / "名单.xlsx", PEOPLE)
    assert office.run(now="2026-11-30T08:00:00").exit_code == 0
    stats = office.results("2026-W48")["stats"]
    assert (stats["rows_read"], stats["rows_stored"], stats["duplicates_dropped"]) == (3003 + 4, 3002 + 4, 1)
    managers = office.results("2026-W48")["managers"]
    assert [(m["name"], m["achieved"]["leads"]) for m in managers] == [("张伟", 2), ("王强", 3000)]


def test_the_rows_a_run_keeps_for_the_replay_are_the_history_it_would_read_back(tmp_path: Path) -> None:
    """The rows an intake keeps for the replay (made as each sheet is stored) equal what
    `State.history` reads back for the run: rows after `until` left out, older rows' details
    blanked, deals kept whole, a duplicate (the same lead twice, and a visit an earlier run
    stored) not kept."""
    from functools import partial

    from pipeline.intake import Intake, prepare, shortcut
    from pipeline.io.read import read_files
    from pipeline.state import State

    at = [d("2026-11-10 09:00"), d("2026-11-17 09:00"), d("2026-11-24 09:00")]
    path = workbook(tmp_path / "混合.xlsx", {
        "报备": (LEADS, [*([["张伟", f"1390000000{k}", when, f"客户{k}"] for k, when in enumerate(at)]),
                         ["张伟", "13900000001", at[1], "又一次"]]),
        "到访": (VISITS, [["张伟", "13900000000", when, "李娜"] for when in at]),
        "成交": (DEALS, [["13900000000", when, "李娜", "1000", "A-1"] for when in at]),
    })
    earlier = workbook(tmp_path / "早.xlsx", {"到访": (VISITS, [["张伟", "13900000000", at[1], "李娜"]])})
    state = State(tmp_path / "state")
    state.begin()
    [sheets] = list(read_files([(earlier, earlier.name)], prepare=prepare))
    Intake(state, "r0").store(0, sheets)
    taken = Intake(state, "r1", until="2026-11-24T00:00:00", details_from="2026-11-17T00:00:00", base=1 << 20)
    [sheets] = list(read_files([(path, path.name)], prepare=prepare, shortcut=partial(shortcut, late_range=None)))
    taken.store(0, sheets)
    assert taken.duplicates == 2
    kept = taken.take_kept()
    assert kept is not None and len(kept) == 5  # two weeks of three kinds, less the visit r0 stored
    back = list(state.history("2026-11-24T00:00:00", details_from="2026-11-17T00:00:00", run_id="r1"))
    assert sorted(kept) == sorted(back)
    assert {(e.kind, e.customer, e.file) for e in kept if e.at < "2026-11-17"} == {
        ("leads", "客户0", ""), ("visits", "", ""), ("deals", "", "混合.xlsx")}
    state.rollback()
    state.close()


def test_catch_up_over_a_dated_change_uses_the_values_in_force(office: Office, tmp_path: Path) -> None:
    """SPEC §7.6: one catch-up closing W48 and W49 with a change from Monday 2026-11-30: W48
    keeps the old targets and lead fee, W49 has the new ones; a late W48 deal paid in W49 is
    decided at its own date (the old fee)."""
    config = tmp_path / "p.toml"
    config.write_text('[[changes]]\nfrom = "2026-11-30"\ntargets = { leads = 120 }\n'
                      'commission = { lead_fee = "300.00" }\n', encoding="utf-8")
    leads(office.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-17 09:00"), ""]])
    assert office.run("--config", str(config), now="2026-11-23T08:00:00").exit_code == 0  # closes W47
    leads(office.inbox / "号码.xlsx", [
        ["张伟", 13800138001, d("2026-11-24 09:00"), ""],
        ["张伟", 13800138002, d("2026-12-01 09:00"), ""],
    ])
    workbook(office.inbox / "成交.xlsx", {"成交": (DEALS, [
        [13800138000, d("2026-11-18"), "李娜", "4000", "1-101"],    # in closed W47: paid late in the catch-up
        [13800138001, d("2026-11-29 18:00"), "李娜", "4000", "1-102"],
        [13800138002, d("2026-12-02"), "李娜", "4000", "1-103"],
    ])})
    result = office.run("--config", str(config), now="2026-12-07T08:00:00")
    assert result.exit_code == 0, result.output
    w48, w49 = office.results("2026-W48"), office.results("2026-W49")
    zw = [next(m for m in r["managers"] if m["name"] == "张伟") for r in (w48, w49)]
    assert [(z["targets"]["leads"], z["fines"]["leads"]) for z in zw] == [(100, "99.00"), (120, "119.00")]
    assert [(x["deal_at"][:10], x["manager_commission"], x["late"]) for r in (w48, w49) for x in r["deals"]] == [
        ("2026-11-18", "200.00", True), ("2026-11-29", "200.00", False), ("2026-12-02", "300.00", False)]


def test_a_mistake_in_changes_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text('[[changes]]\nfrom = "2027-01-04"\n[[changes]]\nfrom = "2027-01-11"\ntargets = { leads = "many" }\n',
                   encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "--config", str(cfg)])
    assert result.exit_code == 2 and "changes[1].targets.leads" in result.output
