"""Configuration: defaults, the shipped example, and every kind of mistake naming its key."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline import config as cfg

ROOT = Path(__file__).resolve().parents[1]


def test_example_file_equals_the_defaults() -> None:
    assert cfg.load(ROOT / "pipeline.example.toml") == cfg.Config()


def test_defaults_are_the_spec_numbers() -> None:
    c = cfg.Config()
    assert (c.targets.units, c.targets.visits, c.targets.leads) == (3, 16, 100)
    assert (c.fines.units, c.fines.visits, c.fines.leads) == (Decimal("100.00"), Decimal("10.00"), Decimal("1.00"))
    assert (c.commission.visit_share, c.commission.lead_fee) == (Decimal("0.50"), Decimal("200.00"))
    assert c.assessment.dismissal_after_weeks == 4


@pytest.mark.parametrize("text,key", [
    ("colour = 1", "colour"),
    ("[targets]\nleads = -1", "targets.leads"),
    ("[targets]\nleads = 1.5", "targets.leads"),
    ('[fines]\nunits = "abc"', "fines.units"),
    ('[commission]\nvisit_share = "1.5"', "commission.visit_share"),
    ('lang = "fr"', "lang"),
    ('timezone = "Mars/Olympus"', "timezone"),
    ('holidays = ["2027-13-01"]', "holidays"),
    ('[smtp]\nsecurity = "tls"', "smtp.security"),
    ('[smtp]\npassword = "x"', "smtp.password"),
    ("[smtp]\nport = 70000", "smtp.port"),
    ("[assessment]\ndismissal_after_weeks = 0", "assessment.dismissal_after_weeks"),
    ("[mail]\nsummary_to = \"a@b\"", "mail.summary_to"),
    ("[paths]\nbox = \"x\"", "paths.box"),
    ("[backups]\nkeep_daily = 7", "backups.keep_daily"),
    ("[backups]\nkeep_last = 0", "backups.keep_last"),
    ("[backups]\nkeep_weekly = -1", "backups.keep_weekly"),
    ('[backups]\nkeep_monthly = "12"', "backups.keep_monthly"),
])
def test_mistakes_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(cfg.ConfigError, match=key.replace(".", r"\.")):
        cfg.load(path)


def test_money_integers_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('holidays = ["2027-02-06"]\n[fines]\nunits = 50\n[commission]\nlead_fee = "150.5"\n', encoding="utf-8")
    c = cfg.load(path)
    assert (c.fines.units, c.commission.lead_fee, str(c.holidays[0])) == (Decimal(50), Decimal("150.5"), "2027-02-06")


def test_password_only_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cfg.PASSWORD_ENV, "s3cret")
    c = cfg.Config()
    assert c.smtp_password == "s3cret" and "s3cret" not in str(c.as_dict())


def test_backup_retention_is_housekeeping_not_a_result(tmp_path: Path) -> None:
    """Keeping more or fewer backups changes no report: the configuration shown in results.json
    and its hash leave `[backups]` out."""
    path = tmp_path / "p.toml"
    path.write_text("[backups]\nkeep_last = 3\nkeep_weekly = 0\nkeep_monthly = 24\n", encoding="utf-8")
    c = cfg.load(path)
    assert (c.backups.keep_last, c.backups.keep_weekly, c.backups.keep_monthly) == (3, 0, 24)
    assert "backups" not in c.as_dict() and c.digest() == cfg.Config().digest()


CHANGES = '''
[targets]
leads = 90
[[changes]]
from = "2027-03-01"
commission = { lead_fee = "350.00" }
[[changes]]
from = 2027-01-04
targets = { leads = 120 }
fines = { units = "150.00" }
commission = { lead_fee = "300.00" }
ownership = { protection_days = 7 }
'''


def test_changes_give_the_values_in_force_at_each_moment(tmp_path: Path) -> None:
    """SPEC §7.6: before the first change the base values; from a change's Monday on its values,
    a key it does not name keeping the earlier one; later `from` wins, whatever the file's order."""
    path = tmp_path / "p.toml"
    path.write_text(CHANGES, encoding="utf-8")
    c = cfg.load(path)

    def values(moment: str) -> tuple[int, int, Decimal, Decimal, Decimal, int]:
        f = c.at(moment)
        return (f.targets.leads, f.targets.visits, f.fines.units, f.commission.lead_fee, f.commission.visit_share,
                f.ownership.protection_days)

    assert values("2027-01-03T23:59:59") == (90, 16, Decimal("100.00"), Decimal("200.00"), Decimal("0.50"), 0)
    assert values("2027-01-04T00:00:00") == (120, 16, Decimal("150.00"), Decimal("300.00"), Decimal("0.50"), 7)
    assert values("2027-02-28T23:59:59") == values("2027-01-04")
    assert values("2027-03-01") == (120, 16, Decimal("150.00"), Decimal("350.00"), Decimal("0.50"), 7)
    assert c.at(date(2027, 3, 1)).since == date(2027, 3, 1) and c.at("2026-12-31").since is None
    assert (c.targets.leads, c.commission.lead_fee) == (90, Decimal("200.00")), "the base values stay the base"


