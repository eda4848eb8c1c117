"""The workbooks of a week: summary.xlsx, managers/<name>.xlsx and ledger.xlsx (SPEC §5).

Two layers. The builders below turn a `WeekReport` into plain `Sheet`s of typed `Column`s and rows;
`write_workbook` is the only code that writes a file. It lays each sheet out once (`_lay_out`: the
rows, where each block starts, every column's width) and hands it to one of two engines:
- "fast" (the default): the `xlsx` package writes the sheet XML itself, a column of cells at a time with
  f-strings (a long table by Arrow's string kernels: `_arrow_rows`), streaming every sheet into
  the zip: under 1 µs a cell all in, against 9.5 µs.
- "xlsxwriter": the reference. `tests/test_xlsx.py` writes the same sheets with both and reads
  them back cell by cell (values, types, number formats, styles, panes, filters, widths, bars).

Choices, stated once:
- Every text is written as a string (an inline string): no input text ever becomes a formula or a
  link (`=HYPERLINK(...)`, `+1`, `-1`, `@SUM(A1)` stay literal). No cell anywhere is a formula
  (totals are computed here); the reference engine turns xlsxwriter's string conversions off.
- Money is written as a number with the format `#,##0.00` from the exact two-decimal string; dates
  and times are real Excel dates; phone numbers are text (full, not masked: workbooks are internal).
- Column widths are measured per column over the whole table (CJK counts as 2; a number column
  as wide as its longest value shown), capped at `MAX_WIDTH`.
- The same sheets give the same bytes: fixed creation time, fixed zip timestamps, one style table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, NamedTuple

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from .. import xlsx
from ..records import Source
from ..texts import t
from .context import (
    COMMISSION_KINDS,
    ITEMS,
    WeekIndex,
    commission_kind_label,
    correction_lines,
    fix_hint,
    followup_row,
    index_week,
    kind_label,
    money,
    my_followups,
    reason_label,
    team_name,
    totals_of,
    warning_text,
    week_of,
)
from .model import Registrations, WeekReport

ColType = Literal["text", "int", "money", "datetime", "date", "pct"]
Style = Literal["header", "title", "subtotal", "total", "review", "warn", "bad"]


@dataclass(frozen=True)
class Column:
    header: str
    type: ColType = "text"
    flag_positive: bool = False      # highlight values above zero (shortfalls)
    bar: bool = False                # a data bar over 0..1 (progress)


class Styled(NamedTuple):
    """A row with a style for all its cells and an outline level (1 = collapsible under a subtotal)."""

    values: Sequence[Any]
    style: Style | None = None
    level: int = 0


class Columns(NamedTuple):
    """A table's rows given column by column, none of them styled. The big tables (every lead,
    visit and unit of the week and of each statement) are built this way: a column is one pass
    over the records, where rows would cost a list per row and a transposition to write them."""

    data: Sequence[Sequence[Any]]


@dataclass
class Table:
    columns: list[Column]
    rows: Iterable[Sequence[Any] | Styled] | Columns


class _Rows(Sequence[tuple[Any, ...]]):
    """`Columns` read as rows (what the reference engine and `_written` take), made on demand.
    Arrow columns become Python values when first read as rows."""

    def __init__(self, data: Sequence[Sequence[Any]]) -> None:
        self._data = data
        self._plain = not _has_arrow(data)

    @property
    def data(self) -> Sequence[Sequence[Any]]:
        if not self._plain:
            self._data, self._plain = _as_lists(self._data), True
        return self._data

    def __len__(self) -> int:
        return len(self._data[0]) if self._data else 0

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return list(zip(*(column[i] for column in self.data), strict=True))
        return tuple(column[i] for column in self.data)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return zip(*self.data, strict=True)


def _has_arrow(data: Sequence[Any]) -> bool:
    """Whether any column is an Arrow array (the week's new registrations: `Registrations`)."""
    return any(hasattr(column, "to_pylist") for column in data)


def _as_lists(data: Sequence[Any]) -> list[Any]:
    """The columns as Python lists (Arrow arrays converted; others as they are)."""
    return [column.to_pylist() if hasattr(column, "to_pylist") else column for column in data]


@dataclass
class Sheet:
    """A sheet: optional title lines, then one table (frozen header, autofilter) or several blocks."""

    name: str
    blocks: list[Table]
    title: list[tuple[str, Style | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Tuning:
    """How the fast engine builds a sheet's rows. Every setting writes the same bytes; the
    defaults are what the reports use, measured on the big week (bench/reports_bench.py).

    - `chunk_rows`: rows the column loops join before handing them to the sheet stream;
    - `arrow_from_rows`: a table given by `Columns` this long or longer is built by Arrow's
      string kernels: a big week's leads (summary.xlsx) and new registrations (ledger.xlsx),
      about 100,000 rows each, where the loops cost a second of Python between them; below it
      the loops are as fast (and Arrow columns shorter than this are made Python lists);
    - `arrow_chunk_rows`: rows of one Arrow-built chunk;
    - `arrow_max_bytes`: a table whose cell bodies pass this many bytes (texts of tens of
      thousands of characters, which an inbox workbook of up to 2 GB could hold) goes to the
      loops: a chunk's joined XML is one Arrow string array, whose offsets stop at 2 GB.
    """

    chunk_rows: int = 2000
    arrow_from_rows: int = 5000
    arrow_chunk_rows: int = 16384
    arrow_max_bytes: int = 1 << 30


TUNING = Tuning()


# --- layout: rows materialised once, widths measured per column ---------------------------------

MONEY_FORMAT = "#,##0.00"
STYLE_PROPS: dict[str, dict[str, Any]] = {
    "header": {"bold": True, "bg_color": "#D9E1F2", "bottom": 1, "text_wrap": True, "valign": "top"},
    "title": {"bold": True, "font_size": 14},
    "subtotal": {"bold": True, "bg_color": "#EEF2FF", "top": 1},
    "total": {"bold": True, "bg_color": "#D9D9D9", "top": 2},
    "review": {"bold": True, "bg_color": "#FFC7CE", "font_color": "#9C0006"},
    "warn": {"bg_color": "#FFEB9C", "font_color": "#7F6000"},
    "bad": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
}
NUM_FORMATS: dict[str, str | None] = {
    "text": "@", "int": "0", "money": MONEY_FORMAT, "datetime": "yyyy-mm-dd hh:mm:ss",
    "date": "yyyy-mm-dd", "pct": "0%",
}
FIXED_WIDTH = {"datetime": 19, "date": 10, "pct": 6}
MAX_WIDTH = 60
NUMERIC = ("int", "money", "pct")


# East Asian wide and full-width ranges (Unicode EastAsianWidth W/F): two columns each in a sheet.
_WIDE = re.compile("[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
                   "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]")
EXCEL_EPOCH = datetime(1899, 12, 30)      # 1900 date system; every date written is after 1900-03-01
DAY = timedelta(days=1)


# `_WIDE` for Arrow's regular expressions (RE2): the same class, its characters as \x{...}.
_WIDE_RE2 = "".join(c if c in "[]-" else f"\\x{{{ord(c):x}}}" for c in _WIDE.pattern)


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: CJK and full-width characters count as 2."""
    if text.isascii():
        return len(text)
    return len(text) + len(_WIDE.findall(text))


def excel_serial(value: Any) -> float:
    """An ISO date-time (or datetime) as an Excel serial number: a real date once formatted."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment - EXCEL_EPOCH) / DAY


@lru_cache(maxsize=1024)   # the same few dozen headers in every statement
def _header_width(header: str) -> int:
    """The width a column's header asks for: its display width, at most 24."""
    return min(display_width(header), 24)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _column_width(kind: str, values: Sequence[Any]) -> int:
    """The width a column's values need: the widest text (CJK counts 2), or the longest number as
    shown (the largest and the smallest are the longest of their sign). Dates have fixed widths."""
    if kind == "text":
        texts = set(values)
        texts.discard(None)
        texts.discard("")
        try:
            joined = "".join(texts)
        except TypeError:         # a number in a text column
            texts = {_text(v) for v in texts}
            joined = "".join(texts)
        if joined.isascii():      # one column a character: the longest text
            return max(map(len, texts), default=0)
        best = 0
        for text in sorted(texts, key=len, reverse=True):   # a text is at most twice its length wide
            if 2 * len(text) <= best:
                break
            best = max(best, display_width(text))
        return best
    if kind in NUMERIC:
        numbers = [float(v) for v in values if v is not None and v != ""]
        if not numbers:
            return 0
        shown = "{:,.2f}" if kind == "money" else "{:.0f}"
        return max(len(shown.format(max(numbers))), len(shown.format(min(numbers)))) + 1
    return 0


def _arrow_width(kind: str, values: Any) -> int:
    """`_column_width` of an Arrow column: display widths by Arrow's kernels (`_WIDE_RE2`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "text":
        # Each distinct text once (a source's file name repeats on every row of its file), and
        # the wide characters counted only where a text is not ASCII.
        texts = pc.drop_null(pc.unique(values if pa.types.is_string(values.type) else pc.cast(values, pa.string())))
        if not len(texts):
            return 0
        wide = pc.utf8_length(texts)
        if not pc.all(pc.string_is_ascii(texts)).as_py():
            wide = pc.add(wide, pc.count_substring_regex(texts, _WIDE_RE2))
        return int(pc.max(wide).as_py() or 0)
    if kind in NUMERIC:
        low, high = pc.min_max(values).values()
        if not low.is_valid:
            return 0
        return _column_width(kind, [low.as_py(), high.as_py()])
    return 0


def _arrow_last_written(data: Sequence[Any]) -> int:
    """The last row (0-based) with a value in any of the Arrow columns, -1 for none: as
    `_written` finds it for a row without a style."""
    import numpy
    import pyarrow as pa
    import pyarrow.compute as pc

    written = numpy.zeros(len(data[0]) if data else 0, bool)
    for column in data:
        filled = pc.is_valid(column)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            filled = pc.and_(filled, pc.fill_null(pc.not_equal(column, ""), False))
        written |= filled.to_numpy(zero_copy_only=False)
    found = numpy.flatnonzero(written)
    return int(found[-1]) if len(found) else -1


def _row_values(entry: Sequence[Any] | Styled) -> Sequence[Any]:
    return entry.values if isinstance(entry, Styled) else entry


def _written(entry: Sequence[Any] | Styled, width: int) -> bool:
    """Whether a row puts anything in the sheet: a value, a styled blank or an outline level."""
    if isinstance(entry, Styled):
        if entry.level or (entry.style and width):
            return True
        entry = entry.values
    return any(v is not None and v != "" for v in entry[:width])


@dataclass
class _Block:
    table: Table
    rows: Sequence[Sequence[Any] | Styled]
    first: int                  # the header's row (0-based); data rows follow it
    data: Sequence[Sequence[Any]] | None = None   # the values column by column, when no row is Styled

    @property
    def last(self) -> int:      # the last row of the block's range (the header when it has no rows)
        return self.first + len(self.rows)


@dataclass
class _Laid:
    """A sheet laid out: its rows materialised, where each block starts, every column's width."""

    sheet: Sheet
    blocks: list[_Block]
    widths: dict[int, int]      # column -> width to set (padding and the cap included)
    span: int                   # the widest block's column count
    last_row: int               # the last row with a cell (-1: none)
    max_level: int

    @property
    def single(self) -> bool:   # one table: a frozen header and an autofilter
        return len(self.blocks) == 1


def _lay_out(sheet: Sheet, tuning: Tuning = TUNING) -> _Laid:
    span = max((len(block.columns) for block in sheet.blocks), default=1)
    row, last_row = 0, -1
    for text, style in sheet.title:
        if text or (style in ("review", "warn") and span > 1):
            last_row = row
        row += 1
    if sheet.title:
        row += 1
    widths: dict[int, int] = {}
    blocks: list[_Block] = []
    max_level = 0
    for i, table in enumerate(sheet.blocks):
        if i:
            row += 1
        given = table.rows
        if isinstance(given, Columns):
            data = given.data
            if _has_arrow(data) and len(data[0]) < tuning.arrow_from_rows:
                data = _as_lists(data)     # Arrow columns stay as they are for `_arrow_rows` only
            block = _Block(table, _Rows(data), row, data)
        else:
            block = _Block(table, list(given), row)
        blocks.append(block)
        columns = table.columns
        for col, column in enumerate(columns):
            width = _header_width(column.header)
            width = max(width, FIXED_WIDTH.get(column.type, 0), widths.get(col, 0))
            widths[col] = width
        if block.rows:
            if block.data is not None:
                data = block.data
            elif any(e.__class__ is Styled for e in block.rows):
                data = list(zip(*map(_row_values, block.rows), strict=False))
                max_level = max(max_level, *(e.level for e in block.rows if isinstance(e, Styled)))
            else:
                data = block.data = list(zip(*block.rows, strict=False))
            for col, column in enumerate(columns):
                measure = _arrow_width if hasattr(data[col], "to_pylist") else _column_width
                widths[col] = max(widths[col], measure(column.type, data[col]))
        last_row = block.first
        if block.data is not None and _has_arrow(block.data):
            last = _arrow_last_written(block.data[:len(columns)])
            last_row = block.first + 1 + last if last >= 0 else block.first
        else:
            for offset in range(len(block.rows) - 1, -1, -1):
                if _written(block.rows[offset], len(columns)):
                    last_row = block.first + 1 + offset
                    break
        row = block.last + 1
    return _Laid(sheet, blocks, {col: min(MAX_WIDTH, width + 2) for col, width in widths.items()},
                 span, last_row, max_level)


def _format_props(coltype: str, style: str | None) -> dict[str, Any]:
    props = dict(STYLE_PROPS.get(style or "", {}))
    if coltype in NUM_FORMATS:
        props["num_format"] = NUM_FORMATS[coltype]
    return props


# --- the reference engine: xlsxwriter -----------------------------------------------------------

class _Formats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book = book
        self.cache: dict[tuple[str, str | None], Format] = {}

    def get(self, coltype: str, style: str | None) -> Format:
        key = (coltype, style)
        if key not in self.cache:
            self.cache[key] = self.book.add_format(_format_props(coltype, style))
        return self.cache[key]


@dataclass(frozen=True)
class Printing:
    """What a workbook's printed pages say around each sheet: the office (left of the header),
    the week (centre; a statement's manager too), the sheet's name (right), and the footer with
    the page number (Excel's codes: &P the page, &N the pages)."""

    office: str
    week: str
    footer: str


# A sheet whose columns are wider than this (in characters) prints landscape: A4 portrait holds
# about 90 characters of Calibri 11 between its margins, so a wider sheet would shrink below
# about nine tenths of its size to fit one page wide.
PORTRAIT_WIDTH = 100
_HEADER_PART = 80        # characters of the office or the week in a header (Excel allows 255 in all)


def _header_text(text: str) -> str:
    """A text as a header section shows it literally (& doubled), cut to `_HEADER_PART`."""
    escaped = text.replace("&", "&&")[:_HEADER_PART]
    return escaped[:-1] if (len(escaped) - len(escaped.rstrip("&"))) % 2 else escaped  # no lone & at the cut


def page_setup(laid: _Laid, printing: Printing | None) -> xlsx.PageSetup | None:
    """A sheet's print setup: landscape where wide, one page wide, the header rows (a single
    table's title lines and its header) on every page, office, week and sheet in the header,
    page numbers in the footer."""
    if printing is None:
        return None
    titles = (0, laid.blocks[0].first) if laid.single else None
    header = f"&L{_header_text(printing.office)}&C{_header_text(printing.week)}&R&A"
    return xlsx.PageSetup(sum(laid.widths.values()) > PORTRAIT_WIDTH, header, "&C" + printing.footer, titles)


def printing_of(report: WeekReport, whose: str = "") -> Printing:
    week = f"{whose[:_HEADER_PART // 2]} · {report.week}" if whose else report.week
    return Printing(report.office, week, t(report.lang, "report.print.footer"))


class _SheetWriter:
    """A laid-out sheet through xlsxwriter: one call per cell."""

    def __init__(self, book: xlsxwriter.Workbook, formats: _Formats, laid: _Laid,
                 page: xlsx.PageSetup | None = None) -> None:
        self.ws: Worksheet = book.add_worksheet(laid.sheet.name)
        self.formats = formats
        self.laid = laid
        self.page = page

    def table(self, block: _Block, single: bool) -> None:
        ws, columns, first = self.ws, block.table.columns, block.first
        for col, column in enumerate(columns):
            ws.write_string(first, col, column.header, self.formats.get("text", "header"))
        if single:
            ws.freeze_panes(first + 1, 0)
        kinds = [c.type for c in columns]
        flags = [c.flag_positive for c in columns]
        plain = [self.formats.get(kind, None) for kind in kinds]
        bad = [self.formats.get(kind, "bad") for kind in kinds]
        styled: dict[str, list[Format]] = {}
        write_string, write_number, write_blank = ws.write_string, ws.write_number, ws.write_blank
        row = first + 1
        for entry in block.rows:
            style: str | None = None
            fmts = plain
            if isinstance(entry, Styled):
                values, style, level = entry
                if level:
                    ws.set_row(row, None, None, {"level": level})
                if style:
                    fmts = styled.get(style) or styled.setdefault(style, [self.formats.get(k, style) for k in kinds])
            else:
                values = entry
            for col, kind in enumerate(kinds):
                value = values[col]
                if value is None or value == "":
                    if style:
                        write_blank(row, col, None, fmts[col])
                elif kind == "text":
                    write_string(row, col, _text(value), fmts[col])
                elif kind == "datetime" or kind == "date":
                    write_number(row, col, excel_serial(value), fmts[col])
                else:   # int, money, pct
                    number = float(value)
                    fmt = bad[col] if flags[col] and style is None and number > 0 else fmts[col]
                    write_number(row, col, int(value) if kind == "int" else number, fmt)
            row += 1
        if single:
            ws.autofilter(first, 0, block.last, len(columns) - 1)
        for col, column in enumerate(columns):
            if column.bar and block.rows:
                ws.conditional_format(first + 1, col, block.last, col, {
                    "type": "data_bar", "bar_color": "#63BE7B", "bar_solid": True,
                    "min_type": "num", "min_value": 0, "max_type": "num", "max_value": 1})

    def write(self) -> None:
        laid = self.laid
        for row, (text, style) in enumerate(laid.sheet.title):
            if text:
                self.ws.write_string(row, 0, text, self.formats.get("text", style))
            if style in ("review", "warn"):        # a filled band as wide as the tables below
                for col in range(1, laid.span):
                    self.ws.write_blank(row, col, None, self.formats.get("text", style))
        for block in laid.blocks:
            self.table(block, laid.single)
        for col, width in laid.widths.items():
            self.ws.set_column(col, col, width)
        if self.page:
            page, ws = self.page, self.ws
            ws.set_paper(page.paper)
            if page.landscape:
                ws.set_landscape()
            else:
                ws.set_portrait()
            ws.fit_to_pages(1, 0)
            if page.title_rows:
                ws.repeat_rows(*page.title_rows)
            if page.header:
                ws.set_header(page.header)
            if page.footer:
                ws.set_footer(page.footer)


def _write_xlsxwriter(path: Path, sheets: Iterable[Sheet], big: bool, created: datetime, tuning: Tuning,
                      printing: Printing | None = None) -> None:
    options: dict[str, Any] = {
        "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
        "default_date_format": "yyyy-mm-dd hh:mm:ss",
    }
    options["constant_memory" if big else "in_memory"] = True
    book = xlsxwriter.Workbook(str(path), options)
    book.set_properties({"created": created})
    formats = _Formats(book)
    for sheet in sheets:
        laid = _lay_out(sheet, tuning)
        _SheetWriter(book, formats, laid, page_setup(laid, printing)).write()
    book.close()


# --- the fast engine: sheet XML as text (the xlsx package) --------------------------------------

_STYLE_NAMES: list[str | None] = [None, *STYLE_PROPS]
_STYLES = xlsx.StyleTable()
# Every (column type, style) pair, registered once in a fixed order: styles.xml is the same bytes
# in every workbook, whichever formats it uses, so a re-render is byte-identical in any process.
_XF: dict[tuple[str, str | None], int] = {
    (kind, style): _STYLES.add(_format_props(kind, style)) for style in _STYLE_NAMES for kind in NUM_FORMATS}
_FROMISO = datetime.fromisoformat
_EXACT = 10**15


def _cell(kind: str, ref: str, value: Any, style: str | None, flag: bool) -> str:
    """One cell's XML, any row: the general form the column loops below must equal."""
    xf = _XF[kind, style]
    if value is None or value == "":
        return f'<c r="{ref}" s="{xf}"/>' if style else ""
    if kind == "text":
        return f'<c r="{ref}" s="{xf}" t="inlineStr">{xlsx.inline_text(_text(value))}</c>'
    if kind == "datetime" or kind == "date":
        return f'<c r="{ref}" s="{xf}"><v>{excel_serial(value):.16G}</v></c>'
    number = float(value)
    if flag and style is None and number > 0:
        xf = _XF[kind, "bad"]
    return f'<c r="{ref}" s="{xf}"><v>{int(value) if kind == "int" else number:.16G}</v></c>'


def _plain_cells(column: Column, letter: str, values: Sequence[Any], numbers: range) -> list[str]:
    """The cells of one column over rows without a style: one comprehension per column type.

    The hot loop of every big workbook. Most texts (names, phones, times) are plain: `isalnum` is
    the quick test, `is_plain` the full one; anything else goes through `inline_text`."""
    kind, xf, pre = column.type, _XF[column.type, None], f'<c r="{letter}'
    inline, plain = xlsx.inline_text, xlsx.is_plain
    if kind == "text":
        # The texts that need more than <t>…</t>, made once each: a source's file name has an "_"
        # and repeats on every row of its file.
        bodies = {v: inline(_text(v)) for v in set(values) if v is not None and v != "" and not (
            v.__class__ is str and (v.isalnum() and len(v) < 16384 or plain(v)))}
        if not bodies:
            return ["" if v is None or v == "" else f'{pre}{n}" s="{xf}" t="inlineStr"><is><t>{v}</t></is></c>'
                    for n, v in zip(numbers, values, strict=True)]
        return ["" if v is None or v == "" else
                f'{pre}{n}" s="{xf}" t="inlineStr">{bodies[v]}</c>' if v in bodies else
                f'{pre}{n}" s="{xf}" t="inlineStr"><is><t>{v}</t></is></c>'
                for n, v in zip(numbers, values, strict=True)]
    if kind == "datetime" or kind == "date":
        fromiso, epoch, day = _FROMISO, EXCEL_EPOCH, DAY
        return ["" if v is None or v == "" else
                f'{pre}{n}" s="{xf}"><v>{(fromiso(v) - epoch) / day if v.__class__ is str else excel_serial(v):.16G}</v></c>'
                for n, v in zip(numbers, values, strict=True)]
    if column.flag_positive:
        ref = f"{letter}{{}}"
        return [_cell(kind, ref.format(n), v, None, True) for n, v in zip(numbers, values, strict=True)]
    if kind == "int":  # an int below 10^15 shows as %.16G shows it; formatting it as text is faster
        return ["" if v is None or v == "" else f'{pre}{n}" s="{xf}"><v>{v}</v></c>'
                if v.__class__ is int and -_EXACT < v < _EXACT else f'{pre}{n}" s="{xf}"><v>{int(v):.16G}</v></c>'
                for n, v in zip(numbers, values, strict=True)]
    return ["" if v is None or v == "" else f'{pre}{n}" s="{xf}"><v>{float(v):.16G}</v></c>'
            for n, v in zip(numbers, values, strict=True)]


def _fast_rows(block: _Block, tuning: Tuning = TUNING) -> Iterator[str | memoryview]:
    """The block's data rows as XML, `tuning.chunk_rows` at a time.

    Rows without a style are built column by column (`_plain_cells`), with the row tags as two more
    columns, and joined in one go; a long table of them by Arrow kernels instead (`_arrow_rows`).
    A block with styled rows goes row by row through `_cell`."""
    made = _arrow_rows(block, tuning) if block.data is not None and len(block.rows) >= tuning.arrow_from_rows else None
    if made is not None:
        return made
    if block.data is not None and _has_arrow(block.data):
        block = replace(block, data=_as_lists(block.data))
    return _loop_rows(block, tuning.chunk_rows)


def _loop_rows(block: _Block, size: int = TUNING.chunk_rows) -> Iterator[str]:
    """`_fast_rows` by Python loops: every block, any values."""
    columns = block.table.columns
    letters = [xlsx.col_name(col) for col in range(len(columns))]
    total = len(block.rows)
    for start in range(0, total, size):
        first = block.first + 2 + start                  # the 1-based number of the chunk's first row
        numbers = range(first, first + min(size, total - start))
        if block.data is not None:
            cells = [[f'<row r="{n}">' for n in numbers]]
            cells += [_plain_cells(column, letters[col], block.data[col][start:start + size], numbers)
                      for col, column in enumerate(columns)]
            cells.append(["</row>"] * len(numbers))
            yield "".join(chain.from_iterable(zip(*cells, strict=True)))
            continue
        chunk = block.rows[start:start + size]
        out = []
        for n, entry in zip(numbers, chunk, strict=True):
            values, style, level = entry if isinstance(entry, Styled) else (entry, None, 0)
            body = "".join(_cell(column.type, f"{letters[col]}{n}", values[col], style, column.flag_positive)
                           for col, column in enumerate(columns))
            if body or level:
                out.append(f'<row r="{n}" outlineLevel="{level}">{body}</row>' if level else
                           f'<row r="{n}">{body}</row>')
        yield "".join(out)


# Texts that go between <t> and </t> as they are (`xlsx.is_plain`), as far as Arrow needs to
# tell: ASCII letters, digits and some punctuation, and the CJK ideographs, with no space at
# either end. Every other text (a name with "·", a file name with "_") is escaped by
# `xlsx.inline_text`, once per distinct text.
_ARROW_PLAIN = r"^[0-9A-Za-z\x{4e00}-\x{9fff}](?:[0-9A-Za-z\x{4e00}-\x{9fff} .:,;()+\-]*[0-9A-Za-z\x{4e00}-\x{9fff}])?$"
_ARROW_PLAIN_MAX = 16000   # characters; a longer text (up to Excel's limit) goes through `inline_text`


def _arrow_rows(block: _Block, tuning: Tuning = TUNING) -> Iterator[memoryview] | None:
    """The block's rows as `_fast_rows` makes them, the same bytes, built column by column by
    Arrow's string kernels; None when a column's values are not what Arrow takes (a number in
    a text column, a lone surrogate, a date that is no ISO text): then the column loops do it.

    Each column is one array of cell bodies, made once (`_arrow_bodies`); each chunk of rows
    joins them with the cell references and the row tags into one array whose data buffer is
    the chunk's XML. Only what is not plain passes through Python: the distinct texts that need
    escaping, and each date's serial number (formatted as `_cell` formats it)."""
    import pyarrow as pa

    assert block.data is not None
    columns = block.table.columns
    try:
        bodies = [_arrow_bodies(column, block.data[col]) for col, column in enumerate(columns)]
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        return None
    if sum(made[2].nbytes for made in bodies if made is not None) > tuning.arrow_max_bytes:
        return None    # a chunk's XML must stay within an Arrow string array's 2 GB
    return _arrow_chunks(block, bodies, tuning.arrow_chunk_rows)


def _arrow_chunks(block: _Block, bodies: list[tuple[str, str, Any] | None], size: int) -> Iterator[memoryview]:
    import pyarrow as pa
    import pyarrow.compute as pc

    assert block.data is not None
    columns = block.table.columns
    total = len(block.rows)
    join = pc.binary_join_element_wise
    for start in range(0, total, size):
        stop = min(total, start + size)
        first = block.first + 2 + start
        numbers = range(first, first + stop - start)
        refs = pc.cast(pa.array(numbers, pa.int64()), pa.string())
        parts = [join('<row r="', refs, '">', "")]
        for col, column in enumerate(columns):
            made = bodies[col]
            if made is None:   # a column the loops make (money, percentages, flagged shortfalls)
                cells = _plain_cells(column, xlsx.col_name(col), block.data[col][start:stop], numbers)
                parts.append(pa.array(cells, pa.string()))
                continue
            head, tail, values = made    # a null value makes a null cell, skipped below: no cell
            parts.append(join(f'<c r="{xlsx.col_name(col)}', refs, head, values.slice(start, stop - start),
                              tail, ""))
        rows = join(*parts, "</row>", "", null_handling="skip")
        offsets, data = rows.buffers()[1:3]
        ends = memoryview(offsets).cast("i")
        yield memoryview(data)[ends[rows.offset]:ends[rows.offset + len(rows)]]


def _arrow_bodies(column: Column, values: Sequence[Any]) -> tuple[str, str, Any] | None:
    """(what follows a cell's reference, what ends the cell, each row's value as the cell holds
    it or null for no cell) for one column, as `_plain_cells` would write it; None for a column
    type left to `_plain_cells`. Raises when the values are not what this column type holds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind, xf = column.type, _XF[column.type, None]
    if column.flag_positive or kind not in ("text", "int", "datetime", "date"):
        return None
    if kind == "int":    # ints below 10^15, written as their digits (see `_plain_cells`)
        if isinstance(values, pa.Array):
            low, high = pc.min_max(values).values()
            small = pa.types.is_integer(values.type) and (
                not low.is_valid or -_EXACT < low.as_py() <= high.as_py() < _EXACT)
        else:
            small = all(v is None or (v.__class__ is int and -_EXACT < v < _EXACT) for v in values)
            values = pa.array(values, pa.int64()) if small else values
        if not small:
            raise TypeError("not an int column of small ints")
        return f'" s="{xf}"><v>', "</v></c>", pc.cast(values, pa.string())
    if isinstance(values, pa.Array):
        array = pc.cast(values, pa.string())         # raises on a column that is not text
    else:
        array = pa.array(values, pa.string())       # raises on a value that is not text
    empty = pc.fill_null(pc.equal(array, ""), True)
    array = pc.if_else(empty, pa.scalar(None, pa.string()), array)
    if kind != "text":
        return f'" s="{xf}"><v>', "</v></c>", _arrow_serials(array)
    plain = pc.and_(pc.match_substring_regex(array, _ARROW_PLAIN),
                    pc.less_equal(pc.utf8_length(array), _ARROW_PLAIN_MAX))
    care = pc.invert(pc.fill_null(plain, True))     # not plain, and not empty
    if pc.any(care).as_py():
        escaped = pc.filter(array, care)
        distinct = pc.unique(escaped)
        inline = pa.array([xlsx.inline_text(v) for v in distinct.to_pylist()], pa.string())
        bodies = inline.take(pc.index_in(escaped, distinct))
        plain_bodies = _join_plain(array)
        return f'" s="{xf}" t="inlineStr">', "</c>", pc.replace_with_mask(plain_bodies, care, bodies)
    return f'" s="{xf}" t="inlineStr">', "</c>", _join_plain(array)


def _arrow_serials(array: Any) -> Any:
    """ISO date-times (`YYYY-MM-DDTHH:MM:SS`, or null) as `_cell` writes them: the Excel serial
    number, `%.16G`. Parsed by Arrow and divided by numpy: the microseconds since Excel's epoch
    over a day's, both exact in a double (below 2^53), so the quotient is the correctly rounded
    one Python's `timedelta / timedelta` gives. Another form of date goes through Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        seconds = pc.cast(pc.strptime(array, format="%Y-%m-%dT%H:%M:%S", unit="s"), pa.int64())
    except pa.ArrowInvalid:
        return pa.array([None if v is None else f"{excel_serial(v):.16G}" for v in array.to_pylist()], pa.string())
    offset = (datetime(1970, 1, 1) - EXCEL_EPOCH) // timedelta(seconds=1)
    micro = pc.multiply(pc.add(seconds, offset), 1_000_000).to_numpy(zero_copy_only=False)
    number = "{:.16G}".format
    serials = [None if v != v else number(v) for v in (micro / (DAY // timedelta(microseconds=1))).tolist()]
    return pa.array(serials, pa.string())


def _join_plain(array: Any) -> Any:
    """`<is><t>…</t></is>` around each text of an Arrow array (null stays null)."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise("<is><t>", array, "</t></is>", "")


def _fast_sheet(book: xlsx.Workbook, laid: _Laid, tuning: Tuning, printing: Printing | None = None) -> None:
    layout = xlsx.SheetLayout(laid.sheet.name, laid.last_row, laid.span - 1 if laid.blocks else 0,
                              dict(laid.widths), outline_level=laid.max_level, page=page_setup(laid, printing))
    if laid.single:
        block = laid.blocks[0]
        layout.freeze_row = block.first + 1
        layout.autofilter = (block.first, 0, block.last, len(block.table.columns) - 1)
    for block in laid.blocks:
        for col, column in enumerate(block.table.columns):
            if column.bar and block.rows:
                layout.bars.append(xlsx.DataBar(block.first + 1, block.last, col))
    with book.sheet(layout) as out:
        head = []
        for row, (text, style) in enumerate(laid.sheet.title):
            n, xf = row + 1, _XF["text", style]
            cells = f'<c r="A{n}" s="{xf}" t="inlineStr">{xlsx.inline_text(text)}</c>' if text else ""
            if style in ("review", "warn"):        # a filled band as wide as the tables below
                cells += "".join(f'<c r="{xlsx.col_name(col)}{n}" s="{xf}"/>' for col in range(1, laid.span))
            if cells:
                head.append(f'<row r="{n}">{cells}</row>')
        out.write("".join(head))
        for block in laid.blocks:
            out.write(_header_row(tuple(column.header for column in block.table.columns), block.first + 1))
            for rows in _fast_rows(block, tuning):
                out.write(rows)


@lru_cache(maxsize=256)   # each table's header row, the same in every statement
def _header_row(headers: tuple[str, ...], n: int) -> str:
    """A table's header row (1-based row `n`): its headers in the header style."""
    xf = _XF["text", "header"]
    return f'<row r="{n}">' + "".join(f'<c r="{xlsx.col_name(col)}{n}" s="{xf}" t="inlineStr">{xlsx.inline_text(header)}</c>'
                                      for col, header in enumerate(headers)) + "</row>"


def _write_fast(path: Path, sheets: Iterable[Sheet], created: datetime, level: int | None, wait: bool,
                tuning: Tuning, printing: Printing | None = None) -> None:
    sheets = list(sheets)
    book = xlsx.Workbook(path, [sheet.name for sheet in sheets], _STYLES, created, level)
    try:
        for sheet in sheets:
            _fast_sheet(book, _lay_out(sheet, tuning), tuning, printing)
    except BaseException:
        book.abort()
        raise
    book.close(wait)


Engine = Literal["fast", "xlsxwriter"]
DEFAULT_ENGINE: Engine = "fast"


def write_workbook(path: Path, sheets: Iterable[Sheet], big: bool = False, created: datetime | None = None,
                   engine: Engine | None = None, level: int | None = None, wait: bool = True,
                   tuning: Tuning = TUNING, printing: Printing | None = None) -> None:
    """Write `sheets` to `path`.

    `engine` "fast" (the default) writes the sheet XML itself (the `xlsx` package), streaming every sheet;
    "xlsxwriter" is the reference the tests compare it with, where `big` streams rows to disk
    (constant memory) instead of holding them. Both lay a sheet out the same way (`_lay_out`).
    `level` is the fast engine's deflate level (default `xlsx.LEVEL`), `tuning` how it builds the
    rows (the same bytes whatever it says). The fast engine compresses and writes on a helper
    thread; `wait=False` returns before the file is complete (the next workbook is built
    meanwhile) and `xlsx.wait()` waits for all of them.

    `created` fixes the document's creation time, so the same week renders to the same bytes (the
    mail digests that make "each message once" work depend on it). With `printing`, every sheet
    gets a page setup (`page_setup`)."""
    created = created or datetime(2000, 1, 1)
    if (engine or DEFAULT_ENGINE) == "xlsxwriter":
        _write_xlsxwriter(path, sheets, big, created, tuning, printing)
    else:
        _write_fast(path, sheets, created, level, wait, tuning, printing)


# --- builders: WeekReport -> sheets -------------------------------------------------------------

def _h(lang: str, key: str, **fields: Any) -> str:
    return t(lang, f"report.col.{key}", **fields)


def _src_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "file")), Column(_h(lang, "sheet")), Column(_h(lang, "row"), "int")]


def _src(source: Any) -> tuple[Any, Any, Any]:
    if source.__class__ is Source:
        return (source.file, source.sheet, source.row)
    if source is None:
        return ("", "", None)
    if isinstance(source, dict):
        return (source.get("file", ""), source.get("sheet", ""), source.get("row"))
    return (source.file, source.sheet, source.row)


def _yes_no(lang: str, value: bool) -> str:
    return t(lang, "report.yes") if value else t(lang, "report.no")


def summary_columns(lang: str) -> list[Column]:
    cols = [Column(_h(lang, "team")), Column(_h(lang, "manager")), Column(_h(lang, "active_days"), "int")]
    for item in ITEMS:
        label = t(lang, f"report.item.{item}")
        cols += [Column(_h(lang, "target_of", item=label), "int"),
                 Column(_h(lang, "achieved_of", item=label), "int"),
                 Column(_h(lang, "shortfall_of", item=label), "int", flag_positive=True)]
    cols += [Column(_h(lang, "fine_of", item=t(lang, f"report.item.{item}")), "money") for item in ITEMS]
    cols += [Column(_h(lang, "fines_total"), "money"), Column(_h(lang, "commission_visit"), "money"),
             Column(_h(lang, "commission_lead"), "money"), Column(_h(lang, "commission_total"), "money"),
             Column(_h(lang, "clawback"), "money"), Column(_h(lang, "adjustment"), "money"),
             Column(_h(lang, "net"), "money"), Column(_h(lang, "met")), Column(_h(lang, "streak"), "int"),
             Column(_h(lang, "dismissal_review"))]
    return cols


def _summary_rows(lang: str, index: WeekIndex) -> Iterable[Styled]:
    warn_at = index.warn_streak()
    for team, members in index.teams:
        for m in members:
            values: list[Any] = [team_name(lang, team), m["name"], m["active_days"]]
            for item in ITEMS:
                values += [m["targets"][item], m["achieved"][item], m["shortfall"][item]]
            values += [m["fines"][item] for item in ITEMS]
            values += [m["fines"]["total"], m["commission"]["visit"], m["commission"]["lead"],
                       m["commission"]["total"], m["clawback"], m["adjustment"], m["net"], _yes_no(lang, m["met"]),
                       m["streak"],
                       _yes_no(lang, m["dismissal_review"])]
            style: Style | None = "review" if m["dismissal_review"] else "warn" if m["streak"] >= warn_at else None
            yield Styled(values, style, 1)
        label = t(lang, "report.subtotal", team=team_name(lang, team), leaders=index.leaders_text(lang, team))
        yield Styled(_totals_values(label, totals_of(members)), "subtotal")
    yield Styled(_totals_values(t(lang, "report.office_total"), totals_of(index.managers)), "total")


def _totals_values(label: str, totals: Any) -> list[Any]:
    values: list[Any] = [label, "", None]
    for item in ITEMS:
        values += [totals.targets[item], totals.achieved[item], totals.shortfall[item]]
    values += [totals.fines[item] for item in ITEMS]
    values += [totals.fines["total"], totals.commission["visit"], totals.commission["lead"],
               totals.commission["total"], totals.clawback, totals.adjustment, totals.net, "", None, ""]
    return values


def deal_columns(lang: str, with_manager: bool = True) -> list[Column]:
    cols = [Column(_h(lang, "deal_at"), "datetime"), Column(_h(lang, "phone")), Column(_h(lang, "room")),
            Column(_h(lang, "salesperson")), Column(_h(lang, "salesperson_commission"), "money")]
    if with_manager:
        cols.append(Column(_h(lang, "manager")))
    cols += [Column(_h(lang, "kind")), Column(_h(lang, "manager_commission"), "money"),
             Column(_h(lang, "salesperson_net"), "money")]
    if with_manager:
        cols.append(Column(_h(lang, "reason")))
    return [*cols, Column(_h(lang, "late")), *_src_columns(lang)]


def deal_rows(lang: str, deals: Iterable[dict[str, Any]], with_manager: bool = True) -> Iterable[list[Any]]:
    for d in deals:
        row: list[Any] = [d.get("deal_at"), d.get("phone") or "", d.get("room") or "", d.get("salesperson") or "",
                          d.get("salesperson_commission")]
        if with_manager:
            row.append(d.get("manager") or "")
        row += [commission_kind_label(lang, d.get("kind")), d.get("manager_commission"), d.get("salesperson_net")]
        if with_manager:
            row.append(reason_label(lang, d.get("reason")))
        yield [*row, t(lang, "report.yes") if d.get("late") else "", *_src(d.get("source"))]


def fine_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "team")), Column(_h(lang, "manager")), Column(_h(lang, "item")),
            Column(_h(lang, "target"), "int"), Column(_h(lang, "achieved"), "int"),
            Column(_h(lang, "shortfall"), "int"), Column(_h(lang, "rate"), "money"), Column(_h(lang, "fine"), "money")]


