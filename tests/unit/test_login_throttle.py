"""The log-in throttle: a sliding window of failures per key."""

from __future__ import annotations

from webapp.throttle import LoginThrottle, login_keys


def test_failures_lock_a_key_until_they_leave_the_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_failures=3, window_seconds=60, clock=lambda: now[0])
    keys = login_keys("Sam ", "10.0.0.1")
    assert keys == ("user:sam", "addr:10.0.0.1")
    for _ in range(2):
        throttle.failed(*keys)
        now[0] += 1
    assert throttle.retry_after(*keys) == 0
    throttle.failed(*keys)
    assert throttle.retry_after(*keys) == 58  # the first failure leaves the window at 1060
    assert throttle.retry_after("user:other", "addr:10.0.0.1") == 58
    assert throttle.retry_after("user:other", "addr:10.0.0.2") == 0
    now[0] = 1060.5
    assert throttle.retry_after(*keys) == 0


def test_a_good_log_in_clears_the_name() -> None:
    throttle = LoginThrottle(max_failures=2, window_seconds=60, clock=lambda: 0.0)
    throttle.failed("user:sam")
    throttle.succeeded("user:sam")
    throttle.failed("user:sam")
    assert throttle.retry_after("user:sam") == 0
