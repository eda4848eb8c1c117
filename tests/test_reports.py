"""The workbooks and pages of a week (SPEC §5), read back and checked against `results.json`.

A small realistic week is built by hand: three managers in two teams, deals of every kind,
rejections of reading and rule kinds, and hostile texts (formulas, markup) in a manager's name,
customers and rooms. Workbooks are read back with openpyxl; pages are checked as text.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from pipeline import mail
from pipeline.config import Config
from pipeline.records import Ledger, Person, Source
from pipeline.report.context import (
    Bar,
    History,
    HistoryWeek,
    bar,
    index_week,
    indexed_once,
    manager_stems,
    mask,
    my_followups,
)
from pipeline.report.excel import display_width, lead_rows
from pipeline.report.html import environment, make_environment
from pipeline.report.model import Lead, LedgerEntry, RunInfo, Unit, Visit, WeekReport
from pipeline.report.write import statement_paths, write_week

# xlsxwriter writes data bars with Excel 2010's extension, which openpyxl reads but does not keep.
pytestmark = pytest.mark.filterwarnings("ignore:.*extension is not supported:UserWarning")

HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(A1)", "<script>alert(1)</script>"]
EVIL = '=HYPERLINK("http://x","钱七")'        # the name of a manager
ZHANG, WANG = "张伟", "王芳"
MANAGERS = [EVIL, ZHANG, WANG]               # code-point order, as results.json sorts them


def _manager(name: str, team: str, achieved: tuple[int, int, int], commission: tuple[str, str],
             streak: int) -> dict[str, Any]:
    targets = {"leads": 100, "visits": 16, "units": 3}
    got = dict(zip(("leads", "visits", "units"), achieved, strict=True))
    short = {k: max(0, targets[k] - got[k]) for k in targets}
    rates = {"leads": Decimal("1.00"), "visits": Decimal("10.00"), "units": Decimal("100.00")}
    fines = {k: short[k] * rates[k] for k in targets}
    fine_total = sum(fines.values(), Decimal("0.00"))
    visit, lead = Decimal(commission[0]), Decimal(commission[1])
    met = not any(short.values())
    return {
        "name": name, "team": team, "active_days": 7, "targets": targets, "achieved": got, "shortfall": short,
        "fines": {**{k: f"{v:.2f}" for k, v in fines.items()}, "total": f"{fine_total:.2f}"},
        "commission": {"visit": f"{visit:.2f}", "lead": f"{lead:.2f}", "total": f"{visit + lead:.2f}"},
        "clawback": "0.00", "adjustment": "0.00", "net": f"{visit + lead - fine_total:.2f}", "met": met, "streak": streak, "dismissal_review": streak >= 4,
    }


def _src(file: str, sheet: str, row: int) -> dict[str, Any]:
    return {"file": file, "sheet": sheet, "row": row}


def sample_report(lang: str = "zh") -> WeekReport:
    """A week of an office with 一组 (张伟, 王芳) and 二组 (a manager with a formula for a name)."""
    managers = [
        _manager(EVIL, "二组", (10, 2, 0), ("0.00", "0.00"), 4),
        _manager(ZHANG, "一组", (87, 16, 1), ("2000.00", "200.00"), 3),
        _manager(WANG, "一组", (100, 16, 3), ("0.00", "200.00"), 0),
    ]
    deals = [
        {"source": _src("成交记录.xlsx", "Sheet1", 5), "phone": "13800138000", "deal_at": "2026-11-25T00:00:00",
         "room": "<script>alert(1)</script>", "salesperson": "李娜", "salesperson_commission": "4000.00",
         "manager": ZHANG, "kind": "visit", "manager_commission": "2000.00", "salesperson_net": "2000.00",
         "reason": None, "late": False},
        {"source": _src("成交记录.xlsx", "Sheet1", 6), "phone": "13900139000", "deal_at": "2026-11-26T15:30:00",
         "room": "@SUM(A1)", "salesperson": "陈静", "salesperson_commission": "3000.00",
         "manager": ZHANG, "kind": "lead", "manager_commission": "200.00", "salesperson_net": "3000.00",
         "reason": None, "late": True},
        {"source": _src("成交记录.xlsx", "Sheet1", 7), "phone": "13700137000", "deal_at": "2026-11-27T10:00:00",
         "room": "5-0302", "salesperson": "李娜", "salesperson_commission": "5000.00",
         "manager": WANG, "kind": "lead", "manager_commission": "200.00", "salesperson_net": "5000.00",
         "reason": None, "late": False},
        {"source": _src("成交记录.xlsx", "Sheet1", 8), "phone": "13600136000", "deal_at": "2026-11-28T09:00:00",
         "room": "+1", "salesperson": "刘洋", "salesperson_commission": "3500.00",
         "manager": None, "kind": None, "manager_commission": "0.00", "salesperson_net": "3500.00",
         "reason": "NOT_REGISTERED", "late": False},
    ]
    rejections = [
        {"kind": "leads", "source": _src("号码.xlsx", "第48周", 12), "reason": "ALREADY_REGISTERED",
         "message": f"13500135000 已于 2026-11-20 由 {WANG} 登记", "manager": ZHANG, "phone": "13500135000"},
        {"kind": "leads", "source": _src("号码.xlsx", "第48周", 13), "reason": "INVALID_PHONE",
         "message": "「1380013800012」不是有效的手机号码", "manager": ZHANG, "phone": "1380013800012"},
        {"kind": "visits", "source": _src("到访.xlsx", "Sheet1", 4), "reason": "REGISTERED_BY_OTHER",
         "message": f"13500135000 已于 2026-11-20 由 {ZHANG} 登记，不属于 {EVIL}", "manager": EVIL,
         "phone": "13500135000"},
        {"kind": "units", "source": _src("拓展.xlsx", "Sheet1", 3), "reason": "NO_PHOTO",
         "message": "拓展单位「@SUM(A1)」没有照片", "manager": WANG, "phone": None},
        {"kind": "roster", "source": _src("名单.xlsx", "名单", 9), "reason": "DUPLICATE_NAME",
         "message": "姓名「<script>alert(1)</script>」在名单中重复", "manager": None, "phone": None},
        {"kind": "deals", "source": _src("成交记录.xlsx", "Sheet1", 9), "reason": "INVALID_AMOUNT",
         "message": "「佣金」的值「-1」不是有效金额", "manager": None, "phone": "13300133000"},
    ]
    roster = [
        Person("赵敏", "leader", "一组", "zhao@example.com", None, None),
        Person(ZHANG, "manager", "一组", "zhang@example.com", None, None),
        Person(WANG, "manager", "一组", "wang@example.com", None, None),
        Person("李娜", "salesperson", "一组", "", None, None),
        Person("陈静", "salesperson", "一组", "", None, None),
        Person("孙磊", "leader", "二组", "sun@example.com", None, None),
        Person(EVIL, "manager", "二组", "evil@example.com", None, None),
        Person("刘洋", "salesperson", "二组", "", None, None),
    ]
    leads, visits, units, regs = [], [], [], []
    serial = 0
    for m in managers:
        name = m["name"]
        for i in range(m["achieved"]["leads"]):
            serial += 1
            phone = f"1581000{serial:04d}"
            customer = HOSTILE[i % len(HOSTILE)] if i < 10 else f"客户{serial}"
            at = f"2026-11-{23 + i % 7}T{9 + i % 9:02d}:15:00"
            leads.append(Lead(name, phone, customer, at, Source("号码.xlsx", "第48周", serial + 1)))
            regs.append(LedgerEntry(phone, customer, name, at, "leads", Source("号码.xlsx", "第48周", serial + 1)))
        for i in range(m["achieved"]["visits"]):
            visits.append(Visit(name, f"1591000{len(visits):04d}", f"访客{len(visits)}", f"2026-11-{23 + i % 7}T14:00:00",
                                "刘洋" if m["team"] == "二组" else "李娜", str(1 + i % 3),
                                Source("到访.xlsx", "Sheet1", len(visits) + 2)))
        for i in range(m["achieved"]["units"]):
            units.append(Unit(name, f"{name}拓展单位{i}", "高新区科技路 1 号", "2026-11-24T10:00:00",
                              f"IMG_{len(units):04d}.jpg", Source("拓展.xlsx", "Sheet1", len(units) + 2)))
    regs.append(LedgerEntry("13100131000", "-1", "自然到访", "2026-11-24T11:00:00", "registrations",
                            Source("登记.xlsx", "Sheet1", 2)))
    results = {
        "schema": 2, "week": "2026-W48", "start": "2026-11-23", "end": "2026-11-29",
        "managers": managers, "deals": deals, "rejections": rejections, "rulings": [], "clawbacks": [],
        "adjustments": [],
        "stats": {"rows_read": 512, "rows_stored": 470, "duplicates_dropped": 36, "rejected": len(rejections)},
    }
    files = [(f, hashlib.sha256(f.encode()).hexdigest()) for f in ("号码.xlsx", "到访.xlsx", "成交记录.xlsx")]
    ledger = Ledger.from_rows((e.phone, e.customer, e.owner, e.at, e.via, None) for e in regs)
    return WeekReport(
        week="2026-W48", start="2026-11-23", end="2026-11-29", lang=lang, office="滨江壹号",
        results=results, run=RunInfo("20261130T080000", "2026-11-30T08:00:00", Config().as_dict(), files),
        roster=roster, leads=leads, visits=visits, units=units, new_registrations=regs, ledger=ledger,
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[WeekReport, Path]:
    report = sample_report()
    folder = tmp_path_factory.mktemp("out") / "2026-W48"
    write_week(report, folder)
    return report, folder


def rows_of(path: Path, sheet: str) -> list[tuple[Any, ...]]:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return [tuple(r) for r in book[sheet].iter_rows(values_only=True)]
    finally:
        book.close()


def cny(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def statement(report: WeekReport, folder: Path, name: str) -> tuple[Path, Path]:
    return statement_paths(report, folder)[name]


# --- files and names ------------------------------------------------------------------------------

def test_every_output_file_is_written(written: tuple[WeekReport, Path]) -> None:
    """One folder per week: the summary, the ledger, the payout, and two statements per manager (SPEC §5)."""
    report, folder = written
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    stems = manager_stems(MANAGERS)
    expected = sorted(["results.json", "payout.csv", "followups.json", "ledger.csv", "summary.xlsx", "summary.html", "ledger.xlsx",
                       *(f"managers/{stems[m]}.{ext}" for m in MANAGERS for ext in ("xlsx", "html"))])
    assert names == expected


def test_statement_file_names_are_safe_and_distinct() -> None:
    """A safe name is its own file name; unsafe ones and names equal up to case get a hash suffix."""
    stems = manager_stems([ZHANG, EVIL, "a/b", "a_b", "Ann", "ANN", "CON", "..", ""])
    assert stems[ZHANG] == ZHANG
    assert stems["a_b"] == "a_b"
    assert stems["a/b"].startswith("a_b-") and stems["a/b"] != stems["a_b"]
    assert stems["Ann"] != stems["ANN"] and stems["Ann"].casefold() != stems["ANN"].casefold()
    assert stems["CON"].startswith("_CON")
    for stem in stems.values():
        assert stem and not re.search(r'[\\/:*?"<>|]', stem) and not stem.startswith(".")
    assert len(set(stems.values())) == len(stems)


# --- summary.xlsx ---------------------------------------------------------------------------------

SUMMARY_SHEETS = ["团队汇总", "佣金明细", "罚款明细", "诚意客户号码汇总表", "到访批次", "拓展单位", "未通过记录", "退房扣回", "调整", "归属裁定",
                  "走访督办", "运行信息"]


def test_summary_workbook_sheets(written: tuple[WeekReport, Path]) -> None:
    _report, folder = written
    book = openpyxl.load_workbook(folder / "summary.xlsx")
    assert book.sheetnames == SUMMARY_SHEETS
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith("A1:"), ws.title


def test_team_summary_matches_results(written: tuple[WeekReport, Path]) -> None:
    """One row per manager, grouped by team (roster order) with a subtotal naming the leader, then the office total."""
    report, folder = written
    rows = rows_of(folder / "summary.xlsx", "团队汇总")
    header = rows[0]
    assert header[:6] == ("团队", "客户经理", "在岗天数", "拓展单位目标", "拓展单位完成", "拓展单位差额")
    assert header[-4:] == ("净额", "达标", "连续未达标周数", "辞退审核")
    col = {h: i for i, h in enumerate(header)}
    body = rows[1:]
    assert [r[0] for r in body] == ["一组", "一组", "一组 小计（负责人：赵敏）", "二组", "二组 小计（负责人：孙磊）", "全体合计"]
    by_name = {r[1]: r for r in body if r[1]}
    assert list(by_name) == [ZHANG, WANG, EVIL]
    labels = {"units": "拓展单位", "visits": "上门批次", "leads": "诚意号码"}
    for m in report.results["managers"]:
        r = by_name[m["name"]]
        for item, label in labels.items():
            assert (r[col[f"{label}目标"]], r[col[f"{label}完成"]], r[col[f"{label}差额"]]) == (
                m["targets"][item], m["achieved"][item], m["shortfall"][item])
            assert cny(r[col[f"{label}罚款"]]) == Decimal(m["fines"][item])
        assert cny(r[col["罚款合计"]]) == Decimal(m["fines"]["total"])
        assert cny(r[col["带访成交佣金"]]) == Decimal(m["commission"]["visit"])
        assert cny(r[col["号码成交佣金"]]) == Decimal(m["commission"]["lead"])
        assert cny(r[col["佣金合计"]]) == Decimal(m["commission"]["total"])
        assert (cny(r[col["扣回金额"]]), cny(r[col["调整金额"]])) == (Decimal(m["clawback"]), Decimal(m["adjustment"]))
        assert cny(r[col["净额"]]) == Decimal(m["net"])
        assert r[col["连续未达标周数"]] == m["streak"]
        assert r[col["辞退审核"]] == ("是" if m["dismissal_review"] else "否")
    total = body[-1]
    managers = report.results["managers"]
    assert cny(total[col["罚款合计"]]) == sum(Decimal(m["fines"]["total"]) for m in managers)
    assert cny(total[col["净额"]]) == sum(Decimal(m["net"]) for m in managers)
    assert total[col["诚意号码完成"]] == sum(m["achieved"]["leads"] for m in managers)
    team1 = body[2]
    assert cny(team1[col["佣金合计"]]) == Decimal("2400.00")


def test_team_summary_highlights(written: tuple[WeekReport, Path]) -> None:
    """Dismissal reviews fill the row red, the streak warning amber, shortfalls are flagged, money is CNY."""
    _report, folder = written
    ws = openpyxl.load_workbook(folder / "summary.xlsx")["团队汇总"]
    header = [c.value for c in ws[1]]
    rows = {r[1].value: r for r in ws.iter_rows(min_row=2) if r[1].value}
    fill = {name: r[0].fill.fgColor.rgb for name, r in rows.items()}
    assert fill[EVIL].endswith("FFC7CE") and fill[ZHANG].endswith("FFEB9C")
    assert fill[WANG] in (None, "00000000")
    short = rows[WANG][header.index("诚意号码差额")], rows[ZHANG][header.index("诚意号码差额")]
    assert short[0].fill.fgColor.rgb in (None, "00000000") and short[1].value == 13
    net = rows[ZHANG][header.index("净额")]
    assert net.number_format == "#,##0.00" and net.data_type == "n"
    levels = [ws.row_dimensions[r].outlineLevel for r in range(2, ws.max_row + 1)]
    assert levels == [1, 1, 0, 1, 0, 0], "managers fold under their team's subtotal"


def test_commission_sheet_lists_every_deal(written: tuple[WeekReport, Path]) -> None:
    report, folder = written
    rows = rows_of(folder / "summary.xlsx", "佣金明细")
    assert rows[0] == ("成交时间", "手机号码", "房号", "销售员", "销售员佣金", "客户经理", "佣金类型", "经理佣金",
                       "销售员实得", "原因", "补录", "文件", "工作表", "行号")
    got = [(r[0], r[1], r[2], cny(r[4]), r[5], cny(r[7]), cny(r[8]), r[11], r[12], r[13]) for r in rows[1:]]
    want = [(datetime.fromisoformat(d["deal_at"]), d["phone"], d["room"], Decimal(d["salesperson_commission"]),
             d["manager"], Decimal(d["manager_commission"]), Decimal(d["salesperson_net"]),
             d["source"]["file"], d["source"]["sheet"], d["source"]["row"]) for d in report.results["deals"]]
    assert got == want
    assert rows[4][9] == "到访前未登记" and rows[2][10] == "是"


def test_fines_sheet(written: tuple[WeekReport, Path]) -> None:
    """One row per manager and missed target: shortfall × rate = fine."""
    report, folder = written
    rows = rows_of(folder / "summary.xlsx", "罚款明细")
    got = [(r[1], r[2], r[5], cny(r[6]), cny(r[7])) for r in rows[1:]]
    assert got == [(ZHANG, "拓展单位", 2, Decimal("100.00"), Decimal("200.00")),
                   (ZHANG, "诚意号码", 13, Decimal("1.00"), Decimal("13.00")),
                   (EVIL, "拓展单位", 3, Decimal("100.00"), Decimal("300.00")),
                   (EVIL, "上门批次", 14, Decimal("10.00"), Decimal("140.00")),
                   (EVIL, "诚意号码", 90, Decimal("1.00"), Decimal("90.00"))]
    fines = {m["name"]: Decimal(m["fines"]["total"]) for m in report.results["managers"]}
    for name in (ZHANG, EVIL):
        assert sum(cny(r[7]) for r in rows[1:] if r[1] == name) == fines[name]


def test_lists_of_the_week(written: tuple[WeekReport, Path]) -> None:
    """The accepted numbers, visits and units, with full phones as text and real dates."""
    report, folder = written
    book = openpyxl.load_workbook(folder / "summary.xlsx")
    leads = book["诚意客户号码汇总表"]
    assert [c.value for c in leads[1]] == ["客户经理", "客户", "手机号码", "提交时间", "文件", "工作表", "行号"]
    values = [tuple(c.value for c in r) for r in leads.iter_rows(min_row=2)]
    assert values == [(x.manager, x.customer, x.phone, datetime.fromisoformat(x.at), x.source.file, x.source.sheet,
                       x.source.row) for x in report.leads]
    second = leads[2]
    assert second[2].data_type == "s" and second[3].is_date
    assert book["到访批次"].max_row == len(report.visits) + 1
    assert [c.value for c in book["拓展单位"][2]][:2] == [ZHANG, f"{ZHANG}拓展单位0"]


def test_rejections_sheet_keeps_the_plain_message(written: tuple[WeekReport, Path]) -> None:
    report, folder = written
    rows = rows_of(folder / "summary.xlsx", "未通过记录")
    assert rows[0] == ("表格类型", "文件", "工作表", "行号", "原因代码", "原因", "说明", "客户经理", "手机号码")
    got = [(r[1], r[2], r[3], r[4], r[6], r[7] or None, r[8] or None) for r in rows[1:]]
    assert got == [(x["source"]["file"], x["source"]["sheet"], x["source"]["row"], x["reason"], x["message"],
                    x["manager"], x["phone"]) for x in report.results["rejections"]]


def test_about_sheet(written: tuple[WeekReport, Path]) -> None:
    report, folder = written
    rows = rows_of(folder / "summary.xlsx", "运行信息")
    pairs = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert pairs[("运行", "周")] == "2026-W48"
    assert pairs[("配置", "targets.leads")] == "100" and pairs[("配置", "fines.units")] == "100.00"
    for name, digest in report.run.files:
        assert pairs[("输入文件（SHA-256）", name)] == digest
    assert pairs[("统计", "未通过行数")] == "6"


def test_no_formula_anywhere_and_hostile_text_is_literal(written: tuple[WeekReport, Path]) -> None:
    """No input text becomes a formula: every cell of every workbook is a value, hostile ones literal."""
    _report, folder = written
    seen: set[str] = set()
    for path in folder.rglob("*.xlsx"):
        book = openpyxl.load_workbook(path)
        for ws in book.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    assert c.data_type != "f", (path.name, ws.title, c.coordinate, c.value)
                    assert c.hyperlink is None, (path.name, ws.title, c.coordinate, c.value)
                    if c.value in HOSTILE or c.value == EVIL:
                        assert c.data_type == "s"
                        seen.add(c.value)
    assert seen == set(HOSTILE) | {EVIL}


# --- statements -----------------------------------------------------------------------------------

def test_statement_workbook(written: tuple[WeekReport, Path]) -> None:
    """A manager's workbook: targets with progress, fines, commission, net; their deals and rejections."""
    report, folder = written
    book = openpyxl.load_workbook(statement(report, folder, ZHANG)[0])
    assert book.sheetnames == ["本周概览", "佣金明细", "诚意客户号码汇总表", "到访批次", "拓展单位", "未通过记录", "我的督办"]
    overview = [tuple(c.value for c in r) for r in book["本周概览"].iter_rows()]
    assert overview[0][0] == "张伟 个人周报 2026-W48"
    assert any(r[0] == "已连续 3 周未完成任务：下周仍未完成将列入辞退审核" for r in overview)
    table = {r[0]: r for r in overview if r[0] in ("拓展单位", "上门批次", "诚意号码")}
    assert table["诚意号码"][1:5] == (100, 87, 13, pytest.approx(0.87))
    assert cny(table["拓展单位"][5]) == Decimal("200.00")
    amounts = {r[0]: r[1] for r in overview if r[0] and len(r) > 1 and r[1] is not None}
    assert cny(amounts["佣金合计"]) == Decimal("2200.00")
    assert cny(amounts["本周净额（佣金 + 退房扣回 + 调整 − 罚款）"]) == Decimal("1987.00")
    assert (cny(amounts["扣回金额"]), cny(amounts["调整金额"])) == (Decimal("0.00"), Decimal("0.00"))
    assert book["本周概览"].conditional_formatting, "progress shown as a data bar"
    deals = [tuple(c.value for c in r) for r in book["佣金明细"].iter_rows(min_row=2)]
    assert [d[1] for d in deals] == ["13800138000", "13900139000"]
    rejections = [tuple(c.value for c in r) for r in book["未通过记录"].iter_rows(min_row=2)]
    assert [(r[3], r[5]) for r in rejections] == [(12, "号码已被他人登记"), (13, "手机号码无效")]
    assert rejections[0][6] == "该号码此前已有登记，不计数也无佣金；如有异议请联系策划部"
    assert book["诚意客户号码汇总表"].max_row == 88


