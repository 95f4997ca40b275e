"""The reply service on a real database (SQLite and PostgreSQL): states, audit log, delivery exactly once.

The mail servers here are the in-memory twin (``responders.transport``); the
same flows against a real Dovecot and a real SMTP server are in
``test_reply_delivery.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.config import DeliverySettings, MailboxSettings, RepliesSettings, Settings, SmtpSettings
from pipeline.errors import DeliveryError, DeliveryUncertainError, ReplyError, StaleSuggestionError
from pipeline.runtime import Runtime
from pipeline.store.db import unit_of_work
from pipeline.store.models import AuditEvent, Delivery, Inquiry, Suggestion
from pipeline.store import replies as reply_store
from responders import deliver as deliver_module
from webapp.services import suggestions as service
from responders.context import ReplyContext
from pipeline.rounds.replies import acknowledge_inquiries, deliver_approved, recover_deliveries
from responders.suggest import NoReply
from responders.transport import DRAFT, SENDING, MemoryTransports, message_id_of
from tests.support.mail import make_message
from tests.support.replies import set_first_sync, store_triaged

NOW = datetime(2026, 3, 1, 11, 0, tzinfo=timezone.utc)
REFUND = "We paid CHF 1,234.50 for A1234567 but only CHF 934.50 was due. Please refund the difference."


class Crash(BaseException):
    """The process dies here (nothing after it runs, no handler catches it)."""


def _settings(mode: str = "drafts", **replies: object) -> Settings:
    delivery = DeliverySettings(mode=mode, smtp=SmtpSettings(host="127.0.0.1", port=2525, tls="none"),  # type: ignore[arg-type]
                                auto_acknowledge=True)
    mailbox = MailboxSettings(host="127.0.0.1", tls="none", user="desk@registry.example.org", password="x",  # type: ignore[arg-type]
                              delivery=delivery)
    return Settings(mailboxes={"desk": mailbox}, replies=RepliesSettings(**replies))  # type: ignore[arg-type]


def _clock(start: datetime = NOW) -> Callable[[], datetime]:
    return lambda: start


def _inquiry(runtime: Runtime, **kwargs: object) -> int:
    raw = make_message(REFUND, subject="Refund of overpayment", sender="Tom Baker <tom@example.co.uk>",
                       message_id=f"<m{id(kwargs)}-{len(kwargs)}-{datetime.now().timestamp()}@example.co.uk>")
    return store_triaged(runtime, raw, text_for_entities=REFUND, intents=("fees--refund",), **kwargs)  # type: ignore[arg-type]


def _events(runtime: Runtime, inquiry_id: int) -> list[AuditEvent]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.inquiry_id == inquiry_id)
                                    .order_by(AuditEvent.id)))


def _suggest(runtime: Runtime, context: ReplyContext, inquiry_id: int) -> service.SuggestionInfo:
    with unit_of_work(runtime.session_factory) as session:
        info = service.suggest_for_inquiry(session, inquiry_id, context, actor="triage")
    assert isinstance(info, service.SuggestionInfo), info
    return info


def _approve(runtime: Runtime, context: ReplyContext, suggestion_id: int) -> service.SuggestionInfo:
    with unit_of_work(runtime.session_factory) as session:
        return service.approve(session, suggestion_id, "alice", context)


def _state(runtime: Runtime, inquiry_id: int) -> str:
    with runtime.session_factory() as session:
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        return inquiry.state


def _delivery(runtime: Runtime, suggestion_id: int) -> Delivery:
    with runtime.session_factory() as session:
        delivery = session.scalar(select(Delivery).where(Delivery.suggestion_id == suggestion_id))
        assert delivery is not None
        return delivery


def test_suggest_edit_approve_and_deliver_to_drafts(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings("drafts"))
    inquiry_id = _inquiry(runtime)
    info = _suggest(runtime, context, inquiry_id)
    assert (info.status, info.version, info.template_id, info.template_version) == ("suggested", 1, "fees--refund", 2)
    assert info.subject == f"Re: Refund of overpayment [T-{inquiry_id}]" and info.to == "tom@example.co.uk"
    assert info.body.startswith("Dear Tom Baker,") and info.html is not None and info.editable
    assert _state(runtime, inquiry_id) == "suggested"
    assert _suggest(runtime, context, inquiry_id).id == info.id  # an open suggestion is returned, not doubled

    with unit_of_work(runtime.session_factory) as session, pytest.raises(StaleSuggestionError, match="reload"):
        service.edit_suggestion(session, info.id, "New", "Text", "bob", info.version + 5, context)
    with unit_of_work(runtime.session_factory) as session, pytest.raises(ReplyError, match="one line"):
        service.edit_suggestion(session, info.id, "New\r\nBcc: x@y.org", "Text", "bob", info.version, context)
    with unit_of_work(runtime.session_factory) as session:
        edited = service.edit_suggestion(session, info.id, "Your refund", "Dear Tom,\r\n\r\n<b>Done</b>.\r\n", "bob",
                                         info.version, context)
    assert (edited.status, edited.version) == ("edited", 2)
    assert edited.subject == f"Your refund [T-{inquiry_id}]" and edited.body == "Dear Tom,\n\n<b>Done</b>.\n"
    assert edited.html is not None and "&lt;b&gt;Done&lt;/b&gt;" in edited.html
    assert _state(runtime, inquiry_id) == "edited"

    approved = _approve(runtime, context, info.id)
    assert approved.status == "approved" and approved.message_id and approved.message_id.endswith(
        "@registry.example.org") and approved.mailbox == "desk"
    with unit_of_work(runtime.session_factory) as session, pytest.raises(ReplyError, match="it is approved"):
        service.edit_suggestion(session, info.id, "x", "y", "bob", approved.version, context)

    transports = MemoryTransports()
    (outcome,) = deliver_approved(runtime.session_factory, context, transports, clock=_clock())
    assert outcome.outcome == "sent" and outcome.message_id == approved.message_id
    (draft,) = transports.box("desk").copies("Drafts")
    assert DRAFT in draft.flags and message_id_of(draft.raw) == approved.message_id
    assert b"In-Reply-To: <" in draft.raw and f"[T-{inquiry_id}]".encode() in draft.raw
    assert b"Auto-Submitted" not in draft.raw
    assert deliver_approved(runtime.session_factory, context, transports, clock=_clock()) == []
    assert _state(runtime, inquiry_id) == "sent"
    with runtime.session_factory() as session:
        final = service.suggestion_info(session, info.id)
    assert final.status == "sent" and final.delivery_state == "done" and final.sent_at is not None

    events = [(e.event, e.from_state, e.to_state, e.actor, e.details.get("status")) for e in _events(runtime, inquiry_id)]
    assert events[-5:] == [
        ("suggestion_suggested", "triaged", "suggested", "triage", "suggested"),
        ("suggestion_edited", "suggested", "edited", "bob", "edited"),
        ("suggestion_approved", "edited", "approved", "alice", "approved"),
        ("delivery_started", "approved", "approved", "system", None),
        ("suggestion_sent", "approved", "sent", "system", "sent"),
    ]
    edit_event = _events(runtime, inquiry_id)[-4]
    assert edit_event.details["previous_body"].startswith("Dear Tom Baker,")


def test_a_rolled_back_change_leaves_no_suggestion_and_no_event(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings())
    inquiry_id = _inquiry(runtime)
    with pytest.raises(RuntimeError):
        with unit_of_work(runtime.session_factory) as session:
            service.suggest_for_inquiry(session, inquiry_id, context)
            raise RuntimeError("the web request failed after the suggestion")
    with runtime.session_factory() as session:
        assert session.scalars(select(Suggestion).where(Suggestion.inquiry_id == inquiry_id)).all() == []
    assert [e.event for e in _events(runtime, inquiry_id) if e.event.startswith("suggestion")] == []
    assert _state(runtime, inquiry_id) == "triaged"


def test_no_suggestion_for_routed_or_automatic_mail(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings())
    routed = _inquiry(runtime, standard=False)
    with unit_of_work(runtime.session_factory) as session:
        none = service.suggest_for_inquiry(session, routed, context)
        forced = service.suggest_for_inquiry(session, routed, context, require_standard=False, actor="carol")
    assert isinstance(none, NoReply) and "Complaint about fees" in none.reason
    assert isinstance(forced, service.SuggestionInfo) and forced.template_id == "fees--refund"
    raw = make_message("Out of office", subject="Automatic reply: x", message_id="<ooo@example.com>",
                       headers={"Auto-Submitted": "auto-replied"})
    auto = store_triaged(runtime, raw)
    with unit_of_work(runtime.session_factory) as session:
        result = service.suggest_for_inquiry(session, auto, context)
    assert isinstance(result, NoReply) and "never answered" in result.reason


def test_discard_puts_the_inquiry_back_in_its_queue(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings())
    inquiry_id = _inquiry(runtime)
    info = _suggest(runtime, context, inquiry_id)
    with unit_of_work(runtime.session_factory) as session:
        discarded = service.discard(session, info.id, "bob", expected_version=info.version)
    assert discarded.status == "discarded" and _state(runtime, inquiry_id) == "triaged"
    again = _suggest(runtime, context, inquiry_id)
    assert again.id != info.id
    _approve(runtime, context, again.id)
    deliver_approved(runtime.session_factory, context, MemoryTransports(), clock=_clock())
    with unit_of_work(runtime.session_factory) as session, pytest.raises(ReplyError, match="it is sent"):
        service.discard(session, again.id, "bob")


def test_smtp_mode_sends_once_and_keeps_a_copy_in_sent(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings("smtp"))
    info = _suggest(runtime, context, _inquiry(runtime))
    approved = _approve(runtime, context, info.id)
    transports = MemoryTransports()
    (outcome,) = deliver_approved(runtime.session_factory, context, transports, clock=_clock())
    box = transports.box("desk")
    assert outcome.outcome == "sent" and len(box.sent) == 1
    raw, sender, recipients = box.sent[0]
    assert (sender, recipients) == ("desk@registry.example.org", ("tom@example.co.uk",))
    (copy,) = box.copies("Sent")
    assert copy.raw == raw and SENDING not in copy.flags and message_id_of(raw) == approved.message_id


def test_a_refused_send_is_retried_later_with_the_same_message_id(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings("smtp"))
    info = _suggest(runtime, context, _inquiry(runtime))
    _approve(runtime, context, info.id)
    transports = MemoryTransports()
    transports.box("desk").fail_send.append(DeliveryError("550 mailbox unavailable"))
    (first,) = deliver_approved(runtime.session_factory, context, transports, clock=_clock())
    assert first.outcome == "failed" and "550" in first.detail
    assert transports.box("desk").copies("Sent") == []  # the copy of a message that did not leave is removed
    assert _delivery(runtime, info.id).state == "failed"
    assert deliver_approved(runtime.session_factory, context, transports, clock=_clock()) == []  # not yet
    (second,) = deliver_approved(runtime.session_factory, context, transports,
                                 clock=_clock(NOW + timedelta(minutes=10)))
    assert second.outcome == "sent" and second.message_id == first.message_id
    assert len(transports.box("desk").sent) == 1 and _delivery(runtime, info.id).attempts == 2


def test_an_uncertain_send_waits_for_a_person(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings("smtp"))
    info = _suggest(runtime, context, _inquiry(runtime))
    _approve(runtime, context, info.id)
    transports = MemoryTransports()
    transports.box("desk").fail_send.append(DeliveryUncertainError("connection lost during DATA"))
    (first,) = deliver_approved(runtime.session_factory, context, transports, clock=_clock())
    assert first.outcome == "uncertain"
    later = _clock(NOW + timedelta(hours=1))
    assert deliver_approved(runtime.session_factory, context, transports, clock=later) == []
    assert recover_deliveries(runtime.session_factory, context, transports, clock=later) == []
    with unit_of_work(runtime.session_factory) as session:
        assert service.resolve_uncertain(session, info.id, "alice", was_sent=False).delivery_state == "retry"
    (second,) = deliver_approved(runtime.session_factory, context, transports, clock=later)
    assert second.outcome == "sent"
    assert len(transports.box("desk").copies("Sent")) == 1  # the first copy was reused, not doubled


@pytest.mark.parametrize("mode", ["drafts", "smtp"])
def test_a_crash_after_delivery_before_recording_never_sends_twice(runtime: Runtime, mode: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    context = ReplyContext.load(_settings(mode))
    info = _suggest(runtime, context, _inquiry(runtime))
    _approve(runtime, context, info.id)
    transports = MemoryTransports()

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash()

    with monkeypatch.context() as patch:
        patch.setattr(reply_store, "finish_delivery", crash)
        with pytest.raises(Crash):
            deliver_approved(runtime.session_factory, context, transports, clock=_clock())
    assert _delivery(runtime, info.id).state == "pending"
    # A live process is not disturbed: the lease has not run out yet.
    assert recover_deliveries(runtime.session_factory, context, transports, clock=_clock()) == []
    (outcome,) = recover_deliveries(runtime.session_factory, context, transports,
                                    clock=_clock(NOW + timedelta(minutes=10)))
    assert outcome.outcome == "sent" and "after a restart" in outcome.detail
    box = transports.box("desk")
    assert len(box.sent) == (1 if mode == "smtp" else 0)
    assert len(box.copies("Drafts" if mode == "drafts" else "Sent")) == 1
    assert _delivery(runtime, info.id).state == "done" and _state(runtime, info.inquiry_id) == "sent"


def test_a_crash_between_the_sent_copy_and_smtp_is_never_guessed(runtime: Runtime,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    context = ReplyContext.load(_settings("smtp"))
    info = _suggest(runtime, context, _inquiry(runtime))
    _approve(runtime, context, info.id)
    transports = MemoryTransports()

    class CrashingSender:
        def send(self, *args: object) -> None:
            raise Crash()

        def close(self) -> None:
            pass

    with monkeypatch.context() as patch:
        patch.setattr(transports, "sender", lambda mailbox: CrashingSender())
        with pytest.raises(Crash):
            deliver_approved(runtime.session_factory, context, transports, clock=_clock())
    (outcome,) = recover_deliveries(runtime.session_factory, context, transports,
                                    clock=_clock(NOW + timedelta(minutes=10)))
    assert outcome.outcome == "uncertain" and SENDING in outcome.detail
    assert transports.box("desk").sent == []
    assert _delivery(runtime, info.id).state == "uncertain"


def test_a_crash_before_the_network_step_is_finished_by_recovery(runtime: Runtime,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    context = ReplyContext.load(_settings("smtp"))
    info = _suggest(runtime, context, _inquiry(runtime))
    _approve(runtime, context, info.id)
    transports = MemoryTransports()
    with monkeypatch.context() as patch:
        patch.setattr(deliver_module, "hand_over", lambda *args: (_ for _ in ()).throw(Crash()))
        with pytest.raises(Crash):
            deliver_approved(runtime.session_factory, context, transports, clock=_clock())
    (outcome,) = recover_deliveries(runtime.session_factory, context, transports,
                                    clock=_clock(NOW + timedelta(minutes=10)))
    assert outcome.outcome == "sent" and len(transports.box("desk").sent) == 1


def test_policy_is_checked_again_at_approval_and_delivery(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings())
    info = _suggest(runtime, context, _inquiry(runtime))
    blocked = ReplyContext.load(_settings(block_list=("example.co.uk",)))
    with unit_of_work(runtime.session_factory) as session, pytest.raises(ReplyError, match="block list"):
        service.approve(session, info.id, "alice", blocked)
    _approve(runtime, context, info.id)
    (outcome,) = deliver_approved(runtime.session_factory, blocked, MemoryTransports(), clock=_clock())
    assert outcome.outcome == "refused" and "block list" in outcome.detail
    with runtime.session_factory() as session:
        back = service.suggestion_info(session, info.id)
    assert back.status == "edited" and back.last_error and "block list" in back.last_error


def test_without_a_mailbox_to_send_from_the_reply_goes_to_the_outbox_once(runtime: Runtime, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    context = ReplyContext.load(Settings(replies=RepliesSettings(outbox=outbox, outbox_from="desk@office.example")))
    info = _suggest(runtime, context, _inquiry(runtime, mailbox=None))
    approved = _approve(runtime, context, info.id)
    assert approved.status == "approved"
    with runtime.session_factory() as session:
        assert session.get(Suggestion, info.id).mailbox == "outbox"  # type: ignore[union-attr]
    (outcome,) = deliver_approved(runtime.session_factory, context, MemoryTransports(), clock=_clock())
    assert outcome.outcome == "sent" and "outbox" in outcome.detail
    files = list((outbox / "new").iterdir())
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert b"From: " in raw and b"desk@office.example" in raw and b"tom@example.co.uk" in raw
    assert deliver_approved(runtime.session_factory, context, MemoryTransports(), ids=[info.id],
                            clock=_clock())[0].outcome == "skipped"
    # A stopped process left the delivery pending: recovery finds the file instead of writing it again.
    with unit_of_work(runtime.session_factory) as session:
        delivery = session.get(Delivery, info.id)
        assert delivery is not None and delivery.mode == "outbox"
        delivery.state = "pending"
        suggestion = session.get(Suggestion, info.id)
        assert suggestion is not None
        suggestion.status = "approved"
        inquiry = session.get(Inquiry, suggestion.inquiry_id)
        assert inquiry is not None
        inquiry.state = "approved"  # as the stopped process left it: approved, delivery pending
    (recovered,) = recover_deliveries(runtime.session_factory, context, MemoryTransports(), older_than_seconds=0)
    assert recovered.outcome == "sent" and "already in the outbox" in recovered.detail
    assert len(list((outbox / "new").iterdir())) == 1


# --- automatic acknowledgements -------------------------------------------------------------------


def _ack_message(n: int, sender: str = "Tom <tom@example.co.uk>", date: datetime = NOW) -> bytes:
    return make_message("Please confirm the renewal fee for DM/212 345.", subject=f"Renewal {n}", sender=sender,
                        message_id=f"<ack-{n}-{sender.split('<')[-1].strip('>')}@example.co.uk>",
                        date=date - timedelta(minutes=30))


def test_acknowledgements_only_for_new_mail_of_mailboxes_that_ask(runtime: Runtime) -> None:
    context = ReplyContext.load(_settings("drafts", auto_cap=2))
    set_first_sync(runtime, "desk", "INBOX", NOW - timedelta(hours=2))
    transports = MemoryTransports()
    new = [store_triaged(runtime, _ack_message(n), topic="renewal") for n in range(3)]
    old = store_triaged(runtime, _ack_message(9, date=NOW - timedelta(hours=3)), topic="renewal")
    filed = store_triaged(runtime, _ack_message(10), topic="renewal", mailbox=None)
    outcomes = acknowledge_inquiries(runtime.session_factory, context, transports, [*new, old, filed, new[0]],
                                     clock=_clock())
    assert [o.outcome for o in outcomes] == ["sent", "sent", "skipped", "skipped", "skipped", "skipped"]
    assert "cap on automatic mail" in outcomes[2].detail
    assert "before it was first synced" in outcomes[3].detail
    assert "off for this mailbox" in outcomes[4].detail
    assert "already acknowledged" in outcomes[5].detail
    box = transports.box("desk")
    assert len(box.sent) == 2 and box.copies("Drafts") == []  # acknowledgements go by SMTP, never to Drafts
    raw = box.sent[0][0]
    assert b"Auto-Submitted: auto-replied" in raw and f"T-{new[0]}".encode() in raw
    assert _state(runtime, new[0]) == "triaged"  # an acknowledgement does not answer the inquiry


def test_acknowledgements_are_off_by_default(runtime: Runtime) -> None:
    settings = _settings()
    mailbox = settings.mailboxes["desk"].model_copy(
        update={"delivery": settings.mailboxes["desk"].delivery.model_copy(update={"auto_acknowledge": False})})
    context = ReplyContext.load(settings.model_copy(update={"mailboxes": {"desk": mailbox}}))
    assert MailboxSettings(host="h", user="u").delivery.auto_acknowledge is False
    set_first_sync(runtime, "desk", "INBOX", NOW - timedelta(hours=2))
    inquiry = store_triaged(runtime, _ack_message(1), topic="renewal")
    (outcome,) = acknowledge_inquiries(runtime.session_factory, context, MemoryTransports(), [inquiry], clock=_clock())
    assert outcome.outcome == "skipped" and "off" in outcome.detail


def test_one_worker_round_acknowledges_and_delivers(runtime: Runtime) -> None:
    from pipeline.rounds.replies import ReplyWorker

    now = datetime.now(timezone.utc)
    context = ReplyContext.load(_settings("drafts"))
    set_first_sync(runtime, "desk", "INBOX", now - timedelta(hours=1))
    fresh = store_triaged(runtime, _ack_message(1, date=now), topic="renewal")
    info = _suggest(runtime, context, _inquiry(runtime))
    _approve(runtime, context, info.id)
    transports = MemoryTransports()
    worker = ReplyWorker(runtime, context, transports)
    german = store_triaged(runtime, make_message("Wie hoch ist die Gebühr?", message_id="<de-1@example.at>"),
                           language="de")
    result = worker.run_once()
    assert (result.suggested, result.unanswerable) == (2, 0)  # the German one gets an English draft to translate
    with runtime.session_factory() as session:
        assert service.current_suggestion(session, fresh) is not None
        draft = service.current_suggestion(session, german)
    assert draft is not None and draft.body.startswith("[[to fill: STAFF NOTE: the sender wrote in German (de)")
    assert _state(runtime, fresh) == "suggested" and _state(runtime, german) == "suggested"
    acknowledged = {o.inquiry_id: o.outcome for o in result.acknowledged}
    assert acknowledged[fresh] == "sent" and [o.outcome for o in result.delivered] == ["sent"]
    box = transports.box("desk")
    assert len(box.sent) == 1 and len(box.copies("Drafts")) == 1
    again = worker.run_once()
    assert fresh not in {o.inquiry_id for o in again.acknowledged} and again.delivered == []
    assert (again.suggested, again.unanswerable) == (0, 0)
