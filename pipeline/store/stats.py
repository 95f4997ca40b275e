"""Figures for coordinators: volumes, response and closing times against the SLA, drafts, routing rules.

``read_facts`` is the only database read (a few plain queries); ``build_tables``
turns the facts into tables (pure), ``table_csv`` writes one as CSV and
``write_xlsx`` writes several as one Excel workbook (a worksheet each);
``fold_values`` sums the smaller values of a volume dimension (the page's
organisations past the largest).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.lifecycle import CLOSED_STATES
from pipeline.desks import DEFAULT_DESK
from pipeline.mail.organisation import display_name
from pipeline.store.models import AuditEvent, Case, DecisionRecord, Inquiry, Suggestion

Cell = str | int | float | None
NO_ORGANISATION = "(none)"  # the volumes' organisation of an inquiry without one (free mail, no sender's domain)
OTHER = "(other)"  # ``fold_values``: the values past the largest, summed


@dataclass(frozen=True)
class Table:
    """One table of figures: a name (for files and ``--table``), a title, its columns and rows."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def as_json(self) -> dict[str, object]:
        """The table as a JSON-ready dict (one object per row)."""
        return {"name": self.name, "title": self.title, "columns": list(self.columns),
                "rows": [dict(zip(self.columns, row)) for row in self.rows]}


@dataclass(frozen=True)
class CaseFact:
    """What the figures need of one case."""

    inquiry_id: int
    queue: str
    topic: str
    language: str
    received_at: datetime
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    desk: str = DEFAULT_DESK  # the desk's id; a case stored before desks counts for the default desk
    is_open: bool = True  # the case's ``is_open`` (only ``response_times`` with ``now`` reads it)
    organisation: str | None = None  # the sender's organisation as people read it; None: free mail or unknown


@dataclass(frozen=True)
class DraftFact:
    """A suggested reply that was decided on: ``outcome`` is ``unchanged``, ``edited`` or ``discarded``."""

    topic: str
    template: str
    outcome: str


@dataclass(frozen=True)
class Facts:
    """Everything read for the figures of a period."""

    since: datetime
    until: datetime
    cases: tuple[CaseFact, ...] = ()
    drafts: tuple[DraftFact, ...] = ()
    rules: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (rule id, queue) per current decision


