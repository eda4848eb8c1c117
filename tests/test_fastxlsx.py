"""The fast workbook writer against the reference (xlsxwriter), cell by cell.

Every workbook the reports write goes through `write_workbook`; its default engine (the `xlsx`
package) writes the sheet XML itself. Here the same `Sheet`s are written by both engines and read back
with openpyxl: sheet names, frozen panes, autofilters, outline levels, column widths, data bars,
and for every cell its value, type, number format, font, fill, borders and alignment must be equal.
The sheets are built to be awkward: formulas, markup, CJK, control characters, literal `_xHHHH_`,
leading and trailing spaces, texts over Excel's length limit, None, Decimal and string money,
datetimes as objects and as ISO text, styled blanks, several blocks under title lines. Then the
report's own sheets of the sample week, and what only the fast engine promises (bytes that do
not change, well-formed XML, no formula, markup-looking text kept literal).
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import xlsx
from pipeline.report import excel
from pipeline.report.context import index_week
from pipeline.report.excel import Column, Sheet, Styled, Table, Tuning, write_workbook
from pipeline.report.model import WeekReport, unpack_ledger_csv
from tests.test_reports import sample_report

pytestmark = pytest.mark.filterwarnings("ignore:.*extension is not supported:UserWarning")

CREATED = datetime(2026, 11, 30)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"

TEXTS: list[Any] = [
    '=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(A1)", "=1+1", "<script>alert(1)</script>",
    "a & b < c > d", "quote \" and '", "张伟", "王芳先生", "　全角空格　", " leading", "trailing ", " both ",
    "tab\there", "line\nbreak", "cr\r\nlf", "\x01ctrl\x1f", "nul\x00byte", "\x0b\x0c", "_x0041_ literal",
    "_X00ff_", "__x0041__", "\ufffe\uffff", "😀 emoji 𠀀", "x" * 40_000, "张" * 20_000, "😀" * 20_000,
    "13800138000", "号码汇总_张伟.xlsx", "", None, 12345, Decimal("1.50"), "\u00a0nbsp\u00a0", "\n",
]

COLUMNS = [
    Column("文本 text"), Column("整数", "int", flag_positive=True), Column("金额", "money"),
    Column("时间", "datetime"), Column("日期", "date"), Column("比例", "pct"), Column("计数", "int"),
]


def _plain_rows() -> list[list[Any]]:
    ints: list[Any] = [3, 0, -2, None, 10**6, ""]
    money: list[Any] = ["1987.00", Decimal("-213.00"), Decimal("0.10"), None, 1234567.891, "0.00", Decimal("12")]
    moments: list[Any] = ["2026-11-25T14:30:00", datetime(2026, 11, 26, 9, 5, 7), "2026-11-23T00:00:00", None]
    days: list[Any] = ["2026-11-25", datetime(2026, 1, 1), None]
    pcts: list[Any] = [0.87, 1.0, 0, None, 1 / 3]
    return [[text, ints[i % 6], money[i % 7], moments[i % 4], days[i % 3], pcts[i % 5], i]
            for i, text in enumerate(TEXTS)]


def _styled_rows() -> list[Styled | list[Any]]:
    rows: list[Styled | list[Any]] = []
    for i, values in enumerate(_plain_rows()[:12]):
        rows.append(Styled(values, ("review", "warn", None)[i % 3], 1))
    rows.append(Styled(["一组 小计", "", None, None, None, None, 7], "subtotal"))
    rows.append(Styled([None] * 7, "warn"))                    # a styled row of blanks
    rows.append([None] * 7)                                    # an empty row inside the table
    rows.append(Styled(["全体合计", 5, "100.00", None, None, None, None], "total"))
    return rows


def awkward_sheets() -> list[Sheet]:
    overview = Sheet("概览 & <总>", [
        Table([Column("项目"), Column("目标", "int"), Column("差额", "int", flag_positive=True),
               Column("完成率", "pct", bar=True), Column("罚款", "money")],
              [Styled(["拓展单位", 3, 2, 1 / 3, "200.00"]), Styled(["诚意号码", 100, 0, 0.87, "0.00"]),
               Styled(["罚款合计", None, None, None, "213.00"], "total")]),
        Table([Column("项目"), Column("金额（元）", "money")],
              [Styled(["佣金合计", "2200.00"], "subtotal"), Styled(["净额", Decimal("-13.50")], "total")]),
    ], title=[("张伟 个人周报 2026-W48", "title"), ("团队: 一组", None), ("已列入辞退审核", "review"),
              ("", "warn"), ("=SUM(A1)", None)])
    return [
        Sheet("明细", [Table(COLUMNS, _plain_rows())]),
        Sheet("汇总", [Table(COLUMNS, _styled_rows())]),
        overview,
        Sheet("空表", [Table(COLUMNS, [])]),
        Sheet("Sheet's 1", [Table([Column("only")], [["a"], ["b"]])]),
    ]


# --- reading back ---------------------------------------------------------------------------------

def _colour(colour: Any) -> Any:
    if colour is None:
        return None
    return colour.rgb if colour.type == "rgb" else (colour.type, colour.theme, colour.indexed)


def snapshot(path: Path) -> dict[str, Any]:
    """Everything openpyxl reads of a workbook that the reports rely on."""
    book = openpyxl.load_workbook(path)
    shot: dict[str, Any] = {"sheets": book.sheetnames}
    for ws in book.worksheets:
        cells = {}
        for row in ws.iter_rows():
            for c in row:
                if c.value is None and not c.has_style:
                    continue
                value = c.value
                if isinstance(value, str):      # openpyxl undoes `_x005F_` in shared strings only
                    value = value.replace("_x005F_", "_")
                cells[c.coordinate] = (
                    value, c.data_type, c.number_format, bool(c.font.b), c.font.sz, _colour(c.font.color),
                    c.fill.fill_type, _colour(c.fill.fgColor) if c.fill.fill_type else None,
                    c.border.top.style, c.border.bottom.style, bool(c.alignment.wrap_text), c.alignment.vertical)
        bars = sorted((str(cf.sqref), tuple(r.type for r in cf.rules),
                       tuple((r.dataBar.cfvo[0].val, r.dataBar.cfvo[1].val, _colour(r.dataBar.color))
                             for r in cf.rules if r.dataBar))
                      for cf in ws.conditional_formatting)
        shot[ws.title] = {
            "freeze": ws.freeze_panes,
            "filter": ws.auto_filter.ref,
            "size": (ws.max_row, ws.max_column),
            "levels": {r: d.outlineLevel for r, d in ws.row_dimensions.items() if d.outlineLevel},
            "outline": ws.sheet_format.outlineLevelRow,
            "widths": sorted((d.min, d.max, d.width) for d in ws.column_dimensions.values() if d.customWidth),
            "bars": bars,
            "print": (ws.page_setup.orientation, ws.page_setup.paperSize,
                      1 if ws.page_setup.fitToWidth is None else ws.page_setup.fitToWidth,  # the schema's default
                      ws.page_setup.fitToHeight, ws.sheet_properties.pageSetUpPr.fitToPage
                      if ws.sheet_properties.pageSetUpPr else None, ws.print_title_rows,
                      ws.oddHeader.left.text, ws.oddHeader.center.text, ws.oddHeader.right.text,
                      ws.oddFooter.center.text),
            "cells": cells,
        }
    book.close()
    return shot


def assert_same(fast: dict[str, Any], ref: dict[str, Any]) -> None:
    assert fast["sheets"] == ref["sheets"]
    for name in ref["sheets"]:
        got, want = fast[name], ref[name]
        for key in want:
            if key != "cells":
                assert got[key] == want[key], (name, key)
        assert got["cells"].keys() == want["cells"].keys(), (name, got["cells"].keys() ^ want["cells"].keys())
        for ref_cell, value in want["cells"].items():
            assert got["cells"][ref_cell] == value, (name, ref_cell)


PRINTING = excel.Printing("A&B <办公室>", "2026-W48", "第 &P 页，共 &N 页")


def write_both(tmp_path: Path, sheets: list[Sheet], big: bool = False,
               tuning: Tuning = excel.TUNING) -> tuple[Path, Path]:
    fast, ref = tmp_path / "fast.xlsx", tmp_path / "ref.xlsx"
    write_workbook(fast, sheets, big=big, created=CREATED, engine="fast", tuning=tuning, printing=PRINTING)
    write_workbook(ref, sheets, big=big, created=CREATED, engine="xlsxwriter", printing=PRINTING)
    return fast, ref


# --- the same workbook, cell by cell --------------------------------------------------------------

@pytest.mark.parametrize("big", [False, True], ids=["shared-strings-ref", "constant-memory-ref"])
def test_awkward_sheets_read_back_the_same(tmp_path: Path, big: bool) -> None:
    fast, ref = write_both(tmp_path, awkward_sheets(), big)
    shot = snapshot(fast)
    assert_same(shot, snapshot(ref))
    cells = shot["明细"]["cells"]
    assert [cells[f"A{r}"][0] for r in range(2, 7)] == TEXTS[:5], "formulas stay text"
    assert all(cell[1] != "f" for sheet in shot["sheets"] for cell in shot[sheet]["cells"].values())
    assert cells["A27"][0] == "x" * 32_767, "cut at Excel's limit"
    assert cells["C2"][:3] == (1987, "n", "#,##0.00")
    assert cells["D2"][0] == datetime(2026, 11, 25, 14, 30) and cells["D2"][2] == "yyyy-mm-dd hh:mm:ss"
    assert shot["明细"]["freeze"] == "A2" and shot["明细"]["filter"] == f"A1:G{len(TEXTS) + 1}"
    assert shot["概览 & <总>"]["bars"] and shot["概览 & <总>"]["freeze"] is None
    # printing: one page wide, the header row on every page, a literal & in the office doubled
    assert shot["明细"]["print"] == ("landscape", 9, 1, 0, True, "$1:$1", "A&&B <办公室>", "2026-W48", "&A",
                                     "第 &P 页，共 &N 页")
    assert shot["概览 & <总>"]["print"][5] is None, "several tables on a sheet: no rows repeated"


def test_the_report_sheets_read_back_the_same(tmp_path: Path) -> None:
    """The sample week's summary, every statement and the ledger, through both engines (the
    reference with the options the reports used with it: constant memory for the two big books)."""
    report = sample_report()
    index = index_week(report)

    def build(name: str) -> list[Sheet]:          # the builders return generators: build twice
        if name == "summary":
            return excel.summary_sheets(report, index)
        if name == "ledger":
            return excel.ledger_sheets(report)
        return excel.manager_sheets(report, index, next(m for m in index.managers if m["name"] == name))

    for i, name in enumerate(["summary", "ledger", *(m["name"] for m in index.managers)]):
        fast, ref = tmp_path / f"{i}-fast.xlsx", tmp_path / f"{i}-ref.xlsx"
        printing = excel.printing_of(report, "" if name in ("summary", "ledger") else name)
        write_workbook(fast, build(name), created=CREATED, engine="fast", printing=printing)
        write_workbook(ref, build(name), big=name in ("summary", "ledger"), created=CREATED, engine="xlsxwriter",
                       printing=printing)
        assert_same(snapshot(fast), snapshot(ref))


def test_rows_across_chunks(tmp_path: Path) -> None:
    """Rows are joined a chunk at a time: tables longer than a chunk, plain and styled, come out whole."""
    plain: list[list[Any]] = [[f"客户{i}", i - 20, f"{i}.25", f"2026-11-{23 + i % 7}T0{i % 10}:00:00", None, i / 50, i]
                              for i in range(40)]
    plain[13] = plain[-1] = [None, "", None, None, "", None, None]       # empty rows, one of them last
    styled = [Styled(row, "bad" if i % 9 == 0 else None, i % 2) for i, row in enumerate(plain)]
    sheets = [Sheet("plain", [Table(COLUMNS, plain)]), Sheet("styled", [Table(COLUMNS, styled)])]
    fast, ref = write_both(tmp_path, sheets, tuning=Tuning(chunk_rows=7))
    assert_same(snapshot(fast), snapshot(ref))


# --- what only the fast engine promises -----------------------------------------------------------

def test_same_input_same_bytes(tmp_path: Path) -> None:
    first, second, later = tmp_path / "1.xlsx", tmp_path / "2.xlsx", tmp_path / "3.xlsx"
    write_workbook(first, awkward_sheets(), created=CREATED)
    write_workbook(second, awkward_sheets(), created=CREATED)
    write_workbook(later, awkward_sheets(), created=datetime(2026, 12, 7))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != later.read_bytes()
    with zipfile.ZipFile(first) as z:
        infos = z.infolist()
        assert infos[0].filename == "[Content_Types].xml"
        assert {i.date_time for i in infos} == {(2026, 11, 30, 0, 0, 0)}
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
        assert b"2026-11-30T00:00:00Z" in z.read("docProps/core.xml")


def test_every_part_is_well_formed_and_has_no_formula(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    write_workbook(path, awkward_sheets(), created=CREATED)
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            root = ElementTree.fromstring(z.read(name))      # expat refuses control characters
            if name.startswith("xl/worksheets/"):
                cells = list(root.iter(f"{{{MAIN}}}c"))
                assert cells and not list(root.iter(f"{{{MAIN}}}f")), name        # (data bars have xm:f)
                assert {c.get("t") for c in cells} <= {None, "inlineStr"}, name


def test_markup_looking_text_and_lone_surrogates_stay_text(tmp_path: Path) -> None:
    """xlsxwriter writes a text shaped like `<r>…</r>` as raw rich-text XML (an input could break
    the file); the fast engine escapes it like any text. A lone surrogate, which xlsxwriter cannot
    encode at all, becomes U+FFFD."""
    texts = ["<r><t>x</t></r>", "<r></t></is></c></row></sheetData><r>", "a\ud800b"]
    path = tmp_path / "book.xlsx"
    write_workbook(path, [Sheet("s", [Table([Column("t")], [[x] for x in texts])])], created=CREATED)
    values = [c.value for c in openpyxl.load_workbook(path)["s"]["A"]][1:]
    assert values == [texts[0], texts[1], "a\ufffdb"]


def test_escaping_matches_excel_rules() -> None:
    esc = xlsx.escape_text
    assert esc("a & <b>") == "a &amp; &lt;b&gt;"
    assert esc('"quoted"') == '"quoted"'
    assert esc("\x00\x01\x1f") == "_x0000__x0001__x001F_"
    assert esc("tab\tnewline\n") == "tab\tnewline\n"
    assert esc("_x0041_") == "_x005F_x0041_" and esc("_x00zz_") == "_x00zz_"
    assert esc("\ufffe") == "_xFFFE_"
    assert xlsx.inline_text(" a") == '<is><t xml:space="preserve"> a</t></is>'
    assert xlsx.inline_text("a") == "<is><t>a</t></is>"
    assert [xlsx.col_name(c) for c in (0, 25, 26, 701, 702, 16383)] == ["A", "Z", "AA", "ZZ", "AAA", "XFD"]
    # `is_plain` lets the column loop skip `inline_text`: only for texts it would leave alone
    texts = [t for t in TEXTS if isinstance(t, str)] + ["a b", "a\tb", "张 伟", "2026-11-25", "x" * 16_382,
                                                        "x" * 16_383, "a\u3000", "_", "a_x0041_b", "\ud800"]
    plain = [t for t in texts if xlsx.is_plain(t)]
    assert {"a b", "a\tb", "张 伟", "13800138000", "x" * 16_382} <= set(plain)
    for text in plain:
        assert xlsx.inline_text(text) == f"<is><t>{text}</t></is>", text


@pytest.mark.parametrize("name", ["", "a" * 32, "a/b", "a[1]", "'quoted'", "x?"])
def test_invalid_sheet_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        write_workbook(tmp_path / "bad.xlsx", [Sheet(name, [Table([Column("a")], [])])])


def test_duplicate_sheet_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_workbook(tmp_path / "bad.xlsx", [Sheet("Ab", [Table([Column("a")], [])]),
                                               Sheet("aB", [Table([Column("a")], [])])])


def test_two_processes_write_the_same_files_as_one(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A big week splits the writers over a second (forked) process; every file, workbooks and
    pages alike, comes out byte for byte as one process writes it, and nothing is printed."""
    from pipeline.report import write

    report = sample_report()
    alone = write.write_week(report, tmp_path / "one", parallel=False, store=True)
    capfd.readouterr()
    side = write.write_week(report, tmp_path / "two", parallel=True, store=True)
    assert capfd.readouterr() == ("", "")  # a cron job's mail is its output: a big week writes none
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert one.keys() == two.keys() and len(one) == 13  # with payout.csv and followups.json
    assert [name for name in one if one[name] != two[name]] == []
    # The stored form the second process compressed is the week's: it re-renders the same files.
    assert alone.stored is not None and side.stored is not None
    assert unpack_ledger_csv(side.stored[1]) == one[Path("ledger.csv")]
    again = WeekReport.from_bytes(side.stored[0])
    again.ledger_stored = side.stored[1]
    write.write_week(again, tmp_path / "three", parallel=False)
    three = {p.relative_to(tmp_path / "three"): p.read_bytes() for p in (tmp_path / "three").rglob("*") if p.is_file()}
    assert [name for name in one if one[name] != three[name]] == []
    assert write.write_week(report, tmp_path / "four", parallel=True).stored is None  # not asked for: not made


