"""E-mail over SMTP (RFC 5321), with STARTTLS or implicit TLS as configured. The standard library's client runs in
a worker thread: one digest is one connection, and mail volume is a few digests a day per person.

SMTP reply codes decide what happens next: 421 and 451/452 (service not available, local error, insufficient
storage; also what providers answer when a sender goes over its quota) are tried again later, other 4xx are
transient, 5xx are permanent (a mailbox that does not exist will not start existing).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from notifier.channels.base import Message, PermanentFailure, RateLimited, TransientFailure

RATE_LIMIT_REPLIES = frozenset({421, 450, 451, 452})


class SmtpMail:
    def __init__(
        self,
        channel_id: str,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        security: str = "starttls",  # starttls | tls | none (none only for a relay on the same host)
        timeout: float = 15.0,
    ) -> None:
        if not recipients:
            raise ValueError("an e-mail channel needs at least one recipient")
        if security not in ("starttls", "tls", "none"):
            raise ValueError(f"unknown SMTP security {security!r}")
        self._channel_id = channel_id
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = list(recipients)
        self._username = username
        self._password = password
        self._security = security
        self._timeout = timeout

    @property
    def channel_id(self) -> str:
        return self._channel_id

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = ", ".join(self._recipients)
        mail["Subject"] = message.title
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self._sender.rsplit("@", 1)[-1])
        mail.set_content(message.text(), charset="utf-8")
        return mail

    def _send_blocking(self, mail: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self._security == "tls":
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with smtp:
            if self._security == "starttls":
                smtp.starttls(context=context)
            if self._username:
                smtp.login(self._username, self._password or "")
            refused = smtp.send_message(mail)
        if refused:
            # Some recipients were refused, the rest accepted: resending would duplicate for the accepted ones.
            raise PermanentFailure(f"SMTP refused {len(refused)} recipient(s)", code="recipients_refused")

    async def send(self, message: Message) -> None:
        try:
            await asyncio.to_thread(self._send_blocking, self.compose(message))
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error
            detail = f"SMTP {exc.smtp_code}: {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            if exc.smtp_code in RATE_LIMIT_REPLIES:
                raise RateLimited(detail, code=str(exc.smtp_code), retry_after=60.0) from exc
            if 400 <= exc.smtp_code < 500:
                raise TransientFailure(detail, code=str(exc.smtp_code)) from exc
            raise PermanentFailure(detail, code=str(exc.smtp_code)) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure("SMTP refused every recipient", code="recipients_refused") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientFailure(f"SMTP unreachable: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        return None
