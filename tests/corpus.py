"""Builders of bad, odd and hostile input files: what admins, web systems and attackers drop in an inbox.

Every builder writes one file and returns its path. Nothing here is read back: the tests decide
what the product must do with each file (tests/test_hostile.py, tests/test_read.py).
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter

from tests.helpers import LEADS, ROSTER, workbook

LEAD_ROWS: list[list[Any]] = [
    ["张伟", "13800138000", datetime(2026, 11, 24, 9, 0), "王先生"],
    ["张伟", "13900139000", datetime(2026, 11, 25, 10, 30), "李女士"],
]


def good_leads(path: Path) -> Path:
    return workbook(path, {"号码": (LEADS, LEAD_ROWS)}, title="诚意客户号码汇总表")


# ---------------------------------------------------------------------------------------------
# broken or disguised containers


def truncated_xlsx(path: Path) -> Path:
    """A real workbook cut in half, as an interrupted copy or download leaves it."""
    good_leads(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def csv_as_xlsx(path: Path) -> Path:
    """A web system's "Excel export" that is really UTF-8 CSV with an .xlsx name."""
    lines = [",".join(LEADS), "张伟,13800138000,2026-11-24 09:00,王先生", "张伟,13900139000,2026/11/25 10:30,李女士"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def html_as_xls(path: Path) -> Path:
    """WPS / a web system's ".xls": an HTML page with a table, in GBK, a title row above the header."""
    rows = "".join(f"<tr>{''.join(f'<td>{c}</td>' for c in r)}</tr>" for r in [
        ["张伟", "13800138000", "2026-11-24 09:00", "王先生&amp;太太"],
        ["张伟", "139 0013 9000", "2026年11月25日 10:30", "李女士"],
    ])
    page = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:x="urn:schemas-microsoft-com:office:excel">'
        '<head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head><body>'
        '<table border="1"><tr><td colspan="4">诚意客户号码汇总表</td></tr>'
        f"<tr>{''.join(f'<th>{h}</th>' for h in LEADS)}</tr>{rows}</table></body></html>"
    )
    path.write_bytes(page.encode("gbk"))
    return path


