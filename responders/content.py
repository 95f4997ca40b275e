"""Whether an inquiry says anything to answer: empty mail, a signature alone, a reply with only quoted history.

Pure: a function of the inquiry's texts. Greetings, closing formulas, sign-offs
("Sent from my phone") and contact lines are not content; a question mark or
a few words of the sender's own are.
"""

from __future__ import annotations

import re

from responders.facts import InquiryFacts

_GREETING = re.compile(
    r"^(dear|hello|hi|hey|good (morning|afternoon|evening)|greetings|to whom it may concern|bonjour|bonsoir|"
    r"madame|monsieur|messieurs|cher|chère|chers|salut|buenos días|buenos dias|buenas tardes|hola|estimad[oa]s?|"
    r"señor|señora|muy señor)\b", re.IGNORECASE)
_CLOSING = re.compile(
    r"^((kind|best|warm|warmest|many|with)?\s*(regards|wishes)|thanks?|thank you|many thanks|cheers|sincerely|"
    r"yours|best|br|cordialement|bien cordialement|bien à vous|salutations|sincères salutations|merci|"
    r"bonne journée|saludos|un saludo|atentamente|gracias|muchas gracias|cordiales saludos|reciba un cordial saludo|"
    r"sent from my|envoyé de mon|envoyé depuis|enviado desde|get outlook|obtenir outlook)\b", re.IGNORECASE)
_CONTACT = re.compile(r"^(\+?[\d ()./-]{6,}|\S+@\S+|https?://\S+|www\.\S+|(tel|tél|phone|fax|mobile|móvil)\b.*)$",
                      re.IGNORECASE)
_REPLY_SUBJECT = re.compile(r"^\s*((re|aw|sv|fw|fwd|tr|rv|wg)\s*:\s*)+", re.IGNORECASE)
_CASE_TAG = re.compile(r"\[T-\d+\]")
_WORD = re.compile(r"\w+")
_SHORT = 6  # a greeting or closing line longer than this many words is content after all


def own_words(text: str) -> str:
    """The sender's new text without greetings, closing formulas, sign-offs, names after them and contact lines."""
    kept: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip().strip("-–—_*").strip()
        if not line:
            continue
        words = len(_WORD.findall(line))
        if (_GREETING.match(line) or _CLOSING.match(line)) and words <= _SHORT:
            if _CLOSING.match(line):
                break  # what follows a closing formula is the signature
            continue
        if _CONTACT.match(line):
            continue
        kept.append(line)
    return "\n".join(kept)


def _has_content(text: str) -> bool:
    return "?" in text or len(_WORD.findall(text)) >= 2


def _subject_asks(subject: str) -> bool:
    if _REPLY_SUBJECT.match(subject):
        return False  # "Re: ..." repeats our or their earlier subject: not a new question
    cleaned = _CASE_TAG.sub("", subject).strip()
    return "?" in cleaned or len(_WORD.findall(cleaned)) >= 4


def nothing_to_answer(facts: InquiryFacts) -> str | None:
    """Why this inquiry has nothing a reply could answer, or None when the sender asked something."""
    if _has_content(own_words(facts.new_text)) or facts.forwarded_text.strip() or _subject_asks(facts.subject):
        return None
    if facts.quoted_text.strip():
        return "a reply with only quoted history: the sender wrote nothing new to answer"
    if facts.new_text.strip() or facts.signature.strip():
        return "the message has only a greeting or signature: no question to answer"
    return "the message is empty: no question to answer"
