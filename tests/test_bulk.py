"""The bulk paths for a big ledger give exactly what the row-by-row paths give.

Registrations are read as columns (with a short path for clean rows), replayed from columns
(only the first registration of each phone another event names is walked), and the ledger is
written to CSV a column at a time. Each is checked here against the plain way of doing the same.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import python_calamine
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.io.read import Problem, parse_row, read_file, read_unguarded
from pipeline.records import PHONE, Event, Ledger, Registered, Source, as_number
from pipeline.report import write
from pipeline.report.model import WeekReport
from pipeline.report.write import LEDGER_HEADERS, safe_csv, write_ledger_csv
from pipeline.rules.replay import WeekOutcome, replay
from pipeline.weeks import Week
from tests.helpers import REGISTRATIONS, workbook
from tests.test_rules import CONFIG, ROSTER

# ---- reading: the short path for clean rows against parse_row for every row

MESSY_ROWS: list[list[Any]] = [
    ["13800138000", datetime(2026, 11, 2, 9, 30), "自然到访", "王先生"],       # clean: short path
    [13800138001, datetime(2026, 11, 2, 9, 31), "张伟", "李女士"],            # number cell
    ["138 0013 8002", "2026-11-02 09:32", "  张伟　", None],                  # spaces, text date, U+3000
    ["+8613800138003", "2026年11月2日9:33", "ＡＢＣ渠道", "Ｘ"],               # prefix, full-width
    ["13800138004", datetime(2026, 11, 2, 9, 34, 0, 600_000), "张伟", ""],    # rounds to the second
    ["13800138005", datetime(2026, 11, 2, 9, 35), "   ", "空登记人"],           # MISSING_VALUE
    ["1380013800", datetime(2026, 11, 2, 9, 36), "张伟", "短号"],              # INVALID_PHONE
    ["13800138007", "11/24/2026", "张伟", "美式日期"],                          # INVALID_DATE
    [None, None, None, None],                                                # blank: skipped
    ["13800138008", 46000.5, "张伟", "序列号"],                                # Excel serial
    ["'13800138009", datetime(2026, 11, 2, 9, 39), "张伟", "撇号"],             # leading apostrophe
    ["13800138010.0", datetime(2026, 11, 2, 9, 40), 42, "数字登记人"],          # trailing .0, number name
    ["13800138011", "2026-11-02 09:41:00", "张伟", "文本时间"],                  # text time: short path
    [13800138012, "2026-13-02 09:42:00", "张伟", "十三月"],                      # INVALID_DATE
    ["13800138013", "２026-11-02 09:43:00", "张伟", "全角年份"],                  # full-width digit: NFKC
    [23800138014, datetime(2026, 11, 2, 9, 44), "张伟", "二开头"],               # INVALID_PHONE (a number)
    [13800138015.5, datetime(2026, 11, 2, 9, 45), "张伟", "小数"],               # INVALID_PHONE
]


def test_registration_sheet_reads_like_parse_row(tmp_path: Path) -> None:
    path = workbook(tmp_path / "登记.xlsx", {"登记": (REGISTRATIONS, MESSY_ROWS * 3)})
    [sheet] = read_file(path)
    block = sheet.registrations
    assert sheet.kind == "registrations" and block is not None and not sheet.rows

    grid = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("登记").to_python(
        skip_empty_area=False)
    columns = ["phone", "registered_at", "registered_by", "customer"]
    expected_rows: list[tuple[Any, ...]] = []
    expected_problems: list[tuple[int, str, str | None]] = []
    for r, cells in enumerate(grid[1:], start=2):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        parsed = parse_row("registrations", dict(zip(columns, cells, strict=False)), Source(path.name, "登记", r), "zh")
        if isinstance(parsed, Problem):
            expected_problems.append((r, parsed.reason, parsed.phone))
        else:
            v = parsed.values
            expected_rows.append((r, v["phone"], v["registered_at"].isoformat(), v["registered_by"], v["customer"],
                                  v["note"]))
    got_rows = list(zip(block.row, block.phone, block.at, block.who, block.customer, block.note, strict=True))
    assert got_rows == expected_rows
    assert [(p.source.row, p.reason, p.phone) for p in sheet.problems] == expected_problems
    assert {p.reason for p in sheet.problems} == {"MISSING_VALUE", "INVALID_PHONE", "INVALID_DATE"}
    assert len(block) == 10 * 3 and sheet.data_rows == 16 * 3


# ---- reading a big sheet as typed columns (fastexcel) against calamine cell by cell

# Each column holds one type (what the columnar path takes), with the awkward values of its type.
TEXT_PHONES_DATE_TIMES: list[list[Any]] = [
    ["13800138000", datetime(2026, 11, 2, 9, 30), "自然到访", "王先生", "备注"],
    ["138 0013 8001", datetime(2026, 11, 2, 9, 31), "  张伟　", None, None],          # spaces, U+3000
    ["+8613800138002", datetime(2026, 11, 2, 9, 32), "ＡＢＣ渠道", "Ｘ", "全角"],        # NFKC
    ["13800138003", datetime(2026, 11, 2, 9, 33, 0, 600_000), "张伟", "", None],     # rounds: slow path
    ["13800138004", datetime(2026, 11, 2, 9, 34), "   ", "空登记人", None],           # MISSING_VALUE
    ["1380013800", datetime(2026, 11, 2, 9, 35), "张伟", "短号", None],              # INVALID_PHONE
    [None, None, None, None, None],                                                # blank: skipped
    [None, None, None, None, "只有备注"],                                            # not blank: MISSING_VALUE
    ["'13800138009", datetime(2026, 11, 2, 9, 39), "张伟", "撇号", None],
    ["13800138010", datetime(2026, 11, 2, 9, 40), "张伟", " 客户 ", "x "],           # trimmed customer, note
]
NUMBER_PHONES_TEXT_TIMES: list[list[Any]] = [
    [13800138000, "2026-11-02 09:30:00", "张伟", "文本时间"],
    [13800138001, "2026-11-02 09:31", "张伟", "无秒"],                                # slow path, accepted
    [13800138002, "2026年11月2日9:32", "张伟", "中文日期"],
    [23800138003, "2026-11-02 09:33:00", "张伟", "二开头"],                           # INVALID_PHONE
    [13800138004.5, "2026-11-02 09:34:00", "张伟", "小数"],                           # INVALID_PHONE
    [13800138005, "2026-13-02 09:35:00", "张伟", "十三月"],                           # INVALID_DATE
    [13800138006, "２026-11-02 09:36:00", "张伟", "全角年份"],
    [13800138007, "11/24/2026", "张伟", "美式日期"],                                   # INVALID_DATE
]


def _columnar_vs_cells(path: Path, monkeypatch: Any) -> tuple[Any, list[Any]]:
    """(what the columnar path gives for the first sheet, or None; the sheets read cell by cell).
    The reading is watched in this process (`read_unguarded`, what `read_file`'s worker runs),
    where the size from which a sheet is read as columns can be changed."""
    import fastexcel

    from pipeline.io import columnar, read

    monkeypatch.setattr(columnar, "FAST_SHEET_BYTES", 0)
    [(name, part)] = list(columnar.big_sheets(path).items())[:1] or [("", "")]
    fast = columnar.registrations(path, name, part, fastexcel.read_excel(str(path)), path.name, "zh", read.MAX_CELLS)
    monkeypatch.setattr(columnar, "FAST_SHEET_BYTES", 1 << 60)
    return fast, read.read_unguarded(path, path.name)


def test_a_big_registration_sheet_reads_the_same_as_columns(tmp_path: Path, monkeypatch: Any) -> None:
    header = [*REGISTRATIONS, "备注"]
    cases = {
        "text.xlsx": workbook(tmp_path / "text.xlsx", {"登记": (header, TEXT_PHONES_DATE_TIMES * 3)}),
        "number.xlsx": workbook(tmp_path / "number.xlsx", {"登记": (REGISTRATIONS, NUMBER_PHONES_TEXT_TIMES * 3)}),
        # the only cell to trim ends in a white space NFKC keeps (U+1680): found by the column check
        "space.xlsx": workbook(tmp_path / "space.xlsx", {"登记": (REGISTRATIONS, [
            *([f"1380013{k:04d}", datetime(2026, 11, 2, 9, k), "张伟", "客户"] for k in range(5)),
            ["13800139999", datetime(2026, 11, 2, 10, 0), "张伟", "客户\u1680"], ["1380013", datetime(2026, 11, 2, 11, 0), "张伟", "短号"]])}),
    }
    for name, path in cases.items():
        fast, [expected] = _columnar_vs_cells(path, monkeypatch)
        assert fast is not None, name  # the columnar path was taken...
        fast.index = expected.index
        assert fast == expected, name  # ...and gave what calamine cell by cell gives
        assert expected.problems and len(expected.registrations or []) > 3
        # and read_file itself takes it once the sheet is big enough
        monkeypatch.setattr("pipeline.io.columnar.FAST_SHEET_BYTES", 0)
        assert read_unguarded(path, path.name) == [expected] == read_file(path)


def test_the_columnar_path_finds_the_header_where_the_reader_does(tmp_path: Path, monkeypatch: Any) -> None:
    """Empty rows above the header and inside the data, a numbered column A without a header:
    the same row numbers and the same rows either way."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "登记"
    for j, title in enumerate(REGISTRATIONS, start=2):
        ws.cell(row=3, column=j, value=title)
    r = 4
    for k, row in enumerate(TEXT_PHONES_DATE_TIMES):
        if k == 4:
            r += 2  # two empty rows inside the data
        ws.cell(row=r, column=1, value=f"#{k}")
        for j, value in enumerate(row[:4], start=2):
            ws.cell(row=r, column=j, value=value)
        r += 1
    path = tmp_path / "offset.xlsx"
    wb.save(path)
    fast, [expected] = _columnar_vs_cells(path, monkeypatch)
    assert fast is not None and expected.header_row == 3
    fast.index = expected.index
    assert fast == expected


def test_the_columnar_path_steps_aside_where_it_could_differ(tmp_path: Path, monkeypatch: Any) -> None:
    """A title above the header, a column mixing numbers and text, a rejected row with a time at
    midnight (calamine may read it as a date): calamine reads these, and read_file gives the same."""
    mixed = [["13800138000", datetime(2026, 11, 2, 9, 30), "张伟", "x"],
             [13800138001, datetime(2026, 11, 2, 9, 31), "张伟", "y"]]
    midnight = [["13800138000", datetime(2026, 11, 2, 9, 30), "张伟", "x"],
                ["1380013800", datetime(2026, 11, 3), "张伟", "短号"]]
    clean = [["13800138000", datetime(2026, 11, 2, 9, 30), "张伟", "x"]]
    cases = [workbook(tmp_path / "title.xlsx", {"登记": (REGISTRATIONS, clean)}, title="客户登记表"),
             workbook(tmp_path / "mixed.xlsx", {"登记": (REGISTRATIONS, mixed)}),
             workbook(tmp_path / "midnight.xlsx", {"登记": (REGISTRATIONS, midnight)})]
    for path in cases:
        fast, expected = _columnar_vs_cells(path, monkeypatch)
        assert fast is None, path.name
        monkeypatch.setattr("pipeline.io.columnar.FAST_SHEET_BYTES", 0)
        assert read_unguarded(path, path.name) == expected


def test_a_big_sheet_over_the_cell_limit_is_refused_on_the_columnar_path_too(tmp_path: Path,
                                                                             monkeypatch: Any) -> None:
    from pipeline.io import columnar, read

    path = workbook(tmp_path / "wide.xlsx", {"登记": (REGISTRATIONS, TEXT_PHONES_DATE_TIMES * 3)})
    monkeypatch.setattr(columnar, "FAST_SHEET_BYTES", 0)
    assert read_unguarded(path, path.name, max_cells=10_000)[0].kind == "registrations"
    rows = len(TEXT_PHONES_DATE_TIMES) * 3 + 1
    with pytest.raises(read.FileError, match=f"sheet '登记' spans {rows} rows x 5 columns.*Ctrl\\+End"):
        read_unguarded(path, path.name, lang="en", max_cells=100)


# ---- the replay: registrations as columns against registrations as events

WEEKS = [Week.parse("2026-W47"), Week.parse("2026-W48"), Week.parse("2026-W49")]
PEOPLE = ["张伟", "王强", "老李", "李娜", "刘总", "自然到访"]


def _history(rng: random.Random, n: int) -> list[Event]:
    phones = [f"1380013{k:04d}" for k in range(40)]
    kinds = ["registrations"] * 4 + ["leads"] * 3 + ["visits", "units", "deals"]
    events = []
    for seq in range(1, n + 1):
        kind = rng.choice(kinds)
        day = datetime(2026, 11, 17) + timedelta(days=rng.randrange(-10, 21))  # some before W47: history
        at = f"{day:%Y-%m-%d}T{rng.choice(['00:00:00', '09:00:00', '09:00:00', '23:59:59'])}"
        unit = rng.choice(["甲公司", "乙公司", "丙 公司"])
        events.append(Event(seq, rng.choice(["r0", "r1"]), kind, at, "" if kind == "units" else rng.choice(phones),
                            rng.choice(PEOPLE), rng.choice(["李娜", "赵六", "无名"]), f"客户{seq}", unit,
                            unit.replace(" ", ""), rng.choice(["p.jpg", ""]), "", "", "4000.00", "", "", "", "",
                            "f.xlsx", "S", seq))
    return events


def _columns(events: list[Event]) -> Registered:
    out = Registered()
    for e in events:
        for column in Registered.COLUMNS:
            getattr(out, column).append(getattr(e, column))
    return out


def _plain(outcome: WeekOutcome) -> dict[str, Any]:
    return {
        "counts": {m: dict(c) for m, c in outcome.counts.items() if any(c.values())},
        "commission": {m: dict(c) for m, c in outcome.commission.items()},
        "deals": outcome.deals, "rejections": outcome.rejections,
        "leads": outcome.leads, "visits": outcome.visits, "units": outcome.units,
        "new": [(o.owner, o.at, o.via, o.customer, o.event.seq, o.event.row) for o in outcome.new_registrations],
        "ledger": list(outcome.ledger.rows()),
    }


def test_replay_from_columns_equals_replay_of_every_registration() -> None:
    for seed in range(60):
        rng = random.Random(seed)
        events = _history(rng, rng.randrange(5, 120))
        weeks = WEEKS[: rng.randrange(1, 4)]
        regs = [e for e in events if e.kind == "registrations"]
        others = [e for e in events if e.kind != "registrations"]
        stop = weeks[-1].next_start_iso
        as_events = replay(events, ROSTER, weeks, weeks[0].start_iso, "r1", CONFIG)
        as_columns = replay(others, ROSTER, weeks, weeks[0].start_iso, "r1", CONFIG,
                            _columns([e for e in regs if e.at < stop]))
        assert [_plain(o) for o in as_columns] == [_plain(o) for o in as_events], f"seed {seed}"


# ---- ledger.csv: a column at a time, the bytes csv.writer writes

texts = st.text(alphabet=st.sampled_from(list('ab张,"=+-@ \r\n\'\t')), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(texts, texts, st.booleans()), max_size=8))
def test_ledger_csv_matches_the_csv_module(tmp_path_factory: Any, rows: list[tuple[str, str, bool]]) -> None:
    folder = tmp_path_factory.mktemp("csv")
    ledger = Ledger.from_rows(
        (f"138{k:08d}", customer, owner, "2026-11-20T09:00:00", "leads", "2026-11-21T10:00:00" if seen else None)
        for k, (customer, owner, seen) in enumerate(rows))
    write_ledger_csv(SimpleNamespace(ledger=ledger, lang="zh", ledger_stored=None), folder)  # type: ignore[arg-type]

    expected = io.StringIO(newline="")
    out = csv.writer(expected)
    out.writerow(LEDGER_HEADERS["zh"])
    out.writerows((p, safe_csv(c), safe_csv(o), at, via, fv or "") for p, c, o, at, via, fv in ledger.rows())
    assert (folder / "ledger.csv").read_bytes() == expected.getvalue().encode("utf-8-sig")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(13_000_000_000, 13_000_000_099).map(str), st.sampled_from(["1380013800", "x"])),
                unique=True, max_size=30), st.data())
