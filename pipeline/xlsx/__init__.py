"""xlsx: a small streaming writer of .xlsx files, for the report workbooks.

What it does
    Writes a workbook whose sheets' rows the caller hands over as ready `<row>` XML text, in
    order, in chunks: `Workbook(path, sheet_names, styles, created, level)`, then for each sheet
    `with book.sheet(SheetLayout(...)) as out: out.write(rows_xml)`, then `book.close()`. A
    `SheetLayout` says what the reports need around the rows: column widths, a frozen header
    row, an autofilter, row outline levels, solid data bars. A `StyleTable` turns cell formats
    (xlsxwriter's property names: number format, bold, font size and colour, fill, top/bottom
    border, wrap, vertical alignment) into the `s="…"` indices the rows use. `inline_text`
    makes a cell's string body: every text stays a string (nothing becomes a formula or a
    link), XML's forbidden characters are escaped as Excel reads them (`_xHHHH_`), texts past
    Excel's 32,767 units are cut, a lone surrogate becomes U+FFFD. The same input gives the
    same bytes (fixed timestamps from `created`).

Why it exists
    A big week writes millions of cells (summary.xlsx and ledger.xlsx with ~100,000 rows each,
    500 statements). xlsxwriter spends ~9.5 µs of Python per cell; building the rows as text
    (column by column, or by Arrow's string kernels in `report/excel.py`) costs under 1 µs,
    and the deflate (ISA-L when installed), CRC and file writes run on a helper thread beside
    it. Measured against rustpy-xlsxwriter, pyexcelerate and xlsxwriter's constant-memory mode
    on the big week (bench/RESULTS.md, bench/xlsx_compare.py), none writes the reports'
    sheets as they are (several tables on a sheet, outline levels, styled rows over number
    formats, control characters, over-long texts) at this speed. xlsxwriter stays as the
    tests' reference: tests/test_fastxlsx.py writes the same sheets with both and compares
    what openpyxl reads back.

The public API is what this module exports (`__all__`); `writer` (sheets, styles, the
workbook, the helper thread) and `zipwrite` (the zip container, deflate) are its two parts.
"""

from .writer import (
    AHEAD,
    LEVEL,
    DataBar,
    PageSetup,
    SheetLayout,
    StyleTable,
    Workbook,
    col_name,
    escape_text,
    inline_text,
    is_plain,
    reset_helper,
    wait,
)
from .zipwrite import HAS_ISAL, LIMIT, Library, ZipWriter, zlib_compress

__all__ = [
    "AHEAD", "HAS_ISAL", "LEVEL", "LIMIT", "DataBar", "Library", "PageSetup", "SheetLayout", "StyleTable", "Workbook",
    "ZipWriter", "col_name", "escape_text", "inline_text", "is_plain", "reset_helper", "wait", "zlib_compress",
]