def _fine_rows(lang: str, index: WeekIndex) -> Iterable[list[Any]]:
    for team, members in index.teams:
        for m in members:
            for item in ITEMS:
                short = m["shortfall"][item]
                if short:
                    fine = money(m["fines"][item])
                    yield [team_name(lang, team), m["name"], t(lang, f"report.item.{item}"), m["targets"][item],
                           m["achieved"][item], short, fine / short, fine]


def lead_columns(lang: str, with_manager: bool = True) -> list[Column]:
    cols = [Column(_h(lang, "manager"))] if with_manager else []
    return [*cols, Column(_h(lang, "customer")), Column(_h(lang, "phone")),
            Column(_h(lang, "submitted_at"), "datetime"), *_src_columns(lang)]


def _record_columns(records: Sequence[Any], fields: Sequence[str], with_manager: bool) -> Columns:
    """Named tuples (leads, visits, units) as table columns: the manager if asked, `fields` in
    order, then the source's file, sheet and row. One transposition does every column; a long
    list's columns are each taken by `operator.itemgetter` instead (`_GETTER_FROM`)."""
    names = ["manager", *fields] if with_manager else list(fields)
    if not records:
        return Columns([() for _ in range(len(names) + 3)])
    if len(records) >= _GETTER_FROM:
        position = {name: i for i, name in enumerate(records[0]._fields)}
        columns: list[Sequence[Any]] = [list(map(itemgetter(position[name]), records)) for name in names]
        sources: Sequence[Any] = list(map(itemgetter(position["source"]), records))
    else:
        by_name = dict(zip(records[0]._fields, zip(*records, strict=True), strict=True))
        columns, sources = [by_name[name] for name in names], by_name["source"]
    places = sources if set(map(type, sources)) == {Source} else list(map(_src, sources))  # a Source is (file, sheet, row)
    if len(places) >= _GETTER_FROM:
        return Columns([*columns, *(list(map(itemgetter(k), places)) for k in range(len(Source._fields)))])
    return Columns([*columns, *zip(*places, strict=True)])


