"""What the store holds right now, counted for metrics: messages, inquiries per state, quarantine,
deliveries per state, each folder's last progress, each mailbox's health, live daemons."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.store.leases import DAEMON_MAILBOX, database_now
from pipeline.store.models import Delivery, FolderLease, FolderSyncState, Inquiry, Mailbox, Message, QuarantineRecord


@dataclass(frozen=True)
class FolderGauge:
    """One folder: its mailbox, and when it last made progress or its mailbox last synced completely."""

    mailbox: str
    folder: str
    last_synced_at: datetime | None


@dataclass(frozen=True)
class MailboxGauge:
    """One mailbox's health."""

    name: str
    status: str
    alert: bool


@dataclass
class StoreGauges:
    """The counts of one moment, by the database's clock."""

    now: datetime
    messages: int = 0
    inquiries: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    folders: list[FolderGauge] = field(default_factory=list)
    mailboxes: list[MailboxGauge] = field(default_factory=list)
    daemons: int = 0


def read_gauges(session: Session) -> StoreGauges:
    """Count what the store holds now (a handful of aggregate queries)."""
    now = database_now(session)
    gauges = StoreGauges(now=now)
    gauges.messages = int(session.scalar(select(func.count()).select_from(Message)) or 0)
    gauges.inquiries = {state: int(n) for state, n in
                        session.execute(select(Inquiry.state, func.count()).group_by(Inquiry.state))}
    gauges.quarantined = int(session.scalar(select(func.count()).select_from(QuarantineRecord)
                                            .where(QuarantineRecord.released_at.is_(None))) or 0)
    gauges.deliveries = {state: int(n) for state, n in
                         session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))}
    boxes = session.scalars(select(Mailbox).order_by(Mailbox.name)).all()
    by_id = {box.id: box for box in boxes}
    gauges.mailboxes = [MailboxGauge(box.name, box.status, box.alert is not None) for box in boxes]
    for row in session.scalars(select(FolderSyncState).order_by(FolderSyncState.folder)):
        box = by_id.get(row.mailbox_id)
        if box is None:
            continue
        # A folder with no new mail makes no progress; its mailbox's last complete sync covers it too.
        times = [t for t in (row.last_sync_at, box.last_success_at) if t is not None]
        gauges.folders.append(FolderGauge(box.name, row.folder, max(times) if times else None))
    gauges.daemons = int(session.scalar(select(func.count()).select_from(FolderLease).where(
        FolderLease.mailbox == DAEMON_MAILBOX, FolderLease.expires_at > now)) or 0)
    return gauges
