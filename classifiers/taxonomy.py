"""The office's taxonomy (languages, topics, queues, bands, signal words), read from a TOML file.

Nothing here is hard-coded: the default office's ids live in ``config/taxonomy.toml``
and another office loads its own file. Problems are reported with the file's
line, as ``("path/to/taxonomy.toml:12", "message")``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from classifiers.textnorm import phrase_pattern
from classifiers.tomlines import TomlLines
from pipeline.config import parse_toml, validation_problems
from pipeline.errors import ConfigError

LEXICON_SIGNALS = ("complaint", "escalation", "urgent", "instruction_pay", "instruction_abandon", "instruction_abandon_after",
                   "instruction_change")
_SIGNAL_SETTINGS = ("deadline_days", "multi_topic_margin", "learned_threshold", "instruction_days")
_ID = r"^[a-z][a-z0-9_]*$"
_LANGUAGE = r"^[a-z]{2,3}(-[a-z]{2,4})?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _LanguagesModel(_Strict):
    working: tuple[str, ...] = Field(min_length=1)
    min_letters: int = Field(default=8, ge=1, le=1000)
    working_prior: float = Field(default=4.0, ge=1.0, le=1000.0)

    @field_validator("working")
    @classmethod
    def _codes(cls, working: tuple[str, ...]) -> tuple[str, ...]:
        for code in working:
            if not re.match(_LANGUAGE, code) or code == "und":
                raise ValueError(f"working language {code!r} is not an ISO 639-1 code")
        return working


class _BandsModel(_Strict):
    high: float = Field(gt=0, le=1)
    medium: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "_BandsModel":
        if self.medium > self.high:
            raise ValueError(f"medium ({self.medium}) must not be above high ({self.high})")
        return self


class _QueueModel(_Strict):
    description: str = ""


class _TopicModel(_Strict):
    section: str
    label: str = ""
    description: str = ""


class _SignalsModel(_Strict):
    model_config = ConfigDict(extra="allow", frozen=True)

    deadline_days: int = Field(default=7, ge=0, le=365)
    multi_topic_margin: float = Field(default=0.0, ge=-2, le=2)
    learned_threshold: float = Field(default=0.5, gt=0, lt=1)
    instruction_days: int = Field(default=120, ge=1, le=3650)


class _EntityModel(_Strict):
    patterns: tuple[str, ...] = Field(min_length=1)
    label: str = ""


class _TaxonomyModel(_Strict):
    front_desk: str = "customer_service"
    entities: dict[str, _EntityModel] = Field(default_factory=dict)
    languages: _LanguagesModel
    bands: dict[str, _BandsModel]
    queues: dict[str, _QueueModel] = Field(min_length=1)
    topics: dict[str, _TopicModel] = Field(min_length=2)
    signals: _SignalsModel = _SignalsModel()


@dataclass(frozen=True)
class Bands:
    """Thresholds that turn a confidence into a band: ``high``, ``medium`` or ``low``."""

    high: float
    medium: float

    def band(self, confidence: float) -> str:
        """The band of ``confidence``."""
        if confidence >= self.high:
            return "high"
        if confidence >= self.medium:
            return "medium"
        return "low"


@dataclass(frozen=True)
class Topic:
    """One topic: its id, the section (queue) whose work it is, and how staff read it."""

    id: str
    section: str
    label: str


@dataclass(frozen=True)
class SignalWords:
    """The compiled word lists of the lexicon signals, per signal and language (folded text)."""

    patterns: Mapping[str, Mapping[str, re.Pattern[str]]] = field(default_factory=dict)

    def find(self, signal: str, text: str, languages: tuple[str, ...]) -> list[str]:
        """The phrases of ``signal`` in folded ``text``, looked up in the word lists of ``languages``."""
        found: list[str] = []
        for language in languages:
            pattern = self.patterns.get(signal, {}).get(language)
            if pattern is not None:
                found.extend(m.group(0) for m in pattern.finditer(text))
        return found

    def spans(self, signal: str, text: str, languages: tuple[str, ...]) -> list[tuple[int, int]]:
        """Where the phrases of ``signal`` are in folded ``text`` (start, end), in the lists of ``languages``."""
        found: list[tuple[int, int]] = []
        for language in languages:
            pattern = self.patterns.get(signal, {}).get(language)
            if pattern is not None:
                found.extend(m.span() for m in pattern.finditer(text))
        return sorted(set(found))


@dataclass(frozen=True)
class Taxonomy:
    """Everything an office configures about what it triages."""

    working_languages: tuple[str, ...]
    min_letters: int
    working_prior: float
    language_bands: Bands
    topic_bands: Bands
    queues: Mapping[str, str]
    topics: Mapping[str, Topic]
    deadline_days: int
    multi_topic_margin: float
    learned_threshold: float
    words: SignalWords
    front_desk: str = "customer_service"  # the queue of standard inquiries answered with a suggested reply
    extra_entities: tuple[tuple[str, re.Pattern[str]], ...] = ()  # the desk's own reference kinds, in order
    instruction_days: int = 120  # an earlier pay/let-lapse instruction counts against a new one this many days

    @property
    def topic_ids(self) -> tuple[str, ...]:
        """The topic ids, in the order of the file."""
        return tuple(self.topics)

    def section_of(self, topic: str) -> str:
        """The queue whose work ``topic`` is (the first queue for an unknown topic)."""
        spec = self.topics.get(topic)
        return spec.section if spec is not None else next(iter(self.queues))


def _located(path: Path, lines: TomlLines, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    located = []
    for key, message in problems:
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")] if key else []
        line = lines.line_of(parts) if parts else None
        where = f"{path}:{line}" if line else str(path)
        located.append((where, f"{key}: {message}" if key else message))
    return located


def _lexicons(raw: Mapping[str, Any]) -> tuple[SignalWords, list[tuple[str, str]]]:
    patterns: dict[str, dict[str, re.Pattern[str]]] = {}
    problems: list[tuple[str, str]] = []
    for name, value in raw.items():
        if name in _SIGNAL_SETTINGS:
            continue
        if name not in LEXICON_SIGNALS:
            problems.append((f"signals.{name}", f"unknown signal word list; known: {', '.join(LEXICON_SIGNALS)}"))
            continue
        if not isinstance(value, Mapping):
            problems.append((f"signals.{name}", "must be a table of language = [phrases]"))
            continue
        for language, phrases in value.items():
            if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
                problems.append((f"signals.{name}.{language}", "must be a list of phrases"))
                continue
            pattern = phrase_pattern(phrases)
            if pattern is not None:
                patterns.setdefault(name, {})[language] = pattern
    return SignalWords(patterns), problems


def parse_taxonomy(text: str, path: Path) -> Taxonomy:
    """Validate the text of a taxonomy file; raise ``ConfigError`` listing each problem with its line."""
    lines = TomlLines(text)
    raw = parse_toml(text, path)
    problems: list[tuple[str, str]] = []
    model: _TaxonomyModel | None = None
    try:
        model = _TaxonomyModel.model_validate(raw)
    except ValidationError as exc:
        problems.extend(validation_problems(exc))
    words, lexicon_problems = _lexicons(raw.get("signals", {}) if isinstance(raw.get("signals"), Mapping) else {})
    problems.extend(lexicon_problems)
    if model is not None:
        for band_name in ("language", "topic"):
            if band_name not in model.bands:
                problems.append(("bands", f"missing [bands.{band_name}] (high and medium thresholds)"))
        for name in model.bands:
            if name not in ("language", "topic"):
                problems.append((f"bands.{name}", "unknown band table; known: language, topic"))
        for name in (*model.queues, *model.topics):
            if not re.match(_ID, name):
                problems.append(("", f"id {name!r} must be lower-case letters, digits and _"))
        if "section" in model.queues:
            problems.append(("queues.section", "'section' is reserved in routing rules; name the queue otherwise"))
        if model.front_desk not in model.queues:
            problems.append(("front_desk", f"unknown queue {model.front_desk!r}; known: {', '.join(model.queues)}"))
        for kind, entity in model.entities.items():
            if not re.match(_ID, kind):
                problems.append((f"entities.{kind}", f"id {kind!r} must be lower-case letters, digits and _"))
            for pattern in entity.patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append((f"entities.{kind}.patterns", f"not a valid regular expression {pattern!r}: {exc}"))
        for topic_id, topic in model.topics.items():
            if topic.section not in model.queues:
                problems.append((f"topics.{topic_id}.section", f"unknown queue {topic.section!r}; known: {', '.join(model.queues)}"))
    if problems or model is None:
        raise ConfigError(_located(path, lines, problems))
    return Taxonomy(
        working_languages=model.languages.working,
        min_letters=model.languages.min_letters,
        working_prior=model.languages.working_prior,
        language_bands=Bands(model.bands["language"].high, model.bands["language"].medium),
        topic_bands=Bands(model.bands["topic"].high, model.bands["topic"].medium),
        queues={name: queue.description for name, queue in model.queues.items()},
        topics={
            topic_id: Topic(topic_id, topic.section, topic.label or topic_id.replace("_", " "))
            for topic_id, topic in model.topics.items()
        },
        deadline_days=model.signals.deadline_days,
        multi_topic_margin=model.signals.multi_topic_margin,
        learned_threshold=model.signals.learned_threshold,
        instruction_days=model.signals.instruction_days,
        words=words,
        front_desk=model.front_desk,
        extra_entities=tuple((kind, re.compile(pattern)) for kind, entity in model.entities.items()
                             for pattern in entity.patterns),
    )


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate a taxonomy file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([(str(path), "taxonomy file not found (triage.taxonomy)")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([(str(path), f"cannot read taxonomy file: {exc}")]) from exc
    return parse_taxonomy(text, path)
