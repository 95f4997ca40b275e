"""Staff corrections read back as training data: per corrected inquiry, its text, thread, decision and labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.errors import TriageError
from pipeline.store.decisions import add_label, current_decision
from pipeline.store.models import DecisionRecord, Inquiry, Label, Message
from pipeline.store.repository import record_event

# Label fields that teach a model; others (entities...) are kept but not trained on yet.
TRAINING_FIELDS = ("language", "topic", "queue", "intents", "standard", "hold_reason")
LABELLED_EVENT = "labelled"


@dataclass(frozen=True)
class LabelledInquiry:
    """A corrected inquiry: its text and thread, the current decision's language and topic, the latest label per field."""

    inquiry_id: int
    thread_id: int
    subject: str
    text: str
    language: str
    topic: str
    labels: dict[str, Any]


def labelled_inquiries(session: Session, fields: Sequence[str] = TRAINING_FIELDS) -> list[LabelledInquiry]:
    """Every inquiry with at least one label of ``fields``, oldest first; a later label of a field wins."""
    rows = session.execute(
        select(Label.inquiry_id, Label.field, Label.value).where(Label.field.in_(list(fields))).order_by(Label.id)
    ).all()
    latest: dict[int, dict[str, Any]] = {}
    for inquiry_id, field, value in rows:
        latest.setdefault(inquiry_id, {})[field] = value
    if not latest:
        return []
    found = session.execute(
        select(Inquiry.id, Message.thread_id, Message.subject, Inquiry.new_text, Inquiry.forwarded_text,
               DecisionRecord.language, DecisionRecord.topic)
        .join(Message, Inquiry.message_pk == Message.id)
        .outerjoin(DecisionRecord, (DecisionRecord.inquiry_id == Inquiry.id) & DecisionRecord.is_current.is_(True))
        .where(Inquiry.id.in_(list(latest)))
        .order_by(Inquiry.id)
    ).all()
    return [
        LabelledInquiry(inquiry_id=i, thread_id=thread, subject=subject or "",
                        text="\n\n".join(p for p in (new_text, forwarded) if p), language=language or "",
                        topic=topic or "", labels=latest[i])
        for i, thread, subject, new_text, forwarded, language, topic in found
    ]


def recent_inquiries(session: Session, limit: int) -> list[tuple[Inquiry, Message]]:
    """The newest ``limit`` inquiries with their messages, newest first."""
    query = select(Inquiry, Message).join(Message, Inquiry.message_pk == Message.id).order_by(Inquiry.id.desc()).limit(limit)
    return [(inquiry, message) for inquiry, message in session.execute(query).all()]


@dataclass(frozen=True)
class LabelCandidate:
    """An inquiry offered for labelling: its current decision, how sure it was, and whether staff corrected it."""

    inquiry_id: int
    subject: str
    language: str
    topic: str
    confidence: float
    queue: str
    corrected: bool


def label_candidates(session: Session, limit: int) -> list[LabelCandidate]:
    """Up to ``limit`` inquiries that teach most when labelled: the least confident decisions not labelled yet,
    then those staff corrected (a second look confirms or refines the correction)."""
    labelled = select(Label.inquiry_id).distinct()
    base = (select(Inquiry.id, Message.subject, DecisionRecord.language, DecisionRecord.topic,
                   DecisionRecord.topic_confidence, DecisionRecord.queue)
            .join(Message, Inquiry.message_pk == Message.id)
            .join(DecisionRecord, (DecisionRecord.inquiry_id == Inquiry.id) & DecisionRecord.is_current.is_(True)))
    unsure = session.execute(base.where(Inquiry.id.not_in(labelled))
                             .order_by(DecisionRecord.topic_confidence, Inquiry.id).limit(limit)).all()
    corrected = session.execute(base.where(Inquiry.id.in_(labelled))
                                .order_by(DecisionRecord.topic_confidence, Inquiry.id).limit(max(0, limit - len(unsure)))).all()
    return [LabelCandidate(i, s or "", lang, topic, float(conf), queue, flag)
            for flag, rows in ((False, unsure), (True, corrected)) for i, s, lang, topic, conf, queue in rows]


class NoSuchInquiry(TriageError):
    """The inquiry to label does not exist."""


def give_labels(session: Session, inquiry_id: int, labels: dict[str, Any], actor: str) -> list[Label]:
    """Store staff's labels of one inquiry (field -> value, checked by the caller) against its current decision,
    with one ``labelled`` audit event naming who gave which (in the caller's transaction).

    How ``triage label`` and the admin labelling page store a label; the next ``triage train`` learns from it.
    ``NoSuchInquiry`` when there is no such inquiry.
    """
    if session.get(Inquiry, inquiry_id) is None:
        raise NoSuchInquiry(f"no inquiry {inquiry_id}")
    decision = current_decision(session, inquiry_id)
    stored = [add_label(session, inquiry_id, field, value, actor, decision_id=decision.id if decision else None)
              for field, value in labels.items()]
    record_event(session, LABELLED_EVENT, inquiry_id=inquiry_id, actor=actor, details=dict(labels))
    return stored
