"""What every source yields: raw bytes and where they were found."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from pipeline.config import MailboxSettings


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


@dataclass(frozen=True)
class FolderStatus:
    """What SELECT said about a folder."""

    uidvalidity: int
    uidnext: int | None
    exists: int


@runtime_checkable
class MailFolderConnection(Protocol):
    """A logged-in connection to one mailbox's folders, as the sync, the workers and IDLE watchers use it.

    Implemented by ``pipeline.sources.imap.ImapConnection`` (a real server) and
    ``pipeline.sources.memory_imap.MemoryImapConnection`` (an in-memory twin for
    tests). Every failure is an ``ImapError``; after one that is not an
    ``ImapMessageError`` or ``ImapFolderError`` the connection is ``broken``.
    """

    mailbox: str
    broken: bool
    auth_warning: str | None
    last_used: float

    def has_capability(self, name: str) -> bool:
        """Whether the server advertises a capability (IDLE, MOVE, ...)."""
        ...

    def noop(self) -> None:
        """Check that the connection still answers."""
        ...

    def select(self, folder: str, *, readonly: bool) -> FolderStatus:
        """Open a folder (read-only with EXAMINE); its UIDVALIDITY and UIDNEXT."""
        ...

    def search_uids(self, folder: str, first: int, last: int | None, since: date | None = None) -> list[int]:
        """UIDs from ``first`` to ``last`` (or the end), ascending, optionally only those arrived since a date."""
        ...

    def sizes(self, folder: str, uids: Sequence[int]) -> dict[int, int]:
        """The size in bytes of each message that still exists."""
        ...

    def fetch_bodies(self, folder: str, uids: Sequence[int]) -> dict[int, bytes | None]:
        """The raw bytes of each message, without marking it read; None when the server sent none; absent when gone."""
        ...

    def mark_seen(self, folder: str, uids: Sequence[int]) -> None:
        """Flag messages \\Seen."""
        ...

    def move(self, folder: str, uids: Sequence[int], destination: str) -> None:
        """Move messages to another folder."""
        ...

    def idle_start(self, folder: str) -> None:
        """Enter IDLE on the selected folder."""
        ...

    def idle_wait(self, folder: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in IDLE; True when the server announced new mail."""
        ...

    def idle_stop(self, folder: str) -> None:
        """Leave IDLE."""
        ...

    def close(self) -> None:
        """Log out (or just drop a broken connection); never raises."""
        ...


ConnectionFactory = Callable[[str, MailboxSettings], MailFolderConnection]
"""Opens a logged-in connection for a mailbox name and its settings (``ImapConnection.open`` in production)."""
