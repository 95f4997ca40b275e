"""Staff corrections read back as training data: per corrected inquiry, its text, thread, decision and labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.models import DecisionRecord, Inquiry, Label, Message

# Label fields that teach a model; others (entities...) are kept but not trained on yet.
TRAINING_FIELDS = ("language", "topic", "queue", "intents")


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
