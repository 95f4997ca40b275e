"""Every desk's response-time targets as one: each queue's target comes from the SLA file of its desk.

Queue ids are office-wide: a queue two desks declare is one queue (one team, one target), listed under the
desk that declares it first. ``OfficeSla`` is what the app asks (``webapp.sla.Targets``); an admin's change
of one desk's targets is written to that desk's file (and a shared queue's target to every file naming it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import ConfigError
from webapp.sla import Sla, checked_sla_text, load_sla, sla_status, write_atomically
from webapp.vocabulary import Vocabulary

Problem = tuple[str, str]


@dataclass(frozen=True)
class DeskSla:
    """One desk's targets: its SLA file, what the file says, and the queues the desk's taxonomy declares."""

    desk: str
    name: str
    path: Path
    sla: Sla
    queues: tuple[str, ...]


@dataclass(frozen=True)
class OfficeSla:
    """The targets of every desk, the default desk first.

    A queue's target and warning share are those of the first desk declaring it; a queue no desk declares
    has the first desk's default.
    """

    desks: tuple[DeskSla, ...]

    def __post_init__(self) -> None:
        if not self.desks:
            raise ValueError("an office has at least one desk")

    @cached_property
    def _owners(self) -> dict[str, DeskSla]:
        owners: dict[str, DeskSla] = {}
        for desk in self.desks:
            for queue in desk.queues:
                owners.setdefault(queue, desk)
        return owners

    def owner(self, queue: str) -> DeskSla:
        """The desk whose file holds a queue's target (the first desk for a queue nobody declares)."""
        return self._owners.get(queue, self.desks[0])

    def desk(self, desk_id: str) -> DeskSla:
        """One desk's targets; ``KeyError`` for an unknown desk."""
        for desk in self.desks:
            if desk.desk == desk_id:
                return desk
        raise KeyError(desk_id)

    def owned(self, desk_id: str) -> tuple[str, ...]:
        """The queues whose target this desk's file sets: those it declares first."""
        return tuple(q for q in self.desk(desk_id).queues if self.owner(q).desk == desk_id)

    @property
    def hours(self) -> Mapping[str, float]:
        """Every queue with a target of its own in its desk's file, in hours."""
        return {queue: desk.sla.hours[queue] for queue, desk in self._owners.items() if queue in desk.sla.hours}

    def target(self, queue: str) -> timedelta:
        """A queue's target: its own in its desk's file, else that desk's default."""
        return self.owner(queue).sla.target(queue)

    def warn(self, queue: str) -> float:
        """The warning share of the queue's desk."""
        return self.owner(queue).sla.warn_share

    def status(self, queue: str, received_at: datetime, now: datetime) -> str:
        """``ok``, ``soon`` or ``overdue`` for an inquiry of a queue received at ``received_at``."""
        return sla_status(self.target(queue), self.warn(queue), now - received_at)

    def file_queues(self, path: Path) -> tuple[str, ...]:
        """The queues an SLA file may name: those of every desk using it."""
        return tuple(dict.fromkeys(q for desk in self.desks if desk.path == path for q in desk.queues))


def load_office_sla(settings: Settings, vocabulary: Vocabulary) -> OfficeSla:
    """Every desk's SLA file, each checked against its desk's queues; ``ConfigError`` lists what is wrong."""
    from classifiers.config import resolve
    from pipeline.desks import all_desks

    found = [(desk_id, desk.label, resolve(desk.sla), vocabulary.declared_by(desk_id))
             for desk_id, desk in all_desks(settings).items()]
    allowed: dict[Path, list[str]] = {}
    for _, _, path, queues in found:
        allowed.setdefault(path, []).extend(queues)
    files = {path: load_sla(path, queues) for path, queues in allowed.items()}
    return OfficeSla(tuple(DeskSla(desk_id, name, path, files[path], queues) for desk_id, name, path, queues in found))


def office_sla(settings: Settings) -> OfficeSla:
    """Every desk's targets, the taxonomies read from the settings (as ``triage stats`` needs them)."""
    from classifiers.config import load_triage_config
    from webapp.vocabulary import desks_vocabulary

    return load_office_sla(settings, desks_vocabulary(settings, load_triage_config(settings.triage).taxonomy))


def _hours(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g} h"


def shared_queue_problems(office: OfficeSla) -> list[Problem]:
    """Each queue declared by several desks whose targets differ: a shared queue has one target."""
    problems: list[Problem] = []
    for desk in office.desks:
        for queue in desk.queues:
            owner = office.owner(queue)
            if owner.desk == desk.desk or owner.sla.target(queue) == desk.sla.target(queue):
                continue
            problems.append((f"desks.{desk.desk}.sla: queues.{queue}",
                             f"queue {queue!r} is declared by desks {owner.desk!r} ({_hours(owner.sla.target(queue))}"
                             f" in {owner.path}) and {desk.desk!r} ({_hours(desk.sla.target(queue))} in "
                             f"{desk.path}): a queue shared by desks is one queue with one team and one target, "
                             "give it the same target in both files"))
    return problems


def desks_sla_problems(settings: Settings) -> list[Problem]:
    """What ``triage check-config`` finds in the desks' SLA files together (each alone is checked with its desk)."""
    try:
        office = office_sla(settings)
    except ConfigError:
        return []  # a taxonomy or SLA file that does not load: its own check reports it
    return shared_queue_problems(office)


def _shared_target(new: Sla, queue: str, other: Sla) -> dict[str, float]:
    """The hours of ``other``'s file with ``queue`` given the target ``new`` sets for it."""
    hours = dict(other.hours)
    if queue in new.hours:
        hours[queue] = new.hours[queue]
    elif other.default_hours == new.default_hours:
        hours.pop(queue, None)
    else:
        hours[queue] = new.default_hours
    return hours


def save_desk_sla(office: OfficeSla, desk_id: str, hours: Mapping[str, float], default_hours: float,
                  warn_share: float) -> OfficeSla:
    """Set one desk's targets: ``hours`` for the queues it owns (a queue left out takes the default).

    The desk's file keeps the targets of queues it does not own; a queue shared with other desks gets the
    same target in their files. Every file is validated before any is written; ``ConfigError`` if wrong.
    """
    desk = office.desk(desk_id)
    owned = office.owned(desk_id)
    current = desk.sla.hours
    merged: dict[str, float] = {}
    for queue in (*desk.queues, *current):  # the desk's order, then what else the file holds
        value = hours.get(queue) if queue in owned else current.get(queue)
        if value is not None:
            merged.setdefault(queue, value)
    files: dict[Path, Sla] = {desk.path: Sla(hours=merged, default_hours=default_hours, warn_share=warn_share)}
    for other in office.desks:
        for queue in owned:
            if other.path != desk.path and queue in other.queues:
                sla = files.get(other.path, other.sla)
                files[other.path] = replace(sla, hours=_shared_target(files[desk.path], queue, sla))
    texts = {path: checked_sla_text(path, sla, office.file_queues(path)) for path, sla in files.items()}
    for path, (text, _) in texts.items():
        write_atomically(path, text)
    return replace(office, desks=tuple(replace(d, sla=texts[d.path][1]) if d.path in texts else d
                                       for d in office.desks))
