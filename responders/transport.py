"""The seams between delivery and the outside world: a mailbox's folders (IMAP) and its SMTP server.

``MailFolders`` appends a message to a folder, finds one by Message-ID, and
changes its flags; ``MailSender`` hands a message to SMTP. ``Transports`` opens
both per configured mailbox. ``memory_transports`` is the in-memory twin for
fast unit tests; the integration tests use the real ones (Dovecot, aiosmtpd).

Errors: ``DeliveryError`` when nothing left (safe to try again),
``DeliveryUncertainError`` when it may have left (a person decides).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pipeline.errors import DeliveryError, DeliveryUncertainError

DRAFT = "\\Draft"
SEEN = "\\Seen"
SENDING = "$TriageSending"  # keyword on the Sent copy until SMTP has accepted the message


@dataclass(frozen=True)
class Found:
    """A message found in a folder by its Message-ID: its UID and flags."""

    folder: str
    uid: int
    flags: frozenset[str]


class MailFolders(Protocol):
    """One mailbox's folders on its IMAP server."""

    def append(self, folder: str, raw: bytes, flags: Sequence[str], when: datetime) -> Found | None:
        """Put a message into a folder with these flags; where it is, when the server says (APPENDUID)."""

    def find(self, folder: str, message_id: str) -> Found | None:
        """The message with this Message-ID in a folder, if it is there."""

    def remove_flag(self, found: Found, flag: str) -> None:
        """Take a flag or keyword off a message."""

    def delete(self, found: Found) -> None:
        """Remove a message from its folder (only a copy triage put there itself)."""

    def close(self) -> None:
        """Log out; never raises."""


class MailSender(Protocol):
    """One mailbox's SMTP server."""

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Hand a message over; ``DeliveryError`` if refused, ``DeliveryUncertainError`` if it may have left."""

    def close(self) -> None:
        """Say QUIT; never raises."""


class Transports(Protocol):
    """Opens the folders and the SMTP server of a configured mailbox."""

    def folders(self, mailbox: str) -> MailFolders:
        """The IMAP folders of a mailbox (connected)."""

    def sender(self, mailbox: str) -> MailSender:
        """The SMTP server of a mailbox (connected and authenticated)."""


# --- the in-memory twin --------------------------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID of raw message bytes (without angle brackets)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


@dataclass
class StoredCopy:
    """A message in an in-memory folder."""

    uid: int
    raw: bytes
    flags: set[str]


@dataclass
class MemoryMailbox:
    """An in-memory mailbox: its folders and what its SMTP server accepted.

    ``fail_send`` makes the next sends raise that error; ``fail_append`` the next appends.
    """

    folders: dict[str, list[StoredCopy]] = field(default_factory=dict)
    sent: list[tuple[bytes, str, tuple[str, ...]]] = field(default_factory=list)
    fail_send: list[DeliveryError] = field(default_factory=list)
    fail_append: list[DeliveryError] = field(default_factory=list)
    next_uid: int = 1

    def copies(self, folder: str) -> list[StoredCopy]:
        """The messages of a folder."""
        return self.folders.setdefault(folder, [])


class _MemoryFolders:
    def __init__(self, box: MemoryMailbox) -> None:
        self.box = box

    def append(self, folder: str, raw: bytes, flags: Sequence[str], when: datetime) -> Found | None:
        if self.box.fail_append:
            raise self.box.fail_append.pop(0)
        uid = self.box.next_uid
        self.box.copies(folder).append(StoredCopy(uid, raw, set(flags)))
        self.box.next_uid += 1
        return Found(folder, uid, frozenset(flags))

    def find(self, folder: str, message_id: str) -> Found | None:
        for copy in self.box.copies(folder):
            if message_id_of(copy.raw) == message_id:
                return Found(folder, copy.uid, frozenset(copy.flags))
        return None

    def remove_flag(self, found: Found, flag: str) -> None:
        for copy in self.box.copies(found.folder):
            if copy.uid == found.uid:
                copy.flags.discard(flag)

    def delete(self, found: Found) -> None:
        self.box.folders[found.folder] = [c for c in self.box.copies(found.folder) if c.uid != found.uid]

    def close(self) -> None:
        pass


class _MemorySender:
    def __init__(self, box: MemoryMailbox) -> None:
        self.box = box

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None:
        if self.box.fail_send:
            error = self.box.fail_send.pop(0)
            if isinstance(error, DeliveryUncertainError):
                self.box.sent.append((raw, sender, tuple(recipients)))
            raise error
        self.box.sent.append((raw, sender, tuple(recipients)))

    def close(self) -> None:
        pass


@dataclass
class MemoryTransports:
    """In-memory mailboxes by name, for unit tests of delivery."""

    boxes: dict[str, MemoryMailbox] = field(default_factory=dict)

    def box(self, mailbox: str) -> MemoryMailbox:
        """The in-memory mailbox of that name (made on first use)."""
        return self.boxes.setdefault(mailbox, MemoryMailbox())

    def folders(self, mailbox: str) -> MailFolders:
        """The in-memory folders of a mailbox."""
        return _MemoryFolders(self.box(mailbox))

    def sender(self, mailbox: str) -> MailSender:
        """The in-memory SMTP server of a mailbox."""
        return _MemorySender(self.box(mailbox))
