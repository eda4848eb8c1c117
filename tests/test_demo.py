"""The demo inbox: readable as the six kinds, deterministic, dated in the right week, and telling
the story it promises (checked through the real weekly run)."""

from __future__ import annotations

import re
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


def test_small(demo: list[Path]) -> None:
    """A sample to open and read: six small workbooks, not a load test."""
    assert sum(p.stat().st_size for p in demo) < 250_000


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
# the story, checked through the real weekly run (not a second copy of the rules)


def _run(paths: list[Path], tmp: Path, now: datetime) -> dict[str, Any]:
    """Copy the demo inbox, run the real `pipeline run` on it, return its results.json."""
    import json
    import shutil

    from click.testing import CliRunner

    from pipeline.cli import cli

    inbox = tmp / "in"
    inbox.mkdir(parents=True)
    for p in paths:
        shutil.copy(p, inbox / p.name)
    result = CliRunner().invoke(cli, ["run", "--inbox", str(inbox), "--out", str(tmp / "out"),
                                      "--state", str(tmp / "state"), "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    # the week's folder (a week that ends a month also writes the month's, SPEC §8)
    week = next(p for p in (tmp / "out").iterdir() if "-W" in p.name and not p.name.startswith("."))
    return json.loads((week / "results.json").read_text(encoding="utf-8"))


def test_the_story(demo: list[Path], tmp_path: Path) -> None:
    results = _run(demo, tmp_path, NOW)
    managers = {m["name"]: m for m in results["managers"]}
    assert sorted(n for n, m in managers.items() if m["met"]) == ["张伟"]
    clearly_failing = [n for n, m in managers.items() if all(m["shortfall"].values()) and m["shortfall"]["leads"] >= 50]
    assert 1 <= len(clearly_failing) <= 2
    assert sum(1 for m in managers.values() if m["achieved"]["leads"] >= 100) >= 2
    assert any(0 < m["active_days"] < 7 for m in managers.values())  # someone joined mid-week

    reasons: dict[str, Counter[str]] = {}
    for r in results["rejections"]:
        reasons.setdefault(r["kind"], Counter())[r["reason"]] += 1
    assert {"ALREADY_REGISTERED", "DUPLICATE_OWN", "INVALID_PHONE"} <= set(reasons["leads"])
    assert {"SALESPERSON_OTHER_TEAM", "NOT_FIRST_VISIT", "NOT_REGISTERED", "REGISTERED_BY_OTHER"} <= set(reasons["visits"])
    assert {"NO_PHOTO", "DUPLICATE_UNIT"} <= set(reasons["units"])
    assert reasons["units"]["DUPLICATE_UNIT"] == 1
    outcomes = {d["kind"] or d["reason"] for d in results["deals"]}
    assert {"visit", "lead", "NOT_REGISTERED"} <= outcomes


def test_a_week_across_the_new_year(tmp_path: Path) -> None:
    paths = write_demo(tmp_path, datetime(2027, 1, 4, 9, 0))
    start, end = demo_week(datetime(2027, 1, 4, 9, 0))
    assert start == datetime(2026, 12, 28)
    sheets = _sheets(paths)
    assert sheets["leads"].sheet == "第53周"
    for kind in ("leads", "visits", "units", "deals"):
        assert all(start <= r.values[TIME_COLUMN[kind]] <= end for r in sheets[kind].rows)
    managers = {m["name"]: m for m in _run(paths, tmp_path / "run", datetime(2027, 1, 4, 9, 0))["managers"]}
    assert managers["张伟"]["achieved"]["leads"] >= 100
