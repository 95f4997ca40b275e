"""Suggested replies obey the inquiry state machine: a move it refuses changes nothing and writes nothing.

Real databases (SQLite and PostgreSQL), the real store repository and the
in-memory mail servers of ``responders.transport``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, update

from pipeline.config import DeliverySettings, MailboxSettings, Settings
from pipeline.errors import IllegalTransition
from pipeline.rounds.replies import deliver_approved
from pipeline.runtime import Runtime
from pipeline.store import replies as reply_store
from pipeline.store.db import unit_of_work
from pipeline.store.lifecycle import Action, move_inquiry
from pipeline.store.models import AuditEvent, Delivery, Inquiry, Suggestion
from responders.context import ReplyContext
from responders.transport import MemoryTransports
from tests.support.mail import make_message
from tests.support.replies import store_triaged
from webapp.services import suggestions as service

NOW = datetime(2026, 3, 1, 11, 0, tzinfo=timezone.utc)
REFUND = "We paid CHF 1,234.50 for A1234567 but only CHF 934.50 was due. Please refund the difference."


def _context() -> ReplyContext:
    mailbox = MailboxSettings(host="127.0.0.1", tls="none", user="desk@registry.example.org", password="x",  # type: ignore[arg-type]
                              delivery=DeliverySettings(mode="drafts"))  # type: ignore[arg-type]
    return ReplyContext.load(Settings(mailboxes={"desk": mailbox}))


def _suggested(runtime: Runtime, context: ReplyContext, n: int) -> reply_store.SuggestionInfo:
    raw = make_message(REFUND, subject="Refund of overpayment", sender="Tom Baker <tom@example.co.uk>",
                       message_id=f"<lifecycle-{n}@example.co.uk>")
    inquiry_id = store_triaged(runtime, raw, text_for_entities=REFUND)
    with unit_of_work(runtime.session_factory) as session:
        info = service.suggest_for_inquiry(session, inquiry_id, context, actor="triage")
    assert isinstance(info, reply_store.SuggestionInfo), info
    return info


def _close_case(runtime: Runtime, inquiry_id: int) -> None:
    """Staff close the case without a reply; the suggestion is left over, still ``suggested``."""
    with unit_of_work(runtime.session_factory) as session:
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        move_inquiry(session, inquiry, "handled", Action.HANDLE, event="case_handled", actor="bob")


def _snapshot(runtime: Runtime, info: reply_store.SuggestionInfo) -> tuple[object, ...]:
    with runtime.session_factory() as session:
        suggestion = session.get(Suggestion, info.id)
        inquiry = session.get(Inquiry, info.inquiry_id)
        assert suggestion is not None and inquiry is not None
        events = session.scalar(select(func.count()).select_from(AuditEvent)
                                .where(AuditEvent.inquiry_id == info.inquiry_id))
        deliveries = session.scalar(select(func.count()).select_from(Delivery)
                                    .where(Delivery.suggestion_id == info.id))
        return (suggestion.status, suggestion.version, suggestion.subject, suggestion.message_id,
                suggestion.approved_by, inquiry.state, events, deliveries)


def test_approving_the_left_over_suggestion_of_a_handled_inquiry_is_refused(runtime: Runtime) -> None:
    context = _context()
    info = _suggested(runtime, context, 1)
    _close_case(runtime, info.inquiry_id)
    before = _snapshot(runtime, info)
    assert before[0] == "suggested" and before[5] == "handled"
    with pytest.raises(IllegalTransition) as refused:
        with unit_of_work(runtime.session_factory) as session:
            service.approve(session, info.id, "alice", context, expected_version=info.version)
    assert (refused.value.from_state, refused.value.to_state, refused.value.action) == ("handled", "approved",
                                                                                       "approve")
    assert _snapshot(runtime, info) == before
    assert deliver_approved(runtime.session_factory, context, MemoryTransports(), clock=lambda: NOW) == []


def test_editing_or_discarding_the_left_over_suggestion_of_a_handled_inquiry_is_refused(runtime: Runtime) -> None:
    context = _context()
    info = _suggested(runtime, context, 2)
    _close_case(runtime, info.inquiry_id)
    before = _snapshot(runtime, info)
    with pytest.raises(IllegalTransition, match="handled"):
        with unit_of_work(runtime.session_factory) as session:
            service.edit_suggestion(session, info.id, "Your refund", "Dear Tom, done.", "bob", info.version, context)
    with pytest.raises(IllegalTransition, match="handled"):
        with unit_of_work(runtime.session_factory) as session:
            service.discard(session, info.id, "bob", expected_version=info.version)
    assert _snapshot(runtime, info) == before


def test_routing_a_sent_inquiry_to_staff_is_refused(runtime: Runtime) -> None:
    context = _context()
    info = _suggested(runtime, context, 3)
    with unit_of_work(runtime.session_factory) as session:
        service.approve(session, info.id, "alice", context)
    (outcome,) = deliver_approved(runtime.session_factory, context, MemoryTransports(), clock=lambda: NOW)
    assert outcome.outcome == "sent"
    before = _snapshot(runtime, info)
    with pytest.raises(IllegalTransition, match="sent"):
        with unit_of_work(runtime.session_factory) as session:
            reply_store.route_to_staff(session, info.inquiry_id, "no template")
    assert _snapshot(runtime, info) == before


def test_an_approved_reply_whose_inquiry_cannot_become_sent_is_not_delivered(runtime: Runtime) -> None:
    context = _context()
    info = _suggested(runtime, context, 4)
    with unit_of_work(runtime.session_factory) as session:
        service.approve(session, info.id, "alice", context)
    with unit_of_work(runtime.session_factory) as session:  # a state no action of the table leads to from here
        session.execute(update(Inquiry).where(Inquiry.id == info.inquiry_id).values(state="handled"))
    before = _snapshot(runtime, info)
    transports = MemoryTransports()
    (outcome,) = deliver_approved(runtime.session_factory, context, transports, clock=lambda: NOW)
    assert outcome.outcome == "skipped" and "handled" in outcome.detail
    assert transports.box("desk").copies("Drafts") == [] and transports.box("desk").sent == []
    assert _snapshot(runtime, info) == before


def test_every_reply_move_is_an_audited_transition_of_the_table(runtime: Runtime) -> None:
    context = _context()
    info = _suggested(runtime, context, 5)
    with unit_of_work(runtime.session_factory) as session:
        edited = service.edit_suggestion(session, info.id, "Your refund", "Dear Tom, done.", "bob", info.version,
                                         context)
        service.discard(session, edited.id, "bob", expected_version=edited.version)
    with runtime.session_factory() as session:
        events = [(e.event, e.from_state, e.to_state, e.actor) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.inquiry_id == info.inquiry_id).order_by(AuditEvent.id))]
    assert events[-3:] == [
        ("suggestion_suggested", "triaged", "suggested", "triage"),
        ("suggestion_edited", "suggested", "edited", "bob"),
        ("suggestion_discarded", "edited", "triaged", "bob"),
    ]