# Rows from which `_record_columns` takes each column by itself: `zip(*records)` called with a big
# week's 92,500 leads as its arguments took seven times as long (0.17 s against 0.02 s), where a
# statement's few hundred are transposed faster than taken a column at a time.
_GETTER_FROM = 2_000


def lead_rows(leads: Sequence[Any], with_manager: bool = True) -> Columns:
    return _record_columns(leads, ("customer", "phone", "at"), with_manager)


def visit_columns(lang: str, with_manager: bool = True) -> list[Column]:
    cols = [Column(_h(lang, "manager"))] if with_manager else []
    return [*cols, Column(_h(lang, "customer")), Column(_h(lang, "phone")),
            Column(_h(lang, "visited_at"), "datetime"), Column(_h(lang, "salesperson")),
            Column(_h(lang, "party_size")), *_src_columns(lang)]


def visit_rows(visits: Sequence[Any], with_manager: bool = True) -> Columns:
    return _record_columns(visits, ("customer", "phone", "at", "salesperson", "party_size"), with_manager)


def unit_columns(lang: str, with_manager: bool = True) -> list[Column]:
    cols = [Column(_h(lang, "manager"))] if with_manager else []
    return [*cols, Column(_h(lang, "unit_name")), Column(_h(lang, "address")),
            Column(_h(lang, "expanded_at"), "datetime"), Column(_h(lang, "photo")), *_src_columns(lang)]


