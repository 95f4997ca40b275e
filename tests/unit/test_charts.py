"""The statistics page's charts (pure): inline SVG the strict CSP allows, accessible, escaped, drawn from tables."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from pipeline.store.stats import Table
from webapp.charts import (
    OTHER_COLOUR,
    PALETTE,
    drafts_unchanged_chart,
    nice_ceiling,
    page_charts,
    week_range,
    weekly_volume_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
WEEK_COLUMNS = ("week", "by", "value", "inquiries")
DRAFT_COLUMNS = ("topic", "template", "decided", "unchanged", "edited", "discarded", "share_unchanged",
                 "share_edited", "share_discarded")


def week_table(rows: tuple[tuple[object, ...], ...]) -> Table:
    return Table("inquiries_per_week", "Inquiries per week", WEEK_COLUMNS, rows)  # type: ignore[arg-type]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, so well-formed inline SVG too


def title_of(element: ET.Element) -> str:
    found = element.find(f"{SVG}title")
    return "" if found is None else found.text or ""


def test_weekly_chart_stacks_topics_per_week_with_a_title_and_a_summary() -> None:
    table = week_table((("2026-W48", "topic", "renewal", 3), ("2026-W48", "topic", "fees", 1),
                        ("2026-W48", "queue", "customer_service", 4), ("2026-W49", "topic", "renewal", 2)))
    chart = weekly_volume_chart(table)
    assert chart is not None and chart.table == "inquiries_per_week"
    root = parse(chart.svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == \
        "chart-inquiries_per_week-title chart-inquiries_per_week-desc"
    assert title_of(root) == "Inquiries per week by topic"
    assert root.findtext(f"{SVG}desc") == "Total per week: 2026-W48 4; 2026-W49 2."
    bars = [r for r in root.iter(f"{SVG}rect") if title_of(r)]
    assert sorted(title_of(r) for r in bars) == ["2026-W48, fees: 1", "2026-W48, renewal: 3", "2026-W49, renewal: 2"]
    # the largest topic gets the first colour; bars of a week stack up to its total
    assert {r.get("fill") for r in bars if "renewal" in title_of(r)} == {PALETTE[0]}
    w48 = [r for r in bars if "W48" in title_of(r)]
    assert abs(sum(float(r.get("height", 0)) for r in w48) - 4 / nice_ceiling(4)[0] * 200) < 0.5


def test_weekly_chart_folds_topics_past_the_palette_into_other() -> None:
    rows = tuple(("2026-W49", "topic", f"topic{n:02d}", 20 - n) for n in range(12))
    chart = weekly_volume_chart(week_table(rows))
    assert chart is not None
    fills = {r.get("fill") for r in parse(chart.svg).iter(f"{SVG}rect")}
    assert OTHER_COLOUR in fills and len(fills) == len(PALETTE)  # seven topics, then "other"
    assert ">all others (55)<" in chart.svg and "topic07" not in chart.svg  # 13 + 12 + 11 + 10 + 9


def test_a_topic_called_other_is_not_mixed_with_the_rest() -> None:
    rows = tuple(("2026-W49", "topic", name, 1) for name in ["other", *(f"t{n}" for n in range(10))])
    chart = weekly_volume_chart(week_table(rows), max_series=3)
    assert chart is not None and "\x00" not in chart.svg
    assert ">other (1)<" in chart.svg and ">all others (9)<" in chart.svg


def test_drafts_chart_shows_share_unchanged_per_template_over_topics_lowest_first() -> None:
    table = Table("drafts", "Drafts", DRAFT_COLUMNS, (
        ("renewal", "renewal/en", 3, 2, 1, 0, 0.667, 0.333, 0.0),
        ("fees", "renewal/en", 1, 1, 0, 0, 1.0, 0.0, 0.0),
        ("fees", "fees/en", 2, 0, 1, 1, 0.0, 0.5, 0.5),
    ))
    chart = drafts_unchanged_chart(table)
    assert chart is not None
    root = parse(chart.svg)
    groups = [title_of(g) for g in root.iter(f"{SVG}g")]
    assert groups == ["fees/en: 0 of 2 approved unchanged (0%)", "renewal/en: 3 of 4 approved unchanged (75%)"]
    assert "Share of suggested replies approved unchanged" in title_of(root)


def test_text_is_escaped_and_nothing_the_csp_forbids_is_drawn() -> None:
    evil = '<script>alert(1)</script>" onload="x'
    week = weekly_volume_chart(week_table((("2026-W49", "topic", evil, 2),)))
    drafts = drafts_unchanged_chart(Table("drafts", "D", DRAFT_COLUMNS, (("t", evil, 1, 1, 0, 0, 1.0, 0.0, 0.0),)))
    for chart in (week, drafts):
        assert chart is not None
        parse(chart.svg)
        assert "<script" not in chart.svg and "onload=" not in chart.svg.replace("&quot; onload=&quot;", "")
        assert not re.search(r"\sstyle=|<style|javascript:|\son\w+=\"", chart.svg)
        assert "&lt;script&gt;" in chart.svg


def test_no_data_no_chart() -> None:
    assert weekly_volume_chart(week_table(())) is None
    assert weekly_volume_chart(week_table((("2026-W49", "queue", "legal", 2),))) is None  # no topic rows
    assert drafts_unchanged_chart(Table("drafts", "D", DRAFT_COLUMNS, ())) is None
    assert page_charts([week_table(()), Table("drafts", "D", DRAFT_COLUMNS, ())]) == {}


def test_page_charts_by_table_name_and_a_year_of_weeks_fits() -> None:
    rows = tuple((f"2026-W{n:02d}", "topic", "renewal", n) for n in range(1, 54))
    charts = page_charts([week_table(rows), Table("routing_rules", "R", ("rule",), (("x",),))])
    assert list(charts) == ["inquiries_per_week"]
    labels = [t.text for t in parse(charts["inquiries_per_week"].svg).iter(f"{SVG}text")
              if (t.text or "").startswith("2026-W")]
    assert 5 <= len(labels) < 53 and labels[0] == "2026-W01"  # every few weeks labelled, never overlapping


def test_nice_ceiling() -> None:
    assert nice_ceiling(0) == (1.0, 1.0)
    assert nice_ceiling(3) == (3.0, 1.0)
    assert nice_ceiling(4) == (4.0, 1.0)
    assert nice_ceiling(17) == (20.0, 5.0)
    assert nice_ceiling(1234) == (1500.0, 500.0)


def test_weeks_with_nothing_keep_their_place() -> None:
    assert week_range(["2026-W52", "2027-W02", "2026-W53"]) == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert week_range(["2025-W52", "2026-W01"]) == ["2025-W52", "2026-W01"]
    assert week_range(["b", "a"]) == ["a", "b"] and week_range([]) == []
    chart = weekly_volume_chart(week_table((("2026-W40", "topic", "renewal", 2), ("2026-W43", "topic", "fees", 1))))
    assert chart is not None
    assert "Total per week: 2026-W40 2; 2026-W41 0; 2026-W42 0; 2026-W43 1." in chart.svg
