"""Routing as configuration: ordered rules on language, topic, confidence, signals, sender and entities.

``load_rules`` reads and checks the rules file against the taxonomy (every
problem with its line); ``route`` is a pure function that returns the outcome
of the first rule that matches.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classifiers.entities import ENTITY_KINDS
from classifiers.signals import SIGNAL_NAMES
from classifiers.taxonomy import Taxonomy
from classifiers.tomlines import TomlLines
from pipeline.config import parse_toml, validation_problems
from pipeline.errors import ConfigError

SECTION = "section"
REASON_FIELDS = ("language", "language_confidence", "topic", "topic_label", "confidence", "queue", "signals", "topics",
                 "instruction")
Band = Literal["high", "medium", "low"]


class Rule(BaseModel):
    """One routing rule: conditions that must all hold, and the outcome when they do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    language: tuple[str, ...] = ()
    topic: tuple[str, ...] = ()
    topic_band: tuple[Band, ...] = ()
    language_band: tuple[Band, ...] = ()
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    max_confidence: float | None = Field(default=None, ge=0, le=1)
    signals: tuple[str, ...] = ()
    any_signal: tuple[str, ...] = ()
    no_signal: tuple[str, ...] = ()
    sender_domain: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    queue: str
    standard: bool = False
    reason: str = Field(min_length=1)
    hold_reason: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")  # set: always held back, this code


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: tuple[Rule, ...] = Field(min_length=1)


@dataclass(frozen=True)
class RouteFacts:
    """What the rules look at, taken from one classified message."""

    language: str
    language_band: str
    language_confidence: float
    topic: str
    topic_band: str
    confidence: float
    topics: tuple[str, ...]
    signals: frozenset[str]
    sender_domain: str | None
    entity_kinds: frozenset[str]
    instruction: str = ""  # a conflict or change of instructions, in words (patent, instructions, earlier mail)


@dataclass(frozen=True)
class Routing:
    """Where a message goes, whether it is standard, why, and which rule said so."""

    queue: str
    standard: bool
    reason: str
    rule_id: str
    hold_reason: str | None = None


def _reason_problem(reason: str) -> str | None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(reason) if name is not None]
    except ValueError as exc:
        return f"reason is not a valid template: {exc}"
    unknown = [name for name in names if name not in REASON_FIELDS]
    if unknown:
        return f"reason uses unknown field {{{unknown[0]}}}; known: {', '.join(REASON_FIELDS)}"
    return None


def check_rules(rules: Sequence[Rule], taxonomy: Taxonomy) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    """Each rule that names an unknown topic, queue, signal or entity kind, as (path, message, offending value)."""
    problems: list[tuple[tuple[str | int, ...], str, str | None]] = []
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        where: tuple[str | int, ...] = ("rule", index)
        label = f"rule {rule.id!r}"
        if rule.id in seen:
            problems.append(((*where, "id"), f"{label}: duplicate rule id", None))
        seen.add(rule.id)
        for topic in rule.topic:
            if topic not in taxonomy.topics:
                problems.append(((*where, "topic"), f"{label}: unknown topic {topic!r}; known: {', '.join(taxonomy.topics)}", topic))
        if rule.queue != SECTION and rule.queue not in taxonomy.queues:
            problems.append(((*where, "queue"), f"{label}: unknown queue {rule.queue!r}; known: {', '.join(taxonomy.queues)} or 'section'", rule.queue))
        for key in ("signals", "any_signal", "no_signal"):
            for signal in getattr(rule, key):
                if signal not in SIGNAL_NAMES:
                    problems.append(((*where, key), f"{label}: unknown signal {signal!r}; known: {', '.join(SIGNAL_NAMES)}", signal))
        kinds = (*ENTITY_KINDS, *dict.fromkeys(kind for kind, _ in taxonomy.extra_entities))
        for kind in rule.entities:
            if kind not in kinds:
                problems.append(((*where, "entities"), f"{label}: unknown entity kind {kind!r}; known: {', '.join(kinds)}", kind))
        if rule.hold_reason is not None and rule.standard:
            problems.append(((*where, "hold_reason"), f"{label}: a rule with a hold_reason holds back: standard must be false", None))
        if rule.min_confidence is not None and rule.max_confidence is not None and rule.min_confidence > rule.max_confidence:
            problems.append(((*where, "min_confidence"), f"{label}: min_confidence is above max_confidence", None))
        reason_problem = _reason_problem(rule.reason)
        if reason_problem:
            problems.append(((*where, "reason"), f"{label}: {reason_problem}", None))
    return problems


