"""The report workbooks of a big week through four xlsx writers, side by side.

The same `Sheet`s (the big office of `reports_bench.big_report`: summary.xlsx with ~92,500 lead
rows, ledger.xlsx with ~92,500 new registrations, 500 statements) are laid out once per sheet
(`excel._lay_out`, as both of the project's engines do) and written by:

- `custom`: the project's writer (`excel.write_workbook`, engine "fast");
- `xlsxwriter`: the reference engine, in constant-memory mode (what the tests compare with);
- `pyexcelerate` (0.13): cell values and per-cell styles, the whole workbook held in memory;
- `rustpy` (rustpy-xlsxwriter 0.8): one table per sheet from a pandas DataFrame, with column
  formats, widths, a frozen header, an autofilter and per-row formats.

Each engine and workload runs in a child process of its own: wall time, CPU time (the helper
threads included), peak RSS while writing (the kernel's high-water mark reset once the week is
built in memory; the RSS at that moment, the same for every engine, is given beside it) and
bytes written. `--check` reads a small week's workbooks back with
openpyxl and counts the cells whose value differs from the custom writer's.

The two other libraries are not the project's dependencies; install them to compare:
    pip install "rustpy-xlsxwriter==0.8.*" "pyexcelerate==0.13.*"

Usage:
    python bench/xlsx_compare.py                     # the table (median of --repeat runs)
    python bench/xlsx_compare.py --check --small     # values read back, per engine
    python bench/xlsx_compare.py --awkward           # texts that must stay text, per engine
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline.report import excel  # noqa: E402
from pipeline.report.context import index_week  # noqa: E402

ENGINES = ["custom", "xlsxwriter", "pyexcelerate", "rustpy"]
WORKLOADS = ["summary", "ledger", "statements"]
CREATED = datetime(2026, 11, 16)


# --- the same cells, as each library takes them ------------------------------------------------

def _value(kind: str, value: Any) -> Any:
    """A cell's value as a number or text, as the reference engine writes it (None: no cell)."""
    if value is None or value == "":
        return None
    if kind == "text":
        return excel._text(value)
    if kind in ("datetime", "date"):
        return excel.excel_serial(value)
    return int(value) if kind == "int" else float(value)


def _grid(laid: Any) -> tuple[list[list[Any]], dict[tuple[int, int], tuple[str, str | None]], dict[int, int]]:
    """A laid-out sheet as rows of values, the cells that carry a style other than their column's
    plain format ((row, col) -> (kind, style)), and each row's outline level."""
    rows: list[list[Any]] = []
    styled: dict[tuple[int, int], tuple[str, str | None]] = {}
    levels: dict[int, int] = {}

    def put(r: int, values: list[Any]) -> None:
        while len(rows) <= r:
            rows.append([])
        rows[r] = values

    for r, (text, style) in enumerate(laid.sheet.title):
        put(r, [text or None] + [None] * (laid.span - 1 if style in ("review", "warn") else 0))
        if text or style in ("review", "warn"):
            for c in range(laid.span if style in ("review", "warn") else 1):
                styled[r, c] = ("text", style)
    for block in laid.blocks:
        columns = block.table.columns
        kinds = [c.type for c in columns]
        put(block.first, [c.header for c in columns])
        for c in range(len(columns)):
            styled[block.first, c] = ("text", "header")
        for offset, entry in enumerate(block.rows):
            r = block.first + 1 + offset
            style = None
            if isinstance(entry, excel.Styled):
                values, style, level = entry
                if level:
                    levels[r] = level
            else:
                values = entry
            out = [_value(kind, values[c]) for c, kind in enumerate(kinds)]
            put(r, out)
            for c, kind in enumerate(kinds):
                if style:
                    styled[r, c] = (kind, style)
                elif columns[c].flag_positive and out[c] is not None and out[c] > 0:
                    styled[r, c] = (kind, "bad")
    return rows, styled, levels


def _column_kinds(laid: Any) -> dict[int, str]:
    kinds: dict[int, str] = {}
    for block in laid.blocks:
        for c, column in enumerate(block.table.columns):
            kinds.setdefault(c, column.type)
    return kinds


