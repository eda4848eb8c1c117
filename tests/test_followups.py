"""The client-visit log (SPEC §9) end to end: one cumulative log dropped week after week as cron
runs, its update rule, followups.json as of each week's end, and each person's part of the
statements and emails."""

from __future__ import annotations

import email
import json
import shutil
from email import policy
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.state import State, open_state
from tests.conftest import Store, office_name
from tests.helpers import LEADS, roster, run_cli, workbook
from tests.pgserver import PgServer

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王强", "大客户经理", "二组", "wq@example.com", None, None],
    ["李娜", "销售员", "一组", None, None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]
LOG = ["客户经理", "走访对象", "走访时间", "客户态度", "反映问题", "督办人", "答复期限", "处理状态", "答复日期", "生日", "备注"]

# The log's rows as the admin keeps them (one per row of the sheet, in this order), by version.
A_OPEN = ["张伟", "华信公司", "2026-11-03 10:00", "中立", "停车位不足", None, None, "待处理", None, None, None]
A_WORKING = [*A_OPEN[:7], "处理中", None, None, None]
A_ANSWERED = [*A_OPEN[:7], "已答复", "2026-11-18", None, None]
B = ["张伟", "东方小学", "2026-11-04 10:00", "中立", "学区咨询", "王强", "2026-11-20", "待处理", None, None, None]
C1 = ["王强", "赵先生", "2026-11-01 09:00", "积极", None, None, None, None, None, None, None]
C2 = ["王强", "钱先生", "2026-11-02 09:00", "积极", None, None, None, None, None, None, None]
D1 = ["张伟", "孙先生", "2026-11-05 10:00", None, None, None, None, None, None, "1970-11-16", None]
D2 = ["张伟", "周女士", "2026-11-05 11:00", None, None, None, None, None, None, "1985-11-22", None]
D3 = ["张伟", "吴先生", "2026-11-05 12:00", None, None, None, None, None, None, "1990-11-23", None]
F = ["赵六", "冯先生", "2026-10-30 10:00", None, None, None, None, None, None, None, None]      # history
G = ["王强", "陈先生", "2026-11-10 10:00", "抵触", None, None, None, None, None, None, None]
E = ["赵六", "褚先生", "2026-11-11 10:00", None, None, None, None, None, None, None, None]      # read late
H = ["张伟", "卫先生", "2026-11-12 10:00", "积极", None, None, None, None, None, None, None]    # read late

V1 = [A_OPEN, B, C1, C2, D1, D2, D3, F]
V2 = [A_WORKING, B, C1, C2, D1, D2, D3, F, G]
V3 = [A_ANSWERED, B, C1, C2, D1, D2, D3, F, G, E, H]

MONDAYS = {"2026-W45": "2026-11-09T08:00:00", "2026-W46": "2026-11-16T08:00:00",
           "2026-W47": "2026-11-23T08:00:00", "2026-W48": "2026-11-30T08:00:00"}


def drop(inbox: Path, log: list[list[Any]], leads_until: int) -> None:
    """What the admin drops on a Monday: the roster, the cumulative leads (one per manager and
    week up to W`leads_until`) and the cumulative client-visit log."""
    roster(inbox / "名单.xlsx", PEOPLE)
    rows = [[name, f"1380000{week:02d}{k:02d}", f"2026-11-{(week - 45) * 7 + 3:02d} 10:00", "客户"]
            for week in range(45, leads_until + 1) for k, name in enumerate(["张伟", "王强"])]
    workbook(inbox / "号码.xlsx", {"号码": (LEADS, rows)})
    workbook(inbox / "走访日志.xlsx", {"Sheet1": (LOG, log)}, title="客户走访日志")


def run(root: Path, now: str) -> None:
    done = run_cli("run", "--inbox", str(root / "in"), "--out", str(root / "out"), "--state", str(root / "state"),
                   "--now", now)
    assert done.returncode == 0, done.stdout + done.stderr


def followups_of(root: Path, week: str) -> dict[str, Any]:
    return json.loads((root / "out" / week / "followups.json").read_text(encoding="utf-8"))


def results_of(root: Path, week: str) -> dict[str, Any]:
    return json.loads((root / "out" / week / "results.json").read_text(encoding="utf-8"))


