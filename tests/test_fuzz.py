"""Fuzzing the reader: whatever a workbook holds, reading it raises nothing but `FileError`, and
reading the same file twice gives the same sheets, rows and problems.

Bounded (a few dozen examples each, no deadline) so that the suite stays fast.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.io.read import FileError, Problem, Row, Sheet, read_file
from pipeline.schema import ALIASES
from tests.corpus import good_leads

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])

# Text openpyxl can store: no control characters, no lone surrogates.
printable = st.characters(blacklist_categories=("Cc", "Cs"))
texts = st.one_of(
    st.text(printable, max_size=12),
    st.sampled_from(["13800138000", "+86 138-0013-8000", "１３８００１３８０００", "'13800138000", "2026-11-24 14:30",
                     "2026年11月24日", "4,000元", "￥4000.50", "-1", "#N/A", "大客户经理", "销售员", "负责人", " ", "\u3000"]),
    st.text(printable, min_size=1000, max_size=3000),
    st.just("长" * 32_767),  # Excel's longest cell
)
values = st.one_of(
    st.none(), texts, st.booleans(),
    st.integers(-10**15, 10**15), st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31)),
    st.dates(min_value=date(1900, 3, 1)), st.times(),
)
headers = st.one_of(st.sampled_from(sorted(ALIASES)), st.sampled_from(["备注", "序号", "", "Unnamed: 3"]),
                    st.text(printable, max_size=8))


@st.composite
def sheets(draw: st.DrawFn) -> tuple[list[str], list[list[Any]], int]:
    header = draw(st.lists(headers, min_size=1, max_size=9))
    width = len(header) + draw(st.integers(0, 2))
    rows = draw(st.lists(st.lists(values, min_size=0, max_size=width), max_size=12))
    return header, rows, draw(st.integers(0, 3))


def write(path: Path, book: list[tuple[list[str], list[list[Any]], int]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for i, (header, rows, titles) in enumerate(book):
        ws = wb.create_sheet(f"S{i}")
        for t in range(titles):
            ws.append([f"标题 {t}"] if t % 2 == 0 else [])
        ws.append(header)
        for row in rows:
            ws.append([v.isoformat() if isinstance(v, time) else v for v in row])
        if i == 1:
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


def summary(sheets: list[Sheet]) -> list[Any]:
    out: list[Any] = []
    for s in sheets:
        items: list[Row | Problem] = sorted([*s.rows, *s.problems], key=lambda x: x.source.row)
        out.append((s.file, s.sheet, s.kind, s.header_row, s.error, s.message, [
            (x.source.row, x.values) if isinstance(x, Row)
            else (x.source.row, x.reason, x.column, x.value, x.message, x.manager, x.phone) for x in items]))
    return out


def read(path: Path) -> list[Any] | str:
    try:
        return summary(read_file(path))
    except FileError as exc:  # the only exception reading may raise
        assert exc.code == "UNREADABLE" and exc.file == path.name and exc.message
        return f"FileError {exc.message}"


@FUZZ
@given(st.lists(sheets(), min_size=1, max_size=3))
def test_random_workbooks_read_the_same_twice(tmp_path: Path, book: list[tuple[list[str], list[list[Any]], int]]) -> None:
    path = write(tmp_path / "fuzz.xlsx", book)
    first = read(path)
    assert read(path) == first
    if isinstance(first, list):
        assert [s[1] for s in first] == [f"S{i}" for i in range(len(book))]
        for _file, _sheet, kind, header_row, error, _message, items in first:
            assert (kind is None) or (error is None and header_row is not None)
            assert [item[0] for item in items] == sorted({item[0] for item in items})  # one outcome per row


@st.composite
def mangled(draw: st.DrawFn, xml: bytes) -> bytes:
    """`xml` with a few bytes replaced, inserted or cut, and sometimes a reference made huge."""
    data = bytearray(xml)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["replace", "insert", "cut", "ref"]))
        piece = draw(st.sampled_from([b"<", b">", b"\"", b"&", b"&#0;", b"\x00", b"\xff\xfe", b"<c>", b"</row>",
                                      b"<v>1e999</v>", b"t=\"e\"", b"t=\"d\"", b"<!--", b"]]>", b"9" * 12]))
        if how == "replace":
            data[at:at + len(piece)] = piece
        elif how == "insert":
            data[at:at] = piece
        elif how == "cut":
            del data[at:at + draw(st.integers(1, 40))]
        else:
            ref = draw(st.sampled_from([b"XFD1048576", b"A1048576", b"ZZ99999", b"A0", b"AAAA1", b"A99999999999"]))
            spot = data.find(b' r="', at)
            if spot >= 0:
                end = data.find(b'"', spot + 4)
                data[spot + 4:end] = ref
    return bytes(data)


def rezip(source: Path, target: Path, part: str, content: bytes) -> Path:
    """The same package with one part replaced: sizes and checksums right, only the XML wrong."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, content if info.filename == part else src.read(info))
    target.write_bytes(buffer.getvalue())
    return target


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mangled_sheet_xml_never_crashes_the_reader(tmp_path: Path, data: st.DataObject) -> None:
    base = tmp_path / "base.xlsx"
    if not base.exists():
        good_leads(base)
    with zipfile.ZipFile(base) as zf:
        part = data.draw(st.sampled_from([n for n in zf.namelist() if n.endswith(".xml")]))
        xml = zf.read(part)
    path = rezip(base, tmp_path / "mangled.xlsx", part, data.draw(mangled(xml)))
    first = read(path)
    assert read(path) == first
