"""The CPU of one backup of a state, as a run makes it, for two versions of the product side by side.

A year run (`bench/year.py --keep`) leaves the state of its last week in bench/.cache/year-run/
state: the database after week 52 and the backups the rule kept. This script copies that state
folder aside and backs its database up as a run would before week 53, with the product of each
version given (a folder holding its `pipeline` package, e.g. `git archive REV pipeline | tar -x`),
alternating the versions, each backup in a fresh process (`make_backup` on a connection of its
own; CPU = user + system time of that call, all threads), into a copy of the state's backups as
they were: for the page store, a backup adds only what changed since the last one. Prints each
measurement and the medians, with the size the backup added.

With --fresh the backups folder starts empty: a state's first backup (the one after the very
first commit), which for the page store writes every page.

Usage: python bench/backup_cost.py STATE_FOLDER NAME=PRODUCT_DIR [NAME=PRODUCT_DIR ...] [--repeat 3] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ONE = r"""
import json, os, sqlite3, sys, time
from datetime import datetime
from pathlib import Path
from pipeline import state as st
folder = Path(sys.argv[1])
before = sum(f.stat().st_size for f in (folder / "backups").rglob("*") if f.is_file())
source = sqlite3.connect(folder / "pipeline.db")
t0, w0 = os.times(), time.perf_counter()
made = st.make_backup(source, folder, "bench", datetime(2027, 1, 4, 8))
t1, w1 = os.times(), time.perf_counter()
after = sum(f.stat().st_size for f in (folder / "backups").rglob("*") if f.is_file())
print(json.dumps({"cpu": t1.user + t1.system - t0.user - t0.system, "wall": w1 - w0, "added": after - before,
                  "name": made.name, "product": str(Path(st.__file__).parent)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("state", type=Path)
    ap.add_argument("products", nargs="+", metavar="NAME=PRODUCT_DIR")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fresh", action="store_true", help="into an empty backups folder (a state's first backup)")
    a = ap.parse_args()
    products = dict(p.split("=", 1) for p in a.products)
    db = a.state / "pipeline.db"
    print(f"database {db.stat().st_size / 1e6:,.0f} MB; backups kept "
          f"{sum(f.stat().st_size for f in (a.state / 'backups').rglob('*') if f.is_file()) / 1e6:,.0f} MB")
    found: dict[str, list[dict[str, float]]] = {name: [] for name in products}
    with tempfile.TemporaryDirectory(dir=a.state.parent) as tmp:
        for i in range(a.repeat):
            for name, product in products.items():
                work = Path(tmp) / f"{name}-{i}"
                work.mkdir()
                shutil.copyfile(db, work / "pipeline.db")
                if not a.fresh:
                    shutil.copytree(a.state / "backups", work / "backups")
                env = {**os.environ, "PYTHONPATH": str(Path(product).resolve())}
                done = subprocess.run([sys.executable, "-c", ONE, str(work)], capture_output=True, text=True, env=env, cwd=work,
                                      check=True)
                m = json.loads(done.stdout)
                found[name].append(m)
                print(f"{name} #{i + 1}: CPU {m['cpu']:.2f} s, wall {m['wall']:.2f} s, added {m['added'] / 1e6:,.1f} MB "
                      f"({m['name']}, from {m['product']})")
                shutil.rmtree(work)
    for name, ms in found.items():
        print(f"{name}: median CPU {statistics.median(m['cpu'] for m in ms):.2f} s, "
              f"added {statistics.median(m['added'] for m in ms) / 1e6:,.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
