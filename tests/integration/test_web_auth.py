"""Log-in, sessions, roles, queue assignments and CSRF of the review app, over real HTTP and real databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.runtime import Runtime
from tests.e2e.web import (  # noqa: F401  (fixtures)
    PASSWORD,
    Browser,
    Server,
    decide,
    make_user,
    sqlite_runtime,
    store_messages,
    web,
    web_sqlite,
)
from tests.support.mail import make_message

ANONYMOUS_PAGES = ["/queues", "/queues/customer_service", "/inquiries/1", "/inquiries/1/html",
                   "/inquiries/1/attachments/1", "/admin/users", "/admin/queues", "/admin/templates",
                   "/admin/routing", "/"]


@pytest.fixture
def browser(web: Server) -> Iterator[Browser]:
    client = Browser(web.url)
    yield client
    client.close()


def test_healthz_answers_without_log_in_and_every_page_sends_to_log_in(browser: Browser) -> None:
    assert browser.get("/healthz").json() == {"status": "ok"}
    assert browser.get("/login").status_code == 200
    for path in ANONYMOUS_PAGES:
        response = browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login") or path == "/", path
    assert browser.get("/queues/legal?age=1d").headers["location"] == "/login?next=/queues/legal%3Fage%3D1d"
    api = browser.get("/api/queues")
    assert api.status_code == 401 and api.json()["status"] == 401


def test_log_in_log_out_and_wrong_passwords(runtime: Runtime, browser: Browser) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    refused = browser.login("sam", "not the password")
    assert refused.status_code == 401 and "Wrong user name or password" in refused.text
    assert browser.login("nobody", "whatever at all").status_code == 401
    assert browser.login("' OR 1=1 --", "x").status_code == 401
    response = browser.login("sam")
    assert response.status_code == 303 and response.headers["location"] == "/queues"
    cookie = browser.client.cookies.get("triage_session")
    assert cookie and "sam" not in cookie
    page = browser.get("/queues")
    assert page.status_code == 200 and "customer_service" in page.text and "Sam" in page.text
    assert browser.post("/logout").status_code == 303
    browser.client.cookies.set("triage_session", cookie)  # the old cookie is dead on the server too
    assert browser.get("/queues").status_code == 303


def test_log_in_goes_back_only_to_a_page_of_this_site(runtime: Runtime, browser: Browser) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = browser.post("/login", {"username": "sam", "password": "correct horse battery staple",
                                           "next": evil}, token_from="/login")
        assert response.headers["location"] == "/queues", evil
        browser.post("/logout")


def test_forged_posts_are_refused_and_change_nothing(runtime: Runtime, browser: Browser, web: Server) -> None:
    make_user(runtime, "ada", role="admin")
    make_user(runtime, "sam", queues=["customer_service"])
    [inquiry_id] = store_messages(runtime, [make_message()])
    decide(runtime, inquiry_id)
    browser.login("ada")
    browser.get(f"/inquiries/{inquiry_id}")
    forged: list[tuple[str, dict[str, Any]]] = [
        ("/admin/users", {"op": "disable", "username": "sam"}),
        (f"/inquiries/{inquiry_id}/handled", {"version": 1, "note": "x"}),
        (f"/inquiries/{inquiry_id}/reassign", {"version": 1, "queue": "legal", "note": "x"}),
        ("/logout", {}),
    ]
    for path, data in forged:
        without = browser.post(path, data, token_from=None)
        assert without.status_code == 403, path
        assert "security token" in without.text
        wrong = browser.client.post(path, data={**data, "csrf_token": "0" * 64})
        assert wrong.status_code == 403, path
    other_site = browser.client.post("/admin/users", data={"op": "disable", "username": "sam",
                                                           "csrf_token": browser.token()},
                                     headers={"origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert browser.post("/login", {"username": "sam", "password": "x"}, token_from=None).status_code == 403
    api = browser.client.post(f"/api/inquiries/{inquiry_id}/handled", json={"version": 1})
    assert api.status_code == 403
    users = browser.get("/admin/users").text
    assert "disabled" not in users
    assert "triaged" in browser.get(f"/inquiries/{inquiry_id}").text


def test_staff_see_their_queues_only(runtime: Runtime, browser: Browser) -> None:
    make_user(runtime, "sam", queues=["customer_service", "finance"])
    first, second = store_messages(runtime, [make_message(message_id="<a@x>"), make_message("Legal q", message_id="<b@x>")])
    decide(runtime, first, queue="customer_service")
    decide(runtime, second, queue="legal", topic="decision", standard=False)
    browser.login("sam")
    overview = browser.get("/queues").text
    assert "/queues/finance" in overview and "/queues/legal" not in overview
    assert browser.get("/queues/customer_service").status_code == 200
    for path in ("/queues/legal", "/queues/legal?topic=decision", f"/inquiries/{second}",
                 f"/inquiries/{second}/html", "/admin/users", "/admin/templates", "/admin/routing"):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "Legal q" not in response.text
    assert browser.get("/queues/nonexistent").status_code == 404
    assert browser.get("/api/queues/legal/cases").status_code == 403
    assert browser.get(f"/api/inquiries/{second}").status_code == 403
    assert [q["id"] for q in browser.get("/api/queues").json()] == ["customer_service", "finance"]
    assert browser.post(f"/inquiries/{second}/handled", {"version": 1}).status_code == 403


def test_disabling_or_a_new_password_ends_sessions(runtime: Runtime, web: Server) -> None:
    make_user(runtime, "ada", role="admin")
    make_user(runtime, "sam", queues=["customer_service"])
    admin, staff = Browser(web.url), Browser(web.url)
    try:
        admin.login("ada")
        staff.login("sam")
        assert staff.get("/queues").status_code == 200
        assert admin.post("/admin/users", {"op": "password", "username": "sam",
                                           "password": "another long password"}).status_code == 303
        assert staff.get("/queues").status_code == 303
        assert staff.login("sam", "another long password").status_code == 303
        assert admin.post("/admin/users", {"op": "disable", "username": "sam"}).status_code == 303
        assert staff.get("/queues").status_code == 303
        assert staff.login("sam", "another long password").status_code == 401
    finally:
        admin.close()
        staff.close()


def test_pages_carry_strict_security_headers(runtime: Runtime, browser: Browser) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    browser.login("sam")
    for path in ("/login", "/queues", "/healthz"):
        headers = browser.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    session_cookie = next(c for c in browser.client.cookies.jar if c.name == "triage_session")
    assert session_cookie.has_nonstandard_attr("HttpOnly")


def test_request_bodies_over_the_limit_get_413(web_sqlite: Server, sqlite_runtime: Runtime) -> None:
    make_user(sqlite_runtime, "sam", queues=["customer_service"])
    browser = Browser(web_sqlite.url)
    try:
        browser.login("sam")
        token = browser.token()
        response = browser.client.post("/inquiries/1/reply", data={"csrf_token": token, "version": "1",
                                                                   "suggestion_version": "1", "subject": "x",
                                                                   "body": "x" * 2_000_000})
        assert response.status_code == 413
        chunked = browser.client.post("/inquiries/1/reply", content=iter([b"a=" + b"x" * 600_000] * 3),
                                      headers={"content-type": "application/x-www-form-urlencoded",
                                               "x-csrf-token": token})
        assert chunked.status_code == 413
    finally:
        browser.close()


def test_api_log_in_and_csrf_header(runtime: Runtime, web: Server) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    with httpx.Client(base_url=web.url) as client:
        assert client.post("/api/session", json={"username": "sam", "password": "wrong"}).status_code == 401
        form_login = client.post("/api/session", data={"username": "sam", "password": "correct horse battery staple"})
        assert form_login.status_code == 403
        me = client.post("/api/session", json={"username": "sam", "password": "correct horse battery staple"})
        assert me.status_code == 200, me.text
        token = me.json()["csrf_token"]
        assert client.get("/api/me").json()["username"] == "sam"
        assert client.delete("/api/session").status_code == 403
        assert client.delete("/api/session", headers={"x-csrf-token": token}).status_code == 204
        assert client.get("/api/me").status_code == 401


def test_password_guessing_is_throttled(runtime: Runtime, browser: Browser, web: Server) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    for _ in range(5):
        assert browser.login("sam", "guess").status_code == 401
    blocked = browser.login("sam")  # even the right password waits now
    assert blocked.status_code == 429 and "Too many failed log-ins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    with httpx.Client(base_url=web.url) as client:  # the same name at the same address through the API
        api = client.post("/api/session", json={"username": "sam", "password": PASSWORD})
        assert api.status_code == 429
        other = client.post("/api/session", json={"username": "other", "password": "x"})
        assert other.status_code == 401  # another name from this address is still checked
