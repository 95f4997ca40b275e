"""Signals beside the topic: complaint, escalation, urgency (words and near deadlines), several topics, automation.

Words come from the taxonomy's lists for the message's language (all lists when
the language is not one of them); a deadline is a date mentioned in the text
that falls within ``deadline_days`` after the message's own date, so the result
depends on the message alone, never on the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from classifiers.entities import Entity
from classifiers.taxonomy import Taxonomy
from classifiers.textnorm import fold

SIGNAL_NAMES = ("complaint", "escalation", "urgent", "deadline", "multi_topic", "automated")


@dataclass(frozen=True)
class Signals:
    """What else is true of a message besides its topic, with the evidence."""

    complaint: bool = False
    escalation: bool = False
    urgent: bool = False
    deadline: str | None = None
    multi_topic: bool = False
    other_topics: tuple[str, ...] = ()
    automated: bool = False
    evidence: tuple[str, ...] = ()

    @property
    def names(self) -> frozenset[str]:
        """The names of the signals that are on."""
        on = {
            "complaint": self.complaint,
            "escalation": self.escalation,
            "urgent": self.urgent,
            "deadline": self.deadline is not None,
            "multi_topic": self.multi_topic,
            "automated": self.automated,
        }
        return frozenset(name for name, value in on.items() if value)

    def as_json(self) -> dict[str, object]:
        """The signals as a JSON-ready dict."""
        return {
            "complaint": self.complaint,
            "escalation": self.escalation,
            "urgent": self.urgent,
            "deadline": self.deadline,
            "multi_topic": self.multi_topic,
            "other_topics": list(self.other_topics),
            "automated": self.automated,
            "evidence": list(self.evidence),
        }


def nearest_deadline(entities: Sequence[Entity], sent_on: date | None, days: int) -> str | None:
    """The earliest date mentioned that falls between the message's date and ``days`` after it."""
    if sent_on is None:
        return None
    soonest: date | None = None
    for entity in entities:
        if entity.kind != "date":
            continue
        when = date.fromisoformat(entity.value)
        if 0 <= (when - sent_on).days <= days and (soonest is None or when < soonest):
            soonest = when
    return soonest.isoformat() if soonest else None


def other_topics(ranked: Sequence[str], margins: Sequence[float], minimum_margin: float) -> tuple[str, ...]:
    """The topics after the first that the topic model also says yes to (margin at least ``minimum_margin``)."""
    return tuple(topic for topic, margin in zip(ranked[1:], margins[1:]) if margin >= minimum_margin)


def detect_signals(
    text: str,
    *,
    language: str,
    entities: Sequence[Entity],
    ranked_topics: Sequence[str],
    topic_margins: Sequence[float],
    sent_on: date | None,
    automated: bool,
    taxonomy: Taxonomy,
    learned: Mapping[str, float] | None = None,
) -> Signals:
    """Every signal of one message, from its own words, entities, topic probabilities, date and learned signals."""
    folded = fold(text)
    languages = (language,) if language in taxonomy.working_languages else taxonomy.working_languages
    complaint = taxonomy.words.find("complaint", folded, languages)
    escalation = taxonomy.words.find("escalation", folded, languages)
    urgent = taxonomy.words.find("urgent", folded, languages)
    deadline = nearest_deadline(entities, sent_on, taxonomy.deadline_days)
    others = other_topics(ranked_topics, topic_margins, taxonomy.multi_topic_margin)
    evidence = [f"complaint: {w}" for w in complaint[:3]] + [f"escalation: {w}" for w in escalation[:3]]
    evidence += [f"urgent: {w}" for w in urgent[:3]] + ([f"deadline: {deadline}"] if deadline else [])
    model_says = {name: p for name, p in (learned or {}).items() if p >= taxonomy.learned_threshold}
    evidence += [f"{name}: model {p:.2f}" for name, p in sorted(model_says.items())]
    return Signals(
        complaint=bool(complaint) or "complaint" in model_says,
        escalation=bool(escalation),
        urgent=bool(urgent) or deadline is not None or "urgent" in model_says,
        deadline=deadline,
        multi_topic=bool(others),
        other_topics=others,
        automated=automated,
        evidence=tuple(evidence),
    )
