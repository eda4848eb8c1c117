"""`pipeline run`: the weekly job, as an ordered list of steps around the pure rules.

lock → choose weeks → read inbox → store rows (one transaction) → back the state up (a thread)
→ replay → assess → write each week's outputs to a temporary folder and rename it into place (the
replay's snapshot encoded meanwhile, a thread) → commit → move the inputs to
`INBOX/archive/<run>/` → send mail. A failure before the commit rolls back and moves nothing; a
crash after it is finished by the next run (pending moves are part of the committed state).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from . import ledgerstore, mail, rendered
from .config import Config
from .intake import Intake, prepare, shortcut
from .io import sandbox
from .io.read import FileError, InboxFile, Sheet, list_inbox, read_files
from .periods import LogReview, Period, PeriodResults, closed_by, log_review
from .periods import build as build_period
from .records import Event, KeptRows, Ledger, Person
from .report.context import index_week
from .report.html import prepare_templates
from .report.model import TREND_WEEKS, Lead, Registrations, RunInfo, Unit, Visit, WeekReport
from .report.period import PeriodReport, write_period
from .report.write import Aside, Stored, forked_writers, gc_paused, indexed_once, set_aside, start_week
from .results import Corrections, FollowUps, Rejection, Stats, WeekResults, corrections_by_manager
from .rules.assess import assess
from .rules.followups import WeekFollowUps, followups
from .rules.replay import (
    CARRIED_READ,
    CARRIED_VERSION,
    Carried,
    Landings,
    Owner,
    WeekOutcome,
    release_arrow_memory,
    replay,
    roster_view,
    stores_whole_again,
)
from .state import (
    BackingUp,
    State,
    StateError,
    encode_snapshot,
    find_backup,
    open_state,
    prune_backups,
    restore_backup,
    state_exists,
    whole_ledger,
    whole_ledger_into,
)
from .texts import t
from .weeks import NotComputable, Week, choose_weeks, history_start, late_range

Echo = Callable[[str], None]


class RunFailed(Exception):
    """The run failed and changed nothing (exit 1); `todo` says what to do, when the failure
    has its own advice (told to `mail.admin_to` with the error)."""

    def __init__(self, message: str, todo: str = "") -> None:
        super().__init__(message)
        self.todo = todo


class RunRefused(Exception):
    """Bad usage: the run cannot do what was asked (exit 2)."""


class Locked(Exception):
    """Another run holds the office's lock (exit 75)."""


@dataclass(frozen=True)
class RunOptions:
    inbox: Path
    out: Path
    state: Path
    now: datetime
    week: Week | None = None
    dry_run: bool = False
    force: bool = False
    send: bool = False
    full_replay: bool = False  # replay the whole history, not from a snapshot (the reference)


@dataclass
class RunResult:
    run_id: str
    weeks: list[str] = field(default_factory=list)
    rerendered: str | None = None
    kept: bool = False  # the re-rendered week's folder was still as written, and kept (`rendered`)
    stats: dict[str, int] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    mail_failures: list[tuple[str, str, str]] = field(default_factory=list)
    mail_sent: int = 0
    replay_from: str | None = None  # the closed week whose snapshot the replay started from
    periods: list[str] = field(default_factory=list)  # the months and quarters whose folders were written


def progress(items: list[Any], label: str) -> Any:
    """A progress bar on an interactive terminal; under cron (no terminal) the items unchanged."""
    import sys

    if not sys.stderr.isatty() or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="file", leave=False)


