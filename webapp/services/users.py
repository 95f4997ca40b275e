"""Staff accounts: create, list, change password, assign queues, disable; and log-in checks."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store.db import unit_of_work
from pipeline.store.models import User, UserQueue, WebSession, utcnow
from webapp.errors import BadInput, Conflict, NotFound
from webapp.passwords import hash_password, needs_rehash, password_problem, verify_password

ROLES = ("staff", "admin")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in member of staff, with their role and queues."""

    id: int
    username: str
    display_name: str
    role: str
    queues: frozenset[str]

    @property
    def is_admin(self) -> bool:
        """Admins see every queue and the admin pages."""
        return self.role == "admin"

    @property
    def name(self) -> str:
        """The name shown to others."""
        return self.display_name or self.username

    def can_work(self, queue: str) -> bool:
        """Whether this person may open the queue and its cases."""
        return self.is_admin or queue in self.queues


@dataclass(frozen=True)
class UserView:
    """An account as listed: never its password hash."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    queues: tuple[str, ...]
    created_at: datetime
    last_login_at: datetime | None


def check_username(username: str) -> str:
    """The user name, lower-cased, or ``BadInput`` saying what is allowed."""
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise BadInput("a user name is 2 to 64 characters: letters, digits, '.', '_', '@' or '-'")
    return name


def check_queues(queues: Iterable[str], known: Collection[str]) -> tuple[str, ...]:
    """The queues, each known to the taxonomy, without repeats; ``BadInput`` otherwise."""
    chosen: list[str] = []
    for queue in queues:
        queue = queue.strip()
        if not queue:
            continue
        if queue not in known:
            raise BadInput(f"unknown queue {queue[:64]!r}; known: {', '.join(known)}")
        if queue not in chosen:
            chosen.append(queue)
    return tuple(chosen)


def with_desk_queues(queues: Iterable[str], desks: Iterable[str],
                     desk_queues: Mapping[str, Iterable[str]]) -> list[str]:
    """The chosen queues and every queue of each chosen desk (``desk_queues``: desk → its queues); ``BadInput`` for
    an unknown desk."""
    chosen = list(queues)
    for desk in desks:
        desk = desk.strip()
        if not desk:
            continue
        if desk not in desk_queues:
            raise BadInput(f"unknown desk {desk[:64]!r}; known: {', '.join(desk_queues)}")
        chosen.extend(desk_queues[desk])
    return chosen


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == check_username(username)))
    if user is None:
        raise NotFound(f"no user {username.strip().lower()[:64]!r}")
    return user


def _queues_of(session: Session, user_ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    rows = session.execute(select(UserQueue.user_id, UserQueue.queue).where(UserQueue.user_id.in_(user_ids))
                           .order_by(UserQueue.queue))
    for user_id, queue in rows:
        found.setdefault(user_id, []).append(queue)
    return {user_id: tuple(queues) for user_id, queues in found.items()}


def _view(user: User, queues: tuple[str, ...]) -> UserView:
    return UserView(user.id, user.username, user.display_name, user.role, user.active, queues,
                    user.created_at, user.last_login_at)


def add_user(db: sessionmaker[Session], username: str, password: str, *, role: str = "staff",
             display_name: str = "", queues: Iterable[str] = (), known_queues: Collection[str] = ()) -> UserView:
    """Create an account; ``Conflict`` when the name is taken, ``BadInput`` for a bad field."""
    name = check_username(username)
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}")
    problem = password_problem(password)
    if problem:
        raise BadInput(problem)
    chosen = check_queues(queues, known_queues)
    with unit_of_work(db) as session:
        if session.scalar(select(User.id).where(User.username == name)) is not None:
            raise Conflict(f"user {name!r} exists already")
        user = User(username=name, display_name=" ".join(display_name.split())[:200], role=role,
                    password_hash=hash_password(password), active=True)
        session.add(user)
        session.flush()
        session.add_all(UserQueue(user_id=user.id, queue=q) for q in chosen)
        return _view(user, chosen)


def list_users(db: sessionmaker[Session]) -> list[UserView]:
    """Every account, by user name."""
    with db() as session:
        users = list(session.scalars(select(User).order_by(User.username)))
        queues = _queues_of(session, [u.id for u in users])
        return [_view(u, queues.get(u.id, ())) for u in users]


def get_user(db: sessionmaker[Session], username: str) -> UserView:
    """One account by name; ``NotFound`` when there is none."""
    with db() as session:
        user = _user(session, username)
        return _view(user, _queues_of(session, [user.id]).get(user.id, ()))


def set_password(db: sessionmaker[Session], username: str, password: str) -> None:
    """Give an account a new password; its open sessions end."""
    problem = password_problem(password)
    if problem:
        raise BadInput(problem)
    with unit_of_work(db) as session:
        user = _user(session, username)
        user.password_hash = hash_password(password)
        user.updated_at = utcnow()
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def assign_queues(db: sessionmaker[Session], username: str, queues: Iterable[str], known_queues: Collection[str],
                  *, mode: str = "set") -> UserView:
    """Set, add or remove (``mode``) the queues a member of staff works."""
    chosen = check_queues(queues, known_queues)
    if mode not in ("set", "add", "remove"):
        raise BadInput("mode must be set, add or remove")
    with unit_of_work(db) as session:
        user = _user(session, username)
        current = set(_queues_of(session, [user.id]).get(user.id, ()))
        wanted = set(chosen) if mode == "set" else current | set(chosen) if mode == "add" else current - set(chosen)
        session.execute(delete(UserQueue).where(UserQueue.user_id == user.id))
        session.flush()
        session.add_all(UserQueue(user_id=user.id, queue=q) for q in sorted(wanted))
        user.updated_at = utcnow()
        return _view(user, tuple(sorted(wanted)))


def set_role(db: sessionmaker[Session], username: str, role: str) -> UserView:
    """Make an account staff or admin."""
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}")
    with unit_of_work(db) as session:
        user = _user(session, username)
        user.role = role
        user.updated_at = utcnow()
        return _view(user, _queues_of(session, [user.id]).get(user.id, ()))


def set_active(db: sessionmaker[Session], username: str, active: bool) -> UserView:
    """Disable (every session ends at once) or enable an account."""
    with unit_of_work(db) as session:
        user = _user(session, username)
        user.active = active
        user.updated_at = utcnow()
        if not active:
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        return _view(user, _queues_of(session, [user.id]).get(user.id, ()))


def actor_of(session: Session, user: User) -> Actor:
    """The acting person for a user row."""
    queues = _queues_of(session, [user.id]).get(user.id, ())
    return Actor(user.id, user.username, user.display_name, user.role, frozenset(queues))


def authenticate(db: sessionmaker[Session], username: str, password: str) -> Actor | None:
    """The actor when the name and password match an active account, else None (same work either way)."""
    name = username.strip().lower()[:64]
    with db() as session:
        user = session.scalar(select(User).where(User.username == name)) if _USERNAME.match(name) else None
        stored_hash = user.password_hash if user is not None else None
        ok = verify_password(stored_hash, password)
        if user is None or not ok or not user.active:
            return None
        user_id, rehash = user.id, needs_rehash(user.password_hash)
    with unit_of_work(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.last_login_at = utcnow()
        if rehash:
            user.password_hash = hash_password(password)
        return actor_of(session, user)