def unit_rows(units: Sequence[Any], with_manager: bool = True) -> Columns:
    return _record_columns(units, ("unit_name", "address", "at", "photo"), with_manager)


def rejection_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "sheet_kind")), *_src_columns(lang), Column(_h(lang, "reason_code")),
            Column(_h(lang, "reason")), Column(_h(lang, "message")), Column(_h(lang, "manager")),
            Column(_h(lang, "phone"))]


def _rejection_rows(lang: str, rejections: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    for r in rejections:
        yield [kind_label(lang, r.get("kind")), *_src(r.get("source")), r.get("reason") or "",
               reason_label(lang, r.get("reason")), r.get("message") or "", r.get("manager") or "",
               r.get("phone") or ""]


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), sub)
    elif isinstance(value, list | tuple):
        yield prefix, ", ".join(str(v) for v in value)
    else:
        yield prefix, "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _about_sheet(report: WeekReport) -> Sheet:
    lang = report.lang

    def a(key: str) -> str:
        return t(lang, f"report.about.{key}")

    run, cfg, files, stats = a("run"), a("config"), a("file"), a("stats")
    rows: list[Styled] = [
        Styled([run, a("week"), report.week]), Styled([run, a("start"), report.start]),
        Styled([run, a("end"), report.end]), Styled([run, a("office"), report.office]),
        Styled([run, a("run_id"), report.run.run_id]), Styled([run, a("run_time"), report.run.now]),
    ]
    rows += [Styled([cfg, key, value]) for key, value in _flatten("", report.run.config)]
    rows += [Styled([files, name, digest]) for name, digest in report.run.files]
    stat = report.results.get("stats", {})
    rows += [Styled([stats, a(key), str(stat.get(key, 0))])
             for key in ("rows_read", "rows_stored", "duplicates_dropped", "rejected")]
    return Sheet(t(lang, "report.sheet.about"), [Table(
        [Column(_h(lang, "section")), Column(_h(lang, "item")), Column(_h(lang, "value"))], rows)])


