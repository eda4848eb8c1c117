"""The benchmark behind `make bench-year`: a year of Mondays, run as cron would.

1. Generate (or reuse from bench/.cache/year-<hash>/) 52 consecutive weekly inboxes for a quarter
   of the big office (generate.py's office, a quarter of its rows): 500 managers in 25 teams, a
   cumulative registrations workbook of 250,000 rows in week 1 that the admin drops again every
   week grown by 250 rows (the earlier rows again plus that week's new ones), and every week
   25,000 leads, 2,500 visits, 500 units, 1,250 deals (29,250 new rows a week) and the roster.
2. For each week in turn, in one folder: its files are dropped into the one inbox and
   `pipeline run --now <the Monday after the week, 08:00>` runs without --week, as cron would;
   the run archives what it read. Measured: wall time and peak RSS (measure.py), the stages from
   the run's log `<state>/logs/<run-id>.json`, the state folder's size (backups included), the
   database's size, the output folders' size (all the year wrote: the earlier weeks' folders
   are removed as it goes, `prune_outputs`). A table row is printed as soon as the week is done.
3. At the end: the ratios of the last week to the first (wall, peak RSS, state size) and the
   totals. The table goes to stdout and, as Markdown, to bench/.cache/year-last.md; the raw
   figures to bench/.cache/year-last.json.

With --at REV the product measured is the package as committed at REV (see run.py).

With --check-full every week is also run with --full-replay on a state of its own (not measured)
and its results.json, ledger.csv, payout.csv and followups.json compared with the measured run's.

Usage: python bench/year.py [--weeks 52] [--quick | --tiny] [--regen] [--keep] [--check-full] [--at REV]
       [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/ is not a package)
import run as bench_run  # noqa: E402
from generate import DAY, Ledger, SheetSpec  # noqa: E402

WEEKS = 52
MB = 1_000_000
STAGES = bench_run.STAGES


@dataclass(frozen=True)
class Year:
    """The office (generate.Params: its shape and one week's submissions) and the year's course."""

    office: generate.Params
    first_week: str = "2026-W01"
    weeks: int = WEEKS           # weeks generated (the benchmark may run fewer)
    ledger_growth: int = 250     # new registrations in the cumulative workbook each week


QUARTER = Year(replace(generate.FULL, ledger_rows=250_000, leads=25_000, visits=2_500, units=500, deals=1_250))
QUICK = Year(replace(generate.FULL, teams=5, managers_per_team=10, ledger_rows=25_000, leads=2_500, visits=250,
                     units=50, deals=125), ledger_growth=25)
TINY = Year(replace(generate.FULL, teams=2, managers_per_team=4, salespeople_per_team=2, ledger_rows=2_000,
                    leads=200, visits=20, units=10, deals=10), ledger_growth=10)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------

class YearOffice(generate.Office):
    """generate.py's office with a pool of phone numbers big enough for a year of weeks."""

    def __init__(self, y: Year) -> None:
        super().__init__(y.office)
        p, rng = y.office, self.rng
        need = p.ledger_rows + y.weeks * (y.ledger_growth + 2 * p.leads + 2 * p.visits + 2 * p.deals) + 1000
        size = int(need * 1.05)
        draw = rng.choice(np.array(generate.PREFIXES, dtype=np.int64), size) * 100_000_000 \
            + rng.integers(0, 100_000_000, size)
        self.pool = rng.permutation(np.unique(draw))[:need]
        self.pool_at = 0


def week_name(monday: date) -> str:
    y, w, _ = monday.isocalendar()
    return f"{y}-W{w:02d}"


def cache_key(y: Year) -> str:
    """A hash of the parameters and of the generator's source (generate.py and this file's part)."""
    h = hashlib.sha256(json.dumps(asdict(y), sort_keys=True).encode())
    h.update(Path(generate.__file__).read_bytes())
    for f in (YearOffice, week_name, ledger_sheets, generate_year):
        h.update(inspect.getsource(f).encode())
    return h.hexdigest()[:12]


def ledger_sheets(o: generate.Office, led: Ledger) -> list[SheetSpec]:
    """The cumulative registrations workbook: one sheet per calendar year, as an admin keeps it."""
    phone = [str(x) for x in led.phone.tolist()]
    t = led.t.tolist()
    reg = [o.registrants[r] for r in led.reg.tolist()]
    days = led.t // DAY
    sheets = []
    first, last = (generate.EPOCH + timedelta(days=int(days[0]))).year, (generate.EPOCH + timedelta(days=int(days[-1]))).year
    for year in range(first, last + 1):
        lo = int(np.searchsorted(days, generate.secs(datetime(year, 1, 1)) // DAY))
        hi = int(np.searchsorted(days, generate.secs(datetime(year + 1, 1, 1)) // DAY))
        if hi > lo:
            cols = {"手机号码": phone[lo:hi], "登记时间": t[lo:hi], "登记人": reg[lo:hi], "客户": led.customer[lo:hi]}
            sheets.append(SheetSpec(f"{year}年", "registrations", None, cols))
    return sheets


def _write(path: str, sheets: list[SheetSpec]) -> tuple[str, list[dict[str, Any]]]:
    return path, generate.write_workbook(Path(path), sheets)


def generate_year(y: Year, out: Path) -> dict[str, Any]:
    """Every week's inbox into out/weekNN/; returns the manifest."""
    t0 = time.perf_counter()
    p = y.office
    o = YearOffice(y)
    monday = generate.week_start(y.first_week).date()
    day0 = generate.secs(generate.week_start(y.first_week)) // DAY
    ledger = generate.make_ledger(o, p.ledger_rows, day0 - 365, 365)
    h = generate.History(o, ledger)
    roster = {
        "姓名": [r[0] for r in o.roster], "岗位": [r[1] for r in o.roster], "团队": [r[2] for r in o.roster],
        "邮箱": [r[3] for r in o.roster], "入职日期": [r[4] for r in o.roster],
    }
    weeks: list[dict[str, Any]] = []
    infos: dict[str, list[dict[str, Any]]] = {}
    prev: generate.Week | None = None
    workers = max(1, min(2, os.cpu_count() or 1))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: list[Any] = []

        def collect(keep: int) -> None:
            while len(pending) > keep:
                path, info = pending.pop(0).get()
                infos[path] = info

        for i in range(y.weeks):
            wmon = monday + timedelta(weeks=i)
            name = week_name(wmon)
            wday0 = day0 + 7 * i
            extra = None
            if i > 0:  # this week's new registrations, in the workbook dropped after it
                extra = generate.make_ledger(o, y.ledger_growth, wday0, 7)
                ledger = Ledger(np.concatenate([ledger.phone, extra.phone]), np.concatenate([ledger.t, extra.t]),
                                np.concatenate([ledger.reg, extra.reg]), ledger.customer + extra.customer)
            wk = generate.gen_week(o, h, name, ledger, prev)
            if extra is not None:
                h.add_ledger(extra)
            prev = wk
            folder = out / f"week{i + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            label = generate.week_label(name)
            leads = {k: v for k, v in wk.leads.items() if not k.startswith("_")}
            files = [
                ("客户登记备案.xlsx", ledger_sheets(o, ledger)),
                (f"诚意客户号码汇总表_{name}.xlsx", [SheetSpec(label, "leads", f"诚意客户号码汇总表（{label}）", leads)]),
                (f"到访登记_{name}.xlsx", [SheetSpec(label, "visits", f"到访登记（{label}）", wk.visits)]),
                (f"拓展单位登记_{name}.xlsx", [SheetSpec(label, "units", None, wk.units)]),
                (f"成交记录_{name}.xlsx", [SheetSpec(label, "deals", None, wk.deals)]),
                ("团队名单.xlsx", [SheetSpec("团队名单", "roster", None, roster)]),
            ]
            for fname, sheets in files:
                pending.append(pool.apply_async(_write, (str(folder / fname), sheets)))
            collect(keep=2 * len(files))  # the next week is generated while these are written
            now = datetime.combine(wmon + timedelta(days=7), datetime.min.time()) + timedelta(hours=8)
            weeks.append({"folder": folder.name, "week": name, "now": now.isoformat(), "stats": wk.stats,
                          "ledger_rows": len(ledger.phone), "files": [str(folder / f) for f, _ in files]})
            if (i + 1) % 10 == 0:
                log(f"  generated {i + 1} weeks ({time.perf_counter() - t0:.0f} s)")
        collect(keep=0)
    for w in weeks:
        files = [{"name": Path(f).name, "sheets": infos[f]} for f in w.pop("files")]
        w["files"] = sorted(files, key=lambda f: f["name"])
        w["rows"] = sum(s["rows"] for f in files for s in f["sheets"])
    return {"year": asdict(y), "key": cache_key(y), "weeks": weeks, "seconds": round(time.perf_counter() - t0, 1)}


def ensure(y: Year, cache: Path, force: bool = False) -> tuple[Path, dict[str, Any]]:
    """The cached weekly inboxes for y, generated first if missing. Returns (folder, manifest)."""
    d = cache / f"year-{cache_key(y)}"

    def build(tmp: Path) -> dict[str, Any]:
        p = y.office
        log(f"generating {y.weeks} weekly inboxes ({p.teams * p.managers_per_team} managers, a ledger of "
            f"{p.ledger_rows:,} rows, {p.leads + p.visits + p.units + p.deals:,} new rows a week) into {d.name} ...")
        return generate_year(y, tmp)

    manifest, made = generate.cached(d, build, {f"year-{cache_key(v)}" for v in (QUARTER, QUICK, TINY)}, force)
    if made:
        log(f"generated in {manifest['seconds']:.0f} s")
    return d, manifest


# --------------------------------------------------------------------------------------------
# The year of runs
# --------------------------------------------------------------------------------------------

def size(path: Path) -> int:
    """Bytes of the files under path (or of the file)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def run_week(exe: str, data: Path, w: dict[str, Any], work: Path, label: str) -> dict[str, Any]:
    inbox, out, state = work / "inbox", work / "out", work / "state"
    inbox.mkdir(parents=True, exist_ok=True)
    for f in sorted((data / w["folder"]).iterdir()):
        shutil.copy2(f, inbox / f.name)
    since = time.time() - 1
    m = bench_run.measure([exe, "run", "--inbox", inbox, "--out", out, "--state", state, "--now", w["now"]],
                          work, label, bench_run.ENV, cwd=work)  # no pipeline.toml there: the defaults
    lg = bench_run.run_log(state, since)
    m["stages"] = (lg or {}).get("stages") or {}
    m["state"] = size(state) / MB
    m["db"] = sum(size(state / f"pipeline.db{sfx}") for sfx in ("", "-wal")) / MB
    m["backups"] = size(state / "backups") / MB
    m["out"] = size(out) / MB
    m["week"] = w["week"]
    m["rows"] = w["rows"]
    m["left"] = sorted(f.name for f in inbox.iterdir() if f.is_file())  # files the run did not archive
    return m


def prune_outputs(out: Path, keep: str) -> float:
    """Remove the output folders of the weeks and periods before `keep` (MB removed): a run never
    reads them, and a year of a quarter office's folders is some 18 GB. The "out MB" column still
    counts them: what the year wrote in all."""
    removed = 0.0
    for folder in out.iterdir() if out.is_dir() else []:
        if folder.is_dir() and folder.name != keep:
            removed += size(folder) / MB
            shutil.rmtree(folder, ignore_errors=True)
    return removed


COMPARED = ("results.json", "ledger.csv", "payout.csv", "followups.json")


def check_full(exe: str, data: Path, w: dict[str, Any], work: Path) -> list[str]:
    """The week run again in `work/full/` (a state of its own, fed the same inboxes) with
    --full-replay, the reference that replays the whole stored history instead of starting from a
    snapshot (not measured); returns the files of `COMPARED` whose bytes differ from the measured
    run's (none: the incremental replay gave the full replay's results)."""
    import subprocess

    full = work / "full"
    inbox, out, state = full / "inbox", full / "out", full / "state"
    inbox.mkdir(parents=True, exist_ok=True)
    for f in sorted((data / w["folder"]).iterdir()):
        shutil.copy2(f, inbox / f.name)
    done = subprocess.run([exe, "run", "--inbox", str(inbox), "--out", str(out), "--state", str(state),
                           "--now", w["now"], "--full-replay"], cwd=full, env=bench_run.ENV,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return [f"full replay failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"]
    shutil.rmtree(state / "backups", ignore_errors=True)  # only the reference's results are wanted
    mine, theirs = work / "out" / w["week"], out / w["week"]
    differ = [name for name in COMPARED
              if not (mine / name).is_file() or (mine / name).read_bytes() != (theirs / name).read_bytes()]
    shutil.rmtree(theirs, ignore_errors=True)
    return differ


def fmt(x: float) -> str:
    return "—" if x != x else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


HEAD = ["week", "ISO week", "inbox rows", "wall s", "CPU s", *[f"{s} s" for s in STAGES], "peak RSS MB",
        "state MB", "database MB", "backups MB", "out MB"]


def row(i: int, m: dict[str, Any]) -> str:
    if m["rc"] != 0:
        return f"| {i} | {m['week']} | {m['rows']:,} | failed (exit {m['rc']}) |" + " — |" * (len(HEAD) - 4)
    st = m["stages"]
    cells = [str(i), m["week"], f"{m['rows']:,}", fmt(m["wall"]), fmt(m["user"] + m["sys"]),
             *[fmt(st[s]) if s in st else "—" for s in STAGES],
             f"{m['rss']:,.0f}", f"{m['state']:,.0f}", f"{m['db']:,.0f}", f"{m['backups']:,.0f}", f"{m['out']:,.0f}"]
    return "| " + " | ".join(cells) + " |"


def summary(runs: list[dict[str, Any]]) -> list[str]:
    ok = [m for m in runs if m["rc"] == 0]
    if not ok:
        return ["", "No week ran through: no ratios."]
    a, b = ok[0], ok[-1]
    first, last = runs.index(a) + 1, runs.index(b) + 1

    def ratio(k: str) -> str:
        return f"{b[k] / a[k]:.2f} ×" if a[k] else "—"

    lines = [
        "",
        f"| last week ({last}) / first week ({first}) | first | last | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| wall s | {fmt(a['wall'])} | {fmt(b['wall'])} | {ratio('wall')} |",
        f"| CPU s | {fmt(a['user'] + a['sys'])} | {fmt(b['user'] + b['sys'])} | "
        f"{(b['user'] + b['sys']) / (a['user'] + a['sys']):.2f} × |",
        f"| peak RSS MB | {a['rss']:,.0f} | {b['rss']:,.0f} | {ratio('rss')} |",
        f"| state MB (backups included) | {a['state']:,.0f} | {b['state']:,.0f} | {ratio('state')} |",
        f"| database MB | {a['db']:,.0f} | {b['db']:,.0f} | {ratio('db')} |",
        "",
        f"Totals over {len(ok)} weeks run: wall {sum(m['wall'] for m in ok):,.1f} s, CPU "
        f"{sum(m['user'] + m['sys'] for m in ok):,.1f} s, inbox rows {sum(m['rows'] for m in ok):,}; "
        f"largest peak RSS {max(m['rss'] for m in ok):,.0f} MB; state after the last week {b['state']:,.0f} MB "
        f"(database {b['db']:,.0f} MB, backups {b['backups']:,.0f} MB); outputs {b['out']:,.0f} MB.",
    ]
    checked = [m for m in ok if "differ" in m]
    if checked:
        unequal = [f"{m['week']} ({', '.join(m['differ'])})" for m in checked if m["differ"]]
        lines.append(f"Full replay (--full-replay, a state of its own fed the same inboxes) against the "
                     f"measured incremental run: {', '.join(COMPARED)} byte-identical in "
                     f"{len(checked) - len(unequal)} of {len(checked)} weeks"
                     + (f"; different in {'; '.join(unequal)}." if unequal else "."))
    failed = [f"{i + 1} ({m['week']}, exit {m['rc']})" for i, m in enumerate(runs) if m["rc"] != 0]
    if failed:
        lines.append(f"Failed weeks: {', '.join(failed)}.")
    left = [f"{i + 1}: {', '.join(m['left'])}" for i, m in enumerate(runs) if m["rc"] == 0 and m["left"]]
    if left:
        lines.append(f"Files left in the inbox after a run (not archived): {'; '.join(left)}.")
    return lines


def header(y: Year, n: int, mi: dict[str, str]) -> list[str]:
    p = y.office
    return [
        f"# A year of Mondays: {n} consecutive weeks run as cron would",
        "",
        f"{p.teams * p.managers_per_team} managers in {p.teams} teams; a cumulative registrations workbook of "
        f"{p.ledger_rows:,} rows in week 1, dropped again every week grown by {y.ledger_growth:,} rows; "
        f"every week {p.leads:,} leads, {p.visits:,} visits, {p.units:,} units, {p.deals:,} deals and the roster; "
        f"`pipeline run --now <Monday after the week> 08:00` without --week. One run a week (no repetition): "
        f"the figures carry the noise of the machine (CPU s: user + system time of the run, steadier than the "
        f"wall time when other work shares the machine).",
        f"Machine: {mi['cpus']} CPUs ({mi['cpu']}), {mi['memory']} memory, Python {mi['python']}, {mi['os']}; "
        f"product: commit {mi['commit']}.",
        "",
        "| " + " | ".join(HEAD) + " |",
        "| " + " | ".join(["---:"] * len(HEAD)) + " |",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weeks", type=int, default=WEEKS, help=f"weeks to run (default {WEEKS}, at most {WEEKS})")
    size_ = ap.add_mutually_exclusive_group()
    size_.add_argument("--quick", action="store_true", help="a 10x smaller office, for a smoke test")
    size_.add_argument("--tiny", action="store_true", help="a tiny office (8 managers), for the test suite")
    ap.add_argument("--regen", action="store_true", help="generate the inboxes again even if cached")
    ap.add_argument("--keep", action="store_true", help="keep the run folder (bench/.cache/year-run/)")
    ap.add_argument("--at", metavar="REV", help="measure pipeline/ as committed at REV, not the working tree")
    ap.add_argument("--check-full", action="store_true",
                    help="also run every week with --full-replay on a state of its own (not measured) and "
                         "compare results.json, ledger.csv, payout.csv and followups.json with the measured run's")
    ap.add_argument("--report", action="store_true",
                    help="run nothing: print the table again from the last run's year-last.json")
    ap.add_argument("--cache", metavar="DIR", type=Path, default=generate.CACHE,
                    help="where the inboxes, the run folder and the results go (default bench/.cache/)")
    a = ap.parse_args(argv)
    if not 1 <= a.weeks <= WEEKS:
        ap.error(f"--weeks must be between 1 and {WEEKS}")
    if a.report:
        raw = json.loads((a.cache / "year-last.json").read_text(encoding="utf-8"))
        y = Year(generate.Params(**raw["year"].pop("office")), **raw["year"])
        runs = raw["runs"]
        lines = header(y, len(runs), raw["machine"]) + [row(i + 1, m) for i, m in enumerate(runs)] + summary(runs)
        print("\n".join(lines))
        return 0
    commit = None
    if a.at:
        folder, commit = bench_run.snapshot(a.at)
        bench_run.ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(folder),
                                                                                  os.environ.get("PYTHONPATH")])))
    exe = bench_run.pipeline_exe()
    if exe is None:
        log("`pipeline run` is not available: install the product first (make install)")
        return 2
    mi = bench_run.machine(commit)
    y = TINY if a.tiny else QUICK if a.quick else QUARTER
    data, manifest = ensure(y, a.cache, a.regen)
    work = a.cache / "year-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lines = header(y, a.weeks, mi)
    for line in lines:
        print(line, flush=True)
    runs: list[dict[str, Any]] = []
    pruned = 0.0  # MB of the earlier weeks' folders removed (see prune_outputs)
    for i, w in enumerate(manifest["weeks"][:a.weeks]):
        m = run_week(exe, data, w, work, f"week{i + 1:02d}")
        m["out"] += pruned
        if a.check_full and m["rc"] == 0:
            m["differ"] = check_full(exe, data, w, work)
        pruned += prune_outputs(work / "out", w["week"])
        runs.append(m)
        lines.append(row(i + 1, m))
        print(lines[-1] + (f" full replay differs: {', '.join(m['differ'])}" if m.get("differ") else ""), flush=True)
        if m["rc"] != 0:
            log(m.get("error", ""))
            break  # the state is that of the week before: the next weeks would measure something else
    tail = summary(runs)
    lines += tail
    print("\n".join(tail), flush=True)
    raw = {"year": asdict(y), "machine": mi, "runs": runs}
    (a.cache / "year-last.json").write_text(json.dumps(raw, ensure_ascii=False, indent=1), encoding="utf-8")
    (a.cache / "year-last.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if runs and all(m["rc"] == 0 for m in runs) and len(runs) == a.weeks else 1


if __name__ == "__main__":
    sys.exit(main())
