"""Server-side log-in sessions: the browser holds a random token, the database only its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store.db import unit_of_work
from pipeline.store.models import User, WebSession, utcnow
from webapp.services.users import Actor, actor_of

_TOKEN_CHARS = 43  # token_urlsafe(32)


@dataclass(frozen=True)
class Login:
    """A session just opened: the token for the cookie (shown once), its id and expiry."""

    token: str
    session_id: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionUser:
    """The person behind a valid session."""

    actor: Actor
    session_id: str
    expires_at: datetime


def session_id_of(token: str) -> str:
    """The stored id of a session token."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def open_session(db: sessionmaker[Session], actor: Actor, lifetime: timedelta) -> Login:
    """Start a session for a person who just proved who they are."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with unit_of_work(db) as session:
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        row = WebSession(id=session_id_of(token), user_id=actor.id, created_at=now, expires_at=now + lifetime,
                         last_seen_at=now)
        session.add(row)
        return Login(token, row.id, row.expires_at)


_TOUCH_EVERY = timedelta(minutes=1)  # the last use is written at most this often


def session_user(db: sessionmaker[Session], token: str, idle: timedelta | None = None) -> SessionUser | None:
    """The active person behind a token, or None when it is unknown, expired, unused for longer than ``idle``
    or their account is disabled; a use is noted for the idle timeout."""
    if not token or len(token) > _TOKEN_CHARS + 8:
        return None
    with db() as session:
        row = session.execute(
            select(WebSession, User).join(User, User.id == WebSession.user_id)
            .where(WebSession.id == session_id_of(token))
        ).first()
        if row is None:
            return None
        web_session, user = row
        now = utcnow()
        last_used = web_session.last_seen_at or web_session.created_at
        if web_session.expires_at <= now or not user.active or (idle is not None and last_used + idle <= now):
            return None
        found = SessionUser(actor_of(session, user), web_session.id, web_session.expires_at)
    if now - last_used >= _TOUCH_EVERY:
        with unit_of_work(db) as session:
            session.execute(update(WebSession).where(WebSession.id == found.session_id).values(last_seen_at=now))
    return found


def close_session(db: sessionmaker[Session], token: str) -> None:
    """End a session (log out)."""
    with unit_of_work(db) as session:
        session.execute(delete(WebSession).where(WebSession.id == session_id_of(token)))
