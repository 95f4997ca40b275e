"""The routing rules as admins read them (read-only): conditions, outcome and reason of each, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from classifiers.routing import Rule

_OUTCOME = frozenset({"id", "queue", "standard", "reason"})


@dataclass(frozen=True)
class RuleRow:
    """One rule: its conditions as text, and what it decides."""

    position: int
    id: str
    conditions: tuple[tuple[str, str], ...]
    queue: str
    standard: bool
    reason: str


def rule_rows(rules: Sequence[Rule]) -> list[RuleRow]:
    """The rules in the order they are tried."""
    rows = []
    for position, rule in enumerate(rules, start=1):
        values = rule.model_dump(exclude_defaults=True)
        conditions = tuple(
            (key, ", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value))
            for key, value in values.items() if key not in _OUTCOME
        )
        rows.append(RuleRow(position, rule.id, conditions, rule.queue, rule.standard, rule.reason))
    return rows