def read_facts(session: Session, since: datetime, until: datetime,
               queues: Collection[str] | None = None, *, default_desk: str = DEFAULT_DESK) -> Facts:
    """The cases received in [since, until) (of ``queues`` when given), their replies, closings and routing.

    A case whose inquiry has no desk (stored before desks) counts for ``default_desk``. An organisation
    (``inquiries.organisation``) is given as people read it: an international domain in Unicode.
    """
    query = select(Case.inquiry_id, Case.queue, Case.topic, Case.language, Case.received_at, Inquiry.desk,
                   Case.is_open, Inquiry.organisation).outerjoin(
        Inquiry, Inquiry.id == Case.inquiry_id).where(Case.received_at >= since, Case.received_at < until)
    if queues is not None:
        query = query.where(Case.queue.in_(sorted(queues)))
    base = {row[0]: row for row in session.execute(query)}
    first_reply: dict[int, datetime] = {}
    drafts: list[DraftFact] = []
    edited: set[int] = set()
    closed: dict[int, datetime] = {}
    ids = sorted(base)
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for event, details in session.execute(
            select(AuditEvent.event, AuditEvent.details)
            .where(AuditEvent.inquiry_id.in_(chunk), AuditEvent.event == "suggestion_edited")
        ):
            if isinstance(details, dict) and isinstance(details.get("suggestion_id"), int):
                edited.add(details["suggestion_id"])
        for inquiry_id, at in session.execute(
            select(AuditEvent.inquiry_id, AuditEvent.at)
            .where(AuditEvent.inquiry_id.in_(chunk), AuditEvent.to_state.in_(sorted(CLOSED_STATES)),
                   AuditEvent.from_state != AuditEvent.to_state)
        ):
            if inquiry_id is not None and (inquiry_id not in closed or at < closed[inquiry_id]):
                closed[inquiry_id] = at
        for suggestion_id, inquiry_id, status, template, sent_at, approved_at in session.execute(
            select(Suggestion.id, Suggestion.inquiry_id, Suggestion.status, Suggestion.template_id,
                   Suggestion.sent_at, Suggestion.approved_at)
            .where(Suggestion.inquiry_id.in_(chunk), Suggestion.kind == "reply")
        ):
            answered = sent_at or approved_at
            if status in ("approved", "sent") and answered is not None:
                if inquiry_id not in first_reply or answered < first_reply[inquiry_id]:
                    first_reply[inquiry_id] = answered
            if status in ("approved", "sent", "discarded"):
                outcome = "discarded" if status == "discarded" else (
                    "edited" if suggestion_id in edited else "unchanged")
                drafts.append(DraftFact(base[inquiry_id][2], template or "(none)", outcome))
    cases = tuple(
        CaseFact(i, queue, topic, language, received, first_reply.get(i), closed.get(i), desk or default_desk,
                 bool(is_open), display_name(organisation) if organisation else None)
        for i, queue, topic, language, received, desk, is_open, organisation in base.values()
    )
    rules_query = select(DecisionRecord.rule_id, DecisionRecord.queue).where(
        DecisionRecord.is_current.is_(True), DecisionRecord.created_at >= since, DecisionRecord.created_at < until)
    if queues is not None:
        rules_query = rules_query.where(DecisionRecord.queue.in_(sorted(queues)))
    rules = tuple((rule or "(none)", queue) for rule, queue in session.execute(rules_query))
    return Facts(since, until, cases, tuple(drafts), rules)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _volumes(cases: Iterable[CaseFact], period: Callable[[datetime], str], unit: str) -> Table:
    counts: Counter[tuple[str, str, str]] = Counter()
    for case in cases:
        when = period(case.received_at)
        for dimension, value in (("topic", case.topic), ("language", case.language), ("queue", case.queue),
                                 ("desk", case.desk), ("organisation", case.organisation or NO_ORGANISATION)):
            counts[(when, dimension, value)] += 1
    rows = tuple((when, dimension, value, n) for (when, dimension, value), n in sorted(counts.items()))
    return Table(f"inquiries_per_{unit}",
                 f"Inquiries per {unit} by topic, language, queue and desk, and by client organisation",
                 (unit, "by", "value", "inquiries"), rows)


def fold_values(table: Table, by: str, keep: int, *, apart: Collection[str] = ()) -> tuple[Table, int]:
    """A volume table with the values of dimension ``by`` past the ``keep`` largest summed as ``OTHER`` (pure).

    The largest: the most inquiries over the whole table (ties by value). Values in ``apart`` (such as
    ``NO_ORGANISATION``) are neither counted among the ``keep`` nor folded. Returns the table (the same one
    when there is nothing to fold) and how many values were folded.
    """
    totals: Counter[str] = Counter()
    for row in table.rows:
        if row[1] == by and row[2] not in apart and isinstance(row[3], int):
            totals[str(row[2])] += row[3]
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    folded = {value for value, _ in ranked[keep:]}
    if not folded:
        return table, 0
    other: Counter[Cell] = Counter()
    rows: list[tuple[Cell, ...]] = []
    for row in table.rows:
        if row[1] == by and row[2] in folded and isinstance(row[3], int):
            other[row[0]] += row[3]
        else:
            rows.append(row)
    rows.extend((when, by, OTHER, n) for when, n in other.items())
    rows.sort(key=lambda row: (str(row[0]), str(row[1]), str(row[2])))
    return Table(table.name, table.title, table.columns, tuple(rows)), len(folded)


class Timed(Protocol):
    """What the response-time table needs of one case."""

    @property
    def queue(self) -> str: ...

    @property
    def received_at(self) -> datetime: ...

    @property
    def first_response_at(self) -> datetime | None: ...

    @property
    def closed_at(self) -> datetime | None: ...

    @property
    def is_open(self) -> bool: ...