def test_a_merged_ledger_reads_and_writes_as_one_sorted_by_phone(tmp_path_factory: Any, phones: list[str],
                                                               data: st.DataObject) -> None:
    """The replay's ledger of walked phones (in no order) and alone phones (in phone order):
    its table and its ledger.csv are those of one ledger sorted by phone (Arrow's order of
    the texts; phones not all 11 digits included)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    walked_phones = data.draw(st.permutations(phones[: data.draw(st.integers(0, len(phones)))]))
    alone_phones = [p for p in phones if p not in walked_phones]
    whole = Ledger.from_rows((p, f"客{p[-2:]}", "张伟", "2026-11-20T09:00:00", "leads", None) for p in phones)
    part = {p: i for i, p in enumerate(phones)}

    def ledger_of(chosen: list[str]) -> Ledger:
        return Ledger(whole.table.take(pa.array([part[p] for p in chosen], pa.int64())))

    alone_sorted = sorted(alone_phones, key=lambda p: p.encode())
    merged = Ledger.merged(ledger_of(list(walked_phones)).table, ledger_of(alone_sorted).table)
    expected = Ledger(whole.table.take(pc.sort_indices(whole.table.column("phone"))))
    folder, again = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    # the merged ledger's lines made a few rows at a time (`CSV_SLICE`), as a year's are
    sliced = data.draw(st.integers(1, 12))
    for ledger, where, rows_at_a_time in ((merged, folder, sliced), (expected, again, write.CSV_SLICE)):
        kept, write.CSV_SLICE = write.CSV_SLICE, rows_at_a_time
        try:
            write_ledger_csv(SimpleNamespace(ledger=ledger, lang="zh", ledger_stored=None), where)  # type: ignore[arg-type]
        finally:
            write.CSV_SLICE = kept
    assert (folder / "ledger.csv").read_bytes() == (again / "ledger.csv").read_bytes()
    assert len(merged) == len(phones) and list(merged.rows()) == list(expected.rows())


def test_ledger_csv_cells_that_excel_would_run_as_formulas_are_shown_as_text(tmp_path: Path) -> None:
    """SPEC §5: no text from an input becomes a formula. Excel runs a CSV cell starting with
    = + - or @; such a customer or owner is written with a leading ' (and quoted if it needs)."""
    cells = ["=HYPERLINK(\"http://x\")", "+8613800138000", "-1", "@SUM(A1)", "王=先生", "a,b"]
    ledger = Ledger.from_rows((f"138{k:08d}", cell, cell, "2026-11-20T09:00:00", "leads", None)
                              for k, cell in enumerate(cells))
    write_ledger_csv(SimpleNamespace(ledger=ledger, lang="zh", ledger_stored=None), tmp_path)  # type: ignore[arg-type]
    lines = (tmp_path / "ledger.csv").read_bytes().decode("utf-8-sig").split("\r\n")[1:-1]
    assert [line.split(",", 1)[1] for line in lines] == [
        '"\'=HYPERLINK(""http://x"")","\'=HYPERLINK(""http://x"")",2026-11-20T09:00:00,leads,',
        "'+8613800138000,'+8613800138000,2026-11-20T09:00:00,leads,",
        "'-1,'-1,2026-11-20T09:00:00,leads,",
        "'@SUM(A1),'@SUM(A1),2026-11-20T09:00:00,leads,",
        "王=先生,王=先生,2026-11-20T09:00:00,leads,",
        '"a,b","a,b",2026-11-20T09:00:00,leads,',
    ]


