"""Training the default model from the labelled corpus, in seconds, reproducibly."""

from __future__ import annotations

import hashlib
import json
import platform
import random
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from importlib import metadata
from typing import Any

import scipy.sparse as sp

from classifiers.corpus import Example, of_split
from classifiers.flags import MIN_EXAMPLES, FlagClassifier
from classifiers.holdback import REASONS, HoldBackClassifier
from classifiers.intents import IntentClassifier
from classifiers.inputs import TriageInput, language_text, topic_text
from classifiers.language import CharLanguageModel
from classifiers.model import ModelInfo, TriageModel
from classifiers.taxonomy import Taxonomy
from classifiers.topics import TopicClassifier
from pipeline.errors import ClassifierError

DEFAULT_PARAMETERS: Mapping[str, Mapping[str, Any]] = {
    "language": {"ngram_range": (1, 4), "alpha": 0.1, "min_df": 2},
    "topics": {"word_ngrams": (1, 2), "char_ngrams": (2, 5), "min_df": 2, "C": 0.5, "calibration_folds": 5},
    "flags": {"C": 3.0},
    "intents": {"word_ngrams": (1, 2), "char_ngrams": (2, 5), "min_df": 2, "C": 0.5, "calibration_folds": 3, "threshold": 0.5},
    "holdback": {"C": 2.0, "section_C": 0.5, "folds": 5, "threshold": 0.4},
}
# From this many training examples the estimators learn from words only and calibrate on one held-out share instead
# of cross-validating, and the language model reads a sample of each language: with tens of thousands of examples
# character n-grams and k folds add little but cost most of the time (bench/train.py: 50,000 in under a minute).
LARGE_CORPUS_FROM = 10_000
LARGE_CORPUS_PARAMETERS: Mapping[str, Mapping[str, Any]] = {
    "language": {**DEFAULT_PARAMETERS["language"], "examples_per_language": 2_500},
    "topics": {**DEFAULT_PARAMETERS["topics"], "char_ngrams": None, "calibration_holdout": 0.2, "tol": 1e-3},
    "flags": DEFAULT_PARAMETERS["flags"],
    "intents": {**DEFAULT_PARAMETERS["intents"], "char_ngrams": None, "calibration_holdout": 0.2, "tol": 1e-3},
    "holdback": {**DEFAULT_PARAMETERS["holdback"], "calibration_holdout": 0.2},
}
# Signals learned from the corpus labels, and how to read each label off an example.
LEARNED_FLAGS = {"complaint": lambda e: e.complaint, "urgent": lambda e: e.urgent}
# Names how the estimators learn; part of every model's version, so a change of method is a new version.
ALGORITHM = "char-nb+oov-gate/1; word+char-svm+temperature/2; flags-logreg/1; intents-neg-ovr-svm+platt/1; holdback-svm+platt+logreg/1"
_SNIPPETS_PER_EXAMPLE = 3
_WORD = re.compile(r"\S+")
_LIBRARIES = ("scikit-learn", "numpy", "scipy", "skops", "langdetect")


def library_versions() -> dict[str, str]:
    """The versions of the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def short_snippets(text: str, rng: random.Random, count: int) -> list[str]:
    """A few runs of 2-8 consecutive words of ``text``, as the short notes the language model must get right."""
    words = [w for w in _WORD.findall(text) if any(c.isalpha() for c in w)]
    if len(words) < 4:
        return []
    snippets = []
    for _ in range(count):
        size = rng.randint(2, min(8, len(words)))
        start = rng.randint(0, len(words) - size)
        snippets.append(" ".join(words[start : start + size]))
    return snippets


def language_training_set(examples: Sequence[Example], seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts and languages for the n-gram model: every example's own words, and short runs of them."""
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[str] = []
    for example in examples:
        text = language_text(TriageInput.from_text(example.subject, example.body))
        for piece in [text, *short_snippets(text, rng, _SNIPPETS_PER_EXAMPLE)]:
            texts.append(piece)
            labels.append(example.language)
    return texts, labels


