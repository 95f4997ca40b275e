"""Drafts in the review app: blanks are highlighted and block approval until filled; the template picker
switches the draft to another intent (the previous draft kept aside and restorable, the pick kept as a label).
Real HTTP on real databases, as in test_web_actions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from classifiers.entities import extract_entities
from pipeline.config import DeliverySettings
from pipeline.runtime import Runtime
from pipeline.store.models import AuditEvent, DecisionRecord, Inquiry, Label, Suggestion
from pipeline.store.db import unit_of_work
from tests.e2e.web import PASSWORD, Browser, Server, context_for, decide, make_user, serve_in_thread, store_messages
from tests.integration.test_web_actions import suggestion_version, version_of
from tests.support.dovecot import Dovecot
from tests.support.imap import mailbox, new_user
from tests.support.mail import make_message

STATUS = "Dear Sir or Madam,\n\nWe paid the renewal of registration DM/299 999 last month. Has the renewal been " \
         "recorded?\n\nKind regards,\nJo Holder\n"
INTENTS = (("renewal--status", 0.71), ("renewal", 0.18), ("fees--payment_status", 0.06))


def decide_intents(runtime: Runtime, inquiry_id: int, intents: Sequence[tuple[str, float]] = INTENTS,
                   answer: Sequence[str] = ("renewal--status",), text: str = STATUS) -> None:
    """A stored triage decision naming its ranked intents, the ones to answer and the references in ``text``."""
    entities = [{"kind": e.kind, "value": e.value, "start": e.start, "end": e.end, "source": e.source}
                for e in extract_entities(text)]
    decide(runtime, inquiry_id, topic="renewal", entities=entities)
    with unit_of_work(runtime.session_factory) as session:
        record = session.scalar(select(DecisionRecord).where(DecisionRecord.inquiry_id == inquiry_id,
                                                             DecisionRecord.is_current.is_(True)))
        assert record is not None
        record.intents = [{"intent": i, "probability": p} for i, p in intents]
        record.answer_intents = list(answer)


@pytest.fixture
def status_case(runtime: Runtime) -> int:
    [inquiry_id] = store_messages(runtime, [make_message(STATUS, subject="Renewal of DM/299999 recorded?")])
    decide_intents(runtime, inquiry_id)
    make_user(runtime, "sam", queues=["customer_service"], name="Sam Staff")
    return inquiry_id


@pytest.fixture
def desk(runtime: Runtime, dovecot: Dovecot, tmp_path: Path, status_case: int) -> Iterator[Server]:
    """The review app with a real Drafts folder to deliver approved replies to."""
    user = new_user(dovecot)
    drafts = mailbox(dovecot, user, delivery=DeliverySettings(mode="drafts", from_address="helpdesk@registry.example.org"))
    with serve_in_thread(context_for(runtime, tmp_path, mailboxes={"desk": drafts})) as server:
        yield server


@pytest.fixture
def sam(desk: Server) -> Iterator[Browser]:
    browser = Browser(desk.url)
    browser.login("sam")
    yield browser
    browser.close()


def suggested_page(sam: Browser, inquiry_id: int) -> str:
    page = sam.get(f"/inquiries/{inquiry_id}").text
    made = sam.post(f"/inquiries/{inquiry_id}/suggest", {"version": version_of(page)})
    assert made.status_code == 303, made.text[:2000]
    return sam.get(f"/inquiries/{inquiry_id}").text


def reply_row(runtime: Runtime, inquiry_id: int) -> Suggestion:
    with runtime.session_factory() as session:
        row = session.scalar(select(Suggestion).where(Suggestion.inquiry_id == inquiry_id)
                             .order_by(Suggestion.id.desc()).limit(1))
        assert row is not None
        return row


def body_of(page: str) -> str:
    import html

    found = re.search(r'<textarea id="reply-body" name="body"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no reply text on the page"
    return html.unescape(found.group(1))


def test_blanks_are_marked_and_approval_is_refused_until_they_are_filled(
        runtime: Runtime, desk: Server, sam: Browser, status_case: int) -> None:
    page = suggested_page(sam, status_case)
    body = body_of(page)
    assert "[[to fill: is the renewal of DM/299999 recorded?" in body
    assert re.search(r'data-blanks-count[^>]*>1 blank to fill before approving: <mark class="blank">is the renewal',
                     page)
    assert page.count('<mark class="blank" title="to fill: is the renewal of DM/299999 recorded?') == 1
    subject = re.search(r'id="reply-subject" name="subject" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    events = audit_count(runtime, status_case)

    refused = sam.post(f"/inquiries/{status_case}/reply", {
        "version": version_of(page), "suggestion_version": suggestion_version(page), "subject": subject,
        "body": body, "do": "approve"})
    assert refused.status_code == 409
    assert "fill the 1 blank first: is the renewal of DM/299999 recorded?" in refused.text
    assert reply_row(runtime, status_case).status == "suggested"
    assert audit_count(runtime, status_case) == events

    # The API refuses the same.
    with httpx.Client(base_url=desk.url) as api:
        token = api.post("/api/session", json={"username": "sam", "password": PASSWORD}).json()["csrf_token"]
        refused_api = api.post(f"/api/inquiries/{status_case}/approve", headers={"x-csrf-token": token}, json={
            "version": version_of(page), "suggestion_version": suggestion_version(page), "subject": subject,
            "body": body})
    assert refused_api.status_code == 409 and "fill the 1 blank first" in refused_api.json()["error"]
    assert reply_row(runtime, status_case).status == "suggested"

    filled = re.sub(r"\[\[to fill:[^\]]*\]\]", "the renewal was recorded on 3 November 2026", body)
    done = sam.post(f"/inquiries/{status_case}/reply", {
        "version": version_of(page), "suggestion_version": suggestion_version(page), "subject": subject,
        "body": filled, "do": "approve"})
    assert done.status_code == 303, done.text[:2000]
    row = reply_row(runtime, status_case)
    assert row.status == "approved" and "recorded on 3 November 2026" in row.body_text and "[[" not in row.body_text


def audit_count(runtime: Runtime, inquiry_id: int) -> int:
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.inquiry_id == inquiry_id)) or 0)


def labels_of(runtime: Runtime, inquiry_id: int) -> list[tuple[str, object, str]]:
    with runtime.session_factory() as session:
        rows = session.scalars(select(Label).where(Label.inquiry_id == inquiry_id).order_by(Label.id)).all()
        return [(lb.field, lb.value, lb.actor) for lb in rows]


def statuses(runtime: Runtime, inquiry_id: int) -> list[tuple[str, str | None]]:
    with runtime.session_factory() as session:
        rows = session.scalars(select(Suggestion).where(Suggestion.inquiry_id == inquiry_id)
                               .order_by(Suggestion.id)).all()
        return [(row.status, row.template_id) for row in rows]


def test_the_picker_switches_the_draft_keeps_the_previous_one_and_records_the_pick(
        runtime: Runtime, sam: Browser, status_case: int) -> None:
    page = suggested_page(sam, status_case)
    assert re.search(r'<code>renewal--status</code> <span class="conf">71\s*%</span>\s*<span class="badge">in the draft',
                     page), "the ranked intents with their confidence"
    first = body_of(page)
    switched = sam.post(f"/inquiries/{status_case}/intents", {
        "version": version_of(page), "suggestion_version": suggestion_version(page), "intent": "renewal"})
    assert switched.status_code == 303, switched.text[:3000]
    page = sam.get(f"/inquiries/{status_case}").text
    assert body_of(page) != first and "[[to fill" not in body_of(page)
    assert statuses(runtime, status_case) == [("replaced", "renewal--status"), ("suggested", "renewal")]
    assert "Previous draft (renewal--status" in page and "Restore the previous draft" in page
    assert labels_of(runtime, status_case) == [("intent", ["renewal"], "sam")]
    with runtime.session_factory() as session:
        events = [e.event for e in session.scalars(select(AuditEvent).where(AuditEvent.inquiry_id == status_case)
                                                   .order_by(AuditEvent.id))]
        assert events[-3:] == ["suggestion_replaced", "suggestion_suggested", "staff_suggest"]
        assert session.get(Inquiry, status_case).state == "suggested"  # type: ignore[union-attr]

    # Add a second intent: one composed reply, a section each, in order.
    added = sam.post(f"/inquiries/{status_case}/intents", {
        "version": version_of(page), "suggestion_version": suggestion_version(page), "intent": "renewal--status",
        "add": "true"})
    assert added.status_code == 303, added.text[:3000]
    page = sam.get(f"/inquiries/{status_case}").text
    composed = body_of(page)
    assert "[[to fill: is the renewal of DM/299999 recorded?" in composed and len(composed) > len(first)
    assert labels_of(runtime, status_case)[-1] == ("intent", ["renewal", "renewal--status"], "sam")

    # The previous draft (the one-intent renewal explainer) comes back, and the composed one is kept aside.
    restored = sam.post(f"/inquiries/{status_case}/restore-draft", {"version": version_of(page)})
    assert restored.status_code == 303, restored.text[:3000]
    page = sam.get(f"/inquiries/{status_case}").text
    assert "[[to fill" not in body_of(page) and body_of(page) != composed
    assert statuses(runtime, status_case)[-2:] == [("replaced", "renewal"), ("suggested", "renewal")]
    assert "Previous draft (renewal" in page

    # A later suggestion answers the pick, not the model's first intent.
    discard = sam.post(f"/inquiries/{status_case}/discard", {
        "version": version_of(page), "suggestion_version": suggestion_version(page)})
    assert discard.status_code == 303
    page = suggested_page(sam, status_case)
    assert reply_row(runtime, status_case).template_id == "renewal"


def test_a_topic_correction_then_a_new_suggestion_answers_the_corrected_topic(
        runtime: Runtime, sam: Browser, status_case: int) -> None:
    page = sam.get(f"/inquiries/{status_case}").text
    assert sam.post(f"/inquiries/{status_case}/correct", {"version": version_of(page), "topic": "fees"}) \
        .status_code == 303
    page = suggested_page(sam, status_case)
    assert reply_row(runtime, status_case).template_id == "fees--payment_status"  # the model's best fees intent
    assert re.search(r'<code>fees--payment_status</code> <span class="conf">6\s*%</span>\s*<span class="badge">in the',
                     page)


def test_the_picker_is_refused_on_a_closed_case(runtime: Runtime, sam: Browser, status_case: int) -> None:
    page = suggested_page(sam, status_case)
    version, reply_version = version_of(page), suggestion_version(page)
    assert sam.post(f"/inquiries/{status_case}/handled", {"version": version, "note": "by phone"}).status_code == 303
    page = sam.get(f"/inquiries/{status_case}").text
    assert f'action="/inquiries/{status_case}/intents"' not in page
    before = (statuses(runtime, status_case), labels_of(runtime, status_case), audit_count(runtime, status_case))
    refused = sam.post(f"/inquiries/{status_case}/intents", {
        "version": version + 1, "suggestion_version": reply_version, "intent": "renewal"})
    assert refused.status_code == 409 and "not allowed now" in refused.text
    assert (statuses(runtime, status_case), labels_of(runtime, status_case), audit_count(runtime, status_case)) \
        == before
    with runtime.session_factory() as session:
        assert session.get(Inquiry, status_case).state == "handled"  # type: ignore[union-attr]
