"""Months and quarters (SPEC §8): which month a week belongs to, period.json as the sums of the
closed weeks' stored results, the period folders a cron run writes when it closes a month, and
`pipeline report --period` for a month not over yet.

The cron office below is run once for the module, Monday after Monday from 2026-W44 to 2026-W50,
through the real command line with `--send` against an SMTP server on 127.0.0.1; the tests read
what it wrote.
"""

from __future__ import annotations

import email
import io
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from fractions import Fraction
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from hypothesis import example, given
from hypothesis import strategies as st

from pipeline.periods import LogReview, Period, attainment, build, closed_by, log_review
from pipeline.weeks import Week
from tests.helpers import DEALS, LEADS, UNITS, VISITS, roster, run_cli, workbook
from tests.test_delivery import Inbox, free_port

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王强", "大客户经理", "二组", "wq@example.com", None, None],
    ["Zoe", "大客户经理", "二组", None, None, None],
    ["李娜", "销售员", "一组", None, None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]
# From 2026-W47 on, 王强 works in 一组: his November is 一组's (his latest week's team).
MOVED = [row if row[0] != "王强" else ["王强", "大客户经理", "一组", "wq@example.com", None, None] for row in PEOPLE]
FIRST_MONDAY = date(2026, 10, 26)      # 2026-W44, October's (its Thursday is 2026-10-29)
WEEKS = 7                              # 2026-W44 .. 2026-W50


def w(text: str) -> Week:
    return Week.parse(text)


# --- weeks, months, quarters ---------------------------------------------------------------------

@pytest.mark.parametrize(("week", "monday", "month"), [
    ("2026-W44", "2026-10-26", "2026-10"),   # starts in October, Thursday 10-29: October's
    ("2026-W45", "2026-11-02", "2026-11"),
    ("2026-W49", "2026-11-30", "2026-12"),   # starts on November's last day, Thursday 12-03: December's
    ("2025-W01", "2024-12-30", "2025-01"),   # a year whose first ISO week starts in December
    ("2024-W52", "2024-12-23", "2024-12"),
    ("2026-W53", "2026-12-28", "2026-12"),   # a 53-week year: its last week, Thursday 12-31
    ("2027-W13", "2027-03-29", "2027-04"),   # Thursday 04-01: April's, so Q2's
])
def test_a_week_belongs_to_the_month_of_its_thursday(week: str, monday: str, month: str) -> None:
    assert w(week).monday.isoformat() == monday
    assert str(Period.month_of(w(week))) == month


def test_the_weeks_of_a_month_and_of_a_quarter() -> None:
    november = Period.parse("2026-11")
    assert [str(x) for x in november.weeks()] == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert (november.start.isoformat(), november.end.isoformat()) == ("2026-11-02", "2026-11-29")
    q4 = Period.parse("2026-Q4")
    weeks = [str(x) for x in q4.weeks()]
    assert weeks[0] == "2026-W40" and weeks[-1] == "2026-W53" and len(weeks) == 14
    assert (q4.start.isoformat(), q4.end.isoformat()) == ("2026-09-28", "2027-01-03")
    assert sum(len(m.weeks()) for m in q4.months()) == len(weeks)
    january = Period.parse("2025-01")
    assert str(january.weeks()[0]) == "2025-W01" and january.start.isoformat() == "2024-12-30"
    assert str(Period.quarter_of(w("2025-W01"))) == "2025-Q1"


def test_every_week_is_in_exactly_one_month() -> None:
    months = [Period(y, "month", m) for y in (2024, 2025, 2026, 2027) for m in range(1, 13)]
    seen = [str(x) for p in months for x in p.weeks()]
    assert len(seen) == len(set(seen))
    assert set(seen) >= {str(x) for x in (Week(2025, n) for n in range(1, 53))}


def test_the_last_week_of_a_month_closes_it_and_a_quarters_last_closes_both() -> None:
    assert closed_by(w("2026-W47")) == []
    assert [str(p) for p in closed_by(w("2026-W48"))] == ["2026-11"]
    assert [str(p) for p in closed_by(w("2026-W44"))] == ["2026-10"]
    assert [str(p) for p in closed_by(w("2026-W53"))] == ["2026-12", "2026-Q4"]
    assert [str(p) for p in closed_by(w("2025-W13"))] == ["2025-03", "2025-Q1"]
    assert closed_by(w("2026-W49")) == []


@pytest.mark.parametrize("text", ["2026-13", "2026-0", "2026-Q5", "2026/11", "11-2026", "2026-W48", ""])
def test_a_bad_period_name_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="2026-11"):
        Period.parse(text)


def test_period_names_round_trip() -> None:
    assert [str(Period.parse(x)) for x in ("2026-11", "2026-1", "2026-Q4", "2026-q1")] == [
        "2026-11", "2026-01", "2026-Q4", "2026-Q1"]


# --- period.json from weekly results -------------------------------------------------------------

