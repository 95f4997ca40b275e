"""The ids the review app accepts: queues, topics and languages from the office's taxonomy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from classifiers.taxonomy import Taxonomy
from pipeline.config import Settings
from pipeline.store.lifecycle import InquiryState

LANGUAGE_CODE = re.compile(r"^(?:[a-z]{2,3}(?:-[a-z]{2,4})?)$")
# The inquiry states a filter may name (the pipeline's state machine).
STATES = tuple(state.value for state in InquiryState)


@dataclass(frozen=True)
class Vocabulary:
    """Queues (id → description), topics (id → label) and working languages, in the taxonomy's order."""

    queues: Mapping[str, str] = field(default_factory=dict)
    topics: Mapping[str, str] = field(default_factory=dict)
    working_languages: tuple[str, ...] = ()

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> "Vocabulary":
        """The vocabulary of a loaded taxonomy."""
        return cls(
            queues=dict(taxonomy.queues),
            topics={topic_id: topic.label for topic_id, topic in taxonomy.topics.items()},
            working_languages=taxonomy.working_languages,
        )

    def with_taxonomy(self, taxonomy: Taxonomy) -> "Vocabulary":
        """This vocabulary and another desk's queues, topics and languages after it (ids shared by both kept once)."""
        return Vocabulary(
            queues={**self.queues, **{q: d for q, d in taxonomy.queues.items() if q not in self.queues}},
            topics={**self.topics, **{t: topic.label for t, topic in taxonomy.topics.items() if t not in self.topics}},
            working_languages=tuple(dict.fromkeys((*self.working_languages, *taxonomy.working_languages))),
        )

    def is_language(self, code: str) -> bool:
        """Whether ``code`` is a language code the pipeline can store (``und`` included)."""
        return code == "und" or bool(LANGUAGE_CODE.match(code))

    def topic_label(self, topic: str) -> str:
        """How staff read a topic id."""
        return self.topics.get(topic, topic.replace("_", " "))


def desks_vocabulary(settings: Settings, default: Taxonomy) -> Vocabulary:
    """The vocabulary of every desk: ``default`` (the [triage] taxonomy) first, then each other desk's new ids."""
    from classifiers.config import load_triage_config
    from pipeline.desks import DEFAULT_DESK, all_desks

    vocabulary = Vocabulary.from_taxonomy(default)
    for desk_id, desk in all_desks(settings).items():
        if desk_id != DEFAULT_DESK:
            vocabulary = vocabulary.with_taxonomy(load_triage_config(desk.triage).taxonomy)
    return vocabulary
