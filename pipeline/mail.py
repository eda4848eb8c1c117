"""The week's emails: build them from the written reports, keep them in `outbox/`, send them once.

`build_messages` turns a computed week and its written folder into one `Outgoing` per statement:
each manager gets their own (nothing of anyone else's), each leader the team summary; the run uses
`write_messages`, which writes them to the outbox as it builds them. Messages are built by the
email package (`EmailMessage` under the SMTP policy). Building is deterministic: the same week and
the same files give byte-identical messages (fixed Date, Message-ID and MIME boundaries), so the
SHA-256 `digest` of a message identifies it across runs and the run's state can remember what was
sent as (recipient, digest) pairs. For that to hold across a re-render, the attached workbooks
must be written deterministically too.

`send_messages` delivers over SMTP, skipping what was already sent, retrying transient failures a
bounded number of times and reporting, never raising, what could not be delivered.
"""

from __future__ import annotations

import binascii
import codecs
import email
import gc
import hashlib
import multiprocessing
import os
import pickle
import re
import smtplib
import ssl
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from email import contentmanager
from email.generator import BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime, getaddresses, parseaddr
from functools import lru_cache, partial
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2

from .config import Config
from .normalise import mask_phone
from .records import Person
from .report.context import (
    History,
    WeekIndex,
    correction_lines,
    fix_hint,
    index_week,
    manager_history,
    my_followups,
)
from .report.html import make_environment
from .report.html import prepare_templates as prepare
from .report.model import WeekReport
from .report.period import PeriodReport
from .texts import TEXTS, kind_name, t

PLACEHOLDER_FROM = "pipeline@localhost"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
MAX_WAIT = 30.0          # longest single pause between two attempts, seconds

# A mainland mobile number standing alone in a text: masked in every body as a last safeguard
# (`_MASKED`: what it becomes). The pattern starts with the literal "1" and looks behind it for a
# digit (`(?<![0-9]1)`: the character before the "1"), which is "no digit before it": a pattern
# that starts with a literal is searched for that character first, where one that starts with
# a look-behind is tried at every position (a statement's page: a sixteenth of the time).
_PHONE_IN_TEXT = re.compile(r"1(?<![0-9]1)([3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")
_MASKED = r"1\1****\3"
# The same on UTF-8 bytes: an ASCII digit's byte is never part of another character's.
_PHONE_IN_BYTES = re.compile(_PHONE_IN_TEXT.pattern.encode("ascii"))
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")   # what bytes.splitlines() breaks at
# Separators between several addresses in one roster cell (ASCII and full-width).
_ADDRESS_SPLIT = re.compile(r"[,;，；、\s]+")
_UNSAFE_FILENAME = re.compile(r"[^\w.@+-]+")

Buffer = bytes | memoryview


class Outgoing:
    """One email ready to write and send; `digest` is the SHA-256 of exactly `data`.

    `message` is the email as an object, parsed from `data` only if someone asks: emails are
    built straight to bytes, and those built in another process come back without them (they
    are in the outbox)."""

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
def environment() -> jinja2.Environment:
    """One environment per process, so each template is compiled once (the statements' emails
    are built a run of managers at a time). Pages are escaped; plain-text bodies hold no markup,
    so escaping would only garble them."""
    return make_environment(lambda name: name is None or not name.endswith(".txt"))


EMAILS = ("email_manager.html", "email_manager.txt", "email_summary.txt")


def prepare_templates() -> None:
    """The week's email templates compiled now (`report.html.prepare_templates`): the processes
    forked after this to build the emails find them ready."""
    prepare(environment(), EMAILS)


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
    return _PHONE_IN_TEXT.sub(_MASKED, text)


def html_payload(path: Path, policy: EmailPolicy) -> str | None:
    """The base64 payload `EmailMessage.set_content` gives the UTF-8 page at `path` (masked by
    `mask_text`, its lines ended by the policy's, as `cte="base64"` encodes text), made from the
    page's bytes without decoding them: a big office's period summary is tens of MB of text,
    and as a string, masked, split into lines and encoded by the email package, several times
    that. None when the page is not valid UTF-8 (the email package's way replaces what is not)."""
    try:
        decoder = codecs.getincrementaldecoder("utf-8")()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    linesep = policy.linesep.encode("ascii")
    body = _LINE_BREAK.sub(linesep, _PHONE_IN_BYTES.sub(_MASKED.encode("ascii"), _read(path)))
    if not body.endswith(linesep):
        body += linesep
    step = (policy.max_line_length or 78) // 4 * 3      # bytes a line, as the email package encodes
    width = step // 3 * 4
    block = step * 4096
    pieces = []
    for start in range(0, len(body), block):
        encoded = binascii.b2a_base64(body[start:start + block], newline=False)
        pieces.append(b"".join([encoded[i:i + width] + b"\n" for i in range(0, len(encoded), width)]).decode("ascii"))
    del body
    return "".join(pieces)


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


