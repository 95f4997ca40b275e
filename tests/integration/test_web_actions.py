"""What staff do on a case — reply edit, approve, discard, reassign, correct, handled, undo — with holds and
versions so two people never overwrite each other, over real HTTP on real databases (and a real Dovecot)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.config import DeliverySettings
from pipeline.runtime import Runtime
from pipeline.store.models import Case, Inquiry, Label, Suggestion
from tests.e2e.web import (  # noqa: F401  (fixtures)
    Browser,
    Server,
    context_for,
    decide,
    make_user,
    serve_in_thread,
    store_messages,
    web,
)
from tests.support.dovecot import Dovecot
from tests.support.imap import mailbox, new_user
from tests.support.mail import make_message

RENEWAL = "Dear Sir or Madam,\n\nOur registration DM/212 345 expires on 15 March 2027. How do we renew it?\n"


def version_of(page: str) -> int:
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found, "no case version on the page"
    return int(found.group(1))


def suggestion_version(page: str) -> int:
    found = re.search(r'name="suggestion_version" value="(\d+)"', page)
    assert found, "no suggested reply on the page"
    return int(found.group(1))


@pytest.fixture
def case_id(runtime: Runtime) -> int:
    [inquiry_id] = store_messages(runtime, [make_message(RENEWAL, subject="Renewal of DM/212 345")])
    decide(runtime, inquiry_id)
    make_user(runtime, "sam", queues=["customer_service"], name="Sam Staff")
    make_user(runtime, "ana", queues=["customer_service", "legal"], name="Ana Staff")
    return inquiry_id


@pytest.fixture
def sam(web: Server, case_id: int) -> Iterator[Browser]:
    browser = Browser(web.url)
    browser.login("sam")
    yield browser
    browser.close()


@pytest.fixture
def ana(web: Server, case_id: int) -> Iterator[Browser]:
    browser = Browser(web.url)
    browser.login("ana")
    yield browser
    browser.close()


def case_row(runtime: Runtime, inquiry_id: int) -> Case:
    with runtime.session_factory() as session:
        case = session.get(Case, inquiry_id)
        assert case is not None
        return case


def test_reassign_needs_a_note_keeps_a_label_and_can_be_undone(runtime: Runtime, sam: Browser, case_id: int) -> None:
    page = sam.get(f"/inquiries/{case_id}").text
    version = version_of(page)
    refused = sam.post(f"/inquiries/{case_id}/reassign", {"version": version, "queue": "legal", "note": "  "})
    assert refused.status_code == 400 and "write a note saying why" in refused.text
    assert case_row(runtime, case_id).queue == "customer_service"
    bad = sam.post(f"/inquiries/{case_id}/reassign", {"version": version, "queue": "x'; DROP TABLE cases", "note": "n"})
    assert bad.status_code == 400 and "unknown queue" in bad.text
    moved = sam.post(f"/inquiries/{case_id}/reassign", {"version": version, "queue": "legal",
                                                        "note": "A refusal: legal must answer."})
    assert moved.status_code == 303 and moved.headers["location"] == "/queues"
    flash = sam.get("/queues").text
    assert f"#{case_id}: moved to legal" in flash and f'action="/inquiries/{case_id}/undo"' in flash
    assert case_row(runtime, case_id).queue == "legal"
    with runtime.session_factory() as session:
        labels = session.scalars(select(Label).where(Label.inquiry_id == case_id)).all()
        assert [(lb.field, lb.value, lb.actor) for lb in labels] == [("queue", "legal", "sam")]
    assert sam.get(f"/inquiries/{case_id}").status_code == 403  # not sam's queue any more
    undone = sam.post(f"/inquiries/{case_id}/undo", {"version": version + 1})
    assert undone.status_code == 303
    assert case_row(runtime, case_id).queue == "customer_service"
    with runtime.session_factory() as session:
        assert session.scalars(select(Label).where(Label.inquiry_id == case_id)).all() == []
    history = sam.get(f"/inquiries/{case_id}").text
    assert "reassign: “A refusal: legal must answer.” (undone)" in history


def test_corrections_are_labels_with_who_and_when(runtime: Runtime, sam: Browser, case_id: int) -> None:
    version = version_of(sam.get(f"/inquiries/{case_id}").text)
    assert sam.post(f"/inquiries/{case_id}/correct", {"version": version, "language": "<b>",
                                                       "topic": "fees"}).status_code == 400
    done = sam.post(f"/inquiries/{case_id}/correct", {"version": version, "language": "fr", "topic": "fees"})
    assert done.status_code == 303
    with runtime.session_factory() as session:
        labels = session.scalars(select(Label).where(Label.inquiry_id == case_id).order_by(Label.id)).all()
        assert [(lb.field, lb.value, lb.actor) for lb in labels] == [("language", "fr", "sam"), ("topic", "fees", "sam")]
        assert all(lb.created_at is not None and lb.decision_id is not None for lb in labels)
    case = case_row(runtime, case_id)
    assert (case.language, case.topic, case.labelled_by) == ("fr", "fees", "sam")
    page = sam.get(f"/inquiries/{case_id}").text
    assert "topic = <code>fees</code> by sam" in page
    assert f'href="/inquiries/{case_id}"' in sam.get("/queues/customer_service?topic=fees&language=fr").text


def test_handled_without_reply_and_undo(runtime: Runtime, sam: Browser, case_id: int) -> None:
    version = version_of(sam.get(f"/inquiries/{case_id}").text)
    assert sam.post(f"/inquiries/{case_id}/handled", {"version": version, "note": "answered by phone"}).status_code == 303
    with runtime.session_factory() as session:
        assert session.get(Inquiry, case_id).state == "handled"  # type: ignore[union-attr]
    assert f'href="/inquiries/{case_id}"' not in sam.get("/queues/customer_service").text
    assert f'href="/inquiries/{case_id}"' in sam.get("/queues/customer_service?status=handled").text
    page = sam.get(f"/inquiries/{case_id}").text
    assert "Undo: handled" in page
    assert sam.post(f"/inquiries/{case_id}/undo", {"version": version_of(page)}).status_code == 303
    with runtime.session_factory() as session:
        assert session.get(Inquiry, case_id).state == "triaged"  # type: ignore[union-attr]
    assert "there is nothing to undo" in sam.post(f"/inquiries/{case_id}/undo",
                                                  {"version": version_of(sam.get(f"/inquiries/{case_id}").text)}).text


def test_two_people_see_the_hold_and_never_overwrite_each_other(runtime: Runtime, sam: Browser, ana: Browser,
                                                                 case_id: int) -> None:
    sams_page = sam.get(f"/inquiries/{case_id}").text
    assert "You hold this case" not in sams_page and "Start working on it" in sams_page  # looking holds nothing
    assert "Also looking at this case: Sam Staff" in ana.get(f"/inquiries/{case_id}").text
    assert sam.post(f"/inquiries/{case_id}/start", token_from=f"/inquiries/{case_id}").status_code == 303
    sams_page = sam.get(f"/inquiries/{case_id}").text
    assert "You hold this case" in sams_page
    anas_page = ana.get(f"/inquiries/{case_id}").text
    assert "Sam Staff is working on this case" in anas_page
    refused = ana.post(f"/inquiries/{case_id}/start", token_from=f"/inquiries/{case_id}")
    assert refused.status_code == 409 and "Sam Staff is working on this case" in refused.text
    assert "held by Sam Staff" in ana.get("/queues/customer_service").text
    version = version_of(anas_page)
    held = ana.post(f"/inquiries/{case_id}/correct", {"version": version, "language": "es", "topic": "fees"})
    assert held.status_code == 409 and "Sam Staff is working on this case" in held.text
    assert ana.post(f"/inquiries/{case_id}/take-over").status_code == 303
    assert "You hold this case" in ana.get(f"/inquiries/{case_id}").text
    assert ana.post(f"/inquiries/{case_id}/correct", {"version": version, "topic": "fees"}).status_code == 303
    # Sam's page is out of date: his change is refused with the reason, and what he typed is kept.
    late = sam.post(f"/inquiries/{case_id}/reassign", {"version": version_of(sams_page), "queue": "legal",
                                                       "note": "Sam's careful note"})
    assert late.status_code == 409
    assert "changed since you opened it" in late.text or "Ana Staff is working on this case" in late.text
    assert "Sam&#39;s careful note" in late.text
    case = case_row(runtime, case_id)
    assert (case.queue, case.topic) == ("customer_service", "fees")


def test_stale_version_is_refused_and_nothing_is_written(runtime: Runtime, sam: Browser, case_id: int) -> None:
    version = version_of(sam.get(f"/inquiries/{case_id}").text)
    assert sam.post(f"/inquiries/{case_id}/correct", {"version": version, "topic": "fees"}).status_code == 303
    stale = sam.post(f"/inquiries/{case_id}/correct", {"version": version, "topic": "general"})
    assert stale.status_code == 409 and "changed since you opened it" in stale.text
    assert case_row(runtime, case_id).topic == "fees"
    assert sam.post(f"/inquiries/{case_id}/correct", {"version": "x", "topic": "general"}).status_code == 400


def test_reply_suggest_edit_discard_undo(runtime: Runtime, sam: Browser, ana: Browser, case_id: int) -> None:
    page = sam.get(f"/inquiries/{case_id}").text
    assert "Suggest a reply from the templates" in page
    assert sam.post(f"/inquiries/{case_id}/suggest", {"version": version_of(page)}).status_code == 303
    page = sam.get(f"/inquiries/{case_id}").text
    assert "DM/212345" in page and 'name="do" value="approve"' in page
    subject = re.search(r'id="reply-subject" name="subject" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    assert f"[T-{case_id}]" in subject
    saved = sam.post(f"/inquiries/{case_id}/reply", {"version": version_of(page), "do": "save",
                                                     "suggestion_version": suggestion_version(page),
                                                     "subject": "Your renewal", "body": "Dear Ms Doe,\n\nEdited.\n"})
    assert saved.status_code == 303
    page = sam.get(f"/inquiries/{case_id}").text
    assert "Edited." in page and f"Your renewal [T-{case_id}]" in page
    stale = sam.post(f"/inquiries/{case_id}/reply", {"version": version_of(page), "do": "save",
                                                     "suggestion_version": suggestion_version(page) - 1,
                                                     "subject": "x", "body": "My lost words?"})
    assert stale.status_code == 409 and "My lost words?" in stale.text  # kept for the person to retry
    empty = sam.post(f"/inquiries/{case_id}/reply", {"version": version_of(page), "do": "save",
                                                     "suggestion_version": suggestion_version(page),
                                                     "subject": "Subject", "body": "   "})
    assert empty.status_code == 400 and "the reply text is empty" in empty.text
    discarded = sam.post(f"/inquiries/{case_id}/discard", {"version": version_of(page),
                                                           "suggestion_version": suggestion_version(page)})
    assert discarded.status_code == 303
    page = sam.get(f"/inquiries/{case_id}").text
    assert "the last one was discarded" in page and "Undo: discard" in page
    assert sam.post(f"/inquiries/{case_id}/undo", {"version": version_of(page)}).status_code == 303
    page = sam.get(f"/inquiries/{case_id}").text
    assert "Edited." in page and 'name="do" value="approve"' in page
    with runtime.session_factory() as session:
        statuses = [s.status for s in session.scalars(select(Suggestion).where(Suggestion.inquiry_id == case_id)
                                                       .order_by(Suggestion.id))]
    assert statuses == ["discarded", "edited"]


@pytest.mark.dovecot
def test_approve_delivers_once_to_the_drafts_folder(runtime: Runtime, dovecot: Dovecot, tmp_path: Path,
                                                    case_id: int) -> None:
    user = new_user(dovecot)
    desk = mailbox(dovecot, user, delivery=DeliverySettings(mode="drafts", from_address="helpdesk@registry.example.org"))
    ctx = context_for(runtime, tmp_path, mailboxes={"desk": desk})
    with serve_in_thread(ctx) as server:
        sam = Browser(server.url)
        try:
            sam.login("sam")
            page = sam.get(f"/inquiries/{case_id}").text
            sam.post(f"/inquiries/{case_id}/suggest", {"version": version_of(page)})
            page = sam.get(f"/inquiries/{case_id}").text
            form = {"version": version_of(page), "suggestion_version": suggestion_version(page), "do": "approve",
                    "subject": f"Your renewal of DM/212 345 [T-{case_id}]", "body": "Dear Ms Doe,\n\nApproved text.\n"}
            assert sam.post(f"/inquiries/{case_id}/reply", form).status_code == 303
            again = sam.post(f"/inquiries/{case_id}/reply", form)
            assert again.status_code == 409  # the same form twice: refused, never sent twice
        finally:
            sam.close()
        drafts: list[bytes] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not drafts:
            with dovecot.client(user) as client:
                if client.folder_exists("Drafts"):
                    client.select_folder("Drafts", readonly=True)
                    found = client.search(["ALL"])
                    drafts = [v[b"BODY[]"] for v in client.fetch(found, ["BODY.PEEK[]"]).values()]
            time.sleep(0.2)
    assert len(drafts) == 1
    assert f"Your renewal of DM/212 345 [T-{case_id}]".encode() in drafts[0]
    assert b"Approved text." in drafts[0] and b"In-Reply-To: <abc123@example.com>" in drafts[0]
    with runtime.session_factory() as session:
        assert session.get(Inquiry, case_id).state == "sent"  # type: ignore[union-attr]


def test_the_json_api_does_the_same(runtime: Runtime, web: Server, case_id: int) -> None:
    import httpx

    with httpx.Client(base_url=web.url) as client:
        assert client.get("/api/openapi.json").status_code == 401  # the description is for logged-in people
        assert client.get("/api/docs").status_code == 401
        token = client.post("/api/session", json={"username": "sam", "password": "correct horse battery staple"}
                            ).json()["csrf_token"]
        spec = client.get("/api/openapi.json").json()
        assert "/api/inquiries/{inquiry_id}/approve" in client.get("/api/docs").text
        for path in ("/api/queues", "/api/queues/{queue}/cases", "/api/inquiries/{inquiry_id}",
                     "/api/inquiries/{inquiry_id}/approve", "/api/inquiries/{inquiry_id}/reassign",
                     "/api/inquiries/{inquiry_id}/correct", "/api/inquiries/{inquiry_id}/undo"):
            assert path in spec["paths"], path
        assert not any(p.startswith("/admin") or p.startswith("/queues") for p in spec["paths"])
        headers = {"x-csrf-token": token}
        inquiry = client.get(f"/api/inquiries/{case_id}").json()
        version = inquiry["case"]["version"]
        assert client.post(f"/api/inquiries/{case_id}/correct", json={"version": version, "topic": "fees"}).status_code == 403
        done = client.post(f"/api/inquiries/{case_id}/correct", json={"version": version, "topic": "fees"},
                           headers=headers)
        assert done.status_code == 200 and done.json()["version"] == version + 1
        stale = client.post(f"/api/inquiries/{case_id}/handled", json={"version": version}, headers=headers)
        assert stale.status_code == 409 and "changed since you opened it" in stale.json()["error"]
        bad = client.post(f"/api/inquiries/{case_id}/correct", json={"version": version + 1, "topic": "1; DROP"},
                          headers=headers)
        assert bad.status_code == 400 and "unknown topic" in bad.json()["error"]
        extra = client.post(f"/api/inquiries/{case_id}/handled", json={"version": version + 1, "admin": True},
                            headers=headers)
        assert extra.status_code == 400
        undo = client.post(f"/api/inquiries/{case_id}/undo", json={"version": version + 1}, headers=headers)
        assert undo.status_code == 200
        assert client.get(f"/api/inquiries/{case_id}").json()["case"]["topic"] == "renewal"
        cases = client.get("/api/queues/customer_service/cases", params={"topic": "renewal"}).json()
        assert [c["inquiry_id"] for c in cases["cases"]] == [case_id]
