"""Client portfolios on real SQLite and PostgreSQL: the organisation recorded at ingest, the migration that fills
it in, the store's figures, the /clients pages and their JSON twins, queue permissions and odd addresses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from alembic import command
from sqlalchemy import inspect, select, update

from pipeline.config import DeskSettings
from pipeline.runtime import Runtime
from pipeline.store.db import _alembic_config, current_revision, head_revision, unit_of_work
from pipeline.store.models import AuditEvent, Inquiry, Suggestion
from pipeline.store.portfolios import Scope, organisations, portfolio
from tests.e2e.web import (  # noqa: F401  (fixtures)
    Browser,
    decide,
    hours_ago,
    make_user,
    module_runtime,
    serve_in_thread,
    store_messages,
)
from tests.support.mail import make_message
from webapp.context import build_context
from webapp.services.cases import sync_cases

SAM_QUEUES = frozenset({"customer_service", "finance"})
TARGETS = {"customer_service": 24.0, "finance": 48.0, "legal": 120.0}


def target(queue: str) -> float:
    return TARGETS.get(queue, 48.0)


def _close(runtime: Runtime, inquiry_id: int, *, replied_hours_ago: float | None, closed_hours_ago: float,
           to_state: str = "sent") -> None:
    """Close a case as the review app would: a reply approved and sent (or none), the move in the audit log."""
    with unit_of_work(runtime.session_factory) as session:
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None
        if replied_hours_ago is not None:
            at = hours_ago(replied_hours_ago)
            session.add(Suggestion(inquiry_id=inquiry_id, kind="reply", status="sent", language="en", subject="Re",
                                   body_text="Answer.", to_address="x@example.org", approved_by="sam",
                                   approved_at=at, sent_at=at))
        before, inquiry.state = inquiry.state, to_state
        session.add(AuditEvent(event="closed", at=hours_ago(closed_hours_ago), message_pk=inquiry.message_pk,
                               inquiry_id=inquiry_id, from_state=before, to_state=to_state, actor="sam"))


def _utf8(raw: bytes) -> bytes:
    """An international domain written in UTF-8 in the header, as SMTPUTF8 mail has it (the email package
    would write an encoded word, which no mailer sends)."""
    return raw.replace(b"BUECHER", "BÜCHER".encode())


@pytest.fixture(scope="module")
def seeded(module_runtime: Runtime) -> dict[str, int]:
    runtime = module_runtime
    senders = [
        ("m0", "Anna Schmidt <anna@mail.schmidt-patente.de>", "Renewal EP 1 234 567"),
        ("m1", "Bert <BERT@Schmidt-Patente.DE>", "Invoice paid twice, unacceptable"),
        ("m2", "Anna Schmidt <anna@schmidt-patente.de>", "Renewal fee for EP 2"),
        ("m3", "Carla <carla@legal.schmidt-patente.de>", "Opposition and a complaint"),
        ("m4", "Luc Martin <luc@paris.cabinet-martin.fr>", "Échéance du brevet"),
        ("m5", "Jane <jane@gmail.com>", "A private question"),
        ("m6", "Max <max@verlag.BUECHER.de>", "Renewal for a publisher"),  # SMTPUTF8: see _utf8
        ("m7", "Anna Schmidt <anna@schmidt-patente.de>", "An old question"),
        ("m8", "Vera <vera@secret-legal.at>", "Legal only"),
        ("m9", "Ola <ola@mail.kanzlei-nord.co.uk>", "Renewals desk question"),
    ]
    raws = [_utf8(make_message(f"Body of {name}.", subject=subject, sender=sender,
                               message_id=f"<{name}@portfolio.test>")) for name, sender, subject in senders]
    ids = dict(zip([name for name, _, _ in senders], store_messages(runtime, raws)))
    decide(runtime, ids["m0"], received_at=hours_ago(5))
    decide(runtime, ids["m1"], queue="finance", topic="fees", complaint=True, standard=False,
           received_at=hours_ago(30))
    decide(runtime, ids["m2"], received_at=hours_ago(50))
    decide(runtime, ids["m3"], queue="legal", topic="decision", complaint=True, standard=False,
           received_at=hours_ago(10))
    decide(runtime, ids["m4"], language="fr", received_at=hours_ago(30))
    decide(runtime, ids["m5"], received_at=hours_ago(2))
    decide(runtime, ids["m6"], received_at=hours_ago(1))
    decide(runtime, ids["m7"], received_at=datetime.now(timezone.utc) - timedelta(days=100))
    decide(runtime, ids["m8"], queue="legal", topic="decision", standard=False, received_at=hours_ago(3))
    decide(runtime, ids["m9"], topic="fees", received_at=hours_ago(4))
    _close(runtime, ids["m2"], replied_hours_ago=40, closed_hours_ago=40)  # answered in 10 h: within 24 h
    _close(runtime, ids["m7"], replied_hours_ago=None, closed_hours_ago=2000, to_state="handled")
    with unit_of_work(runtime.session_factory) as session:
        session.execute(update(Inquiry).where(Inquiry.id == ids["m9"]).values(desk="renewals"))
    sync_cases(runtime.session_factory, until_done=True)
    make_user(runtime, "sam", queues=sorted(SAM_QUEUES))
    make_user(runtime, "ada", role="admin")
    return ids


# --- recorded at ingest ----------------------------------------------------------------------


def test_ingest_records_the_senders_organisation(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    with module_runtime.session_factory() as session:
        found = dict(session.execute(select(Inquiry.id, Inquiry.organisation)
                                     .where(Inquiry.id.in_(seeded.values()))).all())
    by_name = {name: found[i] for name, i in seeded.items()}
    assert by_name == {
        "m0": "schmidt-patente.de", "m1": "schmidt-patente.de", "m2": "schmidt-patente.de",
        "m3": "schmidt-patente.de", "m4": "cabinet-martin.fr", "m5": None, "m6": "xn--bcher-kva.de",
        "m7": "schmidt-patente.de", "m8": "secret-legal.at", "m9": "kanzlei-nord.co.uk",
    }


# --- the store ---------------------------------------------------------------------------------


def _period() -> tuple[datetime, datetime, datetime]:
    now = datetime.now(timezone.utc)
    return now - timedelta(days=30), now, now


def test_organisations_with_their_counts(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    with module_runtime.session_factory() as session:
        every = {o.key: o for o in organisations(session, *_period(), target)}
        mine = {o.key: o for o in organisations(session, *_period(), target, Scope(queues=SAM_QUEUES))}
        first = [o.key for o in organisations(session, *_period(), target)][:1]
    assert set(every) == {"schmidt-patente.de", "cabinet-martin.fr", "xn--bcher-kva.de", "secret-legal.at",
                          "kanzlei-nord.co.uk"}
    schmidt = every["schmidt-patente.de"]
    # open: m0, m1, m3; in the period: m0-m3 (m7 is 100 days old); complaints m1, m3
    assert (schmidt.open_cases, schmidt.cases, schmidt.complaints) == (3, 4, 2)
    # first responses due: m2 (answered in 10 h, within 24 h); m0 (5 h), m1 (30 h of 48), m3 (10 h of 120) not yet
    assert (schmidt.due, schmidt.within_target, schmidt.share_within_target) == (1, 1, 1.0)
    martin = every["cabinet-martin.fr"]
    assert (martin.open_cases, martin.due, martin.within_target, martin.share_within_target) == (1, 1, 0, 0.0)
    assert every["xn--bcher-kva.de"].name == "bücher.de"
    assert "secret-legal.at" not in mine  # only in the legal queue
    assert (mine["schmidt-patente.de"].open_cases, mine["schmidt-patente.de"].complaints) == (2, 1)
    assert first == ["schmidt-patente.de"]  # most open cases first


def test_one_organisations_portfolio(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    m = seeded
    with module_runtime.session_factory() as session:
        p = portfolio(session, "schmidt-patente.de", *_period(), target)
        staff = portfolio(session, "schmidt-patente.de", *_period(), target, Scope(queues=SAM_QUEUES))
        assert portfolio(session, "nobody-here.org", *_period(), target) is None
        assert portfolio(session, "secret-legal.at", *_period(), target, Scope(queues=SAM_QUEUES)) is None
    assert p is not None and staff is not None
    assert (p.open_total, p.cases, p.complaints_total, p.all_time) == (3, 4, 2, 5)
    assert [c.inquiry_id for c in p.open_cases] == [m["m1"], m["m3"], m["m0"]]  # oldest first
    first = p.open_cases[0]
    assert (first.queue, first.state, first.topic, first.complaint) == ("finance", "routed", "fees", True)
    assert timedelta(hours=29) < first.age < timedelta(hours=31)
    assert first.subject == "Invoice paid twice, unacceptable" and first.sender == "bert@schmidt-patente.de"
    topics = {row[0]: row[1:] for row in p.topics.rows}
    assert topics == {"renewal": (2, 1, 0, 0.5), "fees": (1, 1, 1, 0.25), "decision": (1, 1, 1, 0.25)}
    times = {(row[0], row[1]): row[2:] for row in p.times.rows}
    # customer_service: m0 (open, 5 h) and m2 (answered and closed after 10 h)
    assert times[("customer_service", "first response")] == (2, 1, 0, 24.0, 10.0, 10.0, 1.0)
    assert times[("customer_service", "close")] == (2, 1, 0, 24.0, 10.0, 10.0, 1.0)
    assert times[("finance", "first response")] == (1, 0, 0, 48.0, None, None, None)
    assert [c.inquiry_id for c in p.complaints] == [m["m3"], m["m1"]]  # newest first
    # staff: the legal case is left out everywhere
    assert (staff.open_total, staff.cases, staff.complaints_total) == (2, 3, 1)
    assert m["m3"] not in {c.inquiry_id for c in staff.open_cases} | {c.inquiry_id for c in staff.complaints}
    assert "legal" not in {row[0] for row in staff.times.rows}


def test_an_open_case_past_its_target_counts_as_missed(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    with module_runtime.session_factory() as session:
        p = portfolio(session, "cabinet-martin.fr", *_period(), target)
    assert p is not None
    times = {(row[0], row[1]): row[2:] for row in p.times.rows}
    assert times[("customer_service", "first response")] == (1, 0, 1, 24.0, None, None, 0.0)


def test_the_desk_narrows_the_portfolios(module_runtime: Runtime, seeded: dict[str, int]) -> None:
    with module_runtime.session_factory() as session:
        renewals = {o.key for o in organisations(session, *_period(), target, Scope(desk="renewals"))}
        registry = {o.key for o in organisations(session, *_period(), target, Scope(desk="registry"))}
    assert renewals == {"kanzlei-nord.co.uk"}
    assert "kanzlei-nord.co.uk" not in registry and "schmidt-patente.de" in registry  # NULL desk: the default


# --- the pages -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(module_runtime: Runtime, seeded: dict[str, int], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    web = tmp_path_factory.mktemp("web")
    settings = module_runtime.settings.model_copy(update={
        "web": module_runtime.settings.web.model_copy(update={"secret_key_file": web / "secret.key"}),
        "desks": {"renewals": DeskSettings(name="Patent renewals", folder=Path("config/desks/renewals"))},
    })
    with serve_in_thread(build_context(settings, module_runtime.session_factory)) as running:
        yield running.url


@pytest.fixture(scope="module")
def sam(server: str) -> Iterator[Browser]:
    browser = Browser(server)
    browser.login("sam")
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def ada(server: str) -> Iterator[Browser]:
    browser = Browser(server)
    browser.login("ada")
    yield browser
    browser.close()


def _linked(page: str, prefix: str) -> list[str]:
    return re.findall(rf'<a href="{prefix}([^"?]+)', page)


def test_clients_page_lists_the_organisations_of_the_persons_queues(sam: Browser, ada: Browser) -> None:
    page = sam.get("/clients")
    assert page.status_code == 200 and "Client organisations" in page.text
    assert 'href="/clients">Clients</a>' in page.text  # in the navigation
    shown = _linked(page.text, "/clients/")
    assert shown[0] == "schmidt-patente.de"  # most open cases first
    assert set(shown) == {"schmidt-patente.de", "cabinet-martin.fr", "xn--bcher-kva.de", "kanzlei-nord.co.uk"}
    assert "bücher.de" in page.text and "gmail" not in page.text
    assert "secret-legal.at" in _linked(ada.get("/clients").text, "/clients/")
    by_name = _linked(sam.get("/clients", params={"sort": "name"}).text, "/clients/")
    assert by_name == ["xn--bcher-kva.de", "cabinet-martin.fr", "kanzlei-nord.co.uk", "schmidt-patente.de"]
    assert _linked(sam.get("/clients", params={"q": "martin"}).text, "/clients/") == ["cabinet-martin.fr"]
    assert _linked(sam.get("/clients", params={"desk": "renewals"}).text, "/clients/") == ["kanzlei-nord.co.uk"]
    assert 'option value="renewals"' in page.text
    for bad in ({"sort": "evil"}, {"days": "3"}, {"days": "x"}, {"desk": "nope"}, {"page": "0"}, {"q": "x" * 101}):
        assert sam.get("/clients", params=bad).status_code == 400, bad


def test_portfolio_page_shows_open_cases_topics_times_and_complaints(sam: Browser, ada: Browser,
                                                                     seeded: dict[str, int]) -> None:
    m = seeded
    page = sam.get("/clients/schmidt-patente.de")
    assert page.status_code == 200
    text = page.text
    assert "<h1>schmidt-patente.de" in text
    opened = [int(n) for n in re.findall(r'<a href="/inquiries/(\d+)">', text.split('id="open-cases"')[1]
                                             .split("</section>")[0])]
    assert opened == [m["m1"], m["m0"]]  # not the legal case: not sam's
    assert "Cases received per topic" in text and "Time to first response and to close per queue" in text
    complaints = text.split('id="complaints"')[1]
    assert f'/inquiries/{m["m1"]}"' in complaints and f'/inquiries/{m["m3"]}"' not in complaints
    assert "legal" not in text.split('id="open-cases"')[1]
    assert f'/inquiries/{m["m3"]}"' in ada.get("/clients/schmidt-patente.de").text
    assert sam.get("/clients/schmidt-patente.de", params={"days": "365"}).status_code == 200
    assert sam.get("/clients/schmidt-patente.de", params={"days": "2"}).status_code == 400


def test_another_spelling_of_an_organisation_goes_to_its_page(sam: Browser) -> None:
    for spelling in ("Mail.Schmidt-Patente.DE", "schmidt-patente.de."):
        response = sam.get(f"/clients/{spelling}", params={"days": "90"})
        assert response.status_code == 303
        assert response.headers["location"] == "/clients/schmidt-patente.de?days=90"
    response = sam.get("/clients/" + quote("bücher.de"))
    assert response.status_code == 303 and response.headers["location"] == "/clients/xn--bcher-kva.de"
    page = sam.get("/clients/xn--bcher-kva.de")
    assert page.status_code == 200 and "bücher.de" in page.text


ODD = ["nobody-here.org", "secret-legal.at", "gmail.com", "co.uk", "' OR 1=1 --", "x'; DROP TABLE inquiries; --",
       "%27%22", "%00", "%2e%2e", "a" * 3000, "a." * 1000 + "com", "<script>alert(1)</script>", "example.org/etc",
       "%2e%2e%2f", "☃", "例え", "1.2.3.4", "[::1]", "example.org%0d%0aX: y"]


@pytest.mark.parametrize("organisation", ODD)
def test_unknown_hidden_or_odd_organisations_are_not_found(sam: Browser, organisation: str) -> None:
    page = sam.get("/clients/" + organisation)
    assert page.status_code == 404, page.text[:300]
    assert "<script>alert" not in page.text
    api = sam.get("/api/clients/" + organisation)
    assert api.status_code == 404 and api.json()["status"] == 404


def test_admins_see_organisations_of_every_queue(ada: Browser) -> None:
    assert ada.get("/clients/secret-legal.at").status_code == 200


def test_json_twins(sam: Browser, seeded: dict[str, int]) -> None:
    listed = sam.get("/api/clients").json()
    assert listed["days"] == 30 and listed["sort"] == "open"
    assert [c["organisation"] for c in listed["clients"]][0] == "schmidt-patente.de"
    first = listed["clients"][0]
    assert (first["open_cases"], first["cases"], first["complaints"], first["share_within_target"]) == (2, 3, 1, 1.0)
    assert sam.get("/api/clients", params={"sort": "nope"}).status_code == 400
    one = sam.get("/api/clients/schmidt-patente.de").json()
    assert one["organisation"] == "schmidt-patente.de" and one["open_total"] == 2
    assert [c["inquiry_id"] for c in one["open_cases"]] == [seeded["m1"], seeded["m0"]]
    assert one["open_cases"][0]["age_seconds"] > 29 * 3600
    assert one["topics"]["columns"] == ["topic", "cases", "open", "complaints", "share"]
    assert {r["queue"] for r in one["times"]["rows"]} == {"customer_service", "finance"}
    assert [c["inquiry_id"] for c in one["complaints"]] == [seeded["m1"]]
    assert {"/api/clients", "/api/clients/{organisation}"} <= set(sam.get("/api/openapi.json").json()["paths"])
    anonymous = Browser(sam.url)
    try:
        assert anonymous.get("/api/clients").status_code == 401
        assert anonymous.get("/clients").status_code == 303
    finally:
        anonymous.close()


def test_the_inquiry_page_links_to_the_senders_portfolio(sam: Browser, seeded: dict[str, int]) -> None:
    page = sam.get(f"/inquiries/{seeded['m0']}").text
    assert '<a href="/clients/schmidt-patente.de"' in page
    assert '/clients/' not in sam.get(f"/inquiries/{seeded['m5']}").text.split("<main")[1]  # free mail: none
    api = sam.get(f"/api/inquiries/{seeded['m0']}").json()
    assert api["sender"]["organisation"] == "schmidt-patente.de"


# --- the migration -----------------------------------------------------------------------------------


def test_the_migration_fills_in_existing_inquiries_and_goes_back(runtime: Runtime) -> None:
    raws = [_utf8(make_message("x", sender=sender, message_id=f"<mig{n}@portfolio.test>")) for n, sender in enumerate(
        ["A <a@eu.Example-Firm.co.uk>", "b@gmail.com", "not an address", "c@BUECHER.de", "d@example-firm.co.uk"])]
    ids = store_messages(runtime, raws)
    config = _alembic_config(runtime.engine)
    command.downgrade(config, "0013")
    columns = {c["name"] for c in inspect(runtime.engine).get_columns("inquiries")}
    assert "organisation" not in columns
    command.upgrade(config, "head")
    assert current_revision(runtime.engine) == head_revision()
    with runtime.session_factory() as session:
        found = dict(session.execute(select(Inquiry.id, Inquiry.organisation)).all())
    assert [found[i] for i in ids] == ["example-firm.co.uk", None, None, "xn--bcher-kva.de", "example-firm.co.uk"]
    indexes = {ix["name"] for ix in inspect(runtime.engine).get_indexes("inquiries")}
    assert "ix_inquiries_organisation" in indexes


def test_searching_an_organisation_finds_its_subdomains_too(sam: Browser, seeded: dict[str, int]) -> None:
    m = seeded
    hits = {h["inquiry_id"] for h in sam.get("/api/search", params={"organisation": "schmidt-patente.de"}).json()["hits"]}
    assert hits == {m["m0"], m["m1"], m["m2"], m["m7"]}  # not the legal case: not sam's
    # a subdomain typed out stays exactly that domain
    hits = {h["inquiry_id"] for h in sam.get("/api/search", params={"organisation": "mail.schmidt-patente.de"})
            .json()["hits"]}
    assert hits == {m["m0"]}