def followup_columns(lang: str) -> list[Column]:
    """An item of the client-visit log (SPEC §9) with the row it came from."""

    def fu(key: str) -> str:
        return t(lang, f"report.fu.col.{key}")

    return [Column(fu("owner")), Column(fu("due_on"), "date"), Column(fu("status")), Column(fu("client")),
            Column(fu("issue")), Column(fu("manager")), Column(fu("contacted_at"), "datetime"), *_src_columns(lang)]


def followup_rows(report: WeekReport, items: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    for i in items:
        row = followup_row(report.lang, i, report.end)
        yield [i["owner"], i["due_on"], row.status, i["client"], i["issue"], i["manager"], i["contacted_at"],
               *_src(i.get("source"))]


def _followup_sheet(report: WeekReport, key: str, items: list[dict[str, Any]]) -> Sheet:
    """Every item listed in followups.json (open, and answered this week), by owner then as listed."""
    return Sheet(t(report.lang, f"report.sheet.{key}"),
                 [Table(followup_columns(report.lang), followup_rows(report, items))])


def _my_followup_sheet(report: WeekReport, index: WeekIndex, name: str) -> Sheet:
    """A person's own follow-ups: the items they follow up, then their keen clients to visit
    again and their clients' birthdays next week (SPEC §9)."""
    lang = report.lang

    def fu(key: str) -> str:
        return t(lang, f"report.fu.col.{key}")

    mine = my_followups(report, name, index)
    items = index.followup_items_by.get(name, [])
    return Sheet(t(lang, "report.sheet.my_followups"), [
        Table(followup_columns(lang), followup_rows(report, items)),
        Table([Column(t(lang, "report.fu.h.recontact")), Column(fu("last_contact")), Column(fu("days"), "int")],
              [[r.client, r.last_contact, r.days] for r in mine.recontact]),
        Table([Column(t(lang, "report.fu.h.birthdays")), Column(fu("birthday"))],
              [[b.client, b.birthday] for b in mine.birthdays]),
    ])


def summary_sheets(report: WeekReport, index: WeekIndex) -> list[Sheet]:
    lang = report.lang
    results = report.results

    def name(key: str) -> str:
        return t(lang, f"report.sheet.{key}")

    return [
        Sheet(name("summary"), [Table(summary_columns(lang), _summary_rows(lang, index))]),
        Sheet(name("commission"), [Table(deal_columns(lang), deal_rows(lang, results.get("deals", [])))]),
        Sheet(name("fines"), [Table(fine_columns(lang), _fine_rows(lang, index))]),
        Sheet(name("leads"), [Table(lead_columns(lang), lead_rows(report.leads))]),
        Sheet(name("visits"), [Table(visit_columns(lang), visit_rows(report.visits))]),
        Sheet(name("units"), [Table(unit_columns(lang), unit_rows(report.units))]),
        Sheet(name("rejections"), [Table(rejection_columns(lang), _rejection_rows(lang, results.get("rejections", [])))]),
        Sheet(name("clawbacks"), [Table(clawback_columns(lang), clawback_rows(lang, results.get("clawbacks", [])))]),
        Sheet(name("adjustments"), [Table(adjustment_columns(lang),
                                          adjustment_rows(lang, results.get("adjustments", [])))]),
        Sheet(name("rulings"), [Table(ruling_columns(lang), ruling_rows(lang, results.get("rulings", [])))]),
        _followup_sheet(report, "followups",
                        sorted(report.followups.get("items", []), key=lambda i: (i["owner"], not i["overdue"]))),
        _about_sheet(report),
    ]


# ---- SPEC §7: the corrections that landed in the week


def clawback_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "cancelled_at"), "datetime"), Column(_h(lang, "phone")), Column(_h(lang, "room")),
            Column(_h(lang, "manager")), Column(_h(lang, "clawback"), "money"), Column(_h(lang, "deal_at"), "datetime"),
            Column(_h(lang, "deal_week")), Column(_h(lang, "deal_file")), Column(_h(lang, "deal_sheet")),
            Column(_h(lang, "deal_row"), "int"), Column(_h(lang, "late")), *_src_columns(lang)]


