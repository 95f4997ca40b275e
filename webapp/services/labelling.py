"""Active learning for admins: the inquiries whose labels teach the model most, and labelling them directly.

The order is ``triage label --next``'s (``pipeline.store.labels.label_candidates``:
the least confident decisions nobody labelled yet, then those staff corrected),
labels are checked as ``triage label`` checks them (``classifiers.corrections.checked_labels``)
and stored as it stores them (``pipeline.store.labels.give_labels``: one label per
field against the current decision, and a ``labelled`` audit event with who and
when), so the next ``triage train`` learns from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from classifiers.config import load_triage_config
from classifiers.corrections import LABEL_HOLD_REASONS, LabelError, checked_labels
from classifiers.taxonomy import Taxonomy
from pipeline.config import Settings
from pipeline.errors import TriageError
from pipeline.store.db import unit_of_work
from pipeline.store.decisions import current_decision, labels_for
from pipeline.store.labels import LabelCandidate, NoSuchInquiry, give_labels, label_candidates
from pipeline.store.models import Inquiry, Message
from webapp.errors import BadInput, NotFound
from webapp.services.users import Actor

# How many candidates the page lists after the one offered.
LISTED = 20
HOLD_REASONS = LABEL_HOLD_REASONS  # what the form offers for "hold back"


@dataclass(frozen=True)
class Reading:
    """One inquiry as the live model read it, with the labels staff already gave."""

    inquiry_id: int
    subject: str
    sender: str
    received_at: datetime | None
    text: str
    language: str = ""
    language_confidence: float | None = None
    topic: str = ""
    topic_confidence: float | None = None
    queue: str = ""
    standard: bool | None = None
    hold_reason: str | None = None
    reason: str = ""
    intents: tuple[tuple[str, float], ...] = ()
    answer_intents: tuple[str, ...] = ()
    model_version: str = ""
    labels: list[dict[str, Any]] = field(default_factory=list)


def taxonomy_of(settings: Settings) -> Taxonomy:
    """The taxonomy labels are checked against: the one ``triage train`` and ``triage label`` use."""
    try:
        return load_triage_config(settings.triage).taxonomy
    except TriageError as exc:
        raise BadInput(f"the taxonomy cannot be loaded: {exc}") from exc


def candidates(db: sessionmaker[Session], limit: int = LISTED + 1) -> list[LabelCandidate]:
    """The inquiries to label, in ``triage label --next``'s order."""
    with db() as session:
        return label_candidates(session, limit)


def next_after(found: Sequence[LabelCandidate], labelled: int | None) -> LabelCandidate | None:
    """The candidate to offer after ``labelled`` was labelled: the first one still unsure; when every one was
    corrected already, the one after ``labelled`` in the order (so a second pass goes on, not round in a circle)."""
    rest = [c for c in found if c.inquiry_id != labelled]
    if not rest:
        return None
    if not rest[0].corrected or labelled is None:
        return rest[0]
    ids = [c.inquiry_id for c in found]
    if labelled in ids:
        following = list(found[ids.index(labelled) + 1:])
        if following:
            return following[0]
    return rest[0]


def reading(db: sessionmaker[Session], inquiry_id: int) -> Reading:
    """The inquiry's text and the live model's current decision; ``NotFound`` when there is no such inquiry."""
    with db() as session:
        inquiry = session.get(Inquiry, inquiry_id)
        if inquiry is None:
            raise NotFound(f"no inquiry {inquiry_id}")
        message = session.get(Message, inquiry.message_pk)
        decision = current_decision(session, inquiry_id)
        given = [{"field": label.field, "value": label.value, "actor": label.actor, "at": label.created_at}
                 for label in labels_for(session, inquiry_id)]
        text = "\n\n".join(p for p in (inquiry.new_text, inquiry.forwarded_text) if p)
        base = Reading(inquiry_id=inquiry_id, subject=(message.subject if message else "") or "",
                       sender=(message.sender_address if message else "") or "",
                       received_at=inquiry.created_at,
                       text=text, labels=given)
        if decision is None:
            return base
        intents = tuple((str(i.get("intent", "")), float(i.get("probability", 0.0)))
                        for i in decision.intents or [] if isinstance(i, dict))
        return Reading(**{**base.__dict__, "language": decision.language,
                          "language_confidence": decision.language_confidence, "topic": decision.topic,
                          "topic_confidence": decision.topic_confidence, "queue": decision.queue,
                          "standard": decision.standard, "hold_reason": decision.hold_reason,
                          "reason": decision.reason, "intents": intents,
                          "answer_intents": tuple(str(i) for i in decision.answer_intents or []),
                          "model_version": decision.model_version})


def _standard(value: str) -> bool | None:
    if value in ("", "unchanged"):
        return None
    if value == "standard":
        return True
    if value == "hold":
        return False
    raise BadInput(f"choose standard or hold back, not {value[:20]!r}")


def give(db: sessionmaker[Session], settings: Settings, actor: Actor, inquiry_id: int,
         form: dict[str, Any]) -> dict[str, Any]:
    """Check and store the labels of the form (topic, language, queue, standard/hold with reason, intents);
    ``BadInput`` names what is wrong and nothing is stored."""
    intents_given = form.get("intents") or []
    intents = [i for raw in intents_given for i in str(raw).replace("\n", ",").split(",")]
    try:
        labels = checked_labels(taxonomy_of(settings), topic=form.get("topic"), language=form.get("language"),
                                queue=form.get("queue"), standard=_standard(str(form.get("standard") or "")),
                                hold_reason=form.get("hold_reason"), intents=intents if intents else None)
    except LabelError as exc:
        raise BadInput(str(exc)) from exc
    if not labels:
        raise BadInput("give at least one label: a topic, language, queue, standard or hold back, or intents")
    try:
        with unit_of_work(db) as session:
            give_labels(session, inquiry_id, labels, actor.username)
    except NoSuchInquiry as exc:
        raise NotFound(str(exc)) from exc
    return labels