# ---- a closed week's stored report: rows as arrays, and as objects (weeks closed by earlier versions)


def test_stored_report_round_trips_in_every_format() -> None:
    """Format 3 (`to_bytes`: the new registrations a part of their own, as Arrow columns), and
    the two earlier versions' single JSON: rows as arrays (2) and as objects (1)."""
    import json
    import zlib

    from pipeline.report.model import Registrations
    from tests.test_reports import sample_report

    report = sample_report()
    assert report.leads and report.visits and report.units and report.new_registrations
    again = WeekReport.from_bytes(report.to_bytes())
    assert isinstance(again.new_registrations, Registrations) and again.new_registrations.table_ready()
    assert len(again.new_registrations) == len(report.new_registrations)
    assert (again.leads, again.visits, again.units, list(again.new_registrations)) == (
        report.leads, report.visits, report.units, report.new_registrations)
    assert again.new_registrations[0] == report.new_registrations[0]
    assert isinstance(again.new_registrations[-1].source, Source)
    assert again.results == report.results and again.roster == report.roster
    assert WeekReport.from_bytes(again.to_bytes()).new_registrations == report.new_registrations

    doc = {"format": 2, "week": report.week, "start": report.start, "end": report.end, "lang": report.lang,
           "office": report.office, "results": report.results,
           "run": {"run_id": report.run.run_id, "now": report.run.now, "config": report.run.config,
                   "files": [list(f) for f in report.run.files]},
           "roster": [p.to_json() for p in report.roster], "leads": report.leads, "visits": report.visits,
           "units": report.units, "new_registrations": report.new_registrations}
    two = WeekReport.from_bytes(zlib.compress(json.dumps(doc, ensure_ascii=False).encode()))
    assert (two.leads, two.visits, two.units, two.new_registrations) == (
        report.leads, report.visits, report.units, report.new_registrations)
    assert two.results == report.results and two.roster == report.roster

    del doc["format"]
    for key, rows in (("leads", report.leads), ("visits", report.visits), ("units", report.units),
                      ("new_registrations", report.new_registrations)):
        doc[key] = [{**r._asdict(), "source": r.source._asdict()} for r in rows]
    old = WeekReport.from_bytes(zlib.compress(json.dumps(doc, ensure_ascii=False).encode()))
    assert (old.leads, old.visits, old.units, old.new_registrations) == (
        report.leads, report.visits, report.units, report.new_registrations)
    assert isinstance(old.leads[0].source, Source)


