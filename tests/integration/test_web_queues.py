"""Queue pages: counts per queue, filters, sort by age, ages against the SLA, pagination, bad filter values."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pipeline.runtime import Runtime
from tests.e2e.web import (  # noqa: F401  (fixtures)
    Browser,
    Server,
    context_for,
    decide,
    hours_ago,
    make_user,
    module_runtime,
    serve_in_thread,
    store_messages,
    web,
)
from tests.support.mail import make_message


def ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/inquiries/(\d+)">', page)]


@pytest.fixture(scope="module")
def seeded(module_runtime: Runtime) -> dict[str, int]:
    runtime = module_runtime
    raws = [make_message(f"Question number {n}", subject=f"Case {n}", message_id=f"<q{n}@example.com>")
            for n in range(7)]
    found = store_messages(runtime, raws)
    plan = [
        dict(queue="customer_service", topic="renewal", language="en", received_at=hours_ago(30)),  # overdue (24 h)
        dict(queue="customer_service", topic="fees", language="fr", received_at=hours_ago(20), urgent=True),  # soon
        dict(queue="customer_service", topic="renewal", language="es", received_at=hours_ago(2), complaint=True),
        dict(queue="customer_service", topic="renewal", language="en", received_at=hours_ago(1), urgent=True,
             complaint=True),
        dict(queue="finance", topic="fees", language="en", received_at=hours_ago(50), standard=False),  # overdue 48h
        dict(queue="legal", topic="decision", language="de", received_at=hours_ago(5), standard=False),
        dict(queue="customer_service", topic="general", language="en", received_at=hours_ago(3)),
    ]
    for inquiry_id, values in zip(found, plan):
        decide(runtime, inquiry_id, **values)  # type: ignore[arg-type]
    make_user(runtime, "sam", queues=["customer_service", "finance"])
    return {f"c{n}": inquiry_id for n, inquiry_id in enumerate(found)}


@pytest.fixture(scope="module")
def sam(module_runtime: Runtime, seeded: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with serve_in_thread(context_for(module_runtime, tmp_path_factory.mktemp("web"))) as server:
        browser = Browser(server.url)
        browser.login("sam")
        yield browser
        browser.close()


def test_counts_per_queue_against_their_targets(sam: Browser) -> None:
    queues = {q["id"]: q for q in sam.get("/api/queues").json()}
    assert set(queues) == {"customer_service", "finance"}
    assert (queues["customer_service"]["open"], queues["customer_service"]["overdue"],
            queues["customer_service"]["due_soon"]) == (5, 1, 1)
    assert queues["customer_service"]["target_hours"] == 24
    assert (queues["finance"]["open"], queues["finance"]["overdue"]) == (1, 1)
    page = sam.get("/queues").text
    assert 'href="/queues/customer_service?age=overdue"' in page


def test_queue_page_oldest_first_with_sla_marks(sam: Browser, seeded: dict[str, int]) -> None:
    page = sam.get("/queues/customer_service").text
    order = [seeded[k] for k in ("c0", "c1", "c6", "c2", "c3")]
    assert ids(page) == order
    assert ids(sam.get("/queues/customer_service?sort=newest").text) == order[::-1]
    assert 'class="sla sla-overdue"' in page and 'class="sla sla-soon"' in page and 'class="sla sla-ok"' in page
    assert "5 cases" in page


@pytest.mark.parametrize(("query", "expected"), [
    ("topic=renewal", ["c0", "c2", "c3"]),
    ("language=fr", ["c1"]),
    ("signal=urgent", ["c1", "c3"]),
    ("signal=urgent&signal=complaint", ["c3"]),
    ("signal=complaint&topic=renewal&language=es", ["c2"]),
    ("age=4h", ["c0", "c1"]),
    ("age=1d", ["c0"]),
    ("age=overdue", ["c0"]),
    ("age=soon", ["c0", "c1"]),
    ("status=triaged", ["c0", "c1", "c6", "c2", "c3"]),
    ("status=sent", []),
    ("topic=decision", []),
])
def test_filters(sam: Browser, seeded: dict[str, int], query: str, expected: list[str]) -> None:
    response = sam.get(f"/queues/customer_service?{query}")
    assert response.status_code == 200
    assert ids(response.text) == [seeded[k] for k in expected]
    api = sam.get(f"/api/queues/customer_service/cases?{query}").json()
    assert [c["inquiry_id"] for c in api["cases"]] == [seeded[k] for k in expected]
    assert api["total"] == len(expected)


@pytest.mark.parametrize("query", [
    "topic=renewal' OR '1'='1", "topic=renewal;DROP TABLE cases", "language=en' --", "language=%00",
    "status=open) OR (1=1", "age=1d UNION SELECT 1", "signal=urgent'--", "sort=received_at;DELETE",
    "page=-1", "page=1e9", "page=²", "order=id", "topic=a&topic=b", "language=<script>alert(1)</script>",
])
def test_bad_filter_values_get_a_clear_400_and_run_nothing(sam: Browser, seeded: dict[str, int], query: str) -> None:
    response = sam.get(f"/queues/customer_service?{query}")
    assert response.status_code == 400, query
    assert "<script>alert(1)" not in response.text
    assert re.search(r"unknown|not a language code|page must be|give \w+ once", response.text), response.text
    assert sam.get(f"/api/queues/customer_service/cases?{query}").status_code == 400
    assert len(ids(sam.get("/queues/customer_service").text)) == 5  # nothing changed, nothing dropped


def test_pages_of_a_long_queue(runtime: Runtime, web: Server) -> None:
    found = store_messages(runtime, [make_message(f"n{n}", subject=f"Long {n}", message_id=f"<long{n}@x>")
                                     for n in range(60)])
    for n, inquiry_id in enumerate(found):
        decide(runtime, inquiry_id, received_at=hours_ago(100 - n))
    make_user(runtime, "sam", queues=["customer_service"])
    browser = Browser(web.url)
    try:
        browser.login("sam")
        first = browser.get("/queues/customer_service")
        assert ids(first.text) == found[:50] and "page 1 of 2" in first.text and 'rel="next"' in first.text
        second = browser.get("/queues/customer_service?page=2")
        assert ids(second.text) == found[50:]
        assert browser.get("/queues/customer_service?page=3").status_code == 400
    finally:
        browser.close()
