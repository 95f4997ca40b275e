"""IMAP sync state in the database: mailbox health, per-folder progress, unfetchable messages.

Each function is one short transaction of its own. Folder progress only moves
forward for the same UIDVALIDITY, so two nodes syncing the same folder never
move it back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import StorageConflictError, StorageError
from pipeline.quarantine import QuarantineReason
from pipeline.sources.base import Origin
from pipeline.store import repository as repo
from pipeline.store.db import read_session, unit_of_work
from pipeline.store.models import FolderSyncState, Mailbox, RawBlob, utcnow

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_AUTH_FAILED = "auth_failed"


@dataclass(frozen=True)
class FolderProgress:
    """How far a folder is synced: everything up to ``last_uid`` under ``uidvalidity`` is handled."""

    uidvalidity: int | None
    last_uid: int


@dataclass(frozen=True)
class FolderReport:
    """One folder's sync state, for ``triage status``."""

    folder: str
    uidvalidity: int | None
    last_uid: int
    first_synced_at: datetime | None
    last_sync_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class MailboxReport:
    """One mailbox's health and its folders, for ``triage status``."""

    name: str
    host: str
    user: str
    status: str
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    alert: str | None
    folders: tuple[FolderReport, ...]


def ensure_mailbox(factory: sessionmaker[Session], name: str, host: str, user: str) -> int:
    """The id of the mailbox row for a configured mailbox, created or updated as needed."""
    for _ in range(2):
        try:
            with unit_of_work(factory) as session:
                row = session.scalars(select(Mailbox).where(Mailbox.name == name)).one_or_none()
                if row is None:
                    row = Mailbox(name=name, host=host, user=user, status="unknown")
                    session.add(row)
                elif (row.host, row.user) != (host, user):
                    row.host, row.user = host, user
                session.flush()
                return int(row.id)
        except StorageConflictError:  # another node created it at the same moment
            continue
    raise StorageError(f"cannot create the mailbox row for {name!r}")


def _folder_row(session: Session, mailbox_id: int, folder: str) -> FolderSyncState | None:
    return session.scalars(
        select(FolderSyncState).where(FolderSyncState.mailbox_id == mailbox_id, FolderSyncState.folder == folder)
    ).one_or_none()


def load_progress(factory: sessionmaker[Session], mailbox_id: int, folder: str) -> FolderProgress | None:
    """The stored progress of a folder, or None when it was never synced."""
    with read_session(factory) as session:
        row = _folder_row(session, mailbox_id, folder)
        return None if row is None else FolderProgress(row.uidvalidity, int(row.last_uid or 0))


def _upsert(session: Session, mailbox_id: int, folder: str) -> FolderSyncState:
    row = _folder_row(session, mailbox_id, folder)
    if row is None:
        row = FolderSyncState(mailbox_id=mailbox_id, folder=folder, last_uid=0)
        session.add(row)
    return row


def start_over(factory: sessionmaker[Session], mailbox_id: int, folder: str, uidvalidity: int) -> None:
    """Begin a folder afresh under a new UIDVALIDITY (first sync, or the server renumbered it)."""
    for _ in range(2):
        try:
            with unit_of_work(factory) as session:
                row = _upsert(session, mailbox_id, folder)
                row.uidvalidity = uidvalidity
                row.last_uid = 0
                return
        except StorageConflictError:
            continue
    raise StorageError(f"cannot record the sync state of folder {folder!r}")


def advance(factory: sessionmaker[Session], mailbox_id: int, folder: str, uidvalidity: int, last_uid: int) -> None:
    """Record that everything up to ``last_uid`` is handled (never moves back, only for the same UIDVALIDITY)."""
    now = utcnow()
    with unit_of_work(factory) as session:
        row = _folder_row(session, mailbox_id, folder)
        if row is None or row.uidvalidity != uidvalidity:
            return
        if last_uid > (row.last_uid or 0):
            row.last_uid = last_uid
        row.first_synced_at = row.first_synced_at or now
        row.last_sync_at = now
        row.last_error = None


def folder_failed(factory: sessionmaker[Session], mailbox_id: int, folder: str, error: str) -> None:
    """Keep a folder's last error (its progress stays where it was)."""
    with unit_of_work(factory) as session:
        row = _upsert(session, mailbox_id, folder)
        row.last_sync_at = utcnow()
        row.last_error = error[:2000]


def mailbox_succeeded(factory: sessionmaker[Session], mailbox_id: int, *, alert: str | None = None) -> None:
    """Mark a mailbox healthy after a complete sync; ``alert`` replaces any earlier alert (None clears it)."""
    now = utcnow()
    with unit_of_work(factory) as session:
        row = session.get(Mailbox, mailbox_id)
        if row is not None:
            row.status = STATUS_OK
            row.last_sync_at = now
            row.last_success_at = now
            row.last_error = None
            row.alert = alert[:2000] if alert else None


def mailbox_failed(factory: sessionmaker[Session], mailbox_id: int, error: str, *, auth: bool = False) -> None:
    """Mark a mailbox failing; an authentication failure also raises its alert."""
    with unit_of_work(factory) as session:
        row = session.get(Mailbox, mailbox_id)
        if row is not None:
            row.status = STATUS_AUTH_FAILED if auth else STATUS_ERROR
            row.last_sync_at = utcnow()
            row.last_error = error[:2000]
            if auth:
                row.alert = error[:2000]


def record_unfetchable(factory: sessionmaker[Session], origin: Origin, code: QuarantineReason, error: str) -> bool:
    """Quarantine a message the server would not hand over (no bytes) under ``code``, so it is listed, not lost.

    Returns False when that message was already recorded.
    """
    empty = hashlib.sha256(b"").hexdigest()
    with unit_of_work(factory) as session:
        if repo.quarantine_exists(session, empty, origin.source) is not None:
            return False
        if session.get(RawBlob, empty) is None:
            repo.add_blob(session, empty, b"")
            session.flush()
        record = repo.add_quarantine(session, empty, origin, code, error)
        session.flush()
        details = repo.origin_details(origin)
        details["code"] = str(code)
        details["reason"] = error
        repo.record_event(session, "quarantined", quarantine_id=record.id, to_state="quarantined", details=details)
        return True


def mailbox_reports(factory: sessionmaker[Session]) -> list[MailboxReport]:
    """Every known mailbox with its folders, by name."""
    with read_session(factory) as session:
        boxes = session.scalars(select(Mailbox).order_by(Mailbox.name)).all()
        folders = session.scalars(select(FolderSyncState).order_by(FolderSyncState.folder)).all()
    by_box: dict[int, list[FolderReport]] = {}
    for row in folders:
        by_box.setdefault(row.mailbox_id, []).append(FolderReport(
            row.folder, row.uidvalidity, int(row.last_uid or 0), row.first_synced_at, row.last_sync_at,
            row.last_error))
    return [
        MailboxReport(box.name, box.host, box.user, box.status, box.last_sync_at, box.last_success_at,
                      box.last_error, box.alert, tuple(by_box.get(box.id, [])))
        for box in boxes
    ]