def _cfb(streams: dict[str, bytes]) -> bytes:
    """A minimal compound file (the OLE2 container of .xls and of encrypted Office files), v3, 512-byte
    sectors, every stream at least 4096 bytes so that no mini stream is needed."""
    sector = 512
    names = list(streams)
    chains: list[tuple[int, int]] = []  # (first sector, size)
    next_free = 2  # sector 0: the FAT, sector 1: the directory
    for name in names:
        size = len(streams[name])
        assert size >= 4096, "streams below the mini stream cutoff need a mini FAT"
        chains.append((next_free, size))
        next_free += -(-size // sector)
    assert next_free <= 128, "one FAT sector maps 128 sectors"
    fat = [0xFFFFFFFF] * 128
    fat[0] = 0xFFFFFFFD  # FATSECT
    fat[1] = 0xFFFFFFFE  # the directory: one sector
    for first, size in chains:
        count = -(-size // sector)
        for i in range(count):
            fat[first + i] = first + i + 1 if i < count - 1 else 0xFFFFFFFE
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", header, 40, 0, 1, 1, 0, 0x1000, 0xFFFFFFFE, 0, 0xFFFFFFFE)
    struct.pack_into("<I", header, 72, 0)
    difat = [0] + [0xFFFFFFFF] * 108
    struct.pack_into("<109I", header, 76, *difat)

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        raw = (name.encode("utf-16-le") + b"\x00\x00") if name else b""
        e = bytearray(128)
        e[0:len(raw)] = raw
        struct.pack_into("<HBB", e, 64, len(raw), kind, 1)
        struct.pack_into("<III", e, 68, left, right, child)
        struct.pack_into("<II", e, 116, start, size)
        return bytes(e)

    none = 0xFFFFFFFF
    directory = entry("Root Entry", 5, none, none, 1, 0xFFFFFFFE, 0)
    # Siblings form a (all black) binary tree ordered by name length, then name: a chain to the right.
    for i, (name, (first, size)) in enumerate(zip(names, chains, strict=True)):
        right = i + 2 if i + 1 < len(names) else none
        directory += entry(name, 2, none, right, none, first, size)
    directory += b"\x00" * (sector - len(directory) % sector if len(directory) % sector else 0)
    assert len(directory) == sector, "one directory sector holds four entries"
    body = b"".join(streams[n] + b"\x00" * (-len(streams[n]) % sector) for n in names)
    return bytes(header) + struct.pack("<128I", *fat) + directory + body


def encrypted_xlsx(path: Path) -> Path:
    """A password-protected workbook as Excel saves it: not a zip but a compound file holding an
    `EncryptionInfo` stream (agile encryption, XML descriptor) and the `EncryptedPackage`."""
    info = struct.pack("<HHI", 4, 4, 0x40) + (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption">'
        b'<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        b'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/>'
        b"</encryption>")
    info += b" " * (4096 - len(info))
    package = struct.pack("<Q", 8000) + bytes((i * 151 + 7) % 256 for i in range(8192 - 8))
    path.write_bytes(_cfb({"EncryptionInfo": info, "EncryptedPackage": package}))
    return path


def garbage_cfb_xls(path: Path) -> Path:
    """A compound file that holds no workbook at all (say, an old .doc renamed .xls)."""
    path.write_bytes(_cfb({"WordDocument": b"\x00" * 4096}))
    return path


def binary_as_xlsx(path: Path) -> Path:
    """A picture sent with the wrong extension."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    return path


def docx_as_xlsx(path: Path) -> Path:
    """A zip that is not a workbook (a Word document renamed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        zf.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="x"><w:body/></w:document>')
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


# ---------------------------------------------------------------------------------------------
# hand-written SpreadsheetML: what no honest writer produces


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)


def inline(ref: str | None, text: str) -> str:
    """One inline-string cell; `ref` None writes it without its `r` attribute (allowed, rare)."""
    r = f' r="{ref}"' if ref else ""
    return f'<c{r} t="inlineStr"><is><t>{text}</t></is></c>'


def header_cells(header: list[str], row: int = 1) -> str:
    return "".join(inline(f"{chr(65 + i)}{row}", h) for i, h in enumerate(header))


def raw_xlsx(path: Path, sheet_data: str, *, dimension: str | None = None, prolog: str = "",
             sheet: str = "Sheet1", pad_mb: int = 0) -> Path:
    """A workbook whose one sheet's <sheetData> is `sheet_data`, written by hand.

    `prolog` goes between the XML declaration and the root (a DOCTYPE, comments); `pad_mb` appends
    that many MB of spaces after the root element (legal XML; deflates ~1000:1), streamed so that
    building a big one costs no memory.
    """
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{prolog}'
           f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dim}'
           f"<sheetData>{sheet_data}</sheetData></worksheet>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK.format(name=sheet))
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=pad_mb > 1000) as fh:
            fh.write(xml.encode("utf-8"))
            block = b" " * (1 << 20)
            for _ in range(pad_mb):
                fh.write(block)
    return path


def roster_sheet_data(extra: str = "") -> str:
    """A tiny valid roster (header and one row), plus `extra` cells/rows after it."""
    return (f'<row r="1">{header_cells(ROSTER[:3])}</row>'
            f'<row r="2">{inline("A2", "李娜")}{inline("B2", "销售员")}{inline("C2", "一组")}</row>{extra}')


def zip_bomb(path: Path, inflated_mb: int) -> Path:
    """A small .xlsx whose sheet inflates to `inflated_mb` MB (honest sizes in the zip directory)."""
    return raw_xlsx(path, roster_sheet_data(), pad_mb=inflated_mb)


