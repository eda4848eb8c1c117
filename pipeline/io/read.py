"""Read workbooks the way admins make them: find the header, classify, parse each row.

Reading choices, stated once:
- `.xlsx/.xlsm/.xls/.xlsb/.ods` go through python-calamine (Rust), which returns cached values of
  formulas, dates as `datetime`, numbers as `float` (exact for 11-digit phones) and merged cells as
  a value in the top-left cell only. Rows come padded from A1 (`skip_empty_area=False`) so the
  row index + 1 is the row number Excel shows.
- `.csv` is decoded as UTF-8 (BOM or not), else GB18030; every cell is text.
- Every sheet, hidden ones included, is classified alone by its header row (SPEC §2.1).
Problems are returned as data (`Problem`), never raised, except for file-level failures
(`FileError`), which the caller turns into a failed run.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import normalise as nz
from ..schema import ALIASES, KINDS, ROLE_KEYS, column_type, header_key
from ..texts import column_name, kind_name, t

READABLE = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".csv"}
HEADER_SCAN_ROWS = 10


@dataclass(frozen=True)
class Source:
    file: str
    sheet: str
    row: int

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sheet": self.sheet, "row": self.row}


@dataclass(frozen=True)
class Row:
    """A row that passed every reading check: canonical column -> clean value."""

    kind: str
    source: Source
    values: dict[str, Any]
    fingerprint: str  # the row's cells as read, for "equals a row rejected earlier" (SPEC §2.4)


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
    fingerprint: str


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

    @property
    def data_rows(self) -> int:
        return len(self.rows) + len(self.problems)


class FileError(Exception):
    """A file that fails the whole run: its code (SPEC §5.2) and a message a person can act on."""

    def __init__(self, code: str, file: str, message: str, sheet: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.file = file
        self.sheet = sheet
        self.message = message


# ---------------------------------------------------------------------------------------------
# grids: every format becomes a list of sheets of rows of raw cells


def _sniff(data: bytes) -> str:
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "cfb"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"<meta", b"<head")):
        return "html"
    return "text"


def _check_zip(path: Path, name: str, lang: str, max_unzipped_mb: int) -> None:
    """Refuse zip bombs and XML entity bombs before any parser sees the file."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > max_unzipped_mb * 1024 * 1024:
                raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name,
                                detail=f"unpacks to {total // (1024 * 1024)} MB, over the {max_unzipped_mb} MB limit"))
            for info in infos:
                if info.filename.endswith((".xml", ".rels", ".vml")):
                    with zf.open(info) as fh:
                        head = fh.read(4096)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name,
                                        detail=f"{info.filename} declares XML entities, refused as unsafe"))
    except zipfile.BadZipFile as exc:
        raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name,
                        detail=f"damaged or truncated: {exc}")) from None


def _decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _csv_grid(data: bytes) -> list[list[Any]]:
    text = _decode_text(data)
    sample = text[:4096]
    delimiter = ","
    if sample.count("\t") > sample.count(",") and sample.count("\t") > sample.count(";"):
        delimiter = "\t"
    elif sample.count(";") > sample.count(","):
        delimiter = ";"
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _html_grids(data: bytes) -> list[tuple[str, list[list[Any]]]]:
    """Tables of an HTML page (what many systems export as ".xls"), one sheet per <table>."""
    from html.parser import HTMLParser

    class TableParser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.tables: list[list[list[str]]] = []
            self.row: list[str] | None = None
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag == "table":
                self.tables.append([])
            elif tag == "tr" and self.tables:
                self.row = []
            elif tag in ("td", "th") and self.row is not None:
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.row is not None and self.cell is not None:
                self.row.append("".join(self.cell))
                self.cell = None
            elif tag == "tr" and self.row is not None and self.tables:
                self.tables[-1].append(self.row)
                self.row = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = TableParser()
    parser.feed(_decode_text(data))
    return [(f"Table{i + 1}", rows) for i, rows in enumerate(parser.tables)]


def _calamine_grids(path: Path, name: str, lang: str) -> Iterable[tuple[str, list[list[Any]]]]:
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
        metas = wb.sheets_metadata
    except Exception as exc:  # calamine raises its own types per format; all mean "cannot read"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "password" in detail.lower() or "encrypt" in detail.lower():
            detail = "password-protected: remove the password"
        raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name, detail=detail[:200])) from None
    for meta in metas:
        if "WorkSheet" not in str(meta.typ):
            continue
        try:
            grid = wb.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
        except Exception as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name, detail=detail[:200]),
                            sheet=meta.name) from None
        yield meta.name, grid


