"""Emails of a week: built deterministically, private to each manager, sent once over real SMTP.

Every SMTP test talks to an aiosmtpd server on 127.0.0.1 (a free port), stopped when the test ends.
"""

from __future__ import annotations

import email
import hashlib
import io
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import PASSWORD_ENV, Config, Mail, Smtp
from pipeline.mail import (
    POLICY,
    Outgoing,
    build_messages,
    failure_notice,
    html_payload,
    mask_text,
    send_messages,
    send_notice,
    write_messages,
    write_outbox,
)
from pipeline.records import Person
from pipeline.report.context import manager_stems
from pipeline.report.model import RunInfo, WeekReport
from pipeline.report.write import write_week
from pipeline.run import publish

MANAGERS = ["张伟", "李强", "王芳"]
PHONE_ZW = "13800138000"
PHONE_LQ = "13900139000"


# --- a week and its written files -----------------------------------------------------------------

def _manager(name: str, team: str, net: str, *, met: bool = True, streak: int = 0,
             review: bool = False) -> dict[str, Any]:
    return {
        "name": name, "team": team, "active_days": 7,
        "targets": {"leads": 100, "visits": 16, "units": 3},
        "achieved": {"leads": 87, "visits": 16, "units": 1},
        "shortfall": {"leads": 13, "visits": 0, "units": 2},
        "fines": {"leads": "13.00", "visits": "0.00", "units": "200.00", "total": "213.00"},
        "commission": {"visit": "2000.00", "lead": "200.00", "total": "2200.00"},
        "clawback": "0.00", "adjustment": "0.00", "net": net, "met": met, "streak": streak, "dismissal_review": review,
    }


def _report() -> WeekReport:
    results = {
        "schema": 2, "week": "2026-W48", "start": "2026-11-23", "end": "2026-11-29",
        "managers": [
            _manager("张伟", "一组", "1987.00", met=False, streak=2),
            _manager("李强", "A&B<组>", "-213.00", met=False, streak=4, review=True),
            _manager("王芳", "一组", "0.00"),
        ],
        "deals": [
            {"source": {"file": "成交记录.xlsx", "sheet": "Sheet1", "row": 5}, "phone": PHONE_ZW,
             "deal_at": "2026-11-25T00:00:00", "room": "3-1201", "salesperson": "李娜",
             "salesperson_commission": "4000.00", "manager": "张伟", "kind": "visit",
             "manager_commission": "2000.00", "salesperson_net": "2000.00", "reason": None, "late": False},
            {"source": {"file": "成交记录.xlsx", "sheet": "Sheet1", "row": 6}, "phone": PHONE_LQ,
             "deal_at": "2026-11-26T15:30:00", "room": "5-0802", "salesperson": "陈静",
             "salesperson_commission": "3000.00", "manager": "李强", "kind": "lead",
             "manager_commission": "200.00", "salesperson_net": "3000.00", "reason": None, "late": True},
        ],
        "rejections": [
            # The message names 张伟, the number's owner: it must not reach 李强's email.
            {"kind": "leads", "source": {"file": "号码.xlsx", "sheet": "第48周", "row": 12},
             "reason": "ALREADY_REGISTERED", "message": f"{PHONE_ZW} 已于 2026-11-20 由 张伟 登记",
             "manager": "李强", "phone": PHONE_ZW},
            {"kind": "visits", "source": {"file": "到访.xlsx", "sheet": "Sheet1", "row": 3},
             "reason": "INVALID_PHONE", "message": "「139001390001」不是有效的手机号码",
             "manager": "李强", "phone": "139001390001"},
        ],
        "rulings": [], "clawbacks": [], "adjustments": [],
        "stats": {"rows_read": 10, "rows_stored": 9, "duplicates_dropped": 0, "rejected": 2},
    }
    roster = [
        Person("张伟", "manager", "一组", "zhangwei@example.com", None, None),
        Person("李强", "manager", "A&B<组>", "liqiang@example.com", None, None),
        Person("王芳", "manager", "一组", "无", None, None),           # no usable address: no email
        Person("李娜", "salesperson", "一组", "lina@example.com", None, None),
        Person("陈静", "salesperson", "A&B<组>", "", None, None),
        Person("赵总", "leader", "一组", "zhao@example.com", None, None),
    ]
    run = RunInfo("run-1", "2026-11-30T08:00:00", {}, [])
    return WeekReport("2026-W48", "2026-11-23", "2026-11-29", "zh", "某某项目", results, run, roster)


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.worksheets[0]
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _write_folder(folder: Path, report: WeekReport) -> Path:
    """Stand-ins for what the report writers produce."""
    (folder / "managers").mkdir(parents=True)
    stems = manager_stems(report.manager_names())
    for m in report.results["managers"]:
        (folder / "managers" / f"{stems[m['name']]}.xlsx").write_bytes(_xlsx([["姓名", "净额"], [m["name"], m["net"]]]))
    (folder / "summary.xlsx").write_bytes(_xlsx([["姓名", "净额"]] + [[n, "0"] for n in MANAGERS]))
    (folder / "summary.html").write_text(
        "<!DOCTYPE html><html><body><h1>团队汇总</h1><p>张伟 李强 王芳</p>"
        f"<p>{PHONE_ZW}</p></body></html>", encoding="utf-8")
    return folder


@pytest.fixture
def report() -> WeekReport:
    return _report()


