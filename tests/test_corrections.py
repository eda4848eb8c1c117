"""SPEC §7 through the command line: the three kinds of correction read from real workbooks,
classified by their headers, stored once however often the cumulative workbooks are dropped,
and landing as clawbacks, adjustments and rulings in results.json."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
from click.testing import CliRunner

from pipeline.cli import cli
from tests.helpers import (
    ADJUSTMENTS,
    CANCELLATIONS,
    DEALS,
    LEADS,
    RULINGS,
    VISITS,
    results,
    roster,
    workbook,
)

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王强", "大客户经理", "一组", "wq@example.com", None, None],
    ["李娜", "销售员", "一组", None, None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]
W48 = datetime(2026, 11, 23)  # a Monday


def _validate(*paths: Path) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["validate", "--json", *map(str, paths)])
    return list(json.loads(result.output))


def test_a_sheet_with_every_required_column_of_one_kind_is_that_kind(tmp_path: Path) -> None:
    """A cancellations sheet that also names a room and a customer, an adjustments sheet with a
    manager and an amount, a rulings sheet with a customer: each is its own kind, not a
    MISSING_COLUMN of deals, leads or visits; an adjustments sheet without its approver is."""
    path = workbook(tmp_path / "更正.xlsx", {
        "退房": (["手机号码", "退房日期", "房号", "客户姓名", "销售员"], [["13800138000", "2026-11-25", "3-1201", "王", "李娜"]]),
        "调整": (["客户经理", "调整金额", "调整日期", "审批人", "事由", "手机号码"],
               [["张伟", "-¥150", "2026-11-25", "刘总", "重复计数", "13800138000"]]),
        "裁定": (["手机号码", "裁定归属", "裁定时间", "批准人", "客户", "客户经理"],
               [["13800138000", "王强", "2026-11-25 10:00", "刘总", "王", "张伟"]]),
    })
    sheets = _validate(path)
    assert [(s["sheet"], s["kind"], s["error"], s["problems"]) for s in sheets] == [
        ("退房", "cancellations", None, []), ("调整", "adjustments", None, []), ("裁定", "rulings", None, [])]
    broken = workbook(tmp_path / "缺列.xlsx", {"调整": (["客户经理", "金额", "调整时间"], [["张伟", "150", "2026-11-25"]])})
    (sheet,) = _validate(broken)
    assert (sheet["kind"], sheet["error"]) == (None, "MISSING_COLUMN")


def test_signed_amounts_are_read_and_bad_ones_rejected(tmp_path: Path) -> None:
    path = workbook(tmp_path / "调整.xlsx", {"Sheet1": (ADJUSTMENTS, [
        ["张伟", "-¥150", "2026-11-25", "刘总", ""], ["张伟", "¥-150", "2026-11-25", "刘总", ""],
        ["张伟", "+150", "2026-11-25", "刘总", ""], ["张伟", -80.5, "2026-11-25", "刘总", ""],
        ["张伟", "--5", "2026-11-25", "刘总", ""], ["张伟", 0, "2026-11-25", "刘总", ""]])})
    (sheet,) = _validate(path)
    assert [(p["row"], p["reason"]) for p in sheet["problems"]] == [
        (3, "INVALID_AMOUNT"), (4, "INVALID_AMOUNT"), (6, "INVALID_AMOUNT")]


def _week(inbox: Path, k: int, cancellations: list[list[Any]], adjustments: list[list[Any]],
          rulings: list[list[Any]]) -> None:
    """Week k's files: a lead (a week with work in it), and the cumulative correction workbooks."""
    monday = W48 + timedelta(weeks=k)
    roster(inbox / "名单.xlsx", PEOPLE)
    leads = [["张伟", 13800138000, W48 + timedelta(hours=9)], ["王强", 13800138100 + k, monday + timedelta(hours=9)]]
    workbook(inbox / f"号码-{k}.xlsx", {"Sheet1": (LEADS[:3], leads)})
    workbook(inbox / "到访.xlsx", {"Sheet1": (VISITS, [["张伟", 13800138000, W48 + timedelta(days=1), "李娜"]])})
    workbook(inbox / "成交.xlsx", {"Sheet1": (DEALS, [[13800138000, W48 + timedelta(days=2), "李娜", 4000, "3-1201"],
                                                    [13800138000, W48 + timedelta(days=2), "李娜", 3000, "3-1202"]])})
    workbook(inbox / "退房.xlsx", {"Sheet1": (CANCELLATIONS, cancellations)})
    workbook(inbox / "调整.xlsx", {"Sheet1": (ADJUSTMENTS, adjustments)})
    workbook(inbox / "裁定.xlsx", {"Sheet1": (RULINGS, rulings)})


def _run(root: Path, k: int) -> Any:
    now = W48 + timedelta(weeks=k + 1, hours=8)
    return CliRunner().invoke(cli, ["run", "--inbox", str(root / "in"), "--out", str(root / "out"), "--state",
                                    str(root / "state"), "--now", now.isoformat()], catch_exceptions=False)


