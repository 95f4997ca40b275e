"""The statistics page: the store's figures for a period, limited to the person's queues."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from pipeline.desks import DEFAULT_DESK
from pipeline.store.models import utcnow
from pipeline.store.stats import NO_ORGANISATION, OTHER, Table, build_tables, fold_values, read_facts
from webapp.errors import BadInput, NotFound
from webapp.services.users import Actor
from webapp.sla import Targets

PERIODS = (7, 30, 90, 365)
ORGANISATIONS_SHOWN = 20  # the page's volume tables: the largest organisations; the rest summed as OTHER
VOLUME_TABLES = ("inquiries_per_day", "inquiries_per_week")


def figures(db: sessionmaker[Session], actor: Actor, sla: Targets, days: int,
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


def for_page(tables: list[Table], keep: int | None = None) -> tuple[list[Table], dict[str, str]]:
    """The tables as the page shows them, and a note per table shortened.

    In the volume tables only the ``keep`` (default ``ORGANISATIONS_SHOWN``) organisations with the most
    inquiries have rows of their own, the others are summed as ``OTHER``; inquiries without an organisation
    keep theirs (``NO_ORGANISATION``). The downloads have every organisation.
    """
    keep = ORGANISATIONS_SHOWN if keep is None else keep
    shown: list[Table] = []
    notes: dict[str, str] = {}
    for table in tables:
        if table.name in VOLUME_TABLES:
            table, folded = fold_values(table, "organisation", keep, apart=(NO_ORGANISATION,))
            if folded:
                notes[table.name] = (f"Organisations: the {keep} with the most inquiries in the period have rows of "
                                     f"their own, the other {folded} are summed as {OTHER}; the CSV and "
                                     "the Excel workbook have every organisation.")
        shown.append(table)
    return shown, notes


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