@pytest.fixture
def folder(tmp_path: Path, report: WeekReport) -> Path:
    return _write_folder(tmp_path / "2026-W48", report)


def _config(port: int = 25, host: str = "127.0.0.1", **smtp: Any) -> Config:
    return Config(
        office="某某项目",
        mail=Mail(from_="pipeline@example.com", summary_to=("boss@example.com", "ZHAO@example.com"),
                  admin_to=("admin@example.com",)),
        smtp=Smtp(host=host, port=port, security=smtp.pop("security", "none"), user=smtp.pop("user", "")),
    )


def _texts(message: EmailMessage) -> str:
    """Every header and every text part, decoded, plus the attachment's file name."""
    parts = [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
        elif part.get_filename():
            parts.append(part.get_filename() or "")
    return "\n".join(parts)


def _attachment(message: EmailMessage) -> tuple[str, bytes]:
    found = [p for p in message.iter_attachments()]
    assert len(found) == 1
    data = found[0].get_content()
    assert isinstance(data, bytes)
    return found[0].get_filename() or "", data


def _cells(data: bytes) -> list[str]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]


# --- building ---------------------------------------------------------------------------------------

def test_each_manager_with_an_address_and_each_leader_gets_one_message(report: WeekReport, folder: Path) -> None:
    messages = build_messages(report, folder, _config())
    keys = [m.key for m in messages]
    # 王芳's roster cell holds no address; the leader's address and summary_to are deduplicated ignoring case.
    assert keys == ["manager:张伟", "manager:李强", "summary:zhao@example.com", "summary:boss@example.com"]
    by_key = {m.key: m for m in messages}
    assert by_key["manager:张伟"].recipients == ("zhangwei@example.com",)
    assert by_key["manager:张伟"].message["Subject"] == "【某某项目】2026-W48 周报 张伟：净额 1,987.00 元"
    assert by_key["manager:李强"].message["Subject"] == "【某某项目】2026-W48 周报 李强：净额 -213.00 元"
    assert by_key["summary:boss@example.com"].message["Subject"] == "【某某项目】2026-W48 周报 团队汇总"
    assert by_key["manager:张伟"].message["From"] == "pipeline@example.com"
    assert by_key["manager:张伟"].message["To"] == "zhangwei@example.com"
    assert len({m.filename for m in messages}) == len(messages)
    assert all(m.filename.endswith(".eml") and "/" not in m.filename for m in messages)


def test_build_is_byte_identical_and_digest_is_of_the_bytes(report: WeekReport, folder: Path) -> None:
    import hashlib

    first = build_messages(report, folder, _config())
    second = build_messages(_report(), folder, _config())
    assert [m.data for m in first] == [m.data for m in second]
    assert [m.digest for m in first] == [m.digest for m in second]
    for m in first:
        assert m.digest == hashlib.sha256(m.data).hexdigest()
        assert m.data == m.message.as_bytes(policy=SMTP_POLICY)
        assert m.message["Date"] == "Mon, 30 Nov 2026 00:00:00 +0800"
        assert m.message["Message-ID"].endswith("@example.com>")
    assert len({m.message["Message-ID"] for m in first}) == len(first)


def test_manager_message_is_private_masked_and_has_alternatives(report: WeekReport, folder: Path) -> None:
    messages = {m.key: m for m in build_messages(report, folder, _config())}
    for name in ("张伟", "李强"):
        message = messages[f"manager:{name}"].message
        text = _texts(message)
        others = [n for n in MANAGERS if n != name]
        assert name in text
        assert not [n for n in others if n in text], f"{name}'s email names another manager"
        assert PHONE_ZW not in text and PHONE_LQ not in text
        body = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert body is not None and html is not None
        filename, data = _attachment(message)
        assert filename == f"2026-W48 周报 {name}.xlsx"
        cells = _cells(data)
        assert name in cells and not [n for n in others if n in cells]
    zw = messages["manager:张伟"].message
    assert "138****8000" in zw.get_body(("plain",)).get_content()   # type: ignore[union-attr]
    assert "1,987.00" in zw.get_body(("html",)).get_content()       # type: ignore[union-attr]
    lq = messages["manager:李强"].message
    lq_html = lq.get_body(("html",)).get_content()                   # type: ignore[union-attr]
    lq_text = lq.get_body(("plain",)).get_content()                  # type: ignore[union-attr]
    # Input text is escaped in the page and left alone in the plain text.
    assert "A&amp;B&lt;组&gt;" in lq_html and "A&B<组>" not in lq_html
    assert "A&B<组>" in lq_text
    assert "淘汰审核" in lq_text and "号码已被登记" in lq_text and "（补录）" in lq_text
    assert "号码.xlsx / 第48周 / 第 12 行" in lq_text
    # A mistyped number is hidden too, in both bodies.
    assert "139*****0001" in lq_text and "139001390001" not in lq_text + lq_html


def test_summary_message_carries_the_summary_page_and_workbook(report: WeekReport, folder: Path) -> None:
    message = next(m for m in build_messages(report, folder, _config()) if m.key.startswith("summary:")).message
    html = message.get_body(("html",)).get_content()   # type: ignore[union-attr]
    assert "团队汇总" in html and all(n in html for n in MANAGERS)
    assert PHONE_ZW not in html and "138****8000" in html       # masked even if the page was not
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(n in text for n in MANAGERS) and "进入淘汰审核" in text
    filename, data = _attachment(message)
    assert filename == "2026-W48 团队汇总.xlsx"
    assert set(MANAGERS) <= set(_cells(data))


