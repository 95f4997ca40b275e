"""Reads and writes of stored messages, inside a caller's session (the caller owns the transaction)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from pipeline.mail.model import ParsedMessage
from pipeline.mail.organisation import organisation_key
from pipeline.quarantine import QuarantineReason
from pipeline.sources.base import Origin
from pipeline.store.models import (
    AttachmentRecord,
    AuditEvent,
    Inquiry,
    Message,
    QuarantineRecord,
    RawBlob,
    Sighting,
    Suggestion,
    Thread,
    utcnow,
)

from pipeline.store.lifecycle import InquiryState

STATE_NEW = InquiryState.NEW.value


@dataclass(frozen=True)
class InquiryListing:
    """One line of a list of stored inquiries."""

    id: int
    state: str
    message_id: str | None
    sender_address: str | None
    subject: str | None
    sent_at: datetime | None
    flags: tuple[str, ...]
    new_text: str


@dataclass(frozen=True)
class QuarantineListing:
    """One quarantined item still waiting for a retry."""

    id: int
    source: str
    reason: str
    error: str
    created_at: datetime


def record_event(
    session: Session,
    event: str,
    *,
    message_pk: int | None = None,
    inquiry_id: int | None = None,
    quarantine_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    actor: str = "system",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit log (in the caller's transaction)."""
    row = AuditEvent(
        event=event,
        message_pk=message_pk,
        inquiry_id=inquiry_id,
        quarantine_id=quarantine_id,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        details=details or {},
    )
    session.add(row)
    return row


def origin_details(origin: Origin) -> dict[str, Any]:
    """An origin as audit-log details."""
    details: dict[str, Any] = {"kind": origin.kind, "source": origin.source}
    for key in ("mailbox", "folder", "uidvalidity", "uid"):
        value = getattr(origin, key)
        if value is not None:
            details[key] = value
    if origin.fetched_at is not None:
        details["fetched_at"] = origin.fetched_at.isoformat()
    return details


def existing_fingerprints(session: Session, fingerprints: Iterable[str]) -> dict[str, int]:
    """Which of these fingerprints are stored already, with their message's primary key."""
    wanted = list(set(fingerprints))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(select(Message.fingerprint, Message.id).where(Message.fingerprint.in_(chunk)))
        found.update({fp: pk for fp, pk in rows})
    return found


def existing_blobs(session: Session, hashes: Iterable[str]) -> set[str]:
    """Which raw blobs are stored already."""
    wanted = list(set(hashes))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(session.scalars(select(RawBlob.sha256).where(RawBlob.sha256.in_(chunk))))
    return found


def threads_by_key(session: Session, keys: Iterable[str]) -> dict[str, Thread]:
    """Stored threads for these keys."""
    wanted = list(set(keys))
    found: dict[str, Thread] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update({t.thread_key: t for t in session.scalars(select(Thread).where(Thread.thread_key.in_(chunk)))})
    return found


