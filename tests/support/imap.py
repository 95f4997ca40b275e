"""Helpers for IMAP tests: mailbox settings pointing at the test Dovecot, and counting what was stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from pipeline.config import DatabaseSettings, MailboxSettings, Settings
from pipeline.runtime import Runtime, open_runtime
from pipeline.store.models import Message, Sighting
from tests.support.dovecot import Dovecot
from tests.support.mail import make_message

def new_user(dovecot: Dovecot) -> str:
    """A fresh user with an empty mailbox (tests share one Dovecot); its password is ``secret``."""
    return dovecot.fresh_user()


def mailbox(dovecot: Dovecot, user: str, **overrides: Any) -> MailboxSettings:
    """Settings for a user's mailbox on the plain port, with fast timeouts for tests."""
    values: dict[str, Any] = {"host": dovecot.host, "port": dovecot.port, "tls": "none", "user": user,
                              "password": dovecot.users[user], "timeout_seconds": 5, "poll_interval_seconds": 300}
    values.update(overrides)
    return MailboxSettings(**values)


def open_test_runtime(db_url: str, mailboxes: dict[str, MailboxSettings] | None = None) -> Runtime:
    """A runtime on a database with these mailboxes configured."""
    return open_runtime(Settings(database=DatabaseSettings(url=db_url), mailboxes=mailboxes or {}))


def messages(prefix: str, count: int, *, start: int = 0, size: int = 0) -> list[bytes]:
    """Distinct messages; ``size`` pads each body to about that many bytes."""
    padding = "\n".join(["Lorem ipsum dolor sit amet, consectetur adipiscing elit."] * (size // 57))
    return [make_message(f"Question {n} from {prefix}.\n{padding}", subject=f"{prefix} {n}",
                         message_id=f"<{prefix}-{n}@example.com>") for n in range(start, start + count)]


def stored_count(runtime: Runtime) -> int:
    """How many messages are stored."""
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def sightings(runtime: Runtime, mailbox_name: str) -> list[tuple[str | None, int | None, int | None]]:
    """(folder, UIDVALIDITY, UID) of every sighting of a mailbox, in order."""
    with runtime.session_factory() as session:
        rows = session.execute(select(Sighting.folder, Sighting.uidvalidity, Sighting.uid)
                               .where(Sighting.mailbox == mailbox_name).order_by(Sighting.id)).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]
