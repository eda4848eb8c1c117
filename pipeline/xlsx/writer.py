"""A small streaming .xlsx writer: exactly what the report workbooks use, written as XML text.

xlsxwriter spends about 9.5 µs of Python per cell (a cell object, a format lookup, an XML writer
call with attribute escaping); a big week has millions of cells. This module writes the same
parts an xlsxwriter workbook has, but a sheet's rows arrive as ready XML text that the caller
builds with f-strings and joins, and the styles are a table computed once:

- `StyleTable`: cell formats (number format, bold, font size and colour, fill, top/bottom
  border, wrap, vertical alignment) as `xf` indices, and the `styles.xml` that defines them;
- `Workbook`: a zip (`zipwrite`: deflate, fixed timestamps from `created`, so the same input
  gives the same bytes) with one part per sheet streamed in chunks, then the workbook,
  relationship, property, theme and style parts;
- helpers for the cell XML itself: `inline_text` (an inline string, always a string: no input
  ever becomes a formula), `is_plain` (a text that needs none of that), `col_name`, `NUMBER`
  (the `%.16G` xlsxwriter uses);
- one helper thread per process that does every zip operation in order (`wait`, `reset_helper`): deflate,
  CRC and file writes release the interpreter lock, so they run beside the caller's XML building.

A sheet supports what the reports use: column widths, a frozen header row, an autofilter, row
outline levels and solid data bars (with the Excel 2010 extension xlsxwriter writes). Text is
escaped as xlsxwriter escapes it: `& < >` as entities; control characters as `_xHHHH_`, and a
literal `_xHHHH_` as `_x005F_xHHHH_` so Excel does not decode it; U+FFFE/U+FFFF as `_xFFFE_`/
`_xFFFF_`; strings longer than Excel's 32,767 UTF-16 units are cut there. Unlike xlsxwriter,
a text that looks like rich-text markup (`<r>…</r>`) is escaped like any other, and a lone
surrogate becomes U+FFFD instead of failing the whole file.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape as _xml_escape

from .zipwrite import ZipWriter

try:   # the theme part xlsxwriter writes; optional (a workbook without one uses default colours)
    from xlsxwriter.theme import THEME_XML_2007 as _THEME
except ImportError:  # pragma: no cover - another xlsxwriter version
    _THEME = None

LEVEL = 6                 # deflate level: see `Workbook`
MAX_STRING = 32767        # UTF-16 units in a cell
MAX_ROWS = 1_048_576
MAX_COLS = 16_384

NUMBER = "{:.16G}"        # how xlsxwriter writes a number: the same text reads back as the same float

_NEEDS_ESCAPE = re.compile("[&<>\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]|_x[0-9a-fA-F]{4}_").search
_LITERAL_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
_EDGE = "[^\\s&<>\x00-\x1f_\ufffe\uffff\ud800-\udfff]"
_INNER = "[^&<>\x00-\x08\x0b-\x1f_\ufffe\uffff\ud800-\udfff]"
# A text that goes between <t> and </t> as it is: nothing to escape, no "_" (so no literal
# _xHHHH_), no space at either end (no xml:space), short of the length limit.
is_plain = re.compile(f"{_EDGE}(?:{_INNER}{{0,16380}}{_EDGE})?").fullmatch


@lru_cache(maxsize=4096)   # a big week asks for the first few letters tens of thousands of times
def col_name(col: int) -> str:
    """`A`, `B`, …, `Z`, `AA`, … for a 0-based column."""
    name = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        name = chr(65 + rest) + name
    return name


def cell_ref(row: int, col: int) -> str:
    """`B7` for 0-based (row 6, col 1)."""
    return f"{col_name(col)}{row + 1}"


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _truncate(text: str) -> str:
    """`text` cut to Excel's 32,767 UTF-16 units (xlsxwriter's limit too)."""
    if len(text) <= MAX_STRING // 2 or _utf16_len(text) <= MAX_STRING:
        return text
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > MAX_STRING:
            return text[:i]
    return text


def escape_text(text: str) -> str:
    """A cell text as it goes between `<t>` and `</t>` (see the module's docstring)."""
    if len(text) > MAX_STRING // 2:
        text = _truncate(text)
    if _NEEDS_ESCAPE(text) is None:
        return text
    if "_x" in text:
        text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    text = _SURROGATE.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline_text(text: str) -> str:
    """`<is><t>…</t></is>`: the body of a `t="inlineStr"` cell holding `text` literally."""
    body = escape_text(text)
    if body[:1].isspace() or body[-1:].isspace():
        return f'<is><t xml:space="preserve">{body}</t></is>'
    return f"<is><t>{body}</t></is>"


def attr(value: str) -> str:
    """An XML attribute value."""
    return _xml_escape(value, {'"': "&quot;", "\n": "&#xA;"})


def quote_sheet(name: str) -> str:
    """A sheet name as a formula reference writes it: quoted unless it is a plain word."""
    if re.fullmatch(r"[^\W\d][\w.]*", name) and not re.fullmatch(r"[A-Za-z]{1,3}\d+|R\d*C\d*|[RC]", name, re.I):
        return name
    return "'" + name.replace("'", "''") + "'"


# --- styles ---------------------------------------------------------------------------------------

def _argb(colour: str) -> str:
    return "FF" + colour.lstrip("#").upper()


@dataclass
class StyleTable:
    """Cell formats as xf indices (0 is the default), and the `styles.xml` that defines them.

    A format is a mapping of the xlsxwriter property names the reports use: `num_format`, `bold`,
    `font_size`, `font_color`, `bg_color`, `top`, `bottom` (1 thin, 2 medium), `text_wrap`, `valign`.
    """

    xfs: list[str] = field(default_factory=lambda: ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'])
    keys: dict[tuple[tuple[str, Any], ...], int] = field(default_factory=dict)
    num_formats: dict[str, int] = field(default_factory=dict)
    fonts: dict[str, int] = field(default_factory=dict)
    fills: dict[str, int] = field(default_factory=dict)
    borders: dict[str, int] = field(default_factory=dict)
    _xml: bytes | None = None

    def __post_init__(self) -> None:
        self._font({})
        self.fills.update({'<fill><patternFill patternType="none"/></fill>': 0,
                           '<fill><patternFill patternType="gray125"/></fill>': 1})
        self.borders['<border><left/><right/><top/><bottom/><diagonal/></border>'] = 0

    def add(self, props: Mapping[str, Any]) -> int:
        key = tuple(sorted(props.items()))
        if key in self.keys:
            return self.keys[key]
        self._xml = None
        num = self._num_format(props.get("num_format"))
        font = self._font(props)
        fill = self._fill(props.get("bg_color"))
        border = self._border(props.get("top"), props.get("bottom"))
        xf = f'<xf numFmtId="{num}" fontId="{font}" fillId="{fill}" borderId="{border}" xfId="0"'
        xf += ' applyNumberFormat="1"' if num else ""
        xf += ' applyFont="1"' if font else ""
        xf += ' applyFill="1"' if fill else ""
        xf += ' applyBorder="1"' if border else ""
        align = ""
        if props.get("valign"):
            align += f' vertical="{ {"vcenter": "center"}.get(props["valign"], props["valign"]) }"'
        if props.get("text_wrap"):
            align += ' wrapText="1"'
        xf += f' applyAlignment="1"><alignment{align}/></xf>' if align else "/>"
        self.keys[key] = len(self.xfs)
        self.xfs.append(xf)
        return self.keys[key]

    def _num_format(self, code: str | None) -> int:
        if code is None or code == "General":
            return 0
        if code == "0":
            return 1
        return self.num_formats.setdefault(code, 164 + len(self.num_formats))

    def _font(self, props: Mapping[str, Any]) -> int:
        colour = f'<color rgb="{_argb(props["font_color"])}"/>' if props.get("font_color") else '<color theme="1"/>'
        xml = (f'<font>{"<b/>" if props.get("bold") else ""}<sz val="{props.get("font_size", 11)}"/>{colour}'
               '<name val="Calibri"/><family val="2"/><scheme val="minor"/></font>')
        return self.fonts.setdefault(xml, len(self.fonts))

    def _fill(self, colour: str | None) -> int:
        if not colour:
            return 0
        xml = (f'<fill><patternFill patternType="solid"><fgColor rgb="{_argb(colour)}"/>'
               '<bgColor indexed="64"/></patternFill></fill>')
        return self.fills.setdefault(xml, len(self.fills))

    def _border(self, top: int | None, bottom: int | None) -> int:
        if not top and not bottom:
            return 0
        styles = {1: "thin", 2: "medium", 5: "thick", 6: "double"}

        def side(name: str, weight: int | None) -> str:
            return f'<{name} style="{styles[weight]}"><color auto="1"/></{name}>' if weight else f"<{name}/>"

        xml = f'<border><left/><right/>{side("top", top)}{side("bottom", bottom)}<diagonal/></border>'
        return self.borders.setdefault(xml, len(self.borders))

    def xml(self) -> bytes:
        if self._xml is None:
            nums = "".join(f'<numFmt numFmtId="{i}" formatCode="{attr(code)}"/>' for code, i in self.num_formats.items())
            parts = [
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
                f'<numFmts count="{len(self.num_formats)}">{nums}</numFmts>' if nums else "",
                f'<fonts count="{len(self.fonts)}">{"".join(self.fonts)}</fonts>',
                f'<fills count="{len(self.fills)}">{"".join(self.fills)}</fills>',
                f'<borders count="{len(self.borders)}">{"".join(self.borders)}</borders>',
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>',
                f'<cellXfs count="{len(self.xfs)}">{"".join(self.xfs)}</cellXfs>',
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
                '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
                'defaultPivotStyle="PivotStyleLight16"/></styleSheet>',
            ]
            self._xml = "".join(parts).encode()
        return self._xml


# --- sheets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataBar:
    """A solid data bar over rows first..last (0-based) of one column, from `low` to `high`."""

    first: int
    last: int
    col: int
    colour: str = "#63BE7B"
    low: float = 0
    high: float = 1


@dataclass(frozen=True)
class PageSetup:
    """How a sheet prints: on A4, fitted to one page wide (as many pages down as it needs), with
    rows `title_rows` (first, last; 0-based) repeated at the top of every page. `header` and
    `footer` are Excel's header and footer text with its codes (&L &C &R sections, &A the sheet's
    name, &P the page, &N the pages); a literal & is written &&."""

    landscape: bool = False
    header: str = ""
    footer: str = ""
    title_rows: tuple[int, int] | None = None
    paper: int = 9                          # A4


@dataclass
class SheetLayout:
    """What a sheet's XML says before and after its rows (all rows and columns 0-based)."""

    name: str
    last_row: int = -1                     # -1: no cell
    last_col: int = 0
    widths: dict[int, float] = field(default_factory=dict)   # column -> width in characters
    freeze_row: int | None = None          # rows above this one stay in view
    autofilter: tuple[int, int, int, int] | None = None      # first row, first col, last row, last col
    outline_level: int = 0                 # the deepest row outline level
    bars: list[DataBar] = field(default_factory=list)
    page: PageSetup | None = None


_WS_NS = ('xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
          'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
_X14_NS = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"
_MARGINS = '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'


@lru_cache(maxsize=1024)   # a few dozen widths, in every sheet of every statement
def _width_xml(width: float) -> str:
    """A column width as xlsxwriter writes it: through pixels of Calibri 11 (7 px a digit, 5 padding)."""
    if width <= 0:
        pixels = 0
    elif width < 1:
        pixels = int(width * 12 + 0.5)
    else:
        pixels = int(width * 7 + 0.5) + 5
    return f"{(pixels * 256 // 7) / 256.0:.16g}"


def _cols_xml(widths: Mapping[int, float]) -> str:
    runs: list[list[Any]] = []          # [first, last, xml width]
    for col in sorted(widths):
        shown = _width_xml(widths[col])
        if runs and runs[-1][1] == col - 1 and runs[-1][2] == shown:
            runs[-1][1] = col
        else:
            runs.append([col, col, shown])
    if not runs:
        return ""
    return "<cols>" + "".join(f'<col min="{a + 1}" max="{b + 1}" width="{w}" customWidth="1"/>'
                              for a, b, w in runs) + "</cols>"


def _bar_id(sheet: int, n: int) -> str:
    return f"{{DA7ABA51-AAAA-BBBB-{sheet:04X}-{n:012X}}}"


def sheet_head(layout: SheetLayout, selected: bool) -> str:
    """Everything before the first row: dimension, view (frozen pane), outline, widths."""
    if layout.last_row < 0:
        dimension = "A1"
    else:
        dimension = f"A1:{cell_ref(layout.last_row, layout.last_col)}" if (layout.last_row or layout.last_col) else "A1"
    tab = ' tabSelected="1"' if selected else ""
    if layout.freeze_row:
        top = f"A{layout.freeze_row + 1}"
        view = (f'<sheetView{tab} workbookViewId="0"><pane ySplit="{layout.freeze_row}" topLeftCell="{top}" '
                'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView>')
    else:
        view = f'<sheetView{tab} workbookViewId="0"/>'
    outline = f' outlineLevelRow="{layout.outline_level}"' if layout.outline_level else ""
    fit = '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>' if layout.page else ""
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet {_WS_NS}>{fit}<dimension ref="{dimension}"/><sheetViews>{view}</sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"{outline}/>{_cols_xml(layout.widths)}<sheetData>')


def sheet_tail(layout: SheetLayout, index: int) -> str:
    """Everything after the last row: autofilter, data bars (with their Excel 2010 twins), margins."""
    parts = ["</sheetData>"]
    if layout.autofilter:
        r1, c1, r2, c2 = layout.autofilter
        parts.append(f'<autoFilter ref="{cell_ref(r1, c1)}:{cell_ref(r2, c2)}"/>')
    ext = []
    for n, bar in enumerate(layout.bars, start=1):
        ref = f"{cell_ref(bar.first, bar.col)}:{cell_ref(bar.last, bar.col)}"
        colour, bar_id = _argb(bar.colour), _bar_id(index + 1, n)
        low, high = NUMBER.format(bar.low), NUMBER.format(bar.high)
        parts.append(
            f'<conditionalFormatting sqref="{ref}"><cfRule type="dataBar" priority="{n}"><dataBar>'
            f'<cfvo type="num" val="{low}"/><cfvo type="num" val="{high}"/><color rgb="{colour}"/></dataBar>'
            f'<extLst><ext xmlns:x14="{_X14_NS}" uri="{{B025F937-C7B1-47D3-B67F-A62EFF666E3E}}">'
            f'<x14:id>{bar_id}</x14:id></ext></extLst></cfRule></conditionalFormatting>')
        ext.append(
            '<x14:conditionalFormatting xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
            f'<x14:cfRule type="dataBar" id="{bar_id}"><x14:dataBar minLength="0" maxLength="100" border="1" '
            f'gradient="0" negativeBarBorderColorSameAsPositive="0"><x14:cfvo type="num"><xm:f>{low}</xm:f>'
            f'</x14:cfvo><x14:cfvo type="num"><xm:f>{high}</xm:f></x14:cfvo><x14:borderColor rgb="{colour}"/>'
            '<x14:negativeFillColor rgb="FFFF0000"/><x14:negativeBorderColor rgb="FFFF0000"/>'
            f'<x14:axisColor rgb="FF000000"/></x14:dataBar></x14:cfRule><xm:sqref>{ref}</xm:sqref>'
            '</x14:conditionalFormatting>')
    parts.append(_MARGINS)
    if layout.page:
        parts.append(_page_xml(layout.page))
    if ext:
        parts.append(f'<extLst><ext xmlns:x14="{_X14_NS}" uri="{{78C0D931-6437-407d-A8EE-F0AAD7539E65}}">'
                     f'<x14:conditionalFormattings>{"".join(ext)}</x14:conditionalFormattings></ext></extLst>')
    parts.append("</worksheet>")
    return "".join(parts)


def _page_xml(page: PageSetup) -> str:
    """pageSetup and headerFooter, in the order the schema puts them (after pageMargins)."""
    orientation = "landscape" if page.landscape else "portrait"
    parts = [f'<pageSetup paperSize="{page.paper}" orientation="{orientation}" fitToWidth="1" fitToHeight="0"/>']
    if page.header or page.footer:
        head = f"<oddHeader>{escape_text(page.header)}</oddHeader>" if page.header else ""
        foot = f"<oddFooter>{escape_text(page.footer)}</oddFooter>" if page.footer else ""
        parts.append(f"<headerFooter>{head}{foot}</headerFooter>")
    return "".join(parts)


def print_titles(layout: SheetLayout) -> str | None:
    """The defined name's value that repeats the layout's title rows on every printed page."""
    if layout.page is None or layout.page.title_rows is None:
        return None
    first, last = layout.page.title_rows
    return f"{quote_sheet(layout.name)}!${first + 1}:${last + 1}"


AHEAD = 32 * 1024 * 1024  # bytes the caller may hand the helper thread before it waits for it


class _Helper:
    """Every zip operation of every workbook, in order, on one helper thread per process.

    Deflate, CRC and file writes release the interpreter lock, so while the helper compresses and
    writes one chunk of rows (or one small workbook) the caller builds the next: compression and
    file system time, about a third of the total, move to another core. The caller is one thread;
    it may be `ahead` bytes ahead of the helper before it waits (a memory bound). Not `threaded`:
    every operation runs at once on the caller's thread (the same bytes, one core)."""

    def __init__(self, ahead: int = AHEAD, threaded: bool = True) -> None:
        self.ahead = ahead
        self.threaded = threaded
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Future[Any], int]] = deque()
        self._bytes = 0

    def submit(self, fn: Callable[..., Any], *args: Any, size: int = 0, **kwargs: Any) -> None:
        if not self.threaded:
            fn(*args, **kwargs)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="xlsx")
        while self._pending and self._bytes + size > self.ahead:
            self._done(*self._pending.popleft())
        self._pending.append((self._pool.submit(fn, *args, **kwargs), size))
        self._bytes += size

    def _done(self, future: Future[Any], size: int) -> None:
        self._bytes -= size
        future.result()

    def wait(self) -> None:
        """Until everything submitted is done; the first error raises here, after the rest ran."""
        error: BaseException | None = None
        while self._pending:
            try:
                self._done(*self._pending.popleft())
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error