def write_pyexcelerate(path: Path, sheets: Iterable[excel.Sheet]) -> None:
    from pyexcelerate import Alignment, Borders, Color, Fill, Font, Format, Panes, Style, Workbook
    from pyexcelerate.Border import Border
    from pyexcelerate.DataTypes import DataTypes

    def colour(hex_: str) -> Any:
        return Color(int(hex_[1:3], 16), int(hex_[3:5], 16), int(hex_[5:7], 16))

    cache: dict[tuple[str, str | None], Any] = {}

    def style_of(kind: str, style: str | None, width: float | None = None) -> Any:
        key = (kind, style)
        if width is None and key in cache:
            return cache[key]
        p = excel._format_props(kind, style)
        borders = None
        if p.get("top") or p.get("bottom"):
            weight = {1: "thin", 2: "medium"}
            borders = Borders.Borders(top=Border(style=weight[p["top"]]) if p.get("top") else None,
                                      bottom=Border(style=weight[p["bottom"]]) if p.get("bottom") else None)
        made = Style(
            font=Font(bold=bool(p.get("bold")), size=p.get("font_size", 11),
                      color=colour(p["font_color"]) if p.get("font_color") else None)
            if p.get("bold") or p.get("font_size") or p.get("font_color") else None,
            fill=Fill(background=colour(p["bg_color"])) if p.get("bg_color") else None,
            format=Format(p["num_format"]) if p.get("num_format") else None,
            alignment=Alignment(vertical=p["valign"], wrap_text=True) if p.get("text_wrap") else None,
            borders=borders, size=width,
            # text cells as inline strings whatever they start with (else "=..." is a formula)
            data_type=DataTypes.INLINE_STRING if kind == "text" else None)
        if width is None:
            cache[key] = made
        return made

    book = Workbook()
    for sheet in sheets:
        laid = excel._lay_out(sheet)
        rows, styled, _levels = _grid(laid)
        ws = book.new_sheet(sheet.name, data=rows)
        for c, kind in _column_kinds(laid).items():
            ws.set_col_style(c + 1, style_of(kind, None, laid.widths.get(c)))
        for (r, c), (kind, style) in styled.items():
            ws.set_cell_style(r + 1, c + 1, style_of(kind, style))
        if laid.single:
            ws.panes = Panes(0, laid.blocks[0].first + 1)
            ws.auto_filter = True        # over the whole used range: the sheet is one table
    book.save(str(path))


def write_rustpy(path: Path, sheets: Iterable[excel.Sheet]) -> None:
    """One table per sheet: a sheet of several blocks or title lines is written as its rows under
    a header of column numbers (the library has no place for a second table or a title)."""
    import pandas as pd
    from rustpy_xlsxwriter import FastExcel, Format

    def fmt(kind: str, style: str | None) -> Any:
        p = excel._format_props(kind, style)
        f = Format()
        if p.get("bold"):
            f = f.set_bold()
        if p.get("font_size"):
            f = f.set_font_size(p["font_size"])
        if p.get("font_color"):
            f = f.set_font_color(p["font_color"])
        if p.get("bg_color"):
            f = f.set_background_color(p["bg_color"])
        if p.get("top"):
            f = f.set_border_top({1: "thin", 2: "medium"}[p["top"]])
        if p.get("bottom"):
            f = f.set_border_bottom({1: "thin", 2: "medium"}[p["bottom"]])
        if p.get("text_wrap"):
            f = f.set_text_wrap()
        if p.get("num_format") and p["num_format"] != "@":
            f = f.set_num_format(p["num_format"])
        return f

    book = FastExcel(path)
    for sheet in sheets:
        laid = excel._lay_out(sheet)
        kinds = _column_kinds(laid)
        widths = [float(laid.widths.get(c, 8.43)) for c in range(len(kinds))]
        if laid.single and not sheet.title:
            block = laid.blocks[0]
            columns = block.table.columns
            if block.data is not None:
                data = excel._as_lists(block.data)
                frame = pd.DataFrame({c.header: [_value(c.type, v) for v in values]
                                      for c, values in zip(columns, data, strict=False)})
                row_formats: dict[int, Any] = {}
            else:
                rows, styled, _ = _grid(laid)
                frame = pd.DataFrame(rows[1:], columns=[c.header for c in columns])
                row_formats = {r: fmt("text", s) for (r, c), (k, s) in styled.items() if c == 0 and r > 0}
            book.sheet(sheet.name, frame, column_widths=widths, autofilter=True,
                       column_formats=[fmt(c.type, None) for c in columns],
                       header_format=fmt("text", "header"), row_formats=row_formats or None)
            book.freeze(row=1, sheet=sheet.name)
        else:
            rows, _, _ = _grid(laid)
            span = max(map(len, rows), default=1)
            frame = pd.DataFrame([r + [None] * (span - len(r)) for r in rows], columns=[str(i) for i in range(span)])
            book.sheet(sheet.name, frame, column_widths=widths[:span])
    book.save()


