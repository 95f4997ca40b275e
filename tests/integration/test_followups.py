"""A follow-up joins its case: one case, one current draft, and the draft no longer asks for what the thread
gave. Real ingest, the reply round's suggest step and the review app's case sync, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from pipeline.rounds.replies import RoundResult, ReplyWorker
from pipeline.runtime import Runtime
from pipeline.store.db import unit_of_work
from pipeline.store.models import AuditEvent, Case, Inquiry, Suggestion
from responders.context import ReplyContext
from tests.e2e.web import store_messages
from tests.integration.test_reply_service import _settings
from tests.integration.test_web_drafts import decide_intents
from tests.support.mail import make_message
from webapp.services import suggestions as service
from webapp.services.cases import sync_cases

FIRST = "Dear Sir or Madam,\n\nWe paid the renewal of our design registration last month. Has the renewal " \
        "been recorded?\n\nKind regards,\nJo Holder\n"
FOLLOW_UP = "Hello,\n\nSorry, I forgot the number: it is DM/212 345.\n\nJo Holder\n"
ASKS_FOR_NUMBER = "does not give the registration number"
SENDER = "Jo Holder <jo@holder.example>"


def worker(runtime: Runtime) -> ReplyWorker:
    return ReplyWorker(runtime, ReplyContext.load(_settings()), transports=None)  # type: ignore[arg-type]


def replies_of(runtime: Runtime, inquiry_id: int) -> list[tuple[str, str]]:
    with runtime.session_factory() as session:
        rows = session.scalars(select(Suggestion).where(Suggestion.inquiry_id == inquiry_id)
                               .order_by(Suggestion.id)).all()
        return [(row.status, row.body_text) for row in rows]


def test_a_follow_up_giving_the_number_joins_the_case_and_the_draft_stops_asking_for_it(runtime: Runtime) -> None:
    [first] = store_messages(runtime, [make_message(FIRST, subject="Renewal recorded?", sender=SENDER,
                                                    message_id="<first@holder.example>")])
    decide_intents(runtime, first, text=FIRST)
    round_one = RoundResult()
    worker(runtime).suggest_pending(round_one)
    assert round_one.suggested == 1
    [(status, body)] = replies_of(runtime, first)
    assert status == "suggested" and ASKS_FOR_NUMBER in body

    [follow_up] = store_messages(runtime, [make_message(
        FOLLOW_UP, subject="Re: Renewal recorded?", sender=SENDER, message_id="<second@holder.example>",
        headers={"In-Reply-To": "<first@holder.example>", "References": "<first@holder.example>"})])
    with runtime.session_factory() as session:
        joined = session.get(Inquiry, follow_up)
        assert joined is not None and joined.follow_up_of == first and joined.state == "new"
        stored = session.scalar(select(AuditEvent).where(AuditEvent.inquiry_id == follow_up,
                                                         AuditEvent.event == "stored"))
        assert stored is not None and stored.details["follow_up_of"] == first
    decide_intents(runtime, follow_up, text=FOLLOW_UP)  # the model reads the follow-up's own text

    round_two = RoundResult()
    worker(runtime).suggest_pending(round_two)
    with runtime.session_factory() as session:
        joined = session.get(Inquiry, follow_up)
        assert joined is not None and joined.state == "handled"
        assert [e.event for e in session.scalars(select(AuditEvent).where(AuditEvent.inquiry_id == follow_up)
                                                 .order_by(AuditEvent.id))][-1] == "follow_up_joined"
    drafts = replies_of(runtime, first)
    assert [s for s, _ in drafts] == ["replaced", "suggested"]  # one current draft, the old one kept aside
    current = drafts[-1][1]
    assert ASKS_FOR_NUMBER not in current and "DM/212345" in current
    assert replies_of(runtime, follow_up) == []
    with runtime.session_factory() as session:
        [reply] = session.scalars(select(Suggestion).where(Suggestion.inquiry_id == first,
                                                           Suggestion.status == "suggested")).all()
        assert (reply.in_reply_to or "").strip("<>") == "second@holder.example"  # answers the newest message of the thread

    # A further round changes nothing: the draft is up to date with the thread.
    round_three = RoundResult()
    worker(runtime).suggest_pending(round_three)
    assert round_three.suggested == 0 and len(replies_of(runtime, first)) == 2

    sync_cases(runtime.session_factory, until_done=True)
    with runtime.session_factory() as session:
        cases = session.scalars(select(Case).where(Case.is_open.is_(True))).all()
        assert [c.inquiry_id for c in cases] == [first]
        joined_case = session.get(Case, follow_up)  # made when it was triaged, closed when it joined
        assert joined_case is None or not joined_case.is_open


def test_mail_from_another_sender_or_to_a_closed_case_is_a_case_of_its_own(runtime: Runtime) -> None:
    [first] = store_messages(runtime, [make_message(FIRST, subject="Renewal recorded?", sender=SENDER,
                                                    message_id="<first@holder.example>")])
    decide_intents(runtime, first, text=FIRST)
    [other] = store_messages(runtime, [make_message(
        FOLLOW_UP, subject="Re: Renewal recorded?", sender="Al Agent <al@agents.example>",
        message_id="<other@agents.example>", headers={"In-Reply-To": "<first@holder.example>"})])
    with unit_of_work(runtime.session_factory) as session:
        inquiry = session.get(Inquiry, first)
        assert inquiry is not None
        inquiry.state = "handled"
    [late] = store_messages(runtime, [make_message(
        FOLLOW_UP, subject="Re: Renewal recorded?", sender=SENDER, message_id="<late@holder.example>",
        headers={"In-Reply-To": "<first@holder.example>"})])
    with runtime.session_factory() as session:
        for inquiry_id in (other, late):
            row = session.get(Inquiry, inquiry_id)
            assert row is not None and row.follow_up_of is None and row.state == "new"
    decide_intents(runtime, other, text=FOLLOW_UP)
    worker(runtime).suggest_pending(RoundResult())
    assert [s for s, _ in replies_of(runtime, other)] == ["suggested"]  # a case and a draft of its own


def test_thread_facts_carry_the_other_messages_newest_first(runtime: Runtime) -> None:
    [first] = store_messages(runtime, [make_message(FIRST, subject="Renewal recorded?", sender=SENDER,
                                                    message_id="<first@holder.example>")])
    [follow_up] = store_messages(runtime, [make_message(
        FOLLOW_UP, subject="Re: Renewal recorded?", sender=SENDER, message_id="<second@holder.example>",
        headers={"In-Reply-To": "<first@holder.example>"})])
    with runtime.session_factory() as session:
        facts = service.thread_facts(session, service.stored_inquiry(session, first))
    assert "DM/212 345" in facts.earlier_texts[0] and (facts.message_id or "").strip("<>") == "second@holder.example"
    assert follow_up != first


def test_a_draft_staff_edit_after_the_follow_up_is_theirs_and_is_not_drafted_again(runtime: Runtime) -> None:
    [first] = store_messages(runtime, [make_message(FIRST, subject="Renewal recorded?", sender=SENDER,
                                                    message_id="<first@holder.example>")])
    decide_intents(runtime, first, text=FIRST)
    worker(runtime).suggest_pending(RoundResult())
    [follow_up] = store_messages(runtime, [make_message(
        FOLLOW_UP, subject="Re: Renewal recorded?", sender=SENDER, message_id="<second@holder.example>",
        headers={"In-Reply-To": "<first@holder.example>"})])
    context = ReplyContext.load(_settings())
    with unit_of_work(runtime.session_factory) as session:
        from pipeline.store import replies as store

        assert store.inquiries_to_suggest(session) == [first]  # the follow-up is not triaged yet
        info = service.current_suggestion(session, first)
        assert info is not None
        service.edit_suggestion(session, info.id, info.subject, "Dear Jo Holder,\n\nDM/212345 is renewed.\n",
                                "sam", info.version, context)
    with runtime.session_factory() as session:
        assert store.inquiries_to_suggest(session) == []
    after = RoundResult()
    worker(runtime).suggest_pending(after)
    assert after.suggested == 0
    assert [s for s, _ in replies_of(runtime, first)] == ["edited"]