def entry(name: str, team: str, *, active: int = 7, achieved: tuple[int, int, int] = (100, 16, 3), met: bool = True,
          streak: int = 0, review: bool = False, commission: str = "0.00", net: str | None = None,
          **extra: str) -> dict[str, Any]:
    """A manager's entry of a weekly results.json, fines as the default rates give them."""
    targets = (100, 16, 3) if active else (0, 0, 0)
    short = [max(0, t - a) for t, a in zip(targets, achieved, strict=True)]
    fines = [Decimal(short[0]), Decimal(short[1] * 10), Decimal(short[2] * 100)]
    total = sum(fines, Decimal(0))
    money = {k: f"{v:.2f}" for k, v in zip(("leads", "visits", "units"), fines, strict=True)}
    net = net if net is not None else f"{Decimal(commission) - total:.2f}"
    return {"name": name, "team": team, "active_days": active,
            "targets": dict(zip(("leads", "visits", "units"), targets, strict=True)),
            "achieved": dict(zip(("leads", "visits", "units"), achieved, strict=True)),
            "shortfall": dict(zip(("leads", "visits", "units"), short, strict=True)),
            "fines": {**money, "total": f"{total:.2f}"},
            "commission": {"visit": "0.00", "lead": commission, "total": commission},
            **extra, "net": net, "met": met, "streak": streak, "dismissal_review": review}


def doc(week: str, *managers: dict[str, Any]) -> dict[str, Any]:
    return {"schema": 1, "week": week, "managers": list(managers)}


def test_a_manager_who_changes_team_within_the_month_counts_for_the_latest_team() -> None:
    """Team is the manager's latest week's; their whole month counts for that team."""
    weeks = [
        doc("2026-W45", entry("王强", "二组", achieved=(50, 16, 3), met=False, streak=1), entry("张伟", "一组")),
        doc("2026-W46", entry("王强", "二组", achieved=(100, 10, 3), met=False, streak=2), entry("张伟", "一组")),
        doc("2026-W47", entry("王强", "一组"), entry("张伟", "一组")),
    ]
    period = build(Period.parse("2026-11"), weeks).to_json()
    assert [(m["name"], m["team"]) for m in period["managers"]] == [("张伟", "一组"), ("王强", "一组")]
    assert [(t["team"], t["managers"], t["weeks_met"]) for t in period["teams"]] == [("一组", 2, 4)]
    wang = period["managers"][1]
    assert (wang["weeks_assessed"], wang["weeks_met"], wang["max_streak"]) == (3, 1, 2)
    assert wang["fines"] == {"leads": "50.00", "visits": "60.00", "units": "0.00", "total": "110.00"}
    assert period["teams"][0]["fines"]["total"] == "110.00" == period["office"]["fines"]["total"]
    assert period["complete"] is False and period["weeks"] == ["2026-W45", "2026-W46", "2026-W47"]


def test_unassessed_weeks_count_neither_as_assessed_nor_met_and_money_still_adds_up() -> None:
    """A leaver paid a commission in a week without active days: listed, money summed, the week
    neither assessed nor met (SPEC §8); clawback and adjustment read as 0.00 where absent."""
    weeks = [
        doc("2026-W45", entry("赵敏", "二组", achieved=(0, 0, 0), met=False, streak=4, review=True)),
        doc("2026-W46", entry("赵敏", "二组", active=0, achieved=(0, 0, 0), commission="200.00",
                              clawback="-100.00", adjustment="50.00", net="150.00")),
        doc("2026-W47", entry("Abe", "一组")),
        doc("2026-W48", entry("Abe", "一组")),
    ]
    period = build(Period.parse("2026-11"), reversed(weeks)).to_json()
    assert [m["name"] for m in period["managers"]] == ["Abe", "赵敏"]       # code-point order
    zhao = period["managers"][1]
    assert (zhao["weeks_assessed"], zhao["weeks_met"], zhao["max_streak"], zhao["dismissal_review"]) == (1, 0, 4, True)
    assert (zhao["commission"]["total"], zhao["clawback"], zhao["adjustment"]) == ("200.00", "-100.00", "50.00")
    assert zhao["net"] == f"{Decimal('-560.00') + Decimal('150.00'):.2f}"
    assert [t["team"] for t in period["teams"]] == ["一组", "二组"]
    assert period["office"] == {
        "managers": 2, "weeks_met": 2, "targets": {"leads": 300, "visits": 48, "units": 9},
        "achieved": {"leads": 200, "visits": 32, "units": 6}, "shortfall": {"leads": 100, "visits": 16, "units": 3},
        "fines": {"leads": "100.00", "visits": "160.00", "units": "300.00", "total": "560.00"},
        "commission": {"visit": "0.00", "lead": "200.00", "total": "200.00"},
        "clawback": "-100.00", "adjustment": "50.00", "net": "-410.00"}
    assert period["complete"] is True
    assert list(period) == ["schema", "period", "start", "end", "weeks", "complete", "managers", "teams", "office"]
    assert list(zhao) == ["name", "team", "weeks_assessed", "weeks_met", "targets", "achieved", "shortfall", "fines",
                          "commission", "clawback", "adjustment", "net", "max_streak", "dismissal_review"]
    assert list(period["teams"][0]) == ["team", "managers", "weeks_met", "targets", "achieved", "shortfall", "fines",
                                        "commission", "clawback", "adjustment", "net"]


def test_a_week_of_another_period_is_refused() -> None:
    with pytest.raises(ValueError, match="2026-W49"):
        build(Period.parse("2026-11"), [doc("2026-W49", entry("张伟", "一组"))])