def finish_message(message: EmailMessage, key: str, when: datetime, sender: str) -> tuple[bytes, str]:
    """Fix what would otherwise vary between builds, then serialise: (bytes, sha256).

    The boundaries follow `key` (one message of the week each): '=' runs never occur in base64
    bodies, and every part is base64, so a boundary cannot clash with content. The Message-ID
    follows the key and the content, without serialising the message twice: the leaf parts'
    payloads are already encoded strings."""
    message["Date"] = format_datetime(when)
    message["Auto-Submitted"] = "auto-generated"
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            part.set_boundary(_boundary(key, index))
    body = hashlib.sha256(key.encode())
    for part in message.walk():
        if not part.is_multipart():
            body.update(str(part.get_payload()).encode("utf-8", "surrogateescape"))
    message["Message-ID"] = f"<{body.hexdigest()[:32]}@{_domain(sender)}>"
    data = flatten(message)
    return data, hashlib.sha256(data).hexdigest()


def _boundary_mark(key: str) -> bytes:
    """What every multipart boundary of the email keyed `key` begins with (`_boundary`)."""
    return f"===============kam{hashlib.sha256(key.encode()).hexdigest()[:16]}".encode()


def _boundary(key: str, index: int) -> str:
    """The boundary of the email's `index`-th part (in `walk` order) when it is a multipart."""
    return f"{_boundary_mark(key).decode()}{index}=="


def flatten(message: EmailMessage) -> bytes:
    """`message.as_bytes()`, the same bytes, made faster by `_Generator`."""
    out = BytesIO()
    _Generator(out, mangle_from_=False, policy=message.policy).flatten(message)
    return out.getvalue()


class _Generator(BytesGenerator):
    """The email package's own generator (what `as_bytes` uses), but for two of its loops:

    - a body's lines go out in one piece, their line ends replaced at once, where the package
      writes them one line and one line end at a time (a summary's attachment is 160,000 lines);
    - a header it has folded before is written from memory. A week's emails carry the same
      headers again and again (each part's Content-Type and Content-Transfer-Encoding, the
      sender, the Date): folding them was a fifth of a statement's email. A header value is an
      immutable object made once per text (`_Remembering`), so it is remembered by its identity,
      and kept alive with its folded form so that the identity is not reused."""

    _NL: str        # the package's own attributes: the line end it writes,
    _fp: Any        # and where it writes

    def _write_lines(self, lines: str) -> None:
        # The package's loop writes each piece of _LINE_END.split(lines) followed by a line end, and
        # the last piece alone when not empty: what substituting every line end gives.
        if lines:
            self.write(lines.replace("\n", self._NL) if "\r" not in lines else _LINE_END.sub(self._NL, lines))

    def _write_headers(self, msg: Any) -> None:
        policy = self.policy
        assert policy is not None  # flatten sets it
        for name, value in msg.raw_items():
            key = (id(value), name, policy.linesep, policy.max_line_length)
            folded = _FOLDED.get(key)
            if folded is None or folded[0] is not value:
                if len(_FOLDED) >= _FOLDED_MAX:
                    _FOLDED.clear()
                folded = _FOLDED[key] = (value, policy.fold_binary(name, value))
            self._fp.write(folded[1])
        self.write(self._NL)


_LINE_END = re.compile(r"\r\n|\r|\n")   # the package's own (email.generator.NLCRE)
_FOLDED: dict[tuple[int, str, str, int | None], tuple[Any, bytes]] = {}
_FOLDED_MAX = 4096


class _Headers(HeaderRegistry):
    """The email package's header classes, each made once: the package makes a new class for
    every header it parses, a tenth of a statement's time and garbage only the cycle collector
    frees (a class refers to itself), which it never did while a big week's emails were built."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        made = self._made.get(name.lower())
        if made is None:
            made = self._made[name.lower()] = super().__getitem__(name)
        return made


class _Remembering(EmailPolicy):
    """The SMTP policy, remembering the headers it parsed: the email package parses a header
    each time one is set, and a week's emails set the same ones again and again (each part's
    Content-Type and Content-Transfer-Encoding, the sender, the Date). A sixth of five hundred
    statements' time. The header objects are immutable, so one serves every message; the bytes
    are the SMTP policy's own."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is str:
            return _parsed(name, value)
        return super().header_store_parse(name, value)


@lru_cache(maxsize=256)
def _parsed(name: str, value: str) -> tuple[str, Any]:
    return EmailPolicy.header_store_parse(POLICY, name, value)


# The email package's content functions and handler tables (its stubs declare neither).
_PACKAGE: Any = contentmanager


def _base64_lines(data: Buffer, max_line_length: int | None) -> str:
    """`data` in base64 as the email package writes a part's body (`contentmanager`'s
    `_encode_base64`): each `max_line_length // 4 * 3` bytes a line, each line ended by a
    newline. Encoded in one call and cut into lines, where the package encodes each line by a
    call of its own (a statement's workbook is a thousand lines, a big office's summary
    160,000): a twentieth of a statement's email."""
    step = (max_line_length or 78) // 4 * 3
    width = step // 3 * 4
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join([encoded[i:i + width] + b"\n" for i in range(0, len(encoded), width)]).decode("ascii")


