"""payout.csv (SPEC §7.7): the file payroll imports, one line per manager of results.json."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.report.write import write_week
from tests.helpers import DEALS, LEADS, VISITS, results, roster, run_cli, workbook
from tests.test_reports import EVIL, sample_report

HEADER = "week,name,team,email,commission_visit,commission_lead,clawback,adjustment,fines,net"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王芳", "大客户经理", "一组", None, None, None],
    ["刘洋", "大客户经理", "二组", "ly@example.com", None, datetime(2026, 11, 1)],  # left: paid, not assessed
    ["李娜", "销售员", "一组", None, None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]


def payout(folder: Path) -> tuple[bytes, list[dict[str, str]]]:
    data = (folder / "payout.csv").read_bytes()
    with (folder / "payout.csv").open(encoding="utf-8-sig", newline="") as fh:
        return data, list(csv.DictReader(fh))


def expected_lines(r: dict[str, Any], emails: dict[str, str]) -> list[dict[str, str]]:
    """payout.csv's lines as results.json and the roster say they must be."""
    return [{"week": r["week"], "name": m["name"], "team": m["team"], "email": emails.get(m["name"], ""),
             "commission_visit": m["commission"]["visit"], "commission_lead": m["commission"]["lead"],
             "clawback": m["clawback"], "adjustment": m["adjustment"], "fines": m["fines"]["total"], "net": m["net"]}
            for m in r["managers"]]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of W48: 张伟 earns a visit deal, 王芳 (no email) only fines, 刘洋 (left in
    October) a lead deal of a customer he registered before leaving."""
    root = tmp_path_factory.mktemp("payout")
    inbox, out = root / "in", root / "out"
    roster(inbox / "名单.xlsx", PEOPLE)
    workbook(inbox / "号码.xlsx", {"号码": (LEADS, [
        ["刘洋", 13900139000, datetime(2026, 10, 20, 9), ""],
        ["张伟", 13800138000, datetime(2026, 11, 23, 9), "王先生"],
        ["王芳", 13700137000, datetime(2026, 11, 24, 9), ""],
    ])})
    workbook(inbox / "到访.xlsx", {"到访": (VISITS, [["张伟", 13800138000, datetime(2026, 11, 24, 10), "李娜"]])})
    workbook(inbox / "成交.xlsx", {"成交": (DEALS, [
        [13800138000, datetime(2026, 11, 26), "李娜", "4000", "3-1201"],
        [13900139000, datetime(2026, 11, 27), "李娜", "3000", "5-0101"],
    ])})
    done = run_cli("run", "--inbox", str(inbox), "--out", str(out), "--state", str(root / "state"),
                   "--now", "2026-11-30T08:00:00")
    assert done.returncode == 0, done.stderr
    return out / "2026-W48"


def test_payout_csv_is_results_json_line_for_line(week: Path) -> None:
    """UTF-8 with BOM, the header exactly, one line per manager of `managers` in its order,
    money as in results.json, the roster's email or nothing."""
    data, lines = payout(week)
    assert data.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
    r = results(week.parent, "2026-W48")
    assert lines == expected_lines(r, {"张伟": "zw@example.com", "刘洋": "ly@example.com"})
    assert [(x["name"], x["commission_visit"], x["commission_lead"], x["fines"], x["net"]) for x in lines] == [
        ("刘洋", "0.00", "200.00", "0.00", "200.00"),
        ("张伟", "2000.00", "0.00", "549.00", "1451.00"),
        ("王芳", "0.00", "0.00", "559.00", "-559.00"),
    ]


def test_payout_csv_of_a_week_with_corrections_and_a_formula_for_a_name(tmp_path: Path) -> None:
    """A clawback and an adjustment are their own columns; a name Excel would run as a formula
    is shown as text (prefixed '), a negative amount is left as it is."""
    report = sample_report()
    zhang = next(m for m in report.results["managers"] if m["name"] == "张伟")
    zhang.update(clawback="-2000.00", adjustment="150.00", net="-63.00")
    write_week(report, tmp_path)
    _, lines = payout(tmp_path)
    expected = expected_lines(report.results, {p.name: p.email for p in report.roster})
    expected[0]["name"] = "'" + EVIL
    assert lines == expected
    assert (lines[1]["clawback"], lines[1]["adjustment"], lines[1]["net"]) == ("-2000.00", "150.00", "-63.00")


