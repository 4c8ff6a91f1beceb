"""Mail: USAGE_METRICS_SMTP_URL read, a message with text and HTML parts and one-click
unsubscribe headers (RFC 8058), sent by the standard library's smtplib in a thread."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from app.errors import ConfigError
from app.notify.deliveries import SendError
from app.notify.messages import Message

SMTP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    starttls: bool
    user: str | None = None
    password: str | None = field(default=None, repr=False)


def smtp_server(url: str) -> SmtpServer:
    """smtp://user:password@host:port, smtps://..., ?starttls=1; ConfigError (never quoting
    the URL: it may hold a password) for anything else."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
        raise ConfigError("USAGE_METRICS_SMTP_URL is not smtp://user:password@host:port")
    starttls = parse_qs(parts.query).get("starttls", ["0"])[-1] in ("1", "true", "yes")
    tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if tls else 25),
        tls=tls,
        starttls=starttls and not tls,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def build_mail(
    message: Message, sender: str, recipient: str, unsubscribe: str | None
) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = recipient
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    if unsubscribe is not None:
        # One click, as mail clients offer it (RFC 8058): a POST to the link ends the
        # subscription.
        mail["List-Unsubscribe"] = f"<{unsubscribe}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.text)
    mail.add_alternative(f"<!doctype html><html><body>{message.html}</body></html>", subtype="html")
    return mail


async def send_mail(server: SmtpServer, mail: EmailMessage, recipient: str) -> None:
    """Send one mail; SendError with the SMTP server's answer (the address masked)."""
    try:
        await asyncio.to_thread(_send, server, mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise SendError(
            f"SMTP {', '.join(map(str, codes))}: the recipient was refused",
            permanent=min(codes) >= 500,
        ) from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise SendError(
            f"SMTP {exc.smtp_code}: {_masked(text, recipient)}", permanent=exc.smtp_code >= 500
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        # Shown to owners on the dashboard: the server's own host and port stay unsaid.
        raise SendError(f"SMTP server: {_masked(str(reason), recipient)}") from None


def _send(server: SmtpServer, mail: EmailMessage) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if server.tls:
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=SMTP_TIMEOUT_S, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT_S)
    with smtp:
        if server.starttls:
            smtp.starttls(context=context)
        if server.user is not None:
            smtp.login(server.user, server.password or "")
        smtp.send_message(mail)


def _masked(text: str, recipient: str) -> str:
    return text.replace(recipient, "<address>")[:300]
