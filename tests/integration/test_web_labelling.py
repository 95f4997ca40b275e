"""The admin labelling page on a real app and database: what the model is least sure about first (the order of
`triage label --next`), labels checked against the taxonomy, stored as `triage label` stores them, audited, and
taken by the next training; staff are refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from classifiers.config import load_triage_config
from classifiers.corrections import correction_example, corrections_of
from pipeline.config import TriageSettings
from pipeline.runtime import Runtime
from pipeline.store.labels import label_candidates, labelled_inquiries
from pipeline.store.models import AuditEvent, DecisionRecord, Label
from tests.e2e.web import Browser, context_for, decide, make_user, serve_in_thread, sqlite_runtime, store_messages  # noqa: F401
from tests.support.mail import make_message

CONFIDENCES = (0.62, 0.31, 0.45)  # the second inquiry is the least sure, then the third, then the first


@pytest.fixture
def site(sqlite_runtime: Runtime, tmp_path: Path) -> Iterator[tuple[Browser, Runtime, list[int]]]:  # noqa: F811
    raws = [make_message(f"Hello, question number {n} about my renewal.", subject=f"Question {n}",
                         message_id=f"<label-{n}@example.com>") for n in range(len(CONFIDENCES))]
    ids = store_messages(sqlite_runtime, raws)
    for inquiry_id, confidence in zip(ids, CONFIDENCES):
        decide(sqlite_runtime, inquiry_id, topic="renewal")
        with sqlite_runtime.session_factory.begin() as session:
            session.execute(update(DecisionRecord).where(DecisionRecord.inquiry_id == inquiry_id)
                            .values(topic_confidence=confidence))
    make_user(sqlite_runtime, "ada", role="admin")
    make_user(sqlite_runtime, "sam", queues=["customer_service"])
    with serve_in_thread(context_for(sqlite_runtime, tmp_path)) as server:
        browser = Browser(server.url)
        browser.login("ada")
        yield browser, sqlite_runtime, ids
        browser.close()


def _offered(page: str) -> int:
    found = re.search(r'<form method="post" action="/admin/labels/(\d+)">', page)
    assert found, page
    return int(found.group(1))


def _label(browser: Browser, inquiry_id: int, data: dict[str, object]) -> object:
    return browser.post(f"/admin/labels/{inquiry_id}", data, token_from="/admin/labels")


def test_admin_gets_the_least_sure_first_with_the_models_reading(site: tuple[Browser, Runtime, list[int]]) -> None:
    browser, runtime, ids = site
    page = browser.get("/admin/labels")
    assert page.status_code == 200
    with runtime.session_factory() as session:
        order = [c.inquiry_id for c in label_candidates(session, 10)]  # what `triage label --next` offers
    assert order == [ids[1], ids[2], ids[0]]
    assert _offered(page.text) == ids[1]
    text = page.text
    assert "Question 1" in text and "question number 1 about my renewal" in text
    assert "renewal (0.31)" in text and "customer_service" in text and "Intents" in text
    assert 'name="csrf_token"' in text and 'name="hold_reason"' in text
    assert f'/admin/labels?id={ids[2]}' in text and f'/admin/labels?id={ids[0]}' in text  # the ones after it
    assert 'href="/admin/labels"' in text  # in the admin navigation
    chosen = browser.get("/admin/labels", params={"id": str(ids[0])})
    assert chosen.status_code == 200 and _offered(chosen.text) == ids[0]
    assert browser.get("/admin/labels", params={"id": "999999"}).status_code == 404


def test_staff_are_refused_and_a_form_without_its_token_too(site: tuple[Browser, Runtime, list[int]]) -> None:
    browser, runtime, ids = site
    staff = Browser(browser.url)
    staff.login("sam")
    assert staff.get("/admin/labels").status_code == 403
    assert staff.post(f"/admin/labels/{ids[1]}", {"topic": "fees"}, token_from="/queues").status_code == 403
    staff.close()
    assert browser.post(f"/admin/labels/{ids[1]}", {"topic": "fees"}, token_from=None).status_code == 403
    with runtime.session_factory() as session:
        assert session.scalars(select(Label)).all() == []


def test_labelling_stores_audits_moves_on_and_feeds_training(site: tuple[Browser, Runtime, list[int]]) -> None:
    browser, runtime, ids = site
    done = _label(browser, ids[1], {"topic": "fees", "language": "FR", "queue": "legal", "standard": "hold",
                                    "hold_reason": "payment_dispute", "intents": "fees, renewal--grace_period"})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/labels?after={ids[1]}"
    page = browser.get(done.headers["location"])
    assert _offered(page.text) == ids[2]  # the next one the model is unsure about
    assert f"inquiry {ids[1]} labelled: topic fees, language fr, queue legal, standard hold back" in page.text
    with runtime.session_factory() as session:
        labels = session.scalars(select(Label).where(Label.inquiry_id == ids[1]).order_by(Label.id)).all()
        assert {(l.field, str(l.value)) for l in labels} == {
            ("topic", "fees"), ("language", "fr"), ("queue", "legal"), ("standard", "False"),
            ("hold_reason", "payment_dispute"), ("intents", "['fees', 'renewal--grace_period']")}
        assert {l.actor for l in labels} == {"ada"} and all(l.created_at is not None for l in labels)
        assert all(l.decision_id is not None for l in labels)  # against the current decision, as `triage label`
        event = session.scalar(select(AuditEvent).where(AuditEvent.event == "labelled"))
        assert event is not None and event.actor == "ada" and event.inquiry_id == ids[1] and event.at is not None
        assert event.details["topic"] == "fees" and event.details["standard"] is False
        # now a corrected one: offered after those nobody labelled
        order = [(c.inquiry_id, c.corrected) for c in label_candidates(session, 10)]
        assert order == [(ids[2], False), (ids[0], False), (ids[1], True)]
        rows = labelled_inquiries(session)
    taxonomy = load_triage_config(TriageSettings()).taxonomy
    [example] = [correction_example(c, taxonomy) for c in corrections_of(rows)]  # what `triage train` merges in
    assert (example.topic, example.language, example.standard, example.queue, example.hold_reason, example.intents) == \
        ("fees", "fr", False, "legal", "payment_dispute", ("fees", "renewal--grace_period"))

    # Confirming the model's reading is a label too; then the last unsure one, then the corrected ones in turn.
    assert _label(browser, ids[2], {"topic": "renewal", "standard": "standard"}).status_code == 303
    assert _offered(browser.get(f"/admin/labels?after={ids[2]}").text) == ids[0]
    assert _label(browser, ids[0], {"language": "en"}).status_code == 303
    first = _offered(browser.get(f"/admin/labels?after={ids[0]}").text)
    assert first == ids[1]  # every one corrected: the least sure first
    assert _offered(browser.get(f"/admin/labels?after={ids[1]}").text) == ids[2]  # and on, not round in a circle


@pytest.mark.parametrize(("data", "message"), [
    ({"topic": "no_such_topic"}, "unknown topic &#39;no_such_topic&#39;; known: "),
    ({"queue": "nowhere"}, "unknown queue &#39;nowhere&#39;"),
    ({"language": "french!"}, "is not a language code"),
    ({"standard": "hold"}, "say why it is held back"),
    ({"standard": "standard", "hold_reason": "dispute"}, "a hold-back reason goes with"),
    ({"standard": "hold", "hold_reason": "bored"}, "unknown hold-back reason"),
    ({"intents": "renewal, astrology--horoscope"}, "unknown intent(s) &#39;astrology--horoscope&#39;"),
    ({}, "give at least one label"),
])
def test_bad_labels_are_refused_with_a_message_and_nothing_stored(
        site: tuple[Browser, Runtime, list[int]], data: dict[str, str], message: str) -> None:
    browser, runtime, ids = site
    refused = _label(browser, ids[1], {"topic": "", **data} if "topic" not in data else data)
    assert refused.status_code == 400, refused.text
    assert message in refused.text and 'role="alert"' in refused.text
    assert _offered(refused.text) == ids[1]  # the same inquiry again, to correct the form
    with runtime.session_factory() as session:
        assert session.scalars(select(Label)).all() == []
        assert session.scalar(select(AuditEvent).where(AuditEvent.event == "labelled")) is None


def test_a_missing_inquiry_is_refused(site: tuple[Browser, Runtime, list[int]]) -> None:
    browser, _, _ = site
    missing = _label(browser, 999999, {"topic": "fees"})
    assert missing.status_code == 404 and "no inquiry 999999" in missing.text