def _crash_point(name: str) -> None:
    """Fault injection for the crash tests: PIPELINE_CRASH_AT=<step> kills the process there."""
    if os.environ.get("PIPELINE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# lock


@contextmanager
def state_lock(folder: Path) -> Iterator[None]:
    """One run per state folder. flock is released by the OS if the process dies: no stale lock."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lock"
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise Locked(f"another run holds the lock on {folder}: {holder}") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now().isoformat(timespec='seconds')}\n")
        fh.flush()
        yield
    finally:
        fh.seek(0)
        fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


@contextmanager
def office_lock(folder: Path, config: Config) -> Iterator[None]:
    """One run per office: the state folder's lock (`state_lock`), or with a database server
    (`[state] url`) the office's lock on the server, whichever machine the run is on. The state
    folder is made either way: it keeps the run logs."""
    if not config.state.url:
        with state_lock(folder):
            yield
        return
    from .postgres import OfficeLocked
    from .postgres import office_lock as server_lock

    folder.mkdir(parents=True, exist_ok=True)
    held = server_lock(config.state.url, config.office)
    try:
        held.__enter__()
    except OfficeLocked as exc:
        raise Locked(str(exc)) from None
    except StateError as exc:
        raise RunFailed(str(exc)) from None
    try:
        yield
    finally:
        held.__exit__(None, None, None)


def open_office_state(folder: Path, config: Config, create: bool = True, check: bool = True) -> State:
    """The office's state, in the engine the configuration names (`state.open_state`)."""
    return open_state(folder, config.state.url, config.office, create, check)


def has_state(folder: Path, config: Config) -> bool:
    try:
        return state_exists(folder, config.state.url, config.office)
    except StateError as exc:
        raise RunFailed(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class Inbox:
    files: list[InboxFile]
    sha: dict[str, str]
    sheets: list[Sheet]
    skipped: list[tuple[str, str]]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_inbox(inbox: Path, config: Config, echo: Echo, wall_now: float,
               on_file: Callable[[int, list[Sheet]], None] | None = None,
               idle: Callable[[], None] | None = None,
               early: Callable[[int, list[Sheet]], None] | None = None,
               late_range: tuple[str, str] | None = None,
               prefixes: dict[tuple[str, str], tuple[int, bytes]] | None = None) -> Inbox:
    """Read every file of the inbox; `on_file(position, sheets)` takes each file's sheets in
    order as soon as they are read (the run stores them and lets their rows go, so a big ledger
    is never held whole); `idle` runs while the run waits for the largest file, and `early`
    gets a file read ahead of an earlier one (`read_files`). `prefixes`: what earlier runs read
    of each registrations sheet (`State.sheet_prefixes`), left out where the sheet is read."""
    files, skipped = list_inbox(inbox)
    settle = config.limits.settle_seconds
    if settle:
        # A modification time in the future (a skewed clock on a share) does not count as copying.
        young = [f for f in files if 0 <= wall_now - f.mtime < settle]
        if young and config.limits.settle_wait:
            # wait until the newest of them has been still for `settle` seconds, then look again
            time.sleep(min(settle, max(0.0, settle - (wall_now - max(f.mtime for f in young)))))
            files, skipped = list_inbox(inbox)
            now = time.time()
            young = [f for f in files if 0 <= now - f.mtime < settle]
        for f in young:
            skipped.append((f.name, "why.settling"))
        files = [f for f in files if f not in young]
    for name, why in skipped:
        echo(t(config.lang, "warn.skipped_file", file=name, why=t(config.lang, why)))
    sheets: list[Sheet] = []
    sha: dict[str, str] = {}
    # Files are read by sandboxed workers side by side (read_files) and handed over in order.
    with closing(read_files([(f.path, f.name) for f in files], config.lang, config.limits.max_unzipped_mb,
                            config.limits.max_file_mb, idle=idle, prepare=partial(prepare, late_range=late_range, prefixes=prefixes),
                            early=early, shortcut=partial(shortcut, late_range=late_range))) as found_each:
        for position, f in enumerate(progress(files, "reading")):
            sha[f.name] = sha256(f.path)
            try:
                found = next(found_each)
            except FileError as exc:
                raise RunFailed(f"{exc.code}: {exc.message}") from None
            for s in found:
                if s.error:
                    raise RunFailed(f"{s.error}: {s.message}")
                if s.kind is None:
                    echo(t(config.lang, "warn.unrecognised_sheet", file=s.file, sheet=s.sheet))
            if on_file is not None:
                on_file(position, found)
            sheets.extend(found)
    return Inbox(files, sha, sheets, skipped)


def choose_roster(inbox: Inbox) -> Sheet | None:
    """The newest roster read: by file modification time, then last file name, then last sheet."""
    mtimes = {f.name: f.mtime for f in inbox.files}
    rosters = [(mtimes[s.file], s.file, s.index, s) for s in inbox.sheets if s.kind == "roster"]
    if not rosters:
        return None
    return max(rosters, key=lambda r: r[:3])[3]


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def roster_people(sheet: Sheet) -> list[Person]:
    return [Person(r.values["name"], r.values["role"], r.values["team"], r.values["email"],
                   _day(r.values["active_from"]), _day(r.values["active_to"])) for r in sheet.rows]


# ---------------------------------------------------------------------------------------------
# building each week's report


def _new_registrations(owners: list[Owner]) -> Registrations:
    """The week's new ledger rows for the report, as columns (`Registrations.COLUMNS`): a big
    office's hundred thousand go to ledger.xlsx and the stored report as Arrow arrays, with no
    named tuple per row."""
    events = [o.event for o in owners]
    return Registrations.from_columns([
        [e.phone for e in events], [o.customer for o in owners], [o.owner for o in owners], [o.at for o in owners],
        [o.via for o in owners], [e.file for e in events], [e.sheet for e in events], [e.row for e in events],
        [None] * len(owners)])


def _paid_people(roster: dict[str, Person], corrections: dict[str, Corrections]) -> list[Person]:
    """The roster's managers, and anyone a clawback names who is not one (any more): a clawback
    is taken from the manager the cancelled deal paid, whatever the roster says today (SPEC §7.3);
    such a person is listed unassessed, with the team the roster gives them, if any."""
    people = [p for p in roster.values() if p.role == "manager"]
    for name in sorted(corrections):
        person = roster.get(name)
        if person is None or person.role != "manager":
            people.append(Person(name, "manager", person.team if person is not None else "", "", date(1, 1, 1),
                                 date(1, 1, 1)))
    return people


def build_report(outcome: WeekOutcome, roster: dict[str, Person], previous: dict[str, int], config: Config,
                 reading: Sequence[tuple[int, Rejection]], stats: dict[str, int],
                 run: RunInfo, follow: WeekFollowUps | None = None) -> WeekReport:
    """results.json (SPEC §5.1) and the lists behind the reports, for one computed week.

    `reading` are the run's rejections made while reading (numbered like the rows; `LATE`
    included); the rules' rejections, and `LATE`, are worded here, in the office's language.
    `follow`: the week's follow-ups of the client-visit log (SPEC §9) and its rejections."""
    week = outcome.week
    corrections = corrections_by_manager(outcome.clawbacks, outcome.adjustments)
    managers = []
    for person in _paid_people(roster, corrections):
        entry = assess(person, week, outcome.counts.get(person.name, {}), outcome.commission.get(person.name, {}),
                       previous.get(person.name, 0), config, corrections.get(person.name, Corrections()))
        # SPEC §7.7: everyone assessed, and anyone with a commission, a clawback or an adjustment
        if entry.active_days or person.name in outcome.commission or person.name in corrections:
            managers.append(entry)
    managers.sort(key=lambda m: m.name)
    lang = config.lang
    rejections = [r if r.message is not None else r.worded(t(lang, f"reason.{r.reason}", **r.message_args()))
                  for _, r in sorted([*outcome.rejections, *(follow.rejections if follow else ()), *reading],
                                     key=lambda r: r[0])]
    results = WeekResults(str(week), week.monday.isoformat(), week.sunday.isoformat(), managers, outcome.deals,
                          rejections, Stats(**stats, rejected=len(rejections)), outcome.rulings, outcome.clawbacks,
                          outcome.adjustments)
    return WeekReport(
        week=str(week), start=week.monday.isoformat(), end=week.sunday.isoformat(), lang=config.lang,
        office=config.office, results=results.to_json(), run=run,
        roster=list(roster.values()),
        leads=[Lead(e.who, e.phone, e.customer, e.at, e.source) for e in outcome.leads],
        visits=[Visit(e.who, e.phone, e.customer, e.at, e.salesperson, e.party_size, e.source) for e in outcome.visits],
        units=[Unit(e.who, e.unit_name, e.address, e.at, e.photo, e.source) for e in outcome.units],
        new_registrations=_new_registrations(outcome.new_registrations),
        ledger=outcome.ledger,
        followups=(follow.followups if follow else FollowUps(str(week))).to_json(),
    )


# ---------------------------------------------------------------------------------------------
# outputs


def scratch_folder(out: Path, week: str, run_id: str) -> Path:
    """Where `publish` writes a week's folder before renaming it into place: made empty."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{week}.tmp-{run_id}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def publish(report: WeekReport, out: Path, run_id: str, config: Config,
            stored: list[Stored] | None = None, with_data: bool = True,
            aside: Aside | None = None, previous: ledgerstore.Before | None = None,
            let_go_rows: bool = False) -> list[mail.Outgoing]:
    """Write the week's folder (reports, then the emails built from them into its outbox) beside
    its final place (`scratch_folder`), then swap it in with renames. Returns the week's
    messages, so sending does not build them again; without `with_data` (a run that sends
    nothing), none. With `stored`, the week's stored form (`write.stored_form`; with
    `previous`, the week before's ledger.csv, this week's as a delta against it) is appended to it.
    With `aside`, the ledger's files are being written into the scratch folder already
    (`write.set_aside`). With `let_go_rows` (a re-render, whose email builders are forked from
    this process), the report's rows are let go once the files are written, and what Arrow's
    allocator kept given back: the emails are made without them (`WeekReport.for_emails`), and
    each builder starts with this process's pages (a big week's: 390 MB each, 190-220 MB so)."""
    final = out / report.week
    tmp = out / f".{report.week}.tmp-{run_id}"
    if aside is None:
        scratch_folder(out, report.week, run_id)
    # The week's index (`indexed_once`) serves both the files and the emails built from them.
    with indexed_once():
        # A big week's ledger files are written here while other processes build the emails.
        writing = start_week(report, tmp, store=stored is not None, aside=aside or True, previous=previous,
                             let_go=True)
        try:
            if let_go_rows:
                report.leads, report.visits, report.units, report.new_registrations = [], [], [], []
                release_arrow_memory()
            with gc_paused():
                messages = mail.write_messages(report, tmp, config, digests=with_data, meanwhile=writing.run_here)
        except BaseException:
            writing.abandon()
            raise
    built = writing.wait()
    if stored is not None and built.stored is not None:
        stored.append(built.stored)
    messages = [m.with_data((tmp / "outbox" / m.filename).read_bytes()) for m in messages] if with_data else []
    _into_place(tmp, final, out / f".{report.week}.old-{run_id}")
    return messages


# ---------------------------------------------------------------------------------------------
# months and quarters (SPEC §8)


def period_followups(state: State, weeks: Sequence[str], computed: Sequence[WeekReport] = ()) -> list[dict[str, Any]]:
    """The `followups.json` documents (SPEC §9) of the period's closed `weeks`, oldest first, that
    its review of the client-visit log is made from (`periods.log_review`): those stored with the
    closed weeks (`State.week_followups`), and those of the weeks this run `computed` (not stored
    until its commit)."""
    mine = {report.week: report.followups for report in computed}
    stored = state.week_followups([w for w in weeks if w not in mine])
    return sorted([*stored, *(mine[w] for w in weeks if w in mine)], key=lambda d: Week.parse(d["week"]))


def period_report(period: Period, weekly: list[dict[str, Any]], config: Config, roster: Sequence[Person],
                  followups: Sequence[dict[str, Any]] = ()) -> PeriodReport:
    """A period's report from its closed weeks' stored results (results.json documents)."""
    weekly = sorted(weekly, key=lambda d: Week.parse(d["week"]))
    results: PeriodResults = build_period(period, weekly)
    log = log_review(period, list(followups)) if followups else LogReview()
    return PeriodReport(results, period.is_quarter, weekly, [str(w) for w in period.weeks()], config.lang,
                        config.office, list(roster), log)


def publish_period(report: PeriodReport, out: Path, run_id: str, config: Config,
                   with_mail: bool = True, with_data: bool = True) -> list[mail.Outgoing]:
    """Write the period's folder (`OUT/2026-11/`: period.json, summary.xlsx, summary.html, the
    managers' pages and, `with_mail`, the leaders' emails in outbox/) beside its place, then swap
    it in with renames, like a week's (`publish`). Returns its emails, with their bytes read back
    from the outbox; without `with_data` (a run that sends nothing), none."""
    out.mkdir(parents=True, exist_ok=True)
    final = out / report.name
    tmp = out / f".{report.name}.tmp-{run_id}"
    if tmp.exists():
        shutil.rmtree(tmp)
    write_period(report, tmp)
    messages = mail.write_period_messages(report, tmp, config, digests=with_data) if with_mail else []
    messages = [m.with_data((tmp / "outbox" / m.filename).read_bytes()) for m in messages] if with_data else []
    _into_place(tmp, final, out / f".{report.name}.old-{run_id}")
    return messages


def _closed_periods(job: Job) -> None:
    """The months (and quarters) whose last week this run closes, written from the stored
    results of their earlier closed weeks and this run's (SPEC §8), before the commit like the
    weeks' folders: a crash before it leaves the next run to write them again."""
    fresh = {r.week: r.results for r in job.reports}
    for week in job.reports:
        for period in closed_by(Week.parse(week.week)):
            names = [str(w) for w in period.weeks()]
            weekly = [d for d in job.state.week_managers(names) if d["week"] not in fresh]
            weekly += [fresh[n] for n in names if n in fresh]
            report = period_report(period, weekly, job.config, list(job.roster.values()),
                                   period_followups(job.state, names, job.reports))
            job.periods.append((report, publish_period(report, job.opts.out, job.result.run_id, job.config,
                                                       with_data=job.sending)))
    job.result.periods = [r.name for r, _ in job.periods]


