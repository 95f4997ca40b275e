"""Scheduled retraining (``[retraining]``, off by default): the daemon's job that trains, compares and maybe promotes.

Once per period (the database's audit log says when the last run was, so a
restart or a second daemon does not run it again), one daemon - the one holding
the retraining lease in ``folder_leases`` - does what ``triage train`` and
``triage models compare`` do: a new version from the corpus and every staff
correction, stored in the registry; both it and the live model scored on the
same held-out data. It is made live only with ``auto_promote`` and when the
promotion gate passes, both on those figures and in the registry's own
``promote`` (a compare-and-swap under its file lock, so an admin promoting at
the same moment wins cleanly and nothing is half written). Every run, whatever
its result, is one ``retraining_scheduled`` audit event with both models'
figures and one log line; a failing run (bad corpus, unreadable model file,
database away) is one ``ERROR`` line, and the daemon goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pipeline.errors import TriageError
from pipeline.store import repository as repo
from pipeline.store.db import unit_of_work
from pipeline.store.retraining import RETRAINING_EVENT, is_due

if TYPE_CHECKING:
    from classifiers.model import TriageModel
    from pipeline.leases import LeaseKeeper
    from pipeline.runtime import Runtime

log = logging.getLogger(__name__)

ACTOR = "scheduled-retraining"
LEASE_MAILBOX = "*retraining*"  # the lease row that makes one daemon at a time run it (folder: the registry)
CHECK_SECONDS = 600.0  # how often the daemon looks whether a run is due
# The figures recorded per model (the gate's and the headline ones).
RECORDED = ("macro_f1", "hold_recall", "hold_precision", "topic_accuracy", "language_accuracy", "section_accuracy")


class _Stopped(Exception):
    """The daemon is stopping: the run ends between two stages."""


@dataclass
class RetrainingOutcome:
    """What one scheduled run did (also the details of its audit event)."""

    result: str
    candidate: str | None = None
    live: str | None = None
    held_out: int = 0
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    corrections: int = 0
    seconds: float = 0.0
    error: str | None = None

    def details(self, auto_promote: bool) -> dict[str, Any]:
        """The audit event's details."""
        found = {"result": self.result, "candidate": self.candidate, "live": self.live, "held_out": self.held_out,
                 "figures": self.figures, "problems": self.problems, "corrections": self.corrections,
                 "seconds": round(self.seconds, 1), "auto_promote": auto_promote}
        if self.error is not None:
            found["error"] = self.error
        return found

    def line(self) -> str:
        """The log line about the run."""
        if self.result == "failed":
            return f"retraining: scheduled run failed: {self.error}"

        def figure(name: str | None, key: str) -> str:
            value = self.figures.get(name or "", {}).get(key)
            return f"{value:.4f}" if isinstance(value, (int, float)) else "-"

        live = self.live or "none"
        text = (f"retraining: model {self.candidate} trained with {self.corrections} correction(s) in "
                f"{self.seconds:.0f}s; on {self.held_out} held-out examples macro-F1 {figure(self.candidate, 'macro_f1')} "
                f"(live {live}: {figure(self.live, 'macro_f1')}), hold-back recall "
                f"{figure(self.candidate, 'hold_recall')} (live {figure(self.live, 'hold_recall')}); ")
        return text + {
            "promoted": f"made live (was {live})",
            "kept": "not made live: auto_promote is off (`triage models promote` makes it live)",
            "refused": "not made live: " + "; ".join(self.problems),
            "conflict": "not made live: " + "; ".join(self.problems),
            "unchanged": "it is the live model already (no new data since)",
        }.get(self.result, self.result)


