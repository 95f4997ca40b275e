"""Thread keys: which conversation a message belongs to."""

from __future__ import annotations

import re

_MSGID = re.compile(r"<([^<>\s]+)>")
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|tr|rv|r|aw|wg|sv|vs|antw|ref|rif|réf)\s*(?:\[\d+\])?\s*:\s*|\[[^\]]*\]\s*)+",
    re.IGNORECASE,
)
_CASE_TAG = re.compile(r"\[T-(\d{1,18})\]", re.IGNORECASE)


def case_tag(inquiry_id: int) -> str:
    """The tag put in the subject of every reply, so a reply that lost its headers finds its case."""
    return f"[T-{inquiry_id}]"


def find_case_tag(subject: str) -> int | None:
    """The inquiry id of the first case tag in a subject, if any."""
    match = _CASE_TAG.search(subject or "")
    return int(match.group(1)) if match else None


def parse_message_ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs in a header value, without angle brackets, in order, unique."""
    if not value:
        return ()
    found = _MSGID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]
    seen: dict[str, None] = {}
    for item in found:
        seen.setdefault(item[:500], None)
    return tuple(seen)


def normalise_subject(subject: str) -> str:
    """The subject without reply/forward prefixes, list tags or case tags, lower-cased, spaces folded."""
    text = _CASE_TAG.sub(" ", subject or "")
    previous = None
    while previous != text:
        previous = text
        text = _REPLY_PREFIX.sub("", text)
    return " ".join(text.lower().split())


def thread_key(message_id: str | None, in_reply_to: tuple[str, ...], references: tuple[str, ...], subject: str) -> str:
    """A stable key shared by every message of a conversation.

    The root of References, else In-Reply-To, else the message's own Message-ID;
    with none of them, the normalised subject.
    """
    if references:
        return "mid:" + references[0]
    if in_reply_to:
        return "mid:" + in_reply_to[0]
    if message_id:
        return "mid:" + message_id
    return "subject:" + normalise_subject(subject)
