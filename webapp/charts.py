"""Bar charts of the statistics page as inline SVG, drawn on the server (pure: tables in, markup out).

No script and no ``style`` attribute or element (the pages' CSP allows neither inline): colours and
sizes are SVG presentation attributes. Each chart is an ``<svg role="img">`` named by its ``<title>``
and summed up by its ``<desc>``; every bar has a ``<title>`` of its own (a tooltip). The table under
the chart stays the source of truth: the charts draw only what it holds.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

from markupsafe import Markup

from pipeline.store.stats import Table

# Okabe-Ito: told apart by people with the common colour-vision deficiencies; grey is "all others".
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#332288")
OTHER_COLOUR = "#999999"
OTHER = "\x00other"  # the values past the palette, summed (a key no real value can be)
WIDTH = 720
FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Chart:
    """One chart: the table it draws, a title, and the SVG markup."""

    table: str
    title: str
    svg: Markup


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _label(value: str) -> str:
    return "all others" if value == OTHER else _text(value)


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> tuple[float, float]:
    """A round top for a count axis at or above ``value``, and the whole-number step of its (about four) lines."""
    if value <= 0:
        return 1.0, 1.0
    rough = value / 4
    magnitude = 10.0 ** math.floor(math.log10(rough))
    step = max(1.0, next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough))
    return math.ceil(value / step) * step, step


def week_range(weeks: Iterable[str]) -> list[str]:
    """Every ISO week (``2026-W49``) from the first to the last given, so a week with nothing still has its place.

    Labels that are not ISO weeks are just sorted.
    """
    given = sorted(set(weeks))
    try:
        first, last = (date.fromisocalendar(int(w[:4]), int(w[6:]), 1) for w in (given[0], given[-1]))
    except (ValueError, IndexError):
        return given
    if not all(len(w) == 8 and w[4:6] == "-W" for w in given) or (last - first).days > 7 * 520:
        return given
    out = []
    while first <= last:
        year, week, _ = first.isocalendar()
        out.append(f"{year}-W{week:02d}")
        first += timedelta(days=7)
    return out


def _svg(chart_id: str, title: str, desc: str, height: float, body: Iterable[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_text(chart_id)}" role="img" '
            f'viewBox="0 0 {WIDTH} {_number(height)}" width="100%" preserveAspectRatio="xMinYMin meet" '
            f'aria-labelledby="{_text(chart_id)}-title {_text(chart_id)}-desc" {FONT} font-size="11">'
            f'<title id="{_text(chart_id)}-title">{_text(title)}</title>'
            f'<desc id="{_text(chart_id)}-desc">{_text(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def weekly_volume_chart(table: Table, *, by: str = "topic", max_series: int = len(PALETTE)) -> Chart | None:
    """Inquiries per week as stacked bars, one colour per value of ``by`` (the largest few; the rest "all others").

    ``table`` is ``inquiries_per_week`` (columns week, by, value, inquiries). None when it has no such rows.
    """
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for week, dimension, value, n in (row[:4] for row in table.rows):
        if dimension == by and isinstance(n, int | float):
            counts[str(week)][str(value)] += int(n)
            totals[str(value)] += int(n)
    if not counts:
        return None
    ranked = [value for value, _ in sorted(totals.items(), key=lambda item: (-item[1], item[0]))]
    shown = ranked if len(ranked) <= max_series else ranked[:max_series - 1]
    series = shown + ([OTHER] if len(shown) < len(ranked) else [])
    colour = {value: PALETTE[n % len(PALETTE)] for n, value in enumerate(shown)} | {OTHER: OTHER_COLOUR}
    weeks = week_range(counts)
    stacks = {week: [(value, counts[week][value]) for value in shown if counts[week][value]] for week in counts}
    for week in counts:
        rest = sum(n for value, n in counts[week].items() if value not in shown)
        if rest:
            stacks[week].append((OTHER, rest))
    week_totals = {week: sum(n for _, n in stacks.get(week, ())) for week in weeks}
    series_totals = {value: totals[value] for value in shown} | {OTHER: sum(totals[v] for v in ranked[len(shown):])}
    top, step = nice_ceiling(max(week_totals.values()))

    left, right, plot_top, plot_height = 44, 8, 10, 200
    legend_columns = 4
    legend_rows = math.ceil(len(series) / legend_columns)
    height = plot_top + plot_height + 30 + legend_rows * 18 + 6
    plot_width = WIDTH - left - right
    slot = plot_width / len(weeks)
    bar = max(1.0, min(48.0, slot * 0.75))
    every = max(1, math.ceil(64 / slot))  # label every n-th week so labels never overlap

    def y(value: float) -> float:
        return plot_top + plot_height - value / top * plot_height

    body: list[str] = []
    tick = 0.0
    while tick <= top + 1e-9:
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                    f'stroke="currentColor" stroke-opacity="{0.5 if tick == 0 else 0.15}"/>'
                    f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="currentColor">'
                    f'{_number(tick)}</text>')
        tick += step
    for n, week in enumerate(weeks):
        x = left + n * slot + (slot - bar) / 2
        base = 0
        body.append(f'<g><title>{_text(week)}: {week_totals[week]} inquiries</title>')
        for value, count in stacks.get(week, ()):
            body.append(f'<rect x="{x:.1f}" y="{y(base + count):.1f}" width="{bar:.1f}" '
                        f'height="{y(base) - y(base + count):.1f}" fill="{colour[value]}">'
                        f'<title>{_text(week)}, {_label(value)}: {count}</title></rect>')
            base += count
        body.append("</g>")
        if n % every == 0:
            body.append(f'<text x="{left + n * slot + slot / 2:.1f}" y="{plot_top + plot_height + 16}" '
                        f'text-anchor="middle" fill="currentColor">{_text(week)}</text>')
    legend_top = plot_top + plot_height + 30
    for n, value in enumerate(series):
        lx = left + (n % legend_columns) * (plot_width / legend_columns)
        ly = legend_top + (n // legend_columns) * 18
        body.append(f'<rect x="{lx:.1f}" y="{ly}" width="12" height="12" fill="{colour[value]}"/>'
                    f'<text x="{lx + 17:.1f}" y="{ly + 10}" fill="currentColor">{_label(value)} '
                    f'({series_totals[value]})</text>')
    title = f"Inquiries per week by {by}"
    desc = "Total per week: " + "; ".join(f"{week} {week_totals[week]}" for week in weeks) + "."
    return Chart(table.name, title, _svg(f"chart-{table.name}", title, desc, height, body))


def drafts_unchanged_chart(table: Table, *, limit: int = 25) -> Chart | None:
    """Share of suggested replies approved unchanged per template (over every topic), lowest first.

    ``table`` is ``drafts`` (columns topic, template, decided, unchanged, ...). None when nothing was decided.
    """
    index = {column: n for n, column in enumerate(table.columns)}
    if not {"template", "decided", "unchanged"} <= index.keys():
        return None
    decided: Counter[str] = Counter()
    unchanged: Counter[str] = Counter()
    for row in table.rows:
        total, kept = row[index["decided"]], row[index["unchanged"]]
        if isinstance(total, int | float) and isinstance(kept, int | float) and total > 0:
            decided[str(row[index["template"]])] += int(total)
            unchanged[str(row[index["template"]])] += int(kept)
    if not decided:
        return None
    ranked = sorted(decided, key=lambda t: (unchanged[t] / decided[t], -decided[t], t))
    shown: Sequence[str] = ranked[:limit]
    left, right, row_height, top_pad = 210, 110, 22, 22
    plot_width = WIDTH - left - right
    height = top_pad + row_height * len(shown) + 8
    body: list[str] = []
    for share in (0, 0.25, 0.5, 0.75, 1):
        x = left + share * plot_width
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_pad - 4}" y2="{height - 6}" stroke="currentColor" '
                    f'stroke-opacity="{0.5 if share == 0 else 0.15}"/>'
                    f'<text x="{x:.1f}" y="{top_pad - 8}" text-anchor="middle" fill="currentColor">'
                    f'{share * 100:.0f}%</text>')
    for n, template in enumerate(shown):
        share = unchanged[template] / decided[template]
        y = top_pad + n * row_height
        label = template if len(template) <= 32 else template[:31] + "…"
        body.append(f'<g><title>{_text(template)}: {unchanged[template]} of {decided[template]} approved unchanged '
                    f'({share * 100:.0f}%)</title>'
                    f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" fill="currentColor">{_text(label)}</text>'
                    f'<rect x="{left}" y="{y + 3}" width="{share * plot_width:.1f}" height="{row_height - 6}" '
                    f'fill="{PALETTE[0]}"/>'
                    f'<text x="{left + share * plot_width + 5:.1f}" y="{y + 14}" fill="currentColor">'
                    f'{share * 100:.0f}% of {decided[template]}</text></g>')
    title = "Share of suggested replies approved unchanged, per template"
    desc = "; ".join(f"{t} {unchanged[t] / decided[t] * 100:.0f}% of {decided[t]}" for t in shown) + "."
    if len(ranked) > len(shown):
        desc += f" {len(ranked) - len(shown)} more templates in the table."
    return Chart(table.name, title, _svg(f"chart-{table.name}", title, desc, height, body))


def page_charts(tables: Iterable[Table]) -> dict[str, Chart]:
    """The charts of the statistics page, by the name of the table each one draws (tables with no data: none)."""
    charts: dict[str, Chart] = {}
    for table in tables:
        chart = (weekly_volume_chart(table) if table.name == "inquiries_per_week"
                 else drafts_unchanged_chart(table) if table.name == "drafts" else None)
        if chart is not None:
            charts[table.name] = chart
    return charts