def sheets_of(path: Path, name: str, lang: str = "zh", max_unzipped_mb: int = 2000,
              max_file_mb: int = 200) -> list[tuple[str, list[list[Any]]]]:
    """Every sheet of a file as (name, rows of raw cells), or `FileError`."""
    try:
        size = path.stat().st_size
        if size > max_file_mb * 1024 * 1024:
            raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name,
                            detail=f"{size // (1024 * 1024)} MB, over the {max_file_mb} MB limit"))
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name, detail=exc.strerror or "I/O error")) from None
    kind = _sniff(head)
    suffix = path.suffix.lower()
    if kind == "zip":
        _check_zip(path, name, lang, max_unzipped_mb)
        return list(_calamine_grids(path, name, lang))
    if kind == "cfb":
        data = path.read_bytes()
        if b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in data:
            raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name,
                            detail="password-protected: remove the password"))
        return list(_calamine_grids(path, name, lang))
    data = path.read_bytes()
    if kind == "html":
        grids = _html_grids(data)
        if not grids:
            raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name,
                            detail="an HTML page without a table"))
        return grids
    if suffix in (".xlsx", ".xlsm", ".xlsb", ".ods") or (suffix == ".xls" and b"\x00" in head):
        # Not a zip at all: truncated, or something else renamed.
        if b"\x00" in head:
            raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name,
                            detail="not a workbook (damaged, truncated or renamed)"))
    try:
        return [(path.stem if suffix == ".csv" else Path(name).stem, _csv_grid(data))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FileError("UNREADABLE", name, t(lang, "file.UNREADABLE", file=name, detail=str(exc)[:200])) from None


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


_PARSERS = {"phone": nz.phone, "datetime": nz.datetime_value, "money": nz.money}


def _as_read(cell: Any) -> str:
    return nz.text(cell)


def parse_row(kind: str, cells: dict[str, Any], source: Source, lang: str) -> Row | Problem:
    """One data row -> a clean `Row`, or the first `Problem` in SPEC §2.1's order."""
    spec = KINDS[kind]
    fingerprint = kind + "\x1f" + "\x1f".join(_as_read(cells.get(c)) for c in spec.columns)
    manager = nz.text(cells.get("manager")) or None if "manager" in spec.columns else None
    raw_phone = nz.text(cells.get("phone")) or None if "phone" in spec.columns else None

    def problem(column: str, reason: str, **extra: Any) -> Problem:
        value = _as_read(cells.get(column))
        phone = raw_phone
        if raw_phone is not None and reason != "INVALID_PHONE":
            try:
                phone = nz.phone(cells.get("phone"))
            except nz.ValueProblem:
                pass
        message = t(lang, f"reason.{reason}", column=column_name(lang, column), value=value, **extra)
        return Problem(kind, source, column, value, reason, message, manager, phone, fingerprint)

    for column in spec.required:
        if column == "photo":
            continue  # an empty photo is the rule rejection NO_PHOTO, not a reading problem
        if nz.is_blank(cells.get(column)):
            return problem(column, "MISSING_VALUE")
    values: dict[str, Any] = {}
    for column in spec.columns:
        cell = cells.get(column)
        ctype = column_type(column)
        if ctype == "text":
            values[column] = nz.text(cell)
            continue
        if nz.is_blank(cell):
            values[column] = None
            continue
        if ctype == "role":
            role = ROLE_KEYS.get(header_key(nz.text(cell)))
            if role is None:
                return problem(column, "UNKNOWN_ROLE")
            values[column] = role
            continue
        try:
            values[column] = _PARSERS[ctype](cell)
        except nz.ValueProblem as exc:
            return problem(column, exc.reason)
    if kind == "units":
        values["unit_key"] = nz.unit_key(values["unit_name"])
    return Row(kind, source, values, fingerprint)


def read_sheet(file: str, sheet: str, index: int, grid: list[list[Any]], lang: str) -> Sheet:
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
    for r in range(header + 1, len(grid)):
        cells = grid[r]
        if all(c is None or (isinstance(c, str) and nz.text(c) == "") for c in cells):
            continue  # all-empty rows, unknown columns included, are skipped silently
        row_cells = {c: (cells[i] if i < len(cells) else None) for i, c in picks}
        parsed = parse_row(kind, row_cells, Source(file, sheet, r + 1), lang)
        if isinstance(parsed, Problem):
            result.problems.append(parsed)
        else:
            result.rows.append(parsed)
    if kind == "roster":
        _dedupe_roster(result, lang)
    return result


def _dedupe_roster(sheet: Sheet, lang: str) -> None:
    """Names are unique: the first valid row keeps the name, later ones are DUPLICATE_NAME."""
    seen: set[str] = set()
    kept: list[Row] = []
    for row in sheet.rows:
        name = row.values["name"]
        if name in seen:
            sheet.problems.append(Problem(
                "roster", row.source, "name", name, "DUPLICATE_NAME",
                t(lang, "reason.DUPLICATE_NAME", value=name), None, None, row.fingerprint))
            continue
        seen.add(name)
        kept.append(row)
    sheet.rows = kept
    sheet.problems.sort(key=lambda p: p.source.row)


def read_file(path: Path, name: str | None = None, lang: str = "zh", max_unzipped_mb: int = 2000,
              max_file_mb: int = 200) -> list[Sheet]:
    """All sheets of one file, classified and parsed. Raises `FileError` if unreadable."""
    name = name or path.name
    return [read_sheet(name, sheet, i, grid, lang)
            for i, (sheet, grid) in enumerate(sheets_of(path, name, lang, max_unzipped_mb, max_file_mb))]


# ---------------------------------------------------------------------------------------------
# the inbox


@dataclass(frozen=True)
class InboxFile:
    path: Path
    name: str
    mtime: float


def skip_reason(name: str) -> str | None:
    if name.startswith("~$"):
        return "why.lock"
    if name.startswith("."):
        return "why.hidden"
    if Path(name).suffix.lower() not in READABLE:
        return "why.extension"
    return None


def list_inbox(inbox: Path) -> tuple[list[InboxFile], list[tuple[str, str]]]:
    """Files directly inside the inbox in code-point order, and (name, why key) of those skipped."""
    files: list[InboxFile] = []
    skipped: list[tuple[str, str]] = []
    if not inbox.is_dir():
        return files, skipped
    for entry in sorted(os.scandir(inbox), key=lambda e: e.name):
        if not entry.is_file():
            continue
        why = skip_reason(entry.name)
        if why:
            skipped.append((entry.name, why))
            continue
        files.append(InboxFile(Path(entry.path), entry.name, entry.stat().st_mtime))
    return files, skipped