def test_cumulative_correction_workbooks_dropped_three_weeks_running(tmp_path: Path) -> None:
    """The admin drops the same growing cancellations, adjustments and rulings workbooks every
    week: each row lands once, in the week of its date; nothing is clawed back, paid or ruled
    twice, and the repeats are only counted as duplicates."""
    cancellations = [[13800138000, W48 + timedelta(days=8, hours=10), "3-1201"]]        # W49
    adjustments = [["张伟", "150", W48 + timedelta(days=3), "刘总", "申诉成立"],           # W48
                   ["张伟", "-50", W48 + timedelta(days=9), "刘总", "重复计数"]]           # W49
    rulings = [[13800138000, "王强", W48 + timedelta(days=10), "刘总"]]                    # W49
    weeks = ["2026-W48", "2026-W49", "2026-W50"]
    for k in range(3):
        _week(tmp_path / "in", k, cancellations, adjustments, rulings)
        assert _run(tmp_path, k).exit_code == 0
    got = [results(tmp_path / "out", w) for w in weeks]
    pay = [{m["name"]: (m["commission"]["total"], m["clawback"], m["adjustment"]) for m in r["managers"]} for r in got]
    assert pay[0]["张伟"] == ("3500.00", "0.00", "150.00")
    assert pay[1]["张伟"] == ("0.00", "-2000.00", "-50.00")
    assert pay[2]["张伟"] == ("0.00", "0.00", "0.00")
    assert [(len(r["clawbacks"]), len(r["adjustments"]), len(r["rulings"])) for r in got] == [(0, 1, 0), (1, 1, 1),
                                                                                              (0, 0, 0)]
    assert got[1]["clawbacks"][0]["deal"] == {"source": {"file": "成交.xlsx", "sheet": "Sheet1", "row": 2},
                                              "deal_at": "2026-11-25T00:00:00", "room": "3-1201"}
    assert got[1]["rulings"][0]["previous_owner"] == "张伟"
    assert all(r["rejections"] == [] for r in got)
    assert got[2]["stats"]["duplicates_dropped"] >= 4 + 3  # corrections, deals, visit, lead of W48 again


def test_a_rejected_cancellation_never_cancels_a_deal_that_arrives_later(tmp_path: Path) -> None:
    """W48: a cancellation finds no deal (NO_SUCH_DEAL, reported in W48). W49: the deal it meant
    arrives late, dated before it: the deal is paid, late, and the old row cancels nothing
    (its outcome was fixed when it landed), from a snapshot as in a full replay; a new
    cancellation row in W50 claws it back."""
    def drop(k: int, deals: list[list[Any]], cancellations: list[list[Any]]) -> None:
        inbox = tmp_path / "in"
        roster(inbox / "名单.xlsx", PEOPLE)
        workbook(inbox / f"号码-{k}.xlsx", {"Sheet1": (LEADS[:3], [
            ["张伟", 13800138000, W48 + timedelta(hours=9)], ["王强", 13800138100 + k, W48 + timedelta(weeks=k)]])})
        workbook(inbox / "成交.xlsx", {"Sheet1": (DEALS, deals)})
        workbook(inbox / "退房.xlsx", {"Sheet1": (CANCELLATIONS, cancellations)})

    deal = [13800138000, W48 + timedelta(days=2), "李娜", 4000, "3-1201"]
    first = [13800138000, W48 + timedelta(days=3), None]
    drop(0, [], [first])
    assert _run(tmp_path, 0).exit_code == 0
    drop(1, [deal], [first])
    assert _run(tmp_path, 1).exit_code == 0
    drop(2, [deal], [first, [13800138000, W48 + timedelta(weeks=2, days=1), None]])
    assert _run(tmp_path, 2).exit_code == 0
    w48, w49, w50 = (results(tmp_path / "out", w) for w in ("2026-W48", "2026-W49", "2026-W50"))
    assert [r["reason"] for r in w48["rejections"]] == ["NO_SUCH_DEAL"]
    assert [(d["manager_commission"], d["late"]) for d in w49["deals"]] == [("200.00", True)]
    assert (w49["clawbacks"], w49["rejections"]) == ([], [])
    assert [(c["manager"], c["amount"]) for c in w50["clawbacks"]] == [("张伟", "-200.00")]
    assert w50["rejections"] == []


