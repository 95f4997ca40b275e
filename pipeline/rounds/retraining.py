"""Scheduled retraining (``[retraining]``, off by default): the daemon's job that trains, compares and maybe promotes.

Every desk's model is retrained, each desk once per period (the database's
audit log says when each desk's last run was, so a restart or a second daemon
does not run it again). One daemon - the one holding the retraining lease in
``folder_leases``, one lease for the whole run, so no two daemons ever retrain
at once - takes the due desks in turn, the default desk first, and for each
does what ``triage train --desk`` and ``triage models compare`` do with that
desk's taxonomy, corpus and model: a new version from its corpus and the staff
corrections of its own inquiries, stored in its registry; both it and its live
model scored on the same held-out data. It is made live only with
``auto_promote`` and when the promotion gate passes, both on those figures and
in the registry's own ``promote`` (a compare-and-swap under its file lock, so
an admin promoting at the same moment wins cleanly and nothing is half written). Every desk's run,
whatever its result, is one ``retraining_scheduled`` audit event (``desk`` in
its details) with both models' figures and one log line naming the desk; a
failing desk (bad corpus, unreadable model file, database away, a registry
folder shared with another desk) is one ``ERROR`` line, and the other desks and
the daemon go on. A desk using another desk's model file (no model of its own)
is retrained with that desk, its corrections included.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.desks import DEFAULT_DESK, all_desks, default_desk
from pipeline.errors import ClassifierError, TriageError
from pipeline.store import repository as repo
from pipeline.store.db import unit_of_work
from pipeline.store.retraining import RETRAINING_EVENT, desk_labelled_inquiries, is_due

if TYPE_CHECKING:
    from classifiers.model import TriageModel
    from classifiers.versions import ModelRegistry
    from pipeline.config import TriageSettings
    from pipeline.leases import LeaseKeeper
    from pipeline.runtime import Runtime

log = logging.getLogger(__name__)

ACTOR = "scheduled-retraining"
LEASE_MAILBOX = "*retraining*"  # the lease row that makes one daemon at a time run it (folder: the default registry)
CHECK_SECONDS = 600.0  # how often the daemon looks whether a run is due
# The figures recorded per model (the gate's and the headline ones).
RECORDED = ("macro_f1", "hold_recall", "hold_precision", "topic_accuracy", "language_accuracy", "section_accuracy")


class _Stopped(Exception):
    """The daemon is stopping: the run ends between two stages."""


@dataclass(frozen=True)
class DeskModel:
    """One model the schedule retrains: the desk that owns it, its settings, and every desk using it."""

    desk: str
    triage: "TriageSettings"
    desks: tuple[str, ...]
    shares_registry_with: str | None = None  # an earlier desk whose registry folder (and live pointer) it would use

    @property
    def registry_root(self) -> Path:
        """The registry folder: the model file's folder."""
        return _registry_root(self.triage)