def write_period_report(opts: RunOptions, config: Config, period: Period) -> PeriodReport:
    """`pipeline report --period`: the period's folder from the weeks closed so far, at any time
    (`complete` says whether all its weeks are). Reads the state under the run lock; writes no
    email (`pipeline send --period` does)."""
    if not has_state(opts.state, config):
        raise RunRefused(f"no state in {opts.state}: no week has been closed yet")
    with office_lock(opts.state, config):
        state = open_office_state(opts.state, config, create=False)
        try:
            report = _stored_period(state, period, config)
            publish_period(report, opts.out, new_run_id(opts.now), config, with_mail=False)
        finally:
            state.close()
    return report


def _stored_period(state: State, period: Period, config: Config) -> PeriodReport:
    """A period as its closed weeks' stored results make it (SPEC §8: never from rows)."""
    names = [str(w) for w in period.weeks()]
    return period_report(period, state.week_managers(names), config, list((state.roster() or {}).values()),
                         period_followups(state, names))


def _send(report: WeekReport | PeriodReport, messages: list[mail.Outgoing], config: Config, state: State,
          resend: bool, result: RunResult, at: str) -> None:
    """Send what was not sent yet, remembered under the week's (or the period's) name."""
    key = report.week if isinstance(report, WeekReport) else report.name
    outcome = mail.send_messages(messages, config, state.sent(key), resend=resend)
    state.record_sent(key, outcome.sent, at)
    result.mail_sent += len(outcome.sent)
    result.mail_failures.extend(outcome.failed)


# ---------------------------------------------------------------------------------------------
# the run


def new_run_id(now: datetime) -> str:
    return f"{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def finish_moves(state: State, inbox: Path) -> None:
    """Archive moves a crashed run committed to but did not finish."""
    for run_id, name, sha in state.pending_moves():
        src = inbox / name
        if src.is_file() and sha256(src) == sha:
            dest = inbox / "archive" / run_id
            dest.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest / name)
        state.done_move(run_id, name)


def run(opts: RunOptions, config: Config, echo: Echo = print) -> RunResult:
    """The weekly job. Raises RunFailed (exit 1), RunRefused (exit 2), Locked (exit 75)."""
    fresh_state = not has_state(opts.state, config)
    folder_was = opts.state.exists()
    with office_lock(opts.state, config), gc_paused():
        try:
            result = _run_locked(opts, config, echo)
        except (RunFailed, RunRefused, StateError):
            if fresh_state:
                # A failed first run leaves no state behind, not even an empty database.
                _forget_state(opts.state, config, folder_was)
            raise
        if fresh_state and opts.dry_run:
            _forget_state(opts.state, config, folder_was)  # a dry run stores nothing
    return result


def _forget_state(folder: Path, config: Config, folder_was: bool) -> None:
    """What a first run that stored nothing made: the state folder (unless it was there before
    a run on a server), and on a server the office's empty part of the database."""
    if config.state.url:
        from .postgres import forget_office

        forget_office(config.state.url, config.office)
        if folder_was:
            return
    shutil.rmtree(folder, ignore_errors=True)


# A snapshot to store (`State.put_snapshot`): (week, until, encoded tables, the snapshot its
# ledger is chained to or None)
Snapshot = tuple[str, str, dict[str, bytes], str | None]


@dataclass
class Job:
    """What passes from one step of a run to the next."""

    opts: RunOptions
    config: Config
    echo: Echo
    state: State
    result: RunResult
    started: str
    sending: bool  # a dry run sends nothing: the emails stay in the outbox
    clock: float = field(default_factory=time.perf_counter)  # when the last stage ended
    closed: list[str] = field(default_factory=list)
    weeks: list[Week] = field(default_factory=list)
    first_week: str | None = None
    history_start: str = ""
    late_range: tuple[str, str] | None = None
    backs_up: bool = False  # whether this run backs the state up (`_begin`, `_back_up`)
    backed_up: BackingUp | None = None  # the backup being copied (and checked), waited for before the commit
    taken: Intake | None = None
    inbox: Inbox | None = None
    earlier: list[Event] | None = None  # the earlier runs' rows, once read ahead
    earlier_since: str = ""  # from when `earlier` holds them
    start_ahead: tuple[str, Carried] | None = None  # the snapshot (week, decoded) read while the run waited
    snapshots: list[Snapshot] = field(default_factory=list)
    encoding: Future[list[Snapshot]] | None = None  # the snapshots being encoded (`_encode_aside`)
    # the snapshot the replay started from when its ledger is stored whole again
    # (`stores_whole_again`), and the process making it (None: made at the commit)
    whole_again: tuple[str, sandbox.Job | None, Path] | None = None
    roster: dict[str, Person] = field(default_factory=dict)
    outcomes: list[WeekOutcome] = field(default_factory=list)
    follow: list[WeekFollowUps] = field(default_factory=list)  # each week's, from the client-visit log
    reports: list[WeekReport] = field(default_factory=list)
    outboxes: list[list[mail.Outgoing]] = field(default_factory=list)
    kept: list[Stored] = field(default_factory=list)  # each week's stored form
    periods: list[tuple[PeriodReport, list[mail.Outgoing]]] = field(default_factory=list)  # closed months, quarters
    stats: dict[str, int] = field(default_factory=dict)  # the intake's counters
    empty_weeks: list[tuple[Week, int]] = field(default_factory=list)  # (week, managers assessed): EMPTY_WEEK

    def stage(self, name: str) -> None:
        """The time since the last stage, added to `name`'s in the run log."""
        now = time.perf_counter()
        self.result.stages[name] = round(self.result.stages.get(name, 0.0) + now - self.clock, 3)
        self.clock = now

    @property
    def until(self) -> str:
        return self.weeks[-1].next_start_iso  # the replay reads the history up to the last week's end

    @property
    def details_from(self) -> str:
        return self.weeks[0].start_iso  # rows before it decide ownership only (`State.history`)


def _run_locked(opts: RunOptions, config: Config, echo: Echo) -> RunResult:
    """The run (`_steps`) on the state opened; a failed run reports a damaged state first."""
    job = _open(opts, config, echo)
    try:
        return _steps(job)
    except (RunFailed, RunRefused, sqlite3.DatabaseError):
        _checked(job)  # a damaged state is what a failed run reports
        raise
    finally:
        _close(job)


def _steps(job: Job) -> RunResult:
    """The run's steps, in the order the module's docstring gives; each a function below."""
    opts = job.opts
    rerender = _choose_weeks(job)
    if rerender is not None or not job.weeks:
        _checked(job)
    if rerender is not None:
        _rerender(job, rerender)
    if not job.weeks:
        return job.result
    _begin(job)
    _read_and_store(job)
    _back_up(job)
    _crash_point("after_read")
    _take_roster(job)
    _replay(job)
    _follow_up(job)
    _assess(job)
    _checked(job)  # before anything is written outside the transaction
    _refuse_empty_weeks(job)
    _write_outputs(job)
    _encoded(job)
    _crash_point("after_outputs")
    if opts.dry_run:
        job.state.rollback()
        return job.result
    _commit(job)
    _crash_point("after_commit")
    _archive(job)
    _send_all(job)
    return job.result


