"""A case marked handled keeps its left-over suggested reply, but the state machine keeps it closed: through
the HTML forms and the JSON API, editing, approving or discarding that reply is refused with 409, the case
stays handled, nothing is delivered (a real Dovecot Drafts folder stays empty) and no audit event is added.
Real HTTP on real databases, as in test_web_actions."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from pipeline.config import DeliverySettings
from pipeline.runtime import Runtime
from pipeline.store.models import AuditEvent, Case, CaseAction, Delivery, Inquiry, Suggestion
from pipeline.errors import IllegalTransition
from tests.e2e.web import PASSWORD, Browser, Server, context_for, serve_in_thread, sqlite_runtime  # noqa: F401
from webapp.app import create_app
from tests.integration.test_web_actions import case_id, suggestion_version, version_of  # noqa: F401  (fixture)
from tests.support.dovecot import Dovecot
from tests.support.imap import mailbox, new_user


@dataclass(frozen=True)
class Snapshot:
    """What must not change when an action is refused."""

    state: str
    case_state: str
    case_open: bool
    case_version: int
    suggestion: tuple[str, int, str, str, str | None]
    audit_events: int
    case_actions: int
    deliveries: int


def snapshot(runtime: Runtime, inquiry_id: int) -> Snapshot:
    with runtime.session_factory() as session:
        inquiry = session.get(Inquiry, inquiry_id)
        case = session.get(Case, inquiry_id)
        assert inquiry is not None and case is not None
        [reply] = session.scalars(select(Suggestion).where(Suggestion.inquiry_id == inquiry_id)).all()
        return Snapshot(
            inquiry.state, case.state, case.is_open, case.version,
            (reply.status, reply.version, reply.subject, reply.body_text, reply.message_id),
            session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.inquiry_id == inquiry_id))
            or 0,
            session.scalar(select(func.count()).select_from(CaseAction).where(CaseAction.inquiry_id == inquiry_id))
            or 0,
            session.scalar(select(func.count()).select_from(Delivery)) or 0,
        )


@dataclass
class Desk:
    """The review app with a real mailbox to deliver to, and the case it is about."""

    server: Server
    dovecot: Dovecot
    user: str
    inquiry_id: int


@pytest.fixture
def desk(runtime: Runtime, dovecot: Dovecot, tmp_path: Path, case_id: int) -> Iterator[Desk]:  # noqa: F811
    user = new_user(dovecot)
    drafts = mailbox(dovecot, user, delivery=DeliverySettings(mode="drafts", from_address="helpdesk@registry.example.org"))
    with serve_in_thread(context_for(runtime, tmp_path, mailboxes={"desk": drafts})) as server:
        yield Desk(server, dovecot, user, case_id)


def drafts_of(desk: Desk) -> list[bytes]:
    with desk.dovecot.client(desk.user) as client:
        if not client.folder_exists("Drafts"):
            return []
        client.select_folder("Drafts", readonly=True)
        found = client.search(["ALL"])
        return [v[b"BODY[]"] for v in client.fetch(found, ["BODY.PEEK[]"]).values()]


def handled_with_left_over_reply(sam: Browser, inquiry_id: int) -> str:
    """Suggest a reply, then close the case without it; the handled case's page."""
    page = sam.get(f"/inquiries/{inquiry_id}").text
    assert sam.post(f"/inquiries/{inquiry_id}/suggest", {"version": version_of(page)}).status_code == 303
    page = sam.get(f"/inquiries/{inquiry_id}").text
    assert 'name="do" value="approve"' in page
    done = sam.post(f"/inquiries/{inquiry_id}/handled", {"version": version_of(page), "note": "answered by phone"})
    assert done.status_code == 303
    return sam.get(f"/inquiries/{inquiry_id}").text


