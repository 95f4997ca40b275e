"""Signals beside the topic: complaint, escalation, urgency (words and near deadlines), several topics, automation.

Words come from the taxonomy's lists for the message's language (all lists when
the language is not one of them); a deadline is a date mentioned in the text
that falls within ``deadline_days`` after the message's own date, so the result
depends on the message alone, never on the clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from classifiers.entities import Entity, extract_entities
from classifiers.taxonomy import SignalWords, Taxonomy
from classifiers.textnorm import fold

SIGNAL_NAMES = ("complaint", "escalation", "urgent", "deadline", "multi_topic", "automated", "conflict")


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
    conflict: str | None = None  # a patent both to be paid and to be let lapse in the same message

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
            "conflict": self.conflict is not None,
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
            "conflict": self.conflict,
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


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def conflicting_instruction(text: str, languages: tuple[str, ...], words: SignalWords) -> str | None:
    """A patent that one sentence says to pay (keep in force) and another to abandon (let lapse), if any.

    Needs the taxonomy's ``instruction_pay`` and ``instruction_abandon`` word lists (a desk without them
    never sees a conflict). A sentence with an abandon word ("do not pay", "let lapse") is an abandon
    instruction even when it also holds a pay word.
    """
    said: dict[str, set[str]] = {}
    for sentence in _SENTENCE_END.split(text):
        patents = {e.value for e in extract_entities(sentence) if e.kind == "patent"}
        if not patents:
            continue
        folded = fold(sentence)
        if words.find("instruction_abandon", folded, languages):
            verdict = "abandon"
        elif words.find("instruction_pay", folded, languages):
            verdict = "pay"
        else:
            continue
        for patent in patents:
            said.setdefault(patent, set()).add(verdict)
    return next((patent for patent, verdicts in said.items() if len(verdicts) > 1), None)


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
    conflict = conflicting_instruction(text, languages, taxonomy.words)
    evidence += [f"conflict: {conflict} both to pay and to let lapse"] if conflict else []
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
        conflict=conflict,
    )
