"""SPEC §3, §4, §5.1 and §7 read literally, four Mondays of cron on one office: the admin drops the
same cumulative workbooks again every week (with rows added, some of them dated in closed weeks),
the real command line runs once per Monday with `--now`, and every field of each week's
results.json is compared with figures worked out by hand from the SPEC text (below, per week).

Configuration: targets 2 leads / 1 visit / 1 unit, the default fines (1, 10, 100) and share
(50 %), a protection window of 2 days, and from Monday 2026-12-07 (W50) one of 1 day and a lead
fee of 300.00. The first run computes W48, so W47 is history."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    ADJUSTMENTS,
    CANCELLATIONS,
    DEALS,
    LEADS,
    REGISTRATIONS,
    RULINGS,
    UNITS,
    VISITS,
    results,
    roster,
    run_cli,
    workbook,
)

CONFIG = """\
[targets]
leads = 2
visits = 1
units = 1

[ownership]
protection_days = 2

[[changes]]
from = "2026-12-07"
ownership = { protection_days = 1 }
commission = { lead_fee = "300.00" }
"""

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王强", "大客户经理", "一组", "wq@example.com", None, datetime(2026, 11, 25)],  # leaves on W48's Wednesday
    ["赵敏", "大客户经理", "二组", None, None, None],
    ["李娜", "销售员", "一组", None, None, None],
    ["孙丽", "销售员", "二组", None, None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]


def P(n: int) -> int:
    return 13800000000 + n


def p(n: int) -> str:
    return str(P(n))


def t(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second)


# Each workbook's rows by the run (1–4) that first drops them; a run drops every row of runs up
# to its own, in this order, so row numbers stay put (header row 1, first row 2).
LEAD_ROWS = [
    (1, ["张伟", P(1), t(11, 16, 9)]),            # r2  history (W47)
    (1, ["张伟", P(2), t(11, 23, 9)]),            # r3  ALREADY_REGISTERED (the history ruling gave P2 to 赵敏)
    (1, ["张伟", P(4), t(11, 23, 9)]),            # r4  accepted, lapses 11-25 09:00:00
    (1, ["张伟", P(5), t(11, 23, 10)]),           # r5  accepted, lapses 11-25 10:00:00
    (1, ["王强", P(6), t(11, 23, 9)]),            # r6  accepted, lapses 11-25 09:00:00 (no visit)
    (1, ["张伟", P(4), t(11, 25, 9)]),            # r7  at the lapse moment: still his, DUPLICATE_OWN
    (1, ["张伟", P(4), t(11, 25, 9, 0, 1)]),      # r8  one second later: his again, a new lead
    (1, ["张伟", "12345", t(11, 24, 9)]),         # r9  INVALID_PHONE
    (2, ["张伟", P(10), t(12, 1, 9)]),            # r10
    (2, ["张伟", P(11), t(12, 6, 23)]),           # r11 2 days in force then: lapses 12-08 23:00
    (2, ["赵敏", P(13), t(11, 30, 9)]),           # r12 lapses 12-02 09:00
    (3, ["张伟", P(15), t(12, 3, 9)]),            # r13 dated in closed W49: LATE
    (3, ["张伟", P(16), t(12, 7, 0)]),            # r14 1 day in force: lapses 12-08 00:00:00
    (3, ["赵敏", P(16), t(12, 8, 0, 0, 1)]),      # r15 after 张伟's lapse: accepted
    (3, ["赵敏", P(11), t(12, 8, 12)]),           # r16 张伟's P11 lapses only at 23:00: ALREADY_REGISTERED
    (4, ["赵敏", P(17), t(12, 14, 9)]),           # r17
]
VISIT_ROWS = [
    (1, ["张伟", P(1), t(11, 17, 10), "李娜"]),        # r2 history
    (1, ["张伟", P(5), t(11, 25, 10), "李娜"]),        # r3 exactly at the lapse moment: counts
    (1, ["王强", P(6), t(11, 25, 12), "李娜"]),        # r4 PROTECTION_EXPIRED
    (2, ["张伟", P(10), t(12, 2, 10), "李娜"]),        # r5
    (2, ["赵敏", P(13), t(12, 4, 10), "孙丽"]),        # r6 自然到访 registered P13 after the lapse: REGISTERED_BY_OTHER
    (3, ["赵敏", P(16), t(12, 8, 15), "孙丽"]),        # r7 within her window: counts, P16 never lapses
]
UNIT_ROWS = [
    (1, ["张伟", "星光科技", t(11, 24, 10), "a.jpg"]),   # r2
    (2, ["张伟", "星光 科技", t(12, 1, 10), "b.jpg"]),   # r3 DUPLICATE_UNIT
    (2, ["张伟", "月亮公司", t(12, 2, 10), None]),       # r4 NO_PHOTO
    (3, ["赵敏", "太阳集团", t(12, 9, 10), "c.jpg"]),    # r5
]
REGISTRATION_ROWS = [
    (1, [P(8), t(11, 23, 8), "王强"]),       # r2
    (2, [P(12), t(11, 30, 8), "张伟"]),      # r3
    (2, [P(13), t(12, 3, 9), "自然到访"]),   # r4 after 赵敏's lapse
]
DEAL_ROWS = [
    (1, [P(1), t(11, 20), "李娜", 4000, "A栋 1201"]),  # r2 history: never paid
    (1, [P(5), t(11, 26), "李娜", 3000, "B-302"]),     # r3 visit deal of 张伟: 1500.00
    (1, [P(7), t(11, 27), "李娜", 5000, None]),        # r4 owner 渠道A: OWNER_NOT_MANAGER
    (2, [P(10), t(12, 5), "李娜", 4000, "C-101"]),     # r5 visit deal of 张伟: 2000.00
    (2, [P(13), t(12, 5), "孙丽", 6000, "E-9"]),       # r6 owner 自然到访: OWNER_NOT_MANAGER
    (3, [P(12), t(12, 2), "李娜", 2500, "D-1"]),       # r7 late (W49): lead fee in force on 12-02, 200.00
    (3, [P(6), t(12, 8), "李娜", 1000, "F-1"]),        # r8 ruled 张伟's (never lapses): lead fee 300.00
    (3, [P(11), t(12, 10), "李娜", 2000, "G-1"]),      # r9 PROTECTION_EXPIRED
    (4, [P(16), t(12, 16), "孙丽", 3000, "H-1"]),      # r10 visit deal of 赵敏: 1500.00
]
RULING_ROWS = [
    (1, [P(2), "赵敏", t(11, 18, 10), "刘总"]),     # r2 history: takes effect, never reported
    (1, [P(3), "张伟", t(11, 19, 10), "李娜"]),     # r3 history NOT_APPROVED: never reported
    (1, [P(6), "张伟", t(11, 26, 10), "刘总"]),     # r4 王强's P6 lapsed: previous_owner null
    (1, [P(7), "渠道A", t(11, 26, 11), "刘总"]),    # r5 never owned: previous_owner null
    (1, [P(8), "张伟", t(11, 27, 9), "刘总"]),      # r6 previous_owner 王强 (registrations)
    (1, [P(9), "张伟", t(11, 27, 10), "李娜"]),     # r7 NOT_APPROVED
    (3, [P(5), "王强", t(11, 25, 8), "刘总"]),      # r8 late (W48): lands in W50, previous_owner 张伟
    (3, [P(14), "张伟", t(12, 1, 10), "李娜"]),     # r9 late NOT_APPROVED: reported in W50
    (4, [P(11), "赵敏", t(12, 16, 10), "刘总"]),    # r10 张伟's P11 lapsed: previous_owner null
]
CANCELLATION_ROWS = [
    (1, [P(1), t(11, 24, 10), "a栋1201"]),   # r2 the history deal "A栋 1201": 0.00, manager null
    (2, [P(12), t(12, 3, 10), None]),        # r3 NO_SUCH_DEAL (the deal arrives in run 3, dated before it)
    (3, [P(10), t(12, 6, 10), "c-101"]),     # r4 late (W49): −2000.00 from 张伟
    (3, [P(5), t(12, 8, 10), None]),         # r5 −1500.00 from 张伟, as W48 paid (despite the late ruling)
    (4, [P(10), t(12, 15, 10), None]),       # r6 ALREADY_CANCELLED
]
ADJUSTMENT_ROWS = [
    (1, ["张伟", "100", t(11, 20, 10), "刘总", "历史"]),       # r2 history: never paid
    (1, ["张伟", "50", t(11, 28, 10), "张伟", "自批"]),        # r3 NOT_APPROVED
    (2, ["王强", "80.50", t(12, 2, 10), "刘总", "离职补发"]),  # r4 a leaver's
    (3, ["张伟", "-30", t(12, 4, 10), "刘总", "重复计数"]),    # r5 late (W49)
    (3, ["王强", 0, t(12, 9, 10), "刘总", "核对无误"]),        # r6 0.00 still lists him
]


def _drop(inbox: Path, run: int) -> None:
    def upto(rows: list[tuple[int, list[Any]]]) -> list[list[Any]]:
        return [row for first, row in rows if first <= run]

    roster(inbox / "名单.xlsx", PEOPLE)
    for name, header, rows in [
        ("号码.xlsx", LEADS[:3], LEAD_ROWS), ("到访.xlsx", VISITS, VISIT_ROWS), ("单位.xlsx", UNITS, UNIT_ROWS),
        ("登记.xlsx", REGISTRATIONS[:3], REGISTRATION_ROWS), ("成交.xlsx", DEALS, DEAL_ROWS),
        ("裁定.xlsx", RULINGS, RULING_ROWS), ("退房.xlsx", CANCELLATIONS, CANCELLATION_ROWS),
        ("调整.xlsx", ADJUSTMENTS, ADJUSTMENT_ROWS),
    ]:
        workbook(inbox / name, {"Sheet1": (header, upto(rows))})


WEEKS = ["2026-W48", "2026-W49", "2026-W50", "2026-W51"]
MONDAYS = ["2026-11-30T08:00:00", "2026-12-07T08:00:00", "2026-12-14T08:00:00", "2026-12-21T08:00:00"]


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("office")
    (root / "config.toml").write_text(CONFIG, encoding="utf-8")
    for run, now in enumerate(MONDAYS, start=1):
        _drop(root / "in", run)
        done = run_cli("run", "--inbox", str(root / "in"), "--out", str(root / "out"), "--state",
                       str(root / "state"), "--config", str(root / "config.toml"), "--now", now, cwd=root)
        assert done.returncode == 0, done.stderr
    return root


def manager(name: str, team: str, active_days: int, targets: tuple[int, int, int], achieved: tuple[int, int, int],
            commission: tuple[str, str] = ("0.00", "0.00"), clawback: str = "0.00", adjustment: str = "0.00",
            streak: int = 0, dismissal_review: bool = False) -> dict[str, Any]:
    """A `managers` entry as SPEC §4.5/§5.1/§7.7 define it, from its inputs (fines at 1/10/100)."""
    from decimal import Decimal

    keys = ("leads", "visits", "units")
    short = tuple(max(0, a - b) for a, b in zip(targets, achieved, strict=True))
    rates = (Decimal(1), Decimal(10), Decimal(100))
    fines = [s * r for s, r in zip(short, rates, strict=True)]
    visit, lead = (Decimal(c) for c in commission)
    net = visit + lead + Decimal(clawback) + Decimal(adjustment) - sum(fines, Decimal(0))
    return {
        "name": name, "team": team, "active_days": active_days,
        "targets": dict(zip(keys, targets, strict=True)), "achieved": dict(zip(keys, achieved, strict=True)),
        "shortfall": dict(zip(keys, short, strict=True)),
        "fines": {**{k: f"{f:.2f}" for k, f in zip(keys, fines, strict=True)}, "total": f"{sum(fines, Decimal(0)):.2f}"},
        "commission": {"visit": f"{visit:.2f}", "lead": f"{lead:.2f}", "total": f"{visit + lead:.2f}"},
        "clawback": clawback, "adjustment": adjustment, "net": f"{net:.2f}",
        "met": not any(short), "streak": streak, "dismissal_review": dismissal_review,
    }


def unassessed(name: str, team: str, adjustment: str) -> dict[str, Any]:
    """§5.1: a manager listed only for a correction: zeros, fines "0.00", met true, streak 0."""
    return manager(name, team, 0, (0, 0, 0), (0, 0, 0), adjustment=adjustment)


def src(file: str, row: int) -> dict[str, Any]:
    return {"file": file, "sheet": "Sheet1", "row": row}


def deal(row: int, phone: int, at: str, room: str | None, salesperson: str, commission: str, who: str | None,
         kind: str | None, paid: str, net: str, reason: str | None, late: bool = False) -> dict[str, Any]:
    return {"source": src("成交.xlsx", row), "phone": p(phone), "deal_at": at, "room": room,
            "salesperson": salesperson, "salesperson_commission": commission, "manager": who, "kind": kind,
            "manager_commission": paid, "salesperson_net": net, "reason": reason, "late": late}


def rejection(kind: str, file: str, row: int, reason: str, who: str | None, phone: str | None) -> dict[str, Any]:
    return {"kind": kind, "source": src(file, row), "reason": reason, "manager": who, "phone": phone}


def _rejections(got: dict[str, Any]) -> list[dict[str, Any]]:
    """Rejections have no meaningful order (§5.1); each carries a message in words."""
    assert all(isinstance(r["message"], str) and r["message"] for r in got["rejections"])
    rows = [{k: v for k, v in r.items() if k != "message"} for r in got["rejections"]]
    return sorted(rows, key=lambda r: (r["source"]["file"], r["source"]["row"]))


def _expected_rejections(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["source"]["file"], r["source"]["row"]))


def test_w48_the_first_week_history_protection_rulings_and_a_history_deal_cancelled(office: Path) -> None:
    """W47 is history: 张伟's P1 lead and visit, its deal (never paid), a ruling giving P2 to 赵敏
    (so 张伟's P2 lead is ALREADY_REGISTERED), a ruling by a salesperson and an adjustment, neither
    reported nor paid. W48: P4 still 张伟's at its lapse second (DUPLICATE_OWN), his again one second
    later (a third lead); P5's visit exactly at the lapse moment counts (1500.00 on its deal); 王强's
    P6 lapses, his visit is PROTECTION_EXPIRED and a ruling gives P6 to 张伟 with previous_owner null;
    a channel's P7 (previous null) deal is OWNER_NOT_MANAGER; P8 ruled from 王强; the cancellation
    of the history deal by room "a栋1201" (identity of "A栋 1201") claws back 0.00 from nobody."""
    got = results(office / "out", "2026-W48")
    assert (got["schema"], got["week"], got["start"], got["end"]) == (2, "2026-W48", "2026-11-23", "2026-11-29")
    assert got["managers"] == [
        manager("张伟", "一组", 7, (2, 1, 1), (3, 1, 1), commission=("1500.00", "0.00")),
        manager("王强", "一组", 3, (1, 0, 0), (1, 0, 0)),
        manager("赵敏", "二组", 7, (2, 1, 1), (0, 0, 0), streak=1),
    ]
    assert [m["net"] for m in got["managers"]] == ["1500.00", "0.00", "-112.00"]
    assert got["deals"] == [
        deal(3, 5, "2026-11-26T00:00:00", "B-302", "李娜", "3000.00", "张伟", "visit", "1500.00", "1500.00", None),
        deal(4, 7, "2026-11-27T00:00:00", None, "李娜", "5000.00", None, None, "0.00", "5000.00",
             "OWNER_NOT_MANAGER"),
    ]
    assert got["rulings"] == [
        {"source": src("裁定.xlsx", 4), "phone": p(6), "owner": "张伟", "previous_owner": None,
         "ruled_at": "2026-11-26T10:00:00", "approved_by": "刘总", "late": False},
        {"source": src("裁定.xlsx", 5), "phone": p(7), "owner": "渠道A", "previous_owner": None,
         "ruled_at": "2026-11-26T11:00:00", "approved_by": "刘总", "late": False},
        {"source": src("裁定.xlsx", 6), "phone": p(8), "owner": "张伟", "previous_owner": "王强",
         "ruled_at": "2026-11-27T09:00:00", "approved_by": "刘总", "late": False},
    ]
    assert got["clawbacks"] == [
        {"source": src("退房.xlsx", 2), "phone": p(1), "room": "a栋1201", "cancelled_at": "2026-11-24T10:00:00",
         "deal": {"source": src("成交.xlsx", 2), "deal_at": "2026-11-20T00:00:00", "room": "A栋 1201"},
         "manager": None, "amount": "0.00", "late": False},
    ]
    assert got["adjustments"] == []
    assert _rejections(got) == _expected_rejections([
        rejection("leads", "号码.xlsx", 3, "ALREADY_REGISTERED", "张伟", p(2)),
        rejection("leads", "号码.xlsx", 7, "DUPLICATE_OWN", "张伟", p(4)),
        rejection("leads", "号码.xlsx", 9, "INVALID_PHONE", "张伟", "12345"),
        rejection("visits", "到访.xlsx", 4, "PROTECTION_EXPIRED", "王强", p(6)),
        rejection("rulings", "裁定.xlsx", 7, "NOT_APPROVED", None, p(9)),
        rejection("adjustments", "调整.xlsx", 3, "NOT_APPROVED", "张伟", None),
    ])
    # 31 rows read (the roster's 6 included), the invalid phone not stored.
    assert got["stats"] == {"rows_read": 31, "rows_stored": 30, "duplicates_dropped": 0, "rejected": 6}


def test_w49_a_leaver_adjusted_a_registration_after_a_lapse_a_cancellation_without_its_deal(office: Path) -> None:
    """王强 left in W48: his 80.50 lists him unassessed. 赵敏's P13 lapses, 自然到访 registers it
    afterwards, so her visit is REGISTERED_BY_OTHER (not PROTECTION_EXPIRED) and its deal
    OWNER_NOT_MANAGER. The unit "星光 科技" is 星光科技 again; a unit without a photo. P12's
    cancellation finds no deal. Streaks: 张伟 1 (W48 met), 赵敏 2."""
    got = results(office / "out", "2026-W49")
    assert (got["schema"], got["week"], got["start"], got["end"]) == (2, "2026-W49", "2026-11-30", "2026-12-06")
    assert got["managers"] == [
        manager("张伟", "一组", 7, (2, 1, 1), (2, 1, 0), commission=("2000.00", "0.00"), streak=1),
        unassessed("王强", "一组", "80.50"),
        manager("赵敏", "二组", 7, (2, 1, 1), (1, 0, 0), streak=2),
    ]
    assert [m["net"] for m in got["managers"]] == ["1900.00", "80.50", "-111.00"]
    assert got["deals"] == [
        deal(5, 10, "2026-12-05T00:00:00", "C-101", "李娜", "4000.00", "张伟", "visit", "2000.00", "2000.00", None),
        deal(6, 13, "2026-12-05T00:00:00", "E-9", "孙丽", "6000.00", None, None, "0.00", "6000.00",
             "OWNER_NOT_MANAGER"),
    ]
    assert (got["rulings"], got["clawbacks"]) == ([], [])
    assert got["adjustments"] == [
        {"source": src("调整.xlsx", 4), "manager": "王强", "amount": "80.50", "adjusted_at": "2026-12-02T10:00:00",
         "approved_by": "刘总", "reason": "离职补发", "late": False},
    ]
    assert _rejections(got) == _expected_rejections([
        rejection("units", "单位.xlsx", 3, "DUPLICATE_UNIT", "张伟", None),
        rejection("units", "单位.xlsx", 4, "NO_PHOTO", "张伟", None),
        rejection("visits", "到访.xlsx", 6, "REGISTERED_BY_OTHER", "赵敏", p(13)),
        rejection("cancellations", "退房.xlsx", 3, "NO_SUCH_DEAL", None, p(12)),
    ])
    # 44 read: run 1's 25 rows again (the invalid phone too) are duplicates; the roster's 6 and 13 new stored.
    assert got["stats"] == {"rows_read": 44, "rows_stored": 19, "duplicates_dropped": 25, "rejected": 4}


def test_w50_late_corrections_land_in_the_first_week_computed(office: Path) -> None:
    """Dropped on 12-14 with rows dated in closed weeks: the ruling of P5 dated 11-25 08:00 lands
    here, late, replacing 张伟 (his window still open then); P5's cancellation claws back the
    1500.00 W48 paid 张伟, not what the ruling would decide today. The late cancellation of
    "c-101" takes the W49 deal of "C-101" (−2000.00, late); the late deal of P12 is paid at its own
    date's fee (200.00) and the W49 cancellation that found no deal stays rejected, unreported
    again; a ruled P6 never lapses (300.00 from 12-07); P11 lapsed at 12-08 23:00 by the 2 days in
    force when it was submitted (赵敏's lead at 12:00 is ALREADY_REGISTERED), its deal
    PROTECTION_EXPIRED; P16 by the 1 day in force from 12-07 is 赵敏's from 12-08 00:00:01. A late
    lead is LATE, a late ruling by a salesperson NOT_APPROVED, both reported here; 王强's 0.00
    adjustment lists him."""
    got = results(office / "out", "2026-W50")
    assert (got["schema"], got["week"], got["start"], got["end"]) == (2, "2026-W50", "2026-12-07", "2026-12-13")
    assert got["managers"] == [
        manager("张伟", "一组", 7, (2, 1, 1), (1, 0, 0), commission=("0.00", "500.00"), clawback="-3500.00",
                adjustment="-30.00", streak=2),
        unassessed("王强", "一组", "0.00"),
        manager("赵敏", "二组", 7, (2, 1, 1), (1, 1, 1), streak=3),
    ]
    assert [m["net"] for m in got["managers"]] == ["-3141.00", "0.00", "-1.00"]
    assert got["deals"] == [
        deal(7, 12, "2026-12-02T00:00:00", "D-1", "李娜", "2500.00", "张伟", "lead", "200.00", "2500.00", None,
             late=True),
        deal(8, 6, "2026-12-08T00:00:00", "F-1", "李娜", "1000.00", "张伟", "lead", "300.00", "1000.00", None),
        deal(9, 11, "2026-12-10T00:00:00", "G-1", "李娜", "2000.00", None, None, "0.00", "2000.00",
             "PROTECTION_EXPIRED"),
    ]
    assert got["rulings"] == [
        {"source": src("裁定.xlsx", 8), "phone": p(5), "owner": "王强", "previous_owner": "张伟",
         "ruled_at": "2026-11-25T08:00:00", "approved_by": "刘总", "late": True},
    ]
    assert got["clawbacks"] == [
        {"source": src("退房.xlsx", 4), "phone": p(10), "room": "c-101", "cancelled_at": "2026-12-06T10:00:00",
         "deal": {"source": src("成交.xlsx", 5), "deal_at": "2026-12-05T00:00:00", "room": "C-101"},
         "manager": "张伟", "amount": "-2000.00", "late": True},
        {"source": src("退房.xlsx", 5), "phone": p(5), "room": None, "cancelled_at": "2026-12-08T10:00:00",
         "deal": {"source": src("成交.xlsx", 3), "deal_at": "2026-11-26T00:00:00", "room": "B-302"},
         "manager": "张伟", "amount": "-1500.00", "late": False},
    ]
    assert got["adjustments"] == [
        {"source": src("调整.xlsx", 5), "manager": "张伟", "amount": "-30.00", "adjusted_at": "2026-12-04T10:00:00",
         "approved_by": "刘总", "reason": "重复计数", "late": True},
        {"source": src("调整.xlsx", 6), "manager": "王强", "amount": "0.00", "adjusted_at": "2026-12-09T10:00:00",
         "approved_by": "刘总", "reason": "核对无误", "late": False},
    ]
    assert _rejections(got) == _expected_rejections([
        rejection("leads", "号码.xlsx", 13, "LATE", "张伟", p(15)),
        rejection("leads", "号码.xlsx", 16, "ALREADY_REGISTERED", "赵敏", p(11)),
        rejection("rulings", "裁定.xlsx", 9, "NOT_APPROVED", None, p(14)),
    ])
    assert got["stats"] == {"rows_read": 59, "rows_stored": 20, "duplicates_dropped": 38, "rejected": 3}


def test_w51_a_second_cancellation_and_the_fourth_failed_week(office: Path) -> None:
    """P10's only deal is cancelled already (ALREADY_CANCELLED); 赵敏's P16, visited within her
    window, pays her half of 3000; her fourth failed week in a row flags her; the ruling of P11,
    lapsed, replaces nobody; 王强 has nothing this week and is not listed."""
    got = results(office / "out", "2026-W51")
    assert got["managers"] == [
        manager("张伟", "一组", 7, (2, 1, 1), (0, 0, 0), streak=3),
        manager("赵敏", "二组", 7, (2, 1, 1), (1, 0, 0), commission=("1500.00", "0.00"), streak=4,
                dismissal_review=True),
    ]
    assert [m["net"] for m in got["managers"]] == ["-112.00", "1389.00"]
    assert got["deals"] == [
        deal(10, 16, "2026-12-16T00:00:00", "H-1", "孙丽", "3000.00", "赵敏", "visit", "1500.00", "1500.00", None),
    ]
    assert got["rulings"] == [
        {"source": src("裁定.xlsx", 10), "phone": p(11), "owner": "赵敏", "previous_owner": None,
         "ruled_at": "2026-12-16T10:00:00", "approved_by": "刘总", "late": False},
    ]
    assert (got["clawbacks"], got["adjustments"]) == ([], [])
    assert _rejections(got) == [rejection("cancellations", "退房.xlsx", 6, "ALREADY_CANCELLED", None, p(10))]
    assert got["stats"] == {"rows_read": 63, "rows_stored": 10, "duplicates_dropped": 53, "rejected": 1}



# A missed Monday: run 1 computes W48; run 2, two weeks later, catches up W49 and W50 at once.
CATCHUP_CONFIG = """\
[targets]
leads = 1
visits = 0
units = 0
"""
CATCHUP_PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王强", "大客户经理", "一组", None, None, datetime(2026, 11, 27)],  # leaves on W48's Friday
    ["李娜", "销售员", "一组", None, None, None],
    ["刘总", "负责人", "一组", None, None, None],
]
CATCHUP_LEADS = [
    (1, ["张伟", P(1), t(11, 23, 9)]),     # r2
    (1, ["王强", P(2), t(11, 23, 9)]),     # r3
    (2, ["张伟", P(3), t(11, 18, 9)]),     # r4 W47, first read in run 2: history, not LATE
    (2, ["张伟", P(4), t(11, 24, 9)]),     # r5 W48 closed: LATE, reported in the run's last week (W50)
    (2, ["张伟", P(5), t(12, 1, 9)]),      # r6 W49
    (2, ["张伟", P(6), t(12, 8, 9)]),      # r7 W50
    (2, ["张伟", P(3), t(12, 8, 10)]),     # r8 his by the history lead: DUPLICATE_OWN
    (2, ["张伟", "abc", t(12, 2, 9)]),     # r9 INVALID_PHONE, reported in W50
]
CATCHUP_DEALS = [
    (1, [P(2), t(11, 24), "李娜", 400, "R1"]),    # r2 王强's lead: 200.00 in W48
    (1, [P(1), t(11, 25), "李娜", 1000, "R1"]),   # r3 张伟 200.00 in W48
    (1, [P(1), t(11, 26), "李娜", 2000, "R2"]),   # r4 张伟 200.00 in W48
    (2, [P(3), t(11, 19), "李娜", 3000, "X"]),    # r5 history deal: never paid
    (2, [P(1), t(11, 27), "李娜", 1500, "R3"]),   # r6 late: paid in W49, decided at its date (the late ruling: 王强)
    (2, [P(5), t(12, 2), "李娜", 800, None]),     # r7 W49
    (2, [P(6), t(12, 9), "李娜", 600, None]),     # r8 W50
    (2, [P(8), t(12, 10), "李娜", 900, None]),    # r9 W50: 张伟's by the history ruling
]
CATCHUP_RULINGS = [
    (2, [P(8), "张伟", t(11, 21, 10), "刘总"]),   # r2 history: effect, never reported
    (2, [P(1), "王强", t(11, 26, 12), "刘总"]),   # r3 late (W48): lands in W49, replacing 张伟
]
CATCHUP_CANCELLATIONS = [
    (2, [P(1), t(12, 1, 10), None]),      # r2 P1's latest deal not cancelled: r6, paid to 王强 in W49
    (2, [P(1), t(12, 2, 10), None]),      # r3 then r4, paid to 张伟 in W48
    (2, [P(1), t(11, 28, 10), "r1"]),     # r4 late (W48): room R1 of P1, r3, paid to 张伟 in W48
    (2, [P(1), t(12, 9, 10), None]),      # r5 every deal of P1 cancelled: ALREADY_CANCELLED in W50
    (2, [P(3), t(11, 20, 10), None]),     # r6 history: never reported
    (2, [P(2), t(12, 3, 10), "R1"]),      # r7 王强's W48 deal: clawed back from the leaver
    (2, [P(7), t(11, 25, 10), None]),     # r8 late NO_SUCH_DEAL: reported in W49, where it lands
]
CATCHUP_ADJUSTMENTS = [
    (2, ["张伟", "20", t(11, 20, 10), "刘总", "历史"]),   # r2 history: never paid
    (2, ["张伟", "-10", t(11, 26, 10), "刘总", None]),    # r3 late: W49, no reason
    (2, ["张伟", "5", t(11, 26, 10), "李娜", "自批"]),    # r4 late NOT_APPROVED: reported in W49
    (2, ["李娜", "5", t(12, 3, 10), "刘总", "误填"]),     # r5 UNKNOWN_MANAGER
    (2, ["张伟", "7.5", t(12, 10, 10), "刘总", "补发"]),  # r6 W50
]


@pytest.fixture(scope="module")
def catchup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catchup")
    (root / "config.toml").write_text(CATCHUP_CONFIG, encoding="utf-8")
    for run, now in [(1, "2026-11-30T08:00:00"), (2, "2026-12-14T08:00:00")]:
        inbox = root / "in"
        roster(inbox / "名单.xlsx", CATCHUP_PEOPLE)
        for name, header, rows in [
            ("号码.xlsx", LEADS[:3], CATCHUP_LEADS), ("成交.xlsx", DEALS, CATCHUP_DEALS),
            ("裁定.xlsx", RULINGS, CATCHUP_RULINGS), ("退房.xlsx", CANCELLATIONS, CATCHUP_CANCELLATIONS),
            ("调整.xlsx", ADJUSTMENTS, CATCHUP_ADJUSTMENTS),
        ]:
            kept = [row for first, row in rows if first <= run]
            if kept:
                workbook(inbox / name, {"Sheet1": (header, kept)})
        done = run_cli("run", "--inbox", str(inbox), "--out", str(root / "out"), "--state", str(root / "state"),
                       "--config", str(root / "config.toml"), "--now", now, cwd=root)
        assert done.returncode == 0, done.stderr
    return root


def lead_deal(row: int, phone: int, at: str, room: str | None, commission: str, who: str,
              late: bool = False) -> dict[str, Any]:
    return deal(row, phone, at, room, "李娜", commission, who, "lead", "200.00", commission, None, late=late)


def test_catchup_w48_before_the_corrections(catchup: Path) -> None:
    got = results(catchup / "out", "2026-W48")
    assert got["managers"] == [
        manager("张伟", "一组", 7, (1, 0, 0), (1, 0, 0), commission=("0.00", "400.00")),
        manager("王强", "一组", 5, (1, 0, 0), (1, 0, 0), commission=("0.00", "200.00")),
    ]
    assert [d["source"]["row"] for d in got["deals"]] == [2, 3, 4]
    assert (got["rulings"], got["clawbacks"], got["adjustments"], got["rejections"]) == ([], [], [], [])
    assert got["stats"] == {"rows_read": 9, "rows_stored": 9, "duplicates_dropped": 0, "rejected": 0}


def test_catchup_late_corrections_land_in_the_first_week_the_run_computes(catchup: Path) -> None:
    """W49, the first of the two weeks run 2 computes, takes every correction dated in closed W48
    (late) with their rejections; corrections dated in W47 are history. The late ruling gives P1
    to 王强 from 11-26 12:00, so the late deal of 11-27 is his (a leaver is still paid), and the
    cancellation taking it back claws from him; the late cancellation of room "r1" and the one of
    12-02 take 张伟's W48 deals, from 张伟. 王强, gone, is listed unassessed with his commission and
    clawbacks. Stats and reading rejections belong to the run's last week."""
    got = results(catchup / "out", "2026-W49")
    assert got["managers"] == [
        manager("张伟", "一组", 7, (1, 0, 0), (1, 0, 0), commission=("0.00", "200.00"), clawback="-400.00",
                adjustment="-10.00"),
        manager("王强", "一组", 0, (0, 0, 0), (0, 0, 0), commission=("0.00", "200.00"), clawback="-400.00"),
    ]
    assert [m["net"] for m in got["managers"]] == ["-210.00", "-200.00"]
    assert got["deals"] == [
        lead_deal(6, 1, "2026-11-27T00:00:00", "R3", "1500.00", "王强", late=True),
        lead_deal(7, 5, "2026-12-02T00:00:00", None, "800.00", "张伟"),
    ]
    assert got["rulings"] == [
        {"source": src("裁定.xlsx", 3), "phone": p(1), "owner": "王强", "previous_owner": "张伟",
         "ruled_at": "2026-11-26T12:00:00", "approved_by": "刘总", "late": True},
    ]

    def clawback(row: int, phone: int, at: str, room: str | None, deal_row: int, deal_at: str, deal_room: str,
                 who: str, late: bool = False) -> dict[str, Any]:
        return {"source": src("退房.xlsx", row), "phone": p(phone), "room": room, "cancelled_at": at,
                "deal": {"source": src("成交.xlsx", deal_row), "deal_at": deal_at, "room": deal_room},
                "manager": who, "amount": "-200.00", "late": late}

    assert got["clawbacks"] == [
        clawback(4, 1, "2026-11-28T10:00:00", "r1", 3, "2026-11-25T00:00:00", "R1", "张伟", late=True),
        clawback(2, 1, "2026-12-01T10:00:00", None, 6, "2026-11-27T00:00:00", "R3", "王强"),
        clawback(3, 1, "2026-12-02T10:00:00", None, 4, "2026-11-26T00:00:00", "R2", "张伟"),
        clawback(7, 2, "2026-12-03T10:00:00", "R1", 2, "2026-11-24T00:00:00", "R1", "王强"),
    ]
    assert got["adjustments"] == [
        {"source": src("调整.xlsx", 3), "manager": "张伟", "amount": "-10.00", "adjusted_at": "2026-11-26T10:00:00",
         "approved_by": "刘总", "reason": None, "late": True},
    ]
    assert _rejections(got) == _expected_rejections([
        rejection("adjustments", "调整.xlsx", 4, "NOT_APPROVED", "张伟", None),
        rejection("adjustments", "调整.xlsx", 5, "UNKNOWN_MANAGER", "李娜", None),
        rejection("cancellations", "退房.xlsx", 8, "NO_SUCH_DEAL", None, p(7)),
    ])
    assert got["stats"] == {"rows_read": 0, "rows_stored": 0, "duplicates_dropped": 0, "rejected": 3}


def test_catchup_w50_the_runs_last_week(catchup: Path) -> None:
    """The history lead of P3 makes 张伟's W50 lead of it DUPLICATE_OWN, the history ruling of P8
    pays him its deal; LATE and INVALID_PHONE are reported here, with the whole run's counts."""
    got = results(catchup / "out", "2026-W50")
    assert got["managers"] == [
        manager("张伟", "一组", 7, (1, 0, 0), (1, 0, 0), commission=("0.00", "400.00"), adjustment="7.50"),
    ]
    assert got["managers"][0]["net"] == "407.50"
    assert got["deals"] == [
        lead_deal(8, 6, "2026-12-09T00:00:00", None, "600.00", "张伟"),
        lead_deal(9, 8, "2026-12-10T00:00:00", None, "900.00", "张伟"),
    ]
    assert (got["rulings"], got["clawbacks"]) == ([], [])
    assert got["adjustments"] == [
        {"source": src("调整.xlsx", 6), "manager": "张伟", "amount": "7.50", "adjusted_at": "2026-12-10T10:00:00",
         "approved_by": "刘总", "reason": "补发", "late": False},
    ]
    assert _rejections(got) == _expected_rejections([
        rejection("leads", "号码.xlsx", 5, "LATE", "张伟", p(4)),
        rejection("leads", "号码.xlsx", 8, "DUPLICATE_OWN", "张伟", p(3)),
        rejection("leads", "号码.xlsx", 9, "INVALID_PHONE", "张伟", "abc"),
        rejection("cancellations", "退房.xlsx", 5, "ALREADY_CANCELLED", None, p(1)),
    ])
    assert got["stats"] == {"rows_read": 34, "rows_stored": 27, "duplicates_dropped": 5, "rejected": 4}


def test_protection_window_edges_in_one_week(tmp_path: Path) -> None:
    """§7.5 and §4.2–§4.4 with a 2-day window, W48 alone. P1: a visit rejected (other team's
    salesperson) does not keep 张伟's P1, so after the lapse his visit is PROTECTION_EXPIRED (before
    NOT_FIRST_VISIT); he takes P1 again, that window lapses too and the deal is PROTECTION_EXPIRED.
    P2: 自然到访 registers it exactly at the lapse moment, when it is still 张伟's, so it never
    becomes the owner and the later visit is PROTECTION_EXPIRED. P3: 张伟 visited it, a ruling
    (approved by a leader who has left: not checked) gives it to 王强, whose deal is a lead (the
    visit was not his). P5: 王强's lapsed number ruled to a channel: his visit REGISTERED_BY_OTHER."""
    (tmp_path / "config.toml").write_text(
        "[targets]\nleads = 1\nvisits = 0\nunits = 0\n\n[ownership]\nprotection_days = 2\n", encoding="utf-8")
    inbox = tmp_path / "in"
    roster(inbox / "名单.xlsx", [
        ["张伟", "大客户经理", "一组", None, None, None], ["王强", "大客户经理", "一组", None, None, None],
        ["李娜", "销售员", "一组", None, None, None], ["孙丽", "销售员", "二组", None, None, None],
        ["刘总", "负责人", "一组", None, None, datetime(2026, 11, 1)]])
    workbook(inbox / "号码.xlsx", {"Sheet1": (LEADS[:3], [
        ["张伟", P(1), t(11, 23, 9)], ["张伟", P(2), t(11, 23, 9)], ["张伟", P(3), t(11, 23, 9)],
        ["王强", P(5), t(11, 23, 9)], ["张伟", P(1), t(11, 26, 12)]])})
    workbook(inbox / "到访.xlsx", {"Sheet1": (VISITS, [
        ["张伟", P(1), t(11, 24, 10), "孙丽"], ["张伟", P(3), t(11, 23, 14), "李娜"],
        ["张伟", P(1), t(11, 26, 10), "李娜"], ["张伟", P(2), t(11, 26, 10), "李娜"],
        ["王强", P(5), t(11, 26, 10), "李娜"]])})
    workbook(inbox / "登记.xlsx", {"Sheet1": (REGISTRATIONS[:3], [[P(2), t(11, 25, 9), "自然到访"]])})
    workbook(inbox / "裁定.xlsx", {"Sheet1": (RULINGS, [
        [P(3), "王强", t(11, 24, 10), "刘总"], [P(5), "渠道C", t(11, 26, 8), "刘总"]])})
    workbook(inbox / "成交.xlsx", {"Sheet1": (DEALS, [
        [P(3), t(11, 27), "李娜", 4000, None], [P(1), t(11, 29), "李娜", 1000, None]])})
    done = run_cli("run", "--inbox", str(inbox), "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"),
                   "--config", str(tmp_path / "config.toml"), "--now", "2026-11-30T08:00:00", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = results(tmp_path / "out", "2026-W48")
    assert got["managers"] == [
        manager("张伟", "一组", 7, (1, 0, 0), (4, 1, 0)),
        manager("王强", "一组", 7, (1, 0, 0), (1, 0, 0), commission=("0.00", "200.00")),
    ]
    assert got["deals"] == [
        lead_deal(2, 3, "2026-11-27T00:00:00", None, "4000.00", "王强"),
        deal(3, 1, "2026-11-29T00:00:00", None, "李娜", "1000.00", None, None, "0.00", "1000.00",
             "PROTECTION_EXPIRED"),
    ]
    assert got["rulings"] == [
        {"source": src("裁定.xlsx", 2), "phone": p(3), "owner": "王强", "previous_owner": "张伟",
         "ruled_at": "2026-11-24T10:00:00", "approved_by": "刘总", "late": False},
        {"source": src("裁定.xlsx", 3), "phone": p(5), "owner": "渠道C", "previous_owner": None,
         "ruled_at": "2026-11-26T08:00:00", "approved_by": "刘总", "late": False},
    ]
    assert (got["clawbacks"], got["adjustments"]) == ([], [])
    assert _rejections(got) == _expected_rejections([
        rejection("visits", "到访.xlsx", 2, "SALESPERSON_OTHER_TEAM", "张伟", p(1)),
        rejection("visits", "到访.xlsx", 4, "PROTECTION_EXPIRED", "张伟", p(1)),
        rejection("visits", "到访.xlsx", 5, "PROTECTION_EXPIRED", "张伟", p(2)),
        rejection("visits", "到访.xlsx", 6, "REGISTERED_BY_OTHER", "王强", p(5)),
    ])
    assert got["stats"] == {"rows_read": 20, "rows_stored": 20, "duplicates_dropped": 0, "rejected": 4}


def test_a_late_deal_paid_in_a_closed_week_is_clawed_back_as_that_week_paid_it(tmp_path: Path) -> None:
    """W48–W50, one run a Monday. The deal of P1 dated in W48 arrives in run 2 and is paid in W49,
    late, to 张伟. Run 3 brings a late ruling dated before the deal giving P1 to 王强, and a
    cancellation of room "a-1": the clawback is what W49 paid, from 张伟. A deal dated in W47,
    first read in run 2, is history: its cancellation gives 0.00 from nobody. Rows of the new kinds
    rejected while reading carry manager and phone where the row names them; signed amounts round
    half up like their absolute value (−0.005 → −0.01)."""
    (tmp_path / "config.toml").write_text("[targets]\nleads = 1\nvisits = 0\nunits = 0\n", encoding="utf-8")
    inbox = tmp_path / "in"
    people = [["张伟", "大客户经理", "一组", None, None, None], ["王强", "大客户经理", "一组", None, None, None],
              ["李娜", "销售员", "一组", None, None, None], ["刘总", "负责人", "一组", None, None, None]]
    leads = [(1, ["张伟", P(1), t(11, 23, 9)]), (2, ["张伟", P(2), t(12, 1, 9)]), (3, ["张伟", P(3), t(12, 8, 9)])]
    deals = [(2, [P(1), t(11, 25), "李娜", 3000, "A-1"]), (2, [P(9), t(11, 18), "李娜", 5000, None])]
    registrations = [(2, [P(9), t(11, 17), "张伟"])]
    adjustments = [(2, ["张伟", "abc", t(12, 2, 10), "刘总", None]), (2, ["张伟", "-0.005", t(12, 2, 10), "刘总", None]),
                   (2, ["王强", "1,234.565", t(12, 2, 10), "刘总", None])]
    rulings = [(2, ["12345", "王强", t(12, 1, 10), "刘总"]), (3, [P(1), "王强", t(11, 24, 10), "刘总"])]
    cancellations = [(2, [P(1), "明天", None]), (3, [P(1), t(12, 8, 10), "a-1"]), (3, [P(9), t(12, 8, 11), None])]
    for run, now in enumerate(["2026-11-30T08:00:00", "2026-12-07T08:00:00", "2026-12-14T08:00:00"], start=1):
        roster(inbox / "名单.xlsx", people)
        for name, header, rows in [("号码.xlsx", LEADS[:3], leads), ("成交.xlsx", DEALS, deals),
                                   ("登记.xlsx", REGISTRATIONS[:3], registrations), ("调整.xlsx", ADJUSTMENTS, adjustments),
                                   ("裁定.xlsx", RULINGS, rulings), ("退房.xlsx", CANCELLATIONS, cancellations)]:
            kept = [row for first, row in rows if first <= run]
            if kept:
                workbook(inbox / name, {"Sheet1": (header, kept)})
        done = run_cli("run", "--inbox", str(inbox), "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"),
                       "--config", str(tmp_path / "config.toml"), "--now", now, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    w48, w49, w50 = (results(tmp_path / "out", w) for w in WEEKS[:3])
    assert w48["managers"] == [manager("张伟", "一组", 7, (1, 0, 0), (1, 0, 0)),
                               manager("王强", "一组", 7, (1, 0, 0), (0, 0, 0), streak=1)]
    assert w48["stats"] == {"rows_read": 5, "rows_stored": 5, "duplicates_dropped": 0, "rejected": 0}

    assert w49["managers"] == [
        manager("张伟", "一组", 7, (1, 0, 0), (1, 0, 0), commission=("0.00", "200.00"), adjustment="-0.01"),
        manager("王强", "一组", 7, (1, 0, 0), (0, 0, 0), adjustment="1234.57", streak=2),
    ]
    assert [m["net"] for m in w49["managers"]] == ["199.99", "1233.57"]
    assert w49["deals"] == [lead_deal(2, 1, "2026-11-25T00:00:00", "A-1", "3000.00", "张伟", late=True)]
    assert w49["adjustments"] == [
        {"source": src("调整.xlsx", 3), "manager": "张伟", "amount": "-0.01", "adjusted_at": "2026-12-02T10:00:00",
         "approved_by": "刘总", "reason": None, "late": False},
        {"source": src("调整.xlsx", 4), "manager": "王强", "amount": "1234.57", "adjusted_at": "2026-12-02T10:00:00",
         "approved_by": "刘总", "reason": None, "late": False},
    ]
    assert (w49["rulings"], w49["clawbacks"]) == ([], [])
    assert _rejections(w49) == _expected_rejections([
        rejection("adjustments", "调整.xlsx", 2, "INVALID_AMOUNT", "张伟", None),
        rejection("rulings", "裁定.xlsx", 2, "INVALID_PHONE", None, "12345"),
        rejection("cancellations", "退房.xlsx", 2, "INVALID_DATE", None, p(1)),
    ])
    assert w49["stats"] == {"rows_read": 14, "rows_stored": 10, "duplicates_dropped": 1, "rejected": 3}

    assert w50["managers"] == [
        manager("张伟", "一组", 7, (1, 0, 0), (1, 0, 0), clawback="-200.00"),
        manager("王强", "一组", 7, (1, 0, 0), (0, 0, 0), streak=3),
    ]
    assert w50["deals"] == []
    assert w50["rulings"] == [
        {"source": src("裁定.xlsx", 3), "phone": p(1), "owner": "王强", "previous_owner": "张伟",
         "ruled_at": "2026-11-24T10:00:00", "approved_by": "刘总", "late": True}]
    assert w50["clawbacks"] == [
        {"source": src("退房.xlsx", 3), "phone": p(1), "room": "a-1", "cancelled_at": "2026-12-08T10:00:00",
         "deal": {"source": src("成交.xlsx", 2), "deal_at": "2026-11-25T00:00:00", "room": "A-1"},
         "manager": "张伟", "amount": "-200.00", "late": False},
        {"source": src("退房.xlsx", 4), "phone": p(9), "room": None, "cancelled_at": "2026-12-08T11:00:00",
         "deal": {"source": src("成交.xlsx", 3), "deal_at": "2026-11-18T00:00:00", "room": None},
         "manager": None, "amount": "0.00", "late": False},
    ]
    assert (w50["adjustments"], w50["rejections"]) == ([], [])
    assert w50["stats"] == {"rows_read": 18, "rows_stored": 8, "duplicates_dropped": 10, "rejected": 0}


def test_zero_money_boundaries_and_rows_stored_ahead_of_their_week(tmp_path: Path) -> None:
    """Money stays "0.00", never "-0.00": a visit deal on a commission of 0 pays its manager 0.00 and
    its cancellation claws back "0.00" from him (the deal showed him); adjustments "-0" and
    "-0.001" are 0.00. A deal at the very second P2's window ends (a date alone is 00:00:00) is
    still 张伟's. Rows read on W48's run but dated in W49 land in W49 when it is computed: a
    ruling, an adjustment, a ruling and an adjustment by a manager (NOT_APPROVED), a cancellation
    with no deal, and one of a deal paid in W48 without manager commission (0.00, nobody)."""
    (tmp_path / "config.toml").write_text(
        "[targets]\nleads = 1\nvisits = 0\nunits = 0\n\n[ownership]\nprotection_days = 2\n", encoding="utf-8")
    inbox = tmp_path / "in"
    for run, now in [(1, "2026-11-30T08:00:00"), (2, "2026-12-07T08:00:00")]:
        roster(inbox / "名单.xlsx", [
            ["张伟", "大客户经理", "一组", None, None, None], ["王强", "大客户经理", "一组", None, None, None],
            ["李娜", "销售员", "一组", None, None, None], ["刘总", "负责人", "一组", None, None, None]])
        workbook(inbox / "号码.xlsx", {"Sheet1": (LEADS[:3], [
            ["张伟", P(1), t(11, 23, 9)], ["张伟", P(2), t(11, 23, 0)], ["张伟", P(3), t(12, 1, 9)]])})
        workbook(inbox / "到访.xlsx", {"Sheet1": (VISITS, [["张伟", P(1), t(11, 23, 10), "李娜"]])})
        workbook(inbox / "成交.xlsx", {"Sheet1": (DEALS, [
            [P(1), t(11, 24), "李娜", 0, "X"], [P(2), t(11, 25), "李娜", 1000, "Y"],
            [P(5), t(11, 24), "李娜", 1000, "Q"], [P(3), t(12, 2), "李娜", 1000, None]])})
        workbook(inbox / "调整.xlsx", {"Sheet1": (ADJUSTMENTS, [
            ["张伟", "-0", t(11, 26), "刘总", "a"], ["张伟", "-0.001", t(11, 26), "刘总", "b"],
            ["张伟", "5", t(12, 3), "刘总", "c"], ["张伟", "6", t(12, 3), "王强", "d"]])})
        workbook(inbox / "裁定.xlsx", {"Sheet1": (RULINGS, [
            [P(3), "王强", t(12, 1, 10), "刘总"], [P(3), "张伟", t(12, 1, 11), "张伟"]])})
        if run == 2:
            workbook(inbox / "退房.xlsx", {"Sheet1": (CANCELLATIONS, [
                [P(1), t(12, 2), None], [P(9), t(12, 4), None], [P(5), t(12, 4), "q"]])})
        done = run_cli("run", "--inbox", str(inbox), "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"),
                       "--config", str(tmp_path / "config.toml"), "--now", now, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    w48, w49 = results(tmp_path / "out", "2026-W48"), results(tmp_path / "out", "2026-W49")
    assert w48["managers"] == [manager("张伟", "一组", 7, (1, 0, 0), (2, 1, 0), commission=("0.00", "200.00")),
                               manager("王强", "一组", 7, (1, 0, 0), (0, 0, 0), streak=1)]
    assert w48["deals"] == [
        deal(2, 1, "2026-11-24T00:00:00", "X", "李娜", "0.00", "张伟", "visit", "0.00", "0.00", None),
        deal(4, 5, "2026-11-24T00:00:00", "Q", "李娜", "1000.00", None, None, "0.00", "1000.00", "NOT_REGISTERED"),
        lead_deal(3, 2, "2026-11-25T00:00:00", "Y", "1000.00", "张伟"),
    ]
    assert [(a["amount"], a["reason"]) for a in w48["adjustments"]] == [("0.00", "a"), ("0.00", "b")]
    assert (w48["rulings"], w48["clawbacks"], w48["rejections"]) == ([], [], [])

    assert w49["managers"] == [
        manager("张伟", "一组", 7, (1, 0, 0), (1, 0, 0), adjustment="5.00"),
        manager("王强", "一组", 7, (1, 0, 0), (0, 0, 0), commission=("0.00", "200.00"), streak=2),
    ]
    assert w49["deals"] == [lead_deal(5, 3, "2026-12-02T00:00:00", None, "1000.00", "王强")]
    assert w49["rulings"] == [
        {"source": src("裁定.xlsx", 2), "phone": p(3), "owner": "王强", "previous_owner": "张伟",
         "ruled_at": "2026-12-01T10:00:00", "approved_by": "刘总", "late": False}]
    assert w49["clawbacks"] == [
        {"source": src("退房.xlsx", 2), "phone": p(1), "room": None, "cancelled_at": "2026-12-02T00:00:00",
         "deal": {"source": src("成交.xlsx", 2), "deal_at": "2026-11-24T00:00:00", "room": "X"},
         "manager": "张伟", "amount": "0.00", "late": False},
        {"source": src("退房.xlsx", 4), "phone": p(5), "room": "q", "cancelled_at": "2026-12-04T00:00:00",
         "deal": {"source": src("成交.xlsx", 4), "deal_at": "2026-11-24T00:00:00", "room": "Q"},
         "manager": None, "amount": "0.00", "late": False},
    ]
    assert [(a["source"]["row"], a["amount"]) for a in w49["adjustments"]] == [(4, "5.00")]
    assert _rejections(w49) == _expected_rejections([
        rejection("rulings", "裁定.xlsx", 3, "NOT_APPROVED", None, p(3)),
        rejection("adjustments", "调整.xlsx", 5, "NOT_APPROVED", "张伟", None),
        rejection("cancellations", "退房.xlsx", 3, "NO_SUCH_DEAL", None, p(9)),
    ])


def test_an_accepted_cancellation_keeps_the_deal_it_cancelled_when_a_later_deal_arrives_late(tmp_path: Path) -> None:
    """§7.3: W49's cancellation of P1 (no room) took its only deal, the W48 one. A deal of P1 dated
    11-30, before that cancellation, arrives late in run 3: today's replay would make it "the latest
    deal", but the cancellation keeps the deal it cancelled, so the late deal is paid (late) and
    W50's new cancellation takes it back."""
    (tmp_path / "config.toml").write_text("[targets]\nleads = 1\nvisits = 0\nunits = 0\n", encoding="utf-8")
    inbox = tmp_path / "in"
    deals = [(1, [P(1), t(11, 24), "李娜", 1000, "A"]), (3, [P(1), t(11, 30), "李娜", 3000, "B"])]
    cancellations = [(2, [P(1), t(12, 2), None]), (3, [P(1), t(12, 9), None])]
    for run, now in enumerate(["2026-11-30T08:00:00", "2026-12-07T08:00:00", "2026-12-14T08:00:00"], start=1):
        roster(inbox / "名单.xlsx", [["张伟", "大客户经理", "一组", None, None, None],
                                   ["李娜", "销售员", "一组", None, None, None]])
        workbook(inbox / "号码.xlsx", {"Sheet1": (LEADS[:3], [
            ["张伟", P(1), t(11, 23, 9)], ["张伟", P(2), t(12, 1, 9)], ["张伟", P(3), t(12, 8, 9)]])})
        workbook(inbox / "成交.xlsx", {"Sheet1": (DEALS, [row for first, row in deals if first <= run])})
        if run >= 2:
            workbook(inbox / "退房.xlsx", {"Sheet1": (CANCELLATIONS, [row for first, row in cancellations
                                                                     if first <= run])})
        done = run_cli("run", "--inbox", str(inbox), "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"),
                       "--config", str(tmp_path / "config.toml"), "--now", now, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    w48, w49, w50 = (results(tmp_path / "out", w) for w in WEEKS[:3])

    def taken(week: dict[str, Any]) -> list[tuple[int, int, str | None, str, bool]]:
        return [(c["source"]["row"], c["deal"]["source"]["row"], c["manager"], c["amount"], c["late"])
                for c in week["clawbacks"]]

    assert [(d["source"]["row"], d["manager_commission"], d["late"]) for d in w48["deals"]] == [(2, "200.00", False)]
    assert (taken(w49), w49["deals"]) == ([(2, 2, "张伟", "-200.00", False)], [])
    assert [(d["source"]["row"], d["manager_commission"], d["late"]) for d in w50["deals"]] == [(3, "200.00", True)]
    assert taken(w50) == [(3, 3, "张伟", "-200.00", False)]
    assert [(m["name"], m["commission"]["total"], m["clawback"], m["net"]) for m in w50["managers"]] == [
        ("张伟", "200.00", "-200.00", "0.00")]
    assert w49["rejections"] == w50["rejections"] == []


def test_w50_payout_lists_the_managers_of_results_with_the_same_money(office: Path) -> None:
    """§7.7: one line per manager of `managers`, in that order, the roster's email (empty if none)."""
    text = (office / "out" / "2026-W50" / "payout.csv").read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    assert list(csv.reader(text[1:].splitlines())) == [
        ["week", "name", "team", "email", "commission_visit", "commission_lead", "clawback", "adjustment", "fines",
         "net"],
        ["2026-W50", "张伟", "一组", "zw@example.com", "0.00", "500.00", "-3500.00", "-30.00", "111.00", "-3141.00"],
        ["2026-W50", "王强", "一组", "wq@example.com", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"],
        ["2026-W50", "赵敏", "二组", "", "0.00", "0.00", "0.00", "0.00", "1.00", "-1.00"],
    ]
