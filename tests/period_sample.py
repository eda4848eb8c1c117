"""A month of a small office, run as cron would: nine managers in three teams, four Mondays of
`pipeline run` on real workbooks (2026-W45 to W48), so that the last run writes `out/2026-11/`.
What the README's pictures of a month show (`python -m tests.pictures`)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from tests.helpers import DEALS, LEADS, UNITS, VISITS, roster, run_cli, workbook

TEAMS = {"一组": ["张伟", "周杰", "孙丽"], "二组": ["王强", "吴霞", "马超"], "三组": ["刘洋", "陈静", "黄勇"]}
SKILL = {"张伟": 1.05, "周杰": 0.7, "孙丽": 0.95, "王强": 0.9, "吴霞": 1.1, "马超": 0.55, "刘洋": 1.0, "陈静": 0.85,
         "黄勇": 0.75}
FIRST_MONDAY = datetime(2026, 11, 2)


def month_office(root: Path) -> Path:
    """Run the four weeks into `root`; returns the output folder (`out/2026-11/` is the month)."""
    rng = random.Random(7)
    inbox, out, state = root / "in", root / "out", root / "state"
    people = [[m, "大客户经理", t, f"{i}{j}@example.com", None, None]
              for i, (t, ms) in enumerate(TEAMS.items()) for j, m in enumerate(ms)]
    people += [[f"销售{t}", "销售员", t, None, None, None] for t in TEAMS]
    people += [["梁宇", "负责人", "一组", "boss@example.com", None, None]]
    roster(inbox / "名单.xlsx", people)
    config = root / "pipeline.toml"
    config.write_text('office = "滨江壹号"\n', encoding="utf-8")
    team_of = {m: t for t, ms in TEAMS.items() for m in ms}
    earlier: dict[str, list[int]] = {}
    for k in range(4):
        start = FIRST_MONDAY + timedelta(days=7 * k)
        leads: list[list[object]] = []
        visits: list[list[object]] = []
        units: list[list[object]] = []
        deals: list[list[object]] = []
        for n, (m, skill) in enumerate(SKILL.items()):
            form = max(0.1, skill * (0.9 + 0.07 * k) * rng.uniform(0.85, 1.15) * (0.8 if m == "周杰" and k > 1 else 1))
            phones = [13000000000 + n * 100000 + k * 1000 + i for i in range(int(100 * form))]
            leads += [[m, p, start + timedelta(hours=9, minutes=i % 600), ""] for i, p in enumerate(phones)]
            units += [[m, f"{m}单位{k}-{i}", start + timedelta(days=2), "p.jpg"] for i in range(min(5, round(3 * form)))]
            brought = earlier.get(m, [])[:int(16 * form)]
            visits += [[m, p, start + timedelta(days=3, hours=10), f"销售{team_of[m]}"] for p in brought]
            deals += [[p, start + timedelta(days=5), f"销售{team_of[m]}", "8000", f"{n}-{k}{i}"]
                      for i, p in enumerate(brought[:rng.randint(0, 2)])]
            earlier[m] = phones
        workbook(inbox / f"号码{k}.xlsx", {"号码": (LEADS, leads)})
        workbook(inbox / f"单位{k}.xlsx", {"单位": (UNITS, units)})
        if visits:
            workbook(inbox / f"到访{k}.xlsx", {"到访": (VISITS, visits)})
        if deals:
            workbook(inbox / f"成交{k}.xlsx", {"成交": (DEALS, deals)})
        now = (start + timedelta(days=7, hours=8)).isoformat()
        done = run_cli("run", "--inbox", str(inbox), "--out", str(out), "--state", str(state), "--config", str(config),
                       "--now", now, *(["--week", "2026-W45"] if k == 0 else []))
        if done.returncode != 0:
            raise RuntimeError(done.stdout + done.stderr)
    return out
