"""Staff corrections as training examples: a correction wins over the original label, threads stay in one split.

The store hands over each corrected inquiry (its text, the decision made, and
the latest value staff gave each field); this module turns them into corpus
examples. Topic and language corrections relabel the inquiry; intent labels
teach intents; a reassignment to another queue teaches the hold-back decision
and its section. Corrections naming topics the taxonomy no longer has are left
out and counted, and so are those of a topic with too few examples to learn.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from classifiers.corpus import Example, thread_split, threads_in_both_splits
from classifiers.holdback import HOLD_REASONS
from classifiers.taxonomy import Taxonomy
from pipeline.errors import ClassifierError

# A queue reassignment says a person had to handle it elsewhere.
REASSIGNED_REASON = "no_template"


@dataclass(frozen=True)
class Correction:
    """One inquiry staff corrected: its text, what triage decided, and the latest labelled value of each field."""

    inquiry_id: int
    thread: str
    subject: str
    body: str
    language: str
    topic: str
    labels: Mapping[str, Any]


@dataclass(frozen=True)
class MergedCorpus:
    """The corpus with the corrections in, the extra hold-back labels, and what was left out and why."""

    examples: list[Example]
    extra_labels: list[Example]
    data_hash: str
    used: int = 0
    unknown_topic: int = 0
    too_few: dict[str, int] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """Plain sentences about corrections left out (empty when none was)."""
        notes = []
        if self.unknown_topic:
            notes.append(f"{self.unknown_topic} correction(s) name topics the taxonomy no longer has and were skipped")
        if self.too_few:
            listed = ", ".join(f"{t} ({n})" for t, n in sorted(self.too_few.items()))
            notes.append(f"corrections for topics with too few examples to learn were skipped: {listed}")
        return notes


def _intents(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if str(v).strip())
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return None


def correction_example(correction: Correction, taxonomy: Taxonomy) -> Example:
    """The example a correction makes: labelled values win over the decision's; split chosen by its thread.

    An explicit ``standard`` label (with its ``hold_reason`` when false) says whether a person must answer;
    without one, a queue other than the topic's section means it was held back.
    """
    labels = correction.labels
    language = str(labels.get("language") or correction.language).strip().lower()
    topic = str(labels.get("topic") or correction.topic).strip()
    thread = f"inquiry-thread:{correction.thread}"
    queue = labels.get("queue")
    intents = _intents(labels.get("intents")) if "intents" in labels else None
    reason: str | None
    if isinstance(labels.get("standard"), bool):
        held = not labels["standard"]
        reason = str(labels.get("hold_reason") or REASSIGNED_REASON) if held else None
        if queue is None:  # the hold-back model learns only from labels that name a queue
            queue = taxonomy.section_of(topic) if held else taxonomy.front_desk
    else:
        held = queue is not None and str(queue) != taxonomy.section_of(topic) if topic in taxonomy.topics else False
        reason = REASSIGNED_REASON if held else None
    return Example(
        id=f"inquiry:{correction.inquiry_id}",
        language=language,
        topic=topic,
        subject=correction.subject,
        body=correction.body,
        split=thread_split(thread),
        intents=intents,
        standard=not held,
        queue=str(queue) if queue is not None else None,
        hold_reason=reason,
        thread=thread,
    )


# --- labels given directly (``triage label``, the admin labelling page) --------------------------

_LANGUAGE = re.compile(r"^(?:[a-z]{2,3}|und)$")
_INTENT = re.compile(r"^[a-z0-9_]+(?:--[a-z0-9_]+)?$")
# Reasons a person can give for holding an inquiry back (the model's own uncertainty is not one).
LABEL_HOLD_REASONS = tuple(r for r in HOLD_REASONS if r != "low_confidence")


class LabelError(ClassifierError):
    """Labels that do not fit the taxonomy; the message names every problem."""


def checked_labels(taxonomy: Taxonomy, *, topic: str | None = None, language: str | None = None,
                   queue: str | None = None, standard: bool | None = None, hold_reason: str | None = None,
                   intents: Sequence[str] | None = None) -> dict[str, Any]:
    """The labels to store (field -> value) for what was given, checked against the taxonomy.

    Empty values are "not given". ``LabelError`` names every problem (an unknown topic, queue, intent or
    reason, a language that is no code, a reason without "hold back") and nothing is to be stored then.
    """
    problems: list[str] = []
    given: dict[str, Any] = {}
    topic = (topic or "").strip() or None
    language = (language or "").strip().lower() or None
    queue = (queue or "").strip() or None
    hold_reason = (hold_reason or "").strip() or None
    _known("topic", topic, taxonomy.topics, given, problems)
    if language is not None:
        if _LANGUAGE.match(language):
            given["language"] = language
        else:
            problems.append(f"{language[:20]!r} is not a language code (en, fr, es, de, und...)")
    _known("queue", queue, taxonomy.queues, given, problems)
    if standard is not None:
        given["standard"] = standard
        if standard and hold_reason is not None:
            problems.append("a hold-back reason goes with \"hold back\", not with \"standard\"")
        elif not standard:
            if hold_reason is None:
                problems.append(f"say why it is held back: one of {', '.join(LABEL_HOLD_REASONS)}")
            elif hold_reason not in LABEL_HOLD_REASONS:
                problems.append(f"unknown hold-back reason {hold_reason[:64]!r}; known: {', '.join(LABEL_HOLD_REASONS)}")
            else:
                given["hold_reason"] = hold_reason
    elif hold_reason is not None:
        problems.append("a hold-back reason needs \"hold back\" chosen")
    if intents is not None:
        chosen = list(dict.fromkeys(i.strip() for i in intents if i and i.strip()))
        wrong = [i for i in chosen if not _INTENT.match(i) or i.split("--", 1)[0] not in taxonomy.topics]
        if wrong:
            problems.append(f"unknown intent(s) {', '.join(repr(w[:64]) for w in wrong)}: an intent is a topic of "
                            "the taxonomy, or topic--variant")
        elif chosen:
            given["intents"] = chosen
    if problems:
        raise LabelError("; ".join(problems))
    return given


def _known(name: str, value: str | None, known: Collection[str], given: dict[str, Any], problems: list[str]) -> None:
    """A given ``value`` (None: not given) of the taxonomy's ``known`` ones goes to ``given``; else a problem."""
    if value is None:
        return
    if value in known:
        given[name] = value
    else:
        problems.append(f"unknown {name} {value[:64]!r}; known: {', '.join(known)}")