def test_a_failing_second_writer_fails_the_week(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error in the second writer's process comes back to the run as an error naming it, not
    as a week with files missing (here it cannot leave what its jobs returned: its last step)."""
    from pipeline.report import write

    monkeypatch.setattr(write, "side_file", lambda folder, name: folder / "gone" / f"{name}.pickle")
    with pytest.raises(RuntimeError, match="second report writer failed: FileNotFoundError: .*gone"):
        write.write_week(sample_report(), tmp_path / "week", parallel=True)
    assert (tmp_path / "week" / "results.json").exists()  # this process's jobs ran; the run fails anyway


def test_a_writers_plan_is_pickled_without_the_memo_and_a_cycle_the_usual_way() -> None:
    """`dump_plan` gives the writer's process what the plan holds, written without pickle's
    memo; an object the fast mode refuses (a cycle) is written the usual way, whole."""
    import pickle

    from pipeline.report import write

    report = sample_report()
    fh = io.BytesIO()
    write.dump_plan(report, fh)  # type: ignore[arg-type]  # any picklable object goes the same way
    again = pickle.loads(fh.getvalue())
    assert again.results == report.results and again.week == report.week
    assert list(again.leads) == list(report.leads) and list(again.new_registrations) == list(report.new_registrations)
    cyclic: list[Any] = ["a week"]
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="cyclic"):  # what the fast mode says of it
        fast = pickle.Pickler(io.BytesIO(), pickle.HIGHEST_PROTOCOL)
        fast.fast = True
        fast.dump(cyclic)
    fh = io.BytesIO(b"left from before")
    write.dump_plan(cyclic, fh)  # type: ignore[arg-type]
    loaded = pickle.loads(fh.getvalue())
    assert loaded[0] == "a week" and loaded[1] is loaded


def test_the_writers_process_is_given_the_report_without_the_ledger(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The second writer starts from the forkserver, not forked from this process (which holds
    the ledger): it is given the report without the ledger, and writes none of the ledger's
    files, which this process writes."""
    from pipeline.report import write

    given = []
    real = write.Side.__init__

    def side(self: Any, plan: Any, claims: Any, name: str = "second") -> None:
        given.append((plan.report, plan.previous, [w for job in plan.fixed for w in job[0]]))
        real(self, plan, claims, name)

    monkeypatch.setattr(write.Side, "__init__", side)
    report = sample_report()
    assert len(report.ledger)
    from pipeline import ledgerstore

    previous = ledgerstore.stored_before("2026-W47",
                                         ledgerstore.pack("\ufeffphone,customer\r\n13800000000,someone\r\n".encode()))
    write.write_week(report, tmp_path / "week", parallel=True, store=True, previous=previous)
    [(light, given_previous, writers)] = given
    assert len(light.ledger) == 0 and light.ledger_stored is None and given_previous is None
    assert light.results == report.results and list(light.new_registrations) == list(report.new_registrations)
    assert not set(writers) & set(write.ASIDE) and write.write_summary_xlsx in writers
    assert len(report.ledger)  # the caller's report keeps its ledger


def test_files_left_to_a_third_process_are_the_same_and_waited_for(tmp_path: Path) -> None:
    """`start_week` leaves a big week's ledger files to a process of their own while the caller
    builds the emails from the rest: once `wait` returns, the folder is byte for byte what one
    process writes, and the stored form is the week's."""
    from pipeline.report import write

    report = sample_report()
    alone = write.write_week(report, tmp_path / "one", parallel=False, store=True)
    writing = write.start_week(report, tmp_path / "two", parallel=True, store=True)
    assert (tmp_path / "two" / "summary.xlsx").exists()   # what the emails read is there already
    built = writing.wait()
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert one.keys() == two.keys() and [name for name in one if one[name] != two[name]] == []
    assert alone.stored is not None and built.stored is not None
    assert unpack_ledger_csv(built.stored[1]) == one[Path("ledger.csv")]
    assert WeekReport.from_bytes(built.stored[0]).results == report.results


def test_a_splice_that_does_not_apply_is_written_here_from_the_ledger(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The process given the splice instead of the ledger finds the week before's file is not
    the one its positions are of (here: another header): it says so, and this process, which
    holds the ledger, writes ledger.csv and its stored form: the same bytes as one process."""
    import numpy

    from pipeline import ledgerstore
    from pipeline.report import write

    report = sample_report()
    previous = ledgerstore.stored_before("2026-W47", ledgerstore.pack("\ufeffnot,the,header\r\n".encode()))
    one = write.write_week(report, tmp_path / "one", parallel=False, store=True, previous=previous).stored
    import pyarrow as pa

    odd = write.Splice("\ufeffphone\r\n".encode(), numpy.zeros(0, numpy.int64), pa.array([], pa.large_string()),
                       numpy.zeros(0, numpy.int64))
    monkeypatch.setattr(write, "splice_of", lambda report, previous: odd)
    told = []
    result = write.Aside.result

    def seen(self: Any) -> Any:
        told.append(result(self))
        return told[-1]

    monkeypatch.setattr(write.Aside, "result", seen)
    two = write.start_week(report, tmp_path / "two", parallel=True, store=True, previous=previous).wait().stored
    assert told == [write.UNSPLICED]
    assert one is not None and two is not None and two.ledger == one.ledger and ledgerstore.is_delta(two.ledger)
    assert (tmp_path / "two" / "ledger.csv").read_bytes() == (tmp_path / "one" / "ledger.csv").read_bytes()


def test_the_ledger_is_let_go_once_a_splice_is_checked_to_apply(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With `let_go`, a week whose ledger.csv is spliced (checked to apply: `ledgerstore.splices`)
    lets go of the report's ledger before the rest is written: the same files; a splice that
    fails after all then fails the week instead of writing ledger.csv from an empty ledger."""
    import numpy
    import pyarrow as pa

    from pipeline import ledgerstore
    from pipeline.report import write

    report = sample_report()
    one = write.write_week(report, tmp_path / "one", parallel=False, store=True).stored
    assert one is not None
    written = (tmp_path / "one" / "ledger.csv").read_bytes()
    rows = written.count(b"\n") - 1
    same = write.Splice(written[:written.index(b"\n") + 1], numpy.arange(rows, dtype=numpy.int64),
                        pa.array([], pa.large_string()), numpy.zeros(0, numpy.int64))
    monkeypatch.setattr(write, "splice_of", lambda report, previous: same)
    previous = ledgerstore.stored_before("2026-W47", one.ledger)
    two = write.start_week(report, tmp_path / "two", parallel=True, store=True, previous=previous,
                           let_go=True).wait().stored
    assert len(report.ledger) == 0 and report.ledger.origin is None
    assert two is not None and ledgerstore.delta_base(two.ledger) == "2026-W47"
    assert ledgerstore.resolve([one.ledger, two.ledger]) == written
    assert {p.name: p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()} == \
        {p.name: p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    report = sample_report()
    monkeypatch.setattr(ledgerstore, "splices", lambda old, header, kept: True)
    monkeypatch.setattr(write, "splice_of", lambda report, previous: same._replace(header=b"another\r\n"))
    writing = write.start_week(report, tmp_path / "three", parallel=True, store=True, previous=previous, let_go=True)
    with pytest.raises(RuntimeError, match="could not be made from the week before's"):
        writing.wait()


def test_a_failing_ledger_writer_fails_the_week_when_waited_for(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An error in the ledger's files, which `start_week` leaves to this process until the
    caller asks (`run_here`) or waits, comes back when it does; `abandon` (the caller is failing
    anyway) leaves them unwritten."""
    from pipeline.report import write

    def broken(report: WeekReport, folder: Path) -> None:
        raise ValueError("disk says no")

    monkeypatch.setattr(write, "JOBS", [*[job for job in write.JOBS if write.write_ledger_xlsx not in job[0]],
                                        ((broken,), None)])
    monkeypatch.setattr(write, "ASIDE", (broken, write.write_ledger_csv))
    writing = write.start_week(sample_report(), tmp_path / "week", parallel=True)
    assert (tmp_path / "week" / "summary.xlsx").exists() and not (tmp_path / "week" / "ledger.csv").exists()
    with pytest.raises(ValueError, match="disk says no"):
        writing.wait()
    write.start_week(sample_report(), tmp_path / "again", parallel=True).abandon()
    assert not (tmp_path / "again" / "ledger.csv").exists()


def test_a_failing_third_writer_fails_the_week_when_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error in the process a re-render sets aside for the ledger's files comes back, naming
    it, when the caller waits for the week; `abandon` only reaps it."""
    from pipeline.report import write

    built = write.write_week(sample_report(), tmp_path / "one", parallel=False, store=True)
    assert built.stored is not None
    part = WeekReport.ledger_part(built.stored.report, built.stored.ledger)
    monkeypatch.setattr(write, "ASIDE_FROM_BYTES", 0)
    real = write.side_file
    monkeypatch.setattr(write, "side_file",
                        lambda folder, name: folder / "gone" / "third" if name == "third" else real(folder, name))
    aside = write.set_aside(part, tmp_path / "week")
    assert aside is not None
    again = WeekReport.from_bytes(built.stored.report)
    again.ledger_stored = built.stored.ledger
    writing = write.start_week(again, tmp_path / "week", parallel=True, aside=aside)
    with pytest.raises(RuntimeError, match="third report writer failed: FileNotFoundError"):
        writing.wait()
    aside = write.set_aside(part, tmp_path / "again")
    assert aside is not None
    write.start_week(again, tmp_path / "again", parallel=True, aside=aside).abandon()


def test_the_process_aside_stores_the_weeks_ledger_as_a_delta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `previous` (the week before's ledger.csv), the process that writes ledger.csv aside
    stores it as a delta against that one: the same bytes as one process makes, resolving to
    this week's file from the week before's; its size is read from the header, and a re-render
    set aside writes this week's file back from the chain."""
    from pipeline import ledgerstore
    from pipeline.report import write

    report = sample_report()
    alone = write.write_week(report, tmp_path / "one", parallel=False, store=True)
    assert alone.stored is not None and not ledgerstore.is_delta(alone.stored.ledger)
    written = unpack_ledger_csv(alone.stored.ledger)
    lines = written.splitlines(keepends=True)
    before = b"".join([*lines[:-1], b"13800000000,changed\r\n"])
    previous = ledgerstore.stored_before("2026-W47", ledgerstore.pack(before))
    one = write.write_week(report, tmp_path / "two", parallel=False, store=True, previous=previous).stored
    writing = write.start_week(report, tmp_path / "three", parallel=True, store=True, previous=previous)
    three = writing.wait().stored
    assert one is not None and three is not None and three.ledger == one.ledger
    assert ledgerstore.delta_base(three.ledger) == "2026-W47"
    chain = [ledgerstore.pack(before), three.ledger]
    assert ledgerstore.resolve(chain) == written
    assert write.ledger_csv_size(chain) == len(written)
    monkeypatch.setattr(write, "ASIDE_FROM_BYTES", 0)
    part = WeekReport.ledger_part(three.report, chain)
    aside = write.set_aside(part, tmp_path / "four")
    assert aside is not None and aside.result() is None
    assert (tmp_path / "four" / "ledger.csv").read_bytes() == written


@pytest.mark.parametrize("parallel", [True, False])
def test_a_stored_week_set_aside_before_it_is_decoded_writes_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool) -> None:
    """A re-render starts the ledger's files from the head of the stored week
    (`WeekReport.ledger_part`, `set_aside`) before decoding the rest: the folder it writes is
    byte for byte the one written from the whole week, in two processes or in one."""
    from pipeline.report import write

    report = sample_report()
    built = write.write_week(report, tmp_path / "one", parallel=False, store=True)
    assert built.stored is not None
    blob, ledger = built.stored.report, built.stored.ledger
    part = WeekReport.ledger_part(blob, ledger)
    assert part is not None and (part.week, part.start, part.end, part.lang, part.office) == \
        (report.week, report.start, report.end, report.lang, report.office)
    assert list(part.new_registrations) == list(report.new_registrations)
    assert write.set_aside(part, tmp_path / "two") is None  # a small ledger: written with the rest
    monkeypatch.setattr(write, "ASIDE_FROM_BYTES", 0)
    aside = write.set_aside(part, tmp_path / "two")
    assert aside is not None
    again = WeekReport.from_bytes(blob)
    again.ledger_stored = ledger
    stored = write.start_week(again, tmp_path / "two", parallel=parallel, store=True, aside=aside).wait().stored
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert one.keys() == two.keys() and [name for name in one if one[name] != two[name]] == []
    assert stored is not None and unpack_ledger_csv(stored[1]) == one[Path("ledger.csv")]


@settings(max_examples=40, deadline=None)
@given(office=st.text(alphabet=st.sampled_from([*'",:{}\\ 项目x', "\u3000"]), max_size=30),
       lang=st.sampled_from(["zh", "en"]))
def test_the_head_of_a_stored_week_reads_as_its_whole(office: str, lang: str) -> None:
    """`ledger_part` reads the head of a stored week without decoding the rest: the same fields
    as the whole, whatever the office is called (quotes, colons, braces, `,"results":`); a
    report stored in the first formats (JSON alone) has no head to read."""
    report = sample_report()
    report.office, report.lang = office + ',"results":{', lang
    blob = report.to_bytes()
    part = WeekReport.ledger_part(blob, None)
    whole = WeekReport.from_bytes(blob)
    assert part is not None and (part.week, part.start, part.end, part.lang, part.office) == \
        (whole.week, whole.start, whole.end, whole.lang, whole.office)
    assert WeekReport.ledger_part(zlib.compress(b'{"format":2}'), None) is None


def test_every_writer_has_a_place_in_the_two_processes_jobs() -> None:
    """The jobs of a big week cover `WRITERS` exactly once: a writer added to the list is
    written by both paths."""
    from pipeline.report import write

    parallel = [w for writers, _ in write.JOBS for w in writers] + list(write.STATEMENT_WRITERS)
    assert sorted(parallel, key=id) == sorted(write.WRITERS, key=id) and len(parallel) == len(set(parallel))


@pytest.fixture
def helper() -> Iterator[None]:
    """A test that sets up the helper thread its own way leaves the default one behind."""
    yield
    xlsx.wait()
    xlsx.reset_helper()


@pytest.mark.parametrize("ahead", [1, 10**9])
def test_the_helper_thread_writes_the_same_bytes(tmp_path: Path, helper: None, ahead: int) -> None:
    """Zip writes run on a helper thread, and statements do not wait for each other: several
    workbooks in flight (or one chunk at a time) come out byte for byte as written inline."""
    small = Tuning(chunk_rows=5)
    inline = tmp_path / "inline"
    inline.mkdir()
    xlsx.reset_helper(threaded=False)
    for i in range(3):
        write_workbook(inline / f"{i}.xlsx", awkward_sheets(), created=CREATED, tuning=small)
    xlsx.reset_helper(ahead=ahead)
    threaded = tmp_path / "threaded"
    threaded.mkdir()
    for i in range(3):
        write_workbook(threaded / f"{i}.xlsx", awkward_sheets(), created=CREATED, wait=False, tuning=small)
    xlsx.wait()
    for i in range(3):
        assert (inline / f"{i}.xlsx").read_bytes() == (threaded / f"{i}.xlsx").read_bytes()


def test_an_error_on_the_helper_thread_is_raised(tmp_path: Path) -> None:
    missing = tmp_path / "no such folder" / "book.xlsx"
    with pytest.raises(FileNotFoundError):
        write_workbook(missing, awkward_sheets())
    write_workbook(missing, awkward_sheets(), wait=False)
    with pytest.raises(FileNotFoundError):
        xlsx.wait()
    write_workbook(tmp_path / "fine.xlsx", awkward_sheets())       # the helper goes on
    assert zipfile.ZipFile(tmp_path / "fine.xlsx").testzip() is None


# ---- the zip container

_PARTS = st.lists(st.tuples(st.sampled_from(["xl/a.xml", "xl/worksheets/sheet1.xml", "docProps/core.xml", "[x].xml"]),
                            st.lists(st.binary(max_size=3000), max_size=4), st.booleans(), st.booleans()),
                  max_size=6, unique_by=lambda part: part[0])


@settings(max_examples=60, deadline=None)
@given(parts=_PARTS, level=st.sampled_from([0, 1, 3, 6, 9]), library=st.sampled_from(["isal", "zlib"]))
def test_the_zip_writer_reads_back_whole(tmp_path_factory: pytest.TempPathFactory, parts: list[Any], level: int,
                                        library: str) -> None:
    """Every part, whole or streamed in pieces, deflated by ISA-L or zlib, a part marked `same`
    or not, reads back byte for byte through `zipfile` with a good CRC, dated as asked; and the
    same parts give the same file."""
    if library == "isal" and not xlsx.HAS_ISAL:  # pragma: no cover - a machine without the wheel
        return
    folder = tmp_path_factory.mktemp("zips")
    for name in ("one.zip", "two.zip"):
        book = xlsx.ZipWriter(folder / name, datetime(2026, 11, 23, 9, 30, 41), level, library=library)
        for part, pieces, streamed, same in parts:
            if streamed:
                stream = book.stream(part)
                for piece in pieces:
                    stream.write(piece)
                stream.close()
            else:
                book.add(part, b"".join(pieces), same)
        book.close()
    for _, pieces, _, _ in parts:  # the stored report's compression: zlib's format either way
        assert zlib.decompress(xlsx.zlib_compress(b"".join(pieces), level, library)) == b"".join(pieces)
    with zipfile.ZipFile(folder / "one.zip") as z:
        assert z.testzip() is None
        assert [i.filename for i in z.infolist()] == [p[0] for p in parts]
        for info, (_, pieces, _, _) in zip(z.infolist(), parts, strict=True):
            assert z.read(info) == b"".join(pieces)
            assert info.date_time == (2026, 11, 23, 9, 30, 40) and info.compress_type == zipfile.ZIP_DEFLATED
    assert (folder / "one.zip").read_bytes() == (folder / "two.zip").read_bytes()


def test_a_part_past_the_zip_limit_fails_naming_it(tmp_path: Path) -> None:
    """No ZIP64: a part (or a file) past 4 GB fails with its name instead of writing a broken zip.
    (The limit is lowered here; the check is the same.)"""
    assert xlsx.LIMIT == 2**32 - 1
    book = xlsx.ZipWriter(tmp_path / "big.zip", datetime(2026, 1, 1), 0, limit=1000)
    stream = book.stream("xl/worksheets/sheet1.xml")
    with pytest.raises(ValueError, match="sheet1.xml: a workbook part past 4 GB"):
        stream.write(bytes(range(256)) * 8)
    book.abort()


_CELL_TEXTS = st.one_of(st.none(), st.just(""), st.integers(-10**6, 10**6),
                        st.text(alphabet=st.sampled_from("aZ9_ x&<>\x01\ufffe张伟ｱ한é\U00020000"), max_size=12),
                        st.sampled_from(["_x0041_", "号码_2026-W46.xlsx", " lead", "trail ", "a_b"]))


def book_bytes(sheets: list[Sheet], tuning: Tuning = excel.TUNING) -> bytes:
    """The fast engine's workbook of `sheets`, as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.xlsx"
        write_workbook(path, sheets, created=CREATED, tuning=tuning)
        return path.read_bytes()


def sheet_xml(book: bytes) -> str:
    """The first sheet's XML, without empty rows (`<row r="7"></row>`: the column loops write
    the tags of a row whose cells are all empty; they mean nothing)."""
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        return re.sub(r'<row r="\d+"></row>', "", z.read("xl/worksheets/sheet1.xml").decode())


def cols_xml(xml: str) -> str:
    """A sheet's column widths (`<cols>`) as written."""
    found = re.search("<cols>.*?</cols>", xml)
    return found.group() if found else ""


def by_rows_and_one_by_one(column: Column, values: list[Any], first: int) -> tuple[str, str]:
    """One column of `values`, below `first` title lines: as plain rows (the column loops) and as
    rows that carry a style entry of None (each cell alone, the general form)."""
    title: list[tuple[str, Any]] = [("", None)] * first
    plain = book_bytes([Sheet("表", [Table([column], [[v] for v in values])], title)])
    alone = book_bytes([Sheet("表", [Table([column], [Styled([v]) for v in values])], title)])
    return sheet_xml(plain), sheet_xml(alone)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_CELL_TEXTS, max_size=30), first=st.integers(0, 1000))
def test_a_text_column_is_written_and_measured_as_each_cell_alone(values: list[Any], first: int) -> None:
    """The column loops take shortcuts: each distinct text escaped once, all-ASCII columns
    measured by length, texts sorted by length to stop early. A column of plain rows must be the
    same bytes as the same rows written one cell at a time, and as wide as its widest text alone."""
    plain, alone = by_rows_and_one_by_one(Column("文本"), values, first)
    assert plain == alone
    shown = [v if isinstance(v, str) else str(v) for v in values if v is not None and v != ""]
    widest = max(shown, key=excel.display_width, default=None)
    alone_widest = book_bytes([Sheet("表", [Table([Column("文本")], [[widest]])], [("", None)] * first)])
    assert cols_xml(plain) == cols_xml(sheet_xml(alone_widest))


def test_a_table_given_by_columns_reads_back_as_by_rows(tmp_path: Path) -> None:
    """`Columns` and a list of rows are two spellings of one table, in both engines."""
    header = [Column("客户"), Column("时间", "datetime"), Column("行", "int")]
    rows = [["张伟", "2026-11-26T09:00:00", 2], ["", None, 3], ["a_b", "2026-11-27T10:30:00", None]]
    for engine in ("fast", "xlsxwriter"):
        write_workbook(tmp_path / f"rows-{engine}.xlsx", [Sheet("表", [Table(header, rows)])], engine=engine)
        write_workbook(tmp_path / f"cols-{engine}.xlsx",
                       [Sheet("表", [Table(header, excel.Columns(list(zip(*rows, strict=True))))])], engine=engine)
        by_rows, by_cols = (list(openpyxl.load_workbook(tmp_path / f"{kind}-{engine}.xlsx")["表"].values)
                            for kind in ("rows", "cols"))
        assert by_cols == by_rows and len(by_rows) == 4 and by_rows[1][0] == "张伟"


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.just(""), st.booleans(), st.integers(-10**17, 10**17),
                                 st.sampled_from([10**15 - 1, 10**15, -10**15, 10**16, "42", Decimal("7")])),
                       max_size=30), first=st.integers(0, 1000))
