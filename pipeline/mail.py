"""The week's emails: build them from the written reports, keep them in `outbox/`, send them once.

`build_messages` turns a computed week and its folder into one `Outgoing` per statement: each
manager gets their own (nothing of anyone else's), each leader the team summary. Building is
deterministic: the same week and the same files give byte-identical messages (fixed Date,
Message-ID and MIME boundaries), so the SHA-256 `digest` of a message identifies it across runs and
the run's state can remember what was sent as (recipient, digest) pairs. For that to hold across a
re-render, the attached workbooks must be written deterministically too.

`send_messages` delivers over SMTP, skipping what was already sent, retrying transient failures a
bounded number of times and reporting, never raising, what could not be delivered.
"""

from __future__ import annotations

import binascii
import email
import hashlib
import re
import smtplib
import ssl
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, parseaddr
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import jinja2

from .config import Config
from .normalise import mask_phone
from .report.context import index_week
from .report.html import make_environment
from .report.model import Person, WeekReport
from .texts import TEXTS, kind_name, t

PLACEHOLDER_FROM = "pipeline@localhost"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
MAX_WAIT = 30.0          # longest single pause between two attempts, seconds

# A mainland mobile number standing alone in a text: masked in every body as a last safeguard.
_PHONE_IN_TEXT = re.compile(r"(?<![0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")
# Separators between several addresses in one roster cell (ASCII and full-width).
_ADDRESS_SPLIT = re.compile(r"[,;，；、\s]+")
_UNSAFE_FILENAME = re.compile(r"[^\w.@+-]+")


class Outgoing:
    """One email ready to write and send; `digest` is the SHA-256 of exactly `data`.

    `message` is the email as an object. A message built in another process travels as its
    bytes alone, and its object is parsed from them only if someone asks."""

    __slots__ = ("key", "recipients", "_message", "digest", "filename", "data")
    _message: EmailMessage | None

    key: str                        # manager:<name> | summary:<address> | failure
    recipients: tuple[str, ...]
    digest: str
    filename: str                   # a safe file name ending in .eml, unique within the week
    data: bytes

    def __init__(self, key: str, recipients: tuple[str, ...], message: EmailMessage | None, digest: str,
                 filename: str, data: bytes = b"") -> None:
        for name, value in (("key", key), ("recipients", recipients), ("_message", message), ("digest", digest),
                            ("filename", filename), ("data", data)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Outgoing is immutable: cannot set {name}")

    @property
    def message(self) -> EmailMessage:
        if self._message is None:
            parsed = email.message_from_bytes(self.data, policy=SMTP)
            assert isinstance(parsed, EmailMessage)
            object.__setattr__(self, "_message", parsed)  # a cache of what `data` already says
        assert self._message is not None
        return self._message

    def __reduce__(self) -> tuple[Any, ...]:
        return (Outgoing, (self.key, self.recipients, self._message, self.digest, self.filename, self.data))

    def without_data(self) -> Outgoing:
        """The email's name, recipients and digest alone, once its bytes are in the outbox."""
        return Outgoing(self.key, self.recipients, None, self.digest, self.filename)

    def with_data(self, data: bytes) -> Outgoing:
        """`without_data` undone with the bytes read back from the outbox (not hashed again:
        this run wrote them a moment ago)."""
        return Outgoing(self.key, self.recipients, None, self.digest, self.filename, data)

    def named(self, filename: str) -> Outgoing:
        return Outgoing(self.key, self.recipients, self._message, self.digest, filename, self.data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outgoing) and (self.key, self.recipients, self.digest, self.filename, self.data) == (
            other.key, other.recipients, other.digest, other.filename, other.data)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Outgoing({self.key!r}, {self.recipients!r}, {self.filename!r}, {len(self.data)} bytes)"


@dataclass
class SendReport:
    sent: list[tuple[str, str, str]] = field(default_factory=list)     # (recipient, digest, key)
    failed: list[tuple[str, str, str]] = field(default_factory=list)   # (key, recipient, error text)
    skipped: int = 0                                                   # recipients already sent
    attempts: int = 0                                                  # connections tried

    @property
    def ok(self) -> bool:
        return not self.failed


# --- building -------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """One environment per process, so each template is compiled once (the statements' emails
    are built a run of managers at a time). Pages are escaped; plain-text bodies hold no markup,
    so escaping would only garble them."""
    return make_environment(lambda name: name is None or not name.endswith(".txt"))


def _money(value: Any) -> str:
    """'1987.00' → '1,987.00'; anything that is not an amount is shown as it is."""
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def _when(value: str) -> str:
    """ISO date-time → '2026-11-25' at midnight, else '2026-11-25 14:30'."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    if moment.time() == dtime(0, 0):
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%d %H:%M")


