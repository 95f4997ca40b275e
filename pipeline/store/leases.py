"""Leases in the database: which daemon may sync a mailbox folder, and which daemons are alive.

A lease is a row keyed by (mailbox, folder) naming its holder and when it
expires. Every time is taken from the database's clock (``now()`` on
PostgreSQL), never from the caller's, so daemons whose clocks disagree still
agree on who holds what. Taking a lease is one atomic upsert: it succeeds when
the row is free, expired, or already ours. SQLite has no server clock: there
the host's clock is used, which is the same for every process that can open
the file.

Each function is one short transaction of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store.db import unit_of_work
from pipeline.store.models import FolderLease, utcnow

DAEMON_MAILBOX = "*daemon*"  # presence rows: folder = the daemon's holder id


@dataclass(frozen=True)
class Claim:
    """The answer to a request for a lease: granted or not, who holds it, for how long still."""

    granted: bool
    holder: str
    seconds_left: float


@dataclass(frozen=True)
class LeaseRow:
    """One live lease, for status and metrics."""

    mailbox: str
    folder: str
    holder: str
    seconds_left: float


def database_now(session: Session) -> datetime:
    """The current time by the database's clock (the host's clock on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.scalar(select(func.now()))
        assert value is not None
        return value
    return utcnow()


def _upsert(session: Session, mailbox: str, folder: str, holder: str, now: datetime, until: datetime) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(FolderLease).values(mailbox=mailbox, folder=folder, holder=holder, acquired_at=now,
                                           expires_at=until)
    upsert = statement.on_conflict_do_update(
        index_elements=[FolderLease.mailbox, FolderLease.folder],
        set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at,
              "acquired_at": statement.excluded.acquired_at},
        where=(FolderLease.holder == holder) | (FolderLease.expires_at <= now),
    ).returning(FolderLease.holder)
    return session.execute(upsert).first() is not None


def acquire(factory: sessionmaker[Session], mailbox: str, folder: str, holder: str, seconds: float) -> Claim:
    """Take (or extend) the lease of a folder for ``seconds``; refused while another holder's lease runs."""
    with unit_of_work(factory) as session:
        now = database_now(session)
        if _upsert(session, mailbox, folder, holder, now, now + timedelta(seconds=seconds)):
            return Claim(True, holder, seconds)
        row = session.get(FolderLease, (mailbox, folder))
        if row is None:  # released between the two statements: free next time
            return Claim(False, "", 0.0)
        return Claim(False, row.holder, max(0.0, (row.expires_at - now).total_seconds()))


def renew(factory: sessionmaker[Session], holder: str, seconds: float) -> set[tuple[str, str]]:
    """Extend every lease ``holder`` still has; return the (mailbox, folder) of those it still has."""
    with unit_of_work(factory) as session:
        now = database_now(session)
        rows = session.execute(
            update(FolderLease).where(FolderLease.holder == holder)
            .values(expires_at=now + timedelta(seconds=seconds))
            .returning(FolderLease.mailbox, FolderLease.folder)
        ).all()
    return {(mailbox, folder) for mailbox, folder in rows}


def release(factory: sessionmaker[Session], mailbox: str, folder: str, holder: str) -> None:
    """Give a lease back (when ``holder`` still has it), so another daemon may take it at once."""
    with unit_of_work(factory) as session:
        session.execute(delete(FolderLease).where(FolderLease.mailbox == mailbox, FolderLease.folder == folder,
                                                  FolderLease.holder == holder))


def release_all(factory: sessionmaker[Session], holder: str) -> None:
    """Give back every lease of ``holder``, its presence too (a daemon stopping)."""
    with unit_of_work(factory) as session:
        session.execute(delete(FolderLease).where(FolderLease.holder == holder))


def announce(factory: sessionmaker[Session], holder: str, seconds: float) -> None:
    """Record that the daemon ``holder`` is alive for ``seconds`` (renewed with its leases)."""
    acquire(factory, DAEMON_MAILBOX, holder, holder, seconds)


def live_leases(factory: sessionmaker[Session]) -> list[LeaseRow]:
    """Every lease not expired yet, presence rows included, by mailbox and folder."""
    with factory() as session:
        now = database_now(session)
        rows = session.scalars(select(FolderLease).where(FolderLease.expires_at > now)
                               .order_by(FolderLease.mailbox, FolderLease.folder)).all()
    return [LeaseRow(r.mailbox, r.folder, r.holder, (r.expires_at - now).total_seconds()) for r in rows]


def live_daemons(factory: sessionmaker[Session]) -> list[str]:
    """The holder ids of the daemons alive now."""
    return [row.holder for row in live_leases(factory) if row.mailbox == DAEMON_MAILBOX]


def holders_on_host(factory: sessionmaker[Session], host: str) -> set[str]:
    """Every holder id (live or expired) whose daemon ran on ``host``."""
    prefix = f"{host}:"
    with factory() as session:
        found = session.scalars(select(FolderLease.holder).where(FolderLease.holder.like(f"{host}:%")))
        return {holder for holder in found if holder.startswith(prefix)}  # LIKE's "_" matches any character