def test_an_int_column_is_written_as_each_cell_alone(values: list[Any], first: int) -> None:
    """The int column loop writes small ints as text, skipping the float format: it must equal
    the one-cell form (`%.16G`) for every value, large, negative, textual or boolean."""
    plain, alone = by_rows_and_one_by_one(Column("行", "int"), values, first)
    assert plain == alone


_ARROW_TEXTS = st.one_of(
    st.none(), st.just(""),
    st.text(alphabet=st.sampled_from("aZ9_ x&<>.:-·\x01\x1f\t\ufffe\uffff张伟ｱ한é\u3000\U00020000"), max_size=8),
    st.sampled_from(["_x0041_", "号码_2026-W46.xlsx", " lead", "trail ", "张 伟", "13800000000", "(a)", "a" * 16001, "张" * 40000,
                     "a&b", "张<伟", "a_x00E9_b", "a\x01b", "a\ufffeb", "a\u3000b", "a\tb", "张·伟"]))
_ARROW_TIMES = st.one_of(st.none(), st.just(""), st.datetimes(datetime(1901, 1, 1), datetime(2200, 1, 1)).map(
    lambda d: d.replace(microsecond=0).isoformat()), st.sampled_from(["2026-11-26", "2026-11-26T09:00:00.5"]))
_ARROW_INTS = st.one_of(st.none(), st.integers(-10**15 + 1, 10**15 - 1))
_ARROW_COLUMNS = [Column("文本"), Column("时间", "datetime"), Column("行", "int"), Column("金额", "money")]


