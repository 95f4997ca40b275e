"""What a reply needs to know about the inquiry it answers, as values free of the ORM and of any I/O.

``InquiryFacts`` comes from a parsed message (offline, ``triage suggest``) or
from a stored inquiry and its message (the service). ``Classified`` is what a
reply needs from triage: the decision's language, topic and entities
(``classifiers.decision.Decision`` has them all); ``Intended`` adds the intents
and the routing. ``intent_view`` reads either shape, so a decision stored before
intents existed still works (it answers its topic's general intent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from typing import Protocol, cast

from pipeline.mail.model import ParsedMessage


class EntityLike(Protocol):
    """A reference number, amount or date found in the inquiry (``classifiers.entities.Entity``)."""

    @property
    def kind(self) -> str: ...

    @property
    def value(self) -> str: ...


class Classified(Protocol):
    """What triage decided about an inquiry that a reply needs (``classifiers.decision.Decision``)."""

    @property
    def language(self) -> str: ...

    @property
    def topic(self) -> str: ...

    @property
    def entities(self) -> Sequence[EntityLike]: ...


class Intended(Classified, Protocol):
    """A triage decision with its intents and routing (``classifiers.decision.Decision`` with intents).

    ``answer_intents`` are the template ids a reply answers, in the order asked
    (empty when held back); ``intents`` every intent with its probability, best first.
    """

    @property
    def intents(self) -> Sequence[tuple[str, float]]: ...

    @property
    def answer_intents(self) -> Sequence[str]: ...

    @property
    def standard(self) -> bool: ...

    @property
    def queue(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def hold_reason(self) -> str | None: ...


@dataclass(frozen=True)
class IntentView:
    """The intent fields of a decision, whatever its shape."""

    intents: tuple[tuple[str, float], ...]
    answer_intents: tuple[str, ...]
    standard: bool
    queue: str
    reason: str
    hold_reason: str | None


def intent_view(decision: Classified) -> IntentView:
    """The intents and routing of a decision; a decision without intents answers its topic's general intent."""
    standard = bool(getattr(decision, "standard", True))
    reason = str(getattr(decision, "reason", ""))
    queue = str(getattr(decision, "queue", ""))
    hold_reason = getattr(decision, "hold_reason", None)
    if hasattr(decision, "answer_intents"):
        full = cast(Intended, decision)
        intents = tuple((str(i), float(p)) for i, p in getattr(full, "intents", ()) or ())
        answer = tuple(str(i) for i in full.answer_intents or ())
    else:  # a decision made before the intent model: its topic is its one intent
        intents = ((decision.topic, 1.0),)
        answer = (decision.topic,) if standard else ()
    return IntentView(intents, answer, standard, queue, reason, str(hold_reason) if hold_reason else None)


@dataclass(frozen=True)
class InquiryFacts:
    """The inquiry a reply answers: who wrote, about what, in which thread, and whether anyone may answer."""

    inquiry_id: int | None
    message_id: str | None
    references: tuple[str, ...]
    subject: str
    sender_name: str
    sender_address: str | None
    reply_to: str | None
    recipients: tuple[str, ...]
    sent_at: datetime | None
    new_text: str
    is_auto_reply: bool = False
    is_bounce: bool = False
    is_mailing_list: bool = False
    automation_reason: str | None = None
    mailbox: str | None = None
    quoted_text: str = ""                 # the history the sender quoted below their new words
    signature: str = ""                   # the signature the parser cut off the new words
    forwarded_text: str = ""              # a message the sender forwarded to us
    earlier_texts: tuple[str, ...] = ()   # the thread's earlier messages, when the caller knows them

    @property
    def reply_address(self) -> str | None:
        """Where a reply goes: the Reply-To address when there is one, else the sender's."""
        return self.reply_to or self.sender_address


def _address_only(value: str | None) -> str | None:
    # The stored Reply-To is an address already; parsing it again as display text could pick an
    # address out of a display name.
    address = (value or "").strip()
    return address or None


def facts_from_parsed(parsed: ParsedMessage, *, inquiry_id: int | None = None,
                      mailbox: str | None = None) -> InquiryFacts:
    """The facts of a parsed message (not stored: ``inquiry_id`` None unless given)."""
    return InquiryFacts(
        inquiry_id=inquiry_id,
        message_id=parsed.message_id,
        references=parsed.references,
        subject=parsed.subject,
        sender_name=parsed.sender.name if parsed.sender else "",
        sender_address=(parsed.sender.address or None) if parsed.sender else None,
        reply_to=(parsed.reply_to.address or None) if parsed.reply_to else None,
        recipients=tuple(a.address.lower() for a in (*parsed.to, *parsed.cc) if a.address),
        sent_at=parsed.date,
        new_text=parsed.new_text,
        is_auto_reply=parsed.automation.is_auto_reply,
        is_bounce=parsed.automation.is_bounce,
        is_mailing_list=parsed.automation.is_mailing_list,
        automation_reason=parsed.automation.reason,
        mailbox=mailbox,
        quoted_text=parsed.parts.quoted_text,
        signature=parsed.parts.signature,
        forwarded_text=parsed.parts.forwarded_text,
    )


def facts_from_stored(
    *,
    inquiry_id: int,
    new_text: str,
    message_id: str | None,
    references: Sequence[str],
    subject: str,
    sender_name: str,
    sender_address: str | None,
    reply_to: str | None,
    recipients: Sequence[str],
    sent_at: datetime | None,
    is_auto_reply: bool,
    is_bounce: bool,
    is_mailing_list: bool,
    automation_reason: str | None,
    mailbox: str | None,
    quoted_text: str = "",
    signature: str = "",
    forwarded_text: str = "",
    earlier_texts: Sequence[str] = (),
) -> InquiryFacts:
    """The facts of a stored inquiry, from the columns of its inquiry and message rows.

    ``earlier_texts`` are the new texts of the thread's earlier messages (so a reply never asks
    again for a number given there).
    """
    return InquiryFacts(
        inquiry_id=inquiry_id,
        message_id=message_id,
        references=tuple(references),
        subject=subject,
        sender_name=sender_name,
        sender_address=sender_address,
        reply_to=_address_only(reply_to),
        recipients=tuple(address.lower() for _, address in getaddresses(list(recipients)) if address),
        sent_at=sent_at,
        new_text=new_text,
        is_auto_reply=is_auto_reply,
        is_bounce=is_bounce,
        is_mailing_list=is_mailing_list,
        automation_reason=automation_reason,
        mailbox=mailbox,
        quoted_text=quoted_text,
        signature=signature,
        forwarded_text=forwarded_text,
        earlier_texts=tuple(earlier_texts),
    )