_HELPER = _Helper()


def wait() -> None:
    """Until every workbook closed with `wait=False` is completely written (errors raise here)."""
    _HELPER.wait()


def reset_helper(ahead: int = AHEAD, threaded: bool = True) -> None:
    """A fresh helper: for a forked child (a fork copies no thread, so the parent's helper would
    take work and never do it), or to set how far ahead of it the caller may get (`ahead` bytes)
    and whether it is a thread at all (`threaded=False`: zip work on the caller's thread). Call
    it when nothing is in flight (after `wait()`)."""
    global _HELPER
    _HELPER = _Helper(ahead, threaded)


class SheetStream:
    """One sheet's part in the zip, open for its rows: `write` ready `<row>` XML, in row order."""

    def __init__(self, book: Workbook, layout: SheetLayout, index: int) -> None:
        self.layout = layout
        self.index = index
        self._book = book
        self._fh: Any = None
        book._do(self._open, f"xl/worksheets/sheet{index + 1}.xml")
        self._write(sheet_head(layout, selected=index == 0))

    def _open(self, name: str) -> None:                       # on the helper
        assert self._book._zip is not None
        self._fh = self._book._zip.stream(name)

    def _write(self, text: str | bytes | memoryview) -> None:
        data = text.encode() if isinstance(text, str) else text
        self._book._do(self._write_now, data, size=len(data))

    def _write_now(self, data: bytes | memoryview) -> None:   # on the helper
        self._fh.write(data)

    def _close_now(self) -> None:                             # on the helper
        if self._fh is not None:
            self._fh.close()

    def write(self, rows_xml: str | bytes | memoryview) -> None:
        """Rows as XML: text, or its UTF-8 bytes (a buffer the caller no longer changes)."""
        if len(rows_xml):
            self._write(rows_xml)

    def __enter__(self) -> SheetStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self._write(sheet_tail(self.layout, self.index))
        self._book._do(self._close_now)


