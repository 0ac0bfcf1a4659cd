"""Account mails (verify email, reset password, agency setup) and their senders.

Mails are queued and sent by one background task, so a slow SMTP server never holds up
a request and ``forgot-password`` answers in the same time whether or not the account
exists. The queue is bounded; a full queue drops the mail with a warning (the user can
ask again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import smtplib
import ssl
import tempfile
import urllib.parse
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

import orjson

from tachigo.auth.errors import MailError
from tachigo.auth.settings import MailSettings
from tachigo.ledger.ids import uuid7

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    kind: str


class MailSender(Protocol):
    async def send(self, mail: Mail) -> None: ...


class OutboxSender:
    """Writes each mail as ``<uuid7>.json`` into a folder (development and tests)."""

    def __init__(self, settings: MailSettings) -> None:
        self._folder = settings.outbox_dir

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self.write, mail)

    def write(self, mail: Mail) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        final = self._folder / f"{uuid7()}.json"
        # Write then rename, so a reader never sees half a file.
        with tempfile.NamedTemporaryFile(
            "wb", dir=self._folder, delete=False, suffix=".tmp"
        ) as handle:
            handle.write(orjson.dumps(asdict(mail)))
        os.replace(handle.name, final)


class SmtpSender:
    """Sends through an SMTP server with implicit TLS, STARTTLS or plain (local relays).

    smtplib blocks, so each send runs in a worker thread; the socket timeout bounds it.
    """

    def __init__(self, settings: MailSettings) -> None:
        self._settings = settings

    async def send(self, mail: Mail) -> None:
        message = self.build(mail)
        try:
            await asyncio.to_thread(self.deliver, message)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(
                f"SMTP server {self._settings.smtp_host} refused or did not "
                f"answer: {type(error).__name__}; check TACHIGO_ACCOUNTS__MAIL__*",
                kind=mail.kind,
            ) from error

    def build(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._settings.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain="tachigo")
        message.set_content(mail.text)
        return message

    def deliver(self, message: EmailMessage) -> None:
        s = self._settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.send_timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.send_timeout_s)
        with smtp:
            smtp.ehlo()
            if s.smtp_security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def create_sender(settings: MailSettings) -> MailSender:
    if settings.backend == "smtp":
        return SmtpSender(settings)
    return OutboxSender(settings)


class MailQueue:
    """A bounded queue drained by one task; ``start``/``stop`` belong to the app."""

    def __init__(self, settings: MailSettings, sender: MailSender) -> None:
        self._settings = settings
        self._sender = sender
        self._queue: asyncio.Queue[Mail] = asyncio.Queue(maxsize=settings.queue_max)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="mail-queue")

    async def stop(self) -> None:
        """Let queued mails go out for up to ``shutdown_grace_s``, then cancel."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.shutdown_grace_s):
                await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def enqueue(self, mail: Mail) -> bool:
        """Queue a mail; ``False`` (and a warning) when the queue is full."""
        try:
            self._queue.put_nowait(mail)
        except asyncio.QueueFull:
            log.warning(
                "mail_dropped",
                extra={"kind": mail.kind, "queue_max": self._settings.queue_max},
            )
            return False
        return True

    async def run(self) -> None:
        while True:
            mail = await self._queue.get()
            try:
                await self._sender.send(mail)
                log.info("mail_sent", extra={"kind": mail.kind})
            except MailError as error:
                log.error(
                    "mail_failed", extra={"kind": mail.kind, "error": error.message}
                )
            finally:
                self._queue.task_done()


def link(frontend_url: str, path: str, token: str) -> str:
    return (
        f"{frontend_url.rstrip('/')}{path}?{urllib.parse.urlencode({'token': token})}"
    )


def verification_mail(frontend_url: str, to: str, token: str, *, ttl_s: int) -> Mail:
    url = link(frontend_url, "/verify-email", token)
    text = (
        f"Confirm your email address for Tachigo by opening this link:\n\n{url}\n\n"
        f"The link works once and expires in {ttl_s // 3600} hour(s). If you did not "
        "sign up, ignore this mail.\n"
    )
    return Mail(to, "Confirm your Tachigo email address", text, "verify_email")


def reset_mail(
    frontend_url: str, to: str, token: str, *, ttl_s: int, kind: str = "reset_password"
) -> Mail:
    url = link(frontend_url, "/reset-password", token)
    if kind == "agency_setup":
        intro = (
            "An agency account was created for you on Tachigo. Choose a password here:"
        )
        subject = "Set up your Tachigo agency account"
    else:
        intro = "Someone asked to reset your Tachigo password. Choose a new one here:"
        subject = "Reset your Tachigo password"
    text = (
        f"{intro}\n\n{url}\n\nThe link works once and expires in {ttl_s // 60} "
        "minutes. If you did not ask for this, ignore this mail.\n"
    )
    return Mail(to, subject, text, kind)


def outbox_files(folder: Path) -> list[Path]:
    """Mails in an outbox folder, oldest first (uuid7 names sort by time)."""
    return sorted(folder.glob("*.json")) if folder.exists() else []
