"""SPEC §3 `EMPTY_WEEK`: a run never closes by accident a week whose workbooks were not dropped.

A week with managers assessed but no `leads`, `visits` or `units` row dated in it is refused
(exit 1, nothing changed, the admin told what to do); `--force` closes it as it is, a dry run
warns, a week of holidays only (nobody assessed) closes without rows.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.helpers import LEADS, VISITS, results, roster, workbook
from tests.test_delivery import Inbox, smtp  # noqa: F401  (the SMTP server fixture)

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zw@example.com", None, None],
    ["王强", "大客户经理", "二组", None, None, None],
    ["李娜", "销售员", "一组", None, None, None],
]


class Office:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.inbox, self.out, self.state = root / "in", root / "out", root / "state"
        self.inbox.mkdir(parents=True)

    def run(self, *args: str, now: str) -> Any:
        argv = ["run", "--inbox", str(self.inbox), "--out", str(self.out), "--state", str(self.state),
                "--now", now, *args]
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    def leads(self, name: str, rows: list[list[Any]]) -> None:
        workbook(self.inbox / name, {"号码": (LEADS, rows)})

    def files(self) -> dict[str, str]:
        """Every file under the inbox, the output and the state's database, with its digest."""
        found = {}
        for folder in (self.inbox, self.out):
            for p in sorted(folder.rglob("*")) if folder.exists() else []:
                if p.is_file():
                    found[str(p.relative_to(self.root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        db = self.state / "pipeline.db"
        if db.exists():
            found["db"] = hashlib.sha256(db.read_bytes()).hexdigest()
        return found


@pytest.fixture
def office(tmp_path: Path) -> Office:
    o = Office(tmp_path)
    roster(o.inbox / "名单.xlsx", PEOPLE)
    o.leads("号码W47.xlsx", [["张伟", 13800138000, datetime(2026, 11, 17, 9), ""]])
    assert o.run(now="2026-11-23T08:00:00").exit_code == 0  # W47 closed, its files archived
    return o


def test_the_cron_run_with_an_empty_inbox_refuses_and_changes_nothing(office: Office) -> None:
    """Monday morning, the admin has not dropped the week's workbooks (only a new roster): exit
    1, `EMPTY_WEEK` naming the week and what to do; the state, the outputs and the inbox are as
    they were. The next run, with the files, closes the week normally."""
    roster(office.inbox / "名单.xlsx", PEOPLE)
    before = office.files()
    refused = office.run(now="2026-11-30T08:00:00")
    assert refused.exit_code == 1
    assert "EMPTY_WEEK" in refused.output and "2026-W48" in refused.output and "--force" in refused.output
    assert "2026-11-23" in refused.output and "2026-11-29" in refused.output
    assert office.files() == before
    assert not (office.out / "2026-W48").exists()

    workbook(office.inbox / "到访.xlsx", {"到访": (VISITS, [["张伟", 13800138000, datetime(2026, 11, 24, 10), "李娜"]])})
    done = office.run(now="2026-11-30T09:00:00")
    assert done.exit_code == 0, done.output
    zw = next(m for m in results(office.out, "2026-W48")["managers"] if m["name"] == "张伟")
    assert zw["achieved"] == {"leads": 0, "visits": 1, "units": 0}
    assert sorted(p.name for p in office.inbox.iterdir() if p.is_file()) == []


def test_a_row_rejected_by_a_rule_shows_the_week_was_worked(office: Office) -> None:
    """The near miss: a single lead rejected by a rule (stored) is a row dated in the week."""
    office.leads("号码.xlsx", [["张伟", 13800138000, datetime(2026, 11, 24, 9), ""]])  # DUPLICATE_OWN
    done = office.run(now="2026-11-30T08:00:00")
    assert done.exit_code == 0, done.output
    assert [r["reason"] for r in results(office.out, "2026-W48")["rejections"]] == ["DUPLICATE_OWN"]


def test_rows_rejected_while_reading_or_late_do_not_count(office: Office) -> None:
    """A row rejected while reading is not stored, nor is a `LATE` one: the week is still empty."""
    office.leads("号码.xlsx", [["张伟", "not a phone", datetime(2026, 11, 24, 9), ""],
                              ["张伟", 13800138001, datetime(2026, 11, 18, 9), ""]])  # in closed W47: LATE
    refused = office.run(now="2026-11-30T08:00:00")
    assert refused.exit_code == 1 and "EMPTY_WEEK" in refused.output


def test_a_catch_up_whose_middle_week_is_empty_fails_whole(office: Office) -> None:
    office.leads("号码.xlsx", [["张伟", 13800138001, datetime(2026, 11, 24, 9), ""],
                              ["王强", 13800138002, datetime(2026, 12, 9, 9), ""]])
    before = office.files()
    refused = office.run(now="2026-12-14T08:00:00")
    assert refused.exit_code == 1 and "EMPTY_WEEK" in refused.output
    assert "2026-W49" in refused.output and "2026-W48 (" not in refused.output and "2026-W48（" not in refused.output
    assert office.files() == before
    assert not any((office.out / w).exists() for w in ("2026-W48", "2026-W49", "2026-W50"))


def test_force_closes_an_empty_week_as_it_is_and_a_re_render_never_fails_it(office: Office) -> None:
    forced = office.run("--force", now="2026-11-30T08:00:00")
    assert forced.exit_code == 0 and "EMPTY_WEEK" in forced.output
    assert [(m["name"], m["fines"]["total"]) for m in results(office.out, "2026-W48")["managers"]] == [
        ("张伟", "560.00"), ("王强", "560.00")]
    again = office.run("--week", "2026-W48", now="2026-12-01T08:00:00")
    assert again.exit_code == 0 and "re-rendered" in again.output


def test_a_dry_run_computes_an_empty_week_and_warns(office: Office) -> None:
    before = office.files()
    preview = office.run("--dry-run", now="2026-11-30T08:00:00")
    assert preview.exit_code == 0 and "EMPTY_WEEK" in preview.output
    assert results(office.out, "2026-W48")["managers"][0]["fines"]["total"] == "560.00"
    assert {k: v for k, v in office.files().items() if "2026-W48" not in k} == before


def test_the_refusal_of_an_unfinished_week_and_file_errors_come_first(office: Office) -> None:
    unfinished = office.run("--week", "2026-W49", now="2026-12-02T08:00:00")
    assert unfinished.exit_code == 2 and "EMPTY_WEEK" not in unfinished.output
    workbook(office.inbox / "坏表.xlsx", {"S": (["客户经理", "手机号码", "备注"], [["张伟", 13800138000, ""]])})
    broken = office.run(now="2026-11-30T08:00:00")
    assert broken.exit_code == 1 and "MISSING_COLUMN" in broken.output and "EMPTY_WEEK" not in broken.output


def test_a_week_of_holidays_only_closes_without_rows(office: Office, tmp_path: Path) -> None:
    """Nobody is assessed in a week whose seven days are holidays: nothing to refuse."""
    config = tmp_path / "p.toml"
    days = ", ".join(f'"2026-11-{d}"' for d in range(23, 30))
    config.write_text(f"holidays = [{days}]\n", encoding="utf-8")
    done = office.run("--config", str(config), now="2026-11-30T08:00:00")
    assert done.exit_code == 0, done.output
    r = results(office.out, "2026-W48")
    assert (r["managers"], r["deals"], r["rejections"]) == ([], [], [])


def test_the_admin_is_told_by_email(office: Office, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    received, port = smtp
    config = office.root / "p.toml"
    config.write_text(f'[mail]\nfrom = "report@example.com"\nadmin_to = ["admin@example.com"]\n'
                      f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n', encoding="utf-8")
    refused = office.run("--config", str(config), now="2026-11-30T08:00:00")
    assert refused.exit_code == 1
    assert received.to() == ["admin@example.com"]
    body = received.messages[0][1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "EMPTY_WEEK" in body and "2026-W48" in body and "pipeline run --force" in body
