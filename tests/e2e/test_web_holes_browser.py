"""In a real headless Chromium: the conversation list shows only what the viewer may work on, a JavaScript
attachment cannot run as script from the app's origin, and opening a case holds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from pipeline.runtime import Runtime
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


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def log_in(browser: object, url: str, username: str) -> object:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page


def with_script_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jane Doe <jane@example.com>"
    msg["To"] = "helpdesk@registry.example.org"
    msg["Subject"] = "Renewal of DM/212 345, form attached"
    msg["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    msg["Message-ID"] = "<form@example.com>"
    msg.set_content("Dear Sir or Madam,\n\nHow do we renew DM/212 345? Our form is attached.\n")
    msg.add_attachment(b"window.__attachment_ran = true;", maintype="application", subtype="javascript",
                       filename="form.js")
    msg.add_attachment(b"window.__text_ran = true;", maintype="text", subtype="javascript", filename="more.js")
    return bytes(msg)


def test_the_conversation_shows_other_queues_redacted(sqlite_runtime: Runtime, tmp_path: Path,
                                                     browser: object) -> None:
    runtime = sqlite_runtime
    first, stranger = store_messages(runtime, [
        make_message("How do we renew DM/212 345?", subject="Renewal of DM/212 345",
                     message_id="<first@example.com>"),
        make_message("Our confidential opposition against DM/212 345.", subject="Confidential opposition plan",
                     sender="Mallory <mallory@rival.example>", message_id="<rival@rival.example>",
                     date=datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc),
                     headers={"In-Reply-To": "<first@example.com>", "References": "<first@example.com>"}),
    ])
    decide(runtime, first)
    decide(runtime, stranger, queue="legal", topic="opposition", standard=False)
    make_user(runtime, "sam", queues=["customer_service"], name="Sam Staff")
    make_user(runtime, "ada", role="admin", name="Ada Admin")
    with serve_in_thread(context_for(runtime, tmp_path)) as server:
        page = log_in(browser, server.url, "sam")
        page.goto(f"{server.url}/inquiries/{first}")  # type: ignore[attr-defined]
        thread = page.inner_text("ol.thread")  # type: ignore[attr-defined]
        assert "a message in another queue" in thread
        assert "Confidential opposition plan" not in thread and "Mallory" not in thread
        assert page.locator(f"ol.thread a[href='/inquiries/{stranger}']").count() == 0  # type: ignore[attr-defined]
        assert "Renewal of DM/212 345" in page.inner_text("h1, h2, main")  # type: ignore[attr-defined]
        page.close()  # type: ignore[attr-defined]

        admin = log_in(browser, server.url, "ada")
        admin.goto(f"{server.url}/inquiries/{first}")  # type: ignore[attr-defined]
        thread = admin.inner_text("ol.thread")  # type: ignore[attr-defined]
        assert "Confidential opposition plan" in thread and "a message in another queue" not in thread
        admin.close()  # type: ignore[attr-defined]


def test_a_script_attachment_does_not_run(sqlite_runtime: Runtime, tmp_path: Path, browser: object) -> None:
    runtime = sqlite_runtime
    [inquiry_id] = store_messages(runtime, [with_script_attachment()])
    decide(runtime, inquiry_id)
    make_user(runtime, "sam", queues=["customer_service"], name="Sam Staff")
    with serve_in_thread(context_for(runtime, tmp_path)) as server:
        page = log_in(browser, server.url, "sam")
        page.goto(f"{server.url}/inquiries/{inquiry_id}")  # type: ignore[attr-defined]
        links = page.eval_on_selector_all(  # type: ignore[attr-defined]
            "a[href*='/attachments/']", "links => links.map(link => link.getAttribute('href'))")
        assert len(links) == 2
        # What an injected <script src> on our own origin would do ('self' is allowed to run scripts).
        outcome = page.evaluate("""async (links) => {
            const results = [];
            for (const href of links) {
                results.push(await new Promise(resolve => {
                    const script = document.createElement('script');
                    script.src = href;
                    script.onload = () => resolve('loaded');
                    script.onerror = () => resolve('refused');
                    document.head.appendChild(script);
                }));
            }
            return {results, ran: window.__attachment_ran === true || window.__text_ran === true};
        }""", links)
        assert outcome == {"results": ["refused", "refused"], "ran": False}
        response = page.request.get(server.url + links[0])  # type: ignore[attr-defined]
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.headers["x-content-type-options"] == "nosniff"
        page.close()  # type: ignore[attr-defined]


def test_opening_a_case_holds_nothing_and_shows_who_else_looks(sqlite_runtime: Runtime, tmp_path: Path,
                                                              browser: object) -> None:
    runtime = sqlite_runtime
    [inquiry_id] = store_messages(runtime, [make_message("How do we renew DM/212 345?")])
    decide(runtime, inquiry_id)
    make_user(runtime, "sam", queues=["customer_service"], name="Sam Staff")
    make_user(runtime, "ana", queues=["customer_service"], name="Ana Staff")
    with serve_in_thread(context_for(runtime, tmp_path)) as server:
        sam = log_in(browser, server.url, "sam")
        sam.goto(f"{server.url}/inquiries/{inquiry_id}")  # type: ignore[attr-defined]
        assert sam.locator("text=You hold this case").count() == 0  # type: ignore[attr-defined]
        assert sam.locator("button:has-text('Start working on it')").is_visible()  # type: ignore[attr-defined]

        ana = log_in(browser, server.url, "ana")
        ana.goto(f"{server.url}/inquiries/{inquiry_id}")  # type: ignore[attr-defined]
        assert "Also looking at this case: Sam Staff" in ana.inner_text(".viewers")  # type: ignore[attr-defined]
        assert ana.locator(".hold-other").count() == 0  # type: ignore[attr-defined]

        with sam.expect_navigation():  # type: ignore[attr-defined]
            sam.click("button:has-text('Start working on it')")  # type: ignore[attr-defined]
        assert sam.locator("text=You hold this case").is_visible()  # type: ignore[attr-defined]
        ana.reload()  # type: ignore[attr-defined]
        assert "Sam Staff is working on this case" in ana.inner_text(".hold-other")  # type: ignore[attr-defined]
        assert ana.locator("button:has-text('Start working on it')").count() == 0  # type: ignore[attr-defined]
        sam.close()  # type: ignore[attr-defined]
        ana.close()  # type: ignore[attr-defined]
