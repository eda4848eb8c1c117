"""Settings from one TOML file (SPEC §4.6), validated at start, frozen afterwards.

An unknown key, a wrong type or an impossible value is a `ConfigError` naming the key: a typo in
`[fines]` must never silently fall back to a default that fines people the wrong amount.
The SMTP password is never read from the file: only from `PIPELINE_SMTP_PASSWORD`.

Targets, fines, commission and ownership may change from a date on (`[[changes]]`, SPEC §7.6):
the rules never read those four tables from `Config` itself but through `Config.at(moment)`,
the values in force then.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

DEFAULT_FILE = "pipeline.toml"
PASSWORD_ENV = "PIPELINE_SMTP_PASSWORD"
DB_PASSWORD_ENV = "PIPELINE_DB_PASSWORD"


class ConfigError(Exception):
    """Bad configuration: exit 2, with the key named."""


@dataclass(frozen=True)
class Paths:
    inbox: str = "input"
    out: str = "output"
    state: str = "state"


@dataclass(frozen=True)
class Targets:
    units: int = 3
    visits: int = 16
    leads: int = 100


@dataclass(frozen=True)
class Fines:
    units: Decimal = Decimal("100.00")
    visits: Decimal = Decimal("10.00")
    leads: Decimal = Decimal("1.00")


@dataclass(frozen=True)
class Commission:
    visit_share: Decimal = Decimal("0.50")
    lead_fee: Decimal = Decimal("200.00")


@dataclass(frozen=True)
class Ownership:
    protection_days: int = 0  # 报备保护期 (SPEC §7.5): 0 = a manager's registration never lapses


@dataclass(frozen=True)
class InForce:
    """The values of the tables a `[[changes]]` entry may change, as in force from `since` (None:
    the base values, before any change) until the next change (SPEC §7.6)."""

    since: date | None
    targets: Targets
    fines: Fines
    commission: Commission
    ownership: Ownership


DATED = ("targets", "fines", "commission", "ownership")  # the tables a change may hold


@dataclass(frozen=True)
class Assessment:
    dismissal_after_weeks: int = 4


@dataclass(frozen=True)
class Followups:
    """The client-visit log's follow-ups (SPEC §9)."""

    answer_days: int = 7        # due date of an issue whose 答复期限 is empty: contacted date + this
    recontact_days: int = 14    # a keen client not contacted for this long is listed for a second visit


@dataclass(frozen=True)
class Mail:
    from_: str = ""
    summary_to: tuple[str, ...] = ()
    admin_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Smtp:
    host: str = ""
    port: int = 587
    security: str = "starttls"
    user: str = ""


@dataclass(frozen=True)
class Limits:
    """Guards against hostile files; not in SPEC §4.6 but configurable like everything else."""

    max_file_mb: int = 200            # a file bigger than this is refused unread
    max_unzipped_mb: int = 2000       # an .xlsx whose parts inflate past this is a zip bomb
    settle_seconds: int = 0           # a file modified this recently may still be being copied
    settle_wait: bool = False         # wait for such a file (true) or leave it for the next run


@dataclass(frozen=True)
class Backups:
    """Which backups of the state are kept (`state.prune_backups`): the newest `keep_last`, and
    the newest of each of the last `keep_weekly` ISO weeks and `keep_monthly` months that have one."""

    keep_last: int = 2
    keep_weekly: int = 4
    keep_monthly: int = 3


@dataclass(frozen=True)
class StateStore:
    """Where the state lives (SPEC §10): `url` empty, the embedded SQLite database under
    `paths.state`; `postgresql://user@host:port/db`, that server's database, shared by the
    group's offices (the password only from `PIPELINE_DB_PASSWORD`)."""

    url: str = ""