def mask_text(text: str) -> str:
    """Mask every mobile number standing alone in `text` (pages and emails never show them whole)."""
    return _PHONE_IN_TEXT.sub(r"\1****\3", text)


def _mask_any(value: str) -> str:
    """A valid mobile as `138****8000`; an invalid one as read, but with its middle digits hidden
    too (a mistyped number is still mostly someone's number)."""
    masked = mask_phone(value)
    if masked != value or sum(c.isdigit() for c in value) < 7:
        return masked
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def addresses(cell: str) -> tuple[str, ...]:
    """The usable addresses of a roster or configuration value: split, trimmed, each with an '@'.

    A cell without any '@' (such as 无 or -) means no address.
    """
    found = [a.strip() for a in _ADDRESS_SPLIT.split(cell or "")]
    return tuple(dict.fromkeys(a for a in found if "@" in a))


def _prefix(lang: str, office: str) -> str:
    return t(lang, "mail.office_prefix", office=office) if office else ""


def _reason_label(lang: str, code: str) -> str:
    key = f"mail.why.{code}"
    return t(lang, key) if key in TEXTS else code


def _sender(config: Config) -> str:
    return config.mail.from_.strip() or PLACEHOLDER_FROM


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2]
    return re.sub(r"[^A-Za-z0-9.-]", "", domain) or "localhost"


def _week_date(report: WeekReport, config: Config) -> datetime:
    """The Date of a week's emails: the moment the week closed (next Monday 00:00, local time)."""
    tz = zoneinfo.ZoneInfo(config.timezone)
    end = date.fromisoformat(report.end)
    return datetime.combine(end + timedelta(days=1), dtime(0, 0), tzinfo=tz)


def _safe_filename(stem: str, taken: set[str]) -> str:
    base = _UNSAFE_FILENAME.sub("_", stem).strip("._")[:100] or "message"
    name = f"{base}.eml"
    if name.casefold() in taken:
        name = f"{base}-{hashlib.sha256(stem.encode()).hexdigest()[:8]}.eml"
    taken.add(name.casefold())
    return name


def _finish(message: EmailMessage, key: str, when: datetime, sender: str) -> tuple[bytes, str]:
    """Fix what would otherwise vary between builds, then serialise: (bytes, sha256)."""
    message["Date"] = format_datetime(when)
    message["Auto-Submitted"] = "auto-generated"
    seed = hashlib.sha256(key.encode())
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            # '=' runs never occur in base64 bodies, so this boundary cannot clash with content.
            part.set_boundary(f"===============kam{seed.hexdigest()[:16]}{index}==")
    # The Message-ID follows the content without serialising the message twice: the leaf parts'
    # payloads are already encoded strings.
    body = hashlib.sha256(key.encode())
    for part in message.walk():
        if not part.is_multipart():
            body.update(str(part.get_payload()).encode("utf-8", "surrogateescape"))
    body_hash = body.hexdigest()
    message["Message-ID"] = f"<{body_hash[:32]}@{_domain(sender)}>"
    data = message.as_bytes(policy=SMTP)
    return data, hashlib.sha256(data).hexdigest()


def _message(sender: str, recipients: Sequence[str], subject: str, text: str, html: str | None,
             attachment: tuple[bytes, str] | None) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(mask_text(text), charset="utf-8", cte="base64")
    if html is not None:
        message.add_alternative(mask_text(html), subtype="html", charset="utf-8", cte="base64")
    if attachment is not None:
        data, name = attachment
        message.add_attachment(data, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=name)
    return message


