"""The command line: a thin layer that parses options, calls one function, maps errors to exit codes.

Exit codes: 0 done; 1 the run failed and changed nothing; 2 bad usage or configuration;
3 the run is done but some emails could not be sent; 75 another run holds the lock.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from . import config as cfg
from .weeks import Week

if TYPE_CHECKING:  # the run's module is imported when a command needs it (start-up time)
    from .run import RunResult

# numpy's OpenBLAS starts an idle thread per core in each process that imports numpy, and that
# thread spins for a while before it sleeps: on a two-core machine it takes CPU from the reading
# workers, and the pipeline does no linear algebra. Set before anything imports numpy (this
# module imports neither numpy nor Arrow); the processes the run starts inherit it; the user's
# own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MAIL = 3
EXIT_LOCKED = 75

# What a big week's report writers and email builders need imported: they start from the
# reading workers' forkserver (`report.write.writers_context`), which imports these once.
REPORT_MODULES = ("pipeline.report.write", "pipeline.mail")
# An inbox from this size on may make a week big enough for those processes (20,000 rows, or
# 100 managers' statements: a week of a hundred managers' numbers is about a megabyte of
# workbooks). A smaller one's reports are written by the run's own process, and its first file
# is read sooner without the forkserver importing them first (a demo-sized run: 1.4 s, not 1.6).
REPORTS_FROM_BYTES = 1 << 20


def _config(path: str | None) -> cfg.Config:
    try:
        return cfg.load(path)
    except cfg.ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


@click.group()
@click.version_option(package_name="kam-pipeline")
def cli() -> None:
    """Weekly pipeline for key-account managers (大客户经理).

    Example: pipeline run --now 2026-11-30T08:00:00
    """


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per sheet.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
def validate(files: tuple[Path, ...], as_json: bool, config_path: str | None) -> None:
    """Classify every sheet of FILES and list row problems; changes nothing.

    Exit 0 when every file is readable and every recognised sheet complete, 1 otherwise.

    Example: pipeline validate input/号码.xlsx --json
    """
    from .validate import validate_files

    config = _config(config_path)
    reports, ok = validate_files(list(files), config.lang, config.limits.max_unzipped_mb, config.limits.max_file_mb)
    if as_json:
        click.echo(json.dumps(reports, ensure_ascii=False, indent=2))
    else:
        for r in reports:
            where = f"{r['file']}" + (f" / {r['sheet']}" if r["sheet"] is not None else "")
            if r["error"]:
                click.echo(f"{where}: {r['error']}: {r['message']}")
                continue
            if r["kind"] is None:
                click.echo(f"{where}: not recognised (no header in the first 10 rows)")
                continue
            click.echo(f"{where}: {r['kind']}, header row {r['header_row']}, {r['rows']} rows, "
                       f"{len(r['problems'])} problems")
            for p in r["problems"]:
                click.echo(f"  row {p['row']} [{p['column']}] {p['reason']}: {p['message']}")
    sys.exit(0 if ok else EXIT_FAILED)


@contextmanager
def _common_exits() -> Iterator[None]:
    """Exit 75 when another run holds the lock, 2 when the run refuses what was asked."""
    from . import run as runner

    try:
        yield
    except runner.Locked as exc:
        click.echo(f"locked: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    except runner.RunRefused as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _mail_outcome(result: Any) -> None:
    """What was sent and what was not; exit 3 when something was not delivered, so cron notices."""
    click.echo(f"emails sent: {result.mail_sent}, failed: {len(result.mail_failures)}")
    for key, recipient, error in result.mail_failures:
        click.echo(f"  not delivered: {key} to {recipient}: {error}", err=True)
    if result.mail_failures:
        sys.exit(EXIT_MAIL)


def _parse_now(value: str | None, config: cfg.Config) -> datetime:
    if value is None:
        return datetime.now(ZoneInfo(config.timezone)).replace(tzinfo=None, microsecond=0)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time like 2026-11-30T08:00:00", param_hint="--now") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(ZoneInfo(config.timezone)).replace(tzinfo=None)
    return parsed


def _parse_week(value: str | None) -> Week | None:
    if value is None:
        return None
    try:
        return Week.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from None


@cli.command()
@click.option("--week", "week_text", metavar="2026-W48", help="Compute up to this week (or re-render it if closed).")
@click.option("--inbox", type=click.Path(file_okay=False, path_type=Path), help="Inbox folder (default input/).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default output/).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default state/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
@click.option("--now", "now_text", metavar="2026-11-30T08:00:00", help="The clock, for reruns and tests.")
@click.option("--dry-run", is_flag=True, help="Compute and write outputs; store, close, send and move nothing.")
@click.option("--force", is_flag=True, help="Compute a week that has not ended yet.")
@click.option("--send", is_flag=True, help="Send the emails over SMTP (each message once).")
@click.option("--full-replay", is_flag=True, help="Replay the whole stored history, not from the last snapshot "
              "(the same results; slower).")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks of unexpected errors.")
def run(week_text: str | None, inbox: Path | None, out: Path | None, state_dir: Path | None,
        config_path: str | None, now_text: str | None, dry_run: bool, force: bool, send: bool, full_replay: bool,
        debug: bool) -> None:
    """Run the weekly job: read the inbox, apply the rules, write reports, close the weeks.

    Exit 0 done; 1 the run failed and changed nothing; 2 bad usage or configuration;
    3 done but some emails were not delivered; 75 another run holds the lock.

    Example: pipeline run --now 2026-11-30T08:00:00
    """
    from .io import sandbox

    config = _config(config_path)
    inbox_dir, out_dir, state = _paths(config, inbox, out, state_dir)
    asked = _parse_week(week_text)
    _start_helpers(state, config, asked, inbox_dir)
    from . import run as runner

    opts = runner.RunOptions(inbox=inbox_dir, out=out_dir, state=state, now=_parse_now(now_text, config),
                             week=asked, dry_run=dry_run, force=force, send=send, full_replay=full_replay)
    try:
        with _common_exits():
            try:
                result = runner.run(opts, config, echo=lambda m: click.echo(m, err=True))
            finally:
                sandbox.stop()  # its workers (reading, reports, emails) counted in this process's children
    except runner.RunFailed as exc:
        click.echo(f"run failed, nothing changed: {exc}", err=True)
        if exc.todo:
            click.echo(exc.todo, err=True)
        runner.notify_failure(config, str(exc), opts.now, exc.todo)
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001 - cron must get a message and exit 1, never a bare traceback
        if debug:
            raise
        message = f"unexpected error {type(exc).__name__}: {exc}"
        click.echo(f"run failed, nothing was committed: {message} (rerun with --debug for the traceback)", err=True)
        runner.notify_failure(config, message, opts.now)
        sys.exit(EXIT_FAILED)
    _say_what_ran(result, opts.out, dry_run)
    if send:
        _mail_outcome(result)


def _start_helpers(state: Path, config: cfg.Config, asked: Week | None, inbox: Path) -> None:
    """The reading workers' imports (with the intake's hooks and this script's), and, for an
    inbox of `REPORTS_FROM_BYTES` or more, the report writers' (`report.write`, `mail`: they
    start from the same forkserver), beside this process's. A closed week's re-render reads
    nothing and forks its writers from this process: the server is not started for it (it
    would import for nothing, on a core the re-render needs), only told what to import should
    anything start it after all. A writer started from a server that did not import its
    modules imports them itself."""
    from .io import READING_MODULES, sandbox
    from .state import week_closed

    helpers = [*READING_MODULES, "pipeline.intake", __name__]
    if asked is not None and week_closed(state, config.state.url, str(asked)):
        sandbox.preload([*helpers, *REPORT_MODULES])
    else:
        sandbox.warm([*helpers, *(REPORT_MODULES if _inbox_bytes(inbox) >= REPORTS_FROM_BYTES else ())])


def _inbox_bytes(inbox: Path) -> int:
    """The size of the files directly inside `inbox` (0 where it cannot be listed: the run says why)."""
    try:
        with os.scandir(inbox) as entries:
            return sum(entry.stat().st_size for entry in entries if entry.is_file())
    except OSError:
        return 0


def _say_what_ran(result: RunResult, out: Path, dry_run: bool) -> None:
    """What `run` did, on stdout: the week re-rendered (kept or written), the weeks closed (or
    previewed) and the periods written, with where; the rows' counters."""
    if result.rerendered:
        click.echo(f"re-rendered closed week {result.rerendered}: {out / result.rerendered}")
        if result.kept:
            click.echo("  its folder is as the run that wrote it left it, for the same program and settings: kept")
    for week in result.weeks:
        click.echo(f"{'previewed' if dry_run else 'closed'} {week}: {out / week}")
    for period in result.periods:
        click.echo(f"wrote {period}: {out / period}")
    if result.weeks:
        s = result.stats
        click.echo(f"rows read {s['rows_read']}, stored {s['rows_stored']}, duplicates dropped "
                   f"{s['duplicates_dropped']}, rejected {s['rejected']}")