def item(row: int, log: list[Any], owner: str, due: str, state: str, overdue: bool) -> dict[str, Any]:
    return {"source": {"file": "走访日志.xlsx", "sheet": "Sheet1", "row": row}, "manager": log[0], "client": log[1],
            "contacted_at": log[2].replace(" ", "T") + ":00", "issue": log[4], "owner": owner, "due_on": due,
            "state": state, "overdue": overdue}


def contacts(manager: str, logged: int, keen: int, neutral: int, resistant: int) -> dict[str, Any]:
    return {"manager": manager, "logged": logged, "keen": keen, "neutral": neutral, "resistant": resistant}


# Rows of the log as written: a title row, the header, then the data from row 3.
ROW = {id(r): i + 3 for i, r in enumerate(V3)}
ROW[id(A_OPEN)] = ROW[id(A_WORKING)] = ROW[id(A_ANSWERED)]


def expected(week: str) -> dict[str, Any]:
    """followups.json of the four weeks, worked out by hand from SPEC §9."""
    a, b = ROW[id(A_OPEN)], ROW[id(B)]
    doc: dict[str, dict[str, Any]] = {
        # E = Sunday 11-08. A due 11-03 + 7 = 11-10: open, not yet overdue; B owned by 王强.
        "2026-W45": {"items": [item(a, A_OPEN, "张伟", "2026-11-10", "open", False),
                               item(b, B, "王强", "2026-11-20", "open", False)],
                     "people": [{"name": "张伟", "open": 1, "overdue": 0, "answered": 0},
                                {"name": "王强", "open": 1, "overdue": 0, "answered": 0}],
                     "contacts": [contacts("张伟", 5, 0, 2, 0), contacts("王强", 1, 1, 0, 0)],
                     "recontact": [], "birthdays": []},
        # E = 11-15: A in progress, due 11-10: overdue; C1 14 days keen, C2 13 days; birthdays of
        # 11-16 (first day of next week) and 11-22 (its last), not 11-23.
        "2026-W46": {"items": [item(a, A_WORKING, "张伟", "2026-11-10", "open", True),
                               item(b, B, "王强", "2026-11-20", "open", False)],
                     "people": [{"name": "张伟", "open": 1, "overdue": 1, "answered": 0},
                                {"name": "王强", "open": 1, "overdue": 0, "answered": 0}],
                     "contacts": [contacts("王强", 1, 0, 0, 1)],
                     "recontact": [{"manager": "王强", "client": "赵先生", "last_contact": "2026-11-01T09:00:00"}],
                     "birthdays": [{"manager": "张伟", "client": "周女士", "birthday": "11-22"},
                                   {"manager": "张伟", "client": "孙先生", "birthday": "11-16"}]},
        # E = 11-22: A answered on 11-18, during the week; B due 11-20: overdue; E and H are dated
        # in the closed W46 and first read now: in no week's contacts.
        "2026-W47": {"items": [item(a, A_ANSWERED, "张伟", "2026-11-10", "answered", False),
                               item(b, B, "王强", "2026-11-20", "open", True)],
                     "people": [{"name": "张伟", "open": 0, "overdue": 0, "answered": 1},
                                {"name": "王强", "open": 1, "overdue": 1, "answered": 0}],
                     "contacts": [],
                     "recontact": [{"manager": "王强", "client": "赵先生", "last_contact": "2026-11-01T09:00:00"},
                                   {"manager": "王强", "client": "钱先生", "last_contact": "2026-11-02T09:00:00"}],
                     "birthdays": [{"manager": "张伟", "client": "吴先生", "birthday": "11-23"}]},
        # E = 11-29: A answered the week before: gone; H keen, 17 days.
        "2026-W48": {"items": [item(b, B, "王强", "2026-11-20", "open", True)],
                     "people": [{"name": "王强", "open": 1, "overdue": 1, "answered": 0}],
                     "contacts": [],
                     "recontact": [{"manager": "张伟", "client": "卫先生", "last_contact": "2026-11-12T10:00:00"},
                                   {"manager": "王强", "client": "赵先生", "last_contact": "2026-11-01T09:00:00"},
                                   {"manager": "王强", "client": "钱先生", "last_contact": "2026-11-02T09:00:00"}],
                     "birthdays": []},
    }
    return {"schema": 1, "week": week, **doc[week]}


