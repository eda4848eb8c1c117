"""The state's two engines side by side (SPEC §10), part of `make bench`:

1. The big office's week (bench/generate.py: 500 managers, a million-row ledger) on the embedded
   SQLite database and on a PostgreSQL server: the full first week, then the second week on top
   of the stored history; the whole run and its `store` stage (from the run's log), alternately
   engine by engine (the machine is shared: CPU time is the steadier figure).
2. A group of 8 offices, each a quarter of the big office (its own copy of the same inbox, an
   office of its own in the one database): the 8 runs one after another, then all 8 at once in
   processes of their own; wall time from the first start to the last end, and CPU summed.

The PostgreSQL server is a throw-away cluster (tests/pgserver.py: initdb + pg_ctl on a free port,
removed at the end), durable like a production one (fsync on). Without PostgreSQL binaries on the
machine the script says so and exits 0. The table goes to stdout and bench/.cache/engines-last.md.

Usage: python bench/engines.py [--repeat 1] [--quick] [--offices 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import generate  # noqa: E402  (bench/ is not a package)

from tests.pgserver import PgServer, pg_bin  # noqa: E402

NOW = {"2026-W46": "2026-11-16T08:00:00", "2026-W47": "2026-11-23T08:00:00"}
QUARTER = replace(generate.FULL, ledger_rows=250_000, leads=25_000, visits=2_500, units=500, deals=1_250)
QUICK_QUARTER = replace(generate.QUICK, ledger_rows=25_000, leads=2_500, visits=250, units=50, deals=125)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def data(p: generate.Params) -> Path:
    """The cached inbox of `p` (generated once), keeping the other cached inboxes."""
    d = generate.data_dir(p)
    keep = {generate.data_dir(v).name for v in (generate.FULL, generate.QUICK, QUARTER, QUICK_QUARTER)}

    def build(tmp: Path) -> dict[str, Any]:
        log(f"generating the inbox ({p.ledger_rows:,} ledger rows, {p.leads:,} leads) into {d.name} ...")
        return generate.generate(p, tmp)

    generate.cached(d, build, keep)
    return d


def pipeline() -> str:
    return str(Path(sys.executable).parent / "pipeline")


def config(folder: Path, url: str, office: str) -> Path:
    path = folder / "pipeline.toml"
    body = f'office = "{office}"\n' + (f'[state]\nurl = "{url}"\n' if url else "")
    path.write_text(body, encoding="utf-8")
    return path


def start(work: Path, week: str, url: str, office: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`pipeline run` of `week` in `work` under measure.py (wall, CPU, peak RSS to a JSON file)."""
    res = work / f"{week}.json"
    cmd = [sys.executable, str(HERE / "measure.py"), str(res), "--", pipeline(), "run", "--inbox", str(work / "inbox"),
           "--out", str(work / "out"), "--state", str(work / "state"), "--week", week, "--now", NOW[week],
           "--config", str(config(work, url, office))]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(work / f"{week}.log", "wb")), res


def finish(proc: subprocess.Popen[bytes], res: Path, work: Path) -> dict[str, Any]:
    proc.wait()
    m = json.loads(res.read_text())
    m["cpu"] = m["user"] + m["sys"]
    if m["rc"] != 0:
        raise SystemExit(f"run failed in {work}: " + (work / f"{res.stem}.log").read_text(errors="replace")[-2000:])
    logs = sorted((work / "state" / "logs").glob("*.json"), key=lambda p: p.stat().st_mtime)
    m["stages"] = json.loads(logs[-1].read_text())["stages"] if logs else {}
    return m