def test_english_and_placeholder_sender(report: WeekReport, folder: Path) -> None:
    report.lang, report.office = "en", ""
    config = replace(_config(), office="", mail=Mail())
    messages = build_messages(report, folder, config)
    assert [m.key for m in messages] == ["manager:张伟", "manager:李强", "summary:zhao@example.com"]
    assert messages[0].message["Subject"] == "2026-W48 weekly statement 张伟: net 1,987.00 CNY"
    assert messages[0].message["From"] == "pipeline@localhost"


def test_several_addresses_in_one_cell_and_a_manager_not_assessed(report: WeekReport, folder: Path) -> None:
    report.roster[2] = replace(report.roster[2], email="wf@example.com；WF2@example.com, wf@example.com")
    row = report.results["managers"][2]
    row.update(active_days=0, met=True, streak=0,
               targets={k: 0 for k in row["targets"]}, achieved={k: 0 for k in row["achieved"]},
               shortfall={k: 0 for k in row["shortfall"]})
    message = {m.key: m for m in build_messages(report, folder, _config())}["manager:王芳"]
    assert message.recipients == ("wf@example.com", "WF2@example.com")
    assert message.message["To"] == "wf@example.com, WF2@example.com"
    text = message.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "不在考核期内" in text and "目标 0" not in text and "在岗" not in text


def test_missing_statement_file_is_an_error(report: WeekReport, folder: Path) -> None:
    (folder / "managers" / "张伟.xlsx").unlink()
    with pytest.raises(FileNotFoundError, match="张伟"):
        build_messages(report, folder, _config())


def test_write_outbox_writes_every_message(report: WeekReport, folder: Path) -> None:
    messages = build_messages(report, folder, _config())
    write_outbox(messages, folder)
    files = sorted(p.name for p in (folder / "outbox").iterdir())
    assert files == sorted(m.filename for m in messages)
    for m in messages:
        raw = (folder / "outbox" / m.filename).read_bytes()
        assert raw == m.data
        assert email.message_from_bytes(raw, policy=SMTP_POLICY)["Subject"] == m.message["Subject"]


@pytest.mark.parametrize("processes", [1, 2])
def test_write_messages_writes_what_build_messages_builds(report: WeekReport, folder: Path, processes: int) -> None:
    """The run writes the week's emails straight to the outbox (`write_messages`), the
    statements' in `processes` forked processes: every file is byte for byte the email
    `build_messages` builds, under the same name, in the same order, its digest the SHA-256 of
    the file; what comes back carries no bytes."""
    config = _config()
    whole = build_messages(report, folder, config)
    assert [m.key for m in whole] == ["manager:张伟", "manager:李强", "summary:zhao@example.com",
                                      "summary:boss@example.com"]
    written = write_messages(report, folder, config, processes=processes)
    assert [(m.key, m.recipients, m.filename, m.digest) for m in written] == \
        [(m.key, m.recipients, m.filename, m.digest) for m in whole]
    assert all(m.data == b"" for m in written)
    for item in whole:
        raw = (folder / "outbox" / item.filename).read_bytes()
        assert raw == item.data and item.digest == hashlib.sha256(raw).hexdigest()
    assert sorted(p.name for p in (folder / "outbox").iterdir()) == sorted(m.filename for m in whole)


# --- a real SMTP server -------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    """Keeps every delivered message; refuses `nobody@…` for good and `busy@…` the first N times."""

    def __init__(self, busy_times: int = 0) -> None:
        self.envelopes: list[tuple[str, list[str], bytes, Any]] = []
        self.busy_left = busy_times

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@") and self.busy_left > 0:
            self.busy_left -= 1
            return "451 4.3.2 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.peer))
        return "250 OK"

    def received(self) -> dict[str, list[EmailMessage]]:
        out: dict[str, list[EmailMessage]] = {}
        for _sender, rcpts, content, _peer in self.envelopes:
            message = email.message_from_bytes(content, policy=SMTP_POLICY)
            assert isinstance(message, EmailMessage)
            for r in rcpts:
                out.setdefault(r, []).append(message)
        return out


class _Servers:
    """Starts aiosmtpd servers on free ports; `stop(port)` closes one early; the rest stop at teardown."""

    def __init__(self) -> None:
        self.running: dict[int, Controller] = {}

    def __call__(self, handler: Collector | None = None, **kwargs: Any) -> tuple[Collector, int]:
        handler = handler or Collector()
        port = _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=5, **kwargs)
        controller.start()
        self.running[port] = controller
        return handler, port

    def stop(self, port: int) -> None:
        self.running.pop(port).stop()

    def stop_all(self) -> None:
        for port in list(self.running):
            self.stop(port)


@pytest.fixture
def smtp_server() -> Iterator[_Servers]:
    servers = _Servers()
    try:
        yield servers
    finally:
        servers.stop_all()


