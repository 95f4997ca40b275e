"""Scheduled retraining as the database remembers it: each run is one audit event, the latest says when the next is due.

The daemon's retraining job (``pipeline.rounds.retraining``) records every run,
whatever its result, as a ``retraining_scheduled`` event; every daemon sharing
the database reads the same history, so a period's run happens once however
many daemons there are, and a restart does not start the period again. The
admin models page and ``triage status`` show the state from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import RetrainingSettings
from pipeline.store.models import AuditEvent

RETRAINING_EVENT = "retraining_scheduled"
# The results a run records, in its event's details["result"].
RESULTS = {
    "promoted": "trained, compared and made live",
    "kept": "trained and compared; not made live (auto_promote is off)",
    "refused": "trained and compared; the promotion gate kept the live model",
    "conflict": "trained and compared; the live model changed meanwhile, so it was not made live",
    "unchanged": "trained; the same model as the live one (no new data since)",
    "failed": "failed",
}


@dataclass(frozen=True)
class RetrainingState:
    """The schedule as configured, the last run and when the next one is due."""

    enabled: bool
    schedule: str
    period_hours: float
    auto_promote: bool
    last_run: datetime | None = None
    result: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    next_run: datetime | None = None
    due: bool = False  # a run is due now: the next check of a running daemon does it

    @property
    def summary(self) -> str:
        """One line about the last run."""
        if self.last_run is None:
            return "never run"
        text = RESULTS.get(self.result or "", self.result or "?")
        if self.result == "failed":
            return f"failed: {self.details.get('error', '?')}"
        candidate, live = self.details.get("candidate"), self.details.get("live")
        figures = self.details.get("figures") or {}
        parts = [f"{text}: candidate {candidate}"]
        if candidate in figures and figures[candidate].get("macro_f1") is not None:
            parts.append(f"macro-F1 {figures[candidate]['macro_f1']:.4f}")
        if live:
            live_f1 = (figures.get(live) or {}).get("macro_f1")
            parts.append(f"against live {live}" + (f" {live_f1:.4f}" if live_f1 is not None else ""))
        if self.details.get("problems"):
            parts.append("(" + "; ".join(self.details["problems"]) + ")")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (``triage status --json``)."""
        return {"enabled": self.enabled, "schedule": self.schedule, "period_hours": self.period_hours,
                "auto_promote": self.auto_promote,
                "last_run": self.last_run.isoformat(timespec="seconds") if self.last_run else None,
                "result": self.result, "summary": self.summary,
                "next_run": self.next_run.isoformat(timespec="seconds") if self.next_run else None, "due": self.due}


def last_run(session: Session) -> AuditEvent | None:
    """The latest scheduled retraining's event, if any."""
    return session.scalar(select(AuditEvent).where(AuditEvent.event == RETRAINING_EVENT)
                          .order_by(AuditEvent.id.desc()).limit(1))


def retraining_state(factory: sessionmaker[Session], settings: RetrainingSettings,
                     now: datetime | None = None) -> RetrainingState:
    """The schedule, its last run and the next (due now when it never ran, or when the period is over)."""
    with factory() as session:
        event = last_run(session)
        at, details = (event.at, dict(event.details or {})) if event is not None else (None, {})
    now = now or datetime.now(timezone.utc)
    next_run = None
    if settings.enabled:
        next_run = max(now, at + timedelta(hours=settings.period_hours)) if at is not None else now
    return RetrainingState(enabled=settings.enabled, schedule=settings.schedule, period_hours=settings.period_hours,
                           auto_promote=settings.auto_promote, last_run=at, result=details.get("result"),
                           details=details, next_run=next_run, due=settings.enabled and next_run == now)


def is_due(session: Session, settings: RetrainingSettings, now: datetime) -> bool:
    """Whether a scheduled run is due: enabled, and none ran within the period."""
    if not settings.enabled:
        return False
    event = last_run(session)
    return event is None or event.at + timedelta(hours=settings.period_hours) <= now