def parse_rules(text: str, path: Path, taxonomy: Taxonomy) -> tuple[Rule, ...]:
    """Validate the text of a rules file; raise ``ConfigError`` with each problem at its line."""
    lines = TomlLines(text)

    def at(loc: Sequence[str | int], needle: str | None = None) -> str:
        line = lines.line_of(loc, f'"{needle}"' if needle else None) if loc else None
        return f"{path}:{line}" if line else str(path)

    raw = parse_toml(text, path)
    try:
        parsed = _RulesFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for key, message in validation_problems(exc):
            loc = [int(p) if p.isdigit() else p for p in key.split(".")] if key else []
            problems.append((at(loc), f"{key}: {message}" if key else message))
        raise ConfigError(problems) from exc
    found = check_rules(parsed.rule, taxonomy)
    if found:
        raise ConfigError([(at(loc, needle), message) for loc, message, needle in found])
    return parsed.rule


def load_rules(path: Path, taxonomy: Taxonomy) -> tuple[Rule, ...]:
    """Read and check the routing rules file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([(str(path), "routing rules file not found (triage.routing)")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([(str(path), f"cannot read routing rules: {exc}")]) from exc
    return parse_rules(text, path, taxonomy)


def _domain_matches(domain: str | None, wanted: tuple[str, ...]) -> bool:
    if not domain:
        return False
    domain = domain.lower().rstrip(".")
    return any(domain == w.lower() or domain.endswith("." + w.lower()) for w in wanted)


def _language_matches(language: str, wanted: tuple[str, ...], working: tuple[str, ...]) -> bool:
    for code in wanted:
        if code == language:
            return True
        if code == "working" and language in working:
            return True
        if code == "other" and language not in working and language != "und":
            return True
    return False


def matches(rule: Rule, facts: RouteFacts, taxonomy: Taxonomy) -> bool:
    """True when every condition of ``rule`` holds for ``facts``."""
    return (
        (not rule.language or _language_matches(facts.language, rule.language, taxonomy.working_languages))
        and (not rule.topic or facts.topic in rule.topic)
        and (not rule.topic_band or facts.topic_band in rule.topic_band)
        and (not rule.language_band or facts.language_band in rule.language_band)
        and (rule.min_confidence is None or facts.confidence >= rule.min_confidence)
        and (rule.max_confidence is None or facts.confidence <= rule.max_confidence)
        and all(s in facts.signals for s in rule.signals)
        and (not rule.any_signal or any(s in facts.signals for s in rule.any_signal))
        and not any(s in facts.signals for s in rule.no_signal)
        and (not rule.sender_domain or _domain_matches(facts.sender_domain, rule.sender_domain))
        and all(kind in facts.entity_kinds for kind in rule.entities)
    )


def _reason(template: str, facts: RouteFacts, queue: str, taxonomy: Taxonomy) -> str:
    topic = taxonomy.topics.get(facts.topic)
    values = {
        "language": facts.language,
        "language_confidence": f"{facts.language_confidence:.2f}",
        "topic": facts.topic,
        "topic_label": topic.label if topic else facts.topic,
        "confidence": f"{facts.confidence:.2f}",
        "queue": queue,
        "signals": ", ".join(sorted(facts.signals)) or "none",
        "topics": ", ".join(facts.topics) or facts.topic,
        "instruction": facts.instruction or "No conflicting instruction",
    }
    return template.format_map(values)


def route(facts: RouteFacts, rules: Sequence[Rule], taxonomy: Taxonomy) -> Routing:
    """The outcome of the first rule that matches; the topic's section when none does."""
    for rule in rules:
        if matches(rule, facts, taxonomy):
            queue = taxonomy.section_of(facts.topic) if rule.queue == SECTION else rule.queue
            return Routing(queue, rule.standard, _reason(rule.reason, facts, queue, taxonomy), rule.id, rule.hold_reason)
    queue = taxonomy.section_of(facts.topic)
    return Routing(queue, False, f"No routing rule matched: the {queue} section whose work {facts.topic} is.", "no-rule")