def _set_text(message: EmailMessage, string: str, subtype: str = "plain", charset: str = "utf-8",
              cte: str | None = None, **rest: Any) -> None:
    """The email package's text content (`contentmanager.set_text_content`), its base64 body
    made by `_base64_lines`: the part made for an empty text, then given the text's body (the
    lines ended by the policy's, as the package ends them)."""
    if cte != "base64":
        _PACKAGE.set_text_content(message, string, subtype, charset, cte, **rest)
        return
    _PACKAGE.set_text_content(message, "", subtype, charset, cte, **rest)
    linesep = message.policy.linesep.encode("ascii")
    body = linesep.join(string.encode(charset).splitlines()) + linesep
    message.set_payload(_base64_lines(body, message.policy.max_line_length))


def _set_bytes(message: EmailMessage, data: Buffer, maintype: str, subtype: str, cte: str = "base64",
               **rest: Any) -> None:
    """The email package's bytes content (`contentmanager.set_bytes_content`), its base64 body
    made by `_base64_lines`."""
    if cte != "base64":
        _PACKAGE.set_bytes_content(message, data, maintype, subtype, cte, **rest)
        return
    _PACKAGE.set_bytes_content(message, b"", maintype, subtype, cte, **rest)
    message.set_payload(_base64_lines(data, message.policy.max_line_length))


_CONTENT: Any = contentmanager.ContentManager()   # the package's raw_data_manager, base64 by `_base64_lines`
_CONTENT.get_handlers.update(_PACKAGE.raw_data_manager.get_handlers)
_CONTENT.set_handlers.update(_PACKAGE.raw_data_manager.set_handlers)
_CONTENT.add_set_handler(str, _set_text)
for _kind in (bytes, bytearray, memoryview):
    _CONTENT.add_set_handler(_kind, _set_bytes)

POLICY = _Remembering(linesep="\r\n", header_factory=_Headers(), content_manager=_CONTENT)   # email.policy.SMTP, remembering


def compose_message(sender: str, recipients: Sequence[str], subject: str, text: str, html: str | None,
             attachment: tuple[bytes, str] | None) -> EmailMessage:
    """A text email, with its page as the alternative and its workbook attached when given;
    every phone number standing alone in the bodies masked."""
    message = EmailMessage(policy=POLICY)
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


def mixed_email(sender: str, recipients: Sequence[str], subject: str, text: str, html: str,
                attachment: tuple[Buffer, str], key: str, when: datetime) -> tuple[bytes, str]:
    """`finish_message(compose_message(...), key, when, sender)` for an email with a page and a workbook (a
    statement's), the same bytes and digest, written directly: the parts' header blocks are the
    email package's own (`_folded`: each header parsed and folded as the package does, the
    message's own ones each time, the others once), around the bodies it would give
    (`_base64_lines`). The package's message objects, its content manager and its generator
    were two thirds of a statement's email. tests/test_mail.py compares the two ways."""
    linesep, width = POLICY.linesep, POLICY.max_line_length
    nl = linesep.encode("ascii")
    data, filename = attachment
    bodies = [_base64_lines(nl.join(mask_text(body).encode("utf-8").splitlines()) + nl, width)
              for body in (text, html)]
    bodies.append(_base64_lines(data, width))
    seed = hashlib.sha256(key.encode())
    for body in bodies:
        seed.update(body.encode("utf-8", "surrogateescape"))
    mixed, alternative = _boundary(key, 0), _boundary(key, 1)
    disposition = "attachment; " + email.message._formatparam("filename", filename)  # type: ignore[attr-defined]
    head = b"".join((_folded("From", sender), _fold_once("To", ", ".join(recipients)), _fold_once("Subject", subject),
                     _folded("MIME-Version", "1.0"),
                     _folded_like("Content-Type", 'multipart/mixed; boundary="{}"', _boundary("", 0), mixed),
                     _folded("Date", format_datetime(when)), _folded("Auto-Submitted", "auto-generated"),
                     _folded_like("Message-ID", f"<{{}}@{_domain(sender)}>", "0" * 32, seed.hexdigest()[:32]), nl))
    text_part, html_part, data_part = (body.replace("\n", linesep).encode("ascii") for body in bodies)
    base64 = _folded("Content-Transfer-Encoding", "base64")
    version = _folded("MIME-Version", "1.0")
    out = b"".join((
        head, b"--", mixed.encode(), nl,
        _folded_like("Content-Type", 'multipart/alternative; boundary="{}"', _boundary("", 1), alternative), nl,
        b"--", alternative.encode(), nl,
        _folded("Content-Type", 'text/plain; charset="utf-8"'), base64, nl, text_part,
        nl, b"--", alternative.encode(), nl,
        _folded("Content-Type", 'text/html; charset="utf-8"'), base64, version, nl, html_part,
        nl, b"--", alternative.encode(), b"--", nl,
        nl, b"--", mixed.encode(), nl,
        _folded("Content-Type", "/".join(XLSX_TYPE)), base64, _fold_once("Content-Disposition", disposition), version,
        nl, data_part,
        nl, b"--", mixed.encode(), b"--", nl))
    return out, hashlib.sha256(out).hexdigest()