def _open(opts: RunOptions, config: Config, echo: Echo) -> Job:
    """A new run on the state folder (locked by the caller)."""
    run_id = new_run_id(opts.now)
    started = datetime.now().isoformat(timespec="seconds")
    result = RunResult(run_id)
    clock = time.perf_counter()
    try:
        # The integrity check reads the whole database: a run that takes a backup, which copies
        # every page anyway, checks the copy instead (`_begin`, `_back_up`, `_checked`).
        state = open_office_state(opts.state, config, check=opts.dry_run)
    except StateError as exc:
        raise RunFailed(str(exc)) from None
    return Job(opts, config, echo, state, result, started, sending=opts.send and not opts.dry_run, clock=clock)


def _checked(job: Job) -> None:
    """The state's integrity check passed: on the backup's copy, if one is taken (waited for),
    else here. A damaged state fails the run, changing nothing, with the message that says how
    to recover (`State.check`)."""
    try:
        if job.backed_up is not None and job.backed_up.checked():
            return
        job.state.check()
    except StateError as exc:
        raise RunFailed(str(exc)) from None


def _choose_weeks(job: Job) -> Week | None:
    """The weeks to compute (SPEC §3), none when every complete week is closed; or the closed
    week asked for, to re-render."""
    opts, state = job.opts, job.state
    if not opts.dry_run:
        if state.pending_moves():
            _checked(job)  # the moves are written to the state
        finish_moves(state, opts.inbox)
    job.closed = state.closed_weeks()
    try:
        weeks, rerender = choose_weeks(job.closed, opts.now, opts.week)
    except NotComputable as exc:
        raise RunRefused(str(exc)) from None
    if rerender is not None:
        return rerender
    if not weeks:
        job.echo("nothing to compute: every complete week is closed")
        return None
    unfinished = [w for w in weeks if not w.ended_by(opts.now)]
    if unfinished and not (opts.dry_run or opts.force):
        raise RunRefused(f"{unfinished[0]} has not ended yet ({unfinished[0].end:%Y-%m-%d %H:%M:%S}); "
                         f"preview it with --dry-run or force it with --force")
    job.weeks = weeks
    job.first_week = state.meta("first_week")
    job.history_start = history_start(job.first_week, weeks)
    job.late_range = late_range(job.history_start, job.closed)
    return None


def _rerender(job: Job, week: Week) -> None:
    """A closed week's folder written again from its stored form (and its mail sent). The
    ledger's files, which need only the stored ledger and the week's new registrations, are
    started on (`set_aside`) before the rest of the stored week is decoded. The state's page
    cache is made small first: the week's row (and a chain of later weeks' rows, for its
    ledger.csv) passes through it once, and every process forked here would start with it
    (a year's state: 220 MB of pages to re-render its first week). This process holds the
    stored week alone, so every writer is forked from it (`forked_writers`), the ledger's
    process too: started at once, where the process server may still be importing the
    modules of a weekly run's reading (half a second at the start of a big office's
    re-render), and handed the stored ledger without its tens of MB pickled."""
    if _kept_as_written(job, week):
        return
    job.state.let_go_of_cache()
    stored = job.state.week_report(str(week))
    assert stored is not None
    # Arrow and numpy (the ledger's files, summary.xlsx's long tables) imported once, here, before
    # the first process is forked: each process forked before imported them anew (the ledger's
    # process: a third of a second of its CPU, as much as this one's).
    import pyarrow.compute  # noqa: F401
    tmp = scratch_folder(job.opts.out, str(week), job.result.run_id)
    with forked_writers(), indexed_once():
        aside = set_aside(WeekReport.ledger_part(*stored), tmp)
        try:
            report = _decode_week(job.state, str(week), stored)
            # The week's index made before any writer is forked: each inherits it, where each
            # made its own (a big week's: a sixth of a second of each process's CPU).
            index_week(report)
            prepare_templates()       # the pages' templates, compiled once for every process forked below
            mail.prepare_templates()  # and the emails'
        except BaseException:
            if aside is not None:
                aside.abandon()
            raise
        messages = publish(report, job.opts.out, job.result.run_id, job.config, with_data=job.sending, aside=aside,
                           let_go_rows=True)
    if not job.opts.dry_run:
        _seal(job, str(week))
    job.stage("reports")
    job.result.rerendered = str(week)
    if job.sending:
        _send(report, messages, job.config, job.state, False, job.result, job.opts.now.isoformat())


def _kept_as_written(job: Job, week: Week) -> bool:
    """A re-render that would write the same bytes over a folder still as a run wrote it keeps
    the folder (`rendered`): a big office's week is three to four seconds of writing. One that
    sends writes it, for its messages."""
    if job.sending or not _sealed(job, str(week)):
        return False
    job.stage("reports")
    job.result.rerendered, job.result.kept = str(week), True
    return True


def _sealed(job: Job, week: str) -> bool:
    """Whether a week closed by an earlier run still has its folder as the run that last wrote
    it left it, for this program and configuration (`rendered`)."""
    if any(report.week == week for report in job.reports):
        return False  # written by this run: its seal is made at the commit
    recorded = job.state.meta(rendered.meta_key(week))
    return recorded is not None and rendered.seal(job.opts.out / week, job.config.digest()) == recorded


def _seal(job: Job, week: str) -> None:
    """The seal of a week's folder as this run leaves it, for a later re-render (`rendered`)."""
    found = rendered.seal(job.opts.out / week, job.config.digest())
    if found is not None:
        job.state.set_meta(rendered.meta_key(week), found)


def _begin(job: Job) -> None:
    """The state's integrity check, unless a backup will check its copy (`_back_up`); then one
    transaction."""
    state = job.state
    job.backs_up = state.backs_up and not job.opts.dry_run and bool(job.closed or state.holds_rows())
    if not job.backs_up:
        _checked(job)
    state.begin()


def _back_up(job: Job) -> None:
    """A backup of the state as last committed (copied aside while the run goes on, and checked
    there): started once the inbox is read. The reading keeps both processors busy with its
    workers, while the replay leaves one free; the copy reads the state as last committed
    whatever this run has written since. Waited for before the commit (and on failure); its
    check before the outputs (`_checked`)."""
    if job.backs_up and job.backed_up is None:
        state = job.state
        job.backed_up = state.backup_aside(job.result.run_id, job.opts.now, partial(_crash_point, "during_backup"),
                                           check=not state.checked)


def _read_and_store(job: Job) -> None:
    """Every file of the inbox read, and its rows stored as soon as it is read (SPEC §2.4):
    while the run waits for the largest file, it stores the files read ahead of it and reads
    what storing and the replay need from the state."""
    state = job.state
    taken = job.taken = Intake(state, job.result.run_id, job.late_range, job.until,
                               job.details_from, state.next_seq())

    def ahead() -> None:
        # Arrow's compute functions imported (0.08 s) and the pages' templates compiled (0.07 s)
        # while the run waits, not once the largest file is read (when storing its rows is all
        # the run can do) nor among the reports. Then, from the snapshot the replay will most
        # likely start at (the roster is not read yet): the rows since, and the snapshot itself
        # decoded.
        import pyarrow.compute  # noqa: F401
        prepare_templates()
        week, job.earlier_since = _snapshot_start(job, None)
        job.earlier = _earlier_rows(job, job.earlier_since)
        if week is not None:
            # A snapshot whose bytes do not decode (Arrow's errors are ValueError and OSError) is
            # left to the replay, which may start from another; a database error is not caught:
            # on a server it ends the transaction, and the run fails with it as it would later.
            try:
                job.start_ahead = (week, _carried(job, week, job.earlier_since))
            except (ValueError, OSError):
                job.start_ahead = None

    job.inbox = read_inbox(job.opts.inbox, job.config, job.echo, time.time(), on_file=taken.store, idle=ahead,
                           early=taken.store_early, late_range=job.late_range, prefixes=state.sheet_prefixes())
    taken.done_reading()
    state.write_blocks_aside()  # no process is forked before the reports: written before them
    job.stage("read")
    stages = job.result.stages
    stages["read"] = round(stages["read"] - taken.seconds, 3)
    stages["store"] = round(taken.seconds, 3)