def test_results_text_is_the_results_one_entry_per_line() -> None:
    import json

    from pipeline.report.write import results_text
    from tests.test_reports import sample_report

    results = sample_report().results
    text = results_text(results)
    assert json.loads(text) == results
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}" and lines[1] == '  "schema": 2,'
    assert len(lines) == 2 + len(results) + sum(len(v) + 1 for v in results.values() if isinstance(v, list) and v)
    assert results_text({"rejections": []}) == '{\n  "rejections": []\n}\n'


def test_registration_blocks_read_back_alike_before_and_after_commit(tmp_path: Path) -> None:
    from pipeline.state import State

    def columns(r: Registered) -> list[list[Any]]:
        return [getattr(r, c) for c in Registered.COLUMNS]

    state = State(tmp_path / "state")
    state.begin()
    state.add_registrations("r1", "登记.xlsx", "登记", [5, 9], ["2026-11-02T09:00:00", "2026-11-01T09:00:00"],
                            ["13800138000", "13900139000"], ["张伟", "自然到访"], ["王先生", ""], ["", "备注"], [2, 6])
    state.add_registrations("r1", "登记.xlsx", "二", [20], ["2026-11-03T09:00:00"], ["13700137000"], ["李强"], [""],
                            [""], [3])
    fresh = columns(state.registrations())
    assert fresh[0] == [5, 9, 20] and fresh[6] == ["登记.xlsx"] * 3 and fresh[7] == ["登记", "登记", "二"]
    assert columns(state.registrations("2026-11-02T09:00:00")) == [[9], ["2026-11-01T09:00:00"], ["13900139000"],
                                                                  ["自然到访"], [""], ["备注"], ["登记.xlsx"],
                                                                  ["登记"], [6]]
    state.commit()
    state.close()
    again = State(tmp_path / "state")
    assert columns(again.registrations()) == fresh
    again.begin()
    again.add_registrations("r2", "x.xlsx", "s", [30], ["2026-11-04T09:00:00"], ["13600136000"], ["甲"], [""], [""],
                            [2])
    again.rollback()
    assert columns(again.registrations()) == fresh
    again.close()


@pytest.mark.parametrize("aside", [True, False])
def test_a_block_encoded_aside_is_written_by_the_commit_and_dropped_by_a_rollback(tmp_path: Path, aside: bool) -> None:
    """A block's data is written within its transaction: encoded on a thread
    (`write_blocks_aside`) or at the commit; forgetting the decoded blocks in between keeps it
    readable; a rollback while its thread runs stores nothing and leaves no thread behind."""
    import threading

    from pipeline.state import State

    def columns(r: Registered) -> list[list[Any]]:
        return [getattr(r, c) for c in Registered.COLUMNS]

    def add(state: State, run: str, phone: str) -> None:
        state.add_registrations(run, "登记.xlsx", "登记", list(range(1, 5001)), ["2026-11-02T09:00:00"] * 5000,
                                [phone] * 5000, [f"来源{k}" for k in range(5000)], [""] * 5000, [""] * 5000,
                                list(range(2, 5002)))

    state = State(tmp_path / "state")
    state.begin()
    add(state, "r1", "13800138000")
    if aside:
        state.write_blocks_aside()
    before = columns(state.registrations())
    state.forget_registrations()
    assert columns(state.registrations()) == before
    state.commit()
    state.close()
    again = State(tmp_path / "state")
    assert columns(again.registrations()) == before and len(before[0]) == 5000
    again.begin()
    add(again, "r2", "13900139000")
    if aside:
        again.write_blocks_aside()
    again.rollback()
    assert not [t for t in threading.enumerate() if t.name == "state-blocks"]
    assert columns(again.registrations()) == before
    again.close()