def _statement_bytes(key: str, sender: str, recipients: Sequence[str], subject: str, text: str, html: str,
                     attachment: tuple[bytes, str], when: datetime) -> tuple[bytes, str]:
    """`_finish(_message(...))` for a statement (or summary) email, byte for byte, without the
    email package walking the message: (bytes, sha256). See `_mixed_parts`."""
    data = b"".join(_mixed_parts(key, sender, recipients, subject, text, html, attachment, when))
    return data, hashlib.sha256(data).hexdigest()


_TO, _ID = 1, 8   # where `_mixed_parts` puts the To and Message-ID header lines


def _mixed_parts(key: str, sender: str, recipients: Sequence[str], subject: str, text: str, html: str,
                 attachment: tuple[bytes, str], when: datetime) -> list[bytes]:
    """The bytes of `_finish(_message(...))` in pieces whose join is the email; the To and
    Message-ID header lines are pieces of their own (`_TO`, `_ID`).

    Five hundred statements took 2.8 s in the email package (headers parsed, folded and
    generated line by line). The layout of these messages never changes (mixed: alternative
    (text, html), attachment), so it is written here; the headers that vary are still folded by
    the package's own policy, and a test checks the bytes against `_finish(_message(...))`."""
    data, name = attachment
    head = EmailMessage(policy=SMTP)
    head["Content-Disposition"] = "attachment"
    head.set_param("filename", name, header="Content-Disposition", replace=True)

    seed = hashlib.sha256(key.encode()).hexdigest()[:16]
    outer, inner = f"===============kam{seed}0==".encode(), f"===============kam{seed}1==".encode()
    payloads = [_base64_lines(_crlf_lines(mask_text(text))), _base64_lines(_crlf_lines(mask_text(html))),
                _base64_lines(data)]
    body = hashlib.sha256(key.encode())
    for payload in payloads:
        body.update(payload)
    message_id = f"<{body.hexdigest()[:32]}@{_domain(sender)}>"
    crlf = [p.replace(b"\n", b"\r\n") for p in payloads]
    return [
        _folded("From", sender), _folded("To", ", ".join(recipients)), _folded("Subject", subject),
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary="', outer, b'"\r\n',
        SMTP.fold_binary("Date", format_datetime(when)), b"Auto-Submitted: auto-generated\r\n",
        SMTP.fold_binary("Message-ID", message_id), b"\r\n",
        b"--", outer, b'\r\nContent-Type: multipart/alternative;\r\n boundary="', inner, b'"\r\n\r\n',
        b"--", inner, b'\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n',
        crlf[0], b"\r\n--", inner,
        b'\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\nMIME-Version: 1.0\r\n\r\n',
        crlf[1], b"\r\n--", inner, b"--\r\n\r\n--", outer,
        b"\r\nContent-Type: " + "/".join(XLSX_TYPE).encode() + b"\r\nContent-Transfer-Encoding: base64\r\n",
        SMTP.fold_binary("Content-Disposition", head["Content-Disposition"]), b"MIME-Version: 1.0\r\n\r\n",
        crlf[2], b"\r\n--", outer, b"--\r\n",
    ]


@lru_cache(maxsize=256)
def _folded(field: str, value: str) -> bytes:
    """A header line as the SMTP policy parses and folds it; the sender's is the same in every
    message, so it is made once."""
    head = EmailMessage(policy=SMTP)
    head[field] = value
    return SMTP.fold_binary(field, head[field])


def _crlf_lines(text: str) -> bytes:
    """A text body as the email package encodes it: its lines ended by CRLF."""
    return b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ended by LF (the email package's payload form, a
    line per 57 bytes). Encoded whole and cut into lines by numpy: a statement's attachment is
    some 600 lines, and a call per line was a tenth of the statements' email time."""
    import numpy

    encoded = binascii.b2a_base64(data, newline=False)
    whole, rest = divmod(len(encoded), 76)
    lines = numpy.empty((whole, 77), numpy.uint8)
    lines[:, :76] = numpy.frombuffer(encoded, numpy.uint8, whole * 76).reshape(whole, 76)
    lines[:, 76] = ord("\n")
    return lines.tobytes() + (encoded[whole * 76:] + b"\n" if rest else b"")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the week's report must be written before its emails are built") from None


