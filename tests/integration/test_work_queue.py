"""Working a queue: ages from when mail was sent, urgent first, the cases one holds, the next case to open."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.runtime import Runtime
from tests.e2e.web import (  # noqa: F401  (fixtures)
    Browser,
    context_for,
    decide,
    hours_ago,
    make_user,
    module_runtime,
    serve_in_thread,
    store_messages,
)
from tests.support.mail import make_message
from webapp.services.cases import received_time
from webapp.services.queues import next_case
from webapp.services.users import Actor


def ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/inquiries/(\d+)">', page)]


def test_the_clock_starts_when_mail_was_sent_never_after_it_arrived() -> None:
    received = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    assert received_time(received - timedelta(days=300), received) == received - timedelta(days=300)
    assert received_time(received + timedelta(days=3), received) == received  # a sender's clock in the future
    assert received_time(None, received) == received


@pytest.fixture(scope="module")
def seeded(module_runtime: Runtime) -> dict[str, int]:
    runtime = module_runtime
    raws = [make_message(f"Question {n}", subject=f"Case {n}", message_id=f"<w{n}@example.com>") for n in range(4)]
    found = store_messages(runtime, raws)
    decide(runtime, found[0], received_at=hours_ago(10))
    decide(runtime, found[1], received_at=hours_ago(2), urgent=True)
    decide(runtime, found[2], received_at=hours_ago(1), urgent=True)
    # last year's mail stored just now: its age is a year, not an hour
    decide(runtime, found[3], received_at=hours_ago(0.5), sent_at=hours_ago(24 * 365))
    make_user(runtime, "kim", queues=["customer_service"])
    return {f"c{n}": inquiry_id for n, inquiry_id in enumerate(found)}


@pytest.fixture(scope="module")
def kim(module_runtime: Runtime, seeded: dict[str, int], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Browser]:
    with serve_in_thread(context_for(module_runtime, tmp_path_factory.mktemp("web"))) as server:
        browser = Browser(server.url)
        browser.login("kim")
        yield browser
        browser.close()


def test_backlog_mail_is_as_old_as_when_it_was_sent(kim: Browser, seeded: dict[str, int]) -> None:
    page = kim.get("/queues/customer_service").text
    assert ids(page)[0] == seeded["c3"]  # oldest first: sent a year ago
    assert "365 d" in page


def test_urgent_first_then_by_due_time(kim: Browser, seeded: dict[str, int]) -> None:
    page = kim.get("/queues/customer_service?sort=urgent").text
    assert ids(page) == [seeded["c1"], seeded["c2"], seeded["c3"], seeded["c0"]]


def test_mine_shows_the_cases_i_hold(kim: Browser, seeded: dict[str, int]) -> None:
    assert ids(kim.get("/queues/customer_service?signal=mine").text) == []
    kim.get(f"/inquiries/{seeded['c0']}")  # looking holds nothing
    assert ids(kim.get("/queues/customer_service?signal=mine").text) == []
    case = seeded["c0"]
    assert kim.post(f"/inquiries/{case}/start", token_from=f"/inquiries/{case}").status_code == 303
    assert ids(kim.get("/queues/customer_service?signal=mine").text) == [seeded["c0"]]


def test_next_case_is_the_most_pressing_other_open_one(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    kim = Actor(id=0, username="kim", display_name="", role="staff", queues=frozenset({"customer_service"}))
    assert next_case(module_runtime.session_factory, kim, seeded["c1"]) == seeded["c2"]
    assert next_case(module_runtime.session_factory, kim, seeded["c2"]) == seeded["c1"]
    stranger = Actor(id=0, username="x", display_name="", role="staff", queues=frozenset({"legal"}))
    assert next_case(module_runtime.session_factory, stranger, seeded["c1"]) is None
