"""Routing rules from configuration: the default rules, each condition, and the reasons they give."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from classifiers.routing import RouteFacts, parse_rules, route

BASE = RouteFacts(
    language="en",
    language_band="high",
    language_confidence=0.99,
    topic="renewal",
    topic_band="high",
    confidence=0.92,
    topics=("renewal",),
    signals=frozenset(),
    sender_domain="client.example.com",
    entity_kinds=frozenset({"registration"}),
)

DEFAULTS = [
    # (changes to BASE, queue, standard, rule id)
    ({}, "customer_service", True, "standard"),
    ({"language": "fr"}, "customer_service", True, "standard"),
    ({"language": "es", "topic": "general"}, "customer_service", True, "standard"),
    ({"language": "de"}, "translation", False, "other-language"),
    ({"language": "zh-cn", "signals": frozenset({"complaint"})}, "translation", False, "other-language"),
    ({"language": "und", "language_confidence": 0.0, "language_band": "low"}, "customer_service", False, "language-undetermined"),
    ({"signals": frozenset({"automated"})}, "customer_service", False, "automated-message"),
    ({"signals": frozenset({"complaint"}), "topic": "fees"}, "finance", False, "complaint"),
    ({"signals": frozenset({"escalation"}), "topic": "eservices"}, "it", False, "complaint"),
    ({"signals": frozenset({"complaint"}), "topic": "decision"}, "legal", False, "complaint"),
    ({"signals": frozenset({"complaint"}), "topic": "irregularity"}, "operations", False, "complaint"),
    ({"signals": frozenset({"multi_topic"}), "topics": ("fees", "renewal"), "topic": "fees"}, "finance", False, "several-topics"),
    ({"topic_band": "low", "confidence": 0.3, "topic": "eservices"}, "it", False, "topic-unsure"),
    ({"topic_band": "medium", "confidence": 0.5, "topic": "decision"}, "legal", False, "not-standard"),
    ({"topic_band": "medium", "confidence": 0.5, "topic": "recording_change"}, "operations", False, "not-standard"),
    ({"signals": frozenset({"urgent", "deadline"})}, "customer_service", True, "standard"),
]


@pytest.mark.parametrize(("changes", "queue", "standard", "rule_id"), DEFAULTS)
def test_default_rules(triage_config, changes: dict, queue: str, standard: bool, rule_id: str) -> None:  # type: ignore[no-untyped-def]
    routing = route(replace(BASE, **changes), triage_config.rules, triage_config.taxonomy)
    assert (routing.queue, routing.standard, routing.rule_id) == (queue, standard, rule_id)
    assert routing.reason and "{" not in routing.reason


def test_reasons_are_written_for_people(triage_config) -> None:  # type: ignore[no-untyped-def]
    facts = replace(BASE, topic="fees", signals=frozenset({"complaint"}))
    reason = route(facts, triage_config.rules, triage_config.taxonomy).reason
    assert "finance" in reason and "complaint" in reason and "fees and payments" in reason


RULES = '''
[[rule]]
id = "vip-sender"
sender_domain = ["bigclient.example"]
queue = "legal"
reason = "VIP sender"

[[rule]]
id = "patent-renewals"
topic = ["renewal"]
entities = ["patent"]
queue = "finance"
reason = "patent annuity"

[[rule]]
id = "sure-enough"
min_confidence = 0.8
max_confidence = 0.95
language_band = ["high"]
no_signal = ["urgent"]
queue = "customer_service"
standard = true
reason = "sure: {confidence}"

[[rule]]
id = "catch-all"
queue = "section"
reason = "section {queue}"
'''


@pytest.mark.parametrize(
    ("changes", "rule_id", "queue"),
    [
        ({"sender_domain": "bigclient.example"}, "vip-sender", "legal"),
        ({"sender_domain": "mail.bigclient.example"}, "vip-sender", "legal"),
        ({"sender_domain": "notbigclient.example"}, "sure-enough", "customer_service"),
        ({"entity_kinds": frozenset({"patent", "date"})}, "patent-renewals", "finance"),
        ({"confidence": 0.97}, "catch-all", "operations"),
        ({"confidence": 0.7}, "catch-all", "operations"),
        ({"signals": frozenset({"urgent"})}, "catch-all", "operations"),
        ({"language_band": "medium"}, "catch-all", "operations"),
        ({"sender_domain": None}, "sure-enough", "customer_service"),
    ],
)
def test_each_condition(triage_config, changes: dict, rule_id: str, queue: str) -> None:  # type: ignore[no-untyped-def]
    rules = parse_rules(RULES, Path("rules.toml"), triage_config.taxonomy)
    routing = route(replace(BASE, **changes), rules, triage_config.taxonomy)
    assert (routing.rule_id, routing.queue) == (rule_id, queue)


def test_no_matching_rule_goes_to_the_topic_section(triage_config) -> None:  # type: ignore[no-untyped-def]
    rules = parse_rules('[[rule]]\nid = "only-de"\nlanguage = ["de"]\nqueue = "translation"\nreason = "x"\n',
                        Path("r.toml"), triage_config.taxonomy)
    routing = route(replace(BASE, topic="fees"), rules, triage_config.taxonomy)
    assert (routing.queue, routing.standard, routing.rule_id) == ("finance", False, "no-rule")


def test_routing_is_a_pure_function(triage_config) -> None:  # type: ignore[no-untyped-def]
    first = route(BASE, triage_config.rules, triage_config.taxonomy)
    assert all(route(BASE, triage_config.rules, triage_config.taxonomy) == first for _ in range(3))