def clawback_rows(lang: str, clawbacks: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    for c in clawbacks:
        deal = c.get("deal") or {}
        yield [c.get("cancelled_at"), c.get("phone") or "", c.get("room") or "", c.get("manager") or "",
               c.get("amount"), deal.get("deal_at"), week_of(deal.get("deal_at")), *_src(deal.get("source")),
               t(lang, "report.yes") if c.get("late") else "", *_src(c.get("source"))]


def adjustment_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "manager")), Column(_h(lang, "adjustment"), "money"),
            Column(_h(lang, "adjusted_at"), "datetime"), Column(_h(lang, "approved_by")),
            Column(_h(lang, "adjust_reason")), Column(_h(lang, "late")), *_src_columns(lang)]


def adjustment_rows(lang: str, adjustments: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    for a in adjustments:
        yield [a.get("manager") or "", a.get("amount"), a.get("adjusted_at"), a.get("approved_by") or "",
               a.get("reason") or "", t(lang, "report.yes") if a.get("late") else "", *_src(a.get("source"))]


def ruling_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "ruled_at"), "datetime"), Column(_h(lang, "phone")), Column(_h(lang, "owner")),
            Column(_h(lang, "previous_owner")), Column(_h(lang, "approved_by")), Column(_h(lang, "late")),
            *_src_columns(lang)]


