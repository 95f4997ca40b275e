"""Signals beside the topic: complaint and escalation words, urgency, deadlines, several topics."""

from __future__ import annotations

from datetime import date

import pytest

from classifiers.entities import extract_entities
from classifiers.signals import SIGNAL_NAMES, detect_signals, nearest_deadline, other_topics

CASES = [
    # (text, language, signals expected on)
    ("This is the third time I write and nobody answers. Unacceptable!", "en", {"complaint"}),
    ("Please renew DM/212 345.", "en", set()),
    ("I want to speak to a manager, we will take legal action.", "en", {"complaint", "escalation"}),
    ("URGENT: the deadline is tomorrow, please answer asap", "en", {"urgent"}),
    ("C'est inacceptable, toujours pas de réponse après trois semaines.", "fr", {"complaint"}),
    ("Merci de traiter notre demande au plus vite, c'est urgent.", "fr", {"urgent"}),
    ("Nous saisirons le tribunal si rien ne bouge.", "fr", {"escalation"}),
    ("Es la tercera vez que escribo y sigo sin respuesta. Inaceptable.", "es", {"complaint"}),
    ("Necesitamos la factura cuanto antes, es urgente.", "es", {"urgent"}),
    ("¿Cuánto cuesta la renovación?", "es", set()),
    ("es inaceptable", "de", {"complaint"}),  # another language: every word list is read
]


@pytest.mark.parametrize(("text", "language", "expected"), CASES)
def test_word_signals(triage_config, text: str, language: str, expected: set[str]) -> None:  # type: ignore[no-untyped-def]
    signals = detect_signals(text, language=language, entities=extract_entities(text), ranked_topics=["fees"],
                             topic_margins=[0.8], sent_on=None, automated=False, taxonomy=triage_config.taxonomy)
    assert signals.names == frozenset(expected)
    assert set(signals.names) <= set(SIGNAL_NAMES)


@pytest.mark.parametrize(
    ("text", "sent_on", "expected"),
    [
        ("expires on 10 November 2025", date(2025, 11, 3), "2025-11-10"),
        ("expires on 11 November 2025", date(2025, 11, 3), None),
        ("we paid on 1 November 2025", date(2025, 11, 3), None),
        ("due 2025-11-05 or 2025-11-04", date(2025, 11, 3), "2025-11-04"),
        ("due 2025-11-05", None, None),
    ],
)
def test_deadlines_within_the_configured_days(text: str, sent_on: date | None, expected: str | None) -> None:
    assert nearest_deadline(extract_entities(text), sent_on, 7) == expected


def test_several_topics_when_the_model_says_yes_to_a_second() -> None:
    assert other_topics(["fees", "renewal", "general"], [0.6, 0.1, -0.8], 0.0) == ("renewal",)
    assert other_topics(["fees", "renewal"], [0.9, -0.4], 0.0) == ()
    assert other_topics(["fees", "renewal"], [0.9, -0.4], -0.5) == ("renewal",)


def test_automated_and_evidence(triage_config) -> None:  # type: ignore[no-untyped-def]
    signals = detect_signals("nobody answers", language="en", entities=(), ranked_topics=["general"], topic_margins=[1.0],
                             sent_on=None, automated=True, taxonomy=triage_config.taxonomy)
    assert signals.automated and "complaint: nobody answers" in signals.evidence
    assert signals.as_json()["automated"] is True