class ScheduledRetraining:
    """The daemon's retraining job: ``__call__`` runs a due run and returns its outcome (None when none was due,
    retraining is off, or another daemon holds the lease). Never raises."""

    def __init__(self, runtime: "Runtime", *, leases: "LeaseKeeper | None" = None,
                 stop: threading.Event | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.runtime = runtime
        self.leases = leases
        self.stop = stop or threading.Event()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._held: Any = None  # the retraining lease while a run holds it

    @property
    def settings(self) -> Any:
        """The ``[retraining]`` settings."""
        return self.runtime.settings.retraining

    def _due(self) -> bool:
        with self.runtime.session_factory() as session:
            return is_due(session, self.settings, self.clock())

    def __call__(self) -> RetrainingOutcome | None:
        if not self.settings.enabled or self.stop.is_set():
            return None
        try:
            if not self._due():
                return None
            lease = self._take_lease()
        except TriageError as exc:
            log.error("retraining: cannot tell whether a run is due: %s", exc)
            return None
        if lease is False:
            return None
        self._held = lease
        try:
            if not self._due():  # another daemon finished one while we waited for the lease
                return None
            return self.run()
        except TriageError as exc:
            log.error("retraining: cannot tell whether a run is due: %s", exc)
            return None
        finally:
            self._held = None
            if lease is not None and self.leases is not None:
                self.leases.give_back(lease)

    def _take_lease(self) -> Any:
        """The held lease (None without a lease keeper), or False when another daemon holds it."""
        if self.leases is None:
            return None
        claim, held = self.leases.try_take(LEASE_MAILBOX, str(self._registry().root))
        if held is None:
            log.debug("retraining: daemon %s is running it", claim.holder)
            return False
        return held

    def _registry(self) -> Any:
        from classifiers.registry import model_location
        from classifiers.versions import ModelRegistry

        return ModelRegistry(model_location(self.runtime.settings.triage.model_path).parent)

    def run(self) -> RetrainingOutcome:
        """Train, compare, maybe promote, record; a failure is recorded and logged, never raised."""
        started = time.perf_counter()
        try:
            outcome = self._train_and_compare()
        except _Stopped:
            log.info("retraining: stopped by the daemon's shutdown; it runs again at the next start")
            return RetrainingOutcome(result="stopped")
        except Exception as exc:  # noqa: BLE001 - any failure is one line and the daemon goes on
            outcome = RetrainingOutcome(result="failed", error=f"{type(exc).__name__}: {exc}")
        outcome.seconds = time.perf_counter() - started
        self._record(outcome)
        if outcome.result == "failed":
            log.error("%s", outcome.line())
        else:
            log.info("%s", outcome.line())
        return outcome

    def _check_stop(self, stage: str = "") -> None:
        if self.stop.is_set():
            raise _Stopped(stage)

    def _train_and_compare(self) -> RetrainingOutcome:
        from classifiers.config import load_triage_config
        from classifiers.corrections import corrections_of
        from classifiers.retrain import held_out, score, train_candidate
        from classifiers.versions import GateRefused, PromotionConflict, gate_verdict
        from pipeline.store.labels import labelled_inquiries

        settings = self.runtime.settings
        triage = settings.triage
        config = load_triage_config(triage)
        with self.runtime.session_factory() as session:
            corrections = corrections_of(labelled_inquiries(session))
        registry = self._registry()
        live = registry.live()
        current = self._current_model(registry, live)  # a corrupted live file fails the run before training
        trained = train_candidate(triage, config, corrections, progress=self._check_stop)
        self._check_stop()
        entry = registry.add(trained.model, trained_by=ACTOR,
                             extra={"corrections": trained.data.used, "skipped": trained.data.notes(), "scheduled": True})
        self._audit("model_trained", {"version": entry.version, "corrections": trained.data.used, "scheduled": True})
        outcome = RetrainingOutcome(result="kept", candidate=entry.version, live=live, corrections=trained.data.used)
        if entry.version == live:  # same data, same parameters, same day: the live model itself
            outcome.result = "unchanged"
            return outcome
        examples = held_out(triage, config, corrections)
        outcome.held_out = len(examples)
        if not examples:
            outcome.problems.append("there are no held-out examples to compare on")
        else:
            outcome.figures[entry.version] = _recorded(score(trained.model, examples, config))
            if current is not None:
                outcome.live = live or "model-file"
                outcome.figures[outcome.live] = _recorded(score(current, examples, config))
                outcome.problems.extend(gate_verdict(outcome.figures[entry.version], outcome.figures[outcome.live],
                                                     settings.retraining.margin))
        if not settings.retraining.auto_promote:
            return outcome
        if outcome.problems:
            outcome.result = "refused"
            return outcome
        self._check_stop()
        if self._held is not None and self._held.lost.is_set():
            outcome.result = "conflict"
            outcome.problems.append("the retraining lease was lost meanwhile (another daemon may be retraining)")
            return outcome
        try:
            event = registry.promote(entry.version, actor=ACTOR, expected_live=live, margin=settings.retraining.margin)
        except PromotionConflict as exc:
            outcome.result = "conflict"
            outcome.problems.append(str(exc))
            return outcome
        except GateRefused as exc:
            outcome.result = "refused"
            outcome.problems.append(str(exc))
            return outcome
        outcome.result = "promoted"
        try:
            self._audit("model_promoted", event)
        except Exception as exc:  # noqa: BLE001 - promoted all the same; the registry's history has it
            log.warning("retraining: the promotion was not recorded in the audit log: %s: %s", type(exc).__name__, exc)
        return outcome

    def _current_model(self, registry: Any, live: str | None) -> "TriageModel | None":
        """The model triage uses now: the live version, else the configured model file when there is one."""
        from classifiers.registry import load_model, model_location

        if live is not None:
            return registry.load(live)  # type: ignore[no-any-return]
        path = model_location(self.runtime.settings.triage.model_path)
        return load_model(path) if path.is_file() else None

    def _audit(self, event: str, details: dict[str, Any]) -> None:
        with unit_of_work(self.runtime.session_factory) as session:
            repo.record_event(session, event, actor=ACTOR, details=details)

    def _record(self, outcome: RetrainingOutcome) -> None:
        try:
            self._audit(RETRAINING_EVENT, outcome.details(self.settings.auto_promote))
        except Exception as exc:  # noqa: BLE001 - the log line says what happened anyway
            log.warning("retraining: the run's result was not recorded in the audit log: %s: %s",
                        type(exc).__name__, exc)


def _recorded(figures: dict[str, Any]) -> dict[str, Any]:
    return {key: figures.get(key) for key in RECORDED}