def test_registrations_stored_one_row_each_by_an_earlier_version_still_count(tmp_path: Path) -> None:
    """Before schema 2 a registration was a row of `rows`: such a state still gives its
    registrations to the replay and to the duplicate check, after the blocks' ones in order read."""
    from pipeline.intake import digest, registration_keys
    from pipeline.state import State

    state = State(tmp_path / "state")
    state.begin()
    state.add_rows([(3, "old", "registrations", "2026-10-01T09:00:00", digest("old-1"), "13800138000", "自然到访",
                     "", "王先生", "", "", "", "", "", "", "", "", "", "", "旧.xlsx", "登记", 2)])
    state.add_registrations("new", "新.xlsx", "登记", [10], ["2026-10-02T09:00:00"], ["13900139000"], ["张伟"], [""],
                            [""], [2])
    state.commit()
    got = state.registrations()
    assert list(zip(got.seq, got.phone, got.who, got.file, strict=True)) == [
        (10, "13900139000", "张伟", "新.xlsx"), (3, "13800138000", "自然到访", "旧.xlsx")]
    identities = {tuple(key.split("\x1f")) for key in registration_keys(state.registrations()).to_pylist()}  # the duplicate check's
    assert identities == {("13800138000", "2026-10-01T09:00:00", "自然到访"),
                          ("13900139000", "2026-10-02T09:00:00", "张伟")}
    assert list(state.history("9999")) == []  # registrations are not events of the history any more
    assert state.row_count() == 2 and state.next_seq() == 11 and state.holds_rows()
    state.close()


def test_registrations_of_finds_a_phone_in_any_stored_block_and_reads_no_other(tmp_path: Path) -> None:
    """The stored registrations sharing a phone with a week's new ones: found in whichever
    block holds them (a block's phones are read first, and a block without one is let go),
    with their file and sheet, in the order stored."""
    import pyarrow as pa

    from pipeline.state import State

    folder = tmp_path / "state"
    state = State(folder)
    assert not state.holds_rows()
    state.begin()
    for i in range(5):
        phones = [f"139{i:04d}{k:04d}" for k in range(300)]
        state.add_registrations(f"run{i}", f"登记{i}.xlsx", "登记", list(range(i * 1000, i * 1000 + 300)),
                                [f"2026-10-0{i + 1}T09:00:00"] * 300, phones, ["张伟"] * 300, [""] * 300, [""] * 300,
                                list(range(2, 302)))
    state.commit()
    assert state.holds_rows()
    state.close()
    again = State(folder)
    got = again.registrations_of(pa.array(["13900030007", "13900010299", "13800000000"]))
    assert list(zip(got.seq, got.phone, got.file, got.row, strict=True)) == [
        (1299, "13900010299", "登记1.xlsx", 301), (3007, "13900030007", "登记3.xlsx", 9)]
    assert len(again.registrations_of(pa.array(["13800000000"]))) == 0
    again.close()


cells = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.integers(min_value=12_999_999_990, max_value=20_000_000_010),
    st.floats(min_value=12_999_999_990, max_value=20_000_000_010), st.floats(allow_nan=True),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    st.from_regex(r"1[0-9]{10}", fullmatch=True), st.text(alphabet="0123456789-: +.年月日２", max_size=22),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", fullmatch=True),
)


@settings(max_examples=600, deadline=None)
@given(cells)
def test_quick_parsers_agree_with_the_full_ones(cell: Any) -> None:
    """Where the short path of bulk reading answers, it answers what the full parser does."""
    from pipeline import normalise as nz

    phone = nz.quick_phone(cell)
    if phone is not None:
        assert nz.phone(cell) == phone
    when = nz.quick_time(cell)
    if when is not None:
        assert nz.datetime_value(cell).isoformat() == when


# ---- leads and visits: the reader's shortcut to stored forms against parse_row and stored_form

_NAMES = st.one_of(st.sampled_from(["张伟", "  张伟　", "ＡＢＣ", "", "   ", "\u3000", "李 娜", "x\u200b"]),
                   st.none(), st.integers(0, 99), st.floats(0, 99), st.text(max_size=4))
_LATE = ("2026-11-02T00:00:00", "2026-11-09T00:00:00")  # a closed week's range (SPEC §3)


@st.composite
def short_rows(draw: st.DrawFn, width: int) -> list[Any]:
    """A row of `width` cells: manager, phone, time, then texts; a time near `_LATE` at times."""
    near = st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2026, 11, 10)).map(
        lambda d: d.replace(microsecond=0))
    return [draw(_NAMES), draw(cells), draw(st.one_of(near, near.map(str), cells)),
            *(draw(_NAMES) for _ in range(width - 3))]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([("leads", ["客户经理", "手机号码", "提交时间", "客户姓名", "备注"]),
                        ("visits", ["客户经理", "手机号码", "到访时间", "销售员", "人数", "备注"])]),
       st.data())
def test_the_readers_shortcut_stores_what_parse_row_would(kind_header: tuple[str, list[str]],
                                                         data: st.DataObject) -> None:
    """A leads or visits sheet read with the run's shortcut (`intake.shortcut`) gives the same
    stored forms, late rows, problems and row count as every row through `parse_row` and
    `stored_form`; the rows the shortcut takes hold none that may be late."""
    from functools import partial

    from pipeline.intake import prepare, shortcut
    from pipeline.io.read import read_sheet

    kind, header = kind_header
    rows = data.draw(st.lists(short_rows(len(header)), max_size=12))
    rows += [["张伟", "13800138000", datetime(2026, 11, 20, 9, 30), "客户", "3", ""]] * data.draw(st.integers(0, 2))
    grid = [[*h] for h in [header]] + [r[:len(header)] for r in rows]
    plain = read_sheet("f.xlsx", "s", 0, grid, "zh")
    quick = read_sheet("f.xlsx", "s", 0, grid, "zh", partial(shortcut, late_range=_LATE))
    assert plain.kind == quick.kind == kind
    assert quick.data_rows == plain.data_rows
    taken = [f[-1] for f in quick.stored or ()]
    for sheet in (plain, quick):
        prepare([sheet], late_range=_LATE)
    assert quick.stored == plain.stored
    assert {k: r.source.row for k, r in (quick.late_rows or {}).items()} == {
        k: r.source.row for k, r in (plain.late_rows or {}).items()}
    assert not {r.source.row for r in (plain.late_rows or {}).values()} & set(taken)
    assert [(p.source.row, p.reason) for p in quick.problems] == [(p.source.row, p.reason) for p in plain.problems]
    assert quick.data_rows == plain.data_rows


