"""Search, case history and notes on real SQLite and PostgreSQL: the store's queries, the web pages, bad input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from pipeline.runtime import Runtime
from pipeline.store.db import unit_of_work
from pipeline.store.models import Inquiry, ReferenceMention, Suggestion, User
from pipeline.store.search import SearchQuery, SearchQueryError, add_note, parse_terms, reference_history, search
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
from webapp.errors import BadInput
from webapp.services.cases import sync_cases
from webapp.services.search import build_query, read_form, references_in
from webapp.services.users import Actor
from webapp.vocabulary import Vocabulary

REG = [{"kind": "registration", "value": "DM/212345", "start": 0, "end": 9, "source": "body"}]
PATENT = [{"kind": "patent", "value": "EP1234567", "start": 0, "end": 9, "source": "body"}]
ADMIN = Actor(id=0, username="root", display_name="", role="admin", queues=frozenset())
VOCABULARY = Vocabulary(queues={"customer_service": "", "finance": "", "legal": ""})


def found(runtime: Runtime, **parts: object) -> list[int]:
    with runtime.session_factory() as session:
        return sorted(h.inquiry_id for h in search(session, SearchQuery(**parts)).hits)  # type: ignore[arg-type]


def terms(text: str) -> dict[str, object]:
    return {"terms": parse_terms(text)[0]}


@pytest.fixture(scope="module")
def seeded(module_runtime: Runtime) -> dict[str, int]:
    runtime = module_runtime
    old = datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)
    raws = [
        make_message("Dear desk, the renewal fee for DM/212 345 please. Designated contracting parties?",
                     subject="Renewal DM/212 345", sender="Anna Schmidt <anna@schmidt-ip.example.de>",
                     message_id="<s0@example.com>"),
        make_message("Bonjour, la taxe de renouvellement pour DM212345 ?", subject="Taxe",
                     sender="Luc Martin <luc@cabinet-martin.example.fr>", message_id="<s1@example.com>"),
        make_message("A question about EP 1 234 567 and its publication.", subject="Publication",
                     sender="Bo Li <bo@li.example.com>", message_id="<s2@example.com>", date=old),
        make_message("An invoice was paid twice; please refund.", subject="Refund",
                     sender="Anna Schmidt <anna@schmidt-ip.example.de>", message_id="<s3@example.com>"),
        make_message("Legal matter: opposition to a decision.", subject="Opposition",
                     sender="Eve <eve@evil.example>", message_id="<s4@example.com>"),
    ]
    ids = store_messages(runtime, raws)
    decide(runtime, ids[0], entities=REG, received_at=hours_ago(5))
    decide(runtime, ids[1], entities=REG, language="fr", received_at=hours_ago(3))
    decide(runtime, ids[2], entities=PATENT, received_at=datetime(2025, 3, 12, tzinfo=timezone.utc), sent_at=old)
    decide(runtime, ids[3], queue="finance", topic="fees", standard=False)
    decide(runtime, ids[4], queue="legal", topic="decision", standard=False, entities=REG)
    make_user(runtime, "sam", queues=["customer_service", "finance"])
    with unit_of_work(runtime.session_factory) as session:
        session.add(Suggestion(inquiry_id=ids[0], kind="reply", status="sent", language="en",
                               subject="Re: Renewal DM/212 345", body_text="The fee is CHF 1000; the zebracrossing "
                               "form is attached.", to_address="anna@schmidt-ip.example.de", approved_by="sam",
                               sent_at=hours_ago(1), approved_at=hours_ago(1)))
        sam = session.scalar(select(User).where(User.username == "sam"))
        assert sam is not None
        add_note(session, ids[3], sam.id, "Customer called about the quokka refund twice.")
    sync_cases(runtime.session_factory, until_done=True)  # as the review app does before it reads
    return {f"m{n}": i for n, i in enumerate(ids)}


def test_words_phrases_and_prefixes_find_inquiries_replies_and_notes(module_runtime: Runtime,
                                                                     seeded: dict[str, int]) -> None:
    m = seeded
    assert found(module_runtime, **terms("renewal fee")) == [m["m0"]]
    assert found(module_runtime, **terms("FEE renewal")) == [m["m0"]]
    assert found(module_runtime, **terms('"contracting parties"')) == [m["m0"]]
    assert found(module_runtime, **terms('"parties contracting"')) == []
    assert found(module_runtime, **terms("renouvel*")) == [m["m1"]]
    assert found(module_runtime, **terms("zebracrossing")) == [m["m0"]]  # in the reply only
    assert found(module_runtime, **terms("quokka")) == [m["m3"]]  # in the note only
    assert found(module_runtime, **terms("publication")) == [m["m2"]]  # the subject counts too


def test_a_reference_number_in_any_form_finds_every_inquiry_that_mentions_it(module_runtime: Runtime,
                                                                             seeded: dict[str, int]) -> None:
    m = seeded
    for written in ("DM/212 345", "DM212345", "dm 212345", "dm/212.345"):
        refs, rest = references_in(written)
        assert refs == ("DM/212345",) and not rest.strip(), written
        assert found(module_runtime, references=refs) == sorted([m["m0"], m["m1"], m["m4"]])
    assert found(module_runtime, references=references_in("ep 1234567")[0]) == [m["m2"]]
    # staff see only their queues: the legal case is not sam's
    assert found(module_runtime, references=("DM/212345",), queues=frozenset({"customer_service", "finance"})) \
        == sorted([m["m0"], m["m1"]])


def test_filters_sender_organisation_dates_queue_state(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    m = seeded
    assert found(module_runtime, sender="anna@schmidt-ip.example.de") == sorted([m["m0"], m["m3"]])
    assert found(module_runtime, sender="schmidt") == sorted([m["m0"], m["m3"]])
    assert found(module_runtime, organisation="cabinet-martin.example.fr") == [m["m1"]]
    assert found(module_runtime, organisation="@li.example.com") == [m["m2"]]
    assert found(module_runtime, organisation="%") == []  # a LIKE wildcard is a character like any other
    assert found(module_runtime, since=date(2025, 3, 1), until=date(2025, 3, 31)) == [m["m2"]]
    assert found(module_runtime, queue="finance") == [m["m3"]]
    assert found(module_runtime, state="routed") == sorted([m["m3"], m["m4"]])
    assert found(module_runtime, state="routed", queues=frozenset({"customer_service"})) == []


def test_age_starts_when_the_mail_was_sent(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    with module_runtime.session_factory() as session:
        hit = search(session, SearchQuery(references=("EP1234567",))).hits[0]
    # sent on 10 March 2025, stored on 12 March: the clock starts on the 10th
    assert hit.received_at == datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)


def test_case_history_in_time_order_with_replies(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    m = seeded
    with module_runtime.session_factory() as session:
        entries = reference_history(session, "dm/212345", {"customer_service"})
    assert [(e.kind, e.inquiry_id) for e in entries] == [("inquiry", m["m0"]), ("inquiry", m["m1"]),
                                                         ("reply", m["m0"])]
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_edited_text_is_searched_as_edited(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    with unit_of_work(module_runtime.session_factory) as session:
        session.execute(update(Inquiry).where(Inquiry.id == seeded["m4"])
                        .values(text="Legal matter: opposition to a decision, wombat edition."))
    assert found(module_runtime, **terms("wombat")) == [seeded["m4"]]
    assert found(module_runtime, **terms("opposition wombat")) == [seeded["m4"]]


def test_mentions_come_from_every_decision_written(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    with module_runtime.session_factory() as session:
        rows = set(session.execute(select(ReferenceMention.value, ReferenceMention.inquiry_id)))
    assert ("DM/212345", seeded["m0"]) in rows and ("EP1234567", seeded["m2"]) in rows


# --- bad input: a clear message or correct results, never a database error -----------------

HOSTILE = [
    '"unbalanced', "renewal' OR 1=1 --", "*", "**", "a*b*", "NEAR(renewal fee)", "renewal AND fee",
    "col:renewal", "^fee", "{renewal fee}", "(", ")", "-renewal", "+fee", "\x00fee", "fee\\", "'; DROP TABLE inquiries; --",
    "%", "_", "renewal:*", "!fee", "fee & renewal | x", "<->", "DM/212 345 renewal", "ÜBER straße café",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_search_text_runs_or_says_why(module_runtime: Runtime, seeded: dict[str, int], text: str) -> None:
    query, _ = build_query(read_form({"q": [text]}), ADMIN, VOCABULARY)
    with module_runtime.session_factory() as session:
        result = search(session, query)
    assert result.total >= 0
    if text == "renewal AND fee":
        assert [h.inquiry_id for h in result.hits] == [seeded["m0"]]


def test_too_long_a_search_is_refused_with_the_reason() -> None:
    with pytest.raises(BadInput, match="too long"):
        read_form({"q": ["x" * 501]})
    with pytest.raises(SearchQueryError, match="too many words"):
        parse_terms(" ".join(f"w{n}" for n in range(30)))
    with pytest.raises(BadInput, match="YYYY-MM-DD"):
        build_query(read_form({"since": ["yesterday"]}), ADMIN, VOCABULARY)
    with pytest.raises(BadInput, match="not one of yours"):
        build_query(read_form({"queue": ["legal"]}), Actor(1, "s", "", "staff", frozenset({"finance"})), VOCABULARY)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=120) | st.text(alphabet='"*()-+:^~\'%_\\ ANDORNEAR dm/212345', max_size=60))
def test_any_text_is_searched_or_refused_with_a_message(module_runtime: Runtime, seeded: dict[str, int],
                                                        text: str) -> None:
    try:
        query, _ = build_query(read_form({"q": [text], "sender": [text[:50]], "organisation": [text[:30]]}),
                               ADMIN, VOCABULARY)
    except BadInput as exc:
        assert str(exc)
        return
    with module_runtime.session_factory() as session:
        result = search(session, query)
    assert 0 <= result.total <= 1000


# --- the pages -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sam(module_runtime: Runtime, seeded: dict[str, int], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Browser]:
    with serve_in_thread(context_for(module_runtime, tmp_path_factory.mktemp("web"))) as server:
        browser = Browser(server.url)
        browser.login("sam")
        yield browser
        browser.close()


def test_search_page_and_api_respect_queues(sam: Browser, seeded: dict[str, int]) -> None:
    page = sam.get("/search", params={"q": "dm 212345"})
    assert page.status_code == 200
    shown = {int(n) for n in re.findall(r'<a href="/inquiries/(\d+)">', page.text)}
    assert shown == {seeded["m0"], seeded["m1"]}
    api = sam.get("/api/search", params={"q": "DM/212 345"}).json()
    assert api["references"] == ["DM/212345"] and {h["inquiry_id"] for h in api["hits"]} == shown
    assert sam.get("/search", params={"q": "x" * 600}).status_code == 400
    assert sam.get("/api/search", params={"q": '"unbalanced *** OR'}).status_code == 200
    assert sam.get("/search", params={"queue": "legal"}).status_code == 400


def test_queue_search_goes_to_the_search_page(sam: Browser) -> None:
    response = sam.get("/queues/customer_service", params={"q": "renewal"})
    assert response.status_code == 303
    assert response.headers["location"] == "/search?q=renewal&queue=customer_service"


def test_reference_page_and_links_from_the_inquiry(sam: Browser, seeded: dict[str, int]) -> None:
    page = sam.get("/references/DM%2F212345")
    assert page.status_code == 200 and "Case history: DM/212345" in page.text
    assert f'/inquiries/{seeded["m0"]}"' in page.text and f'/inquiries/{seeded["m4"]}"' not in page.text
    assert sam.get("/references/dm 212 345").status_code == 200
    assert sam.get("/references/not-a-number").status_code == 400
    inquiry = sam.get(f"/inquiries/{seeded['m0']}").text
    assert 'href="/references/DM%2F212345"' in inquiry


def test_notes_on_the_case_page(sam: Browser, seeded: dict[str, int]) -> None:
    path = f"/inquiries/{seeded['m1']}"
    response = sam.post(f"{path}/notes", {"text": "Checked the register: renewal due <soon>."}, token_from=path)
    assert response.status_code == 303
    page = sam.get(path).text
    assert "Checked the register: renewal due &lt;soon&gt;." in page
    assert sam.post(f"{path}/notes", {"text": "   "}, token_from=path).status_code == 400
    assert sam.post(f"/inquiries/{seeded['m4']}/notes", {"text": "x"}, token_from=path).status_code == 403
    assert sam.get("/api/search", params={"q": "register soon"}).json()["hits"][0]["inquiry_id"] == seeded["m1"]


def test_statistics_page_and_csv_in_the_persons_queues(sam: Browser) -> None:
    page = sam.get("/stats?days=30")
    assert page.status_code == 200 and "Routing rules and how often each fired" in page.text
    assert "legal" not in re.sub(r"<nav.*?</nav>", "", page.text, flags=re.S).split("<h1>")[1]
    csv_text = sam.get("/stats/routing_rules.csv?days=30")
    assert csv_text.status_code == 200 and csv_text.headers["content-type"].startswith("text/csv")
    assert csv_text.text.splitlines()[0] == "rule,queue,fired,share"
    assert sam.get("/stats?days=3").status_code == 400
    assert sam.get("/stats/nope.csv").status_code == 404


def test_recurrent_issues_page_and_csv(sam: Browser) -> None:
    page = sam.get("/stats/recurrent?days=30")
    assert page.status_code == 200 and "Recurrent issues" in page.text
    assert sam.get("/stats/recurrent_issues.csv?days=30").text.splitlines()[0].startswith("topic,inquiries,")