def test_a_statement_names_no_other_manager(written: tuple[WeekReport, Path]) -> None:
    """Nothing of another manager in a statement: not their name, even from a rejection message."""
    report, folder = written
    for name in MANAGERS:
        xlsx, page = statement(report, folder, name)
        cells = [str(c.value) for ws in openpyxl.load_workbook(xlsx).worksheets
                 for row in ws.iter_rows() for c in row if c.value is not None]
        text = page.read_text(encoding="utf-8")
        for other in MANAGERS:
            if other == name:
                continue
            assert not any(other in c for c in cells), (name, other)
            assert other not in text and escape(other) not in text, (name, other)


# --- pages ----------------------------------------------------------------------------------------

def pages(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8") for p in folder.rglob("*.html")}


def test_pages_escape_input(written: tuple[WeekReport, Path]) -> None:
    report, folder = written
    for name, text in pages(folder).items():
        assert "<script" not in text.lower(), name
        assert "javascript:" not in text.lower() and not re.search(r"<[^>]+\son\w+\s*=", text), name
        assert not re.search(r"<(link|img|iframe|object)\b", text), name
    summary = (folder / "summary.html").read_text(encoding="utf-8")
    assert escape(EVIL) in summary
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in statement(report, folder, ZHANG)[1].read_text(encoding="utf-8")


def test_pages_mask_customer_phones(written: tuple[WeekReport, Path]) -> None:
    """No customer number appears whole in a page, not even an invalid one as read."""
    report, folder = written
    for name, text in pages(folder).items():
        assert not re.search(r"\d{11}", text), name
    page = statement(report, folder, ZHANG)[1].read_text(encoding="utf-8")
    assert "138****8000" in page and "139****9000" in page and "138****0012" in page


def test_summary_page_is_a_dashboard(written: tuple[WeekReport, Path]) -> None:
    _report, folder = written
    text = (folder / "summary.html").read_text(encoding="utf-8")
    assert "滨江壹号大客户经理周报 2026-W48" in text
    assert "一组 小计（负责人：赵敏）" in text and "二组 小计（负责人：孙磊）" in text and "全体合计" in text
    assert text.index("一组") < text.index("二组 小计")
    assert 'width="87%"' in text            # 张伟's leads: 87 / 100
    assert "辞退审核名单（连续 4 周未完成任务）" in text
    assert "号码已被他人登记" in text and "ALREADY_REGISTERED" in text
    assert only_enhancing_styles(text)
    assert "<script" not in text and "http" not in text.replace(str(escape(EVIL)), "")


def only_enhancing_styles(page: str) -> bool:
    """The page's look is in inline styles: its one style element holds only @media rules (print,
    and wider screens), nothing that loads a resource, so a mail client that drops it loses no
    more than those enhancements."""
    styles = re.findall(r"<style[^>]*>(.*?)</style>", page, re.S)
    if len(styles) > 1 or len(re.findall(r"<style", page)) != len(styles):
        return False
    css = styles[0] if styles else ""
    if "url(" in css or "@import" in css:
        return False
    rest = css
    while (start := rest.find("@media")) >= 0:          # drop each @media block, braces balanced
        depth, end = 0, rest.index("{", start)
        while True:
            depth += {"{": 1, "}": -1}.get(rest[end], 0)
            if depth == 0 or end == len(rest) - 1:
                break
            end += 1
        rest = rest[:start] + rest[end + 1:]
    return not rest.strip()


def test_statement_page(written: tuple[WeekReport, Path]) -> None:
    report, folder = written
    text = statement(report, folder, EVIL)[1].read_text(encoding="utf-8")
    assert "已连续 4 周未完成任务：已列入辞退审核" in text
    assert "客户归属他人" in text and "-530.00" in text
    zhang = statement(report, folder, ZHANG)[1].read_text(encoding="utf-8")
    assert "1,987.00" in zhang and "2,000.00" in zhang and "号码成交（每套定额）" in zhang


def test_pay_shows_commission_clawback_adjustment_fines_and_net_apart(tmp_path: Path) -> None:
    """SPEC §7.7 in the reports people read: the team summary (sheet and page), the statement
    (workbook and page) and the emails show each part of the net on its own, zh and en."""
    from pipeline.mail import build_messages

    for lang, labels in (("zh", ("扣回金额", "调整金额", "本周净额（佣金 + 退房扣回 + 调整 − 罚款）")),
                         ("en", ("Clawback", "Adjustment", "Net this week (commission + clawback + adjustment − fines)"))):
        report = sample_report(lang)
        zhang = next(m for m in report.results["managers"] if m["name"] == ZHANG)
        zhang.update(clawback="-2000.00", adjustment="150.00", net="137.00")   # 2200 − 2000 + 150 − 213
        folder = tmp_path / lang
        write_week(report, folder)
        book = openpyxl.load_workbook(folder / "summary.xlsx", read_only=True)
        rows = [tuple(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        col = {h: i for i, h in enumerate(rows[0])}
        row = next(r for r in rows if r[1] == ZHANG)
        total = rows[-1]
        assert [cny(row[col[h]]) for h in labels[:2]] == [Decimal("-2000.00"), Decimal("150.00")]
        assert [cny(total[col[h]]) for h in labels[:2]] == [Decimal("-2000.00"), Decimal("150.00")]
        assert cny(total[col[rows[0][-4]]]) == sum(Decimal(m["net"]) for m in report.results["managers"])
        overview = [tuple(c.value for c in r) for r in
                    openpyxl.load_workbook(statement(report, folder, ZHANG)[0]).worksheets[0].iter_rows()]
        amounts = {r[0]: r[1] for r in overview if r[0] and len(r) > 1 and r[1] is not None}
        assert [cny(amounts[h]) for h in labels] == [Decimal("-2000.00"), Decimal("150.00"), Decimal("137.00")]
        page = statement(report, folder, ZHANG)[1].read_text(encoding="utf-8")
        assert all(escape(h) in page for h in labels) and "-2,000.00" in page and "150.00" in page
        summary = (folder / "summary.html").read_text(encoding="utf-8")
        assert labels[0] in summary and "-2,000.00" in summary and "137.00" in summary
        mails = {m.key: m.message for m in build_messages(report, folder, Config())}
        text = mails[f"manager:{ZHANG}"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert ("退房扣回：-2,000.00 元" if lang == "zh" else "clawback: -2,000.00 CNY") in text
        assert ("调整：150.00 元" if lang == "zh" else "adjustment: 150.00 CNY") in text
        leaders = next(m for k, m in mails.items() if k.startswith("summary:"))
        body = leaders.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert ("退房扣回 -2,000.00 元，调整 150.00 元" if lang == "zh" else "clawback -2,000.00, adjustment 150.00") in body


# --- ledger.xlsx, English, contexts ---------------------------------------------------------------

def test_ledger_workbook(written: tuple[WeekReport, Path]) -> None:
    report, folder = written
    rows = rows_of(folder / "ledger.xlsx", "本周新增登记")
    assert rows[0] == ("手机号码", "客户", "归属人", "登记时间", "登记方式", "文件", "工作表", "行号")
    assert [(r[0], r[1], r[2], r[3]) for r in rows[1:]] == [
        (e.phone, e.customer, e.owner, datetime.fromisoformat(e.at)) for e in report.new_registrations]
    assert rows[-1][4] == "客户登记备案" and rows[1][4] == "诚意客户号码"


def test_english_labels(tmp_path: Path) -> None:
    report = sample_report("en")
    write_week(report, tmp_path)
    book = openpyxl.load_workbook(tmp_path / "summary.xlsx", read_only=True)
    assert book.sheetnames == ["Team summary", "Commission", "Fines", "Accepted numbers", "Visits", "Units",
                               "Rejected rows", "Clawbacks", "Adjustments", "Rulings", "Follow-ups", "About this run"]
    assert next(book["Team summary"].iter_rows(values_only=True))[:3] == ("Team", "Manager", "Active days")
    page = (tmp_path / "summary.html").read_text(encoding="utf-8")
    assert "Office total" in page and '<html lang="en">' in page
    assert "团队" not in page


def test_bars_and_masks() -> None:
    assert (bar(87, 100).pct, bar(87, 100).rest, bar(87, 100).text) == (87, 13, "87 / 100")
    assert bar(20, 16).pct == 100 and bar(20, 16).rest == 0
    assert bar(3, 0).pct_text == "—"
    assert mask("13800138000") == "138****8000" and mask("1380013800012") == "138****0012" and mask("abc") == "abc"
    assert display_width("张伟 A") == 6


def test_a_manager_paid_but_not_assessed(tmp_path: Path) -> None:
    """A manager who left but is paid for an owned customer's deal: no targets, no bars, still a statement."""
    report = sample_report()
    wang = next(m for m in report.results["managers"] if m["name"] == WANG)
    zero = {"leads": 0, "visits": 0, "units": 0}
    wang.update(active_days=0, targets=zero, achieved=zero, shortfall=zero, met=True, streak=0,
                fines={"leads": "0.00", "visits": "0.00", "units": "0.00", "total": "0.00"})
    write_week(report, tmp_path)
    xlsx, page = statement(report, tmp_path, WANG)
    text = page.read_text(encoding="utf-8")
    assert "本周未考核" in text and 'width="0%"' not in text
    overview = [tuple(c.value for c in r) for r in openpyxl.load_workbook(xlsx)["本周概览"].iter_rows()]
    leads = next(r for r in overview if r[0] == "诚意号码")
    assert leads[1:5] == (0, 0, 0, None)
    summary = (tmp_path / "summary.html").read_text(encoding="utf-8")
    assert "本周未考核" in summary


def test_a_report_pickled_for_a_writer_comes_back_whole() -> None:
    """A report writer's process is given the report pickled (its rows as columns): loaded, it is
    the same report, every row the same named tuple with the same source, and it stores the
    same bytes; rows whose source is not a `Source` go as they are."""
    import dataclasses
    import pickle

    from pipeline.records import Source
    from pipeline.report.model import Lead

    report = sample_report()
    assert report.leads and report.visits and report.units
    back = pickle.loads(pickle.dumps(report, pickle.HIGHEST_PROTOCOL))
    assert back == report and back.to_bytes() == report.to_bytes()
    for name in ("leads", "visits", "units"):
        rows, original = getattr(back, name), getattr(report, name)
        assert [type(r) for r in rows] == [type(r) for r in original]
        assert all(type(r.source) is Source for r in rows)
    odd = dataclasses.replace(report, leads=[Lead("张伟", "13800138000", "客户", "2026-11-24T10:00:00", None)])  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(odd)).leads == odd.leads
    empty = dataclasses.replace(report, leads=[], visits=[], units=[])
    assert pickle.loads(pickle.dumps(empty)) == empty


# The card as the pages and emails drew it with a Jinja macro, before `card` made it in Python.
CARD_MACRO = """{% macro card(title, title_colour, accent, lines, foot) -%}
<table role="presentation" class="card" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;width:100%;table-layout:fixed;word-wrap:break-word;margin:0 0 8px 0;border:1px solid #e5e7eb;border-left:4px solid {{ accent }};">
<tr><td style="padding:6px 10px 2px 10px;font-weight:bold;color:{{ title_colour }};">{{ title }}</td></tr>
{% for line in lines if line %}<tr><td style="padding:0 10px 2px 10px;">{{ line }}</td></tr>
{% endfor %}
<tr><td style="padding:0 10px 6px 10px;font-size:12px;color:#6b7280;">{{ foot|select|join(' · ') }}</td></tr>
</table>
{%- endmacro %}
{% for c in cards %}[{{ card(*c) }}]{% endfor %}"""

_card_value = st.one_of(st.text(max_size=12), st.sampled_from(["", "<b>&\"'", "张伟 · 1", "0"]),
                        st.integers(-5, 5), st.none(), st.text(max_size=6).map(Markup))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_card_value, _card_value, _card_value, st.lists(_card_value, max_size=3),
                          st.lists(_card_value, max_size=4)), max_size=3))
