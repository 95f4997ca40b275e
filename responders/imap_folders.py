"""Drafts and Sent over IMAP: APPEND, find by Message-ID, flags. Built on the pipeline's one IMAP connection.

``ReplyFolders`` extends ``pipeline.sources.imap.ImapConnection`` (connecting,
TLS, login, timeouts and the translation of every library error into
``ImapError`` stay there) with the few commands delivery needs; here an
``ImapError`` becomes a ``DeliveryError`` naming the mailbox and folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pipeline.config import MailboxSettings
from pipeline.errors import DeliveryError, ImapError
from pipeline.sources.imap import ImapConnection
from responders.transport import Found

_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]", re.IGNORECASE)


class ReplyFolders(ImapConnection):
    """A mailbox's IMAP connection that can also put replies into folders and find them again."""

    _known_folders: set[str]

    @classmethod
    def connect(cls, mailbox: str, settings: MailboxSettings) -> "ReplyFolders":
        """Connect and log in; ``DeliveryError`` when the server cannot be reached or refuses."""
        try:
            connection = cls.open(mailbox, settings)
        except ImapError as exc:
            raise DeliveryError(f"cannot reach the IMAP server of mailbox {mailbox}: {exc}") from exc
        assert isinstance(connection, ReplyFolders)
        connection._known_folders = set()
        return connection

    def _ensure_folder(self, folder: str) -> None:
        if folder in self._known_folders:
            return
        if not self._call("LIST", self._client.folder_exists, folder, folder=folder):
            self._call("CREATE", self._client.create_folder, folder, folder=folder)
        self._known_folders.add(folder)

    def append(self, folder: str, raw: bytes, flags: Sequence[str], when: datetime) -> Found | None:
        """APPEND a message to a folder (created when missing) with these flags; its UID when the server says."""
        try:
            self._ensure_folder(folder)
            response = self._call("APPEND", self._client.append, folder, raw, tuple(flags), when, folder=folder)
        except ImapError as exc:
            raise DeliveryError(f"cannot append the reply to {folder}: {exc}") from exc
        match = _APPENDUID.search(response if isinstance(response, bytes) else str(response).encode())
        return Found(folder, int(match.group(1)), frozenset(flags)) if match else None

    def find(self, folder: str, message_id: str) -> Found | None:
        """The message with this Message-ID in a folder (UID SEARCH HEADER), with its flags."""
        try:
            self._ensure_folder(folder)
            self.select(folder, readonly=False)
            uids = self._call("UID SEARCH HEADER Message-ID", self._client.search,
                              ["HEADER", "Message-ID", f"<{message_id}>"], folder=folder)
            if not uids:
                return None
            uid = max(uids)
            flags = self._call("FETCH FLAGS", self._client.get_flags, [uid], folder=folder, uid=uid).get(uid, ())
        except ImapError as exc:
            raise DeliveryError(f"cannot look for {message_id} in {folder}: {exc}") from exc
        names = {flag.decode("utf-8", "replace") if isinstance(flag, bytes) else str(flag) for flag in flags}
        return Found(folder, uid, frozenset(names))

    def remove_flag(self, found: Found, flag: str) -> None:
        """STORE -FLAGS on one message."""
        try:
            self.select(found.folder, readonly=False)
            self._call("STORE -FLAGS", self._client.remove_flags, [found.uid], [flag], True,
                       folder=found.folder, uid=found.uid)
        except ImapError as exc:
            raise DeliveryError(f"cannot update the copy in {found.folder}: {exc}") from exc

    def delete(self, found: Found) -> None:
        """Remove one message triage put there itself (\\Deleted, then UID EXPUNGE of that UID only)."""
        try:
            self.select(found.folder, readonly=False)
            self._call("STORE +FLAGS \\Deleted", self._client.delete_messages, [found.uid], True,
                       folder=found.folder, uid=found.uid)
            if self.has_capability("UIDPLUS"):
                self._call("UID EXPUNGE", self._client.uid_expunge, [found.uid], folder=found.folder, uid=found.uid)
        except ImapError as exc:
            raise DeliveryError(f"cannot remove the copy from {found.folder}: {exc}") from exc