def _start_from(job: Job, week: str | None, since: str) -> Carried | None:
    """The snapshot the replay starts from (None: the whole history): as read while the run
    waited if it is the same one, else read now (the roster read since can make it another)."""
    ahead, job.start_ahead = job.start_ahead, None
    if week is None:
        return None
    if ahead is not None and ahead[0] == week and ahead[1].until == since:
        return ahead[1]
    return _carried(job, week, since)


def _carried(job: Job, week: str, since: str) -> Carried:
    """The stored snapshot `week` (ending at `since`), decoded, and what of its ledger does not
    depend on the phones looked up (`LedgerChain.read_ahead`). Read while the run waits for the
    largest file (`_read_and_store`), it is off the replay's path: a year's snapshot takes
    0.15-0.2 s of a quarter-size office's week."""
    start = Carried(since, **job.state.snapshot(week))
    start.owners.read_ahead()
    return start


def _earlier_rows(job: Job, since: str) -> list[Event]:
    """The earlier runs' rows the replay needs: those dated from `since` on."""
    return list(job.state.history(job.until, details_from=job.details_from, run_id=job.result.run_id,
                                  other_runs=True, since=since))


def _snapshot_start(job: Job, roster: dict[str, Person] | None) -> tuple[str | None, str]:
    """(week, until) of the newest stored snapshot the replay can start from, or (None, "") for
    the whole history: one written by these rules, for this roster's view (unless `roster` is
    None: not known yet), and fresh (no row stored since is dated before its end: a late
    registration or deal starts the replay before it)."""
    if job.opts.full_replay:
        return None, ""
    state = job.state
    for week, until, max_seq, version, view in state.snapshots():
        if version not in CARRIED_READ or until > job.weeks[0].start_iso:
            continue
        if roster is not None and view != roster_view(roster, until):
            continue
        if state.snapshot_is_fresh(until, max_seq) and state.snapshot_chain(week) is not None:
            return week, until
    return None, ""


def _take_roster(job: Job) -> None:
    """The newest roster read, or the stored one; stored with the reading rejections' fingerprints."""
    assert job.inbox is not None and job.taken is not None
    state = job.state
    roster_sheet = choose_roster(job.inbox)
    stored_roster = state.roster()
    if roster_sheet is None and stored_roster is None:
        raise RunFailed("NO_ROSTER: " + t(job.config.lang, "file.NO_ROSTER"))
    people = roster_people(roster_sheet) if roster_sheet is not None else list((stored_roster or {}).values())
    job.roster = {p.name: p for p in people}
    state.add_rejected(job.taken.new_fingerprints)
    if roster_sheet is not None:
        state.set_roster(people)
    job.stage("store")


def _replay(job: Job) -> None:
    """The rules over the history (SPEC §4): the earlier runs' rows (read ahead, if the run
    waited), then this run's, as `history` would read them back (kept in memory when every one
    was stored)."""
    assert job.taken is not None
    state = job.state
    week, since = _snapshot_start(job, job.roster)
    start = _start_from(job, week, since)
    job.result.replay_from = week
    if week is not None and start is not None and not job.opts.dry_run and stores_whole_again(start.owners):
        _store_whole_again(job, week, start.owners.encoded)  # for the commit: a dry run has none
    earlier = job.earlier if job.earlier is not None and job.earlier_since == since else _earlier_rows(job, since)
    job.earlier = None
    mine = job.taken.take_kept()
    if mine is None:
        mine = list(state.history(job.until, details_from=job.details_from, run_id=job.result.run_id))
    events = earlier + mine
    del mine, earlier
    registered = state.registrations(job.until, since=since)
    state.forget_registrations()
    # One snapshot a run (each costs a second or so of a big office's ledger): where this run's
    # own rows reach back before its first week (late registrations, a first run's history),
    # the next run's will likely too, and it starts best from the state at this run's first
    # week's start; otherwise from its last week's end.
    reached_back = state.earliest_since(job.taken.base) < job.weeks[0].start_iso
    landings = Landings(*state.landings())
    # What the replay reads of the state is read: the pages it went through let go (a year's
    # snapshot and closed weeks), not carried through the replay and into the reports' processes.
    state.let_go_of_cache()
    release_arrow_memory()
    job.outcomes = replay(events, job.roster, job.weeks, job.history_start, job.result.run_id, job.config,
                          registered, start, carry_from_start=reached_back, paid_before=state.paid_deal,
                          landings=landings)
    if start is not None:
        start.owners.let_go()
    del events, registered, start
    release_arrow_memory()
    # Encoded (compressed, a tenth of the size) on a thread through the assessment and the
    # reports, for the commit (`_encoded`); a dry run stores none, and lets them go.
    names = {w.next_start_iso: str(w) for w in (job.weeks[0].previous(), *job.weeks)}
    carried, job.outcomes[-1].carried = job.outcomes[-1].carried, []
    if not job.opts.dry_run:
        job.encoding = _encode_aside(carried, names)
    del carried
    state.let_go_of_cache()
    job.stage("replay")


def _encode_aside(carried: list[Carried], names: dict[str, str]) -> Future[list[Snapshot]]:
    """The snapshots the replay carried, encoded (`encode_snapshot`) on a thread of their own:
    Arrow's sorts, dictionaries and zstd run without the interpreter lock, so a big office's
    ledger (half a second) is encoded on the core the assessment leaves idle. Each snapshot's
    tables are let go once encoded."""

    def encode() -> list[Snapshot]:
        encoded = []
        while carried:
            snapshot = carried.pop(0)
            encoded.append((names[snapshot.until], snapshot.until, encode_snapshot(snapshot.tables()),
                            snapshot.parent))
            del snapshot
        release_arrow_memory()
        return encoded

    pool = ThreadPoolExecutor(1, thread_name_prefix="snapshot")
    try:
        return pool.submit(encode)
    finally:
        pool.shutdown(wait=False)


def _encoded(job: Job) -> None:
    """The snapshots' encoding (`_encode_aside`) waited for once the outputs are written: the
    commit stores them. The thread runs on through the reports, whose processes start from the
    forkserver (or, with none, are not started): nothing forks this process while it runs, where
    a child forked while the thread holds one of Arrow's locks could wait on it for ever
    (`forked_writers` forks, for a re-render, which encodes nothing). Waited for before the
    reports, it held a big office's first week for 0.5-0.7 s with one core idle."""
    if job.encoding is not None:
        encoding, job.encoding = job.encoding, None
        job.snapshots.extend(encoding.result())
        job.state.let_go_of_cache()
        release_arrow_memory()


# How long the process storing a snapshot's ledger whole again may take (a quarter-size office's
# year: about a second).
WHOLE_AGAIN_SECONDS = 600.0


WHOLE_LEDGER_FILE = ".whole-ledger-"  # + the run's id: where the process leaves the ledger it made


def _store_whole_again(job: Job, week: str, encoded: tuple[list[bytes], bytes | None]) -> None:
    """Start making the ledger of the snapshot `week` whole (`whole_ledger_into`) in a process of
    its own, from the forkserver: it reads the stored ledger a batch at a time while this run
    replays and writes the reports, and leaves it in a file of the state folder that the commit
    reads. This run, which holds the week, never holds the year's ledger too. Where no process
    can be started it is made at the commit, in this one."""
    for left in job.opts.state.glob(f"{WHOLE_LEDGER_FILE}*"):  # a killed run's
        left.unlink(missing_ok=True)
    path = job.opts.state / f"{WHOLE_LEDGER_FILE}{job.result.run_id}"
    try:
        worker: sandbox.Job | None = sandbox.Job(whole_ledger_into, str(path), week, *encoded,
                                                 timeout=WHOLE_AGAIN_SECONDS)
    except sandbox.SandboxError:
        worker = None
    job.whole_again = (week, worker, path)


def _whole_again(job: Job) -> None:
    """The snapshot the replay started from stored whole again (`_store_whole_again`), in the
    commit's transaction. A process that failed leaves it chained: the next run tries again."""
    if job.whole_again is None:
        return
    week, worker, path = job.whole_again
    try:
        if worker is None:
            owners = whole_ledger(week, *job.state.snapshot_ledger(week))
        else:
            size = worker.result()
            owners = path.read_bytes()
            if len(owners) != size:
                return
    except (sandbox.SandboxError, OSError):
        return
    finally:
        _end_whole_again(job)
    job.state.store_whole_ledger(week, owners)
    del owners
    _crash_point("after_whole_ledger")


