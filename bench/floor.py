"""The floor: the same inbox parsed by the fastest reader alone, fastexcel, into Arrow.

Every sheet of every workbook of the inbox, header row as the generator wrote it (from
``manifest.json``), typed columns (text, date-time, numbers) in Arrow record batches; nothing else:
no header search, no checks, no rules, no output. No product can read the inbox faster than this.

Usage: python bench/floor.py DATA_DIR week1|week2   (prints the rows and cells read)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import fastexcel


def read_all(folder: Path, header_rows: dict[tuple[str, str], int]) -> tuple[int, int]:
    rows = cells = 0
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.suffix != ".xlsx" or not path.is_file():
            continue
        reader = fastexcel.read_excel(path)
        for sheet in reader.sheet_names:
            batch = reader.load_sheet(sheet, header_row=header_rows.get((path.name, sheet), 0), eager=True)
            rows += batch.num_rows
            cells += batch.num_rows * batch.num_columns
    return rows, cells


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    data, week = Path(sys.argv[1]), sys.argv[2]
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    header_rows = {(f["name"], s["name"]): s["header_row"]
                   for f in manifest["weeks"][week]["files"] for s in f["sheets"]}
    rows, cells = read_all(data / week, header_rows)
    print(json.dumps({"rows": rows, "cells": cells}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
