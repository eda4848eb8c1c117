"""A big registrations sheet read as typed columns: fastexcel (calamine into Arrow) instead of
python-calamine's one Python object per cell.

A million-row ledger is most of what a big office's run reads. python-calamine parses it into
owned cells and then into Python lists: measured, 6.4 s for the benchmark's ledger. fastexcel
parses the same XML into Arrow columns in about half that, and the short path's checks (an
11-digit mobile, a time of whole seconds, a registered_by) become column operations.

The outcome must be the one the cell-by-cell reader gives (a test reads the same sheets both
ways), so this path is taken only where that is certain, and returns None otherwise, leaving the
sheet to `read_sheet`:
- an .xlsx sheet whose XML is at least `FAST_SHEET_BYTES` (smaller sheets gain nothing);
- its first row holding a value is a registrations header, and fastexcel's column names are
  exactly that row's text cells (so its rows are where the reader counts them);
- every column has one type (fastexcel's strict mode; a column mixing text and numbers is
  refused), and the known columns have the types the short path knows: phone text or number,
  time a date-time or text, the rest text.
Rows that miss the short path go through `parse_row` with the cells calamine would have given,
in row order, exactly as in `read._registrations`. A rejected row holding a date-time at
midnight sends the whole sheet back to the cell-by-cell reader: calamine gives a date-only
cell as a `date`, and a rejection's fingerprint is made from what it read.
"""

from __future__ import annotations

import html
import posixpath
import re
import sys
import zipfile
from collections.abc import Callable
from datetime import datetime
from datetime import time as dtime
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from .. import normalise as nz
from ..records import Registered
from ..schema import KINDS

FAST_SHEET_BYTES = 8 << 20  # a sheet's XML at least this large (~60,000 rows) is tried here
_PEEK_BYTES = 1 << 20        # the most of a sheet's XML read to find its first row
_MAX_HEADER_STRING = 100_000  # shared-string index beyond which the header is not looked up

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"

_ROW = re.compile(r"<(?:\w+:)?row\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?row>)", re.S)
_CELL = re.compile(r"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_VALUE = re.compile(r"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.S)
_INLINE_T = re.compile(r"<(?:\w+:)?t\b[^>]*>(.*?)</(?:\w+:)?t>", re.S)
_ATTR = re.compile(r'\b(\w+)="([^"]*)"')
_REF = re.compile(r"([A-Z]{1,3})([0-9]+)")


def big_sheets(path: Path) -> dict[str, str]:
    """Sheet name -> its XML part, for the sheets whose XML is at least `FAST_SHEET_BYTES`."""
    try:
        with zipfile.ZipFile(path) as zf:
            sizes = {i.filename: i.file_size for i in zf.infolist()}
            if not any(size >= FAST_SHEET_BYTES for size in sizes.values()):
                return {}
            book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
            rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, OSError, zipfile.BadZipFile, ElementTree.ParseError):
        return {}
    targets = {r.get("Id"): r.get("Target") or "" for r in rels.iter(f"{{{_PKG_REL}}}Relationship")}
    found: dict[str, str] = {}
    for sheet in book.iter(f"{{{_MAIN}}}sheet"):
        target = targets.get(sheet.get(f"{{{_REL}}}id"))
        if not target:
            continue
        part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        name = sheet.get("name")
        if name is not None and sizes.get(part, 0) >= FAST_SHEET_BYTES:
            found[name] = part
    return found


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def first_row(path: Path, part: str) -> tuple[int, dict[int, str]] | None:
    """The sheet's first row holding a value: (its index from 0, {column index: text}), or None
    when it cannot be told for sure from the first MB (no row numbers, a cell that is not text)."""
    with zipfile.ZipFile(path) as zf, zf.open(part) as fh:
        head = fh.read(_PEEK_BYTES).decode("utf-8", "replace")
        for row in _ROW.finditer(head):
            body = row.group(2) or ""
            cells = [(dict(_ATTR.findall(c.group(1))), c.group(2) or "") for c in _CELL.finditer(body)]
            held = [(a, inner) for a, inner in cells if "<v" in inner or "<is" in inner or ":v" in inner]
            if not held:
                continue
            number = dict(_ATTR.findall(row.group(1))).get("r")
            if number is None or not number.isdigit():
                return None
            texts: dict[int, str | int] = {}
            for attrs, inner in held:
                ref = _REF.fullmatch(attrs.get("r", ""))
                if ref is None or ref.group(2) != number:
                    return None
                kind = attrs.get("t", "n")
                if kind == "s":
                    value = _VALUE.search(inner)
                    if value is None or not value.group(1).strip().isdigit():
                        return None
                    texts[_column_number(ref.group(1))] = int(value.group(1))
                elif kind == "inlineStr":
                    texts[_column_number(ref.group(1))] = html.unescape("".join(_INLINE_T.findall(inner)))
                elif kind == "str":
                    value = _VALUE.search(inner)
                    texts[_column_number(ref.group(1))] = html.unescape(value.group(1)) if value else ""
                else:
                    return None  # a number, a boolean or an error in the header: not for this path
            wanted = {v for v in texts.values() if isinstance(v, int)}
            strings = _shared_strings(zf, max(wanted)) if wanted else []
            if wanted and (strings is None or max(wanted) >= len(strings)):
                return None
            return int(number) - 1, {c: (strings[v] if isinstance(v, int) else v)  # type: ignore[index]
                                     for c, v in texts.items()}
    return None


