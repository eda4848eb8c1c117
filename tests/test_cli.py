"""The command line as users meet it: help with examples, validate's JSON, python -m pipeline."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.helpers import LEADS, run_cli, workbook


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under `group`, as the words that call it."""
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


@pytest.mark.parametrize("command", _commands(cli), ids=" ".join)
def test_every_command_has_an_example(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_validate_json_shape_and_exit_codes(tmp_path: Path) -> None:
    good = workbook(tmp_path / "号码.xlsx", {
        "第48周": (LEADS, [["张伟", 13800138000, datetime(2026, 11, 24, 9), ""], ["张伟", "123", "昨天", ""]]),
        "说明": (["随便写点什么"], [["x"]]),
    }, title="标题")
    result = CliRunner().invoke(cli, ["validate", "--json", str(good)])
    assert result.exit_code == 0, result.output
    sheets = json.loads(result.output)
    assert [(s["sheet"], s["kind"], s["header_row"], s["rows"], s["error"]) for s in sheets] == [
        ("第48周", "leads", 2, 2, None), ("说明", None, None, 0, None)]
    assert set(sheets[0]) >= {"file", "sheet", "kind", "header_row", "rows", "error", "problems"}
    problem = sheets[0]["problems"][0]
    assert (problem["row"], problem["column"], problem["value"], problem["reason"]) == (4, "phone", "123", "INVALID_PHONE")
    assert problem["message"]

    bad = workbook(tmp_path / "坏.xlsx", {"S": (["客户经理", "手机号码"], [])})
    result = CliRunner().invoke(cli, ["validate", "--json", str(good), str(bad)])
    assert result.exit_code == 1
    assert [s["error"] for s in json.loads(result.output)] == [None, None, "MISSING_COLUMN"]


def test_python_dash_m(tmp_path: Path) -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "run" in result.stdout and "validate" in result.stdout


def test_the_command_ends_with_its_exit_code_and_all_its_output(tmp_path: Path) -> None:
    """The real command in a subprocess: its exit code and every line it wrote (stdout and stderr,
    piped, so block-buffered) come out."""
    good = workbook(tmp_path / "号码.xlsx", {"号码": (LEADS, [["张伟", f"1370013{i:04d}", "2026-11-26 09:00", ""]
                                                             for i in range(2000)])})
    listed = run_cli("validate", "--json", str(good))
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["rows"] == 2000
    wrong = run_cli("run", "--week", "not-a-week", cwd=tmp_path)
    assert wrong.returncode == 2 and "--week" in wrong.stderr
    missing = run_cli("validate", str(tmp_path / "absent.xlsx"))
    assert missing.returncode == 2 and "absent.xlsx" in missing.stderr
