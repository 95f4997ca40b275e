"""Client portfolios: per sender organisation, its open cases, volumes by topic, times against the SLA, complaints.

The account managers' view. An organisation is ``inquiries.organisation`` (the
sender's registrable domain, ``pipeline.mail.organisation``); its cases are the
review app's working copies (``cases``). Read-only: every figure is one query,
in plain SQLAlchemy that runs the same on SQLite and PostgreSQL; percentiles and
shares are worked out in Python, the times table by ``pipeline.store.stats.response_times``.

Times against the SLA follow the statistics page: the first response is the
first reply approved or sent, the close the first move to a closed state, both
counted from ``received_at``. A case still waiting past its queue's target counts
as missed (``overdue``), so an organisation whose mail lies unanswered does not
look on time; a case closed without a reply has no first response and counts in
neither. ``share_within_target`` = within target / (done + overdue): the statistics'
table given ``now``, with p50 and p90.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, Unpack

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from pipeline.desks import DEFAULT_DESK
from pipeline.mail.organisation import display_name
from pipeline.store.lifecycle import CLOSED_STATES
from pipeline.store.models import AuditEvent, Case, Inquiry, Message, Suggestion
from pipeline.store.repository import of_desks
from pipeline.store.stats import Table, response_times

OPEN_LIMIT = 200
COMPLAINT_LIMIT = 100
_Query = TypeVar("_Query", bound="Select[Unpack[tuple[Any, ...]]]")


@dataclass(frozen=True)
class Scope:
    """Which cases count: ``queues`` None means every queue (admins); ``desk`` None every desk.

    Inquiries stored before desks existed have no desk: they belong to ``default_desk``.
    """

    queues: frozenset[str] | None = None
    desk: str | None = None
    default_desk: str = DEFAULT_DESK


@dataclass(frozen=True)
class OrganisationSummary:
    """One organisation as listed: open cases, the period's cases and complaints, first responses in time."""

    key: str
    name: str
    open_cases: int
    cases: int
    complaints: int
    due: int  # the period's cases answered, or waiting past their target
    within_target: int
    last_received_at: datetime | None

    @property
    def share_within_target(self) -> float | None:
        """The share of the period's due first responses given within the queue's target (None: none due)."""
        return round(self.within_target / self.due, 3) if self.due else None


@dataclass(frozen=True)
class OpenCase:
    """One open case of an organisation."""

    inquiry_id: int
    subject: str
    sender: str
    queue: str
    state: str
    topic: str
    urgent: bool
    complaint: bool
    received_at: datetime
    age: timedelta


@dataclass(frozen=True)
class Complaint:
    """A case of the period flagged as a complaint (or an escalation)."""

    inquiry_id: int
    subject: str
    sender: str
    queue: str
    state: str
    topic: str
    is_open: bool
    received_at: datetime


@dataclass(frozen=True)
class Portfolio:
    """One organisation's portfolio for a period (open cases whenever received)."""

    key: str
    name: str
    since: datetime
    until: datetime
    open_total: int
    cases: int  # received in the period
    complaints_total: int  # received in the period
    all_time: int
    open_cases: tuple[OpenCase, ...]
    topics: Table
    times: Table
    complaints: tuple[Complaint, ...]


@dataclass(frozen=True)
class _Timing:
    queue: str
    received_at: datetime
    is_open: bool
    first_response_at: datetime | None
    closed_at: datetime | None


def _scoped(query: _Query, scope: Scope) -> _Query:
    if scope.queues is not None:
        query = query.where(Case.queue.in_(sorted(scope.queues)))
    if scope.desk is not None:
        query = query.where(of_desks([scope.desk], scope.default_desk))
    return query


def _first_response() -> Any:
    return (select(func.min(func.coalesce(Suggestion.sent_at, Suggestion.approved_at)))
            .where(Suggestion.inquiry_id == Case.inquiry_id, Suggestion.kind == "reply",
                   Suggestion.status.in_(("approved", "sent")))
            .correlate(Case).scalar_subquery())


def _closed() -> Any:
    return (select(func.min(AuditEvent.at))
            .where(AuditEvent.inquiry_id == Case.inquiry_id, AuditEvent.to_state.in_(sorted(CLOSED_STATES)),
                   AuditEvent.from_state != AuditEvent.to_state)
            .correlate(Case).scalar_subquery())


def _in_period(since: datetime, until: datetime) -> ColumnElement[bool]:
    return (Case.received_at >= since) & (Case.received_at < until)


def _hours(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 3600)


def _first_response_in_time(timing: _Timing, target: float, now: datetime) -> tuple[bool, bool]:
    """(due, within target) of one case's first response."""
    if timing.first_response_at is not None:
        return True, _hours(timing.received_at, timing.first_response_at) <= target
    return timing.is_open and _hours(timing.received_at, now) > target, False


