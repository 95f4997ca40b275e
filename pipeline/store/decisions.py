"""Reads and writes of triage decisions and staff labels, inside a caller's session (the caller owns the transaction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.mail.entity import Entity
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


@dataclass(frozen=True)
class StoredDecision:
    """A stored triage decision: what was decided, how sure, and why (the one shape every reader gets)."""

    id: int
    language: str
    language_confidence: float
    language_band: str
    topic: str
    topic_confidence: float
    topic_band: str
    top_terms: tuple[str, ...]
    topics: tuple[tuple[str, float], ...]
    entities: tuple[Entity, ...]
    signals: dict[str, Any]
    standard: bool
    queue: str
    reason: str
    rule_id: str
    model_version: str
    created_at: datetime
    intents: tuple[tuple[str, float], ...] = ()
    answer_intents: tuple[str, ...] = ()
    hold_reason: str | None = None


def _entity(value: Mapping[str, Any]) -> Entity:
    return Entity(str(value.get("kind", "")), str(value.get("value", "")), int(value.get("start", 0)),
                  int(value.get("end", 0)), str(value.get("source", "body")))


def decision_view(record: DecisionRecord) -> StoredDecision:
    """The stored-decision shape of a decision row."""
    return StoredDecision(
        id=record.id, language=record.language, language_confidence=record.language_confidence,
        language_band=record.language_band, topic=record.topic, topic_confidence=record.topic_confidence,
        topic_band=record.topic_band, top_terms=tuple(record.top_terms or ()),
        topics=tuple((str(t.get("topic", "")), float(t.get("probability", 0.0))) for t in record.topics or []),
        entities=tuple(_entity(e) for e in record.entities or [] if isinstance(e, dict)),
        signals=dict(record.signals or {}), standard=record.standard, queue=record.queue, reason=record.reason,
        rule_id=record.rule_id, model_version=record.model_version, created_at=record.created_at,
        intents=tuple((str(i.get("intent", "")), float(i.get("probability", 0.0)))
                      for i in record.intents or [] if isinstance(i, dict)),
        answer_intents=tuple(str(i) for i in record.answer_intents or []),
        hold_reason=record.hold_reason,
    )


def stored_decision(session: Session, inquiry_id: int) -> StoredDecision | None:
    """The inquiry's current decision, or None when it was not triaged yet."""
    record = current_decision(session, inquiry_id)
    return decision_view(record) if record is not None else None


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