def _shared_strings(zf: zipfile.ZipFile, last: int) -> list[str] | None:
    """The shared strings up to index `last` (rich text joined, phonetic runs left out)."""
    if last > _MAX_HEADER_STRING:
        return None
    try:
        fh = zf.open("xl/sharedStrings.xml")
    except KeyError:
        return None
    strings: list[str] = []
    skip = 0
    with fh:
        for event, element in ElementTree.iterparse(fh, events=("start", "end")):
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "rPh":
                skip += 1 if event == "start" else -1
            elif event == "start" and tag == "si":
                strings.append("")
            elif event == "end" and tag == "t" and not skip and strings:
                strings[-1] += element.text or ""
            elif event == "end" and tag == "si":
                element.clear()
                if len(strings) > last:
                    return strings
    return strings


def load(reader: Any, sheet: str) -> Any:
    """The sheet as fastexcel parses it for `registrations`: every cell typed strictly, the
    whole column deciding its type."""
    return reader.load_sheet_eager(sheet, header_row=0, dtype_coercion="strict", schema_sample_rows=None)


def registrations(path: Path, sheet: str, part: str, reader: Any, file: str, lang: str,
                  max_cells: int, loaded: Callable[[], Any] | None = None) -> Any:
    """The sheet read as a registrations `read.Sheet`, or None when this path is not certain to
    give what the cell-by-cell reader gives (see the module's docstring). A sheet spanning more
    than `max_cells` is left to the other reader too, which refuses it with its message.
    `loaded` gives the parsed sheet (`load`) when it was parsed ahead."""
    from . import read

    found = first_row(path, part)
    if found is None:
        return None
    header_at, header = found
    width = max(header) + 1
    grid: list[list[Any]] = [[] for _ in range(header_at)]
    grid.append([header.get(i, "") for i in range(width)])
    kind, index, columns, error, _message = read.classify(grid, file, sheet, lang)
    if kind != "registrations" or error or index != header_at:
        return None
    try:
        batch = loaded() if loaded is not None else load(reader, sheet)
    except Exception:  # noqa: BLE001 - mixed types, or anything fastexcel refuses: the other reader decides
        return None
    names = list(batch.schema.names)
    named = [j for j, n in enumerate(names) if not n.startswith("__UNNAMED__")]
    if not named:
        return None
    offset = min(header) - named[0]  # sheet column of the batch's first column
    if offset < 0 or (header_at + 1 + batch.num_rows) * (offset + batch.num_columns) > max_cells:
        return None
    if sorted(c - offset for c in header) != named or any(names[c - offset] != t for c, t in header.items()):
        return None
    wanted = set(KINDS["registrations"].columns)
    at = {c: i - offset for i, c in columns.items() if c in wanted}
    result = read.Sheet(file, sheet, 0, kind="registrations", header_row=header_at + 1)
    block = _columns(batch, at, header_at + 2, file, sheet, lang, result.problems)
    if block is None:
        return None
    result.registrations = block
    return result