def test_the_shortcut_takes_clean_rows_and_leaves_the_rest(tmp_path: Path) -> None:
    """The run reads a leads file through the shortcut: clean rows never become row objects,
    messy ones are parsed, and both are stored (a row of each is in the week's results)."""
    from functools import partial

    from pipeline.intake import shortcut
    from pipeline.io.read import read_files

    path = workbook(tmp_path / "报备.xlsx", {"报备": (["客户经理", "手机号码", "提交时间", "客户姓名"], [
        ["张伟", "13800138000", datetime(2026, 11, 20, 9, 30), "甲"],         # clean: the shortcut
        ["张伟", "138 0013 8001", datetime(2026, 11, 20, 9, 31), "乙"],       # spaces: parse_row
        ["", "13800138002", datetime(2026, 11, 20, 9, 32), "丙"],             # MISSING_VALUE
    ])})
    [[sheet]] = list(read_files([(path, path.name)], shortcut=partial(shortcut, late_range=None)))
    assert [f[3] for f in sheet.stored or ()] == ["13800138000"]
    assert [r.values["phone"] for r in sheet.rows] == ["13800138001"]
    assert [p.reason for p in sheet.problems] == ["MISSING_VALUE"] and sheet.data_rows == 3


# ---- registration blocks in the state: Arrow streams; text columns and JSON of earlier versions

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**40), _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, st.integers(1, 2**20)),
                min_size=1, max_size=20))
def test_a_registration_block_decodes_to_what_was_encoded(rows: list[tuple[Any, ...]]) -> None:
    """Any text (NUL, RS and separators included) round-trips through a block; blocks written
    by earlier versions (text columns, JSON) still read."""
    import json
    import zlib

    from pipeline.state import BLOCK_MARK, block_table, decode_block, encode_block

    columns = [list(c) for c in zip(*rows, strict=True)]
    table = decode_block(encode_block(block_table(columns)))
    assert [table.column(n).to_pylist() for n in table.column_names] == columns
    assert decode_block(zlib.compress(json.dumps(columns, ensure_ascii=False).encode())).equals(table)
    texts = columns[1:6]
    if not any("\x00" in v or "\x1e" in v for c in texts for v in c):  # what schema 3 wrote as text columns
        numbers = [",".join(map(str, columns[0])), ",".join(map(str, columns[6]))]
        old = BLOCK_MARK + "\x1e".join(numbers + ["\x00".join(c) for c in texts]).encode("utf-8")
        assert decode_block(zlib.compress(old)).equals(table)


# ---- the replay sorts phones and times as integers where that sorts them the same

_PHONES = st.one_of(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.text(alphabet="0123456789١+ ", min_size=10,
                                                                               max_size=12))
_TIMES = st.one_of(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)).map(
    lambda d: d.isoformat(timespec="seconds")), st.text(alphabet="0123456789-:T ", min_size=18, max_size=20))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_PHONES, _TIMES), max_size=12))
def test_phones_and_times_sort_as_numbers_as_they_sort_as_text(rows: list[tuple[str, str]]) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.records import PHONE as _PHONE
    from pipeline.records import TIME as _TIME
    from pipeline.records import as_number as _as_number

    phones = pa.array([p for p, _ in rows], pa.string())
    times = pa.array([t for _, t in rows], pa.string())
    keys = [("p", "ascending"), ("t", "ascending"), ("i", "ascending")]
    order = pc.sort_indices(pa.table({"p": phones, "t": times, "i": range(len(rows))}), sort_keys=keys)
    fast = pc.sort_indices(pa.table({"p": _as_number(phones, _PHONE), "t": _as_number(times, _TIME),
                                     "i": range(len(rows))}), sort_keys=keys)
    assert fast.to_pylist() == order.to_pylist()


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000))
def test_a_closed_weeks_ledger_csv_reads_back_as_stored_now_and_before(data: bytes) -> None:
    """zstd after a marker since this version; zlib as weeks closed earlier stored it."""
    import zlib

    from pipeline.report.model import pack_ledger_csv, unpack_ledger_csv

    assert unpack_ledger_csv(pack_ledger_csv(data)) == data
    assert unpack_ledger_csv(zlib.compress(data, 1)) == data


_TEXTS = st.text(alphabet=st.sampled_from(list("张伟ab 1_,'\"\u3000")), max_size=6)
_STORED = st.lists(st.tuples(
    st.sampled_from(["leads", "visits", "units", "deals", "registrations", "rulings", "cancellations", "adjustments"]),
    st.sampled_from(["2026-11-01T09:00:00", "2026-11-15T23:59:59", "2026-11-16T00:00:00", "2026-11-20T10:30:00",
                     "2026-11-30T00:00:00"]),
    st.lists(_TEXTS, min_size=16, max_size=16), st.integers(min_value=1, max_value=1_048_576)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(rows=_STORED)
def test_a_runs_rows_kept_in_memory_are_the_rows_the_history_reads_back(tmp_path_factory: pytest.TempPathFactory,
                                                                       rows: list[Any]) -> None:
    """The run takes its own rows from memory (`history_events`) instead of reading them back:
    for any rows, dated before, at or after the first computed week, of any kind, the events
    are those `State.history` returns (descriptive columns blanked before the week, deals and
    corrections whole, registrations and rows from the week's end on left out)."""
    from pipeline.intake import digest
    from pipeline.state import State, history_events

    state = State(tmp_path_factory.mktemp("state"))
    state.begin()
    stored = [(seq, "r1", kind, at, digest(f"{seq}"), *texts, row)
              for seq, (kind, at, texts, row) in enumerate(rows, start=1)]
    assert state.add_rows(stored) == len(stored)
    details_from, until = "2026-11-16T00:00:00", "2026-11-23T00:00:00"
    mine = history_events(stored, until, details_from)
    assert sorted(mine) == sorted(state.history(until, details_from=details_from, run_id="r1"))
    state.rollback()
    state.close()


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["13800138000", "13900139000", "1380013800", "０1380013800", "x"]),
                               st.sampled_from(["2026-11-01T09:00:00", "2026-11-02T09:00:00"]),
                               st.sampled_from(["张伟", "王芳"])), max_size=12))
