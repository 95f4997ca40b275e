"""Queues: what each one holds, counted and filtered, ages against the queue's response-time target."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, Unpack

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store.models import Case, CaseFeed, Hold, Inquiry, Message, User, utcnow
from webapp.errors import BadInput, Forbidden, NotFound
from webapp.filters import AGES, QueueFilters
from webapp.services.users import Actor
from webapp.sla import Targets
from webapp.vocabulary import Vocabulary

_Query = TypeVar("_Query", bound="Select[Unpack[tuple[Any, ...]]]")


@dataclass(frozen=True)
class QueueSummary:
    """One queue as listed: open cases, those past or near the target, the target itself, its desk."""

    id: str
    description: str
    open: int
    overdue: int
    due_soon: int
    target: timedelta
    desk: str = ""
    desk_name: str = ""


@dataclass(frozen=True)
class DeskSummaries:
    """The queues of one desk as listed on the overview (``name`` empty when the office has one desk)."""

    desk: str
    name: str
    queues: tuple[QueueSummary, ...]


@dataclass(frozen=True)
class CaseRow:
    """One case on a queue page."""

    inquiry_id: int
    subject: str
    sender: str
    topic: str
    language: str
    state: str
    urgent: bool
    complaint: bool
    received_at: datetime
    age: timedelta
    sla: str
    held_by: str | None


@dataclass(frozen=True)
class QueuePage:
    """One page of a queue."""

    queue: QueueSummary
    filters: QueueFilters
    rows: tuple[CaseRow, ...]
    total: int
    pages: int


def visible_queues(actor: Actor, vocabulary: Vocabulary) -> list[str]:
    """The queues this person may open, in the taxonomy's order."""
    return [q for q in vocabulary.queues if actor.can_work(q)]


def check_queue(actor: Actor, queue: str, vocabulary: Vocabulary) -> None:
    """``NotFound`` for an unknown queue, ``Forbidden`` for one that is not the person's."""
    if queue not in vocabulary.queues:
        raise NotFound("no such queue")
    if not actor.can_work(queue):
        raise Forbidden(f"the queue {queue!r} is not one of yours; an admin can assign it to you")


class CountCache:
    """Queue counts kept a few seconds: they change when the audit log moves on, or as time passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._found: dict[tuple[object, ...], tuple[float, QueueSummary]] = {}

    def get(self, key: tuple[object, ...]) -> QueueSummary | None:
        """The counts kept under ``key`` if they are recent enough."""
        with self._lock:
            kept = self._found.get(key)
        if kept is None or time.monotonic() - kept[0] > self.seconds:
            return None
        return kept[1]

    def put(self, key: tuple[object, ...], summary: QueueSummary) -> None:
        """Keep counts (the keys of older feed positions go)."""
        with self._lock:
            if len(self._found) > 1000:
                self._found.clear()
            self._found[key] = (time.monotonic(), summary)


def summaries(session: Session, queues: list[str], vocabulary: Vocabulary, sla: Targets,
              now: datetime, cache: CountCache | None = None) -> list[QueueSummary]:
    """Open, overdue and due-soon counts of these queues (from ``cache`` while nothing changed)."""
    position = session.scalar(select(CaseFeed.last_audit_id).where(CaseFeed.id == 1)) if cache else None
    keys = {q: (q, position, sla.target(q), sla.warn(q)) for q in queues}
    cached = {q: hit for q in queues if cache is not None and (hit := cache.get(keys[q])) is not None}
    missing = [q for q in queues if q not in cached]
    counted: dict[str, tuple[int, int, int]] = {}
    if missing:
        overdue_at = case({q: now - sla.target(q) for q in missing}, value=Case.queue)
        soon_at = case({q: now - sla.target(q) * sla.warn(q) for q in missing}, value=Case.queue)
        rows = session.execute(
            select(Case.queue, func.count(), func.count().filter(Case.received_at <= overdue_at),
                   func.count().filter(Case.received_at <= soon_at))
            .where(Case.is_open == True, Case.queue.in_(missing)).group_by(Case.queue)  # noqa: E712
        ).all()
        counted = {queue: (total, overdue, soon) for queue, total, overdue, soon in rows}
    found = []
    for queue in queues:
        if queue in cached:
            found.append(cached[queue])
            continue
        total, overdue, soon = counted.get(queue, (0, 0, 0))
        desk = vocabulary.desk_of(queue)
        summary = QueueSummary(queue, vocabulary.queues.get(queue, ""), total, overdue, soon - overdue,
                               sla.target(queue), desk, vocabulary.desks.get(desk, desk))
        if cache is not None:
            cache.put(keys[queue], summary)
        found.append(summary)
    return found


def queue_overview(db: sessionmaker[Session], actor: Actor, vocabulary: Vocabulary, sla: Targets,
                   cache: CountCache | None = None) -> list[QueueSummary]:
    """Every queue the person may open, with its counts."""
    with db() as session:
        return summaries(session, visible_queues(actor, vocabulary), vocabulary, sla, utcnow(), cache)


def by_desk(overview: list[QueueSummary], vocabulary: Vocabulary) -> list[DeskSummaries]:
    """The overview's queues under the desk each is listed under; one group with no name when there is one desk."""
    if not vocabulary.several_desks:
        return [DeskSummaries("", "", tuple(overview))] if overview else []
    found = {s.id: s for s in overview}
    return [DeskSummaries(group.id, group.name or "other queues", tuple(found[q] for q in group.queues))
            for group in vocabulary.grouped(list(found))]