def test_a_card_is_the_macro_it_replaced(cards: list[tuple[Any, ...]]) -> None:
    """`card` writes what the Jinja macro it replaced wrote, escaped the same way, on the pages'
    environment and the emails' (where a plain-text template escapes nothing, no card is used)."""
    reference = make_environment(True).from_string(CARD_MACRO)
    page = environment().from_string("{% for c in cards %}[{{ card(*c) }}]{% endfor %}")
    assert page.render(cards=cards) == reference.render(cards=cards)
    email_page = mail.environment().from_string("{% for c in cards %}[{{ card(*c) }}]{% endfor %}")
    assert email_page.render(cards=cards) == reference.render(cards=cards)


# A statement's history as the pages and emails drew it with Jinja macros, before `history_table`
# made it in Python.
HISTORY_MACRO = """{% macro small_bar(b) -%}
<table width="100%" cellpadding="0" cellspacing="0" style="background:#e5e7eb;"><tr>
{%- if b.pct %}<td width="{{ b.pct }}%" height="6" bgcolor="{{ b.colour }}" style="font-size:0;line-height:0;"></td>{% endif %}
{%- if b.rest %}<td height="6" style="font-size:0;line-height:0;"></td>{% endif -%}
</tr></table><span style="white-space:nowrap;">{{ b.text }} <span style="color:#6b7280;">{{ b.pct_text }}</span></span>
{%- endmacro %}
{% macro history(h) -%}
<table role="presentation" class="history" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;width:100%;font-size:12px;">
<tr style="background:#eff6ff;color:#1e3a8a;">{% for label in h.item_labels %}<th align="left" width="33%" style="width:33%;padding:4px 6px;border-bottom:2px solid #bfdbfe;">{{ label }}</th>{% endfor %}</tr>
{% for w in h.weeks %}
<tr{% if w.bold %} style="font-weight:bold;background:#f3f4f6;"{% endif %}><td colspan="3" style="padding:6px 6px 2px;"><span style="white-space:nowrap;">{{ w.week }}</span>{% if w.note %} <span style="font-weight:normal;color:#6b7280;">{{ w.note }}</span>{% endif %} &nbsp; <span style="white-space:nowrap;color:{{ w.net_colour }};">{{ w.amounts }}</span></td></tr>
<tr{% if w.bold %} style="background:#f3f4f6;"{% endif %}>
{%- if w.bars %}{% for b in w.bars %}<td style="padding:0 6px 6px;border-bottom:1px solid #e5e7eb;">{{ small_bar(b) }}</td>{% endfor %}
{%- else %}<td colspan="3" style="padding:0 6px 6px;border-bottom:1px solid #e5e7eb;font-size:0;line-height:0;">&nbsp;</td>{% endif -%}
</tr>
{% endfor %}
</table>
{%- endmacro %}
{% for h in histories %}[{{ history(h) }}]{% endfor %}"""

