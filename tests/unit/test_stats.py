"""The statistics tables from facts (pure): volumes, times against the SLA, drafts, routing rules, CSV, Excel."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

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


def test_times_given_now_count_open_cases_past_their_target_as_missed() -> None:
    from pipeline.store.stats import response_times

    cases = (
        CaseFact(1, "customer_service", "renewal", "en", T0, T0 + timedelta(hours=2), None),  # answered, still open
        CaseFact(2, "customer_service", "renewal", "en", T0),  # open, unanswered, 30 h later: missed
        CaseFact(3, "customer_service", "renewal", "en", T0 + timedelta(hours=20)),  # open, 10 h: not yet due
        CaseFact(4, "customer_service", "renewal", "en", T0, None, T0 + timedelta(hours=1), is_open=False),
    )
    now = T0 + timedelta(hours=30)
    timed = response_times(cases, lambda q: 24.0, now, percentiles=(0.5, 0.9))
    assert timed.columns == ("queue", "measure", "cases", "done", "overdue", "target_hours", "p50_hours",
                             "p90_hours", "share_within_target")
    rows = {r[1]: r for r in timed.rows}
    # closed without a reply: no first response, and not missed either
    assert rows["first response"] == ("customer_service", "first response", 4, 1, 1, 24.0, 2.0, 2.0, 0.5)
    assert rows["close"] == ("customer_service", "close", 4, 1, 2, 24.0, 1.0, 1.0, 0.333)
    # without now: the statistics page's table, the share of the cases done
    plain = {r[1]: r for r in response_times(cases, lambda q: 24.0).rows}
    assert plain["close"] == ("customer_service", "close", 4, 1, 24.0, 1.0, 1.0, 1.0, 1.0)


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


def test_desk_is_a_dimension_of_the_volumes_and_a_case_without_one_counts_for_the_default() -> None:
    cases = (CaseFact(1, "customer_service", "renewal", "en", T0),  # no desk given: the default desk
             CaseFact(2, "customer_service", "renewal", "en", T0, desk="renewals"),
             CaseFact(3, "legal", "decision", "de", T0 + timedelta(days=1), desk="renewals"))
    built = {t.name: t for t in build_tables(Facts(T0 - timedelta(days=7), T0 + timedelta(days=7), cases),
                                             lambda q: 24.0)}
    day, week = built["inquiries_per_day"], built["inquiries_per_week"]
    assert ("2026-11-30", "desk", "registry", 1) in day.rows and ("2026-11-30", "desk", "renewals", 1) in day.rows
    assert ("2026-12-01", "desk", "renewals", 1) in day.rows
    assert [r for r in week.rows if r[1] == "desk"] == [("2026-W49", "desk", "registry", 1),
                                                       ("2026-W49", "desk", "renewals", 2)]
    # every dimension counts each case once
    for by in ("topic", "language", "queue", "desk"):
        assert sum(r[3] for r in week.rows if r[1] == by and isinstance(r[3], int)) == 3
    assert "desk" in week.title and week.columns == ("week", "by", "value", "inquiries")


def test_client_organisation_is_a_dimension_of_the_volumes_and_none_counts_as_none() -> None:
    cases = (CaseFact(1, "customer_service", "renewal", "en", T0, organisation="example-firm.co.uk"),
             CaseFact(2, "customer_service", "renewal", "en", T0, organisation="example-firm.co.uk"),
             CaseFact(3, "customer_service", "renewal", "en", T0),  # free mail: no organisation
             CaseFact(4, "legal", "decision", "de", T0 + timedelta(days=1), organisation="bücher.de"))
    built = {t.name: t for t in build_tables(Facts(T0 - timedelta(days=7), T0 + timedelta(days=7), cases),
                                             lambda q: 24.0)}
    day, week = built["inquiries_per_day"], built["inquiries_per_week"]
    assert [r for r in day.rows if r[1] == "organisation"] == [
        ("2026-11-30", "organisation", "(none)", 1), ("2026-11-30", "organisation", "example-firm.co.uk", 2),
        ("2026-12-01", "organisation", "bücher.de", 1)]
    assert [r for r in week.rows if r[1] == "organisation"] == [
        ("2026-W49", "organisation", "(none)", 1), ("2026-W49", "organisation", "bücher.de", 1),
        ("2026-W49", "organisation", "example-firm.co.uk", 2)]
    for by in ("topic", "language", "queue", "desk", "organisation"):
        assert sum(r[3] for r in day.rows if r[1] == by and isinstance(r[3], int)) == 4
    assert "organisation" in week.title and week.columns == ("week", "by", "value", "inquiries")


def test_fold_values_keeps_the_largest_and_sums_the_rest_per_period() -> None:
    from pipeline.store.stats import NO_ORGANISATION, OTHER, Table, fold_values

    rows = (("d1", "organisation", NO_ORGANISATION, 9), ("d1", "organisation", "a.com", 5),
            ("d1", "organisation", "b.com", 1), ("d1", "organisation", "c.com", 2), ("d1", "topic", "fees", 17),
            ("d2", "organisation", "b.com", 1), ("d2", "organisation", "c.com", 1))
    table = Table("inquiries_per_day", "T", ("day", "by", "value", "inquiries"), rows)
    folded, n = fold_values(table, "organisation", 1, apart=(NO_ORGANISATION,))
    assert n == 2
    assert folded.rows == (("d1", "organisation", NO_ORGANISATION, 9), ("d1", "organisation", OTHER, 3),
                           ("d1", "organisation", "a.com", 5), ("d1", "topic", "fees", 17),
                           ("d2", "organisation", OTHER, 2))
    assert sum(r[3] for r in folded.rows if r[1] == "organisation") == 19  # nothing lost
    assert fold_values(table, "organisation", 3, apart=(NO_ORGANISATION,)) == (table, 0)  # few: left alone


def test_xlsx_one_sheet_per_table_bold_frozen_header_numbers_as_numbers_formulas_defused() -> None:
    from openpyxl import load_workbook

    from pipeline.store.stats import Table, tables_xlsx

    book = load_workbook(io.BytesIO(tables_xlsx([
        Table("drafts", "D", ("template", "decided", "share"), (("=HYPERLINK(\"x\")", 3, 0.667), ("-1+2", 1, None),
                                                                ("bell\x07ok", 2, 1.0))),
        Table("routing/rules:[x]", "R", ("rule", "fired"), ()),
        Table("recurrent_issues_with_a_name_far_too_long_for_a_sheet", "L", ("a",), ((1,),)),
    ])))
    assert book.sheetnames == ["drafts", "routing_rules__x_", "recurrent_issues_with_a_name_fa"]
    sheet = book["drafts"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows == [["template", "decided", "share"], ["'=HYPERLINK(\"x\")", 3, 0.667], ["'-1+2", 1, None],
                    ["bellok", 2, 1.0]]
    assert all(c.font.b for c in sheet[1]) and not sheet["A2"].font.b
    assert sheet.freeze_panes == "A2"
    assert sheet["B2"].data_type == "n" and sheet["A2"].data_type == "s"  # no cell is a formula
    assert [[c.value for c in row] for row in book["routing_rules__x_"].iter_rows()] == [["rule", "fired"]]


def test_xlsx_of_no_tables_or_empty_tables_is_a_valid_workbook() -> None:
    from openpyxl import load_workbook

    from pipeline.store.stats import Facts, tables_xlsx

    assert load_workbook(io.BytesIO(tables_xlsx([]))).sheetnames == ["stats"]
    empty = build_tables(Facts(T0, T0 + timedelta(days=1)), lambda q: 24.0)
    book = load_workbook(io.BytesIO(tables_xlsx(empty)))
    assert book.sheetnames == [t.name for t in empty]
    assert all(book[t.name].max_row == 1 for t in empty)


@pytest.mark.slow  # a few seconds: openpyxl streams the rows, but in pure Python
def test_xlsx_writes_a_hundred_thousand_rows(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from pipeline.store.stats import Table, write_xlsx

    rows = tuple((f"2026-{n % 12 + 1:02d}-01", "topic", f"t{n % 40}", n) for n in range(100_000))
    path = tmp_path / "big.xlsx"
    write_xlsx([Table("inquiries_per_day", "Big", ("day", "by", "value", "inquiries"), rows)], path)
    book = load_workbook(path, read_only=True)
    try:
        sheet = book["inquiries_per_day"]
        count = 0
        last: tuple[object, ...] = ()
        for last in sheet.iter_rows(values_only=True):
            count += 1
        assert count == 100_001  # the header and every row
        assert last == ("2026-04-01", "topic", "t39", 99_999)
    finally:
        book.close()