def test_payout_csv_opens_in_libreoffice_with_chinese_intact(week: Path, tmp_path: Path) -> None:
    """Converted by LibreOffice as payroll imports it (comma-separated, UTF-8): the BOM is not a
    character of the first cell, names and teams keep their Chinese, amounts are the numbers."""
    if SOFFICE is None:
        assert not os.environ.get("CI"), "LibreOffice (soffice) is required in CI"
        pytest.skip("LibreOffice is not installed (CI installs it and never skips)")
    command = [SOFFICE, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless",
               "--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir", str(tmp_path / "x"),
               str(week / "payout.csv")]
    done = subprocess.run(command, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")
    sheet = openpyxl.load_workbook(tmp_path / "x" / "payout.xlsx").active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == HEADER.split(",")
    _, lines = payout(week)
    money = slice(4, 10)
    assert [row[:4] for row in rows[1:]] == [[x["week"], x["name"], x["team"], x["email"] or None] for x in lines]
    assert [[Decimal(str(v)) for v in row[money]] for row in rows[1:]] == [
        [Decimal(v) for v in list(x.values())[money]] for x in lines]


def test_a_manager_with_only_a_correction_is_listed_unassessed(tmp_path: Path) -> None:
    """SPEC §7.7: `managers` holds everyone assessed plus anyone with a commission, a clawback
    or an adjustment; a clawback is taken from the manager the deal paid even when today's
    roster no longer has them as a manager (listed with the team the roster gives, if any)."""
    from pipeline.config import Config
    from pipeline.records import Person, Source
    from pipeline.report.model import RunInfo
    from pipeline.results import Adjustment, CancelledDeal, Clawback
    from pipeline.rules.replay import WeekOutcome
    from pipeline.run import build_report
    from pipeline.weeks import Week

    week = Week(2026, 48)
    roster = {p.name: p for p in [
        Person("张伟", "manager", "一组", "", None, None),
        Person("走了", "manager", "一组", "", None, datetime(2026, 11, 1).date()),
        Person("转岗", "salesperson", "二组", "", None, None),      # was a manager when the deal paid
        Person("梁宇", "leader", "一组", "", None, None),
    ]}
    outcome = WeekOutcome(week)
    src = Source("退房记录.xlsx", "Sheet1", 2)
    deal = CancelledDeal(Source("成交记录.xlsx", "Sheet1", 5), "2026-11-10T00:00:00", "3-1201")
    outcome.clawbacks += [Clawback(src, "13800138000", None, "2026-11-25T10:00:00", deal, "转岗", Decimal("-200.00"),
                                   False),
                          Clawback(src, "13800138001", None, "2026-11-25T11:00:00", deal, "旧人", Decimal("-2000.00"),
                                   False),
                          Clawback(src, "13800138002", None, "2026-11-25T12:00:00", deal, None, Decimal("0.00"), False)]
    outcome.adjustments.append(Adjustment(src, "走了", Decimal("0.00"), "2026-11-26T09:00:00", "梁宇", None, False))
    report = build_report(outcome, roster, {}, Config(), [], {"rows_read": 0, "rows_stored": 0,
                                                               "duplicates_dropped": 0},
                          RunInfo("r", "2026-11-30T08:00:00", {}, []))
    got = [(m["name"], m["team"], m["active_days"], m["clawback"], m["adjustment"], m["fines"]["total"], m["net"])
           for m in report.results["managers"]]
    assert got == [("张伟", "一组", 7, "0.00", "0.00", "560.00", "-560.00"),
                   ("旧人", "", 0, "-2000.00", "0.00", "0.00", "-2000.00"),
                   ("走了", "一组", 0, "0.00", "0.00", "0.00", "0.00"),
                   ("转岗", "二组", 0, "-200.00", "0.00", "0.00", "-200.00")]
    assert [c["manager"] for c in report.results["clawbacks"]] == ["转岗", "旧人", None]
