"""Read workbooks the way admins make them: find the header, classify, parse each row.

Reading choices, stated once:
- `.xlsx/.xlsm/.xls/.xlsb/.ods` go through python-calamine (Rust), which returns cached values of
  formulas, dates as `datetime`, numbers as `float` (exact for 11-digit phones) and merged cells as
  a value in the top-left cell only. Rows come padded from A1 (`skip_empty_area=False`) so the
  row index + 1 is the row number Excel shows.
- A big registrations sheet of an .xlsx (a million-row ledger) is read as typed columns by
  fastexcel instead, where that gives the same outcome (`columnar.py`).
- `.csv` is decoded as UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030; every cell is text.
- A file is read as what its content is, whatever its name says: an "xls" that is really an HTML
  page, CSV text or an .xlsx (web systems and WPS export such files) reads like the real thing.
- Untrusted input is checked before parsing (sizes, zip bombs, XML entities, sheet extents): see
  the note above `MAX_CELLS`.
- Every sheet, hidden ones included, is classified alone by its header row (SPEC §2.1).
Problems are returned as data (`Problem`), never raised, except for file-level failures
(`FileError`), which the caller turns into a failed run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from .. import normalise as nz
from ..records import Registered, Source
from ..schema import ALIASES, CHOICES, KINDS, ROLE_KEYS, column_type, header_key
from ..texts import column_name, kind_name, t
from . import READING_MODULES, sandbox

READABLE = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".csv"}
HEADER_SCAN_ROWS = 10


class Row(NamedTuple):
    """A row that passed every reading check: canonical column -> clean value."""

    kind: str
    source: Source
    values: dict[str, Any]
    cells: dict[str, Any]  # as read, kept for `as_read`


@dataclass(frozen=True)
class Problem:
    """A row rejected while reading: where, which column, what was there, why, how to fix."""

    kind: str
    source: Source
    column: str | None
    value: str
    reason: str
    message: str
    manager: str | None
    phone: str | None
    as_read: tuple[str, ...]  # the row's cells as read (`as_read`), for "equals a row rejected earlier"


@dataclass
class Sheet:
    file: str
    sheet: str
    index: int
    kind: str | None = None
    header_row: int | None = None
    error: str | None = None
    message: str | None = None
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    registrations: Registered | None = None  # a registrations sheet's rows, instead of `rows`
    stored: list[tuple[Any, ...]] | None = None  # `rows` in their stored form, made by the reader's `prepare`
    # With `stored`, the reader's `prepare` drops `rows` (counted in `released`) but those that
    # may be late, kept here by their position in `stored`: the run needs no other row object.
    late_rows: dict[int, Row] | None = None

    released: int = 0  # rows handed over and dropped by `release_rows`
    # A cumulative registrations sheet whose first rows an earlier run read (`intake.prepare`,
    # where it is read): how many, left out of `registrations`; the digest of all its rows as
    # read; and its last row's number.
    seen_before: int = 0
    digest: bytes | None = None
    last_row: int = 0

    @property
    def data_rows(self) -> int:
        block = len(self.registrations) if self.registrations is not None else 0
        return len(self.rows) + block + len(self.problems) + self.released + self.seen_before

    def release_rows(self) -> None:
        """Drop the parsed rows once stored, keeping their count: a big ledger's rows are the
        largest thing a run holds in memory."""
        self.released += len(self.rows) + (len(self.registrations) if self.registrations is not None else 0)
        self.rows = []
        self.stored = None
        self.late_rows = None
        if self.registrations is not None:
            self.registrations = Registered()


class FileError(Exception):
    """A file that fails the whole run: its code (SPEC §5.2) and a message a person can act on."""

    def __init__(self, code: str, file: str, message: str, sheet: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.file = file
        self.sheet = sheet
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:  # raised in a reading worker, raised again here
        return FileError, (self.code, self.file, self.message, self.sheet)


# ---------------------------------------------------------------------------------------------
# grids: every format becomes a list of sheets of rows of raw cells
#
# Input files are untrusted. Before a parser sees a file: its size on disk, the sizes its zip
# directory declares (a zip bomb), the XML prologs of its parts (entities: billion laughs), and the
# number of parts are checked. Then the file is read by a throw-away worker process (`sandbox.py`),
# because calamine builds each sheet as a dense rows x columns block before anything else sees it:
# one stray cell at XFD1048576 asks it for ~550 GB and aborts the whole process, with no exception
# to catch. The worker has a memory ceiling; if it dies, or a sheet is larger than `MAX_CELLS`, the
# file fails with a message saying what to fix. calamine itself refuses zip parts
# larger than their declared size, does not expand XML entities, never runs macros and returns
# formulas' cached values only (cells holding an error such as #N/A come back empty).

MAX_CELLS = 32_000_000
"""The most cells (rows x columns, counted from A1 to the last cell holding a value) a sheet may span:
~1 GB in calamine's dense block, 1,048,576 rows x 30 columns. Larger is refused."""
MAX_ZIP_DIRECTORY = 16 * 1024 * 1024  # a workbook's part list; honest ones are a few KB
MAX_PROLOG = 1024 * 1024  # bytes of declaration/comments before an XML part's root element
PROBE_TIMEOUT = 600.0  # seconds a reading worker may take over one file
CELL_BYTES = 32  # calamine's size of one cell of a sheet's dense block (measured: 550 GB / 17.2 G cells)
PY_CELL_BYTES = 80  # one cell as a Python value in a row list, and its share of what is parsed from it

WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
_SUFFIX_OF = {"xlsx": (".xlsx", ".xlsm"), "xlsb": (".xlsb",), "ods": (".ods",), "xls": (".xls",)}
# What Excel shows for a formula that failed; calamine reads such cells as empty, text exports
# (CSV, HTML) carry the words: both are read as an empty cell.
EXCEL_ERRORS = frozenset({"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!",
                          "#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#UNKNOWN!"})



def _fail(lang: str, file: str, key: str, sheet: str | None = None, **fields: Any) -> FileError:
    """A file-level failure whose message says what is wrong and what to do (SPEC §2.1)."""
    detail = t(lang, f"detail.{key}", sheet=sheet, **fields)
    return FileError("UNREADABLE", file, t(lang, "file.UNREADABLE", file=file, detail=detail), sheet=sheet)


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


def _sniff(data: bytes) -> str:
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "cfb"
    return "text"


def _looks_html(text: str) -> bool:
    head = text[:2048].lstrip("\ufeff \t\r\n").lower()
    return head.startswith(("<!doctype html", "<html", "<table", "<?xml", "<meta", "<head"))


def _zip_directory_size(path: Path) -> int | None:
    """The central directory's size from the end record, before `zipfile` loads it (None: no end record)."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 65_557))
        tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    directory = int.from_bytes(tail[at + 12:at + 16], "little")
    if directory == 0xFFFFFFFF:  # zip64: the locator sits just before the end record
        loc = at - 20
        if loc >= 0 and tail[loc:loc + 4] == b"PK\x06\x07":
            offset = int.from_bytes(tail[loc + 8:loc + 16], "little")
            with path.open("rb") as fh:
                fh.seek(offset)
                rec = fh.read(56)
            if rec[:4] == b"PK\x06\x06" and len(rec) == 56:
                directory = int.from_bytes(rec[40:48], "little")
    return directory


def _prolog_safe(head: bytes) -> bool | None:
    """Whether an XML part's prolog (before its root element) is free of a DOCTYPE: True, False, or
    None if `head` ends inside the prolog."""
    pos = 0
    if head.startswith(b"\xef\xbb\xbf"):
        pos = 3
    n = len(head)
    while True:
        while pos < n and head[pos] in b" \t\r\n":
            pos += 1
        if pos >= n:
            return None
        if head.startswith(b"<?", pos):
            end = head.find(b"?>", pos + 2)
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos + 4)
        elif head.startswith(b"<!", pos):
            return False  # <!DOCTYPE (any case), <!ENTITY, <![CDATA[ before the root: refused
        else:
            return True  # the root element (or not XML at all: the parser will say so)
        if end < 0:
            return None
        pos = end + 2 if head[end] == ord("?") else end + 3


def _check_zip(path: Path, name: str, lang: str, max_unzipped_mb: int) -> tuple[str, int]:
    """Refuse zip bombs and XML entity bombs before any parser sees the file: (workbook format,
    declared unzipped bytes)."""
    try:
        directory = _zip_directory_size(path)
        if directory is not None and directory > MAX_ZIP_DIRECTORY:
            raise _fail(lang, name, "zip_parts", size=directory // 1024)
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > max_unzipped_mb * 1024 * 1024:
                raise _fail(lang, name, "zip_bomb", size=total // (1024 * 1024), limit=max_unzipped_mb)
            for info in infos:
                if info.flag_bits & 0x1:
                    raise _fail(lang, name, "zip_encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise _fail(lang, name, "zip_method")
            for info in infos:
                if info.is_dir() or info.file_size == 0:
                    continue
                with zf.open(info) as fh:
                    head = fh.read(4096)
                    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
                        continue  # not XML (pictures, vbaProject.bin, .bin sheets)
                    verdict = _prolog_safe(head)
                    while verdict is None and len(head) < MAX_PROLOG:
                        more = fh.read(65536)
                        if not more:
                            break
                        head += more
                        verdict = _prolog_safe(head)
                if verdict is False:
                    raise _fail(lang, name, "entities", part=info.filename)
                if verdict is None and len(head) >= MAX_PROLOG:
                    raise _fail(lang, name, "prolog", part=info.filename)
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError,
            RuntimeError, OSError, zlib.error) as exc:
        raise _fail(lang, name, "zip_damaged", error=_first_line(exc)) from None
    if "xl/workbook.xml" in names:
        return "xlsx", total
    if "xl/workbook.bin" in names:
        return "xlsb", total
    if "content.xml" in names:
        return "ods", total
    raise _fail(lang, name, "not_workbook_zip")


def _decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")  # Excel's "Unicode text"; the BOM says the byte order
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _blank_errors(row: list[str]) -> list[Any]:
    return ["" if c in EXCEL_ERRORS else c for c in row]


def _csv_grid(text: str, file: str, lang: str, max_cells: int) -> list[list[Any]]:
    sample = text[:4096]
    delimiter = ","
    if sample.count("\t") > sample.count(",") and sample.count("\t") > sample.count(";"):
        delimiter = "\t"
    elif sample.count(";") > sample.count(","):
        delimiter = ";"
    grid: list[list[Any]] = []
    cells = 0
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        cells += len(row)
        if cells > max_cells:
            raise _fail(lang, file, "text_too_big", limit=max_cells)
        grid.append(_blank_errors(row))
    return grid


def _html_grids(text: str, file: str, lang: str, max_cells: int) -> list[tuple[str, list[list[Any]]]]:
    """Tables of an HTML page (what many systems export as ".xls"), one sheet per <table>."""
    from html.parser import HTMLParser

    class TableParser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.tables: list[list[list[str]]] = []
            self.row: list[str] | None = None
            self.cell: list[str] | None = None
            self.cells = 0

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag == "table":
                self.tables.append([])
            elif tag == "tr" and self.tables:
                self.row = []
            elif tag in ("td", "th") and self.row is not None:
                self.cell = []
            elif tag == "br" and self.cell is not None:
                self.cell.append("\n")

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.row is not None and self.cell is not None:
                self.row.append("".join(self.cell))
                self.cell = None
                self.cells += 1
                if self.cells > max_cells:
                    raise _fail(lang, file, "text_too_big", limit=max_cells)
            elif tag == "tr" and self.row is not None and self.tables:
                self.tables[-1].append(_blank_errors(self.row))
                self.row = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = TableParser()
    try:
        parser.feed(text)
        parser.close()
    except FileError:
        raise
    except Exception as exc:  # noqa: BLE001 - html.parser asserts on some malformed markup
        raise _fail(lang, file, "calamine", error=_first_line(exc)) from None
    return [(f"Table{i + 1}", rows) for i, rows in enumerate(parser.tables)]


def _open_workbook(path: Path, fmt: str) -> Any:
    """calamine picks its reader by the file name's extension; a file whose name lies (an .xlsx
    saved as .xls, as WPS and web systems do) is opened by its content instead."""
    from python_calamine import CalamineWorkbook

    if path.suffix.lower() in _SUFFIX_OF[fmt]:
        return CalamineWorkbook.from_path(str(path))
    with path.open("rb") as fh:
        return CalamineWorkbook.from_filelike(fh)


_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)


def _calamine_error(exc: BaseException, name: str, lang: str, sheet: str | None = None) -> FileError:
    text = _first_line(exc)
    if "password" in type(exc).__name__.lower() or "password" in text.lower() or "encrypt" in text.lower():
        return _fail(lang, name, "password", sheet=sheet)
    return _fail(lang, name, "calamine", sheet=sheet, error=text)


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _calamine_grids(path: Path, name: str, lang: str, fmt: str, unzipped: int, size: int,
                    max_cells: int, columnar: bool = False) -> Iterator[tuple[str, list[list[Any]] | Sheet]]:
    """The workbook's sheets, each measured before it becomes Python cells. In a reading worker
    (`sandbox.py`) calamine runs under a memory ceiling; elsewhere (`read_unguarded`) it runs unguarded.

    With `columnar`, a big registrations sheet of an .xlsx comes back already read, as a `Sheet`
    (see `columnar.py`), where that path gives the same outcome."""
    sandbox.cap_memory(max_cells * (CELL_BYTES + PY_CELL_BYTES) + 2 * max(unzipped, size) + (768 << 20))
    before = _identity(path)
    big = _columnar_sheets(path) if columnar and fmt == "xlsx" else {}
    fast: Any = None

    try:
        wb = _open_workbook(path, fmt)
        metas = [m for m in wb.sheets_metadata if "WorkSheet" in str(m.typ)]
    except BaseException as exc:  # calamine's errors, and pyo3's PanicException (a BaseException)
        if isinstance(exc, _FATAL):
            raise
        raise _calamine_error(exc, name, lang) from None
    ahead = _Ahead(path, [m.name for m in metas if m.name in big])
    with wb, ahead:
        for meta in metas:
            if meta.name in big:
                from . import columnar as col

                fast = fast or _fastexcel(path)
                done = (col.registrations(path, meta.name, big[meta.name], fast, name, lang, max_cells,
                                          ahead.loaded(meta.name)) if fast else None)
                if done is not None:
                    yield meta.name, done
                    continue
            try:
                sheet = wb.get_sheet_by_name(meta.name)  # the dense block: a stray far cell ends the worker here
                end = sheet.end
                rows, cols = (end[0] + 1, end[1] + 1) if end else (0, 0)
                if rows * cols > max_cells:
                    raise _fail(lang, name, "too_many_cells", sheet=meta.name, rows=f"{rows:,}", cols=f"{cols:,}",
                                cells=f"{rows * cols:,}", limit=f"{max_cells:,}")
                grid = sheet.to_python(skip_empty_area=False)
                del sheet
            except FileError:
                raise
            except BaseException as exc:
                if isinstance(exc, _FATAL):
                    raise
                raise _calamine_error(exc, name, lang, sheet=meta.name) from None
            yield meta.name, grid
    if _identity(path) != before:
        raise _fail(lang, name, "changed")  # what was read is not one version of the file


def _columnar_sheets(path: Path) -> dict[str, str]:
    try:
        import fastexcel  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - both are dependencies; without them, cell by cell
        return {}
    from .columnar import big_sheets

    return big_sheets(path)


class _Ahead:
    """A workbook's big sheets after the first parsed by fastexcel on a thread, while the first is
    parsed and turned into columns: fastexcel parses without the interpreter lock, so a ledger
    split over yearly sheets is read side by side on a second core. A sheet the columnar path
    then declines (`columnar.registrations`) was parsed for nothing; nothing else changes."""

    def __init__(self, path: Path, sheets: list[str]) -> None:
        self.futures: dict[str, Any] = {}
        self.pool: Any = None
        if len(sheets) > 1:
            from concurrent.futures import ThreadPoolExecutor

            from . import columnar as col

            self.pool = ThreadPoolExecutor(1, thread_name_prefix="sheets-ahead")
            for sheet in sheets[1:]:
                self.futures[sheet] = self.pool.submit(lambda s=sheet: col.load(_fastexcel_or_fail(path), s))

    def loaded(self, sheet: str) -> Callable[[], Any] | None:
        future = self.futures.pop(sheet, None)
        return future.result if future is not None else None

    def __enter__(self) -> _Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            for future in self.futures.values():
                future.cancel()
            self.pool.shutdown(wait=True)


def _fastexcel_or_fail(path: Path) -> Any:
    import fastexcel

    return fastexcel.read_excel(str(path))


def _fastexcel(path: Path) -> Any:
    try:
        return _fastexcel_or_fail(path)
    except Exception:  # noqa: BLE001 - whatever it refuses, calamine reads (or explains)
        return None


def sheets_of(path: Path, name: str, lang: str = "zh", max_unzipped_mb: int = 2000,
              max_file_mb: int = 200, *, max_cells: int = MAX_CELLS) -> list[tuple[str, list[list[Any]]]]:
    """Every sheet of a file as (name, rows of raw cells), or `FileError`."""
    return _taken(_start(path, name, lang, PROBE_TIMEOUT, _budget(max_unzipped_mb, max_file_mb, max_cells),
                         _grids, path, name, lang, max_unzipped_mb, max_file_mb, max_cells))


def _grids(path: Path, name: str, lang: str, max_unzipped_mb: int, max_file_mb: int,
           max_cells: int) -> list[tuple[str, list[list[Any]]]]:
    return list(_sheets(path, name, lang, max_unzipped_mb, max_file_mb, max_cells))  # type: ignore[arg-type]


def _sheets(path: Path, name: str, lang: str, max_unzipped_mb: int, max_file_mb: int,
            max_cells: int, columnar: bool = False) -> Iterator[tuple[str, list[list[Any]] | Sheet]]:
    """`sheets_of`, one sheet at a time: a workbook's sheets are never all held at once."""
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
        if size > max_file_mb * 1024 * 1024:
            raise _fail(lang, name, "too_big", size=size // (1024 * 1024), limit=max_file_mb)
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise _fail(lang, name, "io", error=exc.strerror or type(exc).__name__) from None
    if not head and suffix in WORKBOOK_SUFFIXES:
        raise _fail(lang, name, "empty")
    kind = _sniff(head)
    if kind == "zip":
        fmt, unzipped = _check_zip(path, name, lang, max_unzipped_mb)
        yield from _calamine_grids(path, name, lang, fmt, unzipped, size, max_cells, columnar)
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(lang, name, "io", error=exc.strerror or type(exc).__name__) from None
    if kind == "cfb":
        # Excel encrypts an .xlsx into a compound file holding "EncryptedPackage" (UTF-16 names).
        if "EncryptedPackage".encode("utf-16-le") in data or "EncryptionInfo".encode("utf-16-le") in data:
            raise _fail(lang, name, "password")
        yield from _calamine_grids(path, name, lang, "xls", len(data), size, max_cells)
        return
    try:
        text = _decode_text(data)
    except UnicodeDecodeError as exc:
        if b"\x00" in data[:4096]:
            raise _fail(lang, name, "binary") from None
        raise _fail(lang, name, "encoding", error=_first_line(exc, 80)) from None
    if "\x00" in text:
        raise _fail(lang, name, "binary")
    if _looks_html(text):
        grids = _html_grids(text, name, lang, max_cells)
        if not grids:
            if "urn:schemas-microsoft-com:office:spreadsheet" in text[:8192]:
                raise _fail(lang, name, "xml_2003")
            raise _fail(lang, name, "html_no_table")
        yield from grids
        return
    try:
        grid = _csv_grid(text, name, lang, max_cells)
    except csv.Error as exc:
        raise _fail(lang, name, "csv", error=_first_line(exc)) from None
    yield Path(name).stem, grid


# ---------------------------------------------------------------------------------------------
# classification


def _header_columns(cells: list[Any]) -> dict[int, str]:
    """Column index -> canonical column, the first cell of an alias winning."""
    found: dict[int, str] = {}
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        if cell is None or cell == "":
            continue
        column = ALIASES.get(header_key(nz.text(cell)))
        if column and column not in seen:
            found[i] = column
            seen.add(column)
    return found


def classify(grid: list[list[Any]], file: str, sheet: str, lang: str) -> tuple[str | None, int | None, dict[int, str], str | None, str | None]:
    """(kind, header row index, columns, error code, error message) per SPEC §2.1."""
    scan = grid[:HEADER_SCAN_ROWS]
    for i, cells in enumerate(scan):
        columns = _header_columns(cells)
        present = set(columns.values())
        full = [k.name for k in KINDS.values() if set(k.required) <= present]
        if len(full) == 1:
            return full[0], i, columns, None, None
        if len(full) > 1:
            kinds = " + ".join(kind_name(lang, k) for k in full)
            return None, i, columns, "AMBIGUOUS_SHEET", t(lang, "file.AMBIGUOUS_SHEET", file=file, sheet=sheet, row=i + 1, kinds=kinds)
    for i, cells in enumerate(scan):
        present = set(_header_columns(cells).values())
        best: tuple[int, int, str] | None = None
        for order, k in enumerate(KINDS.values()):
            n = len(set(k.required) & present)
            if n >= 2 and (best is None or (n, -len(k.required)) > (best[0], -len(KINDS[best[2]].required))):
                best = (n, order, k.name)
        if best:
            kind = KINDS[best[2]]
            missing = ", ".join(column_name(lang, c) for c in kind.required if c not in present)
            return None, i, {}, "MISSING_COLUMN", t(lang, "file.MISSING_COLUMN", file=file, sheet=sheet, row=i + 1,
                                                   kind=kind_name(lang, kind.name), missing=missing)
    return None, None, {}, None, None


# ---------------------------------------------------------------------------------------------
# rows


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "phone": nz.phone, "datetime": nz.datetime_value, "date": nz.date_value, "money": nz.money,
    "signed_money": nz.signed_money,
    "attitude": partial(nz.choice, choices=CHOICES["attitude"]), "status": partial(nz.choice, choices=CHOICES["status"])}