@cli.command()
@click.argument("folder", required=False, default="templates-out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def template(folder: Path, lang: str) -> None:
    """Write blank input workbooks, one per kind, with the right headers into FOLDER.

    Example: pipeline template blank/ --lang zh
    """
    from .template import write_templates

    for path in write_templates(folder, lang):
        click.echo(str(path))


@cli.command()
@click.argument("folder", required=False, default="input", type=click.Path(file_okay=False, path_type=Path))
@click.option("--now", "now_text", metavar="2026-11-30T08:00:00", help="The clock; the demo covers the last complete week before it.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
def demo(folder: Path, now_text: str | None, config_path: str | None) -> None:
    """Write a realistic sample inbox for the last complete week into FOLDER (default input/).

    Example: pipeline demo input/ && pipeline run
    """
    from .demo import write_demo

    config = _config(config_path)
    for path in write_demo(folder, _parse_now(now_text, config)):
        click.echo(str(path))


def _paths(config: cfg.Config, inbox: Path | None, out: Path | None, state_dir: Path | None) -> tuple[Path, Path, Path]:
    return (inbox or Path(config.paths.inbox), out or Path(config.paths.out), state_dir or Path(config.paths.state))


@cli.command()
@click.option("--week", "week_text", metavar="2026-W48", help="A closed week.")
@click.option("--period", "period_text", metavar="2026-11", help="A month or a quarter (instead of --week): "
              "its summary for the leaders.")
@click.option("--resend", is_flag=True, help="Send again what was already sent.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default output/).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default state/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
@click.option("--now", "now_text", metavar="2026-11-30T08:00:00", help="The clock.")
def send(week_text: str | None, period_text: str | None, resend: bool, out: Path | None, state_dir: Path | None,
         config_path: str | None, now_text: str | None) -> None:
    """Send a closed week's emails (or a month's or quarter's summary with --period): only those
    not sent yet, or all again with --resend.

    Exit 0 all delivered; 3 some were not delivered (listed); 2 the week is not closed; 75 locked.

    Example: pipeline send --week 2026-W48
    """
    from . import run as runner
    from .periods import Period

    if (week_text is None) == (period_text is None):
        raise click.UsageError("give either --week (a closed week) or --period (a month or a quarter)")
    config = _config(config_path)
    inbox, out_dir, state = _paths(config, None, out, state_dir)
    opts = runner.RunOptions(inbox=inbox, out=out_dir, state=state, now=_parse_now(now_text, config), send=True)
    if period_text is not None:
        try:
            period = Period.parse(period_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--period") from None
        with _common_exits():
            result = runner.send_period(opts, config, period, resend)
        _mail_outcome(result)
        return
    week = _parse_week(week_text)
    assert week is not None
    try:
        with _common_exits():
            result = runner.send_week(opts, config, week, resend)
    except runner.RunFailed as exc:
        click.echo(f"send failed, nothing sent: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    _mail_outcome(result)


@cli.command()
@click.option("--inbox", type=click.Path(file_okay=False, path_type=Path), help="Inbox folder (default input/).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default output/).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default state/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(inbox: Path | None, out: Path | None, state_dir: Path | None, config_path: str | None,
           as_json: bool) -> None:
    """Closed weeks, the last run and its outcome, files waiting in the inbox, emails not yet sent.

    Example: pipeline status
    """
    from . import run as runner

    config = _config(config_path)
    inbox_dir, out_dir, state = _paths(config, inbox, out, state_dir)
    opts = runner.RunOptions(inbox=inbox_dir, out=out_dir, state=state, now=datetime.now())
    try:
        info = runner.status(opts, config)
    except runner.RunFailed as exc:
        click.echo(f"status failed: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    weeks = info["closed_weeks"]
    click.echo(f"closed weeks: {len(weeks)}" + (f" ({weeks[0]} .. {weeks[-1]})" if weeks else ""))
    if info["runs"]:
        last = info["runs"][0]
        click.echo(f"last run: {last['run_id']} at {last['finished']} (clock {last['now']}): {last['outcome']}, "
                   f"weeks {', '.join(json.loads(last['weeks'])) or '-'}")
    else:
        click.echo("last run: none committed yet")
    click.echo(f"waiting in {inbox_dir}: {len(info['waiting'])} file(s)" +
               (": " + ", ".join(info["waiting"]) if info["waiting"] else ""))
    if info["skipped"]:
        click.echo(f"  skipped (not inputs): {', '.join(info['skipped'])}")
    unsent = info["unsent"]
    click.echo(f"emails not yet sent: {sum(len(v) for v in unsent.values())}")
    for week, names in unsent.items():
        click.echo(f"  {week}: {len(names)}")


@cli.command()
@click.option("--to", "to", required=True, metavar="URL",
              help="postgresql://user@host:port/db, or sqlite:///path/to/state-folder (or the folder's path).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default state/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
def migrate(to: str, state_dir: Path | None, config_path: str | None) -> None:
    """Copy this office's whole state (history, roster, closed weeks, sent mail) from the
    configured store to another: a PostgreSQL database (the office keeps its name there), or an
    embedded database in a state folder. The copy is verified (every table's row count, and a
    digest of the closed weeks' stored results) before it is committed; then point the
    configuration at the target ([state] url, or paths.state with no url). The source is left
    as it was.

    Exit 0 copied; 1 the copy did not verify (the target is left as it was); 2 bad usage, no
    state to copy, or the target already holds the office; 75 a run holds a lock.

    Example: pipeline migrate --to postgresql://kam@db.example.com:5432/sales
    """
    from . import run as runner

    config = _config(config_path)
    _, _, state = _paths(config, None, None, state_dir)
    opts = runner.RunOptions(inbox=Path(config.paths.inbox), out=Path(config.paths.out), state=state,
                             now=datetime.now())
    try:
        with _common_exits():
            done = runner.migrate(opts, config, runner.Target.parse(to))
    except runner.RunFailed as exc:
        click.echo(f"migrate failed, the target is as it was: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"copied {done.source} to {done.target}: " +
               ", ".join(f"{table} {n}" for table, n in done.tables.items()) + " rows")
    click.echo(f"verified: row counts, and the closed weeks' results (sha256 {done.digest[:16]})")


@cli.command()
@click.option("--week", "week_text", required=True, metavar="2026-W48", help="A closed week.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default output/).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default state/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
@click.option("--now", "now_text", metavar="2026-11-30T08:00:00", help="The clock shown on the page.")
def group(week_text: str, out: Path | None, state_dir: Path | None, config_path: str | None,
          now_text: str | None) -> None:
    """Write OUT/group-WEEK/ (group.json, group.xlsx, group.html): every office of the database
    that closed WEEK side by side, its totals and its teams', from the stored results only.
    With the embedded database, the one office.

    Exit 0 written; 2 no office closed the week (or bad usage); 1 the database cannot be read.

    Example: pipeline group --week 2026-W48
    """
    from . import run as runner

    config = _config(config_path)
    week = _parse_week(week_text)
    assert week is not None
    inbox, out_dir, state = _paths(config, None, out, state_dir)
    opts = runner.RunOptions(inbox=inbox, out=out_dir, state=state, now=_parse_now(now_text, config))
    try:
        with _common_exits():
            folder = runner.group_week(opts, config, week)
    except runner.RunFailed as exc:
        click.echo(f"group failed: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"wrote {folder}")


@cli.command()
@click.option("--period", "period_text", required=True, metavar="2026-11",
              help="A month (2026-11) or a quarter (2026-Q4).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default output/).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default state/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
@click.option("--now", "now_text", metavar="2026-11-30T08:00:00", help="The clock (the period depends only on "
              "the closed weeks).")
def report(period_text: str, out: Path | None, state_dir: Path | None, config_path: str | None,
           now_text: str | None) -> None:
    """Write a month's or a quarter's folder OUT/<period>/ (period.json, summary.xlsx,
    summary.html, a page per manager) from the weeks closed so far; `complete` in period.json
    says whether every week of the period is closed. A run that closes a month's last week
    writes it by itself; this command writes it at any time. Sends nothing.

    Exit 0 written; 2 bad period or no state yet; 75 a run holds the lock.

    Example: pipeline report --period 2026-11
    """
    from . import run as runner
    from .periods import Period

    try:
        period = Period.parse(period_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None
    config = _config(config_path)
    inbox, out_dir, state = _paths(config, None, out, state_dir)
    opts = runner.RunOptions(inbox=inbox, out=out_dir, state=state, now=_parse_now(now_text, config))
    with _common_exits():
        written = runner.write_period_report(opts, config, period)
    results = written.results
    weeks = len(written.all_weeks)
    state_text = "complete" if results.complete else f"not complete: {len(results.weeks)} of {weeks} weeks closed"
    click.echo(f"wrote {period} ({state_text}): {out_dir / str(period)}")


@cli.group("state")
def state_group() -> None:
    """The state's backups: list them, restore one.

    Example: pipeline state backups
    """


@state_group.command("backups")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default state/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
def state_backups(state_dir: Path | None, config_path: str | None) -> None:
    """List the backups of the state, oldest first: name, when taken (the run's clock), the
    size of the database it restores and of the pages it added to the store (backups share the
    pages that did not change; a copy made by an earlier version shows its file's size).

    A committing run makes one of the state as it was before it; `[backups]` in the
    configuration says which are kept.

    Example: pipeline state backups --state state/
    """
    from . import run as runner
    from .state import list_backups

    config = _config(config_path)
    if config.state.url:
        click.echo(f"refused: {runner.BACKUPS_ON_SERVER}", err=True)
        sys.exit(EXIT_USAGE)
    _, _, state = _paths(config, None, None, state_dir)
    backups = list_backups(state)
    for b in backups:
        if b.database is None:  # a copy made by an earlier version
            click.echo(f"{b.name}  {b.taken:%Y-%m-%d %H:%M}  {b.size / 1e6:,.1f} MB")
        else:
            click.echo(f"{b.name}  {b.taken:%Y-%m-%d %H:%M}  database {b.database / 1e6:,.1f} MB, "
                       f"new pages {b.size / 1e6:,.1f} MB")
    if not backups:
        click.echo(f"no backups in {state}")


@state_group.command("restore")
@click.argument("backup", required=False)
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default state/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (TOML).")
def state_restore(backup: str | None, state_dir: Path | None, config_path: str | None) -> None:
    """Replace the state by a backup: the newest, or BACKUP (a name from `pipeline state
    backups`, or a file's path). The backup is checked whole first; the replaced database is kept
    in the state folder's replaced/ (restore that file to undo). Weeks closed after the backup
    are computed again by the next run: move their inputs back from the inbox's archive folder.

    Exit 0 restored; 1 the backup is damaged, nothing changed; 2 no such backup; 75 a run holds the lock.

    Example: pipeline state restore 20261207T080000_20261207T080012-1a2b3c
    """
    from . import run as runner

    config = _config(config_path)
    _, _, state = _paths(config, None, None, state_dir)
    try:
        with _common_exits():
            used, aside = runner.restore(state, backup, datetime.now(), config)
    except runner.RunFailed as exc:
        click.echo(f"restore failed, nothing changed: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"restored {used}")
    if aside is not None:
        click.echo(f"the replaced database is kept at {aside}; to undo: pipeline state restore {aside} --state {state}")


def main() -> None:
    """The `pipeline` command (and `python -m pipeline`): click parses, runs and exits."""
    cli()
