"""Exponential backoff with jitter, for reconnecting to servers that fail."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays that double after each failure up to a cap, each drawn from [delay/2, delay] (jitter)."""

    def __init__(self, *, initial: float = 1.0, maximum: float = 300.0, factor: float = 2.0,
                 rng: Callable[[], float] = random.random) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.failures = 0
        self._rng = rng

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before the next try."""
        ceiling = min(self.maximum, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return ceiling / 2 + self._rng() * ceiling / 2

    def reset(self) -> None:
        """Forget the failures after a success."""
        self.failures = 0
