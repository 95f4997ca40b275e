"""In a real headless Chromium: staff search from the header box with a reference number written their own way,
open the case, follow its highlighted number to the case history, and add an internal note that search finds."""

from __future__ import annotations

from collections.abc import Iterator
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
REG = [{"kind": "registration", "value": "DM/212345", "start": 0, "end": 9, "source": "body"}]


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_search_a_reference_open_its_history_and_find_a_note(sqlite_runtime: Runtime, tmp_path: Path,
                                                             browser: object) -> None:
    runtime = sqlite_runtime
    first, second, other = store_messages(runtime, [
        make_message("Our registration DM/212 345 expires soon. How do we renew it?", subject="Renewal",
                     sender="Anna <anna@schmidt-ip.example.de>", message_id="<b1@example.com>"),
        make_message("Bonjour, une question sur DM212345 et la taxe.", subject="Taxe",
                     sender="Luc <luc@martin.example.fr>", message_id="<b2@example.com>"),
        make_message("A question about fees in general.", subject="Fees", message_id="<b3@example.com>"),
    ])
    for inquiry_id in (first, second):
        decide(runtime, inquiry_id, entities=REG)
    decide(runtime, other)
    make_user(runtime, "sam", queues=["customer_service"], name="Sam Staff")
    with serve_in_thread(context_for(runtime, tmp_path)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page.goto(server.url + "/login")
        page.fill("#username", "sam")
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("button[type=submit]")

        page.fill("header form.search input[name=q]", "dm 212 345")
        with page.expect_navigation():
            page.press("header form.search input[name=q]", "Enter")
        assert page.inner_text("#search-count").startswith("2 found")
        assert page.locator("table.results a", has_text="Fees").count() == 0

        with page.expect_navigation():
            page.click("table.results a:has-text('Renewal')")
        with page.expect_navigation():
            page.click("a.ent-link")
        assert "Case history: DM/212345" in page.inner_text("h1")
        assert page.locator("ol.history li").count() == 2

        page.goto(f"{server.url}/inquiries/{second}")
        page.fill("#note-text", "Called Luc: wants the invoice by post")
        with page.expect_navigation():
            page.click("button:has-text('Add note')")
        assert "Called Luc" in page.inner_text("ul.notes")

        page.goto(server.url + "/search")
        page.fill("#search-q", '"invoice by post" OR "called')  # an unbalanced quote: a plain word
        with page.expect_navigation():
            page.press("#search-q", "Enter")
        assert page.inner_text("#search-count").startswith("1 found")
        assert "every word must match" in page.inner_text("main")
        page.close()