def _fold_once(name: str, value: str) -> bytes:
    """A header line (folded lines) as the email package writes the header `name` set to `value`
    under `POLICY`: parsed into the package's header object, then folded."""
    return POLICY.fold_binary(name, EmailPolicy.header_store_parse(POLICY, name, value)[1])


@lru_cache(maxsize=64)
def _folded(name: str, value: str) -> bytes:
    """`_fold_once`, remembered: the headers every email repeats."""
    return _fold_once(name, value)


def _folded_like(name: str, form: str, sample: str, value: str) -> bytes:
    """`_fold_once(name, form.format(value))` where `value` is `sample` with other hex digits
    (a boundary, a Message-ID): the same lengths and kinds of characters fold the same way, so
    the sample's folded lines are remembered and the value put in their place."""
    folded = _folded(name, form.format(sample))
    if len(value) != len(sample) or folded.count(sample.encode()) != 1:   # pragma: no cover - not `_boundary`'s
        return _fold_once(name, form.format(value))
    return folded.replace(sample.encode(), value.encode())


def _head(message: EmailMessage) -> bytes:
    """The header block of `message` as `as_bytes` writes it (each header folded by the
    policy, then an empty line)."""
    policy = message.policy
    return b"".join([*(policy.fold_binary(name, value) for name, value in message.items()),
                     policy.linesep.encode()])


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the week's report must be written before its emails are built") from None


def _manager_context(report: WeekReport, row: dict[str, Any], person: Person, lang: str,
                     subject: str, deals_of: dict[str, list[dict[str, Any]]],
                     rejections_of: dict[str, list[dict[str, Any]]], history: History,
                     index: WeekIndex | None = None) -> dict[str, Any]:
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
         "phone": _mask_any(r.get("phone") or ""), "reason": _reason_label(lang, r["reason"]),
         "fix": fix_hint(lang, r["reason"])}
        for r in rejections_of.get(name, [])
    ]
    return {
        "t": partial(t, lang), "lang": lang, "title": subject, "subject": subject,
        "name": name, "team": row.get("team") or person.team,
        "week": report.week, "start": report.start, "end": report.end,
        "assessed": row["active_days"] > 0, "active_days": row["active_days"], "tasks": tasks,
        "fines_total": _money(row["fines"]["total"]),
        "commission": {k: _money(row["commission"][k]) for k in ("visit", "lead", "total")},
        "clawback": _money(row["clawback"]), "adjustment": _money(row["adjustment"]),
        "net": _money(row["net"]), "met": row["met"], "streak": row["streak"],
        "dismissal_review": row["dismissal_review"], "deals": deals, "rejections": rejections,
        "history": history,
        "corrections": correction_lines(lang, report.results, name, _mask_any),
        "followups": my_followups(report, name, index),
    }


def _summary_text(env: jinja2.Environment, report: WeekReport, lang: str, subject: str) -> str:
    lines = []
    totals = {"commission": Decimal(0), "clawback": Decimal(0), "adjustment": Decimal(0), "fines": Decimal(0),
              "net": Decimal(0)}
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
            clawback=_money(row["clawback"]), adjustment=_money(row["adjustment"]), net=_money(row["net"]),
            flags=flags))
        totals["commission"] += Decimal(row["commission"]["total"])
        totals["clawback"] += Decimal(row["clawback"])
        totals["adjustment"] += Decimal(row["adjustment"])
        totals["fines"] += Decimal(row["fines"]["total"])
        totals["net"] += Decimal(row["net"])
    total_line = t(lang, "mail.summary.totals", **{k: _money(v) for k, v in totals.items()},
                   deals=len(report.results.get("deals", [])), rejected=len(report.results.get("rejections", [])))
    people = report.followups.get("people", [])
    overdue = [p for p in people if p["overdue"]]
    follow = t(lang, "mail.summary.followups", open=sum(p["open"] for p in people),
               overdue=sum(p["overdue"] for p in people), answered=sum(p["answered"] for p in people),
               owners=t(lang, "report.leaders_sep").join(f"{p['name']} {p['overdue']}" for p in overdue)
               or t(lang, "report.none")) if people else ""
    return env.get_template("email_summary.txt").render(
        t=partial(t, lang), title=subject, week=report.week, start=report.start, end=report.end,
        lines=lines, totals=total_line, followups=follow)