def write_with(engine: str, path: Path, sheets: Iterable[excel.Sheet], big: bool, level: int | None) -> None:
    if engine == "custom":
        excel.write_workbook(path, sheets, created=CREATED, level=level, wait=False)
    elif engine == "xlsxwriter":
        excel.write_workbook(path, sheets, big=big, created=CREATED, engine="xlsxwriter")
    elif engine == "pyexcelerate":
        write_pyexcelerate(path, sheets)
    else:
        write_rustpy(path, sheets)


# --- the workloads -------------------------------------------------------------------------------

def workload(report: Any, name: str) -> list[tuple[str, Callable[[], list[excel.Sheet]], bool, int | None]]:
    """(file name, sheets builder, big, the custom writer's deflate level) for each workbook."""
    index = index_week(report)
    if name == "summary":
        return [("summary.xlsx", lambda: excel.summary_sheets(report, index), True, None)]
    if name == "ledger":
        return [("ledger.xlsx", lambda: excel.ledger_sheets(report), True, 3)]
    return [(f"{index.stems[m['name']]}.xlsx", lambda m=m: excel.manager_sheets(report, index, m), False,
             excel.STATEMENT_LEVEL) for m in index.managers]


def _status(field: str) -> int:
    """A /proc/self/status figure in kB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def one(engine: str, name: str, small: bool, folder: Path) -> dict[str, Any]:
    from reports_bench import big_report

    from pipeline import xlsx

    report = big_report(0.1 if small else 1.0)
    books = workload(report, name)
    rss_before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")      # the peak (VmHWM) from here on
    clock, cpu = time.perf_counter(), time.process_time()
    for file, build, big, level in books:
        write_with(engine, folder / file, build(), big, level)
    xlsx.wait()
    wall, cpu = time.perf_counter() - clock, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "rss_mb": _status("VmHWM") / 1024, "rss_before_mb": rss_before / 1024, "bytes": sum(p.stat().st_size for p in folder.glob("*.xlsx"))}


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def table(args: argparse.Namespace) -> None:
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        for name in args.workloads:
            for engine in args.engines:
                with tempfile.TemporaryDirectory(prefix="xlsx-compare-") as tmp:
                    cmd = [sys.executable, __file__, "--child", engine, name, tmp] + (["--small"] if args.small else [])
                    out = subprocess.run(cmd, capture_output=True, text=True)
                    if out.returncode:
                        print(f"{engine} {name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                        continue
                    got = json.loads(out.stdout.strip().splitlines()[-1])
                    results.setdefault((name, engine), []).append(got)
                    print(f"[{rep}] {name:10} {engine:12} wall {got['wall']:6.2f} s  cpu {got['cpu']:6.2f} s  "
                          f"rss {got['rss_mb']:6.0f} MB (before {got['rss_before_mb']:.0f})  "
                          f"{got['bytes'] / 1e6:6.1f} MB", file=sys.stderr, flush=True)
    print(f"\n| workload | engine | wall s (median, range of {args.repeat}) | CPU s | peak RSS MB while writing (RSS before) "
          "| file(s) MB |\n| --- | --- | ---: | ---: | ---: | ---: |")
    for (name, engine), runs in results.items():
        walls = [r["wall"] for r in runs]
        print(f"| {name} | {engine} | {_median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f}) "
              f"| {_median([r['cpu'] for r in runs]):.2f} | {_median([r['rss_mb'] for r in runs]):.0f} "
              f"({_median([r['rss_before_mb'] for r in runs]):.0f}) | {runs[0]['bytes'] / 1e6:.1f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


def check(args: argparse.Namespace) -> None:
    """Values read back by openpyxl, each engine against the custom writer, cell by cell."""
    import warnings

    import openpyxl
    from reports_bench import big_report

    from pipeline import xlsx

    warnings.simplefilter("ignore")
    report = big_report(0.1 if args.small else 1.0)
    root = Path(tempfile.mkdtemp(prefix="xlsx-check-"))
    try:
        for name in args.workloads:
            books = workload(report, name)[:args.books]
            for engine in args.engines:
                (root / engine).mkdir(exist_ok=True)
                for file, build, big, level in books:
                    write_with(engine, root / engine / file, build(), big, level)
                xlsx.wait()
            for engine in args.engines[1:]:
                differ, total, example = 0, 0, None
                for file, *_ in books:
                    want = openpyxl.load_workbook(root / args.engines[0] / file, read_only=True)
                    got = openpyxl.load_workbook(root / engine / file, read_only=True)
                    for ws in want.worksheets:
                        other = list(got[ws.title].values) if ws.title in got.sheetnames else []
                        for r, row in enumerate(ws.values):
                            for c, value in enumerate(row):
                                seen = other[r][c] if r < len(other) and c < len(other[r]) else None
                                if isinstance(value, float) and isinstance(seen, float | int):
                                    same = math.isclose(value, seen, rel_tol=1e-12)
                                elif isinstance(value, str) and isinstance(seen, str):  # _x005F_ as openpyxl reads it
                                    same = value.replace("_x005F_", "_") == seen.replace("_x005F_", "_")
                                else:
                                    same = value == seen
                                total += value is not None
                                if not same:
                                    differ += 1
                                    example = example or (file, ws.title, r + 1, c + 1, value, seen)
                    want.close()
                    got.close()
                print(f"{name:10} {engine:12} {differ} of {total} cells differ from the custom writer's"
                      + (f"; e.g. {example!r:.200}" if example else ""))
    finally:
        shutil.rmtree(root, ignore_errors=True)


AWKWARD = ["=1+1", '=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(A1)", "\x01ctrl\x1f", "nul\x00byte", "_x0041_ literal",
           "\ufffe", " leading", "trailing ", "a & b < c", "<r><t>x</t></r>", "a\ud800b", "张" * 20_000, "x" * 40_000]


def awkward(args: argparse.Namespace) -> None:
    """Texts the reports must keep as they are, through each engine: what openpyxl reads back
    (against the text itself, with control characters read as `_xHHHH_`), and whether any
    cell became a formula."""
    import warnings

    import openpyxl

    warnings.simplefilter("ignore")
    root = Path(tempfile.mkdtemp(prefix="xlsx-awkward-"))
    try:
      for texts in (AWKWARD, [v for v in AWKWARD if "\ud800" not in v],
                    [v for v in AWKWARD if "\ud800" not in v and len(v) < 32_767]):
        print(f"-- {len(texts)} texts" + (" (with a lone surrogate)" if texts is AWKWARD else ""))
        if len(texts) < len(AWKWARD) - 1:
            print("   (without the texts past 32,767 characters)")
        expected = [excel._text(v) for v in texts]
        for engine in args.engines:
            sheets = [excel.Sheet("s", [excel.Table([excel.Column("t")], [[v] for v in texts])])]
            path = root / f"{engine}.xlsx"
            try:
                write_with(engine, path, sheets, True, None)   # xlsxwriter: constant memory, inline strings
                from pipeline import xlsx
                xlsx.wait()
                ws = openpyxl.load_workbook(path)["s"]
            except Exception as exc:  # noqa: BLE001 - a library that refuses a text is the finding
                print(f"{engine:12} failed: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            cells = [ws.cell(r + 2, 1) for r in range(len(texts))]
            formulas = [c.value for c in cells if c.data_type == "f"]
            wrong = []
            for cell, want in zip(cells, expected, strict=True):
                got = cell.value if isinstance(cell.value, str) else str(cell.value)
                got = re.sub("_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), got)  # as Excel reads it
                if want.startswith("a\ud800"):
                    want = "a\ufffdb"
                want = excel_cut(want)
                if got != want and got.encode("utf-8", "surrogatepass") != want.encode("utf-8", "surrogatepass"):
                    wrong.append((want[:12], got[:12]))
            print(f"{engine:12} formulas: {formulas!r:.80}; changed texts: {len(wrong)} {wrong!r:.300}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def excel_cut(text: str) -> str:
    """A text as Excel holds it: at most 32,767 UTF-16 units (the custom writer and xlsxwriter cut there)."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > 32_767:
            return text[:i]
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", nargs="*", default=ENGINES)
    parser.add_argument("--workloads", nargs="*", default=WORKLOADS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="a 10x smaller week")
    parser.add_argument("--check", action="store_true", help="compare the values read back (openpyxl)")
    parser.add_argument("--awkward", action="store_true", help="texts that must stay text, per engine")
    parser.add_argument("--books", type=int, default=20, help="--check: statements compared")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "WORKLOAD", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, name, folder = args.child
        print(json.dumps(one(engine, name, args.small, Path(folder))))
    elif args.awkward:
        awkward(args)
    elif args.check:
        check(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
