"""The template catalogue: each reply template's id (= the intent it answers), version and topic.

The catalogue is one TOML file (``config/templates/catalogue.toml``) beside the
templates themselves (``<language>/<id>.j2``). A template is chosen by intent:
its id is the intent id the triage decision names (``renewal--grace_period``),
never by words in the message. The catalogue also holds the office's facts that
templates may print (``[office.<language>]`` and ``[links]``). Reading it is
pure apart from reading the file; every problem is reported with its line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from classifiers.tomlines import TomlLines
from pipeline.config import parse_toml, validation_problems
from pipeline.errors import ConfigError

CATALOGUE_FILE = "catalogue.toml"
TEMPLATE_ID = re.compile(r"^[a-z][a-z0-9_]*(?:--[a-z0-9_]+)?$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2,4})?$")
Kind = Literal["reply", "acknowledgement"]
Problem = tuple[str, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TemplateModel(_Strict):
    id: str
    kind: Kind = "reply"
    topic: str | None = None
    version: int = Field(ge=1)
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _no_when(cls, value: Any) -> Any:
        if isinstance(value, dict) and "when" in value:
            raise ValueError("[when] rules are gone: a template is chosen by the intent its id names; "
                             "delete the [when] table")
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not TEMPLATE_ID.match(value):
            raise ValueError(f"template id {value!r} must be <topic> or <topic>--<variant> (a-z, 0-9, _)")
        return value


class _CatalogueModel(_Strict):
    languages: tuple[str, ...] = Field(min_length=1)
    default_language: str
    html: bool = True
    subject: dict[str, str] = Field(default_factory=dict)
    office: dict[str, dict[str, str]] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict)
    template: tuple[_TemplateModel, ...] = Field(min_length=1)


@dataclass(frozen=True)
class TemplateSpec:
    """One template of the catalogue: the intent (its id) and topic it answers."""

    id: str
    kind: Kind
    topic: str | None
    version: int
    description: str = ""

    @property
    def variant(self) -> str:
        """The variant's name: the part of the id after ``--``, or ``default`` (the topic's general explainer)."""
        return self.id.split("--", 1)[1] if "--" in self.id else "default"


@dataclass(frozen=True)
class Catalogue:
    """Every template the office has, the languages they are written in, and the office's own facts."""

    directory: Path
    languages: tuple[str, ...]
    default_language: str
    templates: tuple[TemplateSpec, ...]
    html: bool = True
    subject_fallback: Mapping[str, str] = field(default_factory=dict)
    office: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    refused: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def by_id(self, template_id: str) -> TemplateSpec | None:
        """The template with this id, if the catalogue has one."""
        return next((spec for spec in self.templates if spec.id == template_id), None)

    def reply(self, intent: str) -> TemplateSpec | None:
        """The reply template that answers an intent (its id is the intent id), if the catalogue has one."""
        spec = self.by_id(intent)
        return spec if spec is not None and spec.kind == "reply" else None

    def for_topic(self, topic: str) -> tuple[TemplateSpec, ...]:
        """The reply templates of a topic, in the catalogue's order."""
        return tuple(spec for spec in self.templates if spec.kind == "reply" and spec.topic == topic)

    def acknowledgement(self) -> TemplateSpec | None:
        """The acknowledgement template, if there is one."""
        return next((spec for spec in self.templates if spec.kind == "acknowledgement"), None)

    def path_of(self, template_id: str, language: str) -> Path:
        """Where the file of a template in a language is."""
        return self.directory / language / f"{template_id}.j2"

    def office_facts(self, language: str) -> dict[str, str]:
        """The office's facts in a language (the default language's where the language lacks one)."""
        facts = dict(self.office.get(self.default_language, {}))
        facts.update(self.office.get(language, {}))
        return facts


def _located(path: Path, lines: TomlLines, problems: list[Problem]) -> list[Problem]:
    located = []
    for key, message in problems:
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")] if key else []
        line = lines.line_of(parts) if parts else None
        located.append((f"{path}:{line}" if line else str(path), f"{key}: {message}" if key else message))
    return located


def _check(model: _CatalogueModel, topics: Collection[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    for code in model.languages:
        if not _LANGUAGE.match(code):
            problems.append(("languages", f"{code!r} is not an ISO 639-1 language code"))
    if model.default_language not in model.languages:
        problems.append(("default_language", f"{model.default_language!r} is not one of languages"))
    seen: set[str] = set()
    for index, spec in enumerate(model.template):
        where = f"template.{index}"
        if spec.id in seen:
            problems.append((f"{where}.id", f"duplicate template id {spec.id!r}"))
        seen.add(spec.id)
        if spec.kind == "reply":
            if spec.topic is None:
                problems.append((f"{where}.topic", f"reply template {spec.id!r} needs a topic"))
                continue
            if spec.id.split("--", 1)[0] != spec.topic:
                problems.append((f"{where}.id", f"template id {spec.id!r} must start with its topic {spec.topic!r}"))
            if topics is not None and spec.topic not in topics:
                problems.append((f"{where}.topic", f"unknown topic {spec.topic!r}; known: {', '.join(topics)}"))
    if sum(spec.kind == "acknowledgement" for spec in model.template) > 1:
        problems.append(("template", "more than one acknowledgement template"))
    return problems


def _spec(model: _TemplateModel) -> TemplateSpec:
    return TemplateSpec(id=model.id, kind=model.kind, topic=model.topic, version=model.version,
                        description=model.description)


def parse_catalogue(text: str, path: Path, topics: Collection[str] | None = None) -> Catalogue:
    """Validate the text of a catalogue file; raise ``ConfigError`` with every problem at its line."""
    lines = TomlLines(text)
    raw = parse_toml(text, path)
    try:
        model = _CatalogueModel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_located(path, lines, validation_problems(exc))) from exc
    problems = _check(model, topics)
    if problems:
        raise ConfigError(_located(path, lines, problems))
    return Catalogue(
        directory=path.parent,
        languages=model.languages,
        default_language=model.default_language,
        templates=tuple(_spec(spec) for spec in model.template),
        html=model.html,
        subject_fallback=dict(model.subject),
        office={language: dict(values) for language, values in model.office.items()},
        links=dict(model.links),
    )


def load_catalogue(directory: Path, topics: Collection[str] | None = None) -> Catalogue:
    """Read and validate ``catalogue.toml`` in a templates directory."""
    path = directory / CATALOGUE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([(str(path), "template catalogue not found (replies.templates)")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([(str(path), f"cannot read the template catalogue: {exc}")]) from exc
    return parse_catalogue(text, path, topics)