_INVALID = {"phone": "INVALID_PHONE", "datetime": "INVALID_DATE", "date": "INVALID_DATE", "money": "INVALID_AMOUNT",
            "signed_money": "INVALID_AMOUNT", "attitude": "INVALID_VALUE", "status": "INVALID_VALUE"}


def _as_read(cell: Any) -> str:
    return nz.text(cell)


def as_read(kind: str, cells: dict[str, Any]) -> tuple[str, ...]:
    """A row's cells as read, as texts in its kind's column order: what SPEC §2.4 compares with
    the rows earlier runs rejected (`intake.rejected_fingerprint`). Made for a rejected row, and
    for a `Row` only when asked: most rows never need it."""
    return tuple(_as_read(cells.get(c)) for c in KINDS[kind].columns)


# Per kind, (column, type) in the order checks run: computed once, not per row.
_PLAN = {name: [(c, column_type(c)) for c in k.columns] for name, k in KINDS.items()}
_REQUIRED = {name: [c for c in k.required if c != "photo"] for name, k in KINDS.items()}


def parse_row(kind: str, cells: dict[str, Any], source: Source, lang: str) -> Row | Problem:
    """One data row -> a clean `Row`, or the first `Problem` in SPEC §2.1's order.

    This runs once per input row (a million for a big ledger), so the common path does no more
    than one parser call per cell; everything a rejection needs is computed only on rejection.
    """

    def problem(column: str, reason: str) -> Problem:
        value = _as_read(cells.get(column))
        manager = (nz.text(cells.get("manager")) or None) if "manager" in KINDS[kind].columns else None
        phone = (nz.text(cells.get("phone")) or None) if "phone" in KINDS[kind].columns else None
        if phone is not None and reason != "INVALID_PHONE":
            try:
                phone = nz.phone(cells.get("phone"))
            except nz.ValueProblem:
                pass
        choices = t(lang, f"choices.{column_type(column)}") if reason == "INVALID_VALUE" else ""
        message = t(lang, f"reason.{reason}", column=column_name(lang, column), value=value, choices=choices)
        return Problem(kind, source, column, value, reason, message, manager, phone, as_read(kind, cells))

    for column in _REQUIRED[kind]:
        # an empty photo is not MISSING_VALUE but the rule rejection NO_PHOTO (SPEC §4.3)
        if nz.is_blank(cells.get(column)):
            return problem(column, "MISSING_VALUE")
    values: dict[str, Any] = {}
    for column, ctype in _PLAN[kind]:
        cell = cells.get(column)
        if ctype == "text":
            values[column] = nz.text(cell)
        elif nz.is_blank(cell):
            values[column] = None
        elif ctype == "role":
            role = ROLE_KEYS.get(header_key(nz.text(cell)))
            if role is None:
                return problem(column, "UNKNOWN_ROLE")
            values[column] = role
        else:
            try:
                values[column] = _PARSERS[ctype](cell)
            except nz.ValueProblem as exc:
                return problem(column, exc.reason)
            except (ArithmeticError, ValueError):
                # A parser that trips over an absurd cell (a 30-digit amount, the last instant of
                # 9999) must not stop the run: the cell is simply not a valid value of its type.
                return problem(column, _INVALID[ctype])
    if kind == "units":
        values["unit_key"] = nz.unit_key(values["unit_name"])
    return Row(kind, source, values, cells)


