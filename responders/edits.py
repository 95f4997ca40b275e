"""What staff may write into a suggested reply: one-line subject with the case tag, a non-empty, bounded text."""

from __future__ import annotations

from pipeline.errors import ReplyError
from responders.compose import with_case_tag
from responders.render import tidy_text

MAX_BODY_CHARS = 100_000


def checked_edit(subject: str, body: str, inquiry_id: int) -> tuple[str, str]:
    """The subject (tagged with the case) and text to store for an edit; ``ReplyError`` says what is wrong."""
    if "\r" in subject or "\n" in subject:
        raise ReplyError("the subject must be one line (it contains a line break)")
    if not subject.strip():
        raise ReplyError("the subject is empty")
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ReplyError("the reply text is empty")
    if len(text) > MAX_BODY_CHARS:
        raise ReplyError(f"the reply text is longer than {MAX_BODY_CHARS} characters")
    return with_case_tag(subject, inquiry_id), tidy_text(text)
