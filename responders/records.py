"""Reads and writes of suggestions and deliveries inside a caller's session (the caller owns the transaction).

Every status change of a suggestion goes through ``transition``: it moves the
suggestion (and its inquiry) on, bumps the version and appends the audit event
in the same session, so both are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from classifiers.entities import Entity
from pipeline.errors import ReplyError
from pipeline.store import repository as repo
from pipeline.store.decisions import STATE_ROUTED, STATE_TRIAGED, current_decision
from pipeline.store.models import Delivery, Inquiry, Message, Sighting, Suggestion, utcnow
from responders.facts import InquiryFacts, facts_from_stored

SUGGESTED, EDITED, APPROVED, SENT, DISCARDED = "suggested", "edited", "approved", "sent", "discarded"
OPEN_STATUSES = (SUGGESTED, EDITED, APPROVED)
PENDING, DONE, FAILED, UNCERTAIN, RETRY = "pending", "done", "failed", "uncertain", "retry"
REPLY, ACKNOWLEDGEMENT = "reply", "acknowledgement"

# The inquiry's state that follows each status of its reply (acknowledgements leave it alone).
_INQUIRY_STATE = {SUGGESTED: "suggested", EDITED: "edited", APPROVED: "approved", SENT: "sent"}


@dataclass(frozen=True)
class StoredDecision:
    """The parts of a stored triage decision a reply needs (``responders.suggest.Triaged``)."""

    language: str
    topic: str
    entities: tuple[Entity, ...]
    standard: bool
    reason: str


def stored_decision(session: Session, inquiry_id: int) -> StoredDecision | None:
    """The inquiry's current decision, or None when it was not triaged yet."""
    record = current_decision(session, inquiry_id)
    if record is None:
        return None
    entities = tuple(
        Entity(str(e.get("kind", "")), str(e.get("value", "")), int(e.get("start", 0)), int(e.get("end", 0)),
               str(e.get("source", "body")))
        for e in (record.entities or []) if isinstance(e, dict)
    )
    return StoredDecision(record.language, record.topic, entities, record.standard, record.reason)


def inquiry_rows(session: Session, inquiry_id: int, *, lock: bool = False) -> tuple[Inquiry, Message]:
    """An inquiry and its message; ``ReplyError`` when there is no such inquiry."""
    query = select(Inquiry, Message).join(Message, Inquiry.message_pk == Message.id).where(Inquiry.id == inquiry_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Inquiry)
    row = session.execute(query).first()
    if row is None:
        raise ReplyError(f"there is no inquiry {inquiry_id}")
    return row[0], row[1]