def test_every_recipient_gets_exactly_their_messages_over_one_connection(
        report: WeekReport, folder: Path, smtp_server: _Servers) -> None:
    collector, port = smtp_server()
    config = _config(port)
    messages = build_messages(report, folder, config)
    result = send_messages(messages, config, set())
    assert result.failed == [] and result.skipped == 0 and result.ok
    assert result.attempts == 1
    assert len({peer for *_, peer in collector.envelopes}) == 1     # one connection for all
    assert sorted(result.sent) == sorted((m.recipients[0], m.digest, m.key) for m in messages)
    received = collector.received()
    assert set(received) == {"zhangwei@example.com", "liqiang@example.com", "zhao@example.com", "boss@example.com"}
    assert all(len(v) == 1 for v in received.values())
    assert all(sender == "pipeline@example.com" for sender, *_ in collector.envelopes)
    for m in messages:
        got = received[m.recipients[0]][0]
        assert got["Message-ID"] == m.message["Message-ID"]
        assert got.as_bytes(policy=SMTP_POLICY) == m.data
        _name, data = _attachment(got)
        assert openpyxl.load_workbook(io.BytesIO(data)).worksheets
    for name in ("张伟", "李强"):
        address = next(p.email for p in report.roster if p.name == name)
        text = _texts(received[address][0])
        assert not [n for n in MANAGERS if n != name and n in text]


def test_already_sent_sends_nothing_and_resend_sends_again(
        report: WeekReport, folder: Path, smtp_server: _Servers) -> None:
    collector, port = smtp_server()
    config = _config(port)
    messages = build_messages(report, folder, config)
    first = send_messages(messages, config, set())
    sent = {(recipient, digest) for recipient, digest, _key in first.sent}
    again = send_messages(build_messages(report, folder, config), config, sent)
    assert again.sent == [] and again.failed == [] and again.skipped == len(messages)
    assert again.attempts == 0                               # not even a connection
    assert len(collector.envelopes) == len(messages)
    forced = send_messages(messages, config, sent, resend=True)
    assert len(forced.sent) == len(messages) and forced.skipped == 0
    assert len(collector.envelopes) == 2 * len(messages)


def test_refused_recipient_is_reported_and_the_rest_delivered(
        report: WeekReport, folder: Path, smtp_server: _Servers) -> None:
    collector, port = smtp_server()
    config = replace(_config(port), mail=Mail(from_="pipeline@example.com", summary_to=("nobody@example.com",)))
    messages = build_messages(report, folder, config)
    result = send_messages(messages, config, set(), backoff=0.001)
    assert [(key, r) for key, r, _e in result.failed] == [("summary:nobody@example.com", "nobody@example.com")]
    assert "550" in result.failed[0][2]
    assert {r for r, _d, _k in result.sent} == {"zhangwei@example.com", "liqiang@example.com", "zhao@example.com"}
    assert len(collector.envelopes) == 3


def test_transient_refusal_is_retried(
        report: WeekReport, folder: Path, smtp_server: _Servers) -> None:
    collector, port = smtp_server(Collector(busy_times=2))
    config = replace(_config(port), mail=Mail(from_="pipeline@example.com", summary_to=("busy@example.com",)))
    waits: list[float] = []
    result = send_messages(build_messages(report, folder, config), config, set(), backoff=0.01, sleep=waits.append)
    assert result.failed == []
    assert "busy@example.com" in {r for r, _d, _k in result.sent}
    assert waits == [0.01, 0.02]

    collector.busy_left = 10                                   # deferred for longer than the retries last
    result = send_messages(build_messages(report, folder, config), config, set(), retries=2, backoff=0.001)
    assert [(k, r) for k, r, _e in result.failed] == [("summary:busy@example.com", "busy@example.com")]
    assert "451" in result.failed[0][2]


def test_server_down_retries_within_bound_and_fails_every_message(report: WeekReport, folder: Path) -> None:
    port = _free_port()                                        # nothing listens there
    config = _config(port)
    messages = build_messages(report, folder, config)
    waits: list[float] = []
    result = send_messages(messages, config, set(), retries=3, backoff=0.01, sleep=waits.append, timeout=2)
    assert result.sent == []
    assert sorted(k for k, _r, _e in result.failed) == sorted(m.key for m in messages)
    assert result.attempts == 4                                 # 1 + 3 retries, then the rest fail at once
    assert waits == [0.01, 0.02, 0.04]
    assert all(f"127.0.0.1:{port}" in error for _k, _r, error in result.failed)

    started = time.monotonic()
    result = send_messages(messages, config, set(), retries=2, backoff=0.01, timeout=2)
    assert time.monotonic() - started < 60  # a bounded retry budget, not a speed check
    assert result.attempts == 3 and len(result.failed) == len(messages)


def test_server_stopped_mid_way(
        report: WeekReport, folder: Path, smtp_server: _Servers) -> None:
    collector, port = smtp_server()
    config = _config(port)
    messages = build_messages(report, folder, config)
    assert send_messages(messages[:1], config, set()).ok
    smtp_server.stop(port)
    result = send_messages(messages, config, set(), retries=1, backoff=0.001)
    assert result.sent == [] and len(result.failed) == len(messages) and result.attempts == 2
    assert len(collector.envelopes) == 1


def test_no_host_means_nothing_is_sent(report: WeekReport, folder: Path) -> None:
    config = _config(host="")
    messages = build_messages(report, folder, config)
    result = send_messages(messages, config, set())
    assert result.sent == [] and result.attempts == 0
    assert len(result.failed) == len(messages)
    assert all("outbox" in error for _k, _r, error in result.failed)