def _summary_recipients(report: WeekReport | PeriodReport, config: Config) -> list[str]:
    """Who gets the team summary (a week's or a period's): the roster's leaders with an address,
    and `mail.summary_to`; each address once, as first written."""
    found: dict[str, str] = {}
    cells = [p.email for p in report.roster if p.role == "leader"] + list(config.mail.summary_to)
    for cell in cells:
        for address in addresses(cell):
            found.setdefault(address.casefold(), address)
    return list(found.values())


def _file_names(week: str, keys: list[str]) -> list[str]:
    """Each email's file name in the outbox, unique within the week, in the order given. A name
    starts with the week and the email's kind (manager, summary)."""
    taken: set[str] = set()
    names = []
    for key in keys:
        kind, _, who = key.partition(":")
        names.append(_safe_filename(f"{week}-{kind}-{who}", taken))
    return names


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


class _Week:
    """What a week's emails share, worked out once: the sender, the date, who gets what, each
    email's file name, the managers' deals and rejections, the compiled templates. The processes
    that build the emails (`write_messages`) are forked with it."""

    def __init__(self, report: WeekReport, folder: Path, config: Config, digests: bool = True) -> None:
        self.report, self.folder, self.lang, self.digests = report, folder, report.lang, digests
        self.sender = _sender(config)
        self.when = _week_date(report, config)
        self.prefix = _prefix(self.lang, config.office or report.office)
        index = self.index = index_week(report)
        self.stems = index.stems   # the file names the statement writer used
        self.deals_of, self.rejections_of = index.deals_by, index.rejections_by
        self.getting = _statement_recipients(report)
        self.leaders = _summary_recipients(report, config)
        keys = [f"manager:{name}" for name in self.getting] + [f"summary:{a}" for a in self.leaders]
        self.names = dict(zip(keys, _file_names(report.week, keys), strict=True))
        env = environment()
        self.templates = env.get_template("email_manager.html"), env.get_template("email_manager.txt")

    def statements(self, span: tuple[int, int]) -> list[Outgoing]:
        """The statements' emails of the managers at positions span[0]..span[1]-1 of results.json."""
        report, lang = self.report, self.lang
        out = []
        for row in report.results["managers"][span[0]:span[1]]:
            name = row["name"]
            if name not in self.getting:
                continue
            person, recipients = self.getting[name]
            subject = t(lang, "mail.subject.manager", prefix=self.prefix, week=report.week, name=name,
                        net=_money(row["net"]))
            context = _manager_context(report, row, person, lang, subject, self.deals_of, self.rejections_of,
                                       manager_history(lang, self.index, name), self.index)
            html, text = (template.render(context) for template in self.templates)
            workbook = _read(self.folder / "managers" / f"{self.stems[name]}.xlsx")
            attachment = (workbook, t(lang, "mail.attach.manager", week=report.week, name=name))
            key = f"manager:{name}"
            data, digest = mixed_email(self.sender, recipients, subject, text, html, attachment,
                                       f"{report.week}|{key}", self.when)
            out.append(Outgoing(key, recipients, None, digest, self.names[key], data))
        return out

    def summaries(self) -> Iterator[tuple[Outgoing, list[Buffer]]]:
        """Each leader's summary, one at a time: (the email without its bytes, its bytes in
        pieces). Every leader's is the same message but for To and Message-ID, and the body (the
        page and the workbook, tens of MB on a big office) is serialised once: the others are
        the first's body under their own header block. Without `digests`, the others' digests
        are left empty (each is a hash of those tens of MB)."""
        report, lang = self.report, self.lang
        if not self.leaders:
            return
        subject = t(lang, "mail.subject.summary", prefix=self.prefix, week=report.week)
        html = _read(self.folder / "summary.html").decode("utf-8", errors="replace")
        text = _summary_text(environment(), report, lang, subject)
        attachment = (_read(self.folder / "summary.xlsx"), t(lang, "mail.attach.summary", week=report.week))
        first, *others = self.leaders
        key = f"summary:{first}"
        message = compose_message(self.sender, (first,), subject, text, html, attachment)
        data, digest = finish_message(message, f"{report.week}|{key}", self.when, self.sender)
        head = _head(message)
        if not data.startswith(head):  # pragma: no cover - as_bytes writes the headers first
            raise AssertionError("a summary's header block is not where as_bytes put it")
        body = memoryview(data)[len(head):]
        # the one body in every leader's parts: written once, then copied between files (`_write_all`)
        yield Outgoing(key, (first,), None, digest, self.names[key]), [head, body]
        for address in others:
            key = f"summary:{address}"
            message.replace_header("To", address)
            seed = hashlib.sha256(f"{report.week}|{key}{digest}".encode()).hexdigest()
            message.replace_header("Message-ID", f"<{seed[:32]}@{_domain(self.sender)}>")
            head = _head(message)
            hashed = ""
            if self.digests:
                whole = hashlib.sha256(head)
                whole.update(body)
                hashed = whole.hexdigest()
            yield Outgoing(key, (address,), None, hashed, self.names[key]), [head, body]


