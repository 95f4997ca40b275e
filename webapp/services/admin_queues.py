"""Queues and their response-time targets for admins, per desk: counts, staff, and a validated change of a desk's
targets (written to that desk's SLA file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import ConfigError
from pipeline.store.models import User, UserQueue, utcnow
from webapp.desk_sla import OfficeSla, save_desk_sla
from webapp.errors import BadInput
from webapp.services.queues import QueueSummary, summaries
from webapp.sla import Sla
from webapp.vocabulary import Vocabulary


@dataclass(frozen=True)
class QueueAdmin:
    """One queue on the admin page: its counts, target and the staff who work it; ``shared_with``: other desks
    declaring it (their files get the same target)."""

    summary: QueueSummary
    hours: float
    listed: bool
    staff: tuple[str, ...]
    shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeskAdmin:
    """One desk on the admin page: its SLA file, what the file says, and the queues whose targets it sets."""

    desk: str
    name: str
    path: Path
    sla: Sla
    queues: tuple[QueueAdmin, ...]


def queues_admin(db: sessionmaker[Session], vocabulary: Vocabulary, sla: OfficeSla) -> list[DeskAdmin]:
    """Every desk with its queues, each with its counts, target and staff."""
    with db() as session:
        found = {s.id: s for s in summaries(session, list(vocabulary.queues), vocabulary, sla, utcnow())}
        staff: dict[str, list[str]] = {}
        rows = session.execute(select(UserQueue.queue, User.username).join(User, User.id == UserQueue.user_id)
                               .where(User.active == True).order_by(User.username))  # noqa: E712
        for queue, username in rows:
            staff.setdefault(queue, []).append(username)

    def row(queue: str) -> QueueAdmin:
        return QueueAdmin(found[queue], sla.target(queue).total_seconds() / 3600, queue in sla.hours,
                          tuple(staff.get(queue, ())), vocabulary.desk_names(queue)[1:])

    return [DeskAdmin(desk.desk, desk.name, desk.path, desk.sla,
                      tuple(row(q) for q in sla.owned(desk.desk) if q in found)) for desk in sla.desks]


def _number(value: str, what: str) -> float:
    try:
        number = float(value.strip())
    except ValueError as exc:
        raise BadInput(f"{what}: {value[:20]!r} is not a number") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise BadInput(f"{what} must be a number")
    return number


def update_sla(office: OfficeSla, form: Mapping[str, str]) -> OfficeSla:
    """Validate one desk's targets from a form (``desk``, ``hours_<queue>``, ``default_hours``, ``warn_share``) and
    rewrite that desk's SLA file (no ``desk``: the default desk's); the targets now in force."""
    desk = form.get("desk", "").strip() or office.desks[0].desk
    try:
        owned = office.owned(desk)
    except KeyError:
        raise BadInput(f"no desk {desk[:40]!r}; known: {', '.join(d.desk for d in office.desks)}") from None
    hours = {queue: _number(form.get(f"hours_{queue}", ""), f"target of {queue}") for queue in owned
             if form.get(f"hours_{queue}", "").strip()}
    try:
        return save_desk_sla(office, desk, hours, _number(form.get("default_hours", "48"), "default target"),
                             _number(form.get("warn_share", "0.75"), "warning share"))
    except ConfigError as exc:
        raise BadInput("; ".join(f"{key.rsplit(': ', 1)[-1]}: {message}" for key, message in exc.problems)) from exc