def sample_per_language(examples: Sequence[Example], per_language: int | None, seed: int = 0) -> list[Example]:
    """At most ``per_language`` examples of each language (all of a language with fewer), in corpus order."""
    if per_language is None:
        return list(examples)
    rows: dict[str, list[int]] = {}
    for row, example in enumerate(examples):
        rows.setdefault(example.language, []).append(row)
    rng = random.Random(seed)
    kept = sorted(row for found in rows.values() for row in (rng.sample(found, per_language) if len(found) > per_language else found))
    return [examples[row] for row in kept]


def parameters_for(examples: int) -> Mapping[str, Mapping[str, Any]]:
    """The estimators' parameters for a training set of ``examples``: the defaults, or the large-corpus ones."""
    return LARGE_CORPUS_PARAMETERS if examples >= LARGE_CORPUS_FROM else DEFAULT_PARAMETERS


def topic_training_set(examples: Sequence[Example]) -> tuple[list[str], list[str]]:
    """Texts and topics for the topic classifier."""
    texts = [topic_text(TriageInput.from_text(e.subject, e.body)) for e in examples]
    return texts, [e.topic for e in examples]


def intent_text(example: Example) -> str:
    """The text intents are read from: what production reads (subject, the sender's new text, forwarded text when short)."""
    return topic_text(TriageInput.from_text(example.subject, example.body))


def intent_examples(examples: Sequence[Example], working: Sequence[str]) -> list[Example]:
    """The examples a reply answers (standard, in a working language, with intents)."""
    return [e for e in examples if e.intents and e.standard and e.language in working]