def _end_whole_again(job: Job) -> None:
    """The process storing a ledger whole again ended, and its file removed."""
    if job.whole_again is not None:
        _, worker, path = job.whole_again
        job.whole_again = None
        if worker is not None:
            worker.close()
        path.unlink(missing_ok=True)


def _follow_up(job: Job) -> None:
    """The client-visit log's follow-ups as of each week's end (SPEC §9), from the log as stored."""
    visits = job.state.client_visits(job.until)
    job.follow = followups(visits, job.roster, job.weeks, job.history_start, job.result.run_id,
                           job.config.followups)
    job.stage("replay")


def _assess(job: Job) -> None:
    """Each week's report (SPEC §5): assessed managers, streaks carried from week to week; the
    reading rejections and counters go to the last week."""
    assert job.inbox is not None and job.taken is not None
    taken, config = job.taken, job.config
    run_info = RunInfo(job.result.run_id, job.opts.now.isoformat(timespec="seconds"), config.as_dict(),
                       sorted(job.inbox.sha.items()))
    previous = job.state.last_streaks()
    stats = job.stats = {"rows_read": taken.rows_read, "rows_stored": taken.rows_stored,
                         "duplicates_dropped": taken.duplicates}
    zero = dict.fromkeys(stats, 0)
    earlier = job.state.recent_managers(str(job.weeks[0]), TREND_WEEKS - 1) if job.weeks else []
    for i, outcome in enumerate(job.outcomes):
        last = i == len(job.outcomes) - 1
        report = build_report(outcome, job.roster, previous, config, taken.rejections if last else [],
                              stats if last else zero, run_info, job.follow[i])
        assessed = [m for m in report.results["managers"] if m["active_days"] > 0]
        for m in assessed:
            previous[m["name"]] = m["streak"]
        if assessed and not outcome.worked():  # SPEC §3: refused in `_refuse_empty_weeks`
            job.empty_weeks.append((outcome.week, len(assessed)))
        report.earlier = earlier[-(TREND_WEEKS - 1):]
        earlier = [*report.earlier, (report.week, report.results["managers"])]
        job.reports.append(report)
    job.outcomes = []
    job.stage("assess")


def _refuse_empty_weeks(job: Job) -> None:
    """SPEC §3: a week with managers assessed but no leads, visits or units row dated in it is not
    closed: its workbooks have most likely not been dropped yet, and closed it would fine every
    manager the maximum for good. The run fails whole (exit 1, nothing changed) unless forced; a
    dry run computes it and warns."""
    if not job.empty_weeks:
        return
    lang = job.config.lang
    what = "; ".join(t(lang, "run.EMPTY_WEEK", week=str(week), start=week.monday.isoformat(),
                       end=week.sunday.isoformat(), managers=n) for week, n in job.empty_weeks)
    if job.opts.force:
        job.echo(t(lang, "warn.EMPTY_WEEK.forced", what=what))
    elif job.opts.dry_run:
        job.echo(t(lang, "warn.EMPTY_WEEK.dry_run", what=what))
    else:
        weeks = ", ".join(str(week) for week, _ in job.empty_weeks)
        raise RunFailed(f"EMPTY_WEEK: {what}", todo=t(lang, "run.EMPTY_WEEK.todo", weeks=weeks))


def _write_outputs(job: Job) -> None:
    """Each week's folder written beside its place and renamed into it (`publish`)."""
    opts = job.opts
    job.state.write_blocks()  # before the reports fork their second process (`write_blocks_aside`)
    # The emails' bytes are read back from the outbox only when they are to be sent. Each week's
    # ledger.csv is made from the week before's and stored as a delta against it (`ledgerstore`):
    # storage and time grow with the weeks' changes, not with the weeks.
    found = None if opts.dry_run or not job.reports else job.state.ledger_before(job.reports[0].week)
    # (week, stored blob, its stored chain when asked) of the week before the one written next
    closed = None if found is None else (*found, partial(job.state.ledger_chain, found[0]))
    job.state.let_go_of_cache()  # before the reports' processes are forked: each starts with this one's memory
    release_arrow_memory()
    for report in progress(job.reports, "reports"):
        before = None if closed is None else _ledger_before(opts.out, *closed, as_written=_sealed(job, closed[0]))
        origin = report.ledger.origin
        if origin is not None and (before is None or Week.parse(before.week).next_start_iso != origin[0]):
            report.ledger.origin = None  # its rows are not the lines of the ledger.csv given
        if report.ledger.origin is None and before is not None and _lines_kept(job, before.week,
                                                                                report is job.reports[0]):
            report.ledger.origin = _kept_origin(report, before.week)
        job.outboxes.append(publish(report, opts.out, job.result.run_id, job.config,
                                    None if opts.dry_run else job.kept, with_data=job.sending, previous=before))
        _crash_point("after_writing_a_week")  # its ledger.csv in its folder, not yet in the state
        if not opts.dry_run:
            blob = job.kept[-1].ledger
            closed = (report.week, blob, partial(_chain_after, None if closed is None else closed[2], blob))
        # Its files written, the week's ledger (a year's rows) is let go: nothing after needs it,
        # and the run holds less through the next week's files and the commit.
        report.ledger = Ledger()
        release_arrow_memory()
    if not opts.dry_run:  # a dry run writes no period folder
        _closed_periods(job)
    job.stage("reports")
    job.result.weeks = [r.week for r in job.reports]
    job.result.stats = {**job.stats, "rejected": sum(r.results["stats"]["rejected"] for r in job.reports)}


def _lines_kept(job: Job, closed: str, stored: bool) -> bool:
    """Whether the ledger.csv of the week `closed` (the one before the week being written, closed
    by an earlier run where `stored`, else by this one) has, for each phone of the snapshot this
    run's replay started from that no row since names, the line this run writes for it: the
    snapshot ends no later than that week, and the file was made from the rows stored now
    (the snapshot's `max_seq`) under this run's configuration, and under a roster that decides
    the rows before its end as this run's does (the roster's view the week was closed with: the
    roster is not part of the configuration). (A run that reads rows dated in the closed week
    starts before it: its ledger.csv is then spliced from the closed week's lines too, not
    written from the snapshot's million rows.)"""
    week = job.result.replay_from
    if week is None or job.opts.dry_run:
        return False
    end = Week.parse(closed).next_start_iso
    found = [(until, max_seq) for name, until, max_seq, _, _ in job.state.snapshots() if name == week]
    if not found or found[0][0] > end:
        return False
    if not stored:
        return True  # written by this run, from this replay
    max_seq, config, roster = job.state.closed_week_source(closed)
    return max_seq is not None and max_seq == found[0][1] and config == job.config.digest() and \
        roster == roster_view(job.roster, end)


def _ledger_before(out: Path, week: str, blob: bytes, chain: Callable[[], list[bytes]],
                   as_written: bool = False) -> ledgerstore.Before:
    """The ledger.csv of the closed week `week` (stored as `blob`) that the next week's is made
    from: its folder's file where that is as the week wrote it, else the stored chain."""
    return ledgerstore.before_of(week, blob, out / week / "ledger.csv", chain, as_written)


def _chain_after(earlier: Callable[[], list[bytes]] | None, blob: bytes) -> list[bytes]:
    """The stored chain of a week this run closed, stored as `blob`: whole, or a delta against
    the week before (whose chain `earlier` gives)."""
    if not ledgerstore.is_delta(blob):
        return [blob]
    assert earlier is not None
    return [*earlier(), blob]


def _kept_origin(report: WeekReport, before: str) -> tuple[str, Any, int] | None:
    """`Ledger.origin` for a ledger whose rows in phone order are a snapshot's (`KeptRows`) whose
    lines the ledger.csv `before` holds (`_lines_kept`): those lines given by their phones
    (`ledgerstore.KeptLines`), found among its lines by the process that splices it."""
    ordered, _ = report.ledger.parts()
    if not isinstance(ordered, KeptRows) or not ordered.num_rows:
        return None
    return Week.parse(before).next_start_iso, ledgerstore.KeptLines(ordered.column("phone").combine_chunks()), \
        ordered.num_rows


