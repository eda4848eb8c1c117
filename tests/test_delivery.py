"""`pipeline run --send` and `pipeline send` against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import email
import io
import shutil
import socket
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from pipeline.cli import cli
from tests.conftest import Store
from tests.helpers import LEADS, roster, workbook, written_anew

PEOPLE = [
    ["张伟", "大客户经理", "一组", "zhangwei@example.com", None, None],
    ["王强", "大客户经理", "二组", "wangqiang@example.com", None, None],
    ["李娜", "销售员", "一组", "lina@example.com", None, None],
    ["刘总", "负责人", "一组", "boss@example.com", None, None],
]
NOW = "2026-11-30T08:00:00"

# Every test once per engine of the state (tests/conftest.py): what was sent is stored state.
pytestmark = pytest.mark.usefixtures("store")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=SMTP_POLICY)
        for rcpt in envelope.rcpt_tos:
            self.messages.append((rcpt, message))  # type: ignore[arg-type]
        return "250 OK"

    def to(self) -> list[str]:
        return sorted(r for r, _ in self.messages)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def office(root: Path, port: int, store: Store) -> list[str]:
    roster(root / "in" / "名单.xlsx", PEOPLE)
    workbook(root / "in" / "号码.xlsx", {"号码": (LEADS, [
        ["张伟", 13800138000, datetime(2026, 11, 24, 9), ""],
        ["王强", 13800138000, datetime(2026, 11, 24, 10), ""],   # names 张伟 in its rejection message
    ])})
    store.write_config(root / "pipeline.toml",
        'office = "滨江壹号"\n[mail]\nfrom = "report@example.com"\nsummary_to = ["gm@example.com"]\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n')
    return ["--out", str(root / "out"), "--state", str(root / "state"), "--config", str(root / "pipeline.toml")]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


EXPECTED = ["boss@example.com", "gm@example.com", "wangqiang@example.com", "zhangwei@example.com"]


def test_run_send_delivers_each_message_once(tmp_path: Path, smtp: tuple[Inbox, int], store: Store) -> None:
    received, port = smtp
    common = office(tmp_path, port, store)
    result = invoke("run", "--inbox", str(tmp_path / "in"), *common, "--now", NOW, "--send")
    assert result.exit_code == 0, result.output
    # 2026-W48 is November's last week (SPEC §8): the leaders also get the month's summary, once.
    weekly = [(to, m) for to, m in received.messages if "2026-W48" in str(m["Subject"])]
    assert sorted(to for to, _ in weekly) == EXPECTED
    month = sorted(to for to, m in received.messages if "2026-11 " in str(m["Subject"]))
    assert month == ["boss@example.com", "gm@example.com"] and len(received.messages) == len(EXPECTED) + 2
    by_rcpt = dict(weekly)
    for me, other in (("zhangwei@example.com", "王强"), ("wangqiang@example.com", "张伟")):
        message = by_rcpt[me]
        text = message.as_string()
        body = "".join(part.get_content() for part in message.walk() if part.get_content_type().startswith("text/"))
        assert other not in body and other not in str(message["Subject"]), f"{me} sees {other}"
        attachments = [p for p in message.iter_attachments()]
        assert len(attachments) == 1
        book = openpyxl.load_workbook(io.BytesIO(attachments[0].get_content()))
        cells = " ".join(str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value)
        assert other not in cells
        assert "滨江壹号" in str(message["Subject"]) and "2026-W48" in str(message["Subject"])
        assert "13800138000" not in text, "customer phones are masked in mail"
    summary = by_rcpt["boss@example.com"]
    assert any(p.get_filename() and p.get_filename().endswith(".xlsx") for p in summary.iter_attachments())

    sent = len(received.messages)
    again = invoke("run", "--inbox", str(tmp_path / "in"), *common, "--now", NOW, "--send")
    assert again.exit_code == 0 and len(received.messages) == sent, "a rerun sends nothing new"
    assert invoke("send", "--week", "2026-W48", *common).exit_code == 0
    assert len(received.messages) == sent, "send without --resend sends nothing already sent"
    assert invoke("send", "--week", "2026-W48", *common, "--resend").exit_code == 0
    assert sorted(r for r, _ in received.messages[sent:]) == EXPECTED
    outbox = sorted(p.name for p in (tmp_path / "out" / "2026-W48" / "outbox").glob("*.eml"))
    assert len(outbox) == 4


def test_server_down_reports_and_exits_3_then_send_catches_up(tmp_path: Path, smtp: tuple[Inbox, int], store: Store) -> None:
    received, _ = smtp
    dead = free_port()
    common = office(tmp_path, dead, store)
    result = invoke("run", "--inbox", str(tmp_path / "in"), *common, "--now", NOW, "--send")
    assert result.exit_code == 3, result.output
    assert "not delivered" in result.output
    folder = tmp_path / "out" / "2026-W48"
    assert (folder / "summary.xlsx").is_file() and len(list((folder / "outbox").glob("*.eml"))) == 4
    status = invoke("status", "--inbox", str(tmp_path / "in"), *common)
    # the week's four, and November's summary for the two leaders (2026-W48 ends the month, SPEC §8)
    assert "emails not yet sent: 6\n  2026-W48: 4\n  2026-11: 2\n" in status.output

    live = office(tmp_path, smtp[1], store)
    assert invoke("send", "--week", "2026-W48", *live).exit_code == 0
    assert received.to() == EXPECTED
    assert invoke("send", "--period", "2026-11", *live).exit_code == 0
    assert received.to() == sorted([*EXPECTED, "boss@example.com", "gm@example.com"])


def test_a_week_rendered_again_writes_the_same_emails_byte_for_byte(tmp_path: Path, smtp: tuple[Inbox, int], store: Store) -> None:
    """What was sent is remembered by each email's digest: the week run again after it closed,
    or `send` re-rendering a missing folder, writes every .eml byte for byte as the first run did,
    so nothing goes out twice."""
    received, port = smtp
    common = office(tmp_path, port, store)
    assert invoke("run", "--inbox", str(tmp_path / "in"), *common, "--now", NOW).exit_code == 0
    folder = tmp_path / "out" / "2026-W48"
    first = {p.name: p.read_bytes() for p in (folder / "outbox").iterdir()}
    assert len(first) == 4 and all(name.endswith(".eml") for name in first)

    written_anew(folder)
    again = invoke("run", "--inbox", str(tmp_path / "in"), *common, "--now", NOW, "--week", "2026-W48")
    assert again.exit_code == 0, again.output
    assert {p.name: p.read_bytes() for p in (folder / "outbox").iterdir()} == first

    assert invoke("send", "--week", "2026-W48", *common).exit_code == 0
    assert received.to() == EXPECTED
    shutil.rmtree(folder)
    assert invoke("send", "--week", "2026-W48", *common).exit_code == 0
    assert {p.name: p.read_bytes() for p in (folder / "outbox").iterdir()} == first
    assert received.to() == EXPECTED, "the re-rendered emails were already sent"