def fresh(work: Path, inbox: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(inbox, work / "inbox")


def big_office(server: PgServer, p: generate.Params, repeat: int, runs: Path) -> dict[str, list[dict[str, Any]]]:
    d = data(p)
    out: dict[str, list[dict[str, Any]]] = {}
    for k in range(repeat):
        for engine, url in (("sqlite", ""), ("postgresql", server.url)):
            work = runs / f"big-{engine}"
            fresh(work, d / "week1")
            office = f"大客户 {k}"
            log(f"big office on {engine}: {p.week1} ...")
            before = server.cpu_seconds()
            first = finish(*start(work, p.week1, url, office), work)
            first["server_cpu"] = server.cpu_seconds() - before if url else 0.0
            for f in sorted((d / "week2").iterdir()):
                shutil.copy2(f, work / "inbox" / f.name)
            log(f"big office on {engine}: {p.week2} on the stored history ...")
            before = server.cpu_seconds()
            second = finish(*start(work, p.week2, url, office), work)
            second["server_cpu"] = server.cpu_seconds() - before if url else 0.0
            out.setdefault(f"{engine} {p.week1}", []).append(first)
            out.setdefault(f"{engine} {p.week2}", []).append(second)
    return out


def group(server: PgServer, p: generate.Params, n: int, runs: Path) -> dict[str, dict[str, float]]:
    d = data(p)
    out = {}
    for how in ("one after another", "all at once"):
        works = [runs / f"group-{how.replace(' ', '-')}-{i}" for i in range(n)]
        for work in works:
            fresh(work, d / "week1")
        log(f"{n} quarter offices, {how} ...")
        before = server.cpu_seconds()
        began = time.perf_counter()
        if how == "all at once":
            started = [(start(w, p.week1, server.url, f"{how} {i}"), w) for i, w in enumerate(works)]
            done = [finish(proc, res, w) for (proc, res), w in started]
        else:
            done = [finish(*start(w, p.week1, server.url, f"{how} {i}"), w) for i, w in enumerate(works)]
        wall = time.perf_counter() - began
        out[how] = {"wall": wall, "cpu": sum(m["cpu"] for m in done), "server_cpu": server.cpu_seconds() - before,
                    "slowest": max(m["wall"] for m in done), "store": statistics.median(m["stages"].get("store", 0)
                                                                                        for m in done)}
    return out


def table(big: dict[str, list[dict[str, Any]]], grp: dict[str, dict[str, float]], p: generate.Params,
          q: generate.Params, n: int) -> str:
    med = statistics.median
    lines = [f"## The state's engines: SQLite and PostgreSQL ({p.managers_per_team * p.teams} managers, "
             f"{p.ledger_rows:,}-row ledger; median of {len(next(iter(big.values())))})", "",
             "| run | engine | wall s | CPU s (run) | CPU s (server) | store stage s | peak RSS MB |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for key, ms in big.items():
        engine, week = key.split(" ")
        what = "full week" if week == p.week1 else "second week on the history"
        server = f"{med(m['server_cpu'] for m in ms):.2f}" if engine != "sqlite" else "—"
        lines.append(f"| {what} {week} | {engine} | {med(m['wall'] for m in ms):.2f} | {med(m['cpu'] for m in ms):.2f} | "
                     f"{server} | {med(m['stages'].get('store', 0) for m in ms):.2f} | "
                     f"{max(m['maxrss_kb'] for m in ms) / 1000:,.0f} |")
    lines += ["", f"## A group of {n} offices on one server, each a quarter of the big office "
              f"({q.ledger_rows:,}-row ledger, {q.leads:,} leads), {p.week1}", "",
              "| how | wall s (first start to last end) | CPU s (runs, sum) | CPU s (server) | slowest run s | "
              "store stage s (median) |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for how, m in grp.items():
        lines.append(f"| {how} | {m['wall']:.1f} | {m['cpu']:.1f} | {m['server_cpu']:.1f} | {m['slowest']:.1f} | "
                     f"{m['store']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="repetitions of the big office's runs (median)")
    ap.add_argument("--quick", action="store_true", help="a 10x smaller big office and group, for a smoke test")
    ap.add_argument("--offices", type=int, default=8, help="offices in the group (default 8)")
    a = ap.parse_args()
    bin_dir = pg_bin()
    if bin_dir is None:
        log("no PostgreSQL binaries (initdb, pg_ctl) on this machine: the engines' comparison is skipped")
        return 0
    p, q = (generate.QUICK, QUICK_QUARTER) if a.quick else (generate.FULL, QUARTER)
    runs = HERE / ".cache" / "engines-runs"
    server = PgServer(bin_dir, durable=True)
    try:
        big = big_office(server, p, a.repeat, runs)
        grp = group(server, q, a.offices, runs)
    finally:
        server.stop()
        shutil.rmtree(runs, ignore_errors=True)
    text = table(big, grp, p, q, a.offices)
    print(text)
    (HERE / ".cache" / "engines-last.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