def mailbox_of(session: Session, message_pk: int) -> tuple[str | None, str | None]:
    """The IMAP mailbox and folder where a message was first seen, if it came from one."""
    row = session.execute(
        select(Sighting.mailbox, Sighting.folder)
        .where(Sighting.message_pk == message_pk, Sighting.mailbox.is_not(None))
        .order_by(Sighting.id).limit(1)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def inquiry_facts(session: Session, inquiry: Inquiry, message: Message) -> InquiryFacts:
    """The facts a reply needs about a stored inquiry."""
    mailbox, _ = mailbox_of(session, message.id)
    return facts_from_stored(
        inquiry_id=inquiry.id,
        new_text=inquiry.new_text,
        message_id=message.message_id,
        references=message.references or [],
        subject=message.subject,
        sender_name=message.sender_name,
        sender_address=message.sender_address,
        reply_to=message.reply_to,
        recipients=message.recipients or [],
        sent_at=message.sent_at,
        is_auto_reply=message.is_auto_reply,
        is_bounce=message.is_bounce,
        is_mailing_list=message.is_mailing_list,
        automation_reason=message.automation_reason,
        mailbox=mailbox,
    )


def get_suggestion(session: Session, suggestion_id: int, *, lock: bool = False) -> Suggestion:
    """A suggestion by id; ``ReplyError`` when there is none."""
    query = select(Suggestion).where(Suggestion.id == suggestion_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    suggestion = session.scalar(query)
    if suggestion is None:
        raise ReplyError(f"there is no suggested reply {suggestion_id}")
    return suggestion


def open_suggestion(session: Session, inquiry_id: int, kind: str = REPLY) -> Suggestion | None:
    """The inquiry's suggestion of this kind that is not sent or discarded yet, if any."""
    return session.scalar(
        select(Suggestion)
        .where(Suggestion.inquiry_id == inquiry_id, Suggestion.kind == kind, Suggestion.status.in_(OPEN_STATUSES))
        .order_by(Suggestion.id.desc()).limit(1)
    )


def latest_suggestion(session: Session, inquiry_id: int, kind: str = REPLY) -> Suggestion | None:
    """The inquiry's newest suggestion of this kind, whatever its status."""
    return session.scalar(
        select(Suggestion).where(Suggestion.inquiry_id == inquiry_id, Suggestion.kind == kind)
        .order_by(Suggestion.id.desc()).limit(1)
    )


def has_suggestion(session: Session, inquiry_id: int, kind: str) -> bool:
    """Whether the inquiry ever had a suggestion of this kind."""
    return session.scalar(
        select(Suggestion.id).where(Suggestion.inquiry_id == inquiry_id, Suggestion.kind == kind).limit(1)
    ) is not None


def delivery_of(session: Session, suggestion_id: int) -> Delivery | None:
    """The delivery of a suggestion, if one was started."""
    return session.scalar(select(Delivery).where(Delivery.suggestion_id == suggestion_id))


def automatic_sent_since(session: Session, recipient: str, since: datetime) -> int:
    """How many automatic messages to this address were started since ``since`` (failed ones excluded).

    On PostgreSQL the count is taken under a transaction lock on the address, so
    two workers cannot both take the last place under the cap.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"auto-cap:{recipient}"})
    return int(session.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.recipient == recipient, Delivery.automatic.is_(True), Delivery.created_at >= since,
               Delivery.state != FAILED)
    ) or 0)


def approved_without_delivery(session: Session, limit: int, *, max_attempts: int, retry_before: datetime) \
        -> Sequence[int]:
    """Ids of approved suggestions to deliver now: never started, failed for sure and due for another try,
    or released by a person after an uncertain attempt."""
    query = (
        select(Suggestion.id)
        .outerjoin(Delivery, Delivery.suggestion_id == Suggestion.id)
        .where(Suggestion.status == APPROVED)
        .where((Delivery.id.is_(None)) | (Delivery.state == RETRY)
               | ((Delivery.state == FAILED) & (Delivery.attempts < max_attempts)
                  & (Delivery.updated_at <= retry_before)))
        .order_by(Suggestion.id).limit(limit)
    )
    return list(session.scalars(query))


def stale_pending(session: Session, older_than: datetime, limit: int = 100) -> Sequence[int]:
    """Ids of suggestions whose delivery was started but never finished (the process stopped midway)."""
    query = (select(Delivery.suggestion_id).where(Delivery.state == PENDING, Delivery.updated_at <= older_than)
             .order_by(Delivery.id).limit(limit))
    return list(session.scalars(query))


def inquiry_state_without_reply(session: Session, inquiry_id: int) -> str:
    """The state an inquiry goes back to when its reply is discarded: triaged (standard) or routed."""
    decision = current_decision(session, inquiry_id)
    return STATE_TRIAGED if decision is not None and decision.standard else STATE_ROUTED


def transition(
    session: Session,
    suggestion: Suggestion,
    status: str,
    actor: str,
    *,
    event: str | None = None,
    inquiry_state: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
    created: bool = False,
) -> None:
    """Move a suggestion to ``status`` (and its inquiry along), bump its version, and log the event."""
    now = now or utcnow()
    inquiry = session.get(Inquiry, suggestion.inquiry_id)
    assert inquiry is not None
    before_status = None if created else suggestion.status
    before_state = inquiry.state
    if inquiry_state is None and suggestion.kind == REPLY:
        inquiry_state = _INQUIRY_STATE.get(status)
    if inquiry_state is not None and inquiry.state != inquiry_state:
        inquiry.state = inquiry_state
        inquiry.updated_at = now
    suggestion.status = status
    suggestion.version = (suggestion.version or 0) + 1
    suggestion.updated_at = now
    repo.record_event(
        session,
        event or f"suggestion_{status}",
        message_pk=inquiry.message_pk,
        inquiry_id=inquiry.id,
        from_state=before_state,
        to_state=inquiry.state,
        actor=actor,
        details={
            "suggestion_id": suggestion.id,
            "kind": suggestion.kind,
            "status": status,
            "previous_status": before_status,
            "version": suggestion.version,
            "template_id": suggestion.template_id,
            "template_version": suggestion.template_version,
            **(details or {}),
        },
    )


def log_delivery(session: Session, suggestion: Suggestion, event: str, actor: str, details: dict[str, Any]) -> None:
    """Append a delivery event (intent, failure, uncertainty) without changing the suggestion's status."""
    inquiry = session.get(Inquiry, suggestion.inquiry_id)
    assert inquiry is not None
    repo.record_event(
        session, event, message_pk=inquiry.message_pk, inquiry_id=inquiry.id, from_state=inquiry.state,
        to_state=inquiry.state, actor=actor,
        details={"suggestion_id": suggestion.id, "kind": suggestion.kind, "message_id": suggestion.message_id,
                 **details},
    )


def window_start(now: datetime, hours: float) -> datetime:
    """The start of a window of ``hours`` ending now."""
    return now - timedelta(hours=hours)


def acknowledgement_candidates(session: Session, mailboxes: Sequence[str], since: datetime, limit: int = 200) \
        -> Sequence[int]:
    """Triaged inquiries seen in these mailboxes since ``since`` that have no acknowledgement yet, oldest first."""
    if not mailboxes:
        return []
    acknowledged = select(Suggestion.inquiry_id).where(Suggestion.kind == ACKNOWLEDGEMENT)
    query = (
        select(Inquiry.id)
        .join(Sighting, Sighting.message_pk == Inquiry.message_pk)
        .where(Sighting.mailbox.in_(list(mailboxes)), Inquiry.created_at >= since,
               Inquiry.state != "new", Inquiry.id.not_in(acknowledged))
        .distinct().order_by(Inquiry.id).limit(limit)
    )
    return list(session.scalars(query))


def inquiries_to_suggest(session: Session, limit: int = 200) -> Sequence[int]:
    """Triaged (standard) inquiries that never had a suggested reply, oldest first."""
    suggested = select(Suggestion.inquiry_id).where(Suggestion.kind == REPLY)
    query = (select(Inquiry.id).where(Inquiry.state == STATE_TRIAGED, Inquiry.id.not_in(suggested))
             .order_by(Inquiry.id).limit(limit))
    return list(session.scalars(query))


def route_to_staff(session: Session, inquiry_id: int, reason: str) -> None:
    """No reply can be suggested for a standard inquiry: it goes to a person (state ``routed``), with why."""
    inquiry = session.get(Inquiry, inquiry_id)
    assert inquiry is not None
    before = inquiry.state
    inquiry.state, inquiry.updated_at = STATE_ROUTED, utcnow()
    repo.record_event(session, "suggestion_unavailable", message_pk=inquiry.message_pk, inquiry_id=inquiry_id,
                      from_state=before, to_state=STATE_ROUTED, details={"reason": reason})