ARROW = Tuning(arrow_from_rows=1)        # every table given by columns built by Arrow kernels
LOOPS = Tuning(arrow_from_rows=10**9)    # none


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(_ARROW_TEXTS, _ARROW_TIMES, _ARROW_INTS, st.sampled_from([None, "", "12.50", "0"])),
                     min_size=1, max_size=40),
       first=st.integers(0, 1000), chunk=st.integers(1, 50))
def test_arrow_rows_are_the_loops_rows(rows: list[tuple[Any, ...]], first: int, chunk: int) -> None:
    """A long table given by columns is built by Arrow kernels, in chunks, taking shortcuts for
    plain texts and ISO times; it must be the same workbook, byte for byte, as the loops make
    for any texts, times and numbers, whatever the chunks."""
    data = [list(column) for column in zip(*rows, strict=True)]

    def sheets() -> list[Sheet]:
        return [Sheet("表", [Table(_ARROW_COLUMNS, excel.Columns(data))], [("", None)] * first)]

    arrow = book_bytes(sheets(), Tuning(arrow_from_rows=1, arrow_chunk_rows=chunk))
    assert arrow == book_bytes(sheets(), Tuning(arrow_from_rows=10**9, chunk_rows=chunk))


def test_what_arrow_cannot_hold_is_written_as_the_loops_write_it() -> None:
    """A number in a text column, or a lone surrogate, or an int past 10^15 (also as an Arrow
    column): the table comes out as the loops write it from plain lists."""
    import pyarrow as pa

    cases: list[list[Any]] = [[["a", 3], [1, 2]], [["a", "\ud800"], [1, 2]], [["a", "b"], [1, 10**16]],
                              [pa.array(["a", "b"]), pa.array([1, 10**16])]]
    columns = [Column("文本"), Column("行", "int")]
    for data in cases:
        plain = [c.to_pylist() if isinstance(c, pa.Array) else c for c in data]
        loops = book_bytes([Sheet("表", [Table(columns, excel.Columns(plain))])], LOOPS)
        assert book_bytes([Sheet("表", [Table(columns, excel.Columns(data))])], ARROW) == loops


