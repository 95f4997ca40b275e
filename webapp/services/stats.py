"""The statistics page: the store's figures for a period, limited to the person's queues."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from pipeline.desks import DEFAULT_DESK
from pipeline.store.models import utcnow
from pipeline.store.stats import Table, build_tables, read_facts
from webapp.errors import BadInput, NotFound
from webapp.services.users import Actor
from webapp.sla import Sla

PERIODS = (7, 30, 90, 365)


def figures(db: sessionmaker[Session], actor: Actor, sla: Sla, days: int,
            default_desk: str = DEFAULT_DESK) -> tuple[list[Table], int]:
    """Every table for the last ``days`` days (admins: every queue; staff: theirs), and the number of cases.

    ``default_desk``: the desk counted for cases stored before desks.
    """
    if days not in PERIODS:
        raise BadInput(f"days must be one of {', '.join(map(str, PERIODS))}")
    now = utcnow()
    with db() as session:
        facts = read_facts(session, now - timedelta(days=days), now, None if actor.is_admin else actor.queues,
                           default_desk=default_desk)
    return build_tables(facts, lambda queue: sla.target(queue).total_seconds() / 3600), len(facts.cases)


def one_table(tables: list[Table], name: str) -> Table:
    """The table of this name; ``NotFound`` otherwise."""
    for table in tables:
        if table.name == name:
            return table
    raise NotFound(f"no table {name[:40]!r}")


def recurrent(db: sessionmaker[Session], actor: Actor, days: int) -> tuple[Table, int]:
    """The recurrent-issues table of the last ``days`` days in the person's queues, and how many cases it read."""
    from pipeline.recurrent import Doc, find_groups
    from pipeline.store.stats import read_texts, recurrent_table

    if days not in PERIODS:
        raise BadInput(f"days must be one of {', '.join(map(str, PERIODS))}")
    now = utcnow()
    with db() as session:
        texts = read_texts(session, now - timedelta(days=days), now, None if actor.is_admin else actor.queues)
    return recurrent_table(find_groups([Doc(*row) for row in texts], now)), len(texts)
