"""Whether two versions of the product write the same bytes for the big office's week.

A change meant to make writing faster must leave every file of `OUT/W/` as it was, the emails of
`outbox/` included. Two runs that close a week are not comparable byte for byte (the run's id is
in the summary), but two re-renders of one closed week are: they write the week again from what
the state stored. So, in a fresh folder under bench/.cache/same/:

1. `pipeline run --week 2026-W46` with BEFORE closes the week (empty state); its folder is kept;
2. the week re-rendered with BEFORE, compared with 1 (the re-render reproduces the week);
3. the week re-rendered with AFTER, compared with 1;
4. in a second folder, the week closed with AFTER and re-rendered with AFTER, the two compared
   (what AFTER stores for a week, it writes back the same).

Every file is compared by its bytes (SHA-256 and size); the names that differ, are missing or are
extra are printed, and the exit status is 1 when anything differs.

BEFORE and AFTER are git revisions (`--before main`, the default) or `.` for the working tree (the
default for AFTER); a revision's package is extracted as `bench/run.py --at` does.

Usage: python bench/same_outputs.py [--before REV] [--after REV] [--quick] [--keep]
       python bench/same_outputs.py --compare DIR1 DIR2
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/ is not a package)
import run as bench  # noqa: E402

WEEK = "2026-W46"


def digests(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under `folder` (its path relative to it) -> (size, SHA-256)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            out[path.relative_to(folder).as_posix()] = (path.stat().st_size, h.hexdigest())
    return out


def compare(a: Path, b: Path) -> list[str]:
    """What differs between the two folders, one line each; empty when every file is the same."""
    da, db = digests(a), digests(b)
    problems = [f"only in {a}: {name}" for name in sorted(da.keys() - db.keys())]
    problems += [f"only in {b}: {name}" for name in sorted(db.keys() - da.keys())]
    problems += [f"differs: {name} ({da[name][0]:,} bytes against {db[name][0]:,})"
                 for name in sorted(da.keys() & db.keys()) if da[name] != db[name]]
    if not problems:
        size = sum(s for s, _ in da.values())
        print(f"  same: {len(da):,} files, {size / 1e6:,.1f} MB", file=sys.stderr)
    return problems


def environment(rev: str) -> dict[str, str]:
    """The environment that runs the product at `rev` (`.`: the working tree, as installed)."""
    if rev == ".":
        return dict(os.environ)
    folder, _ = bench.snapshot(rev)
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))


def pipeline(env: dict[str, str], work: Path) -> None:
    exe = Path(sys.executable).parent / "pipeline"
    cmd = [str(exe), "run", "--inbox", "inbox", "--out", "out", "--state", "state", "--week", WEEK,
           "--now", bench.NOW[WEEK]]
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr.decode(errors='replace')[-2000:]}")


def fresh(work: Path, data: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(data / "week1", work / "inbox")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", default="main", help="the reference revision (default main)")
    ap.add_argument("--after", default=".", help="the revision checked, `.` for the working tree (default)")
    ap.add_argument("--quick", action="store_true", help="a 10x smaller inbox")
    ap.add_argument("--keep", action="store_true", help="keep the folders in bench/.cache/same/")
    ap.add_argument("--compare", nargs=2, metavar="DIR", help="only compare two folders")
    a = ap.parse_args()
    if a.compare:
        problems = compare(Path(a.compare[0]), Path(a.compare[1]))
        print("\n".join(problems) or "same")
        return 1 if problems else 0
    data, _ = generate.ensure(generate.QUICK if a.quick else generate.FULL, log=bench.log)
    before, after = environment(a.before), environment(a.after)
    root = generate.CACHE / "same"
    problems: list[str] = []
    work = root / "before"
    fresh(work, data)
    bench.log(f"closing {WEEK} with {a.before}")
    pipeline(before, work)
    closed = work / f"closed-{WEEK}"
    shutil.copytree(work / "out" / WEEK, closed)
    for label, env in ((a.before, before), (a.after, after)):
        bench.log(f"re-rendering {WEEK} with {label}, against the week as {a.before} closed it")
        pipeline(env, work)
        problems += compare(closed, work / "out" / WEEK)
    work = root / "after"
    fresh(work, data)
    bench.log(f"closing {WEEK} with {a.after}, then re-rendering it with {a.after}")
    pipeline(after, work)
    closed = work / f"closed-{WEEK}"
    shutil.copytree(work / "out" / WEEK, closed)
    pipeline(after, work)
    problems += compare(closed, work / "out" / WEEK)
    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(problems) or "same bytes: every file of every folder compared")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
