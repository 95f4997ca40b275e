"""The queue page's filters: parsed from query parameters and checked against the vocabulary (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from webapp.errors import BadInput
from webapp.vocabulary import STATES, Vocabulary

STATUSES = ("open", "all", *STATES)
SIGNALS = ("urgent", "complaint", "mine")  # mine: the cases the person holds
SORTS = ("oldest", "newest", "urgent")  # urgent: urgent first, then by due time
# "older than" choices, and the two that compare with the queue's SLA.
AGES: Mapping[str, timedelta | None] = {
    "": None, "1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1),
    "2d": timedelta(days=2), "7d": timedelta(days=7), "soon": None, "overdue": None,
}
MAX_PAGE = 10_000
_KNOWN = frozenset({"topic", "language", "status", "age", "signal", "sort", "page"})
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True)
class QueueFilters:
    """What a queue page shows: filters, order and page."""

    topic: str | None = None
    language: str | None = None
    status: str = "open"
    age: str = ""
    signals: tuple[str, ...] = field(default_factory=tuple)
    sort: str = "oldest"
    page: int = 1

    def query(self, **changes: object) -> str:
        """The query string of these filters with some values changed (for links)."""
        values: dict[str, object] = {
            "topic": self.topic or "", "language": self.language or "", "status": self.status, "age": self.age,
            "signal": list(self.signals), "sort": self.sort, "page": self.page,
        }
        values.update(changes)
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                default = {"status": "open", "sort": "oldest", "page": 1}.get(key, "")
                if item not in ("", None) and item != default:
                    pairs.append((key, str(item)))
        return urlencode(pairs)


def _shown(value: str) -> str:
    return _PRINTABLE.sub("?", value[:40])


def _one(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name, [])
    if len(values) > 1:
        raise BadInput(f"give {name} once")
    return values[0].strip() if values else ""


def parse_filters(params: Mapping[str, list[str]], vocabulary: Vocabulary) -> QueueFilters:
    """The filters in query parameters; ``BadInput`` naming the parameter and the allowed values otherwise."""
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise BadInput(f"unknown parameter {_shown(unknown[0])!r}; known: {', '.join(sorted(_KNOWN))}")
    topic = _one(params, "topic") or None
    if topic is not None and topic not in vocabulary.topics:
        raise BadInput(f"unknown topic {_shown(topic)!r}; known: {', '.join(vocabulary.topics)}")
    language = _one(params, "language").lower() or None
    if language is not None and not vocabulary.is_language(language):
        raise BadInput(f"language {_shown(language)!r} is not a language code (en, fr, es, de, und...)")
    status = _one(params, "status") or "open"
    if status not in STATUSES:
        raise BadInput(f"unknown status {_shown(status)!r}; known: {', '.join(STATUSES)}")
    age = _one(params, "age")
    if age not in AGES:
        raise BadInput(f"unknown age {_shown(age)!r}; known: {', '.join(a for a in AGES if a)}")
    signals = []
    for value in params.get("signal", []):
        value = value.strip()
        if value and value not in SIGNALS:
            raise BadInput(f"unknown signal {_shown(value)!r}; known: {', '.join(SIGNALS)}")
        if value and value not in signals:
            signals.append(value)
    sort = _one(params, "sort") or "oldest"
    if sort not in SORTS:
        raise BadInput(f"unknown sort {_shown(sort)!r}; known: {', '.join(SORTS)}")
    page_text = _one(params, "page") or "1"
    if not re.fullmatch(r"[0-9]{1,5}", page_text) or not 1 <= int(page_text) <= MAX_PAGE:
        raise BadInput(f"page must be a whole number from 1 to {MAX_PAGE}")
    return QueueFilters(topic, language, status, age, tuple(signals), sort, int(page_text))