def lying_zip_bomb(path: Path, inflated_mb: int) -> Path:
    """The same bomb, but the zip directory declares the sheet as 1 KB: a size check that trusts the
    directory lets it through."""
    zip_bomb(path, inflated_mb)
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name.decode())
        crc = zlib.crc32(zf.read(info)[:1024])
    # The CRC is that of the first 1 KB, so a reader that stops at the declared size sees no damage.
    # local header: CRC at +14, uncompressed size at +22; central directory entry: +16 and +24
    struct.pack_into("<I", data, info.header_offset + 14, crc)
    struct.pack_into("<I", data, info.header_offset + 22, 1024)
    central = [m.start() - 46 for m in re.finditer(re.escape(name), data)
               if data[m.start() - 46:m.start() - 42] == b"PK\x01\x02"]
    assert len(central) == 1
    struct.pack_into("<I", data, central[0] + 16, crc)
    struct.pack_into("<I", data, central[0] + 24, 1024)
    path.write_bytes(bytes(data))
    return path


BILLION_LAUGHS = (
    '<!DOCTYPE worksheet [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)


def entity_bomb(path: Path, late: bool = False) -> Path:
    """Billion laughs in sheet1.xml; `late` hides the DOCTYPE behind 8 KB of comment."""
    prolog = ("<!--" + "x" * 8192 + "-->" if late else "") + BILLION_LAUGHS
    return raw_xlsx(path, f'<row r="1">{header_cells(ROSTER[:3])}</row>'
                          f'<row r="2">{inline("A2", "&lol9;")}{inline("B2", "销售员")}{inline("C2", "一组")}</row>',
                    prolog=prolog)


def far_cell(path: Path, ref: str = "XFD1048576") -> Path:
    """A valid roster plus one cell at the far corner: a reader that allocates the used range
    densely (rows x columns) needs ~550 GB for it."""
    return raw_xlsx(path, roster_sheet_data(f'<row r="{ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}">{inline(ref, "x")}</row>'))


def far_cell_without_refs(path: Path) -> Path:
    """The same corner reached without a single `r` attribute: rows and cells counted one by one."""
    rows = "<row/>" * 200_000
    return raw_xlsx(path, roster_sheet_data(f"{rows}<row>{'<c/>' * 16_000}{inline(None, 'x')}</row>"))


def far_cell_odd_quotes(path: Path) -> Path:
    """The corner cell with its reference in single quotes, which XML allows."""
    return raw_xlsx(path, roster_sheet_data(
        "<row r='1048576'><c r='XFD1048576' t=\"inlineStr\"><is><t>x</t></is></c></row>"))


def huge_dimension(path: Path) -> Path:
    """A sheet that declares A1:XFD1048576 but holds six cells (what some exporters write)."""
    return raw_xlsx(path, roster_sheet_data(), dimension="A1:XFD1048576")


def styled_far_cells(path: Path) -> Path:
    """Empty formatted cells far away (a whole row formatted by hand): no values, nothing to read."""
    return raw_xlsx(path, roster_sheet_data('<row r="60000"><c r="XFD60000" s="1"/></row>'))


def tall_sparse(path: Path, rows: int = 300_000) -> Path:
    """One stray value far below the data: a long but narrow range, fine to read."""
    return raw_xlsx(path, roster_sheet_data(f'<row r="{rows}">{inline(f"B{rows}", " ")}</row>'))


# ---------------------------------------------------------------------------------------------
# honest but awkward workbooks


def headers_only(path: Path) -> Path:
    return workbook(path, {"号码": (LEADS, [])})


def empty_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.save(path)
    return path


def merged_title(path: Path) -> Path:
    """A merged, centred title across the header's width, a blank row, then the header."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "第48周"
    ws["A1"] = "诚意客户号码汇总表（第48周）"
    ws.merge_cells("A1:D1")
    ws.append([])
    ws.append(LEADS)
    for row in LEAD_ROWS:
        ws.append(row)
    ws.merge_cells("D4:D5")  # a merged data cell: the value is in the top cell only
    wb.save(path)
    return path


def formulas(path: Path) -> Path:
    """Formulas with cached values (what Excel saves): the phone built with a formula, a date from DATE()."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("号码")
    when = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    ws.write_row(0, 0, LEADS)
    ws.write_string(1, 0, "张伟")
    ws.write_formula(1, 1, '="138"&"00138000"', None, "13800138000")
    ws.write_formula(1, 2, "=DATE(2026,11,24)+TIME(9,0,0)", when, 46350.375)
    ws.write_formula(1, 3, '=UPPER("wang")', None, "WANG")
    ws.write_string(2, 0, "张伟")
    ws.write_formula(2, 1, "=13900139000", None, 13900139000)
    ws.write_formula(2, 2, "=C2+1", when, 46351.375)
    wb.close()
    return path


def formulas_without_cache(path: Path) -> Path:
    """Formulas written by a library and never opened in Excel: no cached value at all."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "号码"
    ws.append(LEADS)
    ws.append(["张伟", '="13800138000"', "=DATE(2026,11,24)", "王先生"])
    wb.save(path)
    return path


def error_cells(path: Path) -> Path:
    """Formulas whose cached values are errors, one kind of column at a time (Excel's #N/A, #REF!...)."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("成交")
    when = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, ["手机号码", "成交时间", "销售员", "佣金", "房号"])
    rows = [
        # phone, deal_at, salesperson, commission
        (("=NA()", "#N/A"), 46350, "李娜", 4000),            # row 2: phone error
        ("13800138000", ("=Sheet9!A1", "#REF!"), "李娜", 4000),  # row 3: date error
        ("13800138000", 46350, ("=1/0", "#DIV/0!"), 4000),    # row 4: text error
        ("13800138000", 46350, "李娜", ("=VALUE(\"x\")", "#VALUE!")),  # row 5: money error
        (("=NA()", "#N/A"), ("=NA()", "#N/A"), ("=NA()", "#N/A"), ("=NA()", "#N/A")),  # row 6: all errors
        ("13800138000", 46350, "李娜", 4000),                 # row 7: fine
    ]
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, tuple):
                ws.write_formula(r, c, value[0], when if c == 1 else None, value[1])
            elif c == 1:
                ws.write_number(r, c, value, when)
            else:
                ws.write(r, c, value)
    wb.close()
    return path


