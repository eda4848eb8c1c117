"""The year benchmark (`make bench-year`) in its tiniest form: a few weeks of a tiny office, run as
cron would, through the script's command line. It checks the table, not the timings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "year.py"


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    cache = tmp_path_factory.mktemp("year")
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--weeks", "3", "--cache", str(cache), "--keep",
                           "--check-full"],
                          capture_output=True, text=True, timeout=600)
    return done, cache


def test_every_week_gets_a_row_with_its_figures(year: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, _ = year
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if re.match(r"\| \d+ \| \d{4}-W\d\d \|", line)]
    assert [r.split("|")[2].strip() for r in rows] == ["2026-W01", "2026-W02", "2026-W03"]
    for r in rows:
        cells = [c.strip() for c in r.strip("|").split("|")]
        assert "failed" not in r
        assert all(re.fullmatch(r"[\d,.]+", c) for c in cells[3:]), r  # every stage and size measured


def test_ratios_of_the_last_week_to_the_first_and_totals(year: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, cache = year
    out = done.stdout
    assert "| last week (3) / first week (1) |" in out
    for what in ("wall s", "CPU s", "peak RSS MB", "state MB (backups included)"):
        assert re.search(rf"\| {re.escape(what)} \| [\d,.]+ \| [\d,.]+ \| [\d.]+ × \|", out), what
    assert "Totals over 3 weeks run:" in out
    assert "not archived" not in out  # cron's runs took every dropped file
    # --check-full: each week replayed whole on a state of its own gave the same files
    assert ("results.json, ledger.csv, payout.csv, followups.json byte-identical in 3 of 3 weeks." in out), out
    assert (cache / "year-run" / "full" / "state" / "pipeline.db").is_file()
    assert (cache / "year-last.md").read_text(encoding="utf-8").strip() == out.strip()
    again = subprocess.run([sys.executable, str(SCRIPT), "--report", "--cache", str(cache)],
                           capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == out.strip()  # --report: the same table from the raw figures


def test_the_generator_writes_a_year_of_cumulative_inboxes(year: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, cache = year
    [data] = cache.glob("year-*/manifest.json")
    weeks = json.loads(data.read_text(encoding="utf-8"))["weeks"]
    assert len(weeks) == 52
    ledger = [w["ledger_rows"] for w in weeks]
    assert all(b > a for a, b in zip(ledger, ledger[1:], strict=False))  # dropped again, grown
    assert weeks[0]["now"] == "2026-01-05T08:00:00" and weeks[-1]["now"] == "2026-12-28T08:00:00"
    raw = json.loads((cache / "year-last.json").read_text(encoding="utf-8"))
    assert [m["week"] for m in raw["runs"]] == ["2026-W01", "2026-W02", "2026-W03"]
    # the third week's state holds what the three runs stored: more than the first's
    assert raw["runs"][2]["db"] > raw["runs"][0]["db"] > 0
    archived = list((cache / "year-run" / "inbox" / "archive").glob("*/*.xlsx"))
    assert len(archived) == 3 * 6