@dataclass
class RetrainingOutcome:
    """What one desk's scheduled run did (also the details of its audit event)."""

    result: str
    desk: str = DEFAULT_DESK
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
        found = {"desk": self.desk, "result": self.result, "candidate": self.candidate, "live": self.live,
                 "held_out": self.held_out, "figures": self.figures, "problems": self.problems,
                 "corrections": self.corrections, "seconds": round(self.seconds, 1), "auto_promote": auto_promote}
        if self.error is not None:
            found["error"] = self.error
        return found

    def line(self) -> str:
        """The log line about the run."""
        if self.result == "failed":
            return f"retraining: scheduled run failed: desk {self.desk}: {self.error}"

        def figure(name: str | None, key: str) -> str:
            value = self.figures.get(name or "", {}).get(key)
            return f"{value:.4f}" if isinstance(value, (int, float)) else "-"

        live = self.live or "none"
        text = (f"retraining: desk {self.desk}: model {self.candidate} trained with {self.corrections} correction(s) "
                f"in {self.seconds:.0f}s; on {self.held_out} held-out examples macro-F1 {figure(self.candidate, 'macro_f1')} "
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
    """The daemon's retraining job: ``__call__`` runs every due desk's run and returns each desk's outcome (empty when
    none was due, retraining is off, or another daemon holds the lease). Never raises."""

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

    def models(self) -> list[DeskModel]:
        """The models to retrain, the default desk's first: one per model file, with the desks using it."""
        found: dict[Path, DeskModel] = {}
        for desk in all_desks(self.runtime.settings).values():
            path = _model_file(desk.triage).resolve()
            if path in found:
                owner = found[path]
                found[path] = DeskModel(owner.desk, owner.triage, owner.desks + (desk.id,), owner.shares_registry_with)
                continue
            root = path.parent
            shared = next((m.desk for m in found.values() if m.registry_root.resolve() == root), None)
            found[path] = DeskModel(desk.id, desk.triage, (desk.id,), shared)
        return list(found.values())

    def _due(self, models: list[DeskModel]) -> list[DeskModel]:
        with self.runtime.session_factory() as session:
            now = self.clock()
            return [m for m in models if is_due(session, self.settings, now, m.desk)]

    def __call__(self) -> dict[str, RetrainingOutcome]:
        """Run each due desk in turn under the retraining lease: its outcome by desk id, in the order run."""
        if not self.settings.enabled or self.stop.is_set():
            return {}
        try:
            models = self.models()
            if not self._due(models):
                return {}
            lease = self._take_lease()
        except TriageError as exc:
            log.error("retraining: cannot tell whether a run is due: %s", exc)
            return {}
        if lease is False:
            return {}
        self._held = lease
        outcomes: dict[str, RetrainingOutcome] = {}
        try:
            for model in self._due(models):  # under the lease: another daemon may have run some meanwhile
                if self.stop.is_set() or (lease is not None and lease.lost.is_set()):
                    log.warning("retraining: desk %s not run: %s", model.desk,
                                "the daemon is stopping" if self.stop.is_set() else "the retraining lease was lost")
                    break
                outcome = self.run(model)
                outcomes[model.desk] = outcome
                if outcome.result == "stopped":
                    break
        except TriageError as exc:
            log.error("retraining: cannot tell whether a run is due: %s", exc)
        finally:
            self._held = None
            if lease is not None and self.leases is not None:
                self.leases.give_back(lease)
        return outcomes

    def _take_lease(self) -> Any:
        """The held lease (None without a lease keeper), or False when another daemon holds it."""
        if self.leases is None:
            return None
        claim, held = self.leases.try_take(LEASE_MAILBOX, str(self._registry().root))
        if held is None:
            log.debug("retraining: daemon %s is running it", claim.holder)
            return False
        return held

    def _registry(self, triage: "TriageSettings | None" = None) -> "ModelRegistry":
        """The registry of ``triage``'s model (the default desk's when None)."""
        from classifiers.versions import ModelRegistry

        return ModelRegistry(_registry_root(triage or self.runtime.settings.triage))

    def run(self, model: DeskModel | None = None) -> RetrainingOutcome:
        """Train, compare, maybe promote and record one desk's model (the default desk's when None); a failure is
        recorded and logged, never raised."""
        model = model or self.models()[0]
        started = time.perf_counter()
        try:
            outcome = self._train_and_compare(model)
        except _Stopped:
            log.info("retraining: desk %s: stopped by the daemon's shutdown; it runs again at the next start",
                     model.desk)
            return RetrainingOutcome(result="stopped", desk=model.desk)
        except Exception as exc:  # noqa: BLE001 - any failure is one line and the daemon goes on
            outcome = RetrainingOutcome(result="failed", desk=model.desk, error=f"{type(exc).__name__}: {exc}")
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

    def _train_and_compare(self, model: DeskModel) -> RetrainingOutcome:
        from classifiers.config import load_triage_config
        from classifiers.corrections import corrections_of
        from classifiers.retrain import held_out, score, train_candidate
        from classifiers.versions import GateRefused, PromotionConflict, gate_verdict

        if model.shares_registry_with is not None:
            raise ClassifierError(
                f"its model registry {model.registry_root} (and so the live model) is desk "
                f"{model.shares_registry_with}'s too: set [desks.{model.desk}] model_path to a file in a folder "
                f"of its own (e.g. {model.registry_root / model.desk / 'triage-model.skops'})")
        settings = self.runtime.settings
        triage = model.triage
        config = load_triage_config(triage)
        with self.runtime.session_factory() as session:
            corrections = corrections_of(desk_labelled_inquiries(session, model.desks, default_desk(settings)))
        registry = self._registry(triage)
        live = registry.live()
        current = self._current_model(registry, live, triage)  # a corrupted live file fails the run before training
        trained = train_candidate(triage, config, corrections, progress=self._check_stop)
        self._check_stop()
        entry = registry.add(trained.model, trained_by=ACTOR,
                             extra={"corrections": trained.data.used, "skipped": trained.data.notes(),
                                    "scheduled": True, "desk": model.desk})
        self._audit("model_trained", {"version": entry.version, "corrections": trained.data.used, "scheduled": True,
                                      "desk": model.desk})
        outcome = RetrainingOutcome(result="kept", desk=model.desk, candidate=entry.version, live=live,
                                    corrections=trained.data.used)
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
            self._audit("model_promoted", dict(event) | {"desk": model.desk})
        except Exception as exc:  # noqa: BLE001 - promoted all the same; the registry's history has it
            log.warning("retraining: desk %s: the promotion was not recorded in the audit log: %s: %s",
                        model.desk, type(exc).__name__, exc)
        return outcome

    def _current_model(self, registry: "ModelRegistry", live: str | None,
                       triage: "TriageSettings") -> "TriageModel | None":
        """The model the desk triages with now: the live version, else its configured model file when there is one."""
        from classifiers.registry import load_model

        if live is not None:
            return registry.load(live)
        path = _model_file(triage)
        return load_model(path) if path.is_file() else None

    def _audit(self, event: str, details: dict[str, Any]) -> None:
        with unit_of_work(self.runtime.session_factory) as session:
            repo.record_event(session, event, actor=ACTOR, details=details)

    def _record(self, outcome: RetrainingOutcome) -> None:
        try:
            self._audit(RETRAINING_EVENT, outcome.details(self.settings.auto_promote))
        except Exception as exc:  # noqa: BLE001 - the log line says what happened anyway
            log.warning("retraining: desk %s: the run's result was not recorded in the audit log: %s: %s",
                        outcome.desk, type(exc).__name__, exc)


def _model_file(triage: "TriageSettings") -> Path:
    from classifiers.registry import model_location

    return model_location(triage.model_path)


def _registry_root(triage: "TriageSettings") -> Path:
    return _model_file(triage).parent


def _recorded(figures: dict[str, Any]) -> dict[str, Any]:
    return {key: figures.get(key) for key in RECORDED}
