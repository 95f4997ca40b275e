"""What triage reads from a message: the sender's own words, the subject, and a few facts about it.

A ``TriageInput`` comes from a parsed message or from a labelled example
(subject and body, split by the same ``split_reply`` the parser uses), so the
model is trained and evaluated on exactly what it sees in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pipeline.mail.model import ParsedMessage
from pipeline.mail.quotes import split_reply
from pipeline.mail.threads import normalise_subject

_WORD = re.compile(r"[^\W\d_]+")
_ENOUGH_LETTERS = 15
_SUBJECT_ALONE_WORDS = 4  # a subject alone tells the language when it has this many words
_CONTEXT_WORDS = 20
_FORWARDED_CHARS = 3000
_QUOTED_CHARS = 1500


def domain_of(address: str | None) -> str | None:
    """The domain of an e-mail address, lower-cased (None without one)."""
    if not address or "@" not in address:
        return None
    return address.rpartition("@")[2].lower().strip(" >.") or None


def subject_text(subject: str) -> str:
    """The subject without reply/forward prefixes and case tags, its case kept (``normalise_subject`` folds it)."""
    folded = normalise_subject(subject)
    text = " ".join((subject or "").split())
    lowered = text.lower()
    position = lowered.find(folded) if len(lowered) == len(text) else -1
    return text[position : position + len(folded)] if position >= 0 else folded


@dataclass(frozen=True)
class TriageInput:
    """The parts of one message that triage looks at."""

    subject: str
    new_text: str
    forwarded_text: str = ""
    quoted_text: str = ""
    signature: str = ""
    sender_domain: str | None = None
    sent_on: date | None = None
    automated: bool = False

    @classmethod
    def from_parsed(cls, parsed: ParsedMessage) -> "TriageInput":
        """The triage input of a parsed message."""
        return cls(
            subject=subject_text(parsed.subject),
            new_text=parsed.new_text,
            forwarded_text=parsed.parts.forwarded_text,
            quoted_text=parsed.parts.quoted_text,
            signature=parsed.parts.signature,
            sender_domain=domain_of(parsed.sender.address if parsed.sender else None),
            sent_on=parsed.date.date() if parsed.date else None,
            automated=parsed.automation.is_automated,
        )

    @classmethod
    def from_text(cls, subject: str, body: str, *, sent_on: date | None = None) -> "TriageInput":
        """The triage input of a subject and a plain-text body (a corpus example)."""
        parts = split_reply(body.replace("\r\n", "\n"))
        return cls(
            subject=subject_text(subject),
            new_text=parts.new_text,
            forwarded_text=parts.forwarded_text,
            quoted_text=parts.quoted_text,
            signature=parts.signature,
            sent_on=sent_on,
        )


def looks_like_signature(text: str) -> bool:
    """True for a short block of names, titles and addresses with no running sentence in it."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or len(lines) > 10 or any(len(line) > 80 for line in lines) or "?" in text:
        return False
    words = _WORD.findall(text)
    if not words:
        return True
    upper = sum(1 for w in words if w.isupper() and len(w) > 1)
    running = sum(1 for w in words if w.islower() and len(w) > 2)
    if upper >= 0.5 * len(words):
        running += upper
    titled = sum(1 for w in words if w[0].isupper() and (len(w) == 1 or not w[1:].isupper()))
    return titled >= 0.6 * len(words) and running <= max(1, 0.15 * len(words))


def own_words(item: TriageInput) -> str:
    """The sender's new text, or nothing when it is only a signature block."""
    return "" if looks_like_signature(item.new_text) else item.new_text


def _word_count(text: str) -> int:
    return len(_WORD.findall(text))


def language_text(item: TriageInput) -> str:
    """The text whose language is the sender's: the new text, helped by the subject (then forwarded text) when short."""
    text = own_words(item)
    if sum(len(w) for w in _WORD.findall(text)) >= _ENOUGH_LETTERS:
        return text
    if not text.strip() and _word_count(item.subject) < _SUBJECT_ALONE_WORDS:
        text = item.forwarded_text[:_FORWARDED_CHARS]  # no words of the sender's own: und unless forwarded text speaks
        return text
    text = f"{item.subject}\n{text}".strip()
    if _word_count(text) < 3 and item.forwarded_text:
        text = f"{text}\n{item.forwarded_text[:_FORWARDED_CHARS]}".strip()
    return text


def topic_text(item: TriageInput) -> str:
    """The text the topic is read from: subject and new text, with forwarded then quoted text when the new text is short."""
    text = f"{item.subject}\n{own_words(item)}".strip()
    if _word_count(text) < _CONTEXT_WORDS and item.forwarded_text:
        text = f"{text}\n{item.forwarded_text[:_FORWARDED_CHARS]}"
    if _word_count(text) < _CONTEXT_WORDS // 2 and item.quoted_text:
        text = f"{text}\n{item.quoted_text[:_QUOTED_CHARS]}"
    return text