def test_the_log_review_sums_the_weeks_followups() -> None:
    """Contacts logged per week summed; an issue raised counted once however many weeks list it;
    answered by whoever follows it up; overdue as the last closed week says."""
    item = {"source": {"file": "走访日志.xlsx", "sheet": "Sheet1", "row": 3}, "manager": "张伟", "client": "某公司",
            "contacted_at": "2026-11-03T10:00:00", "issue": "车位", "owner": "王强", "due_on": "2026-11-10"}
    followups = [
        {"week": "2026-W45", "items": [{**item, "state": "open", "overdue": False}],
         "people": [{"name": "王强", "open": 1, "overdue": 0, "answered": 0}],
         "contacts": [{"manager": "张伟", "logged": 3, "keen": 1, "neutral": 2, "resistant": 0}]},
        {"week": "2026-W46", "items": [{**item, "state": "answered", "overdue": False}],
         "people": [{"name": "王强", "open": 0, "overdue": 0, "answered": 1}],
         "contacts": [{"manager": "张伟", "logged": 2, "keen": 0, "neutral": 2, "resistant": 0}]},
    ]
    review = log_review(Period.parse("2026-11"), followups)
    assert review.available
    assert [(x.name, x.logged, x.raised, x.answered, x.overdue) for x in review.lines] == [
        ("张伟", 5, 1, 0, 0), ("王强", 0, 0, 1, 0)]
    assert log_review(Period.parse("2026-11"), []) == LogReview()


def test_input_text_stays_text_in_the_period_workbook_and_pages(tmp_path: Path) -> None:
    """A manager or team name from the roster never becomes a formula or markup."""
    from pipeline.report.period import PeriodReport, write_period

    evil, team = "<b>=HYPERLINK(\"x\")</b>", "=1+1"
    weeks = [doc("2026-W45", entry(evil, team)), doc("2026-W46", entry(evil, team, achieved=(1, 0, 0), met=False,
                                                                        streak=1))]
    period = Period.parse("2026-11")
    report = PeriodReport(build(period, weeks), False, weeks, [str(x) for x in period.weeks()], "zh", "A&B", [])
    write_period(report, tmp_path)
    book = openpyxl.load_workbook(tmp_path / "summary.xlsx")
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value in (evil, team)]
    assert cells and all(c.data_type == "s" for c in cells)
    assert book.worksheets[0].oddHeader.left.text == "A&&B"    # '&' starts a header code: doubled
    pages = [tmp_path / "summary.html", *(tmp_path / "managers").iterdir()]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<b>=HYPERLINK" not in html and "&lt;b&gt;=HYPERLINK" in html, page.name
    assert json.loads((tmp_path / "period.json").read_text(encoding="utf-8"))["managers"][0]["name"] == evil


@given(st.fixed_dictionaries({k: st.integers(-5, 10**6) for k in ("leads", "visits", "units")}),
       st.fixed_dictionaries({k: st.integers(-2, 10**6) for k in ("leads", "visits", "units")}))
@example({"leads": 331, "visits": 61, "units": 9}, {"leads": 400, "visits": 64, "units": 12})
@example({"leads": 2, "visits": 1, "units": 1}, {"leads": 3, "visits": 3, "units": 3})   # 0.666...: 66
@example({"leads": -3, "visits": 0, "units": 0}, {"leads": 4, "visits": 0, "units": 0})  # towards zero: 0
def test_attainment_is_the_mean_of_the_tasks_fractions_rounded_towards_zero(achieved: dict[str, int],
                                                                            targets: dict[str, int]) -> None:
    """The attainment (in whole numbers) against its definition in fractions: the mean over the
    tasks with a target of min(achieved / target, 1), times 100, rounded towards zero."""
    parts = [Fraction(min(achieved[i], targets[i]), targets[i]) for i in ("leads", "visits", "units")
             if targets[i] > 0]
    expected = int(sum(parts, Fraction(0)) * 100 / len(parts)) if parts else None
    assert attainment(achieved, targets) == expected


def period_folder(tmp_path: Path, leaders: list[tuple[str, str]], summary_to: list[str]) -> tuple[Any, Path, Any]:
    """A month of three managers written to a folder: (its report, the folder, the config)."""
    from pipeline.config import load
    from pipeline.records import Person
    from pipeline.report.period import PeriodReport, write_period

    weeks = [doc("2026-W45", entry("张伟", "一组"), entry("王强", "二组", achieved=(50, 16, 3), met=False, streak=1)),
             doc("2026-W46", entry("张伟", "一组", achieved=(80, 16, 3), met=False, streak=1), entry("王强", "二组"))]
    period = Period.parse("2026-11")
    roster = [Person(name, "leader", "一组", address, date(1, 1, 1), date(1, 1, 1)) for name, address in leaders]
    report = PeriodReport(build(period, weeks), False, weeks, [str(x) for x in period.weeks()], "zh", "滨江壹号",
                          roster)
    folder = tmp_path / "2026-11"
    write_period(report, folder)
    toml = tmp_path / "pipeline.toml"
    listed = ", ".join(f'"{a}"' for a in summary_to)
    toml.write_text(f'office = "滨江壹号"\n[mail]\nfrom = "report@example.com"\nsummary_to = [{listed}]\n',
                    encoding="utf-8")
    return report, folder, load(toml)