def test_a_table_of_huge_texts_is_left_to_the_loops() -> None:
    """Past `arrow_max_bytes` of cell bodies a table is built by the loops (a chunk's XML in one
    Arrow string array must stay under 2 GB); the same bytes either way."""
    data = [["张伟" * 50, "a_b" * 40, None], [1, 2, 3]]

    def sheets() -> list[Sheet]:
        return [Sheet("表", [Table([Column("文本"), Column("行", "int")], excel.Columns(data))])]

    loops = book_bytes(sheets(), LOOPS)
    assert book_bytes(sheets(), ARROW) == loops
    assert book_bytes(sheets(), Tuning(arrow_from_rows=1, arrow_max_bytes=300)) == loops


def test_a_long_table_is_built_by_arrow_and_reads_back_as_the_reference(tmp_path: Path) -> None:
    """The whole workbook, with a table past `arrow_from_rows` in chunks: the same cells as xlsxwriter's."""
    rows = [[f"客户{i}" if i % 5 else "a_b&c", f"2026-11-{10 + i % 7}T0{i % 10}:00:0{i % 6}", i, f"{i}.25"]
            for i in range(30)]
    rows[4] = [None, "", None, None]
    sheets = [Sheet("表", [Table(_ARROW_COLUMNS, excel.Columns(list(zip(*rows, strict=True))))])]
    fast, ref = write_both(tmp_path, sheets, tuning=Tuning(arrow_from_rows=10, arrow_chunk_rows=7))
    assert_same(snapshot(fast), snapshot(ref))


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from("aZ9 _&张伟ｱ한é\u3000\U00020000ﾞ"),
                                                   max_size=10)), max_size=20),
       numbers=st.lists(st.one_of(st.none(), st.integers(-10**12, 10**12)), max_size=20))
