"""In a real headless Chromium: once staff mark a case handled, its page offers no reply form and no approve
button for the reply left over on it; undoing "handled" brings them back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.runtime import Runtime
from pipeline.store.models import Inquiry
from tests.e2e.web import (  # noqa: F401  (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    context_for,
    decide,
    make_user,
    serve_in_thread,
    sqlite_runtime,
    store_messages,
)
from tests.support.mail import make_message

pytestmark = [pytest.mark.browser, pytest.mark.slow]
playwright_api = pytest.importorskip("playwright.sync_api")
RENEWAL = "Dear Sir or Madam,\n\nOur registration DM/212 345 expires on 15 March 2027. How do we renew it?\n"


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_a_handled_case_shows_no_approve_button(sqlite_runtime: Runtime, tmp_path: Path, browser: object) -> None:
    runtime = sqlite_runtime
    [inquiry_id] = store_messages(runtime, [make_message(RENEWAL, subject="Renewal of DM/212 345")])
    decide(runtime, inquiry_id)
    make_user(runtime, "sam", queues=["customer_service"], name="Sam Staff")
    with serve_in_thread(context_for(runtime, tmp_path)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page.goto(server.url + "/login")
        page.fill("#username", "sam")
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.goto(f"{server.url}/inquiries/{inquiry_id}")
        with page.expect_navigation():
            page.click("text=Suggest a reply from the templates")
        approve = page.locator("button[name=do][value=approve]")
        assert approve.count() == 1 and approve.is_visible()
        page.click("text=Mark as handled without a reply")
        page.fill("#handled-note", "answered by phone")
        with page.expect_navigation():
            page.click("button:has-text('Mark handled')")
        assert "marked as handled" in page.inner_text(".flash")
        with runtime.session_factory() as session:
            assert session.get(Inquiry, inquiry_id).state == "handled"  # type: ignore[union-attr]

        page.reload()
        assert page.locator("button[name=do][value=approve]").count() == 0
        assert page.locator("text=Approve and send").count() == 0
        assert page.locator("#reply-body").count() == 0
        assert page.locator(f"form[action='/inquiries/{inquiry_id}/reply']").count() == 0
        assert page.locator("text=Discard this reply").count() == 0
        assert page.locator("text=can be neither changed nor sent").is_visible()

        with page.expect_navigation():
            page.click("button:has-text('Undo: handled')")
        assert page.locator("button[name=do][value=approve]").is_visible()
        with runtime.session_factory() as session:
            assert session.get(Inquiry, inquiry_id).state == "suggested"  # type: ignore[union-attr]
        page.close()