def organisations(session: Session, since: datetime, until: datetime, now: datetime,
                  target_hours: Callable[[str], float], scope: Scope = Scope()) -> list[OrganisationSummary]:
    """Every organisation with an open case or a case received in [since, until), most open cases first.

    ``target_hours``: a queue's response-time target (the SLA), as the statistics use it.
    """
    period = _in_period(since, until)
    counts = session.execute(_scoped(
        select(Inquiry.organisation, func.count().filter(Case.is_open.is_(True)), func.count().filter(period),
               func.count().filter(period & Case.complaint.is_(True)), func.max(Case.received_at))
        .select_from(Case).join(Inquiry, Inquiry.id == Case.inquiry_id)
        .where(Inquiry.organisation.is_not(None), or_(Case.is_open.is_(True), period))
        .group_by(Inquiry.organisation), scope)).all()
    due: dict[str, int] = defaultdict(int)
    within: dict[str, int] = defaultdict(int)
    for key, queue, received_at, is_open, first_response_at in session.execute(_scoped(
        select(Inquiry.organisation, Case.queue, Case.received_at, Case.is_open, _first_response())
        .select_from(Case).join(Inquiry, Inquiry.id == Case.inquiry_id)
        .where(Inquiry.organisation.is_not(None), period), scope)):
        is_due, in_time = _first_response_in_time(
            _Timing(queue, received_at, bool(is_open), first_response_at, None), target_hours(queue), now)
        due[key or ""] += is_due
        within[key or ""] += in_time
    found = [OrganisationSummary(key, display_name(key), open_cases, cases, complaints, due[key], within[key], last)
             for key, open_cases, cases, complaints, last in counts if key is not None]
    found.sort(key=lambda o: (-o.open_cases, -o.cases, o.key))
    return found


def portfolio(session: Session, key: str, since: datetime, until: datetime, now: datetime,
              target_hours: Callable[[str], float], scope: Scope = Scope()) -> Portfolio | None:
    """One organisation's portfolio (in ``scope``); None when it has no case there at all."""
    mine = Inquiry.organisation == key
    period = _in_period(since, until)
    joined = select().select_from(Case).join(Inquiry, Inquiry.id == Case.inquiry_id)

    all_time, open_total, cases, complaints_total = session.execute(_scoped(
        joined.add_columns(func.count(), func.count().filter(Case.is_open.is_(True)), func.count().filter(period),
                           func.count().filter(period & Case.complaint.is_(True))).where(mine), scope)).one()
    if not all_time:
        return None

    with_message = joined.join(Message, Message.id == Inquiry.message_pk)
    open_cases = tuple(
        OpenCase(i, subject or "", sender or "", queue, state, topic, bool(urgent), bool(complaint), received,
                 max(timedelta(0), now - received))
        for i, subject, sender, queue, state, topic, urgent, complaint, received in session.execute(_scoped(
            with_message.add_columns(Case.inquiry_id, Message.subject, Message.sender_address, Case.queue,
                                     Case.state, Case.topic, Case.urgent, Case.complaint, Case.received_at)
            .where(mine, Case.is_open.is_(True))
            .order_by(Case.received_at, Case.inquiry_id).limit(OPEN_LIMIT), scope)))

    topic_rows = session.execute(_scoped(
        joined.add_columns(Case.topic, func.count(), func.count().filter(Case.is_open.is_(True)),
                           func.count().filter(Case.complaint.is_(True)))
        .where(mine, period).group_by(Case.topic), scope)).all()
    topics = Table("topics", "Cases received per topic", ("topic", "cases", "open", "complaints", "share"),
                   tuple((topic, n, n_open, n_complaints, round(n / cases, 3) if cases else None)
                         for topic, n, n_open, n_complaints in sorted(topic_rows, key=lambda r: (-r[1], r[0]))))

    timings = [_Timing(*row) for row in session.execute(_scoped(
        joined.add_columns(Case.queue, Case.received_at, Case.is_open, _first_response(), _closed())
        .where(mine, period), scope))]

    complaints = tuple(
        Complaint(i, subject or "", sender or "", queue, state, topic, bool(is_open), received)
        for i, subject, sender, queue, state, topic, is_open, received in session.execute(_scoped(
            with_message.add_columns(Case.inquiry_id, Message.subject, Message.sender_address, Case.queue,
                                     Case.state, Case.topic, Case.is_open, Case.received_at)
            .where(mine, period, Case.complaint.is_(True))
            .order_by(Case.received_at.desc(), Case.inquiry_id.desc()).limit(COMPLAINT_LIMIT), scope)))

    times = response_times(timings, target_hours, now, percentiles=(0.5, 0.9))
    return Portfolio(key, display_name(key), since, until, open_total, cases, complaints_total, all_time,
                     open_cases, topics, times, complaints)