def test_non_ascii_address_is_refused_before_sending(
        report: WeekReport, folder: Path, smtp_server: _Servers) -> None:
    collector, port = smtp_server()
    config = replace(_config(port), mail=Mail(from_="pipeline@example.com", summary_to=("老板@例子.com",)))
    result = send_messages(build_messages(report, folder, config), config, set())
    assert [(k, r) for k, r, _e in result.failed] == [("summary:老板@例子.com", "老板@例子.com")]
    assert len(collector.envelopes) == 3


# --- STARTTLS and AUTH ----------------------------------------------------------------------------------

def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key: with `cryptography` if installed, else `openssl req`."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither cryptography nor openssl is available to make a test certificate")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60)
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"kam", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_server(tmp_path: Path, smtp_server: _Servers
               ) -> tuple[Collector, int, ssl.SSLContext]:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    collector, port = smtp_server(tls_context=server_context, require_starttls=True,
                                  auth_require_tls=True, authenticator=_authenticator)
    # The client trusts exactly this certificate (and checks the host name against it).
    client_context = ssl.create_default_context(cafile=str(cert))
    return collector, port, client_context


def test_starttls_and_login(report: WeekReport, folder: Path, monkeypatch: pytest.MonkeyPatch,
                            tls_server: tuple[Collector, int, ssl.SSLContext]) -> None:
    collector, port, context = tls_server
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    config = _config(port, security="starttls", user="kam")
    messages = build_messages(report, folder, config)
    result = send_messages(messages, config, set(), ssl_context=context)
    assert result.failed == [] and len(result.sent) == len(messages) and result.attempts == 1
    assert len(collector.envelopes) == len(messages)


def test_wrong_password_fails_every_message_without_retrying(
        report: WeekReport, folder: Path, monkeypatch: pytest.MonkeyPatch,
        tls_server: tuple[Collector, int, ssl.SSLContext]) -> None:
    collector, port, context = tls_server
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    config = _config(port, security="starttls", user="kam")
    messages = build_messages(report, folder, config)
    waits: list[float] = []
    result = send_messages(messages, config, set(), ssl_context=context, sleep=waits.append)
    assert result.sent == [] and len(result.failed) == len(messages)
    assert result.attempts == 1 and waits == []
    assert all("PIPELINE_SMTP_PASSWORD" in error for _k, _r, error in result.failed)
    assert collector.envelopes == []


def test_missing_password_and_unverified_certificate_are_reported(
        report: WeekReport, folder: Path, monkeypatch: pytest.MonkeyPatch,
        tls_server: tuple[Collector, int, ssl.SSLContext]) -> None:
    _collector, port, _context = tls_server
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = _config(port, security="starttls", user="kam")
    messages = build_messages(report, folder, config)
    result = send_messages(messages, config, set())
    assert result.attempts == 0 and len(result.failed) == len(messages)
    # With the default context the self-signed certificate is not trusted: no retry, no send.
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    result = send_messages(messages, config, set(), backoff=0.001)
    assert result.sent == [] and result.attempts == 1 and len(result.failed) == len(messages)


def test_plain_connection_to_a_tls_only_server_does_not_leak_the_password(
        report: WeekReport, folder: Path, monkeypatch: pytest.MonkeyPatch,
        tls_server: tuple[Collector, int, ssl.SSLContext]) -> None:
    collector, port, _context = tls_server
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    config = _config(port, security="none", user="kam")     # AUTH is not offered before STARTTLS
    result = send_messages(build_messages(report, folder, config), config, set(), backoff=0.001)
    assert result.sent == [] and result.attempts == 1 and collector.envelopes == []


# --- failure notices ------------------------------------------------------------------------------------

def test_failure_notice(smtp_server: _Servers) -> None:
    now = datetime(2026, 11, 30, 8, 0)
    assert failure_notice(_config(host=""), "boom", "fix it", now) is None
    assert failure_notice(replace(_config(), mail=Mail()), "boom", "fix it", now) is None
    notice = failure_notice(_config(), "收件箱里的 号码.xlsx 无法读取", "另存为 .xlsx 后重新放入", now)
    assert notice is not None
    assert notice["To"] == "admin@example.com"
    assert notice["Subject"] == "【某某项目】周报程序运行失败（2026-11-30 08:00）"
    assert notice["Date"] == "Mon, 30 Nov 2026 08:00:00 +0800"
    body = notice.get_body(("plain",)).get_content()   # type: ignore[union-attr]
    assert "号码.xlsx 无法读取" in body and "另存为 .xlsx 后重新放入" in body
    assert failure_notice(_config(), "收件箱里的 号码.xlsx 无法读取", "另存为 .xlsx 后重新放入", now
                          ).as_bytes() == notice.as_bytes()  # type: ignore[union-attr]

    collector, port = smtp_server()
    assert send_notice(_config(port), "boom", now, "fix it") is True
    assert send_notice(_config(port), "boom", now) is True            # a default hint
    assert [rcpts for _s, rcpts, _c, _p in collector.envelopes] == [["admin@example.com"]] * 2
    texts = [email.message_from_bytes(c, policy=SMTP_POLICY).get_body(("plain",)).get_content()  # type: ignore[union-attr]
             for _s, _r, c, _p in collector.envelopes]
    assert "fix it" in texts[0] and "不会更改任何数据" in texts[1]
    assert send_notice(_config(host=""), "boom", now) is False
    down = _config(_free_port())
    started = time.monotonic()
    assert send_notice(down, "boom", now, backoff=0.001) is False
    assert time.monotonic() - started < 60  # gives up within its retry budget, not a speed check