def _columns(batch: Any, at: dict[str, int], first: int, file: str, sheet: str, lang: str,
             problems: list[Any]) -> Registered | None:
    """`read._registrations` on Arrow columns: the short path as column operations, the other
    rows one by one through `parse_row`. `first` is the row number of the batch's first row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from . import read

    n = batch.num_rows
    phone, when, who = (batch.column(at[c]) for c in ("phone", "registered_at", "registered_by"))
    text_ok = all(batch.column(at[c]).type in (pa.string(), pa.large_string(), pa.null())
                  for c in ("registered_by", "customer", "note") if c in at)
    if not text_ok or when.type not in (pa.string(), pa.timestamp("ms")):
        return None
    if phone.type in (pa.string(), pa.large_string()):
        quick_phone = pc.match_substring_regex(phone, f"^{nz.MOBILE}$")
        phone_text = phone
    elif phone.type == pa.float64():
        quick_phone = pc.and_(pc.and_(pc.greater_equal(phone, float(nz.LOWEST_MOBILE)),
                                      pc.less(phone, float(nz.MOBILE_END))),
                              pc.equal(pc.floor(phone), phone))
        phone_text = pc.cast(pc.cast(phone, pa.int64(), safe=False), pa.string())
    elif phone.type == pa.null():
        quick_phone, phone_text = pa.repeat(pa.scalar(False), n), pa.nulls(n, pa.string())
    else:
        return None
    if when.type == pa.timestamp("ms"):
        seconds = pc.cast(when, pa.timestamp("s"), safe=False)
        quick_when = pc.equal(pc.cast(seconds, pa.timestamp("ms")), when)
        when_text = pc.replace_substring(pc.cast(seconds, pa.string()), " ", "T", max_replacements=1)
    else:
        iso = [nz.quick_time(v) for v in when.to_pylist()]  # text times: the same check as cell by cell
        when_text = pa.array(iso, pa.string())
        quick_when = pc.is_valid(when_text)
    texts = {c: clean_text(batch.column(at[c]), n) if c in at else None for c in ("registered_by", "customer", "note")}
    who_text = texts["registered_by"]
    assert who_text is not None
    quick = pc.fill_null(pc.and_(pc.and_(quick_phone, quick_when), pc.greater(pc.utf8_length(who_text), 0)), False)

    keep = pc.indices_nonzero(quick)
    kept = len(keep)

    def text_of(column: Any) -> Any:
        if column is None:
            return pa.repeat(pa.scalar("", pa.string()), kept)
        return pc.cast(column if kept == n else column.take(keep), pa.string())  # every row kept: no copy

    block = Registered(row=pc.add(pc.cast(keep, pa.int64()), first), phone=text_of(phone_text),
                       at=text_of(when_text), who=text_of(who_text), customer=text_of(texts["customer"]),
                       note=text_of(texts["note"]))
    if kept == n:
        return block

    # The rows the short path left: cell by cell, as calamine would give them (empty is "").
    others = pc.indices_nonzero(pc.invert(quick))
    rest = batch.take(others)
    cells_of = [[("" if v is None else v) for v in rest.column(j).to_pylist()] for j in range(rest.num_columns)]
    slow = Registered()
    for k, i in enumerate(others.to_pylist()):
        cells = [column[k] for column in cells_of]
        parsed = read.registration_row(cells, at, read.Source(file, sheet, first + i), lang)
        if isinstance(parsed, read.Problem):
            when = cells[at["registered_at"]]
            if isinstance(when, datetime) and when.time() == dtime(0):
                return None  # calamine may have read this cell as a date: its fingerprint would differ
            problems.append(parsed)
        elif parsed is not None:
            slow.append(first + i, parsed.values)
    return _merged(block, slow) if len(slow) else block


def clean_text(column: Any, n: int) -> Any:
    """A text column as `nz.text` gives it (NFKC, trimmed; empty for a blank cell): the cells
    that need it go through `nz.text` in Python, the others (nearly all) are kept as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.type == pa.null():
        return pa.repeat(pa.scalar("", pa.string()), n)
    filled = pc.fill_null(column, "")
    # Nearly every name is ASCII and CJK ideographs, which NFKC leaves as they are, with no space
    # at either end: one pattern tells them (0.04 s a million), and normalising every cell to
    # compare (0.1 s) is left to columns that hold something else.
    if pc.all(pc.match_substring_regex(filled, _SIMPLE)).as_py():
        return filled
    space = _white_space()
    care = pc.or_(pc.not_equal(pc.utf8_normalize(filled, "NFKC"), filled),
                  pc.match_substring_regex(filled, f"^{space}|{space}$"))
    if not pc.any(care).as_py():
        return filled
    cleaned = [nz.text(v) for v in pc.filter(filled, care).to_pylist()]
    return pc.replace_with_mask(filled, care, pa.array(cleaned, filled.type))


# A text nz.text leaves as it is: ASCII and CJK unified ideographs (U+4E00-U+9FFF, none of them
# changed by NFKC; the compatibility ideographs are elsewhere), not starting or ending with a space.
_SIMPLE = r"^(?:[\x21-\x7e\x{4e00}-\x{9fff}](?:[\x20-\x7e\x{4e00}-\x{9fff}]*[\x21-\x7e\x{4e00}-\x{9fff}])?)?$"


@cache
def _white_space() -> str:
    """What str.strip() removes (so what nz.text trims), as a regular-expression class."""
    spaces = filter(str.isspace, map(chr, range(sys.maxunicode + 1)))
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in spaces) + "]"


def _merged(a: Registered, b: Registered) -> Registered:
    """Two blocks of one sheet's rows as one, in row order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = ("row", "phone", "at", "who", "customer", "note")
    both = {c: pa.concat_arrays([a.array(c), b.array(c)]) for c in columns}
    order = pc.sort_indices(both["row"])
    return Registered(**{c: both[c].take(order) for c in columns})
