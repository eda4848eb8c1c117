"""Time the report writers on a big office week, one writer at a time.

Builds a `WeekReport` of the benchmark's big office in memory (no inbox, no run): 500 managers in
25 teams, ~92,500 accepted leads, ~8,000 visits, 2,000 units, 5,000 deals, 8,500 rejections,
92,500 new registrations and a 1,000,000-row ledger. Then runs each entry of `WRITERS` into a
fresh folder and prints its wall time, then the whole `write_week` (with its second process) and
the outbox the run writes after it (reading the workbooks back as attachments).

Usage:
    python bench/reports_bench.py                  # the table
    python bench/reports_bench.py --profile write_manager_xlsx   # cProfile one writer, top 30
    python bench/reports_bench.py --engine xlsxwriter            # the reference workbook engine
    python bench/reports_bench.py --small          # a 10x smaller week
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import Config  # noqa: E402
from pipeline.records import Ledger, Person, Source  # noqa: E402
from pipeline.report import excel  # noqa: E402
from pipeline.report.model import Lead, LedgerEntry, RunInfo, Unit, Visit, WeekReport  # noqa: E402
from pipeline.report.write import WRITERS, write_week  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志文斌辉鹏飞宇浩然子涵欣怡"
REASONS = ["ALREADY_REGISTERED", "DUPLICATE_OWN", "INVALID_PHONE", "MISSING_VALUE", "REGISTERED_BY_OTHER",
           "NOT_FIRST_VISIT", "NO_PHOTO", "UNKNOWN_MANAGER", "INVALID_DATE", "LATE"]
KINDS = ["leads", "visits", "units", "deals", "registrations"]
START = datetime(2026, 11, 9)


def _name(rng: random.Random, n: int = 2) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(n - 1))


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _at(rng: random.Random) -> str:
    return (START + timedelta(seconds=rng.randrange(7 * 86400))).isoformat()


def big_report(scale: float = 1.0, seed: int = 20261109) -> WeekReport:
    """A big office week, deterministic from `seed`; `scale` shrinks every list."""
    rng = random.Random(seed)
    teams = [f"{'一二三四五六七八九十'[i % 10]}组{i // 10 or ''}" for i in range(25)]
    per_team = max(1, round(20 * scale))
    roster: list[Person] = []
    names: list[tuple[str, str]] = []
    taken: set[str] = set()
    for team in teams:
        roster.append(Person(_name(rng, 3) + "总", "leader", team, f"lead{len(roster)}@example.com", None, None))
        for _ in range(per_team):
            name = _name(rng, 3)
            while name in taken:
                name = _name(rng, 3) + str(len(taken))
            taken.add(name)
            names.append((name, team))
            roster.append(Person(name, "manager", team, f"m{len(roster)}@example.com", None, None))
        for _ in range(4):
            roster.append(Person(_name(rng, 3) + "销", "salesperson", team, "", None, None))
    sales = {team: [p.name for p in roster if p.team == team and p.role == "salesperson"] for team in teams}

    def n(count: int) -> int:
        return max(1, round(count * scale))

    leads, regs = [], []
    for i in range(n(92_500)):
        manager, _team = rng.choice(names)
        phone, customer, at = _phone(rng), _name(rng) + rng.choice(["先生", "女士", ""]), _at(rng)
        src = Source(f"号码汇总_{manager}.xlsx", "第46周", i % 400 + 2)
        leads.append(Lead(manager, phone, customer, at, src))
        regs.append(LedgerEntry(phone, customer, manager, at, "leads", src))
    regs.sort(key=lambda e: e.at)
    visits = []
    for i in range(n(8_000)):
        manager, team = rng.choice(names)
        visits.append(Visit(manager, _phone(rng), _name(rng) + "先生", _at(rng), rng.choice(sales[team]),
                            str(rng.randint(1, 5)), Source("到访登记.xlsx", "Sheet1", i + 2)))
    units = []
    for i in range(n(2_000)):
        manager, _team = rng.choice(names)
        units.append(Unit(manager, f"{_name(rng)}科技有限公司{i}", f"高新区科技路 {rng.randint(1, 999)} 号",
                          _at(rng), f"IMG_{i:05d}.jpg", Source("拓展单位.xlsx", "Sheet1", i + 2)))
    deals: list[dict[str, Any]] = []
    for i in range(n(5_000)):
        manager, team = rng.choice(names)
        paid = rng.random() < 0.9
        kind = rng.choice(["visit", "lead"]) if paid else None
        sp = Decimal(rng.choice(["3000.00", "4000.00", "5000.00"]))
        mc = Decimal("2000.00") if kind == "visit" else Decimal("200.00") if kind == "lead" else Decimal("0.00")
        deals.append({
            "source": {"file": "成交记录.xlsx", "sheet": "Sheet1", "row": i + 2}, "phone": _phone(rng),
            "deal_at": _at(rng), "room": f"{rng.randint(1, 30)}-{rng.randint(1, 33):02d}0{rng.randint(1, 4)}",
            "salesperson": rng.choice(sales[team]), "salesperson_commission": f"{sp:.2f}",
            "manager": manager if paid else None, "kind": kind, "manager_commission": f"{mc:.2f}",
            "salesperson_net": f"{sp - mc if kind == 'visit' else sp:.2f}",
            "reason": None if paid else "NOT_REGISTERED", "late": rng.random() < 0.02})
    rejections = []
    for i in range(n(8_500)):
        manager, _team = rng.choice(names)
        reason = rng.choice(REASONS)
        phone = _phone(rng)
        rejections.append({
            "kind": rng.choice(KINDS), "source": {"file": f"号码汇总_{manager}.xlsx", "sheet": "第46周", "row": i % 400 + 2},
            "reason": reason, "message": f"{phone} 已于 2026-10-20 由 {rng.choice(names)[0]} 登记",
            "manager": manager if rng.random() < 0.9 else None, "phone": phone})
    counts: dict[str, dict[str, int]] = {name: {"leads": 0, "visits": 0, "units": 0} for name, _ in names}
    for lead in leads:
        counts[lead.manager]["leads"] += 1
    for visit in visits:
        counts[visit.manager]["visits"] += 1
    for unit in units:
        counts[unit.manager]["units"] += 1
    managers = []
    targets = {"leads": 100, "visits": 16, "units": 3}
    rates = {"leads": Decimal("1.00"), "visits": Decimal("10.00"), "units": Decimal("100.00")}
    commission: dict[str, dict[str, Decimal]] = {}
    for d in deals:
        if d["manager"]:
            c = commission.setdefault(d["manager"], {"visit": Decimal(0), "lead": Decimal(0)})
            c[d["kind"]] += Decimal(d["manager_commission"])
    for name, team in sorted(names):
        got = counts[name]
        short = {k: max(0, targets[k] - got[k]) for k in targets}
        fines = {k: short[k] * rates[k] for k in targets}
        total = sum(fines.values(), Decimal("0.00"))
        c = commission.get(name, {"visit": Decimal(0), "lead": Decimal(0)})
        streak = rng.choice([0, 0, 0, 1, 2, 3, 4])
        managers.append({
            "name": name, "team": team, "active_days": 7, "targets": targets, "achieved": got, "shortfall": short,
            "fines": {**{k: f"{v:.2f}" for k, v in fines.items()}, "total": f"{total:.2f}"},
            "commission": {"visit": f"{c['visit']:.2f}", "lead": f"{c['lead']:.2f}",
                           "total": f"{c['visit'] + c['lead']:.2f}"},
            "clawback": "0.00", "adjustment": "0.00", "net": f"{c['visit'] + c['lead'] - total:.2f}", "met": not any(short.values()), "streak": streak,
            "dismissal_review": streak >= 4})
    results = {
        "schema": 2, "week": "2026-W46", "start": "2026-11-09", "end": "2026-11-15",
        "managers": managers, "deals": deals, "rejections": rejections, "rulings": [], "clawbacks": [],
        "adjustments": [],
        "stats": {"rows_read": 120_000, "rows_stored": 110_000, "duplicates_dropped": 100, "rejected": len(rejections)},
    }
    ledger: list[tuple[str, str, str, str, str, str | None]] = []
    owners = [name for name, _ in names] + ["自然到访", "渠道"]
    for i in range(n(1_000_000)):
        at = (START - timedelta(seconds=rng.randrange(365 * 86400))).isoformat()
        ledger.append((f"1{3 + i % 7}{i:09d}", _name(rng), owners[i % len(owners)], at,
                       "registrations" if i % 3 else "leads", at if i % 5 == 0 else None))
    files = [("号码汇总.xlsx", "0" * 64), ("到访登记.xlsx", "1" * 64), ("成交记录.xlsx", "2" * 64)]
    return WeekReport(
        week="2026-W46", start="2026-11-09", end="2026-11-15", lang="zh", office="滨江壹号",
        results=results, run=RunInfo("20261116T080000", "2026-11-16T08:00:00", Config().as_dict(), files),
        roster=roster, leads=leads, visits=visits, units=units, new_registrations=regs,
        ledger=Ledger.from_rows(ledger))


def earlier_weeks(report: WeekReport, count: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """`count` closed weeks before the report's, as the state hands them to the trends: the same
    managers with other achievements (a few absent each week)."""
    rng = random.Random(7)
    weeks = []
    monday = datetime.fromisoformat(report.start)
    for back in range(count, 0, -1):
        year, week, _ = (monday - timedelta(weeks=back)).isocalendar()
        managers = []
        for m in report.results["managers"]:
            if rng.random() < 0.02:
                continue
            achieved = {k: max(0, v + rng.randint(-v // 2 - 1, v // 3 + 1)) for k, v in m["achieved"].items()}
            short = {k: max(0, m["targets"][k] - achieved[k]) for k in achieved}
            managers.append({**m, "achieved": achieved, "shortfall": short, "met": not any(short.values())})
        weeks.append((f"{year}-W{week:02d}", managers))
    return weeks


def _outbox(report: WeekReport, folder: Path) -> None:
    from pipeline import mail

    mail.write_messages(report, folder, Config())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", help="cProfile this writer (a function name from WRITERS)")
    parser.add_argument("--engine", default=None, help="workbook engine (default: the module's default)")
    parser.add_argument("--small", action="store_true", help="a 10x smaller week")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-total", action="store_true", help="skip the whole write_week")
    parser.add_argument("--history", type=int, default=8,
                        help="weeks the trends show, this one included (1: none before it; default 8)")
    args = parser.parse_args()
    if args.engine:
        excel.DEFAULT_ENGINE = cast(excel.Engine, args.engine)

    clock = time.perf_counter()
    report = big_report(0.1 if args.small else 1.0)
    report.earlier = earlier_weeks(report, args.history - 1)
    print(f"built the week in {time.perf_counter() - clock:.1f} s: {len(report.results['managers'])} managers, "
          f"{len(report.leads)} leads, {len(report.visits)} visits, {len(report.units)} units, "
          f"{len(report.results['deals'])} deals, {len(report.results['rejections'])} rejections, "
          f"{len(report.new_registrations)} registrations, {len(report.ledger)} ledger rows")
    root = Path(tempfile.mkdtemp(prefix="reports-bench-"))
    try:
        if args.profile:
            writer = next(w for w in WRITERS if w.__name__ == args.profile)
            profile = cProfile.Profile()
            (root / "profile").mkdir()
            profile.runcall(writer, report, root / "profile")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
            pstats.Stats(profile).sort_stats("tottime").print_stats(20)
            return
        times: dict[str, list[float]] = {}
        cpus: dict[str, list[float]] = {}
        for rep in range(args.repeat):
            folder = root / f"each{rep}"
            folder.mkdir()
            for writer in WRITERS:
                clock, cpu = time.perf_counter(), time.process_time()
                writer(report, folder)
                times.setdefault(writer.__name__, []).append(time.perf_counter() - clock)
                cpus.setdefault(writer.__name__, []).append(time.process_time() - cpu)
            if not args.no_total:
                folder = root / f"one{rep}"
                clock = time.perf_counter()
                write_week(report, folder, parallel=False)
                times.setdefault("write_week, one process", []).append(time.perf_counter() - clock)
                folder = root / f"all{rep}"
                clock = time.perf_counter()
                write_week(report, folder)
                times.setdefault("write_week, two processes (the run's)", []).append(time.perf_counter() - clock)
                clock = time.perf_counter()
                _outbox(report, folder)
                times.setdefault("outbox (mail, after write_week)", []).append(time.perf_counter() - clock)
        sizes = {"write_summary_xlsx": "summary.xlsx", "write_ledger_xlsx": "ledger.xlsx",
                 "write_ledger_csv": "ledger.csv", "write_summary_html": "summary.html"}
        print(f"\n| writer | wall s (median of {args.repeat}) | CPU s | output |\n| --- | ---: | ---: | ---: |")
        each = root / "each0"
        for name, values in times.items():
            size = ""
            if name in sizes:
                size = f"{(each / sizes[name]).stat().st_size / 1e6:.1f} MB"
            elif name in ("write_manager_xlsx", "write_manager_html"):
                ext = ".xlsx" if "xlsx" in name else ".html"
                size = f"{sum(p.stat().st_size for p in (each / 'managers').glob('*' + ext)) / 1e6:.1f} MB total"
            cpu_text = f"{sorted(cpus[name])[len(values) // 2]:.2f}" if name in cpus else ""
            print(f"| {name} | {sorted(values)[len(values) // 2]:.2f} | {cpu_text} | {size} |")
        sequential = sum(sorted(v)[len(v) // 2] for k, v in times.items() if k in {w.__name__ for w in WRITERS})
        print(f"| (sum of the writers above) | {sequential:.2f} | | |")
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (other processes share the cores)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