@pytest.fixture(scope="module")
def four_weeks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log dropped four Mondays running (the last time unchanged), each run as cron runs it."""
    root = tmp_path_factory.mktemp("log")
    for now, log, last in zip(MONDAYS.values(), [V1, V2, V3, V3], [45, 46, 47, 48], strict=True):
        drop(root / "in", log, last)
        run(root, now)
    return root


@pytest.mark.parametrize("week", list(MONDAYS))
def test_followups_json_of_each_week(four_weeks: Path, week: str) -> None:
    """The item leaves the overdue list exactly in the week of its answer; follow_up_by names the
    owner; recontact on day 14, not 13; birthdays on the first and last day of the next week."""
    assert followups_of(four_weeks, week) == expected(week)


def test_log_rejections_and_counts(four_weeks: Path) -> None:
    """A history row's rejection is never reported; a row dated in a closed week is reported in
    the next computed week; a status update is stored (and counted), an equal row is a duplicate."""
    log_rejections = {w: [(r["source"]["row"], r["reason"], r["manager"]) for r in results_of(four_weeks, w)["rejections"]
                          if r["kind"] == "client_visits"] for w in MONDAYS}
    assert log_rejections == {"2026-W45": [], "2026-W46": [], "2026-W47": [(ROW[id(E)], "UNKNOWN_MANAGER", "赵六")],
                              "2026-W48": []}
    stats = {w: results_of(four_weeks, w)["stats"] for w in MONDAYS}
    # run 2: roster 4 + leads 4 (2 new) + log 9 (A updated, G new; F, rejected by a rule, is stored
    # and comes back a duplicate): stored 4 + 2 + 2
    assert stats["2026-W46"] == {"rows_read": 17, "rows_stored": 8, "duplicates_dropped": 9, "rejected": 0}
    # run 3: leads 6 (2 new) + log 11 (A updated, E and H new)
    assert stats["2026-W47"] == {"rows_read": 21, "rows_stored": 9, "duplicates_dropped": 12, "rejected": 1}
    # run 4: the same log again: every row a duplicate
    assert stats["2026-W48"] == {"rows_read": 23, "rows_stored": 6, "duplicates_dropped": 17, "rejected": 0}


def _statement_texts(root: Path, week: str, name: str) -> list[str]:
    folder = root / "out" / week
    page = (folder / "managers" / f"{name}.html").read_text(encoding="utf-8")
    book = openpyxl.load_workbook(folder / "managers" / f"{name}.xlsx")
    cells = " ".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c)
    (mail,) = (folder / "outbox").glob(f"*manager-{name}.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=policy.default)
    bodies = [part.get_content() for part in message.walk() if part.get_content_type() in ("text/plain", "text/html")]
    return [page, cells, *bodies]


@pytest.mark.parametrize("week", ["2026-W46", "2026-W47"])
def test_each_statement_shows_its_own_follow_ups_and_nothing_of_another(four_weeks: Path, week: str) -> None:
    """张伟 sees his overdue item, his clients' birthdays; 王强 the item he follows up for 张伟 and
    his keen clients to visit again: in the page, the workbook and both parts of the email."""
    # (what each must show, what must not be there: the others' clients and items)
    seen = {
        "2026-W46": {"张伟": (["停车位不足", "华信公司", "周女士", "孙先生", "11-22"],
                              ["学区咨询", "东方小学", "赵先生", "钱先生", "陈先生", "吴先生"]),
                     "王强": (["学区咨询", "东方小学", "赵先生"], ["停车位不足", "华信公司", "周女士", "孙先生", "吴先生"])},
        "2026-W47": {"张伟": (["停车位不足", "华信公司", "吴先生"], ["学区咨询", "东方小学", "赵先生", "钱先生", "陈先生"]),
                     "王强": (["学区咨询", "东方小学", "赵先生", "钱先生"],
                              ["停车位不足", "华信公司", "吴先生", "孙先生", "周女士", "卫先生"])},
    }[week]
    for name, (own, others) in seen.items():
        for text in _statement_texts(four_weeks, week, name):
            assert [w for w in own if w not in text] == [], name
            assert [w for w in others if w in text] == [], name


def test_summary_lists_overdue_items_by_owner_and_a_follow_up_sheet(four_weeks: Path) -> None:
    folder = four_weeks / "out" / "2026-W47"
    page = (folder / "summary.html").read_text(encoding="utf-8")
    assert "学区咨询" in page and "逾期 2 天" in page
    book = openpyxl.load_workbook(folder / "summary.xlsx")
    rows = list(book["走访督办"].iter_rows(values_only=True))
    assert rows[0][:3] == ("督办人", "答复期限", "状态")
    assert [(r[0], r[3], r[-3], r[-2], r[-1]) for r in rows[1:]] == [
        ("张伟", "华信公司", "走访日志.xlsx", "Sheet1", ROW[id(A_OPEN)]),
        ("王强", "东方小学", "走访日志.xlsx", "Sheet1", ROW[id(B)])]


def test_closed_weeks_keep_their_followups(four_weeks: Path) -> None:
    """The state keeps each closed week's followups.json beside its results (for the month's review)."""
    state = State(four_weeks / "state", create=False)
    try:
        assert state.week_followups(["2026-W48", "2026-W46", "2026-W47"]) == [
            expected(w) for w in ["2026-W46", "2026-W47", "2026-W48"]]
        assert state.week_followups([]) == []
    finally:
        state.close()


def test_a_closed_week_re_renders_its_followups(four_weeks: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(four_weeks, root)
    (root / "out" / "2026-W46" / "followups.json").unlink()
    done = run_cli("run", "--week", "2026-W46", "--inbox", str(root / "in"), "--out", str(root / "out"),
                   "--state", str(root / "state"), "--now", "2026-12-01T08:00:00")
    assert done.returncode == 0, done.stderr
    assert followups_of(root, "2026-W46") == expected("2026-W46")


def test_catching_up_judges_each_week_as_of_its_end(tmp_path: Path, store: Store) -> None:
    """Three weeks computed in one run from a log that already holds the answer (dated in the
    third): the item is overdue in the first two and answered in the third (either store)."""
    drop(tmp_path / "in", V1, 45)
    run(tmp_path, MONDAYS["2026-W45"])
    late_answer = [*A_OPEN[:7], "已答复", "2026-11-25", None, None]
    drop(tmp_path / "in", [late_answer, *V1[1:]], 48)
    run(tmp_path, MONDAYS["2026-W48"])
    states = {w: [(i["client"], i["state"], i["overdue"]) for i in followups_of(tmp_path, w)["items"]
                  if i["client"] == "华信公司"] for w in ["2026-W46", "2026-W47", "2026-W48"]}
    assert states == {"2026-W46": [("华信公司", "open", True)], "2026-W47": [("华信公司", "open", True)],
                      "2026-W48": [("华信公司", "answered", False)]}


def test_update_rule(tmp_path: Path, store: Store) -> None:
    """Same identity, other cells: the stored row is replaced and takes the new source (the latest
    read wins, in a run as across runs); an equal row, or one that differs only in a column of no
    kind, is a duplicate; an update rejected while reading leaves the stored row as it was. On
    either store (its runs use the working folder's configuration: the state on the server)."""
    drop(tmp_path / "in", [A_OPEN, B], 45)
    run(tmp_path, MONDAYS["2026-W45"])
    bad = [*A_OPEN[:7], "搞定了", None, None, None]
    roster(tmp_path / "in" / "名单.xlsx", PEOPLE)
    workbook(tmp_path / "in" / "号码.xlsx", {"号码": (LEADS, [["张伟", "13800009999", "2026-11-10 10:00", "x"]])})
    workbook(tmp_path / "in" / "走访日志.xlsx", {"Sheet1": ([*LOG, "自己的列"], [
        [*B, "随便写"],     # only an unknown column differs: a duplicate
        bad,               # rejected while reading: A stays open
    ])})
    workbook(tmp_path / "in" / "走访日志2.xlsx", {"旧": (LOG, [A_WORKING]), "新": (LOG, [[*A_OPEN[:7], "已关闭",
                                                                                           "2026-11-12", None, None]])})
    run(tmp_path, MONDAYS["2026-W46"])
    results = results_of(tmp_path, "2026-W46")
    assert [(r["source"]["row"], r["reason"]) for r in results["rejections"]] == [(3, "INVALID_VALUE")]
    # roster 4, lead 1, the log's two versions of A (each replaces the one before), B a duplicate
    assert results["stats"] == {"rows_read": 9, "rows_stored": 7, "duplicates_dropped": 1, "rejected": 1}
    (a,) = [i for i in followups_of(tmp_path, "2026-W46")["items"] if i["client"] == "华信公司"]
    assert (a["state"], a["source"]) == ("answered", {"file": "走访日志2.xlsx", "sheet": "新", "row": 2})
    state = open_state(tmp_path / "state", store.url, store.office, create=False)
    try:
        assert [(v.client, v.status, v.file, v.sheet) for v in state.client_visits()] == [
            ("东方小学", "open", "走访日志.xlsx", "Sheet1"), ("华信公司", "closed", "走访日志2.xlsx", "新")]
        assert [doc["week"] for doc in state.week_followups(["2026-W46", "2026-W45"])] == ["2026-W45", "2026-W46"]
    finally:
        state.close()


def test_the_leaders_email_counts_the_follow_ups(four_weeks: Path) -> None:
    (mail,) = (four_weeks / "out" / "2026-W47" / "outbox").glob("*summary*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    assert "客户走访督办：未答复 1 项，其中逾期 1 项（逾期督办人：王强 1）；本周已答复 1 项。" in text


def test_the_month_reviews_the_log(four_weeks: Path) -> None:
    """Closing W48 closes November (W45-W48): its review sums the weeks' followups.json. 张伟
    logged 5 visits, raised 2 issues (A, and B which 王强 follows up), A was answered (by 张伟);
    王强 logged 2, and B is overdue at the month's end."""
    book = openpyxl.load_workbook(four_weeks / "out" / "2026-11" / "summary.xlsx")
    (sheet,) = [ws for ws in book.worksheets if ws.title == "走访日志回顾"]
    rows = [r for r in sheet.iter_rows(values_only=True) if r and r[0] in ("张伟", "王强")]
    assert [r[:5] for r in rows] == [("张伟", 5, 2, 1, 0), ("王强", 2, 0, 0, 1)]


def _log_of(state: State) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """The stored client-visit log, every column (its identity too), and the closed weeks'
    followups.json."""
    columns = state.columns("client_visits")
    rows = [tuple(bytes(c) if isinstance(c, memoryview) else c for c in r)
            for r in state.dump("client_visits", columns)]
    return rows, state.week_followups(state.closed_weeks())


def test_migrate_moves_the_log_and_the_weeks_followups_both_ways(
        four_weeks: Path, tmp_path: Path, pg_server: PgServer, request: pytest.FixtureRequest) -> None:
    """`pipeline migrate` copies the client-visit log and each closed week's followups.json to a
    PostgreSQL server and back: the same rows, the same documents; on the server the month's
    review of the log reads them as the embedded database did."""
    root = tmp_path / "lite"
    shutil.copytree(four_weeks, root)
    server = Store("postgresql", pg_server.url, office_name(request.node.nodeid))
    lite = root / "lite.toml"
    lite.write_text(f'office = "{server.office}"\n', encoding="utf-8")
    there = run_cli("migrate", "--to", server.url, "--state", str(root / "state"), "--config", str(lite))
    assert there.returncode == 0, there.stderr
    assert "client_visits 11" in there.stdout and "weeks 4" in there.stdout

    source = State(root / "state", create=False)
    try:
        log = _log_of(source)
    finally:
        source.close()
    assert len(log[0]) == 11 and log[1] == [expected(w) for w in MONDAYS]
    moved = open_state(root / "state", server.url, server.office, create=False)
    try:
        assert _log_of(moved) == log
    finally:
        moved.close()

    config = server.write_config(root / "server.toml")
    book = root / "out" / "2026-11" / "summary.xlsx"
    review = [r for r in openpyxl.load_workbook(book)["走访日志回顾"].iter_rows(values_only=True)]
    book.unlink()
    done = run_cli("report", "--period", "2026-11", "--out", str(root / "out"), "--state", str(root / "state"),
                   "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert [r for r in openpyxl.load_workbook(book)["走访日志回顾"].iter_rows(values_only=True)] == review

    back = tmp_path / "back" / "state"
    done = run_cli("migrate", "--to", f"sqlite://{back}", "--state", str(root / "state"), "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "client_visits 11" in done.stdout
    returned = State(back, create=False)
    try:
        assert _log_of(returned) == log
    finally:
        returned.close()