def _elapsed(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 3600)


def response_times(cases: Iterable[Timed], target_hours: Callable[[str], float], now: datetime | None = None, *,
                   percentiles: Sequence[float] = (0.5, 0.9, 0.95)) -> Table:
    """Time to first response and to close per queue against its target (hours; pure).

    Per queue and measure: the cases, those done, the target, the ``percentiles`` (``p50_hours``...) of the
    times done and the share within target. Without ``now`` that share is of the cases done. With ``now``
    a case still open past its target without that response (or close) counts as missed, in an ``overdue``
    column after ``done``, and the share is within target / (done + overdue); a case closed without a reply
    never gets a first response and counts in neither.
    """
    by_queue: dict[str, list[Timed]] = defaultdict(list)
    for case in cases:
        by_queue[case.queue].append(case)
    rows = []
    for queue in sorted(by_queue):
        group = by_queue[queue]
        target = target_hours(queue)
        ends: tuple[tuple[str, Callable[[Timed], datetime | None]], ...] = (
            ("first response", lambda c: c.first_response_at), ("close", lambda c: c.closed_at))
        for measure, end_of in ends:
            hours = [_elapsed(c.received_at, end) for c in group if (end := end_of(c)) is not None]
            overdue = 0 if now is None else sum(
                1 for c in group if end_of(c) is None and c.is_open and _elapsed(c.received_at, now) > target)
            within = sum(1 for h in hours if h <= target)
            due = len(hours) + overdue
            rows.append((queue, measure, len(group), len(hours), *(() if now is None else (overdue,)), target,
                         *(_hours(percentile(hours, share)) for share in percentiles),
                         round(within / due, 3) if due else None))
    return Table("response_times", "Time to first response and to close per queue, against its SLA (hours)",
                 ("queue", "measure", "cases", "done", *(() if now is None else ("overdue",)), "target_hours",
                  *(f"p{round(share * 100)}_hours" for share in percentiles), "share_within_target"), tuple(rows))


def _drafts(drafts: Sequence[DraftFact]) -> Table:
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for draft in drafts:
        counts[(draft.topic, draft.template)][draft.outcome] += 1
    rows = []
    for (topic, template), outcome in sorted(counts.items()):
        total = sum(outcome.values())
        rows.append((topic, template, total, outcome["unchanged"], outcome["edited"], outcome["discarded"],
                     round(outcome["unchanged"] / total, 3), round(outcome["edited"] / total, 3),
                     round(outcome["discarded"] / total, 3)))
    # The templates that need work first: the lowest share approved unchanged.
    rows.sort(key=lambda row: (row[6], -row[2]))
    return Table("drafts", "Suggested replies approved unchanged, edited or discarded, per topic and template",
                 ("topic", "template", "decided", "unchanged", "edited", "discarded", "share_unchanged",
                  "share_edited", "share_discarded"), tuple(rows))


