"""Write the expected results.json of the golden cases from the product as it is now.

Use it only when a change of the results is meant: a rule changed on purpose, a field added to
results.json, a new case. Never to make a failing test pass without knowing why it failed. After
it, read `git diff tests/golden` as a reviewer would, check by hand the figures the change should
move (and that nothing else moved), and commit the expected files with the change that moved them.

A new case: a folder with `inbox/` and `args` (or numbered runs `1/`, `2/`, …), then this script
with the case's name; add a line to README.md saying what it exercises.

Usage (from the repository's root): .venv/bin/python tests/golden/regen.py [CASE ...]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.test_golden import CASES, GOLDEN, run_case  # noqa: E402  (run as a script)


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        print(f"no such case: {', '.join(unknown)} (cases: {', '.join(CASES)})", file=sys.stderr)
        return 2
    for name in names or CASES:
        with tempfile.TemporaryDirectory() as work:
            for run, written in run_case(GOLDEN / name, Path(work)):
                run.mkdir(exist_ok=True)
                for file in ("results.json", "payout.csv"):
                    shutil.copyfile(written / file, run / file)
                    print(run / file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
