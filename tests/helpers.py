"""Build real input workbooks for tests: one call per sheet, headers in any alias."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl

ROSTER = ["姓名", "岗位", "团队", "邮箱", "入职日期", "离职日期"]
REGISTRATIONS = ["手机号码", "登记时间", "登记人", "客户姓名"]
LEADS = ["客户经理", "手机号码", "提交时间", "客户姓名"]
VISITS = ["客户经理", "手机号码", "到访时间", "销售员"]
UNITS = ["客户经理", "单位名称", "拓展时间", "照片"]
DEALS = ["手机号码", "成交时间", "销售员", "佣金", "房号"]
RULINGS = ["手机号码", "归属人", "裁定时间", "批准人"]
CANCELLATIONS = ["手机号码", "退房时间", "房号"]
ADJUSTMENTS = ["客户经理", "调整金额", "调整时间", "批准人", "原因"]


def workbook(path: Path, sheets: dict[str, tuple[list[str], list[list[Any]]]],
             title: str | None = None) -> Path:
    """Write a workbook with one sheet per entry: (header, rows). A title row goes above the header."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, (header, rows) in sheets.items():
        ws = wb.create_sheet(name)
        if title:
            ws.append([title])
        ws.append(header)
        for row in rows:
            ws.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def roster(path: Path, people: list[list[Any]]) -> Path:
    return workbook(path, {"名单": (ROSTER, people)})


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line in a subprocess."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def written_anew(folder: Path) -> None:
    """A closed week's folder removed, so that its re-render writes every file from the stored
    week: a folder still as its run left it is kept as it is (`pipeline.rendered`), which would
    make a comparison of its bytes with the first render's compare the folder with itself."""
    if folder.exists():
        shutil.rmtree(folder)


def results(out: Path, week: str) -> dict[str, Any]:
    return json.loads((out / week / "results.json").read_text(encoding="utf-8"))


def db_content(db: Path, leave_out: tuple[str, ...] = ("snapshots",)) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows of the SQLite database `db` in a stable order, but the tables left out
    (the snapshots: a cache a backup leaves out)."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%'") if r[0] not in leave_out]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        conn.close()
