"""Triage of stored inquiries: the wiring between the store and the pure classifiers.

``TriageService`` is the ingest sink (``pipeline.handoff.InquirySink``): right
after a batch of inquiries is committed it triages them and, in one
transaction per batch, stores each decision, moves the inquiry from ``new`` to
``triaged`` (standard, waiting for a suggested reply) or ``routed`` (to a
section), and writes the audit event. It also re-triages stored inquiries after
a model change and serves workers that claim pending inquiries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from classifiers.config import TriageConfig
from classifiers.decision import Decision
from classifiers.inputs import TriageInput, domain_of, subject_text
from classifiers.signals import EarlierInstruction, instruction_patents
from pipeline.config import Settings, TriageSettings
from pipeline.desks import DEFAULT_DESK, default_desk, desk_of
from pipeline.errors import StorageError, TriageError
from pipeline.logs import about_message
from pipeline.rwlock import SharedExclusiveLock
from pipeline.store import repository as repo
from pipeline.store.db import describe_db_error, unit_of_work
from pipeline.store.decisions import (
    STATE_ROUTED,
    STATE_TRIAGED,
    TRIAGE_STATES,
    inquiries_for_triage,
    inquiry_ids_since,
    save_decisions,
)
from pipeline.store.instructions import earlier_instructions, replace_instructions
from pipeline.store.lifecycle import Action, InquiryState, move_inquiry
from pipeline.store.models import Inquiry, Message, utcnow

if TYPE_CHECKING:
    from classifiers.model import TriageModel
    from classifiers.triage import Prepared
    from pipeline.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class TriageStats:
    """What one triage run did."""

    triaged: int = 0
    skipped: int = 0
    failed: int = 0
    by_queue: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The counts as JSON-ready data."""
        return {"triaged": self.triaged, "skipped": self.skipped, "failed": self.failed, "by_queue": dict(self.by_queue)}


def stored_input(inquiry: Inquiry, message: Message) -> TriageInput:
    """The triage input of a stored inquiry, from the fields parsing stored (no second parse)."""
    return TriageInput(
        subject=subject_text(message.subject),
        new_text=inquiry.new_text,
        forwarded_text=inquiry.forwarded_text,
        quoted_text=inquiry.quoted_text,
        signature=inquiry.signature,
        sender_domain=domain_of(message.sender_address),
        sent_on=message.sent_at.date() if message.sent_at else None,
        automated=message.is_auto_reply or message.is_bounce or message.is_mailing_list,
    )


def decision_values(decision: Decision) -> dict[str, Any]:
    """A decision as the columns of a stored decision."""
    data = decision.as_json()
    return {
        "language": decision.language,
        "language_confidence": decision.language_confidence,
        "language_band": decision.language_band,
        "topic": decision.topic,
        "topic_confidence": decision.topic_confidence,
        "topic_band": decision.topic_band,
        "top_terms": list(decision.top_terms),
        "topics": data["topics"],
        "entities": data["entities"],
        "signals": data["signals"],
        "standard": decision.standard,
        "queue": decision.queue,
        "reason": decision.reason,
        "rule_id": decision.rule_id,
        "model_version": decision.model_version,
        "intents": data["intents"],
        "answer_intents": list(decision.answer_intents),
        "hold_reason": decision.hold_reason,
    }


def said_time(inquiry: Inquiry, message: Message) -> datetime:
    """When a message's instructions were given: its Date header, else when it was stored."""
    return message.sent_at or inquiry.created_at


def state_for(decision: Decision) -> str:
    """The state a decision puts an inquiry in: ``triaged`` when standard, ``routed`` otherwise."""
    return STATE_TRIAGED if decision.standard else STATE_ROUTED


# The configuration and model of a desk (by its id, as stored with the inquiry).
DeskTriage = Callable[[str], tuple[TriageConfig, "TriageModel"]]


