"""A case tag ``[T-<id>]`` in a subject joins that case's thread only for someone who takes part in it.

Case ids are sequential: anyone could otherwise put a stranger's mail into a customer's case (and see
the customer's case beside it) by writing the tag.
"""

from __future__ import annotations

from sqlalchemy import select

from pipeline.config import DeliverySettings, MailboxSettings, Settings
from pipeline.ingest import Ingestor
from pipeline.runtime import Runtime
from pipeline.sources.base import Origin, SourceItem
from pipeline.store.db import unit_of_work
from pipeline.store.models import AuditEvent, Message
from webapp.services import suggestions as service
from responders.context import ReplyContext
from tests.support.mail import make_message
from tests.support.replies import store_triaged

REFUND = "We paid CHF 1,234.50 for A1234567 but only CHF 934.50 was due. Please refund the difference."


def _ingest(runtime: Runtime, raw: bytes, source: str) -> int:
    stats = Ingestor(runtime.session_factory).ingest([SourceItem(Origin("file", source), raw)])
    assert stats.stored == 1, stats
    return stats.inquiry_ids[0]


def _thread_of(runtime: Runtime, message_id: str) -> int:
    with runtime.session_factory() as session:
        thread_id = session.scalar(select(Message.thread_id).where(Message.message_id == message_id))
    assert thread_id is not None
    return thread_id


def _stored_details(runtime: Runtime, inquiry_id: int) -> dict[str, object]:
    with runtime.session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.inquiry_id == inquiry_id,
                                                         AuditEvent.event == "stored")).one()
    return event.details


def test_a_stranger_writing_the_tag_starts_a_case_of_its_own(runtime: Runtime) -> None:
    case = _ingest(runtime, make_message("Question", sender="Jane <jane@customer.example>",
                                         message_id="<q@customer.example>"), "/q")
    stranger = _ingest(runtime, make_message("Let me in", subject=f"Re: Renewal question [T-{case}]",
                                             sender="Mallory <mallory@evil.example>",
                                             message_id="<m@evil.example>"), "/m")
    assert _thread_of(runtime, "m@evil.example") != _thread_of(runtime, "q@customer.example")
    assert _stored_details(runtime, stranger)["case_tag_ignored"] == {
        "case": case, "reason": "the sender takes no part in that case's thread"}

    # The customer herself, from a client that dropped the threading headers, still finds her case.
    own = _ingest(runtime, make_message("More", subject=f"RE: [T-{case}] Renewal question",
                                        sender="JANE@Customer.example", message_id="<a@customer.example>"), "/a")
    assert _thread_of(runtime, "a@customer.example") == _thread_of(runtime, "q@customer.example")
    assert "case_tag_ignored" not in _stored_details(runtime, own)


def test_a_tag_of_a_case_that_does_not_exist_is_noted(runtime: Runtime) -> None:
    inquiry = _ingest(runtime, make_message("Hello", subject="[T-987654] Hello", message_id="<x@customer.example>"),
                      "/x")
    assert _stored_details(runtime, inquiry)["case_tag_ignored"] == {"case": 987654, "reason": "no such case"}


def test_the_recipient_of_a_sent_reply_takes_part(runtime: Runtime) -> None:
    raw = make_message(REFUND, subject="Refund", sender="Jane <jane@customer.example>",
                       message_id="<r@customer.example>", headers={"Reply-To": "Accounts <accounts@customer.example>"})
    case = store_triaged(runtime, raw, text_for_entities=REFUND)
    mailbox = MailboxSettings(host="127.0.0.1", tls="none", user="desk@registry.example.org", password="x",  # type: ignore[arg-type]
                              delivery=DeliverySettings(mode="drafts"))  # type: ignore[arg-type]
    context = ReplyContext.load(Settings(mailboxes={"desk": mailbox}))
    with unit_of_work(runtime.session_factory) as session:
        info = service.suggest_for_inquiry(session, case, context, actor="triage")
    assert isinstance(info, service.SuggestionInfo) and info.to == "accounts@customer.example"

    # Only suggested: the reply has not gone to anyone yet.
    _ingest(runtime, make_message("Early", subject=f"Re: Refund [T-{case}]", sender="accounts@customer.example",
                                  message_id="<early@customer.example>"), "/early")
    assert _thread_of(runtime, "early@customer.example") != _thread_of(runtime, "r@customer.example")

    with unit_of_work(runtime.session_factory) as session:
        service.approve(session, info.id, "alice", context)
    _ingest(runtime, make_message("Thanks", subject=f"Re: Refund [T-{case}]", sender="accounts@customer.example",
                                  message_id="<late@customer.example>"), "/late")
    assert _thread_of(runtime, "late@customer.example") == _thread_of(runtime, "r@customer.example")
