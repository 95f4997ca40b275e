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