# --- the workbook ---------------------------------------------------------------------------------

_CT = "application/vnd.openxmlformats-officedocument"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


def _run_all(batch: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
    for fn, args in batch:
        fn(*args)


class Workbook:
    """A workbook written as it goes: `sheet(layout)` streams one sheet, `close` writes the rest.

    `created` is the document's creation time and every zip entry's timestamp, so the same input
    gives the same bytes. `level` is zlib's deflate level (`zipwrite.deflate_level` maps it to the
    library in use): 1 is fastest, 6 makes files smaller. The sheet names are given up front so
    that `[Content_Types].xml` comes first.
    """

    BATCH = 1024 * 1024

    def __init__(self, path: Path | str, sheet_names: Iterable[str], styles: StyleTable,
                 created: datetime | None = None, level: int | None = None) -> None:
        self.names = list(sheet_names)
        seen: set[str] = set()
        for name in self.names:
            if not name or _utf16_len(name) > 31 or _SHEET_NAME_BAD.search(name) or name[0] == "'" or name[-1] == "'":
                raise ValueError(f"invalid sheet name: {name!r}")
            if name.lower() in seen:
                raise ValueError(f"duplicate sheet name: {name!r}")
            seen.add(name.lower())
        self.styles = styles
        self.created = created or datetime(2000, 1, 1)
        self.level = LEVEL if level is None else level
        self.layouts: list[SheetLayout] = []
        self._zip: ZipWriter | None = None
        self._batch: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._batch_bytes = 0
        self._do(self._create, path)
        self._write_part("[Content_Types].xml", self._content_types())

    def _do(self, fn: Callable[..., Any], *args: Any, size: int = 0) -> None:
        """Run `fn` on the helper thread after everything before it. Operations go in batches of
        about `BATCH` bytes (a small workbook is one batch): one hand-over to the helper each."""
        self._batch.append((fn, args))
        self._batch_bytes += size
        if self._batch_bytes >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            _HELPER.submit(_run_all, self._batch, size=self._batch_bytes)
            self._batch, self._batch_bytes = [], 0

    def _create(self, path: Path | str) -> None:                # on the helper
        self._zip = ZipWriter(path, self.created, self.level)

    def _write_part(self, name: str, text: str | bytes, same: bool = True) -> None:
        """A whole part; `same`: one that other workbooks of the kind repeat (deflated once)."""
        data = text.encode() if isinstance(text, str) else text
        self._do(self._writestr, name, data, same, size=len(data))

    def _writestr(self, name: str, data: bytes, same: bool) -> None:   # on the helper
        assert self._zip is not None
        self._zip.add(name, data, same)

    def _close_zip(self) -> None:                                # on the helper
        if self._zip is not None:
            self._zip.close()

    def sheet(self, layout: SheetLayout) -> SheetStream:
        """Open the next sheet (in the order of `sheet_names`) for its rows."""
        if layout.last_row >= MAX_ROWS or layout.last_col >= MAX_COLS:
            raise ValueError(f"sheet {layout.name!r} is larger than Excel's {MAX_ROWS:,} rows x {MAX_COLS:,} columns")
        index = len(self.layouts)
        if index >= len(self.names) or layout.name != self.names[index]:
            raise ValueError(f"sheet {layout.name!r} is not the next of {self.names}")
        self.layouts.append(layout)
        return SheetStream(self, layout, index)

    def close(self, wait: bool = True) -> None:
        """Write the remaining parts and the zip's directory. With `wait=False` this returns while
        the helper may still be writing; `wait()` then waits for it (and raises its errors)."""
        try:
            while len(self.layouts) < len(self.names):      # a sheet never opened is an empty one
                with self.sheet(SheetLayout(self.names[len(self.layouts)])):
                    pass
            self._write_part("_rels/.rels", self._root_rels())
            self._write_part("docProps/app.xml", self._app())
            self._write_part("docProps/core.xml", self._core())
            self._write_part("xl/workbook.xml", self._workbook(), same=False)  # names each filter's rows
            self._write_part("xl/_rels/workbook.xml.rels", self._workbook_rels())
            self._write_part("xl/styles.xml", self.styles.xml())
            if _THEME is not None:
                self._write_part("xl/theme/theme1.xml", _THEME)
        finally:
            self._do(self._close_zip)
            self._flush()
        if wait:
            _HELPER.wait()

    def abort(self) -> None:
        """After an error in the caller: close the file as it is and wait for the helper. The
        caller's error is the one to report, so the helper's (if any) is dropped."""
        self._do(self._close_zip)
        self._flush()
        with contextlib.suppress(BaseException):
            _HELPER.wait()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    # --- the fixed parts ---

    def _content_types(self) -> str:
        over = [("/docProps/app.xml", f"{_CT}.extended-properties+xml"),
                ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
                ("/xl/styles.xml", f"{_CT}.spreadsheetml.styles+xml")]
        if _THEME is not None:
            over.append(("/xl/theme/theme1.xml", f"{_CT}.theme+xml"))
        over.append(("/xl/workbook.xml", f"{_CT}.spreadsheetml.sheet.main+xml"))
        over += [(f"/xl/worksheets/sheet{i}.xml", f"{_CT}.spreadsheetml.worksheet+xml")
                 for i in range(1, len(self.names) + 1)]
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                + "".join(f'<Override PartName="{p}" ContentType="{c}"/>' for p, c in over) + "</Types>")

    def _root_rels(self) -> str:
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{_PKG_REL}">'
                f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
                f'<Relationship Id="rId2" Type="{_PKG_REL}/metadata/core-properties" Target="docProps/core.xml"/>'
                f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
                "</Relationships>")

    def _app(self) -> str:
        return _app_xml(tuple(self.names))

    def _core(self) -> str:
        when = self.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
                'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
                '<dc:creator></dc:creator><cp:lastModifiedBy></cp:lastModifiedBy>'
                f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
                f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified></cp:coreProperties>')

    def _workbook(self) -> str:
        sheets = "".join(f'<sheet name="{attr(name)}" sheetId="{i}" r:id="rId{i}"/>'
                         for i, name in enumerate(self.names, start=1))
        names = []
        for i, layout in enumerate(self.layouts):
            if layout.autofilter:
                r1, c1, r2, c2 = layout.autofilter
                ref = f"{quote_sheet(layout.name)}!${col_name(c1)}${r1 + 1}:${col_name(c2)}${r2 + 1}"
                names.append(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
                             f"{attr(ref)}</definedName>")
            titles = print_titles(layout)
            if titles:
                names.append(f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">{attr(titles)}</definedName>')
        defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<workbook {_WS_NS}><fileVersion appName="xl" lastEdited="4" lowestEdited="4" rupBuild="4505"/>'
                '<workbookPr defaultThemeVersion="124226"/><bookViews><workbookView xWindow="240" yWindow="15" '
                f'windowWidth="16095" windowHeight="9660"/></bookViews><sheets>{sheets}</sheets>{defined}'
                '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>')

    def _workbook_rels(self) -> str:
        rels = [(f"{_REL}/worksheet", f"worksheets/sheet{i}.xml") for i in range(1, len(self.names) + 1)]
        if _THEME is not None:
            rels.append((f"{_REL}/theme", "theme/theme1.xml"))
        rels.append((f"{_REL}/styles", "styles.xml"))
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{_PKG_REL}">'
                + "".join(f'<Relationship Id="rId{i}" Type="{kind}" Target="{target}"/>'
                          for i, (kind, target) in enumerate(rels, start=1)) + "</Relationships>")


@lru_cache(maxsize=64)   # the same few lists of sheet names in every statement
def _app_xml(names: tuple[str, ...]) -> str:
    """docProps/app.xml of a workbook with these sheets."""
    titles = "".join(f"<vt:lpstr>{attr(name)}</vt:lpstr>" for name in names)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" '
            'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
            '<Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>'
            '<HeadingPairs><vt:vector size="2" baseType="variant"><vt:variant><vt:lpstr>Worksheets</vt:lpstr>'
            f'</vt:variant><vt:variant><vt:i4>{len(names)}</vt:i4></vt:variant></vt:vector></HeadingPairs>'
            f'<TitlesOfParts><vt:vector size="{len(names)}" baseType="lpstr">{titles}</vt:vector>'
            '</TitlesOfParts><Company></Company><LinksUpToDate>false</LinksUpToDate><SharedDoc>false</SharedDoc>'
            '<HyperlinksChanged>false</HyperlinksChanged><AppVersion>12.0000</AppVersion></Properties>')
