"""The ids the review app accepts: queues, topics and languages from the office's taxonomy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from classifiers.taxonomy import Taxonomy
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

    def is_language(self, code: str) -> bool:
        """Whether ``code`` is a language code the pipeline can store (``und`` included)."""
        return code == "und" or bool(LANGUAGE_CODE.match(code))

    def topic_label(self, topic: str) -> str:
        """How staff read a topic id."""
        return self.topics.get(topic, topic.replace("_", " "))