def _all_empty(cells: list[Any]) -> bool:
    """Every cell empty or white space (SPEC §2.3: such a row is skipped silently)."""
    for c in cells:
        if c is None or c == "":
            continue
        if c.__class__ is not str or nz.text(c):
            return False
    return True


# A caller's way past `parse_row` for rows it only stores (`intake.shortcut`): given a sheet's kind,
# where its columns are ({column: index}), its file and sheet name, a function of one row's cells
# and number that returns the row's stored form, or None to leave the row to `parse_row`; None
# for a kind it does not take.
Shortcut = Callable[[str, dict[str, int], str, str], Callable[[list[Any], int], tuple[Any, ...] | None] | None]


def read_sheet(file: str, sheet: str, index: int, grid: list[list[Any]], lang: str,
               shortcut: Shortcut | None = None) -> Sheet:
    """One sheet's grid classified and parsed. With `shortcut`, the rows it takes are kept in
    `Sheet.stored` only (counted in `released`, in row order), the others parsed as usual."""
    result = Sheet(file, sheet, index)
    kind, header, columns, error, message = classify(grid, file, sheet, lang)
    result.header_row = None if header is None else header + 1
    if error or kind is None:
        result.error, result.message = error, message
        if error is None:
            result.header_row = None
        return result
    result.kind = kind
    wanted = set(KINDS[kind].columns)
    picks = [(i, c) for i, c in columns.items() if c in wanted]
    assert header is not None
    rows, problems = result.rows, result.problems
    width = max(i for i, _ in picks) + 1 if picks else 0
    if kind == "registrations":
        result.registrations = _registrations(grid, header, {c: i for i, c in picks}, width, file, sheet,
                                              lang, problems)
        return result
    quick = shortcut(kind, {c: i for i, c in picks}, file, sheet) if shortcut is not None else None
    stored: list[tuple[Any, ...]] = []
    for r in range(header + 1, len(grid)):
        cells = grid[r]
        if len(cells) < width:
            cells = [*cells, *([None] * (width - len(cells)))]
        if quick is not None:
            form = quick(cells, r + 1)
            if form is not None:
                stored.append(form)
                continue
        if _all_empty(cells):
            continue  # all-empty rows, unknown columns included, are skipped silently
        parsed = parse_row(kind, {c: cells[i] for i, c in picks}, Source(file, sheet, r + 1), lang)
        if isinstance(parsed, Problem):
            problems.append(parsed)
        else:
            rows.append(parsed)
    if stored:
        result.stored, result.released = stored, len(stored)
    if kind == "roster":
        _dedupe_roster(result, lang)
    return result