@pytest.mark.dovecot
def test_a_handled_case_shows_no_reply_form_and_refuses_its_left_over_reply_in_forms_and_api(
        runtime: Runtime, desk: Desk) -> None:
    inquiry_id = desk.inquiry_id
    sam = Browser(desk.server.url)
    try:
        sam.login("sam")
        page = handled_with_left_over_reply(sam, inquiry_id)
        with runtime.session_factory() as session:
            [reply] = session.scalars(select(Suggestion).where(Suggestion.inquiry_id == inquiry_id)).all()
            left_over_version, subject, body = reply.version, reply.subject, reply.body_text
        assert reply.status == "suggested"  # the reply is left over, still "editable" by its own status
        # The page offers nothing the state does not allow: no reply form, no approve, no discard, no suggest.
        assert f'action="/inquiries/{inquiry_id}/reply"' not in page
        assert 'value="approve"' not in page and "Approve and send" not in page
        assert f'action="/inquiries/{inquiry_id}/discard"' not in page
        assert f'action="/inquiries/{inquiry_id}/suggest"' not in page
        assert f'action="/inquiries/{inquiry_id}/handled"' not in page
        assert f'action="/inquiries/{inquiry_id}/reassign"' not in page
        assert "left over when the case became handled" in page and "Undo: handled" in page
        version = version_of(page)
        before = snapshot(runtime, inquiry_id)
        assert (before.state, before.case_state, before.case_open) == ("handled", "handled", False)

        forms = {
            "approve as shown": ("reply", {"do": "approve", "subject": subject, "body": body}),
            "approve with a change": ("reply", {"do": "approve", "subject": subject, "body": "Dear Ms Doe,\n\nSent!\n"}),
            "edit": ("reply", {"do": "save", "subject": subject, "body": "Dear Ms Doe,\n\nEdited after closing.\n"}),
            "discard": ("discard", {}),
        }
        for what, (path, fields) in forms.items():
            refused = sam.post(f"/inquiries/{inquiry_id}/{path}", {
                "version": version, "suggestion_version": left_over_version, **fields})
            assert refused.status_code == 409, what
            assert "Not done:" in refused.text and "not allowed now" in refused.text, what
            assert "is handled" in refused.text, what
            assert snapshot(runtime, inquiry_id) == before, what

        again = sam.post(f"/inquiries/{inquiry_id}/handled", {"version": version, "note": "twice"})
        assert again.status_code == 409 and "handle cannot move it to handled" in again.text
        moved = sam.post(f"/inquiries/{inquiry_id}/reassign", {"version": version, "queue": "legal", "note": "n"})
        assert moved.status_code == 409 and "reassign is not possible in that state" in moved.text
        assert snapshot(runtime, inquiry_id) == before

        with httpx.Client(base_url=desk.server.url) as api:
            token = api.post("/api/session", json={"username": "sam", "password": PASSWORD}).json()["csrf_token"]
            headers = {"x-csrf-token": token}
            shown = api.get(f"/api/inquiries/{inquiry_id}").json()
            assert shown["state"] == "handled" and "approve" not in shown["actions"]
            assert "edit" not in shown["actions"] and shown["undoable"] is True
            calls = {
                "approve": ("approve", {"subject": subject, "body": body}),
                "approve with a change": ("approve", {"subject": subject, "body": "Dear Ms Doe,\n\nSent!\n"}),
                "edit": ("reply", {"subject": subject, "body": "Dear Ms Doe,\n\nEdited after closing.\n"}),
                "discard": ("discard", {}),
            }
            for what, (path, fields) in calls.items():
                refused = api.post(f"/api/inquiries/{inquiry_id}/{path}", headers=headers, json={
                    "version": version, "suggestion_version": left_over_version, **fields})
                assert refused.status_code == 409, what
                error = refused.json()
                assert error["status"] == 409, what
                assert f"inquiry {inquiry_id} is handled" in error["error"] and "nothing was changed" in error["error"]
                assert snapshot(runtime, inquiry_id) == before, what

        # Give a (wrongly started) background delivery time to show up: the Drafts folder stays empty.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert drafts_of(desk) == []
            time.sleep(0.2)
        assert snapshot(runtime, inquiry_id) == before
    finally:
        sam.close()


@pytest.mark.dovecot
def test_undo_reopens_the_handled_case_and_its_reply_can_then_be_approved_and_sent(
        runtime: Runtime, desk: Desk) -> None:
    inquiry_id = desk.inquiry_id
    sam = Browser(desk.server.url)
    try:
        sam.login("sam")
        page = handled_with_left_over_reply(sam, inquiry_id)
        assert sam.post(f"/inquiries/{inquiry_id}/undo", {"version": version_of(page)}).status_code == 303
        with runtime.session_factory() as session:
            assert session.get(Inquiry, inquiry_id).state == "suggested"  # type: ignore[union-attr]
            case = session.get(Case, inquiry_id)
            assert case is not None and (case.state, case.is_open) == ("suggested", True)
            moves = session.execute(select(AuditEvent.event, AuditEvent.from_state, AuditEvent.to_state)
                                    .where(AuditEvent.inquiry_id == inquiry_id, AuditEvent.event.like("staff_%"))
                                    .order_by(AuditEvent.id)).all()
        assert [tuple(m) for m in moves][-2:] == [("staff_handled", "suggested", "handled"),
                                                  ("staff_undo", "handled", "suggested")]
        page = sam.get(f"/inquiries/{inquiry_id}").text
        assert 'name="do" value="approve"' in page
        subject = re.search(r'id="reply-subject" name="subject" value="([^"]*)"', page)
        assert subject is not None
        sent = sam.post(f"/inquiries/{inquiry_id}/reply", {
            "version": version_of(page), "suggestion_version": suggestion_version(page), "do": "approve",
            "subject": subject.group(1).replace("&#39;", "'"), "body": "Dear Ms Doe,\n\nApproved after undo.\n"})
        assert sent.status_code == 303
        deadline = time.monotonic() + 30
        drafts: list[bytes] = []
        while time.monotonic() < deadline and not drafts:
            drafts = drafts_of(desk)
            time.sleep(0.2)
        assert len(drafts) == 1 and b"Approved after undo." in drafts[0]
        page = sam.get(f"/inquiries/{inquiry_id}").text
        assert f'action="/inquiries/{inquiry_id}/handled"' not in page  # approved/sent: nothing to close
    finally:
        sam.close()


def test_an_illegal_transition_is_409_on_pages_and_in_the_api(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    app = create_app(context_for(sqlite_runtime, tmp_path))

    def refuse() -> None:
        raise IllegalTransition("handled", "approved", "approve", inquiry_id=12)

    app.add_api_route("/boom", refuse, methods=["GET"])
    app.add_api_route("/api/boom", refuse, methods=["GET"])

    async def fetch() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/boom"), await client.get("/api/boom")

    page, api = asyncio.run(fetch())
    assert page.status_code == 409 and page.headers["content-type"].startswith("text/html")
    assert "inquiry 12 is handled: approve cannot move it to approved" in page.text
    assert api.status_code == 409
    assert api.json() == {"status": 409, "error": "not allowed now: inquiry 12 is handled: approve cannot move it "
                          "to approved; nothing was changed or sent (reload the case to see what it allows)"}