def test_an_arrow_column_is_measured_as_its_values(texts: list[Any], numbers: list[Any]) -> None:
    """Columns read back from a stored report are Arrow arrays, measured by Arrow's kernels; the
    workbook (widths included: CJK and full-width count 2) is the one of the same values in lists."""
    import pyarrow as pa

    def sheets(text_column: Any, int_column: Any) -> list[Sheet]:
        return [Sheet("文本", [Table([Column("文本")], excel.Columns([text_column]))]),
                Sheet("行", [Table([Column("行", "int")], excel.Columns([int_column]))])]

    lists = book_bytes(sheets(texts, numbers), ARROW)
    assert book_bytes(sheets(pa.array(texts, pa.string()), pa.array(numbers, pa.int64())), ARROW) == lists


@pytest.mark.parametrize("tuning", [LOOPS, ARROW], ids=["loops", "arrow"])
def test_a_reloaded_weeks_ledger_workbook_is_the_same_bytes(tmp_path: Path, tuning: Tuning) -> None:
    """A re-render writes ledger.xlsx from the new registrations as stored (Arrow columns), a
    run from the rows it computed: the same bytes, whether the table is built by the loops or
    by Arrow from those columns as they are."""
    from pipeline.report.model import Registrations

    report = sample_report()
    again = WeekReport.from_bytes(report.to_bytes())
    assert isinstance(again.new_registrations, Registrations) and again.new_registrations.table_ready()
    (tmp_path / "run").mkdir()
    (tmp_path / "again").mkdir()
    excel.write_ledger_xlsx(report, tmp_path / "run", tuning=tuning)
    excel.write_ledger_xlsx(again, tmp_path / "again", tuning=tuning)
    assert (tmp_path / "run" / "ledger.xlsx").read_bytes() == (tmp_path / "again" / "ledger.xlsx").read_bytes()
    assert again.new_registrations._rows is None   # not turned into rows on the way


def test_a_long_name_full_of_ampersands_keeps_the_page_header_within_excels_limit(tmp_path: Path) -> None:
    """A header section shows its text literally (& doubled) and within Excel's 255 characters,
    however long the office or the manager's name: the week is never cut off."""
    report = sample_report()
    report.office = "&" * 300
    printing = excel.printing_of(report, "R&D 张伟" * 40)
    path = tmp_path / "long.xlsx"
    write_workbook(path, [Sheet("表", [Table([Column("甲")], [["1"]])])], created=CREATED, printing=printing)
    header = openpyxl.load_workbook(path)["表"].oddHeader
    assert len(header.left.text) + len(header.center.text) + len(header.right.text) + 6 <= 255
    assert header.center.text.endswith(" · 2026-W48") and header.center.text.startswith("R&&D 张伟")
    assert set(header.left.text) == {"&"} and len(header.left.text) % 2 == 0