def _registrations(grid: list[list[Any]], header: int, at: dict[str, int], width: int, file: str, sheet: str,
                   lang: str, problems: list[Problem]) -> Registered:
    """A registrations sheet's rows as columns. A row whose phone is 11 clean digits (text or a
    number cell) and whose time is a date-time cell of whole seconds or a text
    `YYYY-MM-DD HH:MM:SS` (nearly every row of a system's export) takes the short path below; any
    other row goes through `parse_row` like every other kind, so the outcome is the same either
    way (a test checks both paths against each other)."""
    block = Registered()
    ip, ia, ib = at["phone"], at["registered_at"], at["registered_by"]
    ic, inote = at.get("customer"), at.get("note")
    quick_phone, quick_time = nz.quick_phone, nz.quick_time
    text = nz.text
    rows, phones, ats, whos, customers, notes = (block.row, block.phone, block.at, block.who, block.customer,
                                                 block.note)
    for r in range(header + 1, len(grid)):
        cells = grid[r]
        if len(cells) < width:
            cells = [*cells, *([None] * (width - len(cells)))]
        phone, when = quick_phone(cells[ip]), quick_time(cells[ia])
        if phone is not None and when is not None:
            who = text(cells[ib])
            if who:
                rows.append(r + 1)
                phones.append(phone)
                ats.append(when)
                whos.append(who)
                customers.append(text(cells[ic]) if ic is not None else "")
                notes.append(text(cells[inote]) if inote is not None else "")
                continue
        parsed = registration_row(cells, at, Source(file, sheet, r + 1), lang)
        if isinstance(parsed, Problem):
            problems.append(parsed)
        elif parsed is not None:
            block.append(r + 1, parsed.values)
    return block