def test_outgoing_is_frozen(report: WeekReport, folder: Path) -> None:
    message = build_messages(report, folder, _config())[0]
    assert isinstance(message, Outgoing)
    with pytest.raises(AttributeError):
        message.key = "x"  # type: ignore[misc]


def test_every_leader_gets_the_same_summary_but_for_to_and_message_id(report: WeekReport, folder: Path) -> None:
    """The summary is serialised once and readdressed per leader: each leader's bytes are a
    message the email package writes back as they are, with the first's content, addressed to
    that leader alone."""
    summaries = [m for m in build_messages(report, folder, _config()) if m.key.startswith("summary:")]
    assert len(summaries) >= 2
    first = email.message_from_bytes(summaries[0].data, policy=SMTP_POLICY)
    ids = set()
    for item in summaries:
        parsed = email.message_from_bytes(item.data, policy=SMTP_POLICY)
        assert parsed.as_bytes(policy=SMTP_POLICY) == item.data
        assert parsed["To"] == item.recipients[0] == item.message["To"]
        assert parsed["Message-ID"] == item.message["Message-ID"]
        assert item.digest == hashlib.sha256(item.data).hexdigest()
        ids.add(parsed["Message-ID"])
        leaves = [p for p in parsed.walk() if not p.is_multipart()]
        leaves0 = [p for p in first.walk() if not p.is_multipart()]
        assert [p.get_content() for p in leaves] == [p.get_content() for p in leaves0]  # type: ignore[attr-defined]
    assert len(ids) == len(summaries)


def test_a_week_written_in_several_processes_gives_the_same_emails(tmp_path: Path, report: WeekReport) -> None:
    """A big week writes its reports in two processes and builds its statements' emails in
    several: the outbox, the order, the names and every byte are those one process gives."""
    config = _config()
    write_week(report, tmp_path / "one", parallel=False)
    one = write_messages(report, tmp_path / "one", config, processes=1)
    write_week(report, tmp_path / "two", parallel=True)
    two = write_messages(report, tmp_path / "two", config, processes=3)
    assert len(one) == len(two) == 4 and one == two
    for a, b in zip(one, two, strict=True):
        assert (tmp_path / "one" / "outbox" / a.filename).read_bytes() == \
            (tmp_path / "two" / "outbox" / b.filename).read_bytes()
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


def test_two_renders_of_a_week_write_the_same_emails_byte_for_byte(tmp_path: Path, report: WeekReport) -> None:
    """What was sent is remembered by digest: rendering a week again (a re-run of a closed week,
    `send` re-rendering a missing folder) must write every email byte for byte as before, or the
    week's emails would go out twice."""
    first = publish(report, tmp_path / "out", "run-1", _config())
    outbox = tmp_path / "out" / report.week / "outbox"
    before = {p.name: p.read_bytes() for p in outbox.iterdir()}
    again = publish(_report(), tmp_path / "out", "run-2", _config())
    assert {p.name: p.read_bytes() for p in outbox.iterdir()} == before
    assert len(before) == 4 and first == again
    assert {m.filename: m.data for m in again} == before


# ---- the emails are the email package's own

