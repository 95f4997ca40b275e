"""Server-side log-in sessions: the browser holds a random token, the database only its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
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
        row = WebSession(id=session_id_of(token), user_id=actor.id, created_at=now, expires_at=now + lifetime)
        session.add(row)
        return Login(token, row.id, row.expires_at)


def session_user(db: sessionmaker[Session], token: str) -> SessionUser | None:
    """The active person behind a token, or None when it is unknown, expired or their account is disabled."""
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
        if web_session.expires_at <= utcnow() or not user.active:
            return None
        return SessionUser(actor_of(session, user), web_session.id, web_session.expires_at)


def close_session(db: sessionmaker[Session], token: str) -> None:
    """End a session (log out)."""
    with unit_of_work(db) as session:
        session.execute(delete(WebSession).where(WebSession.id == session_id_of(token)))