_history_text = st.one_of(st.text(max_size=8), st.sampled_from(["", "<b>&\"'", "本周", "罚款 1,200.00 · 净额 -3.00"]))
_history_bar = st.builds(Bar, _history_text, _history_text, st.integers(0, 100), st.integers(0, 100),
                         st.sampled_from(["#16a34a", "#dc2626", "<x>"]))
_history_week = st.builds(HistoryWeek, _history_text, _history_text, st.lists(_history_bar, max_size=3), _history_text,
                          st.sampled_from(["#111827", "#dc2626", "&"]), st.booleans())
_history = st.builds(History, _history_text, st.lists(_history_text, max_size=3), st.lists(_history_week, max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(_history, max_size=3))
def test_a_history_table_is_the_macro_it_replaced(histories: list[History]) -> None:
    """`history_table` writes what the Jinja macros it replaced wrote, escaped the same way, on
    the pages' environment and the emails' (the same drawing: made by `make_environment`)."""
    reference = make_environment(True).from_string(HISTORY_MACRO)
    drawn = "{% for h in histories %}[{{ history_table(h) }}]{% endfor %}"
    assert environment().from_string(drawn).render(histories=histories) == reference.render(histories=histories)
    email_page = make_environment(lambda name: name is None or not name.endswith(".txt")).from_string(drawn)
    assert email_page.render(histories=histories) == reference.render(histories=histories)


_owner = st.sampled_from([ZHANG, WANG, EVIL, "赵六"])
_item = st.fixed_dictionaries({
    "source": st.fixed_dictionaries({"file": st.just("走访日志.xlsx"), "sheet": st.just("Sheet1"), "row": st.integers(2, 99)}),
    "manager": _owner, "client": st.sampled_from(["华信公司", "东方小学", "<b>"]), "contacted_at": st.just("2026-11-20T10:00:00"),
    "issue": st.just("停车位不足"), "owner": _owner, "due_on": st.sampled_from(["2026-11-27", "2026-11-29", "2026-12-10"]),
    "state": st.sampled_from(["open", "answered"]), "overdue": st.booleans()})
_recontact = st.fixed_dictionaries({"manager": _owner, "client": st.sampled_from(["赵先生", "钱先生"]),
                                    "last_contact": st.sampled_from(["2026-11-02T09:00:00", "2026-10-01T00:00:00"])})
_birthday = st.fixed_dictionaries({"manager": _owner, "client": st.sampled_from(["孙先生", "周女士"]),
                                   "birthday": st.sampled_from(["12-01", "12-03"])})


@settings(max_examples=100, deadline=None)
@given(st.lists(_item, max_size=12), st.lists(_recontact, max_size=6), st.lists(_birthday, max_size=6))
def test_own_follow_ups_are_the_same_found_in_the_index(items: list[dict[str, Any]], recontact: list[dict[str, Any]],
                                                         birthdays: list[dict[str, Any]]) -> None:
    """A person's follow-ups found in the week's index (grouped once for every statement) are
    those picked from followups.json: the same items in the same order, nothing of another's;
    and an index made within `indexed_once` follows a report given other follow-ups."""
    report = sample_report()
    report.followups = {"schema": 1, "week": report.week, "items": items, "people": [], "contacts": [],
                        "recontact": recontact, "birthdays": birthdays}
    with indexed_once():
        index = index_week(report)
        for name in [ZHANG, WANG, EVIL, "赵六", "钱七"]:
            assert my_followups(report, name, index) == my_followups(report, name)
        report.followups = {**report.followups, "items": items[:1]}
        assert index_week(report).followup_items_by == ({items[0]["owner"]: items[:1]} if items else {})


def test_a_statement_page_draws_its_deals_and_rejections_as_cards(tmp_path: Path) -> None:
    """The cards of a written statement page: one per deal and per rejected row of the manager's."""
    report = sample_report()
    write_week(report, tmp_path)
    drawn = 0
    for name, (_, page) in statement_paths(report, tmp_path).items():
        html = page.read_text(encoding="utf-8")
        deals = sum(1 for d in report.results["deals"] if d["manager"] == name)
        rejected = sum(1 for r in report.results["rejections"] if r.get("manager") == name)
        assert html.count('class="card"') == deals + rejected
        drawn += deals + rejected
    assert drawn >= 2


@pytest.mark.parametrize("count", [3, 2_500])
def test_lead_columns_are_the_leads_fields_in_order(count: int) -> None:
    """A table's columns from the week's leads (a statement's few or the summary's many): the
    manager, customer, phone and time, then the source's file, sheet and row, row for row; a
    row without a source has empty cells for it."""
    leads = [Lead(f"经理{i % 7}", f"1380013{i:04d}", f"客户{i}", f"2026-11-{10 + i % 7}T09:00:00",
                  Source(f"号码{i % 3}.xlsx", "第46周", i + 2)) for i in range(count)]
    leads[-1] = leads[-1]._replace(source=None)  # type: ignore[arg-type]
    columns = [list(column) for column in lead_rows(leads).data]
    expected = [[lead.manager, lead.customer, lead.phone, lead.at, *(lead.source or ("", "", None))]
                for lead in leads]
    assert [list(row) for row in zip(*columns, strict=True)] == expected
    assert [list(column) for column in lead_rows(leads, with_manager=False).data] == columns[1:]