def test_the_example_change_uncommented_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "pipeline.example.toml").read_text(encoding="utf-8")
    block = text[text.index("# [[changes]]"):].splitlines()[:4]
    assert [line[:2] for line in block] == ["# "] * 4
    path = tmp_path / "p.toml"
    path.write_text(text + "\n" + "\n".join(line[2:] for line in block) + "\n", encoding="utf-8")
    c = cfg.load(path)
    assert (c.at("2027-01-04").targets.leads, c.at("2027-01-04").commission.lead_fee) == (120, Decimal("300.00"))
    assert c.at("2027-01-03").targets.leads == 100


@pytest.mark.parametrize("text,key", [
    ('[[changes]]\nfrom = "2027-01-05"\ntargets = { leads = 1 }', r"changes\[0\]\.from: 2027-01-05 is a Tuesday"),
    ('[[changes]]\nfrom = "2027-01-04"\n[[changes]]\nfrom = 2027-01-04', r"changes\[1\]\.from: 2027-01-04 is already"),
    ('[[changes]]\nfrom = "2027-01-04"\n[[changes]]\nfrom = "2027-01-11"\ntargets = { leads = -1 }',
     r"changes\[1\]\.targets\.leads"),
    ('[[changes]]\nfrom = "2027-01-04"\ntargets = { lead = 5 }', r"changes\[0\]\.targets\.lead"),
    ('[[changes]]\nfrom = "2027-01-04"\ncolour = 1', r"changes\[0\]\.colour: unknown key"),
    ('[[changes]]\nfrom = "2027-01-04"\nholidays = ["2027-02-06"]', r"changes\[0\]\.holidays: cannot be dated"),
    ('[[changes]]\nfrom = "2027-01-04"\nassessment = { dismissal_after_weeks = 3 }',
     r"changes\[0\]\.assessment: cannot be dated"),
    ('[[changes]]\nfrom = "2027-01-04"\nfollowups = { answer_days = 3 }', r"changes\[0\]\.followups: cannot be dated"),
    ('[[changes]]\ntargets = { leads = 5 }', r"changes\[0\]\.from: missing"),
    ('[[changes]]\nfrom = "next monday"', r"changes\[0\]\.from: 'next monday' is not a date"),
    ('[[changes]]\nfrom = 2027-01-04T08:00:00', r"changes\[0\]\.from"),
    ('[[changes]]\nfrom = "2027-01-04"\nfines = { units = "abc" }', r"changes\[0\]\.fines\.units"),
    ('[[changes]]\nfrom = "2027-01-04"\ncommission = { visit_share = "1.5" }', r"changes\[0\]\.commission\.visit_share"),
    ('[[changes]]\nfrom = "2027-01-04"\nownership = { protection_days = -1 }',
     r"changes\[0\]\.ownership\.protection_days"),
    ('[[changes]]\nfrom = "2027-01-04"\nownership = 7', r"changes\[0\]\.ownership"),
    ("changes = 1", "changes: expected"),
    ("[ownership]\nprotection_days = 1.5", r"ownership\.protection_days"),
])
def test_mistakes_in_changes_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(cfg.ConfigError, match=key):
        cfg.load(path)
