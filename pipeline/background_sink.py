"""An inquiry sink that runs a slow sink (triage) on its own thread, so syncing mail never waits for it.

Ids are queued in order and handed to the inner sink one batch at a time. On
``close()`` what is queued is still handed over, for at most the given time;
inquiries left over simply stay in state ``new`` (``triage retriage --pending``
or the next worker picks them up). A failing inner sink is logged, never
raised into the sync that stored the mail.

With a ``guard``, each hand-over (in chunks of ``chunk`` ids) holds it
exclusively, so it never overlaps work that holds it shared (the syncs).
``prepare`` (loading a model, say) runs first on the same thread, without the guard.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from pipeline.handoff import InquirySink
from pipeline.rwlock import SharedExclusiveLock

log = logging.getLogger(__name__)


class BackgroundSink:
    """Queues newly stored inquiry ids for ``inner`` and calls it from one background thread."""

    def __init__(self, inner: InquirySink, *, name: str = "triage", guard: SharedExclusiveLock | None = None,
                 chunk: int = 20, prepare: Callable[[], object] | None = None) -> None:
        self.inner = inner
        self.prepare = prepare
        self.guard = guard
        self.chunk = chunk
        self._queue: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __call__(self, inquiry_ids: Sequence[int]) -> None:
        """Queue the ids; returns at once."""
        if inquiry_ids:
            self._queue.put(list(inquiry_ids))

    def _run(self) -> None:
        if self.prepare is not None:
            try:
                self.prepare()
            except Exception:  # the inner sink meets (and reports) the same problem on first use
                log.debug("preparing the background sink failed", exc_info=True)
        while True:
            ids = self._queue.get()
            if ids is None:
                return
            for start in range(0, len(ids), self.chunk):
                part = ids[start:start + self.chunk]
                try:
                    if self.guard is None:
                        self.inner(part)
                    else:
                        with self.guard.exclusive():
                            self.inner(part)
                except Exception:  # the mail is stored; a failing triage must not stop the next batches
                    log.exception("handing %d stored inquiries to triage failed; they stay new", len(part))

    def close(self, timeout: float) -> bool:
        """Hand over what is queued, waiting at most ``timeout`` seconds; False when time ran out."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()
