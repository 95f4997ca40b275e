"""The pure core of triage: a parsed message, a model and a configuration in, a ``Decision`` out.

No I/O, no clock: the same inputs always give the same decision. Bad input
(no text, binary garbage, mixed scripts) gives a decision too: ``und``, low
confidence, routed to a person by the rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from dataclasses import dataclass, replace

from classifiers.config import TriageConfig
from classifiers.decision import Decision
from classifiers.entities import Entity, extract_entities
from classifiers.holdback import NO_TEMPLATE, HoldBack, explicit_request, reason_sentence
from classifiers.inputs import TriageInput, language_text, own_words, topic_text
from classifiers.intents import IntentResult
from classifiers.language import LanguageResult, detect_languages
from classifiers.model import TriageModel
from classifiers.routing import RouteFacts, Routing, route
from classifiers.signals import EarlierInstruction, Signals, detect_signals
from classifiers.topics import TopicResult
from pipeline.mail.model import ParsedMessage

_ENTITY_CHARS = 100_000
_SURE_REASON = 0.12  # a learned hold-back whose reason is less likely than this gives "no_template" as its reason
_URGENT_HOLD = 0.3  # an urgent message is held back from this needs-a-person probability on


@dataclass(frozen=True)
class Reading:
    """What the intent and hold-back models read in one input."""

    intents: IntentResult
    hold: HoldBack
    hold_threshold: float = 0.5


@dataclass(frozen=True)
class ReplyPlan:
    """Whether a reply answers a message and which intents, or who holds it back and why."""

    standard: bool
    queue: str
    reason: str
    rule_id: str
    answer_intents: tuple[str, ...] = ()
    hold_reason: str | None = None


def plan_reply(
    item: TriageInput, language: str, topic: str, signals: Signals, routing: Routing, reading: Reading,
    config: TriageConfig,
) -> ReplyPlan:
    """The intents to answer, or the hold-back with its section and reason.

    The routing rules keep the cases they exist for (language, automatic mail, complaints); explicit requests
    (a person, no automatic reply) hold a message back; otherwise the learned needs-a-person model decides, and
    a message no intent is sure of is held back too (to its topic's section): a guessed explainer was read as
    answering another question far more often than this one.
    """
    taxonomy = config.taxonomy
    if language == "und":
        return ReplyPlan(False, routing.queue, routing.reason, routing.rule_id, hold_reason="empty")
    if language not in taxonomy.working_languages:
        return ReplyPlan(False, routing.queue, routing.reason, routing.rule_id, hold_reason="unsupported_language")
    if signals.automated:
        return ReplyPlan(False, routing.queue, routing.reason, routing.rule_id, hold_reason="automated")
    if routing.hold_reason is not None:  # the office's own rule: always a person, for this reason
        return ReplyPlan(False, routing.queue, routing.reason, routing.rule_id, hold_reason=routing.hold_reason)
    request = explicit_request(f"{item.subject}\n{own_words(item)}")
    if request is not None:
        queue = "customer_service"
        return ReplyPlan(False, queue, reason_sentence(request, queue), request.replace("_", "-"), hold_reason=request)
    hold = reading.hold
    # A held-back verdict with its own reason (a formal notice, a dispute) is more telling than the complaint words in it.
    held = hold.probability >= reading.hold_threshold
    if signals.complaint or signals.escalation:
        if hold.reason not in ("complaint", "low_confidence", "no_template", "deadline_at_risk"):
            return ReplyPlan(False, hold.queue, reason_sentence(hold.reason, hold.queue), "learned-hold", hold_reason=hold.reason)
        return ReplyPlan(False, routing.queue, routing.reason, routing.rule_id, hold_reason="complaint")
    # Urgency and a leaning towards a person are conflicting signals: a person decides.
    if held or (signals.urgent or signals.deadline) and hold.probability >= _URGENT_HOLD:
        # No specific reason recognised (a complaint is one only when the complaint signals say so): held back
        # because no standard answer fits.
        sure = hold.reason_probability >= _SURE_REASON and hold.reason != "complaint"
        reason = hold.reason if sure else NO_TEMPLATE
        if reason == "deadline_at_risk" and not (signals.urgent or signals.deadline):
            reason = NO_TEMPLATE  # no date near and no urgent words: nothing says a time limit is at risk
        best, confidence = reading.intents.top
        return ReplyPlan(False, hold.queue, reason_sentence(reason, hold.queue, best, confidence), "learned-hold",
                         hold_reason=reason)
    best, confidence = reading.intents.top
    if not reading.intents.asked and (signals.urgent or signals.deadline):
        # Urgent, and no intent is sure: a guessed standard answer would cost the sender the time they lack.
        return ReplyPlan(False, hold.queue, reason_sentence("deadline_at_risk", hold.queue), "urgent-unsure",
                         hold_reason="deadline_at_risk")
    asked = reading.intents.asked
    if not asked:  # no intent is sure: a guessed explainer answers another question more often than this one
        queue = taxonomy.section_of(topic)
        return ReplyPlan(False, queue, reason_sentence("low_confidence", queue, best, confidence), "low-confidence",
                         hold_reason="low_confidence")
    reason = (f"Asks {', '.join(asked)} (best {best} at {confidence:.2f}) in '{language}': "
              "front desk, suggested reply.")
    return ReplyPlan(True, taxonomy.front_desk, reason, "intents", answer_intents=asked)


def read_intents(items: Sequence[TriageInput], model: TriageModel) -> list[Reading] | None:
    """The intents and hold-back judgement of each input (None when the model has no intent classifier)."""
    if model.intents is None or model.holdback is None:
        return None
    texts = [topic_text(item) for item in items]
    features = model.intents.transform(texts)
    results = model.intents.classify(texts)
    threshold = model.holdback.threshold
    return [Reading(r, h, threshold) for r, h in zip(results, model.holdback.judge(features))]


def find_entities(item: TriageInput, extra: Sequence[tuple[str, re.Pattern[str]]] = ()) -> tuple[Entity, ...]:
    """The entities of what the sender wrote now (signature included), the subject and forwarded text, each once.

    ``extra``: the desk's own reference kinds (its taxonomy's ``[entities]``).
    """
    found: list[Entity] = []
    seen: set[tuple[str, str]] = set()
    sources = (("body", item.new_text), ("signature", item.signature), ("subject", item.subject),
               ("forwarded", item.forwarded_text))
    for source, text in sources:
        for entity in extract_entities(text, source, _ENTITY_CHARS, extra):
            if (entity.kind, entity.value) not in seen:
                seen.add((entity.kind, entity.value))
                found.append(entity)
    return tuple(found)


def decide(
    item: TriageInput,
    language: LanguageResult,
    topic: TopicResult,
    learned: Mapping[str, float],
    entities: tuple[Entity, ...],
    config: TriageConfig,
    model_version: str,
    reading: Reading | None = None,
    earlier: Sequence[EarlierInstruction] = (),
) -> Decision:
    """The decision for one input once its language, topic, learned signals, entities and intents are known.

    ``earlier``: the instructions earlier mail of the same thread or client gave for this mail's patents.
    """
    taxonomy = config.taxonomy
    signals = detect_signals(
        f"{item.subject}\n{own_words(item)}",
        language=language.code,
        entities=entities,
        ranked_topics=[name for name, _ in topic.ranked],
        topic_margins=topic.margins,
        sent_on=item.sent_on,
        automated=item.automated,
        taxonomy=taxonomy,
        learned=learned,
        earlier=earlier,
    )
    language_band = taxonomy.language_bands.band(language.confidence)
    topic_band = taxonomy.topic_bands.band(topic.confidence)
    facts = RouteFacts(
        language=language.code,
        language_band=language_band,
        language_confidence=language.confidence,
        topic=topic.topic,
        topic_band=topic_band,
        confidence=topic.confidence,
        topics=(topic.topic, *signals.other_topics),
        signals=signals.names,
        sender_domain=item.sender_domain,
        entity_kinds=frozenset(e.kind for e in entities),
        instruction=signals.instruction_detail or "",
    )
    routing = route(facts, config.rules, taxonomy)
    if reading is None:
        plan = ReplyPlan(routing.standard, routing.queue, routing.reason, routing.rule_id,
                         hold_reason=None if routing.standard else routing.hold_reason or "no_template")
        ranked: tuple[tuple[str, float], ...] = ()
    else:
        plan = plan_reply(item, language.code, topic.topic, signals, routing, reading, config)
        ranked = reading.intents.ranked
    if plan.queue not in taxonomy.queues:  # a fixed queue of the hold-back (asked for a person) this desk calls otherwise
        plan = replace(plan, queue=taxonomy.front_desk)
    return Decision(
        language=language.code,
        language_confidence=language.confidence,
        language_band=language_band,
        topic=topic.topic,
        topic_confidence=topic.confidence,
        topic_band=topic_band,
        top_terms=topic.top_terms,
        topics=topic.ranked,
        entities=entities,
        signals=signals,
        standard=plan.standard,
        queue=plan.queue,
        reason=plan.reason,
        rule_id=plan.rule_id,
        model_version=model_version,
        intents=ranked,
        answer_intents=plan.answer_intents if plan.standard else (),
        hold_reason=None if plan.standard else plan.hold_reason,
    )


def detect_item_languages(items: Sequence[TriageInput], model: TriageModel, config: TriageConfig) -> list[LanguageResult]:
    """The language of each input, from the sender's own words."""
    taxonomy = config.taxonomy
    return detect_languages(
        [language_text(item) for item in items],
        model.language,
        working=taxonomy.working_languages,
        min_letters=taxonomy.min_letters,
        working_prior=taxonomy.working_prior,
    )