def test_the_quick_duplicate_check_agrees_with_hashing_every_key(rows: list[tuple[str, str, str]]) -> None:
    """Storing a registrations sheet asks whether any identity repeats by counting phones first
    (`intake.all_distinct`): for any rows (phones that parse as numbers or not, repeated or not,
    keys repeated or only their phones) it answers as comparing every whole key does."""
    import pyarrow as pa

    from pipeline.intake import all_distinct, registration_keys

    block = Registered(phone=[r[0] for r in rows], at=[r[1] for r in rows], who=[r[2] for r in rows],
                       customer=[""] * len(rows), note=[""] * len(rows), row=list(range(len(rows))),
                       seq=list(range(len(rows))))
    keys = registration_keys(block)
    phones = as_number(pa.array([r[0] for r in rows], pa.string()), PHONE)
    assert all_distinct(block, phones) == (len(set(keys.to_pylist())) == len(rows))
    some = pa.array([i for i in range(len(rows)) if i % 2 == 0], pa.int64())  # only some rows asked about
    asked = [keys[i].as_py() for i in some.to_pylist()]
    assert all_distinct(block, phones, some) == (len(set(asked)) == len(asked))


_REG_ROWS = st.lists(st.tuples(st.sampled_from(["13800138000", "13900139000", "1380013800", "０1380013800", "x"]),
                               st.sampled_from(["2026-11-01T09:00:00", "2026-11-02T09:00:00"]),
                               st.sampled_from(["张伟", "王芳"])), max_size=10)


@settings(max_examples=200, deadline=None)
@given(sheet=_REG_ROWS, earlier=st.lists(_REG_ROWS, max_size=3), keyed=st.lists(st.booleans(), min_size=3, max_size=3))
def test_registrations_stored_before_agree_with_comparing_every_key(
        sheet: list[tuple[str, str, str]], earlier: list[list[tuple[str, str, str]]], keyed: list[bool]) -> None:
    """Storing a registrations sheet compares identity keys only for rows whose phone an
    earlier registration has (`intake.stored_before`): for any sheet and earlier blocks (phones
    that are numbers on one side and text on the other, keys made ahead for some or none, a few
    rows against many) it finds the rows that comparing every whole key finds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.intake import Known, registration_keys, stored_before

    def block(rows: list[tuple[str, str, str]]) -> Registered:
        return Registered(phone=[r[0] for r in rows], at=[r[1] for r in rows], who=[r[2] for r in rows],
                          customer=[""] * len(rows), note=[""] * len(rows), row=list(range(len(rows))),
                          seq=list(range(len(rows))))

    mine = block(sheet)
    known = [Known.of(block(rows), registration_keys(block(rows)) if made else None) for rows, made in zip(earlier, keyed[:len(earlier)], strict=True)]
    found = stored_before(mine, as_number(mine.array("phone"), PHONE), known)
    every = {k for rows in earlier for k in registration_keys(block(rows)).to_pylist()}
    expected = [k in every for k in registration_keys(mine).to_pylist()]
    assert (found.to_pylist() if found is not None else [False] * len(sheet)) == expected
    if found is not None:
        assert found.type == pa.bool_() and not pc.any(pc.is_null(found)).as_py()


def test_a_workbooks_later_big_sheets_parsed_ahead_read_the_same(tmp_path: Path, monkeypatch: Any) -> None:
    """A ledger split over two big registrations sheets: the second is parsed on a thread of the
    reading worker while the first is turned into columns; the sheets read are the same as each
    read in turn by the columnar path. (Watched in this process: `read_unguarded`.)"""
    import threading

    import fastexcel

    from pipeline.io import columnar, read

    path = workbook(tmp_path / "ledger.xlsx", {"2025年": (REGISTRATIONS, NUMBER_PHONES_TEXT_TIMES * 3),
                                               "2026年": ([*REGISTRATIONS, "备注"], TEXT_PHONES_DATE_TIMES * 3)})
    monkeypatch.setattr(columnar, "FAST_SHEET_BYTES", 0)
    where: list[tuple[str, str]] = []
    load = columnar.load

    def watched(reader: Any, sheet: str) -> Any:
        where.append((sheet, threading.current_thread().name))
        return load(reader, sheet)

    monkeypatch.setattr(columnar, "load", watched)
    ahead = read_unguarded(path, path.name)
    assert sorted(where) == [("2025年", "MainThread"), ("2026年", "sheets-ahead_0")]

    def block(sheet: Any) -> tuple[Any, ...]:
        assert sheet.registrations is not None and len(sheet.registrations)  # the columnar path, both
        return (sheet.sheet, [sheet.registrations.array(c).to_pylist() for c in Registered.COLUMNS], sheet.problems)

    reader = fastexcel.read_excel(str(path))
    in_turn = [columnar.registrations(path, sheet, part, reader, path.name, "zh", read.MAX_CELLS)
               for sheet, part in columnar.big_sheets(path).items()]
    assert [block(s) for s in ahead] == [block(s) for s in in_turn]


_NAME_CHARS = st.sampled_from(list("张伟王芳李娜ab Z9_-.") + ["\u3000", "\t", "\u00a0", "ｚ", "１", "ｶ", "\u0301", "é", "\uf900",
                                                                  "\u4e00", "\u9fff", "\ua000", "ﾟ", "\n"])


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(_NAME_CHARS, max_size=8)), max_size=12))
@example(texts=["张伟", "a ", " 王芳", "ｚ１", "\u3000李娜", None, ""])
def test_a_big_sheets_text_columns_are_cleaned_as_cell_by_cell(texts: list[str | None]) -> None:
    """A big registrations sheet's names are cleaned as columns (`columnar.clean_text`): a
    quick pattern passes texts that NFKC and trimming leave alone, the others are normalised.
    For any names (ASCII, CJK, full- and half-width forms, combining marks, spaces of every kind
    at either end, blanks) it gives what `nz.text` gives cell by cell."""
    import pyarrow as pa

    from pipeline import normalise as nz
    from pipeline.io.columnar import clean_text

    cleaned = clean_text(pa.array(texts, pa.string()), len(texts))
    assert cleaned.to_pylist() == [nz.text(v) for v in texts]
    for v in texts:  # each alone too: a column whose every text passes the quick pattern
        assert clean_text(pa.array([v], pa.string()), 1).to_pylist() == [nz.text(v)]


@settings(max_examples=80, deadline=None)
@given(stored=_REG_ROWS, sheets=st.lists(_REG_ROWS, min_size=1, max_size=3), redrop=st.booleans(),
       same_name=st.booleans())
def test_a_files_registration_sheets_checked_together_keep_the_first_read(
        tmp_path_factory: Any, stored: list[tuple[str, str, str]], sheets: list[list[tuple[str, str, str]]],
        redrop: bool, same_name: bool) -> None:
    """A file's registrations sheets are compared with what was stored before it in one pass,
    then each with the file's earlier sheets; rows of a sheet stored before from the same file
    and sheet are compared in place (`Intake.store`). For any
    stored rows and sheets (repeats within a sheet, across sheets, of stored rows; the first
    sheet the stored one dropped again and grown, or not; the stored rows from the same file and
    sheet or another) the rows stored and the duplicates counted are those of keeping, in order
    read, each identity's first reading."""
    from pipeline.intake import Intake
    from pipeline.io.read import Sheet
    from pipeline.state import State

    def block(rows: list[tuple[str, str, str]]) -> Registered:
        return Registered(phone=[r[0] for r in rows], at=[r[1] for r in rows], who=[r[2] for r in rows],
                          customer=[""] * len(rows), note=[""] * len(rows), row=list(range(2, len(rows) + 2)))

    if redrop:
        sheets = [stored + sheets[0], *sheets[1:]]
    state = State(tmp_path_factory.mktemp("state"))
    state.begin()
    first = block(stored)
    file, name = ("新.xlsx", "第0页") if same_name else ("旧.xlsx", "登记")
    state.add_registrations("r0", file, name, list(range(len(stored))), first.array("at"), first.array("phone"),
                            first.array("who"), first.array("customer"), first.array("note"), first.array("row"))
    read = []
    for i, rows in enumerate(sheets):
        sheet = Sheet("新.xlsx", f"第{i}页", i, kind="registrations", header_row=1)
        sheet.registrations = block(rows)
        read.append(sheet)
    result = Intake(state, "r1")
    result.store(0, read)

    seen = set(stored)
    expected = []
    for rows in sheets:
        for row in rows:
            if row not in seen:
                seen.add(row)
                expected.append(row)
    everything = state.registrations()
    got = list(zip(everything.phone, everything.at, everything.who, strict=True))[len(stored):]
    assert got == expected
    assert result.rows_stored == len(expected)
    assert result.duplicates == sum(map(len, sheets)) - len(expected)
    state.rollback()
    state.close()


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["登记.xlsx", "台账.xlsx", "", "a"])), max_size=20))
def test_dictionary_columns_read_as_lists_as_arrow_reads_them(values: list[str | None]) -> None:
    """The stored registrations' file and sheet are dictionary-encoded; `Registered` turns them
    into lists through their dictionary (`events._pylist`), which must give what pyarrow's own
    `to_pylist` gives, blanks and nulls included."""
    import pyarrow as pa

    encoded = pa.array(values, pa.string()).dictionary_encode()
    block = Registered(file=encoded, row=list(range(len(values))))
    assert block.file == encoded.to_pylist() == values


