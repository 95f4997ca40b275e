"""The statistics tables from facts (pure): volumes, times against the SLA, drafts, routing rules, CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from pipeline.store.stats import CaseFact, DraftFact, Facts, build_tables, percentile, table_csv

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)  # a Monday


def tables() -> dict[str, object]:
    cases = (
        CaseFact(1, "customer_service", "renewal", "en", T0, T0 + timedelta(hours=2), T0 + timedelta(hours=2)),
        CaseFact(2, "customer_service", "renewal", "fr", T0, T0 + timedelta(hours=30), T0 + timedelta(hours=30)),
        CaseFact(3, "customer_service", "fees", "en", T0 + timedelta(days=1)),
        CaseFact(4, "legal", "decision", "de", T0 - timedelta(days=1), None, T0 + timedelta(hours=1)),
    )
    drafts = (DraftFact("renewal", "renewal/en", "unchanged"), DraftFact("renewal", "renewal/en", "edited"),
              DraftFact("renewal", "renewal/en", "unchanged"), DraftFact("fees", "fees/en", "discarded"))
    facts = Facts(T0 - timedelta(days=7), T0 + timedelta(days=7), cases, drafts,
                  (("standard", "customer_service"),) * 3 + (("legal-words", "legal"),))
    return {t.name: t for t in build_tables(facts, lambda q: {"customer_service": 24.0}.get(q, 48.0))}


def test_volumes_per_day_and_week_by_each_dimension() -> None:
    day = tables()["inquiries_per_day"]
    assert ("2026-11-30", "queue", "customer_service", 2) in day.rows  # type: ignore[attr-defined]
    assert ("2026-12-01", "topic", "fees", 1) in day.rows  # type: ignore[attr-defined]
    week = tables()["inquiries_per_week"]
    assert ("2026-W49", "language", "en", 2) in week.rows  # type: ignore[attr-defined]
    assert ("2026-W48", "queue", "legal", 1) in week.rows  # type: ignore[attr-defined]


def test_times_against_the_queue_target() -> None:
    rows = {(r[0], r[1]): r for r in tables()["response_times"].rows}  # type: ignore[attr-defined]
    first = rows[("customer_service", "first response")]
    assert first[2:5] == (3, 2, 24.0)  # three cases, two answered, 24 h target
    assert first[5] == 2.0 and first[7] == 30.0 and first[8] == 0.5
    assert rows[("legal", "close")][3:] == (1, 48.0, 25.0, 25.0, 25.0, 1.0)
    assert rows[("legal", "first response")][5] is None


def test_drafts_worst_templates_first_and_rules_by_frequency() -> None:
    drafts = tables()["drafts"].rows  # type: ignore[attr-defined]
    assert drafts[0][:6] == ("fees", "fees/en", 1, 0, 0, 1)
    assert drafts[1][:9] == ("renewal", "renewal/en", 3, 2, 1, 0, 0.667, 0.333, 0.0)
    assert tables()["routing_rules"].rows == (  # type: ignore[attr-defined]
        ("standard", "customer_service", 3, 0.75), ("legal-words", "legal", 1, 0.25))


def test_csv_has_every_row_and_defuses_formulas() -> None:
    from pipeline.store.stats import Table

    table = Table("t", "T", ("a", "b"), (("=cmd()", 1), ("plain, with comma", None)))
    rows = list(csv.reader(io.StringIO(table_csv(table))))
    assert rows == [["a", "b"], ["'=cmd()", "1"], ["plain, with comma", ""]]


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.95) == 5.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
