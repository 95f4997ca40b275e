"""Training a candidate model from the corpus and staff corrections, and comparing models on the same held-out data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from classifiers.config import TriageConfig, resolve
from classifiers.corpus import Example, corpus_files, of_split, read_corpus
from classifiers.corrections import Correction, MergedCorpus, merge_corrections
from classifiers.evaluation import Report, evaluate, summary
from classifiers.inputs import TriageInput
from classifiers.model import TriageModel
from classifiers.training import DEFAULT_PARAMETERS, train_model
from classifiers.triage import triage_inputs
from pipeline.config import TriageSettings

# Stages reported to ``progress`` in this order.
STAGES = ("reading the corpus", "training", "scoring the held-out split")
Progress = Callable[[str], None]


def _silent(stage: str) -> None:
    return None


def report_metrics(report: Report) -> dict[str, Any]:
    """The figures stored with a version: the summary, per-topic F1 and the confusion matrix."""
    overall = report.overall
    return summary(report) | {
        "per_topic": {t: {"precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4),
                          "support": s.support} for t, s in overall.per_topic.items()},
        "confusion": {"labels": list(overall.labels), "matrix": [list(r) for r in overall.confusion]},
    }


def training_data(settings: TriageSettings, config: TriageConfig, corrections: Sequence[Correction]) -> MergedCorpus:
    """The configured corpus with the corrections merged in."""
    examples, data_hash = read_corpus(corpus_files(resolve(settings.corpus)))
    folds = int(DEFAULT_PARAMETERS["topics"].get("calibration_folds", 5))
    return merge_corrections(examples, data_hash, corrections, config.taxonomy, min_per_topic=folds)


@dataclass(frozen=True)
class Trained:
    """A trained candidate and what went into it."""

    model: TriageModel
    data: MergedCorpus


def train_candidate(settings: TriageSettings, config: TriageConfig, corrections: Sequence[Correction] = (), *,
                    progress: Progress = _silent, now: datetime | None = None) -> Trained:
    """A model trained on the corpus plus corrections, with its held-out metrics attached."""
    progress(STAGES[0])
    data = training_data(settings, config, corrections)
    progress(STAGES[1])
    model = train_model(data.examples, data.data_hash, config.taxonomy,
                        trained_at=now or datetime.now(timezone.utc), extra_labels=data.extra_labels)
    progress(STAGES[2])
    test = of_split(data.examples, "test")
    if test:
        metrics = report_metrics(evaluate(test, model, config)) | {"corrections": data.used}
        model = replace(model, info=replace(model.info, metrics=metrics))
    return Trained(model=model, data=data)


def held_out(settings: TriageSettings, config: TriageConfig, corrections: Sequence[Correction] = ()) -> list[Example]:
    """Today's held-out examples (corpus and corrections): the common ground two models are compared on."""
    return of_split(training_data(settings, config, corrections).examples, "test")


def score(model: TriageModel, examples: Sequence[Example], config: TriageConfig) -> dict[str, Any]:
    """A model's figures on ``examples``."""
    return report_metrics(evaluate(examples, model, config))


CHANGED_FIELDS = ("language", "topic", "queue", "standard")


def changed_decisions(items: Sequence[tuple[int, str, TriageInput]], first: TriageModel, second: TriageModel,
                      config: TriageConfig) -> list[dict[str, Any]]:
    """The items (id, subject, input) the two models decide differently, with each changed field as [first, second]."""
    if not items:
        return []
    inputs = [i for _, _, i in items]
    changes = []
    for (item_id, subject, _), a, b in zip(items, triage_inputs(inputs, first, config), triage_inputs(inputs, second, config)):
        fields = {f: [getattr(a, f), getattr(b, f)] for f in CHANGED_FIELDS if getattr(a, f) != getattr(b, f)}
        if fields:
            changes.append({"inquiry_id": item_id, "subject": subject, "changes": fields})
    return changes