def test_a_stored_weeks_registrations_are_decoded_where_first_used(tmp_path: Path) -> None:
    """A re-render's processes but the one writing ledger.xlsx never use the week's new
    registrations: reading a stored report (whole, or the ledger's part of it) decodes them
    only when first used, and imports no Arrow for them before. Checked in a process of its own
    (this one has Arrow loaded)."""
    import subprocess
    import sys

    from tests.test_reports import sample_report

    report = sample_report()
    (tmp_path / "report.bin").write_bytes(report.to_bytes())
    script = f"""
import sys
from pathlib import Path
from pipeline.report.model import WeekReport
blob = Path({str(tmp_path / "report.bin")!r}).read_bytes()
whole, part = WeekReport.from_bytes(blob), WeekReport.ledger_part(blob, None)
assert part is not None and whole.leads
assert "pyarrow" not in sys.modules, "decoded before use"
assert part.new_registrations.table_ready() and "pyarrow" in sys.modules
print(len(whole.new_registrations), list(part.new_registrations) == list(whole.new_registrations))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(report.new_registrations)), "True"]


def test_stored_registrations_keep_what_arrow_cannot_hold() -> None:
    """A value Arrow's column types do not hold (a row number as text) is stored as JSON rows;
    none at all round-trips too."""
    from pipeline.report.model import LedgerEntry, Registrations

    odd = [LedgerEntry("13800000000", "张伟", "经理甲", "2026-11-24T10:00:00", "leads", Source("a.xlsx", "表", "7")),
           LedgerEntry("13900000000", "李娜", "经理乙", "2026-11-24T11:00:00", "registrations",
                       Source("b.xlsx", "表", 8), "2026-11-25T09:00:00")]
    back = Registrations.from_bytes(Registrations.of(odd).to_bytes())
    assert not back.table_ready() and list(back) == odd and back == odd
    columns = [[getattr(e, f) for e in odd] for f in ("phone", "customer", "owner", "at", "via")]
    columns += [[e.source.file for e in odd], [e.source.sheet for e in odd], [e.source.row for e in odd],
                [e.first_visit for e in odd]]
    made = Registrations.from_columns(columns)                 # as the run gives them: rows, here
    assert not made.table_ready() and made == odd
    made = Registrations.from_columns([c[1:] for c in columns])
    assert made.table_ready() and made == odd[1:] and Registrations.from_bytes(made.to_bytes()) == odd[1:]
    plain = odd[1:]
    back = Registrations.from_bytes(Registrations.of(plain).to_bytes())
    assert back.table_ready() and list(back) == plain and back.columns()[7].to_pylist() == [8]
    empty = Registrations.from_bytes(Registrations.of([]).to_bytes())
    assert len(empty) == 0 and list(empty) == []
