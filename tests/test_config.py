"""Configuration: defaults, the shipped example, and every kind of mistake naming its key."""

from __future__ import annotations

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
