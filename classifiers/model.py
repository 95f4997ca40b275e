"""A trained triage model: the language, topic, intent and hold-back estimators with what they were trained on and how well they did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from classifiers.flags import FlagClassifier
from classifiers.holdback import HoldBackClassifier
from classifiers.intents import IntentClassifier
from classifiers.language import CharLanguageModel
from classifiers.topics import TopicClassifier


@dataclass(frozen=True)
class ModelInfo:
    """Where a model comes from: version, training-data hash, metrics, library versions."""

    version: str
    data_hash: str
    trained_at: str
    examples: int
    topics: tuple[str, ...]
    languages: tuple[str, ...]
    metrics: Mapping[str, Any] = field(default_factory=dict)
    libraries: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The information as plain data (stored inside the model file)."""
        return {
            "version": self.version,
            "data_hash": self.data_hash,
            "trained_at": self.trained_at,
            "examples": self.examples,
            "topics": list(self.topics),
            "languages": list(self.languages),
            "metrics": dict(self.metrics),
            "libraries": dict(self.libraries),
            "parameters": dict(self.parameters),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelInfo":
        """The information read back from a model file."""
        return cls(
            version=str(data["version"]),
            data_hash=str(data["data_hash"]),
            trained_at=str(data["trained_at"]),
            examples=int(data["examples"]),
            topics=tuple(data["topics"]),
            languages=tuple(data["languages"]),
            metrics=dict(data.get("metrics", {})),
            libraries=dict(data.get("libraries", {})),
            parameters=dict(data.get("parameters", {})),
        )


@dataclass(frozen=True)
class TriageModel:
    """The fitted estimators triage needs, and their provenance."""

    language: CharLanguageModel
    topics: TopicClassifier
    info: ModelInfo
    flags: Mapping[str, FlagClassifier] = field(default_factory=dict)
    intents: IntentClassifier | None = None
    holdback: HoldBackClassifier | None = None

    @property
    def version(self) -> str:
        """The model's version, stored with every decision it makes."""
        return self.info.version
