"""How well triage does on labelled examples: topics, languages, confidence bands and signals."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.metrics import precision_recall_fscore_support

from classifiers.config import TriageConfig
from classifiers.corpus import Example
from classifiers.decision import Decision
from classifiers.inputs import TriageInput
from classifiers.model import TriageModel
from classifiers.routing import RouteFacts, Routing, route
from classifiers.triage import triage_inputs


@dataclass(frozen=True)
class TopicScore:
    """Precision, recall and F1 of one topic, and how many examples had it."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class BandScore:
    """The share of examples whose confidence fell in a band, and the accuracy among them."""

    share: float
    accuracy: float
    count: int


@dataclass(frozen=True)
class Scores:
    """Topic and language figures over one set of examples."""

    count: int
    macro_f1: float
    topic_accuracy: float
    language_accuracy: float
    per_topic: Mapping[str, TopicScore]
    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    topic_bands: Mapping[str, BandScore]
    language_bands: Mapping[str, BandScore]


@dataclass(frozen=True)
class RoutingScore:
    """Queues against those the rules give for the labels: accuracy, and how well non-standard ones are recognised."""

    queue_accuracy: float
    standard_accuracy: float
    non_standard_recall: float
    non_standard_precision: float
    non_standard: int


@dataclass(frozen=True)
class ReplyScores:
    """How well the reply side is served: intents asked, hold-backs, sections and references, against the labels."""

    count: int  # examples with reply labels
    intent_count: int  # of them, standard ones with intents
    intent_exact_set: float  # answer intents are exactly the labelled set
    intent_exact_order: float  # ... and in the labelled order
    intent_top1: float  # the most probable intent is the first one asked
    hold_precision: float
    hold_recall: float  # non-standard recognised
    held: int  # labelled held back
    section_accuracy: float  # held-back examples sent to the labelled section
    hold_reason_recall: Mapping[str, float]  # per labelled reason: share recognised as needing a person
    hold_reason_count: Mapping[str, int]
    references: float  # reference numbers in the text that the decision carries
    reference_count: int


@dataclass(frozen=True)
class Report:
    """The figures of ``triage eval``: overall, per language, and the signals."""

    overall: Scores
    per_language: Mapping[str, Scores]
    signals: Mapping[str, TopicScore] = field(default_factory=dict)
    queues: Mapping[str, int] = field(default_factory=dict)
    standard_share: float = 0.0
    model_version: str = ""
    language_errors: tuple[tuple[str, str, str], ...] = ()
    routing: RoutingScore | None = None
    replies: ReplyScores | None = None
    replies_per_language: Mapping[str, ReplyScores] = field(default_factory=dict)


_REFERENCE = re.compile(r"(?<![A-Za-z0-9])(DM/\s?\d{3}\s?\d{3}|A\d{4}\s?\d{3})(?!\d)")


def _references(text: str) -> set[str]:
    return {re.sub(r"\s", "", m) for m in _REFERENCE.findall(text)}


def _language_group(language: str, config: TriageConfig) -> str:
    return language if language in config.taxonomy.working_languages else "other"


def score_replies(examples: Sequence[Example], decisions: Sequence[Decision]) -> ReplyScores:
    """Intent, hold-back, section and reference figures of decisions against examples with reply labels."""
    pairs = [(e, d) for e, d in zip(examples, decisions) if e.intents is not None]
    asked = [(e, d) for e, d in pairs if e.standard and e.intents]
    held = [(e, d) for e, d in pairs if not e.standard]
    hold = _binary([not e.standard for e, _ in pairs], [not d.standard for _, d in pairs])
    reasons = Counter(e.hold_reason or "unknown" for e, _ in held)
    caught = Counter(e.hold_reason or "unknown" for e, d in held if not d.standard)
    wanted = carried = 0
    for e, d in pairs:
        refs = _references(f"{e.subject}\n{e.body}")
        values = {x.value for x in d.entities}
        wanted += len(refs)
        carried += len(refs & values)

    def share(hits: int, total: int) -> float:
        return hits / total if total else 0.0

    return ReplyScores(
        count=len(pairs),
        intent_count=len(asked),
        intent_exact_set=share(sum(set(d.answer_intents) == set(e.intents or ()) for e, d in asked), len(asked)),
        intent_exact_order=share(sum(tuple(d.answer_intents) == tuple(e.intents or ()) for e, d in asked), len(asked)),
        intent_top1=share(sum(bool(d.intents) and d.intents[0][0] == (e.intents or ("",))[0] for e, d in asked), len(asked)),
        hold_precision=hold.precision,
        hold_recall=hold.recall,
        held=len(held),
        section_accuracy=share(sum(d.queue == e.queue for e, d in held), len(held)),
        hold_reason_recall={r: share(caught[r], n) for r, n in sorted(reasons.items())},
        hold_reason_count=dict(sorted(reasons.items())),
        references=share(carried, wanted),
        reference_count=wanted,
    )


