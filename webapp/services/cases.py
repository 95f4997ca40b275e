"""The cases: the review app's working copy of each triaged inquiry, kept in step with the audit log.

Every state change and every decision is written to the audit log in the
transaction that makes it. ``sync_cases`` reads the log past the last event it
saw and refreshes the case of each inquiry named there: a new decision moves the
case unless staff reassigned or corrected it by hand; a new state opens or
closes it. One indexed table then answers every queue page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import StorageConflictError, StorageError
from pipeline.store.db import unit_of_work
from pipeline.store.lifecycle import is_open
from pipeline.store.models import AuditEvent, Case, CaseFeed, DecisionRecord, Inquiry, Message, utcnow

log = logging.getLogger(__name__)

_CHUNK = 500
_FEED_ID = 1
GAP_GRACE = timedelta(seconds=60)


def signal_flags(signals: dict[str, Any] | None) -> tuple[bool, bool]:
    """(urgent, complaint) from a stored decision's signals."""
    signals = signals or {}
    urgent = bool(signals.get("urgent")) or bool(signals.get("deadline"))
    complaint = bool(signals.get("complaint")) or bool(signals.get("escalation"))
    return urgent, complaint


def _apply(case: Case, state: str, decision: DecisionRecord | None) -> bool:
    changed = False
    if case.state != state:
        case.state, case.is_open, changed = state, is_open(state), True
    if decision is not None and decision.id != case.decision_id:
        case.decision_id = decision.id
        case.urgent, case.complaint = signal_flags(decision.signals)
        if case.queue_set_by is None:
            case.queue = decision.queue
        if case.labelled_by is None:
            case.topic, case.language = decision.topic, decision.language
        changed = True
    return changed


def received_time(sent_at: datetime | None, received_at: datetime) -> datetime:
    """When a case's clock starts: when its mail was sent, but never later than it was received."""
    return received_at if sent_at is None else min(sent_at, received_at)


def refresh_cases(session: Session, inquiry_ids: Iterable[int]) -> int:
    """Create or update the cases of these inquiries from their state and current decision; how many changed."""
    wanted = sorted(set(inquiry_ids))
    changed = 0
    now = utcnow()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(Inquiry.id, Inquiry.state, Inquiry.created_at, Message.sent_at, DecisionRecord)
            .join(Message, Message.id == Inquiry.message_pk)
            .outerjoin(DecisionRecord, and_(DecisionRecord.inquiry_id == Inquiry.id, DecisionRecord.is_current))
            .where(Inquiry.id.in_(chunk))
        ).all()
        cases = {c.inquiry_id: c for c in session.scalars(select(Case).where(Case.inquiry_id.in_(chunk)))}
        for inquiry_id, state, created_at, sent_at, decision in rows:
            case = cases.get(inquiry_id)
            if case is None:
                if decision is None:
                    continue  # not triaged yet: in no queue
                urgent, complaint = signal_flags(decision.signals)
                session.add(Case(
                    inquiry_id=inquiry_id, queue=decision.queue, topic=decision.topic, language=decision.language,
                    state=state, is_open=is_open(state), urgent=urgent, complaint=complaint,
                    received_at=received_time(sent_at, created_at), decision_id=decision.id, version=1, updated_at=now,
                ))
                changed += 1
            elif _apply(case, state, decision):
                case.version += 1
                case.updated_at = now
                changed += 1
    session.flush()
    return changed


def _feed_position(session: Session) -> int:
    feed = session.get(CaseFeed, _FEED_ID)
    return feed.last_audit_id if feed is not None else 0


def sync_cases(db: sessionmaker[Session], *, batch: int = 5000, until_done: bool = False) -> int:
    """Follow the audit log from where the cases stopped; return how many cases changed."""
    total = 0
    while True:
        with db() as session:
            position = _feed_position(session)
            newest = session.scalar(select(func.max(AuditEvent.id))) or 0
        if newest <= position:
            return total
        for attempt in range(3):
            try:
                total += _sync_step(db, batch)
                break
            except StorageConflictError:  # another process created the same case at the same moment
                if attempt == 2:
                    raise
        with db() as session:
            stuck = _feed_position(session) == position
        if not until_done or stuck:
            return total


def safe_position(position: int, events: list[tuple[int, datetime]], now: datetime) -> int:
    """How far the feed may advance: over consecutive ids, and over a gap only once it is old.

    On PostgreSQL an id is taken when a row is inserted but seen only at
    commit, so a lower id can appear after a higher one: a fresh gap may still
    fill, and the events after it are read again until it is older than the grace.
    """
    for event_id, at in events:
        if event_id != position + 1 and now - at < GAP_GRACE:
            break
        position = event_id
    return position


def _sync_step(db: sessionmaker[Session], batch: int) -> int:
    with unit_of_work(db) as session:
        position = _feed_position(session)
        events = session.execute(
            select(AuditEvent.id, AuditEvent.inquiry_id, AuditEvent.at).where(AuditEvent.id > position)
            .order_by(AuditEvent.id).limit(batch)
        ).all()
        if not events:
            return 0
        changed = refresh_cases(session, (inquiry_id for _, inquiry_id, _ in events if inquiry_id is not None))
        last = safe_position(position, [(event_id, at) for event_id, _, at in events], utcnow())
        if session.get(CaseFeed, _FEED_ID) is None:
            session.add(CaseFeed(id=_FEED_ID, last_audit_id=last))
        elif last > position:
            session.execute(update(CaseFeed).where(CaseFeed.id == _FEED_ID, CaseFeed.last_audit_id < last)
                            .values(last_audit_id=last))
        return changed


def refresh_before_reading(db: sessionmaker[Session]) -> None:
    """Bring the cases up to date before a page reads them; a busy database only delays that (logged)."""
    try:
        sync_cases(db)
    except StorageError as exc:
        log.warning("cases not brought up to date for this page (%s); they will be on the next one", exc)


def rebuild_cases(db: sessionmaker[Session], *, refresh_statistics_after: int = 1000) -> int:
    """Catch up with the whole audit log (at start-up); return how many cases changed.

    After a large catch-up on PostgreSQL the table's statistics and visibility map are refreshed
    (``VACUUM ANALYZE cases``), so the queue pages get their index-only plans from the first request.
    """
    changed = sync_cases(db, until_done=True)
    if changed:
        log.info("review app: %d case(s) brought up to date", changed)
    if changed >= refresh_statistics_after:
        with db() as session:
            engine = session.get_bind()
        if engine.dialect.name == "postgresql":
            autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")  # type: ignore[union-attr]
            with autocommit as connection:
                connection.execute(text("VACUUM ANALYZE cases"))
    return changed


def case_received(session: Session, inquiry_id: int) -> datetime | None:
    """When the case's inquiry was stored."""
    return session.scalar(select(Case.received_at).where(Case.inquiry_id == inquiry_id))
