"""Write every output file of one computed week into a folder (SPEC §5).

The run calls `write_week` on a temporary folder and renames it into place only when complete.
Each writer is a function (report, folder) -> None in `WRITERS`, in the order they run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from .model import WeekReport


def write_results(report: WeekReport, folder: Path) -> None:
    (folder / "results.json").write_text(
        json.dumps(report.results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


LEDGER_HEADERS = {
    "zh": ["手机号码", "客户", "归属人", "登记时间", "来源", "首次到访"],
    "en": ["phone", "customer", "owner", "registered_at", "source", "first_visit"],
}


def write_ledger_csv(report: WeekReport, folder: Path) -> None:
    """The whole ledger as UTF-8 with BOM, so Excel and WPS open the Chinese intact."""
    with (folder / "ledger.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(LEDGER_HEADERS.get(report.lang, LEDGER_HEADERS["zh"]))
        for phone, customer, owner, at, via, first_visit in report.ledger:
            out.writerow([phone, _safe_csv(customer), _safe_csv(owner), at, via, first_visit or ""])


def _safe_csv(value: str) -> str:
    """A CSV cell starting with = + - @ would be a formula when opened in Excel: quote it."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


WRITERS: list[Callable[[WeekReport, Path], None]] = [write_results, write_ledger_csv]


def write_week(report: WeekReport, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for writer in WRITERS:
        writer(report, folder)
