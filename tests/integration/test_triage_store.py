"""Ingest → triage on a real database (SQLite and PostgreSQL): decisions, states, audit, history, labels."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pipeline.rounds.triage import LazyTriageSink, TriageService
from pipeline.config import DatabaseSettings, Settings, TriageSettings
from pipeline.ingest import Ingestor
from pipeline.runtime import Runtime
from pipeline.sources.files import iter_paths
from pipeline.store.decisions import add_label, current_decision, decision_history, labels_for
from pipeline.store.models import AuditEvent, DecisionRecord, Inquiry
from tests.support.samples import sample_count

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def service(runtime: Runtime, triage_model, triage_config) -> TriageService:  # type: ignore[no-untyped-def]
    return TriageService(runtime.session_factory, model=triage_model, config=triage_config)


def _ingest(runtime: Runtime, sink) -> list[int]:  # type: ignore[no-untyped-def]
    stats = Ingestor(runtime.session_factory, limits=runtime.parse_limits, sink=sink).ingest(iter_paths([SAMPLES]))
    assert stats.stored == sample_count()
    return stats.inquiry_ids


def test_ingest_triages_each_new_inquiry_in_the_same_transaction_as_its_event(runtime: Runtime, service: TriageService) -> None:
    ids = _ingest(runtime, service)
    with runtime.session_factory() as session:
        inquiries = session.scalars(select(Inquiry).where(Inquiry.id.in_(ids))).all()
        assert {i.state for i in inquiries} == {"triaged", "routed"}
        for inquiry in inquiries:
            decision = current_decision(session, inquiry.id)
            assert decision is not None and decision.trigger == "ingest"
            assert inquiry.state == ("triaged" if decision.standard else "routed")
            assert decision.model_version == service.model.version and decision.rule_id and decision.reason
            assert isinstance(decision.entities, list) and isinstance(decision.signals, dict)
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.inquiry_id == inquiry.id).order_by(AuditEvent.id)
            ).all()
            assert [(e.event, e.from_state, e.to_state) for e in events] == [
                ("stored", None, "new"), ("triaged", "new", inquiry.state),
            ]
            assert events[1].details["decision_id"] == decision.id
        german = session.scalar(select(DecisionRecord).where(DecisionRecord.language == "de"))
        assert german is not None and german.queue == "translation" and not german.standard


def test_fees_sample_keeps_its_entities_and_terms(runtime: Runtime, service: TriageService) -> None:
    _ingest(runtime, service)
    with runtime.session_factory() as session:
        fees = session.scalar(select(DecisionRecord).where(DecisionRecord.topic == "fees"))
        assert fees is not None
        assert ("amount", "CHF 1234.50") in {(e["kind"], e["value"]) for e in fees.entities}
        assert all({"start", "end", "source"} <= set(e) for e in fees.entities)
        assert fees.top_terms


def test_retriage_keeps_history_and_one_current_decision(runtime: Runtime, service: TriageService) -> None:
    ids = _ingest(runtime, service)
    with runtime.session_factory.begin() as session:
        session.get(Inquiry, ids[0]).state = "approved"  # a later state is kept by re-triage
    stats = service.retriage_since(EPOCH)
    assert stats.triaged == len(ids) and stats.failed == 0
    with runtime.session_factory() as session:
        for inquiry_id in ids:
            history = decision_history(session, inquiry_id)
            assert len(history) == 2 and [d.is_current for d in history] == [False, True]
            assert history[1].trigger == "retriage"
        assert session.get(Inquiry, ids[0]).state == "approved"
        retriaged = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "retriaged"))
        assert retriaged == len(ids)


def test_a_second_current_decision_is_refused_by_the_database(runtime: Runtime, service: TriageService) -> None:
    ids = _ingest(runtime, service)
    with runtime.session_factory() as session:
        current = current_decision(session, ids[0])
        assert current is not None
        twin = DecisionRecord(**{c.key: getattr(current, c.key) for c in DecisionRecord.__table__.columns if c.key != "id"})
        session.add(twin)
        with pytest.raises(IntegrityError):
            session.commit()


def test_worker_claims_pending_inquiries(runtime: Runtime, service: TriageService) -> None:
    ids = _ingest(runtime, lambda _ids: None)  # stored, left new
    with runtime.session_factory() as session:
        assert {session.get(Inquiry, i).state for i in ids} == {"new"}
    stats = service.triage_pending(limit=5)
    assert stats.triaged == 5
    assert service.triage_pending(limit=100).triaged == len(ids) - 5
    assert service.triage_pending().triaged == 0
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Inquiry).where(Inquiry.state == "new")) == 0


def test_labels_record_corrections_as_training_data(runtime: Runtime, service: TriageService) -> None:
    ids = _ingest(runtime, service)
    with runtime.session_factory.begin() as session:
        decision = current_decision(session, ids[1])
        assert decision is not None
        add_label(session, ids[1], "topic", "fees", "reviewer@office", decision_id=decision.id)
        add_label(session, ids[1], "entities", [{"kind": "amount", "value": "CHF 10"}], "reviewer@office")
    with runtime.session_factory() as session:
        labels = labels_for(session, ids[1])
        assert [(label.field, label.value, label.actor) for label in labels] == [
            ("topic", "fees", "reviewer@office"),
            ("entities", [{"kind": "amount", "value": "CHF 10"}], "reviewer@office"),
        ]
        assert labels[0].decision_id is not None and labels[0].created_at.tzinfo is not None


def test_without_a_model_inquiries_stay_new_and_ingest_goes_on(runtime: Runtime, tmp_path: Path) -> None:
    settings = Settings(
        database=DatabaseSettings(url=str(runtime.engine.url.render_as_string(hide_password=False))),
        triage=TriageSettings(model_path=tmp_path / "none.skops", auto_train=False),
    )
    broken = Runtime(settings=settings, engine=runtime.engine, session_factory=runtime.session_factory)
    sink = LazyTriageSink(broken)
    ids = _ingest(runtime, sink)
    assert sink.disabled is not None and "triage train" in sink.disabled
    with runtime.session_factory() as session:
        assert {session.get(Inquiry, i).state for i in ids} == {"new"}
