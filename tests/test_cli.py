"""The command line as users meet it: help with examples, validate's JSON, python -m pipeline."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.helpers import LEADS, REGISTRATIONS, ROSTER, run_cli, workbook


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
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
    """`main` ends the process itself once a command is done: the code and every line written
    (stdout and stderr, piped, so block-buffered) must still come out."""
    good = workbook(tmp_path / "号码.xlsx", {"号码": (LEADS, [["张伟", f"1370013{i:04d}", "2026-11-26 09:00", ""]
                                                             for i in range(2000)])})
    listed = run_cli("validate", "--json", str(good))
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["rows"] == 2000
    wrong = run_cli("run", "--week", "not-a-week", cwd=tmp_path)
    assert wrong.returncode == 2 and "--week" in wrong.stderr
    missing = run_cli("validate", str(tmp_path / "absent.xlsx"))
    assert missing.returncode == 2 and "absent.xlsx" in missing.stderr


def test_the_command_never_imports_pandas(tmp_path: Path) -> None:
    """pyarrow imports pandas the first time it makes an array from Python values; the command
    keeps it out (0.6 s of CPU a process). A run that stores registrations and leads makes such
    arrays: pyarrow must be imported, pandas not, and the run must succeed."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    workbook(inbox / "名单.xlsx", {"名单": (ROSTER, [["张伟", "大客户经理", "一组", "zw@example.com", None, None],
                                                   ["刘总", "负责人", "一组", "boss@example.com", None, None]])})
    workbook(inbox / "备案.xlsx", {"备案": (REGISTRATIONS, [["13700137001", "2026-11-20 09:00", "张伟", "王先生"]])})
    workbook(inbox / "号码.xlsx", {"号码": (LEADS, [["张伟", "13700137002", "2026-11-26 09:00", "李女士"]])})
    done = run_cli("run", "--inbox", str(inbox), "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"),
                   "--now", "2026-11-30T08:00:00", cwd=tmp_path, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pyarrow" in imported and "pipeline.run" in imported
    # A refused attempt is listed as "pandas" alone; an import would bring its submodules.
    assert not {name for name in imported if name.startswith("pandas.")}
