"""Slow down password guessing: too many failed log-ins for one name or from one address lock it for a while."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    """Counts failed log-ins per key (user name, client address) in a sliding window, in this process.

    After ``max_failures`` within ``window_seconds`` the key is refused until the
    oldest of those failures leaves the window; a successful log-in clears the name.
    """

    max_failures: int = 5
    window_seconds: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, *keys: str) -> float:
        """Seconds until these keys may try again; 0 when they may try now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.max_failures:
                    wait = max(wait, failures[0] + self.window_seconds - now)
        return wait

    def failed(self, *keys: str) -> None:
        """Record one failed log-in for each key."""
        now = self.clock()
        with self._lock:
            for key in keys:
                failures = self._failures.setdefault(key, deque())
                failures.append(now)
                while len(failures) > self.max_failures:
                    failures.popleft()

    def succeeded(self, key: str) -> None:
        """Forget the failures of a key after a good log-in."""
        with self._lock:
            self._failures.pop(key, None)


def login_keys(username: str, client: str | None) -> tuple[str, str]:
    """The throttle keys of one attempt: the account name and the client's address."""
    return f"user:{username.strip().lower()[:64]}", f"addr:{client or 'unknown'}"
