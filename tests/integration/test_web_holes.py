"""Smaller holes of the review app, over real HTTP and real databases: ids no row can have, Secure cookies over
TLS, the idle timeout."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from pipeline.runtime import Runtime
from pipeline.store.db import unit_of_work
from pipeline.store.models import WebSession, utcnow
from tests.e2e.web import Browser, context_for, make_user, serve_in_thread


def test_ids_beyond_64_bits_or_not_numbers_are_not_found(runtime: Runtime, tmp_path: Path) -> None:
    make_user(runtime, "ada", role="admin")
    with serve_in_thread(context_for(runtime, tmp_path)) as server:
        browser = Browser(server.url)
        try:
            assert browser.login("ada").status_code == 303
            for path in ("/inquiries/9223372036854775808", "/inquiries/99999999999999999999999999",
                         "/inquiries/abc", "/inquiries/1/attachments/9223372036854775808",
                         "/api/inquiries/9223372036854775808"):
                assert browser.get(path).status_code == 404, path
        finally:
            browser.close()


def test_cookies_are_secure_over_tls_through_a_trusted_proxy(runtime: Runtime, tmp_path: Path) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    with serve_in_thread(context_for(runtime, tmp_path, trusted_proxies=["127.0.0.1"])) as server:
        plain, tls = Browser(server.url), Browser(server.url)
        tls.client.headers["x-forwarded-proto"] = "https"
        try:
            assert "secure" not in plain.get("/login").headers["set-cookie"].lower()
            assert "secure" not in plain.login("sam").headers["set-cookie"].lower()
            # (a client on plain HTTP does not send a Secure cookie back, so only the first answer is looked at)
            assert "secure" in tls.get("/login").headers["set-cookie"].lower()
        finally:
            plain.close()
            tls.close()


def test_a_session_unused_for_the_idle_timeout_ends(runtime: Runtime, tmp_path: Path) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    with serve_in_thread(context_for(runtime, tmp_path, idle_timeout_minutes=30)) as server:
        browser = Browser(server.url)
        try:
            assert browser.login("sam").status_code == 303
            assert browser.get("/queues").status_code == 200
            with unit_of_work(runtime.session_factory) as session:
                session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
            assert browser.get("/queues").status_code == 303  # back to the log-in page
        finally:
            browser.close()