def merge_corrections(examples: Sequence[Example], data_hash: str, corrections: Sequence[Correction],
                      taxonomy: Taxonomy, *, min_per_topic: int = 5) -> MergedCorpus:
    """The corpus plus the corrections (same id: the correction wins), with a hash of both.

    ``min_per_topic``: a topic needs this many training examples in all; a
    correction of a topic below it is left out (and counted), never a crash.
    """
    made = [correction_example(c, taxonomy) for c in corrections]
    known = [e for e in made if e.topic in taxonomy.topics]
    unknown = len(made) - len(known)
    replaced = {e.id for e in known}
    base = [e for e in examples if e.id not in replaced]
    counts = Counter(e.topic for e in base if e.split == "train") + Counter(e.topic for e in known if e.split == "train")
    too_few = Counter(e.topic for e in known if counts[e.topic] < min_per_topic)
    kept = [e for e in known if counts[e.topic] >= min_per_topic]
    merged = base + kept
    shared = threads_in_both_splits(merged)
    if shared:  # a corpus thread reused by corrections: the whole thread goes where the corpus put it
        split_of = {e.thread_id: e.split for e in base}
        merged = base + [replace(e, split=split_of.get(e.thread_id, e.split)) for e in kept]
    extra = [e for e in merged if e.id in {k.id for k in kept} and e.queue is not None and e.split == "train"]
    digest = hashlib.sha256(data_hash.encode())
    for correction in sorted(corrections, key=lambda c: c.inquiry_id):
        digest.update(json.dumps([correction.inquiry_id, dict(correction.labels)], sort_keys=True, default=str).encode())
    return MergedCorpus(
        examples=merged,
        extra_labels=extra,
        data_hash=digest.hexdigest() if corrections else data_hash,
        used=len(kept),
        unknown_topic=unknown,
        too_few=dict(too_few),
    )


def corrections_of(rows: Iterable[Any]) -> list[Correction]:
    """Corrections from the store's labelled-inquiry rows (``inquiry_id``, ``thread_id``, ``subject``, ``text``,
    ``language``, ``topic``, ``labels``)."""
    return [Correction(inquiry_id=r.inquiry_id, thread=str(r.thread_id), subject=r.subject, body=r.text,
                       language=r.language, topic=r.topic, labels=dict(r.labels)) for r in rows]