def ruling_rows(lang: str, rulings: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    for r in rulings:
        yield [r.get("ruled_at"), r.get("phone") or "", r.get("owner") or "", r.get("previous_owner") or "",
               r.get("approved_by") or "", t(lang, "report.yes") if r.get("late") else "", *_src(r.get("source"))]


def _corrections_sheets(lang: str, results: dict[str, Any], name: str) -> list[Sheet]:
    """A statement's corrections, when it has any: one plain sentence each (numbers whole:
    workbooks are internal)."""
    lines = correction_lines(lang, results, name, phone=lambda value: value)
    if not lines:
        return []
    return [Sheet(t(lang, "report.sheet.corrections"), [Table([Column(_h(lang, "explanation"))],
                                                              [[line] for line in lines])])]


def _overview_sheet(report: WeekReport, index: WeekIndex, m: dict[str, Any]) -> Sheet:
    lang = report.lang
    title: list[tuple[str, Style | None]] = [
        (t(lang, "report.title.manager", name=m["name"], week=report.week), "title"),
        (f"{_h(lang, 'team')}: {team_name(lang, m.get('team') or '')}    "
         f"{t(lang, 'report.period', start=report.start, end=report.end)}", None),
        (f"{_h(lang, 'streak')}: {m['streak']}", None),
    ]
    warning = warning_text(lang, m, index.warn_streak())
    if warning:
        title.append((warning, "review" if m["dismissal_review"] else "warn"))
    if not m["active_days"]:
        title.append((t(lang, "report.not_assessed"), None))
    targets = [Column(_h(lang, "item")), Column(_h(lang, "target"), "int"), Column(_h(lang, "achieved"), "int"),
               Column(_h(lang, "shortfall"), "int", flag_positive=True), Column(_h(lang, "progress"), "pct", bar=True),
               Column(_h(lang, "fine"), "money")]
    rows: list[Styled] = []
    for item in ITEMS:
        target, achieved = m["targets"][item], m["achieved"][item]
        progress = min(1.0, achieved / target) if target else None
        rows.append(Styled([t(lang, f"report.item.{item}"), target, achieved, m["shortfall"][item], progress,
                            m["fines"][item]]))
    rows.append(Styled([_h(lang, "fines_total"), None, None, None, None, m["fines"]["total"]], "total"))
    amounts = [Styled([_h(lang, f"commission_{kind}"), m["commission"][kind]]) for kind in COMMISSION_KINDS]
    amounts += [Styled([_h(lang, "commission_total"), m["commission"]["total"]], "subtotal"),
                Styled([_h(lang, "clawback"), m["clawback"]]),
                Styled([_h(lang, "adjustment"), m["adjustment"]]),
                Styled([_h(lang, "fines_total"), -money(m["fines"]["total"])]),
                Styled([t(lang, "report.h.net"), m["net"]], "total")]
    return Sheet(t(lang, "report.sheet.overview"),
                 [Table(targets, rows), Table([Column(_h(lang, "item")), Column(_h(lang, "amount"), "money")], amounts)],
                 title)


def manager_rejection_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "sheet_kind")), *_src_columns(lang), Column(_h(lang, "phone")),
            Column(_h(lang, "reason")), Column(_h(lang, "fix"))]