class TriageService:
    """Triages stored inquiries with the model and configuration of their desk.

    ``model`` and ``config`` are the default desk's; ``desks`` gives another desk's (none: every
    inquiry is triaged with the default desk's).
    """

    def __init__(self, session_factory: sessionmaker[Session], *, model: "TriageModel", config: TriageConfig,
                 batch_size: int = 200, desks: DeskTriage | None = None, default_desk: str = DEFAULT_DESK) -> None:
        self.session_factory = session_factory
        self.model = model
        self.config = config
        self.batch_size = batch_size
        self.desks = desks
        self.default_desk = default_desk

    def _prepare(self, rows: Sequence[tuple[Inquiry, Message]]) -> list[tuple["Prepared", TriageConfig]]:
        """What the models of each row's desk read in it, with that desk's configuration."""
        from classifiers.triage import prepare_inputs  # scikit-learn is imported when triage first runs

        by_desk: dict[str, list[int]] = {}
        for index, (inquiry, _) in enumerate(rows):
            desk = inquiry.desk or self.default_desk
            by_desk.setdefault(desk if self.desks is not None else self.default_desk, []).append(index)
        prepared: list[tuple[Prepared, TriageConfig] | None] = [None] * len(rows)
        for desk, indexes in by_desk.items():
            config, model = (self.config, self.model) if desk == self.default_desk or self.desks is None \
                else self.desks(desk)
            found = prepare_inputs([stored_input(*rows[i]) for i in indexes], model, config)
            for index, item in zip(indexes, found):
                prepared[index] = (item, config)
        return [p for p in prepared if p is not None]

    def _decide(self, session: Session, rows: Sequence[tuple[Inquiry, Message]]) -> list[Decision]:
        """Each row's decision, its pay/let-lapse instructions stored and compared with earlier mail's.

        Every row's instructions are written first, so a batch holding a whole thread compares its later
        messages with its earlier ones; a row whose patents earlier mail of its thread or client instructed
        (within its desk's ``instruction_days``) is decided again with those instructions.
        """
        prepared = self._prepare(rows)
        decisions = [item.decide(config) for item, config in prepared]
        said_at = [said_time(inquiry, message) for inquiry, message in rows]
        replace_instructions(session, [
            (inquiry.id, when, [(i.patent, i.instruction) for i in decision.signals.instructions])
            for (inquiry, _), when, decision in zip(rows, said_at, decisions)
        ])
        for index, ((inquiry, message), (item, config), decision) in enumerate(zip(rows, prepared, decisions)):
            patents = instruction_patents(decision.signals, decision.entities)
            if not patents:
                continue
            desk = inquiry.desk or self.default_desk
            found = earlier_instructions(
                session, inquiry_id=inquiry.id, patents=patents, said_at=said_at[index],
                since=said_at[index] - timedelta(days=config.taxonomy.instruction_days),
                thread_id=message.thread_id, organisation=inquiry.organisation,
                desks=[desk], default_desk=self.default_desk,
            )
            if found:
                earlier = [EarlierInstruction(f.patent, f.instruction, f.said_at.date(), subject_text(f.subject),
                                              f.inquiry_id) for f in found]
                decisions[index] = item.decide(config, earlier)
        return decisions

    def __call__(self, inquiry_ids: Sequence[int]) -> None:
        """The ingest sink: triage the inquiries just stored; a failure leaves them ``new`` for a worker."""
        stats = self.triage_ids(inquiry_ids, trigger="ingest")
        if stats.failed:
            log.error("%d inquiries could not be triaged and stay new: %s", stats.failed, "; ".join(stats.errors[:3]))

    def triage_ids(self, inquiry_ids: Sequence[int], *, trigger: str, only_new: bool = True) -> TriageStats:
        """Triage these inquiries in batches, one transaction per batch."""
        stats = TriageStats()
        ids = list(inquiry_ids)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            try:
                self._triage_batch(chunk, trigger=trigger, only_new=only_new, stats=stats)
            except (TriageError, OperationalError) as exc:
                message = describe_db_error(exc) if isinstance(exc, OperationalError) else str(exc)
                stats.failed += len(chunk)
                stats.errors.append(message)
        return stats

    def triage_pending(self, limit: int = 200) -> TriageStats:
        """A worker's turn: claim up to ``limit`` inquiries still ``new`` and triage them."""
        stats = TriageStats()
        with unit_of_work(self.session_factory) as session:
            claimed = repo.pending_inquiry_ids(session, limit, claim=True)
            self._triage_in(session, list(claimed), trigger="worker", only_new=True, stats=stats)
        return stats

    def retriage_since(self, since: datetime) -> TriageStats:
        """Triage again every inquiry stored since ``since`` (after a model or rules change)."""
        stats = TriageStats()
        after = 0
        while True:
            session = self.session_factory()
            try:
                ids = inquiry_ids_since(session, since, after_id=after, limit=self.batch_size)
            finally:
                session.close()
            if not ids:
                return stats
            self._triage_batch(ids, trigger="retriage", only_new=False, stats=stats)
            after = ids[-1]

    def _triage_batch(self, ids: list[int], *, trigger: str, only_new: bool, stats: TriageStats) -> None:
        # A writing transaction from the start: on SQLite a read-then-write one fails at once
        # when another connection wrote in between.
        with unit_of_work(self.session_factory) as session:
            self._triage_in(session, ids, trigger=trigger, only_new=only_new, stats=stats)

    def _triage_in(self, session: Session, ids: list[int], *, trigger: str, only_new: bool, stats: TriageStats) -> None:
        rows = inquiries_for_triage(session, ids, only_new=only_new)
        stats.skipped += len(ids) - len(rows)
        if not rows:
            return
        decisions = self._decide(session, rows)
        records = save_decisions(session, [(i.id, decision_values(d)) for (i, _), d in zip(rows, decisions)], trigger)
        now = utcnow()
        for (inquiry, message), decision, record in zip(rows, decisions, records):
            event = "retriaged" if trigger == "retriage" else "triaged"
            details = {
                "decision_id": record.id,
                "language": decision.language,
                "topic": decision.topic,
                "confidence": round(decision.topic_confidence, 4),
                "queue": decision.queue,
                "standard": decision.standard,
                "rule_id": decision.rule_id,
                "model_version": decision.model_version,
                "trigger": trigger,
            }
            if inquiry.state in TRIAGE_STATES:
                move_inquiry(session, inquiry, state_for(decision), Action.TRIAGE, event=event, details=details, now=now)
            else:  # a reply is under way or the case is closed: the new decision is kept, the state stays
                repo.record_event(session, event, message_pk=message.id, inquiry_id=inquiry.id,
                                  from_state=inquiry.state, to_state=inquiry.state, details=details)
            stats.triaged += 1
            stats.by_queue[decision.queue] = stats.by_queue.get(decision.queue, 0) + 1


