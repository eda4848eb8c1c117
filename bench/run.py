"""The benchmark behind `make bench`: the weekly job on a big office's inbox, against a floor and a baseline.

1. Generate (or reuse from bench/.cache/) the big-office inbox: 500 managers in 25 teams, a ledger
   of 1,000,000 registrations, one week of 100,000 leads, 10,000 visits, 2,000 units, 5,000 deals,
   and a second week on top of it (see generate.py).
2. The floor: the same workbooks parsed by fastexcel alone into Arrow (floor.py).
3. The product, in a fresh folder per repetition:
   - full run: `pipeline run --week 2026-W46` on a copy of the inbox, empty state;
   - re-render: the same command again (the week is closed: no inbox is read; its folder is still
     as the run left it, so it is kept, see pipeline/rendered.py);
   - re-render after the folder was removed: the same command once more, every file written
     again from the stored results;
   - second week: the cumulative ledger grown by 5 % and a new week of submissions dropped into the
     same inbox, `pipeline run --week 2026-W47` on top of the stored history.
   Per-stage times come from the run's log, `<state>/logs/<run-id>.json`.
4. The naive baseline (baseline.py): pandas + openpyxl, the leads part alone.

Every command runs under measure.py, which reports its wall time, CPU time and peak RSS. The
figures are medians over --repeat repetitions (peak RSS: the largest). The table goes to stdout
and, as Markdown, to bench/.cache/last.md; the raw measurements to bench/.cache/last.json
(--report prints the table again from them).

With --at REV the product measured is the package as committed at REV (a snapshot of the tree
whose folder is put first on PYTHONPATH), not the working tree: figures of a known commit while others edit.

The baseline runs under --baseline-python (`make bench` passes an environment of its own with
pandas, bench/.cache/baseline-venv/); the product and the floor under this interpreter.

Usage: python bench/run.py [--repeat 3] [--quick] [--regen] [--no-baseline] [--baseline-python PY] [--keep]
       [--at REV] [--report]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/ is not a package)

ENV: dict[str, str] | None = None  # the product's environment (--at: PYTHONPATH to a snapshot)

STAGES = ("read", "store", "replay", "assess", "reports", "outbox")
NOW = {"2026-W46": "2026-11-16T08:00:00", "2026-W47": "2026-11-23T08:00:00"}
MB = 1_000_000  # peak RSS is shown in MB (10^6 bytes); the 2 GB target is 2,000 MB


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pipeline_exe() -> str | None:
    beside = Path(sys.executable).parent / "pipeline"
    exe = str(beside) if beside.exists() else shutil.which("pipeline")
    if exe is None:
        return None
    ok = subprocess.run([exe, "run", "--help"], capture_output=True, env=ENV).returncode == 0
    return exe if ok else None


def git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True)


def snapshot(rev: str) -> tuple[Path, str]:
    """The tree as committed at rev (package, templates), extracted into bench/.cache/at-<commit>/,
    its package compiled to bytecode as `make install` compiles the working tree's (`make
    bytecode`): where PYTHONDONTWRITEBYTECODE is set, a tree without it compiles every module
    again at each run's start, and a bigger tree for longer (0.39 s against 0.26 s for 051fb6c's)."""
    got = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    if got.returncode != 0:
        raise SystemExit(f"--at: unknown revision {rev!r}")
    sha = got.stdout.decode().strip()
    folder = generate.CACHE / f"at-{sha[:12]}"
    if not (folder / "pipeline" / "cli.py").exists():
        archive = git("archive", "--format=tar", sha)
        if archive.returncode != 0:
            raise SystemExit(f"--at: git archive failed: {archive.stderr.decode().strip()}")
        shutil.rmtree(folder, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="data")
    if not any((folder / "pipeline").glob("__pycache__/cli.*.pyc")):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder / "pipeline")],
                       stdout=subprocess.DEVNULL, check=True)
    return folder, sha[:7]


def measure(cmd: list[Any], work: Path, label: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> dict[str, Any]:
    """Run cmd under measure.py; its output goes to work/<label>.log."""
    res = work / f"{label}.json"
    out = work / f"{label}.log"
    with open(out, "wb") as f:
        subprocess.run([sys.executable, str(HERE / "measure.py"), str(res), "--", *map(str, cmd)],
                       stdout=f, stderr=subprocess.STDOUT, check=True, env=env, cwd=cwd)
    m = json.loads(res.read_text())
    m["rss"] = m["maxrss_kb"] * 1024 / MB
    if m["rc"] != 0:
        tail = out.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        m["error"] = "\n".join(tail)
    return m


def run_log(state: Path, since: float) -> dict[str, Any] | None:
    """The newest run log under state/logs written after `since`, or None."""
    logs = sorted((state / "logs").glob("*.json"), key=lambda p: p.stat().st_mtime) if (state / "logs").is_dir() else []
    if not logs or logs[-1].stat().st_mtime < since:
        return None
    try:
        return json.loads(logs[-1].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def product_run(exe: str, data: Path, work: Path, p: generate.Params) -> dict[str, dict[str, Any]]:
    """Full run of week 1, its re-render, then week 2 on top; in a fresh folder."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    inbox, out, state = work / "inbox", work / "out", work / "state"
    shutil.copytree(data / "week1", inbox)  # copy2 keeps the files' times

    def run(week: str, label: str) -> dict[str, Any]:
        since = time.time() - 1
        m = measure([exe, "run", "--inbox", inbox, "--out", out, "--state", state, "--week", week,
                     "--now", NOW[week]], work, label, ENV, cwd=work)  # no pipeline.toml there: defaults
        lg = run_log(state, since)
        m["stages"] = (lg or {}).get("stages")
        return m

    results = {"full": run(p.week1, "full")}
    if results["full"]["rc"] == 0:
        results["full"]["check"] = check_results(out / p.week1 / "results.json")
        results["rerender"] = run(p.week1, "rerender")  # its folder as the run left it: kept
        shutil.rmtree(out / p.week1)
        results["rewrite"] = run(p.week1, "rewrite")  # its folder gone: every file written from the state
        for f in sorted((data / "week2").iterdir()):
            shutil.copy2(f, inbox / f.name)
        results["week2"] = run(p.week2, "week2")
        if results["week2"]["rc"] == 0:
            results["week2"]["check"] = check_results(out / p.week2 / "results.json")
    return results


def check_results(path: Path) -> dict[str, Any] | None:
    """A few totals of results.json, to compare with what the generator put in."""
    if not path.exists():
        return None
    r = json.loads(path.read_text(encoding="utf-8"))
    ms = r.get("managers", [])
    total = Counter[str]()
    for m in ms:
        for k, v in m.get("achieved", {}).items():
            total[k] += v
    return {
        "managers": len(ms),
        "achieved": dict(total),
        "fined": sum(1 for m in ms if not m.get("met", True)),
        "deals": len(r.get("deals", [])),
        "deal_kinds": dict(Counter(str(d.get("kind") or d.get("reason")) for d in r.get("deals", []))),
        "rejections": dict(Counter(x.get("reason") for x in r.get("rejections", []))),
        "stats": r.get("stats"),
    }


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def secs(x: float) -> str:
    return "—" if x != x else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


def spread(xs: list[float]) -> str:
    if len(xs) < 2:
        return secs(median(xs))
    return f"{secs(median(xs))} ({secs(min(xs))}–{secs(max(xs))})"


def machine(commit: str | None) -> dict[str, str]:
    mem = "?"
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if commit is None:  # the working tree
        commit = git("rev-parse", "--short", "HEAD").stdout.decode().strip() or "?"
        if git("status", "--porcelain", "--", "pipeline").stdout.strip():
            commit += " with uncommitted changes to pipeline/"
    return {"cpus": str(os.cpu_count()), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "commit": commit}


def table(p: generate.Params, manifest: dict[str, Any], runs: dict[str, list[dict[str, Any]]],
          repeat: int, notes: list[str], mi: dict[str, str]) -> str:
    w1, w2 = manifest["weeks"]["week1"], manifest["weeks"]["week2"]
    rows1, rows2 = w1["rows"], w2["rows"]
    ok = {k: [m for m in v if m.get("rc") == 0] for k, v in runs.items()}
    walls = {k: [m["wall"] for m in v] for k, v in ok.items()}
    rss = {k: max((m["rss"] for m in v), default=float("nan")) for k, v in ok.items()}
    lines = [
        f"# Benchmark: {'quick (10x smaller) ' if p != generate.FULL else ''}big-office inbox",
        "",
        f"{p.teams * p.managers_per_team} managers in {p.teams} teams; "
        f"week 1 ({p.week1}) inbox {rows1:,} rows, week 2 ({p.week2}) inbox {rows2:,} rows; "
        f"median of {repeat} (range in brackets), peak RSS the largest; CPU = user + system time of the "
        "process and its children (less sensitive than wall time to other load on the machine).",
        f"Machine: {mi['cpus']} CPUs ({mi['cpu']}), {mi['memory']} memory, Python {mi['python']}, {mi['os']}; "
        f"Product: commit {mi['commit']}.",
        "",
        "| measurement | wall s | CPU s | peak RSS MB | rows/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]

    def row(label: str, key: str, rows: int | None) -> None:
        if key not in runs:
            return
        if not walls.get(key):
            lines.append(f"| {label} | {'failed' if runs[key] else 'not run'} | — | — | — |")
            return
        rate = f"{rows / median(walls[key]):,.0f}" if rows else "—"
        cpu = median([m["user"] + m["sys"] for m in ok[key]])
        lines.append(f"| {label} | {spread(walls[key])} | {secs(cpu)} | {rss[key]:,.0f} | {rate} |")

    row("floor: fastexcel → Arrow, week 1 inbox", "floor1", rows1)
    row("floor: fastexcel → Arrow, week 2 inbox", "floor2", rows2)
    row(f"pipeline run, full week {p.week1}", "full", rows1)
    row(f"pipeline run, re-render closed {p.week1}", "rerender", None)
    row(f"pipeline run, re-render closed {p.week1} after its folder was removed", "rewrite", None)
    row(f"pipeline run, second week {p.week2} on the stored history", "week2", rows2)
    row("baseline: pandas + openpyxl, leads part only, week 1", "baseline", w1["ledger_rows"] + p.leads)

    # stages
    stage_runs = [(k, lbl) for k, lbl in (("full", "full " + p.week1), ("rerender", "re-render"),
                                          ("rewrite", "re-render, folder removed"),
                                          ("week2", "second week " + p.week2)) if ok.get(k)]
    have_stages = [k for k, _ in stage_runs if any(m.get("stages") for m in ok[k])]
    if stage_runs:
        lines += ["", "| stage (s) | " + " | ".join(lbl for _, lbl in stage_runs) + " |",
                  "| --- |" + " ---: |" * len(stage_runs)]
        if have_stages:
            keys = list(STAGES) + sorted({s for k in have_stages for m in ok[k] for s in (m.get("stages") or {})}
                                         - set(STAGES))
            for s in keys:
                cells = []
                for k, _ in stage_runs:
                    vals = [m["stages"][s] for m in ok[k] if m.get("stages") and s in m["stages"]]
                    cells.append(secs(median(vals)) if vals else "—")
                lines.append(f"| {s} | " + " | ".join(cells) + " |")
            cells = []
            for k, _ in stage_runs:
                vals = [m["wall"] - sum(m["stages"].values()) for m in ok[k] if m.get("stages")]
                cells.append(secs(median(vals)) if vals else "—")
            lines.append("| rest (start-up, commit, archive) | " + " | ".join(cells) + " |")
        lines.append("| **wall** | " + " | ".join(secs(median(walls[k])) for k, _ in stage_runs) + " |")
        missing = [lbl for k, lbl in stage_runs if k not in have_stages]
        if missing:
            notes.append("no per-stage log (<state>/logs/<run-id>.json) for: " + ", ".join(missing)
                         + "; only the wall time is shown")

    # targets
    def ratio(a: str, b: str) -> float:
        return median(walls[a]) / median(walls[b]) if walls.get(a) and walls.get(b) else float("nan")

    def verdict(ok_: bool | None) -> str:
        return "—" if ok_ is None else ("**met**" if ok_ else "**not met**")

    full_floor = ratio("full", "floor1")
    base_full = ratio("baseline", "full")
    peak = max((rss[k] for k in ("full", "rerender", "rewrite", "week2") if walls.get(k)), default=float("nan"))
    rer = ratio("rerender", "full")
    rer_s = {k: median(walls[k]) if walls.get(k) else float("nan") for k in ("rerender", "rewrite")}
    sec = ratio("week2", "full")

    def known(x: float) -> bool:
        return x == x

    def fmt(x: float, spec: str, unit: str) -> str:
        return f"{x:{spec}} {unit}" if known(x) else "—"

    lines += [
        "",
        "| target | measured | verdict |",
        "| --- | ---: | --- |",
        f"| full run ≤ 4 × floor | {fmt(full_floor, '.1f', '×')} | {verdict(full_floor <= 4 if known(full_floor) else None)} |",
        f"| ≥ 8 × faster than the baseline | {fmt(base_full, '.1f', '×')} | {verdict(base_full >= 8 if known(base_full) else None)} |",
        f"| peak RSS ≤ 2 GB (2,000 MB) | {fmt(peak, ',.0f', 'MB')} | {verdict(peak <= 2000 if known(peak) else None)} |",
        f"| re-render ≤ ½ full run | {fmt(rer, '.2f', '×')} | {verdict(rer <= 0.5 if known(rer) else None)} |",
        f"| re-render ≤ 1.5 s | {fmt(rer_s['rerender'], '.2f', 's')} | "
        f"{verdict(rer_s['rerender'] <= 1.5 if known(rer_s['rerender']) else None)} |",
        f"| re-render after its folder was removed ≤ 1.5 s | {fmt(rer_s['rewrite'], '.2f', 's')} | "
        f"{verdict(rer_s['rewrite'] <= 1.5 if known(rer_s['rewrite']) else None)} |",
        f"| second week ≤ 1.2 × first | {fmt(sec, '.2f', '×')} | {verdict(sec <= 1.2 if known(sec) else None)} |",
    ]

    # what the product computed, against what the generator put in
    for key, wk in (("full", w1), ("week2", w2)):
        checks = [m["check"] for m in ok.get(key, []) if m.get("check")]
        if not checks:
            continue
        c, st = checks[0], wk["stats"]
        ach = c["achieved"]
        lines += ["", f"Results of {wk['week']}: {c['managers']} managers ({c['fined']} fined); "
                  f"counted leads {ach.get('leads', 0):,} (generator: {st.get('leads_accepted', 0):,} first "
                  f"registrations), visits {ach.get('visits', 0):,}, units {ach.get('units', 0):,}; "
                  f"{c['deals']:,} deals ({', '.join(f'{k} {v:,}' for k, v in sorted(c['deal_kinds'].items()))}); "
                  f"rejections: {', '.join(f'{k} {v:,}' for k, v in sorted(c['rejections'].items()))}."]
    for k, v in runs.items():
        for m in v:
            if m.get("rc") != 0:
                notes.append(f"{k} failed (exit {m.get('rc')}):\n\n```\n{m.get('error', '')}\n```")
                break
    if notes:
        lines += [""] + [f"Note: {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of every measurement (median; default 3)")
    ap.add_argument("--quick", action="store_true", help="a 10x smaller inbox, for a smoke test")
    ap.add_argument("--regen", action="store_true", help="generate the inbox again even if cached")
    ap.add_argument("--no-baseline", action="store_true", help="skip the baseline (it takes minutes)")
    ap.add_argument("--baseline-python", metavar="PY", default=sys.executable,
                    help="the interpreter that runs the baseline, with pandas (default: this one)")
    ap.add_argument("--keep", action="store_true", help="keep the run folders in bench/.cache/runs/")
    ap.add_argument("--at", metavar="REV", help="measure pipeline/ as committed at REV, not the working tree")
    ap.add_argument("--report", action="store_true",
                    help="measure nothing: print the table again from the last run's bench/.cache/last.json")
    a = ap.parse_args()
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    if a.report:
        raw = json.loads((generate.CACHE / "last.json").read_text(encoding="utf-8"))
        p = generate.Params(**raw["params"])
        print(table(p, raw["manifest"], raw["runs"], raw["repeat"], raw["notes"], raw["machine"]), end="")
        return 0
    global ENV
    commit = None
    if a.at:
        folder, commit = snapshot(a.at)
        ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    mi = machine(commit)
    p = generate.QUICK if a.quick else generate.FULL
    data, manifest = generate.ensure(p, a.regen, log)
    runs_dir = generate.CACHE / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    exe = pipeline_exe()
    notes: list[str] = []
    if exe is None:
        notes.append("`pipeline run` is not available: the product was not measured")
    runs: dict[str, list[dict[str, Any]]] = {"floor1": [], "floor2": []}
    if exe:
        runs.update(full=[], rerender=[], rewrite=[], week2=[])
    if not a.no_baseline:
        runs["baseline"] = []
    for r in range(a.repeat):
        work = runs_dir / f"r{r + 1}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        tag = f"[{r + 1}/{a.repeat}]"
        for i in (1, 2):
            m = measure([sys.executable, HERE / "floor.py", data, f"week{i}"], work, f"floor{i}")
            runs[f"floor{i}"].append(m)
            log(f"{tag} floor week {i}: {m['wall']:.2f} s, {m['rss']:,.0f} MB")
        if exe:
            res = product_run(exe, data, work / "product", p)
            for k, m in res.items():
                runs[k].append(m)
                st = m.get("stages")
                log(f"{tag} pipeline {k}: " + (f"{m['wall']:.2f} s, {m['rss']:,.0f} MB" if m["rc"] == 0 else
                                               f"FAILED (exit {m['rc']})")
                    + (" — " + ", ".join(f"{s} {v:.2f}" for s, v in st.items()) if st else ""))
        if not a.no_baseline:
            m = measure([a.baseline_python, HERE / "baseline.py", data / "week1", work / "baseline"], work, "baseline")
            runs["baseline"].append(m)
            log(f"{tag} baseline: {m['wall']:.2f} s, {m['rss']:,.0f} MB" if m["rc"] == 0
                else f"{tag} baseline FAILED (exit {m['rc']})")
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    raw = {"params": asdict(p), "manifest": manifest, "runs": runs, "repeat": a.repeat, "notes": list(notes),
           "machine": mi}
    (generate.CACHE / "last.json").write_text(json.dumps(raw, ensure_ascii=False, indent=1), encoding="utf-8")
    text = table(p, manifest, runs, a.repeat, notes, mi)
    print(text, end="")
    (generate.CACHE / "last.md").write_text(text, encoding="utf-8")
    return 0 if all(m.get("rc") == 0 for v in runs.values() for m in v) else 1


if __name__ == "__main__":
    sys.exit(main())
