"""The ids the review app accepts: queues, topics and languages from the office's taxonomies, and each queue's desk."""

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
class DeskQueues:
    """One desk as the app lists it: its id, its name, and the queues listed under it (those it declares first)."""

    id: str
    name: str
    queues: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Queues (id → description), topics (id → label) and working languages, in the taxonomies' order.

    ``queue_desks`` names, per queue, the desks whose taxonomy declares it (the first declared it first):
    queue ids are office-wide, so a queue two desks declare is one queue. ``desks`` maps each desk's id to
    its name, the default desk first; both are empty for a vocabulary made without desks.
    """

    queues: Mapping[str, str] = field(default_factory=dict)
    topics: Mapping[str, str] = field(default_factory=dict)
    working_languages: tuple[str, ...] = ()
    queue_desks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    desks: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy, desk: str = "", name: str = "") -> "Vocabulary":
        """The vocabulary of a loaded taxonomy (of the desk ``desk``, named ``name``, when given)."""
        return cls().with_taxonomy(taxonomy, desk, name)

    def with_taxonomy(self, taxonomy: Taxonomy, desk: str = "", name: str = "") -> "Vocabulary":
        """This vocabulary and another desk's queues, topics and languages after it (ids shared by both kept once)."""
        queue_desks = dict(self.queue_desks)
        if desk:
            for queue in taxonomy.queues:
                queue_desks[queue] = (*queue_desks.get(queue, ()), desk)
        return Vocabulary(
            queues={**self.queues, **{q: d for q, d in taxonomy.queues.items() if q not in self.queues}},
            topics={**self.topics, **{t: topic.label for t, topic in taxonomy.topics.items() if t not in self.topics}},
            working_languages=tuple(dict.fromkeys((*self.working_languages, *taxonomy.working_languages))),
            queue_desks=queue_desks,
            desks={**self.desks, desk: name or desk} if desk else dict(self.desks),
        )

    def is_language(self, code: str) -> bool:
        """Whether ``code`` is a language code the pipeline can store (``und`` included)."""
        return code == "und" or bool(LANGUAGE_CODE.match(code))

    def topic_label(self, topic: str) -> str:
        """How staff read a topic id."""
        return self.topics.get(topic, topic.replace("_", " "))

    @property
    def several_desks(self) -> bool:
        """Whether the queues belong to more than one desk (the pages then group them per desk)."""
        return len(self.desks) > 1

    def desk_of(self, queue: str) -> str:
        """The desk a queue is listed under: the first declaring it ("" when none does or desks are unknown)."""
        owners = self.queue_desks.get(queue, ())
        return owners[0] if owners else ""

    def declared_by(self, desk: str) -> tuple[str, ...]:
        """Every queue the desk's taxonomy declares (with no desks known: every queue), in the taxonomy's order."""
        if not self.queue_desks:
            return tuple(self.queues)
        return tuple(q for q in self.queues if desk in self.queue_desks.get(q, ()))

    def desk_names(self, queue: str) -> tuple[str, ...]:
        """The names of the desks that declare a queue, the one it is listed under first."""
        return tuple(self.desks.get(desk, desk) for desk in self.queue_desks.get(queue, ()))

    def grouped(self, queues: list[str] | tuple[str, ...] | None = None) -> list[DeskQueues]:
        """These queues (default: all) under the desk each is listed under, desks and queues in the taxonomies' order;
        desks with none of them left out. Queues no desk declares come last, under a desk with no id or name.
        """
        given = list(self.queues) if queues is None else list(dict.fromkeys(queues))
        wanted = [q for q in self.queues if q in given] + [q for q in given if q not in self.queues]
        groups = [DeskQueues(desk, name, tuple(q for q in wanted if self.desk_of(q) == desk))
                  for desk, name in self.desks.items()]
        loose = tuple(q for q in wanted if self.desk_of(q) not in self.desks)
        return [g for g in groups if g.queues] + ([DeskQueues("", "", loose)] if loose else [])


def desks_vocabulary(settings: Settings, default: Taxonomy) -> Vocabulary:
    """The vocabulary of every desk: ``default`` (the [triage] taxonomy) first, then each other desk's."""
    from classifiers.config import load_triage_config
    from pipeline.desks import DEFAULT_DESK, all_desks

    desks = all_desks(settings)
    vocabulary = Vocabulary.from_taxonomy(default, DEFAULT_DESK, desks[DEFAULT_DESK].label)
    for desk_id, desk in desks.items():
        if desk_id != DEFAULT_DESK:
            vocabulary = vocabulary.with_taxonomy(load_triage_config(desk.triage).taxonomy, desk_id, desk.label)
    return vocabulary
