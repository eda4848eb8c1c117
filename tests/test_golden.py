"""Golden examples, as csvkit keeps `examples/`: real inboxes and the results.json the product writes for them.

`tests/golden/<case>/` holds one run: `inbox/` (the files an admin drops), `args` (the run's `--week`
and `--now`), and `results.json` and `payout.csv` (what `pipeline run` must write for that week). A
run that closes more weeks than its `--week` (a catch-up) keeps each other week's two files in a
folder named after the week (`2026-W48/results.json`). A case of several runs on one state holds
numbered folders `1/`, `2/`, … of that shape, run in order into the same inbox, out and state. A
`config.toml` in the case folder is passed with `--config`; without one the defaults apply.
`tests/golden/README.md` says what each case exercises.

Each run copies its inbox, runs the real command in a subprocess and compares each week's written
results.json with the expected one as parsed JSON, every field, and its payout.csv line for line
(where the case has one): nothing in them varies from run to run (no run id, no clock but `--now`),
so nothing is ignored. A change of the results that is meant is recorded with
`tests/golden/regen.py`.
"""

from __future__ import annotations

import difflib
import json
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "args").is_file() or (p / "1" / "args").is_file())


def runs_of(case: Path) -> list[Path]:
    """The case's run folders in order: 1/, 2/, … or the case folder itself."""
    numbered = sorted((p for p in case.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    return numbered or [case]


def run_case(case: Path, work: Path) -> Iterator[tuple[Path, Path]]:
    """Run every run of `case` in `work`, in order; yield, for each week a run closed, the folder
    of its expected files (the run's folder for its `--week`, else `<run>/<week>/`) and the folder
    the run wrote for it."""
    inbox = work / "inbox"
    inbox.mkdir(parents=True)
    config = case / "config.toml"
    for run in runs_of(case):
        options = shlex.split((run / "args").read_text(encoding="utf-8"))
        week = options[options.index("--week") + 1]
        for path in sorted((run / "inbox").iterdir()):
            shutil.copy(path, inbox / path.name)
        done = run_cli("run", *options, "--inbox", str(inbox), "--out", str(work / "out"),
                       "--state", str(work / "state"), *(["--config", str(config)] if config.exists() else []),
                       cwd=work)
        where = run.relative_to(GOLDEN)
        assert done.returncode == 0, f"{where}: exit {done.returncode}\n{done.stderr[-3000:]}"
        assert f"closed {week}:" in done.stdout, f"{where}: {done.stdout}"
        closed = [line.split()[1].rstrip(":") for line in done.stdout.splitlines() if line.startswith("closed ")]
        for each in closed:
            yield (run if each == week else run / each), work / "out" / each


def _lines(results: dict[str, Any]) -> list[str]:
    return json.dumps(results, ensure_ascii=False, indent=1, sort_keys=True).splitlines()


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path) -> None:
    """The real command on a real inbox writes exactly the expected results.json."""
    for run, written in run_case(GOLDEN / case, tmp_path):
        expected_file = run / "results.json"
        assert expected_file.is_file(), f"{expected_file.relative_to(GOLDEN)} is missing: see tests/golden/regen.py"
        expected = json.loads(expected_file.read_text(encoding="utf-8"))
        actual = json.loads((written / "results.json").read_text(encoding="utf-8"))
        if actual != expected:
            diff = difflib.unified_diff(_lines(expected), _lines(actual), "expected", "written", lineterm="")
            pytest.fail(f"{expected_file.relative_to(GOLDEN)} differs from what the run wrote:\n" + "\n".join(diff),
                        pytrace=False)
        payout = run / "payout.csv"
        if payout.is_file():
            want = payout.read_text(encoding="utf-8-sig").splitlines()
            got = (written / "payout.csv").read_text(encoding="utf-8-sig").splitlines()
            if got != want:
                diff = difflib.unified_diff(want, got, "expected", "written", lineterm="")
                pytest.fail(f"{payout.relative_to(GOLDEN)} differs from what the run wrote:\n" + "\n".join(diff),
                            pytrace=False)


def test_every_case_is_collected() -> None:
    """A case folder that lost its `args` would silently stop being tested."""
    assert set(CASES) == {p.name for p in GOLDEN.iterdir() if (p / "inbox").is_dir() or (p / "1").is_dir()}
    assert len(CASES) >= 4
