"""Write every output file of one computed week into a folder (SPEC §5).

The run calls `write_week` on a temporary folder and renames it into place only when complete.
Each writer is a function (report, folder) -> None in `WRITERS`, in the order they run; swapping
one output format for another is replacing one entry.

Manager statements are `managers/<stem>.xlsx` and `.html`, where `manager_stems` (in
`context.py`) maps each name to a file-name-safe stem: the name itself when it is safe.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from .. import ledgerstore, xlsx
from ..records import Ledger
from .context import indexed_once, manager_stems
from .excel import write_ledger_xlsx, write_manager_xlsx, write_summary_xlsx
from .html import write_manager_html, write_summary_html
from .model import WeekReport, ledger_csv_size

Writer = Callable[[WeekReport, Path], None]

__all__ = ["WRITERS", "Aside", "Side", "Writer", "Writing", "dump_plan", "indexed_once", "manager_stems", "safe_csv",
           "set_aside", "side_file", "start_week", "statement_paths", "write_week"]


def write_results(report: WeekReport, folder: Path) -> None:
    (folder / "results.json").write_text(results_text(report.results), encoding="utf-8")


def results_text(results: dict[str, Any]) -> str:
    """results.json as people read it in a diff: one top-level key per line, and each entry of
    `managers`, `deals` and `rejections` on a line of its own. (json's own `indent` switches to
    its pure-Python encoder: about a second for a big week's ten thousand entries.)"""
    parts = []
    for key, value in results.items():
        head = f"  {json.dumps(key, ensure_ascii=False)}: "
        if isinstance(value, list) and value:
            body = ",\n".join(["    " + json.dumps(v, ensure_ascii=False) for v in value])
            parts.append(f"{head}[\n{body}\n  ]")
        else:
            parts.append(head + json.dumps(value, ensure_ascii=False))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_followups(report: WeekReport, folder: Path) -> None:
    """followups.json (SPEC §9), always written: empty lists when there is no log."""
    (folder / "followups.json").write_text(results_text(report.followups), encoding="utf-8")


PAYOUT_HEADER = ("week", "name", "team", "email", "commission_visit", "commission_lead", "clawback", "adjustment",
                 "fines", "net")


def write_payout_csv(report: WeekReport, folder: Path) -> None:
    """payout.csv (SPEC §7.7), the file payroll imports: UTF-8 with BOM, this header whatever the
    office's language, one line per manager of results.json `managers` in its order, money as
    there, the email as the roster has it (empty if none). A name, team or email that Excel
    would open as a formula is prefixed with ' like ledger.csv's cells; money never is."""
    import csv

    emails = {p.name: p.email or "" for p in report.roster}
    with (folder / "payout.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(PAYOUT_HEADER)
        for m in report.results["managers"]:
            out.writerow([report.results["week"], safe_csv(m["name"]), safe_csv(m["team"]),
                          safe_csv(emails.get(m["name"], "")), m["commission"]["visit"], m["commission"]["lead"],
                          m["clawback"], m["adjustment"], m["fines"]["total"], m["net"]])


LEDGER_HEADERS = {
    "zh": ["手机号码", "客户", "归属人", "登记时间", "来源", "首次到访"],
    "en": ["phone", "customer", "owner", "registered_at", "source", "first_visit"],
}


def write_ledger_csv(report: WeekReport, folder: Path) -> None:
    """The whole ledger as UTF-8 with BOM, so Excel and WPS open the Chinese intact.

    A CSV, not a sheet: a large office's ledger passes a sheet's 1,048,576 rows. A closed week
    re-renders from the bytes stored when it closed.
    """
    path = folder / "ledger.csv"
    if report.ledger_stored is not None:
        ledgerstore.unpack_to(report.ledger_stored, path)
        return
    with path.open("wb") as fh:
        fh.write(_ledger_header(report).encode("utf-8"))
        if len(report.ledger):
            walked, alone, before = report.ledger.in_runs()
            walked_lines = _csv_lines(walked)
            if not alone.num_rows:
                fh.writelines(_interleaved(walked_lines, _csv_lines(alone), before))
                return
            # The alone rows (a year's million) made into lines a slice at a time, each slice with
            # the walked lines that fall among its rows: the text of the whole ledger is never in
            # memory at once (it was three times the file's size, growing with the history).
            for start in range(0, alone.num_rows, CSV_SLICE):
                stop = min(start + CSV_SLICE, alone.num_rows)
                side = "right" if stop == alone.num_rows else "left"
                first, last = int(before.searchsorted(start, "left")), int(before.searchsorted(stop, side))
                fh.writelines(_interleaved(walked_lines.slice(first, last - first),
                                           _csv_lines(alone.slice(start, stop - start)), before[first:last] - start))


def _ledger_header(report: WeekReport) -> str:
    """ledger.csv's first line: the BOM and the header in the office's language."""
    return "\ufeff" + ",".join(_csv_field(h) for h in LEDGER_HEADERS.get(report.lang, LEDGER_HEADERS["zh"])) + "\r\n"


CSV_SLICE = 131_072  # rows of the ledger made into ledger.csv lines at a time


def _interleaved(walked: Any, alone: Any, before: Any) -> Iterator[memoryview]:
    """The bytes of two runs of lines (`_csv_lines`) merged: walked line i after `before[i]`
    alone lines. The alone lines (a big office's million) go out as slices of their buffer,
    between the walked ones, never copied one by one."""
    walked_data, walked_bounds = _line_buffer(walked)
    alone_data, alone_bounds = _line_buffer(alone)
    start = int(alone_bounds[0])
    cuts = alone_bounds[before].tolist()
    for i, cut in enumerate(cuts):
        yield alone_data[start:cut]
        yield walked_data[int(walked_bounds[i]):int(walked_bounds[i + 1])]
        start = cut
    yield alone_data[start:int(alone_bounds[-1])]


def _line_buffer(lines: Any) -> tuple[memoryview, Any]:
    """A large_string array's data and its lines' offsets into it (numpy, one more than lines)."""
    import numpy

    offsets, data = lines.buffers()[1:3]
    bounds = numpy.frombuffer(offsets, numpy.int64)[lines.offset:lines.offset + len(lines) + 1]
    return (memoryview(data) if data is not None else memoryview(b"")), bounds


def _csv_lines(table: Any) -> Any:
    """The rows as the lines csv.writer writes (minimal quoting, CRLF after each row), one
    large_string each, made by Arrow a column at a time: phones, times, sources and first visits
    never need quoting (they are the pipeline's own text), customers and owners rarely; only the
    cells that need care (`_csv_field`) pass through Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name in table.column_names:
        column = pc.fill_null(table.column(name).combine_chunks(), "")
        care = pc.match_substring_regex(column, _CARE) if name in ("customer", "owner") else None
        if care is not None and pc.any(care).as_py():
            fixed = [_csv_field(v) for v in column.filter(care).to_pylist()]
            column = pc.replace_with_mask(column, care, pa.array(fixed, column.type))
        columns.append(pc.cast(column, pa.large_string()))
    text = pa.large_string()
    # Each line's CRLF goes on its last cell (a short column) before the join, not on the
    # joined lines: one copy of the whole file's text instead of two.
    columns[-1] = pc.binary_join_element_wise(columns[-1], pa.scalar("", text), pa.scalar("\r\n", text))
    return pc.binary_join_element_wise(*columns, pa.scalar(",", text))


# SPEC §5 ("no text from an input may become a formula"), for ledger.csv: a cell holding one of
# `_QUOTED` is quoted, and one starting with one of `_FORMULA_START` (a formula when opened in
# Excel) is prefixed with '. `_CARE` finds both for Arrow (`_csv_lines`); `_csv_field` applies them.
_QUOTED = ',"\r\n'
_FORMULA_START = "=+-@"
_CARE = f"[{_QUOTED}]|^[{_FORMULA_START.replace('-', chr(92) + '-')}]"


def _csv_field(value: str) -> str:
    value = safe_csv(value)
    if any(c in value for c in _QUOTED):
        return '"' + value.replace('"', '""') + '"'
    return value


def safe_csv(value: str) -> str:
    """A CSV cell that Excel would open as a formula, prefixed with ' (shown as text)."""
    return "'" + value if value.startswith(tuple(_FORMULA_START)) else value


WRITERS: list[Writer] = [
    write_results,
    write_followups,
    write_payout_csv,        # payout.csv: one line per manager for payroll
    write_ledger_csv,
    write_summary_xlsx,      # summary.xlsx: team summary, commission, fines, leads, visits, units, rejections, about
    write_summary_html,      # summary.html: the leaders' dashboard
    write_manager_xlsx,      # managers/<stem>.xlsx: each manager's own statement
    write_manager_html,      # managers/<stem>.html
    write_ledger_xlsx,       # ledger.xlsx: the week's new registrations
]

# A big week writes in two processes: this one and a second, forked (it starts at once and
# shares the report without copying it). The work is a list of jobs, the largest first: the
# `JOBS` below, the stored report when asked, then the managers' statements (workbook and page)
# `STATEMENT_STEP` managers a job. Each process takes the next job free (`_Claims`) until
# none is left, so the two finish within one small job of each other however the machine's
# speed varies (a fixed split, measured right on one run, was a second or two off on the next).
# A job runs its writers in order, then what must follow them in the same process:
# "stored_ledger" (ledger.csv compressed for the state, `stored_form`). The child touches neither
# the database nor the lock: it writes files and leaves with os._exit, running no exit handler of
# the parent's. Where there is no fork (Windows), one process runs `WRITERS`. `start_week`
# leaves the jobs of the `ASIDE` writers to a third process of their own (`Aside`), which the
# caller waits for after building the emails from the rest.
JOBS: list[tuple[tuple[Writer, ...], str | None]] = [
    ((write_summary_xlsx, write_summary_html), None),
    ((write_ledger_xlsx,), None),
    ((write_ledger_csv,), "stored_ledger"),
    ((write_results, write_payout_csv, write_followups), None),
]
STATEMENT_WRITERS: tuple[Writer, ...] = (write_manager_xlsx, write_manager_html)
# The ledger's two files, which no email attaches: `start_week` can leave them to a process of
# their own (the jobs of `JOBS` made only of these), so that the emails are built while they are
# written; they need only the head of a stored report (`WeekReport.ledger_part`), so a re-render
# starts that process before it decodes the rest (`set_aside`).
ASIDE: tuple[Writer, ...] = (write_ledger_xlsx, write_ledger_csv)
ASIDE_FROM_BYTES = 4_000_000     # ledger.csv from which `set_aside` starts a process: ~60,000 rows
STATEMENT_STEP = 8               # managers per job: about a tenth of a second of work
PARALLEL_FROM_ROWS = 20_000


class Stored(NamedTuple):
    """What the state keeps of a closed week (`stored_form`)."""

    report: bytes
    # its ledger.csv: whole, or a delta against the week before's (`write_week`'s `previous`)
    ledger: bytes


class Written(NamedTuple):
    stored: Stored | None  # `stored_form`, when asked for


def stored_form(report: WeekReport, folder: Path, previous: ledgerstore.Before | None = None) -> Stored:
    """What the state keeps of a closed week, compressed: the report (for re-rendering) and the
    ledger.csv just written (a re-render writes these bytes back: the ledger is not replayed),
    with `previous` (the week before's ledger.csv) as a delta against that one. A big week makes
    the parts in different processes (`write_week`)."""
    return Stored(report.to_bytes(), _stored_ledger(report, folder, previous))


def _stored_ledger(report: WeekReport, folder: Path, previous: ledgerstore.Before | None) -> bytes:
    """ledger.csv just written as the state keeps it: whole, or a delta against `previous`
    (`ledgerstore.stored_file`), read a few megabytes at a time, so that a year's ledger is not
    held in the writer's memory (mapped whole, its 100 MB of pages counted there)."""
    return ledgerstore.stored_file(folder / "ledger.csv", previous, folder / ".ledger-before.csv")


def _spliced_ledger(report: WeekReport, folder: Path, previous: ledgerstore.Before | None,
                    given: Splice | None = None) -> bytes | None:
    """ledger.csv written from the week before's (`previous`) where this week's ledger is that
    one's rows less the phones named since plus this week's (`Ledger.origin`): the old lines
    copied as they are, the changed ones made and put between them (`ledgerstore.splice`), and
    the stored form made from the same positions (a delta against the week before's, or whole
    every so often: `ledgerstore.whole_due`). None, writing nothing, where that is not so.
    `given`: what `splice_of` made of the ledger (in a process given that instead of the ledger)."""
    splice = given if given is not None else splice_of(report, previous)
    if previous is None or splice is None:
        return None
    return ledgerstore.splice(previous, *splice, folder / "ledger.csv", whole=ledgerstore.whole_due(previous))


class Splice(NamedTuple):
    """What ledger.csv is spliced from beside the week before's (`_spliced_ledger`): a few
    megabytes, where the ledger is a year's rows."""

    header: bytes
    kept: Any      # the old lines' positions (numpy), ascending, or their phones (`ledgerstore.KeptLines`)
    lines: Any     # this week's changed lines (large_string), in phone order
    before: Any    # for each of them, how many kept lines come before it (numpy)


def splice_of(report: WeekReport, previous: ledgerstore.Before | None) -> Splice | None:
    """What `_spliced_ledger` needs of the week's ledger, or None where it cannot splice."""
    origin = report.ledger.origin
    if previous is None or origin is None or report.ledger_stored is not None:
        return None
    walked, alone, before = report.ledger.walked_runs()  # the rows the week before's lines give: not read
    if alone != len(origin[1]):
        return None
    import pyarrow as pa

    lines = _csv_lines(walked) if walked.num_rows else pa.array([], pa.large_string())
    return Splice(_ledger_header(report).encode("utf-8"), origin[1], lines, before)


UNSPLICED = "unspliced"  # what a process given a `Splice` returns when it does not apply


class _Claims:
    """Jobs (their positions in a `_Plan`) handed to whichever process asks first. The next
    position lives in shared memory, behind its lock, given to the writer's process as it starts."""

    def __init__(self, total: int) -> None:
        context = writers_context()
        assert context is not None
        self.total = total
        self._next = context.Value("q", 0)

    def take(self) -> int | None:
        with self._next.get_lock():
            job = int(self._next.value)
            if job >= self.total:
                return None
            self._next.value = job + 1
        return job


class _Plan:
    """The jobs of a big week (see `JOBS`): the fixed ones, the stored report when asked, then
    the statements in runs of `STATEMENT_STEP` managers. A plan of the `ASIDE` jobs alone (`aside`)
    or of all but them (`others`) is a part of it."""

    def __init__(self, report: WeekReport, folder: Path, store: bool, part: str = "all",
                 previous: ledgerstore.Before | None = None) -> None:
        self.report, self.folder, self.store, self.previous = report, folder, store, previous
        self.splice: Splice | None = None  # given instead of the ledger (`Aside`): ledger.csv spliced from it
        fixed = [job for job in JOBS if part == "all" or (set(job[0]) <= set(ASIDE)) == (part == "aside")]
        self.fixed = [*fixed, *([((), "stored_report")] if store and part != "aside" else [])]
        managers = len(report.results["managers"]) if part != "aside" else 0
        self.runs = [(a, min(managers, a + STATEMENT_STEP)) for a in range(0, managers, STATEMENT_STEP)]

    def __len__(self) -> int:
        return len(self.fixed) + len(self.runs)

    def run(self, job: int) -> Any:
        report, folder = self.report, self.folder
        if job >= len(self.fixed):
            span = self.runs[job - len(self.fixed)]
            write_manager_xlsx(report, folder, span, wait=False)  # compressed beside the pages
            write_manager_html(report, folder, span)
            xlsx.wait()
            return None
        writers, follow = self.fixed[job]
        if follow == "stored_ledger" and self.store and writers == (write_ledger_csv,):
            spliced = _spliced_ledger(report, folder, self.previous, self.splice)
            if spliced is not None:
                return spliced
            if self.splice is not None:
                return UNSPLICED  # this process has no ledger: the caller's writes ledger.csv
        for writer in writers:
            writer(report, folder)
        xlsx.wait()
        if follow == "stored_ledger" and self.store:
            return _stored_ledger(report, folder, self.previous)
        if follow == "stored_report":
            return report.to_bytes()
        return None

    def follow(self, done: dict[int, Any], name: str) -> Any:
        """What the fixed job followed by `name` returned (None without one)."""
        return next((done.get(i) for i, (_, follow) in enumerate(self.fixed) if follow == name), None)


def _work(plan: _Plan, claims: _Claims) -> dict[int, Any]:
    """The jobs this process takes, run: {job: what it returned}."""
    done = {}
    while (job := claims.take()) is not None:
        done[job] = plan.run(job)
    return done


_FORKED = [False]  # `forked_writers`: the writers forked from this process, not started from the forkserver


@contextmanager
def forked_writers() -> Iterator[None]:
    """The writers and email builders started inside forked from this process, where it holds
    little (a re-render: the stored week decoded, some 400 MB at the big office's size): a fork
    is handed the report for nothing, while a writer started from the forkserver is given it
    pickled (92,000 leads: a second or more of a re-render)."""
    _FORKED[0] = True
    try:
        yield
    finally:
        _FORKED[0] = False


def writers_context() -> Any | None:
    """Where a big week's writers start: from the forkserver (`cli` starts it as the run begins,
    with the writers' modules imported), given the data they need, not forked from this process:
    a fork starts with all of this process's memory (by the reports, a year's ledger and what
    the replay left: 650 MB on a quarter of the big office after a year), and each writer's
    memory is what the machine must hold at once; forked within `forked_writers`. None where
    there is no forkserver (Windows, macOS's spawn would import everything again for each
    writer): one process writes the week."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork" if _FORKED[0] else "forkserver")



def _for_writer(plan: _Plan) -> _Plan:
    """`plan` as a writer of the jobs of `JOBS` but the ledger's gets it (pickled into its
    process): the report without its ledger (a year's rows, tens of MB of columns) nor the week
    before's ledger.csv, which only `ASIDE` writes."""
    import copy

    light = copy.copy(plan)
    light.report, light.previous = plan.report.without_ledger(), None
    return light


def _release_arrow_memory() -> None:
    """What Arrow's allocator keeps of memory let go, given back to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def side_file(folder: Path, name: str) -> Path:
    """Where a writer's process leaves what its jobs returned (pickled), beside the week's outputs."""
    return folder / f".side-{os.getpid()}-{name}.pickle"


def _side_main(given: _Plan | Path, claims: _Claims, passed: Path, errors: Any) -> None:  # pragma: no cover - a child
    """A writer's process (`Side`): its plan (or read from the file `given`, pickled there by
    the caller, which goes on with its own jobs meanwhile), the jobs it takes, their results
    pickled into `passed`; its error, if any, back through `errors` as text, and exit status 1."""
    import sys

    try:
        xlsx.reset_helper()
        with gc_paused():
            if isinstance(given, Path):
                with given.open("rb") as fh:
                    plan: _Plan = pickle.load(fh)  # pickled by the caller just now
                given.unlink()
            else:
                plan = given
            with indexed_once():
                passed.write_bytes(pickle.dumps(_work(plan, claims), pickle.HIGHEST_PROTOCOL))
    except BaseException:  # noqa: BLE001 - everything goes back to the parent as text
        errors.send_bytes(traceback.format_exc()[-4000:].encode("utf-8", "replace"))
        errors.close()
        sys.exit(1)
    errors.close()


def dump_plan(plan: _Plan, fh: Any) -> None:
    """`plan` pickled into the open file `fh` for a writer's process, without pickle's memo
    (`Pickler.fast`): a big week's report is a tree of some hundred thousand strings and numbers
    with nothing shared or cyclic, and the memo's bookkeeping was most of the second writer's
    start, which the run waits for (measured on the big office's week: 0.27-0.30 s with it,
    0.10-0.12 s without, for 29.5 MB and 0.1 MB more). A plan the fast mode refuses (a cycle:
    `ValueError`) is pickled the usual way."""
    pickler = pickle.Pickler(fh, pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    try:
        pickler.dump(plan)
    except ValueError:
        fh.seek(0)
        fh.truncate()
        pickle.dump(plan, fh, pickle.HIGHEST_PROTOCOL)


class Side:
    """A writer of its own process (the second, or the third of `Aside`), started from the
    forkserver (`writers_context`) with its plan pickled (the report without the ledger unless it
    writes the ledger's files: `_for_writer`) into a file beside the week's outputs, which it
    reads as it starts: given through the start's pipe, this process waited while the writer
    read and loaded it (a big week's report: half a second). Its process, and a pipe that
    carries its error, if any. What its jobs returned comes back pickled in a file beside the
    week's outputs."""

    def __init__(self, plan: _Plan, claims: _Claims, name: str = "second") -> None:
        context = writers_context()
        assert context is not None
        self.name, self.claims = name, claims
        self.passed = side_file(plan.folder, name)
        self.given = plan.folder / f".side-{os.getpid()}-{name}-plan.pickle"  # what it is given
        given: _Plan | Path = plan
        if context.get_start_method() != "fork":  # a forked writer has it already
            with self.given.open("wb") as fh:
                dump_plan(plan, fh)
            given = self.given
        self.reader, writer = context.Pipe(duplex=False)
        self.process = context.Process(target=_side_main, args=(given, claims, self.passed, writer),
                                       name=f"report writer ({name})")
        try:
            self.process.start()
        except BaseException:
            self.given.unlink(missing_ok=True)
            raise
        finally:
            writer.close()

    def result(self) -> dict[int, Any]:
        """Wait for the process and return what its jobs returned; its failure raises here with
        its traceback's last line."""
        try:
            error = self.reader.recv_bytes()
        except EOFError:
            error = b""
        finally:
            self.reader.close()
        self.process.join()
        status = self.process.exitcode
        self.process.close()
        self.given.unlink(missing_ok=True)  # a writer that failed before it read it
        if status != 0:
            detail = error.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(f"the {self.name} report writer failed: " + (detail[-1] if detail else f"status {status}"))
        try:
            passed: dict[int, Any] = pickle.loads(self.passed.read_bytes())
            return passed  # written by our own child just now
        finally:
            self.passed.unlink()


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection in the block. A big week holds millions of objects (the
    ledger's strings, the week's rows), and CPython's collector walks all of them every time
    enough new containers were made: measured, a fifth of a big week's run time and of its
    writing time, to find nothing (the run makes no reference cycles worth collecting). Objects
    are still freed as soon as nothing refers to them; the collector runs again after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def statement_paths(report: WeekReport, folder: Path) -> dict[str, tuple[Path, Path]]:
    """Each manager's statement files under `folder`: name -> (xlsx, html)."""
    stems = manager_stems(report.manager_names())
    return {name: (folder / "managers" / f"{stem}.xlsx", folder / "managers" / f"{stem}.html")
            for name, stem in stems.items()}


def write_week(report: WeekReport, folder: Path, parallel: bool | None = None, store: bool = False,
               previous: ledgerstore.Before | None = None) -> Written:
    """Run every writer into `folder`. With `parallel`, in two processes (see `JOBS`); without,
    in this one; by default, two from `PARALLEL_FROM_ROWS` rows of leads, new registrations and
    rejections. With `store`, the week's `stored_form` comes back too (with `previous`, the
    week before's ledger.csv, this week's as a delta against it)."""
    return start_week(report, folder, parallel, store, aside=False, previous=previous).wait()


class Aside:
    """The process writing a re-rendered week's `ASIDE` files (`set_aside`), started from the
    forkserver with what they need (`WeekReport.ledger_part`: the head, the new registrations
    and the stored ledger.csv); with `store`, it also makes the stored form of the ledger.csv it
    wrote, against `previous` (the week before's ledger.csv: `_stored_ledger`)."""

    def __init__(self, report: WeekReport, folder: Path, store: bool = False,
                 previous: ledgerstore.Before | None = None, splice: Splice | None = None) -> None:
        self.plan = _Plan(report, folder, store, "aside", previous)
        self.plan.splice = splice
        self.side = Side(self.plan, _Claims(len(self.plan)), "third")
        self._ledger: tuple[bytes | str | None] | None = None

    def result(self) -> bytes | str | None:
        """Wait for it (once); the stored ledger, when asked for (`UNSPLICED` from a process given
        a `Splice` that did not apply)."""
        if self._ledger is None:
            self._ledger = (self.plan.follow(self.side.result(), "stored_ledger"),)
        return self._ledger[0]

    def abandon(self) -> None:
        """Wait for it without taking its result: the caller is failing anyway."""
        try:
            self.result()
        except RuntimeError:
            self._ledger = (None,)


def set_aside(part: WeekReport | None, folder: Path) -> Aside | None:
    """A process started now that writes the `ASIDE` files of `part` (`WeekReport.ledger_part`
    of a stored week: its head, its new registrations and its stored ledger) into `folder`,
    for `start_week` to take; None when `part` is None, its ledger.csv is under
    `ASIDE_FROM_BYTES` or there is no forkserver (`start_week` writes them then)."""
    if part is None or part.ledger_stored is None or writers_context() is None:
        return None
    if ledger_csv_size(part.ledger_stored) < ASIDE_FROM_BYTES:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    with gc_paused():
        return Aside(part, folder)


class Writing:
    """A week's folder being written: what `start_week` left to a process of its own, or to this
    one (`run_here`), is done when `wait` returns (or raises that process's error)."""

    def __init__(self, plan: _Plan | None, done: dict[int, Any], aside: Aside | None = None,
                 stored: Stored | None = None, here: _Plan | None = None) -> None:
        self._plan, self._done, self._aside, self._stored = plan, done, aside, stored
        self._here = here
        self._here_ledger: bytes | str | None = None

    def run_here(self) -> None:
        """The ledger's files `start_week` left to this process, written now (the caller runs
        this while other processes build the emails from the rest); `wait` runs them if not yet."""
        if self._here is None:
            return
        here, self._here = self._here, None
        with gc_paused(), indexed_once():
            done = {job: here.run(job) for job in range(len(here))}
        self._here_ledger = here.follow(done, "stored_ledger")

    def wait(self) -> Written:
        self.run_here()
        aside_ledger = self._here_ledger
        if self._aside is not None:
            aside, self._aside = self._aside, None
            aside_ledger = aside.result()
        if self._plan is None:
            return Written(self._stored)
        plan = self._plan
        if not plan.store:
            return Written(None)
        if aside_ledger == UNSPLICED:  # the week before's file was not what its positions are of
            if plan.report.ledger.origin is None and not len(plan.report.ledger):  # let go (`ledgerstore.splices`)
                raise RuntimeError("ledger.csv could not be made from the week before's: "
                                   "the run fails rather than write it from a ledger it let go")
            write_ledger_csv(plan.report, plan.folder)
            aside_ledger = _stored_ledger(plan.report, plan.folder, plan.previous)
        ledger: Any = plan.follow(self._done, "stored_ledger") or aside_ledger
        if ledger is None:   # written by a process set aside without being asked to store it
            ledger = _stored_ledger(plan.report, plan.folder, plan.previous)
        return Written(Stored(plan.follow(self._done, "stored_report"), ledger))

    def abandon(self) -> None:
        """Wait for the process of its own without taking its result, and leave what was left
        to this one unwritten: the caller is failing."""
        self._here = None
        if self._aside is not None:
            aside, self._aside = self._aside, None
            aside.abandon()


def start_week(report: WeekReport, folder: Path, parallel: bool | None = None, store: bool = False,
               aside: bool | Aside | None = True, previous: ledgerstore.Before | None = None,
               let_go: bool = False) -> Writing:
    """`write_week`, but a big week's `ASIDE` files are left to be written while the caller
    builds the emails from the others: by the process `set_aside` started (`aside`), or else by
    this one when the caller runs `Writing.run_here` (or `wait`), which holds the ledger they
    are written from (no other process is given it). `Writing.wait` returns what `write_week`
    returns. With `aside` False (or None: `set_aside` started none) the files are written before
    this returns. `previous`: as `write_week`'s (made a delta where ledger.csv is written).
    With `let_go`, the report's ledger (a year's rows) is let go (`report.ledger` emptied) as
    soon as it is not needed: when ledger.csv is spliced by a process of its own, the splice
    checked to apply (`ledgerstore.splices`) before this process writes its share of the rest."""
    given = aside if isinstance(aside, Aside) else None
    try:
        return _start_week(report, folder, parallel, store, aside is True, given, previous, let_go)
    except BaseException:
        if given is not None:
            given.abandon()
        raise


def _splice_aside(report: WeekReport, folder: Path, store: bool, previous: ledgerstore.Before | None,
                  let_go: bool) -> Aside | None:
    """The third process that splices ledger.csv from the week before's (`Aside`, given the
    `Splice`'s few megabytes and the new registrations for ledger.xlsx, not the ledger),
    started; None where this process writes the ledger's files from the ledger instead."""
    splice = splice_of(report, previous)
    if splice is None:
        return None
    # Kept lines given by their phones (`ledgerstore.KeptLines`) are found where the file is
    # spliced, and a week before's file resolved from the state's chain (its folder not as it
    # wrote it) is read there: the ledger is kept here, to write it from should they not be there.
    found_there = isinstance(splice.kept, ledgerstore.KeptLines) or (previous is not None and previous.resolves)
    if let_go and not found_there:
        if not (previous is not None and ledgerstore.splices(previous, splice.header, splice.kept)):
            return None  # not the file its positions are of: written here from the ledger
        report.ledger = Ledger()  # nothing here needs it any more: the run holds less meanwhile
        _release_arrow_memory()
    return Aside(report.ledger_head(), folder, store, previous, splice)


def _start_week(report: WeekReport, folder: Path, parallel: bool | None, store: bool, leave_here: bool,
                given: Aside | None, previous: ledgerstore.Before | None, let_go: bool = False) -> Writing:
    folder.mkdir(parents=True, exist_ok=True)
    if parallel is None:
        # the new registrations counted last: a stored week's are decoded when first used
        rows = len(report.leads) + len(report.results["rejections"])
        parallel = rows >= PARALLEL_FROM_ROWS or rows + len(report.new_registrations) >= PARALLEL_FROM_ROWS
    with gc_paused(), indexed_once():
        if not parallel or writers_context() is None:
            for writer in WRITERS:
                if given is None or writer not in ASIDE:
                    writer(report, folder)
            if given is not None:
                given.result()   # its files written (stored_form reads ledger.csv)
            return Writing(None, {}, stored=stored_form(report, folder, previous) if store else None)
        # The second process writes the jobs of `JOBS` but the ledger's, from the report without
        # the ledger; this one shares them with it, and writes the ledger's files (it holds the
        # ledger) first, or when the caller asks (`leave_here`), unless `given` writes them.
        plan = _Plan(report, folder, store, "others", previous)
        claims = _Claims(len(plan))
        # The second process starts first, and takes jobs while this one works out whether
        # ledger.csv is spliced (a year's ledger: a few tenths of a second with a core idle).
        side = Side(_for_writer(plan), claims)
        started: Aside | None = None
        done: dict[int, Any] = {}
        try:
            try:
                if leave_here and store and given is None:
                    given = started = _splice_aside(report, folder, store, previous, let_go)
                writing = Writing(plan, {}, given, here=None if given is not None else _Plan(report, folder, store,
                                                                                                "aside", previous))
                if not leave_here:
                    writing.run_here()
                done = _work(plan, claims)
            finally:
                done.update(side.result())
        except BaseException:
            if started is not None:
                started.abandon()  # the third process started here (the caller's is abandoned by it)
            raise
        writing._done = done
        return writing