def _commit(job: Job) -> None:
    """The weeks closed, the run logged and its archive moves pending, in the one commit."""
    assert job.inbox is not None
    state, opts, result = job.state, job.opts, job.result
    max_seq = state.next_seq() - 1
    for report, stored in zip(job.reports, job.kept, strict=True):
        state.close_week(report.week, result.run_id, report.results, stored.report, stored.ledger, max_seq,
                         report.followups, roster_view(job.roster, Week.parse(report.week).next_start_iso))
        _crash_point("after_closing_a_week")
    if not job.first_week:
        state.set_meta("first_week", str(job.weeks[0]))
    _whole_again(job)
    if job.snapshots:
        for week, until, data, parent in job.snapshots:
            state.put_snapshot(week, until, max_seq, CARRIED_VERSION, roster_view(job.roster, until), data, parent)
        job.snapshots = []
        _crash_point("after_snapshot")
    finished = datetime.now().isoformat(timespec="seconds")
    files = sorted(job.inbox.sha.items())
    state.log_run(result.run_id, job.started, finished, opts.now.isoformat(timespec="seconds"), result.weeks,
                  job.config.digest(), files, "ok")
    state.add_pending_moves(result.run_id, files)
    for report in job.reports:
        _seal(job, report.week)
    if job.backed_up is not None:
        job.backed_up()
        job.backed_up = None
    state.commit()
    if state.backs_up:
        if not state.has_backup():  # the first run had nothing to copy before; keep its result
            state.backup(result.run_id, opts.now, partial(_crash_point, "during_backup"))
        prune_backups(opts.state, job.config.backups, _crash_point)
    job.stage("store")


def _archive(job: Job) -> None:
    """The files read moved to `INBOX/archive/<run>/`, each marked done in the state."""
    assert job.inbox is not None
    dest = job.opts.inbox / "archive" / job.result.run_id
    for i, f in enumerate(job.inbox.files):
        dest.mkdir(parents=True, exist_ok=True)
        os.replace(f.path, dest / f.name)
        job.state.done_move(job.result.run_id, f.name)
        if i == 0:
            _crash_point("during_archive")


def _send_all(job: Job) -> None:
    if job.sending:
        for report, messages in zip(job.reports, job.outboxes, strict=True):
            _send(report, messages, job.config, job.state, False, job.result, job.opts.now.isoformat())
        for period, messages in job.periods:
            _send(period, messages, job.config, job.state, False, job.result, job.opts.now.isoformat())
    job.stage("outbox")


def _close(job: Job) -> None:
    """Whatever happened: the backup finished (not left half made), the transaction rolled back
    if not committed, the state closed and the run logged."""
    _end_whole_again(job)  # not committed: its process ended
    if job.encoding is not None:  # a failed run: the thread finished, not left running
        with contextlib.suppress(Exception):
            job.encoding.result()
    if job.backed_up is not None:  # a failed run: the copy is finished, not left half made
        try:
            job.backed_up()
        except Exception:  # noqa: BLE001,S110 - the run's own failure is what is reported
            pass
    job.state.rollback()
    job.state.close()
    _write_log(job.opts.state, job.result, job.started)


def load_week(state: State, week: str) -> WeekReport | None:
    stored = state.week_report(week)
    if stored is None:
        return None
    return _decode_week(state, week, stored)


def _decode_week(state: State, week: str, stored: tuple[bytes, list[bytes] | None]) -> WeekReport:
    """A closed week's report from its stored form, with the earlier weeks its trends show."""
    report = WeekReport.from_bytes(stored[0])
    report.ledger_stored = stored[1]  # unpacked where ledger.csv is written (`write_ledger_csv`)
    report.earlier = state.recent_managers(week, TREND_WEEKS - 1)
    return report


def send_week(opts: RunOptions, config: Config, week: Week, resend: bool) -> RunResult:
    """`pipeline send`: (re)send a closed week's messages; re-renders its folder if it is missing."""
    result = RunResult(new_run_id(opts.now))
    if not has_state(opts.state, config):
        raise RunRefused(f"no state in {opts.state}: nothing has been closed yet")
    with office_lock(opts.state, config):
        state = open_office_state(opts.state, config, create=False)
        try:
            report = load_week(state, str(week))
            if report is None:
                raise RunRefused(f"{week} is not closed; run it first (pipeline run --week {week})")
            folder = opts.out / report.week
            if (folder / "results.json").exists():
                messages = mail.build_messages(report, folder, config)
            else:
                messages = publish(report, opts.out, result.run_id, config)
            _send(report, messages, config, state, resend, result, opts.now.isoformat(timespec="seconds"))
        finally:
            state.close()
    result.weeks = [str(week)]
    return result


def send_period(opts: RunOptions, config: Config, period: Period, resend: bool) -> RunResult:
    """`pipeline send --period`: the period's folder written again from the state (the same bytes
    when no week of it closed since) and its summary sent to whoever has not had it yet
    (all again with `resend`), remembered under the period's name."""
    result = RunResult(new_run_id(opts.now))
    if not has_state(opts.state, config):
        raise RunRefused(f"no state in {opts.state}: no week has been closed yet")
    with office_lock(opts.state, config):
        state = open_office_state(opts.state, config, create=False)
        try:
            report = _stored_period(state, period, config)
            if not report.weekly:
                raise RunRefused(f"no week of {period} is closed yet: nothing to send")
            messages = publish_period(report, opts.out, result.run_id, config)
            _send(report, messages, config, state, resend, result, opts.now.isoformat(timespec="seconds"))
        finally:
            state.close()
    result.periods = [str(period)]
    return result


def restore(folder: Path, which: str | None, now: datetime, config: Config | None = None) -> tuple[Path, Path | None]:
    """`pipeline state restore`: the state folder's database replaced by a backup (the newest,
    or the one named), under the run lock; returns the backup and where the replaced database
    was kept. Raises Locked (exit 75), RunRefused (no such backup: exit 2), RunFailed (the
    backup is damaged or too new: exit 1, nothing changed)."""
    if config is not None and config.state.url:
        raise RunRefused(BACKUPS_ON_SERVER)
    with state_lock(folder):
        try:
            backup = find_backup(folder, which)
        except StateError as exc:
            raise RunRefused(str(exc)) from None
        try:
            return backup, restore_backup(folder, backup, new_run_id(now))
        except StateError as exc:
            raise RunFailed(str(exc)) from None


BACKUPS_ON_SERVER = ("the state is on a PostgreSQL server ([state] url): its backups are the server's own "
                     "(pg_dump, base backups); backups and restore here are the embedded database's")


def status(opts: RunOptions, config: Config | None = None) -> dict[str, Any]:
    """Closed weeks, recent runs, files waiting in the inbox, messages not yet sent. Reads only."""
    files, skipped = list_inbox(opts.inbox)
    info: dict[str, Any] = {"closed_weeks": [], "runs": [], "waiting": [f.name for f in files],
                            "skipped": [name for name, _ in skipped], "unsent": {}}
    config = config or Config()
    if not has_state(opts.state, config):
        return info
    state = open_office_state(opts.state, config, create=False)
    try:
        info["closed_weeks"] = state.closed_weeks()
        info["runs"] = state.runs(5)
        for week in info["closed_weeks"]:
            outbox = opts.out / week / "outbox"
            if not outbox.is_dir():
                continue
            sent = {d for _, d in state.sent(week)}
            unsent = [p.name for p in sorted(outbox.glob("*.eml"))
                      if hashlib.sha256(p.read_bytes()).hexdigest() not in sent]
            if unsent:
                info["unsent"][week] = unsent
        for name in _period_folders(opts.out):   # months and quarters written so far
            sent = {d for _, d in state.sent(name)}
            unsent = [p.name for p in sorted((opts.out / name / "outbox").glob("*.eml"))
                      if hashlib.sha256(p.read_bytes()).hexdigest() not in sent]
            if unsent:
                info["unsent"][name] = unsent
    finally:
        state.close()
    logs = sorted((opts.state / "logs").glob("*.json")) if (opts.state / "logs").is_dir() else []
    if logs:
        info["last_log"] = json.loads(logs[-1].read_text(encoding="utf-8"))
    return info