def date_1904(path: Path) -> Path:
    """A workbook in the 1904 date system (old Mac Excel): serials are 1462 days smaller."""
    wb = xlsxwriter.Workbook(str(path), {"date_1904": True})
    ws = wb.add_worksheet("号码")
    when = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    ws.write_row(0, 0, LEADS)
    for r, (manager, phone, at, customer) in enumerate(LEAD_ROWS, start=1):
        ws.write_string(r, 0, manager)
        ws.write_string(r, 1, phone)
        ws.write_datetime(r, 2, at, when)
        ws.write_string(r, 3, customer)
    wb.close()
    return path


def csv_file(path: Path, encoding: str, bom: bool = False) -> Path:
    text = "\r\n".join([",".join(LEADS), "张伟,13800138000,2026-11-24 09:00,王先生",
                        "张伟,13900139000,2026年11月25日 10:30,李女士"]) + "\r\n"
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def utf16_text_as_xls(path: Path) -> Path:
    """Excel's "Unicode text" (UTF-16 with BOM, tab-separated) saved under an .xls name."""
    text = "\r\n".join(["\t".join(LEADS), "张伟\t13800138000\t2026-11-24 09:00\t王先生"]) + "\r\n"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    return path


def office_lock_file(path: Path) -> Path:
    """What Excel leaves beside an open workbook: `~$name.xlsx`, 165 bytes holding the user's name."""
    user = "admin".encode("utf-16-le")
    path.write_bytes(bytes([len("admin")]) + b"admin".ljust(53, b" ") + user.ljust(111, b"\x00"))
    return path


def xlsx_as_xls(path: Path) -> Path:
    """A real .xlsx saved under an .xls name (WPS and some systems do this)."""
    tmp = path.with_suffix(".tmp.xlsx")
    good_leads(tmp)
    tmp.replace(path)
    return path
