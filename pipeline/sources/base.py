"""What every source yields: raw bytes and where they were found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Origin:
    """Where a message was seen; ``source`` is unique per place (a path, an mbox entry, an IMAP UID).

    ``fetched_at`` is when the bytes were taken from the server (IMAP), for the audit log.
    """

    kind: str
    source: str
    mailbox: str | None = None
    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class SourceItem:
    """The raw bytes of one message and their origin."""

    origin: Origin
    raw: bytes


@dataclass(frozen=True)
class SourceProblem:
    """A place that could not be read at all (no bytes to quarantine), reported and counted apart."""

    source: str
    error: str
