"""Why something was quarantined: a short, stable code stored in ``quarantine.reason``.

The code is what programs and people filter on; the human message of the
failure is kept beside it (``quarantine.error``). This module imports nothing of
the project, so the exception tree can carry these codes.
"""

from __future__ import annotations

from enum import StrEnum


class QuarantineReason(StrEnum):
    """The reason codes of quarantined items; ``description`` says each in words."""

    EMPTY = "empty"
    NOT_EMAIL = "not_email"
    UNREADABLE_BYTES = "unreadable_bytes"
    TOO_LARGE = "too_large"
    TOO_DEEPLY_NESTED = "too_deeply_nested"
    UNPARSEABLE_MIME = "unparseable_mime"
    STORAGE_FAILED = "storage_failed"
    FETCH_REFUSED = "fetch_refused"
    FETCH_NO_BODY = "fetch_no_body"
    FETCH_BREAKS_CONNECTION = "fetch_breaks_connection"
    UNKNOWN = "unknown"

    @property
    def description(self) -> str:
        """What this code means, in one sentence for a person."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[QuarantineReason, str] = {
    QuarantineReason.EMPTY: "The message holds no bytes.",
    QuarantineReason.NOT_EMAIL: "Not an email message: the bytes do not start with mail headers.",
    QuarantineReason.UNREADABLE_BYTES: "Binary data, not text: the bytes cannot be read as mail.",
    QuarantineReason.TOO_LARGE: "The message is larger than the configured limit.",
    QuarantineReason.TOO_DEEPLY_NESTED: "The message's MIME parts are nested too deeply to parse.",
    QuarantineReason.UNPARSEABLE_MIME: "The MIME structure is broken beyond what the parser can read.",
    QuarantineReason.STORAGE_FAILED: "The message was read but the database refused to store it.",
    QuarantineReason.FETCH_REFUSED: "The IMAP server refused to hand the message over.",
    QuarantineReason.FETCH_NO_BODY: "The IMAP server answered the fetch without the message's body.",
    QuarantineReason.FETCH_BREAKS_CONNECTION: "Fetching the message broke the IMAP connection every time; given up.",
    QuarantineReason.UNKNOWN: "Quarantined before reasons were codes, for a reason not recognised since.",
}
