"""The project's one exception tree.

Every error a user can meet is a ``TriageError``; its message says what happened
and, where it helps, what to try. Errors of libraries are translated into these
at the boundary (``raise StorageError(...) from exc``).
"""

from __future__ import annotations

from pipeline.quarantine import QuarantineReason


class TriageError(Exception):
    """Base class of every error raised on purpose by triage."""


class ConfigError(TriageError):
    """The configuration is missing, unreadable or invalid.

    ``problems`` lists each problem as ``(key, message)``.
    """

    def __init__(self, problems: list[tuple[str, str]] | str) -> None:
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems = problems
        lines = [f"{key}: {msg}" if key else msg for key, msg in problems]
        super().__init__("invalid configuration: " + "; ".join(lines))


class SourceError(TriageError):
    """A mail source (file, folder, mbox, Maildir, IMAP server) cannot be read."""


class ImapError(SourceError):
    """An IMAP server failed, refused or did not answer an operation.

    ``mailbox``, ``folder`` and ``uid`` say where; the message is one line that
    starts with them (``mailbox desk, folder INBOX, UID 17: ...``).
    """

    def __init__(self, reason: str, *, mailbox: str | None = None, folder: str | None = None,
                 uid: int | None = None) -> None:
        self.reason = " ".join(reason.split())
        self.mailbox = mailbox
        self.folder = folder
        self.uid = uid
        where = ", ".join(part for part in (
            f"mailbox {mailbox}" if mailbox else "",
            f"folder {folder}" if folder else "",
            f"UID {uid}" if uid is not None else "",
        ) if part)
        super().__init__(f"{where}: {self.reason}" if where else self.reason)


class ImapAuthError(ImapError):
    """The server refused the credentials, or none could be obtained: an alert that needs a person."""


class ImapFolderError(ImapError):
    """A configured folder does not exist (any more) or cannot be opened; the other folders go on."""


class ImapMessageError(ImapError):
    """The server refused one message or action; the connection itself is still usable."""


class ParseError(TriageError):
    """Bytes could not be turned into a message; the message is quarantined under ``code``."""

    def __init__(self, message: str, *, code: QuarantineReason) -> None:
        self.code = code
        super().__init__(message)


class StorageError(TriageError):
    """The database refused or failed an operation (locked, full, unreachable).

    A message that cannot be stored for such a reason is quarantined under ``code``.
    """

    code = QuarantineReason.STORAGE_FAILED


class StorageConflictError(StorageError):
    """A write collided with stored data (a unique, foreign-key or check constraint, a trigger).

    Usually another writer stored the same rows first and trying again succeeds;
    one that keeps failing is a refusal of that data.
    """


class StorageRefusedError(StorageError):
    """The database refused the data of this operation (a value it cannot hold); other writes can go on."""


class DatabaseUnavailableError(StorageError):
    """The database cannot take the operation now (locked, full, unreachable, connection lost); nothing was written."""


class IllegalTransition(TriageError):
    """An inquiry cannot move from its state to the one asked by that action; nothing was changed."""

    def __init__(self, from_state: str, to_state: str, action: str, *, inquiry_id: int | None = None) -> None:
        self.from_state, self.to_state, self.action, self.inquiry_id = from_state, to_state, action, inquiry_id
        which = f"inquiry {inquiry_id}" if inquiry_id is not None else "the inquiry"
        super().__init__(f"{which} is {from_state}: {action} cannot move it to {to_state}")


class ClassifierError(TriageError):
    """A model is missing, corrupted or cannot classify."""


class DeliveryError(TriageError):
    """A reply could not be delivered (SMTP or IMAP APPEND)."""


class ReplyError(TriageError):
    """A suggested reply cannot be made, changed, approved or sent as asked (the message says why)."""


class TemplateError(ReplyError):
    """A reply template cannot be used: syntax error, unknown variable, unsafe access, or it failed to render."""


class StaleSuggestionError(ReplyError):
    """Someone else changed the suggestion first: reload it and apply the change again."""


class DeliveryUncertainError(DeliveryError):
    """A reply may or may not have left (the connection broke after it was handed over): a person must check."""