def registration_row(cells: list[Any], at: dict[str, int], source: Source, lang: str) -> Row | Problem | None:
    """A registrations row the short path left (both readers): None when blank, else `parse_row`'s
    verdict on the cells at `at`."""
    if _all_empty(cells):
        return None
    return parse_row("registrations", {c: cells[i] for c, i in at.items()}, source, lang)


def _dedupe_roster(sheet: Sheet, lang: str) -> None:
    """Names are unique: the first valid row keeps the name, later ones are DUPLICATE_NAME."""
    seen: set[str] = set()
    kept: list[Row] = []
    for row in sheet.rows:
        name = row.values["name"]
        if name in seen:
            sheet.problems.append(Problem(
                "roster", row.source, "name", name, "DUPLICATE_NAME",
                t(lang, "reason.DUPLICATE_NAME", value=name), None, None, as_read(row.kind, row.cells)))
            continue
        seen.add(name)
        kept.append(row)
    sheet.rows = kept
    sheet.problems.sort(key=lambda p: p.source.row)


def read_file(path: Path, name: str | None = None, lang: str = "zh", max_unzipped_mb: int = 2000,
              max_file_mb: int = 200, *, max_cells: int = MAX_CELLS, timeout: float = PROBE_TIMEOUT) -> list[Sheet]:
    """All sheets of one file, classified and parsed in a sandbox worker (`sandbox.py`). Raises
    `FileError` if unreadable, or if the worker dies (the memory ceiling) or takes over `timeout`
    seconds."""
    return _taken(_start_file(path, name or path.name, lang, max_unzipped_mb, max_file_mb, max_cells, timeout))


