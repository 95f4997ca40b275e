"""The model registry for admins: versions and their figures, a comparison, promotion and rollback (audited),
retraining in the background with its progress, and a confusion-matrix picture per model."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from classifiers.config import load_triage_config
from classifiers.corrections import corrections_of
from classifiers.inputs import TriageInput, domain_of, subject_text
from classifiers.registry import model_location
from classifiers.versions import ModelRegistry, PromotionConflict, VersionEntry
from pipeline.config import Settings
from pipeline.errors import TriageError
from pipeline.store import repository as repo
from pipeline.store.db import unit_of_work
from pipeline.store.labels import labelled_inquiries, recent_inquiries
from pipeline.store.models import Inquiry, Message
from pipeline.store.retraining import RetrainingState, retraining_state
from webapp.errors import BadInput, Conflict
from webapp.services.users import Actor

log = logging.getLogger(__name__)
STATUS_FILE = "retrain-status.json"
_RETRAIN_LOCK = threading.Lock()
_RUNNING: dict[Path, threading.Thread] = {}


def registry_for(settings: Settings) -> ModelRegistry:
    """The registry next to the configured model file (the one ``triage train`` writes to)."""
    return ModelRegistry(model_location(settings.triage.model_path).parent)


@dataclass(frozen=True)
class VersionRow:
    """One version on the page."""

    entry: VersionEntry
    live: bool


def versions(settings: Settings) -> list[VersionRow]:
    """Every stored version, newest first, the live one marked."""
    registry = registry_for(settings)
    live = registry.live()
    return [VersionRow(e, e.version == live) for e in registry.versions()]


def history(settings: Settings) -> list[dict[str, Any]]:
    """Promotions and rollbacks, newest first."""
    return list(reversed(registry_for(settings).history()))


def _audit(db: sessionmaker[Session], event: str, actor: Actor, details: dict[str, Any]) -> None:
    with unit_of_work(db) as session:
        repo.record_event(session, event, actor=actor.username, details=details)


def promote(settings: Settings, db: sessionmaker[Session], actor: Actor, version: str, expected_live: str,
            force: bool, margin: float = 0.0) -> dict[str, Any]:
    """Make ``version`` live if the live one is still ``expected_live`` (empty: none) and the gate allows it."""
    try:
        event = registry_for(settings).promote(version, actor=actor.username, expected_live=expected_live or None,
                                               force=force, margin=margin)
    except PromotionConflict as exc:
        raise Conflict(str(exc)) from exc
    except TriageError as exc:
        raise BadInput(str(exc)) from exc
    _audit(db, "model_promoted", actor, event)
    return event


def rollback(settings: Settings, db: sessionmaker[Session], actor: Actor, expected_live: str) -> dict[str, Any]:
    """Make the previously live version live again, if the live one is still ``expected_live``."""
    try:
        event = registry_for(settings).rollback(actor=actor.username, expected_live=expected_live or None)
    except PromotionConflict as exc:
        raise Conflict(str(exc)) from exc
    except TriageError as exc:
        raise BadInput(str(exc)) from exc
    _audit(db, "model_rolled_back", actor, event)
    return event


def _input(inquiry: Inquiry, message: Message) -> TriageInput:
    # The same fields the triage round reads from a stored inquiry (it lives above this layer).
    return TriageInput(
        subject=subject_text(message.subject), new_text=inquiry.new_text, forwarded_text=inquiry.forwarded_text,
        quoted_text=inquiry.quoted_text, signature=inquiry.signature, sender_domain=domain_of(message.sender_address),
        sent_on=message.sent_at.date() if message.sent_at else None,
        automated=message.is_auto_reply or message.is_bounce or message.is_mailing_list,
    )


def compare(settings: Settings, db: sessionmaker[Session], first: str, second: str, *, limit: int = 200) -> dict[str, Any]:
    """Both versions' figures on today's held-out data, and the recent inquiries they would decide differently."""
    from classifiers.retrain import changed_decisions, held_out, score

    registry = registry_for(settings)
    try:
        models = [registry.load(first), registry.load(second)]
        config = load_triage_config(settings.triage)
        with db() as session:
            corrections = corrections_of(labelled_inquiries(session))
            items = [(i.id, m.subject, _input(i, m)) for i, m in recent_inquiries(session, limit)]
        examples = held_out(settings.triage, config, corrections)
        figures = [score(m, examples, config) for m in models]
        changes = changed_decisions(items, models[0], models[1], config)
    except TriageError as exc:
        raise BadInput(str(exc)) from exc
    return {"names": [first, second], "held_out": len(examples), "figures": figures, "changes": changes,
            "limit": limit}


# --- background retraining -------------------------------------------------------------------


def schedule(settings: Settings, db: sessionmaker[Session]) -> RetrainingState | None:
    """The scheduled retraining of ``[retraining]``: last run, its result, the next (None when unreadable)."""
    try:
        return retraining_state(db, settings.retraining)
    except TriageError as exc:
        log.warning("the scheduled retraining's state cannot be read: %s", exc)
        return None


def retrain_status(settings: Settings) -> dict[str, Any]:
    """The last (or current) background training: state, stage, who, when, the version made or the error."""
    path = registry_for(settings).root / STATUS_FILE
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": "idle"}
    if status.get("state") == "running" and path.parent not in _RUNNING:
        status["state"] = "interrupted"  # started by a process that is gone
    return status if isinstance(status, dict) else {"state": "idle"}


def _write_status(root: Path, status: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f".{STATUS_FILE}.tmp"
    temporary.write_text(json.dumps(status), encoding="utf-8")
    temporary.replace(root / STATUS_FILE)


def start_retraining(settings: Settings, db: sessionmaker[Session], actor: Actor) -> threading.Thread:
    """Train a new version in a background thread (never made live); ``BadInput`` when one is already running."""
    from classifiers.retrain import STAGES, train_candidate

    registry = registry_for(settings)
    root = registry.root
    with _RETRAIN_LOCK:
        running = _RUNNING.get(root)
        if running is not None and running.is_alive():
            raise BadInput("a training is already running; wait for it to finish")
        status: dict[str, Any] = {"state": "running", "stage": "starting", "step": 0, "steps": len(STAGES) + 1,
                                  "by": actor.username, "started_at": _now()}
        _write_status(root, status)

        def progress(stage: str) -> None:
            status.update(stage=stage, step=status["step"] + 1)
            _write_status(root, status)

        def work() -> None:
            try:
                config = load_triage_config(settings.triage)
                with db() as session:
                    corrections = corrections_of(labelled_inquiries(session))
                trained = train_candidate(settings.triage, config, corrections, progress=progress)
                progress("saving")
                entry = registry.add(trained.model, trained_by=actor.username,
                                     extra={"corrections": trained.data.used, "skipped": trained.data.notes()})
                status.update(state="done", version=entry.version, notes=trained.data.notes(), finished_at=_now())
                _audit(db, "model_trained", actor, {"version": entry.version, "corrections": trained.data.used})
            except Exception as exc:  # the page shows any failure; the live model is untouched
                log.exception("background training failed")
                status.update(state="failed", error=f"{type(exc).__name__}: {exc}", finished_at=_now())
            finally:
                with _RETRAIN_LOCK:
                    _RUNNING.pop(root, None)
                    _write_status(root, status)

        thread = threading.Thread(target=work, name="model-retraining", daemon=True)
        _RUNNING[root] = thread
        thread.start()
    return thread


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- the confusion-matrix picture ------------------------------------------------------------

_CELL = 26
_LABEL_WIDTH = 150


def confusion_svg(confusion: dict[str, Any]) -> str:
    """A heat-map of a confusion matrix (rows: true topic, columns: predicted) as inline SVG; empty without data."""
    labels = [str(x) for x in confusion.get("labels") or []]
    matrix = confusion.get("matrix") or []
    if not labels or len(matrix) != len(labels):
        return ""
    size = len(labels)
    width, height = _LABEL_WIDTH + size * _CELL + 4, _LABEL_WIDTH + size * _CELL + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'viewBox="0 0 {width} {height}"><title>Confusion matrix: rows are the true topics, columns the predicted ones</title>']
    for index, label in enumerate(labels):
        y = _LABEL_WIDTH + index * _CELL + _CELL * 0.65
        parts.append(f'<text x="{_LABEL_WIDTH - 4}" y="{y:.0f}" text-anchor="end" font-size="11">{escape(label)}</text>')
        x = _LABEL_WIDTH + index * _CELL + _CELL * 0.65
        parts.append(f'<text x="{x:.0f}" y="{_LABEL_WIDTH - 4}" font-size="11" '
                     f'transform="rotate(-60 {x:.0f} {_LABEL_WIDTH - 4})">{escape(label)}</text>')
    for row, counts in enumerate(matrix):
        total = sum(int(c) for c in counts) or 1
        for column, count in enumerate(counts):
            share = int(count) / total
            hue = 120 if row == column else 0  # green on the diagonal, red off it
            lightness = 100 - round(55 * share) if count else 100
            x, y = _LABEL_WIDTH + column * _CELL, _LABEL_WIDTH + row * _CELL
            parts.append(f'<rect x="{x}" y="{y}" width="{_CELL}" height="{_CELL}" fill="hsl({hue},60%,{lightness}%)" '
                         f'stroke="#ccc"><title>{escape(labels[row])} as {escape(labels[column])}: {int(count)}</title></rect>')
            if count:
                parts.append(f'<text x="{x + _CELL / 2:.0f}" y="{y + _CELL * 0.65:.0f}" text-anchor="middle" '
                             f'font-size="10">{int(count)}</text>')
    parts.append("</svg>")
    return "".join(parts)
