"""Values produced by parsing: a message and its attachments, free of any I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Attachment:
    """An attachment or inline part, described but not stored apart from the raw message."""

    filename: str | None
    content_type: str
    size: int
    sha256: str | None
    disposition: str = "attachment"
    content_id: str | None = None
    oversized: bool = False


@dataclass(frozen=True)
class Address:
    """A display name and an address; either may be empty."""

    name: str
    address: str

    def __str__(self) -> str:
        if self.name and self.address:
            return f"{self.name} <{self.address}>"
        return self.address or self.name


@dataclass(frozen=True)
class Automation:
    """Why a message must never be answered automatically, if it must not."""

    is_auto_reply: bool = False
    is_bounce: bool = False
    is_mailing_list: bool = False
    reason: str | None = None

    @property
    def is_automated(self) -> bool:
        """True when nobody should ever answer this message."""
        return self.is_auto_reply or self.is_bounce or self.is_mailing_list


@dataclass(frozen=True)
class ReplyParts:
    """The text of a message split into what is new and what is carried along."""

    new_text: str
    quoted_text: str = ""
    signature: str = ""
    forwarded_text: str = ""


@dataclass(frozen=True)
class ParsedMessage:
    """Everything triage needs from one message, derived from its bytes alone."""

    fingerprint: str
    raw_sha256: str  # of the exact bytes given, kept as they were
    size: int
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    thread_key: str
    subject: str
    normalised_subject: str
    sender: Address | None
    reply_to: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    return_path: str | None
    content_type: str
    text: str
    parts: ReplyParts
    html: str | None
    attachments: tuple[Attachment, ...]
    automation: Automation
    defects: tuple[str, ...] = ()
    charset_fallbacks: tuple[str, ...] = ()
    used_compat_policy: bool = False
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def new_text(self) -> str:
        """The sender's own new words: no quoted history, no signature."""
        return self.parts.new_text