def build_messages(report: WeekReport, folder: Path, config: Config) -> list[Outgoing]:
    """Every email of the week, managers (by name) first, then the summary for each leader address.

    Reads `summary.html`, `summary.xlsx` and `managers/<stem>.xlsx` from `folder` (the week's
    written outputs, file stems as `manager_stems` gives them); nothing else. A manager without
    an address in the roster gets no email.
    """
    week = _Week(report, folder, config)
    statements = week.statements((0, len(report.results["managers"])))
    return statements + [item.with_data(b"".join(parts)) for item, parts in week.summaries()]


STATEMENT_STEP = 20      # at most, statements' emails per task when several processes build them
PARALLEL_FROM = 100      # statements' emails from which several processes build them by default


def write_messages(report: WeekReport, folder: Path, config: Config, processes: int | None = None,
                   digests: bool = True, meanwhile: Callable[[], None] | None = None) -> list[Outgoing]:
    """Every email of the week (`build_messages`) written to `folder/outbox/` as it is built;
    returns them in the same order, without their bytes (names, recipients and digests).
    Without `digests`, for a run that sends nothing, the summaries after the first come back
    with an empty digest: hashing each is reading the summary's tens of MB again.
    `meanwhile` runs in this process while the others build them (else before it builds them).

    With `processes` above one, that many processes build them: the leaders' summaries as one
    task, the statements' in a few tasks each of at most `STATEMENT_STEP` managers; by default,
    one per core from `PARALLEL_FROM` statements, else this process alone (as where there is no
    forkserver). The workers start from the forkserver (`cli` starts it early, with this
    module imported), each given the report without its rows (`WeekReport.for_emails`), not
    forked from this process, the run's largest: they start small, and this one holds none of
    the emails. Within `report.write.forked_writers` (a re-render) they are forked, and take
    the week's shared part (`_Week`) made here as the fork hands it over."""
    if processes is None:
        processes = (os.cpu_count() or 1) if len(_statement_recipients(report)) >= PARALLEL_FROM else 1
    if processes < 2 or "forkserver" not in multiprocessing.get_all_start_methods():
        if meanwhile is not None:
            meanwhile()
        week = _Week(report, folder, config, digests)
        statements = _write_statements(week, (0, len(report.results["managers"])))
        return statements + _write_all(week.summaries(), folder)
    managers = len(report.results["managers"])
    step = max(1, min(STATEMENT_STEP, -(-managers // (4 * processes))))
    runs = [(a, min(managers, a + step)) for a in range(0, managers, step)]
    from .report.write import writers_context

    context = writers_context()
    if context is not None and context.get_start_method() == "fork":
        # Forked (`forked_writers`: this process holds the week alone): the week's shared part
        # made here once, from the week's index this process has made already, and inherited by
        # each worker as it is, where each would unpickle the report and index it again.
        initializer: Callable[..., None] = _inherit
        initargs: tuple[Any, ...] = (_Week(report, folder, config, digests),)
    else:
        # The report for them pickled once (the same bytes for each), without what no email reads.
        initializer, initargs = _adopt, (pickle.dumps(report.for_emails(), pickle.HIGHEST_PROTOCOL), folder, config,
                                         digests)
    with ProcessPoolExecutor(processes, mp_context=context, initializer=initializer, initargs=initargs) as pool:
        summaries = pool.submit(_write_summaries)   # the largest task first
        done = pool.map(_write_run, runs)
        if meanwhile is not None:
            meanwhile()
        return [m for part in done for m in part] + summaries.result()


def _write_statements(week: _Week, span: tuple[int, int]) -> list[Outgoing]:
    return write_outbox(week.statements(span), week.folder)


_adopted: _Week | None = None   # in a worker of `write_messages`: the week it builds


def _adopt(report: bytes, folder: Path, config: Config, digests: bool) -> None:
    global _adopted  # a worker process's one piece of state, set as it starts
    # No cyclic collection in the worker (as in the run's `gc_paused`): it walks every object
    # made, to find nothing; the worker's memory goes back when it ends with the week.
    gc.disable()
    _adopted = _Week(pickle.loads(report), folder, config, digests)  # pickled by this program just now


def _inherit(week: _Week) -> None:
    """`_adopt` in a worker forked from the process that made `week` (handed over by the fork,
    not pickled)."""
    global _adopted  # as `_adopt`'s
    gc.disable()
    _adopted = week


def _write_run(span: tuple[int, int]) -> list[Outgoing]:
    assert _adopted is not None
    return _write_statements(_adopted, span)


def _write_summaries() -> list[Outgoing]:
    assert _adopted is not None
    return _write_all(_adopted.summaries(), _adopted.folder)


def write_outbox(messages: Iterable[Outgoing], folder: Path) -> list[Outgoing]:
    """Write every message to `folder/outbox/<filename>`, whether it is sent or not, one at a
    time as `messages` gives them (a big office's summaries are tens of MB each: a generator
    holds one at a time). Returns them without their bytes: names, recipients and digests."""
    return _write_all(((m.without_data(), (m.data,)) for m in messages), folder)


# A piece of an email at least this large that recurs (the same object: the leaders' summary's
# body) is copied from the file it was first written to rather than written again (`_write_all`).
COPIED_FROM_BYTES = 1 << 20


def _write_all(messages: Iterable[tuple[Outgoing, Iterable[Buffer]]], folder: Path) -> list[Outgoing]:
    """Each (email without its bytes, its bytes in pieces) written to the outbox, one at a time,
    under a temporary name until complete; returns the emails.

    A large piece given again (the very object: every leader's summary is its own header block
    and the same body, tens of MB on a big office) is copied by the kernel from the file it went
    into first (`os.copy_file_range`), the same bytes: 24 copies of a 12.7 MB body took
    0.08-0.09 s, against 0.08-0.34 s to write them (the kernel's time: it varies with how it
    finds pages for what is written). Where the system cannot copy between files, the piece is
    written as any other."""
    outbox = folder / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    written = []
    held: tuple[Buffer, Path, int] | None = None   # the last large piece: (it, the file holding it, where)
    copying = hasattr(os, "copy_file_range")
    for item, parts in messages:
        partial_file = outbox / (item.filename + ".part")
        final = outbox / item.filename
        fd = os.open(partial_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            at = 0
            for part in parts:
                view = memoryview(part).cast("B")
                done = 0
                if copying and held is not None and held[0] is part:
                    done = _copy_span(held[1], held[2], fd, view.nbytes)
                    copying = done == view.nbytes
                _write_fully(fd, view[done:])
                if view.nbytes >= COPIED_FROM_BYTES and (held is None or held[0] is not part):
                    held = (part, final, at)
                at += view.nbytes
        finally:
            os.close(fd)
        partial_file.replace(final)
        written.append(item)
    return written


def _write_fully(fd: int, data: memoryview) -> None:
    while data:
        wrote = os.write(fd, data)
        if wrote <= 0:   # pragma: no cover - a regular file takes at least a byte or raises
            raise OSError(f"nothing written to descriptor {fd}")
        data = data[wrote:]


def _copy_span(source: Path, offset: int, fd: int, size: int) -> int:
    """Copy `size` bytes of the file `source` from `offset` to where `fd` is (advancing it),
    in the kernel; returns how many it copied: fewer where the system would not (another file
    system, no such call), and the caller writes the rest itself."""
    done = 0
    try:
        src = os.open(source, os.O_RDONLY)
    except OSError:
        return 0
    try:
        while done < size:
            step = os.copy_file_range(src, fd, size - done, offset + done)
            if step <= 0:
                break
            done += step
    except OSError:
        pass
    finally:
        os.close(src)
    return done


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
    text = environment().get_template("email_failure.txt").render(
        t=partial(t, lang), at=at, error_text=error_text, what_to_do=what_to_do)
    sender = _sender(config)
    message = compose_message(sender, admins, subject, text, None, None)
    finish_message(message, f"failure|{moment.isoformat()}|{error_text}", moment, sender)
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


# --- months and quarters (SPEC §8) ----------------------------------------------------------------

def _period_text(report: PeriodReport, lang: str, subject: str) -> str:
    r = report.results
    lines = []
    for m in r.managers:
        f = m.figures
        lines.append(t(lang, "mail.period.line", name=m.name, team=m.team, met=m.weeks_met, assessed=m.weeks_assessed,
                       fines=_money(f.fines.total), commission=_money(f.commission.total), net=_money(f.net),
                       flags=t(lang, "mail.period.flag_review") if m.dismissal_review else ""))
    o = r.office
    totals = t(lang, "mail.period.totals", managers=o.managers, weeks_met=o.weeks_met,
               commission=_money(o.figures.commission.total), fines=_money(o.figures.fines.total),
               net=_money(o.figures.net))
    return environment().get_template("email_period.txt").render(
        t=partial(t, lang), title=subject, lines=lines, totals=totals, intro=t(lang, "mail.period.intro", period=r.period, start=r.start, end=r.end))


def build_period_messages(report: PeriodReport, folder: Path, config: Config) -> list[Outgoing]:
    """The period summary for each leader (roster leaders with an address, and `mail.summary_to`):
    summary.html as the body, summary.xlsx attached, read from the period's written `folder`.
    Deterministic like the weekly emails (dated the Monday after the period's end), so that the
    sent-once table, keyed by the period's name, knows them again."""
    return [item.with_data(b"".join(parts)) for item, parts in period_messages(report, folder, config)]


def period_messages(report: PeriodReport, folder: Path, config: Config,
                    digests: bool = True) -> Iterator[tuple[Outgoing, list[Buffer]]]:
    """`build_period_messages` one at a time: (the email without its bytes, its bytes in pieces).

    Every leader's email is the same message but for To, Message-ID and the multipart
    boundaries (each follows the email's key), and the body (the page and the workbook, tens of
    MB on a big office) is built and serialised once (`_period_message`): the others are the
    first's body with their own boundaries, under their own header block (`_period_copies`).
    Without `digests` (nothing is to be sent), the others' digests are left empty (each is a
    hash of those tens of MB)."""
    leaders = _summary_recipients(report, config)
    if not leaders:
        return
    sender = _sender(config)
    keys = [f"summary:{a}" for a in leaders]
    names = dict(zip(keys, _file_names(report.name, keys), strict=True))
    message = _period_message(report, folder, config, sender, leaders[0])
    tz = zoneinfo.ZoneInfo(config.timezone)
    when = datetime.combine(date.fromisoformat(report.results.end) + timedelta(days=1), dtime(0, 0), tzinfo=tz)
    data, digest = finish_message(message, f"{report.name}|{keys[0]}", when, sender)
    yield Outgoing(keys[0], (leaders[0],), None, digest, names[keys[0]]), [data]
    for (address, key), parts in zip(zip(leaders[1:], keys[1:], strict=True),
                                     _period_copies(report, message, data, keys, sender), strict=True):
        checked = ""
        if digests:
            whole = hashlib.sha256()
            for chunk in parts:
                whole.update(chunk)
            checked = whole.hexdigest()
        yield Outgoing(key, (address,), None, checked, names[key]), parts


def _period_message(report: PeriodReport, folder: Path, config: Config, sender: str, first: str) -> EmailMessage:
    """The period summary's email to the first leader: summary.html as the body (its bytes
    given as the part's payload, not decoded and encoded again, where it is UTF-8), the
    workbook attached."""
    lang = report.lang
    kind = "quarter" if report.is_quarter else "month"
    subject = t(lang, f"mail.subject.period.{kind}", prefix=_prefix(lang, config.office or report.office),
                period=report.name)
    text = _period_text(report, lang, subject)
    attachment = (_read(folder / "summary.xlsx"), t(lang, "mail.attach.period", period=report.name))
    encoded = html_payload(folder / "summary.html", POLICY)
    if encoded is None:   # not UTF-8: as the email package encodes it, what is not replaced
        html = _read(folder / "summary.html").decode("utf-8", errors="replace")
        return compose_message(sender, (first,), subject, text, html, attachment)
    # the page's part made with a placeholder, then given its payload
    message = compose_message(sender, (first,), subject, text, "", attachment)
    next(p for p in message.walk() if p.get_content_type() == "text/html").set_payload(encoded)
    return message


def _period_copies(report: PeriodReport, message: EmailMessage, data: bytes, keys: list[str],
                   sender: str) -> Iterator[list[Buffer]]:
    """The bytes (in pieces) of the period summary's email to each leader after the first
    (`keys[1:]`), from the first's `message` and its bytes `data`: its body split where its
    boundaries stand (a run of '=' never occurs in its base64 parts), joined by each one's own
    boundaries under each one's header block. `message` keeps only its headers after."""
    head = _head(message)
    if not data.startswith(head):  # pragma: no cover - as_bytes writes the headers first
        raise AssertionError("a period summary's header block is not where as_bytes put it")
    mark = _boundary_mark(f"{report.name}|{keys[0]}")
    pieces: list[Buffer] = []
    at, view = len(head), memoryview(data)
    while (stop := data.find(mark, at)) >= 0:
        pieces.append(view[at:stop])
        at = stop + len(mark)
    pieces.append(view[at:])
    payloads = [str(part.get_payload()).encode("utf-8", "surrogateescape")
                for part in message.walk() if not part.is_multipart()]
    for part in message.walk():   # from here on only its headers are written (`_head`)
        if not part.is_multipart():
            part.set_payload("")
    domain = _domain(sender)
    for key in keys[1:]:
        seed = f"{report.name}|{key}"
        message.replace_header("To", key.partition(":")[2])
        for index, part in enumerate(message.walk()):
            if part.is_multipart():
                part.set_boundary(_boundary(seed, index))
        hashed = hashlib.sha256(seed.encode())
        for payload in payloads:
            hashed.update(payload)
        message.replace_header("Message-ID", f"<{hashed.hexdigest()[:32]}@{domain}>")
        mine = _boundary_mark(seed)
        parts: list[Buffer] = [_head(message), pieces[0]]
        for piece in pieces[1:]:
            parts += [mine, piece]
        yield parts


def write_period_messages(report: PeriodReport, folder: Path, config: Config,
                          digests: bool = True) -> list[Outgoing]:
    """The period's emails written to `folder/outbox/` one at a time as they are built; returned
    without their bytes (names, recipients and digests; without `digests`, see `period_messages`)."""
    return _write_all(period_messages(report, folder, config, digests), folder)
