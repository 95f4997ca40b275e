"""The pure core of triage: a parsed message, a model and a configuration in, a ``Decision`` out.

No I/O, no clock: the same inputs always give the same decision. Bad input
(no text, binary garbage, mixed scripts) gives a decision too: ``und``, low
confidence, routed to a person by the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from classifiers.config import TriageConfig
from classifiers.decision import Decision
from classifiers.entities import Entity, extract_entities
from classifiers.inputs import TriageInput, language_text, own_words, topic_text
from classifiers.language import LanguageResult, detect_languages
from classifiers.model import TriageModel
from classifiers.routing import RouteFacts, route
from classifiers.signals import detect_signals
from classifiers.topics import TopicResult
from pipeline.mail.model import ParsedMessage

_ENTITY_CHARS = 100_000


def find_entities(item: TriageInput) -> tuple[Entity, ...]:
    """The entities of what the sender wrote now (signature included), the subject and forwarded text, each once."""
    found: list[Entity] = []
    seen: set[tuple[str, str]] = set()
    sources = (("body", item.new_text), ("signature", item.signature), ("subject", item.subject),
               ("forwarded", item.forwarded_text))
    for source, text in sources:
        for entity in extract_entities(text, source, _ENTITY_CHARS):
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
) -> Decision:
    """The decision for one input once its language, topic, learned signals and entities are known."""
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
    )
    routing = route(facts, config.rules, taxonomy)
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
        standard=routing.standard,
        queue=routing.queue,
        reason=routing.reason,
        rule_id=routing.rule_id,
        model_version=model_version,
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


def triage_inputs(items: Sequence[TriageInput], model: TriageModel, config: TriageConfig) -> list[Decision]:
    """The decision for each input; the models run once over the whole batch."""
    if not items:
        return []
    languages = detect_item_languages(items, model, config)
    topics = classify_item_topics(items, model)
    return [
        decide(item, language, topic, learned, find_entities(item), config, model.version)
        for item, language, (topic, learned) in zip(items, languages, topics)
    ]


def triage_messages(messages: Sequence[ParsedMessage], model: TriageModel, config: TriageConfig) -> list[Decision]:
    """The decision for each parsed message, in one batch."""
    return triage_inputs([TriageInput.from_parsed(m) for m in messages], model, config)


def triage_message(parsed: ParsedMessage, model: TriageModel, config: TriageConfig) -> Decision:
    """The decision for one parsed message: language, topic, entities, signals, queue and why."""
    return triage_messages([parsed], model, config)[0]
