"""Build test messages as bytes."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone


def make_message(
    body: str = "Hello, what is the renewal fee for DM/212 345?",
    *,
    subject: str = "Renewal question",
    sender: str = "Jane Doe <jane@example.com>",
    to: str = "helpdesk@registry.example.org",
    message_id: str | None = "<abc123@example.com>",
    headers: dict[str, str] | None = None,
    html: str | None = None,
    date: datetime | None = None,
) -> bytes:
    """An RFC 5322 message as bytes (LF line endings)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc))
    if message_id:
        msg["Message-ID"] = message_id
    for key, value in (headers or {}).items():
        msg[key] = value
    if html is not None and body:
        msg.set_content(body)
        msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
    return bytes(msg)