def intent_training_set(examples: Sequence[Example], working: Sequence[str]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Texts and intents of the examples a reply answers."""
    chosen = intent_examples(examples, working)
    return [intent_text(e) for e in chosen], [tuple(e.intents or ()) for e in chosen]


def holdback_examples(examples: Sequence[Example], extra: Sequence[Example] = ()) -> list[Example]:
    """The examples the hold-back classifier learns from: the corpus's, then extra labelled ones replacing same-id examples.

    ``extra`` is where later labels come from, e.g. staff reassigning an inquiry to another section or taking it
    off the front desk: each is an ``Example`` with ``standard``, ``queue`` and ``hold_reason`` as staff decided.
    """
    replaced = {e.id for e in extra}
    return [e for e in examples if e.id not in replaced] + list(extra)


def holdback_labels(examples: Sequence[Example], taxonomy: Taxonomy) -> tuple[list[bool], list[str], list[str | None]]:
    """Per example: standard or not, the section whose work it is (its queue when held back), and the hold reason."""
    standard = [e.standard for e in examples]
    sections = [
        (e.queue or taxonomy.section_of(e.topic)) if not e.standard else taxonomy.section_of(e.topic)
        for e in examples
    ]
    return standard, sections, [e.hold_reason for e in examples]


def rule_held(example: Example) -> bool:
    """Whether the example is held back for a reason only a desk's routing rule gives (not one the model learns).

    Such reasons ("conflicting instructions", "instruction changed") rest on a signal a rule checks: learned
    from their texts, which read like any instruction, the hold-back model would hold plain instructions with them.
    """
    return not example.standard and example.hold_reason is not None and example.hold_reason not in REASONS


def has_intent_labels(examples: Sequence[Example]) -> bool:
    """True when the examples carry enough reply labels to learn intents and hold-backs (a corpus may have none)."""
    intents = {i for e in examples if e.standard for i in (e.intents or ())}
    held = sum(1 for e in examples if not e.standard)
    return len(intents) >= 2 and held >= MIN_EXAMPLES and len(examples) - held >= MIN_EXAMPLES


def train_intents(
    examples: Sequence[Example],
    taxonomy: Taxonomy,
    parameters: Mapping[str, Mapping[str, Any]] = DEFAULT_PARAMETERS,
    extra: Sequence[Example] = (),
    text_of: Callable[[Example], str] = intent_text,
) -> tuple[IntentClassifier, HoldBackClassifier]:
    """The intent classifier and the hold-back classifier on its features, from training examples (and extra labels).

    ``text_of`` gives an example's ``intent_text`` (a caller that has them already passes a lookup).
    """
    working = taxonomy.working_languages
    chosen = intent_examples(examples, working)
    intent_model = IntentClassifier(**parameters.get("intents", {}))
    answered = intent_model.fit_transform([text_of(e) for e in chosen], [tuple(e.intents or ()) for e in chosen])
    held = [e for e in holdback_examples(examples, extra) if e.language in working and not rule_held(e)]
    standard, sections, reasons = holdback_labels(held, taxonomy)
    # Most held examples are the ones just learned from: their feature rows are reused, the others transformed.
    answered_row = {id(e): row for row, e in enumerate(chosen)}
    others = [e for e in held if id(e) not in answered_row]
    stacked = sp.vstack([answered, intent_model.transform([text_of(e) for e in others])], format="csr")
    other_row = {id(e): len(chosen) + row for row, e in enumerate(others)}
    features = stacked[[answered_row.get(id(e), other_row.get(id(e), -1)) for e in held]]
    holdback = HoldBackClassifier(**parameters.get("holdback", {})).fit(features, standard, sections, reasons)
    return intent_model, holdback


def model_version(data_hash: str, parameters: Mapping[str, Any], libraries: Mapping[str, str], trained_at: datetime) -> str:
    """A version naming the day and everything that shaped the model (data, parameters, libraries)."""
    digest = hashlib.sha256(json.dumps([ALGORITHM, data_hash, parameters, libraries], sort_keys=True, default=str).encode())
    return f"{trained_at:%Y%m%d}-{digest.hexdigest()[:8]}"


def train_model(
    examples: Sequence[Example],
    data_hash: str,
    taxonomy: Taxonomy,
    *,
    trained_at: datetime,
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
    extra_labels: Sequence[Example] = (),
) -> TriageModel:
    """Fit the language, topic, intent and hold-back models on the training split; the test split stays held out.

    ``parameters`` default to ``parameters_for`` the training split's size. ``extra_labels`` are further labelled
    examples for the hold-back decision (staff reassignments).
    """
    train = of_split(examples, "train")
    parameters = parameters if parameters is not None else parameters_for(len(train))
    unknown = sorted({e.topic for e in examples} - set(taxonomy.topics))
    if unknown:
        raise ClassifierError(
            f"the corpus uses topics the taxonomy does not know: {', '.join(unknown)}; "
            "fix the examples or add the topics to the taxonomy"
        )
    if not train:
        raise ClassifierError("the corpus has no training examples (split = 'train')")
    try:
        language = dict(parameters["language"])
        per_language = language.pop("examples_per_language", None)
        language_model = CharLanguageModel(**language).fit(
            *language_training_set(sample_per_language(train, per_language)))
        texts, topics = topic_training_set(train)
        topic_model = TopicClassifier(**parameters["topics"])
        features = topic_model.fit_transform(texts, topics)
        text_by_example = {id(e): text for e, text in zip(train, texts)}  # intents read the same text as topics
        flags = {}
        for name, label in LEARNED_FLAGS.items():
            answers = [bool(label(e)) for e in train]
            if min(sum(answers), len(answers) - sum(answers)) >= MIN_EXAMPLES:
                flags[name] = FlagClassifier(**parameters.get("flags", {})).fit(features, answers)
        intent_model, holdback = train_intents(
            train, taxonomy, parameters, extra_labels, lambda e: text_by_example.get(id(e)) or intent_text(e),
        ) if has_intent_labels(train) else (None, None)
    except ValueError as exc:
        raise ClassifierError(f"cannot train on this corpus: {exc}") from exc
    libraries = library_versions()
    info = ModelInfo(
        version=model_version(data_hash, parameters, libraries, trained_at),
        data_hash=data_hash,
        trained_at=trained_at.isoformat(timespec="seconds"),
        examples=len(train),
        topics=tuple(str(c) for c in topic_model.classes_),
        languages=tuple(str(c) for c in language_model.classes_),
        libraries=libraries,
        parameters={"algorithm": ALGORITHM, **{k: dict(v) for k, v in parameters.items()}},
    )
    return TriageModel(language=language_model, topics=topic_model, info=info, flags=flags,
                       intents=intent_model, holdback=holdback)
