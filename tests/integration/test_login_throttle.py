"""The log-in throttle on real databases: attempts are reserved before the password is checked, per name at an
address and per address, shared by every process (SQLite, then PostgreSQL)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.runtime import Runtime
from tests.e2e.web import PASSWORD, Browser, Server, context_for, make_user, serve_in_thread
from webapp.throttle import ADDRESS_FACTOR, LoginThrottle


def test_attempts_are_counted_up_to_the_limit_per_name_at_an_address(runtime: Runtime) -> None:
    now = [datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)]
    throttle = LoginThrottle(runtime.session_factory, max_failures=3, window_seconds=60, clock=lambda: now[0])
    assert [throttle.reserve("Sam ", "10.0.0.1") for _ in range(3)] == [0, 0, 0]
    assert throttle.reserve("sam", "10.0.0.1") == 60  # locked until the window ends
    assert throttle.reserve("sam", "10.0.0.2") == 0  # somebody else, elsewhere, is not locked out
    assert throttle.reserve("other", "10.0.0.1") == 0  # the address has a larger allowance
    now[0] += timedelta(seconds=61)
    assert throttle.reserve("sam", "10.0.0.1") == 0


def test_an_address_cannot_spray_names_beyond_its_allowance(runtime: Runtime) -> None:
    throttle = LoginThrottle(runtime.session_factory, max_failures=2, window_seconds=60)
    granted = [throttle.reserve(f"user{n}", "10.0.0.9") == 0 for n in range(2 * ADDRESS_FACTOR + 3)]
    assert granted.count(True) == 2 * ADDRESS_FACTOR
    assert throttle.reserve("fresh", "10.0.0.9") > 0


def test_a_good_log_in_clears_the_name_and_gives_the_address_its_attempt_back(runtime: Runtime) -> None:
    throttle = LoginThrottle(runtime.session_factory, max_failures=2, window_seconds=60)
    assert throttle.reserve("sam", "10.0.0.1") == 0
    throttle.succeeded("sam", "10.0.0.1")
    assert throttle.reserve("sam", "10.0.0.1") == 0
    assert throttle.reserve("sam", "10.0.0.1") == 0
    assert throttle.reserve("sam", "10.0.0.1") > 0


def test_parallel_reservations_never_exceed_the_limit(runtime: Runtime) -> None:
    throttle = LoginThrottle(runtime.session_factory, max_failures=5, window_seconds=600)
    results: list[float] = []
    start = threading.Barrier(24)

    def attempt() -> None:
        start.wait()
        results.append(throttle.reserve("sam", "10.0.0.1"))

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 24 and results.count(0) == 5


@pytest.fixture
def proxied(runtime: Runtime, tmp_path: Path) -> Iterator[Server]:
    ctx = context_for(runtime, tmp_path, trusted_proxies=["127.0.0.1"])
    with serve_in_thread(ctx) as server:
        yield server


def test_behind_a_trusted_proxy_a_lock_out_is_per_name_and_client_address(runtime: Runtime, proxied: Server,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    attacker, staff = Browser(proxied.url), Browser(proxied.url)
    attacker.client.headers["x-forwarded-for"] = "203.0.113.7"
    staff.client.headers["x-forwarded-for"] = "198.51.100.20"
    try:
        with caplog.at_level(logging.WARNING):
            for n in range(5):
                assert attacker.login("sam", f"guess-{n}").status_code == 401
            assert attacker.login("sam").status_code == 429
        assert staff.login("sam").status_code == 303  # the attacker did not lock Sam out
        logged = caplog.text
        assert "failed log-in for 'sam' from 203.0.113.7" in logged
        assert "too many attempts for 'sam' from 203.0.113.7" in logged
        assert "guess-" not in logged and PASSWORD not in logged
    finally:
        attacker.close()
        staff.close()


def test_without_trusted_proxies_forwarded_addresses_are_ignored(runtime: Runtime, tmp_path: Path) -> None:
    make_user(runtime, "sam", queues=["customer_service"])
    with serve_in_thread(context_for(runtime, tmp_path)) as server:
        browser = Browser(server.url)
        try:
            for n in range(5):
                browser.client.headers["x-forwarded-for"] = f"203.0.113.{n}"  # a new "address" each time
                assert browser.login("sam", "guess").status_code == 401
            assert browser.login("sam", "guess").status_code == 429
        finally:
            browser.close()
