"""Write every output file of one computed week into a folder (SPEC §5).

The run calls `write_week` on a temporary folder and renames it into place only when complete.
Each writer is a function (report, folder) -> None in `WRITERS`, in the order they run; swapping
one output format for another is replacing one entry.

Manager statements are `managers/<stem>.xlsx` and `.html`, where `manager_stems` (in
`context.py`) maps each name to a file-name-safe stem: the name itself when it is safe.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from .context import manager_stems
from .excel import write_ledger_xlsx, write_manager_xlsx, write_summary_xlsx
from .html import write_manager_html, write_summary_html
from .model import WeekReport

Writer = Callable[[WeekReport, Path], None]

__all__ = ["WRITERS", "Writer", "manager_stems", "statement_paths", "write_week"]


def write_results(report: WeekReport, folder: Path) -> None:
    (folder / "results.json").write_text(
        json.dumps(report.results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


LEDGER_HEADERS = {
    "zh": ["手机号码", "客户", "归属人", "登记时间", "来源", "首次到访"],
    "en": ["phone", "customer", "owner", "registered_at", "source", "first_visit"],
}


def write_ledger_csv(report: WeekReport, folder: Path) -> None:
    """The whole ledger as UTF-8 with BOM, so Excel and WPS open the Chinese intact.

    A CSV, not a sheet: a large office's ledger passes a sheet's 1,048,576 rows. A closed week
    re-renders from the bytes stored when it closed.
    """
    path = folder / "ledger.csv"
    if report.ledger_csv is not None:
        path.write_bytes(report.ledger_csv)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(LEDGER_HEADERS.get(report.lang, LEDGER_HEADERS["zh"]))
        out.writerows((phone, _safe_csv(customer), _safe_csv(owner), at, via, first_visit or "")
                      for phone, customer, owner, at, via, first_visit in report.ledger)


def _safe_csv(value: str) -> str:
    """A CSV cell starting with = + - @ would be a formula when opened in Excel: quote it."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


WRITERS: list[Writer] = [
    write_results,
    write_ledger_csv,
    write_summary_xlsx,      # summary.xlsx: team summary, commission, fines, leads, visits, units, rejections, about
    write_summary_html,      # summary.html: the leaders' dashboard
    write_manager_xlsx,      # managers/<stem>.xlsx: each manager's own statement
    write_manager_html,      # managers/<stem>.html
    write_ledger_xlsx,       # ledger.xlsx: the week's new registrations
]

# The two big workbooks go to a second process on a big week: they and the statements each take
# about half of the writing time, and xlsxwriter is pure Python (one core each).
SIDE_WRITERS: list[Writer] = [write_summary_xlsx, write_ledger_xlsx]
PARALLEL_FROM_ROWS = 20_000


def _write_side(report: WeekReport, folder: Path) -> None:
    for writer in SIDE_WRITERS:
        writer(report, folder)


def statement_paths(report: WeekReport, folder: Path) -> dict[str, tuple[Path, Path]]:
    """Each manager's statement files under `folder`: name -> (xlsx, html)."""
    stems = manager_stems(report.manager_names())
    return {name: (folder / "managers" / f"{stem}.xlsx", folder / "managers" / f"{stem}.html")
            for name, stem in stems.items()}


def write_week(report: WeekReport, folder: Path, parallel: bool = True) -> None:
    """Run every writer into `folder`. Big weeks use a second process (spawned, so it shares no
    open database or lock with the run) for the summary and ledger workbooks."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = len(report.leads) + len(report.new_registrations) + len(report.results["rejections"])
    if not parallel or rows < PARALLEL_FROM_ROWS:
        for writer in WRITERS:
            writer(report, folder)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        side = pool.submit(_write_side, report, folder)
        for writer in WRITERS:
            if writer not in SIDE_WRITERS:
                writer(report, folder)
        side.result()
