"""How the weekly run's cost grows with the history: the big-office week on a 1x and a 3x ledger.

The 3x inbox is the cached 1x week-1 inbox plus two more registration workbooks: copies of the
ledger whose phone numbers are moved to other mobile prefixes (so they are new numbers, dated
the same), i.e. 3,000,000 registrations before the week. Everything else is unchanged, so the
difference between the two runs is the cost of a history three times as long.

    .venv/bin/python bench/scale.py          # after `make bench` has generated the inbox
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import xlsxwriter
from python_calamine import CalamineWorkbook

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
ROOT = HERE.parent
PIPELINE = ROOT / ".venv" / "bin" / "pipeline"
LEDGER = "客户登记备案.xlsx"
# first three digits of a mobile, moved to a range the generator never uses for this office
PREFIX_MOVES = [{"13": "14", "15": "16", "18": "19", "17": "14", "19": "16"},
                {"13": "16", "15": "14", "18": "17", "17": "19", "19": "14"}]


def week1_inbox() -> Path:
    for manifest in sorted(CACHE.glob("data-*/manifest.json")):
        if json.loads(manifest.read_text(encoding="utf-8"))["params"]["ledger_rows"] == 1_000_000:
            return manifest.parent / "week1"
    sys.exit("no big-office inbox cached: run `make bench` first")


def moved_copy(ledger: Path, out: Path, moves: dict[str, str], tag: str) -> None:
    """A copy of the ledger workbook with every phone moved to another prefix."""
    book = CalamineWorkbook.from_path(str(ledger))
    wb = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    date_format = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python()
        ws = wb.add_worksheet(f"{name}{tag}")
        header = rows[0]
        phone = header.index("手机号码")
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                if r and c == phone:
                    text = str(cell)
                    ws.write_string(r, c, moves.get(text[:2], text[:2]) + text[2:])
                elif hasattr(cell, "year"):
                    ws.write_datetime(r, c, cell, date_format)
                else:
                    ws.write(r, c, cell)
    wb.close()


def run(inbox: Path, work: Path) -> dict[str, object]:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(inbox, work / "in")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([str(PIPELINE), "run", "--inbox", str(work / "in"), "--out", str(work / "out"),
                    "--state", str(work / "state"), "--week", "2026-W46", "--now", "2026-11-16T08:00:00"],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    log = json.loads(next((work / "state" / "logs").glob("*.json")).read_text(encoding="utf-8"))
    db = (work / "state" / "pipeline.db").stat().st_size
    return {"wall": wall, "rss_mb": max(peak, before) / 1024, "stages": log["stages"], "db_mb": db / 1e6}


def main() -> None:
    inbox = week1_inbox()
    big = CACHE / "scale-3x"
    if not (big / LEDGER).exists():
        shutil.rmtree(big, ignore_errors=True)
        shutil.copytree(inbox, big)
        for i, moves in enumerate(PREFIX_MOVES, start=2):
            print(f"writing ledger copy {i} ...", flush=True)
            moved_copy(inbox / LEDGER, big / f"客户登记备案_{i}.xlsx", moves, f"-{i}")
    results = {"1x": run(inbox, CACHE / "runs" / "scale-1x"), "3x": run(big, CACHE / "runs" / "scale-3x")}
    stages = ["read", "store", "replay", "assess", "reports"]
    print("| ledger | wall s | " + " | ".join(stages) + " | peak RSS MB | state MB |")
    print("| --- | ---: | " + " | ".join("---:" for _ in stages) + " | ---: | ---: |")
    for name, r in results.items():
        s = r["stages"]
        assert isinstance(s, dict)
        print(f"| {name} | {r['wall']:.1f} | " + " | ".join(f"{s.get(k, 0):.1f}" for k in stages)
              + f" | {r['rss_mb']:.0f} | {r['db_mb']:.0f} |")


if __name__ == "__main__":
    main()