def test_each_leaders_period_email_is_the_one_built_for_that_leader_alone(tmp_path: Path) -> None:
    """The period's emails are built once and given each leader's own header, Message-ID and
    boundaries: each is byte for byte the email built for that leader alone; the digests are the
    written bytes' (left empty after the first when nothing is to be sent)."""
    import hashlib

    from pipeline import mail

    leaders = [("刘总", "boss@example.com"), ("陈总", "chen@example.com；aide@example.com")]
    report, folder, config = period_folder(tmp_path / "all", leaders, ["gm@example.com"])
    written = mail.write_period_messages(report, folder, config)
    outbox = folder / "outbox"
    expected = ["boss@example.com", "chen@example.com", "aide@example.com", "gm@example.com"]
    assert [m.recipients for m in written] == [(a,) for a in expected]
    assert sorted(p.name for p in outbox.iterdir()) == sorted(m.filename for m in written)
    for m in written:
        data = (outbox / m.filename).read_bytes()
        assert m.digest == hashlib.sha256(data).hexdigest()
        parsed = email.message_from_bytes(data, policy=SMTP_POLICY)
        assert str(parsed["To"]) == m.recipients[0]
        assert next(parsed.iter_attachments()).get_content() == (folder / "summary.xlsx").read_bytes()
        nobody = [(name, "") for name, _ in leaders]   # the same pages, only this address to write to
        alone, alone_folder, alone_config = period_folder(tmp_path / m.recipients[0], nobody, list(m.recipients))
        (one,) = mail.build_period_messages(alone, alone_folder, alone_config)
        assert one.data == data, m.recipients
    files = {m.filename: (outbox / m.filename).read_bytes() for m in written}
    assert len({data.split(b"\r\n\r\n", 1)[0] for data in files.values()}) == 4   # a header block each
    quiet = mail.write_period_messages(report, folder, config, digests=False)
    assert [m.digest for m in quiet] == [written[0].digest, "", "", ""]
    assert {m.filename: (outbox / m.filename).read_bytes() for m in quiet} == files


# --- a cron office over a month's end ------------------------------------------------------------