_NAMES = st.text(alphabet=st.sampled_from(list("张伟王芳李娜丁宇ÁBé _-.'()【】") + ["\u3000", "𠀀"]), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(name=_NAMES, subject_tail=_NAMES, extra=st.sampled_from(["", "a@b.cn", "very.long.address.of.someone@example.com"]),
       sender=st.sampled_from(["pipeline@localhost", "销售中心 <sales@example.com>", '"Ops, Team" <ops@example.com>']),
       text=st.text(max_size=300), html=st.text(max_size=300), data=st.binary(max_size=400))
def test_the_policy_the_emails_are_built_with_writes_what_the_smtp_policy_writes(
        name: str, subject_tail: str, extra: str, sender: str, text: str, html: str, data: bytes) -> None:
    """The emails are built under `mail.POLICY`, which remembers the headers it parsed: a message
    built under it is byte for byte the message built under email.policy.SMTP, the first time
    and again (from what it remembered)."""
    from pipeline.mail import POLICY

    def build(policy: Any) -> bytes:
        message = EmailMessage(policy=policy)
        message["From"] = sender
        message["To"] = ", ".join(("kam380@example.com", *([extra] if extra else [])))
        message["Subject"] = f"2026-W46 周报 {name}：{subject_tail} 13800138000"
        message.set_content(text + " 13912345678\r\nline\rend\n", charset="utf-8", cte="base64")
        message.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
        message.add_attachment(data, maintype="application", subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                               filename=f"2026-W46 周报 {name}.xlsx")
        for index, part in enumerate(message.walk()):
            if part.is_multipart():
                part.set_boundary(f"===============kam{index}==")
        message["Message-ID"] = "<0123456789abcdef@example.com>"
        return message.as_bytes()

    expected = build(SMTP_POLICY)
    assert build(POLICY) == expected
    assert build(POLICY) == expected


@settings(max_examples=150, deadline=None)
@given(name=_NAMES, subject_tail=_NAMES,
       recipients=st.lists(st.sampled_from(["kam380@example.com", "a@b.cn", "very.long.address.of.someone@example.com",
                                            "张伟 <zhang@example.com>", '"Wei, Zhang" <w@example.com>']),
                           min_size=1, max_size=3, unique=True),
       sender=st.sampled_from(["pipeline@localhost", "销售中心 <sales@example.com>", '"Ops, Team" <ops@example.com>']),
       text=st.text(max_size=300), html=st.text(max_size=300), data=st.binary(max_size=400),
       key=st.text(max_size=30))
def test_a_statement_email_written_directly_is_the_email_packages(
        name: str, subject_tail: str, recipients: list[str], sender: str, text: str, html: str, data: bytes,
        key: str) -> None:
    """`mixed_email` writes a statement's email (text, page, workbook) without the email
    package's message objects: byte for byte what `compose_message` and `finish_message` make with them, and
    the same digest, for any names, subjects, addresses, bodies (line ends, phone numbers and
    non-BMP characters included) and attachment; the first time and again."""
    from pipeline.mail import compose_message, finish_message, mixed_email

    subject = f"2026-W46 周报 {name}：{subject_tail} 13800138000"
    text = text + " 13912345678\r\nline\rend\n"
    filename = f"2026-W46 周报 {name}.xlsx"
    when = datetime(2026, 11, 16, tzinfo=timezone(timedelta(hours=8)))
    expected = finish_message(compose_message(sender, recipients, subject, text, html, (data, filename)), key, when, sender)
    assert mixed_email(sender, recipients, subject, text, html, (data, filename), key, when) == expected
    assert mixed_email(sender, recipients, subject, text, html, (data, filename), key, when) == expected


@settings(max_examples=80, deadline=None)
@given(name=_NAMES, text=st.lists(st.sampled_from([*"ab 张\r\n\t.=", "From ", "\u3000", "x" * 90]), max_size=80).map("".join),
       cte=st.sampled_from(["base64", "quoted-printable", "8bit", None]), data=st.binary(max_size=400),
       raw=st.binary(max_size=200))
def test_flatten_writes_what_as_bytes_writes(name: str, text: str, cte: str | None, data: bytes, raw: bytes) -> None:
    """`mail.flatten` is the email package's `as_bytes` with two loops made faster (a body's line
    ends replaced at once, a header folded before written from memory): the same bytes for any
    body, line ends of every kind included, the first time and again; and for a message parsed
    from bytes that are not all ASCII."""
    from pipeline.mail import POLICY, flatten

    def build(policy: Any) -> EmailMessage:
        message = EmailMessage(policy=policy)
        message["From"] = "销售中心 <sales@example.com>"
        message["To"] = "kam380@example.com"
        message["Subject"] = f"2026-W46 周报 {name}"
        message.set_content(text, charset="utf-8", cte=cte)
        message.add_alternative(f"<p>{text}</p>", subtype="html", charset="utf-8", cte=cte)
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=f"{name}.xlsx")
        return message

    for policy in (POLICY, SMTP_POLICY, POLICY):
        message = build(policy)
        assert flatten(message) == message.as_bytes()
    parsed = email.message_from_bytes(b"Subject: \xe5\xbc\xa0\r\nFrom: a@b.cn\r\n\r\n" + raw + b"\r\nend\rx\n",
                                      policy=POLICY)
    assert isinstance(parsed, EmailMessage)
    assert flatten(parsed) == parsed.as_bytes()


@settings(max_examples=150, deadline=None)
@given(text=st.lists(st.sampled_from([*"ab 张\r\n\t.=", "\r\n", "\u2028", "\x0b", "x" * 57, "y" * 90]), max_size=60).map("".join),
       size=st.one_of(st.integers(0, 240), st.sampled_from([57 * 40, 57 * 40 + 1, 57 * 40 - 1, 100_003])),
       cte=st.sampled_from(["base64", "quoted-printable", None]))
def test_bodies_are_encoded_as_the_email_package_encodes_them(text: str, size: int, cte: str | None) -> None:
    """The emails' base64 bodies are made in one piece (`POLICY`'s content manager), not a line
    at a time as the email package makes them: the same message, byte for byte, for texts with
    line ends of every kind and attachments of any length (a line's 57 bytes and around it);
    other encodings are the package's own."""
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))

    def build(policy: Any) -> bytes:
        message = EmailMessage(policy=policy)
        message["From"] = "销售中心 <sales@example.com>"
        message["Subject"] = "2026-W46 周报"
        message.set_content(text, charset="utf-8", cte=cte)
        message.add_alternative(f"<p>{text}</p>", subtype="html", charset="utf-8", cte=cte)
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename="名单.xlsx")
        for index, part in enumerate(message.walk()):
            if part.is_multipart():
                part.set_boundary(f"=={index}==")
        return message.as_bytes()

    assert build(POLICY) == build(SMTP_POLICY)


def test_the_leaders_summaries_copied_between_files_are_the_emails_built(report: WeekReport, folder: Path,
                                                                          monkeypatch: Any) -> None:
    """Every leader's summary after the first takes its body from the first's file (copied by
    the kernel, as a big office's tens of MB are): each file is still byte for byte the email
    `build_messages` builds."""
    import os

    import pipeline.mail as mail

    real, copied = os.copy_file_range, []

    def counting(*args: Any) -> int:
        copied.append(real(*args))
        return copied[-1]

    # The test's summary is small: a body of a few KB counts as large, a header block does not.
    monkeypatch.setattr(mail, "COPIED_FROM_BYTES", 1024)
    monkeypatch.setattr(os, "copy_file_range", counting)
    config = _config()
    whole = build_messages(report, folder, config)
    summaries = [m for m in whole if m.key.startswith("summary:")]
    assert len(summaries) == 2 and len(summaries[1].data) > 2048
    write_messages(report, folder, config, processes=1)
    assert sum(copied) == len(summaries[1].data) - summaries[1].data.index(b"\r\n\r\n") - 4
    for item in whole:
        assert (folder / "outbox" / item.filename).read_bytes() == item.data