@dataclass(frozen=True)
class Config:
    office: str = ""
    lang: str = "zh"
    timezone: str = "Asia/Shanghai"
    holidays: tuple[date, ...] = ()
    paths: Paths = field(default_factory=Paths)
    targets: Targets = field(default_factory=Targets)
    fines: Fines = field(default_factory=Fines)
    commission: Commission = field(default_factory=Commission)
    ownership: Ownership = field(default_factory=Ownership)
    assessment: Assessment = field(default_factory=Assessment)
    followups: Followups = field(default_factory=Followups)
    mail: Mail = field(default_factory=Mail)
    smtp: Smtp = field(default_factory=Smtp)
    limits: Limits = field(default_factory=Limits)
    backups: Backups = field(default_factory=Backups)
    state: StateStore = field(default_factory=StateStore)
    # `[[changes]]`, oldest first, each with every dated value in force from its Monday on
    changes: tuple[InForce, ...] = ()

    def at(self, moment: str | date) -> InForce:
        """The targets, fines, commission and ownership in force at `moment` (an ISO date or
        date-time, or a date): the latest change from at or before its day, else the base
        values. SPEC §7.6 says which moment each value is taken at: the week's Monday for
        targets and fines, the deal's time for `visit_share` and `lead_fee`, the lead's
        `submitted_at` for `protection_days`."""
        day = moment.isoformat()[:10] if isinstance(moment, date) else moment[:10]
        for change in reversed(self.changes):
            if change.since is not None and change.since.isoformat() <= day:
                return change
        return InForce(None, self.targets, self.fines, self.commission, self.ownership)

    @property
    def smtp_password(self) -> str:
        return os.environ.get(PASSWORD_ENV, "")

    def as_dict(self) -> dict[str, Any]:
        """The values used, for the 'about this run' sheet and the config hash (no secrets, and
        not `backups` nor `state`: housekeeping and whereabouts that change no result)."""

        def clean(value: Any) -> Any:
            if isinstance(value, dict):
                return {k.rstrip("_"): clean(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [clean(v) for v in value]
            if isinstance(value, Decimal | date):
                return str(value)
            return value

        values = asdict(self)
        del values["backups"], values["state"]
        # each change by its Monday, with the values in force from then
        values["changes"] = {str(c.since): {name: asdict(getattr(c, name)) for name in DATED} for c in self.changes}
        return clean(values)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()


def _int(key: str, value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected a whole number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{key}: must be {bound}, got {value}")
    return value


def _money(key: str, value: Any, maximum: Decimal | None = None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f'{key}: expected an amount as a string such as "100.00" (or an integer), got {value!r}')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"{key}: {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"{key}: must be zero or more, got {value!r}")
    if maximum is not None and amount > maximum:
        raise ConfigError(f"{key}: must be at most {maximum}, got {value!r}")
    return amount


def _str(key: str, value: Any, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected text, got {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")
    return value


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of text, got {value!r}")
    return tuple(value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def _table(key: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table [{key}], got {value!r}")
    for sub in value:
        if sub not in allowed:
            raise ConfigError(f"{key}.{sub}: unknown key (allowed: {', '.join(sorted(allowed))})")
    return value


def _holidays(value: Any) -> tuple[date, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"holidays: expected a list of dates, got {value!r}")
    days = []
    for item in value:
        if isinstance(item, date):
            days.append(item)
            continue
        if not isinstance(item, str):
            raise ConfigError(f"holidays: {item!r} is not a date like \"2027-02-06\"")
        try:
            days.append(date.fromisoformat(item))
        except ValueError:
            raise ConfigError(f"holidays: {item!r} is not a date like \"2027-02-06\"") from None
    return tuple(sorted(set(days)))


TOP_KEYS = {"office", "lang", "timezone", "holidays", "paths", "targets", "fines", "commission", "ownership",
            "assessment", "followups", "mail", "smtp", "limits", "backups", "changes", "state"}


def _dated_values(key: str, name: str, value: Any) -> dict[str, Any]:
    """The keys given of one of the tables a change may date (`DATED`), validated; `key` names
    the table as the error should (`targets`, `changes[1].targets`)."""
    if name == "targets":
        t = _table(key, value, {"units", "visits", "leads"})
        return {k: _int(f"{key}.{k}", v) for k, v in t.items()}
    if name == "fines":
        t = _table(key, value, {"units", "visits", "leads"})
        return {k: _money(f"{key}.{k}", v) for k, v in t.items()}
    if name == "commission":
        t = _table(key, value, {"visit_share", "lead_fee"})
        return {k: _money(f"{key}.{k}", v, Decimal(1) if k == "visit_share" else None) for k, v in t.items()}
    t = _table(key, value, {"protection_days"})
    return {k: _int(f"{key}.{k}", v, 0, 3650) for k, v in t.items()}


_DATED_TYPES: dict[str, type[Any]] = {"targets": Targets, "fines": Fines, "commission": Commission,
                                      "ownership": Ownership}


def _dated(key: str, name: str, value: Any) -> Any:
    return _DATED_TYPES[name](**_dated_values(key, name, value))


def _changes(value: Any, base: InForce) -> tuple[InForce, ...]:
    """`[[changes]]` (SPEC §7.6): each entry's `from` a Monday, no two alike, only the dated
    tables with their keys; returned oldest first, each with every value in force from then
    (a key a change does not name keeps its earlier value)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"changes: expected [[changes]] tables, got {value!r}")
    dated: list[tuple[date, dict[str, dict[str, Any]]]] = []
    seen: dict[date, int] = {}
    for i, entry in enumerate(value):
        key = f"changes[{i}]"
        for sub in entry:
            if sub != "from" and sub not in DATED:
                why = "cannot be dated" if sub in TOP_KEYS else "unknown key"
                raise ConfigError(f"{key}.{sub}: {why} (a change holds from, {', '.join(DATED)})")
        since = _monday(f"{key}.from", entry.get("from"))
        if since in seen:
            raise ConfigError(f"{key}.from: {since} is already the date of changes[{seen[since]}]")
        seen[since] = i
        dated.append((since, {name: _dated_values(f"{key}.{name}", name, entry[name])
                              for name in DATED if name in entry}))
    out, current = [], base
    for since, values in sorted(dated, key=lambda d: d[0]):
        tables = {name: replace(getattr(current, name), **values.get(name, {})) for name in DATED}
        current = InForce(since, **tables)
        out.append(current)
    return tuple(out)


def _monday(key: str, value: Any) -> date:
    if value is None:
        raise ConfigError(f'{key}: missing: the Monday the change applies from, e.g. from = "2027-01-04"')
    day: date | None = None
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
    if day is None:
        raise ConfigError(f'{key}: {value!r} is not a date like "2027-01-04"')
    if day.weekday() != 0:
        raise ConfigError(f"{key}: {day} is a {day:%A}, not a Monday")
    return day


def from_dict(data: dict[str, Any]) -> Config:
    """Validate a parsed TOML document into a `Config`: each table by its own reader
    (`_SECTIONS`), the rule changes against the rules the rest gives."""
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"{key}: unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
    kw: dict[str, Any] = {}
    if "office" in data:
        kw["office"] = _str("office", data["office"])
    if "lang" in data:
        kw["lang"] = _str("lang", data["lang"], ("zh", "en"))
    if "timezone" in data:
        kw["timezone"] = _timezone(data["timezone"])
    if "holidays" in data:
        kw["holidays"] = _holidays(data["holidays"])
    if "paths" in data:
        kw["paths"] = _paths(data["paths"])
    for name in DATED:
        if name in data:
            kw[name] = _dated(name, name, data[name])
    for name, read in _SECTIONS.items():
        if name in data:
            kw[name] = read(data[name])
    if kw.get("state") is not None and kw["state"].url and not kw.get("office", "").strip():
        raise ConfigError("office: must name the office when [state] url is set: it names the office's part "
                          "of the shared database, e.g. office = \"滨江壹号\"")
    if "changes" in data:
        base = Config(**kw)
        kw["changes"] = _changes(data["changes"], InForce(None, base.targets, base.fines, base.commission,
                                                          base.ownership))
    return Config(**kw)


def _timezone(value: Any) -> str:
    tz = _str("timezone", value)
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown time zone {tz!r}") from None
    return tz


def _paths(value: Any) -> Paths:
    t = _table("paths", value, {"inbox", "out", "state"})
    return Paths(**{k: _str(f"paths.{k}", v) for k, v in t.items()})


def _assessment(value: Any) -> Assessment:
    t = _table("assessment", value, {"dismissal_after_weeks"})
    return Assessment(**{k: _int(f"assessment.{k}", v, minimum=1) for k, v in t.items()})


def _followups(value: Any) -> Followups:
    t = _table("followups", value, {"answer_days", "recontact_days"})
    return Followups(**{k: _int(f"followups.{k}", v, minimum=0 if k == "answer_days" else 1, maximum=3650)
                        for k, v in t.items()})


def _mail(value: Any) -> Mail:
    t = _table("mail", value, {"from", "summary_to", "admin_to"})
    m: dict[str, Any] = {}
    if "from" in t:
        m["from_"] = _str("mail.from", t["from"])
    for k in ("summary_to", "admin_to"):
        if k in t:
            m[k] = _str_list(f"mail.{k}", t[k])
    return Mail(**m)


def _smtp(value: Any) -> Smtp:
    t = _table("smtp", value, {"host", "port", "security", "user", "password"})
    if "password" in t:
        raise ConfigError(f"smtp.password: never put the password in the file; set {PASSWORD_ENV}")
    s: dict[str, Any] = {}
    if "host" in t:
        s["host"] = _str("smtp.host", t["host"])
    if "port" in t:
        s["port"] = _int("smtp.port", t["port"], 1, 65535)
    if "security" in t:
        s["security"] = _str("smtp.security", t["security"], ("none", "starttls", "ssl"))
    if "user" in t:
        s["user"] = _str("smtp.user", t["user"])
    return Smtp(**s)


def _limits(value: Any) -> Limits:
    t = _table("limits", value, {"max_file_mb", "max_unzipped_mb", "settle_seconds", "settle_wait"})
    lim: dict[str, Any] = {}
    for k in ("max_file_mb", "max_unzipped_mb"):
        if k in t:
            lim[k] = _int(f"limits.{k}", t[k], minimum=1)
    if "settle_seconds" in t:
        lim["settle_seconds"] = _int("limits.settle_seconds", t["settle_seconds"], 0, 3600)
    if "settle_wait" in t:
        lim["settle_wait"] = _bool("limits.settle_wait", t["settle_wait"])
    return Limits(**lim)


def _backups(value: Any) -> Backups:
    t = _table("backups", value, {"keep_last", "keep_weekly", "keep_monthly"})
    return Backups(**{k: _int(f"backups.{k}", v, minimum=1 if k == "keep_last" else 0) for k, v in t.items()})


def _state(value: Any) -> StateStore:
    t = _table("state", value, {"url"})
    return StateStore(url=check_state_url("state.url", _str("state.url", t.get("url", ""))))


# The configuration's tables after the rules', each read and checked by its own function (`from_dict`).
_SECTIONS: dict[str, Callable[[Any], Any]] = {
    "assessment": _assessment, "followups": _followups, "mail": _mail, "smtp": _smtp,
    "limits": _limits, "backups": _backups, "state": _state,
}


def check_state_url(key: str, url: str) -> str:
    """An empty url (the embedded database) or `postgresql://user@host:port/db`, without a
    password (only from `PIPELINE_DB_PASSWORD`)."""
    if not url:
        return url
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{key}: {url!r} is not a url like postgresql://user@host:5432/db ({exc})") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"{key}: {url!r}: only postgresql://user@host:port/db is supported (empty: the "
                          f"embedded database under paths.state)")
    if parts.password is not None:
        raise ConfigError(f"{key}: never put the password in the url; set {DB_PASSWORD_ENV}")
    if not parts.path.strip("/"):
        raise ConfigError(f"{key}: {url!r} names no database, e.g. postgresql://user@host:5432/sales")
    return url


def load(path: str | Path | None) -> Config:
    """`path` if given, else `pipeline.toml` in the working folder if present, else the defaults."""
    if path is None:
        if not Path(DEFAULT_FILE).exists():
            return Config()
        path = DEFAULT_FILE
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the configuration file ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    try:
        return from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