def manager_sheets(report: WeekReport, index: WeekIndex, m: dict[str, Any]) -> list[Sheet]:
    """A manager's statement: only rows whose manager is this manager, and no raw rejection message."""
    lang, name = report.lang, m["name"]

    def sheet(key: str) -> str:
        return t(lang, f"report.sheet.{key}")

    rejections = ([kind_label(lang, r.get("kind")), *_src(r.get("source")), r.get("phone") or "",
                   reason_label(lang, r.get("reason")), fix_hint(lang, r.get("reason"))]
                  for r in index.rejections_by.get(name, []))
    return [
        _overview_sheet(report, index, m),
        Sheet(sheet("commission"), [Table(deal_columns(lang, False),
                                          deal_rows(lang, index.deals_by.get(name, []), False))]),
        Sheet(sheet("leads"), [Table(lead_columns(lang, False), lead_rows(index.leads_by.get(name, []), False))]),
        Sheet(sheet("visits"), [Table(visit_columns(lang, False), visit_rows(index.visits_by.get(name, []), False))]),
        Sheet(sheet("units"), [Table(unit_columns(lang, False), unit_rows(index.units_by.get(name, []), False))]),
        Sheet(sheet("rejections"), [Table(manager_rejection_columns(lang), rejections)]),
        *_corrections_sheets(lang, report.results, name),
        _my_followup_sheet(report, index, name),
    ]


def registration_columns(lang: str) -> list[Column]:
    return [Column(_h(lang, "phone")), Column(_h(lang, "customer")), Column(_h(lang, "owner")),
            Column(_h(lang, "registered_at"), "datetime"), Column(_h(lang, "via")), *_src_columns(lang)]


def _registration_rows(report: WeekReport) -> Columns:
    lang = report.lang
    via = {key: t(lang, f"report.via.{key}") for key in ("registrations", "leads")}
    if isinstance(report.new_registrations, Registrations) and report.new_registrations.table_ready():
        import pyarrow as pa
        import pyarrow.compute as pc

        phone, customer, owner, at, vias, *source, _ = report.new_registrations.columns()
        shown = vias
        for key, label in via.items():
            shown = pc.if_else(pc.fill_null(pc.equal(vias, key), False), pa.scalar(label, pa.string()), shown)
        return Columns([phone, customer, owner, at, shown, *source])
    phone, customer, owner, at, vias, *source = _record_columns(
        report.new_registrations, ("phone", "customer", "owner", "at", "via"), False).data
    return Columns([phone, customer, owner, at, [via.get(v, v) for v in vias], *source])


# --- writers: (report, folder) -> None -----------------------------------------------------------

def created_at(report: WeekReport) -> datetime:
    """The Monday after the week: a creation time that does not change when a week re-renders."""
    return datetime.fromisoformat(report.end) + timedelta(days=1)


def write_summary_xlsx(report: WeekReport, folder: Path) -> None:
    write_workbook(folder / "summary.xlsx", summary_sheets(report, index_week(report)), big=True,
                   created=created_at(report), printing=printing_of(report))


# Statements are deflated at the fastest level: on the big office the helper thread compressing
# 500 of them was the one waited for. Measured with zlib (bench/reports_bench.py, three pairs of
# medians of 3): 0.2-0.65 s less for the 500, files 12 % larger (about 26 KB instead of 23 KB each).
STATEMENT_LEVEL = 1


def write_manager_xlsx(report: WeekReport, folder: Path, share: tuple[int, int] | None = None,
                       wait: bool = True) -> None:
    """Every manager's statement workbook, or those of managers[start:stop] for `share` (start, stop):
    a big week shares them between two processes. With `wait=False` the last files may still be
    being written when this returns (`xlsx.wait()`), unless an error stopped it."""
    index = index_week(report)
    out = folder / "managers"
    out.mkdir(parents=True, exist_ok=True)
    try:
        for m in index.managers[slice(*share) if share else slice(None)]:
            write_workbook(out / f"{index.stems[m['name']]}.xlsx", manager_sheets(report, index, m),
                           created=created_at(report), wait=False, level=STATEMENT_LEVEL,
                           printing=printing_of(report, m["name"]))
    except BaseException:
        xlsx.wait()
        raise
    if wait:
        xlsx.wait()


def ledger_sheets(report: WeekReport) -> list[Sheet]:
    """ledger.xlsx: the week's new registrations, one table."""
    return [Sheet(t(report.lang, "report.sheet.registrations"),
                  [Table(registration_columns(report.lang), _registration_rows(report))])]


def write_ledger_xlsx(report: WeekReport, folder: Path, tuning: Tuning = TUNING) -> None:
    # Not mailed, unlike the summary and the statements: a lighter deflate (with zlib, level 3
    # against 6 was about 10 % larger and a third of a second faster on a big week).
    write_workbook(folder / "ledger.xlsx", ledger_sheets(report), big=True, created=created_at(report), level=3,
                   tuning=tuning, printing=printing_of(report))