_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[Any, ...], tuple[TriageConfig, "TriageModel"]] = {}


def shared_triage(settings: TriageSettings) -> tuple[TriageConfig, "TriageModel"]:
    """The configuration and model of these settings, loaded (or trained) once per process and model file.

    Each desk's settings are cached apart: triaging one desk never unloads another's model. A promotion or
    rollback in the model registry (its live pointer) loads the new live model on the next call.
    """
    from classifiers.config import load_triage_config
    from classifiers.registry import load_or_train, model_location
    from classifiers.pointer import live_marker

    with _LOAD_LOCK:
        path = model_location(settings.model_path)
        live = live_marker(path.parent)
        key = (settings, path.stat().st_mtime if path.exists() else None, live)
        if key not in _LOADED:
            config = load_triage_config(settings)
            for stale in [k for k in _LOADED if k[0] == settings]:
                del _LOADED[stale]
            _LOADED[key] = (config, load_or_train(settings, config))
            if key[1] is None and path.exists():  # trained just now: remember it under the file's time too
                _LOADED[(settings, path.stat().st_mtime, live)] = _LOADED[key]
        return _LOADED[key]


def desk_triage(settings: Settings) -> DeskTriage:
    """The configuration and model of each desk of these settings, loaded once per process (``shared_triage``)."""
    return lambda desk: shared_triage(desk_of(settings, desk).triage)