def classify_item_topics(items: Sequence[TriageInput], model: TriageModel) -> list[tuple[TopicResult, dict[str, float]]]:
    """The ranked topics of each input, and the learned signals read off the same features."""
    features = model.topics.transform([topic_text(item) for item in items])
    learned = {name: flag.probability(features) for name, flag in model.flags.items()}
    return [
        (topic, {name: float(p[row]) for name, p in learned.items()})
        for row, topic in enumerate(model.topics.classify_features(features))
    ]


@dataclass(frozen=True)
class Prepared:
    """One input and what the models read in it: all ``decide`` needs besides the configuration and earlier mail."""

    item: TriageInput
    language: LanguageResult
    topic: TopicResult
    learned: Mapping[str, float]
    entities: tuple[Entity, ...]
    reading: Reading | None
    model_version: str

    def decide(self, config: TriageConfig, earlier: Sequence[EarlierInstruction] = ()) -> Decision:
        """The decision, given the instructions earlier mail of the thread or client gave (none: on its own)."""
        return decide(self.item, self.language, self.topic, self.learned, self.entities, config, self.model_version,
                      self.reading, earlier=earlier)


def prepare_inputs(items: Sequence[TriageInput], model: TriageModel, config: TriageConfig) -> list[Prepared]:
    """What the models read in each input; they run once over the whole batch."""
    if not items:
        return []
    languages = detect_item_languages(items, model, config)
    topics = classify_item_topics(items, model)
    readings: Sequence[Reading | None] = read_intents(items, model) or [None] * len(items)
    return [
        Prepared(item, language, topic, learned, find_entities(item, config.taxonomy.extra_entities), reading,
                 model.version)
        for item, language, (topic, learned), reading in zip(items, languages, topics, readings)
    ]


def triage_inputs(items: Sequence[TriageInput], model: TriageModel, config: TriageConfig) -> list[Decision]:
    """The decision for each input on its own; the models run once over the whole batch."""
    return [prepared.decide(config) for prepared in prepare_inputs(items, model, config)]


def triage_messages(messages: Sequence[ParsedMessage], model: TriageModel, config: TriageConfig) -> list[Decision]:
    """The decision for each parsed message, in one batch."""
    return triage_inputs([TriageInput.from_parsed(m) for m in messages], model, config)


def triage_message(parsed: ParsedMessage, model: TriageModel, config: TriageConfig) -> Decision:
    """The decision for one parsed message: language, topic, entities, signals, queue and why."""
    return triage_messages([parsed], model, config)[0]
