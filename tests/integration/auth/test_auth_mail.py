"""Mail senders against a local SMTP server and an outbox folder."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tachigo.auth.errors import MailError
from tachigo.auth.mail import Mail, MailQueue, OutboxSender, SmtpSender, outbox_files
from tachigo.auth.settings import MailSettings
from tests.integration.auth.auth_fakes import FakeSmtp


def smtp_settings(port: int) -> MailSettings:
    return MailSettings(
        backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        send_timeout_s=5,
    )


async def test_smtp_sender_delivers_through_the_server() -> None:
    server = FakeSmtp()
    await server.start()
    try:
        await SmtpSender(smtp_settings(server.port)).send(
            Mail("viewer@t.test", "Confirm your email", "open the link", "verify_email")
        )
    finally:
        await server.stop()

    assert len(server.messages) == 1
    message = server.messages[0]
    assert "viewer@t.test" in message["rcpt"][0]
    assert "Subject: Confirm your email" in message["data"]
    assert "open the link" in message["data"]


async def test_smtp_sender_reports_an_unreachable_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(MailError) as raised:
        await SmtpSender(smtp_settings(port)).send(Mail("a@t.test", "s", "t", "k"))

    assert raised.value.code == "mail_failed"
    assert "TACHIGO_ACCOUNTS__MAIL" in raised.value.message


async def test_mail_queue_drains_to_the_outbox_and_flushes_on_stop(
    tmp_path: Path,
) -> None:
    settings = MailSettings(outbox_dir=tmp_path, queue_max=10)
    queue = MailQueue(settings, OutboxSender(settings))
    queue.start()

    queued = [
        queue.enqueue(Mail(f"u{n}@t.test", "s", "t", "verify_email")) for n in range(5)
    ]
    await queue.stop()

    assert queued == [True] * 5
    assert len(outbox_files(tmp_path)) == 5
    assert not list(tmp_path.glob("*.tmp"))


async def test_full_mail_queue_drops_with_false(tmp_path: Path) -> None:
    settings = MailSettings(outbox_dir=tmp_path, queue_max=2)
    queue = MailQueue(settings, OutboxSender(settings))

    results = [queue.enqueue(Mail("u@t.test", "s", "t", "k")) for _ in range(3)]

    assert results == [True, True, False]


async def test_refused_mail_is_logged_and_the_queue_keeps_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeSmtp(refused={"bad@t.test"})
    await server.start()
    settings = smtp_settings(server.port)
    queue = MailQueue(settings, SmtpSender(settings))
    queue.start()
    try:
        queue.enqueue(Mail("bad@t.test", "s", "t", "k"))
        queue.enqueue(Mail("good@t.test", "s", "t", "k"))
        async with asyncio.timeout(10):
            await queue.stop()
    finally:
        await server.stop()

    assert [m["rcpt"] for m in server.messages] == [["rcpt TO:<good@t.test>"]]
    assert any(r.getMessage() == "mail_failed" for r in caplog.records)
