"""The command line: a thin layer that parses options, calls one function, maps errors to exit codes.

Exit codes: 0 done; 1 the run failed and changed nothing; 2 bad usage or configuration;
3 the run is done but some emails could not be sent; 75 another run holds the lock.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import config as cfg

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MAIL = 3
EXIT_LOCKED = 75


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


def main() -> None:
    cli()
