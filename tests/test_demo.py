"""The demo inbox: readable as the six kinds, deterministic, dated in the right week, and telling
the story it promises (checked with a small replay of SPEC §4 over what the reader returns)."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.demo import demo_week, write_demo
from pipeline.io.read import read_file, sheets_of
from pipeline.schema import KINDS, TIME_COLUMN
from pipeline.template import FILE_NAMES
from pipeline.validate import validate_files

NOW = datetime(2026, 11, 30, 8, 0)
WEEK_START = datetime(2026, 11, 23)
WEEK_END = datetime(2026, 11, 29, 23, 59, 59)
TARGETS = {"leads": 100, "visits": 16, "units": 3}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_demo(tmp_path_factory.mktemp("demo"), NOW)


def _sheets(paths: list[Path]) -> dict[str, Any]:
    return {s.kind: s for p in paths for s in read_file(p) if s.kind}


@pytest.mark.parametrize(("now", "start"), [
    (datetime(2026, 11, 30, 8, 0), datetime(2026, 11, 23)),
    (datetime(2026, 11, 30, 0, 0), datetime(2026, 11, 23)),
    (datetime(2026, 11, 29, 23, 59, 59), datetime(2026, 11, 16)),
    (datetime(2026, 12, 3, 12, 0), datetime(2026, 11, 23)),
    (datetime(2027, 1, 4, 9, 0), datetime(2026, 12, 28)),
])
def test_demo_week_is_the_last_complete_iso_week(now: datetime, start: datetime) -> None:
    assert demo_week(now) == (start, start + timedelta(days=7) - timedelta(seconds=1))


def test_files_and_kinds(demo: list[Path]) -> None:
    assert [p.name for p in demo] == [FILE_NAMES["zh"][k] for k in KINDS]
    reports, ok = validate_files(demo)
    assert ok
    assert [r["kind"] for r in reports] == list(KINDS)
    assert all(r["error"] is None for r in reports)
    by_kind = {r["kind"]: r for r in reports}
    assert by_kind["leads"]["header_row"] == 2  # a title row above the header
    assert 200 <= by_kind["registrations"]["rows"] <= 600
    leads_reasons = Counter(p["reason"] for p in by_kind["leads"]["problems"])
    assert leads_reasons["INVALID_PHONE"] >= 1
    # Only the leads sheet carries reading problems, and only bad phone numbers.
    assert set(leads_reasons) == {"INVALID_PHONE"}
    assert all(not r["problems"] for r in reports if r["kind"] != "leads")


def test_same_now_gives_the_same_data(tmp_path: Path) -> None:
    first = write_demo(tmp_path / "a", NOW)
    second = write_demo(tmp_path / "b", NOW)
    for a, b in zip(first, second, strict=True):
        assert read_file(a) == read_file(b)
        assert sheets_of(a, a.name) == sheets_of(b, b.name)


def test_small_and_fast(tmp_path: Path) -> None:
    began = time.perf_counter()
    write_demo(tmp_path, NOW)
    assert time.perf_counter() - began < 2.0


def test_dates_fall_in_the_demo_week(demo: list[Path]) -> None:
    sheets = _sheets(demo)
    for kind in ("leads", "visits", "units", "deals"):
        column = TIME_COLUMN[kind]
        assert sheets[kind].rows
        for row in sheets[kind].rows:
            assert WEEK_START <= row.values[column] <= WEEK_END, (kind, row.source)
    first = WEEK_START - timedelta(weeks=8)
    for row in sheets["registrations"].rows:
        assert first <= row.values["registered_at"] < WEEK_START


def test_roster(demo: list[Path]) -> None:
    rows = [r.values for r in _sheets(demo)["roster"].rows]
    roles = Counter(r["role"] for r in rows)
    assert 10 <= roles["manager"] <= 14
    teams = sorted({r["team"] for r in rows})
    assert teams == ["一组", "三组", "二组"]
    for team in teams:
        members = Counter(r["role"] for r in rows if r["team"] == team)
        assert 2 <= members["salesperson"] <= 3 and members["leader"] == 1
    emails = [r["email"] for r in rows]
    assert len(set(emails)) == len(rows)
    assert all(re.fullmatch(r"[a-z]+@example\.com", e) for e in emails)


def test_messy_cells_are_there(demo: list[Path]) -> None:
    leads = demo[list(KINDS).index("leads")]
    (_name, grid), = sheets_of(leads, leads.name)
    header = grid[1]
    phones = [row[header.index("手机号")] for row in grid[2:]]
    dates = [row[header.index("报备时间")] for row in grid[2:]]
    assert any(isinstance(p, float) for p in phones)
    assert any(isinstance(p, str) and re.fullmatch(r"\+86 1\d\d-\d{4}-\d{4}", p) for p in phones)
    assert any(isinstance(p, str) and "０" <= p[:1] <= "９" for p in phones)
    assert any(isinstance(d, datetime) for d in dates)
    assert any(isinstance(d, str) and re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d", d) for d in dates)
    deals = [r.values["commission"] for r in _sheets(demo)["deals"].rows]
    assert len(deals) >= 3


# ---------------------------------------------------------------------------------------------
# a small replay of SPEC §4, enough to check the story the demo tells


def _replay(paths: list[Path]) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]], Counter[str]]:
    sheets = _sheets(paths)
    roster = {r.values["name"]: r.values for r in sheets["roster"].rows}
    rank = {p.name: i for i, p in enumerate(sorted(paths, key=lambda p: p.name))}
    events = sorted(
        (row.values[TIME_COLUMN[kind]], kind != "registrations", rank[row.source.file], row.source.row, kind,
         row.values)
        for kind in TIME_COLUMN for row in sheets[kind].rows)
    owner: dict[str, str] = {}
    visited: set[str] = set()
    counted_visits: set[tuple[str, str]] = set()
    units_seen: set[str] = set()
    achieved: dict[str, Counter[str]] = {n: Counter() for n, v in roster.items() if v["role"] == "manager"}
    reasons: dict[str, Counter[str]] = {k: Counter() for k in TIME_COLUMN}
    deal_kinds: Counter[str] = Counter()

    def manager_problem(name: str, at: datetime) -> str | None:
        person = roster.get(name)
        if not person or person["role"] != "manager":
            return "UNKNOWN_MANAGER"
        if person["active_from"] and at < person["active_from"]:
            return "INACTIVE_MANAGER"
        return None

    for at, _, _, _, kind, v in events:
        p = v.get("phone")
        if kind == "registrations":
            owner.setdefault(p, v["registered_by"])
            continue
        if kind == "deals":
            who = owner.get(p)
            if who is None:
                deal_kinds["NOT_REGISTERED"] += 1
            elif who not in achieved:
                deal_kinds["OWNER_NOT_MANAGER"] += 1
            else:
                deal_kinds["visit" if (who, p) in counted_visits else "lead"] += 1
            continue
        m = v["manager"]
        reason = manager_problem(m, at)
        if kind == "leads":
            reason = reason or ("DUPLICATE_OWN" if owner.get(p) == m else "ALREADY_REGISTERED" if p in owner else None)
            if reason is None:
                owner[p] = m
        elif kind == "visits":
            sp = roster.get(v["salesperson"])
            if reason is None:
                if not sp or sp["role"] != "salesperson":
                    reason = "UNKNOWN_SALESPERSON"
                elif sp["team"] != roster[m]["team"]:
                    reason = "SALESPERSON_OTHER_TEAM"
                elif p not in owner:
                    reason = "NOT_REGISTERED"
                elif owner[p] != m:
                    reason = "REGISTERED_BY_OTHER"
                elif p in visited:
                    reason = "NOT_FIRST_VISIT"
            visited.add(p)
            if reason is None:
                counted_visits.add((m, p))
        else:
            if reason is None:
                if not v["photo"]:
                    reason = "NO_PHOTO"
                elif v["unit_key"] in units_seen:
                    reason = "DUPLICATE_UNIT"
            if reason is None:
                units_seen.add(v["unit_key"])
        if reason is None:
            achieved[m][kind] += 1
        else:
            reasons[kind][reason] += 1
    return achieved, reasons, deal_kinds


def _targets(active_from: datetime | None) -> dict[str, int]:
    days = sum(1 for d in range(7) if active_from is None or WEEK_START + timedelta(days=d) >= active_from)
    return {k: (2 * t * days + 7) // 14 for k, t in TARGETS.items()}  # half up, exactly


def test_the_story(demo: list[Path]) -> None:
    achieved, reasons, deal_kinds = _replay(demo)
    roster = {r.values["name"]: r.values for r in _sheets(demo)["roster"].rows}
    shortfalls = {m: {k: max(0, t - achieved[m][k]) for k, t in _targets(roster[m]["active_from"]).items()}
                  for m in achieved}
    met = sorted(m for m, s in shortfalls.items() if not any(s.values()))
    assert met == ["张伟"]
    clearly_failing = sorted(m for m, s in shortfalls.items() if all(s.values()) and s["leads"] >= 50)
    assert 1 <= len(clearly_failing) <= 2
    assert sum(1 for c in achieved.values() if c["leads"] >= 100) >= 2
    assert any(roster[m]["active_from"] > WEEK_START for m in achieved)  # someone joined mid-week

    assert {"ALREADY_REGISTERED", "DUPLICATE_OWN"} <= set(reasons["leads"])
    assert {"SALESPERSON_OTHER_TEAM", "NOT_FIRST_VISIT", "NOT_REGISTERED", "REGISTERED_BY_OTHER"} <= set(reasons["visits"])
    assert {"NO_PHOTO", "DUPLICATE_UNIT"} <= set(reasons["units"])
    assert reasons["units"]["DUPLICATE_UNIT"] == 1
    assert {"visit", "lead", "NOT_REGISTERED"} <= set(deal_kinds)


def test_a_week_across_the_new_year(tmp_path: Path) -> None:
    paths = write_demo(tmp_path, datetime(2027, 1, 4, 9, 0))
    start, end = demo_week(datetime(2027, 1, 4, 9, 0))
    assert start == datetime(2026, 12, 28)
    sheets = _sheets(paths)
    assert sheets["leads"].sheet == "第53周"
    for kind in ("leads", "visits", "units", "deals"):
        assert all(start <= r.values[TIME_COLUMN[kind]] <= end for r in sheets[kind].rows)
    achieved, _reasons, _deals = _replay(paths)
    assert achieved["张伟"]["leads"] >= 100