def _bands(correct: Sequence[bool], bands: Sequence[str]) -> dict[str, BandScore]:
    out = {}
    for band in ("high", "medium", "low"):
        inside = [ok for ok, b in zip(correct, bands) if b == band]
        out[band] = BandScore(
            share=len(inside) / len(correct) if correct else 0.0,
            accuracy=sum(inside) / len(inside) if inside else 0.0,
            count=len(inside),
        )
    return out


def score(examples: Sequence[Example], decisions: Sequence[Decision], topic_order: Sequence[str]) -> Scores:
    """Topic and language figures of decisions against their examples."""
    truth = [e.topic for e in examples]
    predicted = [d.topic for d in decisions]
    present = set(truth)
    labels = [t for t in topic_order if t in present or t in set(predicted)]
    scored = [t for t in labels if t in present]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=scored, zero_division=0
    )
    per_topic = {
        topic: TopicScore(float(p), float(r), float(f), int(s))
        for topic, p, r, f, s in zip(scored, precision, recall, f1, support)
    }
    position = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted):
        matrix[position[t]][position[p]] += 1
    topic_ok = [t == p for t, p in zip(truth, predicted)]
    language_ok = [e.language == d.language for e, d in zip(examples, decisions)]
    return Scores(
        count=len(examples),
        macro_f1=sum(s.f1 for s in per_topic.values()) / len(per_topic) if per_topic else 0.0,
        topic_accuracy=sum(topic_ok) / len(topic_ok) if topic_ok else 0.0,
        language_accuracy=sum(language_ok) / len(language_ok) if language_ok else 0.0,
        per_topic=per_topic,
        labels=tuple(labels),
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        topic_bands=_bands(topic_ok, [d.topic_band for d in decisions]),
        language_bands=_bands(language_ok, [d.language_band for d in decisions]),
    )


