"""How many threads training may use: the cores this process may run on, or ``TRIAGE_TRAINING_WORKERS``."""

from __future__ import annotations

import os

from pipeline.errors import ClassifierError


def training_workers() -> int:
    """The number of threads for fitting independent models side by side (at least 1)."""
    configured = os.environ.get("TRIAGE_TRAINING_WORKERS", "").strip()
    if configured:
        try:
            workers = int(configured)
        except ValueError:
            raise ClassifierError(f"TRIAGE_TRAINING_WORKERS must be a whole number, not {configured!r}") from None
        if workers < 1:
            raise ClassifierError(f"TRIAGE_TRAINING_WORKERS must be 1 or more, not {workers}")
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
