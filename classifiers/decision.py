"""The outcome of triage for one message, as a value: printable, storable, comparable, testable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from classifiers.entities import Entity
from classifiers.signals import Signals


@dataclass(frozen=True)
class Decision:
    """Language, topic, intents, entities, signals and routing of one message, with the rule and model behind them."""

    language: str
    language_confidence: float
    language_band: str
    topic: str
    topic_confidence: float
    topic_band: str
    top_terms: tuple[str, ...]
    topics: tuple[tuple[str, float], ...]
    entities: tuple[Entity, ...]
    signals: Signals
    standard: bool
    queue: str
    reason: str
    rule_id: str
    model_version: str
    intents: tuple[tuple[str, float], ...] = ()  # every intent with its calibrated probability, best first
    answer_intents: tuple[str, ...] = ()  # what a reply answers, in asked order; empty when held back
    hold_reason: str | None = None  # a short code when held back (standard is False)

    def as_json(self) -> dict[str, Any]:
        """The decision as a JSON-ready dict (the keys of the ``triage classify --json`` contract and more)."""
        return {
            "language": self.language,
            "language_confidence": round(self.language_confidence, 4),
            "language_band": self.language_band,
            "topic": self.topic,
            "confidence": round(self.topic_confidence, 4),
            "topic_band": self.topic_band,
            "top_terms": list(self.top_terms),
            "topics": [{"topic": t, "probability": round(p, 4)} for t, p in self.topics],
            "entities": [e.as_json() for e in self.entities],
            "signals": self.signals.as_json(),
            "standard": self.standard,
            "queue": self.queue,
            "reason": self.reason,
            "rule_id": self.rule_id,
            "model_version": self.model_version,
            "intents": [{"intent": i, "probability": round(p, 4)} for i, p in self.intents],
            "answer_intents": list(self.answer_intents),
            "hold_reason": self.hold_reason,
        }