def _binary(truth: Sequence[bool], predicted: Sequence[bool]) -> TopicScore:
    tp = sum(t and p for t, p in zip(truth, predicted))
    fp = sum(p and not t for t, p in zip(truth, predicted))
    fn = sum(t and not p for t, p in zip(truth, predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return TopicScore(precision, recall, f1, sum(truth))


def expected_routing(example: Example, decision: Decision, config: TriageConfig) -> Routing:
    """Where the rules send an example when everything about it is as labelled (topic sure, complaint and topics as written)."""
    signals = set(decision.signals.names - {"complaint", "escalation", "multi_topic"})
    if example.complaint:
        signals.add("complaint")
    if example.also:
        signals.add("multi_topic")
    facts = RouteFacts(
        language=example.language, language_band="high", language_confidence=1.0,
        topic=example.topic, topic_band="high", confidence=1.0, topics=(example.topic, *example.also),
        signals=frozenset(signals), sender_domain=None, entity_kinds=frozenset(e.kind for e in decision.entities),
    )
    return route(facts, config.rules, config.taxonomy)


def score_routing(examples: Sequence[Example], decisions: Sequence[Decision], config: TriageConfig) -> RoutingScore:
    """How often decisions land where the labels say, and how many non-standard inquiries are recognised."""
    expected = [expected_routing(e, d, config) for e, d in zip(examples, decisions)]
    count = len(examples) or 1
    non_standard = _binary([not r.standard for r in expected], [not d.standard for d in decisions])
    return RoutingScore(
        queue_accuracy=sum(r.queue == d.queue for r, d in zip(expected, decisions)) / count,
        standard_accuracy=sum(r.standard == d.standard for r, d in zip(expected, decisions)) / count,
        non_standard_recall=non_standard.recall,
        non_standard_precision=non_standard.precision,
        non_standard=non_standard.support,
    )


def evaluate(examples: Sequence[Example], model: TriageModel, config: TriageConfig) -> Report:
    """Triage every example as production would (subject and body split the same way) and score it."""
    items = [TriageInput.from_text(e.subject, e.body) for e in examples]
    decisions = triage_inputs(items, model, config)
    order = config.taxonomy.topic_ids
    per_language = {}
    for language in sorted({e.language for e in examples}):
        chosen = [i for i, e in enumerate(examples) if e.language == language]
        per_language[language] = score([examples[i] for i in chosen], [decisions[i] for i in chosen], order)
    signals = {
        "complaint": _binary([e.complaint for e in examples], [d.signals.complaint or d.signals.escalation for d in decisions]),
        "urgent": _binary([e.urgent for e in examples], [d.signals.urgent for d in decisions]),
        "multi_topic": _binary([bool(e.also) for e in examples], [d.signals.multi_topic for d in decisions]),
    }
    errors = tuple(
        (e.id, e.language, d.language) for e, d in zip(examples, decisions) if e.language != d.language
    )
    return Report(
        overall=score(examples, decisions, order),
        per_language=per_language,
        signals=signals,
        queues=dict(Counter(d.queue for d in decisions)),
        standard_share=sum(d.standard for d in decisions) / len(decisions) if decisions else 0.0,
        model_version=model.version,
        language_errors=errors,
        routing=score_routing(examples, decisions, config),
        replies=score_replies(examples, decisions),
        replies_per_language={
            language: score_replies([examples[i] for i in rows], [decisions[i] for i in rows])
            for language in sorted({_language_group(e.language, config) for e in examples})
            for rows in [[i for i, e in enumerate(examples) if _language_group(e.language, config) == language]]
        },
    )


def replies_json(scores: ReplyScores) -> dict[str, Any]:
    """Reply figures as JSON-ready data."""
    return {
        "count": scores.count,
        "intent_count": scores.intent_count,
        "intent_exact_set": round(scores.intent_exact_set, 4),
        "intent_exact_order": round(scores.intent_exact_order, 4),
        "intent_top1": round(scores.intent_top1, 4),
        "hold_precision": round(scores.hold_precision, 4),
        "hold_recall": round(scores.hold_recall, 4),
        "held": scores.held,
        "section_accuracy": round(scores.section_accuracy, 4),
        "hold_reason_recall": {r: round(v, 4) for r, v in scores.hold_reason_recall.items()},
        "hold_reason_count": dict(scores.hold_reason_count),
        "references": round(scores.references, 4),
        "reference_count": scores.reference_count,
    }


def summary(report: Report) -> dict[str, Any]:
    """The headline figures, as stored in the model file's metrics."""
    routing = report.routing
    replies = report.replies
    return {
        "intent_exact_set": round(replies.intent_exact_set, 4) if replies else None,
        "intent_top1": round(replies.intent_top1, 4) if replies else None,
        "hold_precision": round(replies.hold_precision, 4) if replies else None,
        "hold_recall": round(replies.hold_recall, 4) if replies else None,
        "section_accuracy": round(replies.section_accuracy, 4) if replies else None,
        "queue_accuracy": round(routing.queue_accuracy, 4) if routing else None,
        "non_standard_recall": round(routing.non_standard_recall, 4) if routing else None,
        "test_examples": report.overall.count,
        "macro_f1": round(report.overall.macro_f1, 4),
        "topic_accuracy": round(report.overall.topic_accuracy, 4),
        "language_accuracy": round(report.overall.language_accuracy, 4),
        "per_language": {
            code: {"macro_f1": round(s.macro_f1, 4), "language_accuracy": round(s.language_accuracy, 4), "count": s.count}
            for code, s in report.per_language.items()
        },
    }


def _scores_json(scores: Scores) -> dict[str, Any]:
    return {
        "count": scores.count,
        "macro_f1": round(scores.macro_f1, 4),
        "topic_accuracy": round(scores.topic_accuracy, 4),
        "language_accuracy": round(scores.language_accuracy, 4),
        "per_topic": {
            t: {"precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4), "support": s.support}
            for t, s in scores.per_topic.items()
        },
        "confusion": {"labels": list(scores.labels), "matrix": [list(r) for r in scores.confusion]},
        "topic_bands": {b: {"share": round(s.share, 4), "accuracy": round(s.accuracy, 4), "count": s.count} for b, s in scores.topic_bands.items()},
        "language_bands": {b: {"share": round(s.share, 4), "accuracy": round(s.accuracy, 4), "count": s.count} for b, s in scores.language_bands.items()},
    }


def report_json(report: Report) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    return {
        "model_version": report.model_version,
        "overall": _scores_json(report.overall),
        "per_language": {code: _scores_json(s) for code, s in report.per_language.items()},
        "signals": {
            n: {"precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4), "support": s.support}
            for n, s in report.signals.items()
        },
        "queues": dict(report.queues),
        "standard_share": round(report.standard_share, 4),
        "routing": None if report.routing is None else {
            "queue_accuracy": round(report.routing.queue_accuracy, 4),
            "standard_accuracy": round(report.routing.standard_accuracy, 4),
            "non_standard_recall": round(report.routing.non_standard_recall, 4),
            "non_standard_precision": round(report.routing.non_standard_precision, 4),
            "non_standard": report.routing.non_standard,
        },
        "language_errors": [list(e) for e in report.language_errors],
        "replies": None if report.replies is None else replies_json(report.replies),
        "replies_per_language": {code: replies_json(r) for code, r in report.replies_per_language.items()},
    }


def _format_scores(title: str, scores: Scores, confusion: bool) -> list[str]:
    lines = [
        f"== {title}: {scores.count} examples",
        f"macro-F1 {scores.macro_f1:.4f}   topic accuracy {scores.topic_accuracy:.4f}   "
        f"language accuracy {scores.language_accuracy:.4f}",
        f"{'topic':<20} {'precision':>9} {'recall':>7} {'F1':>7} {'support':>8}",
    ]
    for topic, s in scores.per_topic.items():
        lines.append(f"{topic:<20} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>7.3f} {s.support:>8}")
    for name, bands in (("topic", scores.topic_bands), ("language", scores.language_bands)):
        parts = [f"{band} {b.share:.1%} (accuracy {b.accuracy:.3f})" for band, b in bands.items()]
        lines.append(f"{name} confidence bands: " + ", ".join(parts))
    if confusion and scores.labels:
        short = [label[:6] for label in scores.labels]
        lines.append("confusion matrix (rows: true topic, columns: predicted)")
        lines.append(f"{'':<20}" + "".join(f"{s:>7}" for s in short))
        for label, row in zip(scores.labels, scores.confusion):
            lines.append(f"{label:<20}" + "".join(f"{v:>7}" for v in row))
    return lines


def format_report(report: Report) -> str:
    """The report as text for a terminal."""
    lines = [f"model {report.model_version}"]
    lines += _format_scores("all languages", report.overall, confusion=True)
    for code, scores in report.per_language.items():
        lines.append("")
        lines += _format_scores(f"language {code}", scores, confusion=True)
    lines.append("")
    lines.append("signals (against the corpus labels)")
    for name, s in report.signals.items():
        lines.append(f"  {name:<12} precision {s.precision:.3f}  recall {s.recall:.3f}  F1 {s.f1:.3f}  support {s.support}")
    lines.append("queues: " + ", ".join(f"{q} {n}" for q, n in sorted(report.queues.items())) + f"; standard {report.standard_share:.1%}")
    if report.routing is not None:
        r = report.routing
        lines.append(
            f"routing against the labels: queue accuracy {r.queue_accuracy:.4f}, standard/non-standard accuracy "
            f"{r.standard_accuracy:.4f}, non-standard recognised {r.non_standard_recall:.1%} of {r.non_standard} "
            f"(precision {r.non_standard_precision:.3f})"
        )
    titled: list[tuple[str, ReplyScores | None]] = [("all languages", report.replies), *report.replies_per_language.items()]
    for title, reply in titled:
        if reply is None or not reply.count:
            continue
        lines.append(
            f"replies ({title}, {reply.count} labelled): intents exact set {reply.intent_exact_set:.3f}, in order "
            f"{reply.intent_exact_order:.3f}, top-1 {reply.intent_top1:.3f} of {reply.intent_count}; held back "
            f"precision {reply.hold_precision:.3f} recall {reply.hold_recall:.3f} of {reply.held}; right section "
            f"{reply.section_accuracy:.3f}; references carried {reply.references:.3f} of {reply.reference_count}"
        )
        if title == "all languages" and reply.hold_reason_recall:
            lines.append("  held back by reason: " + ", ".join(
                f"{r} {v:.2f} ({reply.hold_reason_count[r]})" for r, v in reply.hold_reason_recall.items()))
    if report.language_errors:
        lines.append("language errors: " + ", ".join(f"{i} ({t}→{p})" for i, t, p in report.language_errors[:30]))
    return "\n".join(lines)