def _manager_context(report: WeekReport, row: dict[str, Any], person: Person, lang: str,
                     subject: str, deals_of: dict[str, list[dict[str, Any]]],
                     rejections_of: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    name = row["name"]
    tasks = [
        {"label": t(lang, f"mail.task.{task}"), "target": row["targets"][task],
         "achieved": row["achieved"][task], "shortfall": row["shortfall"][task],
         "fine": _money(row["fines"][task])}
        for task in ("units", "visits", "leads")
    ]
    deals = [
        {"date": _when(d["deal_at"]), "phone": mask_phone(d["phone"]), "room": d.get("room") or "",
         "salesperson": d["salesperson"],
         "kind": t(lang, f"mail.kind.{d['kind']}") + (t(lang, "mail.late") if d.get("late") else ""),
         "sp_commission": _money(d["salesperson_commission"]), "commission": _money(d["manager_commission"])}
        for d in deals_of.get(name, [])
    ]
    # Only the reason's label, never its message: a message may name whoever owns the number.
    rejections = [
        {"where": t(lang, "mail.where", kind=kind_name(lang, r["kind"]), file=r["source"]["file"],
                    sheet=r["source"]["sheet"], row=r["source"]["row"]),
         "phone": _mask_any(r.get("phone") or ""), "reason": _reason_label(lang, r["reason"])}
        for r in rejections_of.get(name, [])
    ]
    return {
        "t": partial(t, lang), "lang": lang, "title": subject, "subject": subject,
        "name": name, "team": row.get("team") or person.team,
        "week": report.week, "start": report.start, "end": report.end,
        "assessed": row["active_days"] > 0, "active_days": row["active_days"], "tasks": tasks,
        "fines_total": _money(row["fines"]["total"]),
        "commission": {k: _money(row["commission"][k]) for k in ("visit", "lead", "total")},
        "net": _money(row["net"]), "met": row["met"], "streak": row["streak"],
        "dismissal_review": row["dismissal_review"], "deals": deals, "rejections": rejections,
    }


def _summary_text(env: jinja2.Environment, report: WeekReport, lang: str, subject: str) -> str:
    lines = []
    totals = {"commission": Decimal(0), "fines": Decimal(0), "net": Decimal(0)}
    for row in report.results["managers"]:
        flags = ""
        if row["dismissal_review"]:
            flags = t(lang, "mail.summary.flag_dismissal")
        elif not row["met"]:
            flags = t(lang, "mail.summary.flag_missed", streak=row["streak"])
        lines.append(t(
            lang, "mail.summary.line", name=row["name"], team=row.get("team", ""),
            units=f"{row['achieved']['units']}/{row['targets']['units']}",
            visits=f"{row['achieved']['visits']}/{row['targets']['visits']}",
            leads=f"{row['achieved']['leads']}/{row['targets']['leads']}",
            fines=_money(row["fines"]["total"]), commission=_money(row["commission"]["total"]),
            net=_money(row["net"]), flags=flags))
        totals["commission"] += Decimal(row["commission"]["total"])
        totals["fines"] += Decimal(row["fines"]["total"])
        totals["net"] += Decimal(row["net"])
    total_line = t(lang, "mail.summary.totals", **{k: _money(v) for k, v in totals.items()},
                   deals=len(report.results.get("deals", [])), rejected=len(report.results.get("rejections", [])))
    return env.get_template("email_summary.txt").render(
        t=partial(t, lang), title=subject, week=report.week, start=report.start, end=report.end,
        lines=lines, totals=total_line)


def _summary_recipients(report: WeekReport, config: Config) -> list[str]:
    found: dict[str, str] = {}
    cells = [p.email for p in report.roster if p.role == "leader"] + list(config.mail.summary_to)
    for cell in cells:
        for address in addresses(cell):
            found.setdefault(address.casefold(), address)
    return list(found.values())


def build_messages(report: WeekReport, folder: Path, config: Config) -> list[Outgoing]:
    """Every email of the week, managers (by name) first, then the summary for each leader address.

    Reads `summary.html`, `summary.xlsx` and `managers/<stem>.xlsx` from `folder` (the week's
    written outputs, file stems as `manager_stems` gives them); nothing else. A manager without
    an address in the roster gets no email.
    """
    managers = (0, len(report.results["managers"]))
    return name_messages(report.week, manager_messages(report, folder, config, managers)
                         + list(summary_messages(report, folder, config)))


def name_messages(week: str, messages: list[Outgoing]) -> list[Outgoing]:
    """Each message's file name in the outbox, unique within the week, in the order given (the
    order `build_messages` gives, so a message keeps its name whichever process built it). A
    name starts with the week and the message's kind, so messages of different kinds never
    compete for a name: naming each kind apart gives the same names."""
    names = _file_names(week, [m.key for m in messages])
    return [m.named(name) for m, name in zip(messages, names, strict=True)]


def _file_names(week: str, keys: list[str]) -> list[str]:
    taken: set[str] = set()
    names = []
    for key in keys:
        kind, _, who = key.partition(":")
        names.append(_safe_filename(f"{week}-{kind}-{who}", taken))
    return names


def statement_names(report: WeekReport) -> dict[str, str]:
    """The outbox file name of each statement email (key -> name), as `name_messages` names the
    week's statements together: known before any is built, so whichever process builds an
    email writes it to the outbox."""
    return _names(report.week, [f"manager:{name}" for name in _statement_recipients(report)])


def summary_names(report: WeekReport, config: Config) -> dict[str, str]:
    """The outbox file name of each leader's summary email (key -> name), as `name_messages`
    names the week's summaries together: known before any is built, so each can be written as
    soon as it is made."""
    return _names(report.week, [f"summary:{address}" for address in _summary_recipients(report, config)])


def _names(week: str, keys: list[str]) -> dict[str, str]:
    return dict(zip(keys, _file_names(week, keys), strict=True))


def _statement_recipients(report: WeekReport) -> dict[str, tuple[Person, tuple[str, ...]]]:
    """The managers who get a statement email, in results.json's order, with their roster entry
    and addresses: a manager on the roster with an address."""
    people = {p.name: p for p in report.roster}
    out = {}
    for row in report.results["managers"]:
        person = people.get(row["name"])
        recipients = addresses(person.email) if person is not None else ()
        if person is not None and recipients:
            out[row["name"]] = (person, recipients)
    return out


def manager_messages(report: WeekReport, folder: Path, config: Config, span: tuple[int, int]) -> list[Outgoing]:
    """The statements' emails of the managers at positions span[0]..span[1]-1 of results.json
    (file names not given yet: `name_messages`)."""
    lang = report.lang
    env = _env()
    sender = _sender(config)
    when = _week_date(report, config)
    prefix = _prefix(lang, config.office or report.office)
    index = index_week(report)   # grouped once while a week is written (`indexed_once`)
    stems = index.stems          # the same file names the statement writer used
    out: list[Outgoing] = []
    deals_of, rejections_of = index.deals_by, index.rejections_by
    getting = _statement_recipients(report)
    for row in report.results["managers"][span[0]:span[1]]:
        name = row["name"]
        if name not in getting:
            continue
        person, recipients = getting[name]
        subject = t(lang, "mail.subject.manager", prefix=prefix, week=report.week, name=name, net=_money(row["net"]))
        context = _manager_context(report, row, person, lang, subject, deals_of, rejections_of)
        html = env.get_template("email_manager.html").render(context)
        text = env.get_template("email_manager.txt").render(context)
        workbook = _read(folder / "managers" / f"{stems[name]}.xlsx")
        attachment = (workbook, t(lang, "mail.attach.manager", week=report.week, name=name))
        key = f"manager:{name}"
        data, digest = _statement_bytes(f"{report.week}|{key}", sender, recipients, subject, text, html,
                                        attachment, when)
        out.append(Outgoing(key, recipients, None, digest, "", data))
    return out


def summary_messages(report: WeekReport, folder: Path, config: Config) -> Iterator[Outgoing]:
    """The summary for each leader address, one at a time (file names not given yet:
    `name_messages`). Each is the whole workbook and page again: tens of MB on a big office, so
    a caller that writes each before taking the next holds one at a time."""
    for key, address, parts, digest in _summary_parts(report, folder, config):
        yield Outgoing(key, (address,), None, digest, "", b"".join(parts))


def write_summaries(report: WeekReport, folder: Path, config: Config, names: dict[str, str]) -> list[Outgoing]:
    """`summary_messages` written to the outbox under `names` (key -> file name) piece by piece,
    never joined: a big office's twenty-five summaries are 300 MB, and joining each before
    writing it copied them all once more. Returns them without their bytes, as `write_outbox`."""
    return _write_all(((Outgoing(key, (address,), None, digest, names[key]), parts)
                       for key, address, parts, digest in _summary_parts(report, folder, config)), folder)


def _summary_parts(report: WeekReport, folder: Path, config: Config) -> Iterator[tuple[str, str, list[bytes], str]]:
    """Each leader's summary as (key, address, the pieces whose join is the email, its SHA-256)."""
    lang = report.lang
    sender = _sender(config)
    when = _week_date(report, config)
    leaders = _summary_recipients(report, config)
    if not leaders:
        return
    subject = t(lang, "mail.subject.summary", prefix=_prefix(lang, config.office or report.office), week=report.week)
    html = _read(folder / "summary.html").decode("utf-8", errors="replace")
    text = _summary_text(_env(), report, lang, subject)
    attachment = (_read(folder / "summary.xlsx"), t(lang, "mail.attach.summary", week=report.week))
    first: tuple[str, list[bytes], str] | None = None   # the last built in full: address, pieces, digest
    for address in leaders:
        key = f"summary:{address}"
        parts = _readdressed(first, address, f"{report.week}|{key}", sender) if first else None
        built = parts is None
        if parts is None:
            parts = _mixed_parts(f"{report.week}|{key}", sender, (address,), subject, text, html, attachment, when)
        hashed = hashlib.sha256()
        for part in parts:
            hashed.update(part)
        digest = hashed.hexdigest()
        if built:
            first = (address, parts, digest)
        yield key, address, parts, digest


def _readdressed(first: tuple[str, list[bytes], str], address: str, key: str, sender: str) -> list[bytes] | None:
    """The summary for another leader without encoding the (large) workbook and page again.

    Every leader's summary is the same message but for To and Message-ID; re-encoding a
    multi-megabyte attachment per leader was most of the outbox's time on a big office. The
    pieces of the first (`_mixed_parts`) get the two header lines swapped. None when the lines are
    not plain single lines (then the message is built in full).
    """
    was, parts, digest = first
    if parts[_TO] != f"To: {was}\r\n".encode() or parts[_ID].count(b"\r\n") != 1 or not address.isascii() \
            or len(address) > 900:
        return None
    message_id = f"<{hashlib.sha256((key + digest).encode()).hexdigest()[:32]}@{_domain(sender)}>"
    copied = list(parts)
    copied[_TO] = f"To: {address}\r\n".encode()
    copied[_ID] = f"Message-ID: {message_id}\r\n".encode()
    return copied


def write_outbox(messages: Iterable[Outgoing], folder: Path) -> list[Outgoing]:
    """Write every message to `folder/outbox/<filename>`, whether it is sent or not, one at a
    time as `messages` gives them (a big office's summaries are tens of MB each: a generator
    holds one at a time). Returns them without their bytes: names, recipients and digests."""
    return _write_all(((m.without_data(), (m.data,)) for m in messages), folder)


def _write_all(messages: Iterable[tuple[Outgoing, Iterable[bytes]]], folder: Path) -> list[Outgoing]:
    """Each (email without its bytes, its bytes in pieces) written to the outbox, one at a time,
    under a temporary name until complete; returns the emails."""
    outbox = folder / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    written = []
    for item, parts in messages:
        partial_file = outbox / (item.filename + ".part")
        with partial_file.open("wb") as fh:
            fh.writelines(parts)
        partial_file.replace(outbox / item.filename)
        written.append(item)
    return written


# --- sending --------------------------------------------------------------------------------------

class _Fatal(Exception):
    """A problem no retry can fix (login refused, TLS misconfigured): every message left fails."""


def _detail(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {reply}".strip()
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _code_reply(value: tuple[int, bytes | str]) -> str:
    code, reply = value
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {text}".strip()


class _Session:
    """One SMTP connection, opened on first use and reused for every message."""

    def __init__(self, config: Config, timeout: float, context: ssl.SSLContext | None,
                 report: SendReport) -> None:
        self.config = config
        self.timeout = timeout
        self.context = context
        self.report = report
        self.smtp: smtplib.SMTP | None = None

    def get(self) -> smtplib.SMTP:
        """The open connection, or a new one: connected, secured and logged in as configured.

        Raises `_Fatal` for what no retry can fix, `OSError` or `SMTPException` for the rest.
        """
        if self.smtp is not None:
            return self.smtp
        s = self.config.smtp
        lang = self.config.lang
        if s.user and not self.config.smtp_password:
            raise _Fatal(t(lang, "mail.err.no_password"))
        self.report.attempts += 1
        context = self.context or ssl.create_default_context()
        smtp: smtplib.SMTP
        try:
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        except ssl.SSLError as exc:
            raise _Fatal(t(lang, "mail.err.tls", detail=_detail(exc))) from exc
        except smtplib.SMTPResponseException as exc:    # the greeting: 554 = we are not welcome
            if exc.smtp_code >= 500:
                raise _Fatal(t(lang, "mail.err.unreachable", host=s.host, port=s.port,
                               detail=_detail(exc), attempts=self.report.attempts)) from exc
            raise
        try:
            smtp.ehlo()
            if s.security == "starttls":
                try:
                    # Never fall back to plain text when the server offers no STARTTLS.
                    smtp.starttls(context=context)
                except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
                    raise _Fatal(t(lang, "mail.err.tls", detail=_detail(exc))) from exc
                except smtplib.SMTPResponseException as exc:
                    if exc.smtp_code >= 500:
                        raise _Fatal(t(lang, "mail.err.tls", detail=_detail(exc))) from exc
                    raise
                smtp.ehlo()
            if s.user:
                try:
                    smtp.login(s.user, self.config.smtp_password)
                except smtplib.SMTPAuthenticationError as exc:
                    if exc.smtp_code >= 500:
                        raise _Fatal(t(lang, "mail.err.auth", detail=_detail(exc))) from exc
                    raise
                except smtplib.SMTPNotSupportedError as exc:   # AUTH not offered (e.g. before TLS)
                    raise _Fatal(t(lang, "mail.err.auth", detail=_detail(exc))) from exc
        except BaseException:
            smtp.close()
            raise
        self.smtp = smtp
        return smtp

    def drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.drop()


def _send_one(session: _Session, item: Outgoing, todo: list[str], sender: str, retries: int,
              backoff: float, sleep: Callable[[float], None]) -> str | None:
    """Deliver `item` to `todo`; returns None, or the reason the server must be taken as down."""
    config = session.config
    lang = config.lang
    report = session.report

    def fail(recipients: Iterable[str], error: str) -> None:
        report.failed.extend((item.key, r, error) for r in recipients)

    remaining = list(todo)
    last = ""
    unreachable = False
    wait = backoff
    for attempt in range(retries + 1):
        if attempt:
            sleep(min(wait, MAX_WAIT))
            wait *= 2
        try:
            smtp = session.get()
        except _Fatal as exc:
            fail(remaining, str(exc))
            return str(exc)
        except (smtplib.SMTPException, OSError) as exc:   # refused, timed out, 4xx greeting
            last, unreachable = _detail(exc), True
            continue
        try:
            refused: dict[str, tuple[int, bytes]] = smtp.sendmail(sender, remaining, item.data)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = dict(exc.recipients)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:    # sendmail has reset the transaction: the connection stays
                fail(remaining, t(lang, "mail.err.refused", detail=_detail(exc)))
                return None
            session.drop()              # 4xx: start again on a fresh connection (421 closes it anyway)
            last, unreachable = _detail(exc), False
            continue
        except (smtplib.SMTPException, OSError) as exc:   # disconnected, reset, timed out
            session.drop()
            last, unreachable = _detail(exc), False
            continue
        again = []
        for recipient in remaining:
            if recipient not in refused:
                report.sent.append((recipient, item.digest, item.key))
            elif refused[recipient][0] >= 500:
                fail([recipient], t(lang, "mail.err.refused", detail=_code_reply(refused[recipient])))
            else:
                again.append(recipient)
                last, unreachable = _code_reply(refused[recipient]), False
        remaining = again
        if not remaining:
            return None
    if unreachable:
        error = t(lang, "mail.err.unreachable", host=config.smtp.host, port=config.smtp.port,
                  detail=last, attempts=retries + 1)
        fail(remaining, error)
        return error
    fail(remaining, t(lang, "mail.err.transient", detail=last, attempts=retries + 1))
    return None


def send_messages(messages: Iterable[Outgoing], config: Config, already_sent: set[tuple[str, str]],
                  resend: bool = False, retries: int = 3, backoff: float = 0.5, timeout: float = 10,
                  ssl_context: ssl.SSLContext | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> SendReport:
    """Send each message to each recipient not yet sent it (all of them with `resend`).

    A recipient counts as sent once the server accepted the message for it. Transient failures
    (connection refused or lost, time-outs, 4xx replies) are retried up to `retries` times per
    message, waiting `backoff`, then twice as long each time; a server still unreachable after that
    fails the remaining messages at once rather than retrying each. Refusals (5xx) fail only their
    recipient. Nothing is raised for a delivery problem: it is in the report.
    `ssl_context` replaces the default (certificate-verifying) one, for tests against a local server.
    """
    report = SendReport()
    pending: list[tuple[Outgoing, list[str]]] = []
    for item in messages:
        todo = [r for r in item.recipients if resend or (r, item.digest) not in already_sent]
        report.skipped += len(item.recipients) - len(todo)
        # SMTP without SMTPUTF8 carries only ASCII addresses: refuse the others before connecting.
        for address in [r for r in todo if not r.isascii()]:
            report.failed.append((item.key, address, t(config.lang, "mail.err.address", address=address)))
            todo.remove(address)
        if todo:
            pending.append((item, todo))
    if not pending:
        return report
    if not config.smtp.host:
        error = t(config.lang, "mail.err.no_host")
        report.failed.extend((item.key, r, error) for item, todo in pending for r in todo)
        return report
    sender = parseaddr(_sender(config))[1] or PLACEHOLDER_FROM
    session = _Session(config, timeout, ssl_context, report)
    down: str | None = None
    try:
        for item, todo in pending:
            if down is not None:
                report.failed.extend((item.key, r, down) for r in todo)
                continue
            down = _send_one(session, item, todo, sender, max(0, retries), max(0.0, backoff), sleep)
    finally:
        session.close()
    return report


# --- failure notices ------------------------------------------------------------------------------

def failure_notice(config: Config, error_text: str, what_to_do: str, now: datetime) -> EmailMessage | None:
    """A plain-text email telling `mail.admin_to` that a run failed; None when it cannot be sent."""
    admins = [a for cell in config.mail.admin_to for a in addresses(cell)]
    if not config.smtp.host or not admins:
        return None
    lang = config.lang
    moment = now if now.tzinfo else now.replace(tzinfo=zoneinfo.ZoneInfo(config.timezone))
    at = moment.strftime("%Y-%m-%d %H:%M")
    subject = t(lang, "mail.subject.failure", prefix=_prefix(lang, config.office), at=at)
    text = _env().get_template("email_failure.txt").render(
        t=partial(t, lang), at=at, error_text=error_text, what_to_do=what_to_do)
    sender = _sender(config)
    message = _message(sender, admins, subject, text, None, None)
    _finish(message, f"failure|{moment.isoformat()}|{error_text}", moment, sender)
    return message


def send_notice(config: Config, error_text: str, now: datetime, what_to_do: str = "", *,
                retries: int = 1, backoff: float = 0.5, timeout: float = 10,
                ssl_context: ssl.SSLContext | None = None) -> bool:
    """Best effort: tell `mail.admin_to` that a run failed. True when every admin accepted it.

    Never raises: a notice about one failure must not cause another. Without SMTP or admins it
    does nothing and returns False.
    """
    try:
        todo = what_to_do or t(config.lang, "mail.failure.todo_default")
        notice = failure_notice(config, error_text, todo, now)
        if notice is None:
            return False
        recipients = tuple(a for _, a in getaddresses(notice.get_all("To", [])) if a)
        data = notice.as_bytes(policy=SMTP)
        item = Outgoing("failure", recipients, notice, hashlib.sha256(data).hexdigest(), "failure.eml", data)
        result = send_messages([item], config, set(), resend=True, retries=retries, backoff=backoff,
                               timeout=timeout, ssl_context=ssl_context)
    except Exception:
        return False
    return bool(result.sent) and not result.failed