def _period_folders(out: Path) -> list[str]:
    """The names of the period folders (`2026-11`, `2026-Q4`) in `out`."""
    if not out.is_dir():
        return []
    found = []
    for folder in sorted(out.iterdir()):
        try:
            period = Period.parse(folder.name)
        except ValueError:
            continue
        if str(period) == folder.name and folder.is_dir():
            found.append(folder.name)
    return found


def notify_failure(config: Config, error: str, now: datetime, todo: str = "") -> None:
    """Best effort: tell `admin_to` that the run failed and what to do (when SMTP is configured)."""
    try:
        mail.send_notice(config, error, now, todo)
    except Exception:  # noqa: BLE001 - a failed notice must never hide the run's own failure
        pass


def _write_log(folder: Path, result: RunResult, started: str) -> None:
    """A log file per run under the state folder (stages, weeks, stats) for the admin and the benchmark."""
    if not folder.is_dir():
        return
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{result.run_id}.json").write_text(json.dumps({
        "run_id": result.run_id, "started": started, "weeks": result.weeks, "rerendered": result.rerendered,
        "kept": result.kept,
        "stats": result.stats, "stages": result.stages, "replay_from": result.replay_from, "mail_sent": result.mail_sent,
        "mail_failures": result.mail_failures, "periods": result.periods,
    }, ensure_ascii=False, indent=2), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# migrate: this office's state copied to another store (SPEC §10)


@dataclass(frozen=True)
class Target:
    """Where `pipeline migrate --to` copies: a PostgreSQL url, or an embedded database's state
    folder (`sqlite:///abs/folder`, `sqlite:rel/folder`, or the folder's path)."""

    url: str
    folder: Path

    @classmethod
    def parse(cls, text: str) -> Target:
        from .config import ConfigError, check_state_url

        if text.startswith(("postgresql://", "postgres://")):
            try:
                return cls(check_state_url("--to", text), Path())
            except ConfigError as exc:
                raise RunRefused(str(exc)) from None
        if text.startswith("sqlite:"):
            text = text.removeprefix("sqlite:")
            text = text.removeprefix("//") if text.startswith("///") else text
        elif "://" in text:
            raise RunRefused(f"--to {text!r}: a postgresql://user@host:port/db url, or sqlite:///folder (a state folder)")
        if not text:
            raise RunRefused("--to names no folder")
        return cls("", Path(text))

    def describe(self, office: str) -> str:
        if self.url:
            from .postgres import describe

            return f"office {office!r} in {describe(self.url)}"
        return str(self.folder / "pipeline.db")


@dataclass
class Migrated:
    source: str
    target: str
    tables: dict[str, int]
    digest: str


def migrate(opts: RunOptions, config: Config, to: Target) -> Migrated:
    """Copy this office's whole state (history, the client-visit log, roster, closed weeks, runs,
    pending moves, sent mail, snapshots) from the configured store into `to`, in one transaction
    of the target, verified before it commits (each table's row count, and a digest of every
    closed week's stored results, report and followups.json). Both offices are locked meanwhile. Raises RunRefused (exit 2:
    no state, the target is the source, or already holds the office), Locked (75), RunFailed (1:
    the copy does not verify; the target is left as it was)."""
    if to.url and not config.office:
        raise RunRefused("office: set the office's name in the configuration: it names its part of the target database")
    if not has_state(opts.state, config):
        raise RunRefused(f"no state to copy: nothing stored yet in {opts.state if not config.state.url else config.office}")
    if (to.url or "") == config.state.url and (to.url or to.folder.resolve() == opts.state.resolve()):
        raise RunRefused("the target is the configured store itself")
    target_config = replace(config, state=replace(config.state, url=to.url))
    fresh = not has_state(to.folder, target_config)
    folder_was = to.folder.exists()
    # the target's lock: its folder's on SQLite, its office's on a server
    with office_lock(opts.state, config), office_lock(to.folder if not to.url else opts.state, target_config):
        source = open_office_state(opts.state, config, create=False)
        target: State | None = None
        try:
            target = open_office_state(to.folder, target_config)
            if not target.is_empty():
                raise RunRefused(f"{target.where} already holds the office's state: migrate copies into an empty one")
            copied = _copy_state(source, target)
            return Migrated(source.where, target.where, copied, source.results_digest())
        except BaseException:
            if target is not None:
                target.rollback()
                target.close()
                target = None
            if fresh and to.url:
                _forget_state(to.folder, target_config, True)
            elif fresh:  # the database made, not the folder it was asked into
                for name in ("pipeline.db", "pipeline.db-wal", "pipeline.db-shm"):
                    (to.folder / name).unlink(missing_ok=True)
                if not folder_was:
                    shutil.rmtree(to.folder, ignore_errors=True)
            raise
        finally:
            source.close()
            if target is not None:
                target.close()


def _copy_state(source: State, target: State) -> dict[str, int]:
    """Every table of `source` into `target` (same schema version: both opened migrate to this
    version), in one transaction; returns each table's row count."""
    tables = source.tables()
    missing = sorted(set(tables) - set(target.tables()))
    if missing:
        raise RunFailed(f"the target has no table {', '.join(missing)}: its schema differs from the source's")
    counts = {}
    target.begin()
    for table in tables:
        columns = source.columns(table)
        if set(columns) - set(target.columns(table)):
            raise RunFailed(f"the target's table {table} lacks columns of the source's: its schema differs")
        target.conn.execute(f"DELETE FROM {table}")  # rows its migrations made (the same as the source's)
        target.load(table, columns, source.dump(table, columns))
        counts[table] = source.count(table)
    wrong = {t: (n, target.count(t)) for t, n in counts.items() if target.count(t) != n}
    if wrong:
        raise RunFailed("the copy does not verify (rows in source, target): " +
                        ", ".join(f"{t} {a}, {b}" for t, (a, b) in wrong.items()))
    if target.results_digest() != source.results_digest():
        raise RunFailed("the copy does not verify: the closed weeks' stored results differ")
    target.commit()
    return counts


# ---------------------------------------------------------------------------------------------
# group: the offices of the database side by side (SPEC §10)


def group_week(opts: RunOptions, config: Config, week: Week) -> Path:
    """`pipeline group`: `OUT/group-W/` from the stored results of every office of the
    configured store that closed `week` (on SQLite, the one office). Reads only; takes no lock
    (each office's closed weeks are committed whole). Raises RunRefused (exit 2) when no office
    closed the week, RunFailed when the store cannot be read."""
    from .report.group import write_group

    try:
        if config.state.url:
            from .postgres import week_results

            found = week_results(config.state.url, str(week))
        elif has_state(opts.state, config):
            state = open_office_state(opts.state, config, create=False)
            try:
                row = state.conn.execute("SELECT results FROM weeks WHERE week = ?", (str(week),)).fetchone()
            finally:
                state.close()
            found = [] if row is None else [(config.office, row[0])]
        else:
            found = []
    except StateError as exc:
        raise RunFailed(str(exc)) from None
    if not found:
        raise RunRefused(f"no office has closed {week} yet")
    offices = [(office, json.loads(text)) for office, text in found]
    return write_group(opts.out, str(week), offices, config.lang, opts.now.isoformat(timespec="seconds"),
                       new_run_id(opts.now))


def _into_place(tmp: Path, final: Path, old: Path) -> None:
    """Rename a finished folder over `final`: the previous one set aside as `old` first, removed
    after, so that `final` is always either the old folder or the new one, whole (SPEC §5)."""
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        remove_folder(old)


UNLINKERS = 8   # threads removing a folder's files (`remove_folder`)


def remove_folder(folder: Path) -> None:
    """`shutil.rmtree(folder)`, its files unlinked by `UNLINKERS` threads at once first. Removing
    a week's folder written a while ago (1,500 files, 450 MB on the big office) one file at a
    time took seconds of waiting on the file system after each (3.3-4 s measured on a disk
    mounted with `discard`), a few threads a tenth of that; the CPU is the same."""
    files = [] if folder.is_symlink() else [os.path.join(root, name) for root, _, names in os.walk(folder)
                                             for name in names]
    if len(files) >= 2 * UNLINKERS:
        with ThreadPoolExecutor(UNLINKERS) as pool:
            for _ in pool.map(_unlink, files, chunksize=16):
                pass
    shutil.rmtree(folder)   # the folders, what a thread could not remove, a link (raising as it does)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