def _filtered(query: _Query, queue: str, filters: QueueFilters, sla: Targets, now: datetime,
              user_id: int | None = None) -> _Query:
    query = query.where(Case.queue == queue)
    if "mine" in filters.signals:
        query = query.where(Case.inquiry_id.in_(select(Hold.inquiry_id).where(
            Hold.user_id == user_id, Hold.expires_at > now)))
    if filters.status == "open":
        query = query.where(Case.is_open == True)  # noqa: E712
    elif filters.status != "all":
        query = query.where(Case.state == filters.status)
    if filters.topic:
        query = query.where(Case.topic == filters.topic)
    if filters.language:
        query = query.where(Case.language == filters.language)
    if "urgent" in filters.signals:
        query = query.where(Case.urgent == True)  # noqa: E712
    if "complaint" in filters.signals:
        query = query.where(Case.complaint == True)  # noqa: E712
    if filters.age == "overdue":
        query = query.where(Case.received_at <= now - sla.target(queue))
    elif filters.age == "soon":
        query = query.where(Case.received_at <= now - sla.target(queue) * sla.warn(queue))
    elif filters.age:
        older = AGES[filters.age]
        assert older is not None
        query = query.where(Case.received_at <= now - older)
    return query


def holders(session: Session, inquiry_ids: list[int], now: datetime) -> dict[int, str]:
    """Who holds each of these cases right now."""
    if not inquiry_ids:
        return {}
    rows = session.execute(
        select(Hold.inquiry_id, User.display_name, User.username).join(User, User.id == Hold.user_id)
        .where(Hold.inquiry_id.in_(inquiry_ids), Hold.expires_at > now)
    )
    return {inquiry_id: display or username for inquiry_id, display, username in rows}


def queue_page(db: sessionmaker[Session], actor: Actor, queue: str, filters: QueueFilters, *,
               vocabulary: Vocabulary, sla: Targets, page_size: int, summary: QueueSummary | None = None) -> QueuePage:
    """One page of a queue's cases, filtered, oldest (or newest) first (``summary``: its counts, if known)."""
    check_queue(actor, queue, vocabulary)
    now = utcnow()
    with db() as session:
        if summary is None:
            summary = summaries(session, [queue], vocabulary, sla, now)[0]
        total = session.scalar(_filtered(select(func.count()).select_from(Case), queue, filters, sla, now,
                                         actor.id)) or 0
        pages = max(1, -(-total // page_size))
        if filters.page > pages and total:
            raise BadInput(f"page {filters.page} is past the last page ({pages})")
        order = Case.received_at.desc() if filters.sort == "newest" else Case.received_at.asc()
        tie = Case.inquiry_id.desc() if filters.sort == "newest" else Case.inquiry_id.asc()
        first = (Case.urgent.desc(),) if filters.sort == "urgent" else ()
        query = _filtered(
            select(Case, Message.subject, Message.sender_name, Message.sender_address)
            .join(Inquiry, Inquiry.id == Case.inquiry_id).join(Message, Message.id == Inquiry.message_pk),
            queue, filters, sla, now, actor.id,
        ).order_by(*first, order, tie).limit(page_size).offset((filters.page - 1) * page_size)
        found = session.execute(query).all()
        held = holders(session, [case.inquiry_id for case, *_ in found], now)
    rows = tuple(
        CaseRow(
            inquiry_id=case.inquiry_id, subject=subject or "(no subject)",
            sender=name or address or "(unknown sender)", topic=case.topic, language=case.language,
            state=case.state, urgent=case.urgent, complaint=case.complaint, received_at=case.received_at,
            age=now - case.received_at, sla=sla.status(queue, case.received_at, now) if case.is_open else "closed",
            held_by=held.get(case.inquiry_id),
        )
        for case, subject, name, address in found
    )
    return QueuePage(summary, filters, rows, total, pages)


def next_case(db: sessionmaker[Session], actor: Actor, after: int) -> int | None:
    """The case to open after finishing ``after``: its queue's most pressing open one nobody else holds."""
    now = utcnow()
    with db() as session:
        queue = session.scalar(select(Case.queue).where(Case.inquiry_id == after))
        if queue is None or not actor.can_work(queue):
            return None
        held = select(Hold.inquiry_id).where(Hold.expires_at > now, Hold.user_id != actor.id)
        return session.scalar(
            select(Case.inquiry_id).where(Case.queue == queue, Case.is_open == True,  # noqa: E712
                                          Case.inquiry_id != after, Case.inquiry_id.not_in(held))
            .order_by(Case.urgent.desc(), Case.received_at.asc(), Case.inquiry_id.asc()).limit(1))
