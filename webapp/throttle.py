"""Slow down password guessing: an attempt is counted in the database before its password is checked.

Keys are a name at an address (so nobody can lock someone else out from elsewhere) and an address on its
own (with a larger allowance, so one address cannot spray many names). The counters live in the database,
so every process of the review app shares them, and a reservation is one conditional UPDATE, so parallel
requests cannot all slip in under the limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store.db import unit_of_work
from pipeline.store.models import LoginCounter, utcnow

log = logging.getLogger(__name__)
ADDRESS_FACTOR = 4  # an address may try this many times the per-name allowance, spread over names


class _Refused(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


@dataclass(frozen=True)
class ThrottleKey:
    """One counter and how many attempts it allows per window."""

    key: str
    limit: int


@dataclass
class LoginThrottle:
    """Counts log-in attempts per key in fixed windows, in the database (shared by every app process).

    ``reserve`` counts an attempt before the password is checked, or refuses it when a key has used up
    its allowance; ``succeeded`` gives back what a good log-in used.
    """

    db: sessionmaker[Session]
    max_failures: int = 5
    window_seconds: float = 900.0
    clock: Callable[[], datetime] = field(default=utcnow)

    def keys(self, username: str, client: str | None) -> tuple[ThrottleKey, ThrottleKey]:
        """The counters of one attempt: the name at the address, and the address."""
        name, address = login_keys(username, client)
        return (ThrottleKey(f"{name}@{address}", self.max_failures),
                ThrottleKey(address, self.max_failures * ADDRESS_FACTOR))

    def reserve(self, username: str, client: str | None) -> float:
        """Count one attempt; 0 when it may go on, else the seconds until it may (nothing counted then)."""
        now = self.clock()
        window = timedelta(seconds=self.window_seconds)
        keys = self.keys(username, client)
        try:
            with unit_of_work(self.db) as session:
                wait = max(self._take(session, key, now, window) for key in keys)
                if wait:
                    raise _Refused(wait)  # rolls back what the other key counted: a refused attempt checks nothing
        except _Refused as refused:
            return refused.wait
        return 0.0

    @staticmethod
    def _take(session: Session, key: ThrottleKey, now: datetime, window: timedelta) -> float:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(LoginCounter).values(key=key.key, attempts=0, window_start=now)
                        .on_conflict_do_nothing(index_elements=["key"]))
        expired = LoginCounter.window_start <= now - window
        taken = session.execute(
            update(LoginCounter)
            .where(LoginCounter.key == key.key, (LoginCounter.attempts < key.limit) | expired)
            .values(attempts=case((expired, 1), else_=LoginCounter.attempts + 1),
                    window_start=case((expired, now), else_=LoginCounter.window_start))
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0):  # a CursorResult: one row when the attempt was counted
            return 0.0
        counter = session.get(LoginCounter, key.key, populate_existing=True)
        start = counter.window_start if counter is not None else now
        return max(1.0, (start + window - now).total_seconds())

    def succeeded(self, username: str, client: str | None) -> None:
        """A good log-in: forget the name's attempts at this address and give back the address's one."""
        pair, address = self.keys(username, client)
        with unit_of_work(self.db) as session:
            session.execute(delete(LoginCounter).where(LoginCounter.key == pair.key))
            session.execute(update(LoginCounter).where(LoginCounter.key == address.key, LoginCounter.attempts > 0)
                            .values(attempts=LoginCounter.attempts - 1).execution_options(synchronize_session=False))


def login_keys(username: str, client: str | None) -> tuple[str, str]:
    """The throttle keys of one attempt: the account name and the client's address."""
    return f"user:{username.strip().lower()[:64]}", f"addr:{(client or 'unknown')[:64]}"
