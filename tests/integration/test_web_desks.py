"""The review app with two desks on a real SQLite database: queues under their desk, each queue due by its own
desk's SLA file, an admin's change of a desk's targets written to that desk's file, staff given a desk's queues."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import DeskSettings
from pipeline.runtime import Runtime
from tests.e2e.web import (  # noqa: F401  (fixtures)
    Browser,
    decide,
    hours_ago,
    make_user,
    serve_in_thread,
    settings_with,
    sqlite_runtime,
    store_messages,
)
from tests.support.mail import make_message
from webapp.context import build_context

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_desks(sqlite_runtime: Runtime, tmp_path: Path) -> Iterator[tuple[Browser, Path, dict[str, int]]]:
    """An admin logged in to an app with the registry and renewal desks, both SLA files copies in tmp_path."""
    runtime = sqlite_runtime
    shutil.copy(ROOT / "config" / "sla.toml", tmp_path / "sla.toml")
    folder = tmp_path / "renewals"
    shutil.copytree(ROOT / "config" / "desks" / "renewals", folder)
    ids = store_messages(runtime, [make_message(f"Question {n}", message_id=f"<d{n}@example.com>") for n in range(3)])
    decide(runtime, ids[0], queue="renewals_processing", topic="instruction", received_at=hours_ago(10),
           standard=False)  # overdue by the renewal desk's 8 h, well within the 48 h default
    decide(runtime, ids[1], queue="account_team", topic="records", received_at=hours_ago(20))  # soon (24 h)
    decide(runtime, ids[2], queue="customer_service", received_at=hours_ago(10))  # ok (24 h)
    make_user(runtime, "ada", role="admin", name="Ada Admin")
    settings = settings_with(
        runtime,
        web=runtime.settings.web.model_copy(update={"secret_key_file": tmp_path / "secret.key",
                                                     "sla": tmp_path / "sla.toml"}),
        desks={"renewals": DeskSettings(name="Patent renewal service", folder=folder,
                                        corpus=ROOT / "data" / "corpus" / "renewals")},
    )
    with serve_in_thread(build_context(settings, runtime.session_factory)) as server:
        browser = Browser(server.url)
        browser.login("ada")
        yield browser, tmp_path, {"processing": ids[0], "account": ids[1], "registry": ids[2]}
        browser.close()


def test_queues_are_grouped_by_desk_and_due_by_their_desks_sla(two_desks: tuple[Browser, Path, dict[str, int]]) -> None:
    browser, _, ids = two_desks
    page = browser.get("/queues").text
    registry, renewals = page.index('id="desk-registry"'), page.index('id="desk-renewals"')
    assert registry < page.index("/queues/customer_service") < renewals < page.index("/queues/renewals_processing")
    assert ">Patent renewal service</h2>" in page and page.index("/queues/billing") > renewals
    queues = {q["id"]: q for q in browser.get("/api/queues").json()}
    assert (queues["renewals_processing"]["target_hours"], queues["renewals_processing"]["overdue"]) == (8, 1)
    assert (queues["account_team"]["due_soon"], queues["customer_service"]["overdue"]) == (1, 0)
    assert queues["billing"]["desk"] == "renewals" and queues["finance"]["desk"] == "registry"
    assert 'class="sla sla-overdue"' in browser.get("/queues/renewals_processing").text
    assert "Patent renewal service · " in browser.get("/queues/renewals_processing").text
    times = list(csv.DictReader(io.StringIO(browser.get("/stats/response_times.csv?days=30").text)))
    assert {float(r["target_hours"]) for r in times if r["queue"] == "renewals_processing"} == {8.0}


def test_a_desks_targets_are_saved_to_that_desks_file(two_desks: tuple[Browser, Path, dict[str, int]]) -> None:
    browser, tmp_path, _ = two_desks
    page = browser.get("/admin/queues").text
    assert page.count('<form method="post" action="/admin/queues">') == 2
    assert 'name="hours_renewals_processing" value="8"' in page and str(tmp_path / "renewals" / "sla.toml") in page
    registry_before = (tmp_path / "sla.toml").read_text(encoding="utf-8")
    hours = {"hours_account_team": "24", "hours_renewals_processing": "12", "hours_billing": "48",
             "hours_records": "", "hours_account_manager": "8"}
    saved = browser.post("/admin/queues", {"desk": "renewals", **hours, "default_hours": "30", "warn_share": "0.5"},
                         token_from="/admin/queues")
    assert saved.status_code == 303
    text = (tmp_path / "renewals" / "sla.toml").read_text(encoding="utf-8")
    assert text.startswith("# Response-time targets (hours) of the patent-renewal desk")
    assert "renewals_processing = 12" in text and "records" not in text.split("[queues]")[1]
    assert (tmp_path / "sla.toml").read_text(encoding="utf-8") == registry_before
    queues = {q["id"]: q for q in browser.get("/api/queues").json()}
    assert queues["renewals_processing"]["target_hours"] == 12 and queues["records"]["target_hours"] == 30
    assert queues["customer_service"]["target_hours"] == 24 and queues["operations"]["target_hours"] == 72
    refused = browser.post("/admin/queues", {"desk": "renewals", "hours_billing": "-1", "default_hours": "30",
                                             "warn_share": "0.5"}, token_from="/admin/queues")
    assert refused.status_code == 400 and "more than 0" in refused.text
    assert (tmp_path / "renewals" / "sla.toml").read_text(encoding="utf-8") == text


def test_staff_get_every_queue_of_a_desk_at_once(two_desks: tuple[Browser, Path, dict[str, int]]) -> None:
    browser, _, _ = two_desks
    page = browser.get("/admin/users").text
    assert '<legend>Patent renewal service</legend>' in page and 'name="desks" value="renewals"' in page
    added = browser.post("/admin/users", {"op": "add", "username": "rita", "password": "a long enough pw",
                                          "role": "staff", "desks": ["renewals"], "queues": ["legal"]},
                         token_from="/admin/users")
    assert added.status_code == 303
    page = browser.get("/admin/users").text
    assert "<small>registry:</small> legal<br><small>Patent renewal service:</small> account_team, " \
           "renewals_processing, billing, records, account_manager" in page
    refused = browser.post("/admin/users", {"op": "queues", "username": "rita", "desks": ["payroll"]},
                           token_from="/admin/users")
    assert refused.status_code == 400 and "unknown desk" in refused.text
