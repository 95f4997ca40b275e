"""Scheduled retraining as the database remembers it: each run is one audit event, the latest says when the next is due.

The daemon's retraining job (``pipeline.rounds.retraining``) records every run,
whatever its result, as a ``retraining_scheduled`` event per desk (its details'
``desk``; events recorded before desks were retrained each, without ``desk``,
are the default desk's, ``registry``); every daemon sharing the database reads
the same history, so a desk's run happens once per period however many daemons
there are, and a restart does not start the period again. The admin models page
and ``triage status`` show the state from here. A desk's run learns from the
corrections of its own inquiries only (``desk_labelled_inquiries``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import RetrainingSettings
from pipeline.desks import DEFAULT_DESK
from pipeline.store.labels import TRAINING_FIELDS, LabelledInquiry, labelled_inquiries
from pipeline.store.models import AuditEvent, Inquiry, Label
from pipeline.store.repository import of_desks

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
    desk: str = DEFAULT_DESK

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
        return {"desk": self.desk, "enabled": self.enabled, "schedule": self.schedule,
                "period_hours": self.period_hours,
                "auto_promote": self.auto_promote,
                "last_run": self.last_run.isoformat(timespec="seconds") if self.last_run else None,
                "result": self.result, "summary": self.summary,
                "next_run": self.next_run.isoformat(timespec="seconds") if self.next_run else None, "due": self.due}


def event_desk(event: AuditEvent) -> str:
    """The desk a ``retraining_scheduled`` event is about (one without ``desk`` predates per-desk runs: registry's)."""
    desk = (event.details or {}).get("desk")
    return desk if isinstance(desk, str) and desk else DEFAULT_DESK


def last_run(session: Session, desk: str = DEFAULT_DESK) -> AuditEvent | None:
    """The latest scheduled retraining's event about ``desk``, if any."""
    query = select(AuditEvent).where(AuditEvent.event == RETRAINING_EVENT).order_by(AuditEvent.id.desc())
    for event in session.scalars(query.execution_options(yield_per=100)):  # a few events per period: read newest first
        if event_desk(event) == desk:
            return event
    return None


def desk_labelled_inquiries(session: Session, desks: Collection[str], default_desk: str) -> list[LabelledInquiry]:
    """The corrected inquiries (as ``labelled_inquiries``) filed to one of ``desks``; an inquiry without a desk
    (stored before desks) belongs to ``default_desk``."""
    clause = of_desks(desks, default_desk)
    labelled = select(Label.inquiry_id).where(Label.field.in_(list(TRAINING_FIELDS)))
    mine = set(session.scalars(select(Inquiry.id).where(clause, Inquiry.id.in_(labelled))))
    return [row for row in labelled_inquiries(session) if row.inquiry_id in mine]


def retraining_state(factory: sessionmaker[Session], settings: RetrainingSettings,
                     now: datetime | None = None, desk: str = DEFAULT_DESK) -> RetrainingState:
    """``desk``'s schedule, its last run and the next (due now when it never ran, or when the period is over)."""
    with factory() as session:
        event = last_run(session, desk)
        at, details = (event.at, dict(event.details or {})) if event is not None else (None, {})
    now = now or datetime.now(timezone.utc)
    next_run = None
    if settings.enabled:
        next_run = max(now, at + timedelta(hours=settings.period_hours)) if at is not None else now
    return RetrainingState(enabled=settings.enabled, schedule=settings.schedule, period_hours=settings.period_hours,
                           auto_promote=settings.auto_promote, last_run=at, result=details.get("result"),
                           details=details, next_run=next_run, due=settings.enabled and next_run == now, desk=desk)


def is_due(session: Session, settings: RetrainingSettings, now: datetime, desk: str = DEFAULT_DESK) -> bool:
    """Whether ``desk``'s scheduled run is due: enabled, and none of its runs was within the period."""
    if not settings.enabled:
        return False
    event = last_run(session, desk)
    return event is None or event.at + timedelta(hours=settings.period_hours) <= now