def _rules(rules: Sequence[tuple[str, str]]) -> Table:
    counts = Counter(rules)
    total = len(rules)
    rows = tuple((rule, queue, n, round(n / total, 3)) for (rule, queue), n in
                 sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return Table("routing_rules", "Routing rules and how often each fired", ("rule", "queue", "fired", "share"),
                 rows)


def build_tables(facts: Facts, target_hours: Callable[[str], float]) -> list[Table]:
    """Every table of figures from the facts; ``target_hours``: a queue's response-time target."""
    return [
        _volumes(facts.cases, lambda moment: moment.date().isoformat(), "day"),
        _volumes(facts.cases, _week, "week"),
        response_times(facts.cases, target_hours),
        _drafts(facts.drafts),
        _rules(facts.rules),
    ]


def table_csv(table: Table) -> str:
    """A table as CSV text: a header row, then the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if cell is None else _safe(cell) for cell in row])
    return out.getvalue()


def _safe(cell: Cell) -> Cell:
    # A text cell starting with = + - @ would be run as a formula by a spreadsheet: quote it.
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SHEET_NAME_BANNED = str.maketrans({c: "_" for c in "[]:*?/\\"})
_CELL_MAX = 32_767  # the most characters a spreadsheet cell holds


def _sheet_name(name: str, taken: set[str]) -> str:
    base = (name.translate(_SHEET_NAME_BANNED).strip("'") or "table")[:31]
    title, n = base, 1
    while title.lower() in taken:
        n += 1
        title = f"{base[:31 - len(str(n)) - 1]}_{n}"
    taken.add(title.lower())
    return title


def write_xlsx(tables: Sequence[Table], out: str | Path | IO[bytes]) -> None:
    """The tables as one Excel workbook: a worksheet per table, a bold frozen header row, then every row.

    Numbers stay numbers; text is defused as in ``table_csv`` (a formula is never written) and stripped of
    the control characters a workbook cannot hold. Written in openpyxl's streaming mode, so a table of
    hundreds of thousands of rows takes little memory. No tables gives a workbook with one empty sheet.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    def value(cell: Cell) -> Cell:
        if isinstance(cell, bool):
            return int(cell)
        if isinstance(cell, float) and not math.isfinite(cell):
            return None
        if isinstance(cell, str):
            cell = _safe(ILLEGAL_CHARACTERS_RE.sub("", cell)[:_CELL_MAX])
        return cell

    book = Workbook(write_only=True)
    bold = Font(bold=True)
    taken: set[str] = set()
    for table in tables or [Table("stats", "", (), ())]:
        sheet = book.create_sheet(_sheet_name(table.name, taken))
        sheet.freeze_panes = "A2"
        header = []
        for column in table.columns:
            cell = WriteOnlyCell(sheet, value=value(column))
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in table.rows:
            sheet.append([value(cell) for cell in row])
    book.save(out)  # type: ignore[arg-type]  # openpyxl takes a path or a binary file


def tables_xlsx(tables: Sequence[Table]) -> bytes:
    """``write_xlsx`` into memory: the workbook's bytes."""
    out = io.BytesIO()
    write_xlsx(tables, out)
    return out.getvalue()


def default_period(now: datetime, days: int) -> tuple[datetime, datetime]:
    """The last ``days`` days up to ``now``."""
    return now - timedelta(days=days), now


def read_texts(session: Session, since: datetime, until: datetime, queues: Collection[str] | None = None,
               limit: int = 20_000) -> list[tuple[int, str, datetime, str]]:
    """(inquiry id, topic, received, subject and the start of the new text) of the period's cases, newest first."""
    from pipeline.store.models import Inquiry, Message

    query = (select(Case.inquiry_id, Case.topic, Case.received_at, Message.subject, Inquiry.new_text)
             .join(Inquiry, Inquiry.id == Case.inquiry_id).join(Message, Message.id == Inquiry.message_pk)
             .where(Case.received_at >= since, Case.received_at < until)
             .order_by(Case.received_at.desc()).limit(limit))
    if queues is not None:
        query = query.where(Case.queue.in_(sorted(queues)))
    return [(i, topic, at, f"{subject or ''}\n{(text or '')[:2000]}") for i, topic, at, subject, text
            in session.execute(query)]


def recurrent_table(groups: Iterable[object]) -> Table:
    """The recurrent issues as a table (``groups``: ``pipeline.recurrent.Group``)."""
    rows = tuple(
        (g.topic, g.size, g.recent, g.earlier, "yes" if g.growing else "", " ".join(g.words),  # type: ignore[attr-defined]
         " ".join(f"#{i}" for i in g.examples))  # type: ignore[attr-defined]
        for g in groups
    )
    return Table("recurrent_issues", "Recurrent issues: similar inquiries grouped within each topic",
                 ("topic", "inquiries", "last_7_days", "7_days_before", "growing", "telling_words", "examples"), rows)
