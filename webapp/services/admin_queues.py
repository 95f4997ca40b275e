"""Queues and their response-time targets for admins: counts, staff, and a validated change of the targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import ConfigError
from pipeline.store.models import User, UserQueue, utcnow
from webapp.errors import BadInput
from webapp.services.queues import QueueSummary, summaries
from webapp.sla import Sla, save_sla
from webapp.vocabulary import Vocabulary


@dataclass(frozen=True)
class QueueAdmin:
    """One queue on the admin page: its counts, target and the staff who work it."""

    summary: QueueSummary
    hours: float
    listed: bool
    staff: tuple[str, ...]


def queues_admin(db: sessionmaker[Session], vocabulary: Vocabulary, sla: Sla) -> list[QueueAdmin]:
    """Every queue with its counts, target and staff."""
    with db() as session:
        found = summaries(session, list(vocabulary.queues), vocabulary, sla, utcnow())
        staff: dict[str, list[str]] = {}
        rows = session.execute(select(UserQueue.queue, User.username).join(User, User.id == UserQueue.user_id)
                               .where(User.active == True).order_by(User.username))  # noqa: E712
        for queue, username in rows:
            staff.setdefault(queue, []).append(username)
    return [QueueAdmin(s, sla.target(s.id).total_seconds() / 3600, s.id in sla.hours, tuple(staff.get(s.id, ())))
            for s in found]


def _number(value: str, what: str) -> float:
    try:
        number = float(value.strip())
    except ValueError as exc:
        raise BadInput(f"{what}: {value[:20]!r} is not a number") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise BadInput(f"{what} must be a number")
    return number


def update_sla(path: Path, form: Mapping[str, str], vocabulary: Vocabulary) -> Sla:
    """Validate targets from a form (``hours_<queue>``, ``default_hours``, ``warn_share``) and rewrite the file."""
    hours = {queue: _number(form.get(f"hours_{queue}", ""), f"target of {queue}") for queue in vocabulary.queues
             if form.get(f"hours_{queue}", "").strip()}
    sla = Sla(hours=hours, default_hours=_number(form.get("default_hours", "48"), "default target"),
              warn_share=_number(form.get("warn_share", "0.75"), "warning share"))
    try:
        return save_sla(path, sla, vocabulary.queues)
    except ConfigError as exc:
        raise BadInput("; ".join(f"{key.rsplit(': ', 1)[-1]}: {message}" for key, message in exc.problems)) from exc