def test_where_files_cannot_be_copied_the_summaries_are_written(report: WeekReport, folder: Path,
                                                                monkeypatch: Any) -> None:
    """A system that copies part of a body and then refuses (another file system, an old
    kernel): the rest is written from memory, and no later summary tries again; the files are
    the emails built."""
    import os

    import pipeline.mail as mail

    real, calls = os.copy_file_range, []

    def refusing(src: int, dst: int, count: int, offset_src: int | None = None, *rest: Any) -> int:
        calls.append(count)
        if len(calls) > 1:
            raise OSError(18, "Invalid cross-device link")
        return real(src, dst, min(count, 7), offset_src, *rest)

    monkeypatch.setattr(mail, "COPIED_FROM_BYTES", 1024)   # as above
    monkeypatch.setattr(os, "copy_file_range", refusing)
    config = replace(_config(), mail=Mail(from_="pipeline@example.com",
                                          summary_to=("a@example.com", "b@example.com", "c@example.com")))
    whole = build_messages(report, folder, config)
    assert sum(m.key.startswith("summary:") for m in whole) >= 3
    write_messages(report, folder, config, processes=1)
    assert len(calls) == 2   # 7 bytes copied, then refused; the third leader's is not tried
    for item in whole:
        assert (folder / "outbox" / item.filename).read_bytes() == item.data


def test_a_run_that_sends_nothing_writes_the_same_emails(tmp_path: Path, report: WeekReport, folder: Path) -> None:
    """Without `digests` (a run that sends nothing) the outbox holds the same files, byte for
    byte: only the digests of the leaders' summaries after the first are left out."""
    config = _config()
    whole = build_messages(report, folder, config)
    written = write_messages(report, folder, config, digests=False)
    assert [(m.key, m.filename) for m in written] == [(m.key, m.filename) for m in whole]
    for item in whole:
        assert (folder / "outbox" / item.filename).read_bytes() == item.data
    summaries = [m for m in written if m.key.startswith("summary:")]
    assert len(summaries) == 2 and summaries[0].digest == whole[2].digest and summaries[1].digest == ""
    assert publish(_report(), tmp_path / "out", "run-1", config, with_data=False) == []
    assert sorted(p.name for p in (tmp_path / "out" / report.week / "outbox").iterdir()) == \
        sorted(m.filename for m in whole)


# Pages of any text: digits and phones beside CJK, every kind of line end, with and without a
# last one; and bytes that are not UTF-8.
_PAGE_TEXT = st.lists(st.sampled_from(["<td>", "张伟", "13800138000", "1380013800", "138001380001", "a13912345678",
                                       "９", "\r\n", "\n", "\r", "\x0b", "\u2028", " ", "0", "&nbsp;"]),
                      max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*"0123456789", "1", "13", "138", "a", " ", "张", "\n", "１", "13800138000"]),
                max_size=40).map("".join))
def test_the_mask_hides_every_mobile_standing_alone_and_nothing_else(tmp_path_factory: pytest.TempPathFactory,
                                                                     text: str) -> None:
    """`mask_text` masks exactly what SPEC §5 names, a mobile number standing alone (no ASCII
    digit on either side), as the plain pattern with a look-behind in front finds it: the
    same text for any mix of digits, letters, CJK and full-width digits; a page's payload
    (`html_payload`, which masks the UTF-8 bytes) holds the same text, its lines ended by the
    policy's."""
    import base64

    plain = re.compile(r"(?<![0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")
    expected = plain.sub(r"\1****\3", text)
    assert mask_text(text) == expected
    path = tmp_path_factory.mktemp("page") / "page.html"
    path.write_bytes(text.encode("utf-8"))
    payload = html_payload(path, POLICY)
    assert payload is not None
    lines = expected.splitlines() if expected else [""]
    assert base64.b64decode(payload).decode("utf-8") == "".join(line + POLICY.linesep for line in lines)


@settings(max_examples=300, deadline=None)
@given(_PAGE_TEXT, st.sampled_from([b"", b"\xff", b"\xe5\xbc"]))
def test_a_pages_html_payload_is_what_the_email_package_gives_it(tmp_path_factory: pytest.TempPathFactory,
                                                                text: str, tail: bytes) -> None:
    """The period emails encode their page from its bytes (`html_payload`): the same payload as
    `set_content` gives the page as text, masked; for bytes that are not UTF-8, None (the
    emails then take the email package's way, which replaces them)."""
    path = tmp_path_factory.mktemp("page") / "summary.html"
    path.write_bytes(text.encode("utf-8") + tail)
    got = html_payload(path, POLICY)
    if tail:
        assert got is None
        return
    message = EmailMessage(policy=POLICY)
    message.set_content(mask_text(text), subtype="html", charset="utf-8", cte="base64")
    assert got == message.get_payload()