def thread_ids_of_messages(session: Session, message_ids: Iterable[str]) -> dict[str, int]:
    """The thread of each stored message, by Message-ID."""
    wanted = list(set(message_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(select(Message.message_id, Message.thread_id).where(Message.message_id.in_(chunk)))
        for message_id, thread_id in rows:
            if message_id is not None:
                found.setdefault(message_id, thread_id)
    return found


def thread_ids_of_inquiries(session: Session, inquiry_ids: Iterable[int]) -> dict[int, int]:
    """The thread of each stored inquiry, by inquiry id."""
    wanted = list(set(inquiry_ids))
    rows = session.execute(
        select(Inquiry.id, Message.thread_id).join(Message, Inquiry.message_pk == Message.id).where(Inquiry.id.in_(wanted))
    )
    return {inquiry_id: thread_id for inquiry_id, thread_id in rows}


def thread_participants(session: Session, thread_ids: Iterable[int]) -> dict[int, set[str]]:
    """The addresses taking part in each thread: its senders and the recipients of its approved or sent replies."""
    wanted = list(set(thread_ids))
    found: dict[int, set[str]] = {thread_id: set() for thread_id in wanted}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        senders = session.execute(
            select(Message.thread_id, Message.sender_address)
            .where(Message.thread_id.in_(chunk), Message.sender_address.is_not(None))
        )
        replies = session.execute(
            select(Message.thread_id, Suggestion.to_address)
            .join(Inquiry, Inquiry.message_pk == Message.id)
            .join(Suggestion, Suggestion.inquiry_id == Inquiry.id)
            .where(Message.thread_id.in_(chunk), Suggestion.status.in_(("approved", "sent")))
        )
        for thread_id, address in (*senders, *replies):
            if address:
                found[thread_id].add(address.strip().lower())
    return found


def add_blob(session: Session, sha256: str, raw: bytes) -> None:
    """Keep raw bytes under their hash (the caller checked they are not stored yet)."""
    session.add(RawBlob(sha256=sha256, size=len(raw), data=raw))


def add_message(session: Session, parsed: ParsedMessage, thread: Thread, origin: Origin,
                desk: str | None = None) -> tuple[Message, Inquiry]:
    """Store a new message, its inquiry in state ``new`` (in ``desk``), its attachments and first sighting."""
    message = Message(
        fingerprint=parsed.fingerprint,
        raw_sha256=parsed.raw_sha256,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=list(parsed.references),
        subject=parsed.subject,
        sender_name=parsed.sender.name[:500] if parsed.sender else "",
        sender_address=parsed.sender.address[:500] if parsed.sender and parsed.sender.address else None,
        reply_to_name=parsed.reply_to.name[:500] if parsed.reply_to else "",
        reply_to_address=parsed.reply_to.address[:500] if parsed.reply_to and parsed.reply_to.address else None,
        recipients=[str(a) for a in (*parsed.to, *parsed.cc)][:200],
        sent_at=parsed.date,
        size=parsed.size,
        content_type=parsed.content_type[:200],
        is_auto_reply=parsed.automation.is_auto_reply,
        is_bounce=parsed.automation.is_bounce,
        is_mailing_list=parsed.automation.is_mailing_list,
        automation_reason=parsed.automation.reason,
        defects=list(parsed.defects),
    )
    message.thread = thread
    inquiry = Inquiry(
        state=STATE_NEW,
        text=parsed.text,
        new_text=parsed.parts.new_text,
        quoted_text=parsed.parts.quoted_text,
        signature=parsed.parts.signature,
        forwarded_text=parsed.parts.forwarded_text,
        html=parsed.html,
        desk=desk,
        organisation=organisation_key(parsed.sender.address if parsed.sender else None),
    )
    message.inquiry = inquiry
    for position, attachment in enumerate(parsed.attachments):
        message.attachments.append(
            AttachmentRecord(
                position=position,
                filename=attachment.filename,
                content_type=attachment.content_type[:200],
                disposition=attachment.disposition[:32],
                content_id=attachment.content_id,
                size=attachment.size,
                sha256=attachment.sha256,
                oversized=attachment.oversized,
            )
        )
    message.sightings.append(sighting_for(origin))
    session.add(message)
    return message, inquiry


def sighting_for(origin: Origin) -> Sighting:
    """A sighting row for ``origin``, not yet attached to a message."""
    return Sighting(
        source=origin.source[:1000],
        kind=origin.kind,
        mailbox=origin.mailbox,
        folder=origin.folder,
        uidvalidity=origin.uidvalidity,
        uid=origin.uid,
    )


def add_sighting_if_new(session: Session, message_pk: int, origin: Origin) -> bool:
    """Record that a stored message was seen again at ``origin``; False when that place was known."""
    known = session.scalar(
        select(Sighting.id).where(Sighting.message_pk == message_pk, Sighting.source == origin.source[:1000])
    )
    if known is not None:
        return False
    sighting = sighting_for(origin)
    sighting.message_pk = message_pk
    session.add(sighting)
    return True


def quarantine_exists(session: Session, raw_sha256: str, source: str) -> int | None:
    """The id of the quarantine record for these bytes from this place, if any."""
    return session.scalar(
        select(QuarantineRecord.id).where(
            QuarantineRecord.raw_sha256 == raw_sha256, QuarantineRecord.source == source[:1000]
        )
    )


def add_quarantine(
    session: Session, raw_sha256: str, origin: Origin, code: QuarantineReason, error: str
) -> QuarantineRecord:
    """Keep bytes that could not be stored as a message, under a reason code and with the error's message."""
    record = QuarantineRecord(
        raw_sha256=raw_sha256, source=origin.source[:1000], kind=origin.kind, reason=str(code), error=error
    )
    session.add(record)
    return record


def new_thread(subject: str, key: str) -> Thread:
    """A thread for a key not stored yet."""
    now = utcnow()
    return Thread(thread_key=key[:600], subject=subject[:1000], created_at=now, updated_at=now)


def count_by_state(session: Session) -> dict[str, int]:
    """How many inquiries are in each state."""
    rows = session.execute(select(Inquiry.state, func.count()).group_by(Inquiry.state))
    return {state: count for state, count in rows}


def pending_inquiry_ids(session: Session, limit: int = 100, *, claim: bool = False) -> Sequence[int]:
    """Ids of inquiries waiting in state ``new``, oldest first.

    With ``claim`` on PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``,
    so several workers on several machines never take the same inquiry.
    """
    query = select(Inquiry.id).where(Inquiry.state == STATE_NEW).order_by(Inquiry.id).limit(limit)
    if claim and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def list_inquiries(session: Session, *, state: str | None = None, limit: int = 50) -> list[InquiryListing]:
    """Stored inquiries, newest first, optionally only those in ``state``."""
    query = select(Inquiry, Message).join(Message, Inquiry.message_pk == Message.id)
    if state:
        query = query.where(Inquiry.state == state)
    rows = session.execute(query.order_by(Inquiry.id.desc()).limit(limit)).all()
    return [
        InquiryListing(
            id=inquiry.id, state=inquiry.state, message_id=message.message_id,
            sender_address=message.sender_address, subject=message.subject, sent_at=message.sent_at,
            flags=tuple(name for name, on in (("auto-reply", message.is_auto_reply), ("bounce", message.is_bounce),
                                              ("list", message.is_mailing_list)) if on),
            new_text=inquiry.new_text,
        )
        for inquiry, message in rows
    ]


def open_quarantine(session: Session, *, limit: int = 50) -> list[QuarantineListing]:
    """Quarantined items not released yet, newest first."""
    rows = session.scalars(
        select(QuarantineRecord).where(QuarantineRecord.released_at.is_(None))
        .order_by(QuarantineRecord.id.desc()).limit(limit)
    ).all()
    return [QuarantineListing(row.id, row.source, row.reason, row.error, row.created_at) for row in rows]


def of_desks(desks: Collection[str], default_desk: str) -> ColumnElement[bool]:
    """A filter on ``Inquiry``: filed to one of ``desks``; an inquiry without a desk (stored before desks)
    belongs to ``default_desk``."""
    named = sorted(d for d in desks if d)
    return or_(Inquiry.desk.in_(named) if named else false(),
               Inquiry.desk.is_(None) if default_desk in named else false())
