"""The project's one exception tree.

Every error a user can meet is a ``TriageError``; its message says what happened
and, where it helps, what to try. Errors of libraries are translated into these
at the boundary (``raise StorageError(...) from exc``).
"""

from __future__ import annotations


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


class ParseError(TriageError):
    """Bytes could not be turned into a message; the message is quarantined."""


class StorageError(TriageError):
    """The database refused or failed an operation (locked, full, unreachable)."""


class ClassifierError(TriageError):
    """A model is missing, corrupted or cannot classify."""


class DeliveryError(TriageError):
    """A reply could not be delivered (SMTP or IMAP APPEND)."""