def read_files(files: list[tuple[Path, str]], lang: str = "zh", max_unzipped_mb: int = 2000,
               max_file_mb: int = 200, *, max_cells: int = MAX_CELLS, parallel: int = 2,
               timeout: float = PROBE_TIMEOUT,
               idle: Callable[[], None] | None = None,
               prepare: Callable[[list[Sheet]], None] | None = None,
               early: Callable[[int, list[Sheet]], None] | None = None,
               shortcut: Shortcut | None = None) -> Generator[list[Sheet]]:
    """`read_file` of each (path, name), in the order given, read `parallel` at a time.

    Workers read files side by side, the largest first (a big ledger is then read while the
    small files are, and stored); the caller takes each file's sheets in order, and the first
    file that cannot be read raises `FileError` there. Workers still at work when the caller
    stops are ended. `idle` runs once, the first time this process waits for the largest file:
    work the caller can do ahead while it would otherwise wait. `prepare` runs on each file's
    sheets where they are read (in the worker): work on the rows the caller would do one file
    at a time, done side by side, and `shortcut` (see `read_sheet`) takes the rows it can before
    they are parsed; both must be picklable (module-level functions, `functools.partial`).
    `early(position, sheets)` gets a file read ahead of its turn as soon as it is back, while
    this process waits for an earlier one (the same sheets are yielded again at the file's turn)."""
    sizes = [_size(path) for path, _ in files]
    waiting = sorted(range(len(files)), key=lambda i: (-sizes[i], i))
    largest = waiting[0] if waiting else -1
    started: dict[int, _Reading | _Here] = {}
    every: list[_Reading | _Here] = []  # closed at the end, whether handed over or not
    told: set[int] = set()  # later files handed to `early`
    sandbox.preload(m for m in map(_module_of, (prepare, shortcut)) if m)

    def start(i: int) -> _Reading | _Here:
        waiting.remove(i)
        path, name = files[i]
        started[i] = reading = _start_file(path, name, lang, max_unzipped_mb, max_file_mb, max_cells, timeout,
                                           prepare, shortcut)
        every.append(reading)
        return reading

    try:
        for i in range(len(files)):
            if i not in started:
                start(i)
            wanted = started[i]
            while not wanted.done() and time.monotonic() < wanted.deadline:
                busy = [r for r in started.values() if not r.done()]
                while waiting and len(busy) < parallel:
                    fresh = start(waiting[0])
                    if not fresh.done():
                        busy.append(fresh)
                if idle is not None and i == largest:
                    idle()  # with the workers started: they read while it runs
                    idle = None
                    continue
                if early is not None:  # after the free slots were given to the next files above
                    ready = [k for k, r in started.items() if k > i and k not in told and r.done()]
                    if ready:
                        told.add(ready[0])
                        with contextlib.suppress(FileError):  # raised again at its turn
                            early(ready[0], _taken(started[ready[0]]))
                        continue
                sandbox.wait([r.job for r in busy if isinstance(r, _Reading)], wanted.deadline)
            yield _taken(started.pop(i))
    finally:
        started.clear()
        for r in every:
            r.close()


def _taken(reading: _Reading | _Here) -> Any:
    """A reading's result, its worker ended once it is taken (it may be asked again)."""
    try:
        return reading.result()
    finally:
        reading.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _module_of(fn: Any) -> str | None:
    return getattr(getattr(fn, "func", fn), "__module__", None) if fn is not None else None


