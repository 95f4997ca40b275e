"""Reads and writes of triage decisions and staff labels, inside a caller's session (the caller owns the transaction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.store.lifecycle import InquiryState
from pipeline.store.models import DecisionRecord, Inquiry, Label, Message, utcnow

STATE_TRIAGED = InquiryState.TRIAGED.value
STATE_ROUTED = InquiryState.ROUTED.value
# States a new decision may move an inquiry between; later states (suggested, approved, sent...) are kept.
TRIAGE_STATES = frozenset({InquiryState.NEW, InquiryState.TRIAGED, InquiryState.ROUTED})


def inquiries_for_triage(
    session: Session, inquiry_ids: Sequence[int], *, only_new: bool, lock: bool = True
) -> list[tuple[Inquiry, Message]]:
    """The inquiries (with their messages) among ``inquiry_ids`` to triage now.

    With ``only_new`` just those still in state ``new``. With ``lock`` on
    PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so two workers
    never triage the same inquiry at once.
    """
    if not inquiry_ids:
        return []
    query = (
        select(Inquiry, Message)
        .join(Message, Inquiry.message_pk == Message.id)
        .where(Inquiry.id.in_(list(inquiry_ids)))
        .order_by(Inquiry.id)
    )
    if only_new:
        query = query.where(Inquiry.state == InquiryState.NEW)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Inquiry, skip_locked=True)
    return [(inquiry, message) for inquiry, message in session.execute(query).all()]


def inquiry_ids_since(session: Session, since: datetime, *, after_id: int = 0, limit: int = 200) -> list[int]:
    """Ids of inquiries stored at or after ``since``, above ``after_id``, oldest first (for paging)."""
    query = (
        select(Inquiry.id)
        .where(Inquiry.created_at >= since, Inquiry.id > after_id)
        .order_by(Inquiry.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def save_decisions(
    session: Session, decisions: Sequence[tuple[int, Mapping[str, Any]]], trigger: str
) -> list[DecisionRecord]:
    """Store each ``(inquiry id, column values)`` as that inquiry's current decision; earlier ones become history."""
    if not decisions:
        return []
    session.execute(
        update(DecisionRecord)
        .where(DecisionRecord.inquiry_id.in_([i for i, _ in decisions]), DecisionRecord.is_current.is_(True))
        .values(is_current=False)
    )
    now = utcnow()
    records = [
        DecisionRecord(inquiry_id=inquiry_id, is_current=True, trigger=trigger, created_at=now, **values)
        for inquiry_id, values in decisions
    ]
    session.add_all(records)
    session.flush()
    return records


def current_decision(session: Session, inquiry_id: int) -> DecisionRecord | None:
    """The inquiry's current decision, if it was triaged."""
    return session.scalar(
        select(DecisionRecord).where(DecisionRecord.inquiry_id == inquiry_id, DecisionRecord.is_current.is_(True))
    )


def decision_history(session: Session, inquiry_id: int) -> list[DecisionRecord]:
    """Every decision about the inquiry, oldest first."""
    return list(
        session.scalars(select(DecisionRecord).where(DecisionRecord.inquiry_id == inquiry_id).order_by(DecisionRecord.id))
    )


def add_label(
    session: Session,
    inquiry_id: int,
    field: str,
    value: Any,
    actor: str,
    *,
    decision_id: int | None = None,
) -> Label:
    """Record a staff correction of one field (topic, language, queue, entities...) as training data."""
    label = Label(inquiry_id=inquiry_id, decision_id=decision_id, field=field, value=value, actor=actor, created_at=utcnow())
    session.add(label)
    return label


def labels_for(session: Session, inquiry_id: int) -> list[Label]:
    """The corrections recorded for an inquiry, oldest first."""
    return list(session.scalars(select(Label).where(Label.inquiry_id == inquiry_id).order_by(Label.id)))
