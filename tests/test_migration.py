"""A state written by the previous release (results.json schema 1) is read by this one: its
closed weeks read back as schema 2 with no corrections, and the next week goes on from them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LEADS, results, roster, run_cli, workbook

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS = "4b64c40"  # the last commit whose results.json is schema 1

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王芳", "大客户经理", "一组", None, None, None],
    ["李娜", "销售员", "一组", None, None, None],
]


def previous_release(folder: Path) -> Path:
    """The previous release's code (`pipeline/`, `templates/`) taken from git into `folder`."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS, "pipeline", "templates"],
                                 capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"the previous release ({PREVIOUS}) is not in this checkout's git history")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run_previous(code: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=code, env={**os.environ, "PYTHONPATH": str(code)})


def leads(path: Path, rows: list[list[Any]]) -> None:
    workbook(path, {"号码": (LEADS, rows)})


def test_a_state_of_schema_1_goes_on_and_re_renders_as_schema_2(tmp_path: Path) -> None:
    code = previous_release(tmp_path / "previous")
    inbox, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    where = ["--inbox", str(inbox), "--out", str(out), "--state", str(state)]
    roster(inbox / "名单.xlsx", PEOPLE)
    leads(inbox / "号码.xlsx", [["张伟", 13800138000, datetime(2026, 11, 17, 9), ""]])
    old = run_previous(code, "run", *where, "--now", "2026-11-23T08:00:00")
    assert old.returncode == 0, old.stderr
    w47_old = results(out, "2026-W47")
    assert w47_old["schema"] == 1 and "clawback" not in w47_old["managers"][0]

    leads(inbox / "号码.xlsx", [["王芳", 13800138001, datetime(2026, 11, 24, 9), ""]])
    new = run_cli("run", *where, "--now", "2026-11-30T08:00:00")
    assert new.returncode == 0, new.stderr
    w48 = results(out, "2026-W48")
    assert w48["schema"] == 2 and (w48["rulings"], w48["clawbacks"], w48["adjustments"]) == ([], [], [])
    assert [(m["name"], m["streak"], m["net"]) for m in w48["managers"]] == [
        ("张伟", 2, "-560.00"), ("王芳", 2, "-559.00")], "the streaks go on from the stored week"

    # 2026-W48 is November's last week: the month is made of the week the previous release stored
    # (its managers read from the state, without clawback or adjustment) and this run's week;
    # `report --period` reads both back from the state and writes the same folder.
    month = json.loads((out / "2026-11" / "period.json").read_text(encoding="utf-8"))
    assert month["weeks"] == ["2026-W47", "2026-W48"] and month["complete"] is False
    assert [(m["name"], m["weeks_assessed"], m["fines"]["total"], m["clawback"], m["net"])
            for m in month["managers"]] == [("张伟", 2, "1119.00", "0.00", "-1119.00"),
                                            ("王芳", 2, "1119.00", "0.00", "-1119.00")]
    written = run_cli("report", "--period", "2026-11", "--out", str(tmp_path / "again"), "--state", str(state))
    assert written.returncode == 0, written.stderr
    for name in ("period.json", "summary.html", "managers/张伟.html"):
        assert (tmp_path / "again" / "2026-11" / name).read_bytes() == (out / "2026-11" / name).read_bytes(), name

    (out / "2026-W47" / "results.json").unlink()
    again = run_cli("run", *where, "--week", "2026-W47", "--now", "2026-12-01T08:00:00")
    assert again.returncode == 0 and "re-rendered" in again.stdout, again.stderr
    expected = {**w47_old, "schema": 2, "rulings": [], "clawbacks": [], "adjustments": [],
                "managers": [{**m, "clawback": "0.00", "adjustment": "0.00"} for m in w47_old["managers"]]}
    w47 = results(out, "2026-W47")
    assert w47 == expected
    assert list(w47) == ["schema", "week", "start", "end", "managers", "deals", "rejections", "rulings", "clawbacks",
                         "adjustments", "stats"]
    assert list(w47["managers"][0])[7:11] == ["commission", "clawback", "adjustment", "net"]
    assert json.loads((out / "2026-W47" / "results.json").read_text(encoding="utf-8"))["schema"] == 2
    payout = (out / "2026-W47" / "payout.csv").read_text(encoding="utf-8-sig").splitlines()
    assert payout == ["week,name,team,email,commission_visit,commission_lead,clawback,adjustment,fines,net",
                      "2026-W47,张伟,一组,zw@example.com,0.00,0.00,0.00,0.00,559.00,-559.00",
                      "2026-W47,王芳,一组,,0.00,0.00,0.00,0.00,560.00,-560.00"]
