"""`pipeline validate`: classify each sheet and list its row problems, judging rows alone.

No roster, no history, no state: only the reading reasons of SPEC §5.2 can appear.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .io.read import FileError, Problem, Sheet, read_file


def _problem(p: Problem) -> dict[str, Any]:
    return {"row": p.source.row, "column": p.column, "value": p.value, "reason": p.reason, "message": p.message}


def _sheet(s: Sheet) -> dict[str, Any]:
    return {
        "file": s.file,
        "sheet": s.sheet,
        "kind": s.kind,
        "header_row": s.header_row,
        "rows": s.data_rows,
        "error": s.error,
        "message": s.message,
        "problems": [_problem(p) for p in sorted(s.problems, key=lambda p: p.source.row)],
    }


def validate_files(paths: list[Path], lang: str = "zh", max_unzipped_mb: int = 2000,
                   max_file_mb: int = 200) -> tuple[list[dict[str, Any]], bool]:
    """One report per sheet (a file that cannot be read is one entry with `error`), and whether
    everything was readable and complete."""
    reports: list[dict[str, Any]] = []
    ok = True
    for path in paths:
        try:
            sheets = read_file(path, path.name, lang, max_unzipped_mb, max_file_mb)
        except FileError as exc:
            ok = False
            reports.append({"file": path.name, "sheet": exc.sheet, "kind": None, "header_row": None, "rows": 0,
                            "error": exc.code, "message": exc.message, "problems": []})
            continue
        for s in sheets:
            if s.error:
                ok = False
            reports.append(_sheet(s))
    return reports, ok
