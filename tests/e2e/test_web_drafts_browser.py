"""In a real headless Chromium: a draft's blanks are marked and counted, approving with a blank is refused
and works once the text is filled in (the count follows the typing); one click on an intent of the picker
re-drafts the reply and keeps the previous draft."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.config import DeliverySettings
from pipeline.runtime import Runtime
from pipeline.store.models import Inquiry, Suggestion
from tests.e2e.web import (  # noqa: F401  (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    context_for,
    make_user,
    serve_in_thread,
    sqlite_runtime,
    store_messages,
)
from tests.integration.test_web_drafts import STATUS, decide_intents
from tests.support.dovecot import Dovecot
from tests.support.imap import mailbox, new_user
from tests.support.mail import make_message

pytestmark = [pytest.mark.browser, pytest.mark.slow]
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_case(sqlite_runtime: Runtime, dovecot: Dovecot, tmp_path: Path) -> tuple[int, object]:
    [inquiry_id] = store_messages(sqlite_runtime, [make_message(STATUS, subject="Renewal of DM/299 999 recorded?")])
    decide_intents(sqlite_runtime, inquiry_id)
    make_user(sqlite_runtime, "sam", queues=["customer_service"], name="Sam Staff")
    drafts = mailbox(dovecot, new_user(dovecot),
                     delivery=DeliverySettings(mode="drafts", from_address="helpdesk@registry.example.org"))
    return inquiry_id, context_for(sqlite_runtime, tmp_path, mailboxes={"desk": drafts})


def log_in(page: object, url: str) -> None:
    page.goto(url + "/login")  # type: ignore[attr-defined]
    page.fill("#username", "sam")  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("button[type=submit]")  # type: ignore[attr-defined]


def test_approve_is_refused_while_a_blank_is_unfilled_and_works_once_filled(
        sqlite_runtime: Runtime, dovecot: Dovecot, tmp_path: Path, browser: object) -> None:
    inquiry_id, ctx = open_case(sqlite_runtime, dovecot, tmp_path)
    with serve_in_thread(ctx) as server:  # type: ignore[arg-type]
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        log_in(page, server.url)
        page.goto(f"{server.url}/inquiries/{inquiry_id}")
        with page.expect_navigation():
            page.click("text=Suggest a reply from the templates")
        count = page.locator("[data-blanks-count]")
        assert count.inner_text().startswith("1 blank to fill before approving: is the renewal of DM/299999")
        marked = page.locator("[data-draft-preview] mark.blank")
        assert marked.count() == 1 and marked.is_visible()
        assert marked.inner_text().startswith("[[to fill: is the renewal of DM/299999 recorded?")

        with page.expect_navigation():
            page.click("button[name=do][value=approve]")
        assert "fill the 1 blank first: is the renewal of DM/299999 recorded?" in page.inner_text("[role=alert]")
        with sqlite_runtime.session_factory() as session:
            assert session.get(Inquiry, inquiry_id).state == "suggested"  # type: ignore[union-attr]

        text = page.input_value("#reply-body")
        page.fill("#reply-body", re.sub(r"\[\[to fill:[^\]]*\]\]", "recorded on 3 November 2026", text))
        assert count.inner_text() == "No blanks to fill."
        assert page.locator("[data-draft-preview] mark.blank").count() == 0
        with page.expect_navigation():
            page.click("button[name=do][value=approve]")
        assert "reply approved" in page.inner_text(".flash")
        with sqlite_runtime.session_factory() as session:
            [reply] = session.scalars(select(Suggestion).where(Suggestion.inquiry_id == inquiry_id)).all()
            assert reply.status in ("approved", "sent") and "recorded on 3 November 2026" in reply.body_text
        page.close()


def test_one_click_on_an_intent_redrafts_the_reply_and_keeps_the_previous_draft(
        sqlite_runtime: Runtime, dovecot: Dovecot, tmp_path: Path, browser: object) -> None:
    inquiry_id, ctx = open_case(sqlite_runtime, dovecot, tmp_path)
    with serve_in_thread(ctx) as server:  # type: ignore[arg-type]
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        log_in(page, server.url)
        page.goto(f"{server.url}/inquiries/{inquiry_id}")
        with page.expect_navigation():
            page.click("text=Suggest a reply from the templates")
        first = page.input_value("#reply-body")
        assert page.locator("li[data-intent='renewal--status'] .badge").inner_text() == "in the draft"
        with page.expect_navigation():
            page.click("li[data-intent='renewal'] button:has-text('Use this')")
        assert "previous draft is kept" in page.inner_text(".flash")
        assert page.input_value("#reply-body") != first
        assert page.locator("li[data-intent='renewal'] .badge").inner_text() == "in the draft"
        page.click("details.previous-draft summary")
        assert page.locator("[data-previous-draft]").inner_text().strip() == first.strip()
        with page.expect_navigation():
            page.click("text=Restore the previous draft")
        assert page.input_value("#reply-body").strip() == first.strip()
        page.close()