class Office:
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root, self.inbox, self.out, self.state = root, root / "in", root / "out", root / "state"
        self.config = root / "pipeline.toml"
        smtp = f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n' if port else ""
        self.config.write_text('office = "滨江壹号"\n[mail]\nfrom = "report@example.com"\n'
                               f'summary_to = ["gm@example.com"]\n{smtp}', encoding="utf-8")
        self.log: list[tuple[str, list[str]]] = []   # (week closed, folders present after the run)

    def run(self, *args: str) -> Any:
        done = run_cli("run", "--inbox", str(self.inbox), "--out", str(self.out), "--state", str(self.state),
                       "--config", str(self.config), *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def report(self, period: str, *args: str) -> Any:
        return run_cli("report", "--period", period, "--out", str(self.out), "--state", str(self.state),
                       "--config", str(self.config), *args)

    def folders(self) -> list[str]:
        return sorted(p.name for p in self.out.iterdir() if p.is_dir()) if self.out.exists() else []

    def json(self, folder: str, name: str) -> dict[str, Any]:
        return json.loads((self.out / folder / name).read_text(encoding="utf-8"))


def drop_week(office: Office, k: int) -> None:
    """Week k's workbooks (k = 0 is 2026-W44): leads, a few units, from week 1 a visit and a deal."""
    monday = datetime.combine(FIRST_MONDAY + timedelta(days=7 * k), datetime.min.time())
    leads = [["张伟", 13800000000 + 1000 * k + i, monday + timedelta(hours=9, minutes=i), ""] for i in range(60 + 15 * k)]
    leads += [["王强", 13900000000 + 1000 * k + i, monday + timedelta(days=1, hours=9, minutes=i), ""]
              for i in range(100 if k % 3 == 0 else 30)]
    leads += [["Zoe", 13700000000 + 1000 * k + i, monday + timedelta(days=2, hours=9, minutes=i), ""] for i in range(5)]
    workbook(office.inbox / f"号码-{k}.xlsx", {"号码": (LEADS, leads)})
    units = [[name, f"{name}单位{k}-{i}", monday + timedelta(days=3), "photo.jpg"]
             for name in ("张伟", "王强") for i in range(3 if k % 2 == 0 else 1)]
    workbook(office.inbox / f"单位-{k}.xlsx", {"单位": (UNITS, units)})
    if k:
        earlier = 13800000000 + 1000 * (k - 1)
        workbook(office.inbox / f"到访-{k}.xlsx", {"到访": (VISITS, [["张伟", earlier + 1, monday + timedelta(hours=15), "李娜"]])})
        workbook(office.inbox / f"成交-{k}.xlsx", {"成交": (DEALS, [
            [earlier + 1, monday + timedelta(days=4), "李娜", "4000", f"1-{k}01"],
            [earlier + 2, monday + timedelta(days=4), "李娜", "3000", f"1-{k}02"]])})
    if k == 3:
        roster(office.inbox / "名单-新.xlsx", MOVED)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def cron(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Office:
    """Monday 08:00 runs with --send from 2026-W44 to 2026-W50, then `report --period 2026-12`."""
    office = Office(tmp_path_factory.mktemp("cron"), smtp[1])
    roster(office.inbox / "名单.xlsx", PEOPLE)
    for k in range(WEEKS):
        drop_week(office, k)
        now = datetime.combine(FIRST_MONDAY + timedelta(days=7 * (k + 1)), datetime.min.time()) + timedelta(hours=8)
        office.run("--now", now.isoformat(), "--send", *(["--week", "2026-W44"] if k == 0 else []))
        office.log.append((str(Week.of(FIRST_MONDAY + timedelta(days=7 * k))), office.folders()))
    return office


def expected_period(weeks: list[dict[str, Any]], name: str, all_weeks: list[str]) -> dict[str, Any]:
    """SPEC §8 computed here, independently, from the weekly results.json files."""
    weeks = sorted(weeks, key=lambda d: d["week"])
    tasks = ("leads", "visits", "units")

    def zero() -> dict[str, Any]:
        return {"targets": dict.fromkeys(tasks, 0), "achieved": dict.fromkeys(tasks, 0),
                "shortfall": dict.fromkeys(tasks, 0), "fines": dict.fromkeys((*tasks, "total"), Decimal(0)),
                "commission": dict.fromkeys(("visit", "lead", "total"), Decimal(0)),
                "clawback": Decimal(0), "adjustment": Decimal(0), "net": Decimal(0)}

    def add(into: dict[str, Any], m: dict[str, Any]) -> None:
        for key in ("targets", "achieved", "shortfall"):
            for task in tasks:
                into[key][task] += m[key][task]
        for key in ("fines", "commission"):
            for sub in into[key]:
                into[key][sub] += Decimal(m[key][sub])
        for key in ("clawback", "adjustment", "net"):
            into[key] += Decimal(m.get(key, "0.00"))

    def text(figures: dict[str, Any]) -> dict[str, Any]:
        out = dict(figures)
        for key in ("fines", "commission"):
            out[key] = {k: f"{v:.2f}" for k, v in figures[key].items()}
        for key in ("clawback", "adjustment", "net"):
            out[key] = f"{figures[key]:.2f}"
        return out

    people: dict[str, dict[str, Any]] = {}
    for week in weeks:
        for m in week["managers"]:
            p = people.setdefault(m["name"], {"weeks_assessed": 0, "weeks_met": 0, "max_streak": 0,
                                              "dismissal_review": False, **zero()})
            p["team"] = m["team"]
            p["weeks_assessed"] += m["active_days"] > 0
            p["weeks_met"] += m["active_days"] > 0 and m["met"]
            p["max_streak"] = max(p["max_streak"], m["streak"])
            p["dismissal_review"] = p["dismissal_review"] or m["dismissal_review"]
            add(p, m)
    managers = []
    for person in sorted(people):
        p = people[person]
        managers.append({"name": person, "team": p["team"], "weeks_assessed": p["weeks_assessed"],
                         "weeks_met": p["weeks_met"], **text({k: p[k] for k in zero()}),
                         "max_streak": p["max_streak"], "dismissal_review": p["dismissal_review"]})

    def group(members: list[dict[str, Any]]) -> dict[str, Any]:
        sums = zero()
        for m in members:
            add(sums, {**m, "fines": m["fines"], "commission": m["commission"]})
        return {"managers": len(members), "weeks_met": sum(m["weeks_met"] for m in members), **text(sums)}

    teams = sorted({m["team"] for m in managers})
    return {"schema": 1, "period": name, "start": Week.parse(all_weeks[0]).monday.isoformat(),
            "end": Week.parse(all_weeks[-1]).sunday.isoformat(), "weeks": [d["week"] for d in weeks],
            "complete": [d["week"] for d in weeks] == all_weeks, "managers": managers,
            "teams": [{"team": t, **group([m for m in managers if m["team"] == t])} for t in teams],
            "office": group(managers)}


def weekly_files(office: Office, weeks: list[str]) -> list[dict[str, Any]]:
    return [office.json(x, "results.json") for x in weeks if (office.out / x / "results.json").exists()]


def test_cron_writes_a_months_folder_when_it_closes_the_months_last_week(cron: Office) -> None:
    """Only the runs that close 2026-W44 (October's last) and 2026-W48 (November's last) write a
    period folder; each holds period.json, summary.xlsx, summary.html and a page per manager."""
    written = {week: [f for f in folders if not f.startswith("2026-W")] for week, folders in cron.log}
    assert written["2026-W44"] == ["2026-10"]
    assert written["2026-W47"] == ["2026-10"]
    assert written["2026-W48"] == ["2026-10", "2026-11"]
    assert written["2026-W50"] == ["2026-10", "2026-11"]
    folder = cron.out / "2026-11"
    assert sorted(p.name for p in folder.iterdir()) == ["managers", "outbox", "period.json", "summary.html",
                                                          "summary.xlsx"]
    assert sorted(p.name for p in (folder / "managers").iterdir()) == ["Zoe.html", "张伟.html", "王强.html"]
    assert not [p for p in cron.out.iterdir() if p.name.startswith(".")]   # no temporary folder left


def test_the_months_period_json_is_the_sum_of_its_weekly_results(cron: Office) -> None:
    november = [str(x) for x in Period.parse("2026-11").weeks()]
    expected = expected_period(weekly_files(cron, november), "2026-11", november)
    period = cron.json("2026-11", "period.json")
    assert period == expected
    assert period["complete"] is True and period["weeks"] == november
    wang = next(m for m in period["managers"] if m["name"] == "王强")
    assert wang["team"] == "一组"                    # moved in 2026-W47: his latest week's team
    assert [t["team"] for t in period["teams"]] == ["一组", "二组"]
    assert next(t for t in period["teams"] if t["team"] == "一组")["managers"] == 2
    assert Decimal(period["office"]["commission"]["total"]) > 0
    october = cron.json("2026-10", "period.json")
    assert october == expected_period(weekly_files(cron, ["2026-W44"]), "2026-10",
                                      [str(x) for x in Period.parse("2026-10").weeks()])
    assert october["complete"] is False              # its weeks before the first run were never closed


def test_report_period_writes_the_month_the_run_that_closed_it_wrote(cron: Office, tmp_path: Path) -> None:
    """`pipeline report --period` reads only the closed weeks' managers from the state; the run
    that closed November had its last week's whole results in hand: the same folder either way."""
    done = run_cli("report", "--period", "2026-11", "--out", str(tmp_path), "--state", str(cron.state),
                   "--config", str(cron.config))
    assert done.returncode == 0, done.stderr
    ours, theirs = tmp_path / "2026-11", cron.out / "2026-11"
    pages = sorted(p.relative_to(theirs) for p in theirs.rglob("*.html"))
    assert len(pages) == 4 and pages == sorted(p.relative_to(ours) for p in ours.rglob("*.html"))
    for name in [Path("period.json"), *pages]:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name

    def values(path: Path) -> list[list[list[Any]]]:
        book = openpyxl.load_workbook(path)
        return [[list(row) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets]

    assert values(ours / "summary.xlsx") == values(theirs / "summary.xlsx")


def test_report_period_writes_a_partial_month(cron: Office) -> None:
    """December so far: 2026-W49 and W50 closed of five; `complete` false, sums of those two."""
    done = cron.report("2026-12", "--now", "2026-12-15T10:00:00")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not complete: 2 of 5 weeks closed" in done.stdout
    december = [str(x) for x in Period.parse("2026-12").weeks()]
    period = cron.json("2026-12", "period.json")
    assert period == expected_period(weekly_files(cron, december), "2026-12", december)
    assert (period["complete"], period["weeks"], period["start"], period["end"]) == (
        False, ["2026-W49", "2026-W50"], "2026-11-30", "2027-01-03")
    assert not (cron.out / "2026-12" / "outbox").exists()   # a report writes no email; a run or send does
    quarter = cron.report("2026-Q4")
    assert quarter.returncode == 0, quarter.stderr
    q4 = [str(x) for x in Period.parse("2026-Q4").weeks()]
    assert cron.json("2026-Q4", "period.json") == expected_period(weekly_files(cron, q4), "2026-Q4", q4)


@pytest.mark.parametrize("bad", ["2026-13", "2026-Q0", "november"])
def test_report_refuses_a_bad_period_with_exit_2(cron: Office, bad: str) -> None:
    done = cron.report(bad)
    assert done.returncode == 2 and "--period" in done.stderr and "2026-Q4" in done.stderr


def test_report_without_state_exits_2(tmp_path: Path) -> None:
    done = run_cli("report", "--period", "2026-11", "--out", str(tmp_path / "out"), "--state", str(tmp_path / "s"))
    assert done.returncode == 2 and "no week has been closed" in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_period_workbook_reads_back_with_native_charts_and_page_setup(cron: Office) -> None:
    path = cron.out / "2026-11" / "summary.xlsx"
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["客户经理汇总", "罚款与佣金明细", "团队汇总", "每周趋势", "每周达成率", "走访日志回顾"]
    period = cron.json("2026-11", "period.json")
    managers = book["客户经理汇总"]
    header = [c.value for c in managers[1]]
    rows = {r[1]: r for r in managers.iter_rows(min_row=2, values_only=True) if r[1] in {"张伟", "王强", "Zoe"}}
    for m in period["managers"]:
        row = rows[m["name"]]
        assert row[header.index("净额")] == pytest.approx(float(m["net"]))
        assert row[header.index("罚款合计")] == pytest.approx(float(m["fines"]["total"]))
        assert row[header.index("诚意号码完成")] == m["achieved"]["leads"]
        assert (row[2], row[3]) == (m["weeks_assessed"], m["weeks_met"])
    office_row = next(r for r in managers.iter_rows(min_row=2, values_only=True) if r[0] == "全体合计")
    assert office_row[header.index("净额")] == pytest.approx(float(period["office"]["net"]))
    trend = book["每周趋势"]
    assert [r[0] for r in trend.iter_rows(min_row=2, max_col=1, values_only=True) if r[0]] == period["weeks"]
    for ws in book.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        # fit to one page wide, any number long (fitToWidth absent: its default, 1)
        assert ws.sheet_properties.pageSetUpPr.fitToPage and (ws.page_setup.fitToWidth or 1) == 1, ws.title
        assert ws.page_setup.fitToHeight == 0, ws.title
        assert ws.print_title_rows == "$1:$1", ws.title
        assert "滨江壹号" in ws.oddHeader.left.text and "2026-11" in ws.oddHeader.center.text, ws.title
        assert ws.oddHeader.right.text == "&A" and "&P" in ws.oddFooter.center.text, ws.title
    with zipfile.ZipFile(path) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) >= 3                      # attainment lines, money columns, a chart per team
        lines = z.read(charts[0]).decode()
        assert "<c:lineChart>" in lines and "每周趋势" in lines


def test_leaders_get_the_months_summary_once_with_its_chart(cron: Office, smtp: tuple[Inbox, int]) -> None:
    received, _ = smtp
    months = [(to, m) for to, m in received.messages if "月报" in str(m["Subject"])]
    assert sorted((to, str(m["Subject"])) for to, m in months) == [
        ("boss@example.com", "【滨江壹号】2026-10 月报 团队汇总"),
        ("boss@example.com", "【滨江壹号】2026-11 月报 团队汇总"),
        ("gm@example.com", "【滨江壹号】2026-10 月报 团队汇总"),
        ("gm@example.com", "【滨江壹号】2026-11 月报 团队汇总"),
    ]
    message = next(m for to, m in months if "2026-11" in str(m["Subject"]))
    assert isinstance(message, EmailMessage)
    html = message.get_body(("html",)).get_content()
    lowered = html.lower()
    assert "<script" not in lowered and "<svg" not in lowered and "<img" not in lowered
    assert "http://" not in lowered and "https://" not in lowered and "url(" not in lowered
    assert 'bgcolor="#16a34a"' in html or 'bgcolor="#d97706"' in html or 'bgcolor="#dc2626"' in html
    assert html.count("bgcolor=") >= 12               # a bar per week for office, teams and managers
    attachment = next(message.iter_attachments())
    assert attachment.get_filename() == "2026-11 汇总.xlsx"
    with zipfile.ZipFile(io.BytesIO(attachment.get_content())) as z:
        assert any(n.startswith("xl/charts/") for n in z.namelist())
    # the outbox keeps the same email; nothing of a period is sent to a manager
    assert sorted(p.name for p in (cron.out / "2026-11" / "outbox").iterdir()) == [
        "2026-11-summary-boss@example.com.eml", "2026-11-summary-gm@example.com.eml"]
    parsed = email.message_from_bytes((cron.out / "2026-11" / "outbox" / "2026-11-summary-gm@example.com.eml")
                                      .read_bytes(), policy=SMTP_POLICY)
    assert str(parsed["Subject"]) == "【滨江壹号】2026-11 月报 团队汇总"


def test_pipeline_send_period_sends_only_what_was_not_sent(cron: Office, smtp: tuple[Inbox, int]) -> None:
    """The sent-once table knows the month's summary by the period's name: sending it again sends
    nothing; --resend sends it to each leader again."""
    received, _ = smtp
    common = ["--out", str(cron.out), "--state", str(cron.state), "--config", str(cron.config)]
    before = len(received.messages)
    done = run_cli("send", "--period", "2026-11", *common)
    assert (done.returncode, done.stdout.strip(), len(received.messages)) == (0, "emails sent: 0, failed: 0", before)
    done = run_cli("send", "--period", "2026-11", "--resend", *common)
    assert done.returncode == 0 and "emails sent: 2" in done.stdout
    assert sorted(to for to, _ in received.messages[before:]) == ["boss@example.com", "gm@example.com"]
    both = run_cli("send", "--period", "2026-11", "--week", "2026-W48", *common)
    assert both.returncode == 2 and "either --week" in both.stderr


def test_status_lists_a_months_emails_not_sent(cron: Office) -> None:
    done = run_cli("status", "--json", "--inbox", str(cron.inbox), "--out", str(cron.out), "--state", str(cron.state))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unsent"] == {}
    (cron.out / "2026-11" / "outbox" / "2026-11-summary-gm@example.com.eml").write_bytes(b"changed")
    done = run_cli("status", "--json", "--inbox", str(cron.inbox), "--out", str(cron.out), "--state", str(cron.state))
    assert json.loads(done.stdout)["unsent"] == {"2026-11": ["2026-11-summary-gm@example.com.eml"]}


def test_a_catch_up_run_across_the_months_end_writes_the_month(tmp_path: Path) -> None:
    """A missed fortnight: one run computes 2026-W47 to 2026-W49 and closes November on the way,
    from the stored 2026-W45..W46 and its own weeks; a dry run before it wrote no period folder."""
    office = Office(tmp_path)
    roster(office.inbox / "名单.xlsx", PEOPLE)
    for k in (1, 2):
        drop_week(office, k)
    office.run("--week", "2026-W45", "--now", "2026-11-09T08:00:00")
    office.run("--now", "2026-11-16T08:00:00")
    for k in (3, 4, 5):
        drop_week(office, k)
    office.run("--dry-run", "--now", "2026-12-07T08:00:00")
    assert [f for f in office.folders() if not f.startswith("2026-W")] == []
    office.run("--now", "2026-12-07T08:00:00")
    assert [f for f in office.folders() if not f.startswith("2026-W")] == ["2026-11"]
    november = [str(x) for x in Period.parse("2026-11").weeks()]
    assert office.json("2026-11", "period.json") == expected_period(weekly_files(office, november), "2026-11", november)
    assert office.json("2026-11", "period.json")["complete"] is True


# --- real programs open what the period wrote ----------------------------------------------------

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BAR_COLOURS = {(0x16, 0xA3, 0x4A), (0xD9, 0x77, 0x06), (0xDC, 0x26, 0x26)}   # context.GREEN, AMBER, RED


@pytest.mark.skipif(SOFFICE is None and not os.environ.get("CI"), reason="LibreOffice is not installed")
def test_libreoffice_converts_the_period_workbook_with_its_charts(cron: Office, tmp_path: Path) -> None:
    assert SOFFICE is not None, "LibreOffice (soffice) is required in CI"
    book = cron.out / "2026-11" / "summary.xlsx"
    command = [SOFFICE, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless",
               "--convert-to", "pdf", "--outdir", str(tmp_path), str(book)]
    done = subprocess.run(command, capture_output=True, timeout=300, check=False)
    log = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0 and "Error" not in log, log
    pdf = (tmp_path / "summary.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000, log
    # every page A4 landscape, numbered in its footer, and one page wide: each page of a sheet
    # (named at the right of its header) shows every column's header
    pypdf = pytest.importorskip("pypdf")
    pages = [(p.extract_text() or "", (round(float(p.mediabox.width)), round(float(p.mediabox.height))))
             for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]
    flat = ["".join(text.split()) for text, _ in pages]
    assert all(size == (842, 595) for _, size in pages)
    assert all(f"第{n}页，共{len(pages)}页" in text for n, text in enumerate(flat, start=1))
    book = openpyxl.load_workbook(book)
    for ws in book.worksheets:
        mine = [text for (raw, _), text in zip(pages, flat, strict=True) if raw.splitlines()[0].endswith(ws.title)]
        assert mine, ws.title
        headers = ["".join(str(c.value).split()) for c in ws[1] if c.value]
        assert all(h in text for text in mine for h in headers), ws.title
    assert sum(1 for raw, _ in pages if raw.splitlines()[0].endswith("每周趋势")) == 2   # a chart a page


def tall_bars(rows: list[bytes], channels: int, height: int = 12) -> int:
    """Columns of the screenshot holding a vertical run of `height` or more pixels of a bar's
    colour: only the weekly trend's bars are that tall (the progress bars are 8 px)."""
    width = len(rows[0]) // channels
    found = 0
    for x in range(width):
        run = 0
        for row in rows:
            if tuple(row[x * channels:x * channels + 3]) in BAR_COLOURS:
                run += 1
                if run >= height:
                    found += 1
                    break
            else:
                run = 0
    return found


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed")
def test_chromium_draws_the_months_summary_with_its_bars(cron: Office, tmp_path: Path) -> None:
    from tests.test_browser import pixels, read_png, screenshot

    png = tmp_path / "month.png"
    screenshot(cron.out / "2026-11" / "summary.html", png, tmp_path / "profile")
    width, _, rows = read_png(png)
    channels = len(rows[0]) // width
    assert len(pixels(rows, channels)) > 50, "the page looks blank"
    assert tall_bars(rows, channels) >= 3 * 14, "the weekly bars were not drawn"
    page = tmp_path / "manager.png"
    screenshot(cron.out / "2026-11" / "managers" / "张伟.html", page, tmp_path / "profile")
    width, _, rows = read_png(page)
    assert tall_bars(rows, len(rows[0]) // width) >= 3 * 14


@pytest.mark.parametrize("crash", ["after_outputs", "after_commit"])
def test_a_crash_around_the_commit_leaves_the_month_as_the_next_run_writes_it(tmp_path: Path, crash: str) -> None:
    """Killed after the folders are in place (before or after the commit), the next run finishes
    the job: the month's folder holds the sums of the weeks the state closed."""
    office = Office(tmp_path)
    roster(office.inbox / "名单.xlsx", PEOPLE)
    drop_week(office, 4)                                   # 2026-W48, November's last week
    args = ["run", "--inbox", str(office.inbox), "--out", str(office.out), "--state", str(office.state),
            "--config", str(office.config), "--now", "2026-11-30T08:00:00"]
    killed = run_cli(*args, env={**os.environ, "PIPELINE_CRASH_AT": crash})
    assert killed.returncode == -9, killed.stderr
    assert (office.out / "2026-11" / "period.json").exists()
    office.run("--now", "2026-11-30T08:00:00")
    period = office.json("2026-11", "period.json")
    november = [str(x) for x in Period.parse("2026-11").weeks()]
    assert period == expected_period(weekly_files(office, november), "2026-11", november)
    assert period["weeks"] == ["2026-W48"] and period["complete"] is False


def test_the_run_that_closes_a_quarters_last_week_writes_the_month_and_the_quarter(tmp_path: Path) -> None:
    """2026-W53 (28 December to 3 January, Thursday 31 December) ends December and so 2026-Q4."""
    office = Office(tmp_path)
    roster(office.inbox / "名单.xlsx", PEOPLE)
    workbook(office.inbox / "号码.xlsx", {"号码": (LEADS, [["张伟", 13800138000, datetime(2026, 12, 29, 9), ""]])})
    done = office.run("--week", "2026-W53", "--now", "2027-01-04T08:00:00")
    assert "wrote 2026-12" in done.stdout and "wrote 2026-Q4" in done.stdout
    assert [f for f in office.folders() if not f.startswith("2026-W")] == ["2026-12", "2026-Q4"]
    quarter = office.json("2026-Q4", "period.json")
    assert (quarter["period"], quarter["start"], quarter["end"], quarter["weeks"], quarter["complete"]) == (
        "2026-Q4", "2026-09-28", "2027-01-03", ["2026-W53"], False)
    assert quarter["managers"] == office.json("2026-12", "period.json")["managers"]
    assert quarter == expected_period(weekly_files(office, ["2026-W53"]), "2026-Q4",
                                      [str(x) for x in Period.parse("2026-Q4").weeks()])