class _Reading:
    """One file read by a sandbox worker; what went wrong there, a `FileError` naming the file."""

    def __init__(self, job: sandbox.Job, name: str, lang: str) -> None:
        self.job, self.name, self.lang = job, name, lang
        self.deadline = job.deadline

    def done(self) -> bool:
        return self.job.done()

    def result(self) -> Any:
        try:
            return self.job.result()
        except FileError:
            raise
        except sandbox.TooSlow:
            raise _fail(self.lang, self.name, "probe_slow", seconds=int(self.job.timeout)) from None
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException:  # noqa: BLE001 - the worker died, or its work failed (MemoryError under the ceiling)
            raise _fail(self.lang, self.name, "probe_died") from None

    def close(self) -> None:
        self.job.close()


class _Here:
    """A file read in this process (a text file when no worker may start: it needs no ceiling),
    or the failure to start one; once, when its result is asked."""

    deadline = float("inf")

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work: Callable[[], Any] | None = work
        self.value: Any = None

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        if self.work is not None:
            work, self.work = self.work, None
            self.value = work()
        return self.value

    def close(self) -> None:
        pass


def _budget(max_unzipped_mb: int, max_file_mb: int, max_cells: int) -> int:
    """A reading worker's memory ceiling from its start: what `_calamine_grids` allows the
    largest file the limits let through (it lowers the ceiling once it knows the file)."""
    return max_cells * (CELL_BYTES + PY_CELL_BYTES) + 2 * (max(max_unzipped_mb, max_file_mb) << 20) + (768 << 20)


def _start(path: Path, name: str, lang: str, timeout: float, memory: int, work: Callable[..., Any],
           *args: Any) -> _Reading | _Here:
    """`work(*args)` (reading one file) begun in a sandbox worker."""
    sandbox.preload(READING_MODULES)  # imported once, in the forkserver, not by each worker
    try:
        return _Reading(sandbox.Job(work, *args, timeout=timeout, memory=memory), name, lang)
    except sandbox.NoWorker as exc:
        try:
            with path.open("rb") as fh:
                if _sniff(fh.read(8)) == "text":
                    return _Here(partial(work, *args))  # a text file needs no ceiling: read it here
        except OSError:
            pass
        return _Here(partial(_raise, _fail(lang, name, "probe_failed", error=str(exc))))


def _raise(error: FileError) -> Any:
    raise error


def _start_file(path: Path, name: str, lang: str, max_unzipped_mb: int, max_file_mb: int, max_cells: int,
                timeout: float, prepare: Callable[[list[Sheet]], None] | None = None,
                shortcut: Shortcut | None = None) -> _Reading | _Here:
    return _start(path, name, lang, timeout, _budget(max_unzipped_mb, max_file_mb, max_cells), read_unguarded,
                  path, name, lang, max_unzipped_mb, max_file_mb, max_cells, prepare, shortcut)


def read_unguarded(path: Path, name: str, lang: str = "zh", max_unzipped_mb: int = 2000, max_file_mb: int = 200,
                   max_cells: int = MAX_CELLS, prepare: Callable[[list[Sheet]], None] | None = None,
                   shortcut: Shortcut | None = None) -> list[Sheet]:
    """`read_file`'s work, in this process, with neither a memory ceiling nor a time limit: what
    a sandbox worker runs (and a test that watches the reading itself)."""
    out = []
    for i, (sheet, grid) in enumerate(_sheets(path, name, lang, max_unzipped_mb, max_file_mb, max_cells,
                                              columnar=True)):
        if isinstance(grid, Sheet):
            grid.index = i
            out.append(grid)
        else:
            out.append(read_sheet(name, sheet, i, grid, lang, shortcut))
    if prepare is not None:
        prepare(out)
    return out



# ---------------------------------------------------------------------------------------------
# the inbox


@dataclass(frozen=True)
class InboxFile:
    path: Path
    name: str
    mtime: float


# The repository's own placeholder that keeps the empty `input/` folder: not the admin's file,
# so skipped without a word (other hidden files get a warning).
PLACEHOLDERS = frozenset({".gitkeep"})


def skip_reason(name: str) -> str | None:
    if name.startswith("~$"):
        return "why.lock"
    if name.startswith("."):
        return "why.hidden"
    if Path(name).suffix.lower() not in READABLE:
        return "why.extension"
    return None


def list_inbox(inbox: Path) -> tuple[list[InboxFile], list[tuple[str, str]]]:
    """Files directly inside the inbox in code-point order, and (name, why key) of those skipped
    (`PLACEHOLDERS` are neither)."""
    files: list[InboxFile] = []
    skipped: list[tuple[str, str]] = []
    if not inbox.is_dir():
        return files, skipped
    for entry in sorted(os.scandir(inbox), key=lambda e: e.name):
        if not entry.is_file() or entry.name in PLACEHOLDERS:
            continue
        why = skip_reason(entry.name)
        if why:
            skipped.append((entry.name, why))
            continue
        files.append(InboxFile(Path(entry.path), entry.name, entry.stat().st_mtime))
    return files, skipped