def triage_service(runtime: "Runtime", *, batch_size: int = 200) -> TriageService:
    """A triage service for every desk of a process: the default desk's model loaded now, the others' on first use."""
    settings = runtime.settings
    default = default_desk(settings)
    config, model = shared_triage(desk_of(settings, default).triage)
    return TriageService(runtime.session_factory, model=model, config=config, batch_size=batch_size,
                         desks=desk_triage(settings), default_desk=default)


class LazyTriageSink:
    """The ingest sink of a process: loads the model on first use; when it cannot, inquiries stay ``new``."""

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self.disabled: str | None = None

    def __call__(self, inquiry_ids: Sequence[int]) -> None:
        if self.disabled is not None:
            return
        try:
            service = triage_service(self.runtime)
        except TriageError as exc:
            self.disabled = str(exc)
            log.error("triage is off for this run, inquiries stay new (%s); once fixed run `triage retriage --pending`", exc)
            return
        service(inquiry_ids)


class PendingTriage:
    """The daemon's triage job: claims the inquiries still ``new`` and triages them until none is left.

    Safe on several daemons at once: on PostgreSQL each batch is claimed
    ``FOR UPDATE SKIP LOCKED``, so no inquiry is triaged twice. Returns what it
    did; when the model cannot be loaded it does nothing (and says so once).
    """

    def __init__(self, runtime: "Runtime", *, batch: int = 200, stop: threading.Event | None = None,
                 guard: SharedExclusiveLock | None = None) -> None:
        self.runtime = runtime
        self.batch = batch
        self.stop = stop or threading.Event()
        self.guard = guard  # held exclusively per batch (SQLite: never beside a sync), so syncs go on between
        self._disabled: str | None = None

    def __call__(self) -> TriageStats:
        total = TriageStats()
        try:
            service = triage_service(self.runtime, batch_size=self.batch)
        except TriageError as exc:
            if str(exc) != self._disabled:
                log.error("triage: cannot load the model, pending inquiries stay new (%s)", exc)
            self._disabled = str(exc)
            return total
        self._disabled = None
        while not self.stop.is_set():
            with self.guard.exclusive() if self.guard is not None else nullcontext():
                try:
                    stats = service.triage_pending(self.batch)
                except StorageError:
                    raise
                except Exception:  # one inquiry the classifiers choke on must not hold up all the others
                    log.exception("triage: a batch of pending inquiries failed; triaging them one by one")
                    self._one_by_one(service, total)
                    break
            total.triaged += stats.triaged
            total.skipped += stats.skipped
            for queue_name, count in stats.by_queue.items():
                total.by_queue[queue_name] = total.by_queue.get(queue_name, 0) + count
            if stats.triaged + stats.skipped < self.batch:  # none left that another daemon does not hold
                break
        return total

    def _one_by_one(self, service: TriageService, total: TriageStats) -> None:
        with self.runtime.session_factory() as session:
            ids = list(repo.pending_inquiry_ids(session, self.batch))
        for inquiry_id in ids:
            try:
                stats = service.triage_ids([inquiry_id], trigger="worker")
            except StorageError:
                raise
            except Exception as exc:
                stats = TriageStats(failed=1, errors=[f"{type(exc).__name__}: {exc}"])
            total.triaged += stats.triaged
            total.failed += stats.failed
            if stats.failed:
                log.error("triage: inquiry %d cannot be triaged and stays new: %s", inquiry_id,
                          "; ".join(stats.errors), extra=about_message(inquiry_id=inquiry_id))