def test_reports_show_each_correction(tmp_path: Path) -> None:
    """summary.xlsx has sheets of clawbacks (with the cancelled deal's file, sheet, row and week),
    adjustments (approver, reason) and rulings; the manager's statement page, workbook and email
    explain each of their corrections in one plain sentence, the phone masked in the page and
    the email."""
    cancellations = [[13800138000, W48 + timedelta(days=8, hours=10), "3-1201"]]
    adjustments = [["张伟", "-50", W48 + timedelta(days=9), "刘总", "重复计数"]]
    rulings = [[13800138000, "王强", W48 + timedelta(days=10), "刘总"]]
    for k in range(2):
        _week(tmp_path / "in", k, cancellations if k else [], adjustments if k else [], rulings if k else [])
        assert _run(tmp_path, k).exit_code == 0
    folder = tmp_path / "out" / "2026-W49"
    book = openpyxl.load_workbook(folder / "summary.xlsx")
    claws = list(book["退房扣回"].iter_rows(values_only=True))
    assert claws[1][1:] == ("13800138000", "3-1201", "张伟", -2000, datetime(2026, 11, 25), "2026-W48", "成交.xlsx",
                            "Sheet1", 2, None, "退房.xlsx", "Sheet1", 2)
    assert list(book["调整"].iter_rows(values_only=True))[1][:5] == ("张伟", -50, datetime(2026, 12, 2), "刘总",
                                                                    "重复计数")
    assert list(book["归属裁定"].iter_rows(values_only=True))[1][1:5] == ("13800138000", "王强", "张伟", "刘总")
    clawed = "2026-12-01 10:00 客户 138****8000（房号 3-1201） 退房，扣回 2026-W48 成交（2026-11-25）的经理佣金 2,000.00 元。"
    adjusted = "刘总 于 2026-12-02 批准调整 -50.00 元，原因：重复计数。"
    ruled = "刘总 于 2026-12-03 裁定客户 138****8000 改归 王强，自此不再归属您。"
    page = (folder / "managers" / "张伟.html").read_text(encoding="utf-8")
    assert all(line in page for line in (clawed, adjusted, ruled))
    mail = next(folder.glob("outbox/*manager-张伟*.eml")).read_bytes()
    text = email.message_from_bytes(mail, policy=email.policy.default)
    body = text.get_body(("plain",))
    assert body is not None and clawed in body.get_content() and ruled in body.get_content()
    statement = openpyxl.load_workbook(folder / "managers" / "张伟.xlsx")
    assert [r[0] for r in statement["本周更正"].iter_rows(values_only=True)][1:] == [
        clawed.replace("138****8000", "13800138000"), adjusted, ruled.replace("138****8000", "13800138000")]
    assert "王强: 刘总 于 2026-12-03 裁定客户 138****8000 归属您（原归属 张伟）。" in \
        (folder / "summary.html").read_text(encoding="utf-8")


def _paid(phone: str, room: str | None, manager: str | None, paid: str) -> dict[str, Any]:
    """A deal of a closed week's results.json, as far as what it paid is concerned."""
    return {"phone": phone, "deal_at": "2026-11-25T00:00:00", "room": room, "salesperson": "李娜",
            "salesperson_commission": "3000.00", "manager": manager, "manager_commission": paid}


def test_what_a_closed_week_paid_is_found_by_the_deal_and_survives_the_migration(tmp_path: Path,
                                                                              store: Any) -> None:
    """SPEC §7.3: a cancellation claws back what the closed week paid for the deal, found by the
    deal's identity (phone, deal_at, room, salesperson, commission) as weeks close; where two
    closed weeks paid the same deal, the newer one's. A state of schema 15, which kept no such
    record, gets it from its closed weeks' results when migrated, on either engine."""
    from pipeline.postgres import OFFICES
    from pipeline.state import MIGRATIONS, PAID_DEALS, open_state

    folder = tmp_path / "state"
    state = open_state(folder, store.url, store.office)
    state.begin()
    state.close_week("2026-W48", "r1", {"managers": [], "deals": [_paid("13800000001", "A-1", "张伟", "1500.00"),
                                                                   _paid("13800000002", None, None, "0.00")]},
                     b"", None, 1)
    state.close_week("2026-W49", "r2", {"managers": [], "deals": [_paid("13800000001", "A-1", "王强", "200.00")]},
                     b"", None, 2)
    state.commit()
    key = ("13800000001", "2026-11-25T00:00:00", "A-1", "李娜", "3000.00")
    unpaid = ("13800000002", "2026-11-25T00:00:00", "", "李娜", "3000.00")
    expected = {key: ("王强", "200.00"), unpaid: (None, "0.00"),
                ("13800000001", "2026-11-25T00:00:00", "A-2", "李娜", "3000.00"): None}
    assert {k: state.paid_deal(k) for k in expected} == expected
    # back to schema 15: no record of the deals paid
    if store.engine == "sqlite":
        state.close()
        import sqlite3

        db = sqlite3.connect(folder / "pipeline.db")
        db.execute("DROP TABLE paid_deals")
        db.execute(f"PRAGMA user_version = {MIGRATIONS.index(PAID_DEALS)}")
        db.commit()
        db.close()
    else:
        state.begin()
        state.conn.execute("DROP TABLE paid_deals")
        state.conn.raw.execute(f"UPDATE {OFFICES} SET version = %s WHERE office = %s",
                               (MIGRATIONS.index(PAID_DEALS), store.office))
        state.commit()
        state.close()
    state = open_state(folder, store.url, store.office, create=False)
    try:
        assert {k: state.paid_deal(k) for k in expected} == expected
    finally:
        state.close()
